/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <time.h>

#include "bus-util.h"
#include "errors.h"
#include "event.h"
#include "invocation.h"
#include "renderer-endpoint.h"
#include "slot.h"
#include "util.h"
#include "value.h"
#include "wire.h"

#define DEFAULT_TIMEOUT_USEC (25ULL * 1000ULL * 1000ULL) /* as D-Bus */

/* What a renderer sends before its main has appeared waits here, in order. */
typedef struct pending_op {
        GList link;
        sd_bus_message *msg;
        ipcbus_slot *call;         /* an invoke: its slot (a reference) */
        bool attach;               /* the Attach call */
        uint64_t deadline;         /* CLOCK_MONOTONIC usec */
        uint64_t timeout_usec;     /* for the call once sent */
} pending_op;

static uint64_t now_usec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

static uint64_t renderer_timeout(ipcbus_renderer *r, uint64_t usec) {
        return usec ? usec : r->timeout_usec;
}

static void pending_op_free(pending_op *op) {
        sd_bus_message_unref(op->msg);
        ipcbus_slot_unref(op->call);
        g_free(op);
}

/* The links are embedded: g_queue_pop_head() would free them. */
static pending_op *pending_pop(ipcbus_renderer *r) {
        GList *l = g_queue_pop_head_link(&r->pending);

        return l ? l->data : NULL;
}

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
        r->timeout_usec = DEFAULT_TIMEOUT_USEC;
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
        pending_op *op;

        if (!r || --r->n_ref > 0)
                return NULL;

        /* Nothing is called back from here: cancel quietly. */
        while ((op = pending_pop(r)))
                pending_op_free(op);
        while (r->calls.head)
                slot_disconnect(r->calls.head->data);
        r->pending_timer = sd_event_source_disable_unref(r->pending_timer);
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
        r->timeout_usec = usec ? usec : DEFAULT_TIMEOUT_USEC;
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

/* ---- sending, and waiting for the main ----------------------------------- */

static int renderer_on_attach_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);

/* Put @op on the wire now. */
static int renderer_transmit(ipcbus_renderer *r, sd_bus_message *msg, ipcbus_slot *call, bool attach,
                             uint64_t timeout_usec) {
        int k;

        if (call)
                k = wire_call_send(r->conn->bus, call, msg, timeout_usec);
        else if (attach) {
                r->attach_call = sd_bus_slot_unref(r->attach_call);
                k = sd_bus_call_async(r->conn->bus, &r->attach_call, msg, renderer_on_attach_reply, r,
                                      timeout_usec);
        } else
                k = sd_bus_send(r->conn->bus, msg, NULL);
        return k < 0 ? k : 0;
}

static void renderer_fail_op(ipcbus_renderer *r, pending_op *op, int error) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        if (error == -ETIMEDOUT)
                (void)sd_bus_error_setf(&e, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                        "The main '%s' did not appear within %llu ms", r->main_name,
                                        (unsigned long long)(op->timeout_usec / 1000));
        else
                (void)sd_bus_error_set_errnof(&e, -error, "Cannot reach the main '%s': %s", r->main_name,
                                              g_strerror(-error));
        if (op->call)
                wire_call_fail(op->call, &e);
        else {
                if (op->attach)
                        r->attach = ATTACH_NONE;
                log_emit(&r->log, LOG_WARNING, "Dropped %s: %s",
                         op->attach ? "Attach" : sd_bus_message_get_member(op->msg), e.message);
        }
}

static void renderer_arm_pending_timer(ipcbus_renderer *r);

/* The main is there: everything queued goes out, in order. */
static void renderer_flush(ipcbus_renderer *r) {
        uint64_t now = now_usec();
        pending_op *op;

        while (r->has_main && (op = pending_pop(r))) {
                int k = 0;

                /* An invoke cancelled while it waited is simply skipped. */
                if (!op->call || op->call->connected) {
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
        renderer_arm_pending_timer(r);
}

static int renderer_on_pending_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        ipcbus_renderer *r = userdata;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *hold = ipcbus_renderer_ref(r);
        uint64_t now = now_usec();

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
        renderer_arm_pending_timer(r);
        return 0;
}

static void renderer_arm_pending_timer(ipcbus_renderer *r) {
        uint64_t earliest = UINT64_MAX;

        for (GList *l = r->pending.head; l; l = l->next)
                earliest = MIN(earliest, ((pending_op *)l->data)->deadline);
        if (earliest == UINT64_MAX) {
                if (r->pending_timer)
                        (void)sd_event_source_set_enabled(r->pending_timer, SD_EVENT_OFF);
                return;
        }
        if (!r->pending_timer) {
                if (sd_event_add_time(r->event, &r->pending_timer, CLOCK_MONOTONIC, earliest, 0,
                                      renderer_on_pending_timeout, r) < 0)
                        return;
                (void)sd_event_source_set_priority(r->pending_timer, r->priority);
                return;
        }
        (void)sd_event_source_set_time(r->pending_timer, earliest);
        (void)sd_event_source_set_enabled(r->pending_timer, SD_EVENT_ONESHOT);
}

/* Send now if the main is known and nothing waits before us; else queue. */
static int renderer_submit(ipcbus_renderer *r, sd_bus_message *msg, ipcbus_slot *call, bool attach,
                           uint64_t timeout_usec) {
        pending_op *op;

        if (!connection_is_open(r->conn))
                return -ENOTCONN;
        if (r->has_main && !r->pending.head)
                return renderer_transmit(r, msg, call, attach, timeout_usec);

        op = g_new0(pending_op, 1);
        op->link.data = op;
        op->msg = sd_bus_message_ref(msg);
        op->call = ipcbus_slot_ref(call);
        op->attach = attach;
        op->timeout_usec = timeout_usec;
        op->deadline = now_usec() + timeout_usec;
        g_queue_push_tail_link(&r->pending, &op->link);
        renderer_arm_pending_timer(r);
        return 0;
}

/* ---- the main's owner --------------------------------------------------- */

static int renderer_queue_attach(ipcbus_renderer *r);

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
        if (sd_bus_message_is_signal(msg, "org.freedesktop.DBus.Local", "Disconnected")) {
                _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *hold = ipcbus_renderer_ref(r);
                pending_op *op;

                log_emit(&r->log, LOG_ERR, "Connection to the main '%s' closed", r->main_name);
                r->has_main = false;
                r->attach = ATTACH_NONE;
                r->id = 0;
                while ((op = pending_pop(r))) {
                        if (!op->call || op->call->connected)
                                renderer_fail_op(r, op, -ENOTCONN);
                        pending_op_free(op);
                }
                renderer_arm_pending_timer(r);
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
        ipcbus_slot_unref(handler);
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
        if (c->direct)
                /* The other end is the main, by construction. */
                r->has_main = true;
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
int ipcbus_renderer_wait_for_main(ipcbus_renderer *r, uint64_t timeout_usec) {
        uint64_t deadline;
        int k;

        if (!r)
                return -EINVAL;
        deadline = now_usec() + renderer_timeout(r, timeout_usec);
        while (!r->has_main) {
                uint64_t now;

                if (!connection_is_open(r->conn))
                        return -ENOTCONN;
                k = sd_bus_process(r->conn->bus, NULL);
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

/* ---- ipcRenderer ---------------------------------------------------------- */

static int renderer_new_call(ipcbus_renderer *r, const char *member, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(r->conn->bus, ret, r->conn->direct ? NULL : r->main_name,
                                              r->main_path, IPCBUS_INTERFACE_MAIN, member);
}

static int renderer_on_attach_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        ipcbus_renderer *r = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        uint64_t id;

        r->attach_call = sd_bus_slot_unref(r->attach_call);
        if (e || sd_bus_message_read(reply, "t", &id) < 0) {
                log_emit(&r->log, LOG_ERR, "Attach failed: %s", e ? e->message : "bad reply");
                r->attach = ATTACH_NONE;
                return 0;
        }
        r->id = id;
        r->attach = ATTACH_DONE;
        return 0;
}

static int renderer_new_attach(ipcbus_renderer *r, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int k;

        k = renderer_new_call(r, "Attach", &call);
        if (k < 0)
                return k;
        if (r->attach_name)
                k = sd_bus_message_append(call, "a{sv}", 1, "name", "s", r->attach_name);
        else
                k = sd_bus_message_append(call, "a{sv}", 0);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(call);
        return 0;
}

static int renderer_queue_attach(ipcbus_renderer *r) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int k;

        k = renderer_new_attach(r, &call);
        if (k < 0)
                return k;
        r->attach = ATTACH_WANTED;
        k = renderer_submit(r, call, NULL, true, r->timeout_usec);
        if (k < 0)
                r->attach = ATTACH_NONE;
        return k;
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

        if (!r)
                return -EINVAL;
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
                        (void)sd_bus_error_setf(ret_error, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                                "The main '%s' did not appear within %llu ms", r->main_name,
                                                (unsigned long long)(renderer_timeout(r, timeout_usec) / 1000));
                return k;
        }
        renderer_flush(r);
        return sd_bus_call(r->conn->bus, call, renderer_timeout(r, timeout_usec), ret_error, ret_reply);
}

int ipcbus_renderer_attach_sync(ipcbus_renderer *r, const char *name, sd_bus_error *ret_error, uint64_t *ret_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        uint64_t id;
        int k;

        if (!r)
                return -EINVAL;
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
        return 0;
}

int ipcbus_renderer_detach(ipcbus_renderer *r) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int k;

        if (!r)
                return -EINVAL;
        if (r->attach == ATTACH_NONE || !r->conn)
                return -ENOTCONN;
        k = renderer_new_call(r, "Detach", &call);
        if (k < 0)
                return k;
        /* Nobody waits for the answer. */
        k = sd_bus_message_set_expect_reply(call, 0);
        if (k < 0)
                return k;
        r->attach = ATTACH_NONE;
        r->id = 0;
        return renderer_submit(r, call, NULL, false, r->timeout_usec);
}

static void renderer_log_refused(ipcbus_renderer *r, const char *what, const char *channel, int k,
                                 const sd_bus_error *error) {
        log_emit(&r->log, LOG_ERR, "%s on '%s' refused: %s", what, strnull(channel),
                 sd_bus_error_is_set(error) ? error->message : g_strerror(-k));
}

int ipcbus_renderer_send(ipcbus_renderer *r, const char *channel, GVariant *args) {
        _cleanup_(g_variant_unrefp) GVariant *a = variant_take(args);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int k;

        if (!r)
                return -EINVAL;
        if (!r->conn)
                return -ENOTCONN;
        k = wire_message_new(r->conn->bus, IPCBUS_RENDERER_PATH, r->conn->direct ? NULL : r->main_name, channel,
                             a, &error, &msg);
        if (k < 0) {
                renderer_log_refused(r, "send", channel, k, &error);
                return k;
        }
        return renderer_submit(r, msg, NULL, false, r->timeout_usec);
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
        k = wire_append_channel_args(call, channel, args, error);
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

        if (!r || !callback)
                return -EINVAL;
        k = renderer_new_channel_call(r, "Invoke", channel, a, &error, &call);
        if (k < 0) {
                renderer_log_refused(r, "invoke", channel, k, &error);
                return k;
        }
        slot = wire_call_new(&r->calls, NULL, callback, userdata);
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

        if (!r)
                return -EINVAL;
        k = renderer_new_channel_call(r, member, channel, a, &error, &call);
        if (k >= 0)
                k = renderer_call_sync(r, call, timeout_usec, &error, &reply);
        if (k >= 0)
                k = wire_read_result(reply, &error, &result);
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
        return renderer_channel_call_sync(r, "Invoke", channel, args, timeout_usec, ret_error, ret_result);
}

int ipcbus_renderer_send_sync(ipcbus_renderer *r, const char *channel, GVariant *args, sd_bus_error *ret_error,
                              GVariant **ret_value) {
        return renderer_channel_call_sync(r, "SendSync", channel, args, 0, ret_error, ret_value);
}

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
