/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Arguments as sd_bus_message_append(3) takes them (value-va.h, behind
 * ipcbus_renderer_sendf()): each list goes through a real message and must
 * read back as the GVariant list of the same values; what a GVariant list
 * may not hold is refused the same way, with nothing sent; and a list large
 * enough for a peer that takes large values leaves the message as any other
 * list does, decided by the same threshold.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ipcbus/ipcbus-value.h>

#include "value-large.h"
#include "value-pair.h"
#include "value-va.h"
#include "value.h"

static GVariant *read_back(Pair *p, sd_bus_message *m) {
        sd_bus_message *in = transfer(p, m);
        GVariant *got = NULL;

        assert_int_equal(value_read_args(in, &got), 0);
        assert_true(sd_bus_message_at_end(in, 1) > 0);
        sd_bus_message_unref(in);
        return got;
}

static void assert_equal_values(GVariant *expected, GVariant *got) {
        if (!g_variant_equal(expected, got)) {
                char *a = g_variant_print(expected, TRUE), *b = g_variant_print(got, TRUE);

                fail_msg("expected %s, got %s", a, b);
        }
}

/*
 * The list of @types and what follows, appended twice from the same
 * va_list (the call does not use it up), reads back as @expected (GVariant
 * text), and as the GVariant path appends @expected.
 */
static void assert_va(Pair *p, const char *expected, const char *types, ...) {
        GVariant *want = g_variant_ref_sink(g_variant_new_parsed(expected));
        sd_bus_error error = SD_BUS_ERROR_NULL;
        va_list ap;

        va_start(ap, types);
        for (int i = 0; i < 2; i++) {
                sd_bus_message *m = new_message(p);
                GVariant *got;
                int r;

                r = value_append_args_va(m, types, ap, NULL, &error);
                if (r < 0)
                        fail_msg("'%s': %d %s", types, r, error.message);
                got = read_back(p, m);
                sd_bus_message_unref(m);
                assert_equal_values(want, got);
                g_variant_unref(got);
        }
        va_end(ap);

        {
                sd_bus_message *m = new_message(p);
                GVariant *got;

                assert_int_equal(value_append_args(m, want, NULL), 0);
                got = read_back(p, m);
                sd_bus_message_unref(m);
                assert_equal_values(want, got);
                g_variant_unref(got);
        }
        g_variant_unref(want);
}

/* Refused with @expected and InvalidArgs mentioning @needle; the pair
 * keeps working. */
static void assert_va_refused(Pair *p, int expected, const char *needle, const char *types, ...) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = new_message(p);
        va_list ap;
        int r;

        va_start(ap, types);
        r = value_append_args_va(m, types, ap, NULL, &error);
        va_end(ap);
        if (r != expected)
                fail_msg("'%s': expected %d, got %d (%s)", types, expected, r,
                         error.message ? error.message : "no message");
        assert_string_equal(error.name, IPCBUS_ERROR_INVALID_ARGS);
        if (!strstr(error.message, needle))
                fail_msg("'%s' does not mention '%s'", error.message, needle);
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);

        assert_va(p, "[<'after'>]", "s", "after");
}

static void test_va_basic_types(void **state) {
        Pair *p = *state;

        assert_va(p, "@av []", "");
        assert_va(p, "@av []", NULL);
        assert_va(p, "[<'hello'>]", "s", "hello");
        assert_va(p, "[<byte 0xff>, <true>, <false>, <int16 -32768>, <uint16 65535>]", "ybbnq", 0xff, 1, 0,
                  INT16_MIN, UINT16_MAX);
        assert_va(p, "[<int32 -2147483648>, <uint32 4294967295>, <int64 -9223372036854775808>]", "iux", INT32_MIN,
                  UINT32_MAX, INT64_MIN);
        assert_va(p, "[<uint64 18446744073709551615>, <-0.0>, <1.5>]", "tdd", UINT64_MAX, -0.0, 1.5);
        /* Any non-zero int is true, as sd-bus reads it. */
        assert_va(p, "[<true>]", "b", 42);
        assert_va(p, "[<'h\u00e9llo \u2713'>, <objectpath '/org/ipcbus'>, <signature 'a{sv}h'>]", "sog",
                  "h\xc3\xa9llo \xe2\x9c\x93", "/org/ipcbus", "a{sv}h");
        /* NULL is the empty string, as sd-bus appends it. */
        assert_va(p, "[<''>, <signature ''>]", "sg", NULL, NULL);
}

static void test_va_containers(void **state) {
        Pair *p = *state;

        assert_va(p, "[<['a', 'b']>]", "as", 2, "a", "b");
        assert_va(p, "[<[1, 2, 3]>, <@ai []>]", "aiai", 3, 1, 2, 3, 0);
        assert_va(p, "[<[byte 1, 2]>]", "ay", 2, 1, 2);
        assert_va(p, "[<[[1, 2], @ai []]>]", "aai", 2, 2, 1, 2, 0);
        assert_va(p, "[<{'k': <uint32 7>, 'j': <'x'>}>]", "a{sv}", 2, "k", "u", 7, "j", "s", "x");
        assert_va(p, "[<@a{sv} {}>, <@a(ii) []>]", "a{sv}a(ii)", 0, 0);
        assert_va(p, "[<('Date', <1.5>)>]", "(sv)", "Date", "d", 1.5);
        assert_va(p, "[<(1, ('x', [true]))>]", "(i(sab))", 1, "x", 1, 1);
        assert_va(p, "[<<'boxed'>>, <<<uint32 3>>>]", "vv", "s", "boxed", "v", "u", 3);
        assert_va(p, "[<<[<'in'>, <@av []>]>>]", "v", "av", 2, "s", "in", "av", 0);
        assert_va(p, "[<{1: 'one'}>, <'after'>]", "a{is}s", 1, 1, "one", "after");
}

static void test_va_refused(void **state) {
        Pair *p = *state;
        char *big;

        assert_va_refused(p, -EINVAL, "file descriptor", "h", 3);
        assert_va_refused(p, -EINVAL, "argument 2: type 'h'", "sh", "x", 3);
        assert_va_refused(p, -EINVAL, "maybe", "mi", 1);
        assert_va_refused(p, -EINVAL, "dict entry outside an array", "{sv}", "k", "s", "v");
        assert_va_refused(p, -EINVAL, "empty struct", "()");
        assert_va_refused(p, -EINVAL, "not a D-Bus type string", "(");
        assert_va_refused(p, -EINVAL, "not a D-Bus type", "r");
        assert_va_refused(p, -EINVAL, "argument 2: string is not valid UTF-8", "ss", "ok", "\xff");
        assert_va_refused(p, -EINVAL, "noncharacter", "as", 1, "\xef\xb7\x90");
        assert_va_refused(p, -EINVAL, "'not/a/path' is not a valid object path", "o", "not/a/path");
        assert_va_refused(p, -EINVAL, "object path is NULL", "o", NULL);
        assert_va_refused(p, -EINVAL, "'a{' is not a valid D-Bus signature", "g", "a{");
        assert_va_refused(p, -EINVAL, "variant's type is NULL", "v", NULL);
        assert_va_refused(p, -EINVAL, "not a single complete type", "v", "ss", "a", "b");
        assert_va_refused(p, -EINVAL, "file descriptor", "v", "ah", 0);

        big = malloc(IPCBUS_VALUE_MAX_SIZE + 1);
        assert_non_null(big);
        memset(big, 'x', IPCBUS_VALUE_MAX_SIZE);
        big[IPCBUS_VALUE_MAX_SIZE] = '\0';
        assert_va_refused(p, -EMSGSIZE, "exceed the limit", "s", big);
        free(big);
}

/* @n nested structs around a variant holding @arrays nested arrays of int32
 * (empty): the type string, the variant's contents, and the same value as
 * GVariant text. */
static void nested(unsigned n, unsigned arrays, char *types, char *contents, GString *text) {
        char *t = types;

        for (unsigned i = 0; i < n; i++)
                *t++ = '(';
        *t++ = 'v';
        for (unsigned i = 0; i < n; i++)
                *t++ = ')';
        *t = '\0';
        memset(contents, 'a', arrays);
        contents[arrays] = 'i';
        contents[arrays + 1] = '\0';

        g_string_assign(text, "[<");
        for (unsigned i = 0; i < n; i++)
                g_string_append_c(text, '(');
        g_string_append_printf(text, "<@%s []>", contents);
        for (unsigned i = 0; i < n; i++)
                g_string_append(text, ",)");
        g_string_append(text, ">]");
}

/* Depth counts as for a GVariant list: 31 structs, then a variant whose
 * 30 arrays reach the limit; one more array is over it, both ways. */
static void test_va_depth(void **state) {
        Pair *p = *state;
        char types[128], contents[64];
        GString *text = g_string_new(NULL);
        GVariant *over;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m;

        nested(31, 30, types, contents, text);
        assert_va(p, text->str, types, contents, 0);

        nested(31, 31, types, contents, text);
        assert_va_refused(p, -ELOOP, "nested deeper than", types, contents, 0);
        over = g_variant_ref_sink(g_variant_new_parsed(text->str));
        m = new_message(p);
        assert_int_equal(value_append_args(m, over, &error), -ELOOP);
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);
        g_variant_unref(over);
        g_string_free(text, TRUE);
}

/* A list of one string whose GVariant is exactly @size bytes. */
static char *string_for_size(size_t size) {
        size_t len = size - 8;

        for (;;) {
                char *s = g_malloc(len + 1);
                GVariant *args;
                size_t got;

                memset(s, 'L', len);
                s[len] = '\0';
                args = g_variant_ref_sink(ipcbus_args(g_variant_new_string(s), NULL));
                got = g_variant_get_size(args);
                g_variant_unref(args);
                if (got == size)
                        return s;
                assert_true(got < size);
                len += size - got;
                g_free(s);
        }
}

/* @n arguments, bytes 1 to 10 over and over. */
static GVariant *many_bytes(size_t n) {
        GVariant **children = g_new(GVariant *, n);
        GVariant *args;

        for (size_t i = 0; i < n; i++)
                children[i] = g_variant_new_variant(g_variant_new_byte((guint8) (i % 10 + 1)));
        args = g_variant_ref_sink(g_variant_new_array(G_VARIANT_TYPE_VARIANT, children, n));
        g_free(children);
        return args;
}

/* 1 if the list went out of band (checked against @want either way). */
static int send_to_peer(Pair *p, ValueLargePeer *peer, GVariant *want, const char *types, ...) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = new_message(p), *in;
        GVariant *got = NULL;
        ValueLarge large;
        va_list ap;
        int r, large_form;

        va_start(ap, types);
        r = value_append_args_va(m, types, ap, peer, &error);
        va_end(ap);
        if (r < 0)
                fail_msg("'%s': %d %s", types, r, error.message);
        in = transfer(p, m);
        sd_bus_message_unref(m);
        large_form = value_read_args_or_large(in, false, &got, &large);
        assert_true(large_form >= 0);
        if (large_form > 0)
                assert_int_equal(value_large_open(&large, "av", &error, &got), 0);
        sd_bus_message_unref(in);
        assert_equal_values(want, got);
        g_variant_unref(got);
        return large_form;
}

/* Toward a peer that takes memfds: from IPCBUS_VALUE_LARGE_MIN bytes of
 * GVariant on, as ipcbus_renderer_send() decides, whatever the types. */
static void test_va_large(void **state) {
        Pair *p = *state;
        ValueLargePeer peer = { .takes = true };
        const size_t sizes[] = { IPCBUS_VALUE_LARGE_MIN - 1, IPCBUS_VALUE_LARGE_MIN, IPCBUS_VALUE_LARGE_MIN + 1 };

        for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
                char *s = string_for_size(sizes[i]);
                GVariant *want = g_variant_ref_sink(ipcbus_args(g_variant_new_string(s), NULL));

                assert_int_equal(send_to_peer(p, &peer, want, "s", s), sizes[i] >= IPCBUS_VALUE_LARGE_MIN);
                g_variant_unref(want);
                g_free(s);
        }

        /* Containers go out of band as built GVariants. */
        {
                char *s = string_for_size(IPCBUS_VALUE_LARGE_MIN);
                GVariant *want = g_variant_ref_sink(g_variant_new_parsed(
                        "[<%s>, <{'k': <uint32 7>}>, <['a', 'b']>, <(1, <'v'>)>]", s));

                assert_int_equal(send_to_peer(p, &peer, want, "sa{sv}as(iv)", s, 1, "k", "u", 7, 2, "a", "b", 1,
                                              "s", "v"),
                                 1);
                g_variant_unref(want);
                g_free(s);
        }

        /* Many tiny values: GVariant lays each out in 10 bytes (8-aligned,
         * and an offset) where D-Bus takes 4, so the D-Bus size says
         * nothing of the threshold. Both ways of sending decide alike. */
        {
#define Y10 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
#define Y100 Y10, Y10, Y10, Y10, Y10, Y10, Y10, Y10, Y10, Y10
                GVariant *under = many_bytes(1600), *over = many_bytes(1700);
                char types[1701];

                assert_true(g_variant_get_size(under) < IPCBUS_VALUE_LARGE_MIN);
                assert_true(g_variant_get_size(over) >= IPCBUS_VALUE_LARGE_MIN);
                memset(types, 'y', 1700);
                types[1600] = '\0';
                assert_int_equal(send_to_peer(p, &peer, under, types, Y100, Y100, Y100, Y100, Y100, Y100, Y100,
                                              Y100, Y100, Y100, Y100, Y100, Y100, Y100, Y100, Y100),
                                 0);
                types[1600] = 'y';
                types[1700] = '\0';
                assert_int_equal(send_to_peer(p, &peer, over, types, Y100, Y100, Y100, Y100, Y100, Y100, Y100, Y100,
                                              Y100, Y100, Y100, Y100, Y100, Y100, Y100, Y100, Y100),
                                 1);
                g_variant_unref(under);
                g_variant_unref(over);
#undef Y100
#undef Y10
        }

        /* A peer that takes none gets them inline. */
        {
                char *s = string_for_size(IPCBUS_VALUE_LARGE_MIN + 1);
                GVariant *want = g_variant_ref_sink(ipcbus_args(g_variant_new_string(s), NULL));

                assert_int_equal(send_to_peer(p, NULL, want, "s", s), 0);
                assert_int_equal(send_to_peer(p, &(ValueLargePeer) {}, want, "s", s), 0);
                g_variant_unref(want);
                g_free(s);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_va_basic_types),
                cmocka_unit_test(test_va_containers),
                cmocka_unit_test(test_va_refused),
                cmocka_unit_test(test_va_depth),
                cmocka_unit_test(test_va_large),
        };

        return cmocka_run_group_tests(tests, pair_setup, pair_teardown);
}
