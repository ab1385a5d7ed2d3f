/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * MessagePorts (docs/ports.md). A port is one end of an AF_UNIX
 * SOCK_SEQPACKET socketpair, watched by one sd-event io source.
 *
 * Receiving: only a started port reads its socket. Before start() messages
 * stay in the kernel, so they travel with the socket if the port is
 * transferred; the io source still asks for EPOLLRDHUP, so the other end's
 * going away fires close on an unstarted port too.
 *
 * Sending: a frame goes straight into the socket; when the socket is full
 * (the other end is not reading), frames wait in `out`, in order, and are
 * written on EPOLLOUT. A port transferred with frames still in `out` takes
 * them along in a handover; a port closed with frames in `out` lingers
 * until they are written.
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
#include "port.h"
#include "slot.h"
#include "util.h"
#include "value.h"

/* Tells a port from a stray pointer in a transfer list. */
#define PORT_MAGIC UINT32_C(0x74726f70)

/* Messages read per wakeup before other sources get their turn. */
#define PORT_READ_BATCH 32U

/* Messages up to this size are built on the stack when they can go at once. */
#define PORT_POST_STACK_MAX 4096U

/* At most this many wakeups of a port pass without looking for a second frame. */
#define PORT_PROBE_BACKOFF_MAX 63U

/* Port sockets of queued messages one handover carries. */
#define PORT_HANDOVER_FDS_MAX 16384U

typedef enum port_state {
        PORT_OPEN,
        PORT_PEER_GONE, /* the other end went; the socket stays until what it sent before is read */
        PORT_CLOSED,    /* by close() or a malformed frame */
        PORT_TRANSFERRED,
} port_state;

/* One frame waiting for room in the socket. */
typedef struct port_out {
        GVariant *value;
        int *fds; /* the transferred ports' sockets, owned */
        unsigned n_fds;
        /* The datagram (and memfd), built the first time the frame is tried. */
        uint8_t *datagram;
        size_t datagram_size;
        int memfd;
} port_out;

struct ipcbus_port {
        uint32_t magic;
        unsigned n_ref;
        sd_event *event;
        int64_t priority;
        int fd;
        sd_event_source *io;
        port_state state;
        bool started;
        bool close_fired;
        /* The other end while both live in this process (refused in the
         * other's transfer list: it would travel into its own socket). */
        ipcbus_port *sibling;
        GQueue out;
        GQueue on_message;
        GQueue on_close;
        log_target log;
        sd_bus_error close_error;
        uint8_t *rbuf;                      /* PORT_FRAME_DATAGRAM_MAX, while started */
        unsigned probe_backoff, probe_skip; /* port_read() */
};

/* A closed port's socket, kept until its queued frames are written. Owned
 * by the loop (a floating io source), so it goes with the loop at the latest. */
typedef struct port_linger {
        int fd;
        GQueue out;
        sd_event_source *io;
} port_linger;

/* Where a transferred port's socket is, between the checks and the send. */
typedef struct port_handoff {
        int fd;        /* what travels */
        bool handover; /* @fd is a handover socket made here; otherwise the port's own */
} port_handoff;

static void safe_close(int *fd) {
        if (*fd >= 0)
                (void)close(*fd);
        *fd = -EBADF;
}

static bool port_valid(const ipcbus_port *p) {
        return p && p->magic == PORT_MAGIC;
}

/* ---- outgoing frames ---------------------------------------------------- */

/* Takes @value and @fds. */
static port_out *port_out_new(GVariant *value, int *fds, unsigned n_fds) {
        port_out *o = g_new0(port_out, 1);

        o->value = value;
        o->fds = fds;
        o->n_fds = n_fds;
        o->memfd = -EBADF;
        return o;
}

static void port_out_free(port_out *o) {
        g_variant_unref(o->value);
        port_frame_close_fds(o->fds, o->n_fds);
        g_free(o->fds);
        g_free(o->datagram);
        safe_close(&o->memfd);
        g_free(o);
}

static void out_clear(GQueue *q) {
        port_out *o;

        while ((o = g_queue_pop_head(q)))
                port_out_free(o);
}

static int port_out_build(port_out *o) {
        uint64_t size;
        int r;

        if (o->datagram)
                return 0;
        size = port_frame_payload_size(o->value);
        if (size <= PORT_FRAME_INLINE_MAX) {
                o->datagram = g_malloc(PORT_FRAME_HEADER_SIZE + size);
                port_frame_header_write(o->datagram, PORT_FRAME_MESSAGE, 0, (uint8_t)o->n_fds, size);
                port_frame_payload_write(o->value, o->datagram + PORT_FRAME_HEADER_SIZE);
                o->datagram_size = PORT_FRAME_HEADER_SIZE + size;
                return 0;
        }

        r = port_frame_payload_memfd(o->value, &o->memfd);
        if (r < 0)
                return r;
        o->datagram = g_malloc(PORT_FRAME_HEADER_SIZE);
        port_frame_header_write(o->datagram, PORT_FRAME_MESSAGE, PORT_FRAME_FLAG_MEMFD, (uint8_t)o->n_fds,
                                size);
        o->datagram_size = PORT_FRAME_HEADER_SIZE;
        return 0;
}

static int port_out_send(int fd, port_out *o) {
        int fds[PORT_FRAME_FDS_MAX];
        size_t n = o->n_fds;
        int r;

        r = port_out_build(o);
        if (r < 0)
                return r;
        if (n > 0)
                memcpy(fds, o->fds, n * sizeof(int));
        if (o->memfd >= 0)
                fds[n++] = o->memfd;
        return port_frame_send(fd, o->datagram, o->datagram_size, fds, n);
}

/* Writes queued frames until none is left or the socket is full.
 * Return: 0; -EPIPE; other -errno (the frame stays queued). */
static int out_flush(int fd, GQueue *q) {
        port_out *o;
        int r;

        while ((o = g_queue_peek_head(q))) {
                r = port_out_send(fd, o);
                if (r == -EAGAIN)
                        return 0;
                if (r < 0)
                        return r;
                port_out_free(g_queue_pop_head(q));
        }
        return 0;
}

/* ---- lingering ---------------------------------------------------------- */

static void linger_free(void *userdata) {
        port_linger *l = userdata;

        out_clear(&l->out);
        safe_close(&l->fd);
        g_free(l);
}

static int linger_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        port_linger *l = userdata;
        int r = 0;

        if (revents & EPOLLOUT)
                r = out_flush(l->fd, &l->out);
        if (r < 0 || g_queue_is_empty(&l->out) || (revents & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))) {
                /* The loop's reference was the last: the destroy callback
                 * frees @l once this dispatch is over. */
                (void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
                (void)sd_event_source_set_floating(s, false);
        }
        return 0;
}

/* Hands the socket and the queue to a linger (the port's io source is gone). */
static void port_linger_start(ipcbus_port *p) {
        port_linger *l = g_new0(port_linger, 1);
        int r;

        l->fd = p->fd;
        p->fd = -EBADF;
        l->out = p->out;
        g_queue_init(&p->out);

        r = sd_event_add_io(p->event, &l->io, l->fd, EPOLLOUT | EPOLLRDHUP, linger_on_io, l);
        if (r < 0) {
                log_emit(&p->log, LOG_WARNING, "Dropping %u messages queued on a closed port: %s",
                         l->out.length, g_strerror(-r));
                linger_free(l);
                return;
        }
        (void)sd_event_source_set_description(l->io, "ipcbus-port-linger");
        (void)sd_event_source_set_priority(l->io, p->priority);
        (void)sd_event_source_set_destroy_callback(l->io, linger_free);
        (void)sd_event_source_set_floating(l->io, true);
        sd_event_source_unref(l->io);
}

/* ---- state -------------------------------------------------------------- */

static uint32_t port_events(ipcbus_port *p) {
        uint32_t events = EPOLLRDHUP;

        if (p->started)
                events |= EPOLLIN;
        if (p->state == PORT_OPEN && !g_queue_is_empty(&p->out))
                events |= EPOLLOUT;
        return events;
}

static void port_update_io(ipcbus_port *p) {
        if (!p->io)
                return;
        if (p->state == PORT_PEER_GONE && !p->started) {
                /* Hangup is level-triggered: stop listening until start(). */
                (void)sd_event_source_set_enabled(p->io, SD_EVENT_OFF);
                return;
        }
        (void)sd_event_source_set_io_events(p->io, port_events(p));
        (void)sd_event_source_set_enabled(p->io, SD_EVENT_ON);
}

/* Stops watching the socket (before anyone else can own it) and closes it. */
static void port_drop_socket(ipcbus_port *p) {
        p->io = sd_event_source_disable_unref(p->io);
        safe_close(&p->fd);
        g_free(p->rbuf);
        p->rbuf = NULL;
}

/* The socket goes, after the queued frames if the other end is there to read them. */
static void port_close_socket(ipcbus_port *p) {
        if (p->state == PORT_OPEN && !g_queue_is_empty(&p->out) && out_flush(p->fd, &p->out) == 0 &&
            !g_queue_is_empty(&p->out)) {
                p->io = sd_event_source_disable_unref(p->io);
                port_linger_start(p);
        }
        out_clear(&p->out);
        port_drop_socket(p);
}

static void port_unlink_sibling(ipcbus_port *p) {
        if (!p->sibling)
                return;
        p->sibling->sibling = NULL;
        p->sibling = NULL;
}

static void port_end_registrations(ipcbus_port *p) {
        slot_list_clear(&p->on_message);
        slot_list_clear(&p->on_close);
}

static void port_fire_close(ipcbus_port *p) {
        unsigned n = p->on_close.length, i = 0;
        ipcbus_slot **snap;

        if (p->close_fired)
                return;
        p->close_fired = true;

        /* Callbacks may remove themselves or others: walk a snapshot. */
        snap = g_newa(ipcbus_slot *, n + 1);
        for (GList *l = p->on_close.head; l; l = l->next)
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

/* The end of a port's socket: @state is CLOSED, TRANSFERRED or (read to the end) PEER_GONE. */
static void port_finish(ipcbus_port *p, port_state state, bool fire) {
        ipcbus_port_ref(p);
        out_clear(&p->out);
        port_drop_socket(p);
        p->state = state;
        if (fire)
                port_fire_close(p);
        port_end_registrations(p);
        ipcbus_port_unref(p);
}

/* The port closes itself: something the other end sent, or the system, failed it. */
static void port_fail(ipcbus_port *p, const sd_bus_error *error) {
        if (p->state == PORT_CLOSED || p->state == PORT_TRANSFERRED)
                return;
        sd_bus_error_free(&p->close_error);
        (void)sd_bus_error_copy(&p->close_error, error);
        log_emit(&p->log, LOG_ERR, "MessagePort closed: %s", strnull(error->message));
        port_finish(p, PORT_CLOSED, true);
}

static void port_fail_errno(ipcbus_port *p, int r, const char *what) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        (void)sd_bus_error_set_errnof(&error, r, "%s: %s", what, g_strerror(-r));
        port_fail(p, &error);
}

static void port_peer_gone(ipcbus_port *p) {
        if (p->state != PORT_OPEN)
                return;
        if (!g_queue_is_empty(&p->out)) {
                log_emit(&p->log, LOG_DEBUG, "Dropping %u messages: the other end of the port is gone",
                         p->out.length);
                out_clear(&p->out);
        }
        p->state = PORT_PEER_GONE;
        /* A started port reads on to the end and fires close there, after
         * the messages the other end sent before it went. */
        if (!p->started)
                port_fire_close(p);
        port_update_io(p);
}

static void port_flush(ipcbus_port *p) {
        int r = out_flush(p->fd, &p->out);

        if (r == -EPIPE)
                port_peer_gone(p);
        else if (r < 0)
                port_fail_errno(p, r, "Could not send a queued message");
}

/* ---- creating ----------------------------------------------------------- */

static int port_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* Takes @fd and the frames of @out (which may be NULL). */
static int port_new_internal(sd_event *event, int64_t priority, int fd, GQueue *out, const log_target *log,
                             ipcbus_port **ret) {
        ipcbus_port *p = g_new0(ipcbus_port, 1);
        int r;

        p->magic = PORT_MAGIC;
        p->n_ref = 1;
        p->event = sd_event_ref(event);
        p->priority = priority;
        p->fd = fd;
        p->state = PORT_OPEN;
        g_queue_init(&p->out);
        g_queue_init(&p->on_message);
        g_queue_init(&p->on_close);
        if (log)
                p->log = *log;
        if (out) {
                p->out = *out;
                g_queue_init(out);
        }

        r = sd_event_add_io(event, &p->io, fd, port_events(p), port_on_io, p);
        if (r < 0) {
                ipcbus_port_unref(p);
                return r;
        }
        (void)sd_event_source_set_description(p->io, "ipcbus-port");
        r = sd_event_source_set_priority(p->io, priority);
        if (r < 0) {
                ipcbus_port_unref(p);
                return r;
        }
        *ret = p;
        return 0;
}

/*
 * Unpacks a handover (docs/ports.md, "Transfer"): FDS frames with the port
 * sockets of the queued messages, then one ADOPT frame with the port's own
 * socket and the messages. All of it was written before the handover socket
 * left its sender, so it is all there now: nothing here waits.
 */
static int handover_unpack(int hfd, int *ret_fd, GQueue *ret_out, sd_bus_error *error) {
        g_autofree uint8_t *buf = g_malloc(PORT_FRAME_DATAGRAM_MAX);
        GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
        int frame_fds[PORT_FRAME_FDS_MAX];
        port_frame_record *records = NULL;
        size_t n_records = 0, n = 0, used = 0;
        GBytes *bundle = NULL;
        port_frame_header h;
        int sock = -EBADF, r;
        ssize_t k;

        for (;;) {
                k = port_frame_recv(hfd, buf, frame_fds, &n);
                if (k == -EAGAIN || k == -ECONNRESET || k == 0) {
                        r = sd_bus_error_set(error, IPCBUS_ERROR_BAD_FRAME,
                                             "handover ends before the port's socket");
                        goto fail;
                }
                if (k < 0) {
                        r = sd_bus_error_set(error, IPCBUS_ERROR_BAD_FRAME,
                                             "handover holds a datagram that cannot be a frame");
                        goto fail;
                }
                r = port_frame_header_parse(buf, (size_t)k, n, &h, error);
                if (r >= 0 && h.type == PORT_FRAME_MESSAGE)
                        r = sd_bus_error_set(error, IPCBUS_ERROR_BAD_FRAME, "message frame inside a handover");
                if (r >= 0 && h.type == PORT_FRAME_FDS && fds->len + n > PORT_HANDOVER_FDS_MAX)
                        r = sd_bus_error_set(error, IPCBUS_ERROR_BAD_FRAME, "handover with too many sockets");
                if (r < 0) {
                        port_frame_close_fds(frame_fds, n);
                        goto fail;
                }
                if (h.type == PORT_FRAME_ADOPT)
                        break;
                g_array_append_vals(fds, frame_fds, n);
        }

        sock = frame_fds[0];
        if (h.flags & PORT_FRAME_FLAG_MEMFD) {
                r = port_frame_memfd_map(frame_fds[1], h.payload_size, &bundle, error);
                (void)close(frame_fds[1]);
                if (r < 0)
                        goto fail;
        } else
                bundle = g_bytes_new(buf + PORT_FRAME_HEADER_SIZE, h.payload_size);

        r = port_frame_bundle_parse(bundle, fds->len, &records, &n_records, error);
        g_bytes_unref(bundle);
        if (r < 0)
                goto fail;
        if (!port_frame_fd_is_port(sock)) {
                r = sd_bus_error_set(error, IPCBUS_ERROR_BAD_FRAME, "handover socket is not a port");
                for (size_t i = 0; i < n_records; i++)
                        g_variant_unref(records[i].value);
                g_free(records);
                goto fail;
        }

        for (size_t i = 0; i < n_records; i++) {
                int *record_fds = records[i].n_ports > 0
                        ? g_memdup2(&g_array_index(fds, int, used), records[i].n_ports * sizeof(int))
                        : NULL;

                used += records[i].n_ports;
                g_queue_push_tail(ret_out, port_out_new(records[i].value, record_fds, records[i].n_ports));
        }
        g_free(records);
        g_array_free(fds, TRUE);
        *ret_fd = sock;
        return 0;

fail:
        /* Only mmap() fails without saying why in @error. */
        if (error && !sd_bus_error_is_set(error))
                (void)sd_bus_error_set_errnof(error, r, "Could not map a handover: %s", g_strerror(-r));
        safe_close(&sock);
        port_frame_close_fds((const int *)(void *)fds->data, fds->len);
        g_array_free(fds, TRUE);
        return r == -ENOMEM ? r : -EBADMSG;
}

static bool fd_is_handover(int fd) {
        uint8_t header[PORT_FRAME_HEADER_SIZE];

        /* Without room for control data the kernel installs no descriptors on a peek. */
        return recv(fd, header, sizeof(header), MSG_PEEK | MSG_DONTWAIT) == (ssize_t)sizeof(header) &&
                port_frame_is_handover(header);
}

/* A port of a socket that arrived (takes @fd). */
static int port_new_received(sd_event *event, int64_t priority, int fd, const log_target *log,
                             ipcbus_port **ret, sd_bus_error *error) {
        GQueue out = G_QUEUE_INIT;
        int sock, r;

        if (fd < 0)
                return -EBADF;
        if (!port_frame_fd_is_port(fd)) {
                (void)close(fd);
                (void)sd_bus_error_set(error, IPCBUS_ERROR_BAD_FRAME,
                                       "a transferred descriptor is not an AF_UNIX SOCK_SEQPACKET socket");
                return -ENOTSOCK;
        }
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);

        if (fd_is_handover(fd)) {
                r = handover_unpack(fd, &sock, &out, error);
                (void)close(fd);
                if (r < 0)
                        return r;
                (void)fcntl(sock, F_SETFD, FD_CLOEXEC);
                fd = sock;
        }
        return port_new_internal(event, priority, fd, &out, log, ret);
}

int port_new_from_fd(sd_event *event, int64_t priority, int fd, ipcbus_port **ret) {
        if (!event || !ret) {
                if (fd >= 0)
                        (void)close(fd);
                return -EINVAL;
        }
        return port_new_received(event, priority, fd, NULL, ret, NULL);
}

int ipcbus_message_channel_new(sd_event *event, ipcbus_port **ret_port1, ipcbus_port **ret_port2) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        ipcbus_port *a = NULL, *b = NULL;
        int fds[2], r;

        if (!ret_port1 || !ret_port2)
                return -EINVAL;
        if (event)
                e = sd_event_ref(event);
        else {
                r = sd_event_default(&e);
                if (r < 0)
                        return r;
        }

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
                return -errno;
        r = port_new_internal(e, SD_EVENT_PRIORITY_NORMAL, fds[0], NULL, NULL, &a);
        if (r < 0) {
                (void)close(fds[1]);
                return r;
        }
        r = port_new_internal(e, SD_EVENT_PRIORITY_NORMAL, fds[1], NULL, NULL, &b);
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

/* ---- receiving ---------------------------------------------------------- */

static void port_deliver(ipcbus_port *p, GVariant *value, ipcbus_port **ports, size_t n_ports) {
        unsigned n = p->on_message.length, i = 0;
        ipcbus_slot **snap = g_newa(ipcbus_slot *, n + 1);

        for (GList *l = p->on_message.head; l; l = l->next)
                snap[i++] = slot_pin(l->data);
        for (i = 0; i < n; i++) {
                if (snap[i]->connected) {
                        int r;

                        slot_run_begin(snap[i]);
                        r = ((ipcbus_port_message_fn)snap[i]->lifecycle.fn)(p, value, ports, n_ports,
                                                                            snap[i]->userdata);
                        slot_run_end(snap[i]);
                        if (r < 0)
                                log_emit(&p->log, LOG_WARNING, "MessagePort message listener failed: %s",
                                         g_strerror(-r));
                }
                slot_unpin(snap[i]);
        }
}

static int port_reject_frame(ipcbus_port *p, const int *fds, size_t n_fds, const sd_bus_error *error) {
        port_frame_close_fds(fds, n_fds);
        port_fail(p, error);
        return -EBADMSG;
}

/* Return: 1 when a frame was handled and more may follow; 0 when the socket
 * is empty; < 0 when the port ended. */
static int port_read_one(ipcbus_port *p) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        ipcbus_port *ports[PORT_FRAME_PORTS_MAX];
        int fds[PORT_FRAME_FDS_MAX];
        GVariant *value = NULL;
        port_frame_header h;
        GBytes *payload;
        size_t n_fds = 0;
        ssize_t k;
        int r;

        if (!p->rbuf)
                p->rbuf = g_malloc(PORT_FRAME_DATAGRAM_MAX);

        k = port_frame_recv(p->fd, p->rbuf, fds, &n_fds);
        if (k == -EAGAIN)
                return 0;
        if (k == -ECONNRESET) {
                /* Reported once, ahead of what is still queued: read on. */
                port_peer_gone(p);
                return 1;
        }
        if (k == 0) {
                /* Read to the end: posting stays -EPIPE, as the other end is what went. */
                port_finish(p, PORT_PEER_GONE, true);
                return -EPIPE;
        }
        if (k == -EBADMSG) {
                (void)sd_bus_error_set(&error, IPCBUS_ERROR_BAD_FRAME,
                                       "datagram is empty, longer than a frame or carries too many descriptors");
                return port_reject_frame(p, fds, 0, &error);
        }
        if (k < 0) {
                port_fail_errno(p, (int)k, "Could not read from the port");
                return (int)k;
        }

        r = port_frame_header_parse(p->rbuf, (size_t)k, n_fds, &h, &error);
        if (r >= 0 && h.type != PORT_FRAME_MESSAGE)
                r = sd_bus_error_setf(&error, IPCBUS_ERROR_BAD_FRAME, "frame type %u outside a handover",
                                      h.type);
        if (r < 0)
                return port_reject_frame(p, fds, n_fds, &error);

        if (h.flags & PORT_FRAME_FLAG_MEMFD) {
                r = port_frame_memfd_map(fds[--n_fds], h.payload_size, &payload, &error);
                (void)close(fds[n_fds]);
                if (r < 0 && !sd_bus_error_is_set(&error))
                        (void)sd_bus_error_set_errnof(&error, r, "Could not map a message: %s",
                                                      g_strerror(-r));
                if (r < 0)
                        return port_reject_frame(p, fds, n_fds, &error);
        } else
                payload = g_bytes_new(p->rbuf + PORT_FRAME_HEADER_SIZE, h.payload_size);

        r = port_frame_value_decode(payload, &value, &error);
        g_bytes_unref(payload);
        if (r < 0)
                return port_reject_frame(p, fds, n_fds, &error);

        for (size_t i = 0; i < n_fds; i++) {
                r = port_new_received(p->event, p->priority, fds[i], &p->log, &ports[i], &error);
                if (r < 0) {
                        for (size_t j = 0; j < i; j++)
                                ipcbus_port_unref(ports[j]);
                        g_variant_unref(value);
                        if (!sd_bus_error_is_set(&error))
                                (void)sd_bus_error_set_errnof(&error, r,
                                                              "Could not open a transferred port: %s",
                                                              g_strerror(-r));
                        return port_reject_frame(p, fds + i + 1, n_fds - i - 1, &error);
                }
        }

        port_deliver(p, value, ports, n_fds);
        g_variant_unref(value);
        for (size_t i = 0; i < n_fds; i++)
                ipcbus_port_unref(ports[i]);
        return 1;
}

/*
 * Reads what is queued, a batch at most. Looking for a second frame costs a
 * read that usually finds nothing when the two ends take turns (a round
 * trip per message), so a port that found nothing that way looks less and
 * less often; one that found more reads batches again.
 */
static void port_read(ipcbus_port *p) {
        for (unsigned n = 0; n < PORT_READ_BATCH; n++) {
                int r;

                /* A listener may have closed or transferred the port. */
                if (!p->started || (p->state != PORT_OPEN && p->state != PORT_PEER_GONE))
                        return;
                if (n == 1 && p->probe_skip > 0) {
                        p->probe_skip--;
                        return;
                }
                r = port_read_one(p);
                if (r < 0)
                        return;
                if (n == 1) {
                        if (r == 0) {
                                p->probe_backoff = MIN(p->probe_backoff * 2 + 1, PORT_PROBE_BACKOFF_MAX);
                                p->probe_skip = p->probe_backoff;
                        } else
                                p->probe_backoff = 0;
                }
                if (r == 0)
                        return;
        }
}

static int port_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ipcbus_port *p = ipcbus_port_ref(userdata);

        if ((revents & EPOLLOUT) && p->state == PORT_OPEN)
                port_flush(p);
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
                if (p->started)
                        port_read(p);
                else
                        port_peer_gone(p);
        }
        port_update_io(p);
        ipcbus_port_unref(p);
        return 0;
}

/* ---- transferring ------------------------------------------------------- */

static void fill_bundle(void *dst, void *userdata) {
        GQueue *out = userdata;
        uint8_t *p = dst;

        for (GList *l = out->head; l; l = l->next) {
                port_out *o = l->data;

                port_frame_record_write(p, o->value, o->n_fds);
                p += port_frame_record_size(port_frame_payload_size(o->value));
        }
}

static int handover_send_fds(int fd, const int *fds, size_t n) {
        uint8_t header[PORT_FRAME_HEADER_SIZE];

        port_frame_header_write(header, PORT_FRAME_FDS, 0, (uint8_t)n, 0);
        return port_frame_send(fd, header, sizeof(header), fds, n);
}

/*
 * Packs @sock and the frames of @out into a new socket (docs/ports.md,
 * "Transfer"); the other end of that socket is what travels. Changes
 * nothing on failure: closing the new socket drops every copy it holds.
 */
static int handover_new(int sock, GQueue *out, int *ret_fd) {
        _cleanup_(closep) int keep = -EBADF, send_end = -EBADF, memfd = -EBADF;
        g_autofree uint8_t *datagram = NULL;
        int batch[PORT_FRAME_FDS_MAX], pair[2], fds[2];
        size_t n_batch = 0, n_fds = 0, datagram_size;
        uint64_t bundle_size = 0;
        int r;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0)
                return -errno;
        keep = pair[0];
        send_end = pair[1];

        for (GList *l = out->head; l; l = l->next) {
                port_out *o = l->data;

                bundle_size += port_frame_record_size(port_frame_payload_size(o->value));
                n_fds += o->n_fds;
                if (n_fds > PORT_HANDOVER_FDS_MAX)
                        return -ETOOMANYREFS;
                for (unsigned i = 0; i < o->n_fds; i++) {
                        batch[n_batch++] = o->fds[i];
                        if (n_batch == PORT_FRAME_FDS_MAX) {
                                r = handover_send_fds(send_end, batch, n_batch);
                                if (r < 0)
                                        return r == -EAGAIN ? -ENOBUFS : r;
                                n_batch = 0;
                        }
                }
        }
        if (n_batch > 0) {
                r = handover_send_fds(send_end, batch, n_batch);
                if (r < 0)
                        return r == -EAGAIN ? -ENOBUFS : r;
        }

        fds[0] = sock;
        if (bundle_size <= PORT_FRAME_INLINE_MAX) {
                datagram_size = PORT_FRAME_HEADER_SIZE + bundle_size;
                datagram = g_malloc(datagram_size);
                port_frame_header_write(datagram, PORT_FRAME_ADOPT, 0, 1, bundle_size);
                fill_bundle(datagram + PORT_FRAME_HEADER_SIZE, out);
                r = port_frame_send(send_end, datagram, datagram_size, fds, 1);
        } else {
                uint8_t header[PORT_FRAME_HEADER_SIZE];

                r = port_frame_memfd_new(bundle_size, fill_bundle, out, &memfd);
                if (r < 0)
                        return r;
                fds[1] = memfd;
                port_frame_header_write(header, PORT_FRAME_ADOPT, PORT_FRAME_FLAG_MEMFD, 1, bundle_size);
                r = port_frame_send(send_end, header, sizeof(header), fds, 2);
        }
        if (r < 0)
                return r == -EAGAIN ? -ENOBUFS : r;

        *ret_fd = keep;
        keep = -EBADF;
        return 0;
}

static int port_handoff_prepare(ipcbus_port *p, port_handoff *ret) {
        int r;

        if (p->state != PORT_OPEN)
                return -EBADF;

        /* Whatever the other end has room for goes now, the usual way. */
        r = out_flush(p->fd, &p->out);
        if (r == -EPIPE)
                /* Nobody will read them; the receiver sees the hangup. */
                out_clear(&p->out);
        else if (r < 0)
                return r;

        if (g_queue_is_empty(&p->out)) {
                *ret = (port_handoff){ .fd = p->fd, .handover = false };
                return 0;
        }
        r = handover_new(p->fd, &p->out, &ret->fd);
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
                safe_close(&h->fd);
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

        if (!port_valid(p))
                return -EINVAL;
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
        port_update_io(p);
        return 0;
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

        out_clear(&p->out);
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

int ipcbus_port_on_message(ipcbus_port *p, ipcbus_slot **ret_slot, ipcbus_port_message_fn fn, void *userdata) {
        if (!port_valid(p))
                return -EINVAL;
        return slot_list_add(&p->on_message, ret_slot, (void *)fn, userdata);
}

int ipcbus_port_on_close(ipcbus_port *p, ipcbus_slot **ret_slot, ipcbus_port_close_fn fn, void *userdata) {
        if (!port_valid(p))
                return -EINVAL;
        return slot_list_add(&p->on_close, ret_slot, (void *)fn, userdata);
}

int ipcbus_port_start(ipcbus_port *p) {
        if (!port_valid(p))
                return -EINVAL;
        if (p->state == PORT_CLOSED || p->state == PORT_TRANSFERRED)
                return -EBADF;
        if (p->started)
                return 0;
        p->started = true;
        port_update_io(p);
        return 0;
}

int ipcbus_port_close(ipcbus_port *p) {
        if (!port_valid(p))
                return -EINVAL;
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
        return !port_valid(p) || p->state != PORT_OPEN;
}

int ipcbus_port_set_log_function(ipcbus_port *p, ipcbus_log_fn fn, void *userdata) {
        if (!port_valid(p))
                return -EINVAL;
        p->log.fn = fn;
        p->log.userdata = userdata;
        return 0;
}

const sd_bus_error *ipcbus_port_get_close_error(ipcbus_port *p) {
        if (!port_valid(p) || !sd_bus_error_is_set(&p->close_error))
                return NULL;
        return &p->close_error;
}
