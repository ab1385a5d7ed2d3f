/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The GLib adapter's GIO-style invokes (ipcbus_renderer_invoke_async/_finish,
 * ipcbus_web_contents_invoke_async/_finish), run the way a GLib program runs
 * them: the endpoint's sd-event loop attached to a private GMainContext that
 * is the thread-default one, and only g_main_loop_run() turning it.
 *
 * Every completion is checked against GIO's contract: the callback runs
 * once, never from inside the _async call, from the caller's thread-default
 * context. A GLib timeout only guards against a hang.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "ipcbus-glib.h"

#define GUARD_SECONDS 10

typedef struct fixture {
        harness h;
        GMainContext *context;
        GMainLoop *loop;
        GSource *guard;
        guint adapter;          /* the sd-event loop's source in context */
        bool timed_out;
        ipcbus_renderer *r;
        /* The main-to-renderer tests: an in-process main and its view of r. */
        ipcbus_main *m;
        ipcbus_web_contents *wc;
        GPtrArray *held;        /* invocations the renderer's "r-hold" keeps */
} fixture;

/* What one _async call came back with. */
typedef struct outcome {
        fixture *f;
        unsigned calls;
        bool starting;          /* true during the _async call itself */
        bool early;             /* the callback ran during the _async call */
        bool wrong_context;     /* ... or outside the caller's context */
        GVariant *value;
        GError *error;
} outcome;

static gboolean on_guard(gpointer userdata) {
        fixture *f = userdata;

        f->timed_out = true;
        g_main_loop_quit(f->loop);
        return G_SOURCE_CONTINUE;
}

static void fixture_loop_init(fixture *f, sd_event *event) {
        f->context = g_main_context_new();
        g_main_context_push_thread_default(f->context);
        f->loop = g_main_loop_new(f->context, FALSE);
        f->guard = g_timeout_source_new_seconds(GUARD_SECONDS);
        g_source_set_callback(f->guard, on_guard, f, NULL);
        g_source_attach(f->guard, f->context);
        f->adapter = ipcbus_glib_attach(event, f->context);
        assert_true(f->adapter > 0);
}

/* A bus, the test main in a child process (test-main.c's channels), and a
 * renderer attached to it, run from GLib. */
static int setup(void **state) {
        fixture *f = g_new0(fixture, 1);

        harness_start(&f->h);
        f->r = harness_renderer(&f->h, "glib-invoke");
        fixture_loop_init(f, f->h.event);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        GSource *adapter = g_main_context_find_source_by_id(f->context, f->adapter);

        if (f->held)
                g_ptr_array_unref(f->held);
        f->wc = ipcbus_web_contents_unref(f->wc);
        f->m = ipcbus_main_unref(f->m);
        f->r = ipcbus_renderer_unref(f->r);
        if (adapter)
                g_source_destroy(adapter);
        g_source_destroy(f->guard);
        g_source_unref(f->guard);
        g_main_loop_unref(f->loop);
        g_main_context_pop_thread_default(f->context);
        g_main_context_unref(f->context);
        harness_stop(&f->h);
        g_free(f);
        return 0;
}

static void run(fixture *f) {
        g_main_loop_run(f->loop);
        assert_false(f->timed_out);
}

static void run_until_done(outcome *o) {
        while (o->calls == 0) {
                run(o->f);
        }
}

static gboolean on_settled(gpointer userdata) {
        g_main_loop_quit(userdata);
        return G_SOURCE_REMOVE;
}

/* Let the loop run for @ms, for what should not happen. */
static void settle(fixture *f, unsigned ms) {
        GSource *t = g_timeout_source_new(ms);

        g_source_set_callback(t, on_settled, f->loop, NULL);
        g_source_attach(t, f->context);
        g_source_unref(t);
        run(f);
}

static void outcome_record(outcome *o, GAsyncResult *res, bool renderer) {
        fixture *f = o->f;

        o->calls++;
        if (o->starting)
                o->early = true;
        if (g_main_context_get_thread_default() != f->context || !g_main_context_is_owner(f->context))
                o->wrong_context = true;
        if (o->calls > 1)
                return;
        if (renderer)
                o->value = ipcbus_renderer_invoke_finish(f->r, res, &o->error);
        else
                o->value = ipcbus_web_contents_invoke_finish(f->wc, res, &o->error);
        g_main_loop_quit(f->loop);
}

static void on_renderer_done(GObject *source, GAsyncResult *res, gpointer userdata) {
        assert_null(source);
        outcome_record(userdata, res, true);
}

static void on_main_done(GObject *source, GAsyncResult *res, gpointer userdata) {
        outcome_record(userdata, res, false);
}

static void outcome_init(outcome *o, fixture *f) {
        memset(o, 0, sizeof(*o));
        o->f = f;
}

static void outcome_clear(outcome *o) {
        g_clear_pointer(&o->value, g_variant_unref);
        g_clear_error(&o->error);
}

/* Checked for every call: GIO's rules for a callback, and _finish gives
 * a value or an error. */
static void outcome_check_once(outcome *o) {
        assert_int_equal(o->calls, 1);
        assert_false(o->early);
        assert_false(o->wrong_context);
        assert_true(!o->value != !o->error);
}

static void invoke(fixture *f, outcome *o, const char *channel, GVariant *args, uint64_t timeout_usec,
                   GCancellable *cancellable) {
        outcome_init(o, f);
        o->starting = true;
        ipcbus_renderer_invoke_async(f->r, channel, args, timeout_usec, cancellable, on_renderer_done, o);
        o->starting = false;
}

static void assert_remote_error(GError *error, const char *name) {
        g_autofree char *remote = NULL;

        assert_non_null(error);
        assert_true(g_dbus_error_is_remote_error(error));
        remote = g_dbus_error_get_remote_error(error);
        assert_string_equal(remote, name);
}

/* ---- the renderer invokes the main ------------------------------------------- */

static void test_renderer_value(void **state) {
        fixture *f = *state;
        g_autoptr(GVariant) args = g_variant_ref_sink(
                ipcbus_args(g_variant_new_string("ping"), g_variant_new_int32(3), NULL));
        outcome o;

        /* "echo" answers its arguments as one "av" value. */
        invoke(f, &o, "echo", args, 0, NULL);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_null(o.error);
        assert_true(g_variant_equal(o.value, args));
        outcome_clear(&o);

        /* A handler that answers nothing answers undefined: a value too. */
        invoke(f, &o, "undefined", NULL, 0, NULL);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_int_equal(ipcbus_value_get_kind(o.value), IPCBUS_KIND_UNDEFINED);
        outcome_clear(&o);

        /* A cancellable that is never cancelled changes nothing, and its
         * watch is gone with the call. */
        {
                g_autoptr(GCancellable) c = g_cancellable_new();

                invoke(f, &o, "echo", ipcbus_args(g_variant_new_string("again"), NULL), 0, c);
                run_until_done(&o);
                outcome_check_once(&o);
                assert_string_equal(arg_string(o.value, 0), "again");
                settle(f, 50);
                assert_int_equal(o.calls, 1);
                outcome_clear(&o);
        }
}

static void test_renderer_remote_errors(void **state) {
        fixture *f = *state;
        outcome o;

        /* No handler: ipcbus's own name, which GIO does not know. */
        invoke(f, &o, "nothing-here", NULL, 0, NULL);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_IO_ERROR, G_IO_ERROR_DBUS_ERROR));
        assert_remote_error(o.error, IPCBUS_ERROR_NO_HANDLER);
        outcome_clear(&o);

        /* A handler's own error name and message, as GDBus gives them. */
        invoke(f, &o, "fail-named", NULL, 0, NULL);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_remote_error(o.error, "com.example.Error.Custom");
        assert_true(g_dbus_error_strip_remote_error(o.error));
        assert_string_equal(o.error->message, "custom");
        outcome_clear(&o);

        /* A handler that fails without a name: ipcbus's HandlerFailed. */
        invoke(f, &o, "fail", NULL, 0, NULL);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_remote_error(o.error, IPCBUS_ERROR_HANDLER_FAILED);
        outcome_clear(&o);
}

static void test_renderer_timeout(void **state) {
        fixture *f = *state;
        gint64 start = g_get_monotonic_time(), elapsed;
        outcome o;

        /* Held by the main until release-held: only the timeout ends it. */
        invoke(f, &o, "async-echo", ipcbus_args(g_variant_new_int32(-1), g_variant_new_string("late"), NULL),
               200 * TEST_USEC_PER_MSEC, NULL);
        run_until_done(&o);
        elapsed = g_get_monotonic_time() - start;
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY));
        assert_remote_error(o.error, SD_BUS_ERROR_NO_REPLY);
        assert_true(elapsed >= 200 * 1000);
        assert_true(elapsed < 5 * G_USEC_PER_SEC);
        outcome_clear(&o);
}

static void test_renderer_cancel_before(void **state) {
        fixture *f = *state;
        g_autoptr(GCancellable) c = g_cancellable_new();
        g_autoptr(GVariant) seen = NULL;
        outcome o;

        g_cancellable_cancel(c);
        invoke(f, &o, "order", ipcbus_args(g_variant_new_int32(1), NULL), 0, c);
        assert_int_equal(o.calls, 0);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
        outcome_clear(&o);

        /* Nothing was sent: "order" records every call it gets. */
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "order-get", NULL, 0, NULL, &seen), 0);
        assert_int_equal(g_variant_n_children(seen), 0);
}

/* Invoke "echo" and wait: the main has seen everything sent before. */
static void barrier(fixture *f) {
        outcome o;

        invoke(f, &o, "echo", NULL, 0, NULL);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_null(o.error);
        outcome_clear(&o);
}

static void test_renderer_cancel_during(void **state) {
        fixture *f = *state;
        g_autoptr(GCancellable) c = g_cancellable_new();
        outcome o;

        invoke(f, &o, "async-echo", ipcbus_args(g_variant_new_int32(-1), g_variant_new_string("held"), NULL), 0, c);
        barrier(f);
        /* The main holds the call now; cancelling drops it here. */
        assert_int_equal(o.calls, 0);
        g_cancellable_cancel(c);
        /* Never from inside g_cancellable_cancel(): from the loop. */
        assert_int_equal(o.calls, 0);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_IO_ERROR, G_IO_ERROR_CANCELLED));

        /* The main answers it now: the answer is dropped, no second call,
         * and it is not counted as a stray reply (the call was ours). */
        assert_int_equal(ipcbus_renderer_send(f->r, "release-held", NULL), 0);
        barrier(f);
        settle(f, 50);
        assert_int_equal(o.calls, 1);
        {
                uint64_t dropped = 1;

                assert_int_equal(ipcbus_renderer_get_counter(f->r, IPCBUS_COUNTER_REPLIES_DROPPED, &dropped), 0);
                assert_int_equal(dropped, 0);
        }
        outcome_clear(&o);
}

static gpointer cancel_in_thread(gpointer cancellable) {
        g_cancellable_cancel(cancellable);
        return NULL;
}

static void test_renderer_cancel_from_thread(void **state) {
        fixture *f = *state;
        g_autoptr(GCancellable) c = g_cancellable_new();
        outcome o;

        invoke(f, &o, "async-echo", ipcbus_args(g_variant_new_int32(-1), g_variant_new_string("held"), NULL), 0, c);
        barrier(f);
        /* Cancelled from another thread: the call is dropped, and the
         * callback runs, from the caller's context all the same. */
        g_thread_join(g_thread_new("cancel", cancel_in_thread, c));
        run_until_done(&o);
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
        outcome_clear(&o);
}

static void test_renderer_refused(void **state) {
        fixture *f = *state;
        g_autoptr(ipcbus_renderer) unopened = NULL;
        ipcbus_renderer *saved;
        outcome o, other;

        /* A channel ipcbus refuses: an error, delivered from the loop. */
        invoke(f, &o, "", NULL, 0, NULL);
        assert_int_equal(o.calls, 0);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT));
        outcome_clear(&o);

        /* A value D-Bus cannot carry (a maybe). */
        invoke(f, &o, "echo", ipcbus_args(g_variant_new_maybe(G_VARIANT_TYPE_INT32, NULL), NULL), 0, NULL);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT));
        outcome_clear(&o);

        /* Not connected. */
        assert_int_equal(ipcbus_renderer_new(&unopened, TEST_MAIN_NAME), 0);
        saved = f->r;
        f->r = unopened;
        invoke(f, &o, "echo", NULL, 0, NULL);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED));
        outcome_clear(&o);

        /* No renderer at all. */
        f->r = NULL;
        invoke(f, &o, "echo", NULL, 0, NULL);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT));
        outcome_clear(&o);
        f->r = saved;

        /* _finish on another renderer than the call's: the call was on
         * "unopened", on_renderer_done finishes it on f->r. */
        outcome_init(&other, f);
        ipcbus_renderer_invoke_async(unopened, "echo", NULL, 0, NULL, on_renderer_done, &other);
        run_until_done(&other);
        assert_true(g_error_matches(other.error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT));
        assert_non_null(strstr(other.error->message, "Not the result of"));
        outcome_clear(&other);
        /* And a GAsyncResult from elsewhere. */
        {
                g_autoptr(GTask) stranger = g_task_new(NULL, NULL, NULL, NULL);
                g_autoptr(GError) error = NULL;

                g_task_return_pointer(stranger, NULL, NULL);
                assert_null(ipcbus_renderer_invoke_finish(f->r, G_ASYNC_RESULT(stranger), &error));
                assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT));
                g_clear_error(&error);
                assert_null(ipcbus_web_contents_invoke_finish(NULL, G_ASYNC_RESULT(stranger), &error));
                assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT));
                /* GTask insists on being propagated. */
                (void)g_task_propagate_pointer(stranger, NULL);
        }

        /* No callback: the call still runs to its end, and frees all. */
        ipcbus_renderer_invoke_async(f->r, "echo", NULL, 0, NULL, NULL, NULL);
        barrier(f);
}

static void test_renderer_outlives_caller(void **state) {
        fixture *f = *state;
        outcome o;

        /* The caller drops its renderer while the call is out: the task
         * holds one until the callback has run, as GTask holds its source
         * object, so _finish can still be asked. The renderer goes with the
         * task, from inside its own reply's dispatch. */
        invoke(f, &o, "async-echo", ipcbus_args(g_variant_new_int32(20), g_variant_new_string("later"), NULL), 0,
               NULL);
        ipcbus_renderer_unref(f->r);
        run_until_done(&o);
        f->r = NULL;
        outcome_check_once(&o);
        assert_null(o.error);
        assert_string_equal(g_variant_get_string(o.value, NULL), "later");
        outcome_clear(&o);
        settle(f, 20);
}

/* ---- the main invokes a renderer ---------------------------------------------- */

static void on_attached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        fixture *f = userdata;

        f->wc = ipcbus_web_contents_ref(wc);
        g_main_loop_quit(f->loop);
}

static int renderer_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) v = ipcbus_args_get(args, 0);

        return ipcbus_invocation_return_value(
                inv, g_variant_new_printf("renderer got %s", v ? g_variant_get_string(v, NULL) : "nothing"));
}

static int renderer_hold(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        fixture *f = userdata;

        g_ptr_array_add(f->held, ipcbus_invocation_ref(inv));
        return 0;
}

static void invocation_unref(gpointer inv) {
        ipcbus_invocation_unref(inv);
}

static void release_held(fixture *f) {
        for (guint i = 0; i < f->held->len; i++)
                (void)ipcbus_invocation_return_value(f->held->pdata[i], g_variant_new_string("released"));
        g_ptr_array_set_size(f->held, 0);
}

/* A main and a renderer in this process, on one sd-event loop run from
 * GLib; the renderer attaches and the main keeps its web contents. */
static int setup_main(void **state) {
        fixture *f = g_new0(fixture, 1);
        sd_event *event = NULL;

        harness_start_bus(&f->h);
        event = f->h.event;
        f->held = g_ptr_array_new_with_free_func(invocation_unref);
        fixture_loop_init(f, event);

        assert_int_equal(ipcbus_main_new(&f->m, TEST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_main_attach_event(f->m, event, 0), 0);
        assert_int_equal(ipcbus_main_on_attached(f->m, NULL, on_attached, f), 0);
        assert_int_equal(ipcbus_main_open_address(f->m, test_bus_get_address(f->h.bus)), 0);

        assert_int_equal(ipcbus_renderer_new(&f->r, TEST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(f->r, event, 0), 0);
        assert_int_equal(ipcbus_renderer_open_address(f->r, test_bus_get_address(f->h.bus)), 0);
        assert_int_equal(ipcbus_renderer_handle(f->r, NULL, "r-echo", renderer_echo, f), 0);
        assert_int_equal(ipcbus_renderer_handle(f->r, NULL, "r-hold", renderer_hold, f), 0);
        assert_int_equal(ipcbus_renderer_attach(f->r, "glib-win"), 0);
        while (!f->wc)
                run(f);
        assert_true(ipcbus_web_contents_is_attached(f->wc));

        *state = f;
        return 0;
}

static void invoke_renderer(fixture *f, outcome *o, const char *channel, GVariant *args, uint64_t timeout_usec,
                            GCancellable *cancellable) {
        outcome_init(o, f);
        o->starting = true;
        ipcbus_web_contents_invoke_async(f->wc, channel, args, timeout_usec, cancellable, on_main_done, o);
        o->starting = false;
}

static void test_main_value_and_errors(void **state) {
        fixture *f = *state;
        outcome o;

        invoke_renderer(f, &o, "r-echo", ipcbus_args(g_variant_new_string("hi"), NULL), 0, NULL);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_null(o.error);
        assert_string_equal(g_variant_get_string(o.value, NULL), "renderer got hi");
        outcome_clear(&o);

        invoke_renderer(f, &o, "nothing-here", NULL, 0, NULL);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_remote_error(o.error, IPCBUS_ERROR_NO_HANDLER);
        outcome_clear(&o);

        invoke_renderer(f, &o, "r-hold", NULL, 100 * TEST_USEC_PER_MSEC, NULL);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY));
        outcome_clear(&o);
        release_held(f);
}

static void test_main_cancel(void **state) {
        fixture *f = *state;
        g_autoptr(GCancellable) c = g_cancellable_new();
        outcome o, after;

        invoke_renderer(f, &o, "r-hold", NULL, 0, c);
        while (f->held->len == 0)
                settle(f, 5);
        g_cancellable_cancel(c);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_IO_ERROR, G_IO_ERROR_CANCELLED));

        /* The renderer answers after all: dropped, no second callback. */
        release_held(f);
        invoke_renderer(f, &after, "r-echo", NULL, 0, NULL);
        run_until_done(&after);
        outcome_check_once(&after);
        assert_int_equal(o.calls, 1);
        outcome_clear(&o);
        outcome_clear(&after);

        /* Already cancelled: not sent (the handler never runs). */
        invoke_renderer(f, &o, "r-hold", NULL, 0, c);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
        invoke_renderer(f, &after, "r-echo", NULL, 0, NULL);
        run_until_done(&after);
        assert_int_equal(f->held->len, 0);
        outcome_clear(&o);
        outcome_clear(&after);
}

static void test_main_gone(void **state) {
        fixture *f = *state;
        outcome o;

        invoke_renderer(f, &o, "r-hold", NULL, 0, NULL);
        while (f->held->len == 0)
                settle(f, 5);
        /* The main is freed with the call in flight: the call ends without
         * an answer, and the task says so, once, from the loop. */
        f->m = ipcbus_main_unref(f->m);
        assert_int_equal(o.calls, 0);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_IO_ERROR, G_IO_ERROR_CLOSED));
        outcome_clear(&o);

        /* Its web contents is nobody's now: refused, from the loop. */
        invoke_renderer(f, &o, "r-echo", NULL, 0, NULL);
        run_until_done(&o);
        outcome_check_once(&o);
        assert_true(g_error_matches(o.error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED));
        outcome_clear(&o);
        release_held(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_renderer_value, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_remote_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_cancel_before, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_cancel_during, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_cancel_from_thread, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_outlives_caller, setup, teardown),
                cmocka_unit_test_setup_teardown(test_main_value_and_errors, setup_main, teardown),
                cmocka_unit_test_setup_teardown(test_main_cancel, setup_main, teardown),
                cmocka_unit_test_setup_teardown(test_main_gone, setup_main, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
