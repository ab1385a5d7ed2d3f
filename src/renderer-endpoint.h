/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The renderer endpoint (ipcbus_renderer): ipcRenderer for one main. */

#include <ipcbus/ipcbus.h>

#include "channel.h"
#include "connection.h"
#include "log.h"

typedef enum attach_state {
        ATTACH_NONE,
        ATTACH_WANTED,   /* Attach queued or in flight */
        ATTACH_DONE,
} attach_state;

struct ipcbus_renderer {
        unsigned n_ref;
        char *main_name;
        char *main_path;
        sd_event *event;
        int64_t priority;
        log_target log;
        uint64_t timeout_usec;

        connection *conn;
        char *main_owner;          /* the main's unique name; NULL while unknown */
        bool has_main;             /* the owner is known (always, on a direct connection) */
        sd_bus_slot *owner_watch;  /* NameOwnerChanged for main_name */
        sd_bus_slot *owner_query;  /* GetNameOwner in flight */
        sd_bus_slot *channel_match;/* the main's broadcasts */

        registry registry;         /* listeners for the main's messages, Renderer1 handlers */
        GQueue pending;            /* of pending_op: sent once the main appears */
        sd_event_source *pending_timer;
        GQueue calls;              /* invoke slots in flight or queued */

        attach_state attach;
        char *attach_name;
        uint64_t id;
        sd_bus_slot *attach_call;
};
