/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "dispatch.h"
#include "errors.h"
#include "event.h"
#include "invocation.h"
#include "slot.h"
#include "typed.h"
#include "util.h"
#include "value.h"
#include "value-large.h"
#include "wire.h"

static const char *op_member(ipcbus_op op) {
        switch (op) {
        case IPCBUS_OP_MESSAGE:
                return "Message";
        case IPCBUS_OP_POST_MESSAGE:
                return "PostMessage";
        case IPCBUS_OP_INVOKE:
                return "Invoke";
        case IPCBUS_OP_SEND_SYNC:
                return "SendSync";
        case IPCBUS_OP_ATTACH:
                return "Attach";
        }
        return "?";
}

ipcbus_op dispatch_signal_op(sd_bus_message *msg) {
        if (sd_bus_message_is_signal(msg, IPCBUS_INTERFACE_CHANNEL, "Message"))
                return IPCBUS_OP_MESSAGE;
        if (sd_bus_message_is_signal(msg, IPCBUS_INTERFACE_CHANNEL, "PostMessage"))
                return IPCBUS_OP_POST_MESSAGE;
        return 0;
}

/* The declaration of @channel, if it is declared as @kind (main side). */
static typed_channel *dispatch_typed(endpoint *ep, const char *channel, ipcbus_channel_kind kind) {
        typed_channel *t = ep->ops->typed ? ep->ops->typed(ep, channel) : NULL;

        return t && t->kind == kind ? t : NULL;
}

/* The arguments of a typed call, each its own complete type, as "av". */
static int dispatch_read_typed_args(sd_bus_message *msg, const typed_channel *t, sd_bus_error *error,
                                    GVariant **ret) {
        GVariantBuilder b;
        int r;

        g_variant_builder_init(&b, G_VARIANT_TYPE("av"));
        for (size_t i = 0; t->arg_types[i]; i++) {
                GVariant *v;

                /* A 'v' argument is what an element of "av" is: its contents. */
                r = streq(t->arg_types[i], "v") ? value_read_variant(msg, &v) : value_read(msg, &v);
                if (r < 0) {
                        g_variant_builder_clear(&b);
                        return error_invalid_args(error, "Argument %s of '%s' cannot be read: %s", t->arg_names[i],
                                                  t->channel, g_strerror(-r));
                }
                g_variant_builder_add_value(&b, g_variant_new_variant(v));
                g_variant_unref(v);
        }
        *ret = g_variant_ref_sink(g_variant_builder_end(&b));
        return 0;
}

/* Read the arguments: "av" on the generic face (checked against @t when the
 * channel is declared), the declared types on the typed face. With
 * @pending (empty), a list that needs no check is left there as read
 * where it can be, @ret NULL (wire_read_args()). */
static int dispatch_read_args(endpoint *ep, ipcbus_web_contents *sender, sd_bus_message *msg, const char *channel,
                              const typed_channel *t, bool typed_face, sd_bus_error *error,
                              ArgsWriter *pending, GVariant **ret) {
        ValueLargePeer *peer;
        int r;

        if (typed_face)
                return dispatch_read_typed_args(msg, t, error, ret);
        /* After the gate: what the sender said of itself when it attached. */
        peer = ep->ops->large_peer ? ep->ops->large_peer(ep, sender) : NULL;
        r = wire_read_args(msg, channel, ep->large_value_max, peer && peer->takes_ring_ref, error,
                           t ? NULL : pending, ret);
        if (r == -ENOBUFS)
                endpoint_count(ep, IPCBUS_COUNTER_LIMITS_EXCEEDED);
        if (r < 0 || !t)
                return r;
        r = typed_channel_check_args(t, *ret, error);
        if (r < 0)
                g_clear_pointer(ret, g_variant_unref);
        return r;
}

/* Listeners of a Message, a PostMessage or a typed listener call: after the
 * gate. Return: 0; a negative errno with @error set if malformed. */
static int dispatch_emit(endpoint *ep, connection *c, sd_bus_message *msg, ipcbus_op op, const char *channel,
                         typed_channel *t, bool typed_face, ipcbus_web_contents *sender, sd_bus_error *error) {
        _cleanup_(ipcbus_event_unrefp) ipcbus_event *event = event_new(msg, channel, sender, ep, false);
        int r;

        /* Read into the event. Listeners that read it (ipcbus_main_on_event())
         * take the list as read: no GVariant is made unless one asks. */
        if (op == IPCBUS_OP_POST_MESSAGE)
                r = wire_read_post_message(msg, channel, ep->event, ep->priority, error, &event->args,
                                           &event->ports, &event->n_ports);
        else
                r = dispatch_read_args(ep, sender, msg, channel, t, typed_face, error, &event->pending,
                                       &event->args);
        if (r < 0)
                return r;

        event->typed = typed_channel_ref(t);
        if (registry_emit(&ep->registry, channel, event, NULL, NULL) == 0)
                log_emit(&ep->log, LOG_DEBUG, "No listener for '%s'", channel);
        return 0;
}

void dispatch_signal(endpoint *ep, connection *c, sd_bus_message *msg, ipcbus_op op) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *sender = NULL;
        _unused_ _cleanup_(endpoint_releasep) endpoint *hold = NULL;
        const char *channel;
        int r;

        r = wire_read_channel(msg, op == IPCBUS_OP_POST_MESSAGE ? "svah" : "sav", &error, &channel);
        if (r < 0)
                goto malformed;
        /* Listeners may drop the last reference to the endpoint. */
        hold = endpoint_hold(ep);
        if (ep->ops->admit(ep, c, msg, op, channel, &sender, &error) < 0)
                return;
        r = dispatch_emit(ep, c, msg, op, channel,
                          op == IPCBUS_OP_MESSAGE ? dispatch_typed(ep, channel, IPCBUS_CHANNEL_LISTENER) : NULL,
                          false, sender, &error);
        if (r < 0)
                goto malformed;
        return;

malformed:
        log_emit(&ep->log, LOG_WARNING, "Dropped %s from %s: %s", op_member(op),
                 strnull(sd_bus_message_get_sender(msg)), error.message);
}

/* An invoke after its channel was read, on either face. */
static int dispatch_run_invoke(endpoint *ep, connection *c, sd_bus_message *msg, const char *channel,
                               typed_channel *t, bool typed_face, sd_bus_error *error) {
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *sender = NULL;
        _unused_ _cleanup_(endpoint_releasep) endpoint *hold = NULL;
        ipcbus_invocation *inv;
        ipcbus_slot *handler;
        GVariant *args;
        int r;

        /* A handler may drop the last reference to the endpoint. */
        hold = endpoint_hold(ep);
        r = ep->ops->admit(ep, c, msg, IPCBUS_OP_INVOKE, channel, &sender, error);
        if (r < 0)
                return r;
        r = dispatch_read_args(ep, sender, msg, channel, t, typed_face, error, NULL, &args);
        if (r < 0)
                return r;
        handler = registry_get_handler(&ep->registry, channel);
        if (!handler) {
                g_variant_unref(args);
                return error_no_handler(error, channel);
        }
        inv = invocation_new(msg, c, channel, args, sender);
        inv->typed = typed_channel_ref(t);
        inv->typed_reply = typed_face;
        invocation_run(inv, handler);
        slot_unpin(handler);
        return 1;
}

int dispatch_invoke(endpoint *ep, connection *c, sd_bus_message *msg, sd_bus_error *error) {
        const char *channel;
        int r;

        r = wire_read_channel(msg, "sav", error, &channel);
        if (r < 0)
                return r;
        return dispatch_run_invoke(ep, c, msg, channel, dispatch_typed(ep, channel, IPCBUS_CHANNEL_HANDLE), false,
                                   error);
}

/* The reply to a SendSync: @value boxed on the generic face, as declared on
 * the typed one. */
static int dispatch_return_sync(sd_bus_message *msg, const char *channel, const typed_channel *t, bool typed_face,
                                ValueLargePeer *large, GVariant *value, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        if (t && !typed_channel_result_matches(t, value))
                return invocation_error_result(error, t, value);
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        if (typed_face && !streq(t->result, "v"))
                r = value_append(reply, value, 0, error);
        else
                r = value_append_variant_any(reply, value, typed_face ? NULL : large, error);
        if (r < 0)
                return r;
        r = sd_bus_send(NULL, reply, NULL);
        value_large_refill();
        return r < 0 ? r : 1;
}

/* A SendSync after its channel was read, on either face. */
static int dispatch_run_send_sync(endpoint *ep, connection *c, sd_bus_message *msg, const char *channel,
                                  typed_channel *t, bool typed_face, sd_bus_error *error) {
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *sender = NULL;
        _cleanup_(ipcbus_event_unrefp) ipcbus_event *event = NULL;
        _unused_ _cleanup_(endpoint_releasep) endpoint *hold = NULL;
        bool failed;
        int r;

        hold = endpoint_hold(ep);
        r = ep->ops->admit(ep, c, msg, IPCBUS_OP_SEND_SYNC, channel, &sender, error);
        if (r < 0)
                return r;
        event = event_new(msg, channel, sender, ep, true);
        r = dispatch_read_args(ep, sender, msg, channel, t, typed_face, error, &event->pending, &event->args);
        if (r < 0)
                return r;

        event->typed = typed_channel_ref(t);
        (void)registry_emit(&ep->registry, channel, event, NULL, &failed);
        event->answered = true;

        if (!event->return_value) {
                if (failed)
                        return error_handler_failed(error, channel, NULL, "a listener failed");
                return error_no_return_value(error, channel);
        }
        return dispatch_return_sync(msg, channel, t && t->result ? t : NULL, typed_face,
                                    ep->ops->large_peer(ep, sender), event->return_value, error);
}

int dispatch_send_sync(endpoint *ep, connection *c, sd_bus_message *msg, sd_bus_error *error) {
        const char *channel;
        int r;

        r = wire_read_channel(msg, "sav", error, &channel);
        if (r < 0)
                return r;
        return dispatch_run_send_sync(ep, c, msg, channel, dispatch_typed(ep, channel, IPCBUS_CHANNEL_LISTENER),
                                      false, error);
}

int dispatch_typed_call(endpoint *ep, connection *c, sd_bus_message *msg, typed_channel *t, sd_bus_error *error) {
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *sender = NULL;
        _unused_ _cleanup_(endpoint_releasep) endpoint *hold = NULL;
        int r;

        if (t->kind == IPCBUS_CHANNEL_HANDLE)
                return dispatch_run_invoke(ep, c, msg, t->channel, t, true, error);
        if (t->result)
                return dispatch_run_send_sync(ep, c, msg, t->channel, t, true, error);

        /* A send as a method call: answered at once (if the caller wants an
         * answer at all), listeners run as for a Message. */
        hold = endpoint_hold(ep);
        r = ep->ops->admit(ep, c, msg, IPCBUS_OP_MESSAGE, t->channel, &sender, error);
        if (r < 0)
                return sd_bus_error_is_set(error) ? r : error_denied(error, t->channel);
        r = dispatch_emit(ep, c, msg, IPCBUS_OP_MESSAGE, t->channel, t, true, sender, error);
        if (r < 0)
                return r;
        r = sd_bus_reply_method_return(msg, NULL);
        return r < 0 ? r : 1;
}
