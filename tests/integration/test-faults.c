/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The defects of issue 8 whose failures the system rarely gives, each
 * injected (tests/util/fault-inject.h) and shown by the test that failed
 * before its fix: a renderer that cannot time out what waits for its main
 * refuses it, and logs a later failure to re-arm.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <cmocka.h>

#include "fault-inject.h"
#include "harness.h"

/* How long a test waits for an event; the calls that must not end by their
 * timeout get far longer ones. */
#define WAIT_MS 5000

static int setup_bus_only(void **state) {
        harness *h = calloc(1, sizeof(harness));

        harness_start_bus(h);
        *state = h;
        return 0;
}

static int teardown(void **state) {
        harness *h = *state;

        fault_disarm_all();
        harness_stop(h);
        free(h);
        return 0;
}

/* What a log function was told, one line per report. */
typedef struct log_lines {
        GString *text;
} log_lines;

static void log_collect(int priority, const char *message, void *userdata) {
        log_lines *l = userdata;

        if (!l->text)
                l->text = g_string_new(NULL);
        g_string_append_printf(l->text, "<%d> %s\n", priority, message);
}

/* Whether @message was reported, whole, at @priority. */
static bool log_has(const log_lines *l, int priority, const char *message) {
        g_autofree char *line = g_strdup_printf("<%d> %s\n", priority, message);

        return l->text && strstr(l->text->str, line);
}

static void log_clear(log_lines *l) {
        if (l->text)
                g_string_free(l->text, TRUE);
        l->text = NULL;
}

/* ---- renderer-send.c: the timer of what waits for the main ------------------ */

/* An operation queued while the main is absent must be timed out: where the
 * timer cannot be made, the call that would queue it fails with the error. */
static void test_queue_without_timer_refused(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);
        g_autoptr(GVariant) count = NULL;
        result refused = {}, queued = {};

        assert_false(ipcbus_renderer_has_main(r));
        /* No timerfd left: the first operation queued makes the timer, and
         * while it cannot, every one tries again. */
        assert_int_equal(fault_arm("sd_event_add_time", -EMFILE, 0, 2), 0);
        assert_int_equal(ipcbus_renderer_send(r, "count", NULL), -EMFILE);
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "echo",
                                                ipcbus_args(g_variant_new_string("refused"), NULL), 0,
                                                result_collect, &refused),
                         -EMFILE);
        assert_int_equal(fault_fired("sd_event_add_time"), 2);

        /* The timer made, the queue takes operations again. */
        assert_int_equal(ipcbus_renderer_send(r, "count", NULL), 0);
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "echo",
                                                ipcbus_args(g_variant_new_string("queued"), NULL), 0,
                                                result_collect, &queued),
                         0);
        harness_start_main(h);
        assert_true(harness_run_until(h, &queued.done, WAIT_MS));
        assert_null(queued.error_name);
        assert_string_equal(arg_string(queued.value, 0), "queued");
        /* Of the two sends, only the one taken reached the main; the refused
         * invoke never calls back. */
        assert_int_equal(ipcbus_renderer_invoke_sync(r, "count-get", NULL, 0, NULL, &count), 0);
        assert_int_equal(g_variant_get_uint32(count), 1);
        assert_false(refused.done);
        result_clear(&queued);
}

/* Re-arming the timer after some operations timed out fails: the rest wait
 * without a deadline now, and the log says so. */
static void test_rearm_failure_logged(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);
        log_lines log = {};
        result early = {}, late = {};

        assert_int_equal(ipcbus_renderer_set_log_function(r, log_collect, &log), 0);
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "echo",
                                                ipcbus_args(g_variant_new_string("early"), NULL),
                                                100 * TEST_USEC_PER_MSEC, result_collect, &early),
                         0);
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "echo",
                                                ipcbus_args(g_variant_new_string("late"), NULL), 0,
                                                result_collect, &late),
                         0);
        /* Once "early" has timed out, the timer moves to "late": it cannot. */
        assert_int_equal(fault_arm("sd_event_source_set_time", -ENOMEM, 0, 1), 0);
        assert_true(harness_run_until(h, &early.done, WAIT_MS));
        assert_string_equal(early.error_name, SD_BUS_ERROR_SERVICE_UNKNOWN);
        assert_int_equal(fault_fired("sd_event_source_set_time"), 1);
        assert_true(log_has(&log, LOG_ERR, "Cannot time the queued operations out: Cannot allocate memory"));

        /* What is left still goes out when the main comes. */
        assert_false(late.done);
        harness_start_main(h);
        assert_true(harness_run_until(h, &late.done, WAIT_MS));
        assert_null(late.error_name);
        assert_string_equal(arg_string(late.value, 0), "late");
        result_clear(&early);
        result_clear(&late);
        /* The renderer's log function points at this frame. */
        assert_int_equal(ipcbus_renderer_set_log_function(r, NULL, NULL), 0);
        log_clear(&log);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_queue_without_timer_refused, setup_bus_only, teardown),
                cmocka_unit_test_setup_teardown(test_rearm_failure_logged, setup_bus_only, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
