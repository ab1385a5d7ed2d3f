/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

/*
 * The contract's messages, built and read in one place for both endpoints:
 * the "s channel, av args" body, the Channel1 signals, and replies that
 * are one "v".
 */

#include <ipcbus/ipcbus.h>

#include "value.h"
#include "value-large.h"

/**
 * wire_read_channel - check @m's signature and read its channel
 * @signature: "sav" (Message, Invoke, SendSync) or "svah" (PostMessage)
 * @ret_channel: points into @m
 * Return: 0; -EINVAL with InvalidArgs in @error.
 */
int wire_read_channel(sd_bus_message *m, const char *signature, sd_bus_error *error, const char **ret_channel);

/* After wire_read_channel(): the "av" args, a new reference, read inline
 * or out of band (value-large.h) from whoever sent them; out of band at
 * most @large_max bytes. @names_rings: the sender named
 * large-values-ring-ref (ValueLargePeer.takes_ring_ref), so it may name a
 * ring by reference. Return: 0; -EINVAL or -EBADMSG with InvalidArgs in
 * @error; -ENOBUFS with LimitsExceeded past @large_max. With @pending
 * (empty), a list of basic values read inline is left there as written,
 * @ret_args NULL (value_read_args_pending()). */
int wire_read_args(sd_bus_message *m, const char *channel, uint64_t large_max, bool names_rings,
                   sd_bus_error *error, ArgsWriter *pending, GVariant **ret_args);

/* Append "s channel, av args"; out of band when @large_ok (the peer said
 * it takes large values) and the args are large enough.
 * Return: 0; -EINVAL with the reason in @error. */
int wire_append_channel_args(sd_bus_message *m, const char *channel, GVariant *args, ValueLargePeer *large,
                             sd_bus_error *error);

/**
 * wire_message_new - a Channel1.Message signal
 * @destination: unique or well-known name; NULL to broadcast (or on a
 *   direct connection)
 * Return: 0; -EINVAL with the reason in @error; sd-bus errors.
 */
int wire_message_new(sd_bus *bus, const char *path, const char *destination, const char *channel, GVariant *args,
                     ValueLargePeer *large, sd_bus_error *error, sd_bus_message **ret);

/* The same with the arguments as sd_bus_message_append(3) takes them
 * (value_append_args_va()). */
int wire_message_new_va(sd_bus *bus, const char *path, const char *destination, const char *channel,
                        const char *types, va_list ap, ValueLargePeer *large, sd_bus_error *error,
                        sd_bus_message **ret);

/* Decode a "v" method reply: the value (inline or out of band), or the
 * error it carries. @names_rings as for wire_read_args(), of the callee. */
int wire_read_result(sd_bus_message *reply, bool names_rings, sd_bus_error *error, GVariant **ret_result);

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
 * wire_read_post_message - the rest of a PostMessage signal, after wire_read_channel()
 * @event, @priority: where the arriving ports run
 * @ret_args: "av" holding the message (listeners get (event, message))
 * @ret_ports, @ret_n: the ports, new references in a new array
 * Return: 0; -EINVAL with InvalidArgs in @error.
 */
int wire_read_post_message(sd_bus_message *m, const char *channel, sd_event *event, int64_t priority,
                           sd_bus_error *error, GVariant **ret_args, ipcbus_port ***ret_ports, size_t *ret_n);
