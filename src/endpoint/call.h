/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Calls we make (renderer to main Invoke, SendSync, Attach; main to renderer
 * Renderer1.Invoke; the renderer's GetNameOwner), each a slot in its
 * owner's queue. Once sent, a call waits in its connection's table for a
 * reply from the peer it was sent to: sd-bus matches replies by serial
 * only, and a session bus delivers a reply nobody asked for, so a reply
 * from anyone else is dropped, logged once per sender and counted, while
 * the real one is still awaited until the call's deadline.
 */

#include <ipcbus/ipcbus.h>

#include "connection.h"
#include "slot.h"

/* The bus itself answers for a callee that vanished or never was (NoReply,
 * ServiceUnknown, AccessDenied): its errors count as the callee's. */
#define BUS_DRIVER_NAME "org.freedesktop.DBus"

/**
 * call_new - a slot for a call, not sent yet
 * @calls: the owner's queue; the slot stays linked there until the reply,
 *   the timeout, failure or cancellation
 * @fn: for a reply that is one "v" (decoded for it); or @raw for the reply as it came
 * Return: the slot, floating unless @ret_slot is set (then also stored there).
 */
ipcbus_slot *call_new(GQueue *calls, ipcbus_slot **ret_slot, ipcbus_result_fn fn, call_reply_fn raw,
                      void *userdata);

/**
 * call_send - send @m as @slot's call on @c
 * @callee: the unique name whose reply counts (NULL on a direct connection)
 * @via_name: @m went to a well-known name: its owner at reply time counts too
 * Return: 0; sd-bus errors (the slot is left unsent).
 */
int call_send(connection *c, ipcbus_slot *slot, sd_bus_message *m, const char *callee, bool via_name,
              uint64_t timeout_usec);

/* A call already sent by someone else (sd_bus_call()): wait for its
 * reply from @callee in the table, until @deadline (CLOCK_MONOTONIC usec).
 * Return: 0; sd-event errors arming the timer (the wait is registered). */
int call_watch(connection *c, ipcbus_slot *slot, uint64_t cookie, const char *callee, bool via_name,
               uint64_t deadline);

/* The peer of a direct connection spoke and what was held went out: the
 * calls among it are now known by their cookies; those among @failed
 * (connection_peer_spoke()) end now with @error. */
void call_register_held(connection *c, GPtrArray *failed, int error);

/* End @slot's call with @error, now. */
void call_fail(ipcbus_slot *slot, const sd_bus_error *error);

/* call_new() + call_send(); on failure nothing is left behind.
 * @names_rings: the callee named large-values-ring-ref (its result may
 * name a ring by reference). */
int call_start(connection *c, GQueue *calls, ipcbus_slot **ret_slot, sd_bus_message *m, const char *callee,
               bool names_rings, uint64_t timeout_usec, ipcbus_result_fn fn, void *userdata);

/**
 * call_dispatch_reply - a method return or error arrived on @c
 * Return: 1 if it answered one of our calls or was dropped as not from its
 * callee; 0 if it is no reply to us (sd-bus goes on with it).
 */
int call_dispatch_reply(connection *c, sd_bus_message *reply);

/**
 * call_check_sync_reply - a reply sd_bus_call() returned: is it from @callee?
 * Return: true if it counts. Otherwise it was logged and counted.
 */
bool call_reply_is_from(connection *c, sd_bus_message *reply, const char *callee, bool via_name);

/* The connection closed (@callee NULL), or @callee went away: fail every
 * call on @c to it at once with org.ipcbus.Error.Disconnected. */
void call_fail_all(connection *c, const char *callee, const char *why);

/* The error a method error reply @reply means, into @error: a NoReply from
 * the bus (the callee disconnected first) becomes Disconnected.
 * Return: the negative errno (-ENOTCONN for Disconnected). */
int call_reply_error(sd_bus_message *reply, sd_bus_error *error);
