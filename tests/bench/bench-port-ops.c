/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench-port-ops.h"

#define WAIT_USEC (UINT64_C(30) * 1000000)

int bench_port_error(const char *what, int r) {
        fprintf(stderr, "bench-port: %s: %s\n", what, strerror(-r));
        return r;
}

static int on_port_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n_ports,
                           void *userdata) {
        bench_port_ctx *b = userdata;

        b->received++;
        if (b->last)
                g_variant_unref(b->last);
        b->last = g_variant_ref(data);
        return 0;
}

static void on_port_close(ipcbus_port *port, void *userdata) {
        bench_port_ctx *b = userdata;

        b->closed = true;
}

static void on_log(int priority, const char *message, void *userdata) {
        fprintf(stderr, "bench-port: %s\n", message);
}

/* Runs the loop until @want messages have arrived in all. */
static int port_wait(bench_port_ctx *b, unsigned want) {
        while (b->received < want) {
                int r;

                if (b->closed)
                        return -EPIPE;
                r = sd_event_run(b->event, WAIT_USEC);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -ETIMEDOUT;
        }
        return 0;
}

static bool last_is_uint64(bench_port_ctx *b, uint64_t want) {
        return b->last && g_variant_is_of_type(b->last, G_VARIANT_TYPE_UINT64) &&
                g_variant_get_uint64(b->last) == want;
}

/* ---- the operations -------------------------------------------------------- */

int bench_port_ipcbus_round_trip(bench_port_ctx *b, size_t unused) {
        unsigned want = b->received + 1;
        const char *s;
        int r;

        /* A new value each time, as an application builds one per message. */
        r = ipcbus_port_post_message(b->port, g_variant_new_string(BENCH_PORT_PAYLOAD), NULL, 0);
        if (r < 0)
                return r;
        r = port_wait(b, want);
        if (r < 0)
                return r;
        if (!g_variant_is_of_type(b->last, G_VARIANT_TYPE_STRING))
                return -EBADMSG;
        s = g_variant_get_string(b->last, NULL);
        return strcmp(s, BENCH_PORT_PAYLOAD) == 0 ? 0 : -EBADMSG;
}

int bench_port_raw_round_trip(bench_port_ctx *b, size_t unused) {
        uint8_t buf[BENCH_PORT_SMALL + 1];
        ssize_t k;

        k = write(b->ctl, BENCH_PORT_PAYLOAD, BENCH_PORT_SMALL);
        if (k != BENCH_PORT_SMALL)
                return k < 0 ? -errno : -EIO;
        do
                k = read(b->ctl, buf, sizeof(buf));
        while (k < 0 && errno == EINTR);
        if (k != BENCH_PORT_SMALL)
                return k < 0 ? -errno : -EBADMSG;
        return memcmp(buf, BENCH_PORT_PAYLOAD, BENCH_PORT_SMALL) == 0 ? 0 : -EBADMSG;
}

int bench_port_ipcbus_throughput(bench_port_ctx *b, size_t n) {
        unsigned want = b->received + 1;
        int r;

        r = ipcbus_port_post_message(b->port, g_variant_new("(st)", "count", (guint64)n), NULL, 0);
        /* Never blocks: what the socket has no room for waits here, in order. */
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = ipcbus_port_post_message(b->port, g_variant_new_string(BENCH_PORT_PAYLOAD), NULL, 0);
        if (r < 0)
                return r;
        r = port_wait(b, want);
        if (r < 0)
                return r;
        return last_is_uint64(b, n) ? 0 : -EBADMSG;
}

static int raw_answer(bench_port_ctx *b, uint64_t want) {
        uint8_t buf[BENCH_PORT_CMD_SIZE];
        uint64_t arg;
        char cmd;
        int r;

        r = bench_port_read_all(b->ctl, buf, sizeof(buf));
        if (r < 0)
                return r;
        bench_port_cmd_read(buf, &cmd, &arg);
        return cmd == 'A' && arg == want ? 0 : -EBADMSG;
}

static int raw_command(bench_port_ctx *b, char cmd, uint64_t arg) {
        uint8_t buf[BENCH_PORT_CMD_SIZE];

        bench_port_cmd_write(buf, cmd, arg);
        return bench_port_write_all(b->ctl, buf, sizeof(buf));
}

int bench_port_raw_throughput(bench_port_ctx *b, size_t n) {
        int r;

        r = raw_command(b, 'C', n);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                ssize_t k = write(b->ctl, BENCH_PORT_PAYLOAD, BENCH_PORT_SMALL);

                if (k < 0 && errno == EINTR)
                        i--;
                else if (k != BENCH_PORT_SMALL)
                        r = k < 0 ? -errno : -EIO;
        }
        if (r < 0)
                return r;
        return raw_answer(b, n);
}

/* One datagram per wakeup, as a port reads. */
static int ev_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        bench_port_ctx *b = userdata;
        ssize_t k;

        k = read(fd, b->ev_last, sizeof(b->ev_last));
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (k <= 0) {
                b->ev_error = k < 0 ? -errno : -EPIPE;
                return 0;
        }
        b->ev_last_size = (size_t)k;
        b->ev_received++;
        return 0;
}

static int ev_wait(bench_port_ctx *b, unsigned want) {
        while (b->ev_received < want) {
                int r;

                if (b->ev_error)
                        return b->ev_error;
                r = sd_event_run(b->event, WAIT_USEC);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -ETIMEDOUT;
        }
        return 0;
}

int bench_port_event_attach(bench_port_ctx *b) {
        return sd_event_add_io(b->event, &b->ev_io, b->evsock, EPOLLIN, ev_on_io, b);
}

/* A nonblocking sender: poll() while the socket is full. */
static int ev_send(bench_port_ctx *b, const void *buf, size_t size) {
        for (;;) {
                ssize_t k = write(b->evsock, buf, size);

                if (k >= 0)
                        return (size_t)k == size ? 0 : -EIO;
                if (errno == EAGAIN) {
                        struct pollfd p = { .fd = b->evsock, .events = POLLOUT };

                        if (poll(&p, 1, -1) < 0 && errno != EINTR)
                                return -errno;
                } else if (errno != EINTR)
                        return -errno;
        }
}

int bench_port_event_begin(bench_port_ctx *b) {
        return raw_command(b, 'V', 0);
}

int bench_port_event_end(bench_port_ctx *b) {
        uint8_t buf[BENCH_PORT_CMD_SIZE];

        bench_port_cmd_write(buf, 'Q', 0);
        return ev_send(b, buf, sizeof(buf));
}

int bench_port_event_round_trip(bench_port_ctx *b, size_t unused) {
        unsigned want = b->ev_received + 1;
        int r;

        r = ev_send(b, BENCH_PORT_PAYLOAD, BENCH_PORT_SMALL);
        if (r >= 0)
                r = ev_wait(b, want);
        if (r < 0)
                return r;
        return b->ev_last_size == BENCH_PORT_SMALL &&
                        memcmp(b->ev_last, BENCH_PORT_PAYLOAD, BENCH_PORT_SMALL) == 0
                ? 0
                : -EBADMSG;
}

int bench_port_event_throughput(bench_port_ctx *b, size_t n) {
        unsigned want = b->ev_received + 1;
        uint8_t buf[BENCH_PORT_CMD_SIZE];
        uint64_t arg;
        char cmd;
        int r;

        bench_port_cmd_write(buf, 'C', n);
        r = ev_send(b, buf, sizeof(buf));
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = ev_send(b, BENCH_PORT_PAYLOAD, BENCH_PORT_SMALL);
        if (r >= 0)
                r = ev_wait(b, want);
        if (r < 0)
                return r;
        if (b->ev_last_size != BENCH_PORT_CMD_SIZE)
                return -EBADMSG;
        bench_port_cmd_read(b->ev_last, &cmd, &arg);
        return cmd == 'A' && arg == n ? 0 : -EBADMSG;
}

static uint64_t expected_digest(bench_port_ctx *b, size_t size) {
        static size_t sizes[2];
        static uint64_t digests[2];

        for (size_t i = 0; i < 2; i++)
                if (sizes[i] == size)
                        return digests[i];
        for (size_t i = 0; i < 2; i++)
                if (sizes[i] == 0) {
                        sizes[i] = size;
                        digests[i] = bench_port_digest(b->bytes, size, b->touch);
                        return digests[i];
                }
        return bench_port_digest(b->bytes, size, b->touch);
}

int bench_port_ipcbus_bulk(bench_port_ctx *b, size_t size) {
        unsigned want = b->received + 1;
        GBytes *bytes = g_bytes_new_static(b->bytes, size);
        GVariant *v;
        int r;

        /* The application's bytes as they are: no copy until the kernel's. */
        v = g_variant_new_from_bytes(G_VARIANT_TYPE_BYTESTRING, bytes, TRUE);
        g_bytes_unref(bytes);
        r = ipcbus_port_post_message(b->port, v, NULL, 0);
        if (r < 0)
                return r;
        r = port_wait(b, want);
        if (r < 0)
                return r;
        return last_is_uint64(b, expected_digest(b, size)) ? 0 : -EBADMSG;
}

int bench_port_raw_stream_bulk(bench_port_ctx *b, size_t size) {
        int r;

        r = raw_command(b, 'S', size);
        if (r >= 0)
                r = bench_port_write_all(b->stream, b->bytes, size);
        if (r < 0)
                return r;
        return raw_answer(b, expected_digest(b, size));
}

static int send_fd(int sock, int fd) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = { 0 };
        uint8_t byte = 0;
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)
        };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* What the port does for a large message (port-frame.c): write() into a
 * new memfd, seal it, pass it on a socket; the receiver maps it. */
int bench_port_raw_memfd_bulk(bench_port_ctx *b, size_t size) {
        int fd, r;

        fd = memfd_create("bench-port", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        r = bench_port_write_all(fd, b->bytes, size);
        if (r >= 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
                r = -errno;
        /* The memfd first: when the command wakes the peer, it is there. */
        if (r >= 0)
                r = send_fd(b->fdsock, fd);
        (void)close(fd);
        if (r >= 0)
                r = raw_command(b, 'M', size);
        if (r < 0)
                return r;
        return raw_answer(b, expected_digest(b, size));
}

static int on_ready(ipcbus_event *event, GVariant *args, void *userdata) {
        bool *ready = userdata;

        *ready = true;
        return 0;
}

/*
 * The port reaches the child as an application hands one to a renderer:
 * webContents.postMessage("port", undefined, [port2]) on the direct
 * connection. Only after the renderer said "ready": a message with
 * descriptors that reaches it while sd-bus still reads the handshake is
 * refused there (bus-socket.c: fds during auth are "playing games") and the
 * connection drops, port and all; see README.md. A string posted first on
 * port1 waits in port2's socket and comes back once the child has started
 * port2: then both ends are ready.
 */
int bench_port_connect(bench_port_ctx *b, int direct_fd) {
        ipcbus_main *m = NULL;
        ipcbus_web_contents *wc = NULL;
        ipcbus_port *other = NULL;
        bool ready = false;
        int r;

        r = sd_event_new(&b->event);
        if (r >= 0)
                r = ipcbus_main_new(&m, BENCH_PORT_MAIN_NAME);
        if (r < 0) {
                (void)close(direct_fd);
                return bench_port_error("ipcbus_main_new", r);
        }
        ipcbus_main_set_log_function(m, on_log, NULL);
        r = ipcbus_main_on(m, NULL, "ready", on_ready, &ready);
        if (r >= 0)
                r = ipcbus_main_attach_event(m, b->event, 0);
        if (r >= 0)
                r = ipcbus_main_add_direct(m, direct_fd, &wc);
        else
                (void)close(direct_fd);
        while (r >= 0 && !ready) {
                r = sd_event_run(b->event, WAIT_USEC);
                if (r == 0)
                        r = -ETIMEDOUT;
        }
        if (r >= 0)
                r = ipcbus_message_channel_new(b->event, &b->port, &other);
        if (r >= 0)
                r = ipcbus_port_set_log_function(b->port, on_log, NULL);
        if (r >= 0)
                r = ipcbus_port_on_message(b->port, NULL, on_port_message, b);
        if (r >= 0)
                r = ipcbus_port_on_close(b->port, NULL, on_port_close, b);
        if (r >= 0)
                r = ipcbus_port_start(b->port);
        if (r >= 0)
                r = ipcbus_port_post_message(b->port, g_variant_new_string(BENCH_PORT_PAYLOAD), NULL, 0);
        if (r >= 0)
                r = ipcbus_web_contents_post_message(wc, BENCH_PORT_CHANNEL, NULL, &other, 1);
        ipcbus_port_unref(other);
        if (r >= 0)
                r = port_wait(b, 1);
        /* Nothing but the port stays on either loop. */
        ipcbus_web_contents_unref(wc);
        ipcbus_main_unref(m);
        if (r < 0)
                return bench_port_error("handing the port to the child", r);
        return 0;
}
