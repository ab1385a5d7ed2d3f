/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The self-test's machinery (demo-selftest.h): the scenario files use it,
 * demo-scenarios.c runs them.
 *
 * One-way messages to the main are seen on its stdout ("main-recv CHANNEL
 * ARGS"). That a message did NOT reach a renderer is shown with a barrier:
 * an invoke from that renderer, started after the main handled the message;
 * its answer comes after anything the main sent that renderer before.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "demo-selftest.h"

/* ---- waiting, failing, reporting ------------------------------------------ */

int selftest_step(demo_selftest *t) {
        uint64_t now = demo_now_usec();
        int k;

        if (now >= t->deadline)
                return -ETIMEDOUT;
        k = sd_event_run(t->event, t->deadline - now);
        return k < 0 ? k : 0;
}

int selftest_fail(demo_selftest *t, const char *format, ...) {
        va_list ap;

        if (!t->why) {
                va_start(ap, format);
                t->why = g_strdup_vprintf(format, ap);
                va_end(ap);
        }
        return -1;
}

int selftest_skip(demo_selftest *t, const char *format, ...) {
        va_list ap;

        if (t->why)
                return -1;
        va_start(ap, format);
        t->why = g_strdup_vprintf(format, ap);
        va_end(ap);
        return SELFTEST_SKIPPED;
}

void selftest_scenario_begin(demo_selftest *t, uint64_t timeout_usec) {
        t->deadline = demo_now_usec() + timeout_usec;
        t->main_mark = t->main ? t->main->lines->len : 0;
        t->completions = 0;
        if (t->win1.recv)
                g_ptr_array_set_size(t->win1.recv, 0);
        if (t->win2.recv)
                g_ptr_array_set_size(t->win2.recv, 0);
}

void selftest_report(demo_selftest *t, const char *name, int result) {
        if (result == SELFTEST_SKIPPED) {
                printf("skip %s: %s\n", name, t->why ?: "cannot run here");
        } else if (result >= 0)
                printf("ok %s\n", name);
        else {
                printf("FAIL %s: %s\n", name, t->why ?: "failed");
                t->failed++;
        }
        fflush(stdout);
        g_free(t->why);
        t->why = NULL;
}

/* ---- what the renderers receive ------------------------------------------- */

static int on_window_recv(ipcbus_event *event, GVariant *args, void *userdata) {
        demo_window *w = userdata;

        g_ptr_array_add(w->recv, demo_format_message(ipcbus_event_get_channel(event), args));
        return 0;
}

static unsigned window_count(demo_window *w, const char *line) {
        unsigned n = 0;

        for (unsigned i = 0; i < w->recv->len; i++)
                n += g_str_equal(w->recv->pdata[i], line);
        return n;
}

char *window_describe(demo_window *w) {
        GString *s = g_string_new(NULL);

        g_string_append_printf(s, "%s got %u message(s)", w->name, w->recv->len);
        for (unsigned i = 0; i < w->recv->len; i++)
                g_string_append_printf(s, "%s%s", i ? "; " : ": ", (const char *)w->recv->pdata[i]);
        return g_string_free(s, FALSE);
}

int window_expect_message(demo_selftest *t, demo_window *w, const char *channel, const char *text) {
        _cleanup_(demo_freep) char *line = demo_format_string_message(channel, text), *seen = NULL;
        unsigned n;

        if (WAIT_FOR(t, window_count(w, line) > 0) < 0) {
                seen = window_describe(w);
                return selftest_fail(t, "%s did not receive '%s' (%s)", w->name, line, seen);
        }
        n = window_count(w, line);
        if (n != 1)
                return selftest_fail(t, "%s received '%s' %u times", w->name, line, n);
        return 0;
}

int selftest_expect_main_recv(demo_selftest *t, const char *channel, GVariant *args) {
        _cleanup_(demo_freep) char *message = demo_format_message(channel, args);
        _cleanup_(demo_freep) char *line = g_strdup_printf("main-recv %s", message);

        if (WAIT_FOR(t, demo_child_find_line(t->main, t->main_mark, line) >= 0 || t->main->eof) < 0)
                return selftest_fail(t, "the main did not print '%s'", line);
        if (demo_child_find_line(t->main, t->main_mark, line) < 0)
                return selftest_fail(t, "the main exited before printing '%s'", line);
        return 0;
}

/* ---- windows ---------------------------------------------------------------- */

static int on_window_state(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        demo_window *w = userdata;

        /* A scenario decides when this answer leaves (demo-trust.c lets a
         * forger answer first). Holding a reference keeps the call open. */
        if (w->hold_state) {
                ipcbus_invocation_unref(w->held_state);
                w->held_state = ipcbus_invocation_ref(inv);
                return 0;
        }
        return ipcbus_invocation_return_value(inv, demo_renderer_state(w->r, w->name));
}

int window_release_state(demo_window *w) {
        _cleanup_(ipcbus_invocation_unrefp) ipcbus_invocation *inv = DEMO_TAKE_PTR(w->held_state);

        w->hold_state = false;
        if (!inv)
                return 0;
        return ipcbus_invocation_return_value(inv, demo_renderer_state(w->r, w->name));
}

int window_open(demo_selftest *t, demo_window *w, const char *name) {
        int k;

        w->name = name;
        w->log_prefix = g_strdup_printf("ipcbus-demo %s", name);
        w->recv = g_ptr_array_new_with_free_func(g_free);
        k = ipcbus_renderer_new(&w->r, DEMO_DEFAULT_NAME);
        if (k < 0)
                return selftest_fail(t, "%s: %s", name, g_strerror(-k));
        ipcbus_renderer_set_log_function(w->r, demo_log_stderr, w->log_prefix);
        /* A failing scenario fails within its deadline, sendSync included. */
        (void)ipcbus_renderer_set_timeout(w->r, SELFTEST_SCENARIO_TIMEOUT_USEC);
        k = ipcbus_renderer_attach_event(w->r, t->event, 0);
        if (k >= 0)
                k = ipcbus_renderer_open_address(w->r, t->bus->address);
        if (k >= 0)
                /* Listeners before Attach: testMsg comes right after it. */
                k = demo_renderer_listen(w->r, on_window_recv, w);
        if (k >= 0)
                k = ipcbus_renderer_handle(w->r, NULL, DEMO_RENDERER_STATE, on_window_state, w);
        if (k >= 0) {
                w->port.answer = g_str_equal(name, "win2");
                k = demo_port_listen(w->r, &w->port);
        }
        if (k < 0)
                return selftest_fail(t, "%s: cannot connect: %s", name, g_strerror(-k));
        return 0;
}

void window_close(demo_window *w) {
        /* Unanswered, the held call fails at once instead of timing out. */
        w->held_state = ipcbus_invocation_unref(w->held_state);
        w->hold_state = false;
        demo_port_end_clear(&w->port);
        w->r = ipcbus_renderer_unref(w->r);
        if (w->recv)
                g_ptr_array_unref(w->recv);
        w->recv = NULL;
        g_free(w->log_prefix);
        w->log_prefix = NULL;
}

/* ---- invokes ---------------------------------------------------------------- */

void demo_call_clear(demo_call *c) {
        c->slot = ipcbus_slot_unref(c->slot);
        if (c->result)
                g_variant_unref(c->result);
        c->result = NULL;
        sd_bus_error_free(&c->error);
}

void selftest_call_done(demo_call *c, GVariant *result, const sd_bus_error *error) {
        c->done = true;
        c->finished = demo_now_usec();
        c->order = ++c->t->completions;
        if (error)
                (void)sd_bus_error_copy(&c->error, error);
        else if (result)
                c->result = g_variant_ref_sink(result);
}

static int on_call_done(GVariant *result, const sd_bus_error *error, void *userdata) {
        selftest_call_done(userdata, result, error);
        return 0;
}

int selftest_call_start(demo_selftest *t, demo_window *w, const char *channel, GVariant *args, demo_call *c) {
        int k;

        c->t = t;
        c->started = demo_now_usec();
        k = ipcbus_renderer_invoke(w->r, &c->slot, channel, args, 0, on_call_done, c);
        if (k < 0)
                return selftest_fail(t, "%s: invoke '%s' failed to start: %s", w->name, channel,
                                     g_strerror(-k));
        return 0;
}

int selftest_call_wait(demo_selftest *t, demo_call *c, const char *channel) {
        if (WAIT_FOR(t, c->done) < 0)
                return selftest_fail(t, "no answer to invoke '%s' within %u s", channel,
                                     SELFTEST_SCENARIO_TIMEOUT_USEC / 1000000U);
        return 0;
}

int selftest_expect_string(demo_selftest *t, const char *what, GVariant *v, const char *expected) {
        _cleanup_(demo_freep) char *printed = v ? g_variant_print(v, TRUE) : g_strdup("nothing");

        if (!v || !g_variant_is_of_type(v, G_VARIANT_TYPE_STRING) ||
            !g_str_equal(g_variant_get_string(v, NULL), expected))
                return selftest_fail(t, "%s: expected '%s', got %s", what, expected, printed);
        return 0;
}

int selftest_call_expect_string(demo_selftest *t, demo_call *c, const char *channel, const char *expected) {
        if (selftest_call_wait(t, c, channel) < 0)
                return -1;
        if (sd_bus_error_is_set(&c->error))
                return selftest_fail(t, "invoke '%s' failed: %s: %s", channel, c->error.name,
                                     c->error.message);
        return selftest_expect_string(t, channel, c->result, expected);
}

int selftest_call_expect_error(demo_selftest *t, demo_call *c, const char *channel, const char *name,
                               const char *message) {
        _cleanup_(demo_freep) char *printed = NULL;

        if (selftest_call_wait(t, c, channel) < 0)
                return -1;
        if (!sd_bus_error_is_set(&c->error)) {
                printed = c->result ? g_variant_print(c->result, TRUE) : g_strdup("nothing");
                return selftest_fail(t, "invoke '%s' answered %s instead of failing", channel, printed);
        }
        if (!g_str_equal(c->error.name, name) || g_strcmp0(c->error.message, message) != 0)
                return selftest_fail(t, "invoke '%s': expected %s \"%s\", got %s \"%s\"", channel, name,
                                     message, c->error.name, c->error.message ?: "(no message)");
        return 0;
}

int window_invoke_expect_string(demo_selftest *t, demo_window *w, const char *channel, GVariant *args,
                                const char *expected) {
        _cleanup_(demo_call_clear) demo_call c = DEMO_CALL_INIT;

        if (selftest_call_start(t, w, channel, args, &c) < 0)
                return -1;
        return selftest_call_expect_string(t, &c, channel, expected);
}

int window_invoke_expect_error(demo_selftest *t, demo_window *w, const char *channel, GVariant *args,
                               const char *name, const char *message) {
        _cleanup_(demo_call_clear) demo_call c = DEMO_CALL_INIT;

        if (selftest_call_start(t, w, channel, args, &c) < 0)
                return -1;
        return selftest_call_expect_error(t, &c, channel, name, message);
}

int window_send_sync_expect_string(demo_selftest *t, demo_window *w, const char *channel, const char *text,
                                   const char *expected) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(demo_variant_unrefp) GVariant *value = NULL;
        int k;

        k = ipcbus_renderer_send_sync(w->r, channel, ipcbus_args(g_variant_new_string(text), NULL), &error,
                                      &value);
        if (k < 0)
                return selftest_fail(t, "sendSync '%s' failed: %s", channel,
                                     sd_bus_error_is_set(&error) ? error.message : g_strerror(-k));
        return selftest_expect_string(t, channel, value, expected);
}

int window_send(demo_selftest *t, demo_window *w, const char *channel, GVariant *args) {
        int k = ipcbus_renderer_send(w->r, channel, args);

        if (k < 0)
                return selftest_fail(t, "%s: send '%s' failed: %s", w->name, channel, g_strerror(-k));
        return 0;
}

int window_barrier(demo_selftest *t, demo_window *w) {
        _cleanup_(demo_call_clear) demo_call c = DEMO_CALL_INIT;

        if (selftest_call_start(t, w, "get-title", NULL, &c) < 0)
                return -1;
        if (selftest_call_wait(t, &c, "get-title") < 0)
                return -1;
        return 0;
}

int window_expect_nothing(demo_selftest *t, demo_window *w) {
        _cleanup_(demo_freep) char *seen = NULL;

        if (window_barrier(t, w) < 0)
                return -1;
        if (w->recv->len > 0) {
                seen = window_describe(w);
                return selftest_fail(t, "%s should have got nothing, but %s", w->name, seen);
        }
        return 0;
}

GVariant *selftest_string_args(const char *text) {
        return ipcbus_args(g_variant_new_string(text), NULL);
}
