/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Large values through a ring (docs/wire-contract.md, "Large values out of
 * band"): memory a sender shares with one peer and writes value after
 * value into, so that no page is allocated, faulted or freed per value. The
 * message carries "(htt)": the ring's memfd, where the value starts in it
 * and its size. The eight bytes before the value are its mark: the sender
 * sets them when it writes the value, the receiver zeroes them once it has
 * copied the value out, and the sender reuses a region only after that.
 *
 * The receiver trusts nothing in the ring: it copies the value out first
 * and checks the copy (value_large_open()). A sender that writes during the
 * copy, or a receiver that zeroes marks it should not, harms only itself.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The form inside its "av" or "v": memfd, offset, size. */
#define VALUE_RING_TYPE "(htt)"
/* The by-reference form, between peers that both named
 * large-values-ring-ref: a ring the receiver keeps, named by its file's
 * device and inode (st_dev, st_ino), then offset and size. No descriptor
 * travels: the bus does no work for it. */
#define VALUE_RING_REF_TYPE "(tttt)"

/* A ring is at most this large, so values up to half of it go through it. */
#define VALUE_RING_SIZE_MAX (8U * 1024U * 1024U)
/* A receiver maps rings up to this large (room for senders that grow). */
#define VALUE_RING_MAP_MAX (16U * 1024U * 1024U)

typedef struct ValueRing ValueRing;

/* Who sent a ring: the connection (only compared) and the sender's unique
 * name (NULL on a direct connection). A mapping made for a peer's ring
 * goes when value_ring_forget() names that peer or its connection. */
typedef struct ValueRingSender {
        const void *bus;
        const char *name;
        /* It named large-values-ring-ref: keep its rings (within bounds)
         * and say so in each one's keep word, so that it may name them
         * without their descriptor. */
        bool names_rings;
} ValueRingSender;

/* A ring named without its descriptor (VALUE_RING_REF_TYPE). */
typedef struct ValueRingRef {
        uint64_t dev, ino, offset, size;
} ValueRingRef;

void value_ring_free(ValueRing *ring);

/* The ring's memfd (the ring's own). */
int value_ring_fd(const ValueRing *ring);

/*
 * value_ring_reserve - room for @size bytes in *@ring toward one peer
 *
 * Makes or grows the ring as needed. Return: 1 and the region's start in
 * @ret_data (write the value there) with its offset in @ret_offset and the
 * ring's memfd (owned by the ring) in @ret_fd; 0 when there is no room now
 * (the caller sends the value another way); -errno.
 */
int value_ring_reserve(ValueRing **ring, size_t size, uint8_t **ret_data, uint64_t *ret_offset, int *ret_fd);

/* The ring's file (st_dev, st_ino), which names it in the by-reference form. */
void value_ring_id(const ValueRing *ring, uint64_t *ret_dev, uint64_t *ret_ino);

/* Whether the peer keeps the ring mapped for as long as we are connected
 * (it set the keep word): then values in it may be named by reference. */
bool value_ring_kept(const ValueRing *ring);

/* Give back a region value_ring_reserve() returned at @data unsent. */
void value_ring_release(uint8_t *data);

/* Whether @size bytes would go through a ring at all. */
static inline int value_ring_fits(size_t size) {
        return size > 0 && size <= VALUE_RING_SIZE_MAX / 2 - 64;
}

/*
 * value_ring_copy_out - copy the value a peer announced at @offset, @size
 * in the ring @fd into @dst, and mark its region read.
 *
 * Before anything is touched: the descriptor must be a memfd sealed
 * against growing and shrinking, no larger than VALUE_RING_MAP_MAX, with no
 * holes; @offset at least 8 and a multiple of 8; the value within the ring.
 * Rings are mapped once and kept while their sender sends: at most
 * 4 per sender and value_ring_maps_budget bytes in all, the least recently
 * used going first.
 *
 * Return: 0; -EBADMSG or -ENOMEM with a static description of what is
 * wrong in @ret_problem.
 */
int value_ring_copy_out(int fd, uint64_t offset, uint64_t size, void *dst, const ValueRingSender *from,
                        const char **ret_problem);

/*
 * value_ring_copy_out_ref - as value_ring_copy_out(), for a value in a ring
 * named by reference: the ring must be one this process keeps for @from
 * (one @from sent with its descriptor while it named large-values-ring-ref).
 */
int value_ring_copy_out_ref(const ValueRingRef *ref, void *dst, const ValueRingSender *from,
                            const char **ret_problem);

/* Unmap the rings of @sender on @bus (NULL: every ring that came on it). */
void value_ring_forget(const void *bus, const char *sender, bool all_of_bus);

/* Bytes of peers' rings a process keeps mapped at most (256 MiB; tests
 * lower it). */
extern size_t value_ring_maps_budget;

/* How many peers' rings are mapped now, and their bytes. */
void value_ring_maps_count(size_t *ret_n, size_t *ret_bytes);
/* How many of those are kept for senders that name rings, and their bytes. */
void value_ring_kept_count(size_t *ret_n, size_t *ret_bytes);
