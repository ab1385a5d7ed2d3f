/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the tests that run `ipcbus-demo` and command-line clients around it
 * share (test-policy, test-proxy): where the demo is, stopping it, waiting
 * for what its main reports, and cmocka checks of a client's result.
 * Include after <cmocka.h>.
 */

#include "client-run.h"
#include "test-process.h"

/* Generous: under valgrind, and on a loaded CI machine, clients start slowly. */
#define DEMO_CLIENT_TIMEOUT_USEC (60 * TEST_USEC_PER_SEC)
#define DEMO_READY_TIMEOUT_USEC (30 * TEST_USEC_PER_SEC)

/* Return: IPCBUS_TEST_BUILDDIR/examples/ipcbus-demo (g_free() it). */
char *demo_path(void);

/* Return: the absolute path of @name in IPCBUS_TEST_SRCDIR (g_free() it);
 * fails the test if it does not exist. */
char *demo_source_path(const char *name);

/* SIGTERM *@p, reap it, free it. Return: 0 if it exited 0; -1 (and why on
 * stderr) if it crashed or failed, which is what a test wants to notice. */
int demo_stop(test_process **p, const char *what);

/* Wait for the main's next "main-recv CHANNEL ..." line of @line's channel,
 * printed when a message or invoke on CHANNEL arrived, and check it is
 * "main-recv @line". */
void demo_wait_received(test_process *main, const char *line);

/* Run a client, arguments NULL-terminated by the macro; fail the test if it
 * cannot run at all. */
#define demo_run(r, ...) \
        do { \
                int k_ = client_run_args((r), DEMO_CLIENT_TIMEOUT_USEC, __VA_ARGS__, NULL); \
                if (k_ < 0) \
                        fail_msg("cannot run a client: %s", strerror(-k_)); \
        } while (0)

#define assert_client_exit(r, code) \
        do { \
                assert_true(WIFEXITED((r)->status)); \
                assert_int_equal(WEXITSTATUS((r)->status), (code)); \
        } while (0)

/* Exit status, stdout and stderr, exactly; then the result is cleared. */
#define assert_client(r, code, want_out, want_err) \
        do { \
                assert_client_exit(r, code); \
                assert_string_equal((r)->out, (want_out)); \
                assert_string_equal((r)->err, (want_err)); \
                client_result_clear(r); \
        } while (0)
