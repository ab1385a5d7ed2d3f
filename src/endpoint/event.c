/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "endpoint.h"
#include "event.h"
#include "log.h"
#include "typed.h"
#include "util.h"

ipcbus_event *event_new(sd_bus_message *message, const char *channel, ipcbus_web_contents *sender,
                        endpoint *origin, bool sync) {
        /* One per message: every field written once here, rather than
         * calloc()'s clearing and then the writes. */
        ipcbus_event *e = g_new(ipcbus_event, 1);

        *e = (ipcbus_event) {
                .n_ref = 1,
                .message = sd_bus_message_ref(message),
                .channel = channel,
                .sender_bus_name = sd_bus_message_get_sender(message),
                .sender = ipcbus_web_contents_ref(sender),
                .origin = endpoint_hold(origin),
                .sync = sync,
        };
        /* Its offsets sit in the writer itself, where it is now. */
        args_writer_init(&e->pending);
        return e;
}

ipcbus_event *ipcbus_event_ref(ipcbus_event *e) {
        if (e)
                e->n_ref++;
        return e;
}

ipcbus_event *ipcbus_event_unref(ipcbus_event *e) {
        if (!e || --e->n_ref > 0)
                return NULL;
        sd_bus_message_unref(e->message);
        if (e->args)
                g_variant_unref(e->args);
        args_writer_clear(&e->pending);
        ipcbus_web_contents_unref(e->sender);
        endpoint_releasep(&e->origin);
        if (e->return_value)
                g_variant_unref(e->return_value);
        typed_channel_unref(e->typed);
        if (e->ports) {
                for (size_t i = 0; i < e->n_ports; i++)
                        ipcbus_port_unref(e->ports[i]);
                g_free(e->ports);
        }
        g_free(e);
        return NULL;
}

void ipcbus_event_unrefp(ipcbus_event **e) {
        if (e && *e)
                ipcbus_event_unref(*e);
}

const char *ipcbus_event_get_channel(ipcbus_event *e) {
        assert_return(e, NULL, NULL);
        return e->channel;
}

GVariant *ipcbus_event_get_args(ipcbus_event *e) {
        assert_return(e, NULL, NULL);
        if (!e->args)
                /* In place: strings ipcbus_event_read() handed out stay
                 * where they are (args_writer_reserve_framing()). */
                e->args = g_variant_ref_sink(args_writer_finish(&e->pending));
        return e->args;
}

size_t ipcbus_event_count_args(ipcbus_event *e) {
        assert_return(e, NULL, 0);
        return e->args ? g_variant_n_children(e->args) : e->pending.n;
}

int ipcbus_event_readv(ipcbus_event *e, const char *types, va_list ap) {
        assert_return(e, NULL, -EINVAL);
        assert_return(types, &e->origin->log, -EINVAL);
        if (!e->args && value_get_wants_variant(types))
                (void)ipcbus_event_get_args(e);
        return value_get_args(e->args ? NULL : &e->pending, e->args, types, ap);
}

int ipcbus_event_read(ipcbus_event *e, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = ipcbus_event_readv(e, types, ap);
        va_end(ap);
        return r;
}

ipcbus_web_contents *ipcbus_event_get_sender(ipcbus_event *e) {
        assert_return(e, NULL, NULL);
        return e->sender;
}

const char *ipcbus_event_get_sender_bus_name(ipcbus_event *e) {
        assert_return(e, NULL, NULL);
        return e->sender_bus_name;
}

int ipcbus_event_reply(ipcbus_event *e, const char *channel, GVariant *args) {
        _cleanup_(g_variant_unrefp) GVariant *a = variant_take(args);

        assert_return(e, NULL, -EINVAL);
        assert_return(channel, &e->origin->log, -EINVAL);
        return e->origin->ops->reply(e->origin, e->sender, channel, a);
}

int ipcbus_event_replyfv(ipcbus_event *e, const char *channel, const char *types, va_list ap) {
        assert_return(e, NULL, -EINVAL);
        assert_return(channel, &e->origin->log, -EINVAL);
        return e->origin->ops->replyv(e->origin, e->sender, channel, types, ap);
}

int ipcbus_event_replyf(ipcbus_event *e, const char *channel, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = ipcbus_event_replyfv(e, channel, types, ap);
        va_end(ap);
        return r;
}

int ipcbus_event_set_return_value(ipcbus_event *e, GVariant *value) {
        _cleanup_(g_variant_unrefp) GVariant *v = variant_take(value);

        assert_return(e, NULL, -EINVAL);
        if (!e->sync)
                return -EOPNOTSUPP;
        if (e->return_value || e->answered)
                return 0;
        e->return_value = v ? TAKE_PTR(v) : g_variant_ref_sink(ipcbus_value_undefined());
        return 1;
}

ipcbus_port **ipcbus_event_get_ports(ipcbus_event *e, size_t *ret_n) {
        if (ret_n)
                *ret_n = 0;
        assert_return(e, NULL, NULL);
        if (ret_n)
                *ret_n = e->n_ports;
        return e->n_ports ? e->ports : NULL;
}

bool ipcbus_event_is_sync(ipcbus_event *e) {
        assert_return(e, NULL, false);
        return e->sync;
}
