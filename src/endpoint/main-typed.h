/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Typed channels served by the main (main-typed.c): the members of its
 * application interfaces, Main1.Channels, and the typed signals of event
 * channels. */

#include "connection.h"
#include "endpoint.h"
#include "typed.h"

struct ipcbus_main;

void main_typed_init(struct ipcbus_main *m);
void main_typed_done(struct ipcbus_main *m);

/* The registry's change hook: refresh what is served at the next iteration. */
void main_typed_changed(void *userdata);
/* Refresh now: serve what is declared and served, announce what changed. */
void main_typed_refresh(struct ipcbus_main *m);
/* A new connection: the object manager and the typed members. */
int main_typed_serve_connection(struct ipcbus_main *m, connection *c);

/* endpoint_ops.typed */
typed_channel *main_typed_lookup(endpoint *ep, const char *channel);

/* A send on @channel: when it is a declared event channel, check @args
 * ("av") and set @ret to the declaration (borrowed), else to NULL.
 * Return: 0; -EINVAL (logged) for arguments other than declared. */
int main_typed_check_event(endpoint *ep, const char *channel, GVariant *args, typed_channel **ret);
/* The typed signal of @t with @args, on @c to @destination (NULL: broadcast). */
int main_typed_emit(endpoint *ep, connection *c, const char *destination, const typed_channel *t, GVariant *args);

/* Main1.Channels (a property getter; userdata is the connection). */
int main_typed_get_channels_property(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error);
