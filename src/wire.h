/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The contract's messages, built and read in one place for both endpoints:
 * the "s channel, av args" body, the Channel1.Message signal, and calls
 * whose reply is one "v".
 */

#include <ipcbus/ipcbus.h>

/**
 * wire_read_channel_args - read "s channel, av args" from @m
 * @ret_channel: points into @m
 * @ret_args: "av", a new reference
 * Return: 0; -EINVAL with InvalidArgs in @error (bad channel or value).
 */
int wire_read_channel_args(sd_bus_message *m, sd_bus_error *error, const char **ret_channel, GVariant **ret_args);

/* Append "s channel, av args". Return: 0; -EINVAL with the reason in @error. */
int wire_append_channel_args(sd_bus_message *m, const char *channel, GVariant *args, sd_bus_error *error);

/**
 * wire_message_new - a Channel1.Message signal
 * @destination: unique or well-known name; NULL to broadcast (or on a
 *   direct connection)
 * Return: 0; -EINVAL with the reason in @error; sd-bus errors.
 */
int wire_message_new(sd_bus *bus, const char *path, const char *destination, const char *channel, GVariant *args,
                     sd_bus_error *error, sd_bus_message **ret);

/**
 * wire_call_new - a slot for a call whose reply is one "v"
 * @calls: the owner's queue of pending calls; the slot stays linked there
 *   until the reply, the timeout, failure or cancellation
 * The call is not sent yet: wire_call_send() sends it, wire_call_fail()
 * ends it with an error (a renderer queues calls until its main appears).
 * Return: the slot, floating unless @ret_slot is set (then also stored there).
 */
ipcbus_slot *wire_call_new(GQueue *calls, ipcbus_slot **ret_slot, ipcbus_result_fn callback, void *userdata);
int wire_call_send(sd_bus *bus, ipcbus_slot *slot, sd_bus_message *call, uint64_t timeout_usec);
void wire_call_fail(ipcbus_slot *slot, const sd_bus_error *error);

/* wire_call_new() + wire_call_send(); on failure nothing is left behind. */
int wire_call_start(sd_bus *bus, GQueue *calls, ipcbus_slot **ret_slot, sd_bus_message *call,
                    uint64_t timeout_usec, ipcbus_result_fn callback, void *userdata);

/* Decode a "v" method reply: the value, or the error it carries. */
int wire_read_result(sd_bus_message *reply, sd_bus_error *error, GVariant **ret_result);

/**
 * wire_post_message_new - a Channel1.PostMessage signal (s channel, v message, ah ports)
 * The transfer list is checked and the value appended before any port is
 * touched, so a refusal leaves every port usable; once built, the ports
 * are transferred (neutered here).
 * Return: 0; -EINVAL with the reason in @error; sd-bus and port errors.
 */
int wire_post_message_new(sd_bus *bus, const char *path, const char *destination, const char *channel,
                          GVariant *message, ipcbus_port *const *ports, size_t n_ports, sd_bus_error *error,
                          sd_bus_message **ret);

/**
 * wire_read_post_message - read a PostMessage signal
 * @event, @priority: where the arriving ports run
 * @ret_args: "av" holding the message (listeners get (event, message))
 * @ret_ports, @ret_n: the ports, new references in a new array
 * Return: 0; -EINVAL with InvalidArgs in @error.
 */
int wire_read_post_message(sd_bus_message *m, sd_event *event, int64_t priority, sd_bus_error *error,
                           const char **ret_channel, GVariant **ret_args, ipcbus_port ***ret_ports, size_t *ret_n);
