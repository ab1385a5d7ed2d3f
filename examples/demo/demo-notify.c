/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The demo main's desktop service (issue 7): notify(title, body) asks the
 * desktop's notification server, org.freedesktop.Notifications on the bus
 * the main serves, to show a notification, and answers with its id. The
 * main does not wait for the server: the invocation is kept and answered
 * from the reply, and other calls are served meanwhile.
 */
#include <errno.h>
#include <stdio.h>

#include "demo.h"

#define NOTIFY_SERVICE "org.freedesktop.Notifications"
#define NOTIFY_PATH "/org/freedesktop/Notifications"
#define NOTIFY_INTERFACE "org.freedesktop.Notifications"

struct demo_notify {
        ipcbus_main *m;      /* borrowed: the notify calls end before it does */
        ipcbus_slot *handler; /* notify */
        GQueue calls;        /* notify_call *, Notify calls the server has not answered */
};

typedef struct notify_call {
        GList link;
        demo_notify *n;
        ipcbus_invocation *inv;
        sd_bus_slot *slot; /* the Notify call on the main's bus */
} notify_call;

static void notify_call_free(notify_call *c) {
        g_queue_unlink(&c->n->calls, &c->link);
        /* Cancels a call still waiting; safe from its own callback, which
         * sd-bus holds a reference across. */
        sd_bus_slot_unref(c->slot);
        /* Unanswered (the main is stopping): the caller gets an error now. */
        ipcbus_invocation_unref(c->inv);
        g_free(c);
}

static int on_notify_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        notify_call *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        uint32_t id;
        int r;

        if (e && (sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                  sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER)))
                r = ipcbus_invocation_return_error(c->inv, NULL, "no notification server on the bus (%s: %s)",
                                                   e->name, e->message ?: "");
        else if (e)
                r = ipcbus_invocation_return_error(c->inv, NULL, "the notification server failed (%s: %s)", e->name,
                                                   e->message ?: "");
        else if ((r = sd_bus_message_read(reply, "u", &id)) < 0)
                r = ipcbus_invocation_return_error(c->inv, NULL,
                                                   "the notification server answered no notification id: %s",
                                                   g_strerror(-r));
        else
                r = ipcbus_invocation_return_value(c->inv, g_variant_new_uint32(id));
        /* -ENOTCONN: the caller went away meanwhile; nothing to do. */
        if (r < 0 && r != -ENOTCONN)
                fprintf(stderr, "ipcbus-demo main: notify: %s\n", g_strerror(-r));
        notify_call_free(c);
        return 0;
}

/* Argument @index as a new string, or NULL if it is not a string. */
static char *args_dup_string(GVariant *args, size_t index) {
        _cleanup_(demo_variant_unrefp) GVariant *v = ipcbus_args_get(args, index);

        if (!v || !g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
                return NULL;
        return g_variant_dup_string(v, NULL);
}

/* new Notification({ title, body }).show(), with the id for an answer */
static int handle_notify(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        demo_notify *n = userdata;
        _cleanup_(demo_freep) char *title = args_dup_string(args, 0), *body = args_dup_string(args, 1);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        sd_bus *bus = ipcbus_main_get_bus(n->m);
        notify_call *c;
        int r;

        demo_main_print_recv(ipcbus_invocation_get_channel(inv), args);
        if (!title || !body)
                return ipcbus_invocation_return_error(inv, IPCBUS_ERROR_INVALID_ARGS,
                                                      "notify expects a title and a body (two strings)");
        /* The main of a spawned renderer may serve it with no bus at all. */
        if (!bus)
                return ipcbus_invocation_return_error(inv, NULL, "the main serves no bus, so no notification server");

        /* Notify(app_name, replaces_id, app_icon, summary, body, actions,
         * hints, expire_timeout): a new notification, no icon, no actions,
         * no hints, the server's own timeout. */
        r = sd_bus_message_new_method_call(bus, &call, NOTIFY_SERVICE, NOTIFY_PATH, NOTIFY_INTERFACE, "Notify");
        if (r >= 0)
                r = sd_bus_message_append(call, "susssasa{sv}i", "ipcbus-demo", UINT32_C(0), "", title, body, 0, 0,
                                          INT32_C(-1));
        if (r < 0)
                return r; /* the caller gets HandlerFailed with strerror */

        c = g_new0(notify_call, 1);
        c->link.data = c;
        c->n = n;
        /* Keeping a reference is what makes the handler asynchronous. */
        c->inv = ipcbus_invocation_ref(inv);
        g_queue_push_tail_link(&n->calls, &c->link);
        /* 0: sd-bus's default timeout (25 s). */
        r = sd_bus_call_async(bus, &c->slot, call, on_notify_reply, c, 0);
        if (r < 0) {
                notify_call_free(c);
                return r;
        }
        return 0;
}

int demo_notify_new(demo_notify **ret, ipcbus_main *m) {
        demo_notify *n = g_new0(demo_notify, 1);
        int r;

        n->m = m;
        g_queue_init(&n->calls);
        r = ipcbus_main_handle(m, &n->handler, "notify", handle_notify, n);
        if (r < 0) {
                demo_notify_free(n);
                return r;
        }
        *ret = n;
        return 0;
}

demo_notify *demo_notify_free(demo_notify *n) {
        notify_call *c;

        if (!n)
                return NULL;
        n->handler = ipcbus_slot_unref(n->handler);
        while ((c = g_queue_peek_head(&n->calls)))
                notify_call_free(c);
        g_free(n);
        return NULL;
}
