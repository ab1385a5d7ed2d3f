/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "port-frame.h"
#include "port-out.h"

port_out *port_out_new(GVariant *value, int *fds, unsigned n_fds) {
        port_out *o = g_new0(port_out, 1);

        o->value = value;
        o->fds = fds;
        o->n_fds = n_fds;
        o->memfd = -EBADF;
        o->size = port_frame_payload_size(value);
        return o;
}

port_out *port_out_new_rest(GBytes *rest) {
        port_out *o = g_new0(port_out, 1);

        o->rest = rest;
        o->memfd = -EBADF;
        o->flags = PORT_FRAME_FLAG_CHUNKED;
        o->begun = true;
        o->size = g_bytes_get_size(rest);
        return o;
}

void port_out_free(port_out *o) {
        if (o->value)
                g_variant_unref(o->value);
        if (o->rest)
                g_bytes_unref(o->rest);
        port_frame_close_fds(o->fds, o->n_fds);
        g_free(o->fds);
        g_free(o->datagram);
        if (o->memfd >= 0)
                (void)close(o->memfd);
        g_free(o);
}

void port_out_queue_clear(GQueue *q) {
        port_out *o;

        while ((o = g_queue_pop_head(q)))
                port_out_free(o);
}

static int port_out_build(port_out *o) {
        uint64_t size;
        int r;

        if (o->datagram || o->begun)
                return 0;
        size = port_frame_payload_size(o->value);
        o->flags = port_frame_payload_flags(size);
        o->size = size;

        if (o->flags == 0) {
                o->datagram = g_malloc(PORT_FRAME_HEADER_SIZE + size);
                port_frame_header_write(o->datagram, PORT_FRAME_MESSAGE, 0, (uint8_t)o->n_fds, size);
                port_frame_payload_write(o->value, o->datagram + PORT_FRAME_HEADER_SIZE);
                o->datagram_size = PORT_FRAME_HEADER_SIZE + size;
                return 0;
        }
        if (o->flags & PORT_FRAME_FLAG_MEMFD) {
                r = port_frame_payload_memfd(o->value, &o->memfd);
                if (r < 0)
                        return r;
        }
        o->datagram = g_malloc(PORT_FRAME_HEADER_SIZE);
        port_frame_header_write(o->datagram, PORT_FRAME_MESSAGE, o->flags, (uint8_t)o->n_fds, size);
        o->datagram_size = PORT_FRAME_HEADER_SIZE;
        return 0;
}

/* Payload bytes [@offset, @offset + @len) of a chunked message, in place:
 * the value's serialized bytes, the NUL and its type; or the rest. */
static size_t payload_slice(const port_out *o, uint64_t offset, uint64_t len, struct iovec iov[3]) {
        struct iovec all[3];
        size_t n_all, n = 0;

        if (o->value) {
                const char *type = g_variant_get_type_string(o->value);

                /* A value built as a tree is serialized here, once; GLib keeps it. */
                all[0] = (struct iovec){ (void *)g_variant_get_data(o->value), g_variant_get_size(o->value) };
                all[1] = (struct iovec){ (void *)"", 1 };
                all[2] = (struct iovec){ (void *)type, strlen(type) };
                n_all = 3;
        } else {
                gsize size;
                const void *d = g_bytes_get_data(o->rest, &size);

                all[0] = (struct iovec){ (void *)d, size };
                n_all = 1;
        }

        for (size_t i = 0; i < n_all && len > 0; i++) {
                uint64_t take;

                if (offset >= all[i].iov_len) {
                        offset -= all[i].iov_len;
                        continue;
                }
                take = MIN(all[i].iov_len - offset, len);
                iov[n++] = (struct iovec){ (uint8_t *)all[i].iov_base + offset, take };
                offset = 0;
                len -= take;
        }
        return n;
}

size_t port_out_unsent(const port_out *o, struct iovec iov[3], uint64_t *ret_size) {
        *ret_size = o->size - o->sent;
        return payload_slice(o, o->sent, o->size - o->sent, iov);
}

/* Two continuation frames fit the socket's send buffer, so the reader can
 * take one while the next is written; the sockets ipcbus makes ask for a
 * large buffer (port.c). */
static size_t chunk_size(int fd) {
        int sndbuf = 0;
        socklen_t len = sizeof(sndbuf);
        size_t c;

        if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) < 0 || sndbuf <= 0)
                return PORT_FRAME_INLINE_MAX;
        c = ((size_t)sndbuf / 2) & ~(size_t)4095;
        return CLAMP(c, 4096U, PORT_FRAME_CHUNK_MAX);
}

static int port_out_send_chunks(int fd, port_out *o) {
        int r;

        if (!o->begun) {
                /* The announcement carries the sockets; from here on they
                 * are in the kernel, and ours go with @o. */
                r = port_frame_send(fd, o->datagram, o->datagram_size, o->fds, o->n_fds);
                if (r < 0)
                        return r;
                o->begun = true;
        }
        if (o->chunk == 0)
                o->chunk = chunk_size(fd);

        while (o->sent < o->size) {
                uint8_t header[PORT_FRAME_HEADER_SIZE];
                struct iovec iov[4] = { { header, sizeof(header) } };
                uint64_t len = MIN((uint64_t)o->chunk, o->size - o->sent);
                size_t n;

                port_frame_header_write(header, PORT_FRAME_CONTINUE, 0, 0, len);
                n = 1 + payload_slice(o, o->sent, len, iov + 1);
                r = port_frame_sendv(fd, iov, n, NULL, 0);
                if (r < 0)
                        return r;
                o->sent += len;
        }
        return 0;
}

int port_out_send(int fd, port_out *o) {
        int fds[PORT_FRAME_FDS_MAX];
        size_t n = o->n_fds;
        int r;

        r = port_out_build(o);
        if (r < 0)
                return r;
        if (o->flags & PORT_FRAME_FLAG_CHUNKED)
                return port_out_send_chunks(fd, o);

        if (n > 0)
                memcpy(fds, o->fds, n * sizeof(int));
        if (o->memfd >= 0)
                fds[n++] = o->memfd;
        return port_frame_send(fd, o->datagram, o->datagram_size, fds, n);
}

int port_out_flush(int fd, GQueue *q, uint64_t *bytes) {
        port_out *o;
        int r;

        while ((o = g_queue_peek_head(q))) {
                r = port_out_send(fd, o);
                if (r == -EAGAIN)
                        return 0;
                if (r < 0)
                        return r;
                if (bytes)
                        *bytes -= MIN(*bytes, o->size);
                port_out_free(g_queue_pop_head(q));
        }
        return 0;
}

uint64_t port_out_queue_bytes(const GQueue *q) {
        uint64_t n = 0;

        for (const GList *l = q->head; l; l = l->next)
                n += ((const port_out *)l->data)->size;
        return n;
}

/* ---- lingering ---------------------------------------------------------- */

typedef struct port_linger {
        int fd;
        GQueue out;
        sd_event_source *io;
} port_linger;

static void linger_free(void *userdata) {
        port_linger *l = userdata;

        port_out_queue_clear(&l->out);
        if (l->fd >= 0)
                (void)close(l->fd);
        g_free(l);
}

static int linger_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        port_linger *l = userdata;
        int r = 0;

        if (revents & EPOLLOUT)
                r = port_out_flush(l->fd, &l->out, NULL);
        if (r < 0 || g_queue_is_empty(&l->out) || (revents & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))) {
                /* The loop's reference was the last: the destroy callback
                 * frees @l once this dispatch is over. */
                (void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
                (void)sd_event_source_set_floating(s, false);
        }
        return 0;
}

void port_linger_start(sd_event *event, int64_t priority, const log_target *log, int fd, GQueue *out) {
        port_linger *l = g_new0(port_linger, 1);
        int r;

        l->fd = fd;
        l->out = *out;
        g_queue_init(out);

        r = sd_event_add_io(event, &l->io, l->fd, EPOLLOUT | EPOLLRDHUP, linger_on_io, l);
        if (r < 0) {
                log_emit(log, LOG_WARNING, "Dropping %u messages queued on a closed port: %s", l->out.length,
                         g_strerror(-r));
                linger_free(l);
                return;
        }
        (void)sd_event_source_set_description(l->io, "ipcbus-port-linger");
        (void)sd_event_source_set_priority(l->io, priority);
        (void)sd_event_source_set_destroy_callback(l->io, linger_free);
        (void)sd_event_source_set_floating(l->io, true);
        sd_event_source_unref(l->io);
}
