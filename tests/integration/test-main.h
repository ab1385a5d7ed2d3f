/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The main process the integration tests talk to: run in a child process
 * (test_process_spawn(test_main_child, &config)). It prints "ready" once it
 * owns its name, and "attached ID NAME" / "detached ID NAME" / "recv CHANNEL
 * ARGS" lines the tests wait for. Its channels are documented in
 * test-main.c.
 */

#include <stdbool.h>
#include <stdint.h>

#define TEST_MAIN_NAME "org.ipcbus.Test"

typedef struct test_main_config {
        const char *address;  /* bus address, or NULL with direct_fd */
        int direct_fd;        /* >= 0: serve this direct connection instead */
        uint64_t large_value_limit; /* > 0: IPCBUS_LIMIT_LARGE_VALUE_BYTES */
} test_main_config;

int test_main_child(void *userdata);
