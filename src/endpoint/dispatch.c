/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "dispatch.h"
#include "errors.h"
#include "event.h"
#include "invocation.h"
#include "slot.h"
#include "util.h"
#include "value.h"
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

void dispatch_signal(endpoint *ep, connection *c, sd_bus_message *msg, ipcbus_op op) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *sender = NULL;
        _cleanup_(ipcbus_event_unrefp) ipcbus_event *event = NULL;
        _cleanup_(endpoint_releasep) endpoint *hold = NULL;
        ipcbus_port **ports = NULL;
        const char *channel;
        GVariant *args;
        size_t n = 0;
        int r;

        r = wire_read_channel(msg, op == IPCBUS_OP_POST_MESSAGE ? "svah" : "sav", &error, &channel);
        if (r < 0)
                goto malformed;
        /* Listeners may drop the last reference to the endpoint. */
        hold = endpoint_hold(ep);
        if (ep->ops->admit(ep, c, msg, op, channel, &sender, &error) < 0)
                return;
        if (op == IPCBUS_OP_POST_MESSAGE)
                r = wire_read_post_message(msg, channel, ep->event, ep->priority, &error, &args, &ports, &n);
        else
                r = wire_read_args(msg, channel, &error, &args);
        if (r < 0)
                goto malformed;

        event = event_new(msg, channel, args, sender, ep, false);
        event->ports = ports;
        event->n_ports = n;
        if (registry_emit(&ep->registry, channel, event, args, NULL) == 0)
                log_emit(&ep->log, LOG_DEBUG, "No listener for '%s'", channel);
        return;

malformed:
        log_emit(&ep->log, LOG_WARNING, "Dropped %s from %s: %s", op_member(op),
                 strnull(sd_bus_message_get_sender(msg)), error.message);
}

int dispatch_invoke(endpoint *ep, connection *c, sd_bus_message *msg, sd_bus_error *error) {
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *sender = NULL;
        _cleanup_(endpoint_releasep) endpoint *hold = NULL;
        ipcbus_slot *handler;
        const char *channel;
        GVariant *args;
        int r;

        r = wire_read_channel(msg, "sav", error, &channel);
        if (r < 0)
                return r;
        /* A handler may drop the last reference to the endpoint. */
        hold = endpoint_hold(ep);
        r = ep->ops->admit(ep, c, msg, IPCBUS_OP_INVOKE, channel, &sender, error);
        if (r < 0)
                return r;
        r = wire_read_args(msg, channel, error, &args);
        if (r < 0)
                return r;
        handler = registry_get_handler(&ep->registry, channel);
        if (!handler) {
                g_variant_unref(args);
                return error_no_handler(error, channel);
        }
        invocation_run(invocation_new(msg, c, channel, args, sender), handler);
        slot_unpin(handler);
        return 1;
}

int dispatch_send_sync(endpoint *ep, connection *c, sd_bus_message *msg, sd_bus_error *error) {
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *sender = NULL;
        _cleanup_(ipcbus_event_unrefp) ipcbus_event *event = NULL;
        _cleanup_(endpoint_releasep) endpoint *hold = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *channel;
        GVariant *args;
        bool failed;
        int r;

        r = wire_read_channel(msg, "sav", error, &channel);
        if (r < 0)
                return r;
        hold = endpoint_hold(ep);
        r = ep->ops->admit(ep, c, msg, IPCBUS_OP_SEND_SYNC, channel, &sender, error);
        if (r < 0)
                return r;
        r = wire_read_args(msg, channel, error, &args);
        if (r < 0)
                return r;

        event = event_new(msg, channel, args, sender, ep, true);
        (void)registry_emit(&ep->registry, channel, event, args, &failed);
        event->answered = true;

        if (!event->return_value) {
                if (failed)
                        return error_handler_failed(error, channel, NULL, "a listener failed");
                return error_no_return_value(error, channel);
        }
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = value_append_variant(reply, event->return_value, error);
        if (r < 0)
                return r;
        r = sd_bus_send(NULL, reply, NULL);
        return r < 0 ? r : 1;
}
