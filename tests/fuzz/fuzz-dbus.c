/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "fuzz-dbus.h"

/* A round of the pump that changed nothing ends it; this many rounds that
 * all changed something mean the endpoint never goes idle. */
#define PUMP_ROUNDS_MAX 20000

/* What the endpoint may write at once before we call it garbage. */
#define SEEN_MESSAGE_MAX (128u * 1024 * 1024)

static const char *const error_names[FUZZ_ERROR_NAMES] = {
        "org.ipcbus.Error.HandlerFailed",
        "org.ipcbus.Error.NoHandler",
        "org.ipcbus.Error.Denied",
        "org.freedesktop.DBus.Error.NoReply",
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.InvalidArgs",
        "org.freedesktop.DBus.Error.Failed",
        "x.y",
};

/* ---- records ------------------------------------------------------------ */

bool fuzz_record_next(const uint8_t **data, size_t *size, fuzz_record *ret) {
        const uint8_t *p = *data;
        size_t n = *size, k;

        if (n < 4)
                return false;
        ret->ctl = p[0];
        ret->what = p[1];
        ret->fds = p[2];
        k = MIN((size_t)p[3], n - 4);
        ret->signature = (const char *)p + 4;
        ret->signature_size = k;
        p += 4 + k;
        n -= 4 + k;
        if (n < 2) {
                ret->body = p;
                ret->body_size = 0;
                *data = p + n;
                *size = 0;
                return true;
        }
        k = MIN((size_t)(p[0] | p[1] << 8), n - 2);
        ret->body = p + 2;
        ret->body_size = k;
        *data = p + 2 + k;
        *size = n - 2 - k;
        return true;
}

void fuzz_record_append(GByteArray *out, uint8_t ctl, uint8_t what, uint8_t fds, const char *signature,
                        GBytes *body) {
        size_t n = signature ? strlen(signature) : 0, size = body ? g_bytes_get_size(body) : 0;
        uint8_t head[4] = { ctl, what, fds, (uint8_t)n }, len[2] = { size & 0xff, size >> 8 };

        g_assert(n < 256 && size < 65536);
        g_byte_array_append(out, head, sizeof(head));
        g_byte_array_append(out, (const guint8 *)signature, n);
        g_byte_array_append(out, len, sizeof(len));
        if (size)
                g_byte_array_append(out, g_bytes_get_data(body, NULL), size);
}

/* ---- writing messages --------------------------------------------------- */

static void put_u32(GByteArray *b, bool be, uint32_t v) {
        v = be ? GUINT32_TO_BE(v) : GUINT32_TO_LE(v);
        g_byte_array_append(b, (const guint8 *)&v, 4);
}

static void set_u32(GByteArray *b, size_t at, bool be, uint32_t v) {
        v = be ? GUINT32_TO_BE(v) : GUINT32_TO_LE(v);
        memcpy(b->data + at, &v, 4);
}

static void pad(GByteArray *b, size_t base, size_t align) {
        static const guint8 zero[8];

        g_byte_array_append(b, zero, (align - (b->len - base) % align) % align);
}

/* A header field: code, its one-letter signature, the value. */
static void field(GByteArray *b, size_t base, bool be, uint8_t code, char type, const char *s, size_t n,
                  uint32_t u) {
        const guint8 head[4] = { code, 1, (guint8)type, 0 };

        pad(b, base, 8);
        g_byte_array_append(b, head, sizeof(head));
        switch (type) {
        case 'u':
                put_u32(b, be, u);
                break;
        case 'g':
                g_byte_array_append(b, &(guint8){ (guint8)n }, 1);
                g_byte_array_append(b, (const guint8 *)s, n);
                g_byte_array_append(b, &(guint8){ 0 }, 1);
                break;
        default:
                put_u32(b, be, (uint32_t)n);
                g_byte_array_append(b, (const guint8 *)s, n);
                g_byte_array_append(b, &(guint8){ 0 }, 1);
                break;
        }
}

static void field_string(GByteArray *b, size_t base, bool be, uint8_t code, char type, const char *s) {
        if (s)
                field(b, base, be, code, type, s, strlen(s), 0);
}

void fuzz_message_append(GByteArray *out, const fuzz_header *h, const void *body, size_t body_size) {
        const guint8 fixed[4] = { h->big_endian ? 'B' : 'l', (guint8)(h->type + 1), h->flags, 1 };
        size_t base = out->len;
        bool be = h->big_endian;

        g_byte_array_append(out, fixed, sizeof(fixed));
        put_u32(out, be, (uint32_t)body_size);
        put_u32(out, be, h->serial);
        put_u32(out, be, 0); /* the fields' length, below */
        field_string(out, base, be, 1, 'o', h->path);
        field_string(out, base, be, 2, 's', h->interface);
        field_string(out, base, be, 3, 's', h->member);
        field_string(out, base, be, 4, 's', h->error_name);
        if (h->reply_serial)
                field(out, base, be, 5, 'u', NULL, 0, h->reply_serial);
        field_string(out, base, be, 6, 's', h->destination);
        field_string(out, base, be, 7, 's', h->sender);
        if (h->signature && h->signature_size) {
                size_t n = h->signature_size == SIZE_MAX ? strlen(h->signature) : h->signature_size;

                field(out, base, be, 8, 'g', h->signature, MIN(n, 255), 0);
        }
        if (h->n_fds)
                field(out, base, be, 9, 'u', NULL, 0, h->n_fds);
        set_u32(out, base + 12, be, (uint32_t)(out->len - base - 16));
        pad(out, base, 8);
        if (body_size)
                g_byte_array_append(out, body, (guint)body_size);
}

GBytes *fuzz_body_new(GVariant *body, bool big_endian) {
        g_autoptr(GDBusMessage) m = g_dbus_message_new();
        g_autoptr(GError) error = NULL;
        g_autofree guchar *blob = NULL;
        uint32_t fields, size;
        gsize n;

        /* A return is the message with the fewest fields GDBus insists on. */
        g_dbus_message_set_message_type(m, G_DBUS_MESSAGE_TYPE_METHOD_RETURN);
        g_dbus_message_set_reply_serial(m, 1);
        g_dbus_message_set_serial(m, 1);
        g_dbus_message_set_byte_order(m, big_endian ? G_DBUS_MESSAGE_BYTE_ORDER_BIG_ENDIAN
                                                    : G_DBUS_MESSAGE_BYTE_ORDER_LITTLE_ENDIAN);
        g_dbus_message_set_body(m, body);
        blob = g_dbus_message_to_blob(m, &n, G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING, &error);
        g_assert_no_error(error);
        memcpy(&fields, blob + 12, 4);
        memcpy(&size, blob + 4, 4);
        fields = big_endian ? GUINT32_FROM_BE(fields) : GUINT32_FROM_LE(fields);
        size = big_endian ? GUINT32_FROM_BE(size) : GUINT32_FROM_LE(size);
        g_assert(16 + ((fields + 7) & ~7u) + size == n);
        return g_bytes_new(blob + n - size, size);
}

void fuzz_auth_client(GByteArray *out) {
        g_autofree char *uid = g_strdup_printf("%u", (unsigned)getuid());
        GString *s = g_string_new(NULL);

        g_string_append_len(s, "\0AUTH EXTERNAL ", 15);
        for (const char *c = uid; *c; c++)
                g_string_append_printf(s, "%02x", (unsigned char)*c);
        g_string_append(s, "\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n");
        g_byte_array_append(out, (const guint8 *)s->str, (guint)s->len);
        g_string_free(s, TRUE);
}

void fuzz_auth_server(GByteArray *out) {
        /* sd-bus's client sends AUTH EXTERNAL with no initial response, and
         * an empty DATA behind it: the DATA challenge comes first. */
        static const char lines[] = "DATA\r\nOK " FUZZ_SERVER_GUID "\r\nAGREE_UNIX_FD\r\n";

        g_byte_array_append(out, (const guint8 *)lines, sizeof(lines) - 1);
}

/* ---- the peer ----------------------------------------------------------- */

void fuzz_peer_init(fuzz_peer *p, int fd, const char *auth_end) {
        *p = (fuzz_peer){
                .fd = fd,
                .out = g_byte_array_new(),
                .kept_fds = g_array_new(FALSE, FALSE, sizeof(int)),
                .in = g_byte_array_new(),
                .auth_end = auth_end,
                .seen = g_array_new(FALSE, TRUE, sizeof(fuzz_seen)),
        };
}

static void close_out_fds(fuzz_peer *p) {
        for (size_t i = 0; i < p->n_out_fds; i++)
                (void)close(p->out_fds[i]);
        p->n_out_fds = 0;
}

void fuzz_peer_done(fuzz_peer *p) {
        close_out_fds(p);
        for (guint i = 0; i < p->kept_fds->len; i++)
                (void)close(g_array_index(p->kept_fds, int, i));
        if (p->fd >= 0)
                (void)close(p->fd);
        g_byte_array_unref(p->out);
        g_array_unref(p->kept_fds);
        g_byte_array_unref(p->in);
        g_array_unref(p->seen);
        *p = (fuzz_peer){ .fd = -1 };
}

static int new_fd(fuzz_peer *p, unsigned kind) {
        int pair[2], fd;

        switch (kind) {
        case FUZZ_FD_SEQPACKET:
        case FUZZ_FD_STREAM:
                if (socketpair(AF_UNIX, (kind == FUZZ_FD_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC,
                               0, pair) < 0)
                        abort();
                break;
        case FUZZ_FD_PIPE:
                if (pipe2(pair, O_CLOEXEC) < 0)
                        abort();
                break;
        default:
                fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
                if (fd < 0)
                        abort();
                return fd;
        }
        g_array_append_val(p->kept_fds, pair[1]);
        return pair[0];
}

void fuzz_peer_queue(fuzz_peer *p, const fuzz_header *h, const void *body, size_t body_size, unsigned n_fds,
                     unsigned kind) {
        /* Descriptors go with the message's first byte: what came before
         * must be out first. */
        g_assert(p->out_done == p->out->len || p->n_out_fds == 0);
        if (p->out_done == p->out->len) {
                g_byte_array_set_size(p->out, 0);
                p->out_done = 0;
        }
        fuzz_message_append(p->out, h, body, body_size);
        for (unsigned i = 0; i < MIN(n_fds, FUZZ_FDS_MAX); i++)
                p->out_fds[p->n_out_fds++] = new_fd(p, kind);
}

uint32_t fuzz_peer_call_serial(fuzz_peer *p, unsigned nth) {
        for (guint i = p->seen->len; i > 0; i--) {
                const fuzz_seen *s = &g_array_index(p->seen, fuzz_seen, i - 1);

                if (s->type == FUZZ_CALL && nth-- == 0)
                        return s->serial;
        }
        return 0;
}

const fuzz_seen *fuzz_peer_reply(fuzz_peer *p, uint32_t serial) {
        for (guint i = 0; i < p->seen->len; i++) {
                const fuzz_seen *s = &g_array_index(p->seen, fuzz_seen, i);

                if ((s->type == FUZZ_RETURN || s->type == FUZZ_ERROR) && s->reply_serial == serial)
                        return s;
        }
        return NULL;
}

static bool peer_write(fuzz_peer *p) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * FUZZ_FDS_MAX)];
        } control = {};
        struct iovec iov;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (p->out_done == p->out->len)
                return false;
        if (p->eof) {
                p->out_done = p->out->len;
                close_out_fds(p);
                return false;
        }
        iov = (struct iovec){ p->out->data + p->out_done, p->out->len - p->out_done };
        if (p->n_out_fds) {
                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * p->n_out_fds);
                control.h.cmsg_level = SOL_SOCKET;
                control.h.cmsg_type = SCM_RIGHTS;
                control.h.cmsg_len = CMSG_LEN(sizeof(int) * p->n_out_fds);
                memcpy(CMSG_DATA(&control.h), p->out_fds, sizeof(int) * p->n_out_fds);
        }
        n = sendmsg(p->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return false;
                /* The endpoint closed: what is left is never read. */
                p->eof = true;
                return true;
        }
        /* The kernel holds its own copies now. */
        close_out_fds(p);
        p->out_done += (size_t)n;
        return true;
}

static uint32_t get_u32(const uint8_t *b, bool be) {
        uint32_t v;

        memcpy(&v, b, 4);
        return be ? GUINT32_FROM_BE(v) : GUINT32_FROM_LE(v);
}

static void copy_string(char *dst, size_t size, const uint8_t *s, size_t n) {
        n = MIN(n, size - 1);
        memcpy(dst, s, n);
        dst[n] = '\0';
}

/* One complete message off the front of p->in into p->seen. Return: true
 * if there was one. */
static bool parse_message(fuzz_peer *p) {
        const uint8_t *b = p->in->data;
        fuzz_seen seen = {};
        uint64_t end, total;
        uint32_t fields;
        size_t pos;
        bool be;

        if (p->in->len < 16)
                return false;
        if ((b[0] != 'l' && b[0] != 'B') || b[1] < 1 || b[1] > 4) {
                p->garbled = true;
                return false;
        }
        be = b[0] == 'B';
        fields = get_u32(b + 12, be);
        total = 16 + (((uint64_t)fields + 7) & ~7ull) + get_u32(b + 4, be);
        if (total > SEEN_MESSAGE_MAX) {
                p->garbled = true;
                return false;
        }
        if (p->in->len < total)
                return false;

        seen.type = b[1] - 1;
        seen.serial = get_u32(b + 8, be);
        end = 16 + (uint64_t)fields;
        for (pos = 16; pos + 4 <= end;) {
                uint8_t code = b[pos], type = b[pos + 2];
                size_t n;

                /* sd-bus writes one-letter signatures only. */
                if (b[pos + 1] != 1) {
                        p->garbled = true;
                        return false;
                }
                pos += 4;
                if (type == 'g') {
                        n = b[pos];
                        if (pos + 2 + n > end)
                                break;
                        if (code == 8)
                                copy_string(seen.signature, sizeof(seen.signature), b + pos + 1, n);
                        pos += 2 + n;
                } else if (type == 'u') {
                        if (code == 5)
                                seen.reply_serial = get_u32(b + pos, be);
                        pos += 4;
                } else {
                        n = get_u32(b + pos, be);
                        if (pos + 5 + n > end)
                                break;
                        if (code == 3)
                                copy_string(seen.member, sizeof(seen.member), b + pos + 4, n);
                        else if (code == 4)
                                copy_string(seen.error_name, sizeof(seen.error_name), b + pos + 4, n);
                        pos += 5 + n;
                }
                pos = (pos + 7) & ~(size_t)7;
        }
        g_array_append_val(p->seen, seen);
        g_byte_array_remove_range(p->in, 0, (guint)total);
        return true;
}

/* Drops the endpoint's SASL lines, through the one that ends them. */
static void skip_auth(fuzz_peer *p) {
        while (!p->auth_done) {
                const uint8_t *nl = memchr(p->in->data, '\n', p->in->len);
                size_t n;

                if (!nl)
                        return;
                n = (size_t)(nl - p->in->data) + 1;
                if (p->auth_end && n > strlen(p->auth_end) &&
                    memcmp(p->in->data + (p->in->data[0] == '\0'), p->auth_end, strlen(p->auth_end)) == 0)
                        p->auth_done = true;
                g_byte_array_remove_range(p->in, 0, (guint)n);
        }
}

static bool peer_read(fuzz_peer *p) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * 253)];
        } control;
        uint8_t buf[65536];
        struct iovec iov = { buf, sizeof(buf) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                             .msg_controllen = sizeof(control.buf) };
        ssize_t n;

        if (p->eof)
                return false;
        n = recvmsg(p->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return false;
        if (n <= 0) {
                p->eof = true;
                return true;
        }
        /* Ports the endpoint sends us: we never use them. */
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        int fds[253];

                        memcpy(fds, CMSG_DATA(c), k * sizeof(int));
                        for (size_t i = 0; i < k; i++)
                                (void)close(fds[i]);
                }
        if (p->garbled || !p->auth_end)
                return true;
        g_byte_array_append(p->in, buf, (guint)n);
        skip_auth(p);
        while (p->auth_done && parse_message(p))
                ;
        if (p->garbled)
                g_byte_array_set_size(p->in, 0);
        return true;
}

void fuzz_peer_dump(fuzz_peer *p) {
        fprintf(stderr, "peer: %s%s%s, %u message(s) from the endpoint:\n", p->auth_done ? "authenticated" : "in SASL",
                p->eof ? ", closed" : "", p->garbled ? ", garbled" : "", p->seen->len);
        for (guint i = 0; i < p->seen->len; i++) {
                const fuzz_seen *s = &g_array_index(p->seen, fuzz_seen, i);

                fprintf(stderr, "  type %u serial %u reply to %u member '%s' error '%s' signature '%s'\n", s->type,
                        s->serial, s->reply_serial, s->member, s->error_name, s->signature);
        }
}

void fuzz_peer_pump(fuzz_peer *p, sd_event *event) {
        for (unsigned i = 0; i < PUMP_ROUNDS_MAX; i++) {
                bool progress = peer_write(p);
                int r;

                progress |= peer_read(p);
                r = sd_event_run(event, 0);
                if (r < 0) {
                        fprintf(stderr, "sd_event_run: %s\n", strerror(-r));
                        abort();
                }
                if (!progress && r == 0)
                        return;
        }
        fprintf(stderr, "the endpoint never went idle (%u rounds)\n", PUMP_ROUNDS_MAX);
        abort();
}

void fuzz_record_header(fuzz_peer *p, const fuzz_record *rec, const fuzz_member *table, size_t n_table,
                        const char *own_path, const char *other_path, fuzz_header *ret) {
        static const char *const paths[] = { NULL, "/", NULL, "/org/freedesktop/DBus/Local" };
        unsigned path = rec->ctl >> FUZZ_CTL_PATH_SHIFT;
        fuzz_header h = {
                .big_endian = rec->ctl & FUZZ_CTL_BIG_ENDIAN,
                .type = (rec->ctl >> FUZZ_CTL_TYPE_SHIFT) & 3,
                .flags = rec->ctl & FUZZ_CTL_NO_REPLY ? 1 : 0,
                .serial = ++p->serial,
                .sender = rec->ctl & FUZZ_CTL_SENDER ? "org.freedesktop.DBus" : NULL,
                .destination = rec->ctl & FUZZ_CTL_DESTINATION ? "org.ipcbus.Fuzz" : NULL,
                .signature = rec->signature,
                .signature_size = rec->signature_size,
                .n_fds = rec->fds & 3,
        };

        if (h.type == FUZZ_CALL || h.type == FUZZ_SIGNAL) {
                const fuzz_member *m = &table[rec->what % n_table];

                h.path = path == FUZZ_PATH_OWN ? own_path : path == FUZZ_PATH_OTHER ? other_path : paths[path];
                h.interface = m->interface;
                h.member = m->member;
        } else {
                h.reply_serial = rec->what < 4 ? fuzz_peer_call_serial(p, rec->what) : rec->what - 4u;
                if (h.type == FUZZ_ERROR)
                        h.error_name = error_names[(rec->fds >> 4) & 7];
        }
        *ret = h;
}

bool fuzz_header_takes_fds(const fuzz_header *h) {
        const char *sig = h->signature ? h->signature : "";
        size_t n = h->signature_size == SIZE_MAX ? strlen(sig) : h->signature_size;
        g_autofree char *s = g_strndup(sig, n);
        unsigned arrays = 0, structs = 0;

        if ((h->type == FUZZ_RETURN || h->type == FUZZ_ERROR) && h->reply_serial == 0)
                return false;
        /* What D-Bus requires of a signal. */
        if (h->type == FUZZ_SIGNAL && !h->interface)
                return false;
        /* Nobody but sd-bus itself speaks on the Local path or interface. */
        if (g_strcmp0(h->path, "/org/freedesktop/DBus/Local") == 0 ||
            g_strcmp0(h->interface, "org.freedesktop.DBus.Local") == 0)
                return false;
        /* D-Bus's signatures are GVariant's less maybes and empty or bare
         * containers (g_variant_is_signature() refuses the letters D-Bus
         * lacks), and at most 32 arrays and 32 structs deep. */
        if (strlen(s) != n || !g_variant_is_signature(s) || strstr(s, "()"))
                return false;
        for (size_t i = 0; i < n; i++) {
                arrays += s[i] == 'a';
                structs += s[i] == '(';
                if (s[i] == '{' && (i == 0 || s[i - 1] != 'a'))
                        return false;
        }
        return arrays <= 32 && structs <= 32;
}

const char *__lsan_default_suppressions(void) {
        /* The array of descriptors sd-bus forgets with a message it drops
         * (fuzz_header_takes_fds() says when): sd-bus grows it with
         * reallocarray(), which neither ipcbus nor GLib calls, and what
         * else sd-bus keeps in such arrays is owned by an object whose own
         * leak LSan reports. */
        return "leak:reallocarray\n";
}

void fuzz_log_drop(int priority, const char *message, void *userdata) {
        /* ASan sees the whole message read. */
        volatile size_t n = strlen(message);

        /* FUZZ_LOG=1 shows what the endpoint logs, to read a finding by. */
        if (getenv("FUZZ_LOG"))
                fprintf(stderr, "log %d: %s\n", priority, message);
        (void)n;
}
