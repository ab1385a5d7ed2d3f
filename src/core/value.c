/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GVariant to D-Bus: a value appended to a message in one walk, with every
 * check the contract makes (depth, size, UTF-8, types D-Bus lacks). The
 * other way is value-read.c. */
#include "value.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <ipcbus/ipcbus-value.h>

#define ALIGN_TO(x, a) (((x) + (a) - 1) & ~((uint64_t) (a) - 1))

/* ---- appending ---------------------------------------------------------- */

typedef struct Walk {
        sd_bus_message *m;  /* NULL: only check (and count) */
        sd_bus_error *error;
        unsigned arg;       /* 1-based argument number for messages; 0 for a lone value */
        uint64_t size;      /* D-Bus bytes so far, counted from an 8-aligned start */
        uint64_t limit;
        /* Arguments: open the "av" once the first is seen (then nothing is
         * appended if it is of refused_first's type: -EXDEV). */
        bool open_list;
        const char *refused_first;
} Walk;

static int walk(Walk *w, GVariant *v, unsigned depth);

static int value_failv(sd_bus_error *error, unsigned arg, int r, const char *format, va_list ap)
        G_GNUC_PRINTF(4, 0);
static int value_failv(sd_bus_error *error, unsigned arg, int r, const char *format, va_list ap) {
        char *text;

        /* The first problem found is the one reported. */
        if (!error || sd_bus_error_is_set(error))
                return r;

        text = g_strdup_vprintf(format, ap);
        if (arg > 0)
                sd_bus_error_setf(error, IPCBUS_ERROR_INVALID_ARGS, "argument %u: %s", arg, text);
        else
                sd_bus_error_setf(error, IPCBUS_ERROR_INVALID_ARGS, "value: %s", text);
        g_free(text);
        return r;
}

int value_fail(sd_bus_error *error, unsigned arg, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        r = value_failv(error, arg, r, format, ap);
        va_end(ap);
        return r;
}

static int walk_fail(Walk *w, int r, const char *format, ...) G_GNUC_PRINTF(3, 4);
static int walk_fail(Walk *w, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        r = value_failv(w->error, w->arg, r, format, ap);
        va_end(ap);
        return r;
}

static int walk_fail_bus(Walk *w, int r) {
        if (w->error && !sd_bus_error_is_set(w->error))
                sd_bus_error_set_errno(w->error, r);
        return r;
}

/*
 * Counts @n bytes at alignment @align and says whether to append them.
 * Past the limit nothing more is copied into the message, but the walk goes
 * on counting so that the error can give the full size.
 */
static inline bool walk_grow(Walk *w, unsigned align, uint64_t n) {
        w->size = ALIGN_TO(w->size, align) + n;
        if (w->size > w->limit)
                w->m = NULL;
        return w->m != NULL;
}

static unsigned dbus_alignment(char c) {
        switch (c) {
        case 'n': case 'q':
                return 2;
        case 'b': case 'i': case 'u': case 'h': case 's': case 'o': case 'a':
                return 4;
        case 'x': case 't': case 'd': case '(': case '{':
                return 8;
        default: /* y g v */
                return 1;
        }
}

int value_check_type_at(const char *type, unsigned depth, unsigned arg, sd_bus_error *error) {
        const char *problem = NULL;
        unsigned type_depth = 0;
        size_t len;
        int r;

        /* Most values are basic: nothing to scan, no depth of their own. */
        if (value_fast_paths && value_type_is_fast(type[0]) && type[1] == '\0')
                goto depth;

        len = strlen(type);
        r = value_type_check(type, len, false, &type_depth, &problem);
        if (r < 0) {
                if (len > VALUE_SIGNATURE_MAX)
                        return value_fail(error, arg, r, "type of %zu characters is longer than D-Bus's %u", len,
                                          VALUE_SIGNATURE_MAX);
                return value_fail(error, arg, r, "type '%s' %s", type, problem);
        }
depth:
        if (depth + type_depth > IPCBUS_VALUE_MAX_DEPTH)
                return value_fail(error, arg, -ELOOP, "value nested deeper than %d levels",
                                  IPCBUS_VALUE_MAX_DEPTH);
        return 0;
}

/* A type reached by the walk: the types of variants' contents, checked once each. */
static int walk_check_type(Walk *w, const char *type, unsigned depth) {
        return value_check_type_at(type, depth, w->arg, w->error);
}

static int walk_basic(Walk *w, char type, const void *p, unsigned size) {
        int r;

        if (!walk_grow(w, size, size))
                return 0;
        r = sd_bus_message_append_basic(w->m, type, p);
        return r < 0 ? walk_fail_bus(w, r) : 0;
}

/*
 * sd-bus refuses (on both ends) the Unicode noncharacters U+FDD0..U+FDEF and
 * U+nFFFE/U+nFFFF, which GLib and libdbus accept. @s is valid UTF-8 already.
 */
bool value_utf8_has_noncharacter(const char *s, size_t len) {
        const unsigned char *p = (const unsigned char *) s, *end = p + len;

        for (; p < end; p++) {
                if (*p < 0xEF)
                        continue;
                if (*p == 0xEF && end - p >= 3) {
                        if (p[1] == 0xB7 && p[2] >= 0x90 && p[2] <= 0xAF)
                                return true;
                        if (p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF))
                                return true;
                } else if (*p >= 0xF0 && end - p >= 4) {
                        if ((p[1] & 0x0F) == 0x0F && p[2] == 0xBF && (p[3] == 0xBE || p[3] == 0xBF))
                                return true;
                }
        }
        return false;
}

int value_string_check(const char *s, size_t len, unsigned arg, sd_bus_error *error) {
        /* Plain ASCII passes both checks; most strings are. With a length,
         * g_utf8_validate() also refuses NUL bytes. */
        if (value_fast_paths && value_is_plain_ascii(s, len))
                return 0;
        if (!g_utf8_validate(s, (gssize) len, NULL))
                return value_fail(error, arg, -EINVAL, "string is not valid UTF-8");
        if (value_utf8_has_noncharacter(s, len))
                return value_fail(error, arg, -EINVAL,
                                  "string holds a Unicode noncharacter (U+FDD0..U+FDEF or U+nFFFE/U+nFFFF), "
                                  "which sd-bus refuses");
        return 0;
}

/* Strings are checked on their serialized bytes: g_variant_get_string()
 * would quietly turn an invalid string from untrusted data into "". */
static int walk_string(Walk *w, GVariant *v, GVariantClass class) {
        const char *s = g_variant_get_data(v);
        size_t n = g_variant_get_size(v), len;
        char *p;
        int r;

        if (!s || n == 0 || s[n - 1] != '\0')
                return walk_fail(w, -EINVAL, "%s is not NUL-terminated",
                                 class == G_VARIANT_CLASS_STRING ? "string" :
                                 class == G_VARIANT_CLASS_OBJECT_PATH ? "object path" : "signature");
        len = n - 1;

        if (class == G_VARIANT_CLASS_STRING) {
                r = value_string_check(s, len, w->arg, w->error);
                if (r < 0)
                        return r;
                if (!walk_grow(w, 4, 4 + n))
                        return 0;
                /* Validated above; spares sd-bus a second pass over the string. */
                r = sd_bus_message_append_string_space(w->m, len, &p);
                if (r < 0)
                        return walk_fail_bus(w, r);
                memcpy(p, s, len);
                return 0;
        }

        if (class == G_VARIANT_CLASS_OBJECT_PATH) {
                if (memchr(s, '\0', len) || !g_variant_is_object_path(s))
                        return walk_fail(w, -EINVAL, "'%s' is not a valid object path",
                                         g_utf8_validate(s, (gssize) len, NULL) ? s : "(not UTF-8)");
                if (!walk_grow(w, 4, 4 + n))
                        return 0;
        } else {
                if (memchr(s, '\0', len) || !value_signature_is_dbus(s, len))
                        return walk_fail(w, -EINVAL, "'%s' is not a valid D-Bus signature",
                                         g_utf8_validate(s, (gssize) len, NULL) ? s : "(not UTF-8)");
                if (!walk_grow(w, 1, 1 + n))
                        return 0;
        }

        r = sd_bus_message_append_basic(w->m, class == G_VARIANT_CLASS_OBJECT_PATH ? 'o' : 'g', s);
        return r < 0 ? walk_fail_bus(w, r) : 0;
}

/* @child goes into a variant; @depth counts the containers around @child,
 * the variant included when it is part of the value. */
static int walk_in_variant(Walk *w, GVariant *child, unsigned depth) {
        const char *type = g_variant_get_type_string(child);
        int r;

        r = walk_check_type(w, type, depth);
        if (r < 0)
                return r;

        if (walk_grow(w, 1, 2 + strlen(type))) {
                r = sd_bus_message_open_container(w->m, 'v', type);
                if (r < 0)
                        return walk_fail_bus(w, r);
        }
        r = walk(w, child, depth);
        if (r < 0)
                return r;
        if (w->m) {
                r = sd_bus_message_close_container(w->m);
                if (r < 0)
                        return walk_fail_bus(w, r);
        }
        return 0;
}

static int walk_array(Walk *w, GVariant *v, unsigned depth) {
        const char *element = g_variant_get_type_string(v) + 1;
        size_t size = element[1] == '\0' ? value_fixed_array_element_size(element[0]) : 0;
        bool append;
        int r;

        walk_grow(w, 4, 4);

        if (size > 0) {
                gsize n;
                const void *p = g_variant_get_fixed_array(v, &n, size);

                if (!walk_grow(w, (unsigned) size, (uint64_t) n * size))
                        return 0;
                r = sd_bus_message_append_array(w->m, element[0], p, n * size);
                return r < 0 ? walk_fail_bus(w, r) : 0;
        }

        if (element[0] == 'b' && element[1] == '\0') {
                /* sd-bus has no array call for booleans (1 byte in GVariant, 4
                 * on D-Bus); at least skip a GVariant per element. */
                gsize n;
                const guchar *p = g_variant_get_fixed_array(v, &n, 1);

                if (!walk_grow(w, 4, (uint64_t) n * 4))
                        return 0;
                r = sd_bus_message_open_container(w->m, 'a', "b");
                for (gsize i = 0; r >= 0 && i < n; i++)
                        r = sd_bus_message_append_basic(w->m, 'b', &(int) { p[i] != 0 });
                if (r >= 0)
                        r = sd_bus_message_close_container(w->m);
                return r < 0 ? walk_fail_bus(w, r) : 0;
        }

        append = walk_grow(w, dbus_alignment(element[0]), 0);
        if (append) {
                r = sd_bus_message_open_container(w->m, 'a', element);
                if (r < 0)
                        return walk_fail_bus(w, r);
        }

        for (gsize i = 0, n = g_variant_n_children(v); i < n; i++) {
                GVariant *child = g_variant_get_child_value(v, i);

                r = walk(w, child, depth + 1);
                g_variant_unref(child);
                if (r < 0)
                        return r;
        }

        if (w->m) {
                r = sd_bus_message_close_container(w->m);
                if (r < 0)
                        return walk_fail_bus(w, r);
        }
        return 0;
}

/* Out of line so that the buffer is not part of every recursive frame. */
static G_GNUC_NO_INLINE int open_struct(sd_bus_message *m, char kind, const char *type) {
        char contents[VALUE_SIGNATURE_MAX + 1];
        size_t len = strlen(type);

        /* Every type reached here is part of one that passed type_check(). */
        assert(len >= 3 && len - 2 <= VALUE_SIGNATURE_MAX);
        memcpy(contents, type + 1, len - 2);
        contents[len - 2] = '\0';
        return sd_bus_message_open_container(m, kind, contents);
}

static int walk_struct(Walk *w, GVariant *v, unsigned depth, char kind) {
        gsize n = g_variant_n_children(v);
        int r;

        if (walk_grow(w, 8, 0)) {
                r = open_struct(w->m, kind, g_variant_get_type_string(v));
                if (r < 0)
                        return walk_fail_bus(w, r);
        }

        for (gsize i = 0; i < n; i++) {
                GVariant *child = g_variant_get_child_value(v, i);

                r = walk(w, child, depth + 1);
                g_variant_unref(child);
                if (r < 0)
                        return r;
        }

        if (w->m) {
                r = sd_bus_message_close_container(w->m);
                if (r < 0)
                        return walk_fail_bus(w, r);
        }
        return 0;
}

/* @v's type has been checked; @depth counts the containers around @v. */
static int walk(Walk *w, GVariant *v, unsigned depth) {
        GVariantClass class = g_variant_classify(v);

        switch (class) {
        case G_VARIANT_CLASS_BOOLEAN: {
                int b = g_variant_get_boolean(v);
                return walk_basic(w, 'b', &b, 4);
        }
        case G_VARIANT_CLASS_BYTE: {
                uint8_t x = g_variant_get_byte(v);
                return walk_basic(w, 'y', &x, 1);
        }
        case G_VARIANT_CLASS_INT16: {
                int16_t x = g_variant_get_int16(v);
                return walk_basic(w, 'n', &x, 2);
        }
        case G_VARIANT_CLASS_UINT16: {
                uint16_t x = g_variant_get_uint16(v);
                return walk_basic(w, 'q', &x, 2);
        }
        case G_VARIANT_CLASS_INT32: {
                int32_t x = g_variant_get_int32(v);
                return walk_basic(w, 'i', &x, 4);
        }
        case G_VARIANT_CLASS_UINT32: {
                uint32_t x = g_variant_get_uint32(v);
                return walk_basic(w, 'u', &x, 4);
        }
        case G_VARIANT_CLASS_INT64: {
                int64_t x = g_variant_get_int64(v);
                return walk_basic(w, 'x', &x, 8);
        }
        case G_VARIANT_CLASS_UINT64: {
                uint64_t x = g_variant_get_uint64(v);
                return walk_basic(w, 't', &x, 8);
        }
        case G_VARIANT_CLASS_DOUBLE: {
                double x = g_variant_get_double(v);
                return walk_basic(w, 'd', &x, 8);
        }
        case G_VARIANT_CLASS_STRING:
        case G_VARIANT_CLASS_OBJECT_PATH:
        case G_VARIANT_CLASS_SIGNATURE:
                return walk_string(w, v, class);
        case G_VARIANT_CLASS_VARIANT: {
                /* g_variant_get_variant() less its type check: @v is one. */
                GVariant *child = g_variant_get_child_value(v, 0);
                int r = walk_in_variant(w, child, depth + 1);

                g_variant_unref(child);
                return r;
        }
        case G_VARIANT_CLASS_ARRAY:
                return walk_array(w, v, depth);
        case G_VARIANT_CLASS_TUPLE:
                return walk_struct(w, v, depth, 'r');
        case G_VARIANT_CLASS_DICT_ENTRY:
                return walk_struct(w, v, depth, 'e');
        case G_VARIANT_CLASS_HANDLE:
        case G_VARIANT_CLASS_MAYBE:
                /* Refused by walk_check_type() before we get here. */
                break;
        }
        return walk_fail(w, -EINVAL, "type '%s' cannot be carried", g_variant_get_type_string(v));
}

int value_check_size(uint64_t size, uint64_t limit, bool arguments, sd_bus_error *error) {
        if (size <= limit)
                return 0;
        if (error && !sd_bus_error_is_set(error))
                sd_bus_error_setf(error, IPCBUS_ERROR_INVALID_ARGS,
                                  "%s of %" PRIu64 " bytes %s the limit of %" PRIu64 " bytes",
                                  arguments ? "arguments" : "value", size, arguments ? "exceed" : "exceeds",
                                  limit);
        return -EMSGSIZE;
}

static int walk_check_size(Walk *w, bool arguments) {
        return value_check_size(w->size, w->limit, arguments, w->error);
}

int value_append(sd_bus_message *m, GVariant *value, unsigned depth, sd_bus_error *error) {
        Walk w = { .m = m, .error = error, .limit = IPCBUS_VALUE_MAX_SIZE };
        int r;

        assert(m);
        assert(value);

        r = walk_check_type(&w, g_variant_get_type_string(value), depth);
        if (r < 0)
                return r;
        r = walk(&w, value, depth);
        if (r < 0)
                return r;
        return walk_check_size(&w, false);
}

int value_append_variant(sd_bus_message *m, GVariant *value, sd_bus_error *error) {
        Walk w = { .m = m, .error = error, .limit = IPCBUS_VALUE_MAX_SIZE };
        GVariant *undefined = NULL;
        int r;

        assert(m);

        if (!value)
                value = undefined = g_variant_ref_sink(ipcbus_value_undefined());
        r = walk_in_variant(&w, value, 0);
        if (undefined)
                g_variant_unref(undefined);
        if (r < 0)
                return r;
        return walk_check_size(&w, false);
}

int value_check(GVariant *value, sd_bus_error *error) {
        return value_check_limit(value, IPCBUS_VALUE_MAX_SIZE, error);
}

int value_check_limit(GVariant *value, uint64_t limit, sd_bus_error *error) {
        Walk w = { .error = error, .limit = limit };
        int r;

        if (!value)
                return walk_fail(&w, -EINVAL, "NULL is not a value (JavaScript's undefined is "
                                              "ipcbus_value_undefined())");
        r = walk_in_variant(&w, value, 0);
        if (r < 0)
                return r;
        return walk_check_size(&w, false);
}

static int walk_args_type(Walk *w, GVariant *args) {
        if (args && !g_variant_is_of_type(args, VALUE_TYPE_ARGS))
                return walk_fail(w, -EINVAL, "arguments must be of type 'av', not '%s'",
                                 g_variant_get_type_string(args));
        return 0;
}

/* Open the list being appended, if it is still to be. */
static int walk_open_list(Walk *w) {
        int r;

        if (!w->open_list)
                return 0;
        w->open_list = false;
        r = sd_bus_message_open_container(w->m, 'a', "v");
        return r < 0 ? walk_fail_bus(w, r) : 0;
}

/* Each argument as value_append_variant() does it, numbered for the
 * errors, then the whole list's size. */
static int walk_args(Walk *w, GVariant *args) {
        gsize n = args ? g_variant_n_children(args) : 0;
        int r;

        for (gsize i = 0; i < n; i++) {
                GVariant *boxed = g_variant_get_child_value(args, i);
                GVariant *value = g_variant_get_child_value(boxed, 0);

                /* The first argument's type, fetched anyway, before
                 * anything is appended. */
                if (i == 0 && w->refused_first && strcmp(g_variant_get_type_string(value), w->refused_first) == 0)
                        r = -EXDEV;
                else
                        r = walk_open_list(w);
                if (r >= 0) {
                        w->arg = (unsigned) i + 1;
                        r = walk_in_variant(w, value, 0);
                }
                g_variant_unref(value);
                g_variant_unref(boxed);
                if (r < 0)
                        return r;
        }
        r = walk_open_list(w);
        if (r < 0)
                return r;
        return walk_check_size(w, true);
}

int value_check_args_limit(GVariant *args, uint64_t limit, sd_bus_error *error) {
        Walk w = { .error = error, .limit = limit };
        int r;

        r = walk_args_type(&w, args);
        return r < 0 ? r : walk_args(&w, args);
}

int value_append_args(sd_bus_message *m, GVariant *args, sd_bus_error *error) {
        return value_append_args_unless(m, args, NULL, error);
}

int value_append_args_unless(sd_bus_message *m, GVariant *args, const char *refused_first, sd_bus_error *error) {
        Walk w = { .m = m, .error = error, .limit = IPCBUS_VALUE_MAX_SIZE, .open_list = true,
                   .refused_first = refused_first };
        int r;

        assert(m);

        r = walk_args_type(&w, args);
        if (r < 0)
                return r;
        r = walk_args(&w, args);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(m);
        return r < 0 ? walk_fail_bus(&w, r) : 0;
}

int ipcbus_value_check(GVariant *value, sd_bus_error *ret_error) {
        return value_check(value, ret_error);
}
