/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a renderer sends: the queue that waits for the main, Attach and
 * Detach, send, invoke, and the blocking calls. */
#include <errno.h>

#include "call.h"
#include "errors.h"
#include "log.h"
#include "renderer-send.h"
#include "renderer-sync.h"
#include "slot.h"
#include "util.h"
#include "value.h"
#include "wire.h"

/* What a renderer sends before its main has appeared waits here, in order. */
typedef struct pending_op {
        GList link;
        sd_bus_message *msg;
        ipcbus_slot *call;         /* an invoke: its slot (a reference) */
        bool attach;               /* the Attach call */
        uint64_t deadline;         /* CLOCK_MONOTONIC usec */
        uint64_t timeout_usec;     /* for the call once sent */
} pending_op;

static void pending_op_free(pending_op *op) {
        sd_bus_message_unref(op->msg);
        if (op->call)
                slot_unpin(op->call);
        g_free(op);
}

/* The links are embedded: g_queue_pop_head() would free them. */
static pending_op *pending_pop(ipcbus_renderer *r) {
        GList *l = g_queue_pop_head_link(&r->pending);

        return l ? l->data : NULL;
}


/* ---- the queue that waits for the main ----------------------------------- */

static void renderer_on_attach_reply(sd_bus_message *reply, const sd_bus_error *error, void *userdata);

/* A call to the main: its reply counts from the main's owner only. */
static int renderer_send_call(ipcbus_renderer *r, ipcbus_slot *call, sd_bus_message *msg, uint64_t timeout_usec) {
        return call_send(r->conn, call, msg, r->main_owner, !r->conn->direct, timeout_usec);
}

/* Put @op on the wire now. */
static int renderer_transmit(ipcbus_renderer *r, sd_bus_message *msg, ipcbus_slot *call, bool attach,
                             uint64_t timeout_usec) {
        int k;

        if (call)
                k = renderer_send_call(r, call, msg, timeout_usec);
        else if (attach) {
                r->attach_call = ipcbus_slot_unref(r->attach_call);
                call_new(&r->ep.calls, &r->attach_call, NULL, renderer_on_attach_reply, r);
                k = renderer_send_call(r, r->attach_call, msg, timeout_usec);
                if (k < 0)
                        r->attach_call = ipcbus_slot_unref(r->attach_call);
        } else
                /* Capped as the main's sends are (IPCBUS_CONNECTION_QUEUE_MAX). */
                k = connection_send(r->conn, msg, NULL);
        return k < 0 ? k : 0;
}

static int error_main_missing(ipcbus_renderer *r, sd_bus_error *e, uint64_t timeout_usec) {
        return sd_bus_error_setf(e, SD_BUS_ERROR_SERVICE_UNKNOWN, "The main '%s' did not appear within %llu ms",
                                 r->main_name, (unsigned long long)(timeout_usec / 1000));
}

static void renderer_fail_op(ipcbus_renderer *r, pending_op *op, int error) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        if (error == -ETIMEDOUT)
                (void)error_main_missing(r, &e, op->timeout_usec);
        else
                (void)sd_bus_error_set_errnof(&e, -error, "Cannot reach the main '%s': %s", r->main_name,
                                              g_strerror(-error));
        if (op->call)
                call_fail(op->call, &e);
        else {
                if (op->attach)
                        r->attach = ATTACH_NONE;
                log_emit(&r->ep.log, LOG_WARNING, "Dropped %s: %s",
                         op->attach ? "Attach" : sd_bus_message_get_member(op->msg), e.message);
        }
}

static int renderer_arm_pending_timer(ipcbus_renderer *r);

/* The main is there: everything queued goes out, in order. */
void renderer_flush(ipcbus_renderer *r) {
        uint64_t now = now_usec();
        pending_op *op;
        int k;

        while (r->has_main && (op = pending_pop(r))) {
                k = 0;

                /* An invoke cancelled while it waited is simply skipped,
                 * and so is an Attach a Detach overtook. */
                if (op->attach && r->attach != ATTACH_WANTED)
                        ;
                else if (!op->call || op->call->connected) {
                        if (now >= op->deadline)
                                renderer_fail_op(r, op, -ETIMEDOUT);
                        else {
                                k = renderer_transmit(r, op->msg, op->call, op->attach, op->deadline - now);
                                if (k < 0)
                                        renderer_fail_op(r, op, k);
                        }
                }
                pending_op_free(op);
        }
        k = renderer_arm_pending_timer(r);
        if (k < 0)
                log_emit(&r->ep.log, LOG_ERR, "Cannot time the queued operations out: %s", g_strerror(-k));
}

static int renderer_on_pending_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        ipcbus_renderer *r = userdata;
        _unused_ _cleanup_(endpoint_releasep) endpoint *hold = endpoint_hold(&r->ep);
        uint64_t now = now_usec();
        int k;

        /* Deadlines grow along the queue only roughly (timeouts differ):
         * fail every expired op, keep the rest in order. */
        for (GList *l = r->pending.head, *next; l; l = next) {
                pending_op *op = l->data;

                next = l->next;
                if (op->deadline > now)
                        continue;
                g_queue_unlink(&r->pending, l);
                if (!op->call || op->call->connected)
                        renderer_fail_op(r, op, -ETIMEDOUT);
                pending_op_free(op);
        }
        k = renderer_arm_pending_timer(r);
        if (k < 0)
                log_emit(&r->ep.log, LOG_ERR, "Cannot time the queued operations out: %s", g_strerror(-k));
        return 0;
}

/* Return: 0; sd-event errors: then nothing times the queue out. */
static int renderer_arm_pending_timer(ipcbus_renderer *r) {
        uint64_t earliest = UINT64_MAX;
        int k;

        for (GList *l = r->pending.head; l; l = l->next)
                earliest = MIN(earliest, ((pending_op *)l->data)->deadline);
        if (earliest == UINT64_MAX)
                return r->pending_timer ? sd_event_source_set_enabled(r->pending_timer, SD_EVENT_OFF) : 0;
        if (!r->pending_timer) {
                k = sd_event_add_time(r->ep.event, &r->pending_timer, CLOCK_MONOTONIC, earliest, 0,
                                      renderer_on_pending_timeout, r);
                if (k < 0)
                        return k;
                return sd_event_source_set_priority(r->pending_timer, r->ep.priority);
        }
        k = sd_event_source_set_time(r->pending_timer, earliest);
        if (k < 0)
                return k;
        return sd_event_source_set_enabled(r->pending_timer, SD_EVENT_ONESHOT);
}

/* Room for one more operation waiting for the main: at most
 * IPCBUS_CONNECTION_QUEUE_MAX, as on the connection itself, so that a
 * renderer whose main never comes does not grow without bound. Logged once
 * per stall, again once the queue went below half. */
static bool renderer_pending_has_room(ipcbus_renderer *r) {
        if (r->pending.length < IPCBUS_CONNECTION_QUEUE_MAX) {
                if (r->pending.length < IPCBUS_CONNECTION_QUEUE_MAX / 2)
                        r->pending_overflow_logged = false;
                return true;
        }
        if (!r->pending_overflow_logged)
                log_emit(&r->ep.log, LOG_WARNING,
                         "The main '%s' is not there: %u operations wait for it, refusing more (ENOBUFS) "
                         "until it appears",
                         r->main_name, r->pending.length);
        r->pending_overflow_logged = true;
        return false;
}

/* Send now if the main is known and nothing waits before us; else queue.
 * Return: 0; -ENOTCONN; -ENOBUFS past either cap; sd-bus errors. */
static int renderer_submit(ipcbus_renderer *r, sd_bus_message *msg, ipcbus_slot *call, bool attach,
                           uint64_t timeout_usec) {
        pending_op *op;
        int k;

        if (!connection_is_open(r->conn))
                return -ENOTCONN;
        if (r->has_main && !r->pending.head)
                return renderer_transmit(r, msg, call, attach, timeout_usec);
        if (!renderer_pending_has_room(r))
                return -ENOBUFS;

        op = g_new0(pending_op, 1);
        op->link.data = op;
        op->msg = sd_bus_message_ref(msg);
        op->call = call ? slot_pin(call) : NULL;
        op->attach = attach;
        op->timeout_usec = timeout_usec;
        op->deadline = now_usec() + timeout_usec;
        g_queue_push_tail_link(&r->pending, &op->link);
        k = renderer_arm_pending_timer(r);
        if (k < 0) {
                /* Queued without a deadline it would wait forever: refuse it. */
                g_queue_unlink(&r->pending, &op->link);
                pending_op_free(op);
                return k;
        }
        return 0;
}

int ipcbus_renderer_wait_for_main(ipcbus_renderer *r, uint64_t timeout_usec) {
        uint64_t deadline;
        int k;

        assert_return(r, NULL, -EINVAL);
        /* A tool that never runs its loop gets what earlier blocking calls
         * held back now, in order, before it blocks again. */
        if (r->conn && !r->sync_wait && !sd_bus_get_current_message(r->conn->bus))
                renderer_sync_replay(r);
        deadline = now_usec() + renderer_timeout(r, timeout_usec);
        while (!r->has_main) {
                uint64_t now;

                if (!connection_is_open(r->conn))
                        return -ENOTCONN;
                k = connection_process_once(r->conn);
                if (k < 0)
                        return k;
                if (k > 0)
                        continue;
                now = now_usec();
                if (now >= deadline)
                        return -ETIMEDOUT;
                k = sd_bus_wait(r->conn->bus, deadline - now);
                if (k < 0)
                        return k;
        }
        return connection_is_open(r->conn) ? 0 : -ENOTCONN;
}

void renderer_fail_pending(ipcbus_renderer *r, int error) {
        pending_op *op;

        while ((op = pending_pop(r))) {
                if (!op->call || op->call->connected)
                        renderer_fail_op(r, op, error);
                pending_op_free(op);
        }
        /* Nothing is left to time out: only the timer goes off. */
        (void)renderer_arm_pending_timer(r);
}

void renderer_drop_pending(ipcbus_renderer *r) {
        pending_op *op;

        while ((op = pending_pop(r)))
                pending_op_free(op);
        r->pending_timer = sd_event_source_disable_unref(r->pending_timer);
}

/* ---- ipcRenderer ---------------------------------------------------------- */

static int renderer_new_call(ipcbus_renderer *r, const char *member, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(r->conn->bus, ret, r->conn->direct ? NULL : r->main_name,
                                              r->main_path, IPCBUS_INTERFACE_MAIN, member);
}

static void renderer_on_attach_reply(sd_bus_message *reply, const sd_bus_error *error, void *userdata) {
        ipcbus_renderer *r = userdata;
        uint64_t id;

        r->attach_call = ipcbus_slot_unref(r->attach_call);
        if (error || sd_bus_message_read(reply, "t", &id) < 0) {
                log_emit(&r->ep.log, LOG_ERR, "Attach failed: %s", error ? error->message : "bad reply");
                r->attach = ATTACH_NONE;
                return;
        }
        r->id = id;
        r->attach = ATTACH_DONE;
}

static int renderer_new_attach(ipcbus_renderer *r, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int k;

        k = renderer_new_call(r, "Attach", &call);
        if (k < 0)
                return k;
        k = sd_bus_message_open_container(call, 'a', "{sv}");
        if (k >= 0 && r->attach_name)
                k = sd_bus_message_append(call, "{sv}", "name", "s", r->attach_name);
        if (k >= 0 && r->ep.large_ring_refs)
                k = sd_bus_message_append(call, "{sv}", "features", "as", 3, ENDPOINT_FEATURE_LARGE_VALUES,
                                          ENDPOINT_FEATURE_LARGE_VALUES_RING,
                                          ENDPOINT_FEATURE_LARGE_VALUES_RING_REF);
        else if (k >= 0 && r->ep.large_rings)
                k = sd_bus_message_append(call, "{sv}", "features", "as", 2, ENDPOINT_FEATURE_LARGE_VALUES,
                                          ENDPOINT_FEATURE_LARGE_VALUES_RING);
        else if (k >= 0 && r->ep.large_values)
                k = sd_bus_message_append(call, "{sv}", "features", "as", 1, ENDPOINT_FEATURE_LARGE_VALUES);
        if (k >= 0)
                k = sd_bus_message_close_container(call);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(call);
        return 0;
}

/* Properties.Get of the main's Features: whether it takes large values. */
static int renderer_new_features_call(ipcbus_renderer *r, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int k;

        k = sd_bus_message_new_method_call(r->conn->bus, &call, r->conn->direct ? NULL : r->main_name,
                                           r->main_path, "org.freedesktop.DBus.Properties", "Get");
        if (k < 0)
                return k;
        k = sd_bus_message_append(call, "ss", IPCBUS_INTERFACE_MAIN, "Features");
        if (k < 0)
                return k;
        *ret = TAKE_PTR(call);
        return 0;
}

/* An older main has no Features: then everything stays inline. */
static void renderer_learn_features(ipcbus_renderer *r, GVariant *features) {
        const char **names;

        value_large_peer_reset(&r->main_large);
        if (!r->ep.large_values || !features || !g_variant_is_of_type(features, G_VARIANT_TYPE_STRING_ARRAY))
                return;
        names = g_variant_get_strv(features, NULL);
        for (size_t i = 0; names[i]; i++) {
                if (streq(names[i], ENDPOINT_FEATURE_LARGE_VALUES))
                        r->main_large.takes = true;
                if (streq(names[i], ENDPOINT_FEATURE_LARGE_VALUES_RING))
                        r->main_large.takes_ring = true;
                if (streq(names[i], ENDPOINT_FEATURE_LARGE_VALUES_RING_REF))
                        r->main_large.takes_ring_ref = true;
        }
        /* The ring is a way of the memfd form's, never alone; naming kept
         * rings a way of the ring's. */
        r->main_large.takes_ring = r->main_large.takes_ring && r->main_large.takes && r->ep.large_rings;
        r->main_large.takes_ring_ref = r->main_large.takes_ring_ref && r->main_large.takes_ring &&
                                       r->ep.large_ring_refs;
        g_free(names);
}

static int renderer_on_features(GVariant *result, const sd_bus_error *error, void *userdata) {
        renderer_learn_features(userdata, error ? NULL : result);
        return 0;
}

/* Asked right behind the Attach, so the answer comes with it. */
static int renderer_queue_features(ipcbus_renderer *r) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        ipcbus_slot *slot;
        int k;

        if (!r->ep.large_values)
                return 0;
        k = renderer_new_features_call(r, &call);
        if (k < 0)
                return k;
        slot = call_new(&r->ep.calls, NULL, renderer_on_features, NULL, r);
        k = renderer_submit(r, call, slot, false, r->timeout_usec);
        if (k < 0) {
                slot->call.fn = NULL;
                slot_disconnect(slot);
        }
        return k;
}

int renderer_queue_attach(ipcbus_renderer *r) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int k;

        k = renderer_new_attach(r, &call);
        if (k < 0)
                return k;
        r->attach = ATTACH_WANTED;
        k = renderer_submit(r, call, NULL, true, r->timeout_usec);
        if (k < 0) {
                r->attach = ATTACH_NONE;
                return k;
        }
        /* Not knowing leaves values inline: only slower. */
        (void)renderer_queue_features(r);
        return 0;
}

static int renderer_set_attach_name(ipcbus_renderer *r, const char *name) {
        if (name && !g_utf8_validate(name, -1, NULL))
                return -EINVAL;
        if (!r->conn)
                return -ENOTCONN;
        if (r->attach != ATTACH_NONE)
                return -EALREADY;
        g_free(r->attach_name);
        r->attach_name = g_strdup(name);
        return 0;
}

int ipcbus_renderer_attach(ipcbus_renderer *r, const char *name) {
        int k;

        assert_return(r, NULL, -EINVAL);
        k = renderer_set_attach_name(r, name);
        if (k < 0)
                return k;
        return renderer_queue_attach(r);
}

/* Block for @call's reply, after everything queued before it went out. */
static int renderer_call_sync(ipcbus_renderer *r, sd_bus_message *call, uint64_t timeout_usec,
                              sd_bus_error *ret_error, sd_bus_message **ret_reply) {
        int k;

        k = ipcbus_renderer_wait_for_main(r, timeout_usec);
        if (k < 0) {
                if (k == -ETIMEDOUT)
                        (void)error_main_missing(r, ret_error, renderer_timeout(r, timeout_usec));
                return k;
        }
        renderer_flush(r);
        return renderer_call_blocking(r, call, r->main_owner, renderer_timeout(r, timeout_usec), ret_error, ret_reply);
}

int ipcbus_renderer_attach_sync(ipcbus_renderer *r, const char *name, sd_bus_error *ret_error, uint64_t *ret_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        uint64_t id;
        int k;

        assert_return(r, NULL, -EINVAL);
        k = renderer_set_attach_name(r, name);
        if (k < 0)
                return k;
        k = renderer_new_attach(r, &call);
        if (k < 0)
                return k;
        r->attach = ATTACH_WANTED;
        k = renderer_call_sync(r, call, 0, ret_error, &reply);
        if (k >= 0)
                k = sd_bus_message_read(reply, "t", &id);
        if (k < 0) {
                r->attach = ATTACH_NONE;
                return k;
        }
        r->id = id;
        r->attach = ATTACH_DONE;
        if (ret_id)
                *ret_id = id;

        if (r->ep.large_values) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *get = NULL, *answer = NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                _cleanup_(g_variant_unrefp) GVariant *features = NULL;

                /* Not knowing leaves values inline: only slower. */
                if (renderer_new_features_call(r, &get) >= 0 &&
                    renderer_call_sync(r, get, 0, &e, &answer) >= 0 &&
                    wire_read_result(answer, false, &e, &features) >= 0)
                        renderer_learn_features(r, features);
        }
        return 0;
}

int ipcbus_renderer_detach(ipcbus_renderer *r) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int k;

        assert_return(r, NULL, -EINVAL);
        if (r->attach == ATTACH_NONE || !r->conn)
                return -ENOTCONN;
        k = renderer_new_call(r, "Detach", &call);
        if (k < 0)
                return k;
        /* Nobody waits for the answer. */
        k = sd_bus_message_set_expect_reply(call, 0);
        if (k < 0)
                return k;
        /* Refused (-ENOBUFS, -ENOTCONN): still attached, as before. A
         * queued Attach is skipped at flush once the state says none. */
        k = renderer_submit(r, call, NULL, false, r->timeout_usec);
        if (k < 0)
                return k;
        /* An Attach still under way must not make us attached again. */
        r->attach_call = ipcbus_slot_unref(r->attach_call);
        r->attach = ATTACH_NONE;
        r->id = 0;
        return 0;
}

static void renderer_log_refused(ipcbus_renderer *r, const char *what, const char *channel, int k,
                                 const sd_bus_error *error) {
        log_emit(&r->ep.log, LOG_ERR, "%s on '%s' refused: %s", what, channel,
                 sd_bus_error_is_set(error) ? error->message : g_strerror(-k));
}

/* Where the renderer's signals go: the main's name, or on a direct
 * connection nobody in particular. */
static const char *renderer_destination(ipcbus_renderer *r) {
        return r->conn->direct ? NULL : r->main_name;
}

/* A signal to the main that wire.c built (@k what that gave): queued, or
 * its refusal logged. */
static int renderer_send_built(ipcbus_renderer *r, const char *what, const char *channel, int k,
                               sd_bus_message *msg, const sd_bus_error *error) {
        if (k < 0) {
                renderer_log_refused(r, what, channel, k, error);
                return k;
        }
        return renderer_submit(r, msg, NULL, false, r->timeout_usec);
}

int ipcbus_renderer_send(ipcbus_renderer *r, const char *channel, GVariant *args) {
        _cleanup_(g_variant_unrefp) GVariant *a = variant_take(args);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int k;

        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        if (!r->conn)
                return -ENOTCONN;
        k = wire_message_new(r->conn->bus, IPCBUS_RENDERER_PATH, renderer_destination(r), channel, a,
                             &r->main_large, &error, &msg);
        return renderer_send_built(r, "send", channel, k, msg, &error);
}

int ipcbus_renderer_sendfv(ipcbus_renderer *r, const char *channel, const char *types, va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int k;

        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        if (!r->conn)
                return -ENOTCONN;
        k = wire_message_new_va(r->conn->bus, IPCBUS_RENDERER_PATH, renderer_destination(r), channel, types, ap,
                                &r->main_large, &error, &msg);
        return renderer_send_built(r, "send", channel, k, msg, &error);
}

int ipcbus_renderer_sendf(ipcbus_renderer *r, const char *channel, const char *types, ...) {
        va_list ap;
        int k;

        va_start(ap, types);
        k = ipcbus_renderer_sendfv(r, channel, types, ap);
        va_end(ap);
        return k;
}

int ipcbus_renderer_post_message(ipcbus_renderer *r, const char *channel, GVariant *message,
                                 ipcbus_port *const *transfer, size_t n_transfer) {
        _cleanup_(g_variant_unrefp) GVariant *v = variant_take(message);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int k;

        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        if (!r->conn)
                return -ENOTCONN;
        k = wire_post_message_new(r->conn->bus, IPCBUS_RENDERER_PATH, renderer_destination(r), channel, v,
                                  transfer, n_transfer, &error, &msg);
        return renderer_send_built(r, "postMessage", channel, k, msg, &error);
}

/* Main1.Invoke or Main1.SendSync with "s channel, av args". */
static int renderer_new_channel_call(ipcbus_renderer *r, const char *member, const char *channel, GVariant *args,
                                     sd_bus_error *error, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int k;

        if (!r->conn)
                return -ENOTCONN;
        k = renderer_new_call(r, member, &call);
        if (k < 0)
                return k;
        k = wire_append_channel_args(call, channel, args, &r->main_large, error);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(call);
        return 0;
}

int ipcbus_renderer_invoke(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel, GVariant *args,
                           uint64_t timeout_usec, ipcbus_result_fn callback, void *userdata) {
        _cleanup_(g_variant_unrefp) GVariant *a = variant_take(args);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        ipcbus_slot *slot;
        int k;

        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        assert_return(callback, &r->ep.log, -EINVAL);
        k = renderer_new_channel_call(r, "Invoke", channel, a, &error, &call);
        if (k < 0) {
                renderer_log_refused(r, "invoke", channel, k, &error);
                return k;
        }
        slot = call_new(&r->ep.calls, NULL, callback, NULL, userdata);
        slot->call.names_rings = r->main_large.takes_ring_ref;
        k = renderer_submit(r, call, slot, false, renderer_timeout(r, timeout_usec));
        if (k < 0) {
                slot->call.fn = NULL;
                slot_disconnect(slot);
                return k;
        }
        if (ret_slot) {
                /* The owner's reference becomes the caller's. */
                slot->floating = false;
                *ret_slot = slot;
        }
        return 0;
}

static int renderer_channel_call_sync(ipcbus_renderer *r, const char *member, const char *channel,
                                      GVariant *args, uint64_t timeout_usec, sd_bus_error *ret_error,
                                      GVariant **ret_result) {
        _cleanup_(g_variant_unrefp) GVariant *a = variant_take(args);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        GVariant *result = NULL;
        int k;

        k = renderer_new_channel_call(r, member, channel, a, &error, &call);
        if (k >= 0)
                k = renderer_call_sync(r, call, timeout_usec, &error, &reply);
        if (k >= 0)
                k = wire_read_result(reply, r->main_large.takes_ring_ref, &error, &result);
        if (k < 0) {
                if (ret_error)
                        sd_bus_error_move(ret_error, &error);
                return k;
        }
        if (ret_result)
                *ret_result = result;
        else
                g_variant_unref(result);
        return 0;
}

int ipcbus_renderer_invoke_sync(ipcbus_renderer *r, const char *channel, GVariant *args, uint64_t timeout_usec,
                                sd_bus_error *ret_error, GVariant **ret_result) {
        _cleanup_(g_variant_unrefp) GVariant *a = variant_take(args);

        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        return renderer_channel_call_sync(r, "Invoke", channel, a, timeout_usec, ret_error, ret_result);
}

int ipcbus_renderer_send_sync(ipcbus_renderer *r, const char *channel, GVariant *args, sd_bus_error *ret_error,
                              GVariant **ret_value) {
        _cleanup_(g_variant_unrefp) GVariant *a = variant_take(args);

        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        return renderer_channel_call_sync(r, "SendSync", channel, a, 0, ret_error, ret_value);
}

