/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Large values through a ring shared with one peer (value-ring.h).
 *
 * Why a ring and not a memfd per value: measured here for 1 MiB, a fresh
 * memfd costs the kernel four passes over 256 pages (allocate them, write,
 * read, free them), each page taking the LRU and page-cache locks that are
 * dear on these virtual machines: about 300 µs a hop of a 1 MiB round trip
 * of 1.1 ms. A ring stays allocated and mapped in both processes: a hop is
 * then one memcpy() into it and one out of it (about 20 µs each for 1 MiB).
 *
 * The sender side is a ValueRing per peer (the web contents, the renderer's
 * main): regions are handed out in order and taken back in order, each
 * once its mark is zero (the receiver has copied it out). Values a peer
 * reads out of order (a reply read while earlier signals wait in sd-bus's
 * queue) are thus taken back late, never early. A peer that never reads a
 * value (it dropped the message unread) while it reads later ones would
 * hold the ring: after RING_STALLS_MAX sends that found no room behind the
 * same region, the ring is left to the messages still holding it and a new
 * one made. A peer that reads nothing keeps its one ring.
 *
 * The receiver side maps each ring it is sent once and keeps the mapping
 * for the next values, while its sender is there (bounded: see below).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "util.h"
#include "value-ring.h"

#define RING_SIZE_MIN (256U * 1024U)
#define RING_ALIGN 64U            /* regions start on a cache line */
#define RING_MARK 8U              /* the mark: the 8 bytes before a value */
#define RING_REGIONS_MAX 64U      /* regions in flight at once */
#define RING_STALLS_MAX 16U
#define RING_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)
/* Bytes 0 to 7: the keep word, which a receiver that keeps the ring sets
 * to RING_KEPT. No region's mark or value reaches down there (the first
 * mark is at RING_ALIGN - RING_MARK). */
#define RING_KEEP_WORD 0U
#define RING_KEPT UINT64_C(1)
/* The lowest offset a value named by a sender that names rings may have:
 * its mark then lies past the keep word. */
#define RING_REF_OFFSET_MIN (RING_KEEP_WORD + 2U * RING_MARK)

_Static_assert(RING_ALIGN - RING_MARK >= RING_KEEP_WORD + 8U, "the first mark overlaps the keep word");

/* ---- the sender's ring ---------------------------------------------- */

typedef struct Region {
        size_t start, end; /* [start, end): the mark at start + RING_ALIGN - RING_MARK */
} Region;

struct ValueRing {
        int fd;
        uint8_t *map;
        size_t size;
        uint64_t dev, ino;                 /* its file, which names it by reference */
        size_t head;                       /* where the next region may start */
        Region regions[RING_REGIONS_MAX];  /* in flight, oldest first, circular */
        unsigned first, n;
        unsigned stalls;
        size_t stall_start;                /* the oldest region when stalls began */
};

void value_ring_free(ValueRing *ring) {
        if (!ring)
                return;
        if (ring->map)
                (void)munmap(ring->map, ring->size);
        if (ring->fd >= 0)
                (void)close(ring->fd);
        g_free(ring);
}

int value_ring_fd(const ValueRing *ring) {
        return ring->fd;
}

void value_ring_id(const ValueRing *ring, uint64_t *ret_dev, uint64_t *ret_ino) {
        *ret_dev = ring->dev;
        *ret_ino = ring->ino;
}

bool value_ring_kept(const ValueRing *ring) {
        return __atomic_load_n((const uint64_t *) (ring->map + RING_KEEP_WORD), __ATOMIC_ACQUIRE) == RING_KEPT;
}

static uint64_t *region_mark(ValueRing *ring, size_t start) {
        return (uint64_t *) (ring->map + start + RING_ALIGN - RING_MARK);
}

static int ring_new(size_t size, ValueRing **ret) {
        _cleanup_(closep) int fd = -1;
        ValueRing *ring;
        struct stat st;
        void *p;

        fd = memfd_create("ipcbus-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        /* Allocated now, all of it: a receiver refuses holes, and the pages
         * are the point of keeping a ring. */
        if (ftruncate(fd, (off_t) size) < 0 || fallocate(fd, 0, 0, (off_t) size) < 0)
                return -errno;
        if (fcntl(fd, F_ADD_SEALS, RING_SEALS | F_SEAL_SEAL) < 0 || fstat(fd, &st) < 0)
                return -errno;
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        ring = g_new0(ValueRing, 1);
        ring->fd = TAKE_FD(fd);
        ring->map = p;
        ring->size = size;
        ring->dev = (uint64_t) st.st_dev;
        ring->ino = (uint64_t) st.st_ino;
        *ret = ring;
        return 0;
}

/* Take back, oldest first, the regions the peer has read. */
static void ring_reclaim(ValueRing *ring) {
        while (ring->n > 0) {
                Region *r = &ring->regions[ring->first];

                if (__atomic_load_n(region_mark(ring, r->start), __ATOMIC_ACQUIRE) != 0)
                        break;
                ring->first = (ring->first + 1) % RING_REGIONS_MAX;
                ring->n--;
        }
        if (ring->n == 0)
                ring->head = 0;
}

/* Whether the peer read a region after the oldest one it has not. */
static bool ring_read_past_oldest(ValueRing *ring) {
        for (unsigned i = 1; i < ring->n; i++) {
                Region *r = &ring->regions[(ring->first + i) % RING_REGIONS_MAX];

                if (__atomic_load_n(region_mark(ring, r->start), __ATOMIC_ACQUIRE) == 0)
                        return true;
        }
        return false;
}

/* Where @need bytes fit in order behind the regions in flight, or -1. */
static ssize_t ring_place(ValueRing *ring, size_t need) {
        size_t tail;

        if (ring->n == RING_REGIONS_MAX)
                return -1;
        if (ring->n == 0)
                return need <= ring->size ? 0 : -1;
        tail = ring->regions[ring->first].start;
        if (ring->head > tail) {
                /* In use: [tail, head). Room after head, else from 0. */
                if (need <= ring->size - ring->head)
                        return (ssize_t) ring->head;
                return need <= tail ? 0 : -1;
        }
        /* Wrapped (head < tail) or full (head == tail). */
        return ring->head < tail && need <= tail - ring->head ? (ssize_t) ring->head : -1;
}

static size_t ring_size_for(size_t need) {
        size_t size = RING_SIZE_MIN;

        while (size < 4 * need && size < VALUE_RING_SIZE_MAX)
                size *= 2;
        return size;
}

int value_ring_reserve(ValueRing **ringp, size_t size, uint8_t **ret_data, uint64_t *ret_offset, int *ret_fd) {
        size_t need = (RING_ALIGN + size + RING_ALIGN - 1) & ~(size_t) (RING_ALIGN - 1);
        ValueRing *ring = *ringp;
        ssize_t at;
        int r;

        assert(value_ring_fits(size));

        if (ring) {
                ring_reclaim(ring);
                /* Too small for values this large: a larger one. */
                if (ring->size < ring_size_for(need)) {
                        value_ring_free(ring);
                        ring = *ringp = NULL;
                }
        }
        if (!ring) {
                r = ring_new(ring_size_for(need), &ring);
                if (r < 0)
                        return r;
                *ringp = ring;
        }

        at = ring_place(ring, need);
        if (at < 0) {
                /* The same oldest region unread through all these sends
                 * while the peer read later ones: its message is gone
                 * unread. A new ring; the messages in flight keep the old
                 * one alive as long as they need it. A peer that reads
                 * nothing at all is slow, not skipping: it keeps its ring
                 * (no more memory for it) and values go the other ways. */
                if (ring->stalls == 0 || ring->stall_start != ring->regions[ring->first].start) {
                        ring->stalls = 0;
                        ring->stall_start = ring->regions[ring->first].start;
                }
                if (++ring->stalls >= RING_STALLS_MAX && ring_read_past_oldest(ring)) {
                        value_ring_free(ring);
                        *ringp = NULL;
                }
                return 0;
        }
        ring->stalls = 0;
        ring->regions[(ring->first + ring->n) % RING_REGIONS_MAX] = (Region) { (size_t) at, (size_t) at + need };
        ring->n++;
        ring->head = (size_t) at + need;
        /* Set before the message goes: the socket orders it before the
         * peer's read of it. */
        *region_mark(ring, (size_t) at) = 1;

        *ret_data = ring->map + at + RING_ALIGN;
        *ret_offset = (uint64_t) at + RING_ALIGN;
        *ret_fd = ring->fd;
        return 1;
}

void value_ring_release(uint8_t *data) {
        /* As the peer would: it is taken back in its turn. */
        __atomic_store_n((uint64_t *) (data - RING_MARK), 0, __ATOMIC_RELEASE);
}

/* ---- the receiver's mappings ------------------------------------------- */

/*
 * Every peer's ring stays mapped while the peer sends through it: a main
 * with many renderers sending large values would otherwise map and unmap
 * in turn (populating up to 2048 page-table entries and shooting down the
 * TLB each time). Bounded twice, the least recently used going first: per
 * sender (its current ring and the few it left behind with messages in
 * flight; a hostile one making ring after ring evicts only its own), and
 * in all (bytes mapped). An evicted ring still in use is mapped again from
 * the next message that names it: slower, never wrong.
 *
 * A sender that names rings by reference (ValueRingSender.names_rings)
 * sends no descriptor to map again from, so its rings are kept instead:
 * never evicted while it is connected, which is what the keep word
 * promises it. Bounded too, when a ring is first seen (a ring that is not
 * kept is only ever named with its descriptor): a few per sender, as many
 * bytes as a sender that grew its ring to the largest leaves behind, and
 * half the budget in all.
 */
#define RING_MAPS_PER_SENDER 4U
#define RING_MAPS_BYTES_MAX (256U * 1024U * 1024U)
#define RING_KEPT_PER_SENDER 4U
#define RING_KEPT_BYTES_PER_SENDER (3U * VALUE_RING_SIZE_MAX)

size_t value_ring_maps_budget = RING_MAPS_BYTES_MAX;

typedef struct RingMap {
        dev_t dev;
        ino_t ino;
        uint8_t *map;
        size_t size;
        uint64_t used;     /* when last used, for replacing the least recent */
        const void *bus;   /* who sent it first: gone with that peer */
        char *sender;
        bool kept;         /* never evicted: its sender may name it without a descriptor */
} RingMap;

static GMutex maps_lock;
static GHashTable *maps;   /* RingMap, keyed by its file (dev, ino) */
static size_t maps_bytes;
static uint64_t maps_clock;
static size_t kept_n, kept_bytes;

static guint map_hash(gconstpointer p) {
        const RingMap *m = p;
        uint64_t k = (uint64_t) m->ino * UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t) m->dev;

        return (guint) (k ^ (k >> 32));
}

static gboolean map_equal(gconstpointer a, gconstpointer b) {
        const RingMap *x = a, *y = b;

        return x->dev == y->dev && x->ino == y->ino;
}

static void map_free(gpointer p) {
        RingMap *m = p;

        (void)munmap(m->map, m->size);
        maps_bytes -= m->size;
        if (m->kept) {
                kept_n--;
                kept_bytes -= m->size;
        }
        g_free(m->sender);
        g_free(m);
}

static bool map_from(const RingMap *m, const void *bus, const char *sender) {
        return m->bus == bus && g_strcmp0(m->sender, sender) == 0;
}

void value_ring_forget(const void *bus, const char *sender, bool all_of_bus) {
        GHashTableIter i;
        gpointer p;

        g_mutex_lock(&maps_lock);
        if (maps) {
                g_hash_table_iter_init(&i, maps);
                while (g_hash_table_iter_next(&i, &p, NULL)) {
                        RingMap *m = p;

                        if (all_of_bus ? m->bus == bus : map_from(m, bus, sender))
                                g_hash_table_iter_remove(&i);
                }
        }
        g_mutex_unlock(&maps_lock);
}

void value_ring_maps_count(size_t *ret_n, size_t *ret_bytes) {
        g_mutex_lock(&maps_lock);
        *ret_n = maps ? g_hash_table_size(maps) : 0;
        *ret_bytes = maps_bytes;
        g_mutex_unlock(&maps_lock);
}

void value_ring_kept_count(size_t *ret_n, size_t *ret_bytes) {
        g_mutex_lock(&maps_lock);
        *ret_n = kept_n;
        *ret_bytes = kept_bytes;
        g_mutex_unlock(&maps_lock);
}

/* Room for a mapping of @size bytes of @from's: the least recently used of
 * its own rings past RING_MAPS_PER_SENDER, then of all past the budget.
 * Kept rings are neither counted nor evicted. */
static void maps_make_room_locked(size_t size, const void *bus, const char *sender) {
        for (;;) {
                RingMap *oldest = NULL, *oldest_own = NULL;
                unsigned own = 0;
                GHashTableIter i;
                gpointer p;

                g_hash_table_iter_init(&i, maps);
                while (g_hash_table_iter_next(&i, &p, NULL)) {
                        RingMap *m = p;

                        if (m->kept)
                                continue;
                        if (!oldest || m->used < oldest->used)
                                oldest = m;
                        if (map_from(m, bus, sender)) {
                                own++;
                                if (!oldest_own || m->used < oldest_own->used)
                                        oldest_own = m;
                        }
                }
                if (own >= RING_MAPS_PER_SENDER)
                        g_hash_table_remove(maps, oldest_own);
                else if (oldest && maps_bytes + size > value_ring_maps_budget)
                        g_hash_table_remove(maps, oldest);
                else
                        return;
        }
}

/* Keep @m, a ring of @from's seen for the first time, if the bounds allow,
 * and tell its sender in the keep word. Locked. */
static void maps_keep_locked(RingMap *m, const void *bus, const char *sender) {
        size_t own = 0, own_bytes = 0;
        GHashTableIter i;
        gpointer p;

        if (kept_bytes + m->size > value_ring_maps_budget / 2)
                return;
        g_hash_table_iter_init(&i, maps);
        while (g_hash_table_iter_next(&i, &p, NULL)) {
                RingMap *k = p;

                if (k->kept && map_from(k, bus, sender)) {
                        own++;
                        own_bytes += k->size;
                }
        }
        if (own >= RING_KEPT_PER_SENDER || own_bytes + m->size > RING_KEPT_BYTES_PER_SENDER)
                return;
        m->kept = true;
        kept_n++;
        kept_bytes += m->size;
        /* After the mapping exists: what the sender reads here is a promise. */
        __atomic_store_n((uint64_t *) (m->map + RING_KEEP_WORD), RING_KEPT, __ATOMIC_RELEASE);
}

/* A mapping of the ring @fd, made (after its checks) or found. Locked. */
static int maps_get_locked(int fd, const ValueRingSender *from, RingMap **ret, const char **ret_problem) {
        const void *bus = from ? from->bus : NULL;
        const char *sender = from ? from->name : NULL;
        RingMap key, *m;
        struct stat st;
        int seals;
        void *p;

        if (fstat(fd, &st) < 0) {
                *ret_problem = "the ring cannot be looked at (fstat failed)";
                return -EBADMSG;
        }
        if (!maps)
                maps = g_hash_table_new_full(map_hash, map_equal, map_free, NULL);
        key = (RingMap) { .dev = st.st_dev, .ino = st.st_ino };
        m = g_hash_table_lookup(maps, &key);
        if (m) {
                m->used = ++maps_clock;
                *ret = m;
                return 0;
        }

        /* First sight: nothing is mapped before the ring is known to keep
         * its size (no SIGBUS beyond an end that moved) and to have no
         * holes (no allocation on our account, no fault past memory). */
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0) {
                *ret_problem = "the ring is not a memfd that takes seals";
                return -EBADMSG;
        }
        if ((seals & RING_SEALS) != RING_SEALS) {
                *ret_problem = "the ring is not sealed against growing and shrinking (F_SEAL_GROW, F_SEAL_SHRINK)";
                return -EBADMSG;
        }
        if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t) st.st_size > VALUE_RING_MAP_MAX ||
            st.st_size % 4096 != 0) {
                *ret_problem = "the ring's size is not whole pages of at most 16 MiB";
                return -EBADMSG;
        }
        if ((uint64_t) st.st_blocks * 512U < (uint64_t) st.st_size) {
                *ret_problem = "the ring has holes";
                return -EBADMSG;
        }
        maps_make_room_locked((size_t) st.st_size, bus, sender);
        p = mmap(NULL, (size_t) st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
        if (p == MAP_FAILED) {
                *ret_problem = errno == ENOMEM ? "no memory to map the ring"
                                               : "the ring cannot be mapped for reading and writing";
                return errno == ENOMEM ? -ENOMEM : -EBADMSG;
        }
        m = g_new(RingMap, 1);
        *m = (RingMap) { st.st_dev, st.st_ino, p, (size_t) st.st_size, ++maps_clock, bus, g_strdup(sender), false };
        maps_bytes += m->size;
        g_hash_table_add(maps, m);
        if (from && from->names_rings)
                maps_keep_locked(m, bus, sender);
        *ret = m;
        return 0;
}

/* Whether @size could be a value in a ring at all (before any lookup). */
static int check_size(uint64_t size, const char **ret_problem) {
        if (size == 0 || size > VALUE_RING_MAP_MAX) {
                *ret_problem = "the size announced is 0 or more than a ring holds";
                return -EBADMSG;
        }
        return 0;
}

/* Copy the value at @offset, @size out of @map, then mark it read: the
 * sender may reuse the region. Locked. */
static int map_copy_out_locked(RingMap *map, uint64_t offset, uint64_t size, void *dst, const char **ret_problem) {
        if (offset + size > map->size) {
                *ret_problem = "the value announced runs past the ring's end";
                return -EBADMSG;
        }
        memcpy(dst, map->map + offset, size);
        __atomic_store_n((uint64_t *) (map->map + offset - RING_MARK), 0, __ATOMIC_RELEASE);
        return 0;
}

int value_ring_copy_out(int fd, uint64_t offset, uint64_t size, void *dst, const ValueRingSender *from,
                        const char **ret_problem) {
        RingMap *map;
        int r;

        assert(dst);
        assert(ret_problem);

        r = check_size(size, ret_problem);
        if (r < 0)
                return r;
        if (offset < RING_MARK || offset % RING_MARK != 0 || offset > VALUE_RING_MAP_MAX) {
                *ret_problem = "the offset announced is not a multiple of 8 past the ring's start";
                return -EBADMSG;
        }
        if (from && from->names_rings && offset < RING_REF_OFFSET_MIN) {
                *ret_problem = "the offset announced puts the value's mark on the ring's keep word";
                return -EBADMSG;
        }

        g_mutex_lock(&maps_lock);
        r = maps_get_locked(fd, from, &map, ret_problem);
        if (r >= 0)
                r = map_copy_out_locked(map, offset, size, dst, ret_problem);
        g_mutex_unlock(&maps_lock);
        return r;
}

int value_ring_copy_out_ref(const ValueRingRef *ref, void *dst, const ValueRingSender *from,
                            const char **ret_problem) {
        RingMap key, *map;
        int r;

        assert(ref);
        assert(dst);
        assert(from);
        assert(ret_problem);

        r = check_size(ref->size, ret_problem);
        if (r < 0)
                return r;
        if (ref->offset < RING_REF_OFFSET_MIN || ref->offset % RING_MARK != 0 || ref->offset > VALUE_RING_MAP_MAX) {
                *ret_problem = "the offset announced is not a multiple of 8 past the ring's keep word";
                return -EBADMSG;
        }

        key = (RingMap) { .dev = (dev_t) ref->dev, .ino = (ino_t) ref->ino };
        g_mutex_lock(&maps_lock);
        map = maps ? g_hash_table_lookup(maps, &key) : NULL;
        /* Only what this sender sent, and what we told it we keep: a ring
         * of another peer's, or one that may go, is not named this way. */
        if (!map || !map->kept || !map_from(map, from->bus, from->name)) {
                *ret_problem = "the ring named is not one this process keeps for the sender";
                r = -EBADMSG;
        } else {
                map->used = ++maps_clock;
                r = map_copy_out_locked(map, ref->offset, ref->size, dst, ret_problem);
        }
        g_mutex_unlock(&maps_lock);
        return r;
}
