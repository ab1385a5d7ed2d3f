/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A direct connection for the value tests (test-value.c, test-value-va.c):
 * a socketpair, one end an sd-bus server, as systemd's test-bus-server.c
 * does, and a message carried from one end to the other. The assertions
 * are cmocka's.
 */

#include <systemd/sd-bus.h>

#define TEST_PATH "/org/ipcbus/Test"
#define TEST_INTERFACE "org.ipcbus.Test1"

typedef struct Pair {
        sd_bus *client;
        sd_bus *server;
} Pair;

/* cmocka group setup and teardown: *state is the Pair. */
int pair_setup(void **state);
int pair_teardown(void **state);

/* A new signal from the client, to fill. */
sd_bus_message *new_message(Pair *p);

/* Sends @m from the client and returns it as the server receives it. */
sd_bus_message *transfer(Pair *p, sd_bus_message *m);
