/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <stdlib.h>
#include <glib.h>
#include <systemd/sd-id128.h>

#include <inttypes.h>

#include "connection.h"
#include "heap.h"
#include "endpoint.h"
#include "log.h"
#include "value-large.h"
#include "value-ring.h"
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

/* ---- the loop ------------------------------------------------------------
 *
 * What sd_bus_attach_event() does, with public calls only: an io source on
 * the bus's fd for sd_bus_get_events(), a time source for
 * sd_bus_get_timeout() (pending calls' timeouts, and 0 whenever sd-bus
 * already holds a message or is closing), both set again before every
 * wait, and an exit source that flushes and closes the bus. The difference:
 * sd-bus's io callback runs sd_bus_process() once, so every message costs
 * a loop iteration (an epoll_wait(), every prepare callback); ours runs it
 * until there is nothing left or CONNECTION_PROCESS_MAX times, then lets
 * the loop have its turn (sources of higher priority and older pending
 * ones of ours, other connections) before the rest. */

/* Messages one wakeup may dispatch, and the time it may take. Enough to
 * amortise the iteration over a burst of small sends; little enough that a
 * peer flooding us, or sending large values, cannot hold up the other
 * connections on the loop for long: past the time, the wakeup ends after
 * the message at hand, so a large message is one wakeup as before. */
#define CONNECTION_PROCESS_MAX 32
#define CONNECTION_PROCESS_USEC 500

static void connection_drop_io(connection *c) {
        c->io_source = sd_event_source_disable_unref(c->io_source);
}

static void connection_detach_sources(connection *c) {
        connection_drop_io(c);
        c->time_source = sd_event_source_disable_unref(c->time_source);
        c->exit_source = sd_event_source_disable_unref(c->exit_source);
}

/* The bus left its open states: sd-bus closes its fd once it has said
 * Disconnected, so stop watching it now, while it is still open. Were the
 * io source still there when the fd closes, the number could be reused
 * (by a callback, before we notice) for an fd on the same loop, and
 * removing our source would take that one out of the epoll set. Hence
 * every sd_bus_process() on a bus we attached is followed by this
 * (connection_process_once() for blocking waits). While closing, the time
 * source (set to 0 here) processes the rest: each failed pending call,
 * then Disconnected; once closed, all our sources go. */
static void connection_track_state(connection *c) {
        if (!c->time_source || sd_bus_is_open(c->bus) > 0)
                return;
        if (sd_bus_get_events(c->bus) < 0) {
                connection_detach_sources(c);
                return;
        }
        if (!c->io_source)
                return;
        connection_drop_io(c);
        (void)sd_event_source_set_time(c->time_source, 0);
        (void)sd_event_source_set_enabled(c->time_source, SD_EVENT_ON);
}

/* sd_bus_process() failed for another reason than the peer going (sd-bus
 * turns those into closing itself, ending with Disconnected), say a peer
 * that broke the protocol. sd-bus's own attach would put the bus into its
 * closing state here, which no public call can: close it, and tell the
 * owner's filter what sd-bus would have told it, so the owner drops the
 * connection as after any other close. (sd-bus's reply callbacks still
 * pending are not called; ipcbus's own calls are failed by the owner.) */
static void connection_fail(connection *c, int error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

        if (c->ep)
                log_emit(&c->ep->log, LOG_WARNING, "Processing a %s connection failed, closing it: %s",
                         c->direct ? "direct" : "bus", g_strerror(-error));
        connection_detach_sources(c);
        sd_bus_close(c->bus);
        if (c->filter && c->filter_slot &&
            sd_bus_message_new_signal(c->bus, &m, "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
                                      "Disconnected") >= 0) {
                sd_bus_error e = SD_BUS_ERROR_NULL;

                (void)c->filter(m, c, &e);
                sd_bus_error_free(&e);
        }
}

static uint64_t monotonic_usec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Wakeups, at most, that skip the look for a second message while a
 * connection sees one message per wakeup (calls, not bursts). */
#define CONNECTION_PROBE_BACKOFF_MAX 8U

static void connection_process(connection *c) {
        /* The callbacks may close and drop the connection. */
        _unused_ _cleanup_(connection_unrefp) connection *hold = connection_ref(c);
        uint64_t start = 0;
        bool more = true;

        for (unsigned n = 0; n < CONNECTION_PROCESS_MAX; n++) {
                int r;

                if (n == 0)
                        start = monotonic_usec();
                else if (monotonic_usec() - start >= CONNECTION_PROCESS_USEC)
                        goto bounded;
                /* Looking for a second message costs a read that, for a
                 * call and its reply, finds nothing (a syscall, dear on a
                 * virtual machine). While wakeups bring one message each,
                 * look only every few of them, up to one in 8: a burst is
                 * still found within a few messages, and until then each
                 * wakeup is what sd_bus_attach_event()'s was. Whatever
                 * was left is seen by the next wait (the socket's level)
                 * or the time source (messages sd-bus already holds). */
                if (n == 1 && c->probe_skip > 0) {
                        c->probe_skip--;
                        more = false;
                        break;
                }
                r = sd_bus_process(c->bus, NULL);

                if (r < 0) {
                        if (c->time_source && sd_bus_get_events(c->bus) >= 0)
                                connection_fail(c, r);
                        more = false;
                        break;
                }
                /* Closed, detached or dropped from a callback. */
                if (!c->time_source)
                        break;
                connection_track_state(c);
                /* Only once the handshake is over: reading it, sd-bus may
                 * take in more than the handshake (a pipelining client's
                 * first messages), which neither the socket nor
                 * sd_bus_get_timeout() then shows. Past it, sd-bus reads a
                 * message at a time, so nothing waits unseen. */
                if (n == 1 && sd_bus_is_ready(c->bus) > 0) {
                        if (r > 0)
                                c->probe_backoff = 0;
                        else {
                                c->probe_backoff = MIN(MAX(c->probe_backoff * 2, 1U), CONNECTION_PROBE_BACKOFF_MAX);
                                c->probe_skip = c->probe_backoff;
                        }
                }
                if (r == 0) {
                        more = false;
                        break;
                }
        }
bounded:
        /* Stopped at a bound after doing something: sd-bus may hold more
         * (above all what it read with the handshake), seen by no wait. */
        c->process_more = more;
        if (c->time_source)
                connection_track_state(c);
}

int connection_process_once(connection *c) {
        int r = sd_bus_process(c->bus, NULL);

        connection_track_state(c);
        return r;
}

static int connection_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        connection_process(userdata);
        return 0;
}

static int connection_on_time(sd_event_source *s, uint64_t usec, void *userdata) {
        connection_process(userdata);
        return 0;
}

static int connection_add_io(connection *c, sd_event *event);

static int connection_on_prepare(sd_event_source *s, void *userdata) {
        connection *c = userdata;
        uint64_t until;
        int events, r;

        events = sd_bus_get_events(c->bus);
        if (events <= 0 && sd_bus_is_open(c->bus) <= 0) {
                /* Closing or closed, by a blocking call. */
                connection_track_state(c);
                return 0;
        }
        /* Until the bus is running sd-bus may still move to another of
         * its addresses, on another socket (closing the one we watch, which
         * takes it out of the epoll set, and maybe reusing its number):
         * follow it. */
        if (sd_bus_is_ready(c->bus) <= 0) {
                struct stat st;
                int fd = sd_bus_get_fd(c->bus);

                if (fd >= 0 && fstat(fd, &st) >= 0 &&
                    (fd != sd_event_source_get_io_fd(s) || st.st_dev != c->io_dev || st.st_ino != c->io_ino)) {
                        sd_event *event = sd_event_source_get_event(s);

                        connection_drop_io(c);
                        r = connection_add_io(c, event);
                        if (r < 0) {
                                connection_fail(c, r);
                                return 0;
                        }
                        s = c->io_source;
                }
        }
        if (events >= 0) {
                r = sd_event_source_set_io_events(s, (uint32_t)events);
                if (r < 0)
                        goto fail;
        }
        r = sd_bus_get_timeout(c->bus, &until);
        if (r < 0)
                goto fail;
        if (c->process_more) {
                until = 0;
                r = 1;
        }
        if (r > 0) {
                int k = sd_event_source_set_time(c->time_source, until);

                if (k < 0) {
                        r = k;
                        goto fail;
                }
        }
        r = sd_event_source_set_enabled(c->time_source, r > 0 ? SD_EVENT_ON : SD_EVENT_OFF);
        if (r < 0)
                goto fail;
        return 0;
fail:
        connection_fail(c, r);
        return 0;
}

static int connection_on_exit(sd_event_source *s, void *userdata) {
        connection *c = userdata;

        /* As sd-bus's attach: the loop ends, so does the bus (unless the
         * application said otherwise with sd_bus_set_close_on_exit()). */
        if (sd_bus_get_close_on_exit(c->bus) <= 0)
                return 0;
        connection_detach_sources(c);
        (void)sd_bus_flush(c->bus);
        sd_bus_close(c->bus);
        return 0;
}

static int connection_add_io(connection *c, sd_event *event) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *s = NULL;
        struct stat st;
        int fd, r;

        fd = sd_bus_get_fd(c->bus);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        r = sd_event_add_io(event, &s, fd, 0, connection_on_io, c);
        if (r < 0)
                return r;
        r = sd_event_source_set_prepare(s, connection_on_prepare);
        if (r < 0)
                return r;
        r = sd_event_source_set_priority(s, c->priority);
        if (r < 0)
                return r;
        (void)sd_event_source_set_description(s, "ipcbus-bus-io");
        c->io_dev = st.st_dev;
        c->io_ino = st.st_ino;
        c->io_source = TAKE_PTR(s);
        return 0;
}

static int connection_attach_sources(connection *c, sd_event *event, int64_t priority) {
        int r;

        c->priority = priority;
        r = connection_add_io(c, event);
        if (r < 0)
                goto fail;
        /* Armed at 0 at first, as sd-bus does: the first iteration
         * processes whatever the bus holds already. */
        r = sd_event_add_time(event, &c->time_source, CLOCK_MONOTONIC, 0, 0, connection_on_time, c);
        if (r < 0)
                goto fail;
        r = sd_event_source_set_priority(c->time_source, priority);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_description(c->time_source, "ipcbus-bus-time");
        r = sd_event_add_exit(event, &c->exit_source, connection_on_exit, c);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_description(c->exit_source, "ipcbus-bus-exit");
        return 0;
fail:
        connection_detach_sources(c);
        return r;
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
                /* A bus of our own gets our sources (above). A borrowed one
                 * gets sd-bus's: it may use what ours do not handle
                 * (separate input and output fds, waiting for the socket
                 * to appear), and the caller may expect sd_bus_get_event()
                 * to name its loop. So does one of ours with two fds. */
                r = c->borrowed ? -EPERM : connection_attach_sources(c, event, priority);
                if (r == -EPERM) {
                        r = sd_bus_attach_event(c->bus, event, (int)priority);
                        if (r >= 0)
                                c->sdbus_attached = true;
                }
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
        connection_detach_sources(c);
        if (c->sdbus_attached)
                (void)sd_bus_detach_event(c->bus);
        c->attached = c->sdbus_attached = false;
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
        /* The rings peers sent on it: their senders are gone for us. */
        value_ring_forget(c->bus, NULL, true);
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
