/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <glib.h>
#include <systemd/sd-id128.h>

#include <inttypes.h>

#include "connection.h"
#include "heap.h"
#include "endpoint.h"
#include "log.h"
#include "value-large.h"
#include "util.h"

static connection *connection_alloc(sd_bus *bus, bool direct) {
        connection *c = g_new0(connection, 1);

        c->n_ref = 1;
        c->bus = bus;
        c->direct = direct;
        c->link.data = c;
        c->spawn_pidfd = -1;
        return c;
}

int connection_open_bus(connection **ret, connection_bus kind, const char *address) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        switch (kind) {
        case CONNECTION_USER:
                r = sd_bus_open_user(&bus);
                break;
        case CONNECTION_SYSTEM:
                r = sd_bus_open_system(&bus);
                break;
        case CONNECTION_DEFAULT:
                /* dbus-daemon sets these for a service it starts itself
                 * (Exec=); sd_bus_open() reads them as they are meant.
                 * Without them sd_bus_open() would guess from our cgroup,
                 * and a desktop application wants the user's bus (where
                 * systemd starts a service for the bus: SystemdService=). */
                if (secure_getenv("DBUS_STARTER_ADDRESS") || secure_getenv("DBUS_STARTER_BUS_TYPE"))
                        r = sd_bus_open(&bus);
                else
                        r = sd_bus_open_user(&bus);
                break;
        case CONNECTION_ADDRESS:
                if (!address)
                        return -EINVAL;
                r = sd_bus_new(&bus);
                if (r < 0)
                        return r;
                r = sd_bus_set_address(bus, address);
                if (r < 0)
                        return r;
                r = sd_bus_set_bus_client(bus, 1);
                if (r < 0)
                        return r;
                r = sd_bus_start(bus);
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;

        *ret = connection_alloc(TAKE_PTR(bus), false);
        return 0;
}

int connection_new_from_bus(connection **ret, sd_bus *bus) {
        if (!bus)
                return -EINVAL;
        if (sd_bus_is_open(bus) <= 0)
                return -ENOTCONN;
        *ret = connection_alloc(sd_bus_ref(bus), sd_bus_is_bus_client(bus) <= 0);
        (*ret)->borrowed = true;
        return 0;
}

int connection_open_direct(connection **ret, int fd, bool server) {
        _cleanup_(closep) int owned_fd = fd;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (fd < 0)
                return -EBADF;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_fd(bus, fd, fd);
        if (r < 0)
                return r;
        owned_fd = -1;

        if (server) {
                sd_id128_t id;

                r = sd_id128_randomize(&id);
                if (r < 0)
                        return r;
                r = sd_bus_set_server(bus, 1, id);
                if (r < 0)
                        return r;
                /* A spawned, sandboxed renderer may run as another user;
                 * who it is was decided when the main handed it the fd. */
                r = sd_bus_set_anonymous(bus, 1);
                if (r < 0)
                        return r;
        }
        r = sd_bus_negotiate_fds(bus, 1);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;

        *ret = connection_alloc(TAKE_PTR(bus), true);
        (*ret)->server = server;
        return 0;
}

uint64_t connection_queued(connection *c) {
        uint64_t n = 0;

        /* sd-bus's own cap (BUS_WQUEUE_MAX, 384 Ki messages) is far above
         * what a process wants to hold for one stalled peer. */
        if (sd_bus_get_n_queued_write(c->bus, &n) < 0)
                n = 0;
        return n + c->held.length;
}

void connection_check_drained(connection *c) {
        if (!c->stalled || connection_queued(c) > 0)
                return;
        c->stalled = false;
        c->drain_watch = sd_event_source_disable_unref(c->drain_watch);
        heap_release_after_stall();
}

static int connection_on_drain_watch(sd_event_source *s, void *userdata) {
        connection_check_drained(userdata);
        return 0;
}

/* Without a watch the memory is given back when a blocking call ends or
 * the connection goes. */
static void connection_watch_drain(connection *c) {
        c->stalled = true;
        if (c->drain_watch || !c->event)
                return;
        if (sd_event_add_post(c->event, &c->drain_watch, connection_on_drain_watch, c) < 0)
                c->drain_watch = NULL;
}

static bool connection_has_room(connection *c) {
        uint64_t n = connection_queued(c);

        if (n < IPCBUS_CONNECTION_QUEUE_MAX) {
                /* Log again on the next stall, not on every refusal of this one. */
                if (n < IPCBUS_CONNECTION_QUEUE_MAX / 2)
                        c->overflow_logged = false;
                return true;
        }
        if (!c->overflow_logged && c->ep)
                log_emit(&c->ep->log, LOG_WARNING,
                         "The peer of a %s connection is not reading: %" PRIu64
                         " messages queued, refusing more (ENOBUFS) until it reads",
                         c->direct ? "direct" : "bus", n);
        c->overflow_logged = true;
        connection_watch_drain(c);
        return false;
}

int connection_send(connection *c, sd_bus_message *m, uint64_t *ret_cookie) {
        int r;

        if (!connection_has_room(c))
                return -ENOBUFS;
        if (c->server && !c->peer_spoke) {
                g_queue_push_tail(&c->held, sd_bus_message_ref(m));
                return 1;
        }
        r = sd_bus_send(c->bus, m, ret_cookie);
        /* While the peer reads it. */
        value_large_refill();
        return r < 0 ? r : 0;
}

static void message_unref_notify(void *m) {
        sd_bus_message_unref(m);
}

int connection_peer_spoke(connection *c, GPtrArray **ret_failed) {
        sd_bus_message *m;
        int r, ret = 0;

        if (c->peer_spoke)
                return 0;
        c->peer_spoke = true;
        while ((m = g_queue_pop_head(&c->held))) {
                r = sd_bus_send(c->bus, m, NULL);
                if (r < 0) {
                        /* The caller learns which: a call among them must
                         * fail now, not wait for its timeout. */
                        if (!*ret_failed)
                                *ret_failed = g_ptr_array_new_with_free_func(message_unref_notify);
                        g_ptr_array_add(*ret_failed, sd_bus_message_ref(m));
                        if (ret == 0)
                                ret = r;
                }
                sd_bus_message_unref(m);
        }
        return ret;
}

int connection_attach_event(connection *c, sd_event *event, int64_t priority) {
        sd_event *current = sd_bus_get_event(c->bus);
        int r;

        /* A bus the application already runs on this loop is served where
         * it is; one on another loop would be dispatched from there, away
         * from everything else of the endpoint. */
        if (current && current != event)
                return -EBUSY;
        if (!current) {
                r = sd_bus_attach_event(c->bus, event, (int)priority);
                if (r < 0)
                        return r;
                c->attached = true;
        }
        c->event = sd_event_ref(event);
        return 0;
}

void connection_close(connection *c) {
        if (!c || c->closed)
                return;
        c->closed = true;
        c->filter_slot = sd_bus_slot_unref(c->filter_slot);
        for (size_t i = 0; i < G_N_ELEMENTS(c->object_slots); i++)
                c->object_slots[i] = sd_bus_slot_unref(c->object_slots[i]);
        g_clear_pointer(&c->app_slots, g_ptr_array_unref);
        g_clear_pointer(&c->app_vtables, g_ptr_array_unref);
        c->call_timer = sd_event_source_disable_unref(c->call_timer);
        c->drain_watch = sd_event_source_disable_unref(c->drain_watch);
        if (c->attached)
                (void)sd_bus_detach_event(c->bus);
        c->attached = false;
        /* The caller's bus carries what we queued out when the caller runs it. */
        if (c->borrowed)
                return;
        /* Whatever was sent (replies, last signals) still goes out. Not on
         * a direct connection: a stopped peer would block us forever. */
        if (!c->direct)
                (void)sd_bus_flush(c->bus);
        sd_bus_close(c->bus);
}

connection *connection_ref(connection *c) {
        if (c)
                c->n_ref++;
        return c;
}

connection *connection_unref(connection *c) {
        bool stalled;

        if (!c)
                return NULL;
        if (--c->n_ref > 0)
                return NULL;
        stalled = c->stalled;
        connection_close(c);
        /* A closed connection may have armed its call timer since. */
        c->call_timer = sd_event_source_disable_unref(c->call_timer);
        /* Calls hold the connection: none is left by now. */
        if (c->calls)
                g_hash_table_unref(c->calls);
        if (c->forgers)
                g_hash_table_unref(c->forgers);
        g_free(c->name_owner);
        while (c->held.head)
                sd_bus_message_unref(g_queue_pop_head(&c->held));
        sd_bus_unref(c->bus);
        sd_event_unref(c->event);
        closep(&c->spawn_pidfd);
        g_free(c);
        /* A peer that went in the middle of a stall leaves its queue behind. */
        if (stalled)
                heap_release_after_stall();
        return NULL;
}

void connection_unrefp(connection **c) {
        if (c && *c)
                connection_unref(*c);
}
