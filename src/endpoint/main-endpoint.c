/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "bus-util.h"
#include "call.h"
#include "dispatch.h"
#include "errors.h"
#include "log.h"
#include "main-endpoint.h"
#include "main-gate.h"
#include "main-peers.h"
#include "main-typed.h"
#include "spawn.h"
#include "util.h"
#include "value.h"
#include "value-large.h"
#include "value-va.h"
#include "web-contents.h"
#include "wire.h"

static void main_ep_ref(endpoint *ep) {
        ipcbus_main_ref(main_from_endpoint(ep));
}

static void main_ep_unref(endpoint *ep) {
        ipcbus_main_unref(main_from_endpoint(ep));
}

static int main_ep_reply(endpoint *ep, ipcbus_web_contents *sender, const char *channel, GVariant *args) {
        return ipcbus_web_contents_send(sender, channel, args);
}

static int main_ep_replyv(endpoint *ep, ipcbus_web_contents *sender, const char *channel, const char *types,
                          va_list ap) {
        return ipcbus_web_contents_sendfv(sender, channel, types, ap);
}

static ValueLargePeer *main_ep_large_peer(endpoint *ep, ipcbus_web_contents *peer) {
        return peer ? &peer->large : NULL;
}

static void main_ep_drop_connection(endpoint *ep, connection *c) {
        main_drop_connection(main_from_endpoint(ep), c);
}

static const endpoint_ops main_endpoint_ops = {
        .ref = main_ep_ref,
        .unref = main_ep_unref,
        .admit = main_admit,
        .reply = main_ep_reply,
        .replyv = main_ep_replyv,
        .typed = main_typed_lookup,
        .check_event = main_typed_check_event,
        .emit_event = main_typed_emit,
        .large_peer = main_ep_large_peer,
        .drop_connection = main_ep_drop_connection,
};

int ipcbus_main_new(ipcbus_main **ret, const char *name) {
        ipcbus_main *m;
        int r;

        assert_return(ret, NULL, -EINVAL);
        assert_return(name, NULL, -EINVAL);
        if (!bus_well_known_name_is_valid(name))
                return -EINVAL;
        r = errors_add_map();
        if (r < 0)
                return r;

        m = g_new0(ipcbus_main, 1);
        m->n_ref = 1;
        m->name = g_strdup(name);
        m->path = bus_path_from_name(name);
        endpoint_init(&m->ep, &main_endpoint_ops);
        main_gate_init(m);
        main_typed_init(m);
        m->by_bus_name = g_hash_table_new(g_str_hash, g_str_equal);
        m->by_id = g_hash_table_new(g_int64_hash, g_int64_equal);
        *ret = m;
        return 0;
}

ipcbus_main *ipcbus_main_ref(ipcbus_main *m) {
        if (m)
                m->n_ref++;
        return m;
}

ipcbus_main *ipcbus_main_unref(ipcbus_main *m) {
        if (!m || --m->n_ref > 0)
                return NULL;

        /* Pending calls are cancelled without their callbacks. */
        while (m->ep.calls.head)
                slot_disconnect(m->ep.calls.head->data);
        slot_list_clear(&m->on_attached);
        slot_list_clear(&m->on_detached);
        slot_list_clear(&m->on_bus_closed);
        while (m->connections.head)
                main_drop_connection(m, m->connections.head->data);
        spawn_main_freed(m);
        main_typed_done(m);
        endpoint_done(&m->ep);
        main_gate_done(m);
        g_hash_table_unref(m->by_bus_name);
        g_hash_table_unref(m->by_id);
        g_free(m->name);
        g_free(m->path);
        g_free(m);
        return NULL;
}

void ipcbus_main_unrefp(ipcbus_main **m) {
        if (m && *m)
                ipcbus_main_unref(*m);
}

int ipcbus_main_set_object_path(ipcbus_main *m, const char *path) {
        assert_return(m, NULL, -EINVAL);
        assert_return(path, &m->ep.log, -EINVAL);
        if (sd_bus_object_path_is_valid(path) <= 0)
                return -EINVAL;
        if (m->connections.head)
                return -EBUSY;
        g_free(m->path);
        m->path = g_strdup(path);
        return 0;
}

const char *ipcbus_main_get_name(ipcbus_main *m) {
        assert_return(m, NULL, NULL);
        return m->name;
}

const char *ipcbus_main_get_object_path(ipcbus_main *m) {
        assert_return(m, NULL, NULL);
        return m->path;
}

int ipcbus_main_set_log_function(ipcbus_main *m, ipcbus_log_fn fn, void *userdata) {
        assert_return(m, NULL, -EINVAL);
        m->ep.log.fn = fn;
        m->ep.log.userdata = userdata;
        return 0;
}

int ipcbus_main_attach_event(ipcbus_main *m, sd_event *event, int64_t priority) {
        assert_return(m, NULL, -EINVAL);
        return endpoint_attach_event(&m->ep, event, priority);
}

sd_event *ipcbus_main_get_event(ipcbus_main *m) {
        assert_return(m, NULL, NULL);
        return m->ep.event;
}

int ipcbus_main_run(ipcbus_main *m) {
        assert_return(m, NULL, -EINVAL);
        return endpoint_run(&m->ep);
}

int ipcbus_main_exit(ipcbus_main *m, int code) {
        assert_return(m, NULL, -EINVAL);
        return endpoint_exit(&m->ep, code);
}

/* ---- Main1 methods ------------------------------------------------------ */

static int method_invoke(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        connection *c = userdata;

        return dispatch_invoke(c->ep, c, msg, error);
}

static int method_send_sync(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        connection *c = userdata;

        return dispatch_send_sync(c->ep, c, msg, error);
}

/* Whether the "as" next in @msg names @feature; the list is only read,
 * never kept. Return: 0/1; -EINVAL when it is not an "as". */
/* Return: the features of ours in the list (FEATURE_*), or -errno. */
enum { FEATURE_LARGE = 1, FEATURE_LARGE_RING = 2, FEATURE_LARGE_RING_REF = 4 };
static int read_features(sd_bus_message *msg) {
        const char *s;
        int found = 0;
        int r;

        r = sd_bus_message_enter_container(msg, 'v', "as");
        if (r <= 0)
                return -EINVAL;
        r = sd_bus_message_enter_container(msg, 'a', "s");
        if (r <= 0)
                return -EINVAL;
        while ((r = sd_bus_message_read_basic(msg, 's', &s)) > 0) {
                if (streq(s, ENDPOINT_FEATURE_LARGE_VALUES))
                        found |= FEATURE_LARGE;
                if (streq(s, ENDPOINT_FEATURE_LARGE_VALUES_RING))
                        found |= FEATURE_LARGE_RING;
                if (streq(s, ENDPOINT_FEATURE_LARGE_VALUES_RING_REF))
                        found |= FEATURE_LARGE_RING_REF;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r >= 0)
                r = sd_bus_message_exit_container(msg);
        return r < 0 ? r : found;
}

/* Attach's keys are "name" and "features"; unknown keys are skipped so
 * that later versions can add some, but their number and the name's size
 * are capped: a peer may not make the main keep whatever it sends. */
static int read_attach_name(ipcbus_main *m, sd_bus_message *msg, sd_bus_error *error, char **ret_name,
                            int *ret_features, ipcbus_limit *ret_limit) {
        _cleanup_(freep) char *name = NULL;
        int features = 0;
        uint64_t n = 0;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return error_invalid_args(error, "Expected a{sv} properties");
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const char *key, *value;

                if (++n > m->limits[IPCBUS_LIMIT_ATTACH_PROPERTIES]) {
                        *ret_limit = IPCBUS_LIMIT_ATTACH_PROPERTIES;
                        return -ENOBUFS;
                }
                r = sd_bus_message_read_basic(msg, 's', &key);
                if (r < 0)
                        return r;
                if (streq(key, "name")) {
                        r = sd_bus_message_read(msg, "v", "s", &value);
                        if (r < 0)
                                return error_invalid_args(error, "Property 'name' must be a string");
                        if (strlen(value) > m->limits[IPCBUS_LIMIT_ATTACH_NAME]) {
                                *ret_limit = IPCBUS_LIMIT_ATTACH_NAME;
                                return -ENOBUFS;
                        }
                        g_free(name);
                        name = g_strdup(value);
                } else if (streq(key, "features")) {
                        r = read_features(msg);
                        if (r < 0)
                                return error_invalid_args(error, "Property 'features' must be a list of strings");
                        features = r;
                } else {
                        r = sd_bus_message_skip(msg, "v");
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        *ret_name = TAKE_PTR(name);
        *ret_features = features;
        return 0;
}

static int method_attach(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        connection *c = userdata;
        ipcbus_main *m = c->owner;
        _unused_ _cleanup_(ipcbus_main_unrefp) ipcbus_main *hold = ipcbus_main_ref(m);
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *wc = NULL;
        _cleanup_(freep) char *name = NULL;
        ipcbus_limit limit = IPCBUS_LIMIT_ATTACH_PROPERTIES;
        bool fresh = false;
        int features = 0;
        int r;

        r = read_attach_name(m, msg, error, &name, &features, &limit);
        if (r == -ENOBUFS) {
                _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *peer = NULL;

                if (main_peer_get(m, c, msg, &peer) < 0 && !peer)
                        return error_limits_exceeded(error, "Attach", 0);
                return main_refuse_limit(m, peer, IPCBUS_OP_ATTACH, limit, error);
        }
        if (r < 0)
                return r;
        r = main_admit(&m->ep, c, msg, IPCBUS_OP_ATTACH, name, &wc, error);
        if (r < 0)
                return r;
        if (!c->direct && !wc->known)
                return error_limits_exceeded(error, "peers per connection",
                                             m->limits[IPCBUS_LIMIT_PEERS_PER_CONNECTION]);

        if (!wc->attached) {
                /* A direct renderer that detached comes back with its old id. */
                if (c->direct && !wc->known) {
                        web_contents_set_main(wc, m, &m->ep, m->path);
                        wc->known = true;
                        wc->attached = true;
                        g_hash_table_insert(m->by_id, &wc->id, ipcbus_web_contents_ref(wc));
                } else
                        main_peer_attach(m, wc);
                fresh = true;
        }
        if (name) {
                g_free(wc->name);
                wc->name = TAKE_PTR(name);
        }
        /* From now on its arguments and results may go out of band. */
        wc->large.takes = m->ep.large_values && (features & FEATURE_LARGE);
        /* The ring is a way of the memfd form's, never alone. */
        wc->large.takes_ring = wc->large.takes && m->ep.large_rings && (features & FEATURE_LARGE_RING);
        /* And naming kept rings is a way of the ring's. */
        wc->large.takes_ring_ref = wc->large.takes_ring && m->ep.large_ring_refs &&
                                   (features & FEATURE_LARGE_RING_REF);

        r = sd_bus_reply_method_return(msg, "t", wc->id);
        if (r < 0)
                return r;
        /* After the reply, so the renderer knows its id before anything the
         * callbacks send it. */
        if (fresh)
                main_fire_lifecycle(m, &m->on_attached, wc);
        return 1;
}

static int method_detach(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        connection *c = userdata;
        ipcbus_main *m = c->owner;
        _unused_ _cleanup_(ipcbus_main_unrefp) ipcbus_main *hold = ipcbus_main_ref(m);
        ipcbus_web_contents *wc;
        const char *sender;

        sender = sd_bus_message_get_sender(msg);
        wc = c->direct ? c->peer : sender ? g_hash_table_lookup(m->by_bus_name, sender) : NULL;
        if (wc && wc->attached)
                main_forget_web_contents(m, wc);
        return sd_bus_reply_method_return(msg, NULL);
}

static int main_get_features_property(sd_bus *bus, const char *path, const char *interface, const char *property,
                                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        connection *c = userdata;
        ipcbus_main *m = c->owner;

        if (m->ep.large_ring_refs)
                return sd_bus_message_append(reply, "as", 3, ENDPOINT_FEATURE_LARGE_VALUES,
                                             ENDPOINT_FEATURE_LARGE_VALUES_RING,
                                             ENDPOINT_FEATURE_LARGE_VALUES_RING_REF);
        if (m->ep.large_rings)
                return sd_bus_message_append(reply, "as", 2, ENDPOINT_FEATURE_LARGE_VALUES,
                                             ENDPOINT_FEATURE_LARGE_VALUES_RING);
        if (m->ep.large_values)
                return sd_bus_message_append(reply, "as", 1, ENDPOINT_FEATURE_LARGE_VALUES);
        return sd_bus_message_append(reply, "as", 0);
}

static const sd_bus_vtable main_vtable[] = {
        SD_BUS_VTABLE_START(0),
        /* UNPRIVILEGED: sd-bus would otherwise ask the bus for the caller's
         * credentials on every call, one more round trip; the sender checks
         * are ipcbus's own. */
        SD_BUS_METHOD_WITH_ARGS("Invoke", SD_BUS_ARGS("s", channel, "av", args), SD_BUS_RESULT("v", result),
                                method_invoke, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SendSync", SD_BUS_ARGS("s", channel, "av", args), SD_BUS_RESULT("v", result),
                                method_send_sync, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Attach", SD_BUS_ARGS("a{sv}", properties), SD_BUS_RESULT("t", id),
                                method_attach, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Detach", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_detach,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        /* Every channel with a handler or a listener, sorted (main-typed.c). */
        SD_BUS_PROPERTY("Channels", "as", main_typed_get_channels_property, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* What this main takes beyond the contract's first form. */
        SD_BUS_PROPERTY("Features", "as", main_get_features_property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable channel_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_SIGNAL_WITH_ARGS("Message", SD_BUS_ARGS("s", channel, "av", args), 0),
        SD_BUS_SIGNAL_WITH_ARGS("PostMessage", SD_BUS_ARGS("s", channel, "v", message, "ah", ports), 0),
        SD_BUS_VTABLE_END,
};

/* ---- Channel1 signals and connection events ------------------------------ */

static void main_bus_closed(ipcbus_main *m, sd_bus *bus);

static int main_filter(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        connection *c = userdata;
        ipcbus_main *m = c->owner;
        uint8_t type;

        ipcbus_op op;

        /* Anything from a direct renderer ends its handshake. */
        if (c->server && !c->peer_spoke && !sd_bus_message_is_signal(msg, "org.freedesktop.DBus.Local", NULL)) {
                _cleanup_(g_ptr_array_unrefp) GPtrArray *failed = NULL;
                int k = connection_peer_spoke(c, &failed);

                if (k < 0)
                        log_emit(&m->ep.log, LOG_ERR, "Could not send %u held message(s) to a direct renderer: %s",
                                 failed->len, g_strerror(-k));
                call_register_held(c, failed, k);
        }
        if (sd_bus_message_get_type(msg, &type) < 0)
                return 0;
        if (type == SD_BUS_MESSAGE_METHOD_RETURN || type == SD_BUS_MESSAGE_METHOD_ERROR)
                return call_dispatch_reply(c, msg);
        if (type != SD_BUS_MESSAGE_SIGNAL)
                return 0;

        op = dispatch_signal_op(msg);
        if (op) {
                /* Renderers send to the main by name; broadcasts on the bus
                 * are other mains talking to their renderers. */
                if (!c->direct && !sd_bus_message_get_destination(msg))
                        return 0;
                dispatch_signal(&m->ep, c, msg, op);
                return 1;
        }
        if (sd_bus_message_is_signal(msg, "org.freedesktop.DBus.Local", "Disconnected")) {
                _unused_ _cleanup_(ipcbus_main_unrefp) ipcbus_main *hold = ipcbus_main_ref(m);
                _cleanup_(sd_bus_unrefp) sd_bus *bus = sd_bus_ref(c->bus);
                bool was_bus = !c->direct;

                log_emit(&m->ep.log, c->direct ? LOG_DEBUG : LOG_ERR, "%s connection closed",
                         c->direct ? "Direct" : "Bus");
                main_drop_connection(m, c);
                if (was_bus)
                        main_bus_closed(m, bus);
        }
        return 0;
}

/* ---- connections -------------------------------------------------------- */

static void call_bus_fn(void *fn, void *userdata, void *context) {
        void **ctx = context;

        ((ipcbus_main_bus_fn)fn)(ctx[0], ctx[1], userdata);
}

/* A bus went away under us: tell, then end the loop unless asked not to. */
static void main_bus_closed(ipcbus_main *m, sd_bus *bus) {
        void *ctx[2] = { m, bus };

        slot_list_fire(&m->on_bus_closed, call_bus_fn, ctx);
        if (!m->stay_without_bus && m->ep.event)
                (void)sd_event_exit(m->ep.event, -ENOTCONN);
}

void main_drop_connection(ipcbus_main *m, connection *c) {
        /* Hold the main across callbacks, unless it is being freed. */
        _unused_ _cleanup_(ipcbus_main_unrefp) ipcbus_main *hold = m->n_ref > 0 ? ipcbus_main_ref(m) : NULL;
        GHashTableIter it;
        ipcbus_web_contents *wc;

        if (c->owner != m)
                return;
        /* Calls to renderers on it end now, not at their timeout. */
        call_fail_all(c, NULL, "The connection to the renderer closed");
        /* Peers on it are gone: for renderers, the same as a detach. */
        if (c->peer)
                main_forget_web_contents(m, c->peer);
        for (bool again = true; again;) {
                again = false;
                g_hash_table_iter_init(&it, m->by_bus_name);
                while (g_hash_table_iter_next(&it, NULL, (void **)&wc))
                        if (wc->conn == c) {
                                main_forget_web_contents(m, wc);
                                again = true;
                                break;
                        }
        }
        ipcbus_web_contents_unref(c->peer);
        c->peer = NULL;
        c->owner = NULL;
        g_queue_unlink(&m->connections, &c->link);
        /* The caller's bus stays open: give back the name we took there, so
         * renderers see the main go rather than calling an empty object. */
        if (c->borrowed && c->named && connection_is_open(c)) {
                int r = sd_bus_release_name_async(c->bus, NULL, m->name, NULL, NULL);

                if (r < 0)
                        log_emit(&m->ep.log, LOG_WARNING, "Cannot release '%s': %s", m->name, g_strerror(-r));
        }
        connection_close(c);
        spawn_connection_dropped(m, c);
        connection_unref(c);
}

/* Everything a connection needs to serve the main: the same on each. */
static int main_add_connection(ipcbus_main *m, connection *c) {
        int r;

        if (!m->ep.event) {
                r = ipcbus_main_attach_event(m, NULL, 0);
                if (r < 0)
                        return r;
        }
        /* The list holds its own reference; main_drop_connection() undoes
         * all of this, also halfway. */
        c->owner = m;
        c->ep = &m->ep;
        g_queue_push_tail_link(&m->connections, &connection_ref(c)->link);

        r = sd_bus_add_object_vtable(c->bus, &c->object_slots[0], m->path, IPCBUS_INTERFACE_MAIN, main_vtable, c);
        if (r < 0)
                goto fail;
        r = sd_bus_add_object_vtable(c->bus, &c->object_slots[1], m->path, IPCBUS_INTERFACE_CHANNEL,
                                     channel_vtable, c);
        if (r < 0)
                goto fail;
        r = main_typed_serve_connection(m, c);
        if (r < 0)
                goto fail;
        r = sd_bus_add_filter(c->bus, &c->filter_slot, main_filter, c);
        if (r < 0)
                goto fail;
        c->filter = main_filter;
        r = connection_attach_event(c, m->ep.event, m->ep.priority);
        if (r < 0)
                goto fail;
        return 0;
fail:
        main_drop_connection(m, c);
        return r;
}

/* Serve on a bus connection and take the name there. */
static int main_serve_bus(ipcbus_main *m, connection *c) {
        int r;

        r = main_add_connection(m, c);
        if (r < 0)
                return r;
        /* Serve before owning the name, so no caller finds it unserved. */
        r = sd_bus_request_name(c->bus, m->name, 0);
        c->named = r >= 0;
        if (r < 0) {
                log_emit(&m->ep.log, LOG_ERR, "Cannot own '%s': %s", m->name, g_strerror(-r));
                main_drop_connection(m, c);
                return r;
        }
        return 0;
}

static int main_open(ipcbus_main *m, connection_bus kind, const char *address) {
        _cleanup_(connection_unrefp) connection *c = NULL;
        int r;

        r = connection_open_bus(&c, kind, address);
        if (r < 0)
                return r;
        return main_serve_bus(m, c);
}

int ipcbus_main_open_user(ipcbus_main *m) {
        assert_return(m, NULL, -EINVAL);
        return main_open(m, CONNECTION_USER, NULL);
}

int ipcbus_main_open_system(ipcbus_main *m) {
        assert_return(m, NULL, -EINVAL);
        return main_open(m, CONNECTION_SYSTEM, NULL);
}

int ipcbus_main_open_default(ipcbus_main *m) {
        assert_return(m, NULL, -EINVAL);
        return main_open(m, CONNECTION_DEFAULT, NULL);
}

int ipcbus_main_open_address(ipcbus_main *m, const char *address) {
        assert_return(m, NULL, -EINVAL);
        assert_return(address, &m->ep.log, -EINVAL);
        return main_open(m, CONNECTION_ADDRESS, address);
}

sd_bus *ipcbus_main_get_bus(ipcbus_main *m) {
        assert_return(m, NULL, NULL);
        /* In the order they were opened; a closed one is dropped at once. */
        for (GList *l = m->connections.head; l; l = l->next) {
                connection *c = l->data;

                if (!c->direct && connection_is_open(c))
                        return c->bus;
        }
        return NULL;
}

int ipcbus_main_add_bus(ipcbus_main *m, sd_bus *bus) {
        _cleanup_(connection_unrefp) connection *c = NULL;
        int r;

        assert_return(m, NULL, -EINVAL);
        assert_return(bus, &m->ep.log, -EINVAL);
        r = connection_new_from_bus(&c, bus);
        if (r < 0)
                return r;
        return main_serve_bus(m, c);
}

int main_add_direct(ipcbus_main *m, connection *c, ipcbus_web_contents **ret_web_contents) {
        ipcbus_web_contents *wc;
        int r;

        r = main_add_connection(m, c);
        if (r < 0)
                return r;
        /* The main made this connection: its renderer is known from the start. */
        wc = main_peer_new_direct(m, c);
        main_fire_lifecycle(m, &m->on_attached, wc);
        if (ret_web_contents)
                *ret_web_contents = ipcbus_web_contents_ref(wc);
        return 0;
}

int ipcbus_main_add_direct(ipcbus_main *m, int fd, ipcbus_web_contents **ret_web_contents) {
        _cleanup_(connection_unrefp) connection *c = NULL;
        int r;

        if (!m && fd >= 0)
                (void)close(fd);
        assert_return(m, NULL, -EINVAL);
        r = connection_open_direct(&c, fd, true);
        if (r < 0)
                return r;
        return main_add_direct(m, c, ret_web_contents);
}

/* ---- ipcMain ------------------------------------------------------------ */

int ipcbus_main_on(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel, ipcbus_listener_fn fn,
                   void *userdata) {
        assert_return(m, NULL, -EINVAL);
        assert_return(channel, &m->ep.log, -EINVAL);
        assert_return(fn, &m->ep.log, -EINVAL);
        return registry_add_listener(&m->ep.registry, ret_slot, channel, fn, NULL, userdata, false);
}

int ipcbus_main_once(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel, ipcbus_listener_fn fn,
                     void *userdata) {
        assert_return(m, NULL, -EINVAL);
        assert_return(channel, &m->ep.log, -EINVAL);
        assert_return(fn, &m->ep.log, -EINVAL);
        return registry_add_listener(&m->ep.registry, ret_slot, channel, fn, NULL, userdata, true);
}

int ipcbus_main_remove_listener(ipcbus_main *m, const char *channel, ipcbus_listener_fn fn, void *userdata) {
        assert_return(m, NULL, -EINVAL);
        assert_return(channel, &m->ep.log, -EINVAL);
        assert_return(fn, &m->ep.log, -EINVAL);
        return registry_remove_listener(&m->ep.registry, channel, fn, NULL, userdata);
}

int ipcbus_main_on_event(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel, ipcbus_event_listener_fn fn,
                   void *userdata) {
        assert_return(m, NULL, -EINVAL);
        assert_return(channel, &m->ep.log, -EINVAL);
        assert_return(fn, &m->ep.log, -EINVAL);
        return registry_add_listener(&m->ep.registry, ret_slot, channel, NULL, fn, userdata, false);
}

int ipcbus_main_once_event(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel, ipcbus_event_listener_fn fn,
                     void *userdata) {
        assert_return(m, NULL, -EINVAL);
        assert_return(channel, &m->ep.log, -EINVAL);
        assert_return(fn, &m->ep.log, -EINVAL);
        return registry_add_listener(&m->ep.registry, ret_slot, channel, NULL, fn, userdata, true);
}

int ipcbus_main_remove_event_listener(ipcbus_main *m, const char *channel, ipcbus_event_listener_fn fn,
                                  void *userdata) {
        assert_return(m, NULL, -EINVAL);
        assert_return(channel, &m->ep.log, -EINVAL);
        assert_return(fn, &m->ep.log, -EINVAL);
        return registry_remove_listener(&m->ep.registry, channel, NULL, fn, userdata);
}

int ipcbus_main_remove_all_listeners(ipcbus_main *m, const char *channel) {
        assert_return(m, NULL, -EINVAL);
        return registry_remove_all_listeners(&m->ep.registry, channel);
}

int ipcbus_main_handle(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel, ipcbus_handler_fn fn,
                       void *userdata) {
        assert_return(m, NULL, -EINVAL);
        assert_return(channel, &m->ep.log, -EINVAL);
        assert_return(fn, &m->ep.log, -EINVAL);
        return registry_add_handler(&m->ep.registry, ret_slot, channel, fn, userdata, false);
}

int ipcbus_main_handle_once(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel, ipcbus_handler_fn fn,
                            void *userdata) {
        assert_return(m, NULL, -EINVAL);
        assert_return(channel, &m->ep.log, -EINVAL);
        assert_return(fn, &m->ep.log, -EINVAL);
        return registry_add_handler(&m->ep.registry, ret_slot, channel, fn, userdata, true);
}

int ipcbus_main_remove_handler(ipcbus_main *m, const char *channel) {
        assert_return(m, NULL, -EINVAL);
        assert_return(channel, &m->ep.log, -EINVAL);
        return registry_remove_handler(&m->ep.registry, channel);
}

int ipcbus_main_on_attached(ipcbus_main *m, ipcbus_slot **ret_slot, ipcbus_web_contents_fn fn, void *userdata) {
        assert_return(m, NULL, -EINVAL);
        assert_return(fn, &m->ep.log, -EINVAL);
        return slot_list_add(&m->on_attached, ret_slot, (void *)fn, userdata);
}

int ipcbus_main_on_detached(ipcbus_main *m, ipcbus_slot **ret_slot, ipcbus_web_contents_fn fn, void *userdata) {
        assert_return(m, NULL, -EINVAL);
        assert_return(fn, &m->ep.log, -EINVAL);
        return slot_list_add(&m->on_detached, ret_slot, (void *)fn, userdata);
}

/* ---- webContents lookups and broadcast ---------------------------------- */

int ipcbus_main_get_web_contents(ipcbus_main *m, uint64_t id, ipcbus_web_contents **ret) {
        ipcbus_web_contents *wc;

        assert_return(m, NULL, -EINVAL);
        assert_return(ret, &m->ep.log, -EINVAL);
        wc = g_hash_table_lookup(m->by_id, &id);
        if (!wc)
                return -ENOENT;
        *ret = ipcbus_web_contents_ref(wc);
        return 0;
}

int ipcbus_main_find_web_contents(ipcbus_main *m, const char *name, ipcbus_web_contents **ret) {
        GHashTableIter it;
        ipcbus_web_contents *wc, *best = NULL;

        assert_return(m, NULL, -EINVAL);
        assert_return(name, &m->ep.log, -EINVAL);
        assert_return(ret, &m->ep.log, -EINVAL);
        /* A restarted renderer may attach before its old self is noticed
         * gone: the newest one with the name wins. */
        g_hash_table_iter_init(&it, m->by_id);
        while (g_hash_table_iter_next(&it, NULL, (void **)&wc))
                if (streq_ptr(wc->name, name) && (!best || wc->id > best->id))
                        best = wc;
        if (!best)
                return -ENOENT;
        *ret = ipcbus_web_contents_ref(best);
        return 0;
}

static int compare_by_id(const void *a, const void *b) {
        const ipcbus_web_contents *x = *(ipcbus_web_contents *const *)a, *y = *(ipcbus_web_contents *const *)b;

        return x->id < y->id ? -1 : x->id > y->id;
}

int ipcbus_main_get_all_web_contents(ipcbus_main *m, ipcbus_web_contents ***ret) {
        GHashTableIter it;
        ipcbus_web_contents *wc, **array;
        unsigned n = 0;

        assert_return(m, NULL, -EINVAL);
        assert_return(ret, &m->ep.log, -EINVAL);
        array = g_new0(ipcbus_web_contents *, g_hash_table_size(m->by_id) + 1);
        g_hash_table_iter_init(&it, m->by_id);
        while (g_hash_table_iter_next(&it, NULL, (void **)&wc))
                array[n++] = ipcbus_web_contents_ref(wc);
        qsort(array, n, sizeof(*array), compare_by_id);
        *ret = array;
        return (int)n;
}

/*
 * A large value broadcast to renderers that take it out of band goes to
 * each attached renderer of the connection as a unicast (out of band where
 * it can), since a bus broadcast reaches everyone in the same form; peers
 * that never attached do not get it then. Below the threshold, or with
 * nobody on the connection to take it, it is one broadcast as always.
 */
static bool main_broadcast_large(ipcbus_main *m, connection *c, GVariant *args) {
        GHashTableIter it;
        ipcbus_web_contents *wc;

        if (!m->ep.large_values || !value_large_wanted(args))
                return false;
        if (c->direct)
                return false; /* one peer: web contents' send decides */
        g_hash_table_iter_init(&it, m->by_id);
        while (g_hash_table_iter_next(&it, NULL, (void **)&wc))
                if (wc->conn == c && wc->large.takes)
                        return true;
        return false;
}

static int main_broadcast_each(ipcbus_main *m, connection *c, const char *channel, GVariant *args) {
        _cleanup_(freep) ipcbus_web_contents **all = NULL;
        int n, r, ret = 0;

        n = ipcbus_main_get_all_web_contents(m, &all);
        for (int i = 0; i < n; i++) {
                if (all[i]->conn == c) {
                        r = ipcbus_web_contents_send(all[i], channel, g_variant_ref(args));
                        if (r < 0 && ret == 0)
                                ret = r;
                }
                ipcbus_web_contents_unref(all[i]);
        }
        return ret;
}

int ipcbus_main_broadcastfv(ipcbus_main *m, const char *channel, const char *types, va_list ap) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        GVariant *args = NULL;
        int r;

        assert_return(m, NULL, -EINVAL);
        assert_return(channel, &m->ep.log, -EINVAL);
        /* Made once: each connection gets a message of its own, and a
         * declared channel's typed face is made from the GVariant. */
        r = value_args_va_build(types, ap, &error, &args);
        if (r < 0) {
                log_emit(&m->ep.log, LOG_ERR, "Cannot broadcast on '%s': %s", channel,
                         error.message ? error.message : g_strerror(-r));
                return r;
        }
        /* Not floating: the broadcast takes a reference of its own. */
        r = ipcbus_main_broadcast(m, channel, args);
        g_variant_unref(args);
        return r;
}

int ipcbus_main_broadcastf(ipcbus_main *m, const char *channel, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = ipcbus_main_broadcastfv(m, channel, types, ap);
        va_end(ap);
        return r;
}

int ipcbus_main_broadcast(ipcbus_main *m, const char *channel, GVariant *args) {
        _cleanup_(g_variant_unrefp) GVariant *a = variant_take(args);
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        typed_channel *typed;
        int r, ret = 0;

        assert_return(m, NULL, -EINVAL);
        assert_return(channel, &m->ep.log, -EINVAL);
        r = main_typed_check_event(&m->ep, channel, a, &typed);
        if (r < 0)
                return r;
        /* One signal per connection: bus peers subscribed to the main's
         * name get the broadcast, each direct renderer its own copy. */
        for (GList *l = m->connections.head; l; l = l->next) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
                connection *c = l->data;

                if (!connection_is_open(c))
                        continue;
                if (main_broadcast_large(m, c, a)) {
                        /* Each renderer of the connection its own copy. */
                        r = main_broadcast_each(m, c, channel, a);
                        if (r < 0 && ret == 0)
                                ret = r;
                        continue;
                }
                /* A direct connection has one peer: its own form. */
                r = wire_message_new(c->bus, m->path, NULL, channel, a,
                                     c->direct && c->peer ? &((ipcbus_web_contents *)c->peer)->large : NULL,
                                     &error, &msg);
                if (r < 0) {
                        log_emit(&m->ep.log, LOG_ERR, "Cannot broadcast on '%s': %s", channel,
                                 error.message ? error.message : g_strerror(-r));
                        return r;
                }
                r = connection_send(c, msg, NULL);
                /* Its typed face too, for busctl and gdbus subscribers. */
                if (r >= 0 && typed)
                        r = main_typed_emit(&m->ep, c, NULL, typed, a);
                if (r < 0 && ret == 0)
                        ret = r;
                sd_bus_error_free(&error);
        }
        return ret;
}

int ipcbus_main_on_bus_closed(ipcbus_main *m, ipcbus_slot **ret_slot, ipcbus_main_bus_fn fn, void *userdata) {
        assert_return(m, NULL, -EINVAL);
        assert_return(fn, &m->ep.log, -EINVAL);
        return slot_list_add(&m->on_bus_closed, ret_slot, (void *)fn, userdata);
}

int ipcbus_main_set_exit_on_bus_closed(ipcbus_main *m, bool b) {
        assert_return(m, NULL, -EINVAL);
        m->stay_without_bus = !b;
        return 0;
}
