/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>

#include "channel.h"
#include "errors.h"
#include "port.h"
#include "slot.h"
#include "util.h"
#include "value.h"
#include "value-large.h"
#include "value-va.h"
#include "wire.h"

int wire_read_channel(sd_bus_message *m, const char *signature, sd_bus_error *error, const char **ret_channel) {
        const char *channel;
        int r;

        /* Method calls were checked by the vtable; signals were not. */
        if (sd_bus_message_has_signature(m, signature) <= 0)
                return error_invalid_args(error, "Expected arguments (%s), got '%s'",
                                          streq(signature, "sav") ? "s channel, av args"
                                                                  : "s channel, v message, ah ports",
                                          strnull(sd_bus_message_get_signature(m, true)));
        r = sd_bus_message_read_basic(m, 's', &channel);
        /* The signature was right: what sd-bus refuses is the string. It
         * holds every 's' to stricter UTF-8 than the bus daemons do: a
         * Unicode noncharacter (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF) passes
         * dbus-daemon but not sd-bus. */
        if (r <= 0)
                return error_invalid_args(error,
                                          "The channel name is not UTF-8 that D-Bus strings may hold: it has a "
                                          "Unicode noncharacter (U+FDD0..U+FDEF, U+FFFE, U+FFFF, ...) or is not "
                                          "UTF-8 at all");
        r = channel_validate(channel, error);
        if (r < 0)
                return r;
        *ret_channel = channel;
        return 0;
}

int wire_read_args(sd_bus_message *m, const char *channel, uint64_t large_max, bool names_rings,
                   sd_bus_error *error, ArgsWriter *pending, GVariant **ret_args) {
        ValueLarge large;
        int r;

        r = value_read_args_pending(m, names_rings, ret_args, &large, pending);
        if (r < 0)
                return error_invalid_args(error, "Arguments of '%s' cannot be read: %s", channel, g_strerror(-r));
        if (r == 0)
                return 0;
        /* Before the memfd is looked at: what it would cost is known. */
        if (large.size > large_max) {
                (void)error_limits_exceeded(error, "bytes in an out-of-band value", large_max);
                return -ENOBUFS;
        }
        return value_large_open(&large, "av", error, ret_args);
}

/* The channel first, once it passed the rules. */
static int wire_append_channel(sd_bus_message *m, const char *channel, sd_bus_error *error) {
        int r;

        r = channel_validate(channel, error);
        if (r < 0)
                return r;
        return sd_bus_message_append_basic(m, 's', channel);
}

int wire_append_channel_args(sd_bus_message *m, const char *channel, GVariant *args, ValueLargePeer *large,
                             sd_bus_error *error) {
        int r;

        r = wire_append_channel(m, channel, error);
        if (r < 0)
                return r;
        return value_append_args_any(m, args, large, error);
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
                     ValueLargePeer *large, sd_bus_error *error, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = wire_signal_new(bus, path, destination, "Message", &m);
        if (r < 0)
                return r;
        r = wire_append_channel_args(m, channel, args, large, error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int wire_message_new_va(sd_bus *bus, const char *path, const char *destination, const char *channel,
                        const char *types, va_list ap, ValueLargePeer *large, sd_bus_error *error,
                        sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = wire_signal_new(bus, path, destination, "Message", &m);
        if (r < 0)
                return r;
        r = wire_append_channel(m, channel, error);
        if (r < 0)
                return r;
        r = value_append_args_va(m, types, ap, large, error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int wire_read_result(sd_bus_message *reply, bool names_rings, sd_bus_error *error, GVariant **ret_result) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        ValueLarge large;
        int r;

        if (e)
                return sd_bus_error_copy(error, e);
        if (sd_bus_message_has_signature(reply, "v") <= 0)
                return error_invalid_args(error, "The result must be one variant (signature 'v'), not '%s'",
                                          strnull(sd_bus_message_get_signature(reply, true)));
        r = value_read_variant_or_large(reply, names_rings, ret_result, &large);
        if (r < 0)
                return error_invalid_args(error, "The result cannot be read: %s", g_strerror(-r));
        if (r > 0)
                return value_large_open(&large, "v", error, ret_result);
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

int wire_read_post_message(sd_bus_message *m, const char *channel, sd_event *event, int64_t priority,
                           sd_bus_error *error, GVariant **ret_args, ipcbus_port ***ret_ports, size_t *ret_n) {
        _cleanup_(g_variant_unrefp) GVariant *message = NULL;
        ipcbus_port **ports = NULL;
        size_t n = 0;
        int r, fd;

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

        *ret_args = g_variant_ref_sink(ipcbus_args(message, NULL));
        *ret_ports = ports;
        *ret_n = n;
        return 0;
}
