/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "renderer-private.h"

/* The blocking calls (renderer-sync.c). */
/* Send @call and wait for the main's reply, and only the main's: other
 * messages that arrive meanwhile are held back and dispatched, in order,
 * once the loop runs again (as sd_bus_call() holds them back). */
int renderer_call_blocking(ipcbus_renderer *r, sd_bus_message *call, const char *callee, uint64_t timeout_usec,
                           sd_bus_error *ret_error, sd_bus_message **ret_reply);
/* In the filter: the blocking call's reply, or a message to hold back.
 * Return: true if taken. */
bool renderer_sync_take(ipcbus_renderer *r, sd_bus_message *msg);
/* Dispatch what was held back, now (a tool with no loop, before it blocks
 * again). Not from inside an sd-bus callback. */
void renderer_sync_replay(ipcbus_renderer *r);
/* Freeing: drop what was held back. */
void renderer_sync_clear(ipcbus_renderer *r);
