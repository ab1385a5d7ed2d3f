/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A generated pair, built and run (issue 7): ipcbus-codegen turns
 * tests/codegen/org.ipcbus.Test.Codegen.xml into test-codegen-channels.[ch]
 * at build time; two mains in child processes and renderers in this process
 * use nothing but that C for the declared channels.
 *
 *   the good main    declares the interface with test_codegen_declare() and
 *                    serves every channel through the generated handlers
 *                    and listeners
 *   the loose main   declares nothing: one generated handler (its
 *                    trampoline is all that checks the arguments) and
 *                    untyped handlers and listeners that answer and send
 *                    other types than declared, as a buggy or hostile main
 *
 * Every kind both ways (async and _sync), the values of every argument
 * shape, a handler's error, a late answer, cancellation, events, the typed
 * face through plain sd-bus, and the refusals: values of other types than
 * declared are refused before sending, and never reach a typed callback
 * when they arrive.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "harness.h"
#include "test-codegen-channels.h"

#define GOOD_NAME "org.ipcbus.TestCodegen"
#define GOOD_PATH "/org/ipcbus/TestCodegen"
#define LOOSE_NAME "org.ipcbus.TestCodegenLoose"
#define WAIT_MS 10000U

/* ---- the mains (child processes) ------------------------------------------ */

typedef struct main_config {
        const char *address;
        const char *name;
        bool loose;
} main_config;

static int h_echo_all(ipcbus_invocation *inv, const char *text, uint32_t count, bool flag, double ratio,
                      int64_t big, GVariant *list, GVariant *props, GVariant *any, GVariant *pair,
                      void *userdata) {
        int r;

        /* A handler that answers another type than declared: the caller
         * gets HandlerFailed rather than waiting, the handler -EINVAL. */
        if (strcmp(text, "wrong result") == 0) {
                r = test_codegen_complete_echo_all(inv, g_variant_new_int32(1));
                test_say("complete %d", r);
                return 0;
        }
        return test_codegen_complete_echo_all(inv, g_variant_new("(subdx@as@a{sv}v@(si))", text, count, flag,
                                                                 ratio, big, list, props, any, pair));
}

static int h_math_add(ipcbus_invocation *inv, uint32_t a, uint32_t b, void *userdata) {
        return test_codegen_complete_math_add(inv, (uint64_t)a + b);
}

static int h_fail(ipcbus_invocation *inv, const char *message, void *userdata) {
        return ipcbus_invocation_return_error(inv, NULL, "%s", message);
}

static int on_later_due(sd_event_source *s, uint64_t usec, void *userdata) {
        ipcbus_invocation *inv = userdata;
        int r = test_codegen_complete_later(inv, true);

        /* -ENOTCONN never: the renderer stays; a cancelled call is answered all the same. */
        test_say("later %d", r);
        ipcbus_invocation_unref(inv);
        return 0;
}

/* Answered from the loop, 50 ms later. */
static int h_later(ipcbus_invocation *inv, void *userdata) {
        sd_event *event = userdata;

        return sd_event_add_time_relative(event, NULL, CLOCK_MONOTONIC, 50 * TEST_USEC_PER_MSEC, 0, on_later_due,
                                          ipcbus_invocation_ref(inv));
}

static int h_any(ipcbus_invocation *inv, GVariant *value, void *userdata) {
        return test_codegen_complete_any(inv, value);
}

static int h_forget(ipcbus_invocation *inv, const char *what, void *userdata) {
        test_say("forget %s", what);
        return test_codegen_complete_forget(inv);
}

static int on_log(ipcbus_event *event, const char *line, uint8_t level, void *userdata) {
        ipcbus_main *m = userdata;
        const char *names[] = { line };
        GVariantDict extra;
        int r;

        test_say("log %s %u", line, level);
        g_variant_dict_init(&extra, NULL);
        g_variant_dict_insert(&extra, "level", "y", level);
        r = test_codegen_send_tick(ipcbus_event_get_sender(event), 7, g_variant_new_strv(names, 1),
                                   g_variant_dict_end(&extra));
        if (r >= 0)
                r = test_codegen_broadcast_ping(m);
        return r;
}

/* tick with sd-bus-style arguments: once of the declared types (which makes
 * its typed face as well), once not (refused by the declaration). */
static int on_tick_f(ipcbus_event *event, GVariant *args, void *userdata) {
        ipcbus_web_contents *wc = ipcbus_event_get_sender(event);
        int wrong = ipcbus_web_contents_sendf(wc, "tick", "s", "seven");
        int r = ipcbus_web_contents_sendf(wc, "tick", "uasa{sv}", 8, 1, "f", 1, "level", "y", 4);

        test_say("tick-f %d %d", wrong, r);
        return r;
}

static int on_ask(ipcbus_event *event, const char *question, void *userdata) {
        int r = test_codegen_return_ask(event, g_variant_new("(si)", question, (int32_t)strlen(question)));

        test_say("ask %s %d", question, r);
        return 0;
}

/* The loose main's answers: other types than the XML declares. */
static int h_loose_later(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, g_variant_new_string("not a boolean"));
}

static int h_loose_echo_all(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, g_variant_new_int32(3));
}

static int h_loose_any(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        /* "v" takes anything: a value comes back whatever it is. */
        return ipcbus_invocation_return_value(inv, g_variant_new_uint64(5));
}

static int on_loose_ask(ipcbus_event *event, GVariant *args, void *userdata) {
        (void)ipcbus_event_set_return_value(event, g_variant_new_string("no struct"));
        return 0;
}

/* tick and ping with other arguments than declared, then a ping as declared. */
static int on_loose_log(ipcbus_event *event, GVariant *args, void *userdata) {
        ipcbus_web_contents *wc = ipcbus_event_get_sender(event);
        int r;

        r = ipcbus_web_contents_send(wc, "tick", ipcbus_args(g_variant_new_string("seven"), NULL));
        if (r >= 0)
                r = ipcbus_web_contents_send(wc, "ping", ipcbus_args(g_variant_new_int32(1), NULL));
        if (r >= 0)
                r = test_codegen_send_ping(wc);
        return r;
}

static int main_child(void *userdata) {
        const main_config *config = userdata;
        _cleanup_(ipcbus_main_unrefp) ipcbus_main *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_event *event;

        TEST_CHILD_CHECK("main", ipcbus_main_new(&m, config->name));
        TEST_CHILD_CHECK("main", ipcbus_main_attach_event(m, NULL, 0));
        event = ipcbus_main_get_event(m);
        /* Both: the trampoline checks what the library does not. */
        TEST_CHILD_CHECK("main", test_codegen_handle_math_add(m, NULL, h_math_add, NULL));
        if (config->loose) {
                TEST_CHILD_CHECK("main", ipcbus_main_handle(m, NULL, "later", h_loose_later, NULL));
                TEST_CHILD_CHECK("main", ipcbus_main_handle(m, NULL, "echo-all", h_loose_echo_all, NULL));
                TEST_CHILD_CHECK("main", ipcbus_main_handle(m, NULL, "any", h_loose_any, NULL));
                TEST_CHILD_CHECK("main", ipcbus_main_on(m, NULL, "ask", on_loose_ask, NULL));
                TEST_CHILD_CHECK("main", ipcbus_main_on(m, NULL, "log", on_loose_log, NULL));
        } else {
                TEST_CHILD_CHECK("main", test_codegen_declare(m, &error));
                TEST_CHILD_CHECK("main", test_codegen_handle_echo_all(m, NULL, h_echo_all, NULL));
                TEST_CHILD_CHECK("main", test_codegen_handle_fail(m, NULL, h_fail, NULL));
                TEST_CHILD_CHECK("main", test_codegen_handle_later(m, NULL, h_later, event));
                TEST_CHILD_CHECK("main", test_codegen_handle_any(m, NULL, h_any, NULL));
                TEST_CHILD_CHECK("main", test_codegen_handle_forget(m, NULL, h_forget, NULL));
                TEST_CHILD_CHECK("main", test_codegen_on_log(m, NULL, on_log, m));
                TEST_CHILD_CHECK("main", ipcbus_main_on(m, NULL, "tick-f", on_tick_f, NULL));
                TEST_CHILD_CHECK("main", test_codegen_on_ask(m, NULL, on_ask, NULL));
        }
        TEST_CHILD_CHECK("main", ipcbus_main_open_address(m, config->address));
        test_say("ready");
        /* Until SIGTERM. */
        TEST_CHILD_CHECK("main", ipcbus_main_run(m));
        return 0;
}

/* ---- the fixture ------------------------------------------------------------ */

typedef struct fixture {
        test_bus *bus;
        test_process *good, *loose;
        sd_event *event;
        ipcbus_renderer *r;     /* to the good main */
        ipcbus_renderer *rl;    /* to the loose main */
        GPtrArray *logged;      /* what the renderers logged */
} fixture;

static main_config good_config = { .name = GOOD_NAME };
static main_config loose_config = { .name = LOOSE_NAME, .loose = true };

static void on_log_message(int priority, const char *message, void *userdata) {
        fixture *f = userdata;

        g_ptr_array_add(f->logged, g_strdup(message));
}

static bool logged(fixture *f, const char *message) {
        for (unsigned i = 0; i < f->logged->len; i++)
                if (strcmp(f->logged->pdata[i], message) == 0)
                        return true;
        return false;
}

static ipcbus_renderer *renderer_new(fixture *f, const char *main_name) {
        ipcbus_renderer *r = NULL;
        uint64_t id = 0;

        assert_int_equal(ipcbus_renderer_new(&r, main_name), 0);
        assert_int_equal(ipcbus_renderer_attach_event(r, f->event, 0), 0);
        assert_int_equal(ipcbus_renderer_set_timeout(r, 10 * TEST_USEC_PER_SEC), 0);
        assert_int_equal(ipcbus_renderer_set_log_function(r, on_log_message, f), 0);
        assert_int_equal(ipcbus_renderer_open_address(r, test_bus_get_address(f->bus)), 0);
        assert_int_equal(ipcbus_renderer_attach_sync(r, "codegen", NULL, &id), 0);
        assert_true(id > 0);
        return r;
}

static int group_setup(void **state) {
        fixture *f = g_new0(fixture, 1);

        /* Set first: the teardown runs after a failed setup too. */
        *state = f;
        assert_int_equal(test_bus_start(&f->bus, TEST_BUS_DBUS_DAEMON), 0);
        good_config.address = loose_config.address = test_bus_get_address(f->bus);
        /* Forked before this process has a loop or a connection of its own. */
        assert_int_equal(test_process_spawn(&f->good, main_child, &good_config), 0);
        assert_int_equal(test_process_spawn(&f->loose, main_child, &loose_config), 0);
        assert_int_equal(test_process_wait_line(f->good, "ready", 10 * TEST_USEC_PER_SEC), 0);
        assert_int_equal(test_process_wait_line(f->loose, "ready", 10 * TEST_USEC_PER_SEC), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        return 0;
}

static void stop(test_process *p) {
        int status = 0;

        if (!p)
                return;
        assert_int_equal(test_process_kill(p, SIGTERM), 0);
        assert_int_equal(test_process_wait_exit(p, &status), 0);
        /* A clean exit: under valgrind or ASan, also without errors. */
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        test_process_free(p);
}

static int group_teardown(void **state) {
        fixture *f = *state;

        if (!f)
                return 0;
        stop(f->good);
        stop(f->loose);
        sd_event_unref(f->event);
        test_bus_free(f->bus);
        g_free(f);
        return 0;
}

static int setup(void **state) {
        fixture *f = *state;

        f->logged = g_ptr_array_new_with_free_func(g_free);
        f->r = renderer_new(f, GOOD_NAME);
        f->rl = renderer_new(f, LOOSE_NAME);
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        f->r = ipcbus_renderer_unref(f->r);
        f->rl = ipcbus_renderer_unref(f->rl);
        g_ptr_array_unref(f->logged);
        /* What the renderers left queued is gone before the next test. */
        while (sd_event_run(f->event, 0) > 0)
                ;
        return 0;
}

static bool run_until(fixture *f, const bool *flag) {
        harness h = { .bus = f->bus, .event = f->event };

        return harness_run_until(&h, flag, WAIT_MS);
}

/* ---- what the typed callbacks got ----------------------------------------------- */

typedef struct got {
        bool done;
        unsigned n;
        char *error_name;
        char *error_message;
        int error_errno;
        GVariant *value;    /* containers and "v" */
        uint64_t number;
        bool flag;
        char *text;
} got;

static void got_clear(got *g) {
        g_free(g->error_name);
        g_free(g->error_message);
        g_free(g->text);
        if (g->value)
                g_variant_unref(g->value);
        memset(g, 0, sizeof(*g));
}

static void got_error(got *g, const sd_bus_error *error) {
        g->done = true;
        g->n++;
        if (error) {
                g->error_name = g_strdup(error->name);
                g->error_message = g_strdup(error->message);
                g->error_errno = sd_bus_error_get_errno(error);
        }
}

static int on_echo_all(GVariant *all, const sd_bus_error *error, void *userdata) {
        got *g = userdata;

        got_error(g, error);
        /* NULL exactly when there is an error. */
        assert_true(!all == !!error);
        if (all)
                g->value = g_variant_ref(all);
        return 0;
}

static int on_math_add(uint64_t sum, const sd_bus_error *error, void *userdata) {
        got *g = userdata;

        got_error(g, error);
        g->number = sum;
        return 0;
}

static int on_fail(const char *never, const sd_bus_error *error, void *userdata) {
        got *g = userdata;

        got_error(g, error);
        g->text = g_strdup(never);
        return 0;
}

static int on_later(bool on, const sd_bus_error *error, void *userdata) {
        got *g = userdata;

        got_error(g, error);
        g->flag = on;
        return 0;
}

static int on_any(GVariant *same, const sd_bus_error *error, void *userdata) {
        got *g = userdata;

        got_error(g, error);
        if (same)
                g->value = g_variant_ref(same);
        return 0;
}

static int on_forget(const sd_bus_error *error, void *userdata) {
        got_error(userdata, error);
        return 0;
}

static int on_tick(ipcbus_event *event, uint32_t n, GVariant *names, GVariant *extra, void *userdata) {
        got *g = userdata;

        g->done = true;
        g->n++;
        g->number = n;
        if (g->value)
                g_variant_unref(g->value);
        g->value = g_variant_new("(@as@a{sv})", names, extra);
        g_variant_ref_sink(g->value);
        return 0;
}

static int on_ping(ipcbus_event *event, void *userdata) {
        got *g = userdata;

        g->done = true;
        g->n++;
        return 0;
}

/* ---- values -------------------------------------------------------------------------- */

static GVariant *props_new(void) {
        GVariantDict d;

        g_variant_dict_init(&d, NULL);
        g_variant_dict_insert(&d, "name", "s", "Ada");
        g_variant_dict_insert(&d, "age", "d", 36.0);
        return g_variant_dict_end(&d);
}

static GVariant *list_new(void) {
        static const char *const items[] = { "a", "b", "c" };

        return g_variant_new_strv(items, G_N_ELEMENTS(items));
}

/* What echo-all answers for the values the tests send. */
static GVariant *echo_all_expected(void) {
        return g_variant_ref_sink(g_variant_new("(subdx@as@a{sv}v@(si))", "héllo", 42U, TRUE, 2.5,
                                                (int64_t)-9000000000LL, list_new(), props_new(),
                                                g_variant_new_uint16(7), g_variant_new("(si)", "x", -3)));
}

static void assert_variant_equal(GVariant *got_value, GVariant *expected) {
        g_autofree char *a = got_value ? g_variant_print(got_value, TRUE) : g_strdup("(none)");
        g_autofree char *b = g_variant_print(expected, TRUE);

        assert_string_equal(a, b);
        assert_true(g_variant_equal(got_value, expected));
}

/* ---- handle channels --------------------------------------------------------------- */

static void test_echo_all_every_shape(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) expected = echo_all_expected();
        g_autoptr(GVariant) all = NULL;
        got g = { 0 };

        /* Floating arguments are sunk (the leak checkers would see them otherwise). */
        assert_int_equal(test_codegen_invoke_echo_all(f->r, NULL, "héllo", 42, true, 2.5, -9000000000LL,
                                                      list_new(), props_new(), g_variant_new_uint16(7),
                                                      g_variant_new("(si)", "x", -3), on_echo_all, &g),
                         0);
        assert_true(run_until(f, &g.done));
        assert_null(g.error_name);
        assert_variant_equal(g.value, expected);
        got_clear(&g);

        assert_int_equal(test_codegen_invoke_echo_all_sync(f->r, "héllo", 42, true, 2.5, -9000000000LL,
                                                           list_new(), props_new(), g_variant_new_uint16(7),
                                                           g_variant_new("(si)", "x", -3), &error, &all),
                         0);
        assert_false(sd_bus_error_is_set(&error));
        assert_variant_equal(all, expected);
}

static void test_numbers(void **state) {
        fixture *f = *state;
        uint64_t sum = 0;
        got g = { 0 };

        /* Past 32 bits: the result is a "t". */
        assert_int_equal(test_codegen_invoke_math_add(f->r, NULL, UINT32_MAX, 2, on_math_add, &g), 0);
        assert_true(run_until(f, &g.done));
        assert_null(g.error_name);
        assert_true(g.number == (uint64_t)UINT32_MAX + 2);
        got_clear(&g);

        assert_int_equal(test_codegen_invoke_math_add_sync(f->r, 40, 2, NULL, &sum), 0);
        assert_true(sum == 42);
        /* The result may be ignored. */
        assert_int_equal(test_codegen_invoke_math_add_sync(f->r, 1, 1, NULL, NULL), 0);
}

static void test_handler_error_comes_back(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        char *never = NULL;
        got g = { 0 };

        assert_int_equal(test_codegen_invoke_fail(f->r, NULL, "boom", on_fail, &g), 0);
        assert_true(run_until(f, &g.done));
        assert_string_equal(g.error_name, IPCBUS_ERROR_HANDLER_FAILED);
        assert_string_equal(g.error_message, "Error invoking remote method 'fail': Error: boom");
        assert_int_equal(g.error_errno, EREMOTEIO);
        assert_null(g.text);
        got_clear(&g);

        assert_int_equal(test_codegen_invoke_fail_sync(f->r, "bang", &error, &never), -EREMOTEIO);
        assert_string_equal(error.name, IPCBUS_ERROR_HANDLER_FAILED);
        assert_string_equal(error.message, "Error invoking remote method 'fail': Error: bang");
        assert_null(never);
}

static void test_handler_answer_of_another_type(void **state) {
        fixture *f = *state;
        got g = { 0 };

        assert_int_equal(test_codegen_invoke_echo_all(f->r, NULL, "wrong result", 0, false, 0, 0, list_new(),
                                                      props_new(), g_variant_new_boolean(TRUE),
                                                      g_variant_new("(si)", "", 0), on_echo_all, &g),
                         0);
        assert_true(run_until(f, &g.done));
        assert_string_equal(g.error_name, IPCBUS_ERROR_HANDLER_FAILED);
        assert_string_equal(g.error_message,
                            "Error invoking remote method 'echo-all': TypeError: the handler's answer is not of "
                            "type '(subdxasa{sv}v(si))', which 'echo-all' is declared to return");
        assert_int_equal(test_process_wait_line(f->good, "complete -22", 10 * TEST_USEC_PER_SEC), 0);
        got_clear(&g);
}

static void test_later_and_cancel(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        ipcbus_slot *slot = NULL;
        bool on = false;
        got g = { 0 }, cancelled = { 0 };

        assert_int_equal(test_codegen_invoke_later(f->r, NULL, on_later, &g), 0);
        assert_true(run_until(f, &g.done));
        assert_null(g.error_name);
        assert_true(g.flag);
        got_clear(&g);

        assert_int_equal(test_codegen_invoke_later_sync(f->r, &error, &on), 0);
        assert_true(on);

        /* Cancelled through its slot: the callback never runs, and the
         * generated code's closure goes with the slot. */
        assert_int_equal(test_codegen_invoke_later(f->r, &slot, on_later, &cancelled), 0);
        assert_int_equal(ipcbus_slot_is_connected(slot), 1);
        slot = ipcbus_slot_unref(slot);
        assert_int_equal(test_codegen_invoke_later(f->r, NULL, on_later, &g), 0);
        assert_true(run_until(f, &g.done));
        assert_false(cancelled.done);
        got_clear(&g);
}

static void test_variant_is_the_value_inside(void **state) {
        fixture *f = *state;
        GVariant *values[] = {
                g_variant_new_string("x"),
                g_variant_new("(si)", "y", 2),
                g_variant_new_variant(g_variant_new_int32(3)),
                ipcbus_value_null(),
        };

        for (size_t i = 0; i < G_N_ELEMENTS(values); i++) {
                g_autoptr(GVariant) expected = g_variant_ref_sink(values[i]);
                g_autoptr(GVariant) same = NULL;
                got g = { 0 };

                assert_int_equal(test_codegen_invoke_any(f->r, NULL, expected, on_any, &g), 0);
                assert_true(run_until(f, &g.done));
                assert_null(g.error_name);
                assert_variant_equal(g.value, expected);
                got_clear(&g);

                assert_int_equal(test_codegen_invoke_any_sync(f->r, expected, NULL, &same), 0);
                assert_variant_equal(same, expected);
        }
}

static void test_no_result(void **state) {
        fixture *f = *state;
        got g = { 0 };

        assert_int_equal(test_codegen_invoke_forget(f->r, NULL, "/a/b", on_forget, &g), 0);
        assert_true(run_until(f, &g.done));
        assert_null(g.error_name);
        assert_int_equal(test_process_wait_line(f->good, "forget /a/b", 10 * TEST_USEC_PER_SEC), 0);
        got_clear(&g);
        assert_int_equal(test_codegen_invoke_forget_sync(f->r, "/c", NULL), 0);
        assert_int_equal(test_process_wait_line(f->good, "forget /c", 10 * TEST_USEC_PER_SEC), 0);
}

/* ---- listeners and events ---------------------------------------------------------- */

static void test_send_and_events(void **state) {
        fixture *f = *state;
        g_autoptr(GVariant) expected = NULL;
        got tick = { 0 }, ping = { 0 };

        assert_int_equal(test_codegen_on_tick(f->r, NULL, on_tick, &tick), 0);
        assert_int_equal(test_codegen_on_ping(f->r, NULL, on_ping, &ping), 0);
        assert_int_equal(test_codegen_send_log(f->r, "hello", 3), 0);
        assert_int_equal(test_process_wait_line(f->good, "log hello 3", 10 * TEST_USEC_PER_SEC), 0);
        /* tick to the sender, then ping to all: in that order. */
        assert_true(run_until(f, &ping.done));
        assert_int_equal(tick.n, 1);
        assert_int_equal(ping.n, 1);
        assert_true(tick.number == 7);
        expected = g_variant_ref_sink(g_variant_new_parsed("(['hello'], {'level': <byte 3>})"));
        assert_variant_equal(tick.value, expected);
        g_clear_pointer(&expected, g_variant_unref);

        /* The main's ipcbus_web_contents_sendf() on the declared channel:
         * the wrong types refused, the right ones received as declared. */
        tick.done = false;
        assert_int_equal(ipcbus_renderer_send(f->r, "tick-f", NULL), 0);
        assert_int_equal(test_process_wait_line(f->good, "tick-f -22 0", 10 * TEST_USEC_PER_SEC), 0);
        assert_true(run_until(f, &tick.done));
        assert_int_equal(tick.n, 2);
        assert_true(tick.number == 8);
        expected = g_variant_ref_sink(g_variant_new_parsed("(['f'], {'level': <byte 4>})"));
        assert_variant_equal(tick.value, expected);
        got_clear(&tick);
        got_clear(&ping);
}

static void test_send_sync(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) answer = NULL, expected = NULL;

        assert_int_equal(test_codegen_send_ask_sync(f->r, "why?", &error, &answer), 0);
        expected = g_variant_ref_sink(g_variant_new("(si)", "why?", 4));
        assert_variant_equal(answer, expected);
        assert_int_equal(test_process_wait_line(f->good, "ask why? 1", 10 * TEST_USEC_PER_SEC), 0);

        /* A plain send on a sendSync channel: nobody waits, so no return value. */
        assert_int_equal(test_codegen_send_ask(f->r, "when?"), 0);
        assert_int_equal(test_process_wait_line(f->good, "ask when? -95", 10 * TEST_USEC_PER_SEC), 0);
}

/* ---- the typed face, through plain sd-bus ------------------------------------------ */

static void test_typed_face(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *reply2 = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *s = NULL;
        uint64_t sum = 0;

        assert_int_equal(test_bus_connect(f->bus, &bus), 0);
        /* The generated handlers serve the members test_codegen_declare() declared. */
        assert_true(sd_bus_call_method(bus, GOOD_NAME, GOOD_PATH, TEST_CODEGEN_INTERFACE, "MathAdd", &error,
                                       &reply, "uu", 40, 2) >= 0);
        assert_int_equal(sd_bus_message_read(reply, "t", &sum), 1);
        assert_true(sum == 42);
        /* A "v" is the value inside the variant, both ways. */
        assert_true(sd_bus_call_method(bus, GOOD_NAME, GOOD_PATH, TEST_CODEGEN_INTERFACE, "Any", &error, &reply2,
                                       "v", "s", "inside") >= 0);
        assert_int_equal(sd_bus_message_read(reply2, "v", "s", &s), 1);
        assert_string_equal(s, "inside");
        assert_true(sd_bus_call_method(bus, GOOD_NAME, GOOD_PATH, TEST_CODEGEN_INTERFACE, "Fail", &error, NULL,
                                       "s", "typed boom") < 0);
        assert_string_equal(error.name, IPCBUS_ERROR_HANDLER_FAILED);
        assert_string_equal(error.message, "Error invoking remote method 'fail': Error: typed boom");
}

/* ---- what is not as declared -------------------------------------------------------- */

static void test_refused_before_sending(void **state) {
        fixture *f = *state;
        got g = { 0 };

        /* NULL or invalid strings, object paths, containers of another type,
         * a missing callback: -EINVAL, nothing sent, floating values sunk. */
        assert_int_equal(test_codegen_invoke_fail(f->r, NULL, NULL, on_fail, &g), -EINVAL);
        assert_int_equal(test_codegen_invoke_fail(f->r, NULL, "\xff", on_fail, &g), -EINVAL);
        assert_int_equal(test_codegen_invoke_fail(f->r, NULL, "ok", NULL, &g), -EINVAL);
        assert_int_equal(test_codegen_invoke_forget_sync(f->r, "not a path", NULL), -EINVAL);
        assert_int_equal(test_codegen_invoke_echo_all(f->r, NULL, "x", 0, false, 0, 0, props_new(), props_new(),
                                                      g_variant_new_boolean(TRUE), g_variant_new("(si)", "", 0),
                                                      on_echo_all, &g),
                         -EINVAL);
        assert_int_equal(test_codegen_invoke_any(f->r, NULL, NULL, on_any, &g), -EINVAL);
        assert_int_equal(test_codegen_send_log(f->r, NULL, 0), -EINVAL);
        /* A NULL renderer is the library's to refuse; the closure is freed. */
        assert_int_equal(test_codegen_invoke_later(NULL, NULL, on_later, &g), -EINVAL);
        assert_int_equal(test_codegen_on_ping(NULL, NULL, on_ping, &g), -EINVAL);
        assert_int_equal(test_codegen_on_ping(f->r, NULL, NULL, &g), -EINVAL);
        assert_false(g.done);
}

static void test_registration_errors(void **state) {
        _cleanup_(ipcbus_main_unrefp) ipcbus_main *m = NULL;
        ipcbus_slot *slot = NULL;

        assert_int_equal(ipcbus_main_new(&m, "org.ipcbus.TestCodegenLocal"), 0);
        assert_int_equal(test_codegen_handle_fail(m, &slot, h_fail, NULL), 0);
        /* One handler per channel: the second closure is freed at once. */
        assert_int_equal(test_codegen_handle_fail(m, NULL, h_fail, NULL), -EEXIST);
        assert_int_equal(test_codegen_handle_fail(m, NULL, NULL, NULL), -EINVAL);
        /* The slot removes exactly this handler; then the channel is free. */
        slot = ipcbus_slot_unref(slot);
        assert_int_equal(test_codegen_handle_fail(m, NULL, h_fail, NULL), 0);
        assert_int_equal(test_codegen_on_ask(m, NULL, on_ask, NULL), 0);
        assert_int_equal(test_codegen_declare(m, NULL), 0);
        /* Declared already, the same way: nothing changes. */
        assert_int_equal(test_codegen_declare(m, NULL), 0);
}

static void test_wrong_arguments_reach_no_handler(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL, error2 = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) value = NULL;

        /* The loose main did not declare math:add: its trampoline refuses. */
        assert_int_equal(ipcbus_renderer_invoke_sync(f->rl, "math:add",
                                                     ipcbus_args(g_variant_new_string("x"), NULL), 0, &error,
                                                     &value),
                         -EINVAL);
        assert_string_equal(error.name, IPCBUS_ERROR_INVALID_ARGS);
        assert_string_equal(error.message, "'math:add' takes (u a, u b), got (s)");
        /* The good main declared it: the library refuses, with the same words. */
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "math:add",
                                                     ipcbus_args(g_variant_new_uint32(1), g_variant_new_int32(2),
                                                                 NULL),
                                                     0, &error2, &value),
                         -EINVAL);
        assert_string_equal(error2.name, IPCBUS_ERROR_INVALID_ARGS);
        assert_string_equal(error2.message, "'math:add' takes (u a, u b), got (ui)");
}

static void test_wrong_result_is_reported(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL, error2 = SD_BUS_ERROR_NULL,
                                                  error3 = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) all = NULL, answer = NULL, same = NULL, expected = NULL;
        bool on = true;
        got g = { 0 };

        assert_int_equal(test_codegen_invoke_later(f->rl, NULL, on_later, &g), 0);
        assert_true(run_until(f, &g.done));
        assert_string_equal(g.error_name, SD_BUS_ERROR_INCONSISTENT_MESSAGE);
        assert_string_equal(g.error_message, "'later' answered a value of type 's', but is declared to return 'b'");
        assert_int_equal(g.error_errno, EBADMSG);
        assert_false(g.flag);
        got_clear(&g);

        assert_int_equal(test_codegen_invoke_later_sync(f->rl, &error, &on), -EBADMSG);
        assert_string_equal(error.name, SD_BUS_ERROR_INCONSISTENT_MESSAGE);
        assert_true(on); /* not written */

        assert_int_equal(test_codegen_invoke_echo_all(f->rl, NULL, "x", 0, false, 0, 0, list_new(), props_new(),
                                                      g_variant_new_boolean(TRUE), g_variant_new("(si)", "", 0),
                                                      on_echo_all, &g),
                         0);
        assert_true(run_until(f, &g.done));
        assert_string_equal(g.error_message,
                            "'echo-all' answered a value of type 'i', but is declared to return '(subdxasa{sv}v(si))'");
        assert_null(g.value);
        got_clear(&g);

        assert_int_equal(test_codegen_send_ask_sync(f->rl, "?", &error2, &answer), -EBADMSG);
        assert_string_equal(error2.message, "'ask' answered a value of type 's', but is declared to return '(si)'");
        assert_null(answer);

        /* A "v" result takes whatever came. */
        assert_int_equal(test_codegen_invoke_any_sync(f->rl, g_variant_new_string("x"), &error3, &same), 0);
        expected = g_variant_ref_sink(g_variant_new_uint64(5));
        assert_variant_equal(same, expected);
}

static void test_wrong_event_reaches_no_listener(void **state) {
        fixture *f = *state;
        got tick = { 0 }, ping = { 0 };

        assert_int_equal(test_codegen_on_tick(f->rl, NULL, on_tick, &tick), 0);
        assert_int_equal(test_codegen_on_ping(f->rl, NULL, on_ping, &ping), 0);
        /* The loose main answers with tick (s) and ping (i), then ping (). */
        assert_int_equal(test_codegen_send_log(f->rl, "x", 0), 0);
        assert_true(run_until(f, &ping.done));
        assert_int_equal(ping.n, 1);
        assert_int_equal(tick.n, 0);
        /* The trampolines' -EBADMSG, as the library logs a failed listener. */
        assert_true(logged(f, "Listener for 'tick' failed: Bad message"));
        assert_true(logged(f, "Listener for 'ping' failed: Bad message"));
        got_clear(&tick);
        got_clear(&ping);
}

#define CODEGEN_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                CODEGEN_TEST(test_echo_all_every_shape),
                CODEGEN_TEST(test_numbers),
                CODEGEN_TEST(test_handler_error_comes_back),
                CODEGEN_TEST(test_handler_answer_of_another_type),
                CODEGEN_TEST(test_later_and_cancel),
                CODEGEN_TEST(test_variant_is_the_value_inside),
                CODEGEN_TEST(test_no_result),
                CODEGEN_TEST(test_send_and_events),
                CODEGEN_TEST(test_send_sync),
                CODEGEN_TEST(test_typed_face),
                CODEGEN_TEST(test_refused_before_sending),
                cmocka_unit_test(test_registration_errors),
                CODEGEN_TEST(test_wrong_arguments_reach_no_handler),
                CODEGEN_TEST(test_wrong_result_is_reported),
                CODEGEN_TEST(test_wrong_event_reaches_no_listener),
        };

        return cmocka_run_group_tests_name("ipcbus-codegen: a generated pair", tests, group_setup, group_teardown);
}
