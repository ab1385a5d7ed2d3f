/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The GLib adapter: one GSource runs a whole sd-event loop. Every test runs
 * the loop only through g_main_loop_run() (or explicit GLib iterations) on
 * a private GMainContext; sd_event_run() is never called. A GLib timeout of
 * a few seconds only guards against a hang.
 */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include "ipcbus-glib.h"

#define GUARD_SECONDS 5

typedef struct fixture {
        sd_event *event;
        GMainContext *context;
        GMainLoop *loop;
        GSource *source;        /* the adapter, not attached until attach() */
        GSource *guard;
        bool timed_out;
        int pipe[2];
        sd_bus *server;
        sd_bus *client;
        unsigned replies;
        unsigned bus_errors;
        GString *log;           /* what ran, in order, space separated */
} fixture;

static void log_add(fixture *f, const char *what) {
        if (f->log->len > 0)
                g_string_append_c(f->log, ' ');
        g_string_append(f->log, what);
}

static gboolean on_guard(gpointer userdata) {
        fixture *f = userdata;

        f->timed_out = true;
        g_main_loop_quit(f->loop);
        return G_SOURCE_CONTINUE;
}

static int setup(void **state) {
        fixture *f = g_new0(fixture, 1);

        f->pipe[0] = f->pipe[1] = -1;
        f->log = g_string_new(NULL);
        assert_int_equal(sd_event_new(&f->event), 0);
        f->context = g_main_context_new();
        f->loop = g_main_loop_new(f->context, FALSE);
        f->guard = g_timeout_source_new_seconds(GUARD_SECONDS);
        g_source_set_callback(f->guard, on_guard, f, NULL);
        g_source_attach(f->guard, f->context);
        f->source = ipcbus_glib_source_new(f->event);
        assert_non_null(f->source);

        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        f->client = sd_bus_close_unref(f->client);
        f->server = sd_bus_close_unref(f->server);
        g_source_destroy(f->source);
        g_source_unref(f->source);
        g_source_destroy(f->guard);
        g_source_unref(f->guard);
        g_main_loop_unref(f->loop);
        g_main_context_unref(f->context);
        f->event = sd_event_unref(f->event);
        if (f->pipe[0] >= 0)
                close(f->pipe[0]);
        if (f->pipe[1] >= 0)
                close(f->pipe[1]);
        g_string_free(f->log, TRUE);
        g_free(f);
        return 0;
}

static void attach(fixture *f) {
        assert_int_not_equal(g_source_attach(f->source, f->context), 0);
}

static void run(fixture *f) {
        g_main_loop_run(f->loop);
        assert_false(f->timed_out);
}

static gboolean on_finished(gpointer userdata) {
        fixture *f = userdata;

        log_add(f, "finished");
        g_main_loop_quit(f->loop);
        return G_SOURCE_CONTINUE; /* ignored: the source goes away anyway */
}

/* A direct, bus-less connection over a socketpair, both ends on f->event. */
static void bus_pair_open(fixture *f) {
        int fds[2];
        sd_id128_t id;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds), 0);
        assert_int_equal(sd_id128_randomize(&id), 0);

        assert_int_equal(sd_bus_new(&f->server), 0);
        assert_int_equal(sd_bus_set_fd(f->server, fds[0], fds[0]), 0);
        assert_int_equal(sd_bus_set_server(f->server, 1, id), 0);
        assert_int_equal(sd_bus_set_anonymous(f->server, 1), 0);
        assert_int_equal(sd_bus_attach_event(f->server, f->event, SD_EVENT_PRIORITY_NORMAL), 0);
        assert_int_equal(sd_bus_start(f->server), 0);

        assert_int_equal(sd_bus_new(&f->client), 0);
        assert_int_equal(sd_bus_set_fd(f->client, fds[1], fds[1]), 0);
        assert_int_equal(sd_bus_set_anonymous(f->client, 1), 0);
        assert_int_equal(sd_bus_attach_event(f->client, f->event, SD_EVENT_PRIORITY_NORMAL), 0);
        assert_int_equal(sd_bus_start(f->client), 0);
}

static int on_ping_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        fixture *f = userdata;

        if (sd_bus_message_is_method_error(m, NULL))
                f->bus_errors++;
        f->replies++;
        log_add(f, "ping");
        g_main_loop_quit(f->loop);
        return 0;
}

static int ping(fixture *f, sd_bus *from) {
        /* sd-bus answers org.freedesktop.DBus.Peer itself, on any path. */
        return sd_bus_call_method_async(from, NULL, NULL, "/", "org.freedesktop.DBus.Peer", "Ping",
                                        on_ping_reply, f, NULL);
}

/* --- defer, timer, io and a bus call, chained so the order is fixed --- */

static gboolean on_idle_write(gpointer userdata) {
        fixture *f = userdata;

        log_add(f, "idle");
        assert_int_equal(write(f->pipe[1], "x", 1), 1);
        return G_SOURCE_REMOVE;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        fixture *f = userdata;
        char c = 0;

        log_add(f, read(fd, &c, 1) == 1 && c == 'x' ? "io" : "io-bad");
        return ping(f, f->client);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        fixture *f = userdata;
        GSource *idle = g_idle_source_new();

        log_add(f, "timer");
        g_source_set_callback(idle, on_idle_write, f, NULL);
        g_source_attach(idle, f->context);
        g_source_unref(idle);
        return 0;
}

static int on_defer_chain(sd_event_source *s, void *userdata) {
        fixture *f = userdata;

        log_add(f, "defer");
        return sd_event_add_time_relative(f->event, NULL, CLOCK_MONOTONIC, 1000, 1, on_timer, f);
}

static void test_glib_adapter_runs_defer_timer_io_and_bus(void **state) {
        fixture *f = *state;

        assert_int_equal(pipe2(f->pipe, O_CLOEXEC | O_NONBLOCK), 0);
        assert_int_equal(sd_event_add_io(f->event, NULL, f->pipe[0], EPOLLIN, on_io, f), 0);
        assert_int_equal(sd_event_add_defer(f->event, NULL, on_defer_chain, f), 0);
        bus_pair_open(f);
        attach(f);

        run(f);

        assert_string_equal(f->log->str, "defer timer idle io ping");
        assert_int_equal(f->replies, 1);
        assert_int_equal(f->bus_errors, 0);
        assert_false(g_source_is_destroyed(f->source));
}

/* --- bus calls queued from plain GLib callbacks, both directions --- */

static int on_ping_reply_count(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        fixture *f = userdata;

        if (sd_bus_message_is_method_error(m, NULL))
                f->bus_errors++;
        if (++f->replies == 2)
                g_main_loop_quit(f->loop);
        return 0;
}

static gboolean on_idle_ping(gpointer userdata) {
        fixture *f = userdata;

        assert_int_equal(sd_bus_call_method_async(f->client, NULL, NULL, "/", "org.freedesktop.DBus.Peer",
                                                  "Ping", on_ping_reply_count, f, NULL),
                         1);
        assert_int_equal(sd_bus_call_method_async(f->server, NULL, NULL, "/", "org.freedesktop.DBus.Peer",
                                                  "Ping", on_ping_reply_count, f, NULL),
                         1);
        return G_SOURCE_REMOVE;
}

static void test_glib_adapter_bus_call_from_glib_callback(void **state) {
        fixture *f = *state;
        GSource *idle = g_idle_source_new();

        bus_pair_open(f);
        attach(f);
        g_source_set_callback(idle, on_idle_ping, f, NULL);
        g_source_attach(idle, f->context);
        g_source_unref(idle);

        run(f);

        assert_int_equal(f->replies, 2);
        assert_int_equal(f->bus_errors, 0);
}

/* --- sd_event_exit() ends the source cleanly --- */

static int on_defer_exit(sd_event_source *s, void *userdata) {
        fixture *f = userdata;

        log_add(f, "defer");
        return sd_event_exit(f->event, 42);
}

static int on_exit_source(sd_event_source *s, void *userdata) {
        log_add(userdata, "exit");
        return 0;
}

static int on_must_not_run(sd_event_source *s, void *userdata) {
        log_add(userdata, "late");
        return 0;
}

static int on_timer_must_not_run(sd_event_source *s, uint64_t usec, void *userdata) {
        log_add(userdata, "late-timer");
        return 0;
}

static void test_glib_adapter_exit_in_handler_stops_source(void **state) {
        fixture *f = *state;
        sd_event_source *later = NULL;
        int code = 0;

        assert_int_equal(sd_event_add_defer(f->event, NULL, on_defer_exit, f), 0);
        /* Pending in the same iteration, but after the exit request. */
        assert_int_equal(sd_event_add_defer(f->event, &later, on_must_not_run, f), 0);
        assert_int_equal(sd_event_source_set_priority(later, SD_EVENT_PRIORITY_IDLE), 0);
        assert_int_equal(sd_event_source_set_floating(later, 1), 1);
        later = sd_event_source_unref(later);
        assert_int_equal(sd_event_add_time_relative(f->event, NULL, CLOCK_MONOTONIC, 3600 * 1000000ULL, 0,
                                                    on_timer_must_not_run, f),
                         0);
        assert_int_equal(sd_event_add_exit(f->event, NULL, on_exit_source, f), 0);
        g_source_set_callback(f->source, on_finished, f, NULL);
        attach(f);

        run(f);

        assert_string_equal(f->log->str, "defer exit finished");
        assert_int_equal(sd_event_get_state(f->event), SD_EVENT_FINISHED);
        assert_int_equal(sd_event_get_exit_code(f->event, &code), 0);
        assert_int_equal(code, 42);
        assert_true(g_source_is_destroyed(f->source));

        /* Nothing more happens, and a finished loop cannot be attached again. */
        for (int i = 0; i < 3; i++)
                g_main_context_iteration(f->context, FALSE);
        assert_string_equal(f->log->str, "defer exit finished");
        errno = 0;
        assert_null(ipcbus_glib_source_new(f->event));
        assert_int_equal(errno, ESTALE);
        assert_int_equal(ipcbus_glib_attach(f->event, f->context), 0);
}

static gboolean on_idle_exit(gpointer userdata) {
        fixture *f = userdata;

        log_add(f, "idle");
        assert_int_equal(sd_event_exit(f->event, 7), 0);
        return G_SOURCE_REMOVE;
}

static void test_glib_adapter_exit_from_glib_callback(void **state) {
        fixture *f = *state;
        GSource *idle = g_idle_source_new();
        int code = 0;

        assert_int_equal(sd_event_add_exit(f->event, NULL, on_exit_source, f), 0);
        g_source_set_callback(f->source, on_finished, f, NULL);
        attach(f);
        g_source_set_callback(idle, on_idle_exit, f, NULL);
        g_source_attach(idle, f->context);
        g_source_unref(idle);

        run(f);

        assert_string_equal(f->log->str, "idle exit finished");
        assert_int_equal(sd_event_get_exit_code(f->event, &code), 0);
        assert_int_equal(code, 7);
        assert_true(g_source_is_destroyed(f->source));
}

/* --- an sd-event failure (here: used after fork) stops the source --- */

static void test_glib_adapter_error_stops_source(void **state) {
        fixture *f = *state;
        int status = -1;
        pid_t pid;

        g_source_set_callback(f->source, on_finished, f, NULL);
        attach(f);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* sd-event refuses (-ECHILD) in a child; no cmocka here. */
                g_main_loop_run(f->loop);
                _exit(!f->timed_out && strcmp(f->log->str, "finished") == 0 &&
                                      g_source_is_destroyed(f->source)
                              ? 0
                              : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);

        /* The parent's loop is untouched. */
        assert_int_equal(sd_event_get_state(f->event), SD_EVENT_INITIAL);
}

/* --- destroying the source before it ever ran releases the loop --- */

typedef struct probe {
        bool ran;
        bool destroyed;
} probe;

static int on_probe_defer(sd_event_source *s, void *userdata) {
        ((probe *) userdata)->ran = true;
        return 0;
}

static void on_probe_destroy(void *userdata) {
        ((probe *) userdata)->destroyed = true;
}

/* A loop with one floating source that reports when the loop frees it. */
static sd_event *probe_event_new(probe *p) {
        sd_event *e = NULL;
        sd_event_source *s = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(sd_event_add_defer(e, &s, on_probe_defer, p), 0);
        assert_int_equal(sd_event_source_set_destroy_callback(s, on_probe_destroy), 0);
        assert_int_equal(sd_event_source_set_floating(s, 1), 1);
        sd_event_source_unref(s);
        return e;
}

static void test_glib_adapter_unref_before_run_releases_event(void **state) {
        probe p = {};
        sd_event *e = probe_event_new(&p);
        GSource *source = ipcbus_glib_source_new(e);

        assert_non_null(source);
        g_source_unref(source);
        assert_null(sd_event_unref(e));
        assert_true(p.destroyed);
        assert_false(p.ran);
}

static void test_glib_adapter_destroy_before_run_releases_event(void **state) {
        fixture *f = *state;
        probe p = {};
        sd_event *e = probe_event_new(&p);
        guint id = ipcbus_glib_attach(e, f->context);

        assert_int_not_equal(id, 0);
        g_source_destroy(g_main_context_find_source_by_id(f->context, id));
        for (int i = 0; i < 3; i++)
                g_main_context_iteration(f->context, FALSE);
        assert_null(sd_event_unref(e));
        assert_true(p.destroyed);
        assert_false(p.ran);
}

/* --- GLib skipping or repeating phases --- */

static int on_defer_log_quit(sd_event_source *s, void *userdata) {
        fixture *f = userdata;

        log_add(f, "d");
        g_main_loop_quit(f->loop);
        return 0;
}

/* g_main_context_pending() prepares and checks without dispatching. */
static void test_glib_adapter_pending_without_dispatch(void **state) {
        fixture *f = *state;

        assert_int_equal(sd_event_add_defer(f->event, NULL, on_defer_log_quit, f), 0);
        attach(f);
        for (int i = 0; i < 3; i++)
                assert_true(g_main_context_pending(f->context));
        assert_string_equal(f->log->str, "");

        run(f);

        for (int i = 0; i < 3; i++)
                g_main_context_iteration(f->context, FALSE);
        assert_string_equal(f->log->str, "d");
}

/* Destroyed when ready but before its dispatch: a new source carries on. */
static void test_glib_adapter_destroyed_while_pending(void **state) {
        fixture *f = *state;

        assert_int_equal(sd_event_add_defer(f->event, NULL, on_defer_log_quit, f), 0);
        attach(f);
        assert_true(g_main_context_pending(f->context));
        g_source_destroy(f->source);
        g_source_unref(f->source);
        assert_int_equal(sd_event_get_state(f->event), SD_EVENT_PENDING);
        assert_int_equal(sd_event_run(f->event, 0), -EBUSY);

        f->source = ipcbus_glib_source_new(f->event);
        assert_non_null(f->source);
        attach(f);
        run(f);

        assert_string_equal(f->log->str, "d");
        assert_int_equal(sd_event_get_state(f->event), SD_EVENT_INITIAL);
}

/* A context driven by hand that prepares and never checks leaves sd-event ARMED. */
static void test_glib_adapter_prepared_but_not_checked(void **state) {
        fixture *f = *state;
        GPollFD fds[16];
        gint priority = 0, timeout = 0;

        attach(f);
        assert_true(g_main_context_acquire(f->context));
        assert_false(g_main_context_prepare(f->context, &priority));
        assert_true(g_main_context_query(f->context, priority, &timeout, fds, G_N_ELEMENTS(fds)) > 0);
        g_main_context_release(f->context);
        assert_int_equal(sd_event_get_state(f->event), SD_EVENT_ARMED);

        /* Added behind sd-event's back: no fd wakes for it. */
        assert_int_equal(sd_event_add_defer(f->event, NULL, on_defer_log_quit, f), 0);

        run(f);

        assert_string_equal(f->log->str, "d");
}

static int on_defer_log(sd_event_source *s, void *userdata) {
        fixture *f = userdata;
        const char *name = NULL;

        assert_int_equal(sd_event_source_get_description(s, &name), 0);
        log_add(f, name);
        return 0;
}

static int on_defer_log_and_quit(sd_event_source *s, void *userdata) {
        on_defer_log(s, userdata);
        g_main_loop_quit(((fixture *) userdata)->loop);
        return 0;
}

static void add_named_defer(fixture *f, const char *name, int64_t priority, sd_event_handler_t cb) {
        sd_event_source *s = NULL;

        assert_int_equal(sd_event_add_defer(f->event, &s, cb, f), 0);
        assert_true(sd_event_source_set_description(s, name) >= 0);
        assert_true(sd_event_source_set_priority(s, priority) >= 0);
        assert_int_equal(sd_event_source_set_floating(s, 1), 1);
        sd_event_source_unref(s);
}

static gboolean on_idle_nested(gpointer userdata) {
        fixture *f = userdata;

        log_add(f, "nested");
        for (int i = 0; i < 8; i++)
                g_main_context_iteration(f->context, FALSE);
        log_add(f, "/nested");
        return G_SOURCE_REMOVE;
}

/*
 * Another source, ready in the same iteration and dispatched first, runs a
 * nested loop: the adapter, already prepared (and PENDING) by the outer loop,
 * is dispatched and runs on inside the nested loop, and the outer loop goes
 * on without trouble afterwards.
 */
static void test_glib_adapter_dispatched_by_nested_loop(void **state) {
        fixture *f = *state;
        GSource *idle = g_idle_source_new();

        g_source_set_priority(idle, G_PRIORITY_DEFAULT);
        g_source_set_callback(idle, on_idle_nested, f, NULL);
        g_source_attach(idle, f->context); /* before the adapter: dispatched first */
        g_source_unref(idle);
        add_named_defer(f, "d1", SD_EVENT_PRIORITY_NORMAL, on_defer_log);
        add_named_defer(f, "d2", SD_EVENT_PRIORITY_IDLE, on_defer_log);
        attach(f);

        g_main_context_iteration(f->context, FALSE);

        assert_string_equal(f->log->str, "nested d1 d2 /nested");
        assert_false(g_source_is_destroyed(f->source));

        /* Still running normally afterwards. */
        add_named_defer(f, "d3", SD_EVENT_PRIORITY_NORMAL, on_defer_log_and_quit);
        run(f);
        assert_string_equal(f->log->str, "nested d1 d2 /nested d3");
        assert_false(g_source_is_destroyed(f->source));
}

static gboolean on_idle_log(gpointer userdata) {
        log_add(userdata, "glib");
        return G_SOURCE_REMOVE;
}

static int on_defer_nested_loop(sd_event_source *s, void *userdata) {
        fixture *f = userdata;
        GSource *idle = g_idle_source_new();

        g_source_set_callback(idle, on_idle_log, f, NULL);
        g_source_attach(idle, f->context);
        g_source_unref(idle);
        for (int i = 0; i < 8; i++)
                g_main_context_iteration(f->context, FALSE);
        log_add(f, "d1");
        return 0;
}

/* An sd-event handler running a nested GLib loop: GLib runs, sd-event waits. */
static void test_glib_adapter_nested_loop_in_handler(void **state) {
        fixture *f = *state;

        add_named_defer(f, "d1", SD_EVENT_PRIORITY_NORMAL, on_defer_nested_loop);
        add_named_defer(f, "d2", SD_EVENT_PRIORITY_IDLE, on_defer_log_and_quit);
        attach(f);

        run(f);

        assert_string_equal(f->log->str, "glib d1 d2");
        assert_false(g_source_is_destroyed(f->source));
}

/* --- arguments and defaults --- */

static void test_glib_adapter_arguments_and_defaults(void **state) {
        fixture *f = *state;

        errno = 0;
        assert_null(ipcbus_glib_source_new(NULL));
        assert_int_equal(errno, EINVAL);
        errno = 0;
        assert_int_equal(ipcbus_glib_attach(NULL, f->context), 0);
        assert_int_equal(errno, EINVAL);

        assert_int_equal(g_source_get_priority(f->source), G_PRIORITY_DEFAULT);
        assert_string_equal(g_source_get_name(f->source), "ipcbus sd-event");
        assert_false(g_source_get_can_recurse(f->source));
}

/* An optional argument selects tests by name (cmocka's glob filter). */
int main(int argc, char **argv) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_glib_adapter_runs_defer_timer_io_and_bus, setup, teardown),
                cmocka_unit_test_setup_teardown(test_glib_adapter_bus_call_from_glib_callback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_glib_adapter_exit_in_handler_stops_source, setup, teardown),
                cmocka_unit_test_setup_teardown(test_glib_adapter_exit_from_glib_callback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_glib_adapter_error_stops_source, setup, teardown),
                cmocka_unit_test(test_glib_adapter_unref_before_run_releases_event),
                cmocka_unit_test_setup_teardown(test_glib_adapter_destroy_before_run_releases_event, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_glib_adapter_pending_without_dispatch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_glib_adapter_destroyed_while_pending, setup, teardown),
                cmocka_unit_test_setup_teardown(test_glib_adapter_prepared_but_not_checked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_glib_adapter_dispatched_by_nested_loop, setup, teardown),
                cmocka_unit_test_setup_teardown(test_glib_adapter_nested_loop_in_handler, setup, teardown),
                cmocka_unit_test_setup_teardown(test_glib_adapter_arguments_and_defaults, setup, teardown),
        };

        if (argc > 1)
                cmocka_set_test_filter(argv[1]);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
