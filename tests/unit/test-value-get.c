/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Argument lists read into C variables as sd_bus_message_read(3) reads
 * (value_get_args(), behind ipcbus_event_read()). Each list goes through a
 * real message and is read twice: as the main keeps a list of basic values
 * (ArgsWriter, no GVariant) and as a GVariant "av"; both readings must
 * give the same variables. A read that fails writes nothing.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ipcbus/ipcbus-value.h>

#include "value-pair.h"
#include "value.h"

/* One list, both ways: @pending as read for the main's listeners (NULL
 * where the list is not all basic values) and @args as a GVariant. */
typedef struct Lists {
        ArgsWriter pending;
        bool has_pending;
        GVariant *args;
} Lists;

static void lists_read(Pair *p, const char *text, Lists *ret) {
        g_autoptr(GVariant) sent = g_variant_ref_sink(g_variant_new_parsed(text));
        sd_bus_message *m = new_message(p), *in;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        GVariant *v = NULL;

        assert_int_equal(value_append_args(m, sent, &error), 0);
        in = transfer(p, m);
        sd_bus_message_unref(m);
        *ret = (Lists) {};
        args_writer_init(&ret->pending);
        assert_int_equal(value_read_args_pending(in, false, &v, NULL, &ret->pending), 0);
        ret->has_pending = !v;
        if (v)
                g_variant_unref(v);
        assert_int_equal(sd_bus_message_rewind(in, true), 1);
        assert_int_equal(value_read_args(in, &ret->args), 0);
        assert_true(g_variant_equal(ret->args, sent));
        sd_bus_message_unref(in);
}

static void lists_clear(Lists *l) {
        args_writer_clear(&l->pending);
        g_clear_pointer(&l->args, g_variant_unref);
}

/* @v equals the GVariant text @text. */
static bool equal_parsed(GVariant *v, const char *text) {
        g_autoptr(GVariant) want = g_variant_ref_sink(g_variant_new_parsed(text));

        return g_variant_equal(v, want);
}

static int get(const ArgsWriter *pending, GVariant *args, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = value_get_args(pending, args, types, ap);
        va_end(ap);
        return r;
}

/* Every basic type at its edges, read the same both ways. */
static void test_get_basic(void **state) {
        Lists l;

        lists_read(*state,
                   "[<byte 0xff>, <true>, <false>, <int16 -32768>, <uint16 65535>, <int32 -2147483648>,"
                   " <uint32 4294967295>, <int64 -9223372036854775808>, <uint64 18446744073709551615>,"
                   " <-0.5>, <'tëxt'>, <objectpath '/a/b'>, <signature 'a{sv}'>, <''>]",
                   &l);
        assert_true(l.has_pending);
        for (int way = 0; way < 2; way++) {
                const ArgsWriter *pending = way == 0 ? &l.pending : NULL;
                const char *s = NULL, *o = NULL, *g = NULL, *empty = NULL;
                uint8_t y = 0;
                int b1 = 7, b2 = 7;
                int16_t n = 0;
                uint16_t q = 0;
                int32_t i = 0;
                uint32_t u = 0;
                int64_t x = 0;
                uint64_t t = 0;
                double d = 0;

                assert_int_equal(get(pending, l.args, "ybbnqiuxtdsogs", &y, &b1, &b2, &n, &q, &i, &u, &x, &t, &d,
                                     &s, &o, &g, &empty),
                                 0);
                assert_int_equal(y, 0xff);
                assert_int_equal(b1, 1);
                assert_int_equal(b2, 0);
                assert_int_equal(n, INT16_MIN);
                assert_int_equal(q, UINT16_MAX);
                assert_int_equal(i, INT32_MIN);
                assert_int_equal(u, UINT32_MAX);
                assert_true(x == INT64_MIN);
                assert_true(t == UINT64_MAX);
                assert_true(d == -0.5);
                assert_string_equal(s, "tëxt");
                assert_string_equal(o, "/a/b");
                assert_string_equal(g, "a{sv}");
                assert_string_equal(empty, "");
                /* Fewer items than arguments: the first ones; NULL skips. */
                s = NULL;
                assert_int_equal(get(pending, l.args, "y", &y), 0);
                assert_int_equal(get(pending, l.args, "ybbnqiuxtds", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                     NULL, NULL, NULL, &s),
                                 0);
                assert_string_equal(s, "tëxt");
                assert_int_equal(get(pending, l.args, ""), 0);
        }
        lists_clear(&l);
}

/* A missing argument or one of another type: -ENXIO, and no variable is
 * written, not even those before it. */
static void test_get_mismatch(void **state) {
        Lists l;

        lists_read(*state, "[<'a'>, <uint32 7>, <int32 -1>]", &l);
        assert_true(l.has_pending);
        for (int way = 0; way < 2; way++) {
                const ArgsWriter *pending = way == 0 ? &l.pending : NULL;
                const char *s = "unset";
                uint32_t u = 42;
                int32_t i = 42;

                assert_int_equal(get(pending, l.args, "sui", &s, &u, &i), 0);
                s = "unset";
                u = 42;
                i = 42;
                assert_int_equal(get(pending, l.args, "suu", &s, &u, &i), -ENXIO);
                assert_int_equal(get(pending, l.args, "sii", &s, &u, &i), -ENXIO);
                assert_int_equal(get(pending, l.args, "o", &s), -ENXIO);
                assert_int_equal(get(pending, l.args, "suib", &s, &u, &i, &i), -ENXIO);
                assert_string_equal(s, "unset");
                assert_int_equal(u, 42);
                assert_int_equal(i, 42);
        }
        lists_clear(&l);
}

/* Items that are not one of the forms: -EINVAL, nothing written. */
static void test_get_bad_types(void **state) {
        static const char *const bad[] = { "h", "a{sv}", "as", "(s)", "m", "@", "@a{", "@a", "s@", "*", "?", "{ss}", "x)" };
        Lists l;

        lists_read(*state, "[<'a'>, <int64 1>]", &l);
        for (int way = 0; way < 2; way++) {
                const ArgsWriter *pending = way == 0 ? &l.pending : NULL;

                for (size_t k = 0; k < G_N_ELEMENTS(bad); k++) {
                        const char *s = "unset";
                        void *v = NULL;

                        if (way == 0 && value_get_wants_variant(bad[k]))
                                continue;
                        if (get(pending, l.args, bad[k], &s, &v, &v) != -EINVAL)
                                fail_msg("\"%s\" read %s", bad[k], way == 0 ? "as written" : "from the GVariant");
                        assert_string_equal(s, "unset");
                }
        }
        /* Read from the GVariant, the '@' forms too. */
        for (size_t k = 0; k < G_N_ELEMENTS(bad); k++)
                if (value_get_wants_variant(bad[k]))
                        assert_int_equal(get(NULL, l.args, bad[k], NULL, NULL, NULL), -EINVAL);
        assert_int_equal(get(&l.pending, l.args, NULL), -EINVAL);
        assert_int_equal(get(NULL, NULL, "s", NULL), -ENXIO);
        lists_clear(&l);
}

/* 'v' and '@': the argument as a GVariant, of any type or of the one named
 * (indefinite types too); containers, tagged values, nested variants. */
static void test_get_variants(void **state) {
        g_autoptr(GVariant) dict = NULL, any = NULL, str = NULL, tagged = NULL, inner = NULL;
        Lists l;
        const char *s = NULL;

        lists_read(*state, "[<{'k': <1>}>, <'x'>, <('null', <''>)>, <<int32 5>>]", &l);
        assert_false(l.has_pending);
        assert_int_equal(get(NULL, l.args, "@a{sv}s@(sv)v", &dict, &s, &tagged, &inner), 0);
        assert_true(equal_parsed(dict, "{'k': <1>}"));
        assert_string_equal(s, "x");
        assert_true(equal_parsed(tagged, "('null', <''>)"));
        /* The fourth argument is a variant holding an int32. */
        assert_true(equal_parsed(inner, "<int32 5>"));
        assert_int_equal(get(NULL, l.args, "v@s", &any, &str), 0);
        assert_true(g_variant_equal(any, dict));
        assert_true(equal_parsed(str, "'x'"));
        g_clear_pointer(&any, g_variant_unref);
        assert_int_equal(get(NULL, l.args, "@a*", &any), 0);
        g_clear_pointer(&any, g_variant_unref);
        assert_int_equal(get(NULL, l.args, "@*@?", &any, NULL), 0);
        g_clear_pointer(&any, g_variant_unref);
        /* Of another type: nothing written, no reference taken. */
        assert_int_equal(get(NULL, l.args, "@a{sv}@i", &any, &any), -ENXIO);
        assert_null(any);
        assert_int_equal(get(NULL, l.args, "@as", &any), -ENXIO);
        assert_int_equal(get(NULL, l.args, "s", &s), -ENXIO);
        assert_int_equal(get(NULL, l.args, "vvvvv", &any, &any, &any, &any, &any), -ENXIO);
        assert_null(any);
        lists_clear(&l);
}

/* A list kept as written and made a GVariant later keeps its data where
 * it was: strings read before stay good (under ASan a moved buffer is a
 * use after free). 126 bytes of string and the element's two fill the
 * first buffer exactly, so the framing needs more room. */
static void test_get_pending_then_variant(void **state) {
        char text[126];
        g_autofree char *list = NULL;
        g_autoptr(GVariant) args = NULL;
        const char *s = NULL, *again = NULL;
        Lists l;

        memset(text, 'a', sizeof(text) - 1);
        text[sizeof(text) - 1] = '\0';
        list = g_strdup_printf("[<'%s'>]", text);
        lists_read(*state, list, &l);
        assert_true(l.has_pending);
        assert_int_equal(get(&l.pending, NULL, "s", &s), 0);
        args = g_variant_ref_sink(args_writer_finish(&l.pending));
        assert_string_equal(s, text);
        assert_true(g_variant_equal(args, l.args));
        assert_int_equal(get(NULL, args, "s", &again), 0);
        assert_ptr_equal(again, s);
        lists_clear(&l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_get_basic),
                cmocka_unit_test(test_get_mismatch),
                cmocka_unit_test(test_get_bad_types),
                cmocka_unit_test(test_get_variants),
                cmocka_unit_test(test_get_pending_then_variant),
        };

        return cmocka_run_group_tests(tests, pair_setup, pair_teardown);
}
