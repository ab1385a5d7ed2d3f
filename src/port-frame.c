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

#define ALIGN8(x) (((x) + UINT64_C(7)) & ~UINT64_C(7))

#define REQUIRED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static int bad_frame(sd_bus_error *error, const char *format, ...) G_GNUC_PRINTF(2, 3);
static int bad_frame(sd_bus_error *error, const char *format, ...) {
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

/* The fields, with the checks that need nothing but the 16 bytes. */
static int header_read(const uint8_t *p, port_frame_header *ret, sd_bus_error *error) {
        uint32_t magic;
        uint64_t size;

        memcpy(&magic, p, 4);
        if (GUINT32_FROM_LE(magic) != PORT_FRAME_MAGIC)
                return bad_frame(error, "frame does not start with the port magic (0x%08x)",
                                 GUINT32_FROM_LE(magic));
        if (p[4] != PORT_FRAME_VERSION)
                return bad_frame(error, "frame version %u is not %u", p[4], PORT_FRAME_VERSION);
        if (p[6] & ~PORT_FRAME_FLAG_MEMFD)
                return bad_frame(error, "frame has unknown flags 0x%02x", p[6]);
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
        bool memfd;
        int r;

        if (size < PORT_FRAME_HEADER_SIZE)
                return bad_frame(error, "frame of %zu bytes is shorter than its %u-byte header", size,
                                 PORT_FRAME_HEADER_SIZE);
        r = header_read(datagram, &h, error);
        if (r < 0)
                return r;
        memfd = h.flags & PORT_FRAME_FLAG_MEMFD;

        switch (h.type) {
        case PORT_FRAME_MESSAGE:
                if (h.n_ports > PORT_FRAME_PORTS_MAX)
                        return bad_frame(error, "frame transfers %u ports, more than %u", h.n_ports,
                                         PORT_FRAME_PORTS_MAX);
                if (h.payload_size == 0)
                        return bad_frame(error, "message frame without a payload");
                if (h.payload_size > IPCBUS_PORT_MESSAGE_MAX)
                        return bad_frame(error, "message of %" PRIu64 " bytes exceeds the limit of %llu",
                                         h.payload_size, IPCBUS_PORT_MESSAGE_MAX);
                break;
        case PORT_FRAME_FDS:
                if (memfd || h.payload_size != 0 || size != PORT_FRAME_HEADER_SIZE)
                        return bad_frame(error, "descriptor frame with a payload");
                if (h.n_ports == 0)
                        return bad_frame(error, "descriptor frame without descriptors");
                break;
        case PORT_FRAME_ADOPT:
                if (h.n_ports != 1)
                        return bad_frame(error, "handover frame with %u sockets instead of one", h.n_ports);
                if (h.payload_size == 0)
                        return bad_frame(error, "handover frame without queued messages");
                if (h.payload_size > PORT_FRAME_BUNDLE_MAX)
                        return bad_frame(error, "handover of %" PRIu64 " bytes is too large", h.payload_size);
                break;
        default:
                return bad_frame(error, "frame type %u is unknown", h.type);
        }

        if (n_fds != (size_t)h.n_ports + memfd)
                return bad_frame(error, "frame announces %u descriptors, %zu arrived", h.n_ports + memfd,
                                 n_fds);

        if (memfd) {
                if (size != PORT_FRAME_HEADER_SIZE)
                        return bad_frame(error, "memfd frame carries %zu bytes after its header",
                                         size - PORT_FRAME_HEADER_SIZE);
        } else {
                if (h.payload_size != size - PORT_FRAME_HEADER_SIZE)
                        return bad_frame(error, "frame announces %" PRIu64 " payload bytes, %zu arrived",
                                         h.payload_size, size - PORT_FRAME_HEADER_SIZE);
                if (h.payload_size > PORT_FRAME_INLINE_MAX)
                        return bad_frame(error, "inline payload of %" PRIu64 " bytes exceeds %u",
                                         h.payload_size, PORT_FRAME_INLINE_MAX);
        }

        *ret = h;
        return 0;
}

bool port_frame_is_handover(const void *header) {
        port_frame_header h = {};

        if (header_read(header, &h, NULL) < 0)
                return false;
        return h.type == PORT_FRAME_FDS || h.type == PORT_FRAME_ADOPT;
}

/* ---- normal form -------------------------------------------------------- */

/*
 * GVariant's normal form (the GVariant specification, "Normal Form"), for
 * the D-Bus subset of types. g_variant_is_normal_form() checks every element
 * of an array of numbers one by one (3.4 s for 256 MiB of "ay"); here such an
 * array costs one division, since every bit pattern of y n q i u x t d is
 * normal. Everything else follows GLib's checks step for step, and the fuzz
 * target (tests/fuzz/fuzz-port-frame.c) compares the two on every input.
 */

/* GLib's limit on nesting within one serialized value; beyond it GLib
 * calls nothing normal, and ipcbus_value_check() refuses far earlier. */
#define NORMAL_DEPTH_MAX 128U

typedef struct type_info {
        size_t len;     /* characters of the type string */
        unsigned align; /* alignment - 1 */
        size_t fixed;   /* fixed size, 0 for variable-sized */
} type_info;

/* @t is one complete type that value_type_check() accepted. */
static type_info type_info_of(const char *t) {
        type_info i = {}, m;
        size_t offset = 0;
        bool fixed = true;

        switch (t[0]) {
        case 'b':
        case 'y':
                return (type_info){ 1, 0, 1 };
        case 'n':
        case 'q':
                return (type_info){ 1, 1, 2 };
        case 'i':
        case 'u':
        case 'h':
                return (type_info){ 1, 3, 4 };
        case 'x':
        case 't':
        case 'd':
                return (type_info){ 1, 7, 8 };
        case 's':
        case 'o':
        case 'g':
                return (type_info){ 1, 0, 0 };
        case 'v':
                return (type_info){ 1, 7, 0 };
        case 'a':
                m = type_info_of(t + 1);
                return (type_info){ 1 + m.len, m.align, 0 };
        default: /* ( or { */
                i.len = 1;
                while (t[i.len] != ')' && t[i.len] != '}') {
                        m = type_info_of(t + i.len);
                        i.len += m.len;
                        if (m.align > i.align)
                                i.align = m.align;
                        if (m.fixed == 0)
                                fixed = false;
                        else
                                offset = ((offset + m.align) & ~(size_t)m.align) + m.fixed;
                }
                i.len++;
                /* Empty structs are not D-Bus types; GLib gives them size 1. */
                if (fixed)
                        i.fixed = offset == 0 ? 1 : (offset + i.align) & ~(size_t)i.align;
                return i;
        }
}

static unsigned offset_size_for(size_t size) {
        if (size > G_MAXUINT32)
                return 8;
        if (size > G_MAXUINT16)
                return 4;
        if (size > G_MAXUINT8)
                return 2;
        return size > 0 ? 1 : 0;
}

/* The size of a container body of @body bytes with @n offsets, in normal
 * form: the offsets as small as the total allows. */
static size_t total_size(size_t body, size_t n) {
        if (body + n <= G_MAXUINT8)
                return body + n;
        if (body + 2 * n <= G_MAXUINT16)
                return body + 2 * n;
        if (body + 4 * n <= G_MAXUINT32)
                return body + 4 * n;
        return body + 8 * n;
}

static size_t read_offset(const uint8_t *p, unsigned n) {
        uint64_t x = 0;

        /* Little-endian, @n of 0, 1, 2, 4 or 8 bytes. */
        for (unsigned i = 0; i < n; i++)
                x |= (uint64_t)p[i] << (8 * i);
        return (size_t)x;
}

static bool is_normal(const uint8_t *d, size_t size, const char *type, unsigned depth);

static bool string_is_normal(const uint8_t *d, size_t size, char type) {
        const char *end;

        if (!d || size == 0 || d[size - 1] != '\0')
                return false;
        (void)g_utf8_validate_len((const char *)d, size, &end);
        if (end != (const char *)d + size - 1)
                return false;
        if (type == 'o')
                return g_variant_is_object_path((const char *)d);
        if (type == 'g')
                return g_variant_is_signature((const char *)d);
        return true;
}

static bool variant_is_normal(const uint8_t *d, size_t size, unsigned depth) {
        const char *type;
        size_t child_size;
        unsigned type_depth;
        const char *problem;
        type_info ti;

        if (size == 0)
                return false;
        /* The child's data ends at the last NUL; its type follows. */
        for (child_size = size - 1; child_size > 0; child_size--)
                if (d[child_size] == '\0')
                        break;
        if (d[child_size] != '\0')
                return false;
        type = (const char *)d + child_size + 1;
        /* Only types a channel carries: anything else is refused anyway. */
        if (value_type_check(type, size - child_size - 1, false, &type_depth, &problem) < 0)
                return false;

        {
                char buf[VALUE_SIGNATURE_MAX + 1];

                memcpy(buf, type, size - child_size - 1);
                buf[size - child_size - 1] = '\0';
                ti = type_info_of(buf);
                if (ti.fixed && ti.fixed != child_size)
                        return false;
                return is_normal(child_size ? d : NULL, child_size, buf, depth + 1);
        }
}

static bool array_is_normal(const uint8_t *d, size_t size, const char *type, unsigned depth) {
        const char *element = type + 1;
        type_info ei = type_info_of(element);
        size_t last_end, table, length, offset = 0;
        unsigned os;

        if (ei.fixed) {
                if (size % ei.fixed != 0)
                        return false;
                /* Every bit pattern of a number is normal. */
                if (strchr("ynqiuxtdh", element[0]))
                        return true;
                for (size_t at = 0; at < size; at += ei.fixed)
                        if (!is_normal(d + at, ei.fixed, element, depth + 1))
                                return false;
                return true;
        }

        if (size == 0)
                return true;
        os = offset_size_for(size);
        last_end = read_offset(d + size - os, os);
        if (last_end > size)
                return false;
        table = size - last_end;
        if (table % os != 0)
                return false;
        length = table / os;
        if (length == 0)
                return false;
        /* Offsets wider than needed are not normal. */
        if (total_size(last_end, length) != size)
                return false;

        for (size_t i = 0; i < length; i++) {
                size_t end = read_offset(d + last_end + i * os, os);

                if (end < offset || end > last_end)
                        return false;
                while (offset & ei.align) {
                        if (!(offset < end && d[offset] == '\0'))
                                return false;
                        offset++;
                }
                if (!is_normal(end > offset ? d + offset : NULL, end - offset, element, depth + 1))
                        return false;
                offset = end;
        }
        return true;
}

static bool tuple_is_normal(const uint8_t *d, size_t size, const char *type, unsigned depth) {
        type_info ti = type_info_of(type);
        unsigned os = offset_size_for(size);
        size_t offset = 0, offset_ptr = size;
        const char *m = type + 1;
        size_t n_offsets = 0;

        if (!d && size != 0)
                return false;

        while (*m != ')' && *m != '}') {
                type_info mi = type_info_of(m);
                bool last = m[mi.len] == ')' || m[mi.len] == '}';
                size_t end;

                while (offset & mi.align) {
                        if (offset >= size || d[offset] != '\0')
                                return false;
                        offset++;
                }

                if (mi.fixed)
                        end = offset + mi.fixed;
                else if (last)
                        end = offset_ptr;
                else {
                        if (offset_ptr < os)
                                return false;
                        offset_ptr -= os;
                        n_offsets++;
                        if (offset_ptr < offset)
                                return false;
                        /* An empty tuple body has no offsets (os is 0): they read as 0. */
                        end = os > 0 ? read_offset(d + offset_ptr, os) : 0;
                }
                if (end < offset || end > offset_ptr)
                        return false;
                if (!is_normal(end > offset ? d + offset : NULL, end - offset, m, depth + 1))
                        return false;
                offset = end;
                m += mi.len;
        }

        if (ti.fixed)
                while (offset & ti.align) {
                        if (offset >= size || d[offset++] != '\0')
                                return false;
                }
        if (offset_ptr != offset)
                return false;
        /* Offsets wider than needed are not normal (an empty body, where
         * there are none to read, GLib lets pass). */
        return size == 0 || total_size(offset, n_offsets) == size;
}

static bool is_normal(const uint8_t *d, size_t size, const char *type, unsigned depth) {
        if (depth >= NORMAL_DEPTH_MAX)
                return false;

        switch (type[0]) {
        case 'a':
                return array_is_normal(d, size, type, depth);
        case '(':
        case '{':
                return tuple_is_normal(d, size, type, depth);
        case 'v':
                return variant_is_normal(d, size, depth);
        case 's':
        case 'o':
        case 'g':
                return string_is_normal(d, size, type[0]);
        case 'b':
                return d && size == 1 && d[0] < 2;
        default:
                return d && size == type_info_of(type).fixed;
        }
}

bool port_frame_is_normal(GBytes *payload) {
        gsize size;
        const uint8_t *d = g_bytes_get_data(payload, &size);

        return is_normal(size > 0 ? d : NULL, size, "v", 0);
}

/* The size of the value inside a normal "v": up to its last NUL. */
static size_t variant_child_size(const uint8_t *d, size_t size) {
        size_t n = size - 1;

        while (d[n] != '\0')
                n--;
        return n;
}

/* ---- payload ------------------------------------------------------------ */

int port_frame_value_decode(GBytes *payload, GVariant **ret_value, sd_bus_error *error) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        GVariant *value;
        int r;

        if (g_bytes_get_size(payload) > IPCBUS_PORT_MESSAGE_MAX)
                return bad_frame(error, "message of %zu bytes exceeds the limit of %llu",
                                 g_bytes_get_size(payload), IPCBUS_PORT_MESSAGE_MAX);

        /* Normal form rules out the ambiguous encodings. The value stays
         * untrusted for GLib all the same, which checks offsets on every
         * access and never reads outside @payload. */
        if (!port_frame_is_normal(payload))
                return bad_frame(error, "message is not a GVariant of a D-Bus type in normal form");

        /* The value without its "v": the bytes before the last NUL, the
         * type after it (GVariantType strings need no terminator). */
        {
                gsize size;
                const uint8_t *d = g_bytes_get_data(payload, &size);
                size_t n = variant_child_size(d, size);
                GBytes *child = g_bytes_new_from_bytes(payload, 0, n);

                value = g_variant_ref_sink(
                        g_variant_new_from_bytes((const GVariantType *)(d + n + 1), child, FALSE));
                g_bytes_unref(child);
        }

        r = value_check(value, &e);
        /* The channels' size limit (D-Bus's) is not the ports' one. */
        if (r < 0 && r != -EMSGSIZE) {
                g_variant_unref(value);
                return bad_frame(error, "message cannot be carried: %s", strnull(e.message));
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
                return bad_frame(error, "memfd payload of %" PRIu64 " bytes", size);
        if (fstat(fd, &st) < 0)
                return bad_frame(error, "memfd payload cannot be inspected: %s", g_strerror(errno));
        if (!S_ISREG(st.st_mode))
                return bad_frame(error, "memfd payload is not a regular file");
        if ((uint64_t)st.st_size != size)
                return bad_frame(error, "memfd payload holds %" PRIu64 " bytes, the frame announces %" PRIu64,
                                 (uint64_t)st.st_size, size);
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || (seals & REQUIRED_SEALS) != REQUIRED_SEALS)
                return bad_frame(error, "memfd payload is not sealed against shrinking, growing and writing");

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

/* ---- bundles ------------------------------------------------------------ */

uint64_t port_frame_record_size(uint64_t payload_size) {
        return PORT_FRAME_HEADER_SIZE + ALIGN8(payload_size);
}

void port_frame_record_write(void *dst, GVariant *value, unsigned n_ports) {
        uint8_t *p = dst;
        uint64_t size = port_frame_payload_size(value);

        port_frame_header_write(p, PORT_FRAME_MESSAGE, 0, (uint8_t)n_ports, size);
        port_frame_payload_write(value, p + PORT_FRAME_HEADER_SIZE);
        memset(p + PORT_FRAME_HEADER_SIZE + size, 0, ALIGN8(size) - size);
}

static void records_free(port_frame_record *records, size_t n) {
        for (size_t i = 0; i < n; i++)
                g_variant_unref(records[i].value);
        g_free(records);
}

int port_frame_bundle_parse(GBytes *bundle, size_t n_fds, port_frame_record **ret, size_t *ret_n,
                            sd_bus_error *error) {
        gsize size;
        const uint8_t *data = g_bytes_get_data(bundle, &size);
        port_frame_record *records = NULL;
        size_t n = 0, allocated = 0, ports = 0;
        uint64_t offset = 0;
        int r;

        if (size == 0)
                return bad_frame(error, "handover without queued messages");

        while (offset < size) {
                port_frame_header h;
                GBytes *payload;
                uint64_t left;

                if (size - offset < PORT_FRAME_HEADER_SIZE) {
                        r = bad_frame(error, "handover ends inside a record header");
                        goto fail;
                }
                left = size - offset - PORT_FRAME_HEADER_SIZE;
                r = header_read(data + offset, &h, error);
                if (r < 0)
                        goto fail;
                if (h.type != PORT_FRAME_MESSAGE || h.flags != 0 || h.n_ports > PORT_FRAME_PORTS_MAX) {
                        r = bad_frame(error, "handover record %zu is not an inline message", n);
                        goto fail;
                }
                if (h.payload_size == 0 || h.payload_size > left || ALIGN8(h.payload_size) > left) {
                        r = bad_frame(error,
                                      "handover record %zu announces %" PRIu64 " bytes, %" PRIu64 " are left",
                                      n, h.payload_size, left);
                        goto fail;
                }
                if (h.n_ports > n_fds - ports) {
                        r = bad_frame(error, "handover records use more than the %zu descriptors sent", n_fds);
                        goto fail;
                }

                if (n == allocated) {
                        allocated = allocated ? allocated * 2 : 16;
                        records = g_renew(port_frame_record, records, allocated);
                }
                payload = g_bytes_new_from_bytes(bundle, offset + PORT_FRAME_HEADER_SIZE, h.payload_size);
                r = port_frame_value_decode(payload, &records[n].value, error);
                g_bytes_unref(payload);
                if (r < 0)
                        goto fail;
                records[n++].n_ports = h.n_ports;
                ports += h.n_ports;
                offset += port_frame_record_size(h.payload_size);
        }

        if (ports != n_fds) {
                r = bad_frame(error, "handover sent %zu descriptors, its records use %zu", n_fds, ports);
                goto fail;
        }
        *ret = records;
        *ret_n = n;
        return 0;

fail:
        records_free(records, n);
        return r;
}

/* ---- sockets ------------------------------------------------------------ */

typedef union fd_control {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(int) * PORT_FRAME_FDS_MAX)];
} fd_control;

int port_frame_send(int fd, const void *datagram, size_t size, const int *fds, size_t n_fds) {
        struct iovec iov = { .iov_base = (void *)datagram, .iov_len = size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
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
        struct msghdr mh;
        fd_control control;
        bool overflow = false;
        size_t n_fds = 0;
        ssize_t k;

        for (;;) {
                mh = (struct msghdr){
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
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
