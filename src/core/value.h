/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The one place that turns GVariant into sd-bus message contents and back.
 * Every way in and out (Main1, Renderer1, Channel1, ports) goes through here,
 * so limits (depth, size, UTF-8) are enforced in one place.
 */

#include <glib.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

/* D-Bus's limit on a signature, in characters. */
#define VALUE_SIGNATURE_MAX 255U

/**
 * value_append - append @value as its own D-Bus type (no variant wrapper)
 * @error: on failure, InvalidArgs saying what is wrong (may be NULL)
 * @depth: the containers already open around @value (0 at top level); they
 *   count towards IPCBUS_VALUE_MAX_DEPTH
 * Return: 0; -EINVAL (type D-Bus lacks, invalid UTF-8/path/signature, 'h'),
 * -ELOOP (too deep), -EMSGSIZE (@value alone over IPCBUS_VALUE_MAX_SIZE);
 * sd-bus errors. On failure the message is unusable.
 */
int value_append(sd_bus_message *m, GVariant *value, unsigned depth, sd_bus_error *error);

/* Append "v" holding @value; NULL appends undefined. The variant itself does
 * not count towards the depth. Errors as value_append(). */
int value_append_variant(sd_bus_message *m, GVariant *value, sd_bus_error *error);

/**
 * value_append_args - append "av"
 * @args: a GVariant of type "av", or NULL for an empty list
 * Each argument is checked as value_append_variant() does; also enforces
 * IPCBUS_VALUE_MAX_SIZE over the whole list (-EMSGSIZE). Error messages
 * name the argument ("argument 2: string is not valid UTF-8").
 */
int value_append_args(sd_bus_message *m, GVariant *args, sd_bus_error *error);

/* value_append_args(), but -EXDEV with nothing appended (and @error not
 * set) when the first argument is of type @refused_first (NULL: none is):
 * the check costs nothing more than appending does. */
int value_append_args_unless(sd_bus_message *m, GVariant *args, const char *refused_first, sd_bus_error *error);

/* The checks of value_append_variant() without a message (ipcbus_value_check). */
int value_check(GVariant *value, sd_bus_error *error);
/* The same with another size limit (the out-of-band form's), and for a
 * whole "av" list as value_append_args() checks it. */
int value_check_limit(GVariant *value, uint64_t limit, sd_bus_error *error);
int value_check_args_limit(GVariant *args, uint64_t limit, sd_bus_error *error);

/**
 * value_type_check - can D-Bus carry values of this GVariant type?
 * @type: one complete type, @len characters (need not be NUL-terminated)
 * @allow_fd: whether 'h' counts as carried
 * @ret_depth: the containers the type nests (a variant counts 1: its
 *   contents have a type of their own)
 * @ret_problem: on failure, static text that completes "type 'T' ..."
 *
 * D-Bus types are a subset of GVariant's: no maybe, no "()", dict entries
 * only in arrays, at most 255 characters, 32 nested arrays and 32 nested
 * structs / dict entries.
 *
 * Return: 0; -EINVAL for a type D-Bus lacks or one too long; -ELOOP for
 * nesting beyond D-Bus's 32 / 32.
 */
int value_type_check(const char *type, size_t len, bool allow_fd, unsigned *ret_depth,
                     const char **ret_problem);

/* Set @error, unless it is set, to InvalidArgs "argument @arg: <text>"
 * ("value: <text>" for @arg 0). Return: @r. */
int value_fail(sd_bus_error *error, unsigned arg, int r, const char *format, ...) G_GNUC_PRINTF(4, 5);

/* A variant's contents type as every append checks it: one complete type
 * D-Bus carries ('h' not), with its values at @depth (the containers around
 * them) within IPCBUS_VALUE_MAX_DEPTH. Return: 0; -EINVAL, -ELOOP with
 * @error set for argument @arg. */
int value_check_type_at(const char *type, unsigned depth, unsigned arg, sd_bus_error *error);

/* @size bytes of a value or (@arguments) a list against @limit. Return: 0;
 * -EMSGSIZE with InvalidArgs in @error saying both. */
int value_check_size(uint64_t size, uint64_t limit, bool arguments, sd_bus_error *error);

/* A string's @len bytes as every append checks them: UTF-8, no NUL, no
 * noncharacter. Return: 0; -EINVAL with @error set for argument @arg. */
int value_string_check(const char *s, size_t len, unsigned arg, sd_bus_error *error);

/* Whether @s (@len characters) is a D-Bus signature, as a 'g' value holds. */
bool value_signature_is_dbus(const char *s, size_t len);

/*
 * Reading. Values come back as new, non-floating references. A container
 * nested deeper than IPCBUS_VALUE_MAX_DEPTH gives -ELOOP, 'h' gives -EINVAL
 * (file descriptors travel only as MessagePort transfers); sd-bus errors
 * (-EBADMSG for malformed data, ...) pass through. After an error the read
 * position is undefined: drop the message.
 */

/* Read the next complete value of any type. Return: 0; -EINVAL, -ELOOP; -ENXIO at end. */
int value_read(sd_bus_message *m, GVariant **ret);

/* Read "v" and return its contents (unboxed). -ENXIO at the end or when the
 * next value is not a variant. */
int value_read_variant(sd_bus_message *m, GVariant **ret);

/* Read "av" into a GVariant of type "av" (boxed elements, as on the wire).
 * -ENXIO at the end or when the next value is not "av". */
int value_read_args(sd_bus_message *m, GVariant **ret);

/* The same, but the out-of-band form of the list or the result
 * (value-large.h) is returned in @ret_large, not refused: return 1 with
 * @ret NULL; 0 for a value read inline. @names_rings: the sender named
 * large-values-ring-ref (and we did), so its "(tttt)" there is the
 * by-reference form; from anyone else it is a value. */
struct ValueLarge;
struct ArgsWriter;
int value_read_args_or_large(sd_bus_message *m, bool names_rings, GVariant **ret, struct ValueLarge *ret_large);
/* The same, but a list of basic values only is left as written in
 * @pending (empty before; return 0, @ret NULL, the framing's room
 * reserved): GLib is not asked for a GVariant until someone wants one
 * (args_writer_finish()). Otherwise @pending is left empty. */
int value_read_args_pending(sd_bus_message *m, bool names_rings, GVariant **ret, struct ValueLarge *ret_large,
                            struct ArgsWriter *pending);
int value_read_variant_or_large(sd_bus_message *m, bool names_rings, GVariant **ret,
                                struct ValueLarge *ret_large);

/* Whether @s (@len bytes) is ASCII without NUL bytes: then it is valid UTF-8
 * without noncharacters, and the slower checks can be skipped. */
bool value_is_plain_ascii(const char *s, size_t len);
/* How many bytes at the start of @p are ASCII other than NUL. */
size_t value_ascii_prefix(const void *p, size_t len);

/* Element size of the arrays that D-Bus and GVariant lay out alike (so one
 * copies into the other); 0 for others. 'b' is not one: 4 bytes on D-Bus,
 * 1 in GVariant. */
size_t value_fixed_array_element_size(char c);

/* Whether valid UTF-8 @s holds a Unicode noncharacter, which sd-bus refuses
 * in any string (channel names included). */
bool value_utf8_has_noncharacter(const char *s, size_t len);

/*
 * Internal to the value module: the shortcuts of value-fast.c.
 */

/* "av" without G_VARIANT_TYPE()'s check of the string on every use. */
#define VALUE_TYPE_ARGS ((const GVariantType *) "av")

/* Whether value.c takes the shortcuts; tests turn them off to compare the
 * results with the general code's. Not for changing while messages flow. */
extern bool value_fast_paths;

/* Keep GLib's type information for the containers every message uses (see
 * value-fast.c); cheap after the first call. */
void value_pin_types(void);

/* Whether an "av" element of this type is written by ArgsWriter: the basic
 * types D-Bus and GVariant share, 'h' excepted. */
bool value_type_is_fast(char type);

/*
 * ArgsWriter - an "av" of basic values, written as GVariant serializes it:
 * each variant (the value, a NUL, its type) at a multiple of 8, then the
 * framing offsets (each element's end, 1, 2, 4 or 8 bytes wide as the
 * total size needs). One buffer; GLib reads it without copying.
 */
typedef struct ArgsWriter {
        uint8_t *data;
        size_t size;                /* bytes of elements so far */
        size_t allocated;
        size_t *ends;               /* each element's end, for the offsets */
        size_t n;
        size_t n_allocated;
        size_t ends_inline[16];
} ArgsWriter;

void args_writer_init(ArgsWriter *w);
/* One element: @size bytes of @value in GVariant's form for @type (for
 * strings, paths and signatures: the text and its NUL; for 'b': one byte,
 * 0 or 1). The caller vouches for the bytes: the result is trusted. */
void args_writer_add(ArgsWriter *w, char type, const void *value, size_t size);
/* A floating "av" (trusted) holding what was added; @w is empty again. */
GVariant *args_writer_finish(ArgsWriter *w);
void args_writer_clear(ArgsWriter *w);
/* Room for the framing now: args_writer_finish() then keeps the data where
 * it is, so pointers into it handed out before (ipcbus_event_read()'s
 * strings) stay good. */
void args_writer_reserve_framing(ArgsWriter *w);
/* Element @i as added: its type, its bytes (a string's with its NUL) and
 * their size. Return: false past the end. */
bool args_writer_get(const ArgsWriter *w, size_t i, char *ret_type, const uint8_t **ret_value, size_t *ret_size);

/*
 * value_get_args - an argument list into C variables, as
 * sd_bus_message_read(3) reads (ipcbus_event_read()). The list is
 * @pending, as written, or else @args ("av"). Each item of @types is one
 * argument: a basic type other than 'h' (its C type, as sd-bus has it;
 * strings point into the list), 'v' (any argument, a GVariant reference)
 * or '@' and a complete type (an argument of that type, the same). A NULL
 * pointer skips its argument. @pending holds basic values only: items 'v'
 * and '@' want @args (value_get_wants_variant()).
 * Return: 0, everything written; -ENXIO (an argument is missing or of
 * another type) or -EINVAL (@types is not as above), nothing written.
 */
int value_get_args(const ArgsWriter *pending, GVariant *args, const char *types, va_list ap);
bool value_get_wants_variant(const char *types);

/* What sd_bus_message_read_basic() writes, for any basic type. */
typedef union BasicValue {
        uint8_t y;
        int b;
        int16_t n;
        uint16_t q;
        int32_t i;
        uint32_t u;
        int64_t x;
        uint64_t t;
        double d;
        const char *s;
} BasicValue;

/* The children of a container being read: a few inline, more on the heap.
 * Pushing hands the reference over; clear drops the references (floating
 * or not) and the list, forget only the list (a constructor took them). */
typedef struct ChildList {
        GVariant **items;
        size_t n;
        size_t allocated;
        GVariant *inline_items[8];
} ChildList;

void child_list_init(ChildList *c);
void child_list_push(ChildList *c, GVariant *v);
void child_list_forget(ChildList *c);
void child_list_clear(ChildList *c);

/* "v" of @contents whose value is read at @depth (the variant's own depth
 * + 1), as a floating GVariant. Return: 1; errors as value_read(). */
int value_read_boxed(sd_bus_message *m, const char *contents, unsigned depth, GVariant **ret);

/* The elements of an open "av" up to its end, as a floating "av"; @depth
 * is that of the elements' values. With @ret_large, a first element that is
 * the out-of-band form is read into it instead (return 2, @ret NULL; the
 * rest of the list is left to exit_container() to refuse). With
 * @pending (empty), the list is written there, and a list of basic values
 * only is left there as written (return 3, @ret NULL); otherwise it is
 * left empty.
 * Return: 1; 2; 3; errors as value_read(). */
int value_read_av_contents(sd_bus_message *m, unsigned depth, bool names_rings, struct ValueLarge *ret_large,
                           struct ArgsWriter *pending, GVariant **ret);
