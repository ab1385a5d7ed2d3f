/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Is a peer's buffer a GVariant in normal form that D-Bus could carry?
 *
 * A large value arrives out of band as GVariant's own serialized form
 * (value-large.c). GLib can check that form (g_variant_is_normal_form()),
 * but it validates every string with g_utf8_validate(), a byte at a time,
 * and again on each g_variant_get_string() of untrusted data: at 1 MiB that
 * is most of a call. Here the whole buffer is walked once, with the rules of
 * GLib's normal form (gvariant-serialiser.c: framing offsets of the narrowest
 * width, zero padding, exact sizes of fixed-size values, booleans 0 or 1,
 * strings NUL-terminated), strings checked eight bytes at a time, and the
 * contract's own rules on top: types D-Bus has (no maybe, no "()", no 'h'),
 * strings sd-bus accepts (no noncharacters), IPCBUS_VALUE_MAX_DEPTH. What
 * passes is handed to GLib as trusted, so it is never looked at again.
 *
 * Every check here is at least as strict as GLib's; the fuzz target
 * fuzz-large-value holds it to that (anything accepted here must be normal
 * to GLib and read back equal).
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include <ipcbus/ipcbus-value.h>

#include "value.h"
#include "util.h"
#include "value-large.h"

typedef struct Layout {
        size_t align;   /* 1, 2, 4 or 8 */
        size_t fixed;   /* fixed size, 0 for variable-size types */
} Layout;

/* Past one complete type of a string value_type_check() accepted. */
static const char *type_skip(const char *t) {
        switch (*t) {
        case 'a':
                return type_skip(t + 1);
        case '(':
        case '{':
                t++;
                while (*t != ')' && *t != '}')
                        t = type_skip(t);
                return t + 1;
        default:
                return t + 1;
        }
}

static Layout type_layout(const char *t) {
        switch (*t) {
        case 'y': case 'b':
                return (Layout) { 1, 1 };
        case 'n': case 'q':
                return (Layout) { 2, 2 };
        case 'i': case 'u': case 'h':
                return (Layout) { 4, 4 };
        case 'x': case 't': case 'd':
                return (Layout) { 8, 8 };
        case 'v':
                return (Layout) { 8, 0 };
        case 'a':
                return (Layout) { type_layout(t + 1).align, 0 };
        case '(':
        case '{': {
                size_t align = 1, offset = 0;
                bool fixed = true;

                for (t++; *t != ')' && *t != '}'; t = type_skip(t)) {
                        Layout l = type_layout(t);

                        align = MAX(align, l.align);
                        if (l.fixed == 0)
                                fixed = false;
                        offset = ((offset + l.align - 1) & ~(l.align - 1)) + l.fixed;
                }
                if (!fixed)
                        return (Layout) { align, 0 };
                /* No empty structs here (D-Bus lacks them): offset > 0. */
                return (Layout) { align, (offset + align - 1) & ~(align - 1) };
        }
        default: /* s o g */
                return (Layout) { 1, 0 };
        }
}

/* GVariant's framing offsets are as wide as the whole container needs. */
static size_t offset_width(size_t size) {
        if (size > G_MAXUINT32)
                return 8;
        if (size > G_MAXUINT16)
                return 4;
        if (size > G_MAXUINT8)
                return 2;
        return 1;
}

/* The size GLib's serializer gives a container of @body bytes and @n
 * framing offsets: the offsets as narrow as the whole allows. A wider
 * choice reads the same but is not the normal form. */
static size_t total_size(size_t body, size_t n) {
        if (body + n <= G_MAXUINT8)
                return body + n;
        if (body + 2 * n <= G_MAXUINT16)
                return body + 2 * n;
        if (body + 4 * n <= G_MAXUINT32)
                return body + 4 * n;
        return body + 8 * n;
}

static size_t read_offset(const uint8_t *p, size_t width) {
        uint64_t v = 0;

        for (size_t i = 0; i < width; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return (size_t) v;
}

/*
 * UTF-8 as sd-bus takes it: no overlong forms, surrogates or code points past
 * U+10FFFF, no noncharacters (U+FDD0..U+FDEF, U+nFFFE, U+nFFFF), and no NUL
 * bytes. Runs of ASCII go 64 bytes at a time (value_ascii_prefix()).
 */
bool value_utf8_is_valid(const uint8_t *s, size_t len) {
        size_t i = 0;

        while (i < len) {
                uint32_t cp;
                uint8_t c;

                i += value_ascii_prefix(s + i, len - i);
                if (i == len)
                        break;
                c = s[i];
                if (c == 0)
                        return false;
                if (c >= 0xC2 && c <= 0xDF) {
                        if (len - i < 2 || (s[i + 1] & 0xC0) != 0x80)
                                return false;
                        i += 2;
                        continue;
                }
                if (c >= 0xE0 && c <= 0xEF) {
                        uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;

                        if (len - i < 3 || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80)
                                return false;
                        cp = ((uint32_t) (c & 0x0F) << 12) | ((uint32_t) (s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
                        i += 3;
                } else if (c >= 0xF0 && c <= 0xF4) {
                        uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;

                        if (len - i < 4 || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80 ||
                            (s[i + 3] & 0xC0) != 0x80)
                                return false;
                        cp = ((uint32_t) (c & 0x07) << 18) | ((uint32_t) (s[i + 1] & 0x3F) << 12) |
                             ((uint32_t) (s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
                        i += 4;
                } else
                        return false;
                if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE)
                        return false;
        }
        return true;
}

typedef struct Check {
        const char *problem;   /* static text, on failure */
} Check;

static bool check_fail(Check *c, const char *problem) {
        if (!c->problem)
                c->problem = problem;
        return false;
}

static bool check_value(Check *c, const char *t, const uint8_t *data, size_t size, unsigned depth);

/* Text of @size bytes, its NUL included. */
static bool check_text(Check *c, char type, const uint8_t *data, size_t size) {
        if (size == 0 || data[size - 1] != '\0')
                return check_fail(c, "a string is not NUL-terminated");
        if (type == 's') {
                /* One pass: NUL bytes inside are refused there too. */
                if (!value_utf8_is_valid(data, size - 1))
                        return check_fail(c, "a string is not UTF-8 that D-Bus strings may hold, or holds a NUL");
                return true;
        }
        if (memchr(data, '\0', size - 1))
                return check_fail(c, "a path or signature holds a NUL byte");
        switch (type) {
        case 'o':
                if (!g_variant_is_object_path((const char *) data))
                        return check_fail(c, "an object path is not valid");
                return true;
        default:
                if (!value_signature_is_dbus((const char *) data, size - 1))
                        return check_fail(c, "a signature is not a valid D-Bus signature");
                return true;
        }
}

static bool check_variant(Check *c, const uint8_t *data, size_t size, unsigned depth) {
        const char *problem = NULL;
        unsigned type_depth = 0;
        char type[VALUE_SIGNATURE_MAX + 1];
        size_t sep, len;

        /* The value, a NUL, then its type: the last NUL separates them. */
        if (size == 0)
                return check_fail(c, "a variant is empty");
        for (sep = size - 1; sep > 0 && data[sep] != '\0'; sep--)
                ;
        if (data[sep] != '\0')
                return check_fail(c, "a variant has no type");
        len = size - sep - 1;
        if (len == 0 || len > VALUE_SIGNATURE_MAX)
                return check_fail(c, "a variant's type is empty or too long");
        memcpy(type, data + sep + 1, len);
        type[len] = '\0';
        if (value_type_check(type, len, false, &type_depth, &problem) < 0 || type_skip(type) != type + len)
                return check_fail(c, "a variant holds a type D-Bus cannot carry");
        if (depth + type_depth > IPCBUS_VALUE_MAX_DEPTH)
                return check_fail(c, "the value is nested deeper than IPCBUS_VALUE_MAX_DEPTH");
        return check_value(c, type, data, sep, depth);
}

static bool check_zero(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

static bool check_array(Check *c, const char *element, const uint8_t *data, size_t size, unsigned depth) {
        Layout l = type_layout(element);
        size_t width, last_end, n, offset = 0;

        if (l.fixed > 0) {
                if (size % l.fixed)
                        return check_fail(c, "an array's size is not a multiple of its elements'");
                switch (*element) {
                case 'y': case 'n': case 'q': case 'i': case 'u': case 'x': case 't': case 'd':
                        return true; /* any bytes are a number */
                default:
                        for (size_t i = 0; i < size; i += l.fixed)
                                if (!check_value(c, element, data + i, l.fixed, depth + 1))
                                        return false;
                        return true;
                }
        }

        if (size == 0)
                return true;
        width = offset_width(size);
        if (size < width)
                return check_fail(c, "an array's framing is cut short");
        last_end = read_offset(data + size - width, width);
        if (last_end > size || (size - last_end) % width)
                return check_fail(c, "an array's framing offsets are not valid");
        n = (size - last_end) / width;
        if (n == 0 || total_size(last_end, n) != size)
                return check_fail(c, "an array's framing offsets are not valid");

        for (size_t i = 0; i < n; i++) {
                size_t end = read_offset(data + last_end + i * width, width);
                size_t start = (offset + l.align - 1) & ~(l.align - 1);

                if (end < offset || end > last_end || start > end || !check_zero(data + offset, start - offset))
                        return check_fail(c, "an array's framing offsets are not valid");
                if (!check_value(c, element, data + start, end - start, depth + 1))
                        return false;
                offset = end;
        }
        return true;
}

static bool check_struct(Check *c, const char *t, const uint8_t *data, size_t size, unsigned depth) {
        Layout whole = type_layout(t);
        /* An empty body has no offsets to read: they read as 0 (GLib). */
        size_t width = size > 0 ? offset_width(size) : 0, offset = 0, offsets_at = size;

        if (whole.fixed > 0 && size != whole.fixed)
                return check_fail(c, "a struct has the wrong size");

        for (t++; *t != ')' && *t != '}'; t = type_skip(t)) {
                const char *next = type_skip(t);
                Layout l = type_layout(t);
                size_t start = (offset + l.align - 1) & ~(l.align - 1), end;

                if (start > size || !check_zero(data + offset, start - offset))
                        return check_fail(c, "a struct's padding is not zero");
                if (l.fixed > 0)
                        end = start + l.fixed;
                else if (*next == ')' || *next == '}')
                        end = offsets_at;
                else {
                        /* A variable-size member that is not the last ends
                         * where its offset, stored from the end back, says. */
                        if (offsets_at < width || offsets_at - width < start)
                                return check_fail(c, "a struct's framing offsets are not valid");
                        offsets_at -= width;
                        end = width > 0 ? read_offset(data + offsets_at, width) : 0;
                }
                if (end < start || end > offsets_at)
                        return check_fail(c, "a struct's framing offsets are not valid");
                if (!check_value(c, t, data + start, end - start, depth + 1))
                        return false;
                offset = end;
        }

        if (whole.fixed > 0) {
                if (!check_zero(data + offset, size - offset))
                        return check_fail(c, "a struct's padding is not zero");
                return true;
        }
        if (offset != offsets_at || (size > 0 && total_size(offsets_at, (size - offsets_at) / width) != size))
                return check_fail(c, "a struct's framing offsets are not valid");
        return true;
}

static bool check_value(Check *c, const char *t, const uint8_t *data, size_t size, unsigned depth) {
        switch (*t) {
        case 'b':
                if (size != 1 || data[0] > 1)
                        return check_fail(c, "a boolean is not 0 or 1");
                return true;
        case 'y': case 'n': case 'q': case 'i': case 'u': case 'x': case 't': case 'd':
                if (size != type_layout(t).fixed)
                        return check_fail(c, "a number has the wrong size");
                return true;
        case 's': case 'o': case 'g':
                return check_text(c, *t, data, size);
        case 'v':
                return check_variant(c, data, size, depth + 1);
        case 'a':
                return check_array(c, t + 1, data, size, depth);
        case '(':
        case '{':
                return check_struct(c, t, data, size, depth);
        default:
                return check_fail(c, "a type D-Bus cannot carry");
        }
}

int value_normal_check(const char *type, const void *data, size_t size, const char **ret_problem) {
        Check c = {};
        bool ok;

        assert(streq(type, "av") || streq(type, "v"));

        /* The variants of a list, and the one of a result, are not counted
         * in the depth, as on the inline form (value_append_args()): their
         * contents are at depth 0. check_variant() takes its contents'
         * depth; an array's elements are 1 deeper than the array, and a
         * variant's contents 1 deeper than it, so the list is at -2. */
        if (streq(type, "av"))
                ok = check_array(&c, "v", data, size, (unsigned) -2);
        else
                ok = check_variant(&c, data, size, 0);
        if (!ok) {
                if (ret_problem)
                        *ret_problem = c.problem;
                return -EBADMSG;
        }
        return 0;
}
