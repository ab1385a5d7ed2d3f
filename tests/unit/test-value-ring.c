/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ring large values travel through (value-ring.h), both ends in one
 * process: the sender's ValueRing and the receiver's copy out of the same
 * memfd through a mapping of its own, as another process would have it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "test-process.h"
#include "value-ring.h"

typedef struct Sent {
        uint8_t *data;
        uint64_t offset;
        int fd;
        size_t size;
        uint8_t fill;
} Sent;

/* Reserve @size bytes and fill them with @fill. Return: what reserve did. */
static int send_one(ValueRing **ring, size_t size, uint8_t fill, Sent *ret) {
        int r;

        *ret = (Sent) { .size = size, .fill = fill };
        r = value_ring_reserve(ring, size, &ret->data, &ret->offset, &ret->fd);
        if (r > 0)
                memset(ret->data, fill, size);
        return r;
}

/* What the receiver does: copy out (which marks the region read), check. */
static void receive_one(const Sent *s) {
        g_autofree uint8_t *copy = g_malloc(s->size);
        const char *problem = NULL;

        assert_int_equal(value_ring_copy_out(s->fd, s->offset, s->size, copy, NULL, &problem), 0);
        assert_null(problem);
        for (size_t i = 0; i < s->size; i++)
                if (copy[i] != s->fill)
                        fail_msg("byte %zu of the value filled with '%c' is '%c'", i, s->fill, copy[i]);
}

static ino_t inode_of(int fd) {
        struct stat st;

        assert_int_equal(fstat(fd, &st), 0);
        return st.st_ino;
}

static bool overlaps(const Sent *a, const Sent *b) {
        return a->fd == b->fd && a->offset < b->offset + b->size && b->offset < a->offset + a->size;
}

static void test_ring_carries_values(void **state) {
        ValueRing *ring = NULL;
        Sent s;

        /* Many more values than the ring holds at once: regions come back. */
        for (unsigned i = 0; i < 200; i++) {
                assert_int_equal(send_one(&ring, 100000 + i, (uint8_t) ('a' + i % 26), &s), 1);
                assert_int_equal(s.offset % 8, 0);
                receive_one(&s);
        }
        value_ring_free(ring);
}

/*
 * A value read out of order (a reply read while an earlier signal waits
 * in sd-bus's queue) must not let the sender reuse the earlier region.
 */
static void test_ring_reuses_regions_in_order_only(void **state) {
        ValueRing *ring = NULL;
        Sent before, first, later[64];
        bool wrapped = false;
        unsigned n = 0;
        int r;

        /* The unread one not at the ring's start, so that others wrap. */
        assert_int_equal(send_one(&ring, 200000, 'B', &before), 1);
        assert_int_equal(send_one(&ring, 200000, 'F', &first), 1);
        receive_one(&before);
        /* Everything after it is read at once; it waits. */
        for (;;) {
                assert_true(n < G_N_ELEMENTS(later));
                r = send_one(&ring, 200000, (uint8_t) ('a' + n % 26), &later[n]);
                assert_true(r >= 0);
                if (r == 0)
                        break;
                assert_false(overlaps(&later[n], &first));
                wrapped = wrapped || later[n].offset < first.offset;
                receive_one(&later[n]);
                n++;
        }
        /* Wrapped, and now blocked by the one unread. */
        assert_true(wrapped);
        assert_true(n >= 2);
        receive_one(&first);
        assert_int_equal(send_one(&ring, 200000, 'x', &later[0]), 1);
        receive_one(&later[0]);
        value_ring_free(ring);
}

/* A value never read (its message dropped) holds the ring only so long:
 * then a new ring, and the old one still serves the message holding it. */
static void test_ring_left_when_stalled(void **state) {
        ValueRing *ring = NULL;
        Sent unread, s;
        ino_t old;
        int kept, r = 1;
        unsigned tries = 0;

        assert_int_equal(send_one(&ring, 1000000, 'U', &unread), 1);
        /* The message in flight holds its own descriptor of the ring. */
        kept = fcntl(unread.fd, F_DUPFD_CLOEXEC, 3);
        assert_true(kept >= 0);
        unread.fd = kept;
        old = inode_of(kept);

        while ((r = send_one(&ring, 1000000, 's', &s)) == 1) {
                assert_true(++tries < 100);
                assert_false(overlaps(&s, &unread));
                /* Read, so only the first one holds the ring. */
                receive_one(&s);
        }
        tries = 0;
        while (r == 0) {
                tries++;
                assert_true(tries <= 16);
                r = send_one(&ring, 1000000, 'n', &s);
        }
        assert_int_equal(r, 1);
        assert_true(inode_of(s.fd) != old);
        receive_one(&s);
        /* The old ring's value is still there for its message. */
        receive_one(&unread);
        close(kept);
        value_ring_free(ring);
}

/* A peer that reads nothing is slow, not skipping: no new ring for it,
 * however often the sender tries (its memory stays one ring). */
static void test_ring_kept_for_a_slow_peer(void **state) {
        ValueRing *ring = NULL;
        Sent s, first;
        ino_t ino;
        int r;

        assert_int_equal(send_one(&ring, 100000, 'a', &first), 1);
        ino = inode_of(first.fd);
        for (unsigned i = 0; i < 200; i++) {
                r = send_one(&ring, 100000, 'b', &s);
                assert_true(r >= 0);
                assert_non_null(ring);
                assert_true(inode_of(value_ring_fd(ring)) == ino);
        }
        /* Once it reads, the ring serves again. */
        receive_one(&first);
        value_ring_free(ring);
}

static void test_ring_grows_for_larger_values(void **state) {
        ValueRing *ring = NULL;
        Sent small, large;
        struct stat st;

        assert_int_equal(send_one(&ring, 20000, 's', &small), 1);
        receive_one(&small);
        assert_int_equal(fstat(small.fd, &st), 0);
        assert_true(st.st_size < 4 * 1024 * 1024);
        assert_int_equal(send_one(&ring, 3 * 1024 * 1024, 'L', &large), 1);
        receive_one(&large);
        assert_int_equal(fstat(large.fd, &st), 0);
        assert_int_equal(st.st_size, VALUE_RING_SIZE_MAX);
        assert_false(value_ring_fits(VALUE_RING_SIZE_MAX / 2));
        assert_true(value_ring_fits(1));
        value_ring_free(ring);
}

/* Peers' senders, one per index: each its own connection's unique name. */
static const int test_bus;
static char sender_names[64][16];

static ValueRingSender sender_of(unsigned i) {
        g_snprintf(sender_names[i], sizeof(sender_names[i]), ":1.%u", 100 + i);
        return (ValueRingSender) { &test_bus, sender_names[i] };
}

static void receive_from(const Sent *s, const ValueRingSender *from) {
        g_autofree uint8_t *copy = g_malloc(s->size);
        const char *problem = NULL;

        assert_int_equal(value_ring_copy_out(s->fd, s->offset, s->size, copy, from, &problem), 0);
        assert_int_equal(copy[0], s->fill);
        assert_int_equal(copy[s->size - 1], s->fill);
}

/* Many senders at once: each ring mapped once and kept, none mapped again
 * while its sender sends (a main with many renderers). */
static void test_ring_many_senders(void **state) {
        ValueRing *rings[40] = {};
        ino_t first[G_N_ELEMENTS(rings)];
        size_t n, bytes;
        Sent s;

        value_ring_forget(NULL, NULL, true); /* what earlier tests mapped */
        value_ring_forget(&test_bus, NULL, true);
        for (unsigned round = 0; round < 3; round++)
                for (unsigned i = 0; i < G_N_ELEMENTS(rings); i++) {
                        ValueRingSender from = sender_of(i);

                        assert_int_equal(send_one(&rings[i], 70000, (uint8_t) ('A' + i), &s), 1);
                        if (round == 0)
                                first[i] = inode_of(s.fd);
                        assert_int_equal(inode_of(s.fd), first[i]);
                        receive_from(&s, &from);
                        value_ring_maps_count(&n, &bytes);
                        assert_int_equal(n, round == 0 ? i + 1 : G_N_ELEMENTS(rings));
                }
        value_ring_forget(&test_bus, NULL, true);
        value_ring_maps_count(&n, &bytes);
        assert_int_equal(n, 0);
        assert_int_equal(bytes, 0);
        for (unsigned i = 0; i < G_N_ELEMENTS(rings); i++)
                value_ring_free(rings[i]);
}

/* The bounds: a sender that makes ring after ring keeps 4 mapped, the
 * others' untouched; past the bytes allowed in all, the least recently
 * used go. Values read right either way (an evicted ring maps again). */
static void test_ring_mappings_bounded(void **state) {
        const size_t budget = value_ring_maps_budget;
        ValueRingSender a = sender_of(0), b = sender_of(1);
        ValueRing *kept = NULL, *rings[10] = {};
        size_t n, bytes;
        Sent s;

        value_ring_forget(NULL, NULL, true);
        value_ring_forget(&test_bus, NULL, true);
        assert_int_equal(send_one(&kept, 5000, 'k', &s), 1);
        receive_from(&s, &b);
        for (unsigned i = 0; i < G_N_ELEMENTS(rings); i++) {
                /* A ring of its own each time. */
                assert_int_equal(send_one(&rings[i], 5000, (uint8_t) ('a' + i), &s), 1);
                receive_from(&s, &a);
                value_ring_maps_count(&n, &bytes);
                assert_int_equal(n, 1 + MIN(i + 1, 4U));
        }
        /* b's ring stayed mapped throughout (the counts above include it). */
        assert_int_equal(send_one(&kept, 5000, 'k', &s), 1);
        receive_from(&s, &b);
        value_ring_maps_count(&n, &bytes);
        assert_int_equal(n, 5);

        /* Room for three 256 KiB rings in all. */
        value_ring_forget(&test_bus, NULL, true);
        value_ring_maps_budget = 3 * 256 * 1024;
        for (unsigned round = 0; round < 2; round++)
                for (unsigned i = 0; i < 6; i++) {
                        ValueRingSender from = sender_of(10 + i);

                        assert_int_equal(send_one(&rings[i], 5000, (uint8_t) ('A' + i), &s), 1);
                        receive_from(&s, &from);
                        value_ring_maps_count(&n, &bytes);
                        assert_true(bytes <= value_ring_maps_budget);
                        assert_int_equal(n, round == 0 ? MIN(i + 1, 3U) : 3U);
                }
        value_ring_maps_budget = budget;
        value_ring_forget(&test_bus, NULL, true);
        value_ring_free(kept);
        for (unsigned i = 0; i < G_N_ELEMENTS(rings); i++)
                value_ring_free(rings[i]);
}

/* Mappings of rings in this process (sender's own and receiver's). */
static unsigned ring_mappings(void) {
        int n = test_count_mappings(getpid(), "memfd:ipcbus-ring");

        assert_true(n >= 0);
        return (unsigned)n;
}

/* The rings a peer sent are unmapped when it goes, and only those. */
static void test_ring_forgotten_with_its_sender(void **state) {
        static const int bus_a, bus_b;
        const ValueRingSender one = { &bus_a, ":1.1" }, two = { &bus_a, ":1.2" }, direct = { &bus_b, NULL };
        ValueRing *r1 = NULL, *r2 = NULL, *r3 = NULL;
        unsigned base;
        Sent s;

        value_ring_forget(NULL, NULL, true); /* what earlier tests mapped */
        assert_int_equal(send_one(&r1, 5000, '1', &s), 1);
        base = ring_mappings();
        receive_from(&s, &one);
        assert_int_equal(send_one(&r2, 5000, '2', &s), 1);
        receive_from(&s, &two);
        assert_int_equal(send_one(&r3, 5000, '3', &s), 1);
        receive_from(&s, &direct);
        /* Three senders' rings, each mapped once more by the receiver. */
        assert_int_equal(ring_mappings(), base + 2 + 3);

        value_ring_forget(&bus_a, ":1.1", false);
        assert_int_equal(ring_mappings(), base + 2 + 2);
        /* The others still read, and the first maps again when it sends. */
        assert_int_equal(send_one(&r2, 5000, '2', &s), 1);
        receive_from(&s, &two);
        assert_int_equal(send_one(&r1, 5000, '1', &s), 1);
        receive_from(&s, &one);
        assert_int_equal(ring_mappings(), base + 2 + 3);

        value_ring_forget(&bus_a, NULL, true);
        assert_int_equal(ring_mappings(), base + 2 + 1);
        value_ring_forget(&bus_b, NULL, false); /* the direct peer has no name */
        assert_int_equal(ring_mappings(), base + 2);
        value_ring_free(r1);
        value_ring_free(r2);
        value_ring_free(r3);
        assert_int_equal(ring_mappings(), base - 1);
}

/* ---- what a hostile sender may announce ----------------------------------- */

static int memfd_of(size_t size, bool allocate, unsigned seals) {
        int fd = memfd_create("hostile-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) size), 0);
        if (allocate)
                assert_int_equal(fallocate(fd, 0, 0, (off_t) size), 0);
        if (seals)
                assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
        return fd;
}

static void expect_refused(int fd, uint64_t offset, uint64_t size, const char *problem_part) {
        static uint8_t buffer[1 << 20];
        const char *problem = NULL;
        int r;

        r = value_ring_copy_out(fd, offset, size, buffer, NULL, &problem);
        assert_int_equal(r, -EBADMSG);
        assert_non_null(problem);
        if (!strstr(problem, problem_part))
                fail_msg("refused with \"%s\", expected it to say \"%s\"", problem, problem_part);
}

static void test_ring_refuses_hostile_forms(void **state) {
        const unsigned good = F_SEAL_SHRINK | F_SEAL_GROW;
        int fd, pipes[2];

        fd = memfd_of(1 << 20, true, 0);
        expect_refused(fd, 64, 100, "not sealed against growing and shrinking");
        close(fd);
        fd = memfd_of(1 << 20, true, F_SEAL_SHRINK);
        expect_refused(fd, 64, 100, "not sealed against growing and shrinking");
        close(fd);
        fd = memfd_of(1 << 20, false, good);
        expect_refused(fd, 64, 100, "holes");
        close(fd);
        fd = memfd_of(32 << 20, true, good);
        expect_refused(fd, 64, 100, "at most 16 MiB");
        close(fd);
        fd = memfd_of((1 << 20) + 100, true, good);
        expect_refused(fd, 64, 100, "whole pages");
        close(fd);
        /* Sealed against writing: it cannot be mapped to mark what was read. */
        fd = memfd_of(1 << 20, true, good | F_SEAL_WRITE);
        expect_refused(fd, 64, 100, "cannot be mapped");
        close(fd);

        fd = memfd_of(1 << 20, true, good);
        expect_refused(fd, 0, 100, "offset");
        expect_refused(fd, 4, 100, "offset");
        expect_refused(fd, 12, 100, "offset");
        expect_refused(fd, 64, 0, "size");
        expect_refused(fd, 64, (1 << 20) - 63, "past the ring's end");
        expect_refused(fd, (1 << 20) + 8, 1, "past the ring's end");
        expect_refused(fd, UINT64_MAX - 7, 16, "offset");
        expect_refused(fd, 64, UINT64_MAX, "size");
        close(fd);

        assert_int_equal(pipe2(pipes, O_CLOEXEC), 0);
        expect_refused(pipes[0], 64, 100, "memfd");
        close(pipes[0]);
        close(pipes[1]);
}

/* A well-formed ring from anyone is read, and only its one mark written. */
static void test_ring_foreign_sender(void **state) {
        int fd = memfd_of(1 << 20, true, F_SEAL_SHRINK | F_SEAL_GROW);
        uint8_t *map = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        const char *problem = NULL;
        uint8_t out[256];

        assert_true(map != MAP_FAILED);
        memset(map, 0xee, 1 << 20);
        memcpy(map + 4096, "hello", 5);
        assert_int_equal(value_ring_copy_out(fd, 4096, 5, out, NULL, &problem), 0);
        assert_memory_equal(out, "hello", 5);
        for (size_t i = 0; i < 1 << 20; i++) {
                uint8_t want = i >= 4088 && i < 4096 ? 0 : i >= 4096 && i < 4101 ? (uint8_t) "hello"[i - 4096] : 0xee;

                if (map[i] != want)
                        fail_msg("byte %zu of the ring is %#x, expected %#x", i, map[i], want);
        }
        munmap(map, 1 << 20);
        close(fd);
}

/* ---- rings named by reference ---------------------------------------------- */

/* The form the sender would put in the message for @s, naming its ring. */
static ValueRingRef ref_of(ValueRing *ring, const Sent *s) {
        ValueRingRef ref = { .offset = s->offset, .size = s->size };

        value_ring_id(ring, &ref.dev, &ref.ino);
        return ref;
}

/* What the receiver does with it: copy out, check. Return: what copy_out_ref() did. */
static int receive_ref(ValueRing *ring, const Sent *s, const ValueRingSender *from, const char **ret_problem) {
        g_autofree uint8_t *copy = g_malloc(s->size);
        ValueRingRef ref = ref_of(ring, s);
        int r;

        *ret_problem = NULL;
        r = value_ring_copy_out_ref(&ref, copy, from, ret_problem);
        if (r >= 0)
                for (size_t i = 0; i < s->size; i++)
                        if (copy[i] != s->fill)
                                fail_msg("byte %zu of the value filled with '%c' is '%c'", i, s->fill, copy[i]);
        return r;
}

static ValueRingSender naming(unsigned i) {
        ValueRingSender from = sender_of(i);

        from.names_rings = true;
        return from;
}

/* A sender that names rings has its ring kept at first sight, and told so
 * in the keep word; then values named by reference are read (and their
 * regions given back) with no descriptor. One that does not is not kept,
 * and cannot name its ring. */
static void test_ring_kept_and_named(void **state) {
        ValueRingSender a = naming(0), plain = sender_of(1);
        ValueRing *ring = NULL, *other = NULL;
        const char *problem;
        size_t n, bytes;
        Sent s;

        value_ring_forget(&test_bus, NULL, true);
        assert_int_equal(send_one(&ring, 5000, 'a', &s), 1);
        assert_false(value_ring_kept(ring));
        receive_from(&s, &a);
        assert_true(value_ring_kept(ring));
        value_ring_kept_count(&n, &bytes);
        assert_int_equal(n, 1);
        assert_int_equal(bytes, 256 * 1024);

        /* Many more values than the ring holds: each named, each given back. */
        for (unsigned i = 0; i < 200; i++) {
                assert_int_equal(send_one(&ring, 3000 + i, (uint8_t) ('a' + i % 26), &s), 1);
                assert_int_equal(receive_ref(ring, &s, &a, &problem), 0);
                assert_null(problem);
        }

        assert_int_equal(send_one(&other, 5000, 'p', &s), 1);
        receive_from(&s, &plain);
        assert_false(value_ring_kept(other));
        assert_int_equal(send_one(&other, 5000, 'p', &s), 1);
        assert_int_equal(receive_ref(other, &s, &plain, &problem), -EBADMSG);
        assert_string_equal(problem, "the ring named is not one this process keeps for the sender");
        value_ring_release(s.data);
        value_ring_kept_count(&n, &bytes);
        assert_int_equal(n, 1);

        value_ring_forget(&test_bus, NULL, true);
        value_ring_kept_count(&n, &bytes);
        assert_int_equal(n, 0);
        assert_int_equal(bytes, 0);
        value_ring_free(ring);
        value_ring_free(other);
}

/* Refused: a ring kept for another sender, one never sent, one forgotten
 * with its sender, a value over the keep word or past the end. Nothing is
 * read or written then. */
static void test_ring_refs_refused(void **state) {
        ValueRingSender a = naming(0), b = naming(1);
        ValueRing *ring = NULL, *unsent = NULL;
        ValueRingRef ref;
        const char *problem;
        uint8_t out[64];
        Sent s, u;

        value_ring_forget(&test_bus, NULL, true);
        assert_int_equal(send_one(&ring, 5000, 'a', &s), 1);
        receive_from(&s, &a);
        assert_int_equal(send_one(&ring, 5000, 'a', &s), 1);

        /* b names a's ring. */
        assert_int_equal(receive_ref(ring, &s, &b, &problem), -EBADMSG);
        assert_string_equal(problem, "the ring named is not one this process keeps for the sender");
        /* a names a ring it never sent. */
        assert_int_equal(send_one(&unsent, 5000, 'u', &u), 1);
        assert_int_equal(receive_ref(unsent, &u, &a, &problem), -EBADMSG);
        assert_string_equal(problem, "the ring named is not one this process keeps for the sender");

        ref = ref_of(ring, &s);
        ref.offset = 8; /* its mark would be the keep word */
        assert_int_equal(value_ring_copy_out_ref(&ref, out, &a, &problem), -EBADMSG);
        assert_string_equal(problem, "the offset announced is not a multiple of 8 past the ring's keep word");
        ref = ref_of(ring, &s);
        ref.offset += 4;
        assert_int_equal(value_ring_copy_out_ref(&ref, out, &a, &problem), -EBADMSG);
        ref = ref_of(ring, &s);
        ref.offset = 256 * 1024 - 32;
        ref.size = 64;
        assert_int_equal(value_ring_copy_out_ref(&ref, out, &a, &problem), -EBADMSG);
        assert_string_equal(problem, "the value announced runs past the ring's end");
        ref.size = 0;
        assert_int_equal(value_ring_copy_out_ref(&ref, out, &a, &problem), -EBADMSG);
        /* Refused unread: its region is still the sender's to wait for. */
        assert_int_not_equal(*(uint64_t *) (s.data - 8), 0);

        /* Gone with its sender: named afterwards, refused. */
        assert_int_equal(receive_ref(ring, &s, &a, &problem), 0);
        assert_int_equal(send_one(&ring, 5000, 'a', &s), 1);
        value_ring_forget(&test_bus, a.name, false);
        assert_int_equal(receive_ref(ring, &s, &a, &problem), -EBADMSG);

        value_ring_free(ring);
        value_ring_free(unsent);
}

/* Kept rings are never evicted, however many other rings come and go past
 * the budget, so a sender that was told its ring is kept can always name
 * it. Keeping is bounded: 4 rings a sender, and half the budget in all;
 * past that a ring is mapped as any other and its sender not told. */
static void test_ring_kept_bounded(void **state) {
        const size_t budget = value_ring_maps_budget;
        ValueRingSender a = naming(0);
        ValueRing *kept = NULL, *own[6] = {}, *others[8] = {};
        const char *problem;
        size_t n, bytes;
        Sent s;

        value_ring_forget(&test_bus, NULL, true);
        value_ring_maps_budget = 4 * 256 * 1024;
        assert_int_equal(send_one(&kept, 5000, 'k', &s), 1);
        receive_from(&s, &a);
        assert_true(value_ring_kept(kept));
        for (unsigned round = 0; round < 2; round++)
                for (unsigned i = 0; i < G_N_ELEMENTS(others); i++) {
                        ValueRingSender from = sender_of(10 + i);

                        assert_int_equal(send_one(&others[i], 5000, (uint8_t) ('A' + i), &s), 1);
                        receive_from(&s, &from);
                        assert_false(value_ring_kept(others[i]));
                        assert_int_equal(send_one(&kept, 5000, 'k', &s), 1);
                        assert_int_equal(receive_ref(kept, &s, &a, &problem), 0);
                }
        value_ring_maps_count(&n, &bytes);
        assert_true(bytes <= value_ring_maps_budget);

        /* Half the budget (2 rings here) for kept ones in all. */
        assert_int_equal(send_one(&own[0], 5000, 'o', &s), 1);
        receive_from(&s, &a);
        assert_true(value_ring_kept(own[0]));
        assert_int_equal(send_one(&own[1], 5000, 'o', &s), 1);
        receive_from(&s, &a);
        assert_false(value_ring_kept(own[1]));
        value_ring_kept_count(&n, &bytes);
        assert_int_equal(n, 2);

        /* With room in all, 4 of one sender's. */
        value_ring_forget(&test_bus, NULL, true);
        value_ring_maps_budget = budget;
        for (unsigned i = 0; i < G_N_ELEMENTS(own); i++) {
                value_ring_free(own[i]);
                own[i] = NULL;
                assert_int_equal(send_one(&own[i], 5000, 'o', &s), 1);
                receive_from(&s, &a);
                assert_true(value_ring_kept(own[i]) == (i < 4));
        }
        value_ring_kept_count(&n, &bytes);
        assert_int_equal(n, 4);
        /* All four still named, after the fifth and sixth came. */
        for (unsigned i = 0; i < 4; i++) {
                assert_int_equal(send_one(&own[i], 5000, (uint8_t) ('0' + i), &s), 1);
                assert_int_equal(receive_ref(own[i], &s, &a, &problem), 0);
        }

        value_ring_forget(&test_bus, NULL, true);
        value_ring_free(kept);
        for (unsigned i = 0; i < G_N_ELEMENTS(own); i++)
                value_ring_free(own[i]);
        for (unsigned i = 0; i < G_N_ELEMENTS(others); i++)
                value_ring_free(others[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ring_carries_values),
                cmocka_unit_test(test_ring_reuses_regions_in_order_only),
                cmocka_unit_test(test_ring_left_when_stalled),
                cmocka_unit_test(test_ring_kept_for_a_slow_peer),
                cmocka_unit_test(test_ring_grows_for_larger_values),
                cmocka_unit_test(test_ring_many_senders),
                cmocka_unit_test(test_ring_mappings_bounded),
                cmocka_unit_test(test_ring_forgotten_with_its_sender),
                cmocka_unit_test(test_ring_refuses_hostile_forms),
                cmocka_unit_test(test_ring_foreign_sender),
                cmocka_unit_test(test_ring_kept_and_named),
                cmocka_unit_test(test_ring_refs_refused),
                cmocka_unit_test(test_ring_kept_bounded),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
