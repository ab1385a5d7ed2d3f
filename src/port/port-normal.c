/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "port-frame.h"
#include "value.h"

/* ---- normal form -------------------------------------------------------- */

/*
 * GVariant's normal form (the GVariant specification, "Normal Form"), for
 * the D-Bus subset of types. g_variant_is_normal_form() checks every element
 * of an array of numbers one by one (3.4 s for 256 MiB of "ay"); here such an
 * array costs one division, since every bit pattern of y n q i u x t d is
 * normal. Everything else follows GLib's checks step for step, and the fuzz
 * target (tests/fuzz/fuzz-port-frame.c) compares the two on every input.
 */

/* GLib's limit on nesting within one serialized value; beyond it GLib
 * calls nothing normal, and ipcbus_value_check() refuses far earlier. */
#define NORMAL_DEPTH_MAX 128U

typedef struct type_info {
        size_t len;     /* characters of the type string */
        unsigned align; /* alignment - 1 */
        size_t fixed;   /* fixed size, 0 for variable-sized */
} type_info;

/* @t is one complete type that value_type_check() accepted. */
static type_info type_info_of(const char *t) {
        type_info i = {}, m;
        size_t offset = 0;
        bool fixed = true;

        switch (t[0]) {
        case 'b':
        case 'y':
                return (type_info){ 1, 0, 1 };
        case 'n':
        case 'q':
                return (type_info){ 1, 1, 2 };
        case 'i':
        case 'u':
        case 'h':
                return (type_info){ 1, 3, 4 };
        case 'x':
        case 't':
        case 'd':
                return (type_info){ 1, 7, 8 };
        case 's':
        case 'o':
        case 'g':
                return (type_info){ 1, 0, 0 };
        case 'v':
                return (type_info){ 1, 7, 0 };
        case 'a':
                m = type_info_of(t + 1);
                return (type_info){ 1 + m.len, m.align, 0 };
        default: /* ( or { */
                i.len = 1;
                while (t[i.len] != ')' && t[i.len] != '}') {
                        m = type_info_of(t + i.len);
                        i.len += m.len;
                        if (m.align > i.align)
                                i.align = m.align;
                        if (m.fixed == 0)
                                fixed = false;
                        else
                                offset = ((offset + m.align) & ~(size_t)m.align) + m.fixed;
                }
                i.len++;
                /* Empty structs are not D-Bus types; GLib gives them size 1. */
                if (fixed)
                        i.fixed = offset == 0 ? 1 : (offset + i.align) & ~(size_t)i.align;
                return i;
        }
}

static unsigned offset_size_for(size_t size) {
        if (size > G_MAXUINT32)
                return 8;
        if (size > G_MAXUINT16)
                return 4;
        if (size > G_MAXUINT8)
                return 2;
        return size > 0 ? 1 : 0;
}

/* The size of a container body of @body bytes with @n offsets, in normal
 * form: the offsets as small as the total allows. */
static size_t total_size(size_t body, size_t n) {
        if (body + n <= G_MAXUINT8)
                return body + n;
        if (body + 2 * n <= G_MAXUINT16)
                return body + 2 * n;
        if (body + 4 * n <= G_MAXUINT32)
                return body + 4 * n;
        return body + 8 * n;
}

static size_t read_offset(const uint8_t *p, unsigned n) {
        uint64_t x = 0;

        /* Little-endian, @n of 0, 1, 2, 4 or 8 bytes. */
        for (unsigned i = 0; i < n; i++)
                x |= (uint64_t)p[i] << (8 * i);
        return (size_t)x;
}

static bool is_normal(const uint8_t *d, size_t size, const char *type, unsigned depth);

static bool string_is_normal(const uint8_t *d, size_t size, char type) {
        const char *end;

        if (!d || size == 0 || d[size - 1] != '\0')
                return false;
        /* Plain ASCII without NUL is valid UTF-8 too; most strings are, and
         * the word-at-a-time test is several times faster than GLib's. */
        if (!value_is_plain_ascii((const char *)d, size - 1)) {
                (void)g_utf8_validate_len((const char *)d, size, &end);
                if (end != (const char *)d + size - 1)
                        return false;
        }
        if (type == 'o')
                return g_variant_is_object_path((const char *)d);
        if (type == 'g')
                return g_variant_is_signature((const char *)d);
        return true;
}

static bool variant_is_normal(const uint8_t *d, size_t size, unsigned depth) {
        const char *type;
        size_t child_size;
        unsigned type_depth;
        const char *problem;
        type_info ti;

        if (size == 0)
                return false;
        /* The child's data ends at the last NUL; its type follows. */
        for (child_size = size - 1; child_size > 0; child_size--)
                if (d[child_size] == '\0')
                        break;
        if (d[child_size] != '\0')
                return false;
        type = (const char *)d + child_size + 1;
        /* Only types a channel carries: anything else is refused anyway. */
        if (value_type_check(type, size - child_size - 1, false, &type_depth, &problem) < 0)
                return false;

        {
                char buf[VALUE_SIGNATURE_MAX + 1];

                memcpy(buf, type, size - child_size - 1);
                buf[size - child_size - 1] = '\0';
                ti = type_info_of(buf);
                if (ti.fixed && ti.fixed != child_size)
                        return false;
                return is_normal(child_size ? d : NULL, child_size, buf, depth + 1);
        }
}

static bool array_is_normal(const uint8_t *d, size_t size, const char *type, unsigned depth) {
        const char *element = type + 1;
        type_info ei = type_info_of(element);
        size_t last_end, table, length, offset = 0;
        unsigned os;

        if (ei.fixed) {
                if (size % ei.fixed != 0)
                        return false;
                /* Every bit pattern of a number is normal. */
                if (strchr("ynqiuxtdh", element[0]))
                        return true;
                for (size_t at = 0; at < size; at += ei.fixed)
                        if (!is_normal(d + at, ei.fixed, element, depth + 1))
                                return false;
                return true;
        }

        if (size == 0)
                return true;
        os = offset_size_for(size);
        last_end = read_offset(d + size - os, os);
        if (last_end > size)
                return false;
        table = size - last_end;
        if (table % os != 0)
                return false;
        length = table / os;
        if (length == 0)
                return false;
        /* Offsets wider than needed are not normal. */
        if (total_size(last_end, length) != size)
                return false;

        for (size_t i = 0; i < length; i++) {
                size_t end = read_offset(d + last_end + i * os, os);

                if (end < offset || end > last_end)
                        return false;
                while (offset & ei.align) {
                        if (!(offset < end && d[offset] == '\0'))
                                return false;
                        offset++;
                }
                if (!is_normal(end > offset ? d + offset : NULL, end - offset, element, depth + 1))
                        return false;
                offset = end;
        }
        return true;
}

static bool tuple_is_normal(const uint8_t *d, size_t size, const char *type, unsigned depth) {
        type_info ti = type_info_of(type);
        unsigned os = offset_size_for(size);
        size_t offset = 0, offset_ptr = size;
        const char *m = type + 1;
        size_t n_offsets = 0;

        if (!d && size != 0)
                return false;

        while (*m != ')' && *m != '}') {
                type_info mi = type_info_of(m);
                bool last = m[mi.len] == ')' || m[mi.len] == '}';
                size_t end;

                while (offset & mi.align) {
                        if (offset >= size || d[offset] != '\0')
                                return false;
                        offset++;
                }

                if (mi.fixed)
                        end = offset + mi.fixed;
                else if (last)
                        end = offset_ptr;
                else {
                        if (offset_ptr < os)
                                return false;
                        offset_ptr -= os;
                        n_offsets++;
                        if (offset_ptr < offset)
                                return false;
                        /* An empty tuple body has no offsets (os is 0): they read as 0. */
                        end = os > 0 ? read_offset(d + offset_ptr, os) : 0;
                }
                if (end < offset || end > offset_ptr)
                        return false;
                if (!is_normal(end > offset ? d + offset : NULL, end - offset, m, depth + 1))
                        return false;
                offset = end;
                m += mi.len;
        }

        if (ti.fixed)
                while (offset & ti.align) {
                        if (offset >= size || d[offset++] != '\0')
                                return false;
                }
        if (offset_ptr != offset)
                return false;
        /* Offsets wider than needed are not normal (an empty body, where
         * there are none to read, GLib lets pass). */
        return size == 0 || total_size(offset, n_offsets) == size;
}

static bool is_normal(const uint8_t *d, size_t size, const char *type, unsigned depth) {
        if (depth >= NORMAL_DEPTH_MAX)
                return false;

        switch (type[0]) {
        case 'a':
                return array_is_normal(d, size, type, depth);
        case '(':
        case '{':
                return tuple_is_normal(d, size, type, depth);
        case 'v':
                return variant_is_normal(d, size, depth);
        case 's':
        case 'o':
        case 'g':
                return string_is_normal(d, size, type[0]);
        case 'b':
                return d && size == 1 && d[0] < 2;
        default:
                return d && size == type_info_of(type).fixed;
        }
}

bool port_frame_is_normal(GBytes *payload) {
        gsize size;
        const uint8_t *d = g_bytes_get_data(payload, &size);

        return is_normal(size > 0 ? d : NULL, size, "v", 0);
}
