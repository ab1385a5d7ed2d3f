/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Programming errors (NULL objects, callbacks, channels, outputs) are
 * refused with -EINVAL and logged as sd-bus's assert_return() logs them. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <ipcbus/ipcbus.h>

#include "endpoint.h"
#include "event.h"
#include "main-endpoint.h"
#include "test-process.h"
#include "web-contents.h"

typedef struct log_capture {
        int priority;
        char *message;
        unsigned n;
} log_capture;

static void capture_log(int priority, const char *message, void *userdata) {
        log_capture *c = userdata;

        c->priority = priority;
        g_free(c->message);
        c->message = g_strdup(message);
        c->n++;
}

/* The last line logged is the assertion on @expr in @func. */
static void assert_logged(log_capture *c, const char *expr, const char *func) {
        g_autofree char *head = g_strdup_printf("Assertion '%s' failed at src/", expr);
        g_autofree char *tail = g_strdup_printf(", function %s(). Ignoring.", func);

        assert_non_null(c->message);
        assert_int_equal(c->priority, LOG_DEBUG);
        assert_true(g_str_has_prefix(c->message, head));
        assert_true(g_str_has_suffix(c->message, tail));
        g_clear_pointer(&c->message, g_free);
}

static int listener(ipcbus_event *event, GVariant *args, void *userdata) {
        return 0;
}

static int on_result(GVariant *result, const sd_bus_error *error, void *userdata) {
        return 0;
}

static int on_port_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n_ports,
                           void *userdata) {
        return 0;
}

static void on_port_close(ipcbus_port *port, void *userdata) {
}

static void test_asserts_main(void **state) {
        _cleanup_(ipcbus_main_unrefp) ipcbus_main *m = NULL;
        log_capture c = {};

        assert_int_equal(ipcbus_main_new(NULL, "org.ipcbus.Asserts"), -EINVAL);
        assert_int_equal(ipcbus_main_new(&m, NULL), -EINVAL);
        assert_null(m);
        assert_int_equal(ipcbus_main_new(&m, "org.ipcbus.Asserts"), 0);

        assert_int_equal(ipcbus_main_set_log_function(NULL, capture_log, &c), -EINVAL);
        assert_int_equal(ipcbus_main_set_log_function(m, capture_log, &c), 0);
        /* The NULL object has no log function: nothing reaches ours. */
        assert_int_equal(ipcbus_main_on(NULL, NULL, "ch", listener, NULL), -EINVAL);
        assert_int_equal(c.n, 0);

        assert_int_equal(ipcbus_main_on(m, NULL, "ch", NULL, NULL), -EINVAL);
        assert_logged(&c, "fn", "ipcbus_main_on");
        assert_int_equal(ipcbus_main_on(m, NULL, NULL, listener, NULL), -EINVAL);
        assert_logged(&c, "channel", "ipcbus_main_on");
        assert_int_equal(ipcbus_main_on_event(m, NULL, "ch", NULL, NULL), -EINVAL);
        assert_logged(&c, "fn", "ipcbus_main_on_event");
        assert_int_equal(ipcbus_main_remove_event_listener(m, "ch", NULL, NULL), -EINVAL);
        assert_logged(&c, "fn", "ipcbus_main_remove_event_listener");
        assert_int_equal(ipcbus_main_handle(m, NULL, "ch", NULL, NULL), -EINVAL);
        assert_logged(&c, "fn", "ipcbus_main_handle");
        assert_int_equal(ipcbus_main_on_attached(m, NULL, NULL, NULL), -EINVAL);
        assert_logged(&c, "fn", "ipcbus_main_on_attached");
        assert_int_equal(ipcbus_main_get_all_web_contents(m, NULL), -EINVAL);
        assert_logged(&c, "ret", "ipcbus_main_get_all_web_contents");
        assert_int_equal(ipcbus_main_open_default(NULL), -EINVAL);
        assert_null(ipcbus_main_get_bus(NULL));
        /* Not opened yet: no bus, and nothing refused. */
        c.n = 0;
        assert_null(ipcbus_main_get_bus(m));
        assert_int_equal(c.n, 0);
        /* Floating arguments are consumed also when the call is refused
         * (the leak checkers of the CI stages see to it). */
        assert_int_equal(ipcbus_main_broadcast(m, NULL, ipcbus_args(g_variant_new_string("x"), NULL)), -EINVAL);
        assert_logged(&c, "channel", "ipcbus_main_broadcast");
        assert_int_equal(ipcbus_main_broadcast(NULL, "ch", ipcbus_args(g_variant_new_string("x"), NULL)), -EINVAL);

        /* Typed channels (ipcbus-typed.h). */
        assert_int_equal(ipcbus_main_declare_channel(m, IPCBUS_CHANNEL_HANDLE, NULL, "s", NULL, "s", NULL), -EINVAL);
        assert_logged(&c, "channel", "ipcbus_main_declare_channel");
        assert_int_equal(ipcbus_main_declare_channels_xml(m, NULL, NULL), -EINVAL);
        assert_logged(&c, "xml", "ipcbus_main_declare_channels_xml");
        assert_int_equal(ipcbus_main_declare_channels_file(m, NULL, NULL), -EINVAL);
        assert_logged(&c, "path", "ipcbus_main_declare_channels_file");
        assert_int_equal(ipcbus_main_undeclare_channel(m, NULL), -EINVAL);
        assert_logged(&c, "channel", "ipcbus_main_undeclare_channel");
        assert_int_equal(ipcbus_main_set_channel_interface(m, NULL), -EINVAL);
        assert_logged(&c, "interface", "ipcbus_main_set_channel_interface");
        assert_int_equal(ipcbus_main_get_channels(m, NULL), -EINVAL);
        assert_logged(&c, "ret", "ipcbus_main_get_channels");
        assert_int_equal(ipcbus_main_get_channels(NULL, NULL), -EINVAL);

        /* A channel string that is not a valid name is data, not a
         * programming error: refused, not asserted. */
        c.n = 0;
        assert_int_equal(ipcbus_main_on(m, NULL, "", listener, NULL), -EINVAL);
        assert_true(c.n == 0 || !g_str_has_prefix(c.message, "Assertion"));
        g_clear_pointer(&c.message, g_free);
}

static void test_asserts_renderer(void **state) {
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        log_capture c = {};

        assert_int_equal(ipcbus_renderer_new(&r, "org.ipcbus.Asserts"), 0);
        assert_int_equal(ipcbus_renderer_set_log_function(NULL, capture_log, &c), -EINVAL);
        assert_int_equal(ipcbus_renderer_set_log_function(r, capture_log, &c), 0);

        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "ch", NULL, 0, NULL, NULL), -EINVAL);
        assert_logged(&c, "callback", "ipcbus_renderer_invoke");
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, NULL, ipcbus_args(g_variant_new_int32(1), NULL), 0,
                                                on_result, NULL),
                         -EINVAL);
        assert_logged(&c, "channel", "ipcbus_renderer_invoke");
        /* Not "send on '(null)' refused": a NULL channel is the caller's bug. */
        assert_int_equal(ipcbus_renderer_send(r, NULL, ipcbus_args(g_variant_new_int32(1), NULL)), -EINVAL);
        assert_logged(&c, "channel", "ipcbus_renderer_send");
        assert_int_equal(ipcbus_renderer_send_sync(r, NULL, NULL, NULL, NULL), -EINVAL);
        assert_logged(&c, "channel", "ipcbus_renderer_send_sync");
        assert_int_equal(ipcbus_renderer_handle(r, NULL, "ch", NULL, NULL), -EINVAL);
        assert_logged(&c, "fn", "ipcbus_renderer_handle");
        assert_int_equal(ipcbus_renderer_on_main_vanished(r, NULL, NULL, NULL), -EINVAL);
        assert_logged(&c, "fn", "ipcbus_renderer_on_main_vanished");
        assert_int_equal(ipcbus_renderer_send(NULL, "ch", ipcbus_args(g_variant_new_int32(1), NULL)), -EINVAL);
        assert_int_equal(ipcbus_renderer_open_direct(NULL, -1), -EINVAL);
        assert_null(c.message);

        /* The renderer is not connected: a valid call fails for that, and
         * is no assertion. */
        assert_int_equal(ipcbus_renderer_send(r, "ch", NULL), -ENOTCONN);
        assert_null(c.message);
}

static void test_asserts_event(void **state) {
        _cleanup_(ipcbus_main_unrefp) ipcbus_main *m = NULL;
        _cleanup_(ipcbus_event_unrefp) ipcbus_event *e = NULL;
        log_capture c = {};

        assert_int_equal(ipcbus_main_new(&m, "org.ipcbus.Asserts"), 0);
        assert_int_equal(ipcbus_main_set_log_function(m, capture_log, &c), 0);
        e = event_new(NULL, "ch", NULL, &m->ep, false);
        e->args = g_variant_ref_sink(ipcbus_args(NULL, NULL));

        assert_int_equal(ipcbus_event_reply(e, NULL, ipcbus_args(g_variant_new_int32(1), NULL)), -EINVAL);
        assert_logged(&c, "channel", "ipcbus_event_reply");
        assert_int_equal(ipcbus_event_reply(NULL, "ch", ipcbus_args(g_variant_new_int32(1), NULL)), -EINVAL);
        assert_int_equal(ipcbus_event_set_return_value(NULL, g_variant_new_int32(1)), -EINVAL);
        assert_null(ipcbus_event_get_channel(NULL));
        assert_int_equal(ipcbus_event_read(NULL, "s", NULL), -EINVAL);
        assert_int_equal(ipcbus_event_count_args(NULL), 0);
        assert_null(c.message);
        assert_int_equal(ipcbus_event_read(e, NULL), -EINVAL);
        assert_logged(&c, "types", "ipcbus_event_readv");
}

static void test_asserts_port(void **state) {
        _cleanup_(ipcbus_port_unrefp) ipcbus_port *a = NULL, *b = NULL;
        log_capture c = {};
        size_t n;

        assert_int_equal(ipcbus_message_channel_new(NULL, NULL, &b), -EINVAL);
        assert_int_equal(ipcbus_message_channel_new(NULL, &a, NULL), -EINVAL);
        assert_null(a);
        assert_null(b);
        assert_int_equal(ipcbus_message_channel_new(NULL, &a, &b), 0);

        assert_int_equal(ipcbus_port_set_log_function(NULL, capture_log, &c), -EINVAL);
        assert_int_equal(ipcbus_port_set_log_function(a, capture_log, &c), 0);

        /* The line names the port's own file. */
        assert_int_equal(ipcbus_port_on_message(a, NULL, NULL, NULL), -EINVAL);
        assert_true(g_str_has_prefix(c.message, "Assertion 'fn' failed at src/port/port.c:"));
        assert_logged(&c, "fn", "ipcbus_port_on_message");
        assert_int_equal(ipcbus_port_on_close(a, NULL, NULL, NULL), -EINVAL);
        assert_logged(&c, "fn", "ipcbus_port_on_close");
        assert_int_equal(ipcbus_port_on_drain(a, NULL, NULL, NULL), -EINVAL);
        assert_logged(&c, "fn", "ipcbus_port_on_drain");

        /* A NULL port has no log function: nothing reaches a's. */
        c.n = 0;
        assert_int_equal(ipcbus_port_on_message(NULL, NULL, on_port_message, NULL), -EINVAL);
        assert_int_equal(ipcbus_port_on_close(NULL, NULL, on_port_close, NULL), -EINVAL);
        assert_int_equal(ipcbus_port_on_drain(NULL, NULL, on_port_close, NULL), -EINVAL);
        assert_int_equal(ipcbus_port_start(NULL), -EINVAL);
        assert_int_equal(ipcbus_port_close(NULL), -EINVAL);
        assert_int_equal(ipcbus_port_post_message(NULL, g_variant_new_int32(1), NULL, 0), -EINVAL);
        assert_int_equal(ipcbus_port_get_queued(NULL, &n, NULL), -EINVAL);
        assert_true(ipcbus_port_is_closed(NULL));
        assert_null(ipcbus_port_get_close_error(NULL));
        assert_null(ipcbus_port_ref(NULL));
        assert_null(ipcbus_port_unref(NULL));
        assert_int_equal(c.n, 0);

        /* The port is untouched by all that. */
        assert_false(ipcbus_port_is_closed(a));
        assert_int_equal(ipcbus_port_get_queued(a, &n, NULL), 0);
        assert_int_equal(n, 0);
}

static void test_asserts_web_contents(void **state) {
        _cleanup_(ipcbus_main_unrefp) ipcbus_main *m = NULL;
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *wc = NULL;
        log_capture c = {};
        uint64_t queued;
        pid_t pid;
        uid_t uid;
        gid_t gid;

        assert_int_equal(ipcbus_main_new(&m, "org.ipcbus.Asserts"), 0);
        assert_int_equal(ipcbus_main_set_log_function(m, capture_log, &c), 0);
        /* An unattached peer without a connection: enough to be refused. */
        assert_int_equal(web_contents_new(&wc, m, &m->ep, m->path, NULL, NULL), 0);

        /* Not "send on '(null)' refused": a NULL channel is the caller's bug. */
        assert_int_equal(ipcbus_web_contents_send(wc, NULL, ipcbus_args(g_variant_new_int32(1), NULL)), -EINVAL);
        assert_true(g_str_has_prefix(c.message, "Assertion 'channel' failed at src/endpoint/web-contents.c:"));
        assert_logged(&c, "channel", "ipcbus_web_contents_send");
        assert_int_equal(ipcbus_web_contents_post_message(wc, NULL, g_variant_new_int32(1), NULL, 0), -EINVAL);
        assert_logged(&c, "channel", "ipcbus_web_contents_post_message");
        assert_int_equal(ipcbus_web_contents_invoke(wc, NULL, NULL, ipcbus_args(g_variant_new_int32(1), NULL), 0,
                                                    on_result, NULL),
                         -EINVAL);
        assert_logged(&c, "channel", "ipcbus_web_contents_invoke");
        assert_int_equal(ipcbus_web_contents_invoke(wc, NULL, "ch", ipcbus_args(g_variant_new_int32(1), NULL), 0,
                                                    NULL, NULL),
                         -EINVAL);
        assert_logged(&c, "callback", "ipcbus_web_contents_invoke");
        assert_int_equal(ipcbus_web_contents_get_queued(wc, NULL), -EINVAL);
        assert_logged(&c, "ret_messages", "ipcbus_web_contents_get_queued");
        assert_int_equal(ipcbus_web_contents_get_pid(wc, NULL), -EINVAL);
        assert_logged(&c, "ret_pid", "ipcbus_web_contents_get_pid");
        assert_int_equal(ipcbus_web_contents_get_uid(wc, NULL), -EINVAL);
        assert_logged(&c, "ret_uid", "ipcbus_web_contents_get_uid");
        assert_int_equal(ipcbus_web_contents_get_gid(wc, NULL), -EINVAL);
        assert_logged(&c, "ret_gid", "ipcbus_web_contents_get_gid");

        /* An invalid channel string is data: refused, not asserted. Here
         * the peer is not reachable, which is found first. */
        c.n = 0;
        assert_int_equal(ipcbus_web_contents_send(wc, "", NULL), -ENOTCONN);
        assert_int_equal(c.n, 0);

        /* A NULL web contents has no log function. */
        assert_int_equal(ipcbus_web_contents_send(NULL, "ch", ipcbus_args(g_variant_new_int32(1), NULL)), -EINVAL);
        assert_int_equal(ipcbus_web_contents_post_message(NULL, "ch", g_variant_new_int32(1), NULL, 0), -EINVAL);
        assert_int_equal(ipcbus_web_contents_invoke(NULL, NULL, "ch", NULL, 0, on_result, NULL), -EINVAL);
        assert_int_equal(ipcbus_web_contents_get_queued(NULL, &queued), -EINVAL);
        assert_int_equal(ipcbus_web_contents_get_pid(NULL, &pid), -EINVAL);
        assert_int_equal(ipcbus_web_contents_get_uid(NULL, &uid), -EINVAL);
        assert_int_equal(ipcbus_web_contents_get_gid(NULL, &gid), -EINVAL);
        assert_int_equal(ipcbus_web_contents_get_pidfd(NULL), -EINVAL);
        assert_int_equal(ipcbus_web_contents_set_policy(NULL, NULL), -EINVAL);
        assert_int_equal(ipcbus_web_contents_set_class(NULL, "x"), -EINVAL);
        assert_null(ipcbus_web_contents_get_class(NULL));
        assert_null(ipcbus_web_contents_get_name(NULL));
        assert_null(ipcbus_web_contents_get_bus_name(NULL));
        assert_null(ipcbus_web_contents_get_main(NULL));
        assert_int_equal(ipcbus_web_contents_get_id(NULL), 0);
        assert_false(ipcbus_web_contents_is_attached(NULL));
        assert_null(ipcbus_web_contents_ref(NULL));
        assert_null(ipcbus_web_contents_unref(NULL));
        assert_int_equal(c.n, 0);

        /* Its main forgot it: no log target left, and no crash. */
        web_contents_set_main(wc, NULL, NULL, NULL);
        assert_int_equal(ipcbus_web_contents_send(wc, NULL, ipcbus_args(g_variant_new_int32(1), NULL)), -EINVAL);
        assert_int_equal(ipcbus_web_contents_post_message(wc, NULL, NULL, NULL, 0), -EINVAL);
        assert_int_equal(ipcbus_web_contents_invoke(wc, NULL, NULL, NULL, 0, on_result, NULL), -EINVAL);
        assert_int_equal(ipcbus_web_contents_invoke(wc, NULL, "ch", NULL, 0, NULL, NULL), -EINVAL);
        assert_int_equal(ipcbus_web_contents_get_queued(wc, NULL), -EINVAL);
        assert_int_equal(ipcbus_web_contents_send(wc, "ch", NULL), -ENOTCONN);
        assert_int_equal(c.n, 0);
}

static void test_asserts_objects_without_log(void **state) {
        _cleanup_(ipcbus_policy_unrefp) ipcbus_policy *p = NULL;

        assert_int_equal(ipcbus_invocation_return_value(NULL, g_variant_new_int32(1)), -EINVAL);
        assert_int_equal(ipcbus_invocation_return_error(NULL, NULL, "x"), -EINVAL);
        assert_int_equal(ipcbus_slot_set_floating(NULL, 1), -EINVAL);
        assert_int_equal(ipcbus_slot_is_connected(NULL), -EINVAL);
        assert_int_equal(ipcbus_policy_new(NULL), -EINVAL);
        assert_int_equal(ipcbus_policy_allow(NULL, IPCBUS_OP_INVOKE, "ch"), -EINVAL);
        assert_int_equal(ipcbus_policy_new(&p), 0);
        assert_int_equal(ipcbus_policy_allow(p, IPCBUS_OP_INVOKE, ""), -EINVAL);
        assert_null(ipcbus_value_new_regexp(NULL, NULL));
        assert_null(ipcbus_value_new_set(NULL));
        assert_int_equal(ipcbus_renderer_open_spawned(NULL), -EINVAL);
}

static int child_refuses(void *userdata) {
        /* The pipe the parent reads is stdout: stderr goes there too. */
        if (dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
                return 1;
        if (setenv("IPCBUS_DEBUG", userdata, 1) < 0)
                return 1;
        if (ipcbus_main_on(NULL, NULL, "ch", listener, NULL) != -EINVAL)
                return 1;
        (void)fflush(stderr);
        printf("done\n");
        return 0;
}

static void test_asserts_debug_stderr(void **state) {
        _cleanup_(test_process_freep) test_process *on = NULL, *off = NULL;
        const char *line;
        int status;

        /* IPCBUS_DEBUG=1: the one line the library ever prints. */
        assert_int_equal(test_process_spawn(&on, child_refuses, (void *)"1"), 0);
        assert_int_equal(test_process_wait_line(on, "", test_deadline_usec(10 * TEST_USEC_PER_SEC)), 0);
        line = test_process_get_line(on);
        assert_true(g_str_has_prefix(line, "ipcbus: Assertion 'm' failed at src/endpoint/main-endpoint.c:"));
        assert_true(g_str_has_suffix(line, ", function ipcbus_main_on(). Ignoring."));
        assert_int_equal(test_process_wait_line(on, "done", test_deadline_usec(10 * TEST_USEC_PER_SEC)), 0);
        assert_int_equal(test_process_wait_exit(on, &status), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* IPCBUS_DEBUG=0: silent, as without it. */
        assert_int_equal(test_process_spawn(&off, child_refuses, (void *)"0"), 0);
        assert_int_equal(test_process_wait_line(off, "", test_deadline_usec(10 * TEST_USEC_PER_SEC)), 0);
        assert_string_equal(test_process_get_line(off), "done");
        assert_int_equal(test_process_wait_exit(off, &status), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_asserts_main),
                cmocka_unit_test(test_asserts_renderer),
                cmocka_unit_test(test_asserts_event),
                cmocka_unit_test(test_asserts_port),
                cmocka_unit_test(test_asserts_web_contents),
                cmocka_unit_test(test_asserts_objects_without_log),
                cmocka_unit_test(test_asserts_debug_stderr),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
