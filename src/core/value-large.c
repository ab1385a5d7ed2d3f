/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Large values out of band: a sealed memfd per value, in the place of the
 * value (value-large.h). The bus carries a few dozen bytes; the value is
 * copied once into the memfd by its sender and once out of it by its
 * receiver, and validated once, by the receiver.
 *
 * Where the time goes, measured on these machines for 1 MiB: a page fault
 * costs about 8 µs, so memory touched for the first time (a fresh heap
 * block, a fresh mapping) costs more than the copy into it. Both copies
 * therefore go through buffers kept between messages (buffer_take()), made
 * with MAP_POPULATE so the kernel fills them without faulting; the memfd is
 * written with write(2), never through a shared mapping (which the kernel
 * tracks page by page and would fault on). Values too large to keep a
 * buffer for are mapped from the memfd instead of copied: memory then stays
 * near one copy per side.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ipcbus/ipcbus-common.h>
#include <ipcbus/ipcbus-value.h>

#include "util.h"
#include "value.h"
#include "value-large.h"
#include "value-ring.h"

#define SEALS_REQUIRED (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/* Buffers up to this size are kept for the next value; larger values are
 * mapped (receiving) or go through a buffer of their own (sending). */
#define BUFFER_KEEP_MAX (8U * 1024U * 1024U)
#define BUFFER_SLOTS 4U
#define BUFFER_GRANULE (64U * 1024U)
/* At most this many pieces in one writev() (the kernel's UIO_MAXIOV). */
#define LIST_IOV_MAX 1024U

static atomic_uint_fast64_t counted_sent, counted_received;
static atomic_uint_fast64_t counted_ref_sent, counted_ref_received;

void ipcbus_value_get_large_counts(uint64_t *ret_sent, uint64_t *ret_received) {
        if (ret_sent)
                *ret_sent = atomic_load(&counted_sent);
        if (ret_received)
                *ret_received = atomic_load(&counted_received);
}

void value_large_ref_counts(uint64_t *ret_sent, uint64_t *ret_received) {
        *ret_sent = atomic_load(&counted_ref_sent);
        *ret_received = atomic_load(&counted_ref_received);
}

/* ---- buffers kept between values ---------------------------------------- */

typedef struct Buffer {
        void *data;
        size_t capacity;
} Buffer;

static GMutex buffer_lock;
static Buffer buffer_kept[BUFFER_SLOTS];

static int buffer_take(size_t size, Buffer *ret) {
        size_t best = BUFFER_SLOTS, capacity;
        void *p;

        g_mutex_lock(&buffer_lock);
        for (size_t i = 0; i < BUFFER_SLOTS; i++)
                if (buffer_kept[i].data && buffer_kept[i].capacity >= size &&
                    (best == BUFFER_SLOTS || buffer_kept[i].capacity < buffer_kept[best].capacity))
                        best = i;
        if (best < BUFFER_SLOTS) {
                *ret = buffer_kept[best];
                buffer_kept[best] = (Buffer) {};
                g_mutex_unlock(&buffer_lock);
                return 0;
        }
        g_mutex_unlock(&buffer_lock);

        capacity = (size + BUFFER_GRANULE - 1) & ~((size_t) BUFFER_GRANULE - 1);
        p = mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED)
                return -errno;
        *ret = (Buffer) { p, capacity };
        return 0;
}

/* Keep @b for the next value, in place of the smallest kept one if all
 * slots are taken; unmap whatever is not kept. */
static void buffer_give(Buffer b) {
        Buffer drop = b;

        if (b.capacity <= BUFFER_KEEP_MAX) {
                size_t smallest = 0;

                g_mutex_lock(&buffer_lock);
                for (size_t i = 0; i < BUFFER_SLOTS; i++) {
                        if (!buffer_kept[i].data) {
                                smallest = i;
                                break;
                        }
                        if (buffer_kept[i].capacity < buffer_kept[smallest].capacity)
                                smallest = i;
                }
                if (!buffer_kept[smallest].data || buffer_kept[smallest].capacity < b.capacity) {
                        drop = buffer_kept[smallest];
                        buffer_kept[smallest] = b;
                }
                g_mutex_unlock(&buffer_lock);
        }
        if (drop.data)
                (void)munmap(drop.data, drop.capacity);
}

static void buffer_give_bytes(gpointer data) {
        Buffer *b = data;

        buffer_give(*b);
        g_free(b);
}

static void mapping_unmap(gpointer data) {
        Buffer *b = data;

        (void)munmap(b->data, b->capacity);
        g_free(b);
}

/* ---- the spare memfd ---------------------------------------------------- */

/*
 * Allocating a memfd's pages costs more than filling them (for 1 MiB about
 * 70 of 120 µs). So after a large value went out, the sender allocates the
 * next memfd (value_large_refill(), called once the message is on its way,
 * while the peer reads it) and the next value of about that size only
 * copies. Only one waits, up to SPARE_MAX bytes. A thread of its own made
 * things slower on two shared cores; this costs the time the peer works.
 */
#define SPARE_MAX BUFFER_KEEP_MAX

static GMutex spare_lock;
static int spare_fd = -1;
static pid_t spare_pid;      /* a forked child must not write into its parent's */
static size_t spare_size, spare_wanted;

/*
 * Freeing a memfd's pages is paid by whoever closes it last: the receiver,
 * between reading a value and answering. So the sender keeps the last
 * memfd it sent (up to SPARE_MAX) and closes it after its next send, when
 * the receiver has long closed its own: the pages go then, off both paths.
 */
static int sent_fd = -1, sent_old_fd = -1;
static pid_t sent_pid;

static int spare_take(size_t size) {
        int fd = -1;

        g_mutex_lock(&spare_lock);
        if (spare_fd >= 0 && spare_pid != getpid()) {
                (void)close(spare_fd);
                spare_fd = -1;
        }
        /* Not one much larger: what is cut off was allocated for nothing. */
        if (spare_fd >= 0 && spare_size >= size && spare_size - size <= spare_size / 4) {
                fd = spare_fd;
                spare_fd = -1;
        }
        /* The next one likely as large: whole pages of it. */
        spare_wanted = size <= SPARE_MAX ? (size + 4095) & ~(size_t) 4095 : 0;
        g_mutex_unlock(&spare_lock);
        return fd;
}

/* Keep a descriptor of @fd, just sent (see sent_fd). */
static void sent_keep(int fd, size_t size) {
        int copy = size <= SPARE_MAX ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;

        g_mutex_lock(&spare_lock);
        if (sent_pid != getpid()) {
                /* A forked child's copies are its parent's business. */
                sent_fd = sent_old_fd = -1;
                sent_pid = getpid();
        }
        if (sent_old_fd >= 0)
                (void)close(sent_old_fd);
        sent_old_fd = sent_fd;
        sent_fd = copy;
        g_mutex_unlock(&spare_lock);
}

void value_large_refill(void) {
        size_t size;
        int fd, old;

        /* Cheap when nothing large was sent: one unlocked look. */
        if (!__atomic_load_n(&spare_wanted, __ATOMIC_RELAXED))
                return;
        g_mutex_lock(&spare_lock);
        size = spare_fd < 0 ? spare_wanted : 0;
        spare_wanted = 0;
        old = sent_pid == getpid() ? sent_old_fd : -1;
        sent_old_fd = -1;
        g_mutex_unlock(&spare_lock);
        if (old >= 0)
                (void)close(old);
        if (size == 0)
                return;

        fd = memfd_create("ipcbus-value", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return;
        if (fallocate(fd, 0, 0, (off_t) size) < 0) {
                (void)close(fd);
                return;
        }
        g_mutex_lock(&spare_lock);
        if (spare_fd < 0) {
                spare_fd = TAKE_FD(fd);
                spare_size = size;
                spare_pid = getpid();
        }
        g_mutex_unlock(&spare_lock);
        if (fd >= 0)
                (void)close(fd);
}

/* ---- sending ------------------------------------------------------------ */

void value_large_peer_reset(ValueLargePeer *peer) {
        value_ring_free(peer->ring);
        *peer = (ValueLargePeer) {};
}

bool value_large_wanted(GVariant *value) {
        return value && g_variant_get_size(value) >= IPCBUS_VALUE_LARGE_MIN;
}

/* writev() until all is written; @iov is used up on the way. */
static int writev_all(int fd, struct iovec *iov, size_t n) {
        while (n > 0) {
                ssize_t k = writev(fd, iov, (int) MIN(n, (size_t) LIST_IOV_MAX));

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                while (n > 0 && (size_t) k >= iov->iov_len) {
                        k -= (ssize_t) iov->iov_len;
                        iov++;
                        n--;
                }
                if (n > 0) {
                        iov->iov_base = (uint8_t *) iov->iov_base + k;
                        iov->iov_len -= (size_t) k;
                }
        }
        return 0;
}

static int write_all(int fd, const void *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, MIN(n, (size_t) 0x7ffff000));

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p = (const uint8_t *) p + k;
                n -= (size_t) k;
        }
        return 0;
}

/*
 * An argument list of basic values (the usual large one: a long string, a
 * byte array) is written without serializing it first: each value's bytes
 * are already in GVariant's form (GLib keeps basic values serialized), so
 * they go out as they are, between the variant's framing (its NUL and type,
 * the padding to the next element) and the list's offsets: the pieces.
 */
typedef struct Pieces {
        GVariant **values;
        size_t n_values;
        struct iovec *iov;
        size_t n_iov;
        uint8_t *framing; /* per value its NUL and type; then the offsets */
} Pieces;

static void pieces_clear(Pieces *p) {
        for (size_t i = 0; i < p->n_values; i++)
                if (p->values[i])
                        g_variant_unref(p->values[i]);
        g_free(p->values);
        g_free(p->iov);
        g_free(p->framing);
        *p = (Pieces) {};
}

/* Return: 1 @p holds @args in pieces; 0 not such a list (or too many
 * values for one writev()). */
static int pieces_of_basic_list(GVariant *args, size_t size, Pieces *p) {
        static const uint8_t zeros[8];
        size_t n = g_variant_n_children(args), body = 0, width, total;
        size_t *ends;
        uint8_t *offsets;

        *p = (Pieces) {};
        if (n == 0 || 3 * n + 1 > LIST_IOV_MAX)
                return 0;
        p->values = g_new0(GVariant *, n);
        p->n_values = n;
        for (size_t i = 0; i < n; i++) {
                GVariant *boxed = g_variant_get_child_value(args, i);

                p->values[i] = g_variant_get_variant(boxed);
                g_variant_unref(boxed);
                if (!value_type_is_fast(g_variant_get_type_string(p->values[i])[0])) {
                        pieces_clear(p);
                        return 0;
                }
        }

        /* Per element: its padding, its bytes, a NUL and its one-character
         * type; then each element's end, little-endian, 1 to 8 bytes wide. */
        p->iov = g_new(struct iovec, 3 * n + 1);
        p->framing = g_malloc(2 * n + 8 * n);
        ends = g_newa(size_t, n);
        for (size_t i = 0; i < n; i++) {
                size_t start = (body + 7) & ~(size_t) 7, len = g_variant_get_size(p->values[i]);
                uint8_t *tail = p->framing + 2 * i;

                if (start > body)
                        p->iov[p->n_iov++] = (struct iovec) { (void *) zeros, start - body };
                p->iov[p->n_iov++] = (struct iovec) { (void *) g_variant_get_data(p->values[i]), len };
                tail[0] = '\0';
                tail[1] = (uint8_t) g_variant_get_type_string(p->values[i])[0];
                p->iov[p->n_iov++] = (struct iovec) { tail, 2 };
                body = start + len + 2;
                ends[i] = body;
        }
        width = body + n <= G_MAXUINT8 ? 1 : body + 2 * n <= G_MAXUINT16 ? 2 : body + 4 * n <= G_MAXUINT32 ? 4 : 8;
        total = body + width * n;
        if (total != size) {
                pieces_clear(p); /* not the layout we know: let GLib serialize it */
                return 0;
        }
        offsets = p->framing + 2 * n;
        for (size_t i = 0; i < n; i++)
                for (size_t b = 0; b < width; b++)
                        offsets[i * width + b] = (uint8_t) (ends[i] >> (8 * b));
        p->iov[p->n_iov++] = (struct iovec) { offsets, width * n };
        return 1;
}

static void pieces_copy(const Pieces *p, uint8_t *dst) {
        for (size_t i = 0; i < p->n_iov; i++) {
                memcpy(dst, p->iov[i].iov_base, p->iov[i].iov_len);
                dst += p->iov[i].iov_len;
        }
}

/* Return: 1 written; 0 not such a list; -errno. */
static int write_basic_list(int fd, GVariant *args, size_t size) {
        Pieces p;
        int r;

        if (pieces_of_basic_list(args, size, &p) == 0)
                return 0;
        r = writev_all(fd, p.iov, p.n_iov);
        pieces_clear(&p);
        return r < 0 ? r : 1;
}

/*
 * A sealed memfd holding @value's serialized form, or with @boxed that of a
 * variant holding it: GVariant lays a variant out as its contents, a NUL
 * and the contents' type, so the box costs no copy of the value. @value is
 * in normal form (append_large()), @total its size with the box.
 */
static int memfd_from_variant(GVariant *value, bool boxed, size_t total, int *ret_fd) {
        _cleanup_(closep) int fd = -1;
        const char *type = g_variant_get_type_string(value);
        size_t size = g_variant_get_size(value);
        Buffer b;
        int r;

        fd = spare_take(total);
        if (fd < 0)
                fd = memfd_create("ipcbus-value", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        r = boxed ? 0 : write_basic_list(fd, value, size);
        if (r != 0)
                ;
        else if (size <= BUFFER_KEEP_MAX) {
                /* g_variant_get_data() would serialize a tree into a new
                 * heap block: fresh pages, each a fault. A kept buffer has
                 * none, and a new one is filled by the kernel. */
                r = buffer_take(size, &b);
                if (r < 0)
                        return r;
                g_variant_store(value, b.data);
                r = write_all(fd, b.data, size);
                buffer_give(b);
        } else
                /* No second copy of a value this large: a value read from
                 * a peer (mapped) or serialized before is written as it is,
                 * and a tree is serialized once, into the variant itself. */
                r = write_all(fd, g_variant_get_data(value), size);
        if (r >= 0 && boxed) {
                r = write_all(fd, "", 1);
                if (r >= 0)
                        r = write_all(fd, type, strlen(type));
        }
        if (r < 0)
                return r;
        /* A spare is as large as it was allocated. */
        if (ftruncate(fd, (off_t) total) < 0)
                return -errno;
        if (fcntl(fd, F_ADD_SEALS, SEALS_REQUIRED | F_SEAL_SEAL) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The same form written into the ring shared with @peer. Return: 1 sent;
 * 0 no room there now; -errno. */
/* A value on its way out of band: in normal form (what GLib serializes
 * always is, and so is what a peer sent once value_large_open() passed it),
 * its size with the box, and its region in the peer's ring if it has one. */
typedef struct Outgoing {
        GVariant *value; /* a reference */
        bool boxed;      /* a result: its "v", so the value brings its type */
        size_t total;
        uint8_t *ring_data; /* NULL: a memfd */
        uint64_t ring_offset;
        int ring_fd;
        bool ring_ref;      /* the peer keeps the ring: named, no descriptor */
        uint64_t ring_dev, ring_ino;
} Outgoing;

/* Done with @o; its region of the ring given back unsent if @r failed. */
static void outgoing_done(Outgoing *o, int r) {
        if (r < 0 && o->ring_data)
                value_ring_release(o->ring_data);
        g_clear_pointer(&o->value, g_variant_unref);
}

/* Return: 1 out of band; 0 inline after all (a value under
 * IPCBUS_VALUE_LARGE_MIN that found no room in the ring, unless @forced:
 * one that must not go inline); -errno. */
static int outgoing_prepare(ValueLargePeer *peer, GVariant *value, bool boxed, bool forced, Outgoing *ret) {
        int r;

        *ret = (Outgoing) { .boxed = boxed, .ring_fd = -1 };
        /* Trusted values (all GLib builds, all we read) answer at once. */
        ret->value = g_variant_is_normal_form(value) ? g_variant_ref(value) : g_variant_get_normal_form(value);
        ret->total = g_variant_get_size(ret->value) + (boxed ? 1 + strlen(g_variant_get_type_string(ret->value)) : 0);
        if (ret->total == 0 || ret->total > IPCBUS_VALUE_LARGE_MAX) {
                outgoing_done(ret, 0);
                return -EMSGSIZE;
        }
        if (peer->takes_ring && value_ring_fits(ret->total)) {
                r = value_ring_reserve(&peer->ring, ret->total, &ret->ring_data, &ret->ring_offset, &ret->ring_fd);
                if (r < 0) {
                        outgoing_done(ret, 0);
                        return r;
                }
                /* The ring reserve() left in peer->ring, which may be new. */
                if (ret->ring_data && peer->takes_ring_ref && value_ring_kept(peer->ring)) {
                        ret->ring_ref = true;
                        value_ring_id(peer->ring, &ret->ring_dev, &ret->ring_ino);
                }
        }
        if (!ret->ring_data && ret->total < IPCBUS_VALUE_LARGE_MIN && !forced) {
                /* Below this a memfd costs more than the bus. */
                outgoing_done(ret, 0);
                return 0;
        }
        return 1;
}

static void ring_write(const Outgoing *o) {
        const char *type = g_variant_get_type_string(o->value);
        size_t size = g_variant_get_size(o->value);
        Pieces p;

        if (!o->boxed && pieces_of_basic_list(o->value, size, &p) > 0) {
                pieces_copy(&p, o->ring_data);
                pieces_clear(&p);
        } else
                g_variant_store(o->value, o->ring_data);
        if (o->boxed) {
                o->ring_data[size] = '\0';
                memcpy(o->ring_data + size + 1, type, strlen(type));
        }
}

/*
 * The form's variant, @type ("(tttt)", "(htt)" or "(ht)", whose fields are
 * @fields): the descriptor @fd first where there is one (@fd >= 0), then
 * the @n numbers. Container by container: sd_bus_message_append() would
 * parse its format string and the variant's type for each value, about
 * 1,000 of the 5,400 instructions it took here.
 */
static int append_form(sd_bus_message *m, const char *type, const char *fields, int fd, const uint64_t *t,
                       size_t n) {
        int r;

        r = sd_bus_message_open_container(m, 'v', type);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', fields);
        if (r >= 0 && fd >= 0)
                r = sd_bus_message_append_basic(m, 'h', &fd);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append_basic(m, 't', &t[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* The form in place of the value: "(tttt)" or "(htt)" into the ring, else "(ht)". */
static int outgoing_append(sd_bus_message *m, Outgoing *o) {
        _cleanup_(closep) int fd = -1;
        int r;

        if (o->ring_data && o->ring_ref) {
                ring_write(o);
                r = append_form(m, VALUE_RING_REF_TYPE, "tttt", -1,
                                (const uint64_t[]) { o->ring_dev, o->ring_ino, o->ring_offset, o->total }, 4);
                if (r < 0)
                        return r;
                atomic_fetch_add(&counted_ref_sent, 1);
        } else if (o->ring_data) {
                ring_write(o);
                /* sd-bus sends a duplicate of the descriptor; the ring keeps its own. */
                r = append_form(m, VALUE_RING_TYPE, "htt", o->ring_fd,
                                (const uint64_t[]) { o->ring_offset, o->total }, 2);
                if (r < 0)
                        return r;
        } else {
                r = memfd_from_variant(o->value, o->boxed, o->total, &fd);
                if (r < 0)
                        return r;
                /* sd-bus keeps a duplicate of @fd; ours closes here. */
                r = append_form(m, VALUE_LARGE_TYPE, "ht", fd, (const uint64_t[]) { o->total }, 1);
                if (r < 0)
                        return r;
                sent_keep(fd, o->total);
        }
        atomic_fetch_add(&counted_sent, 1);
        return 0;
}

static int large_fail(sd_bus_error *error, int r, const char *what) {
        if (error && !sd_bus_error_is_set(error))
                sd_bus_error_setf(error, IPCBUS_ERROR_INVALID_ARGS, "%s cannot go out of band: %s", what,
                                  g_strerror(-r));
        return r;
}

/*
 * @value (@boxed: a result, its "v"; else an argument list, "av") out of
 * band to @peer, checked as inline. Return: 1 sent out of band; 0 to go
 * inline; -errno with @error set.
 */
static int append_large(sd_bus_message *m, ValueLargePeer *peer, GVariant *value, bool boxed, bool forced,
                        sd_bus_error *error) {
        const char *what = boxed ? "the value" : "the arguments";
        Outgoing o;
        int r;

        assert(m);
        assert(value);

        r = boxed ? value_check_limit(value, IPCBUS_VALUE_LARGE_MAX, error)
                  : value_check_args_limit(value, IPCBUS_VALUE_LARGE_MAX, error);
        if (r < 0)
                return r;
        r = outgoing_prepare(peer, value, boxed, forced, &o);
        if (r <= 0)
                return r < 0 ? large_fail(error, r, what) : 0;
        /* Arguments: the form is the list's one element. */
        r = boxed ? 0 : sd_bus_message_open_container(m, 'a', "v");
        if (r >= 0)
                r = outgoing_append(m, &o);
        if (r >= 0 && !boxed)
                r = sd_bus_message_close_container(m);
        outgoing_done(&o, r);
        return r < 0 ? large_fail(error, r, what) : 1;
}

/* Whether @value is large enough to go out of band to @peer at all. */
static bool large_for(ValueLargePeer *peer, GVariant *value) {
        return peer && peer->takes && value &&
               g_variant_get_size(value) >= (peer->takes_ring ? IPCBUS_VALUE_RING_MIN : IPCBUS_VALUE_LARGE_MIN);
}

/*
 * @value out of band where it is large enough and fits, else inline; and
 * out of band whatever its size where inline it would read as the
 * by-reference form to @peer: a result of that type, or a list whose first
 * argument is one (a receiver reads that as the form, and refuses what
 * follows it). The list's first argument is looked at as it is appended,
 * at no cost of its own (value_append_args_unless()).
 */
static int append_any(sd_bus_message *m, GVariant *value, bool boxed, ValueLargePeer *peer, sd_bus_error *error) {
        bool names = peer && peer->takes_ring_ref;
        bool forced = names && boxed && value && g_variant_is_of_type(value, G_VARIANT_TYPE(VALUE_RING_REF_TYPE));
        int r;

        if (forced || large_for(peer, value)) {
                r = append_large(m, peer, value, boxed, forced, error);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        if (boxed)
                return value_append_variant(m, value, error);
        r = value_append_args_unless(m, value, names ? VALUE_RING_REF_TYPE : NULL, error);
        if (r != -EXDEV)
                return r;
        r = append_large(m, peer, value, false, true, error);
        return r < 0 ? r : 0;
}

int value_append_args_any(sd_bus_message *m, GVariant *args, ValueLargePeer *peer, sd_bus_error *error) {
        return append_any(m, args, false, peer, error);
}

int value_append_variant_any(sd_bus_message *m, GVariant *value, ValueLargePeer *peer, sd_bus_error *error) {
        return append_any(m, value, true, peer, error);
}

/* ---- receiving ---------------------------------------------------------- */

static int open_fail(sd_bus_error *error, const char *format, ...) G_GNUC_PRINTF(2, 3);
static int open_fail(sd_bus_error *error, const char *format, ...) {
        va_list ap;
        char *text;

        if (error && !sd_bus_error_is_set(error)) {
                va_start(ap, format);
                text = g_strdup_vprintf(format, ap);
                va_end(ap);
                sd_bus_error_setf(error, IPCBUS_ERROR_INVALID_ARGS, "out-of-band value: %s", text);
                g_free(text);
        }
        return -EBADMSG;
}

static int read_all(int fd, void *p, size_t n) {
        off_t at = 0;

        while (n > 0) {
                ssize_t k = pread(fd, p, MIN(n, (size_t) 0x7ffff000), at);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO; /* cannot happen: the size is sealed */
                p = (uint8_t *) p + k;
                n -= (size_t) k;
                at += k;
        }
        return 0;
}

/* The bytes of a value in a memfd of its own. */
static int open_memfd(const ValueLarge *large, sd_bus_error *error, GBytes **ret) {
        struct stat st;
        Buffer *b;
        int seals, r;

        /* Nothing is mapped or read before the descriptor is known to be a
         * sealed memfd of exactly the announced size with no holes: then
         * it can neither change nor fault under us, nor make us allocate. */
        seals = fcntl(large->fd, F_GET_SEALS);
        if (seals < 0)
                return open_fail(error, "the descriptor is not a memfd that takes seals (%s)", g_strerror(errno));
        if ((seals & SEALS_REQUIRED) != SEALS_REQUIRED)
                return open_fail(error, "the memfd is not sealed against writing, growing and shrinking "
                                        "(F_SEAL_WRITE, F_SEAL_GROW, F_SEAL_SHRINK)");
        if (fstat(large->fd, &st) < 0)
                return open_fail(error, "cannot stat the memfd: %s", g_strerror(errno));
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size != large->size)
                return open_fail(error, "the memfd holds %" PRIu64 " bytes, %" PRIu64 " were announced",
                                 (uint64_t) st.st_size, large->size);
        if ((uint64_t) st.st_blocks * 512U < large->size)
                return open_fail(error, "the memfd has holes (%" PRIu64 " of %" PRIu64 " bytes allocated)",
                                 (uint64_t) st.st_blocks * 512U, large->size);

        b = g_new(Buffer, 1);
        if (large->size <= BUFFER_KEEP_MAX) {
                r = buffer_take(large->size, b);
                if (r >= 0) {
                        r = read_all(large->fd, b->data, large->size);
                        if (r < 0)
                                buffer_give(*b);
                }
                if (r < 0) {
                        g_free(b);
                        return open_fail(error, "cannot read the memfd: %s", g_strerror(-r));
                }
                *ret = g_bytes_new_with_free_func(b->data, large->size, buffer_give_bytes, b);
        } else {
                /* Sealed: the pages cannot change or go, and mapping them
                 * shares the sender's memory instead of copying it. */
                void *p = mmap(NULL, large->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, large->fd, 0);

                if (p == MAP_FAILED) {
                        g_free(b);
                        return open_fail(error, "cannot map the memfd: %s", g_strerror(errno));
                }
                *b = (Buffer) { p, large->size };
                *ret = g_bytes_new_with_free_func(p, large->size, mapping_unmap, b);
        }
        return 0;
}

/* The bytes of a value in the ring its sender shares with us: copied out
 * first, so that nothing the sender writes later changes what we check. */
static int open_ring(const ValueLarge *large, sd_bus_error *error, GBytes **ret) {
        const ValueRingSender from = { large->bus, large->sender, large->names_rings };
        const char *problem = NULL;
        Buffer *b;
        int r;

        if (large->size > VALUE_RING_MAP_MAX)
                return open_fail(error, "%" PRIu64 " bytes announced in a ring; a ring holds at most %u",
                                 large->size, VALUE_RING_MAP_MAX);
        b = g_new(Buffer, 1);
        r = buffer_take(large->size, b);
        if (r < 0) {
                g_free(b);
                return open_fail(error, "no buffer for the value: %s", g_strerror(-r));
        }
        if (large->ref)
                r = value_ring_copy_out_ref(&(ValueRingRef) { large->dev, large->ino, large->offset, large->size },
                                            b->data, &from, &problem);
        else
                r = value_ring_copy_out(large->fd, large->offset, large->size, b->data, &from, &problem);
        if (r < 0) {
                buffer_give(*b);
                g_free(b);
                return open_fail(error, "%s", problem);
        }
        *ret = g_bytes_new_with_free_func(b->data, large->size, buffer_give_bytes, b);
        return 0;
}

int value_large_open(const ValueLarge *large, const char *type, sd_bus_error *error, GVariant **ret) {
        _cleanup_(g_variant_unrefp) GVariant *v = NULL;
        const char *problem = NULL;
        GBytes *bytes = NULL;
        int r;

        assert(large);
        assert(streq(type, "av") || streq(type, "v"));
        assert(ret);

        if (large->size == 0 || large->size > IPCBUS_VALUE_LARGE_MAX)
                return open_fail(error, "%" PRIu64 " bytes announced; the limit is 1 to %u", large->size,
                                 IPCBUS_VALUE_LARGE_MAX);
        r = large->ring ? open_ring(large, error, &bytes) : open_memfd(large, error, &bytes);
        if (r < 0)
                return r;

        r = value_normal_check(type, g_bytes_get_data(bytes, NULL), large->size, &problem);
        if (r < 0) {
                g_bytes_unref(bytes);
                return open_fail(error, "not a value of type '%s' in GVariant's normal form: %s", type, problem);
        }
        /* Checked as GLib would, and more: trusted, so GLib does not check
         * its strings again. */
        v = g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE(type), bytes, TRUE));
        g_bytes_unref(bytes);
        atomic_fetch_add(&counted_received, 1);
        if (large->ref)
                atomic_fetch_add(&counted_ref_received, 1);

        if (streq(type, "v"))
                *ret = g_variant_get_variant(v);
        else
                *ret = TAKE_PTR(v);
        return 0;
}
