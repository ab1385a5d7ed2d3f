/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * MessagePorts (docs/ports.md). A port is one end of an AF_UNIX
 * SOCK_SEQPACKET socketpair, watched by one sd-event io source.
 *
 * Receiving (port-read.c): only a started port reads its socket. Before
 * start() messages stay in the kernel, so they travel with the socket if
 * the port is transferred; the io source still asks for EPOLLRDHUP, so the
 * other end's going away fires close on an unstarted port too.
 *
 * Sending (port-out.c): a message goes straight into the socket; when the
 * socket is full (the other end is not reading), messages wait in `out`,
 * in order, and are written on EPOLLOUT. A port closed with messages in
 * `out` lingers until they are written.
 *
 * A port transferred while messages are on their way through it (in `out`,
 * or a chunked message half read into `in`) takes them along in a
 * handover (port-handover.c).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "errors.h"
#include "log.h"
#include "port-frame.h"
#include "port-handover.h"
#include "port-out.h"
#include "port-private.h"
#include "port.h"
#include "slot.h"
#include "util.h"
#include "value.h"

/* Messages up to this size are built on the stack when they can go at once. */
#define PORT_POST_STACK_MAX 4096U

/* Where a transferred port's socket is, between the checks and the send. */
typedef struct port_handoff {
        int fd;        /* what travels */
        bool handover; /* @fd is a handover socket made here; otherwise the port's own */
} port_handoff;

int ipcbus_message_channel_new(sd_event *event, ipcbus_port **ret_port1, ipcbus_port **ret_port2) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ipcbus_port *a = NULL, *b = NULL;
        int fds[2], r;

        assert_return(ret_port1, NULL, -EINVAL);
        assert_return(ret_port2, NULL, -EINVAL);
        if (event)
                e = sd_event_ref(event);
        else {
                r = sd_event_default(&e);
                if (r < 0)
                        return r;
        }

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
                return -errno;
        r = port_new_internal(e, SD_EVENT_PRIORITY_NORMAL, fds[0], NULL, NULL, NULL, &a);
        if (r < 0) {
                (void)close(fds[1]);
                return r;
        }
        r = port_new_internal(e, SD_EVENT_PRIORITY_NORMAL, fds[1], NULL, NULL, NULL, &b);
        if (r < 0) {
                ipcbus_port_unref(a);
                return r;
        }
        a->sibling = b;
        b->sibling = a;
        *ret_port1 = a;
        *ret_port2 = b;
        return 0;
}


/* ---- transferring ------------------------------------------------------- */

static int port_handoff_prepare(ipcbus_port *p, port_handoff *ret) {
        int r;

        if (p->state != PORT_OPEN)
                return -EBADF;

        /* Whatever the other end has room for goes now, the usual way. */
        r = port_out_flush(p->fd, &p->out, &p->out_bytes);
        if (r == -EPIPE)
                /* Nobody will read them; the receiver sees the hangup. */
                port_out_clear(p);
        else if (r < 0)
                return r;

        if (g_queue_is_empty(&p->out) && !port_frame_assembly_busy(&p->in)) {
                *ret = (port_handoff){ .fd = p->fd, .handover = false };
                return 0;
        }
        r = port_handover_new(p->fd, &p->in, &p->out, &ret->fd);
        if (r < 0)
                return r;
        ret->handover = true;
        return 0;
}

/* @h->fd now belongs to the caller; the port is neutered. */
static void port_handoff_commit(ipcbus_port *p, const port_handoff *h) {
        /* Its own copy of the socket travels inside the handover, or is h->fd. */
        if (!h->handover)
                p->fd = -EBADF;
        port_unlink_sibling(p);
        port_finish(p, PORT_TRANSFERRED, false);
}

static void port_handoff_abort(port_handoff *h) {
        if (h->handover)
                port_safe_close(&h->fd);
}

int port_transfer_prepare(ipcbus_port *const *ports, size_t n, const ipcbus_port *sender, sd_bus_error *error) {
        if (n > 0 && !ports)
                return error_invalid_args(error, "Transfer list is NULL but counts %zu ports.", n);
        if (n > IPCBUS_PORT_TRANSFER_MAX)
                return error_invalid_args(error,
                                          "Transfer list holds %zu ports; one message carries at most %d.",
                                          n, IPCBUS_PORT_TRANSFER_MAX);

        for (size_t i = 0; i < n; i++) {
                const ipcbus_port *q = ports[i];

                if (!port_valid(q))
                        return error_invalid_args(error, "Port at index %zu is not a port.", i);
                if (q == sender)
                        return error_invalid_args(error, "Port at index %zu contains the source port.", i);
                if (sender && q == sender->sibling)
                        return error_invalid_args(error,
                                                  "Port at index %zu is the other end of the source port.", i);
                for (size_t j = 0; j < i; j++)
                        if (ports[j] == q)
                                return error_invalid_args(
                                        error, "Port at index %zu is a duplicate of an earlier port.", i);
                if (q->state == PORT_TRANSFERRED)
                        return error_invalid_args(error, "Port at index %zu is already neutered.", i);
                if (q->state != PORT_OPEN)
                        return error_invalid_args(error, "Port at index %zu is closed.", i);
        }
        return 0;
}

int port_transfer_take_fd(ipcbus_port *port, int *ret_fd) {
        port_handoff h;
        int r;

        if (!port_valid(port) || !ret_fd)
                return -EINVAL;
        r = port_handoff_prepare(port, &h);
        if (r < 0)
                return r;
        port_handoff_commit(port, &h);
        *ret_fd = h.fd;
        return 0;
}

/* ---- public ------------------------------------------------------------- */

static int port_refuse(ipcbus_port *p, int r, const char *format, ...) G_GNUC_PRINTF(3, 4);
static int port_refuse(ipcbus_port *p, int r, const char *format, ...) {
        char buf[512];
        va_list ap;

        if (!p->log.fn)
                return r;
        va_start(ap, format);
        (void)vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);
        log_emit(&p->log, LOG_WARNING, "Failed to post message: %s", buf);
        return r;
}

int ipcbus_port_post_message(ipcbus_port *p, GVariant *message, ipcbus_port *const *transfer,
                             size_t n_transfer) {
        _cleanup_(g_variant_unrefp) GVariant *value = variant_take(message);
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        port_handoff handoffs[IPCBUS_PORT_TRANSFER_MAX];
        int fds[IPCBUS_PORT_TRANSFER_MAX];
        unsigned n = (unsigned)n_transfer;
        port_out *o = NULL;
        uint64_t size;
        int r;

        assert_return(port_valid(p), NULL, -EINVAL);
        if (p->state == PORT_CLOSED || p->state == PORT_TRANSFERRED)
                return port_refuse(p, -EBADF, "the port is %s.",
                                   p->state == PORT_CLOSED ? "closed" : "transferred (neutered)");
        if (p->state == PORT_PEER_GONE)
                return port_refuse(p, -EPIPE, "the other end of the port is gone.");
        if (!value)
                return port_refuse(p, -EINVAL, "the message is NULL (undefined is ipcbus_value_undefined()).");

        r = port_transfer_prepare(transfer, n_transfer, p, &error);
        if (r < 0)
                return port_refuse(p, r, "%s", error.message);
        r = value_check(value, &error);
        if (r < 0 && r != -EMSGSIZE) /* the channels' limit; the ports' is below */
                return port_refuse(p, r, "An object could not be cloned: %s", error.message);

        size = port_frame_payload_size(value);
        if (size > IPCBUS_PORT_MESSAGE_MAX)
                return port_refuse(p, -EMSGSIZE,
                                   "message of %" PRIu64 " bytes exceeds the limit of %llu bytes.", size,
                                   IPCBUS_PORT_MESSAGE_MAX);
        /* Back-pressure: a message always goes onto an empty queue (one
         * message may be as large as IPCBUS_PORT_MESSAGE_MAX), never past
         * the caps onto a full one. */
        if (!g_queue_is_empty(&p->out) &&
            (p->out.length >= IPCBUS_PORT_QUEUE_MAX_MESSAGES || p->out_bytes + size > IPCBUS_PORT_QUEUE_MAX_BYTES)) {
                p->drain_wanted = true;
                if (p->overflow_logged)
                        return -ENOBUFS;
                p->overflow_logged = true;
                return port_refuse(p, -ENOBUFS,
                                   "the other end is not reading: %u messages (%" PRIu64
                                   " bytes) are queued; waiting for drain.",
                                   p->out.length, p->out_bytes);
        }

        for (unsigned i = 0; i < n; i++) {
                r = port_handoff_prepare(transfer[i], &handoffs[i]);
                if (r < 0) {
                        for (unsigned j = 0; j < i; j++)
                                port_handoff_abort(&handoffs[j]);
                        return port_refuse(p, r, "port at index %u could not be handed over: %s", i,
                                           g_strerror(-r));
                }
                fds[i] = handoffs[i].fd;
        }

        if (!g_queue_is_empty(&p->out))
                /* Behind what waits already. */
                r = -EAGAIN;
        else if (size <= PORT_POST_STACK_MAX) {
                /* The common case: a small message, room in the socket. */
                union {
                        uint64_t align;
                        uint8_t buf[PORT_FRAME_HEADER_SIZE + PORT_POST_STACK_MAX];
                } d;

                port_frame_header_write(d.buf, PORT_FRAME_MESSAGE, 0, (uint8_t)n, size);
                port_frame_payload_write(value, d.buf + PORT_FRAME_HEADER_SIZE);
                r = port_frame_send(p->fd, d.buf, PORT_FRAME_HEADER_SIZE + size, fds, n);
                if (r == -EAGAIN) {
                        o = port_out_new(g_variant_ref(value), NULL, 0);
                        o->datagram_size = PORT_FRAME_HEADER_SIZE + size;
                        o->datagram = g_memdup2(d.buf, o->datagram_size);
                }
        } else {
                /* The sockets are still the ports' until the commit below. */
                o = port_out_new(g_variant_ref(value), g_memdup2(fds, n * sizeof(int)), n);
                r = port_out_send(p->fd, o);
                o->n_fds = 0;
                /* A chunked message whose start went is the socket's now:
                 * the rest must follow before anything else, so it waits in
                 * the queue, where a lasting error closes the port. */
                if (o->begun && r < 0 && r != -EPIPE)
                        r = -EAGAIN;
        }

        if (r < 0 && r != -EAGAIN) {
                if (o)
                        port_out_free(o);
                for (unsigned i = 0; i < n; i++)
                        port_handoff_abort(&handoffs[i]);
                if (r == -EPIPE)
                        return port_refuse(p, -EPIPE, "the other end of the port is gone.");
                return port_refuse(p, r, "%s", g_strerror(-r));
        }

        for (unsigned i = 0; i < n; i++)
                port_handoff_commit(transfer[i], &handoffs[i]);

        if (r == 0) {
                /* In the kernel now, with copies of the sockets: ours go. */
                port_frame_close_fds(fds, n);
                if (o)
                        port_out_free(o);
                return 0;
        }

        /* Waits for room, with its sockets. */
        if (!o)
                o = port_out_new(g_variant_ref(value), NULL, 0);
        g_free(o->fds);
        o->fds = n > 0 ? g_memdup2(fds, n * sizeof(int)) : NULL;
        o->n_fds = n;
        g_queue_push_tail(&p->out, o);
        p->out_bytes += o->size;
        p->drain_wanted = true;
        port_update_io(p);
        return 0;
}

int ipcbus_port_on_message(ipcbus_port *p, ipcbus_slot **ret_slot, ipcbus_port_message_fn fn, void *userdata) {
        assert_return(port_valid(p), NULL, -EINVAL);
        assert_return(fn, &p->log, -EINVAL);
        return slot_list_add(&p->on_message, ret_slot, (void *)fn, userdata);
}

int ipcbus_port_on_close(ipcbus_port *p, ipcbus_slot **ret_slot, ipcbus_port_close_fn fn, void *userdata) {
        assert_return(port_valid(p), NULL, -EINVAL);
        assert_return(fn, &p->log, -EINVAL);
        return slot_list_add(&p->on_close, ret_slot, (void *)fn, userdata);
}

int ipcbus_port_start(ipcbus_port *p) {
        assert_return(port_valid(p), NULL, -EINVAL);
        if (p->state == PORT_CLOSED || p->state == PORT_TRANSFERRED)
                return -EBADF;
        if (p->started)
                return 0;
        p->started = true;
        port_update_io(p);
        return 0;
}

int ipcbus_port_close(ipcbus_port *p) {
        assert_return(port_valid(p), NULL, -EINVAL);
        if (p->state == PORT_TRANSFERRED)
                return -EBADF;
        if (p->state == PORT_CLOSED)
                return 0;

        ipcbus_port_ref(p);
        port_close_socket(p);
        p->state = PORT_CLOSED;
        port_end_registrations(p);
        ipcbus_port_unref(p);
        return 0;
}

bool ipcbus_port_is_closed(ipcbus_port *p) {
        assert_return(port_valid(p), NULL, true);
        return p->state != PORT_OPEN;
}

int ipcbus_port_set_log_function(ipcbus_port *p, ipcbus_log_fn fn, void *userdata) {
        assert_return(port_valid(p), NULL, -EINVAL);
        p->log.fn = fn;
        p->log.userdata = userdata;
        return 0;
}

const sd_bus_error *ipcbus_port_get_close_error(ipcbus_port *p) {
        assert_return(port_valid(p), NULL, NULL);
        if (!sd_bus_error_is_set(&p->close_error))
                return NULL;
        return &p->close_error;
}

int ipcbus_port_on_drain(ipcbus_port *p, ipcbus_slot **ret_slot, ipcbus_port_drain_fn fn, void *userdata) {
        assert_return(port_valid(p), NULL, -EINVAL);
        assert_return(fn, &p->log, -EINVAL);
        return slot_list_add(&p->on_drain, ret_slot, (void *)fn, userdata);
}

int ipcbus_port_get_queued(ipcbus_port *p, size_t *ret_messages, uint64_t *ret_bytes) {
        assert_return(port_valid(p), NULL, -EINVAL);
        if (ret_messages)
                *ret_messages = p->out.length;
        if (ret_bytes)
                *ret_bytes = p->out_bytes;
        return 0;
}

unsigned port_queued(const ipcbus_port *p) {
        return port_valid(p) ? p->out.length : 0;
}
