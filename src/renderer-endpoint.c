/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The renderer: its lifecycle, connecting, tracking the main's owner, and
 * what arrives from the main. What it sends is in renderer-send.c. */
#include <errno.h>

#include "bus-util.h"
#include "errors.h"
#include "event.h"
#include "invocation.h"
#include "renderer-endpoint.h"
#include "slot.h"
#include "util.h"
#include "value.h"
#include "wire.h"

int ipcbus_renderer_new(ipcbus_renderer **ret, const char *main_name) {
        ipcbus_renderer *r;

        if (!ret || !bus_well_known_name_is_valid(main_name))
                return -EINVAL;
        r = g_new0(ipcbus_renderer, 1);
        r->n_ref = 1;
        r->main_name = g_strdup(main_name);
        if (bus_path_from_name(main_name, &r->main_path) < 0) {
                g_free(r->main_name);
                g_free(r);
                return -ENOMEM;
        }
        r->timeout_usec = RENDERER_DEFAULT_TIMEOUT_USEC;
        registry_init(&r->registry, &r->log);
        *ret = r;
        return 0;
}

ipcbus_renderer *ipcbus_renderer_ref(ipcbus_renderer *r) {
        if (r)
                r->n_ref++;
        return r;
}

static void renderer_close(ipcbus_renderer *r) {
        r->owner_watch = sd_bus_slot_unref(r->owner_watch);
        r->owner_query = sd_bus_slot_unref(r->owner_query);
        r->channel_match = sd_bus_slot_unref(r->channel_match);
        r->attach_call = sd_bus_slot_unref(r->attach_call);
        if (r->conn) {
                r->conn->owner = NULL;
                connection_close(r->conn);
                r->conn = connection_unref(r->conn);
        }
        r->has_main = false;
}

ipcbus_renderer *ipcbus_renderer_unref(ipcbus_renderer *r) {
        if (!r || --r->n_ref > 0)
                return NULL;

        /* Nothing is called back from here: cancel quietly. */
        renderer_drop_pending(r);
        while (r->calls.head)
                slot_disconnect(r->calls.head->data);
        renderer_close(r);
        registry_clear(&r->registry);
        sd_event_unref(r->event);
        g_free(r->main_owner);
        g_free(r->attach_name);
        g_free(r->main_name);
        g_free(r->main_path);
        g_free(r);
        return NULL;
}

void ipcbus_renderer_unrefp(ipcbus_renderer **r) {
        if (r && *r)
                ipcbus_renderer_unref(*r);
}

int ipcbus_renderer_set_main_path(ipcbus_renderer *r, const char *path) {
        if (!r || !path || sd_bus_object_path_is_valid(path) <= 0)
                return -EINVAL;
        if (r->conn)
                return -EBUSY;
        g_free(r->main_path);
        r->main_path = g_strdup(path);
        return 0;
}

void ipcbus_renderer_set_log_function(ipcbus_renderer *r, ipcbus_log_fn fn, void *userdata) {
        if (!r)
                return;
        r->log.fn = fn;
        r->log.userdata = userdata;
}

int ipcbus_renderer_set_timeout(ipcbus_renderer *r, uint64_t usec) {
        if (!r)
                return -EINVAL;
        r->timeout_usec = usec ? usec : RENDERER_DEFAULT_TIMEOUT_USEC;
        return 0;
}

int ipcbus_renderer_attach_event(ipcbus_renderer *r, sd_event *event, int64_t priority) {
        int k;

        if (!r)
                return -EINVAL;
        if (r->event)
                return -EBUSY;
        if (event)
                r->event = sd_event_ref(event);
        else {
                k = sd_event_default(&r->event);
                if (k < 0)
                        return k;
        }
        r->priority = priority;
        return 0;
}

sd_event *ipcbus_renderer_get_event(ipcbus_renderer *r) {
        return r ? r->event : NULL;
}

int ipcbus_renderer_run(ipcbus_renderer *r) {
        if (!r || !r->event)
                return -EINVAL;
        return sd_event_loop(r->event);
}

int ipcbus_renderer_exit(ipcbus_renderer *r, int code) {
        if (!r || !r->event)
                return -EINVAL;
        return sd_event_exit(r->event, code);
}

bool ipcbus_renderer_has_main(ipcbus_renderer *r) {
        return r && r->has_main && connection_is_open(r->conn);
}

uint64_t ipcbus_renderer_get_id(ipcbus_renderer *r) {
        return r && r->attach == ATTACH_DONE ? r->id : 0;
}

/* ---- the main's owner --------------------------------------------------- */

static void renderer_set_owner(ipcbus_renderer *r, const char *owner) {
        bool had = r->has_main;

        g_free(r->main_owner);
        r->main_owner = owner && owner[0] ? g_strdup(owner) : NULL;
        r->has_main = r->main_owner != NULL;

        if (had && (!r->has_main || r->attach != ATTACH_NONE)) {
                /* A new main knows nothing of us: attach again. */
                if (r->attach != ATTACH_NONE) {
                        r->attach = ATTACH_NONE;
                        r->id = 0;
                        (void)renderer_queue_attach(r);
                }
        }
        if (r->has_main)
                renderer_flush(r);
}

static int renderer_on_owner_changed(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        ipcbus_renderer *r = userdata;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *hold = ipcbus_renderer_ref(r);
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(msg, "sss", &name, &old_owner, &new_owner) < 0 || !streq(name, r->main_name))
                return 0;
        log_emit(&r->log, LOG_DEBUG, "Main '%s' owner: '%s'", r->main_name, new_owner);
        renderer_set_owner(r, new_owner);
        return 0;
}

static int renderer_on_owner_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        ipcbus_renderer *r = userdata;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *hold = ipcbus_renderer_ref(r);
        const char *owner;

        r->owner_query = sd_bus_slot_unref(r->owner_query);
        /* No owner yet: NameOwnerChanged will tell. */
        if (sd_bus_message_is_method_error(reply, NULL))
                return 0;
        if (sd_bus_message_read(reply, "s", &owner) >= 0 && !r->has_main)
                renderer_set_owner(r, owner);
        return 0;
}

static int renderer_ignore(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return 0;
}

/* ---- what arrives from the main ------------------------------------------ */

/* Only the main's current owner (or the direct connection) may talk to us. */
static bool renderer_is_from_main(ipcbus_renderer *r, sd_bus_message *msg) {
        const char *sender;

        if (r->conn->direct)
                return true;
        sender = sd_bus_message_get_sender(msg);
        return sender && r->main_owner && streq(sender, r->main_owner);
}

static void renderer_on_message(ipcbus_renderer *r, sd_bus_message *msg) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(ipcbus_event_unrefp) ipcbus_event *event = NULL;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *hold = NULL;
        const char *channel;
        GVariant *args;

        if (wire_read_channel_args(msg, &error, &channel, &args) < 0) {
                log_emit(&r->log, LOG_WARNING, "Dropped Message from the main: %s", error.message);
                return;
        }
        hold = ipcbus_renderer_ref(r);
        event = event_new(msg, channel, args, NULL, r, false);
        if (registry_emit(&r->registry, channel, event, args, NULL) == 0)
                log_emit(&r->log, LOG_DEBUG, "No listener for '%s'", channel);
}

static void renderer_on_post_message(ipcbus_renderer *r, sd_bus_message *msg) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(ipcbus_event_unrefp) ipcbus_event *event = NULL;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *hold = NULL;
        const char *channel;
        GVariant *args;
        ipcbus_port **ports;
        size_t n;

        if (wire_read_post_message(msg, r->event, r->priority, &error, &channel, &args, &ports, &n) < 0) {
                log_emit(&r->log, LOG_WARNING, "Dropped PostMessage from the main: %s", error.message);
                return;
        }
        hold = ipcbus_renderer_ref(r);
        event = event_new(msg, channel, args, NULL, r, false);
        event->ports = ports;
        event->n_ports = n;
        if (registry_emit(&r->registry, channel, event, args, NULL) == 0)
                log_emit(&r->log, LOG_DEBUG, "No listener for '%s'", channel);
}

static int renderer_filter(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        connection *c = userdata;
        ipcbus_renderer *r = c->owner;
        uint8_t type;

        if (!r || sd_bus_message_get_type(msg, &type) < 0 || type != SD_BUS_MESSAGE_SIGNAL)
                return 0;

        if (sd_bus_message_is_signal(msg, IPCBUS_INTERFACE_CHANNEL, "Message")) {
                if (!renderer_is_from_main(r, msg)) {
                        log_emit(&r->log, LOG_DEBUG, "Dropped Message from %s: not the main",
                                 strnull(sd_bus_message_get_sender(msg)));
                        return 1;
                }
                renderer_on_message(r, msg);
                return 1;
        }
        if (sd_bus_message_is_signal(msg, IPCBUS_INTERFACE_CHANNEL, "PostMessage")) {
                /* Ports from anyone but the main are closed unopened. */
                if (renderer_is_from_main(r, msg))
                        renderer_on_post_message(r, msg);
                return 1;
        }
        if (sd_bus_message_is_signal(msg, "org.freedesktop.DBus.Local", "Disconnected")) {
                _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *hold = ipcbus_renderer_ref(r);

                log_emit(&r->log, LOG_ERR, "Connection to the main '%s' closed", r->main_name);
                r->has_main = false;
                r->attach = ATTACH_NONE;
                r->id = 0;
                renderer_fail_pending(r, -ENOTCONN);
        }
        return 0;
}

static int method_renderer_invoke(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        connection *c = userdata;
        ipcbus_renderer *r = c->owner;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *hold = NULL;
        ipcbus_slot *handler;
        const char *channel;
        GVariant *args;
        int k;

        if (!r)
                return -ENOTCONN;
        k = wire_read_channel_args(msg, error, &channel, &args);
        if (k < 0)
                return k;
        if (!renderer_is_from_main(r, msg)) {
                g_variant_unref(args);
                return error_denied(error, channel);
        }
        handler = registry_get_handler(&r->registry, channel);
        if (!handler) {
                g_variant_unref(args);
                return error_no_handler(error, channel);
        }
        hold = ipcbus_renderer_ref(r);
        invocation_run(invocation_new(msg, c, channel, args, NULL), handler);
        slot_unpin(handler);
        return 1;
}

static const sd_bus_vtable renderer_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Invoke", SD_BUS_ARGS("s", channel, "av", args), SD_BUS_RESULT("v", result),
                                method_renderer_invoke, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable renderer_channel_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_SIGNAL_WITH_ARGS("Message", SD_BUS_ARGS("s", channel, "av", args), 0),
        SD_BUS_SIGNAL_WITH_ARGS("PostMessage", SD_BUS_ARGS("s", channel, "v", message, "ah", ports), 0),
        SD_BUS_VTABLE_END,
};

/* ---- connecting ---------------------------------------------------------- */

/* Learn who owns the main's name, now and whenever it changes, and
 * subscribe to the main's broadcasts. The matches go out before anything
 * else on the connection, so the bus applies them first. */
static int renderer_watch_main(ipcbus_renderer *r) {
        _cleanup_(freep) char *owner_rule = NULL, *channel_rule = NULL;
        sd_bus *bus = r->conn->bus;
        int k;

        owner_rule = g_strdup_printf("type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                     "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='%s'",
                                     r->main_name);
        k = sd_bus_add_match_async(bus, &r->owner_watch, owner_rule, renderer_on_owner_changed, NULL, r);
        if (k < 0)
                return k;
        channel_rule = g_strdup_printf("type='signal',sender='%s',interface='" IPCBUS_INTERFACE_CHANNEL "'",
                                       r->main_name);
        k = sd_bus_add_match_async(bus, &r->channel_match, channel_rule, renderer_ignore, NULL, r);
        if (k < 0)
                return k;
        return sd_bus_call_method_async(bus, &r->owner_query, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "GetNameOwner", renderer_on_owner_reply, r, "s",
                                        r->main_name);
}

static int renderer_add_connection(ipcbus_renderer *r, connection *c) {
        int k;

        if (r->conn)
                return -EBUSY;
        if (!r->event) {
                k = ipcbus_renderer_attach_event(r, NULL, 0);
                if (k < 0)
                        return k;
        }
        r->conn = connection_ref(c);
        c->owner = r;
        k = sd_bus_add_object_vtable(c->bus, &c->object_slots[0], IPCBUS_RENDERER_PATH, IPCBUS_INTERFACE_RENDERER,
                                     renderer_vtable, c);
        if (k < 0)
                goto fail;
        k = sd_bus_add_object_vtable(c->bus, &c->object_slots[1], IPCBUS_RENDERER_PATH, IPCBUS_INTERFACE_CHANNEL,
                                     renderer_channel_vtable, c);
        if (k < 0)
                goto fail;
        k = sd_bus_add_filter(c->bus, &c->filter_slot, renderer_filter, c);
        if (k < 0)
                goto fail;
        k = connection_attach_event(c, r->event, r->priority);
        if (k < 0)
                goto fail;
        if (c->direct) {
                /* The other end is the main, by construction. Say something
                 * at once: the main holds what it sends (ports included)
                 * until our handshake is over, which this shows. */
                r->has_main = true;
                k = sd_bus_call_method_async(c->bus, NULL, NULL, "/", "org.freedesktop.DBus.Peer", "Ping",
                                             renderer_ignore, NULL, NULL);
                if (k < 0)
                        goto fail;
        }
        else {
                k = renderer_watch_main(r);
                if (k < 0)
                        goto fail;
        }
        return 0;
fail:
        renderer_close(r);
        return k;
}

static int renderer_open(ipcbus_renderer *r, connection_bus kind, const char *address) {
        _cleanup_(connection_unrefp) connection *c = NULL;
        int k;

        if (!r)
                return -EINVAL;
        if (r->conn)
                return -EBUSY;
        k = connection_open_bus(&c, kind, address);
        if (k < 0)
                return k;
        return renderer_add_connection(r, c);
}

int ipcbus_renderer_open_user(ipcbus_renderer *r) {
        return renderer_open(r, CONNECTION_USER, NULL);
}

int ipcbus_renderer_open_system(ipcbus_renderer *r) {
        return renderer_open(r, CONNECTION_SYSTEM, NULL);
}

int ipcbus_renderer_open_address(ipcbus_renderer *r, const char *address) {
        if (!address)
                return -EINVAL;
        return renderer_open(r, CONNECTION_ADDRESS, address);
}

int ipcbus_renderer_add_bus(ipcbus_renderer *r, sd_bus *bus) {
        _cleanup_(connection_unrefp) connection *c = NULL;
        int k;

        if (!r || !bus)
                return -EINVAL;
        k = connection_new_from_bus(&c, bus);
        if (k < 0)
                return k;
        return renderer_add_connection(r, c);
}

int ipcbus_renderer_open_direct(ipcbus_renderer *r, int fd) {
        _cleanup_(connection_unrefp) connection *c = NULL;
        int k;

        if (!r || r->conn) {
                if (fd >= 0)
                        (void)close(fd);
                return !r ? -EINVAL : -EBUSY;
        }
        k = connection_open_direct(&c, fd, false);
        if (k < 0)
                return k;
        return renderer_add_connection(r, c);
}

/* Block until the main is known: for the *_sync calls and small tools.
 * Only this connection is processed meanwhile. */
int ipcbus_renderer_on(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel, ipcbus_listener_fn fn,
                       void *userdata) {
        if (!r)
                return -EINVAL;
        return registry_add_listener(&r->registry, ret_slot, channel, fn, userdata, false);
}

int ipcbus_renderer_once(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel, ipcbus_listener_fn fn,
                         void *userdata) {
        if (!r)
                return -EINVAL;
        return registry_add_listener(&r->registry, ret_slot, channel, fn, userdata, true);
}

int ipcbus_renderer_remove_listener(ipcbus_renderer *r, const char *channel, ipcbus_listener_fn fn,
                                    void *userdata) {
        if (!r)
                return -EINVAL;
        return registry_remove_listener(&r->registry, channel, fn, userdata);
}

int ipcbus_renderer_remove_all_listeners(ipcbus_renderer *r, const char *channel) {
        if (!r)
                return -EINVAL;
        return registry_remove_all_listeners(&r->registry, channel);
}

int ipcbus_renderer_handle(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel, ipcbus_handler_fn fn,
                           void *userdata) {
        if (!r)
                return -EINVAL;
        return registry_add_handler(&r->registry, ret_slot, channel, fn, userdata, false);
}

int ipcbus_renderer_handle_once(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel,
                                ipcbus_handler_fn fn, void *userdata) {
        if (!r)
                return -EINVAL;
        return registry_add_handler(&r->registry, ret_slot, channel, fn, userdata, true);
}

int ipcbus_renderer_remove_handler(ipcbus_renderer *r, const char *channel) {
        if (!r)
                return -EINVAL;
        return registry_remove_handler(&r->registry, channel);
}
