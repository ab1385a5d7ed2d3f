/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Making a port and reading it (docs/ports.md): a port is made with the io
 * source that runs it (port_new_internal), also of a socket that arrived
 * (port_new_received, unpacking a handover); a started port reads whole
 * frames, chunked messages reassembled straight into their buffer, and the
 * end of the socket, and hands what arrived to its listeners. Built on
 * port-state.c; port.c builds on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <inttypes.h>
#include <sys/uio.h>
#include <unistd.h>

#include "errors.h"
#include "port-handover.h"
#include "port-out.h"
#include "port.h"
#include "port-private.h"
#include "slot.h"
#include "util.h"

/* The send buffer a port's socket asks for (the kernel caps it at
 * net.core.wmem_max): room for several continuation frames in flight. */
#define PORT_SNDBUF (1024 * 1024)

/* Messages read per wakeup before other sources get their turn. */
#define PORT_READ_BATCH 32U

/* At most this many wakeups of a port pass without looking for a second frame. */
#define PORT_PROBE_BACKOFF_MAX 63U

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

/* A complete payload (taken) and the sockets that came with it (taken),
 * to the listeners. Return: 1; < 0 when the port ended (a bad message). */
static int port_deliver_payload(ipcbus_port *p, GBytes *payload, const int *fds, size_t n_fds) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        ipcbus_port *ports[PORT_FRAME_PORTS_MAX];
        GVariant *value = NULL;
        int r;

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

/* A read that brought no frame. Return: 0 when the socket is empty; 1 when
 * more may follow; < 0 when the port ended. */
static int port_read_nothing(ipcbus_port *p, ssize_t k) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        switch (k) {
        case -EAGAIN:
                return 0;
        case -ECONNRESET:
                /* Reported once, ahead of what is still queued: read on. */
                port_peer_gone(p);
                return 1;
        case 0:
                /* Read to the end: posting stays -EPIPE, as the other end is what went. */
                if (port_frame_assembly_busy(&p->in))
                        log_emit(&p->log, LOG_DEBUG,
                                 "Dropping a message cut short: %" PRIu64 " of its %" PRIu64
                                 " bytes came before the other end of the port went",
                                 p->in.received, p->in.size);
                port_finish(p, PORT_PEER_GONE, true);
                return -EPIPE;
        case -EBADMSG:
                (void)sd_bus_error_set(&error, IPCBUS_ERROR_BAD_FRAME,
                                       "datagram is empty, longer than a frame or carries too many descriptors");
                return port_reject_frame(p, NULL, 0, &error);
        default:
                port_fail_errno(p, (int)k, "Could not read from the port");
                return (int)k;
        }
}

/* The next continuation frame of a chunked message, its bytes straight
 * into the message's buffer. */
static int port_read_continuation(ipcbus_port *p) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint8_t header[PORT_FRAME_HEADER_SIZE];
        struct iovec iov[2] = {
                { header, sizeof(header) },
                { port_frame_assembly_next(&p->in), port_frame_assembly_room(&p->in) },
        };
        int fds[PORT_FRAME_FDS_MAX];
        g_autofree int *message_fds = NULL;
        size_t n_fds = 0, n_message_fds;
        GBytes *payload;
        ssize_t k;
        int r;

        k = port_frame_recvv(p->fd, iov, G_N_ELEMENTS(iov), fds, &n_fds);
        if (k == -EBADMSG) {
                /* Truncated: longer than what is left of the message, or than a piece may be. */
                (void)sd_bus_error_setf(&error, IPCBUS_ERROR_BAD_FRAME,
                                        "frame longer than the %zu bytes a continuation of this message "
                                        "may carry (%" PRIu64 " of %" PRIu64
                                        " bytes arrived), or with too many descriptors",
                                        port_frame_assembly_room(&p->in), p->in.received, p->in.size);
                return port_reject_frame(p, NULL, 0, &error);
        }
        if (k <= 0)
                return port_read_nothing(p, k);
        r = port_frame_assembly_add(&p->in, header, (size_t)k, n_fds, &error);
        if (r < 0)
                return port_reject_frame(p, fds, n_fds, &error);
        if (r == 0)
                return 1;

        n_message_fds = p->in.n_fds;
        payload = port_frame_assembly_steal(&p->in, &message_fds);
        return port_deliver_payload(p, payload, message_fds, n_message_fds);
}

/* Return: 1 when a frame was handled and more may follow; 0 when the socket
 * is empty; < 0 when the port ended. */
static int port_read_one(ipcbus_port *p) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int fds[PORT_FRAME_FDS_MAX];
        port_frame_header h;
        GBytes *payload;
        size_t n_fds = 0;
        ssize_t k;
        int r;

        if (port_frame_assembly_busy(&p->in))
                return port_read_continuation(p);
        if (!p->rbuf)
                p->rbuf = g_malloc(PORT_FRAME_DATAGRAM_MAX);

        k = port_frame_recv(p->fd, p->rbuf, fds, &n_fds);
        if (k <= 0)
                return port_read_nothing(p, k);

        r = port_frame_header_parse(p->rbuf, (size_t)k, n_fds, &h, &error);
        if (r >= 0 && h.type == PORT_FRAME_CONTINUE)
                r = sd_bus_error_set(&error, IPCBUS_ERROR_BAD_FRAME,
                                     "continuation frame outside a chunked message");
        else if (r >= 0 && h.type != PORT_FRAME_MESSAGE)
                r = sd_bus_error_setf(&error, IPCBUS_ERROR_BAD_FRAME, "frame type %u outside a handover",
                                      h.type);
        if (r < 0)
                return port_reject_frame(p, fds, n_fds, &error);

        if (h.flags & PORT_FRAME_FLAG_CHUNKED) {
                r = port_frame_assembly_begin(&p->in, &h, fds, n_fds);
                if (r < 0) {
                        (void)sd_bus_error_set_errnof(&error, r,
                                                      "Could not allocate %" PRIu64 " bytes for a message: %s",
                                                      h.payload_size, g_strerror(-r));
                        return port_reject_frame(p, fds, n_fds, &error);
                }
                return 1;
        }
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

        return port_deliver_payload(p, payload, fds, n_fds);
}

/*
 * Reads what is queued, a batch at most. Looking for a second frame costs a
 * read that usually finds nothing when the two ends take turns (a round
 * trip per message), so a port that found nothing that way looks less and
 * less often; one that found more reads batches again.
 */
void port_read(ipcbus_port *p) {
        for (unsigned n = 0; n < PORT_READ_BATCH; n++) {
                int r;

                /* A listener may have closed or transferred the port. */
                if (!p->started || (p->state != PORT_OPEN && p->state != PORT_PEER_GONE))
                        return;
                /* In the middle of a chunked message, the rest is on its way. */
                if (n == 1 && p->probe_skip > 0 && !port_frame_assembly_busy(&p->in)) {
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

/* ---- making ports: the io source that runs the reading ----------------- */

static int port_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* Takes @fd, the messages of @out and the message being read of @in (both may be NULL). */
int port_new_internal(sd_event *event, int64_t priority, int fd, GQueue *out, port_frame_assembly *in,
                             const log_target *log, ipcbus_port **ret) {
        ipcbus_port *p = g_new0(ipcbus_port, 1);
        int sndbuf = PORT_SNDBUF, r;

        p->magic = PORT_MAGIC;
        p->n_ref = 1;
        p->event = sd_event_ref(event);
        p->priority = priority;
        p->fd = fd;
        p->state = PORT_OPEN;
        g_queue_init(&p->out);
        g_queue_init(&p->on_message);
        g_queue_init(&p->on_close);
        g_queue_init(&p->on_drain);
        if (log)
                p->log = *log;
        if (out) {
                p->out = *out;
                g_queue_init(out);
                p->out_bytes = port_out_queue_bytes(&p->out);
                p->drain_wanted = !g_queue_is_empty(&p->out);
        }
        if (in) {
                p->in = *in;
                *in = (port_frame_assembly){};
        }
        /* Best effort: a larger buffer only makes medium messages faster. */
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

        /* A port's close error carries ipcbus's names: sd_bus_error_get_errno()
         * must know them, however the port was made. */
        r = errors_add_map();
        if (r >= 0)
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

/* A port of a socket that arrived (takes @fd). */
int port_new_received(sd_event *event, int64_t priority, int fd, const log_target *log, ipcbus_port **ret,
                      sd_bus_error *error) {
        port_frame_assembly in = {};
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

        if (port_handover_is(fd)) {
                r = port_handover_unpack(fd, &sock, &in, &out, error);
                (void)close(fd);
                if (r < 0)
                        return r;
                (void)fcntl(sock, F_SETFD, FD_CLOEXEC);
                fd = sock;
        }
        return port_new_internal(event, priority, fd, &out, &in, log, ret);
}

int port_new_from_fd(sd_event *event, int64_t priority, int fd, ipcbus_port **ret) {
        if (!event || !ret) {
                if (fd >= 0)
                        (void)close(fd);
                return -EINVAL;
        }
        return port_new_received(event, priority, fd, NULL, ret, NULL);
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
