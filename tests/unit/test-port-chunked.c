/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * MessagePorts: chunked messages (docs/ports.md, "Medium messages"). The
 * frames on the wire at every size boundary, values intact at those sizes
 * and in order among small ones, a chunked message carrying ports, a port
 * transferred while a chunked message is half written from it (through a
 * port, and twice through port_transfer_take_fd()), half read into it
 * (frames written raw, so the test decides where the message stops; also
 * over further hops) or both at once, a peer dying mid-message, closing
 * while half written or half read, and malformed chunked sequences from a
 * hostile peer.
 *
 * Nothing sleeps: every wait runs the event loop until a condition holds,
 * with a deadline. "The port has read what was written" is SIOCOUTQ on the
 * raw writer's socket (for AF_UNIX, what the peer has not read yet) at 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <ipcbus/ipcbus.h>

#include "port-frame.h"
#include "port-test-util.h"
#include "port.h"
#include "test-process.h"

/* The payload of an "ay" is its bytes, a NUL and "ay" (docs/ports.md, "The payload"). */
#define AY_OVERHEAD 3U

#define KIB 1024U
#define MIB (1024U * 1024U)

/* Bytes written into @fd that its peer has not read yet. */
static int outq(int fd) {
        int n = -1;

        assert_int_equal(ioctl(fd, SIOCOUTQ, &n), 0);
        return n;
}

/* Whether @fd's peer is gone (its last copy closed). */
static bool hung_up(int fd) {
        struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };

        return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLRDHUP));
}

static void raw_pair(int sv[2]) {
        int sndbuf = 1024 * 1024;

        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        /* Room for a continuation frame longer than 256 KiB (the kernel
         * refuses a datagram above the send buffer) and for several pieces
         * in flight. Capped at net.core.wmem_max, which still leaves room
         * for one such frame on a stock kernel (2 * 208 KiB). */
        assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
}

/* ---- values --------------------------------------------------------------- */

/* The size of the "ay" whose payload is @payload bytes. */
static size_t ay_for_payload(size_t payload) {
        return payload - AY_OVERHEAD;
}

static uint8_t pattern(size_t i, unsigned seed) {
        return (uint8_t)((i * 31 + 7 + seed) & 0xff);
}

/* An "ay" of @size patterned bytes; @seed tells messages of one size apart. */
static GVariant *ay_new(size_t size, unsigned seed) {
        uint8_t *d = g_malloc(size);

        for (size_t i = 0; i < size; i++)
                d[i] = pattern(i, seed);
        return g_variant_ref_sink(g_variant_new_from_data(G_VARIANT_TYPE_BYTESTRING, d, size, TRUE, g_free, d));
}

static void assert_ay(GVariant *v, size_t size, unsigned seed) {
        const uint8_t *d;
        gsize n;

        assert_string_equal(g_variant_get_type_string(v), "ay");
        d = g_variant_get_fixed_array(v, &n, 1);
        if (n != size)
                fail_msg("ay of %zu bytes arrived as %zu", size, (size_t)n);
        for (size_t i = 0; i < n; i++)
                if (d[i] != pattern(i, seed))
                        fail_msg("ay of %zu bytes (seed %u) differs at byte %zu", size, seed, i);
}

/* ---- frames written raw --------------------------------------------------- */

/*
 * One datagram: a header, @len bytes of @payload and @fds. When the socket
 * is full this runs @e (the reader's loop) until there is room; with @e
 * NULL it must fit at once.
 */
static void send_frame(sd_event *e, int fd, uint8_t type, uint8_t flags, uint8_t n_ports, uint64_t size,
                       const void *payload, size_t len, const int *fds, size_t n_fds) {
        uint8_t h[16];
        struct iovec iov[2] = { { h, sizeof(h) }, { (void *)payload, len } };
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len > 0 ? 2 : 1 };
        pt_fds_control control;
        uint64_t deadline = pt_now_usec() + test_deadline_usec(DEADLINE_USEC);

        pt_frame_header(h, PORT_FRAME_MAGIC, 1, type, flags, n_ports, size);
        pt_attach_fds(&mh, &control, fds, n_fds);
        for (;;) {
                ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (k >= 0) {
                        assert_int_equal(k, (ssize_t)(sizeof(h) + len));
                        return;
                }
                if (errno != EAGAIN || !e)
                        fail_msg("sendmsg of a %zu-byte frame: %s", sizeof(h) + len, strerror(errno));
                assert_true(pt_now_usec() < deadline);
                assert_true(sd_event_run(e, 100 * TEST_USEC_PER_MSEC) >= 0);
        }
}

/* The continuation frames of @payload[@from, @to), @piece bytes each (the last may be shorter). */
static void send_pieces(sd_event *e, int fd, const uint8_t *payload, size_t from, size_t to, size_t piece) {
        while (from < to) {
                size_t len = MIN(piece, to - from);

                send_frame(e, fd, PORT_FRAME_CONTINUE, 0, 0, len, payload + from, len, NULL, 0);
                from += len;
        }
}

/* The payload of @value as a raw peer builds it: a "v" holding it, serialized
 * (the "v" takes its own reference to @value). */
static GVariant *boxed_new(GVariant *value) {
        return g_variant_ref_sink(g_variant_new_variant(value));
}

/* ---- what a port writes, read raw ----------------------------------------- */

typedef struct raw_frame {
        uint8_t type, flags, n_ports;
        uint64_t size;
        GBytes *payload; /* the bytes after the header */
        int fds[8];
        size_t n_fds;
} raw_frame;

typedef struct raw_reader {
        int fd;
        GArray *frames; /* raw_frame */
        uint8_t *buf;
        unsigned n_ints; /* inline int32 messages: the tests mark where a run ends with them */
} raw_reader;

#define RAW_BUF_SIZE (16 + PORT_FRAME_CHUNK_MAX + 1)

static int raw_reader_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        raw_reader *rr = userdata;

        for (;;) {
                struct iovec iov = { rr->buf, RAW_BUF_SIZE };
                union {
                        struct cmsghdr h;
                        uint8_t buf[CMSG_SPACE(sizeof(int) * 8)];
                } control;
                struct msghdr mh = { .msg_iov = &iov,
                                     .msg_iovlen = 1,
                                     .msg_control = &control,
                                     .msg_controllen = sizeof(control) };
                raw_frame f = {};
                uint32_t magic;
                uint64_t size;
                ssize_t k;

                k = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (k < 0 && errno == EAGAIN)
                        return 0;
                assert_true(k >= 16);
                /* No frame is longer than a header and 256 KiB. */
                assert_false(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC));
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                        assert_int_equal(c->cmsg_type, SCM_RIGHTS);
                        assert_true(f.n_fds + n <= G_N_ELEMENTS(f.fds));
                        memcpy(f.fds + f.n_fds, CMSG_DATA(c), n * sizeof(int));
                        f.n_fds += n;
                }
                memcpy(&magic, rr->buf, 4);
                assert_int_equal(GUINT32_FROM_LE(magic), PORT_FRAME_MAGIC);
                assert_int_equal(rr->buf[4], 1);
                f.type = rr->buf[5];
                f.flags = rr->buf[6];
                f.n_ports = rr->buf[7];
                memcpy(&size, rr->buf + 8, 8);
                f.size = GUINT64_FROM_LE(size);
                f.payload = g_bytes_new(rr->buf + 16, (size_t)k - 16);
                if (f.type == PORT_FRAME_MESSAGE && f.flags == 0 && f.size == 6)
                        rr->n_ints++;
                g_array_append_val(rr->frames, f);
        }
}

static void raw_frame_clear(void *p) {
        raw_frame *f = p;

        g_bytes_unref(f->payload);
        for (size_t i = 0; i < f->n_fds; i++)
                if (f->fds[i] >= 0)
                        (void)close(f->fds[i]);
}

/*
 * The continuation frames from *@i on, up to @total payload bytes: each is
 * type 3, flags 0, no ports and no descriptors, 1 to 256 KiB, its size field
 * its length; they add up to exactly @total. Return: the payload.
 */
static GBytes *raw_take_pieces(GArray *frames, unsigned *i, uint64_t total) {
        GByteArray *all = g_byte_array_new();

        while (all->len < total) {
                raw_frame *f;
                gsize len;
                const uint8_t *d;

                if (*i >= frames->len)
                        fail_msg("chunked message stops after %u of %" G_GUINT64_FORMAT " bytes", all->len,
                                 total);
                f = &g_array_index(frames, raw_frame, *i);
                d = g_bytes_get_data(f->payload, &len);
                assert_int_equal(f->type, PORT_FRAME_CONTINUE);
                assert_int_equal(f->flags, 0);
                assert_int_equal(f->n_ports, 0);
                assert_int_equal(f->n_fds, 0);
                assert_int_equal(f->size, len);
                assert_true(len >= 1 && len <= PORT_FRAME_CHUNK_MAX);
                assert_true(all->len + len <= total);
                g_byte_array_append(all, d, (guint)len);
                (*i)++;
        }
        return g_byte_array_free_to_bytes(all);
}

static void assert_bytes_equal(GBytes *got, GVariant *boxed) {
        gsize n;
        const void *d = g_bytes_get_data(got, &n);

        assert_int_equal(n, g_variant_get_size(boxed));
        assert_memory_equal(d, g_variant_get_data(boxed), n);
}

/*
 * The frames at each boundary, as docs/ports.md gives them: 64 KiB inline;
 * 64 KiB + 1 chunked (here with 2 ports on its announcement); 16 MiB
 * chunked; 16 MiB + 1 in a sealed memfd; and nothing between a chunked
 * message's frames.
 */
static void test_chunked_wire(void **state) {
        g_autoptr(GVariant) inline_max = ay_new(ay_for_payload(PORT_FRAME_INLINE_MAX), 1);
        g_autoptr(GVariant) chunked_min = ay_new(ay_for_payload(PORT_FRAME_INLINE_MAX + 1), 2);
        g_autoptr(GVariant) chunked_max = ay_new(ay_for_payload(PORT_FRAME_CHUNKED_MAX), 3);
        g_autoptr(GVariant) memfd_min = ay_new(ay_for_payload(PORT_FRAME_CHUNKED_MAX + 1), 4);
        ipcbus_port *p1, *p2, *q1, *q2, *x1, *x2, *rq, *rx;
        raw_reader rr = {};
        sd_event_source *src;
        inbox at_q2, at_x2;
        unsigned i = 0;
        raw_frame *f;
        sd_event *e;

        /* Without huge pages a sender puts payloads over 16 MiB in a memfd;
         * with them it chunks those too (test_chunked_sizes covers both). */
        port_frame_huge_pages_override(0);

        inbox_init(&at_q2);
        inbox_init(&at_x2);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &q1, &q2), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &x1, &x2), 0);
        inbox_listen(&at_q2, q2);
        inbox_listen(&at_x2, x2);
        assert_int_equal(ipcbus_port_start(q2), 0);
        assert_int_equal(ipcbus_port_start(x2), 0);

        /* p2's socket, read raw on the same loop. */
        assert_int_equal(port_transfer_take_fd(p2, &rr.fd), 0);
        ipcbus_port_unref(p2);
        rr.frames = g_array_new(FALSE, FALSE, sizeof(raw_frame));
        g_array_set_clear_func(rr.frames, raw_frame_clear);
        rr.buf = g_malloc(RAW_BUF_SIZE);
        assert_int_equal(sd_event_add_io(e, &src, rr.fd, EPOLLIN, raw_reader_on_io, &rr), 0);

        assert_int_equal(ipcbus_port_post_message(p1, inline_max, NULL, 0), 0);
        assert_int_equal(ipcbus_port_post_message(p1, chunked_min, (ipcbus_port *[]){ q1, x1 }, 2), 0);
        assert_int_equal(ipcbus_port_post_message(p1, chunked_max, NULL, 0), 0);
        assert_int_equal(ipcbus_port_post_message(p1, memfd_min, NULL, 0), 0);
        assert_int_equal(post_int(p1, 5), 0);
        RUN_UNTIL(e, rr.n_ints == 1);
        pt_run_idle(e);

        /* 64 KiB: one inline frame. */
        {
                g_autoptr(GVariant) boxed = boxed_new(inline_max);

                f = &g_array_index(rr.frames, raw_frame, i++);
                assert_int_equal(f->type, PORT_FRAME_MESSAGE);
                assert_int_equal(f->flags, 0);
                assert_int_equal(f->n_fds, 0);
                assert_int_equal(f->size, PORT_FRAME_INLINE_MAX);
                assert_bytes_equal(f->payload, boxed);
        }

        /* 64 KiB + 1: a header-only announcement with the ports, then pieces. */
        {
                g_autoptr(GVariant) boxed = boxed_new(chunked_min);
                g_autoptr(GBytes) got = NULL;

                f = &g_array_index(rr.frames, raw_frame, i++);
                assert_int_equal(f->type, PORT_FRAME_MESSAGE);
                assert_int_equal(f->flags, PORT_FRAME_FLAG_CHUNKED);
                assert_int_equal(f->n_ports, 2);
                assert_int_equal(f->n_fds, 2);
                assert_int_equal(f->size, PORT_FRAME_INLINE_MAX + 1);
                assert_int_equal(g_bytes_get_size(f->payload), 0);
                /* The ports, in transfer-list order: q1's socket, then x1's. */
                assert_int_equal(port_new_from_fd(e, 0, f->fds[0], &rq), 0);
                assert_int_equal(port_new_from_fd(e, 0, f->fds[1], &rx), 0);
                f->fds[0] = f->fds[1] = -1;
                got = raw_take_pieces(rr.frames, &i, PORT_FRAME_INLINE_MAX + 1);
                assert_bytes_equal(got, boxed);
        }

        /* 16 MiB: still chunked, no descriptors. */
        {
                g_autoptr(GVariant) boxed = boxed_new(chunked_max);
                g_autoptr(GBytes) got = NULL;

                f = &g_array_index(rr.frames, raw_frame, i++);
                assert_int_equal(f->type, PORT_FRAME_MESSAGE);
                assert_int_equal(f->flags, PORT_FRAME_FLAG_CHUNKED);
                assert_int_equal(f->n_ports, 0);
                assert_int_equal(f->n_fds, 0);
                assert_int_equal(f->size, PORT_FRAME_CHUNKED_MAX);
                assert_int_equal(g_bytes_get_size(f->payload), 0);
                got = raw_take_pieces(rr.frames, &i, PORT_FRAME_CHUNKED_MAX);
                assert_bytes_equal(got, boxed);
        }

        /* 16 MiB + 1: a sealed memfd of exactly the payload. */
        {
                g_autoptr(GVariant) boxed = boxed_new(memfd_min);
                struct stat st;
                uint8_t *map;
                int seals;

                f = &g_array_index(rr.frames, raw_frame, i++);
                assert_int_equal(f->type, PORT_FRAME_MESSAGE);
                assert_int_equal(f->flags, PORT_FRAME_FLAG_MEMFD);
                assert_int_equal(f->n_ports, 0);
                assert_int_equal(f->n_fds, 1);
                assert_int_equal(f->size, PORT_FRAME_CHUNKED_MAX + 1);
                assert_int_equal(g_bytes_get_size(f->payload), 0);
                assert_int_equal(fstat(f->fds[0], &st), 0);
                assert_int_equal(st.st_size, PORT_FRAME_CHUNKED_MAX + 1);
                seals = fcntl(f->fds[0], F_GET_SEALS);
                assert_int_equal(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE),
                                 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
                map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, f->fds[0], 0);
                assert_true(map != MAP_FAILED);
                assert_memory_equal(map, g_variant_get_data(boxed), g_variant_get_size(boxed));
                assert_int_equal(munmap(map, st.st_size), 0);
        }

        /* The last one, and nothing after it. */
        f = &g_array_index(rr.frames, raw_frame, i++);
        assert_int_equal(f->type, PORT_FRAME_MESSAGE);
        assert_int_equal(f->flags, 0);
        assert_memory_equal(g_bytes_get_data(f->payload, NULL), "\x05\0\0\0\0i", 6);
        assert_int_equal(i, rr.frames->len);

        /* The ports that rode on the announcement work. */
        assert_int_equal(post_str(rq, "to q2"), 0);
        assert_int_equal(post_str(rx, "to x2"), 0);
        RUN_UNTIL(e, at_q2.values->len == 1 && at_x2.values->len == 1);
        assert_string_equal(inbox_str(&at_q2, 0), "to q2");
        assert_string_equal(inbox_str(&at_x2, 0), "to x2");

        sd_event_source_disable_unref(src);
        g_array_unref(rr.frames);
        g_free(rr.buf);
        close(rr.fd);
        ipcbus_port_unref(rq);
        ipcbus_port_unref(rx);
        ipcbus_port_unref(p1);
        ipcbus_port_unref(q1);
        ipcbus_port_unref(q2);
        ipcbus_port_unref(x1);
        ipcbus_port_unref(x2);
        inbox_clear(&at_q2);
        inbox_clear(&at_x2);
        sd_event_unref(e);
        port_frame_huge_pages_override(-1);
}

/*
 * Port to port: every boundary size intact, in order among small messages,
 * all posted before the loop runs (so chunked ones queue behind each other
 * and behind small ones).
 */
static void chunked_sizes(void) {
        static const struct {
                size_t payload;
                unsigned seed;
        } sizes[] = {
                { PORT_FRAME_INLINE_MAX + 1, 11 },             /* the smallest chunked */
                { MIB, 12 },                                   /* several pieces */
                { PORT_FRAME_CHUNKED_MAX, 13 },                /* the largest chunked */
                { PORT_FRAME_CHUNKED_MAX + 1, 14 },            /* memfd, or huge pages */
                { 40 * MIB + 3, 16 },                          /* same */
                { PORT_FRAME_INLINE_MAX + 1 + 300 * KIB, 15 }, /* a short last piece */
        };
        ipcbus_port *p1, *p2;
        unsigned fds_before;
        sd_event *e;
        inbox in;

        inbox_init(&in);
        assert_int_equal(sd_event_new(&e), 0);
        fds_before = pt_count_fds();
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        inbox_listen(&in, p2);
        assert_int_equal(ipcbus_port_start(p2), 0);

        /* small, chunked, small, chunked, ... small */
        for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
                g_autoptr(GVariant) v = ay_new(ay_for_payload(sizes[i].payload), sizes[i].seed);

                uint64_t queued_bytes = 0;

                assert_int_equal(port_frame_payload_size(v), sizes[i].payload);
                /* Within the queue's byte cap (IPCBUS_PORT_QUEUE_MAX_BYTES):
                 * let the reader catch up when the next would pass it. */
                assert_int_equal(ipcbus_port_get_queued(p1, NULL, &queued_bytes), 0);
                if (queued_bytes + sizes[i].payload + 64 > IPCBUS_PORT_QUEUE_MAX_BYTES)
                        RUN_UNTIL(e, port_queued(p1) == 0);
                assert_int_equal(post_int(p1, (int32_t)i), 0);
                assert_int_equal(ipcbus_port_post_message(p1, v, NULL, 0), 0);
        }
        assert_int_equal(post_int(p1, -1), 0);

        RUN_UNTIL(e, in.values->len == 2 * G_N_ELEMENTS(sizes) + 1);
        pt_run_idle(e);
        assert_int_equal(in.values->len, 2 * G_N_ELEMENTS(sizes) + 1);
        for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
                assert_int_equal(inbox_int(&in, 2 * i), (int32_t)i);
                assert_ay(inbox_value(&in, 2 * i + 1), ay_for_payload(sizes[i].payload), sizes[i].seed);
        }
        assert_int_equal(inbox_int(&in, 2 * G_N_ELEMENTS(sizes)), -1);
        assert_int_equal(in.closes, 0);
        assert_int_equal(in.ports->len, 0);

        ipcbus_port_unref(p1);
        RUN_UNTIL(e, in.closes == 1);
        ipcbus_port_unref(p2);
        inbox_clear(&in);
        assert_int_equal(pt_count_fds(), fds_before);
        sd_event_unref(e);
}

static void test_chunked_sizes(void **state) {
        /* Over 16 MiB: a memfd without huge pages, chunked into them with. */
        port_frame_huge_pages_override(0);
        chunked_sizes();
        port_frame_huge_pages_override(1);
        chunked_sizes();
        port_frame_huge_pages_override(-1);
}

/*
 * A chunked message carrying two ports: they arrive with it, work, and
 * bring along what was sent to them before they travelled.
 */
static void test_chunked_with_ports(void **state) {
        g_autoptr(GVariant) big = ay_new(MIB, 21);
        ipcbus_port *p1, *p2, *q1, *q2, *x1, *x2, *rq, *rx;
        inbox in, at_q2, at_x2, at_rq;
        unsigned fds_before;
        sd_event *e;

        inbox_init(&in);
        inbox_init(&at_q2);
        inbox_init(&at_x2);
        inbox_init(&at_rq);
        assert_int_equal(sd_event_new(&e), 0);
        fds_before = pt_count_fds();
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &q1, &q2), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &x1, &x2), 0);
        inbox_listen(&in, p2);
        inbox_listen(&at_q2, q2);
        inbox_listen(&at_x2, x2);
        assert_int_equal(ipcbus_port_start(p2), 0);
        assert_int_equal(ipcbus_port_start(q2), 0);
        assert_int_equal(ipcbus_port_start(x2), 0);

        /* Waiting in q1's socket: it travels with it. */
        assert_int_equal(post_str(q2, "to q1 before"), 0);
        assert_int_equal(ipcbus_port_post_message(p1, big, (ipcbus_port *[]){ q1, x1 }, 2), 0);
        assert_true(ipcbus_port_is_closed(q1));
        assert_true(ipcbus_port_is_closed(x1));
        assert_int_equal(post_int(p1, 1), 0);

        RUN_UNTIL(e, in.values->len == 2);
        assert_ay(inbox_value(&in, 0), MIB, 21);
        assert_int_equal(inbox_n_ports(&in, 0), 2);
        assert_int_equal(inbox_n_ports(&in, 1), 0);
        assert_int_equal(inbox_int(&in, 1), 1);
        rq = g_ptr_array_index(in.ports, 0);
        rx = g_ptr_array_index(in.ports, 1);

        assert_int_equal(post_str(rq, "from rq"), 0);
        assert_int_equal(post_str(rx, "from rx"), 0);
        inbox_listen(&at_rq, rq);
        assert_int_equal(ipcbus_port_start(rq), 0);
        RUN_UNTIL(e, at_q2.values->len == 1 && at_x2.values->len == 1 && at_rq.values->len == 1);
        assert_string_equal(inbox_str(&at_q2, 0), "from rq");
        assert_string_equal(inbox_str(&at_x2, 0), "from rx");
        assert_string_equal(inbox_str(&at_rq, 0), "to q1 before");

        /* Dropping the received ports closes them: their other ends see it. */
        inbox_clear(&in);
        inbox_init(&in);
        RUN_UNTIL(e, at_q2.closes == 1 && at_x2.closes == 1);

        ipcbus_port_unref(p1);
        ipcbus_port_unref(p2);
        ipcbus_port_unref(q1);
        ipcbus_port_unref(q2);
        ipcbus_port_unref(x1);
        ipcbus_port_unref(x2);
        inbox_clear(&in);
        inbox_clear(&at_q2);
        inbox_clear(&at_x2);
        inbox_clear(&at_rq);
        assert_int_equal(pt_count_fds(), fds_before);
        sd_event_unref(e);
}

/* ---- half written when the port leaves -------------------------------------- */

typedef enum half_written_how {
        VIA_SMALL_MESSAGE,   /* in the transfer list of a small message on another port */
        VIA_CHUNKED_MESSAGE, /* ... of a chunked one (the handover rides on an announcement) */
        VIA_TAKE_FD_TWICE,   /* port_transfer_take_fd() / port_new_from_fd(), two hops in a row */
} half_written_how;

/*
 * p1 posts "a", 8 MiB (carrying x1), "b" while p2 is not reading: the
 * 8 MiB cannot fit the socket (a port asks for 1 MiB of send buffer, 2 MiB
 * with the kernel's doubling), so p1 leaves with it half written. Its rest
 * must go first from the new holder, then "b", then what is posted there;
 * x1 went with the announcement and must not travel again.
 */
static void half_written_run(half_written_how how) {
        g_autoptr(GVariant) big = ay_new(8 * MIB, 31);
        ipcbus_port *p1, *p2, *r, *x1, *x2;
        inbox at_p2, at_r, at_x2;
        unsigned fds_before;
        sd_event *e;

        inbox_init(&at_p2);
        inbox_init(&at_r);
        inbox_init(&at_x2);
        assert_int_equal(sd_event_new(&e), 0);
        fds_before = pt_count_fds();
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &x1, &x2), 0);
        inbox_listen(&at_p2, p2);
        inbox_listen(&at_x2, x2);
        assert_int_equal(ipcbus_port_start(x2), 0);

        assert_int_equal(post_str(p1, "a"), 0);
        assert_int_equal(ipcbus_port_post_message(p1, big, &x1, 1), 0);
        assert_int_equal(post_str(p1, "b"), 0);
        /* The 8 MiB one (begun or not) and "b" behind it. */
        assert_true(port_queued(p1) >= 2);

        if (how == VIA_TAKE_FD_TWICE) {
                ipcbus_port *r1;
                int fd;

                assert_int_equal(port_transfer_take_fd(p1, &fd), 0);
                assert_true(ipcbus_port_is_closed(p1));
                assert_int_equal(port_new_from_fd(e, 0, fd, &r1), 0);
                assert_true(port_queued(r1) >= 2);
                /* Straight on, the rest still unwritten. */
                assert_int_equal(port_transfer_take_fd(r1, &fd), 0);
                ipcbus_port_unref(r1);
                assert_int_equal(port_new_from_fd(e, 0, fd, &r), 0);
                assert_true(port_queued(r) >= 2);
        } else {
                g_autoptr(GVariant) carrier = how == VIA_SMALL_MESSAGE
                        ? g_variant_ref_sink(g_variant_new_string("take p1"))
                        : ay_new(MIB, 32);
                ipcbus_port *pa, *pb;
                inbox at_b;

                inbox_init(&at_b);
                assert_int_equal(ipcbus_message_channel_new(e, &pa, &pb), 0);
                inbox_listen(&at_b, pb);
                assert_int_equal(ipcbus_port_start(pb), 0);
                assert_int_equal(ipcbus_port_post_message(pa, carrier, &p1, 1), 0);
                assert_true(ipcbus_port_is_closed(p1));
                assert_int_equal(post_str(p1, "x"), -EBADF);

                RUN_UNTIL(e, at_b.values->len == 1);
                if (how == VIA_SMALL_MESSAGE)
                        assert_string_equal(inbox_str(&at_b, 0), "take p1");
                else
                        assert_ay(inbox_value(&at_b, 0), MIB, 32);
                assert_int_equal(at_b.ports->len, 1);
                r = ipcbus_port_ref(g_ptr_array_index(at_b.ports, 0));
                ipcbus_port_unref(pa);
                ipcbus_port_unref(pb);
                inbox_clear(&at_b);
        }

        assert_int_equal(post_str(r, "c"), 0);
        /* Nothing was delivered to p2 yet: it was never started. */
        pt_run_idle(e);
        assert_int_equal(at_p2.values->len, 0);
        assert_int_equal(at_p2.closes, 0);

        assert_int_equal(ipcbus_port_start(p2), 0);
        RUN_UNTIL(e, at_p2.values->len == 4);
        pt_run_idle(e);
        assert_int_equal(at_p2.values->len, 4);
        assert_string_equal(inbox_str(&at_p2, 0), "a");
        assert_ay(inbox_value(&at_p2, 1), 8 * MIB, 31);
        assert_string_equal(inbox_str(&at_p2, 2), "b");
        assert_string_equal(inbox_str(&at_p2, 3), "c");
        assert_int_equal(inbox_n_ports(&at_p2, 0), 0);
        assert_int_equal(inbox_n_ports(&at_p2, 1), 1);
        assert_int_equal(inbox_n_ports(&at_p2, 2), 0);
        assert_int_equal(inbox_n_ports(&at_p2, 3), 0);
        assert_int_equal(port_queued(r), 0);

        /* x1 arrived with the 8 MiB one and works. */
        assert_int_equal(post_str(g_ptr_array_index(at_p2.ports, 0), "via x"), 0);
        RUN_UNTIL(e, at_x2.values->len == 1);
        assert_string_equal(inbox_str(&at_x2, 0), "via x");

        /* And the other way: the socket r holds is p2's peer. */
        inbox_listen(&at_r, r);
        assert_int_equal(ipcbus_port_start(r), 0);
        assert_int_equal(post_str(p2, "back"), 0);
        RUN_UNTIL(e, at_r.values->len == 1);
        assert_string_equal(inbox_str(&at_r, 0), "back");

        ipcbus_port_unref(r);
        RUN_UNTIL(e, at_p2.closes == 1);
        pt_run_idle(e);
        assert_int_equal(at_p2.closes, 1);
        assert_int_equal(at_r.closes, 0);
        ipcbus_port_unref(p1);
        ipcbus_port_unref(p2);
        ipcbus_port_unref(x1);
        ipcbus_port_unref(x2);
        inbox_clear(&at_p2);
        inbox_clear(&at_r);
        inbox_clear(&at_x2);
        assert_int_equal(pt_count_fds(), fds_before);
        sd_event_unref(e);
}

static void test_chunked_half_written_via_message(void **state) {
        half_written_run(VIA_SMALL_MESSAGE);
}

static void test_chunked_half_written_via_chunked(void **state) {
        half_written_run(VIA_CHUNKED_MESSAGE);
}

static void test_chunked_half_written_take_fd(void **state) {
        half_written_run(VIA_TAKE_FD_TWICE);
}

/*
 * Closed while half written: the rest lingers and is written from the loop
 * (the other end sees no close until then). With the other end gone
 * instead, the rest is dropped, and the port the message was carrying is
 * closed with it.
 */
static void test_chunked_close_half_written(void **state) {
        g_autoptr(GVariant) big = ay_new(8 * MIB, 41);
        logbook l = { g_string_new(NULL) };
        ipcbus_port *p1, *p2, *q1, *q2;
        inbox at_p1, at_p2, at_q2;
        unsigned fds_before;
        sd_event *e;

        assert_int_equal(sd_event_new(&e), 0);
        fds_before = pt_count_fds();

        inbox_init(&at_p2);
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        inbox_listen(&at_p2, p2);
        assert_int_equal(ipcbus_port_post_message(p1, big, NULL, 0), 0);
        assert_int_equal(post_str(p1, "after"), 0);
        assert_true(port_queued(p1) >= 2);
        assert_int_equal(ipcbus_port_close(p1), 0);
        pt_run_idle(e);
        assert_int_equal(at_p2.closes, 0);
        assert_int_equal(ipcbus_port_start(p2), 0);
        RUN_UNTIL(e, at_p2.closes == 1);
        assert_int_equal(at_p2.values->len, 2);
        assert_ay(inbox_value(&at_p2, 0), 8 * MIB, 41);
        assert_string_equal(inbox_str(&at_p2, 1), "after");
        assert_null(ipcbus_port_get_close_error(p2));
        ipcbus_port_unref(p1);
        ipcbus_port_unref(p2);
        inbox_clear(&at_p2);
        assert_int_equal(pt_count_fds(), fds_before);

        inbox_init(&at_p1);
        inbox_init(&at_q2);
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &q1, &q2), 0);
        assert_int_equal(ipcbus_port_set_log_function(p1, logbook_fn, &l), 0);
        inbox_listen(&at_p1, p1);
        inbox_listen(&at_q2, q2);
        assert_int_equal(ipcbus_port_post_message(p1, big, &q1, 1), 0);
        assert_true(port_queued(p1) >= 1);
        ipcbus_port_unref(p2);
        RUN_UNTIL(e, at_p1.closes == 1 && at_q2.closes == 1);
        pt_run_idle(e);
        assert_int_equal(at_p1.closes, 1);
        assert_int_equal(at_q2.closes, 1);
        assert_logged(&l, "the other end of the port is gone");
        assert_int_equal(port_queued(p1), 0);
        assert_int_equal(post_int(p1, 1), -EPIPE);
        ipcbus_port_unref(p1);
        ipcbus_port_unref(q1);
        ipcbus_port_unref(q2);
        inbox_clear(&at_p1);
        inbox_clear(&at_q2);
        g_string_free(l.text, TRUE);
        assert_int_equal(pt_count_fds(), fds_before);
        sd_event_unref(e);
}

/* ---- half read when the port leaves ---------------------------------------- */

/*
 * A raw peer writes a chunked message of about 1 MiB with a port on its
 * announcement; p2 reads the announcement and @pieces_before pieces of
 * 64 KiB, then is transferred through (pa, pb), and from there @hops more
 * times through port_transfer_take_fd() / port_new_from_fd() before it
 * reads on. The last holder reads the rest from the socket and delivers
 * the whole message, with its port.
 */
static void half_read_run(unsigned pieces_before, unsigned hops) {
        g_autoptr(GVariant) value = ay_new(MIB, 51);
        g_autoptr(GVariant) boxed = boxed_new(value);
        const uint8_t *payload = g_variant_get_data(boxed);
        size_t total = g_variant_get_size(boxed), done = (size_t)pieces_before * 64 * KIB;
        ipcbus_port *w, *p2, *pa, *pb, *r, *q, *s;
        inbox at_p2, at_b, at_r, at_s;
        unsigned fds_before;
        int wfd, sp[2], sndbuf = 1024 * 1024;
        sd_event *e;

        assert_int_equal(total, MIB + AY_OVERHEAD);
        inbox_init(&at_p2);
        inbox_init(&at_b);
        inbox_init(&at_r);
        inbox_init(&at_s);
        assert_int_equal(sd_event_new(&e), 0);
        fds_before = pt_count_fds();

        assert_int_equal(ipcbus_message_channel_new(e, &w, &p2), 0);
        assert_int_equal(port_transfer_take_fd(w, &wfd), 0);
        ipcbus_port_unref(w);
        assert_int_equal(setsockopt(wfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &pa, &pb), 0);
        inbox_listen(&at_p2, p2);
        inbox_listen(&at_b, pb);
        assert_int_equal(ipcbus_port_start(p2), 0);
        assert_int_equal(ipcbus_port_start(pb), 0);

        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
        send_frame(e, wfd, PORT_FRAME_MESSAGE, PORT_FRAME_FLAG_CHUNKED, 1, total, NULL, 0, sp, 1);
        close(sp[0]);
        send_pieces(e, wfd, payload, 0, done, 64 * KIB);

        /* p2 has read all of that; the message is not complete, so nothing came. */
        RUN_UNTIL(e, outq(wfd) == 0);
        pt_run_idle(e);
        assert_int_equal(at_p2.values->len, 0);
        assert_int_equal(at_p2.closes, 0);

        assert_int_equal(ipcbus_port_post_message(pa, g_variant_new_string("take p2"), &p2, 1), 0);
        assert_true(ipcbus_port_is_closed(p2));
        RUN_UNTIL(e, at_b.values->len == 1);
        assert_int_equal(at_b.ports->len, 1);
        r = ipcbus_port_ref(g_ptr_array_index(at_b.ports, 0));
        for (unsigned i = 0; i < hops; i++) {
                int fd;

                /* Not started: the part read so far travels again as it came. */
                assert_int_equal(port_transfer_take_fd(r, &fd), 0);
                ipcbus_port_unref(r);
                assert_int_equal(port_new_from_fd(e, 0, fd, &r), 0);
        }
        inbox_listen(&at_r, r);

        /* One piece waits in the socket before r starts, the rest comes after. */
        send_pieces(e, wfd, payload, done, done + 64 * KIB, 64 * KIB);
        done += 64 * KIB;
        pt_run_idle(e);
        assert_int_equal(at_r.values->len, 0);
        assert_int_equal(ipcbus_port_start(r), 0);
        /* Pieces of every size a peer may choose: the most, odd ones, one byte. */
        send_pieces(e, wfd, payload, done, done + PORT_FRAME_CHUNK_MAX, PORT_FRAME_CHUNK_MAX);
        done += PORT_FRAME_CHUNK_MAX;
        send_pieces(e, wfd, payload, done, done + 1, 1);
        done += 1;
        send_pieces(e, wfd, payload, done, total, 99999);

        RUN_UNTIL(e, at_r.values->len == 1);
        pt_run_idle(e);
        assert_int_equal(at_r.values->len, 1);
        assert_ay(inbox_value(&at_r, 0), MIB, 51);
        assert_int_equal(inbox_n_ports(&at_r, 0), 1);
        assert_int_equal(at_r.closes, 0);
        assert_int_equal(at_p2.values->len, 0);
        assert_int_equal(at_p2.closes, 0);

        /* The port on the announcement is the other end of sp[1]. */
        q = g_ptr_array_index(at_r.ports, 0);
        assert_int_equal(port_new_from_fd(e, 0, sp[1], &s), 0);
        inbox_listen(&at_s, s);
        assert_int_equal(ipcbus_port_start(s), 0);
        assert_int_equal(post_str(q, "through the port"), 0);
        RUN_UNTIL(e, at_s.values->len == 1);
        assert_string_equal(inbox_str(&at_s, 0), "through the port");

        /* r still reads its socket: the raw peer's going is its close. */
        close(wfd);
        RUN_UNTIL(e, at_r.closes == 1);
        assert_null(ipcbus_port_get_close_error(r));

        ipcbus_port_unref(r);
        ipcbus_port_unref(s);
        ipcbus_port_unref(p2);
        ipcbus_port_unref(pa);
        ipcbus_port_unref(pb);
        inbox_clear(&at_p2);
        inbox_clear(&at_b);
        inbox_clear(&at_r);
        inbox_clear(&at_s);
        assert_int_equal(pt_count_fds(), fds_before);
        sd_event_unref(e);
}

static void test_chunked_half_read(void **state) {
        half_read_run(2, 0);
}

static void test_chunked_half_read_announced_only(void **state) {
        half_read_run(0, 0);
}

static void test_chunked_half_read_two_more_hops(void **state) {
        half_read_run(2, 2);
}

/*
 * Both at once: p2 is half way through reading a message from the raw peer
 * and half way through writing one to it (the peer is not reading) when it
 * travels. The handover carries the part read and the rest to write; the
 * new holder finishes both, its own messages after the rest.
 */
static void test_chunked_half_read_and_written(void **state) {
        g_autoptr(GVariant) incoming = ay_new(MIB, 71);
        g_autoptr(GVariant) incoming_boxed = boxed_new(incoming);
        g_autoptr(GVariant) outgoing = ay_new(8 * MIB, 72);
        g_autoptr(GVariant) outgoing_boxed = boxed_new(outgoing);
        g_autoptr(GBytes) got = NULL;
        const uint8_t *payload = g_variant_get_data(incoming_boxed);
        size_t total = g_variant_get_size(incoming_boxed);
        int wfd, sndbuf = 1024 * 1024;
        ipcbus_port *w, *p2, *pa, *pb, *r;
        inbox at_p2, at_b, at_r;
        raw_reader rr = {};
        sd_event_source *src;
        unsigned fds_before, i = 0;
        raw_frame *f;
        sd_event *e;

        inbox_init(&at_p2);
        inbox_init(&at_b);
        inbox_init(&at_r);
        assert_int_equal(sd_event_new(&e), 0);
        fds_before = pt_count_fds();
        assert_int_equal(ipcbus_message_channel_new(e, &w, &p2), 0);
        assert_int_equal(port_transfer_take_fd(w, &wfd), 0);
        ipcbus_port_unref(w);
        assert_int_equal(setsockopt(wfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &pa, &pb), 0);
        inbox_listen(&at_p2, p2);
        inbox_listen(&at_b, pb);
        assert_int_equal(ipcbus_port_start(p2), 0);
        assert_int_equal(ipcbus_port_start(pb), 0);

        send_frame(e, wfd, PORT_FRAME_MESSAGE, PORT_FRAME_FLAG_CHUNKED, 0, total, NULL, 0, NULL, 0);
        send_pieces(e, wfd, payload, 0, 128 * KIB, 64 * KIB);
        RUN_UNTIL(e, outq(wfd) == 0);

        assert_int_equal(post_int(p2, 1), 0);
        assert_int_equal(ipcbus_port_post_message(p2, outgoing, NULL, 0), 0);
        assert_int_equal(post_int(p2, 2), 0);
        assert_true(port_queued(p2) >= 2);
        pt_run_idle(e);
        assert_int_equal(at_p2.values->len, 0);

        assert_int_equal(ipcbus_port_post_message(pa, g_variant_new_string("take p2"), &p2, 1), 0);
        RUN_UNTIL(e, at_b.values->len == 1);
        r = ipcbus_port_ref(g_ptr_array_index(at_b.ports, 0));
        inbox_listen(&at_r, r);
        assert_true(port_queued(r) >= 2);
        assert_int_equal(post_int(r, 3), 0);

        /* The peer reads now, and sends the rest of its message. */
        rr.fd = wfd;
        rr.frames = g_array_new(FALSE, FALSE, sizeof(raw_frame));
        g_array_set_clear_func(rr.frames, raw_frame_clear);
        rr.buf = g_malloc(RAW_BUF_SIZE);
        assert_int_equal(sd_event_add_io(e, &src, wfd, EPOLLIN, raw_reader_on_io, &rr), 0);
        assert_int_equal(ipcbus_port_start(r), 0);
        send_pieces(e, wfd, payload, 128 * KIB, total, 200 * KIB);

        RUN_UNTIL(e, at_r.values->len == 1 && rr.n_ints == 3);
        pt_run_idle(e);
        assert_int_equal(at_r.values->len, 1);
        assert_ay(inbox_value(&at_r, 0), MIB, 71);

        f = &g_array_index(rr.frames, raw_frame, i++);
        assert_memory_equal(g_bytes_get_data(f->payload, NULL), "\x01\0\0\0\0i", 6);
        f = &g_array_index(rr.frames, raw_frame, i++);
        assert_int_equal(f->type, PORT_FRAME_MESSAGE);
        assert_int_equal(f->flags, PORT_FRAME_FLAG_CHUNKED);
        assert_int_equal(f->size, g_variant_get_size(outgoing_boxed));
        got = raw_take_pieces(rr.frames, &i, g_variant_get_size(outgoing_boxed));
        assert_bytes_equal(got, outgoing_boxed);
        f = &g_array_index(rr.frames, raw_frame, i++);
        assert_memory_equal(g_bytes_get_data(f->payload, NULL), "\x02\0\0\0\0i", 6);
        f = &g_array_index(rr.frames, raw_frame, i++);
        assert_memory_equal(g_bytes_get_data(f->payload, NULL), "\x03\0\0\0\0i", 6);
        assert_int_equal(i, rr.frames->len);

        sd_event_source_disable_unref(src);
        g_array_unref(rr.frames);
        g_free(rr.buf);
        close(wfd);
        RUN_UNTIL(e, at_r.closes == 1);
        ipcbus_port_unref(r);
        ipcbus_port_unref(p2);
        ipcbus_port_unref(pa);
        ipcbus_port_unref(pb);
        inbox_clear(&at_p2);
        inbox_clear(&at_b);
        inbox_clear(&at_r);
        assert_int_equal(pt_count_fds(), fds_before);
        sd_event_unref(e);
}

/*
 * The reading port itself closes (or drops its last reference) in the
 * middle of a message: the part read and the port the message carried go
 * with it, and the peer sees the close.
 */
static void test_chunked_close_half_read(void **state) {
        for (unsigned by_unref = 0; by_unref < 2; by_unref++) {
                g_autoptr(GVariant) value = ay_new(MIB, 81);
                g_autoptr(GVariant) boxed = boxed_new(value);
                unsigned fds_before;
                int sv[2], sp[2];
                uint8_t buf[16];
                ipcbus_port *p;
                sd_event *e;
                inbox in;

                inbox_init(&in);
                assert_int_equal(sd_event_new(&e), 0);
                fds_before = pt_count_fds();
                raw_pair(sv);
                assert_int_equal(port_new_from_fd(e, 0, sv[0], &p), 0);
                inbox_listen(&in, p);
                assert_int_equal(ipcbus_port_start(p), 0);

                assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
                send_frame(NULL, sv[1], PORT_FRAME_MESSAGE, PORT_FRAME_FLAG_CHUNKED, 1,
                           g_variant_get_size(boxed), NULL, 0, sp, 1);
                close(sp[0]);
                send_pieces(NULL, sv[1], g_variant_get_data(boxed), 0, 64 * KIB, 64 * KIB);
                RUN_UNTIL(e, outq(sv[1]) == 0);
                assert_false(hung_up(sp[1]));

                if (by_unref)
                        ipcbus_port_unref(p);
                else
                        assert_int_equal(ipcbus_port_close(p), 0);
                pt_run_idle(e);
                assert_true(hung_up(sp[1]));
                assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 0);
                /* Closing a port yourself fires no close event on it. */
                assert_int_equal(in.closes, 0);
                assert_int_equal(in.values->len, 0);

                close(sv[1]);
                close(sp[1]);
                if (!by_unref)
                        ipcbus_port_unref(p);
                inbox_clear(&in);
                assert_int_equal(pt_count_fds(), fds_before);
                sd_event_unref(e);
        }
}

/* ---- the peer dies mid-message ---------------------------------------------- */

/*
 * The raw peer sends a whole message, an announcement (with a port) and
 * one piece, then goes. Whether the port was reading already or starts
 * afterwards, and whether the peer left unread messages behind (then the
 * kernel reports ECONNRESET, ahead of what is still queued): the whole
 * message, then close once, nothing more, no close error (the peer going
 * is no bad frame), the message's port closed, no descriptor left.
 */
static void test_chunked_peer_dies(void **state) {
        for (unsigned how = 0; how < 4; how++) {
                bool started_before = how & 1, unread = how & 2;
                g_autoptr(GVariant) value = ay_new(MIB, 61);
                g_autoptr(GVariant) boxed = boxed_new(value);
                g_autoptr(GVariant) good = g_variant_ref_sink(g_variant_new_variant(g_variant_new_int32(5)));
                logbook l = { g_string_new(NULL) };
                unsigned fds_before;
                int sv[2], sp[2];
                ipcbus_port *p;
                sd_event *e;
                inbox in;

                inbox_init(&in);
                assert_int_equal(sd_event_new(&e), 0);
                fds_before = pt_count_fds();
                raw_pair(sv);
                assert_int_equal(port_new_from_fd(e, 0, sv[0], &p), 0);
                assert_int_equal(ipcbus_port_set_log_function(p, logbook_fn, &l), 0);
                inbox_listen(&in, p);
                if (started_before)
                        assert_int_equal(ipcbus_port_start(p), 0);
                if (unread)
                        assert_int_equal(post_int(p, 1), 0);

                /* A whole message first: it is delivered whatever comes after. */
                send_frame(NULL, sv[1], PORT_FRAME_MESSAGE, 0, 0, g_variant_get_size(good),
                           g_variant_get_data(good), g_variant_get_size(good), NULL, 0);
                assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
                send_frame(NULL, sv[1], PORT_FRAME_MESSAGE, PORT_FRAME_FLAG_CHUNKED, 1,
                           g_variant_get_size(boxed), NULL, 0, sp, 1);
                close(sp[0]);
                send_pieces(NULL, sv[1], g_variant_get_data(boxed), 0, 64 * KIB, 64 * KIB);
                if (started_before)
                        RUN_UNTIL(e, outq(sv[1]) == 0);
                close(sv[1]);

                if (!started_before) {
                        /* Not started: close at once, the frames still queued. */
                        RUN_UNTIL(e, in.closes == 1);
                        assert_int_equal(ipcbus_port_start(p), 0);
                }
                /* The port drops the cut message and with it the port it carried. */
                RUN_UNTIL(e, hung_up(sp[1]));
                RUN_UNTIL(e, in.closes == 1);
                pt_run_idle(e);
                assert_int_equal(in.closes, 1);
                assert_int_equal(in.values->len, 1);
                assert_int_equal(inbox_int(&in, 0), 5);
                assert_null(ipcbus_port_get_close_error(p));
                assert_true(ipcbus_port_is_closed(p));
                assert_int_equal(post_int(p, 1), -EPIPE);
                /* Reported as the other end going, not as a refused frame. */
                assert_null(strstr(l.text->str, "MessagePort closed"));
                assert_logged(&l, "Dropping a message cut short: 65536 of its 1048579 bytes");

                close(sp[1]);
                ipcbus_port_unref(p);
                inbox_clear(&in);
                g_string_free(l.text, TRUE);
                assert_int_equal(pt_count_fds(), fds_before);
                sd_event_unref(e);
        }
}

/* ---- malformed chunked sequences ------------------------------------------- */

typedef enum chunk_bad_kind {
        BAD_CONTINUE_ALONE,         /* a continuation with no message begun */
        BAD_CONTINUE_ALONE_LONG,    /* the same, longer than any inline frame */
        BAD_TOTAL_INLINE,           /* an announcement of 65536 bytes */
        BAD_TOTAL_TOO_LARGE,        /* ... over IPCBUS_PORT_MESSAGE_MAX */
        BAD_ANNOUNCEMENT_BYTES,     /* an announcement with payload bytes after its header */
        BAD_MESSAGE_INSTEAD,        /* a message frame where a continuation belongs */
        BAD_CHUNKED_INSTEAD,        /* a second announcement where a continuation belongs */
        BAD_CONTINUE_PAST_END,      /* a continuation longer than what is left */
        BAD_CONTINUE_FD,            /* a continuation with a descriptor, ports 0 */
        BAD_CONTINUE_PORTS,         /* a continuation with a descriptor, ports 1 */
        BAD_CONTINUE_FLAGS,         /* a continuation marked memfd */
        BAD_CHUNKED_MEMFD,          /* flags chunked | memfd on a message */
        BAD_CONTINUE_EMPTY,         /* a continuation of 0 bytes */
        BAD_CONTINUE_OVER_MAX,      /* a continuation of 256 KiB + 1 */
        BAD_CONTINUE_SIZE_MISMATCH, /* a continuation whose size field lies */
        BAD_LAST_PIECE_NOT_NORMAL,  /* every piece fine, the whole payload not a "v" in normal form */
        _BAD_MAX,
} chunk_bad_kind;

static const char *const bad_expect[_BAD_MAX] = {
        [BAD_CONTINUE_ALONE] = "continuation frame outside a chunked message",
        [BAD_CONTINUE_ALONE_LONG] = "longer than a frame",
        [BAD_TOTAL_INLINE] = "chunked message of 65536 bytes",
        [BAD_TOTAL_TOO_LARGE] = "message of 1073741825 bytes exceeds the limit",
        [BAD_ANNOUNCEMENT_BYTES] = "carries 8 bytes after its header",
        [BAD_MESSAGE_INSTEAD] = "where the continuation of a message",
        [BAD_CHUNKED_INSTEAD] = "where the continuation of a message",
        /* Read into exactly what is left: the kernel truncates the datagram. */
        [BAD_CONTINUE_PAST_END] = "a continuation of this message may carry",
        [BAD_CONTINUE_FD] = "descriptors",
        [BAD_CONTINUE_PORTS] = "continuation frame with descriptors",
        [BAD_CONTINUE_FLAGS] = "continuation frame with descriptors",
        [BAD_CHUNKED_MEMFD] = "both memfd and chunked",
        [BAD_CONTINUE_EMPTY] = "continuation frame of 0 bytes",
        [BAD_CONTINUE_OVER_MAX] = "a continuation of this message may carry",
        [BAD_CONTINUE_SIZE_MISMATCH] = "payload bytes",
        [BAD_LAST_PIECE_NOT_NORMAL] = "normal form",
};

/* The announcement of a 65547-byte message with @port on it, and its first 65537 bytes. */
static void send_begun(int fd, const uint8_t *payload, int port) {
        send_frame(NULL, fd, PORT_FRAME_MESSAGE, PORT_FRAME_FLAG_CHUNKED, 1, 65547, NULL, 0, &port, 1);
        send_frame(NULL, fd, PORT_FRAME_CONTINUE, 0, 0, 65537, payload, 65537, NULL, 0);
}

/* Writes the bad sequence into @fd; @port (a socket) rides on announcements
 * and misplaced frames, so that the test sees it closed afterwards. */
static void send_chunk_bad(int fd, chunk_bad_kind kind, int port) {
        g_autoptr(GVariant) good = g_variant_ref_sink(g_variant_new_variant(g_variant_new_int32(6)));
        g_autofree uint8_t *zeros = g_malloc0(PORT_FRAME_CHUNK_MAX + 1);
        int memfd;

        switch (kind) {
        case BAD_CONTINUE_ALONE:
                send_frame(NULL, fd, PORT_FRAME_CONTINUE, 0, 0, 100, zeros, 100, NULL, 0);
                break;
        case BAD_CONTINUE_ALONE_LONG:
                send_frame(NULL, fd, PORT_FRAME_CONTINUE, 0, 0, 100 * KIB, zeros, 100 * KIB, NULL, 0);
                break;
        case BAD_TOTAL_INLINE:
                send_frame(NULL, fd, PORT_FRAME_MESSAGE, PORT_FRAME_FLAG_CHUNKED, 1, PORT_FRAME_INLINE_MAX,
                           NULL, 0, &port, 1);
                break;
        case BAD_TOTAL_TOO_LARGE:
                send_frame(NULL, fd, PORT_FRAME_MESSAGE, PORT_FRAME_FLAG_CHUNKED, 1,
                           (uint64_t)IPCBUS_PORT_MESSAGE_MAX + 1, NULL, 0, &port, 1);
                break;
        case BAD_ANNOUNCEMENT_BYTES:
                send_frame(NULL, fd, PORT_FRAME_MESSAGE, PORT_FRAME_FLAG_CHUNKED, 1, 70000, zeros, 8, &port,
                           1);
                break;
        case BAD_MESSAGE_INSTEAD:
                send_begun(fd, zeros, port);
                /* A good message, with a port of its own. */
                send_frame(NULL, fd, PORT_FRAME_MESSAGE, 0, 1, g_variant_get_size(good),
                           g_variant_get_data(good), g_variant_get_size(good), &port, 1);
                break;
        case BAD_CHUNKED_INSTEAD:
                send_begun(fd, zeros, port);
                send_frame(NULL, fd, PORT_FRAME_MESSAGE, PORT_FRAME_FLAG_CHUNKED, 1, 70000, NULL, 0, &port, 1);
                break;
        case BAD_CONTINUE_PAST_END:
                send_begun(fd, zeros, port);
                send_frame(NULL, fd, PORT_FRAME_CONTINUE, 0, 0, 20, zeros, 20, NULL, 0);
                break;
        case BAD_CONTINUE_FD:
                send_begun(fd, zeros, port);
                send_frame(NULL, fd, PORT_FRAME_CONTINUE, 0, 0, 10, zeros, 10, &port, 1);
                break;
        case BAD_CONTINUE_PORTS:
                send_begun(fd, zeros, port);
                send_frame(NULL, fd, PORT_FRAME_CONTINUE, 0, 1, 10, zeros, 10, &port, 1);
                break;
        case BAD_CONTINUE_FLAGS:
                send_begun(fd, zeros, port);
                memfd = memfd_create("test", MFD_CLOEXEC);
                assert_true(memfd >= 0);
                send_frame(NULL, fd, PORT_FRAME_CONTINUE, PORT_FRAME_FLAG_MEMFD, 0, 10, zeros, 10, &memfd, 1);
                close(memfd);
                break;
        case BAD_CHUNKED_MEMFD:
                memfd = memfd_create("test", MFD_CLOEXEC);
                assert_true(memfd >= 0);
                send_frame(NULL, fd, PORT_FRAME_MESSAGE, PORT_FRAME_FLAG_CHUNKED | PORT_FRAME_FLAG_MEMFD, 1,
                           70000, NULL, 0, (int[]){ port, memfd }, 2);
                close(memfd);
                break;
        case BAD_CONTINUE_EMPTY:
                send_begun(fd, zeros, port);
                send_frame(NULL, fd, PORT_FRAME_CONTINUE, 0, 0, 0, NULL, 0, NULL, 0);
                break;
        case BAD_CONTINUE_OVER_MAX:
                send_frame(NULL, fd, PORT_FRAME_MESSAGE, PORT_FRAME_FLAG_CHUNKED, 1, MIB, NULL, 0, &port, 1);
                send_frame(NULL, fd, PORT_FRAME_CONTINUE, 0, 0, PORT_FRAME_CHUNK_MAX + 1, zeros,
                           PORT_FRAME_CHUNK_MAX + 1, NULL, 0);
                break;
        case BAD_CONTINUE_SIZE_MISMATCH:
                send_begun(fd, zeros, port);
                send_frame(NULL, fd, PORT_FRAME_CONTINUE, 0, 0, 5, zeros, 10, NULL, 0);
                break;
        case BAD_LAST_PIECE_NOT_NORMAL:
                /* 65547 zero bytes: no type string at the end. */
                send_begun(fd, zeros, port);
                send_frame(NULL, fd, PORT_FRAME_CONTINUE, 0, 0, 10, zeros, 10, NULL, 0);
                break;
        case _BAD_MAX:
                fail();
        }
}

static void test_chunked_malformed(void **state) {
        g_autoptr(GVariant) good = g_variant_ref_sink(g_variant_new_variant(g_variant_new_int32(5)));
        unsigned fds_before;
        sd_event *e;

        assert_int_equal(sd_event_new(&e), 0);
        fds_before = pt_count_fds();

        for (chunk_bad_kind kind = 0; kind < _BAD_MAX; kind++) {
                logbook l = { g_string_new(NULL) };
                const sd_bus_error *error;
                int sv[2], sp[2];
                uint8_t buf[64];
                ipcbus_port *p;
                inbox in;

                inbox_init(&in);
                raw_pair(sv);
                assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
                assert_int_equal(port_new_from_fd(e, 0, sv[0], &p), 0);
                assert_int_equal(ipcbus_port_set_log_function(p, logbook_fn, &l), 0);
                inbox_listen(&in, p);
                assert_int_equal(ipcbus_port_start(p), 0);

                send_frame(NULL, sv[1], PORT_FRAME_MESSAGE, 0, 0, g_variant_get_size(good),
                           g_variant_get_data(good), g_variant_get_size(good), NULL, 0);
                send_chunk_bad(sv[1], kind, sp[0]);
                close(sp[0]);

                RUN_UNTIL(e, in.closes == 1);
                pt_run_idle(e);
                assert_int_equal(in.closes, 1);
                assert_int_equal(in.values->len, 1);
                assert_int_equal(inbox_int(&in, 0), 5);
                assert_true(ipcbus_port_is_closed(p));
                error = ipcbus_port_get_close_error(p);
                assert_non_null(error);
                assert_string_equal(error->name, IPCBUS_ERROR_BAD_FRAME);
                print_message("bad chunked sequence %u: %s\n", kind, error->message);
                if (!strstr(error->message, bad_expect[kind]))
                        fail_msg("bad chunked sequence %u: '%s' lacks '%s'", kind, error->message,
                                 bad_expect[kind]);
                assert_logged(&l, "MessagePort closed: ");
                assert_int_equal(post_int(p, 1), -EBADF);

                /* The peer sees the port go, and every copy of the port that
                 * rode along (announced, misplaced or never read) is closed. */
                assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 0);
                assert_true(hung_up(sp[1]));
                close(sv[1]);
                close(sp[1]);
                ipcbus_port_unref(p);
                inbox_clear(&in);
                g_string_free(l.text, TRUE);
        }

        assert_int_equal(pt_count_fds(), fds_before);
        sd_event_unref(e);
}

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_chunked_wire),
                cmocka_unit_test(test_chunked_sizes),
                cmocka_unit_test(test_chunked_with_ports),
                cmocka_unit_test(test_chunked_half_written_via_message),
                cmocka_unit_test(test_chunked_half_written_via_chunked),
                cmocka_unit_test(test_chunked_half_written_take_fd),
                cmocka_unit_test(test_chunked_close_half_written),
                cmocka_unit_test(test_chunked_half_read),
                cmocka_unit_test(test_chunked_half_read_announced_only),
                cmocka_unit_test(test_chunked_half_read_two_more_hops),
                cmocka_unit_test(test_chunked_half_read_and_written),
                cmocka_unit_test(test_chunked_close_half_read),
                cmocka_unit_test(test_chunked_peer_dies),
                cmocka_unit_test(test_chunked_malformed),
        };

        /* test_port_chunked NAME runs the tests matching NAME (a glob). */
        if (argc > 1)
                cmocka_set_test_filter(argv[1]);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
