/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The defects of issue 8 whose failures the system rarely gives, each
 * injected (tests/util/fault-inject.h) and shown by the test that failed
 * before its fix: a renderer that cannot time out what waits for its main
 * refuses it, and logs a later failure to re-arm; a call the main held for
 * a direct renderer ends at once when its send fails; a port that cannot
 * update its io source closes with the error.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* A loop and nothing else: for direct connections and ports. */
static int setup_loop(void **state) {
        harness *h = calloc(1, sizeof(harness));

        assert_int_equal(sd_event_new(&h->event), 0);
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

/* ---- connection.c: what a main holds for a direct renderer ------------------ */

static int h_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, args);
}

/* The main invokes a direct renderer before it has spoken: the call is held
 * until it does, and when the held send fails, the invoke fails with that
 * error at once, not at its timeout. */
static void test_held_call_fails_at_once(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_main_unrefp) ipcbus_main *m = NULL;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *wc = NULL;
        log_lines log = {};
        result res = {};
        int fds[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(ipcbus_main_new(&m, TEST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_main_attach_event(m, h->event, 0), 0);
        assert_int_equal(ipcbus_main_set_log_function(m, log_collect, &log), 0);
        assert_int_equal(ipcbus_main_add_direct(m, fds[0], &wc), 0);
        assert_int_equal(ipcbus_web_contents_invoke(wc, NULL, "echo",
                                                    ipcbus_args(g_variant_new_string("held"), NULL),
                                                    4 * test_deadline_usec(WAIT_MS * TEST_USEC_PER_MSEC),
                                                    result_collect, &res),
                         0);

        /* The renderer speaks as it opens (a Ping); the main then sends what
         * it held, and the send fails. */
        assert_int_equal(fault_arm("sd_bus_send", -EIO, 0, 1), 0);
        assert_int_equal(ipcbus_renderer_new(&r, TEST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(r, h->event, 0), 0);
        assert_int_equal(ipcbus_renderer_handle(r, NULL, "echo", h_echo, NULL), 0);
        assert_int_equal(ipcbus_renderer_open_direct(r, fds[1]), 0);
        assert_true(harness_run_until(h, &res.done, WAIT_MS));

        assert_int_equal(fault_fired("sd_bus_send"), 1);
        assert_null(res.value);
        assert_int_equal(res.error_errno, EIO);
        assert_string_equal(res.error_message, "Cannot send the call: Input/output error");
        assert_true(log_has(&log, LOG_ERR,
                            "Could not send 1 held message(s) to a direct renderer: Input/output error"));
        result_clear(&res);
        assert_int_equal(ipcbus_main_set_log_function(m, NULL, NULL), 0);
        log_clear(&log);
}

/* ---- port-state.c: a port's io source --------------------------------------- */

typedef struct port_watch {
        unsigned messages;
        bool closed;
} port_watch;

static int on_port_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n_ports,
                           void *userdata) {
        port_watch *w = userdata;

        w->messages++;
        return 0;
}

static void on_port_close(ipcbus_port *port, void *userdata) {
        port_watch *w = userdata;

        w->closed = true;
}

/* Starting a port makes its io source wait for input: where that fails, the
 * port would never read what waits for it. It closes with the error, and the
 * other end learns it is gone. */
static void test_port_io_update_fails(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_port_unrefp) ipcbus_port *p1 = NULL, *p2 = NULL;
        port_watch w1 = {}, w2 = {};
        const sd_bus_error *error;

        assert_int_equal(ipcbus_message_channel_new(h->event, &p1, &p2), 0);
        assert_int_equal(ipcbus_port_on_message(p1, NULL, on_port_message, &w1), 0);
        assert_int_equal(ipcbus_port_on_close(p1, NULL, on_port_close, &w1), 0);
        assert_int_equal(ipcbus_port_on_close(p2, NULL, on_port_close, &w2), 0);
        assert_int_equal(ipcbus_port_post_message(p2, g_variant_new_string("waiting"), NULL, 0), 0);

        /* epoll refuses (max_user_watches reached). */
        assert_int_equal(fault_arm("sd_event_source_set_io_events", -ENOSPC, 0, 1), 0);
        assert_int_equal(ipcbus_port_start(p1), 0);
        assert_true(harness_run_until(h, &w1.closed, WAIT_MS));
        assert_int_equal(fault_fired("sd_event_source_set_io_events"), 1);
        assert_true(ipcbus_port_is_closed(p1));
        assert_int_equal(w1.messages, 0);
        error = ipcbus_port_get_close_error(p1);
        assert_non_null(error);
        assert_int_equal(sd_bus_error_get_errno(error), ENOSPC);
        assert_string_equal(error->message, "Could not watch the port's socket: No space left on device");

        assert_true(harness_run_until(h, &w2.closed, WAIT_MS));
        assert_true(ipcbus_port_is_closed(p2));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_queue_without_timer_refused, setup_bus_only, teardown),
                cmocka_unit_test_setup_teardown(test_rearm_failure_logged, setup_bus_only, teardown),
                cmocka_unit_test_setup_teardown(test_held_call_fails_at_once, setup_loop, teardown),
                cmocka_unit_test_setup_teardown(test_port_io_update_fails, setup_loop, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
