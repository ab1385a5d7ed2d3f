/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A renderer the demo main spawns itself, under bwrap, with nothing but its
 * end of a socketpair: Electron's BrowserWindow with sandbox: true (issue 6).
 *
 * The main's side: spawn-sandboxed starts this same program as
 * "ipcbus-demo sandboxed-renderer" with ipcbus_main_spawn() and
 * IPCBUS_SPAWN_SANDBOX, and answers only once the child has reported
 * (sandbox-report) and its exit has detached it. The child's side: the
 * seeds' patterns over its descriptor, then a try at the bus the caller
 * named, which the sandbox must keep out of reach.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "demo.h"

/* Each call of the child, and its try at the bus, fails within this: the
 * child always ends, well within the self-test's scenario deadline. */
#define SANDBOXED_CALL_TIMEOUT_USEC (2U * 1000U * 1000U)

/* Every run is a process: a caller (busctl included) cannot start more. */
#define SANDBOX_MAX_RUNS 4U

#define SANDBOXED_NAME "sandboxed"

/* ---- the main's side ---------------------------------------------------------- */

struct demo_sandbox {
        ipcbus_main *m;
        const char *main_name;
        GQueue runs; /* sandbox_run * */
        ipcbus_slot *slots[3];
};

/* One spawn-sandboxed call and the child it started. */
typedef struct sandbox_run {
        GList link;
        demo_sandbox *s;
        ipcbus_invocation *inv; /* answered once the child reported and detached */
        ipcbus_web_contents *wc;
        pid_t pid;        /* as the main knows it: bwrap, which lives as long as the child */
        GVariant *report; /* a{sv}, what the child sent on sandbox-report */
} sandbox_run;

static void sandbox_run_free(sandbox_run *run) {
        g_queue_unlink(&run->s->runs, &run->link);
        /* Unanswered (the main is stopping): the caller gets an error now. */
        ipcbus_invocation_unref(run->inv);
        ipcbus_web_contents_unref(run->wc);
        if (run->report)
                g_variant_unref(run->report);
        g_free(run);
}

static sandbox_run *sandbox_find_run(demo_sandbox *s, ipcbus_web_contents *wc) {
        for (GList *l = s->runs.head; l; l = l->next) {
                sandbox_run *run = l->data;

                if (run->wc == wc)
                        return run;
        }
        return NULL;
}

/* The child is gone: answer the spawn-sandboxed call, then forget the run. */
static void sandbox_run_finish(sandbox_run *run) {
        GVariantBuilder b;
        GVariantIter iter;
        const char *key;
        GVariant *value;
        int r;

        if (!run->report)
                r = ipcbus_invocation_return_error(
                        run->inv, DEMO_ERROR_SANDBOX_FAILED,
                        "the sandboxed renderer ended without reporting (its exit status is in the main's log)");
        else {
                /* The child's report, and what only the main can tell. */
                g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
                g_variant_iter_init(&iter, run->report);
                while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
                        g_variant_builder_add(&b, "{sv}", key, value);
                        g_variant_unref(value);
                }
                g_variant_builder_add(&b, "{sv}", "detached", g_variant_new_boolean(TRUE));
                g_variant_builder_add(&b, "{sv}", "pid", g_variant_new_uint32((uint32_t)run->pid));
                r = ipcbus_invocation_return_value(run->inv, g_variant_builder_end(&b));
        }
        /* -ENOTCONN: the caller went away meanwhile; nothing to do. */
        if (r < 0 && r != -ENOTCONN)
                fprintf(stderr, "ipcbus-demo main: spawn-sandboxed: %s\n", g_strerror(-r));
        sandbox_run_free(run);
}

static void on_detached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        sandbox_run *run = sandbox_find_run(userdata, wc);

        /* A spawned renderer detaches once, when its process ends. */
        if (run)
                sandbox_run_finish(run);
}

static int handle_spawn_sandboxed(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        demo_sandbox *s = userdata;
        _cleanup_(demo_variant_unrefp) GVariant *address = ipcbus_args_get(args, 0);
        _cleanup_(demo_freep) char *exe = NULL;
        sandbox_run *run;
        int r;

        demo_main_print_recv(ipcbus_invocation_get_channel(inv), args);
        if (ipcbus_args_count(args) != 1 || !g_variant_is_of_type(address, G_VARIANT_TYPE_STRING))
                return ipcbus_invocation_return_error(
                        inv, IPCBUS_ERROR_INVALID_ARGS,
                        "spawn-sandboxed expects one string: a bus address for the renderer to try");
        if (g_queue_get_length(&s->runs) >= SANDBOX_MAX_RUNS)
                return ipcbus_invocation_return_error(inv, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                                      "at most %u sandboxed renderers at a time",
                                                      SANDBOX_MAX_RUNS);

        /* This program again, in its sandboxed-renderer mode: the sandbox
         * shows the file system read-only, and the spawn API binds the
         * program itself where the sandbox hides its directory (a build
         * under /tmp). */
        exe = demo_self_exe();
        char *argv[] = { exe,
                         (char *)"sandboxed-renderer",
                         (char *)"--name",
                         (char *)s->main_name,
                         (char *)"--probe-address",
                         (char *)g_variant_get_string(address, NULL),
                         NULL };

        run = g_new0(sandbox_run, 1);
        run->link.data = run;
        run->s = s;
        r = ipcbus_main_spawn(s->m, argv, IPCBUS_SPAWN_SANDBOX, &run->wc);
        if (r < 0) {
                g_free(run);
                if (r == -ENOPKG)
                        return ipcbus_invocation_return_error(inv, DEMO_ERROR_NO_SANDBOX,
                                                              DEMO_NO_SANDBOX_MESSAGE);
                return ipcbus_invocation_return_error(inv, DEMO_ERROR_SANDBOX_FAILED,
                                                      "cannot spawn %s under bwrap: %s", exe, g_strerror(-r));
        }
        /* Now, from the fork: the main's own knowledge, not the child's say. */
        r = ipcbus_web_contents_get_pid(run->wc, &run->pid);
        if (r < 0)
                fprintf(stderr, "ipcbus-demo main: spawn-sandboxed: the child's pid: %s\n", g_strerror(-r));
        /* Keeping the invocation is what makes the handler asynchronous. */
        run->inv = ipcbus_invocation_ref(inv);
        g_queue_push_tail_link(&s->runs, &run->link);
        return 0;
}

static int handle_sandbox_report(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        demo_sandbox *s = userdata;
        _cleanup_(demo_variant_unrefp) GVariant *report = ipcbus_args_get(args, 0);
        sandbox_run *run;

        demo_main_print_recv(ipcbus_invocation_get_channel(inv), args);
        /* Who sent it is the connection the main made, not a claim. */
        run = sandbox_find_run(s, ipcbus_invocation_get_sender(inv));
        if (!run)
                return ipcbus_invocation_return_error(
                        inv, IPCBUS_ERROR_DENIED,
                        "only a renderer spawned by spawn-sandboxed may use 'sandbox-report'");
        if (ipcbus_args_count(args) != 1 || !g_variant_is_of_type(report, G_VARIANT_TYPE_VARDICT))
                return ipcbus_invocation_return_error(inv, IPCBUS_ERROR_INVALID_ARGS,
                                                      "sandbox-report expects one dictionary (a{sv})");
        if (run->report)
                return ipcbus_invocation_return_error(inv, IPCBUS_ERROR_INVALID_ARGS, "already reported");
        run->report = DEMO_TAKE_PTR(report);
        /* The answer is its cue to exit; its exit (a detach) completes the run. */
        return ipcbus_invocation_return_value(inv, g_variant_new_boolean(TRUE));
}

int demo_sandbox_new(demo_sandbox **ret, ipcbus_main *m, const char *main_name) {
        demo_sandbox *s = g_new0(demo_sandbox, 1);
        int r;

        s->m = m;
        s->main_name = main_name;
        g_queue_init(&s->runs);
        r = ipcbus_main_handle(m, &s->slots[0], "spawn-sandboxed", handle_spawn_sandboxed, s);
        if (r >= 0)
                r = ipcbus_main_handle(m, &s->slots[1], "sandbox-report", handle_sandbox_report, s);
        if (r >= 0)
                r = ipcbus_main_on_detached(m, &s->slots[2], on_detached, s);
        if (r < 0) {
                demo_sandbox_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

demo_sandbox *demo_sandbox_free(demo_sandbox *s) {
        sandbox_run *run;

        if (!s)
                return NULL;
        for (size_t i = 0; i < G_N_ELEMENTS(s->slots); i++)
                s->slots[i] = ipcbus_slot_unref(s->slots[i]);
        while ((run = g_queue_peek_head(&s->runs)))
                sandbox_run_free(run);
        g_free(s);
        return NULL;
}

/* ---- the child's side: ipcbus-demo sandboxed-renderer ----------------------- */

typedef struct sandboxed {
        ipcbus_renderer *r;
        GVariantBuilder report;
        GString *failed; /* what went wrong, for the report: "STEP: why; ..." */
        char *reply;     /* asynchronous-reply's text, once it came */
} sandboxed;

static void sandboxed_failed(sandboxed *x, const char *step, int k, const sd_bus_error *error) {
        g_string_append_printf(x->failed, "%s%s: %s", x->failed->len ? "; " : "", step,
                               error && sd_bus_error_is_set(error) ? error->message : g_strerror(-k));
        fprintf(stderr, "ipcbus-demo sandboxed-renderer: %s: %s\n", step,
                error && sd_bus_error_is_set(error) ? error->message : g_strerror(-k));
}

/* A string answer goes into the report under @key; anything else is a failure. */
static void sandboxed_add_string(sandboxed *x, const char *key, const char *step, int k,
                                 const sd_bus_error *error, GVariant *value) {
        if (k >= 0 && value && g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
                g_variant_builder_add(&x->report, "{sv}", key,
                                      g_variant_new_string(g_variant_get_string(value, NULL)));
        else
                sandboxed_failed(x, step, k < 0 ? k : -EBADMSG, error);
}

static int on_asynchronous_reply(ipcbus_event *event, GVariant *args, void *userdata) {
        sandboxed *x = userdata;
        _cleanup_(demo_variant_unrefp) GVariant *v = ipcbus_args_get(args, 0);

        g_free(x->reply);
        x->reply = v && g_variant_is_of_type(v, G_VARIANT_TYPE_STRING) ? g_variant_dup_string(v, NULL)
                                                                       : g_strdup("");
        return 0;
}

/* ipcRenderer.send('asynchronous-message', 'ping'), then the main's
 * event.reply('asynchronous-reply', 'pong'), waited for on our loop. */
static void sandboxed_send_and_reply(sandboxed *x) {
        uint64_t deadline = demo_now_usec() + SANDBOXED_CALL_TIMEOUT_USEC;
        int k;

        k = ipcbus_renderer_send(x->r, "asynchronous-message",
                                 ipcbus_args(g_variant_new_string("ping"), NULL));
        while (k >= 0 && !x->reply) {
                uint64_t now = demo_now_usec();

                if (now >= deadline)
                        k = -ETIMEDOUT;
                else
                        k = sd_event_run(ipcbus_renderer_get_event(x->r), deadline - now);
        }
        if (k < 0)
                sandboxed_failed(x, "asynchronous-reply", k, NULL);
        else
                g_variant_builder_add(&x->report, "{sv}", "reply", g_variant_new_string(x->reply));
}

/* What a library in the renderer would do with the bus's address: connect
 * and say hello. The sandbox must make that fail. */
static void sandboxed_probe_bus(sandboxed *x, const char *address) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(demo_freep) char *text = NULL;
        int k;

        k = sd_bus_new(&bus);
        if (k >= 0)
                k = sd_bus_set_address(bus, address);
        if (k >= 0)
                k = sd_bus_set_bus_client(bus, 1);
        if (k >= 0)
                k = sd_bus_set_method_call_timeout(bus, SANDBOXED_CALL_TIMEOUT_USEC);
        if (k >= 0)
                k = sd_bus_start(bus);
        if (k >= 0)
                k = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetId", &error, NULL, "");
        if (k >= 0)
                text = g_strdup("reached the bus");
        else
                text = g_strdup_printf("%s: %s", strerrorname_np(-k) ?: "?",
                                       sd_bus_error_is_set(&error) ? error.message : g_strerror(-k));
        g_variant_builder_add(&x->report, "{sv}", "bus_errno", g_variant_new_int32(k < 0 ? k : 0));
        g_variant_builder_add(&x->report, "{sv}", "bus_error", g_variant_new_string(text));
}

int demo_sandboxed_renderer_run(const demo_options *o) {
        static const char prefix[] = "ipcbus-demo sandboxed-renderer";
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(demo_variant_unrefp) GVariant *title = NULL, *pong = NULL, *ack = NULL;
        sandboxed x = { .failed = g_string_new(NULL) };
        uint64_t id = 0;
        int k;

        g_variant_builder_init(&x.report, G_VARIANT_TYPE_VARDICT);
        k = sd_event_new(&event);
        if (k >= 0)
                k = ipcbus_renderer_new(&r, o->name);
        if (k >= 0) {
                ipcbus_renderer_set_log_function(r, demo_log_stderr, (void *)prefix);
                k = ipcbus_renderer_set_timeout(r, SANDBOXED_CALL_TIMEOUT_USEC);
        }
        if (k >= 0)
                k = ipcbus_renderer_attach_event(r, event, 0);
        /* Our end of the socketpair is all we have: no bus. */
        if (k >= 0)
                k = ipcbus_renderer_open_spawned(r);
        if (k >= 0)
                k = ipcbus_renderer_on(r, NULL, "asynchronous-reply", on_asynchronous_reply, &x);
        if (k < 0) {
                fprintf(stderr, "%s: cannot connect to the main: %s\n", prefix,
                        k == -ENXIO ? "no descriptor ($" IPCBUS_DIRECT_FD_ENV
                                      " is unset): only a main spawns this mode"
                                    : g_strerror(-k));
                g_variant_builder_clear(&x.report);
                g_string_free(x.failed, TRUE);
                return 1;
        }
        x.r = r;

        k = ipcbus_renderer_attach_sync(r, SANDBOXED_NAME, &error, &id);
        if (k < 0)
                sandboxed_failed(&x, "attach", k, &error);
        sd_bus_error_free(&error);

        /* await ipcRenderer.invoke('get-title') */
        k = ipcbus_renderer_invoke_sync(r, "get-title", NULL, 0, &error, &title);
        sandboxed_add_string(&x, "title", "get-title", k, &error, title);
        sd_bus_error_free(&error);

        /* ipcRenderer.sendSync('synchronous-message', 'ping') */
        k = ipcbus_renderer_send_sync(r, "synchronous-message",
                                      ipcbus_args(g_variant_new_string("ping"), NULL), &error, &pong);
        sandboxed_add_string(&x, "pong", "synchronous-message", k, &error, pong);
        sd_bus_error_free(&error);

        sandboxed_send_and_reply(&x);
        sandboxed_probe_bus(&x, o->probe_address);
        if (x.failed->len)
                g_variant_builder_add(&x.report, "{sv}", "failed", g_variant_new_string(x.failed->str));

        k = ipcbus_renderer_invoke_sync(r, "sandbox-report",
                                        ipcbus_args(g_variant_builder_end(&x.report), NULL), 0, &error, &ack);
        if (k < 0)
                fprintf(stderr, "%s: sandbox-report: %s\n", prefix,
                        sd_bus_error_is_set(&error) ? error.message : g_strerror(-k));
        g_string_free(x.failed, TRUE);
        g_free(x.reply);
        return k < 0 ? 1 : 0;
}
