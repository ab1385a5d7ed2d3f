/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The one path every incoming Message, PostMessage, Invoke and SendSync
 * takes, in the main and in a renderer, on a bus or a direct connection:
 *
 *   channel read ─▶ gate (endpoint_ops.admit: sender, checks) ─▶ values
 *   decoded ─▶ event or invocation ─▶ listeners or handler
 *
 * The gate runs before the values are decoded, so a refused message costs
 * no decoding, and no port it carries is ever opened. A channel the main
 * declared with types (typed.h) is checked against its declaration on the
 * way in (arguments) and out (results), on both faces.
 */

#include "endpoint.h"
#include "typed.h"

/* A Channel1 Message or PostMessage signal on @c. Signals cannot be
 * answered: what is refused or malformed is logged and dropped. */
void dispatch_signal(endpoint *ep, connection *c, sd_bus_message *msg, ipcbus_op op);

/* Main1.Invoke or Renderer1.Invoke. Return: 1 (answered or pending); a
 * negative errno with @error set for sd-bus to send. */
int dispatch_invoke(endpoint *ep, connection *c, sd_bus_message *msg, sd_bus_error *error);

/* Main1.SendSync. Return: as dispatch_invoke(). */
int dispatch_send_sync(endpoint *ep, connection *c, sd_bus_message *msg, sd_bus_error *error);

/* A call to a typed channel's member (main-typed.c): a handle channel runs
 * as Invoke, a listener channel with a result as SendSync, one without as
 * a Message that is answered at once. Return: as dispatch_invoke(). */
int dispatch_typed_call(endpoint *ep, connection *c, sd_bus_message *msg, typed_channel *t, sd_bus_error *error);

/* The Channel1 signal @msg is, or 0. */
ipcbus_op dispatch_signal_op(sd_bus_message *msg);
