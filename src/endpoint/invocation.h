/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A pending invoke (ipcbus_invocation), for Main1.Invoke in the main and
 * Renderer1.Invoke in a renderer. */

#include <ipcbus/ipcbus.h>

#include "connection.h"

struct ipcbus_invocation {
        unsigned n_ref;
        sd_bus_message *call;          /* the method call; strings point into it */
        connection *conn;
        const char *channel;
        GVariant *args;                /* "av" */
        ipcbus_web_contents *sender;   /* main side */
        struct typed_channel *typed;   /* the channel's declaration, if it has one (holds @channel then) */
        bool typed_reply;              /* called as a typed member: answer as declared, not boxed */
        bool sender_tracked;           /* the sender was in the main's tables when it called */
        bool completed;
};

/* Takes over @args; refs @call, @conn and @sender. */
ipcbus_invocation *invocation_new(sd_bus_message *call, connection *conn, const char *channel, GVariant *args,
                                  ipcbus_web_contents *sender);

/**
 * invocation_run - run @handler on a fresh invocation and settle what it left
 * Answers undefined if the handler returned without completing and without
 * keeping a reference; answers HandlerFailed if it returned < 0 uncompleted.
 * Drops the caller's reference to @inv.
 */
void invocation_run(ipcbus_invocation *inv, ipcbus_slot *handler);

/* HandlerFailed: a result @value (NULL: undefined) that is not the one @t
 * declares. Return: -EREMOTEIO. */
int invocation_error_result(sd_bus_error *error, const struct typed_channel *t, GVariant *value);
