/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ipcbus/ipcbus.h>

#include "bench-port-peers.h"

#define CHECK(what, expr) \
        do { \
                int _r = (expr); \
                if (_r < 0) { \
                        fprintf(stderr, "bench-port %s: %s: %s\n", what, #expr, strerror(-_r)); \
                        return 1; \
                } \
        } while (0)

#define PAGE 4096U

void bench_port_cmd_write(uint8_t buf[BENCH_PORT_CMD_SIZE], char cmd, uint64_t arg) {
        memset(buf, 0, BENCH_PORT_CMD_SIZE);
        buf[0] = (uint8_t)cmd;
        memcpy(buf + 8, &arg, sizeof(arg));
}

void bench_port_cmd_read(const uint8_t buf[BENCH_PORT_CMD_SIZE], char *ret_cmd, uint64_t *ret_arg) {
        *ret_cmd = (char)buf[0];
        memcpy(ret_arg, buf + 8, sizeof(*ret_arg));
}

void bench_port_fill(void *p, size_t size) {
        uint64_t *w = p;

        for (size_t i = 0; i < size / 8; i++)
                w[i] = (uint64_t)i * UINT64_C(0x9e3779b97f4a7c15);
}

static uint64_t word_at(const uint8_t *p) {
        uint64_t x;

        memcpy(&x, p, sizeof(x));
        return x;
}

uint64_t bench_port_digest(const void *data, size_t size, bench_port_touch touch) {
        const uint8_t *p = data;
        uint64_t h = size;
        size_t at = 0;

        if (touch == BENCH_PORT_TOUCH_FULL) {
                for (; at + 8 <= size; at += 8)
                        h += word_at(p + at);
        } else {
                /* One word in each page: every page must be there, none is read whole. */
                for (; at + 8 <= size; at += PAGE)
                        h = h * 31 + word_at(p + at);
                at = size >= 8 ? size - 8 : 0;
                if (size >= 8)
                        h = h * 31 + word_at(p + at);
                at = size - size % 8;
        }
        for (; at < size; at++)
                h = h * 31 + p[at];
        return h;
}

static void close_inherited(const bench_port_peer_config *c) {
        for (size_t i = 0; i < BENCH_PORT_CLOSE_MAX; i++)
                if (c->close_fds[i] >= 0)
                        (void)close(c->close_fds[i]);
}

/* ---- ipcbus ---------------------------------------------------------------- */

typedef struct peer {
        sd_event *event;
        ipcbus_port *port;
        bench_port_touch touch;
        bool counting;
        uint64_t counted, target;
} peer;

/* The main posts one end of a channel on "port": the only thing the
 * renderer is for. */
static int peer_on_port(ipcbus_event *event, GVariant *args, void *userdata) {
        peer *p = userdata;
        ipcbus_port **ports;
        size_t n = 0;

        ports = ipcbus_event_get_ports(event, &n);
        if (n != 1 || p->port)
                return -EPROTO;
        p->port = ipcbus_port_ref(ports[0]);
        return 0;
}

static int peer_on_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n_ports,
                           void *userdata) {
        peer *p = userdata;

        if (g_variant_is_of_type(data, G_VARIANT_TYPE_STRING)) {
                if (!p->counting)
                        /* Not floating: the port takes a reference of its own. */
                        return ipcbus_port_post_message(port, data, NULL, 0);
                if (++p->counted < p->target)
                        return 0;
                p->counting = false;
                return ipcbus_port_post_message(port, g_variant_new_uint64(p->counted), NULL, 0);
        }

        if (g_variant_is_of_type(data, G_VARIANT_TYPE_BYTESTRING)) {
                gsize size = 0;
                const void *bytes = g_variant_get_fixed_array(data, &size, 1);

                return ipcbus_port_post_message(port,
                                                g_variant_new_uint64(bench_port_digest(bytes, size, p->touch)),
                                                NULL, 0);
        }

        if (g_variant_is_of_type(data, G_VARIANT_TYPE("(st)"))) {
                const char *cmd;
                guint64 arg;

                g_variant_get(data, "(&st)", &cmd, &arg);
                if (strcmp(cmd, "count") != 0 || arg == 0)
                        return -EPROTO;
                p->counting = true;
                p->counted = 0;
                p->target = arg;
                return 0;
        }
        return -EPROTO;
}

static void peer_on_close(ipcbus_port *port, void *userdata) {
        peer *p = userdata;

        (void)sd_event_exit(p->event, 0);
}

static void peer_log(int priority, const char *message, void *userdata) {
        fprintf(stderr, "bench-port ipcbus peer: %s\n", message);
}

int bench_port_ipcbus_peer(void *userdata) {
        const bench_port_peer_config *config = userdata;
        ipcbus_renderer *renderer = NULL;
        peer p = { .touch = config->touch };
        int r;

        close_inherited(config);
        /* A loop of its own: the parent's does not survive fork(). */
        CHECK("ipcbus peer", sd_event_new(&p.event));
        CHECK("ipcbus peer", ipcbus_renderer_new(&renderer, BENCH_PORT_MAIN_NAME));
        ipcbus_renderer_set_log_function(renderer, peer_log, NULL);
        CHECK("ipcbus peer", ipcbus_renderer_attach_event(renderer, p.event, 0));
        CHECK("ipcbus peer", ipcbus_renderer_open_direct(renderer, config->direct_fd));
        CHECK("ipcbus peer", ipcbus_renderer_on(renderer, NULL, BENCH_PORT_CHANNEL, peer_on_port, &p));
        /* Sent once the handshake is through: the main posts the port only then. */
        CHECK("ipcbus peer", ipcbus_renderer_send(renderer, "ready", NULL));

        while (!p.port) {
                r = sd_event_run(p.event, 10 * UINT64_C(1000000));
                if (r == 0)
                        r = -ETIMEDOUT;
                CHECK("ipcbus peer", r);
        }
        /* From here on the two processes talk over the port alone. */
        renderer = ipcbus_renderer_unref(renderer);

        CHECK("ipcbus peer", ipcbus_port_set_log_function(p.port, peer_log, NULL));
        CHECK("ipcbus peer", ipcbus_port_on_message(p.port, NULL, peer_on_message, &p));
        CHECK("ipcbus peer", ipcbus_port_on_close(p.port, NULL, peer_on_close, &p));
        CHECK("ipcbus peer", ipcbus_port_start(p.port));
        CHECK("ipcbus peer", sd_event_loop(p.event));
        ipcbus_port_unref(p.port);
        sd_event_unref(p.event);
        return 0;
}

/* ---- raw ------------------------------------------------------------------- */

int bench_port_write_all(int fd, const void *data, size_t size) {
        const uint8_t *p = data;

        while (size > 0) {
                ssize_t k = write(fd, p, size);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                size -= (size_t)k;
        }
        return 0;
}

int bench_port_read_all(int fd, void *data, size_t size) {
        uint8_t *p = data;

        while (size > 0) {
                ssize_t k = read(fd, p, size);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EPIPE;
                p += k;
                size -= (size_t)k;
        }
        return 0;
}

static int recv_fd(int sock, int *ret_fd) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control;
        uint8_t byte;
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)
        };
        struct cmsghdr *c;

        if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) < 0)
                return -errno;
        c = CMSG_FIRSTHDR(&mh);
        if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
            c->cmsg_len != CMSG_LEN(sizeof(int)))
                return -EBADMSG;
        memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
        return 0;
}

static int raw_answer(int ctl, uint64_t value) {
        uint8_t cmd[BENCH_PORT_CMD_SIZE];

        bench_port_cmd_write(cmd, 'A', value);
        return bench_port_write_all(ctl, cmd, sizeof(cmd));
}

static int raw_count(int ctl, uint64_t n) {
        uint8_t buf[BENCH_PORT_SMALL + 1];

        for (uint64_t i = 0; i < n; i++) {
                ssize_t k = read(ctl, buf, sizeof(buf));

                if (k < 0 && errno == EINTR) {
                        i--;
                        continue;
                }
                if (k != BENCH_PORT_SMALL)
                        return k < 0 ? -errno : -EPROTO;
        }
        return raw_answer(ctl, n);
}

typedef struct raw_buffer {
        uint8_t *p;
        size_t size;
} raw_buffer;

static int raw_stream(int ctl, int stream, raw_buffer *b, uint64_t size, const bench_port_peer_config *c) {
        uint64_t digest;
        int r;

        if (c->fresh_buffer) {
                /* malloc() of this size is a fresh mmap(): the pages fault in as read() fills them. */
                uint8_t *p = malloc(size);

                if (!p)
                        return -ENOMEM;
                r = bench_port_read_all(stream, p, size);
                digest = bench_port_digest(p, size, c->touch);
                free(p);
                return r < 0 ? r : raw_answer(ctl, digest);
        }
        if (size > b->size) {
                free(b->p);
                b->p = malloc(size);
                if (!b->p)
                        return -ENOMEM;
                memset(b->p, 0, size);
                b->size = size;
        }
        r = bench_port_read_all(stream, b->p, size);
        if (r < 0)
                return r;
        return raw_answer(ctl, bench_port_digest(b->p, size, c->touch));
}

/* As the port's receiver maps a large message (port-frame.c). */
static int raw_memfd(int ctl, int fdsock, uint64_t size, bench_port_touch touch) {
        int fd = -1, r;
        void *p;

        r = recv_fd(fdsock, &fd);
        if (r < 0)
                return r;
        p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (p == MAP_FAILED) {
                r = -errno;
                (void)close(fd);
                return r;
        }
        r = raw_answer(ctl, bench_port_digest(p, size, touch));
        (void)munmap(p, size);
        (void)close(fd);
        return r;
}

/* The raw protocol on evsock, from an sd-event loop. */
typedef struct raw_event {
        bool quit, counting;
        uint64_t counted, target;
        int error;
} raw_event;

static int raw_event_write(int fd, const void *buf, size_t size) {
        ssize_t k;

        do
                k = write(fd, buf, size);
        while (k < 0 && errno == EINTR);
        /* One message in flight at a time: the socket always has room. */
        if (k < 0)
                return -errno;
        return (size_t)k == size ? 0 : -EIO;
}

/* The best a plain reader on sd-event does: one datagram per wakeup while
 * echoing (a second read() would only find the socket empty), up to
 * EVENT_READ_BATCH while counting (as a port reads, PORT_READ_BATCH). */
#define EVENT_READ_BATCH 32U

static int raw_event_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        raw_event *x = userdata;
        uint8_t buf[BENCH_PORT_SMALL + BENCH_PORT_CMD_SIZE];

        for (unsigned n = 0; n < EVENT_READ_BATCH && !x->quit && x->error == 0; n++) {
                uint64_t arg;
                ssize_t k;
                char cmd;

                k = read(fd, buf, sizeof(buf));
                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                if (k <= 0) {
                        x->error = k < 0 ? -errno : -EPIPE;
                        return 0;
                }
                if (k == BENCH_PORT_SMALL) {
                        if (!x->counting) {
                                x->error = raw_event_write(fd, buf, (size_t)k);
                                return 0;
                        }
                        if (++x->counted == x->target) {
                                x->counting = false;
                                bench_port_cmd_write(buf, 'A', x->counted);
                                x->error = raw_event_write(fd, buf, BENCH_PORT_CMD_SIZE);
                                return 0;
                        }
                        continue;
                }
                if (k != BENCH_PORT_CMD_SIZE) {
                        x->error = -EPROTO;
                        return 0;
                }
                bench_port_cmd_read(buf, &cmd, &arg);
                if (cmd == 'Q')
                        x->quit = true;
                else if (cmd == 'C' && arg > 0) {
                        x->counting = true;
                        x->counted = 0;
                        x->target = arg;
                } else
                        x->error = -EPROTO;
        }
        return 0;
}

static int raw_event_serve(sd_event **event, int evsock) {
        sd_event_source *io = NULL;
        raw_event x = { 0 };
        int r;

        if (!*event) {
                r = sd_event_new(event);
                if (r < 0)
                        return r;
        }
        r = sd_event_add_io(*event, &io, evsock, EPOLLIN, raw_event_on_io, &x);
        if (r < 0)
                return r;
        while (!x.quit && x.error == 0) {
                r = sd_event_run(*event, UINT64_MAX);
                if (r < 0)
                        break;
        }
        sd_event_source_disable_unref(io);
        return r < 0 ? r : x.error;
}

int bench_port_raw_peer(void *userdata) {
        const bench_port_peer_config *config = userdata;
        uint8_t buf[BENCH_PORT_SMALL + BENCH_PORT_CMD_SIZE];
        raw_buffer b = { 0 };
        sd_event *event = NULL;
        int ctl = config->ctl_fd;

        close_inherited(config);
        for (;;) {
                ssize_t k = read(ctl, buf, sizeof(buf));
                uint64_t arg;
                char cmd;

                if (k < 0 && errno == EINTR)
                        continue;
                if (k == 0)
                        break;
                if (k == BENCH_PORT_SMALL) {
                        CHECK("raw peer", bench_port_write_all(ctl, buf, (size_t)k));
                        continue;
                }
                if (k != BENCH_PORT_CMD_SIZE) {
                        fprintf(stderr, "bench-port raw peer: datagram of %zd bytes\n", k);
                        return 1;
                }
                bench_port_cmd_read(buf, &cmd, &arg);
                switch (cmd) {
                case 'C':
                        CHECK("raw peer", raw_count(ctl, arg));
                        break;
                case 'S':
                        CHECK("raw peer", raw_stream(ctl, config->stream_fd, &b, arg, config));
                        break;
                case 'M':
                        CHECK("raw peer", raw_memfd(ctl, config->fdsock_fd, arg, config->touch));
                        break;
                case 'V':
                        CHECK("raw peer", raw_event_serve(&event, config->evsock_fd));
                        break;
                default:
                        fprintf(stderr, "bench-port raw peer: unknown command '%c'\n", cmd);
                        return 1;
                }
        }
        free(b.p);
        sd_event_unref(event);
        return 0;
}
