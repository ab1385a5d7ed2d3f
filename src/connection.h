/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One sd-bus connection, to a bus or direct (bus-less), owned by a main or
 * a renderer. Both kinds are the same object so that everything above
 * dispatches them through one path; the only difference callers see is
 * that a direct connection has no sender names.
 */

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <sys/types.h>

typedef struct connection {
        unsigned n_ref;
        sd_bus *bus;
        bool direct;
        bool server;   /* our side of a direct connection the main serves */
        bool closed;
        void *owner;   /* the ipcbus_main or ipcbus_renderer */
        void *peer;    /* main side, direct: the ipcbus_web_contents at the other end */
        GList link;    /* in the owner's list of connections */
        sd_bus_slot *filter_slot;
        sd_bus_slot *object_slots[3];
        /* Server side of a direct connection: what we send waits here until
         * the peer has spoken once. sd-bus clients send their whole
         * handshake at once, and a message of ours that arrives in the same
         * read as the handshake's answer may not carry fds (sd-bus drops
         * the connection); once the peer speaks, its handshake is over. */
        bool peer_spoke;
        GQueue held;   /* of sd_bus_message */
        /* Set by ipcbus_main_spawn: the process the main started at the
         * other end (under the sandbox, bwrap, which lives exactly as long
         * as the renderer in it). 0 / -1 otherwise; the pidfd is also -1
         * where the system has none (spawn.h). It is owned here and stays
         * valid after the child is reaped. */
        pid_t spawn_pid;
        int spawn_pidfd;
} connection;

typedef enum connection_bus {
        CONNECTION_USER,
        CONNECTION_SYSTEM,
        CONNECTION_ADDRESS,
} connection_bus;

/* Connect to a bus (started, Hello sent asynchronously). */
int connection_open_bus(connection **ret, connection_bus kind, const char *address);
/* Wrap a bus the caller set up (a reference is taken). */
int connection_new_from_bus(connection **ret, sd_bus *bus);
/* A direct connection over @fd (taken, also on failure); @server for the main's side. */
int connection_open_direct(connection **ret, int fd, bool server);

int connection_attach_event(connection *c, sd_event *event, int64_t priority);

/* Stop serving: unhook callbacks, flush what is queued, close. Idempotent. */
void connection_close(connection *c);

connection *connection_ref(connection *c);
connection *connection_unref(connection *c);
void connection_unrefp(connection **c);

/* Send @m now, or hold it until the peer of a direct server connection
 * has spoken (then in order). Return: 0; sd-bus errors. */
int connection_send(connection *c, sd_bus_message *m);

/* The peer spoke: send what was held. */
void connection_peer_spoke(connection *c);

/* Whether the connection can still carry messages. */
static inline bool connection_is_open(const connection *c) {
        return c && !c->closed && sd_bus_is_open(c->bus) > 0;
}
