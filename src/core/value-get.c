/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An argument list read sd_bus_message_read(3)-style, into C variables
 * (ipcbus_event_read()): the receiving twin of value-va.c. The list is
 * either as value-read.c wrote it, basic values in one buffer with no
 * GVariant made (ArgsWriter), or an "av" GVariant (any other list, and
 * lists that came out of band). Both are read the same way.
 *
 * Every argument is checked before any is written: a read that fails
 * leaves the caller's variables as they were.
 */
#include <errno.h>
#include <string.h>

#include "value.h"

/* One item of the types string: a basic type (read into its C type), 'v'
 * (the argument as a GVariant, whatever its type) or '@' and a complete
 * type (the argument as a GVariant, if it is of that type). */
typedef struct ValueGetItem {
        char kind;
        const GVariantType *type; /* '@' */
} ValueGetItem;

/* The item at *@p, which moves past it. Return: 1; 0 at the end; -EINVAL. */
static int next_item(const char **p, ValueGetItem *ret) {
        const char *end;
        char c = **p;

        if (c == '\0')
                return 0;
        if (c == '@') {
                if (!g_variant_type_string_scan(*p + 1, NULL, &end))
                        return -EINVAL;
                *ret = (ValueGetItem) { .kind = '@', .type = (const GVariantType *) (*p + 1) };
                *p = end;
                return 1;
        }
        /* What an argument can be: the basic types values hold ('h' is
         * never one), or anything as a GVariant. */
        if (c != 'v' && !value_type_is_fast(c))
                return -EINVAL;
        *ret = (ValueGetItem) { .kind = c };
        (*p)++;
        return 1;
}

bool value_get_wants_variant(const char *types) {
        return strpbrk(types, "v@") != NULL;
}

/* The argument @value (unboxed) as @item says. */
static bool variant_matches(GVariant *value, const ValueGetItem *item) {
        const char *t;

        switch (item->kind) {
        case 'v':
                return true;
        case '@':
                return g_variant_is_of_type(value, item->type);
        default:
                t = g_variant_get_type_string(value);
                return t[0] == item->kind && t[1] == '\0';
        }
}

static void put_basic(char kind, const void *p, size_t size, va_list *ap) {
        void *out = va_arg(*ap, void *);

        /* NULL skips the argument, as in sd_bus_message_read_basic(). */
        if (!out)
                return;
        switch (kind) {
        case 's': case 'o': case 'g':
                *(const char **) out = p;
                break;
        case 'b':
                *(int *) out = *(const uint8_t *) p != 0;
                break;
        default:
                memcpy(out, p, size);
                break;
        }
}

/* A basic value through GLib's accessors, which read any form GLib
 * accepted (a short fixed-size value reads as zero). */
static void put_basic_variant(GVariant *value, char kind, va_list *ap) {
        BasicValue u;
        uint8_t y;

        switch (kind) {
        case 's': case 'o': case 'g':
                /* Into the list's own data, which the caller keeps. */
                put_basic(kind, g_variant_get_string(value, NULL), 0, ap);
                return;
        case 'b': y = g_variant_get_boolean(value); put_basic(kind, &y, 1, ap); return;
        case 'y': u.y = g_variant_get_byte(value); break;
        case 'n': u.n = g_variant_get_int16(value); break;
        case 'q': u.q = g_variant_get_uint16(value); break;
        case 'i': u.i = g_variant_get_int32(value); break;
        case 'u': u.u = g_variant_get_uint32(value); break;
        case 'x': u.x = g_variant_get_int64(value); break;
        case 't': u.t = g_variant_get_uint64(value); break;
        case 'd': u.d = g_variant_get_double(value); break;
        }
        put_basic(kind, &u, value_fixed_array_element_size(kind), ap);
}

/* The unboxed argument @i of "av" @args (NULL: empty), or NULL past the
 * end (a full reference). */
static GVariant *variant_arg(GVariant *args, size_t i) {
        GVariant *boxed, *value;

        if (!args || i >= g_variant_n_children(args))
                return NULL;
        boxed = g_variant_get_child_value(args, i);
        value = g_variant_get_variant(boxed);
        g_variant_unref(boxed);
        return value;
}

/* Checks (@ap NULL: every item, a bad one is -EINVAL whatever the
 * arguments; then -ENXIO for the first that does not match) or writes
 * (after a check) each argument @types names. */
static int get_from_variant(GVariant *args, const char *types, va_list *ap) {
        const char *p = types;
        ValueGetItem item;
        int r, mismatch = 0;
        size_t i = 0;

        while ((r = next_item(&p, &item)) > 0) {
                GVariant *value;

                if (mismatch)
                        continue;
                value = variant_arg(args, i++);
                if (!value || !variant_matches(value, &item)) {
                        if (value)
                                g_variant_unref(value);
                        mismatch = -ENXIO;
                        continue;
                }
                if (ap && (item.kind == 'v' || item.kind == '@')) {
                        GVariant **out = va_arg(*ap, GVariant **);

                        if (out)
                                *out = g_variant_ref(value);
                } else if (ap)
                        put_basic_variant(value, item.kind, ap);
                g_variant_unref(value);
        }
        return r < 0 ? r : mismatch;
}

/* The same from the list as written. */
static int get_from_writer(const ArgsWriter *w, const char *types, va_list *ap) {
        const char *p = types;
        ValueGetItem item;
        int r, mismatch = 0;
        size_t i = 0;

        while ((r = next_item(&p, &item)) > 0) {
                const uint8_t *value;
                size_t size;
                char type;

                if (mismatch)
                        continue;
                /* Only basic values are written there; for 'v' and '@' the
                 * caller makes the list a GVariant (value_get_wants_variant()). */
                if (!args_writer_get(w, i++, &type, &value, &size) || item.kind != type) {
                        mismatch = -ENXIO;
                        continue;
                }
                if (ap)
                        put_basic(type, value, size, ap);
        }
        return r < 0 ? r : mismatch;
}

int value_get_args(const ArgsWriter *pending, GVariant *args, const char *types, va_list ap) {
        va_list aq;
        int r;

        if (!types)
                return -EINVAL;
        /* Checked first (every item), written only if all of it matched;
         * from a copy of @ap, so that the caller's stays unused. */
        r = pending ? get_from_writer(pending, types, NULL) : get_from_variant(args, types, NULL);
        if (r < 0)
                return r;
        va_copy(aq, ap);
        r = pending ? get_from_writer(pending, types, &aq) : get_from_variant(args, types, &aq);
        va_end(aq);
        return r;
}
