/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Renderer mode: the seeds' renderer.js / preload.js as a GLib program.
 * The renderer runs on its sd-event loop like every ipcbus object; one call
 * (ipcbus_glib_attach) lets GLib's main loop drive it, as a GTK window's
 * loop would.
 *
 * It answers the main's Renderer1.Invoke on "renderer-state" (the demo
 * main's ask-renderer) with its role and id.
 */
#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>

#include "demo.h"

const char *const demo_renderer_channels[] = {
        "testMsg",              /* seed 001: win.webContents.send on attach */
        "forWin2",              /* seed 002: the main brokering win1-msg */
        "asynchronous-reply",   /* seeds 002, 003: event.reply / event.sender.send */
        "main-reply-to-render", /* seed 004: event.reply */
        "messageToRenderer",    /* seed 002: event.sender.send */
        NULL,
};

int demo_renderer_listen(ipcbus_renderer *r, ipcbus_listener_fn fn, void *userdata) {
        int k;

        for (const char *const *c = demo_renderer_channels; *c; c++) {
                k = ipcbus_renderer_on(r, NULL, *c, fn, userdata);
                if (k < 0)
                        return k;
        }
        return 0;
}

GVariant *demo_renderer_state(ipcbus_renderer *r, const char *role) {
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", "role", g_variant_new_string(role));
        g_variant_builder_add(&b, "{sv}", "id", g_variant_new_uint64(ipcbus_renderer_get_id(r)));
        return g_variant_builder_end(&b);
}

/* Who this renderer is, for its renderer-state handler. */
typedef struct renderer_self {
        ipcbus_renderer *r;
        const char *role;
} renderer_self;

static int handle_renderer_state(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        renderer_self *self = userdata;

        return ipcbus_invocation_return_value(inv, demo_renderer_state(self->r, self->role));
}

static int on_recv(ipcbus_event *event, GVariant *args, void *userdata) {
        _cleanup_(demo_freep) char *line = demo_format_message(ipcbus_event_get_channel(event), args);

        printf("recv %s\n", line);
        fflush(stdout);
        return 0;
}

/* The main went, or a main owns the name again: the renderer attaches
 * again by itself, so "recv testMsg" follows "main back". */
static void on_main_vanished(ipcbus_renderer *r, void *userdata) {
        printf("main gone\n");
        fflush(stdout);
}

static void on_main_appeared(ipcbus_renderer *r, void *userdata) {
        printf("main back\n");
        fflush(stdout);
}

static gboolean on_signal(void *userdata) {
        g_main_loop_quit(userdata);
        return G_SOURCE_CONTINUE;
}

static gboolean on_loop_finished(void *userdata) {
        g_main_loop_quit(userdata);
        return G_SOURCE_REMOVE;
}

static int demo_renderer_open(ipcbus_renderer *r, const demo_options *o) {
        switch (o->bus) {
        case DEMO_BUS_ADDRESS:
                return ipcbus_renderer_open_address(r, o->address);
        case DEMO_BUS_SYSTEM:
                return ipcbus_renderer_open_system(r);
        case DEMO_BUS_DEFAULT: /* nothing starts a renderer for a bus */
        case DEMO_BUS_USER:
                return ipcbus_renderer_open_user(r);
        }
        return -EINVAL;
}

static void main_loop_unrefp(GMainLoop **l) {
        if (*l)
                g_main_loop_unref(*l);
}

int demo_renderer_run(const demo_options *o) {
        /* Declared first, freed last: the renderer logs with it until it goes. */
        _cleanup_(demo_freep) char *prefix = g_strdup_printf("ipcbus-demo %s", o->role);
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(demo_port_end_clear) demo_port_end port = {};
        /* Before the renderer: its renderer-state handler reads it. */
        renderer_self self = { .role = o->role };
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        _cleanup_(main_loop_unrefp) GMainLoop *loop = NULL;
        guint source, sigint, sigterm;
        int k;

        k = sd_event_new(&event);
        if (k >= 0)
                k = ipcbus_renderer_new(&r, o->name);
        if (k < 0) {
                fprintf(stderr, "%s: %s\n", prefix, k == -EINVAL ? "invalid --name" : g_strerror(-k));
                return 1;
        }
        ipcbus_renderer_set_log_function(r, demo_log_stderr, prefix);
        k = ipcbus_renderer_attach_event(r, event, 0);
        if (k >= 0)
                k = demo_renderer_open(r, o);
        if (k < 0) {
                fprintf(stderr, "%s: cannot connect to the bus: %s\n", prefix, g_strerror(-k));
                return 1;
        }
        /* No need to wait for the main: what we send before it appears is
         * queued, in order, and goes out when it does. */
        /* Listeners before Attach: testMsg comes right after it. */
        k = demo_renderer_listen(r, on_recv, NULL);
        if (k >= 0) {
                /* The main may ask for our state (ask-renderer) once we are attached. */
                self.r = r;
                k = ipcbus_renderer_handle(r, NULL, DEMO_RENDERER_STATE, handle_renderer_state, &self);
        }
        if (k >= 0) {
                /* win1 pings over its port every --interval-ms; win2 answers. */
                port.print = true;
                port.answer = g_str_equal(o->role, "win2");
                port.interval_usec = g_str_equal(o->role, "win1") ? (uint64_t)o->interval_ms * 1000 : 0;
                k = demo_port_listen(r, &port);
        }
        if (k >= 0)
                k = ipcbus_renderer_on_main_vanished(r, NULL, on_main_vanished, NULL);
        if (k >= 0)
                k = ipcbus_renderer_on_main_appeared(r, NULL, on_main_appeared, NULL);
        if (k >= 0)
                k = ipcbus_renderer_attach(r, o->role);
        /* Sent after Attach, so the main handles it once win1 is attached
         * (everything one peer sends is handled in order). */
        if (k >= 0 && g_str_equal(o->role, "win1"))
                k = ipcbus_renderer_send(r, "win1-msg",
                                         ipcbus_args(g_variant_new_string(DEMO_WIN1_MSG), NULL));
        if (k < 0) {
                fprintf(stderr, "%s: %s\n", prefix, g_strerror(-k));
                return 1;
        }

        loop = g_main_loop_new(NULL, FALSE);
        source = ipcbus_glib_attach(event, NULL);
        if (source == 0) {
                fprintf(stderr, "%s: cannot attach to the GLib main loop: %s\n", prefix, g_strerror(errno));
                return 1;
        }
        /* Should the sd-event loop stop (a failure), stop with it. */
        g_source_set_callback(g_main_context_find_source_by_id(NULL, source), on_loop_finished, loop, NULL);
        sigint = g_unix_signal_add(SIGINT, on_signal, loop);
        sigterm = g_unix_signal_add(SIGTERM, on_signal, loop);
        g_main_loop_run(loop);
        k = sd_event_get_state(event) == SD_EVENT_FINISHED ? 1 : 0;
        if (k)
                fprintf(stderr, "%s: the event loop stopped\n", prefix);
        g_source_remove(sigterm);
        g_source_remove(sigint);
        /* Gone already if the sd-event loop failed and finished. */
        if (g_main_context_find_source_by_id(NULL, source))
                g_source_remove(source);
        return k;
}
