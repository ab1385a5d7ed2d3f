/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A renderer's blocking calls (invoke_sync, send_sync, attach_sync).
 *
 * sd_bus_call() would do, but it takes the first reply with the call's
 * serial whoever sent it, and it hides who sent an error. So the call is
 * sent plainly and the connection processed until the main's own reply
 * (renderer_sync_take() in the filter checks the sender). Whatever else
 * arrives meanwhile, which sd_bus_call() would have queued, is held back
 * here and replayed in order from the loop once the call returned: no
 * listener or handler runs inside a blocking call, as in Electron, where
 * sendSync blocks the page.
 *
 * sd-bus cannot process a connection from inside one of its own callbacks.
 * A blocking call made there uses sd_bus_call(): a forged method return is
 * refused (-EPROTO), but the sender of an error cannot be checked.
 */
#include <errno.h>

#include "call.h"
#include "renderer-sync.h"
#include "util.h"

typedef struct sync_wait {
        uint64_t cookie;
        const char *callee;      /* whose reply counts: the main's owner, or the bus */
        sd_bus_message *reply;   /* the callee's, once it came */
} sync_wait;

static bool message_is_reply(sd_bus_message *m) {
        uint8_t type;

        return sd_bus_message_get_type(m, &type) >= 0 &&
               (type == SD_BUS_MESSAGE_METHOD_RETURN || type == SD_BUS_MESSAGE_METHOD_ERROR);
}

/* What must not run inside a blocking call: anything that reaches user
 * code or the renderer's state. sd-bus's own business (Peer, Introspect,
 * replies to its own calls) goes on. */
static bool renderer_should_hold(sd_bus_message *m) {
        if (message_is_reply(m))
                return true;
        if (sd_bus_message_is_method_call(m, IPCBUS_INTERFACE_RENDERER, NULL))
                return true;
        return sd_bus_message_is_signal(m, IPCBUS_INTERFACE_CHANNEL, NULL) ||
               sd_bus_message_is_signal(m, "org.freedesktop.DBus", "NameOwnerChanged") ||
               sd_bus_message_is_signal(m, "org.freedesktop.DBus.Local", "Disconnected");
}

void renderer_sync_replay(ipcbus_renderer *r) {
        _unused_ _cleanup_(endpoint_releasep) endpoint *hold = endpoint_hold(&r->ep);
        sd_bus_message *m;

        /* A replayed listener may block again: that call holds back what
         * comes meanwhile behind what is still here. */
        while (!r->sync_wait && r->conn && (m = g_queue_pop_head(&r->held_back))) {
                (void)r->dispatch(r, m, true);
                sd_bus_message_unref(m);
        }
}

static int renderer_on_replay(sd_event_source *s, void *userdata) {
        renderer_sync_replay(userdata);
        return 0;
}

static void renderer_arm_replay(ipcbus_renderer *r) {
        if (!r->held_back.length || !r->ep.event)
                return;
        if (!r->replay) {
                if (sd_event_add_defer(r->ep.event, &r->replay, renderer_on_replay, r) < 0) {
                        /* Nothing held back may be lost: replay now. */
                        renderer_sync_replay(r);
                        return;
                }
                (void)sd_event_source_set_priority(r->replay, r->ep.priority);
        }
        (void)sd_event_source_set_enabled(r->replay, SD_EVENT_ONESHOT);
}

bool renderer_sync_take(ipcbus_renderer *r, sd_bus_message *m) {
        sync_wait *w = r->sync_wait;
        uint64_t cookie;

        if (!w && !r->held_back.length)
                return false;
        if (w && message_is_reply(m) && sd_bus_message_get_reply_cookie(m, &cookie) >= 0 && cookie == w->cookie) {
                /* Anyone else's answer is dropped (and counted); the wait goes on. */
                if (!w->reply && call_reply_is_from(r->conn, m, w->callee, w->callee == r->main_owner))
                        w->reply = sd_bus_message_ref(m);
                return true;
        }
        if (!renderer_should_hold(m))
                return false;
        g_queue_push_tail(&r->held_back, sd_bus_message_ref(m));
        if (!w)
                renderer_arm_replay(r);
        return true;
}

void renderer_sync_clear(ipcbus_renderer *r) {
        sd_bus_message *m;

        while ((m = g_queue_pop_head(&r->held_back)))
                sd_bus_message_unref(m);
        r->replay = sd_event_source_disable_unref(r->replay);
}

/* Inside an sd-bus callback: sd_bus_call(), and check what can be checked. */
static int renderer_call_in_callback(ipcbus_renderer *r, sd_bus_message *call, const char *callee,
                                     uint64_t timeout_usec, sd_bus_error *ret_error, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        connection *c = r->conn;
        int k;

        k = sd_bus_call(c->bus, call, timeout_usec, ret_error, &reply);
        if (k < 0)
                return k;
        if (!call_reply_is_from(c, reply, callee, callee == r->main_owner)) {
                (void)sd_bus_error_setf(ret_error, SD_BUS_ERROR_INCONSISTENT_MESSAGE,
                                        "A reply from %s, which was not called, came first; the main's own "
                                        "cannot be waited for inside a callback",
                                        strnull(sd_bus_message_get_sender(reply)));
                return -EPROTO;
        }
        *ret_reply = TAKE_PTR(reply);
        return 0;
}

int renderer_call_blocking(ipcbus_renderer *r, sd_bus_message *call, const char *callee, uint64_t timeout_usec,
                           sd_bus_error *ret_error, sd_bus_message **ret_reply) {
        _unused_ _cleanup_(endpoint_releasep) endpoint *hold = endpoint_hold(&r->ep);
        connection *c = r->conn;
        uint64_t deadline = now_usec() + timeout_usec;
        sync_wait w = { .callee = callee };
        sync_wait *outer = r->sync_wait;
        int k;

        if (sd_bus_get_current_message(c->bus))
                return renderer_call_in_callback(r, call, callee, timeout_usec, ret_error, ret_reply);

        /* Capped as everything else the renderer sends (connection_send). */
        k = connection_send(c, call, &w.cookie);
        if (k < 0)
                return k;
        r->sync_wait = &w;
        while (!w.reply) {
                uint64_t now;

                k = connection_process_once(c);
                if (k < 0)
                        break;
                if (k > 0)
                        continue;
                now = now_usec();
                if (now >= deadline) {
                        k = sd_bus_error_set(ret_error, SD_BUS_ERROR_NO_REPLY, "Method call timed out");
                        break;
                }
                k = sd_bus_wait(c->bus, deadline - now);
                if (k < 0)
                        break;
        }
        r->sync_wait = outer;
        /* The loop's drain watch did not run while we waited here. */
        connection_check_drained(c);
        renderer_arm_replay(r);
        if (!w.reply) {
                if (k == -ECONNRESET || k == -ENOTCONN) {
                        (void)sd_bus_error_setf(ret_error, SD_BUS_ERROR_DISCONNECTED,
                                                "The connection to the main '%s' closed", r->main_name);
                        k = -ENOTCONN;
                }
                return k;
        }
        if (sd_bus_message_is_method_error(w.reply, NULL)) {
                k = call_reply_error(w.reply, ret_error);
                sd_bus_message_unref(w.reply);
                return k;
        }
        *ret_reply = w.reply;
        return 0;
}
