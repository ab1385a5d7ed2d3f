/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>

#include "channel.h"
#include "errors.h"
#include "port.h"
#include "slot.h"
#include "util.h"
#include "value.h"
#include "wire.h"

int wire_read_channel_args(sd_bus_message *m, sd_bus_error *error, const char **ret_channel, GVariant **ret_args) {
        const char *channel;
        GVariant *args;
        int r;

        /* Method calls were checked by the vtable; signals were not. */
        if (sd_bus_message_has_signature(m, "sav") <= 0)
                return error_invalid_args(error, "Expected arguments (s channel, av args), got '%s'",
                                          strnull(sd_bus_message_get_signature(m, true)));
        r = sd_bus_message_read_basic(m, 's', &channel);
        if (r <= 0)
                return error_invalid_args(error, "Expected arguments (s channel, av args)");
        r = channel_validate(channel, error);
        if (r < 0)
                return r;
        r = value_read_args(m, &args);
        if (r < 0)
                return error_invalid_args(error, "Arguments of '%s' cannot be read: %s", channel, g_strerror(-r));

        *ret_channel = channel;
        *ret_args = args;
        return 0;
}

int wire_append_channel_args(sd_bus_message *m, const char *channel, GVariant *args, sd_bus_error *error) {
        int r;

        r = channel_validate(channel, error);
        if (r < 0)
                return r;
        r = sd_bus_message_append_basic(m, 's', channel);
        if (r < 0)
                return r;
        return value_append_args(m, args, error);
}

/* A Channel1 signal, unicast to @destination or (NULL) broadcast. */
static int wire_signal_new(sd_bus *bus, const char *path, const char *destination, const char *member,
                           sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_signal(bus, &m, path, IPCBUS_INTERFACE_CHANNEL, member);
        if (r < 0)
                return r;
        if (destination) {
                r = sd_bus_message_set_destination(m, destination);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

int wire_message_new(sd_bus *bus, const char *path, const char *destination, const char *channel, GVariant *args,
                     sd_bus_error *error, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = wire_signal_new(bus, path, destination, "Message", &m);
        if (r < 0)
                return r;
        r = wire_append_channel_args(m, channel, args, error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int wire_read_result(sd_bus_message *reply, sd_bus_error *error, GVariant **ret_result) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        if (e)
                return sd_bus_error_copy(error, e);
        r = value_read_variant(reply, ret_result);
        if (r < 0)
                return error_invalid_args(error, "The result cannot be read: %s", g_strerror(-r));
        return 0;
}

static void call_unlink(ipcbus_slot *s) {
        g_queue_unlink(s->call.queue, &s->link);
        /* Dropping the sd-bus slot cancels the call if it is still out. */
        s->call.bus_slot = sd_bus_slot_unref(s->call.bus_slot);
}

/* Deliver the outcome once, then end the registration. */
static void call_finish(ipcbus_slot *s, GVariant *result, const sd_bus_error *error) {
        slot_pin(s);
        slot_run_begin(s);
        if (s->connected && s->call.fn)
                (void)s->call.fn(result, error, s->userdata);
        slot_disconnect(s);
        slot_run_end(s);
        slot_unpin(s);
}

static int call_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(g_variant_unrefp) GVariant *result = NULL;

        (void)wire_read_result(reply, &error, &result);
        call_finish(userdata, result, sd_bus_error_is_set(&error) ? &error : NULL);
        return 1;
}

ipcbus_slot *wire_call_new(GQueue *calls, ipcbus_slot **ret_slot, ipcbus_result_fn callback, void *userdata) {
        ipcbus_slot *s = slot_new(SLOT_CALL, !ret_slot, userdata, call_unlink);

        s->call.fn = callback;
        s->call.queue = calls;
        g_queue_push_tail_link(calls, &s->link);
        slot_hand_over(s, ret_slot);
        return s;
}

int wire_call_send(sd_bus *bus, ipcbus_slot *s, sd_bus_message *call, uint64_t timeout_usec) {
        return sd_bus_call_async(bus, &s->call.bus_slot, call, call_reply, s, timeout_usec);
}

void wire_call_fail(ipcbus_slot *s, const sd_bus_error *error) {
        call_finish(s, NULL, error);
}

int wire_call_start(sd_bus *bus, GQueue *calls, ipcbus_slot **ret_slot, sd_bus_message *call,
                    uint64_t timeout_usec, ipcbus_result_fn callback, void *userdata) {
        ipcbus_slot *s = wire_call_new(calls, NULL, callback, userdata);
        int r;

        r = wire_call_send(bus, s, call, timeout_usec);
        if (r < 0) {
                /* Floating: this drops the last reference, no callback. */
                s->call.fn = NULL;
                s->destroy = NULL;
                slot_disconnect(s);
                return r;
        }
        if (ret_slot) {
                /* Hand the owner's reference to the caller. */
                s->floating = false;
                *ret_slot = s;
        }
        return 0;
}

int wire_post_message_new(sd_bus *bus, const char *path, const char *destination, const char *channel,
                          GVariant *message, ipcbus_port *const *ports, size_t n_ports, sd_bus_error *error,
                          sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = channel_validate(channel, error);
        if (r < 0)
                return r;
        r = port_transfer_prepare(ports, n_ports, NULL, error);
        if (r < 0)
                return r;
        r = wire_signal_new(bus, path, destination, "PostMessage", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append_basic(m, 's', channel);
        if (r < 0)
                return r;
        r = value_append_variant(m, message, error);
        if (r < 0)
                return r;

        r = sd_bus_message_open_container(m, 'a', "h");
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_ports; i++) {
                _cleanup_(closep) int fd = -1;

                r = port_transfer_take_fd(ports[i], &fd);
                if (r < 0)
                        return r;
                /* sd-bus keeps its own duplicate. */
                r = sd_bus_message_append_basic(m, 'h', &fd);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int wire_read_post_message(sd_bus_message *m, sd_event *event, int64_t priority, sd_bus_error *error,
                           const char **ret_channel, GVariant **ret_args, ipcbus_port ***ret_ports, size_t *ret_n) {
        _cleanup_(g_variant_unrefp) GVariant *message = NULL;
        ipcbus_port **ports = NULL;
        const char *channel;
        size_t n = 0;
        int r, fd;

        if (sd_bus_message_has_signature(m, "svah") <= 0)
                return error_invalid_args(error, "Expected arguments (s channel, v message, ah ports), got '%s'",
                                          strnull(sd_bus_message_get_signature(m, true)));
        r = sd_bus_message_read_basic(m, 's', &channel);
        if (r < 0)
                return error_invalid_args(error, "Cannot read the channel");
        r = channel_validate(channel, error);
        if (r < 0)
                return r;
        r = value_read_variant(m, &message);
        if (r < 0)
                return error_invalid_args(error, "The message on '%s' cannot be read: %s", channel,
                                          g_strerror(-r));
        r = sd_bus_message_enter_container(m, 'a', "h");
        if (r < 0)
                return error_invalid_args(error, "Cannot read the ports");
        while ((r = sd_bus_message_read_basic(m, 'h', &fd)) > 0) {
                int copy;

                ports = g_renew(ipcbus_port *, ports, n + 1);
                /* The message owns its descriptors: each port gets its own. */
                copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                r = copy < 0 ? -errno : port_new_from_fd(event, priority, copy, &ports[n]);
                if (r < 0)
                        break;
                n++;
        }
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        ipcbus_port_unref(ports[i]);
                g_free(ports);
                return error_invalid_args(error, "Port %zu on '%s' is not usable: %s", n, channel, g_strerror(-r));
        }

        *ret_channel = channel;
        *ret_args = g_variant_ref_sink(ipcbus_args(message, NULL));
        *ret_ports = ports;
        *ret_n = n;
        return 0;
}
