/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-message shortcuts of the value module. Most argument lists are a
 * few basic values (a string, a number), and building them as a GVariant
 * tree costs more than carrying them: a builder, two GVariants, a GBytes
 * and a copy per argument, and GLib's type bookkeeping for each container.
 * Here an "av" of basic values read from a message is written in GVariant's
 * own serialized form, in one buffer (ArgsWriter), and GLib makes GVariants
 * for the elements only when someone reads them; the container types every
 * message uses stay known to GLib (value_pin_types()); ASCII strings skip
 * the UTF-8 scans. Anything else takes value.c's general code; the unit
 * tests run both (value_fast_paths).
 */
#include <assert.h>
#include <errno.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <ipcbus/ipcbus-value.h>

#include "value.h"

bool value_fast_paths = true;

/* Elements of an "av" (variants) start at multiples of 8. */
#define VARIANT_ALIGN 8U

/* A first buffer that holds a handful of small arguments. */
#define WRITER_FIRST_SIZE 128U

/*
 * GLib destroys a container type's bookkeeping (and, with the last one, its
 * whole table of types) when the last value of that type goes, and builds
 * it again for the next: a hash table, a copy of the type string and a lock
 * per message. One long-lived value of each type every message uses keeps
 * them: "av", "a{sv}" (and its "{sv}") and the tagged "(sv)".
 */
void value_pin_types(void) {
        static GVariant **pinned = NULL;

        if (g_once_init_enter(&pinned)) {
                GVariant **keep = g_new(GVariant *, 3);

                keep[0] = g_variant_ref_sink(g_variant_new_array(G_VARIANT_TYPE_VARIANT, NULL, 0));
                keep[1] = g_variant_ref_sink(g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0));
                keep[2] = g_variant_ref_sink(g_variant_new("(sv)", "", g_variant_new_string("")));
                g_once_init_leave(&pinned, keep);
        }
}

bool value_type_is_fast(char type) {
        switch (type) {
        case 'y': case 'b': case 'n': case 'q': case 'i': case 'u':
        case 'x': case 't': case 'd': case 's': case 'o': case 'g':
                return true;
        default:
                return false;
        }
}

size_t value_ascii_prefix(const void *p, size_t len) {
        const uint64_t low = UINT64_C(0x0101010101010101), high = UINT64_C(0x8080808080808080);
        const uint8_t *s = p;
        size_t i = 0;

#ifdef __SSE2__
        /* 64 bytes a step (x86-64 always has SSE2): no byte with its high
         * bit set, none equal to zero. Large strings are checked at about
         * the speed they are copied. */
        const __m128i zero = _mm_setzero_si128();

        for (; i + 64 <= len; i += 64) {
                __m128i a = _mm_loadu_si128((const __m128i *)(s + i));
                __m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
                __m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32));
                __m128i d = _mm_loadu_si128((const __m128i *)(s + i + 48));
                __m128i any = _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d));
                __m128i nul = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(a, zero), _mm_cmpeq_epi8(b, zero)),
                                           _mm_or_si128(_mm_cmpeq_epi8(c, zero), _mm_cmpeq_epi8(d, zero)));

                if (_mm_movemask_epi8(_mm_or_si128(any, nul)))
                        break;
        }
#endif
        /* Eight bytes at a time: no high bit, and no zero byte. */
        for (; i + 8 <= len; i += 8) {
                uint64_t x;

                memcpy(&x, s + i, sizeof(x));
                if ((x & high) || ((x - low) & ~x & high))
                        break;
        }
        for (; i < len; i++)
                if (s[i] - 1U >= 0x7FU)
                        break;
        return i;
}

bool value_is_plain_ascii(const char *s, size_t len) {
        return value_ascii_prefix(s, len) == len;
}

void args_writer_init(ArgsWriter *w) {
        /* Field by field: ends_inline is written before it is read, and
         * zeroing it (128 bytes) would be done twice per message. */
        w->data = NULL;
        w->size = 0;
        w->allocated = 0;
        w->ends = w->ends_inline;
        w->n = 0;
        w->n_allocated = G_N_ELEMENTS(w->ends_inline);
}

void args_writer_clear(ArgsWriter *w) {
        g_free(w->data);
        if (w->ends != w->ends_inline)
                g_free(w->ends);
        args_writer_init(w);
}

static void writer_reserve(ArgsWriter *w, size_t needed) {
        size_t allocated;

        if (needed <= w->allocated)
                return;
        allocated = MAX(MAX(w->allocated * 2, needed), (size_t) WRITER_FIRST_SIZE);
        w->data = g_realloc(w->data, allocated);
        w->allocated = allocated;
}

/* Where an element that follows one ending at @end starts. */
static size_t element_start(size_t end) {
        return (end + VARIANT_ALIGN - 1) & ~((size_t) VARIANT_ALIGN - 1);
}

bool args_writer_get(const ArgsWriter *w, size_t i, char *ret_type, const uint8_t **ret_value, size_t *ret_size) {
        size_t start, end;

        if (i >= w->n)
                return false;
        /* Each element starts at the first multiple of 8 after the one
         * before it, and ends with a NUL and its type (args_writer_add()). */
        start = i == 0 ? 0 : element_start(w->ends[i - 1]);
        end = w->ends[i];
        *ret_type = (char) w->data[end - 1];
        *ret_value = w->data + start;
        *ret_size = end - 2 - start;
        return true;
}

void args_writer_add(ArgsWriter *w, char type, const void *value, size_t size) {
        size_t start = element_start(w->size);
        size_t end = start + size + 2;

        writer_reserve(w, end);
        /* A variant: its value at the start, then a NUL and the value's type. */
        memset(w->data + w->size, 0, start - w->size);
        memcpy(w->data + start, value, size);
        w->data[start + size] = '\0';
        w->data[start + size + 1] = (uint8_t) type;
        w->size = end;

        if (w->n == w->n_allocated) {
                size_t n = w->n_allocated * 2;

                if (w->ends == w->ends_inline) {
                        w->ends = g_new(size_t, n);
                        memcpy(w->ends, w->ends_inline, sizeof(w->ends_inline));
                } else
                        w->ends = g_renew(size_t, w->ends, n);
                w->n_allocated = n;
        }
        w->ends[w->n++] = end;
}

/* GVariant's framing offsets: the narrowest width that can address the
 * whole array, offsets included. */
static size_t offset_size(size_t body, size_t n) {
        if (body + n <= G_MAXUINT8)
                return 1;
        if (body + 2 * n <= G_MAXUINT16)
                return 2;
        if (body + 4 * n <= G_MAXUINT32)
                return 4;
        return 8;
}

void args_writer_reserve_framing(ArgsWriter *w) {
        if (w->n > 0)
                writer_reserve(w, w->size + offset_size(w->size, w->n) * w->n);
}

GVariant *args_writer_finish(ArgsWriter *w) {
        size_t width, total;
        GBytes *bytes;
        GVariant *v;
        uint8_t *p;

        if (w->n == 0) {
                args_writer_clear(w);
                return g_variant_new_array(G_VARIANT_TYPE_VARIANT, NULL, 0);
        }

        /* After the last element, each element's end, little-endian. */
        width = offset_size(w->size, w->n);
        total = w->size + width * w->n;
        writer_reserve(w, total);
        p = w->data + w->size;
        for (size_t i = 0; i < w->n; i++) {
                uint64_t end = w->ends[i];

                for (size_t k = 0; k < width; k++, end >>= 8)
                        *p++ = (uint8_t) end;
        }
        assert(p == w->data + total);

        bytes = g_bytes_new_take(g_steal_pointer(&w->data), total);
        args_writer_clear(w);
        /* Trusted: written in normal form, from values sd-bus or GLib checked.
         * From a GBytes, not g_variant_new_from_data(): that one checks that
         * the type is definite, a walk of the type string per message. */
        v = g_variant_new_from_bytes(VALUE_TYPE_ARGS, bytes, TRUE);
        g_bytes_unref(bytes);
        return v;
}

/* ---- lists of children ------------------------------------------------ */

void child_list_init(ChildList *c) {
        c->items = c->inline_items;
        c->n = 0;
        c->allocated = G_N_ELEMENTS(c->inline_items);
}

void child_list_push(ChildList *c, GVariant *v) {
        if (c->n == c->allocated) {
                size_t n = c->allocated * 2;

                if (c->items == c->inline_items) {
                        c->items = g_new(GVariant *, n);
                        memcpy(c->items, c->inline_items, sizeof(c->inline_items));
                } else
                        c->items = g_renew(GVariant *, c->items, n);
                c->allocated = n;
        }
        c->items[c->n++] = v;
}

void child_list_forget(ChildList *c) {
        if (c->items != c->inline_items)
                g_free(c->items);
        child_list_init(c);
}

void child_list_clear(ChildList *c) {
        for (size_t i = 0; i < c->n; i++)
                g_variant_unref(c->items[i]);
        child_list_forget(c);
}

size_t value_fixed_array_element_size(char c) {
        switch (c) {
        case 'y':
                return 1;
        case 'n': case 'q':
                return 2;
        case 'i': case 'u':
                return 4;
        case 'x': case 't': case 'd':
                return 8;
        default:
                return 0;
        }
}
