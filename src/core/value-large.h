/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Large values out of band (docs/wire-contract.md, "Large values"): an
 * argument list ("av") or a result ("v") whose GVariant serialized size is
 * at least IPCBUS_VALUE_LARGE_MIN travels, between ipcbus peers that both
 * said they take it, as a sealed memfd holding that serialized form, in the
 * place of the value: an "av" whose one element is a "(ht)" (the memfd and
 * its size), or a "v" holding a "(ht)". Values never hold 'h' otherwise, so
 * the form cannot be mistaken for a value.
 */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

/* The type of the out-of-band form, inside its "av" or "v". */
#define VALUE_LARGE_TYPE "(ht)"

/* What the peer sent in the place of a value: its memfd (owned by the
 * message) and the size it announced. */
typedef struct ValueLarge {
        int fd;
        uint64_t size;
} ValueLarge;

/* Whether @value ("av" or "v" contents) is large enough to go out of band. */
bool value_large_wanted(GVariant *value);

/* After a message with a large value went out: allocate the memfd for the
 * next one (value-large.c says why). Does nothing if none was sent. */
void value_large_refill(void);

/* The inline or the out-of-band form as @large_ok and the size say. Out of
 * band, the value is checked as value_append_args()/_variant() do, with
 * IPCBUS_VALUE_LARGE_MAX for the limit. Return: 0; -EINVAL, -ELOOP,
 * -EMSGSIZE with @error set; errno of memfd_create() and sd-bus. */
int value_append_args_any(sd_bus_message *m, GVariant *args, bool large_ok, sd_bus_error *error);
int value_append_variant_any(sd_bus_message *m, GVariant *value, bool large_ok, sd_bus_error *error);

/*
 * value_large_open - the value a peer sent out of band
 * @type: "av" (arguments) or "v" (a result, returned unboxed)
 *
 * Before anything is read: the size announced must be 1 to
 * IPCBUS_VALUE_LARGE_MAX; the descriptor a memfd sealed against writing,
 * growing and shrinking, holding exactly that many bytes, none of them a
 * hole. Then the bytes must be a normal-form GVariant of @type that D-Bus
 * could carry (value_normal_check()).
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
