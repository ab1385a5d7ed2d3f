/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Arguments given as sd_bus_message_append(3) takes them ("s", text;
 * "ai", 2, 1, 2; "v", "s", text; "a{sv}", 1, "key", "u", 7), appended as
 * the "av" list without a GVariant in between: each complete type of the
 * types string is one argument. Why: making, walking and freeing a
 * GVariant per message is a third of what a small send costs the sender.
 *
 * Two walks over the same arguments (a va_list is read once, so each walk
 * reads a copy): the first checks the types and counts the bytes; the
 * second appends straight to the message or, where the list may go out of
 * band (value-large.h), makes a GVariant for value-large.c to decide as
 * for any other list. The checks are those of value.c: the same types
 * refused, the same depth and size, the same strings.
 */
#include "value-va.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <ipcbus/ipcbus-value.h>

#include "value.h"
#include "value-ring.h"

#define ALIGN_TO(x, a) (((x) + (a) - 1) & ~((uint64_t) (a) - 1))

typedef enum VaMode {
        VA_MEASURE, /* check and count, nothing made */
        VA_APPEND,  /* into the message */
        VA_BUILD,   /* into a GVariant */
} VaMode;

typedef struct VaWalk {
        VaMode mode;
        sd_bus_message *m;
        va_list *ap;
        sd_bus_error *error;
        unsigned arg;  /* 1-based, for the errors */
        uint64_t size; /* D-Bus bytes, as value.c counts them */
        uint64_t gvariant_max; /* at least the list's GVariant size (va_wants_gvariant()) */
} VaWalk;

static int va_value(VaWalk *w, const char **types, unsigned depth, GVariant **ret);

static int va_fail_bus(VaWalk *w, int r) {
        if (w->error && !sd_bus_error_is_set(w->error))
                sd_bus_error_set_errno(w->error, r);
        return r;
}

/* The end of the complete type at @t, which a check already passed. */
static const char *type_end(const char *t) {
        const char *end = NULL;

        (void)g_variant_type_string_scan(t, NULL, &end);
        return end;
}

/*
 * One value of @n bytes of its own (its children count for themselves)
 * at D-Bus alignment @align; for GVariant, @gvariant_n bytes of its own, and
 * at most 7 of padding and 8 of framing offset in its container: GVariant
 * adds nothing else.
 */
static void count(VaWalk *w, unsigned align, uint64_t n, uint64_t gvariant_n) {
        w->size = ALIGN_TO(w->size, align) + n;
        w->gvariant_max += gvariant_n + 7 + 8;
}

static int va_basic(VaWalk *w, char type, GVariant **ret) {
        BasicValue u = {};
        unsigned size;
        int r;

        /* What sd_bus_message_appendv() reads for each type. */
        switch (type) {
        case 'y':
                u.y = (uint8_t) va_arg(*w->ap, int);
                size = 1;
                break;
        case 'b':
                u.b = va_arg(*w->ap, int) != 0;
                size = 4;
                break;
        case 'n':
                u.n = (int16_t) va_arg(*w->ap, int);
                size = 2;
                break;
        case 'q':
                u.q = (uint16_t) va_arg(*w->ap, int);
                size = 2;
                break;
        case 'i':
                u.i = va_arg(*w->ap, int32_t);
                size = 4;
                break;
        case 'u':
                u.u = va_arg(*w->ap, uint32_t);
                size = 4;
                break;
        case 'x':
                u.x = va_arg(*w->ap, int64_t);
                size = 8;
                break;
        case 't':
                u.t = va_arg(*w->ap, uint64_t);
                size = 8;
                break;
        case 'd':
                u.d = va_arg(*w->ap, double);
                size = 8;
                break;
        default:
                /* 'h' and the rest were refused by the type's check. */
                return value_fail(w->error, w->arg, -EINVAL, "type '%c' cannot be carried", type);
        }

        switch (w->mode) {
        case VA_MEASURE:
                count(w, size, size, size);
                return 0;
        case VA_APPEND:
                r = sd_bus_message_append_basic(w->m, type, &u);
                return r < 0 ? va_fail_bus(w, r) : 0;
        case VA_BUILD:
                break;
        }

        switch (type) {
        case 'y':
                *ret = g_variant_new_byte(u.y);
                break;
        case 'b':
                *ret = g_variant_new_boolean(u.b);
                break;
        case 'n':
                *ret = g_variant_new_int16(u.n);
                break;
        case 'q':
                *ret = g_variant_new_uint16(u.q);
                break;
        case 'i':
                *ret = g_variant_new_int32(u.i);
                break;
        case 'u':
                *ret = g_variant_new_uint32(u.u);
                break;
        case 'x':
                *ret = g_variant_new_int64(u.x);
                break;
        case 't':
                *ret = g_variant_new_uint64(u.t);
                break;
        default:
                *ret = g_variant_new_double(u.d);
                break;
        }
        return 0;
}

/* A string, path or signature: checked as value.c checks the serialized
 * ones, once, before either kind of output. */
static int va_string(VaWalk *w, char type, GVariant **ret) {
        const char *s = va_arg(*w->ap, const char *);
        size_t len;
        char *p;
        int r;

        /* sd-bus appends NULL as "" where that is valid. */
        if (!s && type == 'o')
                return value_fail(w->error, w->arg, -EINVAL, "object path is NULL");
        if (!s)
                s = "";
        len = strlen(s);

        if (w->mode == VA_MEASURE) {
                if (type == 'g')
                        count(w, 1, 1 + len + 1, len + 1);
                else
                        count(w, 4, 4 + len + 1, len + 1);
                return 0;
        }

        if (type == 's') {
                r = value_string_check(s, len, w->arg, w->error);
                if (r < 0)
                        return r;
        } else if (type == 'o' ? !g_variant_is_object_path(s) : !value_signature_is_dbus(s, len))
                return value_fail(w->error, w->arg, -EINVAL, "'%s' is not a valid %s",
                                  g_utf8_validate(s, (gssize) len, NULL) ? s : "(not UTF-8)",
                                  type == 'o' ? "object path" : "D-Bus signature");

        if (w->mode == VA_BUILD && type == 's') {
                /* Checked above: not through g_variant_new_string(), whose
                 * own UTF-8 scan would be a second pass (0.3 ms a MiB). */
                void *copy = g_memdup2(s, len + 1);

                *ret = g_variant_new_from_data(G_VARIANT_TYPE_STRING, copy, len + 1, TRUE, g_free, copy);
                return 0;
        }
        if (w->mode == VA_BUILD) {
                *ret = type == 'o' ? g_variant_new_object_path(s) : g_variant_new_signature(s);
                return 0;
        }
        if (type != 's') {
                r = sd_bus_message_append_basic(w->m, type, s);
                return r < 0 ? va_fail_bus(w, r) : 0;
        }
        /* Checked above; spares sd-bus a second pass over the string. */
        r = sd_bus_message_append_string_space(w->m, len, &p);
        if (r < 0)
                return va_fail_bus(w, r);
        memcpy(p, s, len);
        return 0;
}

/* The contents of a container, or of a variant, in its own string. */
static void copy_type(char buf[static VALUE_SIGNATURE_MAX + 1], const char *start, const char *end) {
        size_t n = (size_t) (end - start);

        /* Every type reached here is part of one that passed the check. */
        memcpy(buf, start, n);
        buf[n] = '\0';
}

/*
 * A container: opened in the message (APPEND), its children walked into
 * @c (BUILD makes them; the others leave it empty), closed. A failed walk
 * drops the children it made.
 */
static int va_open(VaWalk *w, char kind, const char *contents, ChildList *c) {
        int r;

        child_list_init(c);
        if (w->mode != VA_APPEND)
                return 0;
        r = sd_bus_message_open_container(w->m, kind, contents);
        return r < 0 ? va_fail_bus(w, r) : 0;
}

static int va_child(VaWalk *w, const char **types, unsigned depth, ChildList *c) {
        GVariant *child = NULL;
        int r;

        r = va_value(w, types, depth, &child);
        if (r >= 0 && child)
                child_list_push(c, child);
        return r;
}

static int va_close(VaWalk *w, ChildList *c, int r) {
        if (r < 0) {
                child_list_clear(c);
                return r;
        }
        if (w->mode != VA_APPEND)
                return 0;
        r = sd_bus_message_close_container(w->m);
        return r < 0 ? va_fail_bus(w, r) : 0;
}

static int va_array(VaWalk *w, const char **types, unsigned depth, GVariant **ret) {
        const char *element = *types + 1, *end = type_end(element);
        char contents[VALUE_SIGNATURE_MAX + 1];
        unsigned n = va_arg(*w->ap, unsigned);
        ChildList c;
        int r;

        copy_type(contents, element, end);
        *types = end;
        if (w->mode == VA_MEASURE)
                count(w, 4, 4, 0);

        r = va_open(w, 'a', contents, &c);
        for (unsigned i = 0; r >= 0 && i < n; i++) {
                const char *t = element;

                r = va_child(w, &t, depth + 1, &c);
        }
        r = va_close(w, &c, r);
        if (r >= 0 && w->mode == VA_BUILD) {
                *ret = g_variant_new_array((const GVariantType *) contents, c.items, c.n);
                child_list_forget(&c);
        }
        return r;
}

/* A struct "(...)" or a dict entry "{..}", its members inline. */
static int va_struct(VaWalk *w, const char **types, unsigned depth, GVariant **ret) {
        const char *t = *types, *end = type_end(t);
        bool entry = *t == '{';
        char contents[VALUE_SIGNATURE_MAX + 1];
        ChildList c;
        int r;

        copy_type(contents, t + 1, end - 1);
        *types = end;
        if (w->mode == VA_MEASURE)
                count(w, 8, 0, 0);

        r = va_open(w, entry ? 'e' : 'r', contents, &c);
        for (t++; r >= 0 && t < end - 1;)
                r = va_child(w, &t, depth + 1, &c);
        r = va_close(w, &c, r);
        if (r >= 0 && w->mode == VA_BUILD) {
                *ret = entry ? g_variant_new_dict_entry(c.items[0], c.items[1]) :
                               g_variant_new_tuple(c.items, c.n);
                child_list_forget(&c);
        }
        return r;
}

/* A "v" holding @type at @depth (the variant's own when it is part of a
 * value; 0 for an argument's). */
static int va_boxed(VaWalk *w, const char *type, unsigned depth, GVariant **ret) {
        GVariant *child = NULL;
        int r;

        r = value_check_type_at(type, depth, w->arg, w->error);
        if (r < 0)
                return r;

        if (w->mode == VA_MEASURE) {
                size_t n = strlen(type);

                count(w, 1, 2 + n, 1 + n);
        } else if (w->mode == VA_APPEND) {
                r = sd_bus_message_open_container(w->m, 'v', type);
                if (r < 0)
                        return va_fail_bus(w, r);
        }
        r = va_value(w, &type, depth, &child);
        if (r < 0)
                return r;
        if (w->mode == VA_APPEND) {
                r = sd_bus_message_close_container(w->m);
                return r < 0 ? va_fail_bus(w, r) : 0;
        }
        if (w->mode == VA_BUILD)
                *ret = g_variant_new_variant(child);
        return 0;
}

/* The value of the complete type at *@types (moved past it); @depth counts
 * the containers around it, as value.c's walk() does. */
static int va_value(VaWalk *w, const char **types, unsigned depth, GVariant **ret) {
        char type = **types;

        switch (type) {
        case 'a':
                return va_array(w, types, depth, ret);
        case '(':
        case '{':
                return va_struct(w, types, depth, ret);
        case 'v': {
                const char *contents = va_arg(*w->ap, const char *);

                (*types)++;
                if (!contents)
                        return value_fail(w->error, w->arg, -EINVAL, "variant's type is NULL");
                return va_boxed(w, contents, depth + 1, ret);
        }
        case 's':
        case 'o':
        case 'g':
                (*types)++;
                return va_string(w, type, ret);
        default:
                (*types)++;
                return va_basic(w, type, ret);
        }
}

/* The whole list: "av", or (BUILD) a floating GVariant of that type. */
static int va_args(VaWalk *w, const char *types, GVariant **ret) {
        ChildList c;
        int r;

        r = va_open(w, 'a', "v", &c);
        for (const char *t = types; r >= 0 && *t;) {
                const char *end = NULL;
                char one[VALUE_SIGNATURE_MAX + 1];
                GVariant *child = NULL;

                w->arg++;
                /* GLib finds where the type ends; the check says whether
                 * D-Bus has it (GVariant has more types). */
                if (!g_variant_type_string_scan(t, NULL, &end) || (size_t) (end - t) > VALUE_SIGNATURE_MAX) {
                        r = value_fail(w->error, w->arg, -EINVAL, "'%s' is not a D-Bus type string", types);
                        break;
                }
                copy_type(one, t, end);
                t = end;
                r = va_boxed(w, one, 0, &child);
                if (r >= 0 && child)
                        child_list_push(&c, child);
        }
        r = va_close(w, &c, r);
        if (r >= 0 && w->mode == VA_BUILD) {
                *ret = g_variant_new_array(G_VARIANT_TYPE_VARIANT, c.items, c.n);
                child_list_forget(&c);
        }
        return r;
}

static int va_walk(VaWalk *w, const char *types, va_list ap, GVariant **ret) {
        va_list copy;
        int r;

        va_copy(copy, ap);
        w->ap = &copy;
        r = va_args(w, types, ret);
        va_end(copy);
        return r;
}

/*
 * Whether the list needs a GVariant: where it may go out of band, or where
 * its first argument would read as the by-reference form (value-large.c
 * decides both on the GVariant, by its exact size). Below the threshold by
 * the measured bound, the GVariant would be too: inline, as the other path
 * would send it. The bound is close for the lists that matter (a few large
 * strings or arrays); for many tiny values it is loose, and they take the
 * GVariant path early.
 */
static bool va_wants_gvariant(const ValueLargePeer *peer, const char *types, uint64_t gvariant_max) {
        uint64_t min;

        if (!peer || !peer->takes)
                return false;
        if (peer->takes_ring_ref && strncmp(types, VALUE_RING_REF_TYPE, strlen(VALUE_RING_REF_TYPE)) == 0)
                return true;
        min = peer->takes_ring ? IPCBUS_VALUE_RING_MIN : IPCBUS_VALUE_LARGE_MIN;
        return gvariant_max >= min;
}

int value_args_va_build(const char *types, va_list ap, sd_bus_error *error, GVariant **ret) {
        /* One walk: building checks all that measuring would. */
        VaWalk w = { .mode = VA_BUILD, .error = error };
        GVariant *args = NULL;
        int r;

        if (!types)
                types = "";
        r = va_walk(&w, types, ap, &args);
        if (r < 0)
                return r;
        *ret = g_variant_ref_sink(args);
        return 0;
}

int value_append_args_va(sd_bus_message *m, const char *types, va_list ap, ValueLargePeer *peer,
                         sd_bus_error *error) {
        VaWalk w = { .mode = VA_MEASURE, .error = error };
        GVariant *args = NULL;
        int r;

        if (!types)
                types = "";

        r = va_walk(&w, types, ap, NULL);
        if (r < 0)
                return r;

        if (!va_wants_gvariant(peer, types, w.gvariant_max)) {
                r = value_check_size(w.size, IPCBUS_VALUE_MAX_SIZE, true, error);
                if (r < 0)
                        return r;
                w = (VaWalk) { .mode = VA_APPEND, .m = m, .error = error };
                return va_walk(&w, types, ap, NULL);
        }

        w = (VaWalk) { .mode = VA_BUILD, .error = error };
        r = va_walk(&w, types, ap, &args);
        if (r < 0)
                return r;
        g_variant_ref_sink(args);
        r = value_append_args_any(m, args, peer, error);
        g_variant_unref(args);
        return r;
}
