/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The renderer: its lifecycle, connecting, tracking the main's owner, and
 * what arrives from the main. What it sends is in renderer-send.c. */
#include <errno.h>

#include "bus-util.h"
#include "call.h"
#include "dispatch.h"
#include "errors.h"
#include "log.h"
#include "renderer-endpoint.h"
#include "slot.h"
#include "util.h"
#include "value.h"
#include "value-ring.h"
#include "wire.h"

static void renderer_ep_ref(endpoint *ep) {
        ipcbus_renderer_ref((ipcbus_renderer *)ep);
}

static void renderer_ep_unref(endpoint *ep) {
        ipcbus_renderer_unref((ipcbus_renderer *)ep);
}

static int renderer_admit(endpoint *ep, connection *c, sd_bus_message *msg, ipcbus_op op,
                          const char *channel, ipcbus_web_contents **ret_sender, sd_bus_error *error);

static int renderer_ep_reply(endpoint *ep, ipcbus_web_contents *sender, const char *channel, GVariant *args) {
        return ipcbus_renderer_send((ipcbus_renderer *)ep, channel, args);
}

static int renderer_ep_replyv(endpoint *ep, ipcbus_web_contents *sender, const char *channel, const char *types,
                              va_list ap) {
        return ipcbus_renderer_sendfv((ipcbus_renderer *)ep, channel, types, ap);
}

/* Its only caller is its main (renderer_admit() sees to that). */
static ValueLargePeer *renderer_ep_large_peer(endpoint *ep, ipcbus_web_contents *peer) {
        return &((ipcbus_renderer *)ep)->main_large;
}

static int renderer_dispatch(ipcbus_renderer *r, sd_bus_message *msg, bool held);

static const endpoint_ops renderer_endpoint_ops = {
        .ref = renderer_ep_ref,
        .unref = renderer_ep_unref,
        .admit = renderer_admit,
        .reply = renderer_ep_reply,
        .replyv = renderer_ep_replyv,
        .large_peer = renderer_ep_large_peer,
};

int ipcbus_renderer_new(ipcbus_renderer **ret, const char *main_name) {
        ipcbus_renderer *r;
        int k;

        assert_return(ret, NULL, -EINVAL);
        assert_return(main_name, NULL, -EINVAL);
        if (!bus_well_known_name_is_valid(main_name))
                return -EINVAL;
        k = errors_add_map();
        if (k < 0)
                return k;
        r = g_new0(ipcbus_renderer, 1);
        r->n_ref = 1;
        r->main_name = g_strdup(main_name);
        r->main_path = bus_path_from_name(main_name);
        r->timeout_usec = RENDERER_DEFAULT_TIMEOUT_USEC;
        endpoint_init(&r->ep, &renderer_endpoint_ops);
        r->dispatch = renderer_dispatch;
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
        r->channel_match = sd_bus_slot_unref(r->channel_match);
        r->attach_call = ipcbus_slot_unref(r->attach_call);
        if (r->conn) {
                r->conn->owner = NULL;
                r->conn->ep = NULL;
                connection_close(r->conn);
                r->conn = connection_unref(r->conn);
        }
        r->has_main = false;
}

ipcbus_renderer *ipcbus_renderer_unref(ipcbus_renderer *r) {
        if (!r || --r->n_ref > 0)
                return NULL;

        /* Nothing is called back from here: cancel quietly. */
        renderer_sync_clear(r);
        renderer_drop_pending(r);
        slot_list_clear(&r->on_main_appeared);
        slot_list_clear(&r->on_main_vanished);
        r->attach_call = ipcbus_slot_unref(r->attach_call);
        while (r->ep.calls.head)
                slot_disconnect(r->ep.calls.head->data);
        renderer_close(r);
        value_large_peer_reset(&r->main_large);
        endpoint_done(&r->ep);
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
        assert_return(r, NULL, -EINVAL);
        assert_return(path, &r->ep.log, -EINVAL);
        if (sd_bus_object_path_is_valid(path) <= 0)
                return -EINVAL;
        if (r->conn)
                return -EBUSY;
        g_free(r->main_path);
        r->main_path = g_strdup(path);
        return 0;
}

int ipcbus_renderer_set_log_function(ipcbus_renderer *r, ipcbus_log_fn fn, void *userdata) {
        assert_return(r, NULL, -EINVAL);
        r->ep.log.fn = fn;
        r->ep.log.userdata = userdata;
        return 0;
}

int ipcbus_renderer_set_timeout(ipcbus_renderer *r, uint64_t usec) {
        assert_return(r, NULL, -EINVAL);
        r->timeout_usec = usec ? usec : RENDERER_DEFAULT_TIMEOUT_USEC;
        return 0;
}

int ipcbus_renderer_attach_event(ipcbus_renderer *r, sd_event *event, int64_t priority) {
        assert_return(r, NULL, -EINVAL);
        return endpoint_attach_event(&r->ep, event, priority);
}

sd_event *ipcbus_renderer_get_event(ipcbus_renderer *r) {
        assert_return(r, NULL, NULL);
        return r->ep.event;
}

int ipcbus_renderer_run(ipcbus_renderer *r) {
        assert_return(r, NULL, -EINVAL);
        return endpoint_run(&r->ep);
}

int ipcbus_renderer_exit(ipcbus_renderer *r, int code) {
        assert_return(r, NULL, -EINVAL);
        return endpoint_exit(&r->ep, code);
}

bool ipcbus_renderer_has_main(ipcbus_renderer *r) {
        assert_return(r, NULL, false);
        return r->has_main && connection_is_open(r->conn);
}

int ipcbus_renderer_get_counter(ipcbus_renderer *r, ipcbus_counter counter, uint64_t *ret) {
        assert_return(r, NULL, -EINVAL);
        assert_return((unsigned)counter < _IPCBUS_COUNTER_MAX, &r->ep.log, -EINVAL);
        assert_return(ret, &r->ep.log, -EINVAL);
        *ret = r->ep.counters[counter];
        return 0;
}

uint64_t ipcbus_renderer_get_id(ipcbus_renderer *r) {
        assert_return(r, NULL, 0);
        return r->attach == ATTACH_DONE ? r->id : 0;
}

/* ---- the main's owner --------------------------------------------------- */

static void call_renderer_fn(void *fn, void *userdata, void *context) {
        ((ipcbus_renderer_main_fn)fn)(context, userdata);
}

/* The main went: tell, and end the loop if asked to. */
static void renderer_main_vanished(ipcbus_renderer *r) {
        slot_list_fire(&r->on_main_vanished, call_renderer_fn, r);
        if (r->exit_on_main_vanished && r->ep.event)
                (void)sd_event_exit(r->ep.event, -ENOTCONN);
}

static void renderer_set_owner(ipcbus_renderer *r, const char *owner) {
        _cleanup_(freep) char *old = TAKE_PTR(r->main_owner);
        bool had = r->has_main;

        r->main_owner = owner && owner[0] ? g_strdup(owner) : NULL;
        r->has_main = r->main_owner != NULL;
        /* Replies to calls sent to the main's name may come from its owner. */
        g_free(r->conn->name_owner);
        r->conn->name_owner = g_strdup(r->main_owner);
        if (streq_ptr(old, r->main_owner))
                return;
        /* Another main: what it takes is asked again at Attach, and the
         * old one's ring need not stay mapped. */
        value_large_peer_reset(&r->main_large);
        if (old)
                value_ring_forget(r->conn->bus, old, false);

        if (had) {
                /* Calls to the old main end now: it will not answer. */
                call_fail_all(r->conn, old, "The main went away");
                /* A new main knows nothing of us: attach again. */
                if (r->attach != ATTACH_NONE) {
                        r->attach = ATTACH_NONE;
                        r->id = 0;
                        (void)renderer_queue_attach(r);
                }
                renderer_main_vanished(r);
        }
        if (r->has_main) {
                renderer_flush(r);
                slot_list_fire(&r->on_main_appeared, call_renderer_fn, r);
        }
}

static int renderer_on_owner_changed(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        ipcbus_renderer *r = userdata;
        _unused_ _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *hold = ipcbus_renderer_ref(r);
        const char *name, *old_owner, *new_owner;

        /* Only the bus knows. Its match admits nothing else, but a blocking
         * call reads (and holds back) whatever is sent to us directly. */
        if (!streq_ptr(sd_bus_message_get_sender(msg), "org.freedesktop.DBus")) {
                log_emit(&r->ep.log, LOG_DEBUG, "Ignored NameOwnerChanged from %s: not the bus",
                         strnull(sd_bus_message_get_sender(msg)));
                return 0;
        }
        if (sd_bus_message_read(msg, "sss", &name, &old_owner, &new_owner) < 0 || !streq(name, r->main_name))
                return 0;
        log_emit(&r->ep.log, LOG_DEBUG, "Main '%s' owner: '%s'", r->main_name, new_owner);
        renderer_set_owner(r, new_owner);
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

static int renderer_admit(endpoint *ep, connection *c, sd_bus_message *msg, ipcbus_op op,
                          const char *channel, ipcbus_web_contents **ret_sender, sd_bus_error *error) {
        ipcbus_renderer *r = (ipcbus_renderer *)ep;

        *ret_sender = NULL;
        if (renderer_is_from_main(r, msg))
                return 0;
        log_emit(&r->ep.log, LOG_DEBUG, "Dropped %s on '%s' from %s: not the main",
                 op == IPCBUS_OP_INVOKE ? "Invoke" : "a signal", channel,
                 strnull(sd_bus_message_get_sender(msg)));
        if (op == IPCBUS_OP_INVOKE) {
                endpoint_count(&r->ep, IPCBUS_COUNTER_CALLS_DENIED);
                return error_denied(error, channel);
        }
        /* Ports from anyone but the main are closed unopened. */
        endpoint_count(&r->ep, IPCBUS_COUNTER_SIGNALS_DROPPED);
        return -EACCES;
}

static int renderer_dispatch(ipcbus_renderer *r, sd_bus_message *msg, bool held) {
        connection *c = r->conn;
        uint8_t type;
        ipcbus_op op;

        if (sd_bus_message_get_type(msg, &type) < 0)
                return 0;
        if (type == SD_BUS_MESSAGE_METHOD_RETURN || type == SD_BUS_MESSAGE_METHOD_ERROR)
                return call_dispatch_reply(c, msg);
        if (type == SD_BUS_MESSAGE_METHOD_CALL) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                int k;

                /* Live, the object vtable serves it. */
                if (!held)
                        return 0;
                k = dispatch_invoke(&r->ep, c, msg, &error);
                if (k < 0)
                        (void)(sd_bus_error_is_set(&error) ? sd_bus_reply_method_error(msg, &error)
                                                            : sd_bus_reply_method_errno(msg, k, NULL));
                return 1;
        }
        if (type != SD_BUS_MESSAGE_SIGNAL)
                return 0;

        op = dispatch_signal_op(msg);
        if (op) {
                dispatch_signal(&r->ep, c, msg, op);
                return 1;
        }
        if (held && sd_bus_message_is_signal(msg, "org.freedesktop.DBus", "NameOwnerChanged")) {
                (void)renderer_on_owner_changed(msg, r, NULL);
                return 1;
        }
        if (sd_bus_message_is_signal(msg, "org.freedesktop.DBus.Local", "Disconnected")) {
                _unused_ _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *hold = ipcbus_renderer_ref(r);

                bool had = r->has_main;

                log_emit(&r->ep.log, LOG_ERR, "Connection to the main '%s' closed", r->main_name);
                r->has_main = false;
                value_large_peer_reset(&r->main_large);
                r->attach = ATTACH_NONE;
                r->id = 0;
                renderer_fail_pending(r, -ENOTCONN);
                call_fail_all(c, NULL, "The connection to the main closed");
                if (had)
                        renderer_main_vanished(r);
        }
        return 0;
}

static int renderer_filter(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        connection *c = userdata;
        ipcbus_renderer *r = c->owner;

        if (!r)
                return 0;
        if (renderer_sync_take(r, msg))
                return 1;
        return renderer_dispatch(r, msg, false);
}

static int method_renderer_invoke(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        connection *c = userdata;

        if (!c->ep)
                return -ENOTCONN;
        return dispatch_invoke(c->ep, c, msg, error);
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

/* GetNameOwner, answered only by the bus (a forged answer would make us
 * take its sender for the main), and waited for: ipcbus_renderer_has_main()
 * is right from the first call after open. The NameOwnerChanged match went
 * out first, so no change is missed in between. */
static int renderer_ask_owner(ipcbus_renderer *r) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *owner;
        int k;

        k = sd_bus_message_new_method_call(r->conn->bus, &call, BUS_DRIVER_NAME, "/org/freedesktop/DBus",
                                           BUS_DRIVER_NAME, "GetNameOwner");
        if (k < 0)
                return k;
        k = sd_bus_message_append(call, "s", r->main_name);
        if (k < 0)
                return k;
        k = renderer_call_blocking(r, call, BUS_DRIVER_NAME, r->timeout_usec, &error, &reply);
        /* No owner yet: NameOwnerChanged will tell. */
        if (sd_bus_error_has_name(&error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                return 0;
        if (k < 0)
                return k;
        k = sd_bus_message_read(reply, "s", &owner);
        if (k < 0)
                return k;
        if (!r->has_main)
                renderer_set_owner(r, owner);
        return 0;
}

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
        return renderer_ask_owner(r);
}

static int renderer_add_connection(ipcbus_renderer *r, connection *c) {
        int k;

        if (r->conn)
                return -EBUSY;
        if (!r->ep.event) {
                k = ipcbus_renderer_attach_event(r, NULL, 0);
                if (k < 0)
                        return k;
        }
        r->conn = connection_ref(c);
        c->owner = r;
        c->ep = &r->ep;
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
        c->filter = renderer_filter;
        k = connection_attach_event(c, r->ep.event, r->ep.priority);
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

        if (r->conn)
                return -EBUSY;
        k = connection_open_bus(&c, kind, address);
        if (k < 0)
                return k;
        return renderer_add_connection(r, c);
}

int ipcbus_renderer_open_user(ipcbus_renderer *r) {
        assert_return(r, NULL, -EINVAL);
        return renderer_open(r, CONNECTION_USER, NULL);
}

int ipcbus_renderer_open_system(ipcbus_renderer *r) {
        assert_return(r, NULL, -EINVAL);
        return renderer_open(r, CONNECTION_SYSTEM, NULL);
}

int ipcbus_renderer_open_address(ipcbus_renderer *r, const char *address) {
        assert_return(r, NULL, -EINVAL);
        assert_return(address, &r->ep.log, -EINVAL);
        return renderer_open(r, CONNECTION_ADDRESS, address);
}

int ipcbus_renderer_add_bus(ipcbus_renderer *r, sd_bus *bus) {
        _cleanup_(connection_unrefp) connection *c = NULL;
        int k;

        assert_return(r, NULL, -EINVAL);
        assert_return(bus, &r->ep.log, -EINVAL);
        k = connection_new_from_bus(&c, bus);
        if (k < 0)
                return k;
        return renderer_add_connection(r, c);
}

int ipcbus_renderer_open_direct(ipcbus_renderer *r, int fd) {
        _cleanup_(connection_unrefp) connection *c = NULL;
        int k;

        if ((!r || r->conn) && fd >= 0)
                (void)close(fd);
        assert_return(r, NULL, -EINVAL);
        if (r->conn)
                return -EBUSY;
        k = connection_open_direct(&c, fd, false);
        if (k < 0)
                return k;
        return renderer_add_connection(r, c);
}

/* Block until the main is known: for the *_sync calls and small tools.
 * Only this connection is processed meanwhile. */
int ipcbus_renderer_on(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel, ipcbus_listener_fn fn,
                       void *userdata) {
        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        assert_return(fn, &r->ep.log, -EINVAL);
        return registry_add_listener(&r->ep.registry, ret_slot, channel, fn, NULL, userdata, false);
}

int ipcbus_renderer_once(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel, ipcbus_listener_fn fn,
                         void *userdata) {
        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        assert_return(fn, &r->ep.log, -EINVAL);
        return registry_add_listener(&r->ep.registry, ret_slot, channel, fn, NULL, userdata, true);
}

int ipcbus_renderer_remove_listener(ipcbus_renderer *r, const char *channel, ipcbus_listener_fn fn,
                                    void *userdata) {
        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        assert_return(fn, &r->ep.log, -EINVAL);
        return registry_remove_listener(&r->ep.registry, channel, fn, NULL, userdata);
}

int ipcbus_renderer_on_event(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel, ipcbus_event_listener_fn fn,
                   void *userdata) {
        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        assert_return(fn, &r->ep.log, -EINVAL);
        return registry_add_listener(&r->ep.registry, ret_slot, channel, NULL, fn, userdata, false);
}

int ipcbus_renderer_once_event(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel, ipcbus_event_listener_fn fn,
                     void *userdata) {
        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        assert_return(fn, &r->ep.log, -EINVAL);
        return registry_add_listener(&r->ep.registry, ret_slot, channel, NULL, fn, userdata, true);
}

int ipcbus_renderer_remove_event_listener(ipcbus_renderer *r, const char *channel, ipcbus_event_listener_fn fn,
                                  void *userdata) {
        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        assert_return(fn, &r->ep.log, -EINVAL);
        return registry_remove_listener(&r->ep.registry, channel, NULL, fn, userdata);
}

int ipcbus_renderer_remove_all_listeners(ipcbus_renderer *r, const char *channel) {
        assert_return(r, NULL, -EINVAL);
        return registry_remove_all_listeners(&r->ep.registry, channel);
}

int ipcbus_renderer_handle(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel, ipcbus_handler_fn fn,
                           void *userdata) {
        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        assert_return(fn, &r->ep.log, -EINVAL);
        return registry_add_handler(&r->ep.registry, ret_slot, channel, fn, userdata, false);
}

int ipcbus_renderer_handle_once(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel,
                                ipcbus_handler_fn fn, void *userdata) {
        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        assert_return(fn, &r->ep.log, -EINVAL);
        return registry_add_handler(&r->ep.registry, ret_slot, channel, fn, userdata, true);
}

int ipcbus_renderer_remove_handler(ipcbus_renderer *r, const char *channel) {
        assert_return(r, NULL, -EINVAL);
        assert_return(channel, &r->ep.log, -EINVAL);
        return registry_remove_handler(&r->ep.registry, channel);
}

int ipcbus_renderer_on_main_appeared(ipcbus_renderer *r, ipcbus_slot **ret_slot, ipcbus_renderer_main_fn fn,
                                     void *userdata) {
        assert_return(r, NULL, -EINVAL);
        assert_return(fn, &r->ep.log, -EINVAL);
        return slot_list_add(&r->on_main_appeared, ret_slot, (void *)fn, userdata);
}

int ipcbus_renderer_on_main_vanished(ipcbus_renderer *r, ipcbus_slot **ret_slot, ipcbus_renderer_main_fn fn,
                                     void *userdata) {
        assert_return(r, NULL, -EINVAL);
        assert_return(fn, &r->ep.log, -EINVAL);
        return slot_list_add(&r->on_main_vanished, ret_slot, (void *)fn, userdata);
}

int ipcbus_renderer_set_exit_on_main_vanished(ipcbus_renderer *r, bool b) {
        assert_return(r, NULL, -EINVAL);
        r->exit_on_main_vanished = b;
        return 0;
}
