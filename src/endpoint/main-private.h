/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the main's files share (ipcbus_main's fields), below all of them:
 * main-endpoint.c on top uses main-peers.c, main-gate.c and main-typed.c,
 * which see the main through this header only. */

#include <ipcbus/ipcbus.h>

#include "endpoint.h"
#include "typed.h"

struct ipcbus_main {
        endpoint ep;                 /* first: the main is an endpoint */
        unsigned n_ref;
        char *name;
        char *path;

        GQueue connections;          /* of connection, bus and direct */

        uint64_t next_id;
        GHashTable *by_bus_name;     /* unique name -> ipcbus_web_contents, every bus peer we know */
        /* The one of by_bus_name a message named last (no reference; gone
         * from here when it goes from there): a renderer sends in bursts,
         * and comparing its name costs less than hashing it. */
        ipcbus_web_contents *last_peer;
        GHashTable *by_id;           /* id -> attached ipcbus_web_contents (all) */

        GQueue on_attached;          /* of lifecycle slots */
        GQueue on_detached;
        GQueue on_bus_closed;
        bool stay_without_bus;       /* ipcbus_main_set_exit_on_bus_closed(false) */
        GQueue spawned;              /* of spawn_child (spawn-watch.c): started, not reaped yet */

        /* The trust boundary (main-gate.c). */
        ipcbus_sender_check_fn check;
        void *check_userdata;
        ipcbus_policy *renderer_policy;    /* attached renderers with no policy of their own or class's */
        ipcbus_policy *unattached_policy;  /* peers that never attached */
        GHashTable *class_policies;        /* class name -> ipcbus_policy */
        uint64_t limits[_IPCBUS_LIMIT_MAX];

        /* Typed channels (main-typed.c). */
        typed_table typed;
        char *channel_interface;     /* where channels declared in C go; NULL: name + ".Channels" */
        bool typed_dirty;            /* what is served may have changed */
        sd_event_source *typed_refresh;
        GPtrArray *typed_served;     /* of typed_vtable: what the connections serve */
        char **channels_published;   /* Main1.Channels as last announced */
};

static inline ipcbus_main *main_from_endpoint(endpoint *ep) {
        return (ipcbus_main *)ep;
}
