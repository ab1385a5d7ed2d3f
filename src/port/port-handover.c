/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ipcbus/ipcbus-port.h>

#include "port-handover.h"
#include "port-out.h"
#include "util.h"

/* Port sockets of queued messages one handover carries. */
#define HANDOVER_FDS_MAX 16384U

typedef struct bundle_parts {
        const port_frame_assembly *in;
        GQueue *out;
} bundle_parts;

static uint64_t bundle_size(const bundle_parts *b) {
        uint64_t size = 0;

        if (b->in && port_frame_assembly_busy(b->in))
                size += port_frame_partial_record_size(b->in->received);
        for (GList *l = b->out->head; l; l = l->next) {
                port_out *o = l->data;

                size += port_frame_record_size(o->begun ? o->size - o->sent
                                                        : port_frame_payload_size(o->value));
        }
        return size;
}

static void fill_bundle(void *dst, void *userdata) {
        const bundle_parts *b = userdata;
        uint8_t *p = dst;

        if (b->in && port_frame_assembly_busy(b->in)) {
                port_frame_partial_record_write(p, b->in);
                p += port_frame_partial_record_size(b->in->received);
        }
        for (GList *l = b->out->head; l; l = l->next) {
                port_out *o = l->data;

                if (o->begun) {
                        struct iovec iov[3];
                        uint64_t size;
                        size_t n = port_out_unsent(o, iov, &size);

                        port_frame_rest_record_write(p, iov, n, size);
                        p += port_frame_record_size(size);
                } else {
                        port_frame_record_write(p, o->value, o->n_fds);
                        p += port_frame_record_size(port_frame_payload_size(o->value));
                }
        }
}

typedef struct fd_batch {
        int fd; /* the handover socket */
        int fds[PORT_FRAME_FDS_MAX];
        size_t n, total;
} fd_batch;

static int batch_flush(fd_batch *b) {
        uint8_t header[PORT_FRAME_HEADER_SIZE];
        int r;

        if (b->n == 0)
                return 0;
        port_frame_header_write(header, PORT_FRAME_FDS, 0, (uint8_t)b->n, 0);
        r = port_frame_send(b->fd, header, sizeof(header), b->fds, b->n);
        b->n = 0;
        return r == -EAGAIN ? -ENOBUFS : r;
}

static int batch_add(fd_batch *b, const int *fds, size_t n) {
        int r;

        if (b->total + n > HANDOVER_FDS_MAX)
                return -ETOOMANYREFS;
        b->total += n;
        for (size_t i = 0; i < n; i++) {
                b->fds[b->n++] = fds[i];
                if (b->n == PORT_FRAME_FDS_MAX) {
                        r = batch_flush(b);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int port_handover_new(int sock, const port_frame_assembly *in, GQueue *out, int *ret_fd) {
        _cleanup_(closep) int keep = -EBADF, memfd = -EBADF;
        bundle_parts parts = { .in = in, .out = out };
        g_autofree uint8_t *datagram = NULL;
        g_autofree fd_batch *batch = g_new0(fd_batch, 1);
        uint64_t size;
        int pair[2], fds[2];
        int r;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0)
                return -errno;
        keep = pair[0];
        batch->fd = pair[1];

        /* The descriptors, in the order the records use them. */
        if (in && port_frame_assembly_busy(in))
                r = batch_add(batch, in->fds, in->n_fds);
        else
                r = 0;
        for (GList *l = out->head; r >= 0 && l; l = l->next) {
                port_out *o = l->data;

                /* A begun message's sockets went with its announcement. */
                if (!o->begun)
                        r = batch_add(batch, o->fds, o->n_fds);
        }
        if (r >= 0)
                r = batch_flush(batch);
        if (r < 0)
                goto fail;

        size = bundle_size(&parts);
        fds[0] = sock;
        if (size <= PORT_FRAME_INLINE_MAX) {
                datagram = g_malloc(PORT_FRAME_HEADER_SIZE + size);
                port_frame_header_write(datagram, PORT_FRAME_ADOPT, 0, 1, size);
                fill_bundle(datagram + PORT_FRAME_HEADER_SIZE, &parts);
                r = port_frame_send(batch->fd, datagram, PORT_FRAME_HEADER_SIZE + size, fds, 1);
        } else {
                uint8_t header[PORT_FRAME_HEADER_SIZE];

                r = port_frame_memfd_new(size, fill_bundle, &parts, &memfd);
                if (r < 0)
                        goto fail;
                fds[1] = memfd;
                port_frame_header_write(header, PORT_FRAME_ADOPT, PORT_FRAME_FLAG_MEMFD, 1, size);
                r = port_frame_send(batch->fd, header, sizeof(header), fds, 2);
        }
        if (r < 0) {
                r = r == -EAGAIN ? -ENOBUFS : r;
                goto fail;
        }

        (void)close(batch->fd);
        *ret_fd = keep;
        keep = -EBADF;
        return 0;

fail:
        (void)close(batch->fd);
        return r;
}

bool port_handover_is(int fd) {
        uint8_t header[PORT_FRAME_HEADER_SIZE];

        /* Without room for control data the kernel installs no descriptors on a peek. */
        return recv(fd, header, sizeof(header), MSG_PEEK | MSG_DONTWAIT) == (ssize_t)sizeof(header) &&
                port_frame_is_handover(header);
}

/* The records, as the port will hold them; @fds are the FDS frames'
 * descriptors (taken on success). Return: 0; -ENOMEM for a partly read
 * message too large to map, before anything was taken (it is the first record). */
static int records_adopt(port_frame_record *records, size_t n_records, const int *fds,
                         port_frame_assembly *ret_in, GQueue *ret_out) {
        size_t used = 0;

        for (size_t i = 0; i < n_records; i++) {
                port_frame_record *rec = &records[i];
                const int *mine = fds + used;

                used += rec->n_ports;
                switch (rec->kind) {
                case PORT_RECORD_PARTIAL: {
                        port_frame_header h = { .type = PORT_FRAME_MESSAGE,
                                                .flags = PORT_FRAME_FLAG_CHUNKED,
                                                .payload_size = rec->total };
                        gsize received;
                        const void *d = g_bytes_get_data(rec->bytes, &received);

                        if (port_frame_assembly_begin(ret_in, &h, mine, rec->n_ports) < 0)
                                return -ENOMEM;
                        if (received > 0)
                                memcpy(ret_in->buf, d, received);
                        ret_in->received = received;
                        break;
                }
                case PORT_RECORD_REST:
                        g_queue_push_tail(ret_out, port_out_new_rest(g_steal_pointer(&rec->bytes)));
                        break;
                case PORT_RECORD_MESSAGE:
                        g_queue_push_tail(ret_out,
                                          port_out_new(g_steal_pointer(&rec->value),
                                                       rec->n_ports > 0
                                                               ? g_memdup2(mine, rec->n_ports * sizeof(int))
                                                               : NULL,
                                                       rec->n_ports));
                        break;
                }
        }
        return 0;
}

/*
 * FDS frames with the sockets of the messages, then one ADOPT frame with
 * the port's own socket and the bundle. All of it was written before the
 * handover socket left its sender, so it is all there now: nothing here waits.
 */
int port_handover_unpack(int hfd, int *ret_fd, port_frame_assembly *ret_in, GQueue *ret_out,
                         sd_bus_error *error) {
        g_autofree uint8_t *buf = g_malloc(PORT_FRAME_DATAGRAM_MAX);
        GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
        int frame_fds[PORT_FRAME_FDS_MAX];
        port_frame_record *records = NULL;
        size_t n_records = 0, n = 0;
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
                if (r >= 0 && h.type != PORT_FRAME_FDS && h.type != PORT_FRAME_ADOPT)
                        r = sd_bus_error_setf(error, IPCBUS_ERROR_BAD_FRAME,
                                              "frame of type %u inside a handover", h.type);
                if (r >= 0 && h.type == PORT_FRAME_FDS && fds->len + n > HANDOVER_FDS_MAX)
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
                port_frame_records_free(records, n_records);
                goto fail;
        }

        r = records_adopt(records, n_records, (const int *)(void *)fds->data, ret_in, ret_out);
        port_frame_records_free(records, n_records);
        if (r < 0) {
                (void)sd_bus_error_set_errnof(error, r, "Could not map a partly read message: %s",
                                              g_strerror(-r));
                goto fail;
        }
        g_array_free(fds, TRUE);
        *ret_fd = sock;
        return 0;

fail:
        /* Only mmap() fails without saying why in @error. */
        if (error && !sd_bus_error_is_set(error))
                (void)sd_bus_error_set_errnof(error, r, "Could not map a handover: %s", g_strerror(-r));
        if (sock >= 0)
                (void)close(sock);
        port_frame_close_fds((const int *)(void *)fds->data, fds->len);
        g_array_free(fds, TRUE);
        return r == -ENOMEM ? r : -EBADMSG;
}
