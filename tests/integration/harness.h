/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every integration test needs: a private bus, the test main in a
 * child process, renderers in this process, and bounded waiting. */

#include <ipcbus/ipcbus.h>

#include "test-bus.h"
#include "test-main.h"
#include "test-process.h"

typedef struct harness {
        test_bus *bus;
        test_process *main;
        sd_event *event;
} harness;

/* Start a dbus-daemon and the test main; fail the test on error. */
void harness_start(harness *h);
/* Start the bus only (the main comes later or not at all). */
void harness_start_bus(harness *h);
void harness_start_main(harness *h);
void harness_stop(harness *h);

/* A renderer on the harness bus and event loop, attached as @name
 * (synchronously) unless @name is NULL. */
ipcbus_renderer *harness_renderer(harness *h, const char *name);

/* Run the loop until *@flag is true or @timeout_ms passes.
 * Return: true if the flag was set. */
bool harness_run_until(harness *h, const bool *flag, unsigned timeout_ms);

/* A result collector for asynchronous invokes. */
typedef struct result {
        bool done;
        GVariant *value;
        char *error_name;
        char *error_message;
        int error_errno; /* sd_bus_error_get_errno() of the error */
        int order;       /* completion order, from a shared counter */
        int *counter;
} result;

int result_collect(GVariant *value, const sd_bus_error *error, void *userdata);
void result_clear(result *r);

/* A listener that records what arrived on one channel. */
typedef struct inbox {
        unsigned n;
        GVariant *last;  /* the args of the last message */
        bool got;
} inbox;

int inbox_listener(ipcbus_event *e, GVariant *args, void *userdata);
void inbox_clear(inbox *in);

/* The string argument @i of @args, or NULL. */
const char *arg_string(GVariant *args, size_t i);
