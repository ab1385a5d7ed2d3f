/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A port's state and life (docs/ports.md): which events its io source
 * waits for, closing and failing, the other end going, flushing what waits
 * in `out`, firing the listeners, and the last reference. The bottom of the
 * port module: port-read.c and port.c build on it, it on neither.
 */
#include <assert.h>
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "heap.h"
#include "log.h"
#include "port-out.h"
#include "port-private.h"
#include "slot.h"
#include "util.h"

void port_safe_close(int *fd) {
        if (*fd >= 0)
                (void)close(*fd);
        *fd = -EBADF;
}

/* ---- state -------------------------------------------------------------- */

uint32_t port_events(ipcbus_port *p) {
        uint32_t events = EPOLLRDHUP;

        if (p->started)
                events |= EPOLLIN;
        if (p->state == PORT_OPEN && !g_queue_is_empty(&p->out))
                events |= EPOLLOUT;
        return events;
}

void port_update_io(ipcbus_port *p) {
        int r;

        if (!p->io)
                return;
        if (p->state == PORT_PEER_GONE && !p->started)
                /* Hangup is level-triggered: stop listening until start(). */
                r = sd_event_source_set_enabled(p->io, SD_EVENT_OFF);
        else {
                r = sd_event_source_set_io_events(p->io, port_events(p));
                if (r >= 0)
                        r = sd_event_source_set_enabled(p->io, SD_EVENT_ON);
        }
        /* A port that cannot watch its socket would stall without a word:
         * it closes, saying why (callers hold a reference across this). */
        if (r < 0)
                port_fail_errno(p, r, "Could not watch the port's socket");
}

/* Stops watching the socket (before anyone else can own it) and closes it. */
void port_drop_socket(ipcbus_port *p) {
        p->io = sd_event_source_disable_unref(p->io);
        port_safe_close(&p->fd);
        port_frame_assembly_clear(&p->in);
        g_free(p->rbuf);
        p->rbuf = NULL;
}

void port_out_clear(ipcbus_port *p) {
        bool stalled = p->overflow_logged && !g_queue_is_empty(&p->out);

        port_out_queue_clear(&p->out);
        p->out_bytes = 0;
        /* The queue of a peer that stopped reading, then went. */
        if (stalled) {
                p->overflow_logged = false;
                heap_release_after_stall();
        }
}

/* The socket goes, after the queued frames if the other end is there to read them. */
void port_close_socket(ipcbus_port *p) {
        if (p->state == PORT_OPEN && !g_queue_is_empty(&p->out) && port_out_flush(p->fd, &p->out, NULL) == 0 &&
            !g_queue_is_empty(&p->out)) {
                p->io = sd_event_source_disable_unref(p->io);
                port_linger_start(p->event, p->priority, &p->log, p->fd, &p->out);
                p->fd = -EBADF;
        }
        port_out_clear(p);
        port_drop_socket(p);
}

void port_unlink_sibling(ipcbus_port *p) {
        if (!p->sibling)
                return;
        p->sibling->sibling = NULL;
        p->sibling = NULL;
}

void port_end_registrations(ipcbus_port *p) {
        slot_list_clear(&p->on_message);
        slot_list_clear(&p->on_close);
        slot_list_clear(&p->on_drain);
}

/* Runs the ipcbus_port_close_fn-shaped callbacks of @list (close, drain). */
void port_fire(ipcbus_port *p, GQueue *list) {
        unsigned n = list->length, i = 0;
        ipcbus_slot **snap;

        /* Callbacks may remove themselves or others: walk a snapshot. */
        snap = g_newa(ipcbus_slot *, n + 1);
        for (GList *l = list->head; l; l = l->next)
                snap[i++] = slot_pin(l->data);
        for (i = 0; i < n; i++) {
                if (snap[i]->connected) {
                        slot_run_begin(snap[i]);
                        ((ipcbus_port_close_fn)snap[i]->lifecycle.fn)(p, snap[i]->userdata);
                        slot_run_end(snap[i]);
                }
                slot_unpin(snap[i]);
        }
}

void port_fire_close(ipcbus_port *p) {
        if (p->close_fired)
                return;
        p->close_fired = true;
        port_fire(p, &p->on_close);
}

/* The end of a port's socket: @state is CLOSED, TRANSFERRED or (read to the end) PEER_GONE. */
void port_finish(ipcbus_port *p, port_state state, bool fire) {
        ipcbus_port_ref(p);
        port_out_clear(p);
        port_drop_socket(p);
        p->state = state;
        if (fire)
                port_fire_close(p);
        port_end_registrations(p);
        ipcbus_port_unref(p);
}

/* The port closes itself: something the other end sent, or the system, failed it. */
void port_fail(ipcbus_port *p, const sd_bus_error *error) {
        if (p->state == PORT_CLOSED || p->state == PORT_TRANSFERRED)
                return;
        sd_bus_error_free(&p->close_error);
        (void)sd_bus_error_copy(&p->close_error, error);
        log_emit(&p->log, LOG_ERR, "MessagePort closed: %s", strnull(error->message));
        port_finish(p, PORT_CLOSED, true);
}

void port_fail_errno(ipcbus_port *p, int r, const char *what) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        (void)sd_bus_error_set_errnof(&error, r, "%s: %s", what, g_strerror(-r));
        port_fail(p, &error);
}

void port_peer_gone(ipcbus_port *p) {
        if (p->state != PORT_OPEN)
                return;
        if (!g_queue_is_empty(&p->out)) {
                log_emit(&p->log, LOG_DEBUG, "Dropping %u messages: the other end of the port is gone",
                         p->out.length);
                port_out_clear(p);
        }
        p->state = PORT_PEER_GONE;
        /* A started port reads on to the end and fires close there, after
         * the messages the other end sent before it went. */
        if (!p->started)
                port_fire_close(p);
        port_update_io(p);
}

void port_flush(ipcbus_port *p) {
        int r = port_out_flush(p->fd, &p->out, &p->out_bytes);

        if (r == -EPIPE)
                port_peer_gone(p);
        else if (r < 0)
                port_fail_errno(p, r, "Could not send a queued message");
        else if (g_queue_is_empty(&p->out) && p->drain_wanted) {
                /* Like a Node stream's 'drain': posting may go on. */
                p->drain_wanted = false;
                if (p->overflow_logged) {
                        /* A stall that hit the caps is over. */
                        p->overflow_logged = false;
                        heap_release_after_stall();
                }
                port_fire(p, &p->on_drain);
        }
}

ipcbus_port *ipcbus_port_ref(ipcbus_port *p) {
        if (p)
                p->n_ref++;
        return p;
}

ipcbus_port *ipcbus_port_unref(ipcbus_port *p) {
        if (!p)
                return NULL;
        assert(p->n_ref > 0);
        if (--p->n_ref > 0)
                return NULL;

        /* Registrations' destroy callbacks may take and drop references. */
        p->n_ref = 1;
        if (p->state == PORT_OPEN || p->state == PORT_PEER_GONE)
                port_close_socket(p);
        port_drop_socket(p);
        p->state = PORT_CLOSED;
        port_unlink_sibling(p);
        port_end_registrations(p);

        port_out_clear(p);
        sd_bus_error_free(&p->close_error);
        sd_event_unref(p->event);
        p->magic = 0;
        g_free(p);
        return NULL;
}

void ipcbus_port_unrefp(ipcbus_port **p) {
        if (p && *p)
                ipcbus_port_unref(*p);
}
