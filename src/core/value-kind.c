/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <ipcbus/ipcbus-value.h>

#include "log.h"
#include "value.h"

/* What D-Bus allows within one signature (specification, "Valid Signatures").
 * Every variant starts a new signature, so these apply per variant. */
#define DBUS_ARRAY_NESTING_MAX 32U
#define DBUS_STRUCT_NESTING_MAX 32U

/* ---- types ------------------------------------------------------------ */

typedef struct TypeScan {
        const char *s;
        size_t n;
        size_t pos;
        bool allow_fd;
        const char *problem; /* static text, set on failure */
} TypeScan;

static bool is_basic_type(char c, bool allow_fd) {
        switch (c) {
        case 'y': case 'b': case 'n': case 'q': case 'i': case 'u':
        case 'x': case 't': case 'd': case 's': case 'o': case 'g':
                return true;
        case 'h':
                return allow_fd;
        default:
                return false;
        }
}

static int scan_fail(TypeScan *t, int r, const char *problem) {
        t->problem = problem;
        return r;
}

/*
 * One complete type at t->pos. Our own scanner rather than GLib's because
 * GVariant types are a superset of D-Bus's (maybe, "()", bare dict entries,
 * unlimited nesting), and because it yields the static depth on the way.
 * Recursion is bounded by the 32 + 32 nesting limits.
 */
static int scan_type(TypeScan *t, unsigned arrays, unsigned structs, unsigned *ret_depth) {
        unsigned depth = 0, d;
        int r;
        char c;

        if (t->pos >= t->n)
                return scan_fail(t, -EINVAL, "is incomplete");

        c = t->s[t->pos++];
        switch (c) {
        case 'v':
                *ret_depth = 1;
                return 0;

        case 'h':
                if (!t->allow_fd)
                        return scan_fail(t, -EINVAL,
                                         "holds a file descriptor ('h'): file descriptors travel only as "
                                         "MessagePort transfers");
                *ret_depth = 0;
                return 0;

        case 'a':
                if (arrays >= DBUS_ARRAY_NESTING_MAX)
                        return scan_fail(t, -ELOOP, "nests more than 32 arrays, more than D-Bus allows");
                if (t->pos < t->n && t->s[t->pos] == '{') {
                        t->pos++;
                        if (structs >= DBUS_STRUCT_NESTING_MAX)
                                return scan_fail(t, -ELOOP,
                                                 "nests more than 32 structs and dict entries, more than "
                                                 "D-Bus allows");
                        if (t->pos >= t->n || !is_basic_type(t->s[t->pos], t->allow_fd))
                                return scan_fail(t, -EINVAL, "has a dict key that is not a basic type");
                        t->pos++;
                        r = scan_type(t, arrays + 1, structs + 1, &d);
                        if (r < 0)
                                return r;
                        if (t->pos >= t->n || t->s[t->pos] != '}')
                                return scan_fail(t, -EINVAL,
                                                 "has a dict entry without exactly a key and a value");
                        t->pos++;
                        *ret_depth = 2 + d;
                        return 0;
                }
                r = scan_type(t, arrays + 1, structs, &d);
                if (r < 0)
                        return r;
                *ret_depth = 1 + d;
                return 0;

        case '(':
                if (structs >= DBUS_STRUCT_NESTING_MAX)
                        return scan_fail(t, -ELOOP,
                                         "nests more than 32 structs and dict entries, more than D-Bus "
                                         "allows");
                if (t->pos < t->n && t->s[t->pos] == ')')
                        return scan_fail(t, -EINVAL, "has an empty struct '()', which D-Bus forbids");
                while (t->pos < t->n && t->s[t->pos] != ')') {
                        r = scan_type(t, arrays, structs + 1, &d);
                        if (r < 0)
                                return r;
                        if (d > depth)
                                depth = d;
                }
                if (t->pos >= t->n)
                        return scan_fail(t, -EINVAL, "is incomplete");
                t->pos++;
                *ret_depth = 1 + depth;
                return 0;

        case 'm':
                return scan_fail(t, -EINVAL, "has a maybe type ('m'), which D-Bus lacks");

        case '{':
                return scan_fail(t, -EINVAL, "has a dict entry outside an array, which D-Bus forbids");

        default:
                if (is_basic_type(c, false)) {
                        *ret_depth = 0;
                        return 0;
                }
                return scan_fail(t, -EINVAL, "is not a D-Bus type");
        }
}

int value_type_check(const char *type, size_t len, bool allow_fd, unsigned *ret_depth,
                     const char **ret_problem) {
        TypeScan t = { .s = type, .n = len, .allow_fd = allow_fd };
        unsigned depth;
        int r;

        if (len > VALUE_SIGNATURE_MAX) {
                *ret_problem = "is longer than D-Bus's 255 characters";
                return -EINVAL;
        }
        r = scan_type(&t, 0, 0, &depth);
        if (r >= 0 && t.pos != len)
                r = scan_fail(&t, -EINVAL, "is not a single complete type");
        if (r < 0) {
                *ret_problem = t.problem;
                return r;
        }
        *ret_depth = depth;
        return 0;
}

bool value_signature_is_dbus(const char *s, size_t len) {
        TypeScan t = { .s = s, .n = len, .allow_fd = true };
        unsigned depth;

        if (len > VALUE_SIGNATURE_MAX)
                return false;
        while (t.pos < len)
                if (scan_type(&t, 0, 0, &depth) < 0)
                        return false;
        return true;
}

/*
 * Tagged values are "(sv)": the kind's name and its payload. The names are
 * JavaScript's constructor names, so a peer without ipcbus (busctl, Python)
 * can read and write them; each has one payload type, and a tag with any
 * other payload is an ordinary struct, never a half-understood kind.
 */
typedef struct Tag {
        ipcbus_kind kind;
        const char *name;
        const char *payload_type;
} Tag;

static const Tag tags[] = {
        { IPCBUS_KIND_UNDEFINED, "undefined", "s" },
        { IPCBUS_KIND_NULL, "null", "s" },
        { IPCBUS_KIND_DATE, "Date", "d" },
        { IPCBUS_KIND_MAP, "Map", "a(vv)" },
        { IPCBUS_KIND_SET, "Set", "av" },
        { IPCBUS_KIND_ARRAY_BUFFER, "ArrayBuffer", "ay" },
        { IPCBUS_KIND_REGEXP, "RegExp", "(ss)" },
        { IPCBUS_KIND_ERROR, "Error", "a{sv}" },
        { IPCBUS_KIND_BIGINT, "BigInt", "s" },
};

static GVariant *tagged_new(const char *name, GVariant *payload) {
        GVariant *children[2];

        children[0] = g_variant_new_string(name);
        children[1] = g_variant_new_variant(payload);
        return g_variant_new_tuple(children, 2);
}

/* -?(0|[1-9][0-9]*), and no "-0": JavaScript's BigInt has no negative zero. */
static bool bigint_decimal_is_valid(const char *s, size_t len) {
        size_t i = 0;

        if (len > 0 && s[0] == '-')
                i = 1;
        if (i >= len)
                return false;
        if (s[i] == '0')
                return len == i + 1 && i == 0;
        for (; i < len; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

/* The tag of a "(sv)" value whose payload has the tag's type, or NULL. */
static const Tag *tag_of(GVariant *value, GVariant **ret_payload) {
        GVariant *name_v, *boxed, *payload;
        const Tag *found = NULL;
        const char *name;

        if (!g_variant_is_of_type(value, G_VARIANT_TYPE("(sv)")))
                return NULL;

        name_v = g_variant_get_child_value(value, 0);
        name = g_variant_get_string(name_v, NULL);
        for (size_t i = 0; i < G_N_ELEMENTS(tags); i++)
                if (strcmp(name, tags[i].name) == 0) {
                        found = &tags[i];
                        break;
                }
        g_variant_unref(name_v);
        if (!found)
                return NULL;

        boxed = g_variant_get_child_value(value, 1);
        payload = g_variant_get_variant(boxed);
        g_variant_unref(boxed);

        if (!g_variant_is_of_type(payload, G_VARIANT_TYPE(found->payload_type)))
                found = NULL;
        else if (found->kind == IPCBUS_KIND_BIGINT) {
                gsize len;
                const char *s = g_variant_get_string(payload, &len);

                if (!bigint_decimal_is_valid(s, len))
                        found = NULL;
        }

        if (found && ret_payload)
                *ret_payload = payload;
        else
                g_variant_unref(payload);
        return found;
}

GVariant *ipcbus_args(GVariant *first, ...) {
        ChildList c;
        GVariant *args;
        va_list ap;

        /* A list of children rather than a GVariantBuilder: no copy of the
         * type, no resizing; g_variant_new_array() takes them as they are. */
        value_pin_types();
        child_list_init(&c);
        va_start(ap, first);
        for (GVariant *v = first; v; v = va_arg(ap, GVariant *))
                /* g_variant_new_variant() sinks a floating @v. */
                child_list_push(&c, g_variant_new_variant(v));
        va_end(ap);
        args = g_variant_new_array(G_VARIANT_TYPE_VARIANT, c.items, c.n);
        child_list_forget(&c);
        return args;
}

GVariant *ipcbus_args_get(GVariant *args, size_t index) {
        GVariant *boxed, *value;

        if (!args || !g_variant_is_of_type(args, VALUE_TYPE_ARGS))
                return NULL;
        if (index >= g_variant_n_children(args))
                return NULL;

        boxed = g_variant_get_child_value(args, index);
        /* g_variant_get_variant() less its type check: @boxed is a "v". */
        value = g_variant_get_child_value(boxed, 0);
        g_variant_unref(boxed);
        return value;
}

size_t ipcbus_args_count(GVariant *args) {
        if (!args || !g_variant_is_of_type(args, VALUE_TYPE_ARGS))
                return 0;
        return g_variant_n_children(args);
}

GVariant *ipcbus_value_null(void) {
        return tagged_new("null", g_variant_new_string(""));
}

GVariant *ipcbus_value_undefined(void) {
        return tagged_new("undefined", g_variant_new_string(""));
}

GVariant *ipcbus_value_new_date(double msec_since_epoch) {
        return tagged_new("Date", g_variant_new_double(msec_since_epoch));
}

GVariant *ipcbus_value_new_error(const char *name, const char *message) {
        GVariantBuilder b;

        if (!name)
                name = "Error";
        if (!message)
                message = "";
        /* g_variant_new_string() would print a critical on invalid UTF-8. */
        if (!g_utf8_validate(name, -1, NULL) || !g_utf8_validate(message, -1, NULL))
                return NULL;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", "name", g_variant_new_string(name));
        g_variant_builder_add(&b, "{sv}", "message", g_variant_new_string(message));
        return tagged_new("Error", g_variant_builder_end(&b));
}

GVariant *ipcbus_value_new_regexp(const char *source, const char *flags) {
        assert_return(source, NULL, NULL);
        if (!flags)
                flags = "";
        if (!g_utf8_validate(source, -1, NULL) || !g_utf8_validate(flags, -1, NULL))
                return NULL;
        return tagged_new("RegExp", g_variant_new("(ss)", source, flags));
}

GVariant *ipcbus_value_new_array_buffer(const void *data, size_t size) {
        void *copy;

        assert_return(data || size == 0, NULL, NULL);
        copy = g_memdup2(data, size);
        return tagged_new("ArrayBuffer",
                          g_variant_new_from_data(G_VARIANT_TYPE_BYTESTRING, copy, size, TRUE, g_free,
                                                  copy));
}

GVariant *ipcbus_value_new_bigint(const char *decimal) {
        size_t len;
        char *end;

        assert_return(decimal, NULL, NULL);
        len = strlen(decimal);
        if (!bigint_decimal_is_valid(decimal, len))
                return NULL;

        /* D-Bus peers expect 64-bit integers as x and t; only what does not
         * fit needs the tag. */
        errno = 0;
        if (decimal[0] == '-') {
                long long x = strtoll(decimal, &end, 10);

                if (errno == 0 && *end == '\0')
                        return g_variant_new_int64(x);
        } else {
                unsigned long long t = strtoull(decimal, &end, 10);

                if (errno == 0 && *end == '\0')
                        return t <= (unsigned long long) G_MAXINT64 ? g_variant_new_int64((gint64) t)
                                                                   : g_variant_new_uint64(t);
        }
        return tagged_new("BigInt", g_variant_new_string(decimal));
}

static GVariant *tagged_container_new(const char *name, GVariant *payload, const char *type) {
        GVariant *result = NULL;

        if (!payload)
                return NULL;
        g_variant_ref_sink(payload);
        if (g_variant_is_of_type(payload, G_VARIANT_TYPE(type)))
                result = tagged_new(name, payload);
        g_variant_unref(payload);
        return result;
}

GVariant *ipcbus_value_new_map(GVariant *entries) {
        assert_return(entries, NULL, NULL);
        return tagged_container_new("Map", entries, "a(vv)");
}

GVariant *ipcbus_value_new_set(GVariant *items) {
        assert_return(items, NULL, NULL);
        return tagged_container_new("Set", items, "av");
}

ipcbus_kind ipcbus_value_get_kind(GVariant *value) {
        ipcbus_kind kind = IPCBUS_KIND_INVALID;
        const char *type, *problem;
        GVariant *inner = NULL;
        const Tag *tag;
        unsigned depth;

        if (!value)
                return IPCBUS_KIND_INVALID;

        /* A variant is transparent. Iterative, as GVariants can nest variants
         * arbitrarily deep. */
        g_variant_ref(value);
        while (g_variant_is_of_type(value, G_VARIANT_TYPE_VARIANT)) {
                inner = g_variant_get_variant(value);
                g_variant_unref(value);
                value = inner;
        }

        type = g_variant_get_type_string(value);
        if (value_type_check(type, strlen(type), true, &depth, &problem) < 0)
                goto out;

        switch (g_variant_classify(value)) {
        case G_VARIANT_CLASS_BOOLEAN:
                kind = IPCBUS_KIND_BOOLEAN;
                break;
        case G_VARIANT_CLASS_BYTE:
        case G_VARIANT_CLASS_INT16:
        case G_VARIANT_CLASS_UINT16:
        case G_VARIANT_CLASS_INT32:
        case G_VARIANT_CLASS_UINT32:
        case G_VARIANT_CLASS_DOUBLE:
                kind = IPCBUS_KIND_NUMBER;
                break;
        case G_VARIANT_CLASS_INT64:
        case G_VARIANT_CLASS_UINT64:
                kind = IPCBUS_KIND_BIGINT;
                break;
        case G_VARIANT_CLASS_STRING:
        case G_VARIANT_CLASS_OBJECT_PATH:
        case G_VARIANT_CLASS_SIGNATURE:
                kind = IPCBUS_KIND_STRING;
                break;
        case G_VARIANT_CLASS_HANDLE:
                kind = IPCBUS_KIND_FD;
                break;
        case G_VARIANT_CLASS_ARRAY:
                if (strcmp(type, "ay") == 0)
                        kind = IPCBUS_KIND_BYTES;
                else if (type[1] == '{')
                        kind = type[2] == 's' ? IPCBUS_KIND_OBJECT : IPCBUS_KIND_DICT;
                else
                        kind = IPCBUS_KIND_ARRAY;
                break;
        case G_VARIANT_CLASS_TUPLE:
                tag = tag_of(value, NULL);
                kind = tag ? tag->kind : IPCBUS_KIND_STRUCT;
                break;
        case G_VARIANT_CLASS_VARIANT:
        case G_VARIANT_CLASS_MAYBE:
        case G_VARIANT_CLASS_DICT_ENTRY:
                /* Unwrapped above / refused by value_type_check(). */
                break;
        }

out:
        g_variant_unref(value);
        return kind;
}

GVariant *ipcbus_value_get_payload(GVariant *value, ipcbus_kind kind) {
        GVariant *payload = NULL;
        const Tag *tag;

        if (!value)
                return NULL;
        tag = tag_of(value, &payload);
        if (!tag)
                return NULL;
        if (tag->kind != kind) {
                g_variant_unref(payload);
                return NULL;
        }
        return payload;
}

const char *ipcbus_kind_to_string(ipcbus_kind kind) {
        switch (kind) {
        case IPCBUS_KIND_INVALID:
                return "invalid";
        case IPCBUS_KIND_UNDEFINED:
                return "undefined";
        case IPCBUS_KIND_NULL:
                return "null";
        case IPCBUS_KIND_BOOLEAN:
                return "boolean";
        case IPCBUS_KIND_NUMBER:
                return "number";
        case IPCBUS_KIND_BIGINT:
                return "bigint";
        case IPCBUS_KIND_STRING:
                return "string";
        case IPCBUS_KIND_ARRAY:
                return "Array";
        case IPCBUS_KIND_OBJECT:
                return "Object";
        case IPCBUS_KIND_MAP:
                return "Map";
        case IPCBUS_KIND_SET:
                return "Set";
        case IPCBUS_KIND_BYTES:
                return "Uint8Array";
        case IPCBUS_KIND_ARRAY_BUFFER:
                return "ArrayBuffer";
        case IPCBUS_KIND_DATE:
                return "Date";
        case IPCBUS_KIND_REGEXP:
                return "RegExp";
        case IPCBUS_KIND_ERROR:
                return "Error";
        case IPCBUS_KIND_STRUCT:
                return "struct";
        case IPCBUS_KIND_DICT:
                return "dict";
        case IPCBUS_KIND_FD:
                return "fd";
        }
        return "invalid";
}

