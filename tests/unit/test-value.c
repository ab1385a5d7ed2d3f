/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Values: every row of docs/values.md goes through a real D-Bus message on a
 * direct connection (a socketpair, one end a server, as systemd's
 * test-bus-server.c does) and must come back equal and of the same kind;
 * everything that cannot be carried is refused with InvalidArgs before
 * anything is sent.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>

#include <ipcbus/ipcbus-value.h>

#include "value.h"
#include "value-pair.h"

/*
 * What value_read_args() builds is marked trusted (normal form), and GLib
 * takes that on trust. Check it: the same bytes, loaded as untrusted data,
 * must be in normal form, and equal.
 */
static void assert_normal_form(GVariant *v) {
        GVariant *copy;

        assert_true(g_variant_is_normal_form(v));
        copy = g_variant_ref_sink(g_variant_new_from_data(g_variant_get_type(v), g_variant_get_data(v),
                                                          g_variant_get_size(v), FALSE, NULL, NULL));
        if (!g_variant_is_normal_form(copy))
                fail_msg("%s is not in normal form", g_variant_print(v, TRUE));
        assert_true(g_variant_equal(copy, v));
        g_variant_unref(copy);
}

/* Whether GLib holds @v serialized: it makes a new GVariant for each child
 * of serialized data, and hands out a tree's own (a test may know that). */
static bool held_serialized(GVariant *v) {
        GVariant *a, *b;
        bool serialized;

        if (g_variant_n_children(v) == 0)
                return false;
        a = g_variant_get_child_value(v, 0);
        b = g_variant_get_child_value(v, 0);
        serialized = a != b;
        g_variant_unref(a);
        g_variant_unref(b);
        return serialized;
}

/* Whether the last send_args() read its arguments into a serialized list
 * (looked at before anything else made GLib serialize it). */
static bool last_held_serialized;

static bool all_basic(GVariant *args) {
        bool basic = true;

        for (size_t i = 0; basic && i < ipcbus_args_count(args); i++) {
                GVariant *v = ipcbus_args_get(args, i);
                const char *type = g_variant_get_type_string(v);

                basic = type[1] == '\0' && strchr("ybnqiuxtdsog", type[0]);
                g_variant_unref(v);
        }
        return basic;
}

/* Appends @args, sends, reads them back; returns what arrived. */
static GVariant *send_args(Pair *p, GVariant *args) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = new_message(p), *in;
        GVariant *got = NULL;
        int r;

        r = value_append_args(m, args, &error);
        if (r < 0)
                fail_msg("value_append_args: %d %s: %s", r, error.name, error.message);
        in = transfer(p, m);
        sd_bus_message_unref(m);

        assert_int_equal(value_read_args(in, &got), 0);
        assert_true(sd_bus_message_at_end(in, 1) > 0);
        sd_bus_message_unref(in);
        assert_non_null(got);
        assert_false(g_variant_is_floating(got));
        last_held_serialized = held_serialized(got);
        assert_normal_form(got);
        return got;
}

/* The core assertion: equal after the trip, and the same kind. */
static void assert_roundtrip_args(Pair *p, GVariant *args) {
        GVariant *got;

        g_variant_ref_sink(args);
        got = send_args(p, args);

        if (!g_variant_equal(args, got)) {
                char *a = g_variant_print(args, TRUE), *b = g_variant_print(got, TRUE);
                fail_msg("sent %s, received %s", a, b);
        }
        assert_int_equal(ipcbus_args_count(got), ipcbus_args_count(args));
        for (size_t i = 0; i < ipcbus_args_count(args); i++) {
                GVariant *x = ipcbus_args_get(args, i), *y = ipcbus_args_get(got, i);

                assert_int_equal(ipcbus_value_get_kind(x), ipcbus_value_get_kind(y));
                g_variant_unref(x);
                g_variant_unref(y);
        }
        g_variant_unref(got);
        g_variant_unref(args);
}

static void assert_roundtrip(Pair *p, GVariant *value, ipcbus_kind kind) {
        g_variant_ref_sink(value);
        if (ipcbus_value_get_kind(value) != kind)
                fail_msg("%s is %s, expected %s", g_variant_print(value, TRUE),
                         ipcbus_kind_to_string(ipcbus_value_get_kind(value)), ipcbus_kind_to_string(kind));
        assert_int_equal(ipcbus_value_check(value, NULL), 0);
        assert_roundtrip_args(p, ipcbus_args(value, NULL));
        g_variant_unref(value);
}

/* Sends one double and returns the double that arrived. */
static double roundtrip_double(Pair *p, double d) {
        GVariant *args = g_variant_ref_sink(ipcbus_args(g_variant_new_double(d), NULL));
        GVariant *got = send_args(p, args), *v = ipcbus_args_get(got, 0);
        double r;

        assert_int_equal(ipcbus_value_get_kind(v), IPCBUS_KIND_NUMBER);
        r = g_variant_get_double(v);
        g_variant_unref(v);
        g_variant_unref(got);
        g_variant_unref(args);
        return r;
}

/* After a refusal, the same connection still carries a fresh message. */
static void assert_fresh_message_works(Pair *p) {
        assert_roundtrip_args(p, ipcbus_args(g_variant_new_string("after"), g_variant_new_int32(1), NULL));
}

/* Appends @args and expects refusal with @r and a message containing each
 * of the NULL-terminated strings. */
static void assert_refused(Pair *p, GVariant *args, int expected, ...) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = new_message(p);
        const char *needle;
        va_list ap;
        int r;

        g_variant_ref_sink(args);
        r = value_append_args(m, args, &error);
        if (r != expected)
                fail_msg("expected %d, got %d (%s)", expected, r,
                         error.message ? error.message : "no message");
        assert_string_equal(error.name, IPCBUS_ERROR_INVALID_ARGS);
        assert_non_null(error.message);
        va_start(ap, expected);
        while ((needle = va_arg(ap, const char *)))
                if (!strstr(error.message, needle))
                        fail_msg("'%s' does not mention '%s'", error.message, needle);
        va_end(ap);

        sd_bus_error_free(&error);
        sd_bus_message_unref(m);
        g_variant_unref(args);
        assert_fresh_message_works(p);
}

/* ---- every row of the table ------------------------------------------- */

static void test_value_string_roundtrip(void **state) {
        assert_roundtrip(*state, g_variant_new_string("hello"), IPCBUS_KIND_STRING);
        assert_roundtrip(*state,
                         g_variant_new_string("h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x98\x80"),
                         IPCBUS_KIND_STRING);
        assert_roundtrip(*state, g_variant_new_string(""), IPCBUS_KIND_STRING);
}

static void test_value_double_roundtrip(void **state) {
        static const double values[] = { 3.5, 0.0, -1e300, DBL_MAX, DBL_MIN, 4.9406564584124654e-324 };
        uint64_t a, b;
        double d;

        for (size_t i = 0; i < G_N_ELEMENTS(values); i++)
                assert_roundtrip(*state, g_variant_new_double(values[i]), IPCBUS_KIND_NUMBER);

        /* NaN != NaN, and -0.0 == 0.0: compare bit patterns. */
        d = roundtrip_double(*state, NAN);
        assert_true(isnan(d));
        memcpy(&a, &(double){ NAN }, sizeof(a));
        memcpy(&b, &d, sizeof(b));
        assert_true(a == b);

        d = roundtrip_double(*state, -0.0);
        assert_true(d == 0.0 && signbit(d));

        assert_true(roundtrip_double(*state, INFINITY) == INFINITY);
        assert_true(roundtrip_double(*state, -INFINITY) == -INFINITY);

        assert_roundtrip(*state, g_variant_new_double(NAN), IPCBUS_KIND_NUMBER);
        assert_roundtrip(*state, g_variant_new_double(-0.0), IPCBUS_KIND_NUMBER);
        assert_roundtrip(*state, g_variant_new_double(INFINITY), IPCBUS_KIND_NUMBER);
}

static void test_value_small_integers_are_numbers(void **state) {
        assert_roundtrip(*state, g_variant_new_byte(0), IPCBUS_KIND_NUMBER);
        assert_roundtrip(*state, g_variant_new_byte(255), IPCBUS_KIND_NUMBER);
        assert_roundtrip(*state, g_variant_new_int16(INT16_MIN), IPCBUS_KIND_NUMBER);
        assert_roundtrip(*state, g_variant_new_int16(INT16_MAX), IPCBUS_KIND_NUMBER);
        assert_roundtrip(*state, g_variant_new_uint16(UINT16_MAX), IPCBUS_KIND_NUMBER);
        assert_roundtrip(*state, g_variant_new_int32(INT32_MIN), IPCBUS_KIND_NUMBER);
        assert_roundtrip(*state, g_variant_new_int32(INT32_MAX), IPCBUS_KIND_NUMBER);
        assert_roundtrip(*state, g_variant_new_uint32(UINT32_MAX), IPCBUS_KIND_NUMBER);
}

static void test_value_64bit_integers_are_bigints(void **state) {
        assert_roundtrip(*state, g_variant_new_int64(INT64_MIN), IPCBUS_KIND_BIGINT);
        assert_roundtrip(*state, g_variant_new_int64(INT64_MAX), IPCBUS_KIND_BIGINT);
        assert_roundtrip(*state, g_variant_new_int64(0), IPCBUS_KIND_BIGINT);
        assert_roundtrip(*state, g_variant_new_uint64(UINT64_MAX), IPCBUS_KIND_BIGINT);
}

static void test_value_bigint_tagged_roundtrip(void **state) {
        GVariant *v, *payload;

        v = g_variant_ref_sink(ipcbus_value_new_bigint("123456789012345678901234567890"));
        assert_string_equal(g_variant_get_type_string(v), "(sv)");
        payload = ipcbus_value_get_payload(v, IPCBUS_KIND_BIGINT);
        assert_string_equal(g_variant_get_string(payload, NULL), "123456789012345678901234567890");
        g_variant_unref(payload);
        assert_roundtrip(*state, v, IPCBUS_KIND_BIGINT);
        g_variant_unref(v);

        assert_roundtrip(*state, ipcbus_value_new_bigint("-98765432109876543210987654321"),
                         IPCBUS_KIND_BIGINT);
        assert_roundtrip(*state, ipcbus_value_new_bigint("18446744073709551616"), IPCBUS_KIND_BIGINT);

        /* What fits 64 bits is plain x / t, as other D-Bus peers expect. */
        v = g_variant_ref_sink(ipcbus_value_new_bigint("-9223372036854775808"));
        assert_true(g_variant_is_of_type(v, G_VARIANT_TYPE_INT64));
        assert_true(g_variant_get_int64(v) == INT64_MIN);
        g_variant_unref(v);
        v = g_variant_ref_sink(ipcbus_value_new_bigint("18446744073709551615"));
        assert_true(g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64));
        g_variant_unref(v);
        v = g_variant_ref_sink(ipcbus_value_new_bigint("42"));
        assert_true(g_variant_is_of_type(v, G_VARIANT_TYPE_INT64));
        assert_null(ipcbus_value_get_payload(v, IPCBUS_KIND_BIGINT));
        g_variant_unref(v);

        assert_null(ipcbus_value_new_bigint(NULL));
        assert_null(ipcbus_value_new_bigint(""));
        assert_null(ipcbus_value_new_bigint("-"));
        assert_null(ipcbus_value_new_bigint("-0"));
        assert_null(ipcbus_value_new_bigint("007"));
        assert_null(ipcbus_value_new_bigint("12a"));
        assert_null(ipcbus_value_new_bigint(" 1"));
}

static void test_value_boolean_roundtrip(void **state) {
        assert_roundtrip(*state, g_variant_new_boolean(TRUE), IPCBUS_KIND_BOOLEAN);
        assert_roundtrip(*state, g_variant_new_boolean(FALSE), IPCBUS_KIND_BOOLEAN);
}

static void test_value_null_undefined_roundtrip(void **state) {
        GVariant *n = g_variant_ref_sink(ipcbus_value_null());
        GVariant *u = g_variant_ref_sink(ipcbus_value_undefined());

        assert_string_equal(g_variant_get_type_string(n), "(sv)");
        assert_false(g_variant_equal(n, u));
        assert_roundtrip(*state, n, IPCBUS_KIND_NULL);
        assert_roundtrip(*state, u, IPCBUS_KIND_UNDEFINED);
        /* Inside containers too. */
        assert_roundtrip(*state, g_variant_new_parsed("[<('null', <''>)>, <('undefined', <''>)>]"),
                         IPCBUS_KIND_ARRAY);
        g_variant_unref(n);
        g_variant_unref(u);
}

static void test_value_array_roundtrip(void **state) {
        assert_roundtrip(*state,
                         g_variant_new_parsed("[<1.5>, <'two'>, <true>, <('null', <''>)>, <int64 5>]"),
                         IPCBUS_KIND_ARRAY);
        assert_roundtrip(*state, g_variant_new_parsed("@av []"), IPCBUS_KIND_ARRAY);
        assert_roundtrip(*state, g_variant_new_parsed("[<[<1.0>, <[<2.0>, <@av []>]>]>, <'x'>]"),
                         IPCBUS_KIND_ARRAY);
}

static void test_value_homogeneous_arrays_roundtrip(void **state) {
        static const int32_t ints[] = { INT32_MIN, -1, 0, 1, INT32_MAX };
        static const double doubles[] = { -0.0, 1.5, INFINITY, DBL_MAX };

        assert_roundtrip(*state, g_variant_new_parsed("['a', 'b\xc3\xa9', '']"), IPCBUS_KIND_ARRAY);
        assert_roundtrip(
                *state,
                g_variant_new_fixed_array(G_VARIANT_TYPE_INT32, ints, G_N_ELEMENTS(ints), sizeof(ints[0])),
                IPCBUS_KIND_ARRAY);
        assert_roundtrip(*state,
                         g_variant_new_fixed_array(G_VARIANT_TYPE_DOUBLE, doubles, G_N_ELEMENTS(doubles),
                                                   sizeof(doubles[0])),
                         IPCBUS_KIND_ARRAY);
        assert_roundtrip(*state, g_variant_new_parsed("@ai []"), IPCBUS_KIND_ARRAY);
        assert_roundtrip(*state, g_variant_new_parsed("[true, false, true]"), IPCBUS_KIND_ARRAY);
        assert_roundtrip(*state, g_variant_new_parsed("@ab []"), IPCBUS_KIND_ARRAY);
        {
                guchar bools[1001];

                for (size_t i = 0; i < sizeof(bools); i++)
                        bools[i] = i % 3 == 0;
                assert_roundtrip(*state,
                                 g_variant_new_fixed_array(G_VARIANT_TYPE_BOOLEAN, bools, sizeof(bools), 1),
                                 IPCBUS_KIND_ARRAY);
        }
        assert_roundtrip(*state, g_variant_new_parsed("[@n -1, 2]"), IPCBUS_KIND_ARRAY);
        assert_roundtrip(*state, g_variant_new_parsed("[@q 1, 65535]"), IPCBUS_KIND_ARRAY);
        assert_roundtrip(*state, g_variant_new_parsed("[@u 1, 4294967295]"), IPCBUS_KIND_ARRAY);
        assert_roundtrip(*state, g_variant_new_parsed("[@x -9223372036854775808, 9223372036854775807]"),
                         IPCBUS_KIND_ARRAY);
        assert_roundtrip(*state, g_variant_new_parsed("[@t 0, 18446744073709551615]"), IPCBUS_KIND_ARRAY);
        assert_roundtrip(*state, g_variant_new_parsed("[['a'], @as [], ['b', 'c']]"), IPCBUS_KIND_ARRAY);
        assert_roundtrip(*state, g_variant_new_parsed("[(1, 'a'), (2, 'b')]"), IPCBUS_KIND_ARRAY);
}

static void test_value_object_roundtrip(void **state) {
        assert_roundtrip(*state, g_variant_new_parsed("@a{sv} {}"), IPCBUS_KIND_OBJECT);
        assert_roundtrip(*state,
                         g_variant_new_parsed("{'name': <'Ada'>, 'age': <36.0>, 'tags': <['x', 'y']>, "
                                              "'nested': <{'deeper': <{'deepest': <('null', <''>)>}>}>}"),
                         IPCBUS_KIND_OBJECT);
        assert_roundtrip(*state, g_variant_new_parsed("{'a': 'b'}"), IPCBUS_KIND_OBJECT);
}

static void test_value_map_set_roundtrip(void **state) {
        GVariant *map, *set, *payload;

        map = g_variant_ref_sink(ipcbus_value_new_map(g_variant_new_parsed(
                "[(<'key'>, <1.0>), (<2.0>, <{'o': <true>}>), (<('null', <''>)>, <'n'>)]")));
        assert_non_null(map);
        payload = ipcbus_value_get_payload(map, IPCBUS_KIND_MAP);
        assert_string_equal(g_variant_get_type_string(payload), "a(vv)");
        assert_int_equal(g_variant_n_children(payload), 3);
        g_variant_unref(payload);
        assert_roundtrip(*state, map, IPCBUS_KIND_MAP);
        g_variant_unref(map);
        assert_roundtrip(*state, ipcbus_value_new_map(g_variant_new_parsed("@a(vv) []")), IPCBUS_KIND_MAP);

        set = ipcbus_value_new_set(g_variant_new_parsed("[<1.0>, <'one'>]"));
        assert_roundtrip(*state, set, IPCBUS_KIND_SET);
        assert_roundtrip(*state, ipcbus_value_new_set(g_variant_new_parsed("@av []")), IPCBUS_KIND_SET);

        /* Wrong payload types give NULL and do not leak the floating argument. */
        assert_null(ipcbus_value_new_map(g_variant_new_parsed("@av []")));
        assert_null(ipcbus_value_new_set(g_variant_new_parsed("@a(vv) []")));
        assert_null(ipcbus_value_new_map(NULL));
        assert_null(ipcbus_value_new_set(NULL));
}

static void test_value_bytes_roundtrip(void **state) {
        size_t size = 1024 * 1024;
        uint8_t *data = malloc(size);
        GVariant *v, *payload;

        assert_non_null(data);
        for (size_t i = 0; i < size; i++)
                data[i] = (uint8_t) (i * 7 + (i >> 11));

        assert_roundtrip(*state, g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, NULL, 0, 1),
                         IPCBUS_KIND_BYTES);
        assert_roundtrip(*state, g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, 3, 1),
                         IPCBUS_KIND_BYTES);
        assert_roundtrip(*state, g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, size, 1),
                         IPCBUS_KIND_BYTES);

        v = g_variant_ref_sink(ipcbus_value_new_array_buffer(data, 16));
        payload = ipcbus_value_get_payload(v, IPCBUS_KIND_ARRAY_BUFFER);
        assert_string_equal(g_variant_get_type_string(payload), "ay");
        assert_int_equal(g_variant_get_size(payload), 16);
        assert_memory_equal(g_variant_get_data(payload), data, 16);
        g_variant_unref(payload);
        assert_roundtrip(*state, v, IPCBUS_KIND_ARRAY_BUFFER);
        g_variant_unref(v);
        assert_roundtrip(*state, ipcbus_value_new_array_buffer(NULL, 0), IPCBUS_KIND_ARRAY_BUFFER);
        assert_roundtrip(*state, ipcbus_value_new_array_buffer(data, size), IPCBUS_KIND_ARRAY_BUFFER);
        assert_null(ipcbus_value_new_array_buffer(NULL, 1));
        free(data);
}

static void test_value_date_regexp_error_roundtrip(void **state) {
        GVariant *v, *payload;
        const char *s;

        v = g_variant_ref_sink(ipcbus_value_new_date(1700000000123.0));
        payload = ipcbus_value_get_payload(v, IPCBUS_KIND_DATE);
        assert_true(g_variant_get_double(payload) == 1700000000123.0);
        g_variant_unref(payload);
        assert_roundtrip(*state, v, IPCBUS_KIND_DATE);
        g_variant_unref(v);
        /* An invalid Date holds NaN, as in JavaScript. */
        assert_roundtrip(*state, ipcbus_value_new_date(NAN), IPCBUS_KIND_DATE);

        v = g_variant_ref_sink(ipcbus_value_new_regexp("^a+\\d$", "gi"));
        payload = ipcbus_value_get_payload(v, IPCBUS_KIND_REGEXP);
        assert_string_equal(g_variant_get_type_string(payload), "(ss)");
        g_variant_unref(payload);
        assert_roundtrip(*state, v, IPCBUS_KIND_REGEXP);
        g_variant_unref(v);
        assert_roundtrip(*state, ipcbus_value_new_regexp("x", NULL), IPCBUS_KIND_REGEXP);
        assert_null(ipcbus_value_new_regexp(NULL, "g"));

        v = g_variant_ref_sink(ipcbus_value_new_error("TypeError", "bad thing"));
        payload = ipcbus_value_get_payload(v, IPCBUS_KIND_ERROR);
        assert_true(g_variant_lookup(payload, "name", "&s", &s));
        assert_string_equal(s, "TypeError");
        assert_true(g_variant_lookup(payload, "message", "&s", &s));
        assert_string_equal(s, "bad thing");
        g_variant_unref(payload);
        assert_roundtrip(*state, v, IPCBUS_KIND_ERROR);
        g_variant_unref(v);
        assert_roundtrip(*state, ipcbus_value_new_error(NULL, NULL), IPCBUS_KIND_ERROR);
        /* With a stack, as structured clone carries it. */
        assert_roundtrip(*state,
                         g_variant_new_parsed("('Error', <{'name': <'Error'>, 'message': <'m'>, "
                                              "'stack': <'Error: m\\n    at f (a.js:1:1)'>}>)"),
                         IPCBUS_KIND_ERROR);
        assert_null(ipcbus_value_new_error("bad\xff", "x"));
}

static void test_value_struct_and_dict_roundtrip(void **state) {
        assert_roundtrip(*state, g_variant_new_parsed("('a', 1, [true], {'k': <@y 2>})"),
                         IPCBUS_KIND_STRUCT);
        assert_roundtrip(*state, g_variant_new_parsed("{1: 'one', 2: 'two'}"), IPCBUS_KIND_DICT);
        assert_roundtrip(*state, g_variant_new_parsed("@a{is} {}"), IPCBUS_KIND_DICT);
        assert_roundtrip(*state, g_variant_new_parsed("{@o '/a': <1.0>}"), IPCBUS_KIND_DICT);
        /* Tag names the table does not know, and known tags with a payload of
         * the wrong type, are plain structs. */
        assert_roundtrip(*state, g_variant_new_parsed("('Point', <(1, 2)>)"), IPCBUS_KIND_STRUCT);
        assert_roundtrip(*state, g_variant_new_parsed("('Date', <'yesterday'>)"), IPCBUS_KIND_STRUCT);
        assert_roundtrip(*state, g_variant_new_parsed("('BigInt', <'12x'>)"), IPCBUS_KIND_STRUCT);
        assert_roundtrip(*state, g_variant_new_parsed("('null', <0>)"), IPCBUS_KIND_STRUCT);
}

static void test_value_object_path_and_signature_roundtrip(void **state) {
        assert_roundtrip(*state, g_variant_new_object_path("/"), IPCBUS_KIND_STRING);
        assert_roundtrip(*state, g_variant_new_object_path("/org/ipcbus/Demo"), IPCBUS_KIND_STRING);
        assert_roundtrip(*state, g_variant_new_signature(""), IPCBUS_KIND_STRING);
        assert_roundtrip(*state, g_variant_new_signature("a{sv}(ii)h"), IPCBUS_KIND_STRING);
}

static void test_value_variant_inside_value_roundtrip(void **state) {
        /* A variant inside a value is transparent to the kind. */
        assert_roundtrip(*state, g_variant_new_variant(g_variant_new_string("x")), IPCBUS_KIND_STRING);
        assert_roundtrip(*state, g_variant_new_variant(g_variant_new_variant(ipcbus_value_null())),
                         IPCBUS_KIND_NULL);
}

static void test_value_args_keep_order(void **state) {
        GVariant *args = g_variant_ref_sink(
                ipcbus_args(g_variant_new_string("ping"), g_variant_new_int32(3), ipcbus_value_undefined(),
                            g_variant_new_parsed("@av []"), ipcbus_value_new_date(0), NULL));
        GVariant *got = send_args(*state, args), *v;

        assert_int_equal(ipcbus_args_count(got), 5);
        assert_true(g_variant_equal(args, got));
        v = ipcbus_args_get(got, 0);
        assert_string_equal(g_variant_get_string(v, NULL), "ping");
        g_variant_unref(v);
        v = ipcbus_args_get(got, 2);
        assert_int_equal(ipcbus_value_get_kind(v), IPCBUS_KIND_UNDEFINED);
        g_variant_unref(v);
        assert_null(ipcbus_args_get(got, 5));
        g_variant_unref(got);
        g_variant_unref(args);

        /* No arguments: NULL and an empty list are the same on the wire. */
        args = g_variant_ref_sink(ipcbus_args(NULL, NULL));
        assert_int_equal(ipcbus_args_count(args), 0);
        assert_roundtrip_args(*state, args);
        got = send_args(*state, NULL);
        assert_true(g_variant_equal(args, got));
        g_variant_unref(got);
        g_variant_unref(args);
}

/* @levels nested variants around a number: a value @levels deep. */
static GVariant *nested_variants(unsigned levels) {
        GVariant *v = g_variant_new_double(1);

        for (unsigned i = 0; i < levels; i++)
                v = g_variant_new_variant(v);
        return v;
}

/* @levels arrays inside each other: [[...[1]...]], type a...ai. */
static GVariant *nested_arrays(unsigned levels) {
        GVariant *v = g_variant_new_int32(1);

        for (unsigned i = 0; i < levels; i++)
                v = g_variant_new_array(NULL, &v, 1);
        return v;
}

/* @levels plain objects inside each other: 3 containers each (a, {}, v). */
static GVariant *nested_objects(unsigned levels) {
        GVariant *v = g_variant_new_double(1);

        for (unsigned i = 0; i < levels; i++) {
                GVariant *entry =
                        g_variant_new_dict_entry(g_variant_new_string("k"), g_variant_new_variant(v));
                v = g_variant_new_array(NULL, &entry, 1);
        }
        return v;
}

static void test_value_max_depth_roundtrip(void **state) {
        assert_roundtrip(*state, nested_variants(IPCBUS_VALUE_MAX_DEPTH), IPCBUS_KIND_NUMBER);
        assert_roundtrip(*state, nested_objects(IPCBUS_VALUE_MAX_DEPTH / 3), IPCBUS_KIND_OBJECT);
        /* 32 nested arrays in one type: D-Bus's own limit, reached exactly. */
        assert_roundtrip(*state, nested_arrays(32), IPCBUS_KIND_ARRAY);
}

/* ---- refusals --------------------------------------------------------- */

static void test_value_invalid_utf8_refused(void **state) {
        static const char bad[] = "ab\xff\xfe";

        /* As GVariant holds it when it comes from untrusted bytes, and when the
         * bytes were (wrongly) trusted. */
        assert_refused(*state,
                       ipcbus_args(g_variant_new_string("fine"),
                                   g_variant_new_from_data(G_VARIANT_TYPE_STRING, bad, sizeof(bad), FALSE,
                                                           NULL, NULL),
                                   NULL),
                       -EINVAL, "argument 2", "string is not valid UTF-8", NULL);
        assert_refused(*state,
                       ipcbus_args(g_variant_new_from_data(G_VARIANT_TYPE_STRING, bad, sizeof(bad), TRUE,
                                                           NULL, NULL),
                                   NULL),
                       -EINVAL, "argument 1", "UTF-8", NULL);

        /* Deep inside a container too. */
        assert_refused(
                *state,
                ipcbus_args(g_variant_new_parsed("{'ok': <'x'>, 'bad': <[%v]>}",
                                                 g_variant_new_from_data(G_VARIANT_TYPE_STRING, bad,
                                                                         sizeof(bad), FALSE, NULL, NULL)),
                            NULL),
                -EINVAL, "argument 1", "UTF-8", NULL);
        /* Bytes without their terminating NUL. */
        assert_refused(
                *state,
                ipcbus_args(g_variant_new_from_data(G_VARIANT_TYPE_STRING, "abc", 3, FALSE, NULL, NULL),
                            NULL),
                -EINVAL, "string is not NUL-terminated", NULL);
}

static void test_value_noncharacter_refused(void **state) {
        /* Valid UTF-8 that sd-bus refuses on both ends. */
        assert_refused(*state, ipcbus_args(g_variant_new_string("x\xef\xbf\xbe"), NULL), -EINVAL,
                       "noncharacter", NULL);
        assert_refused(*state, ipcbus_args(g_variant_new_string("\xef\xb7\x90"), NULL), -EINVAL,
                       "noncharacter", NULL);
        assert_refused(*state, ipcbus_args(g_variant_new_string("\xf0\x9f\xbf\xbf"), NULL), -EINVAL,
                       "noncharacter", NULL);
        /* U+FFFD and U+10FFFD are fine. */
        assert_roundtrip(*state, g_variant_new_string("\xef\xbf\xbd \xf4\x8f\xbf\xbd"), IPCBUS_KIND_STRING);
}

static void test_value_too_deep_refused(void **state) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        GVariant *v;
        char message[64];

        snprintf(message, sizeof(message), "nested deeper than %d levels", IPCBUS_VALUE_MAX_DEPTH);
        assert_refused(
                *state,
                ipcbus_args(g_variant_new_int32(1), nested_variants(IPCBUS_VALUE_MAX_DEPTH + 1), NULL),
                -ELOOP, "argument 2", message, NULL);
        assert_refused(*state, ipcbus_args(nested_objects(IPCBUS_VALUE_MAX_DEPTH / 3 + 1), NULL), -ELOOP,
                       "argument 1", message, NULL);
        assert_refused(*state, ipcbus_args(nested_variants(1000), NULL), -ELOOP, message, NULL);

        /* 33 arrays in one type: within the depth limit, beyond D-Bus's. */
        assert_refused(*state, ipcbus_args(nested_arrays(33), NULL), -ELOOP, "32 arrays", NULL);

        v = g_variant_ref_sink(nested_variants(IPCBUS_VALUE_MAX_DEPTH + 1));
        assert_int_equal(ipcbus_value_check(v, &error), -ELOOP);
        assert_string_equal(error.name, IPCBUS_ERROR_INVALID_ARGS);
        assert_non_null(strstr(error.message, message));
        sd_bus_error_free(&error);
        g_variant_unref(v);
}

static void test_value_oversize_refused(void **state) {
        /* One "ay" argument costs 8 bytes besides its data: the variant's
         * signature "ay" (4) and the array length (4). */
        size_t fits = IPCBUS_VALUE_MAX_SIZE - 8;
        uint8_t *data = calloc(1, IPCBUS_VALUE_MAX_SIZE + 1);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m;
        GVariant *v, *half, *args;
        char limit[64];

        assert_non_null(data);
        snprintf(limit, sizeof(limit), "the limit of %u bytes", IPCBUS_VALUE_MAX_SIZE);

        v = g_variant_ref_sink(g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, fits, 1));
        assert_int_equal(ipcbus_value_check(v, NULL), 0);
        args = g_variant_ref_sink(ipcbus_args(v, NULL));
        m = new_message(*state);
        assert_int_equal(value_append_args(m, args, NULL), 0);
        sd_bus_message_unref(m);
        g_variant_unref(args);
        g_variant_unref(v);

        v = g_variant_ref_sink(g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, fits + 1, 1));
        assert_int_equal(ipcbus_value_check(v, &error), -EMSGSIZE);
        assert_string_equal(error.name, IPCBUS_ERROR_INVALID_ARGS);
        assert_non_null(strstr(error.message, "value of 32505857 bytes exceeds the limit of"));
        sd_bus_error_free(&error);
        /* A non-floating value passed to ipcbus_args() stays the caller's. */
        assert_refused(*state, ipcbus_args(v, NULL), -EMSGSIZE, "arguments of 32505857 bytes exceed", limit,
                       NULL);
        g_variant_unref(v);

        /* Each half fits, together they do not. */
        half = g_variant_ref_sink(g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, fits / 2 + 1, 1));
        assert_int_equal(ipcbus_value_check(half, NULL), 0);
        assert_refused(*state, ipcbus_args(half, half, NULL), -EMSGSIZE, limit, NULL);
        /* The size is counted in a value that is not a byte array too. */
        assert_refused(*state, ipcbus_args(g_variant_new_parsed("[%v, %v]", half, half), NULL), -EMSGSIZE,
                       limit, NULL);
        g_variant_unref(half);

        /* Counted as D-Bus lays values out, not as GVariant does: a boolean
         * takes 4 bytes on the wire and 1 in GVariant. */
        v = g_variant_ref_sink(
                g_variant_new_fixed_array(G_VARIANT_TYPE_BOOLEAN, data, IPCBUS_VALUE_MAX_SIZE / 4, 1));
        assert_true(g_variant_get_size(v) < IPCBUS_VALUE_MAX_SIZE / 2);
        assert_refused(*state, ipcbus_args(v, NULL), -EMSGSIZE, limit, NULL);
        g_variant_unref(v);
        free(data);
}

static void test_value_types_dbus_lacks_refused(void **state) {
        char long_struct[300];

        assert_refused(*state, ipcbus_args(g_variant_new_maybe(G_VARIANT_TYPE_INT32, NULL), NULL), -EINVAL,
                       "argument 1", "maybe", NULL);
        assert_refused(*state,
                       ipcbus_args(g_variant_new_string("ok"), g_variant_new_parsed("[<@ms 'x'>]"), NULL),
                       -EINVAL, "argument 2", "maybe", NULL);
        assert_refused(*state, ipcbus_args(g_variant_new_parsed("()"), NULL), -EINVAL, "empty struct", NULL);
        assert_refused(*state, ipcbus_args(g_variant_new_parsed("[(1, ())]"), NULL), -EINVAL, "empty struct",
                       NULL);
        assert_refused(*state, ipcbus_args(g_variant_new_parsed("{1, 'a'}"), NULL), -EINVAL, "dict entry",
                       NULL);

        /* A struct of 297 members: a type of 299 characters. */
        memset(long_struct, 0, sizeof(long_struct));
        long_struct[0] = '(';
        memset(long_struct + 1, 'y', 297);
        long_struct[298] = ')';
        {
                GVariantBuilder b;

                g_variant_builder_init(&b, G_VARIANT_TYPE(long_struct));
                for (int i = 0; i < 297; i++)
                        g_variant_builder_add(&b, "y", 1);
                assert_refused(*state, ipcbus_args(g_variant_builder_end(&b), NULL), -EINVAL,
                               "299 characters", "255", NULL);
        }

        /* Untrusted data can hold an invalid object path or signature; GVariant
         * would read them as "/" and "". */
        assert_refused(*state,
                       ipcbus_args(g_variant_new_from_data(G_VARIANT_TYPE_OBJECT_PATH, "a//b", 5, FALSE,
                                                           NULL, NULL),
                                   NULL),
                       -EINVAL, "object path", NULL);
        assert_refused(
                *state,
                ipcbus_args(g_variant_new_from_data(G_VARIANT_TYPE_SIGNATURE, "a{vs}", 6, FALSE, NULL, NULL),
                            NULL),
                -EINVAL, "signature", NULL);
        /* GVariant signatures allow what D-Bus does not. */
        assert_refused(*state, ipcbus_args(g_variant_new_signature("()"), NULL), -EINVAL, "signature", NULL);
        assert_refused(*state, ipcbus_args(g_variant_new_signature("{sv}"), NULL), -EINVAL, "signature",
                       NULL);

        /* The argument list itself must be "av". */
        {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *m = new_message(*state);
                GVariant *ai = g_variant_ref_sink(g_variant_new_parsed("[1, 2]"));

                assert_int_equal(value_append_args(m, ai, &error), -EINVAL);
                assert_non_null(strstr(error.message, "'av'"));
                sd_bus_error_free(&error);
                sd_bus_message_unref(m);
                g_variant_unref(ai);
        }
}

static void test_value_fd_refused(void **state) {
        Pair *p = *state;
        sd_bus_message *m, *in;
        GVariant *v;

        assert_refused(p, ipcbus_args(g_variant_new_handle(0), NULL), -EINVAL, "MessagePort", NULL);
        assert_refused(p, ipcbus_args(g_variant_new_parsed("[@h 0]"), NULL), -EINVAL, "MessagePort", NULL);
        v = g_variant_ref_sink(g_variant_new_handle(0));
        assert_int_equal(ipcbus_value_get_kind(v), IPCBUS_KIND_FD);
        assert_int_equal(ipcbus_value_check(v, NULL), -EINVAL);
        g_variant_unref(v);

        /* An 'h' that arrives is refused when read. */
        m = new_message(p);
        assert_true(sd_bus_message_append(m, "av", 2, "s", "x", "h", STDERR_FILENO) >= 0);
        in = transfer(p, m);
        sd_bus_message_unref(m);
        assert_int_equal(value_read_args(in, &v), -EINVAL);
        sd_bus_message_unref(in);
        assert_fresh_message_works(p);
}

/* ---- reading what others send ----------------------------------------- */

static void append_nested_variants(sd_bus_message *m, unsigned levels) {
        for (unsigned i = 0; i < levels; i++)
                assert_int_equal(sd_bus_message_open_container(m, 'v', i + 1 < levels ? "v" : "i"), 0);
        assert_int_equal(sd_bus_message_append_basic(m, 'i', &(int32_t){ 7 }), 0);
        for (unsigned i = 0; i < levels; i++)
                assert_int_equal(sd_bus_message_close_container(m), 0);
}

/* The contents of the k-th struct from the inside of a(a(...a(i)...)):
 * "a(" k-1 times, "i", ")" k-1 times. */
static void struct_contents(char *buf, unsigned k) {
        size_t n = 0;

        for (unsigned i = 1; i < k; i++) {
                buf[n++] = 'a';
                buf[n++] = '(';
        }
        buf[n++] = 'i';
        for (unsigned i = 1; i < k; i++)
                buf[n++] = ')';
        buf[n] = '\0';
}

static void test_value_hostile_nesting_read(void **state) {
        static const unsigned levels[] = { IPCBUS_VALUE_MAX_DEPTH + 1, 100, 126, 127, 200 };
        Pair *p = *state;
        sd_bus_message *m, *in;
        GVariant *v = NULL;

        /* Nested variants as an argument: the argument's own variant plus
         * @levels more. sd-bus sends any of these; dbus-daemon would not. */
        for (size_t i = 0; i < G_N_ELEMENTS(levels); i++) {
                m = new_message(p);
                assert_int_equal(sd_bus_message_open_container(m, 'a', "v"), 0);
                append_nested_variants(m, levels[i] + 1);
                assert_int_equal(sd_bus_message_close_container(m), 0);
                in = transfer(p, m);
                sd_bus_message_unref(m);
                assert_int_equal(value_read_args(in, &v), -ELOOP);
                sd_bus_message_unref(in);
        }

        /* At the limit it reads. */
        m = new_message(p);
        assert_int_equal(sd_bus_message_open_container(m, 'a', "v"), 0);
        append_nested_variants(m, IPCBUS_VALUE_MAX_DEPTH + 1);
        assert_int_equal(sd_bus_message_close_container(m), 0);
        in = transfer(p, m);
        sd_bus_message_unref(m);
        assert_int_equal(value_read_args(in, &v), 0);
        g_variant_unref(v);
        sd_bus_message_unref(in);

        /* A bare value at the top of the body, 300 variants deep. */
        m = new_message(p);
        append_nested_variants(m, 300);
        in = transfer(p, m);
        sd_bus_message_unref(m);
        assert_int_equal(value_read(in, &v), -ELOOP);
        sd_bus_message_unref(in);

        /* 32 arrays of 32 structs in one variant, a(a(...a(i)...)): valid
         * D-Bus, 64 deep. */
        {
                char variant[168], element[160];

                m = new_message(p);
                assert_int_equal(sd_bus_message_open_container(m, 'a', "v"), 0);
                struct_contents(element, 32);
                snprintf(variant, sizeof(variant), "a(%s)", element);
                assert_int_equal(sd_bus_message_open_container(m, 'v', variant), 0);
                for (unsigned k = 32; k > 0; k--) {
                        char contents[160];

                        struct_contents(contents, k);
                        snprintf(element, sizeof(element), "(%s)", contents);
                        assert_int_equal(sd_bus_message_open_container(m, 'a', element), 0);
                        assert_int_equal(sd_bus_message_open_container(m, 'r', contents), 0);
                }
                assert_int_equal(sd_bus_message_append_basic(m, 'i', &(int32_t){ 1 }), 0);
                for (int i = 0; i < 2 * 32 + 2; i++)
                        assert_int_equal(sd_bus_message_close_container(m), 0);
                in = transfer(p, m);
                sd_bus_message_unref(m);
                assert_int_equal(value_read_args(in, &v), -ELOOP);
                sd_bus_message_unref(in);
        }
        assert_fresh_message_works(p);
}

static void test_value_read_single_values(void **state) {
        Pair *p = *state;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m, *in;
        GVariant *a = g_variant_ref_sink(g_variant_new_parsed("{'k': <[1, 2]>}"));
        GVariant *b = g_variant_ref_sink(ipcbus_value_new_date(5));
        GVariant *got;

        m = new_message(p);
        assert_int_equal(value_append(m, a, 0, &error), 0);
        assert_int_equal(value_append_variant(m, b, &error), 0);
        assert_int_equal(value_append_variant(m, NULL, &error), 0);
        assert_string_equal(sd_bus_message_get_signature(m, 1), "a{sv}vv");
        in = transfer(p, m);
        sd_bus_message_unref(m);

        assert_int_equal(value_read(in, &got), 0);
        assert_true(g_variant_equal(a, got));
        g_variant_unref(got);
        /* value_read() keeps a variant; value_read_variant() unboxes it. */
        assert_int_equal(value_read_variant(in, &got), 0);
        assert_true(g_variant_equal(b, got));
        g_variant_unref(got);
        assert_int_equal(value_read(in, &got), 0);
        assert_string_equal(g_variant_get_type_string(got), "v");
        assert_int_equal(ipcbus_value_get_kind(got), IPCBUS_KIND_UNDEFINED);
        g_variant_unref(got);
        assert_int_equal(value_read(in, &got), -ENXIO);
        assert_int_equal(value_read_variant(in, &got), -ENXIO);
        assert_int_equal(value_read_args(in, &got), -ENXIO);
        sd_bus_message_unref(in);

        /* value_append() counts the containers already open; @a is 4 deep. */
        m = new_message(p);
        assert_int_equal(value_append(m, a, IPCBUS_VALUE_MAX_DEPTH - 4, &error), 0);
        sd_bus_message_unref(m);
        m = new_message(p);
        assert_int_equal(value_append(m, a, IPCBUS_VALUE_MAX_DEPTH - 3, &error), -ELOOP);
        assert_non_null(strstr(error.message, "value: "));
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);

        g_variant_unref(a);
        g_variant_unref(b);
}

/* ---- the fast paths against the general code -------------------------- */

/* Runs with the fast paths (value-fast.c) on or off, whichever the group set. */
static bool group_fast = true;

/*
 * @args ("av") through a message twice, read with the fast paths on and
 * off: both equal to @args, in normal form, and the fast one byte for byte
 * what GLib itself serializes (an "av" of basic values comes back
 * serialized by ipcbus, not built by GLib). Each argument also reads back
 * equal through ipcbus_args_get().
 */
static void assert_fast_matches_general(Pair *p, GVariant *args) {
        GVariant *fast, *general;
        gsize n;

        g_variant_ref_sink(args);
        value_fast_paths = true;
        fast = send_args(p, args);
        /* The shortcut was taken exactly when it applies. */
        assert_int_equal(last_held_serialized, ipcbus_args_count(args) > 0 && all_basic(args));
        value_fast_paths = false;
        general = send_args(p, args);
        assert_false(last_held_serialized);
        value_fast_paths = group_fast;

        if (!g_variant_equal(args, fast) || !g_variant_equal(args, general)) {
                char *a = g_variant_print(args, TRUE), *b = g_variant_print(fast, TRUE),
                     *c = g_variant_print(general, TRUE);
                fail_msg("sent %s, fast %s, general %s", a, b, c);
        }
        assert_int_equal(g_variant_get_size(fast), g_variant_get_size(args));
        assert_memory_equal(g_variant_get_data(fast), g_variant_get_data(args), g_variant_get_size(args));

        n = ipcbus_args_count(args);
        assert_int_equal(ipcbus_args_count(fast), n);
        for (gsize i = 0; i < n; i++) {
                GVariant *x = ipcbus_args_get(args, i), *y = ipcbus_args_get(fast, i);

                assert_true(g_variant_equal(x, y));
                assert_true(g_variant_is_normal_form(y));
                g_variant_unref(x);
                g_variant_unref(y);
        }
        g_variant_unref(general);
        g_variant_unref(fast);
        g_variant_unref(args);
}

/* Each basic type, edge values included, alone and all together. */
static void test_value_fast_basic_types(void **state) {
        GVariant *values[] = {
                g_variant_new_byte(0), g_variant_new_byte(255),
                g_variant_new_boolean(true), g_variant_new_boolean(false),
                g_variant_new_int16(INT16_MIN), g_variant_new_int16(-1), g_variant_new_uint16(UINT16_MAX),
                g_variant_new_int32(INT32_MIN), g_variant_new_int32(0), g_variant_new_uint32(UINT32_MAX),
                g_variant_new_int64(INT64_MIN), g_variant_new_uint64(UINT64_MAX),
                g_variant_new_double(-0.0), g_variant_new_double(NAN), g_variant_new_double(-INFINITY),
                g_variant_new_double(DBL_MIN), g_variant_new_double(1.5),
                g_variant_new_string(""), g_variant_new_string("x"),
                g_variant_new_string("0123456789abcdef"),
                g_variant_new_string("h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80"),
                g_variant_new_string("\x7f\x01 control and DEL"),
                g_variant_new_object_path("/"), g_variant_new_object_path("/org/ipcbus/Demo"),
                g_variant_new_signature(""), g_variant_new_signature("a{sv}(ii)h"),
        };
        GVariant *all[G_N_ELEMENTS(values)];

        for (size_t i = 0; i < G_N_ELEMENTS(values); i++) {
                all[i] = g_variant_new_variant(g_variant_ref_sink(values[i]));
                assert_fast_matches_general(*state, ipcbus_args(values[i], NULL));
                /* One before it, so that it does not start the list. */
                assert_fast_matches_general(*state, ipcbus_args(g_variant_new_byte(1), values[i], NULL));
        }
        assert_fast_matches_general(*state,
                                    g_variant_new_array(G_VARIANT_TYPE_VARIANT, all, G_N_ELEMENTS(all)));
        for (size_t i = 0; i < G_N_ELEMENTS(values); i++)
                g_variant_unref(values[i]);
        assert_fast_matches_general(*state, ipcbus_args(NULL, NULL));
}

/* @n arguments, each a string of @len 'x's. */
static GVariant *many_strings(size_t n, size_t len) {
        GVariant **children = g_new(GVariant *, n);
        char *text = g_malloc(len + 1);
        GVariant *args;

        memset(text, 'x', len);
        text[len] = '\0';
        for (size_t i = 0; i < n; i++)
                children[i] = g_variant_new_variant(g_variant_new_string(text));
        args = g_variant_new_array(G_VARIANT_TYPE_VARIANT, children, n);
        g_free(text);
        g_free(children);
        return args;
}

/*
 * GVariant frames the elements with offsets 1, 2, 4 (or 8) bytes wide, the
 * narrowest that can address the whole list: sizes around 255 and 65535
 * bytes, one long argument or many short ones.
 */
static void test_value_fast_offset_widths(void **state) {
        /* One string of L: L + 1 bytes, a NUL, 's', one offset. */
        for (size_t len = 245; len <= 260; len++)
                assert_fast_matches_general(*state, many_strings(1, len));
        for (size_t len = 65525; len <= 65540; len++)
                assert_fast_matches_general(*state, many_strings(1, len));
        /* Two: the first padded to 8. */
        for (size_t len = 115; len <= 130; len++)
                assert_fast_matches_general(*state, many_strings(2, len));
        /* Many short ones: 8 bytes each, and an offset each. */
        for (size_t n = 25; n <= 32; n++)
                assert_fast_matches_general(*state, many_strings(n, 1));
        assert_fast_matches_general(*state, many_strings(7000, 1));
        assert_fast_matches_general(*state, many_strings(20000, 1));
        assert_fast_matches_general(*state, many_strings(3, 100000));
}

/* Basic values around others: the list is serialized up to the first other
 * one, then built by GLib. Nested lists take the same path. */
static void test_value_fast_mixed(void **state) {
        static const char *const lists[] = {
                "[<'a'>, <uint32 7>, <{'k': <1.5>}>, <'b'>, <('null', <''>)>, <2.5>]",
                "[<[<1.0>, <'two'>]>, <'x'>]",
                "[<'x'>, <[<1.0>, <'two'>, <[byte 1, 2]>]>, <@av []>, <[<@av []>]>]",
                "[<[<'a'>, <[<'b'>, <[<'c'>]>]>]>]",
                "[<<'boxed'>>, <objectpath '/a'>, <signature 'ay'>, <[1, 2]>, <(1, 'a')>]",
                "[<true>, <false>, <@ab [true, false]>, <byte 0>]",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(lists); i++)
                assert_fast_matches_general(*state, g_variant_new_parsed(lists[i]));
}

/*
 * Each list's first elements are read with the types of the last list's
 * guessed (value-read.c): right, wrong, for an element the list lacks, and
 * where the list holds more elements or another kind of value. Each list
 * follows the one before it, read once the fast way and once the general.
 */
static void test_value_fast_guessed_types(void **state) {
        static const char *const lists[] = {
                "[<'a'>, <uint32 1>]",
                "[<'b'>, <uint32 2>]",
                "[<uint32 3>, <'c'>]",
                "@av []",
                "[<'d'>, <'e'>, <'f'>, <'g'>, <'h'>, <'i'>]",
                "[<'j'>, <'k'>, <'l'>, <'m'>, <'n'>, <'o'>]",
                "[<'p'>]",
                "[<{'k': <1>}>, <'q'>]",
                "[<'r'>, <[<'s'>]>, <'t'>]",
                "[<byte 1>, <true>, <int16 -1>, <2.5>]",
                "[<true>, <byte 1>, <2.5>, <int16 -1>]",
                "[<objectpath '/a'>, <signature 's'>, <'/a'>]",
                "[<('Date', <1.5>)>, <'u'>]",
                "[<'v'>, <uint32 4>]",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(lists); i++) {
                assert_fast_matches_general(*state, g_variant_new_parsed(lists[i]));
                assert_fast_matches_general(*state, g_variant_new_parsed(lists[i]));
        }
}

/* "av" inside "av" ... @levels deep around a string: 2 containers each. */
static GVariant *nested_lists(unsigned levels) {
        GVariant *v = g_variant_new_string("deep");

        for (unsigned i = 0; i < levels; i++) {
                GVariant *boxed = g_variant_new_variant(v);

                v = g_variant_new_array(G_VARIANT_TYPE_VARIANT, &boxed, 1);
        }
        return v;
}

/* Nested lists count towards the depth limit as the general code counts
 * them, on both ends: 31 levels (62 containers) go, 32 do not. */
static void test_value_fast_nested_depth(void **state) {
        Pair *p = *state;

        assert_fast_matches_general(p, ipcbus_args(nested_lists(IPCBUS_VALUE_MAX_DEPTH / 2), NULL));
        assert_refused(p, ipcbus_args(nested_lists(IPCBUS_VALUE_MAX_DEPTH / 2 + 1), NULL), -ELOOP,
                       "argument 1", NULL);

        /* Sent by a peer without the check: refused when read, either way. */
        for (int fast = 0; fast <= 1; fast++) {
                unsigned levels = IPCBUS_VALUE_MAX_DEPTH / 2 + 1;
                sd_bus_message *m = new_message(p), *in;
                GVariant *v = NULL;

                assert_int_equal(sd_bus_message_open_container(m, 'a', "v"), 0);
                for (unsigned i = 0; i < levels; i++) {
                        assert_int_equal(sd_bus_message_open_container(m, 'v', "av"), 0);
                        assert_int_equal(sd_bus_message_open_container(m, 'a', "v"), 0);
                }
                assert_true(sd_bus_message_append(m, "v", "s", "deep") >= 0);
                for (unsigned i = 0; i < levels; i++) {
                        assert_int_equal(sd_bus_message_close_container(m), 0);
                        assert_int_equal(sd_bus_message_close_container(m), 0);
                }
                assert_int_equal(sd_bus_message_close_container(m), 0);
                in = transfer(p, m);
                sd_bus_message_unref(m);
                value_fast_paths = fast;
                assert_int_equal(value_read_args(in, &v), -ELOOP);
                value_fast_paths = group_fast;
                sd_bus_message_unref(in);
        }
}

/* A result ("v") holding a list reads the same way. */
static void test_value_fast_single_value(void **state) {
        Pair *p = *state;
        GVariant *value =
                g_variant_ref_sink(g_variant_new_parsed("[<'a'>, <int16 -2>, <[<'b'>, <{'k': <1>}>]>]"));

        for (int fast = 0; fast <= 1; fast++) {
                sd_bus_message *m = new_message(p), *in;
                GVariant *got = NULL;

                assert_int_equal(value_append_variant(m, value, NULL), 0);
                in = transfer(p, m);
                sd_bus_message_unref(m);
                value_fast_paths = fast;
                assert_int_equal(value_read_variant(in, &got), 0);
                value_fast_paths = group_fast;
                sd_bus_message_unref(in);
                assert_true(g_variant_equal(value, got));
                assert_normal_form(got);
                g_variant_unref(got);
        }
        g_variant_unref(value);
}

/* ArgsWriter on its own, against GLib's serializer, without any message. */
static void test_value_fast_writer(void **state) {
        static const char *const lists[] = {
                "[<byte 3>]", "[<true>, <false>]", "[<int16 -3>, <uint16 3>, <byte 1>]",
                "[<-5>, <uint32 5>, <int64 -5>, <uint64 5>, <5.5>]",
                "[<''>, <'a'>, <objectpath '/'>, <signature ''>, <signature 'a{sv}'>]",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(lists); i++) {
                GVariant *expected = g_variant_ref_sink(g_variant_new_parsed(lists[i])), *got;
                ArgsWriter w;

                args_writer_init(&w);
                for (gsize k = 0, n = g_variant_n_children(expected); k < n; k++) {
                        GVariant *value = ipcbus_args_get(expected, k);

                        args_writer_add(&w, g_variant_get_type_string(value)[0], g_variant_get_data(value),
                                        g_variant_get_size(value));
                        g_variant_unref(value);
                }
                got = g_variant_ref_sink(args_writer_finish(&w));
                assert_true(g_variant_equal(expected, got));
                assert_normal_form(got);
                assert_int_equal(g_variant_get_size(got), g_variant_get_size(expected));
                assert_memory_equal(g_variant_get_data(got), g_variant_get_data(expected),
                                    g_variant_get_size(expected));
                g_variant_unref(got);
                g_variant_unref(expected);
        }

        /* Nothing added: an empty list; clearing a used writer frees it. */
        {
                ArgsWriter w;
                GVariant *got;

                args_writer_init(&w);
                got = g_variant_ref_sink(args_writer_finish(&w));
                assert_int_equal(g_variant_n_children(got), 0);
                assert_string_equal(g_variant_get_type_string(got), "av");
                g_variant_unref(got);
                for (int k = 0; k < 100; k++)
                        args_writer_add(&w, 'y', &(uint8_t){ 1 }, 1);
                args_writer_clear(&w);
        }
        (void) state;
}

/* The ASCII shortcut agrees with the full checks. */
static void test_value_plain_ascii(void **state) {
        static const unsigned char odd[] = { 0x00, 0x7f, 0x80, 0xc3, 0xef, 0xff };
        char buf[40];

        assert_true(value_is_plain_ascii("", 0));
        assert_true(value_is_plain_ascii("x", 1));
        for (size_t len = 1; len <= sizeof(buf); len++)
                for (size_t at = 0; at < len; at++)
                        for (size_t k = 0; k < G_N_ELEMENTS(odd); k++) {
                                bool plain = odd[k] != 0x00 && odd[k] < 0x80;

                                memset(buf, 'a', sizeof(buf));
                                buf[at] = (char) odd[k];
                                assert_int_equal(value_is_plain_ascii(buf, len), plain);
                                /* Only the first @len bytes count. */
                                assert_true(value_is_plain_ascii(buf, at));
                        }
        (void) state;
}

/* ---- the kind helpers ------------------------------------------------- */

static void test_value_kind_helpers(void **state) {
        static const struct {
                ipcbus_kind kind;
                const char *name;
        } names[] = {
                { IPCBUS_KIND_INVALID, "invalid" },
                { IPCBUS_KIND_UNDEFINED, "undefined" },
                { IPCBUS_KIND_NULL, "null" },
                { IPCBUS_KIND_BOOLEAN, "boolean" },
                { IPCBUS_KIND_NUMBER, "number" },
                { IPCBUS_KIND_BIGINT, "bigint" },
                { IPCBUS_KIND_STRING, "string" },
                { IPCBUS_KIND_ARRAY, "Array" },
                { IPCBUS_KIND_OBJECT, "Object" },
                { IPCBUS_KIND_MAP, "Map" },
                { IPCBUS_KIND_SET, "Set" },
                { IPCBUS_KIND_BYTES, "Uint8Array" },
                { IPCBUS_KIND_ARRAY_BUFFER, "ArrayBuffer" },
                { IPCBUS_KIND_DATE, "Date" },
                { IPCBUS_KIND_REGEXP, "RegExp" },
                { IPCBUS_KIND_ERROR, "Error" },
                { IPCBUS_KIND_STRUCT, "struct" },
                { IPCBUS_KIND_DICT, "dict" },
                { IPCBUS_KIND_FD, "fd" },
        };
        sd_bus_error error = SD_BUS_ERROR_NULL;
        GVariant *v, *args;

        for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
                assert_string_equal(ipcbus_kind_to_string(names[i].kind), names[i].name);
        assert_string_equal(ipcbus_kind_to_string((ipcbus_kind) 999), "invalid");

        assert_int_equal(ipcbus_value_get_kind(NULL), IPCBUS_KIND_INVALID);
        assert_null(ipcbus_value_get_payload(NULL, IPCBUS_KIND_DATE));
        assert_int_equal(ipcbus_args_count(NULL), 0);
        assert_null(ipcbus_args_get(NULL, 0));

        v = g_variant_ref_sink(g_variant_new_parsed("@ms 'x'"));
        assert_int_equal(ipcbus_value_get_kind(v), IPCBUS_KIND_INVALID);
        g_variant_unref(v);
        v = g_variant_ref_sink(g_variant_new_parsed("()"));
        assert_int_equal(ipcbus_value_get_kind(v), IPCBUS_KIND_INVALID);
        g_variant_unref(v);

        /* A payload is only given for the kind asked about. */
        v = g_variant_ref_sink(ipcbus_value_new_date(1));
        assert_null(ipcbus_value_get_payload(v, IPCBUS_KIND_MAP));
        g_variant_unref(v);
        v = g_variant_ref_sink(ipcbus_value_null());
        args = ipcbus_value_get_payload(v, IPCBUS_KIND_NULL);
        assert_non_null(args);
        g_variant_unref(args);
        assert_null(ipcbus_value_get_payload(v, IPCBUS_KIND_UNDEFINED));
        g_variant_unref(v);

        /* Not an argument list. */
        v = g_variant_ref_sink(g_variant_new_parsed("[1, 2]"));
        assert_int_equal(ipcbus_args_count(v), 0);
        assert_null(ipcbus_args_get(v, 0));
        g_variant_unref(v);

        /* A non-floating argument stays the caller's. */
        v = g_variant_ref_sink(g_variant_new_string("kept"));
        args = g_variant_ref_sink(ipcbus_args(v, NULL));
        g_variant_unref(args);
        assert_string_equal(g_variant_get_string(v, NULL), "kept");
        g_variant_unref(v);

        assert_int_equal(ipcbus_value_check(NULL, &error), -EINVAL);
        assert_string_equal(error.name, IPCBUS_ERROR_INVALID_ARGS);
        assert_non_null(strstr(error.message, "ipcbus_value_undefined"));
        sd_bus_error_free(&error);
        assert_int_equal(ipcbus_value_check(NULL, NULL), -EINVAL);
        (void) state;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_value_string_roundtrip),
                cmocka_unit_test(test_value_double_roundtrip),
                cmocka_unit_test(test_value_small_integers_are_numbers),
                cmocka_unit_test(test_value_64bit_integers_are_bigints),
                cmocka_unit_test(test_value_bigint_tagged_roundtrip),
                cmocka_unit_test(test_value_boolean_roundtrip),
                cmocka_unit_test(test_value_null_undefined_roundtrip),
                cmocka_unit_test(test_value_array_roundtrip),
                cmocka_unit_test(test_value_homogeneous_arrays_roundtrip),
                cmocka_unit_test(test_value_object_roundtrip),
                cmocka_unit_test(test_value_map_set_roundtrip),
                cmocka_unit_test(test_value_bytes_roundtrip),
                cmocka_unit_test(test_value_date_regexp_error_roundtrip),
                cmocka_unit_test(test_value_struct_and_dict_roundtrip),
                cmocka_unit_test(test_value_object_path_and_signature_roundtrip),
                cmocka_unit_test(test_value_variant_inside_value_roundtrip),
                cmocka_unit_test(test_value_args_keep_order),
                cmocka_unit_test(test_value_max_depth_roundtrip),
                cmocka_unit_test(test_value_invalid_utf8_refused),
                cmocka_unit_test(test_value_noncharacter_refused),
                cmocka_unit_test(test_value_too_deep_refused),
                cmocka_unit_test(test_value_oversize_refused),
                cmocka_unit_test(test_value_types_dbus_lacks_refused),
                cmocka_unit_test(test_value_fd_refused),
                cmocka_unit_test(test_value_hostile_nesting_read),
                cmocka_unit_test(test_value_read_single_values),
                cmocka_unit_test(test_value_kind_helpers),
                cmocka_unit_test(test_value_fast_basic_types),
                cmocka_unit_test(test_value_fast_offset_widths),
                cmocka_unit_test(test_value_fast_mixed),
                cmocka_unit_test(test_value_fast_guessed_types),
                cmocka_unit_test(test_value_fast_nested_depth),
                cmocka_unit_test(test_value_fast_single_value),
                cmocka_unit_test(test_value_fast_writer),
                cmocka_unit_test(test_value_plain_ascii),
        };

        int failed;

        /* Every test with the fast paths, then with the general code only. */
        failed = cmocka_run_group_tests_name("fast paths", tests, pair_setup, pair_teardown);
        group_fast = value_fast_paths = false;
        failed += cmocka_run_group_tests_name("general code", tests, pair_setup, pair_teardown);
        return failed;
}
