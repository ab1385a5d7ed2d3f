/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What a listener sees (ipcbus_event). Built by the endpoints. */

#include <ipcbus/ipcbus.h>

#include "value.h"

struct ipcbus_event {
        unsigned n_ref;
        sd_bus_message *message;       /* what arrived; the strings point into it */
        const char *channel;
        GVariant *args;                /* "av"; NULL while @pending holds the list */
        /* A list of basic values as read (value_read_args_pending()): made a
         * GVariant only when someone asks for one (ipcbus_event_get_args()),
         * read as it is by ipcbus_event_read(). Empty once @args is set. */
        ArgsWriter pending;
        const char *sender_bus_name;   /* NULL on direct connections */
        ipcbus_web_contents *sender;   /* main side */
        struct endpoint *origin;       /* the endpoint it arrived at (held): event.reply goes through it */
        bool sync;                     /* SendSync: the sender waits */
        bool answered;                 /* SendSync: the reply went out */
        GVariant *return_value;
        struct typed_channel *typed;   /* the channel's declaration, if it has one (holds @channel then) */
        ipcbus_port **ports;           /* PostMessage: the ports that came */
        size_t n_ports;
};

/* An event without its arguments yet: the caller reads them into @args
 * (a full reference) or @pending. Refs @message, @sender, @origin.
 * @channel must point into @message. */
ipcbus_event *event_new(sd_bus_message *message, const char *channel, ipcbus_web_contents *sender,
                        struct endpoint *origin, bool sync);
