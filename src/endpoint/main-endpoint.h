/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The main process endpoint (ipcbus_main): owns the name, serves Main1 on
 * every connection, tracks the peers that talk to it and decides what each
 * may do. */

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

/* main-peers.c: the peers the main knows. */

/* The sender of @msg on @c, known from now on (a new reference).
 * Return: 0; -ENOBUFS past IPCBUS_LIMIT_PEERS_PER_CONNECTION. */
int main_peer_get(ipcbus_main *m, connection *c, sd_bus_message *msg, ipcbus_web_contents **ret);
/* Give @wc an id: it is a renderer now. */
void main_peer_attach(ipcbus_main *m, ipcbus_web_contents *wc);
/* @wc went away or detached: forget it (on_detached fires if it was attached). */
void main_forget_web_contents(ipcbus_main *m, ipcbus_web_contents *wc);
/* A renderer the main made the connection for (direct): attached at once. */
ipcbus_web_contents *main_peer_new_direct(ipcbus_main *m, connection *c);
void main_fire_lifecycle(ipcbus_main *m, GQueue *queue, ipcbus_web_contents *wc);

/* main-gate.c: the gate every incoming message passes (endpoint_ops.admit). */
int main_admit(endpoint *ep, connection *c, sd_bus_message *msg, ipcbus_op op, const char *channel,
               ipcbus_web_contents **ret_sender, sd_bus_error *error);
void main_gate_init(ipcbus_main *m);
void main_gate_done(ipcbus_main *m);
/* Refuse a call or signal for exceeding @limit, logged once per peer. */
int main_refuse_limit(ipcbus_main *m, ipcbus_web_contents *wc, ipcbus_op op, ipcbus_limit limit,
                      sd_bus_error *error);

/* Serve a direct connection the caller opened (spawn.c sets what it knows
 * of the peer first) and announce the renderer at its other end. On
 * failure the connection is dropped. Return: as ipcbus_main_add_direct(). */
int main_add_direct(ipcbus_main *m, connection *c, ipcbus_web_contents **ret_web_contents);
/* Stop serving @c, as when it closes: its renderers detach. Once per
 * connection; later calls do nothing. */
void main_drop_connection(ipcbus_main *m, connection *c);
