/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MessagePorts through Channel1.PostMessage between separate processes:
 * main to renderer, renderer to main, renderer to renderer with the main
 * stopped, close on SIGKILL, queued before start, a port through a port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "harness.h"

static int setup(void **state) {
        harness *h = g_new0(harness, 1);

        harness_start(h);
        *state = h;
        return 0;
}

static int teardown(void **state) {
        harness *h = *state;

        /* A test may leave the main stopped. */
        if (h->main)
                (void)test_process_kill(h->main, SIGCONT);
        harness_stop(h);
        g_free(h);
        return 0;
}

/* What arrived on a channel with ports, and on the port kept from it. */
typedef struct port_box {
        ipcbus_port *port;
        GPtrArray *got;     /* strings that arrived on the port */
        bool arrived;       /* the PostMessage came */
        bool closed;
        unsigned n_closed;
        unsigned want;      /* stop flag when got->len reaches this */
        bool enough;
} port_box;

static int box_on_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n, void *userdata) {
        port_box *b = userdata;

        g_ptr_array_add(b->got, g_variant_is_of_type(data, G_VARIANT_TYPE_STRING)
                                        ? g_strdup(g_variant_get_string(data, NULL))
                                        : g_variant_print(data, FALSE));
        if (b->got->len >= b->want)
                b->enough = true;
        return 0;
}

static void box_on_close(ipcbus_port *port, void *userdata) {
        port_box *b = userdata;

        b->closed = true;
        b->n_closed++;
}

static void box_take(port_box *b, ipcbus_port *port, bool start) {
        b->port = ipcbus_port_ref(port);
        assert_int_equal(ipcbus_port_on_message(port, NULL, box_on_message, b), 0);
        assert_int_equal(ipcbus_port_on_close(port, NULL, box_on_close, b), 0);
        if (start)
                assert_int_equal(ipcbus_port_start(port), 0);
}

static int box_listener(ipcbus_event *e, GVariant *args, void *userdata) {
        port_box *b = userdata;
        size_t n = 0;
        ipcbus_port **ports = ipcbus_event_get_ports(e, &n);

        assert_int_equal(n, 1);
        box_take(b, ports[0], false);
        b->arrived = true;
        return 0;
}

static void box_init(port_box *b, unsigned want) {
        memset(b, 0, sizeof(*b));
        b->got = g_ptr_array_new_with_free_func(g_free);
        b->want = want;
}

static void box_clear(port_box *b) {
        ipcbus_port_unref(b->port);
        g_ptr_array_unref(b->got);
}

static void test_port_main_to_renderer_queued_before_start(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, "win1");
        port_box b;

        box_init(&b, 4);
        assert_int_equal(ipcbus_renderer_on(r, NULL, "port-echo-port", box_listener, &b), 0);
        assert_int_equal(ipcbus_renderer_send(r, "port-echo", NULL), 0);
        assert_true(harness_run_until(h, &b.arrived, 5000));

        /* q1 and q2 were posted before this end existed here: they waited. */
        assert_int_equal(ipcbus_port_post_message(b.port, g_variant_new_string("ping"), NULL, 0), 0);
        assert_int_equal(ipcbus_port_post_message(b.port, g_variant_new_string("pong?"), NULL, 0), 0);
        assert_int_equal(ipcbus_port_start(b.port), 0);
        assert_true(harness_run_until(h, &b.enough, 5000));
        assert_string_equal(b.got->pdata[0], "q1");
        assert_string_equal(b.got->pdata[1], "q2");
        assert_string_equal(b.got->pdata[2], "ping");
        assert_string_equal(b.got->pdata[3], "pong?");

        /* Closing our end fires close in the main. */
        assert_int_equal(ipcbus_port_close(b.port), 0);
        assert_int_equal(test_process_wait_line(h->main, "port-closed", 5 * TEST_USEC_PER_SEC), 0);
        box_clear(&b);
}

static void test_port_renderer_to_main(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, "win1");
        _cleanup_(ipcbus_port_unrefp) ipcbus_port *mine = NULL, *theirs = NULL;
        port_box b;

        box_init(&b, 1);
        assert_int_equal(ipcbus_message_channel_new(h->event, &mine, &theirs), 0);
        box_take(&b, mine, true);
        assert_int_equal(ipcbus_renderer_post_message(r, "port-back", g_variant_new_string("take this"), &theirs, 1),
                         0);
        /* Transferred: the end we sent is neutered here. */
        assert_true(ipcbus_port_is_closed(theirs));
        assert_int_equal(ipcbus_port_post_message(theirs, g_variant_new_string("x"), NULL, 0), -EBADF);
        assert_int_equal(test_process_wait_line(h->main, "got-port 1", 5 * TEST_USEC_PER_SEC), 0);
        assert_true(harness_run_until(h, &b.enough, 5000));
        assert_string_equal(b.got->pdata[0], "hello from main");
        box_clear(&b);
}

static void test_port_bad_transfer_refused(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, "win1");
        _cleanup_(ipcbus_port_unrefp) ipcbus_port *a = NULL, *b = NULL;
        ipcbus_port *twice[2];

        assert_int_equal(ipcbus_message_channel_new(h->event, &a, &b), 0);
        twice[0] = twice[1] = b;
        /* Refused before anything is sent; the port stays usable. */
        assert_int_equal(ipcbus_renderer_post_message(r, "port-back", NULL, twice, 2), -EINVAL);
        assert_false(ipcbus_port_is_closed(b));
        assert_int_equal(ipcbus_port_close(a), 0);
        assert_int_equal(ipcbus_renderer_post_message(r, "port-back", NULL, &a, 1), -EINVAL);
        assert_int_equal(ipcbus_port_post_message(b, g_variant_new_string("still"), NULL, 0), -EPIPE);
}

/* win2 in its own process: answers "ping N" with "pong N" on its port and
 * says each one on stdout. */
typedef struct child_config {
        const char *address;
} child_config;

static int win2_on_forwarded(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n, void *userdata) {
        printf("win2 forwarded-got %s\n", g_variant_get_string(data, NULL));
        fflush(stdout);
        return 0;
}

static int win2_on_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n, void *userdata) {
        const char *s = g_variant_get_string(data, NULL);
        g_autofree char *answer = NULL;

        /* A port that came through this port: listen on it too. */
        if (n > 0) {
                ipcbus_port_ref(ports[0]);
                (void)ipcbus_port_on_message(ports[0], NULL, win2_on_forwarded, NULL);
                (void)ipcbus_port_start(ports[0]);
        }

        if (g_str_has_prefix(s, "ping "))
                answer = g_strdup_printf("pong %s", s + 5);
        printf("win2 got %s\n", s);
        fflush(stdout);
        return answer ? ipcbus_port_post_message(port, g_variant_new_string(answer), NULL, 0) : 0;
}

static int win2_on_paired(ipcbus_event *e, GVariant *args, void *userdata) {
        size_t n = 0;
        ipcbus_port **ports = ipcbus_event_get_ports(e, &n);

        if (n != 1)
                return -EINVAL;
        ipcbus_port_ref(ports[0]);
        (void)ipcbus_port_on_message(ports[0], NULL, win2_on_message, NULL);
        (void)ipcbus_port_start(ports[0]);
        printf("win2 paired\n");
        fflush(stdout);
        return 0;
}

static int win2_child(void *userdata) {
        const child_config *config = userdata;
        ipcbus_renderer *r = NULL;
        uint64_t id;

        if (ipcbus_renderer_new(&r, TEST_MAIN_NAME) < 0 || ipcbus_renderer_open_address(r, config->address) < 0 ||
            ipcbus_renderer_on(r, NULL, "paired", win2_on_paired, NULL) < 0 ||
            ipcbus_renderer_attach_sync(r, "win2", NULL, &id) < 0)
                return 1;
        printf("win2 ready\n");
        fflush(stdout);
        return ipcbus_renderer_run(r) < 0;
}

static test_process *spawn_win2(harness *h) {
        static child_config config;
        test_process *p = NULL;

        config.address = test_bus_get_address(h->bus);
        assert_int_equal(test_process_spawn(&p, win2_child, &config), 0);
        assert_int_equal(test_process_wait_line(p, "win2 ready", 5 * TEST_USEC_PER_SEC), 0);
        return p;
}

static void test_port_renderers_talk_with_main_stopped(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *win1 = harness_renderer(h, "win1");
        _cleanup_(test_process_freep) test_process *win2 = spawn_win2(h);
        port_box b;
        int status;

        box_init(&b, 3);
        assert_int_equal(ipcbus_renderer_on(win1, NULL, "paired", box_listener, &b), 0);
        assert_int_equal(ipcbus_renderer_send(win1, "port-pair", ipcbus_args(g_variant_new_string("win2"), NULL)),
                         0);
        assert_true(harness_run_until(h, &b.arrived, 5000));
        assert_int_equal(test_process_wait_line(win2, "win2 paired", 5 * TEST_USEC_PER_SEC), 0);
        assert_int_equal(ipcbus_port_start(b.port), 0);

        /* The main's sd-bus drops its copy of a sent fd only after the
         * write completes, which may be just after win2 read it: a reply
         * queued behind the PostMessage shows the copy is gone. Otherwise a
         * main stopped in that window would hold win2's end open. */
        assert_int_equal(ipcbus_renderer_invoke_sync(win1, "echo", NULL, 0, NULL, NULL), 0);
        /* After the handoff the main is not on the path: stop it. */
        assert_int_equal(test_process_kill(h->main, SIGSTOP), 0);
        for (int i = 1; i <= 3; i++) {
                g_autofree char *ping = g_strdup_printf("ping %d", i);

                assert_int_equal(ipcbus_port_post_message(b.port, g_variant_new_string(ping), NULL, 0), 0);
        }
        assert_true(harness_run_until(h, &b.enough, 5000));
        assert_string_equal(b.got->pdata[0], "pong 1");
        assert_string_equal(b.got->pdata[2], "pong 3");

        /* SIGKILL of the holder fires close here, once. */
        assert_int_equal(test_process_kill(win2, SIGKILL), 0);
        assert_int_equal(test_process_wait_exit(win2, &status), 0);
        assert_true(harness_run_until(h, &b.closed, 5000));
        assert_int_equal(ipcbus_port_post_message(b.port, g_variant_new_string("anyone?"), NULL, 0), -EPIPE);
        assert_int_equal(sd_event_run(h->event, 0) >= 0, 1);
        assert_int_equal(b.n_closed, 1);
        assert_int_equal(test_process_kill(h->main, SIGCONT), 0);
        box_clear(&b);
}

static void test_port_through_port(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *win1 = harness_renderer(h, "win1");
        _cleanup_(test_process_freep) test_process *win2 = spawn_win2(h);
        port_box pair, echo;

        /* win1 holds one end of a win1-win2 channel and one end of an echo
         * channel to the main; it sends the echo end to win2 through the
         * pair, with "q1"/"q2" still queued on it: win2 gets them too. */
        box_init(&pair, 0);
        box_init(&echo, 2);
        assert_int_equal(ipcbus_renderer_on(win1, NULL, "paired", box_listener, &pair), 0);
        assert_int_equal(ipcbus_renderer_on(win1, NULL, "port-echo-port", box_listener, &echo), 0);
        assert_int_equal(ipcbus_renderer_send(win1, "port-pair", ipcbus_args(g_variant_new_string("win2"), NULL)),
                         0);
        assert_int_equal(ipcbus_renderer_send(win1, "port-echo", NULL), 0);
        assert_true(harness_run_until(h, &pair.arrived, 5000));
        assert_true(harness_run_until(h, &echo.arrived, 5000));
        assert_int_equal(test_process_wait_line(win2, "win2 paired", 5 * TEST_USEC_PER_SEC), 0);

        assert_int_equal(ipcbus_port_post_message(pair.port, g_variant_new_string("here is a port"), &echo.port, 1),
                         0);
        /* Two hops (main to win1, win1 to win2 through a port): win2 starts
         * the port and gets what the main queued on it before either hop. */
        assert_int_equal(test_process_wait_line(win2, "win2 got here is a port", 5 * TEST_USEC_PER_SEC), 0);
        assert_int_equal(test_process_wait_line(win2, "win2 forwarded-got q1", 5 * TEST_USEC_PER_SEC), 0);
        assert_int_equal(test_process_wait_line(win2, "win2 forwarded-got q2", 5 * TEST_USEC_PER_SEC), 0);
        box_clear(&pair);
        box_clear(&echo);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_port_main_to_renderer_queued_before_start, setup, teardown),
                cmocka_unit_test_setup_teardown(test_port_renderer_to_main, setup, teardown),
                cmocka_unit_test_setup_teardown(test_port_bad_transfer_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_port_renderers_talk_with_main_stopped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_port_through_port, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
