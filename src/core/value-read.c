/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* D-Bus to GVariant: a message's values read in one pass, "av" argument
 * lists of basic values written straight into GVariant's serialized form
 * (value-fast.c's building blocks), everything else built as a tree. */
#include "value.h"
#include "util.h"
#include "value-large.h"
#include "value-ring.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include <ipcbus/ipcbus-value.h>

/* ---- reading ------------------------------------------------------------ */

static int read_next(sd_bus_message *m, unsigned depth, GVariant **ret);

/* sd-bus validated strings, paths and signatures when reading them, more
 * strictly than GLib (noncharacters are refused too): no second pass. */
static GVariant *new_trusted_string(const GVariantType *type, const char *s) {
        size_t size = strlen(s) + 1;
        void *copy = g_memdup2(s, size);

        return g_variant_new_from_data(type, copy, size, TRUE, g_free, copy);
}

static int read_basic(sd_bus_message *m, char type, GVariant **ret) {
        BasicValue u;
        int r;

        r = sd_bus_message_read_basic(m, type, &u);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;

        switch (type) {
        case 'y': *ret = g_variant_new_byte(u.y); break;
        case 'b': *ret = g_variant_new_boolean(u.b); break;
        case 'n': *ret = g_variant_new_int16(u.n); break;
        case 'q': *ret = g_variant_new_uint16(u.q); break;
        case 'i': *ret = g_variant_new_int32(u.i); break;
        case 'u': *ret = g_variant_new_uint32(u.u); break;
        case 'x': *ret = g_variant_new_int64(u.x); break;
        case 't': *ret = g_variant_new_uint64(u.t); break;
        case 'd': *ret = g_variant_new_double(u.d); break;
        case 's': *ret = new_trusted_string(G_VARIANT_TYPE_STRING, u.s); break;
        case 'o': *ret = new_trusted_string(G_VARIANT_TYPE_OBJECT_PATH, u.s); break;
        case 'g': *ret = new_trusted_string(G_VARIANT_TYPE_SIGNATURE, u.s); break;
        default: return -EINVAL;
        }
        return 1;
}

/* Reads the children that follow, up to the end of the open container
 * (floating, as read_next() returns them). */
static int read_children(sd_bus_message *m, unsigned depth, ChildList *c) {
        int r;

        for (;;) {
                GVariant *child;

                r = read_next(m, depth, &child);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                child_list_push(c, child);
        }
        return sd_bus_message_exit_container(m);
}

/* "v" holding a value read at @depth (the variant's own depth + 1): the
 * variant, floating. */
int value_read_boxed(sd_bus_message *m, const char *contents, unsigned depth, GVariant **ret) {
        GVariant *child;
        int r;

        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;
        r = read_next(m, depth, &child);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;
        r = sd_bus_message_exit_container(m);
        if (r < 0) {
                g_variant_unref(child);
                return r;
        }
        *ret = g_variant_new_variant(child);
        return 1;
}

static int read_array(sd_bus_message *m, const char *contents, unsigned depth, GVariant **ret) {
        size_t size = contents[1] == '\0' ? value_fixed_array_element_size(contents[0]) : 0;
        ChildList c;
        int r;

        if (contents[0] == 'v' && contents[1] == '\0') {
                GVariant *v;

                r = sd_bus_message_enter_container(m, 'a', "v");
                if (r < 0)
                        return r;
                r = value_read_av_contents(m, depth + 2, false, NULL, NULL, &v);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0) {
                        g_variant_unref(v);
                        return r;
                }
                *ret = v;
                return 1;
        }

        if (contents[0] == 'b' && contents[1] == '\0') {
                GByteArray *array;
                GBytes *bytes;
                int flag;

                r = sd_bus_message_enter_container(m, 'a', "b");
                if (r < 0)
                        return r;
                array = g_byte_array_new();
                while ((r = sd_bus_message_read_basic(m, 'b', &flag)) > 0)
                        g_byte_array_append(array, &(guint8) { flag != 0 }, 1);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0) {
                        g_byte_array_unref(array);
                        return r;
                }
                bytes = g_byte_array_free_to_bytes(array);
                *ret = g_variant_new_from_bytes(G_VARIANT_TYPE("ab"), bytes, TRUE);
                g_bytes_unref(bytes);
                return 1;
        }

        if (size > 0) {
                const void *p;
                size_t bytes;

                r = sd_bus_message_read_array(m, contents[0], &p, &bytes);
                if (r > 0) {
                        const char type[3] = { 'a', contents[0], '\0' };
                        void *copy;

                        /* sd-bus checks the length against the limit, not
                         * against the element size; GVariant trusts it. */
                        if (bytes % size != 0)
                                return -EBADMSG;
                        copy = g_memdup2(p, bytes);

                        *ret = g_variant_new_from_data(G_VARIANT_TYPE(type), copy, bytes, TRUE, g_free,
                                                       copy);
                        return 1;
                }
                /* A message in the other byte order: read element by element,
                 * where sd-bus swaps. */
                if (r != -EOPNOTSUPP)
                        return r < 0 ? r : -EBADMSG;
        }

        r = sd_bus_message_enter_container(m, 'a', contents);
        if (r < 0)
                return r;

        child_list_init(&c);
        r = read_children(m, depth + 1, &c);
        if (r < 0) {
                child_list_clear(&c);
                return r;
        }
        /* sd-bus's contents is the element's complete type, also what an
         * empty array needs. */
        *ret = g_variant_new_array((const GVariantType *) contents, c.items, c.n);
        child_list_forget(&c);
        return 1;
}

static int read_struct(sd_bus_message *m, char type, const char *contents, unsigned depth, GVariant **ret) {
        ChildList c;
        int r;

        r = sd_bus_message_enter_container(m, type, contents);
        if (r < 0)
                return r;

        child_list_init(&c);
        r = read_children(m, depth + 1, &c);
        /* sd-bus checked the signature, but never let GLib's own
         * assertions see a malformed count. */
        if (r >= 0 && (c.n == 0 || (type == 'e' && c.n != 2)))
                r = -EBADMSG;
        if (r < 0) {
                child_list_clear(&c);
                return r;
        }
        if (type == 'e')
                *ret = g_variant_new_dict_entry(c.items[0], c.items[1]);
        else
                *ret = g_variant_new_tuple(c.items, c.n);
        child_list_forget(&c);
        return 1;
}

/* 1 and a floating value, 0 at the end of the open container. @depth counts
 * the containers around the value; the recursion stops at the limit, so a
 * hostile message cannot exhaust the stack. */
static int read_next(sd_bus_message *m, unsigned depth, GVariant **ret) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r <= 0)
                return r;

        switch (type) {
        case 'a': case 'r': case 'e': case 'v':
                if (depth + 1 > IPCBUS_VALUE_MAX_DEPTH)
                        return -ELOOP;
                break;
        case 'h':
                /* File descriptors travel only as MessagePort transfers. */
                return -EINVAL;
        default:
                return read_basic(m, type, ret);
        }

        switch (type) {
        case 'a':
                return read_array(m, contents, depth, ret);
        case 'v':
                return value_read_boxed(m, contents, depth + 1, ret);
        default:
                return read_struct(m, type, contents, depth, ret);
        }
}

int value_read(sd_bus_message *m, GVariant **ret) {
        GVariant *v;
        int r;

        assert(m);
        assert(ret);

        r = read_next(m, 0, &v);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;
        *ret = g_variant_ref_sink(v);
        return 0;
}

/* The by-reference form, "(tttt)" (contents checked). Return: whether read. */
static bool read_ring_ref(sd_bus_message *m, ValueLarge *ret) {
        return sd_bus_message_enter_container(m, 'v', VALUE_RING_REF_TYPE) > 0 &&
               sd_bus_message_enter_container(m, 'r', "tttt") > 0 &&
               sd_bus_message_read_basic(m, 't', &ret->dev) > 0 && sd_bus_message_read_basic(m, 't', &ret->ino) > 0 &&
               sd_bus_message_read_basic(m, 't', &ret->offset) > 0 &&
               sd_bus_message_read_basic(m, 't', &ret->size) > 0 && sd_bus_message_exit_container(m) >= 0 &&
               sd_bus_message_exit_container(m) >= 0;
}

/* The out-of-band forms (value-large.h): whether the variant ahead, of
 * @contents, is one; if so it is read into @ret (not ok: unreadable). */
static bool read_large(sd_bus_message *m, const char *contents, bool names_rings, ValueLarge *ret, bool *ret_ok) {
        bool ring = streq(contents, VALUE_RING_TYPE), ok;
        bool ref = !ring && names_rings && streq(contents, VALUE_RING_REF_TYPE);
        int fd = -1;

        if (!ring && !ref && !streq(contents, VALUE_LARGE_TYPE))
                return false;
        *ret = (ValueLarge) { .fd = -1, .ring = ring || ref, .ref = ref, .names_rings = names_rings };
        if (ring || ref) {
                /* Whose ring: its mapping goes with that peer. */
                ret->bus = sd_bus_message_get_bus(m);
                ret->sender = sd_bus_message_get_sender(m);
        }
        if (ref) {
                *ret_ok = read_ring_ref(m, ret);
                return true;
        }
        /* Container by container, not sd_bus_message_read()'s format
         * parsing (a third of its cost for this form). A form that breaks
         * off leaves the message unreadable: the caller refuses it. */
        ok = sd_bus_message_enter_container(m, 'v', contents) > 0 &&
             sd_bus_message_enter_container(m, 'r', ring ? "htt" : "ht") > 0 &&
             sd_bus_message_read_basic(m, 'h', &fd) > 0 &&
             (!ring || sd_bus_message_read_basic(m, 't', &ret->offset) > 0) &&
             sd_bus_message_read_basic(m, 't', &ret->size) > 0 &&
             sd_bus_message_exit_container(m) >= 0 && sd_bus_message_exit_container(m) >= 0;
        ret->fd = ok ? fd : -1;
        *ret_ok = ok;
        return true;
}

int value_read_variant(sd_bus_message *m, GVariant **ret) {
        return value_read_variant_or_large(m, false, ret, NULL);
}

int value_read_variant_or_large(sd_bus_message *m, bool names_rings, GVariant **ret, ValueLarge *ret_large) {
        const char *contents;
        GVariant *v;
        bool ok;
        char type;
        int r;

        assert(m);
        assert(ret);

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0 || type != 'v')
                return -ENXIO;
        /* The out-of-band form, where the caller takes it (value-large.h). */
        if (ret_large && contents[0] == '(' && read_large(m, contents, names_rings, ret_large, &ok)) {
                if (!ok)
                        return -EBADMSG;
                *ret = NULL;
                return 1;
        }

        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;
        r = read_next(m, 0, &v);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;
        r = sd_bus_message_exit_container(m);
        if (r < 0) {
                g_variant_unref(v);
                return r;
        }
        *ret = g_variant_ref_sink(v);
        return 0;
}

int value_read_args(sd_bus_message *m, GVariant **ret) {
        return value_read_args_or_large(m, false, ret, NULL);
}

int value_read_args_or_large(sd_bus_message *m, bool names_rings, GVariant **ret, ValueLarge *ret_large) {
        return value_read_args_pending(m, names_rings, ret, ret_large, NULL);
}

int value_read_args_pending(sd_bus_message *m, bool names_rings, GVariant **ret, ValueLarge *ret_large,
                            ArgsWriter *pending) {
        GVariant *v;
        int r;

        assert(m);
        assert(ret);

        r = sd_bus_message_enter_container(m, 'a', "v");
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;

        /* An argument's value sits inside "av" and "v", which the depth
         * limit does not count (see IPCBUS_VALUE_MAX_DEPTH). */
        r = value_read_av_contents(m, 0, names_rings, ret_large, pending, &v);
        if (r < 0)
                return r;
        if (r == 3) {
                r = sd_bus_message_exit_container(m);
                if (r < 0) {
                        args_writer_clear(pending);
                        return r;
                }
                *ret = NULL;
                return 0;
        }
        if (r == 2) {
                /* The form is the list's only element; a value never
                 * holds 'h', and a peer that names rings sends no
                 * "(tttt)" value there. */
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r == -EBUSY ? -EINVAL : r;
                *ret = NULL;
                return 1;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0) {
                g_variant_unref(v);
                return r;
        }
        *ret = g_variant_ref_sink(v);
        return 0;
}

/* ---- reading "av" -------------------------------------------------------- */

/* One "av" element, a variant of the basic @contents, added to @w as
 * GVariant lays it out. */
static int read_fast_entered(sd_bus_message *m, const char *contents, ArgsWriter *w);

static int read_fast_element(sd_bus_message *m, const char *contents, ArgsWriter *w) {
        int r;

        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;
        return read_fast_entered(m, contents, w);
}

/* The same once the variant is entered. */
static int read_fast_entered(sd_bus_message *m, const char *contents, ArgsWriter *w) {
        const void *p = NULL;
        size_t size = 0;
        BasicValue u;
        uint8_t b;
        int r;

        r = sd_bus_message_read_basic(m, contents[0], &u);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        /* Strings stay valid as long as the message. sd-bus validated them
         * (UTF-8, paths, signatures) more strictly than GLib does. */
        switch (contents[0]) {
        case 's': case 'o': case 'g':
                p = u.s;
                size = strlen(u.s) + 1;
                break;
        case 'b':
                b = u.b != 0;
                p = &b;
                size = 1;
                break;
        case 'y':
                p = &u.y;
                size = 1;
                break;
        case 'n': case 'q':
                p = &u.q;
                size = 2;
                break;
        case 'i': case 'u':
                p = &u.u;
                size = 4;
                break;
        case 'x': case 't': case 'd':
                p = &u.t;
                size = 8;
                break;
        default:
                /* value_type_is_fast() let only the above through. */
                assert(false);
                return -EINVAL;
        }
        args_writer_add(w, contents[0], p, size);
        return 0;
}

/*
 * While the elements are basic values the list is written serialized; at
 * the first other one, what was written becomes children (references into
 * the one buffer) and the rest is read by value.c's general code. The depth
 * check is the one read_next() makes for each element's variant.
 */
/*
 * The basic type each of the first elements had in the last list this
 * thread read. sd_bus_message_peek_type() of a variant costs what entering
 * it does (it reads and checks the signature in the message): entering with
 * the type guessed from the last list spares that when it is right, and
 * costs a failed enter (nothing read) when it is not. Senders tend to send
 * the same types again.
 */
#define GUESSED_ELEMENTS 4
static _Thread_local char guessed[GUESSED_ELEMENTS];

/* 1: the element was read as @guess said; 0: it is of another type, nothing
 * was read; or the end of the list (@ret_end). */
static int read_guessed_element(sd_bus_message *m, char guess, ArgsWriter *w, bool *ret_end) {
        const char contents[2] = { guess, '\0' };
        int r;

        r = sd_bus_message_at_end(m, false);
        if (r != 0) {
                *ret_end = true;
                return MIN(r, 0);
        }
        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r == -ENXIO)
                return 0;
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        r = read_fast_entered(m, contents, w);
        return r < 0 ? r : 1;
}

int value_read_av_contents(sd_bus_message *m, unsigned depth, bool names_rings, ValueLarge *ret_large,
                           ArgsWriter *pending, GVariant **ret) {
        bool fast = value_fast_paths, ok;
        size_t owned = 0;
        ArgsWriter local;
        ChildList c;
        int r;
        /* The caller's writer, where it keeps a list of basic values as
         * written; it is empty (args_writer_init()) and left so unless
         * that is what it gets. */
        ArgsWriter *w = pending ? pending : &local;

        value_pin_types();
        child_list_init(&c);
        if (!pending)
                args_writer_init(w);

        for (size_t at = 0;; at++) {
                const char *contents;
                GVariant *child;
                char type;

                if (fast && at < GUESSED_ELEMENTS && guessed[at] && depth <= IPCBUS_VALUE_MAX_DEPTH) {
                        bool end = false;

                        r = read_guessed_element(m, guessed[at], w, &end);
                        if (r < 0 || end)
                                break;
                        if (r > 0)
                                continue;
                }

                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r <= 0)
                        break;
                if (type != 'v') {
                        /* Not an element: left to exit_container() to refuse. */
                        r = 0;
                        break;
                }
                if (depth > IPCBUS_VALUE_MAX_DEPTH) {
                        r = -ELOOP;
                        break;
                }
                /* The list's first element may be the out-of-band form,
                 * where the caller takes it (value-large.h). */
                if (ret_large && c.n == 0 && w->n == 0 && contents[0] == '(' &&
                    read_large(m, contents, names_rings, ret_large, &ok)) {
                        if (!ok) {
                                r = -EBADMSG;
                                break;
                        }
                        args_writer_clear(w);
                        child_list_clear(&c);
                        *ret = NULL;
                        return 2;
                }

                if (fast && value_type_is_fast(contents[0]) && contents[1] == '\0') {
                        if (at < GUESSED_ELEMENTS)
                                guessed[at] = contents[0];
                        r = read_fast_element(m, contents, w);
                        if (r < 0)
                                break;
                        continue;
                }
                if (at < GUESSED_ELEMENTS)
                        guessed[at] = '\0';

                if (fast) {
                        GVariant *head = g_variant_ref_sink(args_writer_finish(w));

                        /* Our references, unlike the floating ones that follow. */
                        owned = g_variant_n_children(head);
                        for (size_t i = 0; i < owned; i++)
                                child_list_push(&c, g_variant_get_child_value(head, i));
                        g_variant_unref(head);
                        fast = false;
                }
                r = value_read_boxed(m, contents, depth, &child);
                if (r < 0)
                        break;
                child_list_push(&c, child);
        }
        if (r < 0) {
                args_writer_clear(w);
                child_list_clear(&c);
                return r;
        }

        if (fast && pending) {
                args_writer_reserve_framing(w);
                *ret = NULL;
                return 3;
        }
        if (fast) {
                *ret = args_writer_finish(w);
                return 1;
        }
        *ret = g_variant_new_array(G_VARIANT_TYPE_VARIANT, c.items, c.n);
        for (size_t i = 0; i < owned; i++)
                g_variant_unref(c.items[i]);
        child_list_forget(&c);
        return 1;
}
