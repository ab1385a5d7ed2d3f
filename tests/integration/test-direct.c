/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Direct, bus-less connections: a main in a child process serves one end of
 * a socketpair() (ipcbus_main_add_direct), a renderer in this process the
 * other (ipcbus_renderer_open_direct). No dbus-daemon is involved, except in
 * the last test, where one main serves a bus and a direct connection at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

#define WAIT_USEC (10 * TEST_USEC_PER_SEC)
#define WAIT_MS 5000

/* ---- the test main of test-main.c, on a direct connection ------------------ */

typedef struct direct_child_config {
        test_main_config main;
        int renderer_fd;  /* the other end: closed in the child */
} direct_child_config;

static int direct_main_child(void *userdata) {
        direct_child_config *config = userdata;

        /* Only the renderer holds its end, so its close reaches the main. */
        (void)close(config->renderer_fd);
        return test_main_child(&config->main);
}

typedef struct fixture {
        sd_event *event;
        test_process *main;
        ipcbus_renderer *r;
        uint64_t id;          /* what the main said at add_direct */
        harness h;            /* the bus test only */
} fixture;

/* Reads the next "attached ID NAME" line; returns ID, checks NAME. */
static uint64_t wait_attached(test_process *p, const char *want_name) {
        uint64_t id = 0;
        char name[64];

        assert_int_equal(test_process_wait_line(p, "attached ", WAIT_USEC), 0);
        assert_int_equal(sscanf(test_process_get_line(p), "attached %" SCNu64 " %63s", &id, name), 2);
        assert_true(id > 0);
        assert_string_equal(name, want_name);
        return id;
}

static ipcbus_renderer *direct_renderer(sd_event *event, int fd) {
        ipcbus_renderer *r = NULL;

        assert_int_equal(ipcbus_renderer_new(&r, TEST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(r, event, 0), 0);
        assert_int_equal(ipcbus_renderer_set_timeout(r, 10 * TEST_USEC_PER_SEC), 0);
        assert_int_equal(ipcbus_renderer_open_direct(r, fd), 0);
        /* The other end is the main by construction. */
        assert_true(ipcbus_renderer_has_main(r));
        return r;
}

static int setup(void **state) {
        fixture *f = g_new0(fixture, 1);
        static direct_child_config config;
        int fds[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        config.main.address = NULL;
        config.main.direct_fd = fds[0];
        config.renderer_fd = fds[1];
        assert_int_equal(test_process_spawn(&f->main, direct_main_child, &config), 0);
        (void)close(fds[0]);
        /* add_direct announces the renderer (no name yet) before "ready". */
        f->id = wait_attached(f->main, "-");
        assert_int_equal(test_process_wait_line(f->main, "ready", WAIT_USEC), 0);

        assert_int_equal(sd_event_new(&f->event), 0);
        f->r = direct_renderer(f->event, fds[1]);
        *state = f;
        return 0;
}

/* For a test that starts its own main. */
static int setup_empty(void **state) {
        fixture *f = g_new0(fixture, 1);

        assert_int_equal(sd_event_new(&f->event), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        int status;

        f->r = ipcbus_renderer_unref(f->r);
        if (f->main) {
                (void)test_process_kill(f->main, SIGTERM);
                (void)test_process_wait_exit(f->main, &status);
                f->main = test_process_free(f->main);
        }
        harness_stop(&f->h);
        f->event = sd_event_unref(f->event);
        g_free(f);
        return 0;
}

static bool run_until(sd_event *event, const bool *flag) {
        gint64 deadline = g_get_monotonic_time() + (gint64)test_deadline_usec(WAIT_MS * 1000);

        while (!*flag) {
                gint64 now = g_get_monotonic_time();

                if (now >= deadline)
                        return false;
                assert_true(sd_event_run(event, (uint64_t)(deadline - now)) >= 0);
        }
        return true;
}

/* Dispatch whatever has arrived, without waiting. */
static void drain(sd_event *event) {
        int r;

        while ((r = sd_event_run(event, 0)) > 0)
                ;
        assert_true(r >= 0);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_direct_invoke(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) args = NULL, v = NULL, bad = NULL;
        result async = {};

        args = g_variant_ref_sink(ipcbus_args(g_variant_new_string("dialog:openFile"), g_variant_new_int32(3),
                                              ipcbus_value_null(), g_variant_new_parsed("{'k': <[1.5, 2.5]>}"),
                                              NULL));
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", args, 0, NULL, &v), 0);
        assert_true(g_variant_equal(v, args));

        assert_int_equal(ipcbus_renderer_invoke(f->r, NULL, "echo", args, 0, result_collect, &async),
                         0);
        assert_true(run_until(f->event, &async.done));
        assert_null(async.error_name);
        assert_true(g_variant_equal(async.value, args));

        /* The contract's errors travel the same way. */
        assert_true(ipcbus_renderer_invoke_sync(f->r, "nobody", NULL, 0, &error, &bad) < 0);
        assert_null(bad);
        assert_string_equal(error.name, IPCBUS_ERROR_NO_HANDLER);
        assert_string_equal(error.message, "No handler registered for 'nobody'");
        result_clear(&async);
}

static void test_direct_send_sync(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) v = NULL, none = NULL;

        assert_int_equal(ipcbus_renderer_send_sync(f->r, "sync-ping", ipcbus_args(g_variant_new_string("ping"), NULL),
                                                   NULL, &v),
                         0);
        assert_string_equal(g_variant_get_string(v, NULL), "pong");
        assert_true(ipcbus_renderer_send_sync(f->r, "sync-none", NULL, &error, &none) < 0);
        assert_null(none);
        assert_string_equal(error.name, IPCBUS_ERROR_NO_RETURN_VALUE);
}

static void test_direct_send_and_reply(void **state) {
        fixture *f = *state;
        inbox back = {}, sender = {};

        assert_int_equal(ipcbus_renderer_on(f->r, NULL, "reply-back", inbox_listener, &back), 0);
        assert_int_equal(ipcbus_renderer_on(f->r, NULL, "sender-back", inbox_listener, &sender), 0);
        assert_int_equal(ipcbus_renderer_send(f->r, "reply", ipcbus_args(g_variant_new_string("over direct"), NULL)),
                         0);
        assert_int_equal(ipcbus_renderer_send(f->r, "sender-send", ipcbus_args(g_variant_new_string("s"), NULL)), 0);
        assert_true(run_until(f->event, &back.got));
        assert_true(run_until(f->event, &sender.got));
        assert_string_equal(arg_string(back.last, 0), "over direct");
        assert_string_equal(arg_string(sender.last, 0), "s");

        /* A barrier: anything sent twice would be here by now. */
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", NULL, 0, NULL, NULL), 0);
        drain(f->event);
        assert_int_equal(back.n, 1);
        assert_int_equal(sender.n, 1);
        inbox_clear(&back);
        inbox_clear(&sender);
}

static void test_direct_broadcast(void **state) {
        fixture *f = *state;
        inbox in = {};

        assert_int_equal(ipcbus_renderer_on(f->r, NULL, "bcast", inbox_listener, &in), 0);
        assert_int_equal(ipcbus_renderer_send(f->r, "broadcast", ipcbus_args(g_variant_new_uint32(7), NULL)), 0);
        assert_true(run_until(f->event, &in.got));
        {
                g_autoptr(GVariant) v = ipcbus_args_get(in.last, 0);

                assert_int_equal(g_variant_get_uint32(v), 7);
        }
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", NULL, 0, NULL, NULL), 0);
        drain(f->event);
        assert_int_equal(in.n, 1);
        inbox_clear(&in);
}

static void test_direct_attach_keeps_id(void **state) {
        fixture *f = *state;
        g_autoptr(GVariant) ids = NULL;
        uint64_t id = 0, tuple_id;
        const char *name;

        /* Known before Attach (the main spawned it), but the renderer only
         * learns its id from Attach. */
        assert_int_equal(ipcbus_renderer_get_id(f->r), 0);
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "ids", NULL, 0, NULL, &ids), 0);
        assert_int_equal(g_variant_n_children(ids), 1);
        g_variant_get_child(ids, 0, "(t&s)", &tuple_id, &name);
        assert_int_equal(tuple_id, f->id);
        assert_string_equal(name, "");
        g_clear_pointer(&ids, g_variant_unref);

        /* Attach names it and keeps the id add_direct gave it (the main
         * announced the renderer then, once). */
        assert_int_equal(ipcbus_renderer_attach_sync(f->r, "sandboxed", NULL, &id), 0);
        assert_int_equal(id, f->id);
        assert_int_equal(ipcbus_renderer_get_id(f->r), f->id);
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "ids", NULL, 0, NULL, &ids), 0);
        assert_int_equal(g_variant_n_children(ids), 1);
        g_variant_get_child(ids, 0, "(t&s)", &tuple_id, &name);
        assert_int_equal(tuple_id, f->id);
        assert_string_equal(name, "sandboxed");
        g_clear_pointer(&ids, g_variant_unref);

        /* Detached, it is gone from the main's renderers... */
        assert_int_equal(ipcbus_renderer_detach(f->r), 0);
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "ids", NULL, 0, NULL, &ids), 0);
        assert_int_equal(g_variant_n_children(ids), 0);
        g_clear_pointer(&ids, g_variant_unref);
        /* ...and attached again, it is back under its old id, and the
         * main's sends reach it. */
        assert_int_equal(ipcbus_renderer_attach_sync(f->r, "again", NULL, &id), 0);
        assert_int_equal(id, f->id);
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "ids", NULL, 0, NULL, &ids), 0);
        assert_int_equal(g_variant_n_children(ids), 1);
        g_variant_get_child(ids, 0, "(t&s)", &tuple_id, &name);
        assert_int_equal(tuple_id, f->id);
        assert_string_equal(name, "again");
        {
                inbox back = {};

                assert_int_equal(ipcbus_renderer_on(f->r, NULL, "sender-back", inbox_listener, &back), 0);
                assert_int_equal(ipcbus_renderer_send(f->r, "sender-send", NULL), 0);
                assert_true(run_until(f->event, &back.got));
                inbox_clear(&back);
        }
}

static int renderer_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) v = ipcbus_args_get(args, 0);

        /* In a renderer, the caller is always the main. */
        assert_null(ipcbus_invocation_get_sender(inv));
        return ipcbus_invocation_return_value(inv, g_variant_new_printf("renderer got %s",
                                                                        g_variant_get_string(v, NULL)));
}

static void test_direct_main_invokes_renderer(void **state) {
        fixture *f = *state;
        result answer = {}, none = {};

        assert_int_equal(ipcbus_renderer_attach_sync(f->r, "win-direct", NULL, NULL), 0);
        assert_int_equal(ipcbus_renderer_handle(f->r, NULL, "r-echo", renderer_echo, NULL), 0);
        assert_int_equal(ipcbus_renderer_invoke(f->r, NULL, "call-renderer",
                                                ipcbus_args(g_variant_new_string("win-direct"),
                                                            g_variant_new_string("r-echo"),
                                                            g_variant_new_int32(5000), g_variant_new_string("hi"),
                                                            NULL),
                                                0, result_collect, &answer),
                         0);
        assert_true(run_until(f->event, &answer.done));
        assert_null(answer.error_name);
        assert_string_equal(g_variant_get_string(answer.value, NULL), "renderer got hi");

        assert_int_equal(ipcbus_renderer_invoke(f->r, NULL, "call-renderer",
                                                ipcbus_args(g_variant_new_string("win-direct"),
                                                            g_variant_new_string("r-none"),
                                                            g_variant_new_int32(5000), g_variant_new_string("x"),
                                                            NULL),
                                                0, result_collect, &none),
                         0);
        assert_true(run_until(f->event, &none.done));
        assert_string_equal(none.error_name, IPCBUS_ERROR_NO_HANDLER);
        result_clear(&answer);
        result_clear(&none);
}

static void reap_killed(fixture *f) {
        int status;

        assert_int_equal(test_process_kill(f->main, SIGKILL), 0);
        assert_int_equal(test_process_wait_exit(f->main, &status), 0);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        f->main = test_process_free(f->main);
}

static bool is_disconnect_error(int r) {
        return r == -ENOTCONN || r == -ECONNRESET || r == -EPIPE;
}

static void assert_calls_fail_fast(fixture *f) {
        _cleanup_(sd_bus_error_free) sd_bus_error e1 = SD_BUS_ERROR_NULL, e2 = SD_BUS_ERROR_NULL;
        gint64 start = g_get_monotonic_time();
        GVariant *v = NULL;
        result late = {};
        int r;

        r = ipcbus_renderer_send(f->r, "count", NULL);
        assert_true(is_disconnect_error(r));
        r = ipcbus_renderer_invoke_sync(f->r, "echo", NULL, 0, &e1, &v);
        assert_true(is_disconnect_error(r));
        assert_null(v);
        r = ipcbus_renderer_send_sync(f->r, "sync-ping", NULL, &e2, &v);
        assert_true(is_disconnect_error(r));
        assert_null(v);
        r = ipcbus_renderer_invoke(f->r, NULL, "echo", NULL, 0, result_collect, &late);
        if (r == 0) {
                /* Accepted: then it must fail at once, not time out. */
                assert_true(run_until(f->event, &late.done));
                assert_non_null(late.error_name);
        } else
                assert_true(is_disconnect_error(r));
        assert_false(ipcbus_renderer_has_main(f->r));
        /* The renderer's timeout is 10 s: none of this waited for it. */
        assert_true(g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC);
        result_clear(&late);
}

static void test_direct_main_killed(void **state) {
        fixture *f = *state;
        gint64 start;
        result pending = {}, queued_sync = {};

        /* An invoke the main will never answer (its handler waits 60 s), with
         * a timeout far beyond the test's patience. */
        assert_int_equal(ipcbus_renderer_invoke(f->r, NULL, "async-echo",
                                                ipcbus_args(g_variant_new_int32(60000), g_variant_new_string("late"),
                                                            NULL),
                                                120 * TEST_USEC_PER_SEC, result_collect, &pending),
                         0);
        /* A round trip shows the invoke reached the main. */
        assert_int_equal(ipcbus_renderer_invoke(f->r, NULL, "echo", NULL, 0, result_collect, &queued_sync), 0);
        assert_true(run_until(f->event, &queued_sync.done));
        assert_false(pending.done);

        start = g_get_monotonic_time();
        reap_killed(f);
        assert_true(run_until(f->event, &pending.done));
        assert_true(g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC);
        assert_null(pending.value);
        assert_non_null(pending.error_name);
        print_message("pending invoke after the main died: %s: %s\n", pending.error_name, pending.error_message);
        assert_calls_fail_fast(f);
        result_clear(&pending);
        result_clear(&queued_sync);
}

static void test_direct_main_killed_unnoticed(void **state) {
        fixture *f = *state;

        /* The connection is up (a round trip), then the main dies, and the
         * renderer does not run its loop: the first send finds out itself. */
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", NULL, 0, NULL, NULL), 0);
        reap_killed(f);
        assert_calls_fail_fast(f);
        drain(f->event);
        assert_calls_fail_fast(f);
}

static void test_direct_renderer_closes(void **state) {
        fixture *f = *state;
        char line[64];

        assert_int_equal(ipcbus_renderer_attach_sync(f->r, "closing", NULL, NULL), 0);
        /* Closing the renderer's end is the window going away. */
        f->r = ipcbus_renderer_unref(f->r);
        snprintf(line, sizeof(line), "detached %" PRIu64 " closing", f->id);
        assert_int_equal(test_process_wait_line(f->main, line, WAIT_USEC), 0);
}

/* A renderer that breaks the protocol after its handshake (a header no
 * D-Bus message has) is dropped, as one that closes: sd-bus gives up on
 * the connection, and the main detaches the renderer and closes its end.
 * sd-bus's own loop attachment did that by entering its closing state; the
 * main's own (connection.c) closes the bus and says Disconnected itself. */
typedef struct violation {
        bool detached;
        bool logged;
} violation;

static void violation_detached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        ((violation *)userdata)->detached = true;
}

static void violation_log(int priority, const char *message, void *userdata) {
        if (strstr(message, "direct connection failed"))
                ((violation *)userdata)->logged = true;
}

static void test_direct_protocol_violation(void **state) {
        fixture *f = *state;
        static const char garbage[16] = "X\001\000\001garbage!garb";
        ipcbus_main *m = NULL;
        violation v = { false, false };
        g_autofree char *auth = NULL;
        g_autofree char *uid = g_strdup_printf("%u", (unsigned)getuid());
        GString *hex = g_string_new(NULL);
        char buf[256];
        int fds[2];
        ssize_t n;

        for (const char *p = uid; *p; p++)
                g_string_append_printf(hex, "%02x", (unsigned char)*p);
        auth = g_strdup_printf("AUTH EXTERNAL %s\r\nBEGIN\r\n", hex->str);
        g_string_free(hex, TRUE);

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(ipcbus_main_new(&m, TEST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_main_attach_event(m, f->event, 0), 0);
        assert_int_equal(ipcbus_main_set_log_function(m, violation_log, &v), 0);
        assert_int_equal(ipcbus_main_on_detached(m, NULL, violation_detached, &v), 0);
        assert_int_equal(ipcbus_main_add_direct(m, fds[0], NULL), 0);

        assert_int_equal(write(fds[1], "", 1), 1);
        assert_int_equal(write(fds[1], auth, strlen(auth)), (ssize_t)strlen(auth));
        assert_int_equal(write(fds[1], garbage, sizeof(garbage)), (ssize_t)sizeof(garbage));
        assert_true(run_until(f->event, &v.detached));
        assert_true(v.logged);
        /* The main's end is closed: what it said (the handshake's OK), then EOF. */
        do
                n = read(fds[1], buf, sizeof(buf));
        while (n > 0);
        assert_int_equal(n, 0);
        (void)close(fds[1]);
        m = ipcbus_main_unref(m);
}

/* ---- one main, a bus connection and a direct connection at once ------------ */

typedef struct both_config {
        const char *address;
        int direct_fd;
        int renderer_fd;
} both_config;

static ipcbus_main *both_main;

static void both_say(const char *format, ...) G_GNUC_PRINTF(1, 2);
static void both_say(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vprintf(format, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

/* Returns (id, "bus:UNIQUE" or "direct") of the caller. */
static int both_whoami(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        ipcbus_web_contents *wc = ipcbus_invocation_get_sender(inv);
        const char *bus_name = ipcbus_web_contents_get_bus_name(wc);
        g_autofree char *who = bus_name ? g_strconcat("bus:", bus_name, NULL) : g_strdup("direct");

        return ipcbus_invocation_return_value(inv, g_variant_new("(ts)", ipcbus_web_contents_get_id(wc), who));
}

static int both_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, args);
}

static int both_broadcast(ipcbus_event *e, GVariant *args, void *userdata) {
        return ipcbus_main_broadcast(both_main, "bcast", args);
}

static void both_attached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        const char *name = ipcbus_web_contents_get_name(wc);

        both_say("attached %" PRIu64 " %s", ipcbus_web_contents_get_id(wc), name ? name : "-");
}

static int both_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return ipcbus_main_exit(both_main, 0);
}

static int both_main_child(void *userdata) {
        both_config *config = userdata;
        sd_event *event = NULL;
        sigset_t mask;
        int r;

        (void)close(config->renderer_fd);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if (sd_event_new(&event) < 0 || ipcbus_main_new(&both_main, TEST_MAIN_NAME) < 0 ||
            ipcbus_main_attach_event(both_main, event, 0) < 0 ||
            ipcbus_main_handle(both_main, NULL, "whoami", both_whoami, NULL) < 0 ||
            ipcbus_main_handle(both_main, NULL, "echo", both_echo, NULL) < 0 ||
            ipcbus_main_on(both_main, NULL, "broadcast", both_broadcast, NULL) < 0 ||
            ipcbus_main_on_attached(both_main, NULL, both_attached, NULL) < 0 ||
            sd_event_add_signal(event, NULL, SIGTERM, both_sigterm, NULL) < 0)
                return 10;
        /* The spawned renderer first, as a main does; then the bus. */
        r = ipcbus_main_add_direct(both_main, config->direct_fd, NULL);
        if (r < 0)
                return 11;
        r = ipcbus_main_open_address(both_main, config->address);
        if (r < 0)
                return 12;
        both_say("ready");
        r = ipcbus_main_run(both_main);
        both_main = ipcbus_main_unref(both_main);
        sd_event_unref(event);
        return r < 0 ? 1 : 0;
}

static void test_bus_and_direct(void **state) {
        fixture *f = *state;
        static both_config config;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *bus_r = NULL;
        g_autoptr(GVariant) who_direct = NULL, who_bus = NULL;
        uint64_t direct_id, id = 0, got_id;
        const char *who;
        inbox in_direct = {}, in_bus = {};
        int fds[2];

        harness_start_bus(&f->h);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        config.address = test_bus_get_address(f->h.bus);
        config.direct_fd = fds[0];
        config.renderer_fd = fds[1];
        assert_int_equal(test_process_spawn(&f->h.main, both_main_child, &config), 0);
        (void)close(fds[0]);
        direct_id = wait_attached(f->h.main, "-");
        assert_int_equal(test_process_wait_line(f->h.main, "ready", WAIT_USEC), 0);

        f->r = direct_renderer(f->h.event, fds[1]);
        assert_int_equal(ipcbus_renderer_attach_sync(f->r, "direct", NULL, &id), 0);
        assert_int_equal(id, direct_id);
        bus_r = harness_renderer(&f->h, "bus");
        assert_true(ipcbus_renderer_get_id(bus_r) > direct_id);

        /* The same handler answers both, and tells them apart. */
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "whoami", NULL, 0, NULL, &who_direct), 0);
        assert_int_equal(ipcbus_renderer_invoke_sync(bus_r, "whoami", NULL, 0, NULL, &who_bus), 0);
        g_variant_get(who_direct, "(t&s)", &got_id, &who);
        assert_int_equal(got_id, direct_id);
        assert_string_equal(who, "direct");
        g_variant_get(who_bus, "(t&s)", &got_id, &who);
        assert_int_equal(got_id, ipcbus_renderer_get_id(bus_r));
        assert_true(g_str_has_prefix(who, "bus::"));

        /* One broadcast reaches both, once each, whoever asked for it. */
        assert_int_equal(ipcbus_renderer_on(f->r, NULL, "bcast", inbox_listener, &in_direct), 0);
        assert_int_equal(ipcbus_renderer_on(bus_r, NULL, "bcast", inbox_listener, &in_bus), 0);
        assert_int_equal(ipcbus_renderer_send(f->r, "broadcast", ipcbus_args(g_variant_new_string("all"), NULL)), 0);
        assert_true(harness_run_until(&f->h, &in_direct.got, WAIT_MS));
        assert_true(harness_run_until(&f->h, &in_bus.got, WAIT_MS));
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", NULL, 0, NULL, NULL), 0);
        assert_int_equal(ipcbus_renderer_invoke_sync(bus_r, "echo", NULL, 0, NULL, NULL), 0);
        drain(f->h.event);
        assert_int_equal(in_direct.n, 1);
        assert_int_equal(in_bus.n, 1);
        assert_string_equal(arg_string(in_direct.last, 0), "all");
        assert_string_equal(arg_string(in_bus.last, 0), "all");

        /* And the other way round, from the bus renderer. */
        in_direct.got = in_bus.got = false;
        assert_int_equal(ipcbus_renderer_send(bus_r, "broadcast", ipcbus_args(g_variant_new_string("again"), NULL)),
                         0);
        assert_true(harness_run_until(&f->h, &in_direct.got, WAIT_MS));
        assert_true(harness_run_until(&f->h, &in_bus.got, WAIT_MS));
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", NULL, 0, NULL, NULL), 0);
        assert_int_equal(ipcbus_renderer_invoke_sync(bus_r, "echo", NULL, 0, NULL, NULL), 0);
        drain(f->h.event);
        assert_int_equal(in_direct.n, 2);
        assert_int_equal(in_bus.n, 2);
        inbox_clear(&in_direct);
        inbox_clear(&in_bus);
        /* The direct renderer runs on the harness loop: drop it first. */
        f->r = ipcbus_renderer_unref(f->r);
}

typedef struct port_arrival {
        ipcbus_port *port;
        char *welcome;
        char *first;
        bool done;
} port_arrival;

static int on_direct_port_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n, void *userdata) {
        port_arrival *a = userdata;

        a->first = g_strdup(g_variant_get_string(data, NULL));
        a->done = true;
        return 0;
}

static int on_direct_port(ipcbus_event *e, GVariant *args, void *userdata) {
        port_arrival *a = userdata;
        g_autoptr(GVariant) welcome = ipcbus_args_get(args, 0);
        size_t n = 0;
        ipcbus_port **ports = ipcbus_event_get_ports(e, &n);

        assert_int_equal(n, 1);
        a->welcome = g_strdup(g_variant_get_string(welcome, NULL));
        a->port = ipcbus_port_ref(ports[0]);
        assert_int_equal(ipcbus_port_on_message(a->port, NULL, on_direct_port_message, a), 0);
        return ipcbus_port_start(a->port);
}

/* The main posted a port the moment it added the connection, before the
 * renderer's handshake was over: it must arrive, and the connection live. */
static void test_direct_port_at_attach(void **state) {
        fixture *f = *state;
        port_arrival a = {};
        uint64_t deadline = g_get_monotonic_time() + WAIT_USEC;

        assert_int_equal(ipcbus_renderer_on(f->r, NULL, "direct-port", on_direct_port, &a), 0);
        while (!a.done && (uint64_t)g_get_monotonic_time() < deadline)
                assert_true(sd_event_run(f->event, 100 * 1000) >= 0);
        assert_true(a.done);
        assert_string_equal(a.welcome, "welcome");
        assert_string_equal(a.first, "over the port");
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", NULL, 0, NULL, NULL), 0);
        ipcbus_port_unref(a.port);
        g_free(a.welcome);
        g_free(a.first);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_direct_port_at_attach, setup, teardown),
                cmocka_unit_test_setup_teardown(test_direct_invoke, setup, teardown),
                cmocka_unit_test_setup_teardown(test_direct_send_sync, setup, teardown),
                cmocka_unit_test_setup_teardown(test_direct_send_and_reply, setup, teardown),
                cmocka_unit_test_setup_teardown(test_direct_broadcast, setup, teardown),
                cmocka_unit_test_setup_teardown(test_direct_attach_keeps_id, setup, teardown),
                cmocka_unit_test_setup_teardown(test_direct_main_invokes_renderer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_direct_main_killed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_direct_main_killed_unnoticed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_direct_renderer_closes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_direct_protocol_violation, setup_empty, teardown),
                cmocka_unit_test_setup_teardown(test_bus_and_direct, setup_empty, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
