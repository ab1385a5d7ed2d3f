/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <ipcbus/ipcbus-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Values. Every argument crosses the wire as one D-Bus variant, so any
 * GVariant whose type D-Bus can carry crosses unchanged. docs/values.md is
 * the table from JavaScript's structured-clone kinds to D-Bus types; kinds
 * that D-Bus has no type for (null, undefined, Date, Map, Set, Error, ...)
 * use a tagged struct "(sv)" whose string names the kind. The helpers below
 * build and recognise those, so C code never spells the tags itself.
 */

/*
 * Limits checked before anything is sent (measured in docs/values.md).
 *
 * Depth counts every container of a value (array, struct, dict entry,
 * variant); "ai" is 1 deep, a{sv} holding a number 3. dbus-daemon drops the
 * connection of a peer that sends a message nested deeper than 64 containers
 * in all, and an argument already sits inside "av" and its own "v".
 *
 * Size counts the D-Bus marshalled bytes of one message's values (for an
 * argument list, the contents of its "av"). The system bus's dbus-daemon
 * refuses messages over 32 MiB (its default max_message_size); 1 MiB of that
 * is kept for the header, the channel name and padding.
 *
 * Inside one value's type D-Bus also allows at most 32 nested arrays,
 * 32 nested structs or dict entries and 255 characters; those are checked
 * too and refused as -ELOOP (nesting) or -EINVAL (length).
 */
#define IPCBUS_VALUE_MAX_DEPTH 62
#define IPCBUS_VALUE_MAX_SIZE (31U * 1024U * 1024U)

/*
 * Large values (docs/values.md, "Large values"). Between an ipcbus main and
 * an ipcbus renderer that both said they take them, an argument list or a
 * result whose GVariant serialized size (g_variant_get_size() of the "av",
 * or of the result in its variant) is at least IPCBUS_VALUE_RING_MIN
 * travels out of band, not through the bus: through a ring the sender
 * shares with that peer (up to 4 MiB), or from IPCBUS_VALUE_LARGE_MIN on,
 * when that cannot be, as a sealed memfd of its own. Such values may be up
 * to IPCBUS_VALUE_LARGE_MAX bytes; everyone else (busctl, gdbus,
 * dbus-python, older ipcbus) gets the inline form, within
 * IPCBUS_VALUE_MAX_SIZE. The environment variable IPCBUS_LARGE_VALUES=0,
 * read when a main or renderer is created, turns the large form off for it
 * (IPCBUS_LARGE_VALUES=memfd: no rings, a memfd per value).
 */
#define IPCBUS_VALUE_RING_MIN (4U * 1024U)
#define IPCBUS_VALUE_LARGE_MIN (16U * 1024U)
#define IPCBUS_VALUE_LARGE_MAX (1024U * 1024U * 1024U)

/* How many values this process sent and received out of band, since it
 * started (all mains and renderers together). Either pointer may be NULL. */
IPCBUS_EXPORT void ipcbus_value_get_large_counts(uint64_t *ret_sent, uint64_t *ret_received);

typedef enum ipcbus_kind {
        IPCBUS_KIND_INVALID = 0, /* not a carried value (NULL, or a type D-Bus lacks: maybe, "()", ...) */
        IPCBUS_KIND_UNDEFINED,
        IPCBUS_KIND_NULL,
        IPCBUS_KIND_BOOLEAN,     /* b */
        IPCBUS_KIND_NUMBER,      /* d, and y n q i u (exact in a double) */
        IPCBUS_KIND_BIGINT,      /* x t, and ("BigInt", <s decimal>) beyond 64 bits */
        IPCBUS_KIND_STRING,      /* s, and o g */
        IPCBUS_KIND_ARRAY,       /* av, and arrays of any other element type */
        IPCBUS_KIND_OBJECT,      /* a{sv}: a plain object (any a{s...}: string keys) */
        IPCBUS_KIND_MAP,         /* ("Map", <a(vv)>) */
        IPCBUS_KIND_SET,         /* ("Set", <av>) */
        IPCBUS_KIND_BYTES,       /* ay: Uint8Array */
        IPCBUS_KIND_ARRAY_BUFFER,/* ("ArrayBuffer", <ay>) */
        IPCBUS_KIND_DATE,        /* ("Date", <d milliseconds since the epoch>) */
        IPCBUS_KIND_REGEXP,      /* ("RegExp", <(ss) source, flags>) */
        IPCBUS_KIND_ERROR,       /* ("Error", <a{sv} name, message, stack?>) */
        IPCBUS_KIND_STRUCT,      /* any other struct, or a tag with an unknown name or payload type */
        IPCBUS_KIND_DICT,        /* a dict with non-string keys: carried as is */
        IPCBUS_KIND_FD,          /* h: a file descriptor; never carried as a value (ports carry fds) */
} ipcbus_kind;

/**
 * ipcbus_args - build an argument list from NULL-terminated values
 * @first: the first value (floating references are sunk), or NULL for none;
 *   an empty list is ipcbus_args(NULL, NULL), as the sentinel check wants a
 *   NULL among the variable arguments
 *
 * ipcbus_args(g_variant_new_string("ping"), g_variant_new_int32(3), NULL) is
 * Electron's ('ping', 3). An argument that is itself NULL cannot be passed
 * this way: use ipcbus_value_undefined().
 *
 * Return: a floating GVariant of type "av".
 */
IPCBUS_EXPORT GVariant *ipcbus_args(GVariant *first, ...) G_GNUC_NULL_TERMINATED;

/**
 * ipcbus_args_get - one argument, unboxed
 * Return: a new reference to argument @index of @args ("av"), or NULL past
 * the end (JavaScript's undefined).
 */
IPCBUS_EXPORT GVariant *ipcbus_args_get(GVariant *args, size_t index);

/* Return: the number of arguments in @args ("av"), 0 for NULL. */
IPCBUS_EXPORT size_t ipcbus_args_count(GVariant *args);

/* Return: a floating GVariant for null / undefined. */
IPCBUS_EXPORT GVariant *ipcbus_value_null(void);
IPCBUS_EXPORT GVariant *ipcbus_value_undefined(void);

/*
 * Return: a floating tagged value of that kind, or NULL when an argument is
 * invalid: a string that is NULL where required or not valid UTF-8, @data
 * NULL with @size > 0, @entries / @items NULL or of the wrong type.
 * @name defaults to "Error", @message and @flags to "".
 */
IPCBUS_EXPORT GVariant *ipcbus_value_new_date(double msec_since_epoch);
IPCBUS_EXPORT GVariant *ipcbus_value_new_error(const char *name, const char *message);
IPCBUS_EXPORT GVariant *ipcbus_value_new_regexp(const char *source, const char *flags);
IPCBUS_EXPORT GVariant *ipcbus_value_new_array_buffer(const void *data, size_t size);
/* @decimal: -?(0|[1-9][0-9]*). Values that fit are returned as "x" (or "t"
 * above INT64_MAX), as D-Bus peers expect; only larger ones are tagged. */
IPCBUS_EXPORT GVariant *ipcbus_value_new_bigint(const char *decimal);
/* @entries: "a(vv)" key/value pairs, @items: "av"; floating references are
 * sunk (also when NULL is returned for a wrong type). */
IPCBUS_EXPORT GVariant *ipcbus_value_new_map(GVariant *entries);
IPCBUS_EXPORT GVariant *ipcbus_value_new_set(GVariant *items);

/**
 * ipcbus_value_get_kind - which structured-clone kind a value is
 *
 * A variant is transparent: <<3>> is a number.
 *
 * Return: the kind; IPCBUS_KIND_INVALID for NULL.
 */
IPCBUS_EXPORT ipcbus_kind ipcbus_value_get_kind(GVariant *value);

/* Return: the payload of a tagged value ("Date" -> d, "Map" -> a(vv), ...),
 * a new reference, or NULL when @value is not tagged with that kind (a
 * BigInt carried as x or t is not tagged: read it with g_variant_get_*). */
IPCBUS_EXPORT GVariant *ipcbus_value_get_payload(GVariant *value, ipcbus_kind kind);

/* Return: a static name for a kind ("null", "Date", ...). */
IPCBUS_EXPORT const char *ipcbus_kind_to_string(ipcbus_kind kind);

/**
 * ipcbus_value_check - would this value be carried?
 * @value: the value
 * @ret_error: on failure, an org.freedesktop.DBus.Error.InvalidArgs error
 *   saying what is wrong and where (may be NULL)
 *
 * The send paths run the same checks while they serialize; this lets a
 * caller ask first.
 *
 * The value is checked as one argument would be (inside its variant). A
 * list of arguments can pass one by one and still exceed
 * IPCBUS_VALUE_MAX_SIZE together; the send path then fails with -EMSGSIZE.
 *
 * Return: 0 if it can be carried; -EINVAL for NULL, a type D-Bus lacks
 * (maybe, "()", a file descriptor, a type longer than 255 characters),
 * invalid UTF-8 or a Unicode noncharacter in a string, an invalid object
 * path or signature; -ELOOP when nested deeper than IPCBUS_VALUE_MAX_DEPTH
 * or than D-Bus's 32 arrays / 32 structs within one type; -EMSGSIZE when
 * larger than IPCBUS_VALUE_MAX_SIZE.
 */
IPCBUS_EXPORT int ipcbus_value_check(GVariant *value, sd_bus_error *ret_error);

#ifdef __cplusplus
}
#endif
