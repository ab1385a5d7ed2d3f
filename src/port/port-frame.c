/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ipcbus/ipcbus-port.h>

#include "port-frame.h"
#include "util.h"
#include "value.h"
#include "value-large.h"

#define REQUIRED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

int port_frame_bad(sd_bus_error *error, const char *format, ...) {
        char buf[512];
        va_list ap;

        va_start(ap, format);
        (void)vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);
        sd_bus_error_set(error, IPCBUS_ERROR_BAD_FRAME, buf);
        return -EBADMSG;
}

/* ---- header ------------------------------------------------------------- */

void port_frame_header_write(void *buf, port_frame_type type, uint8_t flags, uint8_t n_ports,
                             uint64_t payload_size) {
        uint8_t *p = buf;
        uint32_t magic = GUINT32_TO_LE(PORT_FRAME_MAGIC);
        uint64_t size = GUINT64_TO_LE(payload_size);

        memcpy(p, &magic, 4);
        p[4] = PORT_FRAME_VERSION;
        p[5] = (uint8_t)type;
        p[6] = flags;
        p[7] = n_ports;
        memcpy(p + 8, &size, 8);
}

int port_frame_header_read(const void *header, port_frame_header *ret, sd_bus_error *error) {
        const uint8_t *p = header;
        uint32_t magic;
        uint64_t size;

        memcpy(&magic, p, 4);
        if (GUINT32_FROM_LE(magic) != PORT_FRAME_MAGIC)
                return port_frame_bad(error, "frame does not start with the port magic (0x%08x)",
                                      GUINT32_FROM_LE(magic));
        if (p[4] != PORT_FRAME_VERSION)
                return port_frame_bad(error, "frame version %u is not %u", p[4], PORT_FRAME_VERSION);
        if (p[6] & ~(PORT_FRAME_FLAG_MEMFD | PORT_FRAME_FLAG_CHUNKED))
                return port_frame_bad(error, "frame has unknown flags 0x%02x", p[6]);
        memcpy(&size, p + 8, 8);

        ret->type = p[5];
        ret->flags = p[6];
        ret->n_ports = p[7];
        ret->payload_size = GUINT64_FROM_LE(size);
        return 0;
}

int port_frame_header_parse(const void *datagram, size_t size, size_t n_fds, port_frame_header *ret,
                            sd_bus_error *error) {
        port_frame_header h;
        bool memfd, chunked;
        int r;

        if (size < PORT_FRAME_HEADER_SIZE)
                return port_frame_bad(error, "frame of %zu bytes is shorter than its %u-byte header", size,
                                      PORT_FRAME_HEADER_SIZE);
        r = port_frame_header_read(datagram, &h, error);
        if (r < 0)
                return r;
        memfd = h.flags & PORT_FRAME_FLAG_MEMFD;
        chunked = h.flags & PORT_FRAME_FLAG_CHUNKED;
        if (chunked && h.type != PORT_FRAME_MESSAGE)
                return port_frame_bad(error, "frame of type %u is marked chunked", h.type);

        switch (h.type) {
        case PORT_FRAME_MESSAGE:
                if (memfd && chunked)
                        return port_frame_bad(error, "message frame is marked both memfd and chunked");
                if (h.n_ports > PORT_FRAME_PORTS_MAX)
                        return port_frame_bad(error, "frame transfers %u ports, more than %u", h.n_ports,
                                              PORT_FRAME_PORTS_MAX);
                if (h.payload_size == 0)
                        return port_frame_bad(error, "message frame without a payload");
                if (h.payload_size > IPCBUS_PORT_MESSAGE_MAX)
                        return port_frame_bad(error, "message of %" PRIu64 " bytes exceeds the limit of %llu",
                                              h.payload_size, IPCBUS_PORT_MESSAGE_MAX);
                if (chunked && h.payload_size <= PORT_FRAME_INLINE_MAX)
                        return port_frame_bad(error, "chunked message of %" PRIu64 " bytes is not over %u",
                                              h.payload_size, PORT_FRAME_INLINE_MAX);
                break;
        case PORT_FRAME_CONTINUE:
                if (memfd || h.n_ports != 0)
                        return port_frame_bad(error, "continuation frame with descriptors");
                if (h.payload_size == 0 || h.payload_size > PORT_FRAME_CHUNK_MAX)
                        return port_frame_bad(error,
                                              "continuation frame of %" PRIu64
                                              " bytes is not between 1 and %u",
                                              h.payload_size, PORT_FRAME_CHUNK_MAX);
                break;
        case PORT_FRAME_FDS:
                if (memfd || h.payload_size != 0 || size != PORT_FRAME_HEADER_SIZE)
                        return port_frame_bad(error, "descriptor frame with a payload");
                if (h.n_ports == 0)
                        return port_frame_bad(error, "descriptor frame without descriptors");
                break;
        case PORT_FRAME_ADOPT:
                if (h.n_ports != 1)
                        return port_frame_bad(error, "handover frame with %u sockets instead of one",
                                              h.n_ports);
                if (h.payload_size == 0)
                        return port_frame_bad(error, "handover frame without queued messages");
                if (h.payload_size > PORT_FRAME_BUNDLE_MAX)
                        return port_frame_bad(error, "handover of %" PRIu64 " bytes is too large",
                                              h.payload_size);
                break;
        default:
                return port_frame_bad(error, "frame type %u is unknown", h.type);
        }

        if (n_fds != (size_t)h.n_ports + memfd)
                return port_frame_bad(error, "frame announces %u descriptors, %zu arrived",
                                      h.n_ports + memfd, n_fds);

        if (memfd || chunked) {
                if (size != PORT_FRAME_HEADER_SIZE)
                        return port_frame_bad(error, "%s frame carries %zu bytes after its header",
                                              memfd ? "memfd" : "chunked message",
                                              size - PORT_FRAME_HEADER_SIZE);
        } else if (h.type == PORT_FRAME_CONTINUE) {
                if (h.payload_size != size - PORT_FRAME_HEADER_SIZE)
                        return port_frame_bad(error, "frame announces %" PRIu64 " payload bytes, %zu arrived",
                                              h.payload_size, size - PORT_FRAME_HEADER_SIZE);
        } else {
                if (h.payload_size != size - PORT_FRAME_HEADER_SIZE)
                        return port_frame_bad(error, "frame announces %" PRIu64 " payload bytes, %zu arrived",
                                              h.payload_size, size - PORT_FRAME_HEADER_SIZE);
                if (h.payload_size > PORT_FRAME_INLINE_MAX)
                        return port_frame_bad(error, "inline payload of %" PRIu64 " bytes exceeds %u",
                                              h.payload_size, PORT_FRAME_INLINE_MAX);
        }

        *ret = h;
        return 0;
}

bool port_frame_is_handover(const void *header) {
        port_frame_header h = {};

        if (port_frame_header_read(header, &h, NULL) < 0)
                return false;
        return h.type == PORT_FRAME_FDS || h.type == PORT_FRAME_ADOPT;
}

/* The size of the value inside a normal "v": up to its last NUL. */
static size_t variant_child_size(const uint8_t *d, size_t size) {
        size_t n = size - 1;

        while (d[n] != '\0')
                n--;
        return n;
}

/* ---- payload ------------------------------------------------------------ */

bool port_frame_is_normal(GBytes *payload) {
        gsize size;
        const uint8_t *d = g_bytes_get_data(payload, &size);

        return value_normal_check("v", d, size, NULL) == 0;
}

int port_frame_value_decode(GBytes *payload, GVariant **ret_value, sd_bus_error *error) {
        GVariant *value;

        if (g_bytes_get_size(payload) > IPCBUS_PORT_MESSAGE_MAX)
                return port_frame_bad(error, "message of %zu bytes exceeds the limit of %llu",
                                      g_bytes_get_size(payload), IPCBUS_PORT_MESSAGE_MAX);

        /* Normal form rules out the ambiguous encodings, and it is what
         * GLib means by a trusted value: once the check passed (held to
         * g_variant_is_normal_form() and ipcbus_value_check() by the fuzz
         * target, which also walks every value it accepts under ASan), GLib
         * need not check offsets and UTF-8 again on every access, as it
         * does for untrusted data. The check also holds the value to what
         * a channel carries (types, UTF-8, depth): one pass in all. */
        {
                gsize size;
                const uint8_t *d = g_bytes_get_data(payload, &size);
                const char *problem = NULL;
                size_t n;
                GBytes *child;

                if (value_normal_check("v", d, size, &problem) < 0)
                        return port_frame_bad(error, "message is not a GVariant a channel carries, in normal form: %s",
                                              problem);

                /* The value without its "v": the bytes before the last NUL,
                 * the type after it (GVariantType strings need no
                 * terminator). */
                n = variant_child_size(d, size);
                child = g_bytes_new_from_bytes(payload, 0, n);
                value = g_variant_ref_sink(
                        g_variant_new_from_bytes((const GVariantType *)(d + n + 1), child, TRUE));
                g_bytes_unref(child);
        }

        *ret_value = value;
        return 0;
}

uint64_t port_frame_payload_size(GVariant *value) {
        return g_variant_get_size(value) + 1 + strlen(g_variant_get_type_string(value));
}

void port_frame_payload_write(GVariant *value, void *dst) {
        const char *type = g_variant_get_type_string(value);
        uint8_t *p = dst;
        size_t n = g_variant_get_size(value);

        /* Serializes a value built as a tree straight into @dst. */
        g_variant_store(value, p);
        p[n] = '\0';
        memcpy(p + n + 1, type, strlen(type));
}

typedef struct mapping {
        void *p;
        size_t size;
} mapping;

static void mapping_free(gpointer userdata) {
        mapping *m = userdata;

        (void)munmap(m->p, m->size);
        g_free(m);
}

int port_frame_memfd_map(int fd, uint64_t size, GBytes **ret, sd_bus_error *error) {
        struct stat st;
        mapping *m;
        int seals;
        void *p;

        if (size == 0 || size > SIZE_MAX)
                return port_frame_bad(error, "memfd payload of %" PRIu64 " bytes", size);
        if (fstat(fd, &st) < 0)
                return port_frame_bad(error, "memfd payload cannot be inspected: %s", g_strerror(errno));
        if (!S_ISREG(st.st_mode))
                return port_frame_bad(error, "memfd payload is not a regular file");
        if ((uint64_t)st.st_size != size)
                return port_frame_bad(error,
                                      "memfd payload holds %" PRIu64 " bytes, the frame announces %" PRIu64,
                                      (uint64_t)st.st_size, size);
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || (seals & REQUIRED_SEALS) != REQUIRED_SEALS)
                return port_frame_bad(error,
                                      "memfd payload is not sealed against shrinking, growing and writing");

        /* MAP_POPULATE: the page tables in one go rather than a fault per
         * page when the message is read. */
        p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (p == MAP_FAILED)
                return -errno;

        m = g_new(mapping, 1);
        m->p = p;
        m->size = (size_t)size;
        *ret = g_bytes_new_with_free_func(p, (size_t)size, mapping_free, m);
        return 0;
}

int port_frame_memfd_new(uint64_t size, port_frame_fill_fn fill, void *userdata, int *ret_fd) {
        _cleanup_(closep) int fd = -EBADF;
        void *p;

        if (size == 0 || size > SIZE_MAX)
                return -EINVAL;
        fd = memfd_create("ipcbus-port", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t)size) < 0)
                return -errno;
        /* MAP_POPULATE allocates the pages in one go instead of one fault
         * per page while @fill writes. */
        p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        fill(p, userdata);
        /* F_SEAL_WRITE needs every writable mapping gone. */
        if (munmap(p, (size_t)size) < 0)
                return -errno;
        if (fcntl(fd, F_ADD_SEALS, REQUIRED_SEALS | F_SEAL_SEAL) < 0)
                return -errno;

        *ret_fd = fd;
        fd = -EBADF;
        return 0;
}

int port_frame_memfd_new_from_iov(const struct iovec *iov, size_t n, int *ret_fd) {
        _cleanup_(closep) int fd = -EBADF;

        fd = memfd_create("ipcbus-port", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        /* write() is the kernel copying into fresh pages: several times
         * faster than faulting them in through a shared mapping. */
        for (size_t i = 0; i < n; i++) {
                const uint8_t *p = iov[i].iov_base;
                size_t left = iov[i].iov_len;

                while (left > 0) {
                        ssize_t k = write(fd, p, left);

                        if (k < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        p += k;
                        left -= (size_t)k;
                }
        }
        if (fcntl(fd, F_ADD_SEALS, REQUIRED_SEALS | F_SEAL_SEAL) < 0)
                return -errno;

        *ret_fd = fd;
        fd = -EBADF;
        return 0;
}

/*
 * The memfd holds the value's serialized bytes, a NUL and the type: one copy
 * from the value (serialized first if it was built as a tree, as GLib then
 * keeps it), none on the receiving side, which maps it.
 */
int port_frame_payload_memfd(GVariant *value, int *ret_fd) {
        const char *type = g_variant_get_type_string(value);
        struct iovec iov[3] = {
                { .iov_base = (void *)g_variant_get_data(value), .iov_len = g_variant_get_size(value) },
                { .iov_base = (void *)"", .iov_len = 1 },
                { .iov_base = (void *)type, .iov_len = strlen(type) },
        };

        return port_frame_memfd_new_from_iov(iov, G_N_ELEMENTS(iov), ret_fd);
}

/* ---- chunked messages --------------------------------------------------- */

/* How far ahead of the bytes that arrived a mapping is populated. */
#define ASSEMBLY_POPULATE_STEP (4U * 1024U * 1024U)

static int huge_pages_override = -1;

static bool huge_pages_detect(void) {
        g_autofree char *text = NULL;

        /* "always [madvise] never": the word in brackets is the mode. */
        if (!g_file_get_contents("/sys/kernel/mm/transparent_hugepage/enabled", &text, NULL, NULL))
                return false;
        return strstr(text, "[always]") || strstr(text, "[madvise]");
}

bool port_frame_huge_pages(void) {
        static gsize once;
        static bool detected;

        if (huge_pages_override >= 0)
                return huge_pages_override;
        if (g_once_init_enter(&once)) {
                detected = huge_pages_detect();
                g_once_init_leave(&once, 1);
        }
        return detected;
}

void port_frame_huge_pages_override(int value) {
        huge_pages_override = value;
}

uint8_t port_frame_payload_flags(uint64_t size) {
        if (size <= PORT_FRAME_INLINE_MAX)
                return 0;
        /* A port's peer is on the same kernel: without huge pages, the
         * receiver would fault in a large payload 4 KiB at a time, slower
         * than mapping a memfd. */
        if (size <= PORT_FRAME_CHUNKED_MAX || port_frame_huge_pages())
                return PORT_FRAME_FLAG_CHUNKED;
        return PORT_FRAME_FLAG_MEMFD;
}

int port_frame_assembly_begin(port_frame_assembly *a, const port_frame_header *h, const int *fds,
                              size_t n_fds) {
        assert(!a->buf && (h->flags & PORT_FRAME_FLAG_CHUNKED));
        *a = (port_frame_assembly){ .size = h->payload_size };
        if (h->payload_size <= PORT_FRAME_CHUNKED_MAX)
                /* glibc serves this from its heap once one such block was
                 * freed, so a port receiving one message after another reuses
                 * pages instead of faulting in fresh ones (the expensive part). */
                a->buf = g_malloc(h->payload_size);
        else {
                /* Fresh pages either way: huge ones fault in 512 times less
                 * often. Populated as the bytes come, so an announcement
                 * alone commits little memory. */
                void *p = mmap(NULL, h->payload_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                               -1, 0);

                if (p == MAP_FAILED) {
                        *a = (port_frame_assembly){};
                        return -ENOMEM;
                }
                (void)madvise(p, h->payload_size, MADV_HUGEPAGE);
                a->buf = p;
                a->mapped = true;
        }
        a->fds = n_fds > 0 ? g_memdup2(fds, n_fds * sizeof(int)) : NULL;
        a->n_fds = (unsigned)n_fds;
        return 0;
}

int port_frame_assembly_add(port_frame_assembly *a, const void *header, size_t size, size_t n_fds,
                            sd_bus_error *error) {
        port_frame_header h;
        int r;

        r = port_frame_header_parse(header, size, n_fds, &h, error);
        if (r < 0)
                return r;
        if (h.type != PORT_FRAME_CONTINUE)
                return port_frame_bad(error,
                                      "frame of type %u where the continuation of a message (%" PRIu64
                                      " of %" PRIu64 " bytes arrived) belongs",
                                      h.type, a->received, a->size);
        if (h.payload_size > a->size - a->received)
                return port_frame_bad(error,
                                      "continuation of %" PRIu64 " bytes where %" PRIu64
                                      " are left of the message",
                                      h.payload_size, a->size - a->received);
        a->received += h.payload_size;
        return a->received == a->size;
}

uint8_t *port_frame_assembly_next(port_frame_assembly *a) {
        /* MADV_POPULATE_WRITE (Linux 5.14) faults a range in at once; an
         * older kernel faults the pages as they are written. */
        if (a->mapped && a->received + port_frame_assembly_room(a) > a->populated) {
                uint64_t n = MIN(a->size - a->populated, (uint64_t)ASSEMBLY_POPULATE_STEP);

                (void)madvise(a->buf + a->populated, n, MADV_POPULATE_WRITE);
                a->populated += n;
        }
        return a->buf + a->received;
}

GBytes *port_frame_assembly_steal(port_frame_assembly *a, int **ret_fds) {
        GBytes *b;

        assert(a->buf && a->received == a->size);
        if (a->mapped) {
                mapping *m = g_new(mapping, 1);

                *m = (mapping){ .p = a->buf, .size = a->size };
                b = g_bytes_new_with_free_func(a->buf, a->size, mapping_free, m);
        } else
                b = g_bytes_new_take(a->buf, a->size);
        *ret_fds = a->fds;
        *a = (port_frame_assembly){};
        return b;
}

void port_frame_assembly_clear(port_frame_assembly *a) {
        port_frame_close_fds(a->fds, a->n_fds);
        g_free(a->fds);
        if (a->mapped)
                (void)munmap(a->buf, a->size);
        else
                g_free(a->buf);
        *a = (port_frame_assembly){};
}

/* ---- sockets ------------------------------------------------------------ */

typedef union fd_control {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(int) * PORT_FRAME_FDS_MAX)];
} fd_control;

int port_frame_send(int fd, const void *datagram, size_t size, const int *fds, size_t n_fds) {
        struct iovec iov = { .iov_base = (void *)datagram, .iov_len = size };

        return port_frame_sendv(fd, &iov, 1, fds, n_fds);
}

int port_frame_sendv(int fd, const struct iovec *iov, size_t n_iov, const int *fds, size_t n_fds) {
        struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n_iov };
        fd_control control;

        assert(n_fds <= PORT_FRAME_FDS_MAX);
        if (n_fds > 0) {
                struct cmsghdr *c;

                memset(&control, 0, sizeof(control));
                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }

        for (;;) {
                /* MSG_NOSIGNAL: a gone peer is -EPIPE, never SIGPIPE.
                 * MSG_DONTWAIT: whoever else shares the socket's file
                 * status flags, this call does not block. */
                if (sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
                        return 0;
                switch (errno) {
                case EINTR:
                        continue;
                case EAGAIN:
                        return -EAGAIN;
                case EPIPE:
                case ECONNRESET:
                case ENOTCONN:
                        return -EPIPE;
                default:
                        return -errno;
                }
        }
}

void port_frame_close_fds(const int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                (void)close(fds[i]);
}

ssize_t port_frame_recv(int fd, void *buf, int *fds, size_t *ret_n_fds) {
        struct iovec iov = { .iov_base = buf, .iov_len = PORT_FRAME_DATAGRAM_MAX };

        return port_frame_recvv(fd, &iov, 1, fds, ret_n_fds);
}

ssize_t port_frame_recvv(int fd, const struct iovec *iov, size_t n_iov, int *fds, size_t *ret_n_fds) {
        struct msghdr mh;
        fd_control control;
        bool overflow = false;
        size_t n_fds = 0;
        ssize_t k;

        for (;;) {
                mh = (struct msghdr){
                        .msg_iov = (struct iovec *)iov,
                        .msg_iovlen = n_iov,
                        .msg_control = &control,
                        .msg_controllen = sizeof(control),
                };
                k = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
                if (k >= 0)
                        break;
                if (errno == EINTR)
                        continue;
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                size_t n;
                int *p;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                p = (int *)(void *)CMSG_DATA(c);
                for (size_t i = 0; i < n; i++) {
                        int x;

                        memcpy(&x, p + i, sizeof(int));
                        if (n_fds < PORT_FRAME_FDS_MAX)
                                fds[n_fds++] = x;
                        else {
                                (void)close(x);
                                overflow = true;
                        }
                }
        }

        if (overflow || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
                port_frame_close_fds(fds, n_fds);
                return -EBADMSG;
        }

        if (k == 0) {
                struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };

                /* A SOCK_SEQPACKET read of 0 is the end, or an empty datagram. */
                if (n_fds == 0 && poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP)))
                        return 0;
                port_frame_close_fds(fds, n_fds);
                return -EBADMSG;
        }

        *ret_n_fds = n_fds;
        return k;
}

bool port_frame_fd_is_port(int fd) {
        int type = 0, domain = 0;
        socklen_t len = sizeof(type);

        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET)
                return false;
        len = sizeof(domain);
        return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) >= 0 && domain == AF_UNIX;
}
