/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Large values out of band (docs/wire-contract.md, "Large values"): an
 * argument list ("av") or a result ("v") whose GVariant serialized size is
 * at least IPCBUS_VALUE_LARGE_MIN travels, between ipcbus peers that both
 * said they take it, out of the message, in the place of the value: an
 * "av" whose one element is the form, or a "v" holding it. Two forms:
 * "(htt)", the value at an offset in a ring the sender shares with the
 * receiver (value-ring.h), where both said they take rings and the value
 * fits; else "(ht)", a sealed memfd holding the value and nothing else.
 * Values never hold 'h' otherwise, so neither can be mistaken for a value.
 * Between peers that both named large-values-ring-ref, a third: "(tttt)",
 * a value in a ring the receiver said it keeps, named without its
 * descriptor. Only from such a peer is a "(tttt)" in that place a form;
 * a sender that has such a value to send to such a peer sends it in one
 * of the other forms, whatever its size.
 */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

/* The type of the memfd form, inside its "av" or "v" (the ring's is
 * VALUE_RING_TYPE). */
#define VALUE_LARGE_TYPE "(ht)"

/* What the peer sent in the place of a value: its memfd or ring (owned by
 * the message), the size it announced and, in a ring, where. */
typedef struct ValueLarge {
        int fd;          /* -1 for a ring named by reference */
        bool ring;
        bool ref;        /* a ring named by reference: dev, ino */
        uint64_t dev, ino;
        uint64_t offset;
        uint64_t size;
        /* Who sent it (the message's bus and sender), for the ring's
         * mapping, and whether it names rings by reference. */
        const void *bus;
        const char *sender;
        bool names_rings;
} ValueLarge;

/* What a sender knows of one peer for large values: what the peer said it
 * takes, and the ring shared with it once one was needed. Part of the web
 * contents (toward a renderer) and of the renderer (toward its main). */
typedef struct ValueLargePeer {
        bool takes;      /* ENDPOINT_FEATURE_LARGE_VALUES: the memfd form */
        bool takes_ring; /* ENDPOINT_FEATURE_LARGE_VALUES_RING too */
        /* ENDPOINT_FEATURE_LARGE_VALUES_RING_REF too (and we named it):
         * both ways, rings the receiver keeps are named by reference, and
         * the peer's "(tttt)" in a value's place is that form. */
        bool takes_ring_ref;
        struct ValueRing *ring;
} ValueLargePeer;

/* Of ipcbus_value_get_large_counts(), those in a ring named by reference
 * (for tests). */
void value_large_ref_counts(uint64_t *ret_sent, uint64_t *ret_received);

/* Forget what the peer said and free the ring (a new peer, or none). */
void value_large_peer_reset(ValueLargePeer *peer);

/* Whether @value ("av" or "v" contents) is large enough to go out of band. */
bool value_large_wanted(GVariant *value);

/* After a message with a large value went out: allocate the memfd for the
 * next one (value-large.c says why). Does nothing if none was sent. */
void value_large_refill(void);

/* The inline or an out-of-band form toward @peer (NULL: a peer that takes
 * none) as what it takes and the size say. Out of band, the value is
 * checked as value_append_args()/_variant() do, with
 * IPCBUS_VALUE_LARGE_MAX for the limit. Return: 0; -EINVAL, -ELOOP,
 * -EMSGSIZE with @error set; errno of memfd_create() and sd-bus. */
int value_append_args_any(sd_bus_message *m, GVariant *args, ValueLargePeer *peer, sd_bus_error *error);
int value_append_variant_any(sd_bus_message *m, GVariant *value, ValueLargePeer *peer, sd_bus_error *error);

/*
 * value_large_open - the value a peer sent out of band
 * @type: "av" (arguments) or "v" (a result, returned unboxed)
 *
 * Before anything is read: the size announced must be 1 to
 * IPCBUS_VALUE_LARGE_MAX; the descriptor a memfd sealed against writing,
 * growing and shrinking, holding exactly that many bytes, none of them a
 * hole (or for a ring, what value_ring_copy_out() checks). Then the bytes
 * must be a normal-form GVariant of @type that D-Bus could carry
 * (value_normal_check()).
 *
 * Return: 0 and a new reference; -EBADMSG with InvalidArgs in @error saying
 * what is wrong; -ENOMEM.
 */
int value_large_open(const ValueLarge *large, const char *type, sd_bus_error *error, GVariant **ret);

/*
 * value_normal_check - whether @size bytes at @data are a GVariant of @type
 * ("av" or "v") in normal form, with only types, strings and nesting the
 * contract carries (value-normal.c). Return: 0; -EBADMSG with a static
 * description in @ret_problem.
 */
int value_normal_check(const char *type, const void *data, size_t size, const char **ret_problem);

/* UTF-8 that sd-bus takes in a string: no noncharacters, no NUL bytes. */
bool value_utf8_is_valid(const uint8_t *s, size_t len);
