/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One sd-bus connection, to a bus or direct (bus-less), owned by a main or
 * a renderer. Both kinds are the same object so that everything above
 * dispatches them through one path; the only difference callers see is
 * that a direct connection has no sender names.
 */

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <sys/types.h>

typedef struct connection {
        unsigned n_ref;
        sd_bus *bus;
        bool direct;
        bool server;   /* our side of a direct connection the main serves */
        bool closed;
        /* The caller's bus (ipcbus_*_add_bus): never flushed, closed or
         * detached here; only what we added to it comes off. */
        bool borrowed;
        bool attached;  /* we attached the bus to the loop (and detach it) */
        bool sdbus_attached; /* ... with sd_bus_attach_event() */
        int64_t priority;    /* of io_source and time_source */
        /* connection_process(): wakeups left that stop after one message,
         * and how many the next run of them gets. */
        unsigned probe_skip;
        unsigned probe_backoff;
        /* A wakeup stopped at its bounds with messages perhaps still in
         * sd-bus's buffer, where neither the socket nor
         * sd_bus_get_timeout() shows them: the next iteration processes
         * again at once. */
        bool process_more;
        /* How we attached it (connection_attach_event): our own sources in
         * place of sd_bus_attach_event(), which processes one message per
         * loop iteration, each behind an epoll_wait(). io_source watches the
         * bus's fd (the socket io_dev/io_ino) and goes as soon as the bus
         * stops being open, before sd-bus closes the fd. NULL where
         * sd_bus_attach_event() did the attach (a borrowed bus). */
        sd_event_source *io_source;
        dev_t io_dev;
        ino_t io_ino;
        sd_event_source *time_source;
        sd_event_source *exit_source;
        /* The filter the owner added (filter_slot): told of the bus's end
         * when sd-bus cannot tell it (connection.c, connection_fail()). */
        sd_bus_message_handler_t filter;
        bool named;     /* main side: we asked for the main's name on it */
        void *owner;   /* the ipcbus_main or ipcbus_renderer */
        struct endpoint *ep; /* the same, as the endpoint both embed */
        void *peer;    /* main side, direct: the ipcbus_web_contents at the other end */
        GList link;    /* in the owner's list of connections */
        sd_bus_slot *filter_slot;
        sd_bus_slot *object_slots[3];
        /* Main side: the typed channels' interfaces (main-typed.c), and
         * the vtables those slots point into. */
        GPtrArray *app_slots;
        GPtrArray *app_vtables;
        /* Server side of a direct connection: what we send waits here until
         * the peer has spoken once. sd-bus clients send their whole
         * handshake at once, and a message of ours that arrives in the same
         * read as the handshake's answer may not carry fds (sd-bus drops
         * the connection); once the peer speaks, its handshake is over. */
        bool peer_spoke;
        GQueue held;   /* of sd_bus_message, and of call slots (pinned) not yet sent */

        /* Calls we made on this connection, by cookie (call.h). sd-bus
         * matches a reply by its serial alone; these are matched by
         * serial and sender. */
        GHashTable *calls;
        GQueue call_deadlines;       /* the same calls, earliest deadline first */
        sd_event *event;
        sd_event_source *call_timer;
        GHashTable *forgers;         /* senders of replies we dropped, logged once each */
        /* Renderer side, on a bus: the current owner of the main's name. A
         * call sent to that name may be answered by whoever owns it now. */
        char *name_owner;
        /* Set by ipcbus_main_spawn: the process the main started at the
         * other end (under the sandbox, bwrap, which lives exactly as long
         * as the renderer in it). 0 / -1 otherwise; the pidfd is also -1
         * where the system has none (spawn.h). It is owned here and stays
         * valid after the child is reaped. */
        pid_t spawn_pid;
        int spawn_pidfd;
        unsigned n_peers;            /* main side, bus: the peers it tracks on this connection */
        bool overflow_logged;        /* a send was refused for a full queue; cleared once it drains */
        /* From the first refusal of a stall until the queue is empty; then
         * the memory the stall took is given back (heap.h). The watch runs
         * after each loop iteration to see when. */
        bool stalled;
        sd_event_source *drain_watch;
} connection;

typedef enum connection_bus {
        CONNECTION_USER,
        CONNECTION_SYSTEM,
        CONNECTION_ADDRESS,
        CONNECTION_DEFAULT, /* the bus that started us (sd_bus_open()), else the user's */
} connection_bus;

/* Connect to a bus (started, Hello sent asynchronously). */
int connection_open_bus(connection **ret, connection_bus kind, const char *address);
/* Wrap a bus the caller set up (a reference is taken); the bus stays the
 * caller's: closing the connection leaves it open. */
int connection_new_from_bus(connection **ret, sd_bus *bus);
/* A direct connection over @fd (taken, also on failure); @server for the main's side. */
int connection_open_direct(connection **ret, int fd, bool server);

/* Attach the bus to @event, or accept it if it is already attached there.
 * Return: 0; -EBUSY if the bus is attached to another loop; sd-bus errors. */
int connection_attach_event(connection *c, sd_event *event, int64_t priority);

/* sd_bus_process() once, for a blocking wait that runs the bus itself:
 * use it, not sd_bus_process(), on a connection's bus (connection.c says
 * why). Return: sd_bus_process()'s. */
int connection_process_once(connection *c);

/* Stop serving: unhook callbacks; our own bus is also flushed and closed, a
 * borrowed one is left open (and attached, unless we attached it).
 * Idempotent. */
void connection_close(connection *c);

connection *connection_ref(connection *c);
connection *connection_unref(connection *c);
void connection_unrefp(connection **c);

/* Send @m now, or hold it until the peer of a direct server connection
 * has spoken (then in order). @ret_cookie (optional) is set when sent now.
 * Refused while IPCBUS_CONNECTION_QUEUE_MAX messages wait already (held
 * here or in sd-bus's write queue): the peer is not reading.
 * Return: 0 sent; 1 held; -ENOBUFS; sd-bus errors. */
int connection_send(connection *c, sd_bus_message *m, uint64_t *ret_cookie);

/* Messages waiting to be written: held here plus sd-bus's write queue. */
uint64_t connection_queued(connection *c);
/* After a stall (a send refused for a full queue): once the queue is
 * empty, give back the memory it took. The loop's watch calls it; so does
 * whoever drains the connection without the loop (blocking calls). */
void connection_check_drained(connection *c);

/* The peer spoke: send what was held. */
/* Return: 0; the first send error, with the messages that failed added to
 * *@ret_failed (made if NULL). */
int connection_peer_spoke(connection *c, GPtrArray **ret_failed);

/* Whether the connection can still carry messages. */
static inline bool connection_is_open(const connection *c) {
        return c && !c->closed && sd_bus_is_open(c->bus) > 0;
}
