/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* invoke/handle, handleOnce, removeHandler, errors, async handlers, and
 * sendSync, between a main process and renderers on a private bus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

static int setup(void **state) {
        harness *h = g_new0(harness, 1);

        harness_start(h);
        *state = h;
        return 0;
}

static int teardown(void **state) {
        harness_stop(*state);
        g_free(*state);
        return 0;
}

/* invoke_sync fails with @errno_ (negative) and exactly this error. */
static void assert_invoke_error_args(ipcbus_renderer *r, const char *channel, GVariant *args, int errno_,
                                     const char *name, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        GVariant *v = NULL;

        assert_int_equal(ipcbus_renderer_invoke_sync(r, channel, args, 0, &error, &v), errno_);
        assert_null(v);
        assert_string_equal(error.name, name);
        if (message)
                assert_string_equal(error.message, message);
        assert_int_equal(sd_bus_error_get_errno(&error), -errno_);
}

static void assert_invoke_error(ipcbus_renderer *r, const char *channel, int errno_, const char *name,
                                const char *message) {
        assert_invoke_error_args(r, channel, NULL, errno_, name, message);
}

static void test_invoke_round_trip(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, "win1");
        g_autoptr(GVariant) args = NULL, v = NULL;

        args = g_variant_ref_sink(ipcbus_args(g_variant_new_string("a"), g_variant_new_int32(3),
                                              ipcbus_value_null(), g_variant_new_parsed("{'k': <[1.5, 2.5]>}"),
                                              NULL));
        assert_int_equal(ipcbus_renderer_invoke_sync(r, "echo", args, 0, NULL, &v), 0);
        assert_true(g_variant_equal(v, args));
}

static void test_invoke_async_out_of_order(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, "win1");
        int counter = 0;
        result slow = { .counter = &counter }, fast = { .counter = &counter };

        /* The slow one is held until released, the fast one answers at once:
         * no timer races the order, however slow the machine (valgrind). */
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "async-echo",
                                                ipcbus_args(g_variant_new_int32(-1), g_variant_new_string("slow"),
                                                            NULL),
                                                0, result_collect, &slow),
                         0);
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "async-echo",
                                                ipcbus_args(g_variant_new_int32(0), g_variant_new_string("fast"),
                                                            NULL),
                                                0, result_collect, &fast),
                         0);
        assert_true(harness_run_until(h, &fast.done, 5000));
        assert_false(slow.done);
        assert_int_equal(ipcbus_renderer_send(r, "release-held", NULL), 0);
        assert_true(harness_run_until(h, &slow.done, 5000));
        /* The slow handler did not hold up the call behind it. */
        assert_int_equal(fast.order, 1);
        assert_int_equal(slow.order, 2);
        assert_string_equal(g_variant_get_string(fast.value, NULL), "fast");
        assert_string_equal(g_variant_get_string(slow.value, NULL), "slow");
        result_clear(&slow);
        result_clear(&fast);
}

static void test_invoke_errors(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);

        assert_invoke_error(r, "nobody-handles-this", -ENOENT, IPCBUS_ERROR_NO_HANDLER,
                            "No handler registered for 'nobody-handles-this'");
        /* HandlerFailed, Electron's text, each way it arises. */
        assert_invoke_error(r, "fail", -EREMOTEIO, IPCBUS_ERROR_HANDLER_FAILED,
                            "Error invoking remote method 'fail': Error: boom");
        assert_invoke_error(r, "fail-errno", -EREMOTEIO, IPCBUS_ERROR_HANDLER_FAILED,
                            "Error invoking remote method 'fail-errno': Error: Operation not permitted");
        assert_invoke_error(r, "drop", -EREMOTEIO, IPCBUS_ERROR_HANDLER_FAILED,
                            "Error invoking remote method 'drop': Error: the handler dropped the invocation "
                            "without answering");
        /* A name of the handler's own passes through, with sd-bus's errno for it. */
        assert_invoke_error(r, "fail-named", -EIO, "com.example.Error.Custom", "custom");
        assert_invoke_error_args(r, "reject",
                                 ipcbus_args(g_variant_new_string(IPCBUS_ERROR_INVALID_ARGS),
                                             g_variant_new_string("bad"), NULL),
                                 -EINVAL, IPCBUS_ERROR_INVALID_ARGS, "bad");
        assert_invoke_error_args(r, "reject",
                                 ipcbus_args(g_variant_new_string(IPCBUS_ERROR_LIMITS_EXCEEDED),
                                             g_variant_new_string("full"), NULL),
                                 -ENOBUFS, IPCBUS_ERROR_LIMITS_EXCEEDED, "full");
        assert_invoke_error_args(r, "reject",
                                 ipcbus_args(g_variant_new_string(IPCBUS_ERROR_DENIED),
                                             g_variant_new_string("no"), NULL),
                                 -EACCES, IPCBUS_ERROR_DENIED, "no");
        /* sd-bus's own way to carry an errno. */
        assert_invoke_error_args(r, "reject",
                                 ipcbus_args(g_variant_new_string("System.Error.ENOENT"),
                                             g_variant_new_string("gone"), NULL),
                                 -ENOENT, "System.Error.ENOENT", "gone");
}

static void test_invoke_error_kinds(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);

        /* Electron's String(error): "KIND: MESSAGE"; Error for no kind. */
        assert_invoke_error_args(r, "fail-kind",
                                 ipcbus_args(g_variant_new_string("TypeError"),
                                             g_variant_new_string("x is not a function"), NULL),
                                 -EREMOTEIO, IPCBUS_ERROR_HANDLER_FAILED,
                                 "Error invoking remote method 'fail-kind': TypeError: x is not a function");
        assert_invoke_error_args(r, "fail-kind",
                                 ipcbus_args(ipcbus_value_null(), g_variant_new_string("plain"), NULL),
                                 -EREMOTEIO, IPCBUS_ERROR_HANDLER_FAILED,
                                 "Error invoking remote method 'fail-kind': Error: plain");
        /* A thrown string has no kind; an empty message leaves the kind alone. */
        assert_invoke_error_args(r, "fail-kind",
                                 ipcbus_args(g_variant_new_string(""), g_variant_new_string("thrown"), NULL),
                                 -EREMOTEIO, IPCBUS_ERROR_HANDLER_FAILED,
                                 "Error invoking remote method 'fail-kind': thrown");
        assert_invoke_error_args(r, "fail-kind",
                                 ipcbus_args(g_variant_new_string("RangeError"), g_variant_new_string(""),
                                             NULL),
                                 -EREMOTEIO, IPCBUS_ERROR_HANDLER_FAILED,
                                 "Error invoking remote method 'fail-kind': RangeError");
}

/* The result callback sees the same error as invoke_sync, and the same errno. */
static void test_invoke_errors_async(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);
        static const struct {
                const char *channel;
                int errno_;
                const char *name, *message;
        } cases[] = {
                { "nobody-handles-this", ENOENT, IPCBUS_ERROR_NO_HANDLER,
                  "No handler registered for 'nobody-handles-this'" },
                { "fail", EREMOTEIO, IPCBUS_ERROR_HANDLER_FAILED,
                  "Error invoking remote method 'fail': Error: boom" },
                { "fail-named", EIO, "com.example.Error.Custom", "custom" },
        };
        result res[G_N_ELEMENTS(cases)] = {};

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
                assert_int_equal(ipcbus_renderer_invoke(r, NULL, cases[i].channel, NULL, 0, result_collect,
                                                        &res[i]),
                                 0);
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                assert_true(harness_run_until(h, &res[i].done, 5000));
                assert_null(res[i].value);
                assert_string_equal(res[i].error_name, cases[i].name);
                assert_string_equal(res[i].error_message, cases[i].message);
                assert_int_equal(res[i].error_errno, cases[i].errno_);
                result_clear(&res[i]);
        }
}

static void test_invoke_undefined(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);
        g_autoptr(GVariant) v = NULL;

        assert_int_equal(ipcbus_renderer_invoke_sync(r, "undefined", NULL, 0, NULL, &v), 0);
        assert_int_equal(ipcbus_value_get_kind(v), IPCBUS_KIND_UNDEFINED);
}

static void test_handle_once(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);
        g_autoptr(GVariant) v = NULL;

        assert_int_equal(ipcbus_renderer_invoke_sync(r, "once", NULL, 0, NULL, &v), 0);
        assert_string_equal(g_variant_get_string(v, NULL), "first");
        assert_invoke_error(r, "once", -ENOENT, IPCBUS_ERROR_NO_HANDLER, "No handler registered for 'once'");
}

static void test_remove_handler(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);
        g_autoptr(GVariant) v = NULL;

        assert_int_equal(ipcbus_renderer_invoke_sync(r, "remove-me", NULL, 0, NULL, &v), 0);
        assert_string_equal(g_variant_get_string(v, NULL), "here");
        /* Messages and calls from one sender are handled in order, so the
         * removal happens before the next invoke. */
        assert_int_equal(ipcbus_renderer_send(r, "remove-handler", NULL), 0);
        assert_invoke_error(r, "remove-me", -ENOENT, IPCBUS_ERROR_NO_HANDLER, NULL);
        assert_int_equal(test_process_wait_line(h->main, "removed 1", 5 * TEST_USEC_PER_SEC), 0);
        /* Removing nothing is harmless. */
        assert_int_equal(ipcbus_renderer_send(r, "remove-handler", NULL), 0);
        assert_int_equal(test_process_wait_line(h->main, "removed 0", 5 * TEST_USEC_PER_SEC), 0);
}

static void test_send_sync(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) v = NULL, none = NULL;

        /* Two listeners set a value: the first one wins. */
        assert_int_equal(ipcbus_renderer_send_sync(r, "sync-ping", ipcbus_args(g_variant_new_string("ping"), NULL),
                                                   NULL, &v),
                         0);
        assert_string_equal(g_variant_get_string(v, NULL), "pong");
        assert_int_equal(ipcbus_renderer_send_sync(r, "sync-none", NULL, &error, &none), -ENODATA);
        assert_null(none);
        assert_string_equal(error.name, IPCBUS_ERROR_NO_RETURN_VALUE);
        assert_non_null(strstr(error.message, "'sync-none'"));
        sd_bus_error_free(&error);
        /* A failing listener and no value: HandlerFailed, Electron's text. */
        assert_int_equal(ipcbus_renderer_send_sync(r, "sync-fail", NULL, &error, &none), -EREMOTEIO);
        assert_null(none);
        assert_string_equal(error.name, IPCBUS_ERROR_HANDLER_FAILED);
        assert_string_equal(error.message,
                            "Error invoking remote method 'sync-fail': Error: a listener failed");
}

static void test_send_sync_main_dies(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) v = NULL;
        int status;

        /* The renderer's timeout is 10 s: failing fast shows the death is
         * noticed, not waited out. */
        gint64 start = g_get_monotonic_time();
        /* The peer is gone, not slow: -ENOTCONN, at once. */
        assert_int_equal(ipcbus_renderer_send_sync(r, "sync-die", NULL, &error, &v), -ENOTCONN);
        assert_true(g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC);
        assert_string_equal(error.name, IPCBUS_ERROR_DISCONNECTED);
        assert_int_equal(test_process_wait_exit(h->main, &status), 0);
        h->main = test_process_free(h->main);
}

static void test_invalid_channel(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);
        char long_name[300];

        memset(long_name, 'x', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = 0;
        /* Refused before anything is sent. */
        assert_int_equal(ipcbus_renderer_send(r, "", NULL), -EINVAL);
        assert_int_equal(ipcbus_renderer_send(r, long_name, NULL), -EINVAL);
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "", NULL, 0, result_collect, NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_invoke_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invoke_async_out_of_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invoke_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invoke_error_kinds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invoke_errors_async, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invoke_undefined, setup, teardown),
                cmocka_unit_test_setup_teardown(test_handle_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_handler, setup, teardown),
                cmocka_unit_test_setup_teardown(test_send_sync, setup, teardown),
                cmocka_unit_test_setup_teardown(test_send_sync_main_dies, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invalid_channel, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
