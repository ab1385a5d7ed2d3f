/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <time.h>

#include "call.h"
#include "endpoint.h"
#include "util.h"
#include "wire.h"

/* As sd-bus: a call with no timeout of its own waits this long. */
#define CALL_DEFAULT_TIMEOUT_USEC (25ULL * 1000ULL * 1000ULL)
/* How many distinct senders of stray replies a connection remembers, so
 * that each is logged once; past that, nobody more is logged. */
#define CALL_FORGERS_MAX 64

static uint64_t call_now(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

/* Take @s off its connection: no reply or timeout reaches it any more. */
static void call_detach(ipcbus_slot *s) {
        connection *c = s->call.conn;

        if (!c)
                return;
        if (s->call.cookie && c->calls)
                g_hash_table_remove(c->calls, &s->call.cookie);
        g_queue_unlink(&c->call_deadlines, &s->call.deadline_link);
        s->call.conn = NULL;
        s->call.cookie = 0;
        s->call.msg = sd_bus_message_unref(s->call.msg);
        g_free(s->call.callee);
        s->call.callee = NULL;
        connection_unref(c);
}

static void call_unlink(ipcbus_slot *s) {
        g_queue_unlink(s->call.queue, &s->link);
        call_detach(s);
}

int call_reply_error(sd_bus_message *reply, sd_bus_error *error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        /* The bus answers NoReply for a callee that disconnected first:
         * that is the peer gone, not a timeout. */
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) &&
            streq_ptr(sd_bus_message_get_sender(reply), BUS_DRIVER_NAME)) {
                (void)sd_bus_error_setf(error, IPCBUS_ERROR_DISCONNECTED, "The peer went away without answering (%s)",
                                        strnull(e->message));
                return -ENOTCONN;
        }
        (void)sd_bus_error_copy(error, e);
        return -sd_bus_message_get_errno(reply);
}

/* Deliver the outcome once, then end the registration. */
static void call_finish(ipcbus_slot *s, sd_bus_message *reply, const sd_bus_error *error) {
        _cleanup_(sd_bus_error_free) sd_bus_error decoded = SD_BUS_ERROR_NULL;
        _cleanup_(g_variant_unrefp) GVariant *result = NULL;

        if (!error && sd_bus_message_is_method_error(reply, NULL)) {
                (void)call_reply_error(reply, &decoded);
                error = &decoded;
        }

        slot_pin(s);
        call_detach(s);
        if (s->connected) {
                slot_run_begin(s);
                if (s->call.raw)
                        s->call.raw(reply, error, s->userdata);
                else if (s->call.fn) {
                        if (!error) {
                                (void)wire_read_result(reply, s->call.names_rings, &decoded, &result);
                                if (sd_bus_error_is_set(&decoded))
                                        error = &decoded;
                        }
                        (void)s->call.fn(result, error, s->userdata);
                }
                slot_run_end(s);
        }
        slot_disconnect(s);
        slot_unpin(s);
}

ipcbus_slot *call_new(GQueue *calls, ipcbus_slot **ret_slot, ipcbus_result_fn fn, call_reply_fn raw,
                      void *userdata) {
        ipcbus_slot *s = slot_new(SLOT_CALL, !ret_slot, userdata, call_unlink);

        s->call.fn = fn;
        s->call.raw = raw;
        s->call.queue = calls;
        s->call.deadline_link.data = s;
        g_queue_push_tail_link(calls, &s->link);
        slot_hand_over(s, ret_slot);
        return s;
}

static int call_on_timer(sd_event_source *source, uint64_t usec, void *userdata);

/* Wake up at the earliest deadline. A call that ends early leaves the
 * timer as it was: it finds nothing expired and moves on. */
static int call_arm(connection *c) {
        ipcbus_slot *first = c->call_deadlines.head ? c->call_deadlines.head->data : NULL;
        uint64_t when;
        int r;

        if (!first)
                return c->call_timer ? sd_event_source_set_enabled(c->call_timer, SD_EVENT_OFF) : 0;
        when = first->call.deadline;
        if (!c->call_timer) {
                if (!c->event)
                        return -ENOTCONN;
                r = sd_event_add_time(c->event, &c->call_timer, CLOCK_MONOTONIC, when, 1000, call_on_timer, c);
                if (r < 0)
                        return r;
                return 0;
        }
        r = sd_event_source_set_time(c->call_timer, when);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(c->call_timer, SD_EVENT_ONESHOT);
}

static int call_on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        connection *c = connection_ref(userdata);
        uint64_t now = call_now();
        GList *l;

        while ((l = c->call_deadlines.head) && ((ipcbus_slot *)l->data)->call.deadline <= now)
                call_finish(l->data, NULL, &SD_BUS_ERROR_MAKE_CONST(SD_BUS_ERROR_NO_REPLY, "Method call timed out"));
        (void)call_arm(c);
        connection_unref(c);
        return 0;
}

/* Keep the deadlines sorted; calls mostly come in deadline order. */
static void call_insert_deadline(connection *c, ipcbus_slot *s) {
        GList *l = c->call_deadlines.tail;

        while (l && ((ipcbus_slot *)l->data)->call.deadline > s->call.deadline)
                l = l->prev;
        if (l)
                g_queue_insert_after_link(&c->call_deadlines, l, &s->call.deadline_link);
        else
                g_queue_push_head_link(&c->call_deadlines, &s->call.deadline_link);
}

static void call_register(connection *c, ipcbus_slot *s, uint64_t cookie) {
        if (!c->calls)
                c->calls = g_hash_table_new(g_int64_hash, g_int64_equal);
        s->call.cookie = cookie;
        g_hash_table_insert(c->calls, &s->call.cookie, s);
}

int call_send(connection *c, ipcbus_slot *s, sd_bus_message *m, const char *callee, bool via_name,
              uint64_t timeout_usec) {
        bool first;
        uint64_t cookie;
        int r;

        assert(!s->call.conn);
        s->call.deadline = call_now() + (timeout_usec ?: CALL_DEFAULT_TIMEOUT_USEC);
        s->call.callee = c->direct ? NULL : g_strdup(callee);
        s->call.via_name = via_name;
        s->call.conn = connection_ref(c);
        call_insert_deadline(c, s);
        first = c->call_deadlines.head == &s->call.deadline_link;
        if (first) {
                r = call_arm(c);
                if (r < 0)
                        goto fail;
        }

        r = connection_send(c, m, &cookie);
        if (r < 0)
                goto fail;
        if (r > 0)
                /* Held until the peer has spoken: call_register_held(). */
                s->call.msg = sd_bus_message_ref(m);
        else
                call_register(c, s, cookie);
        return 0;
fail:
        call_detach(s);
        return r;
}

int call_watch(connection *c, ipcbus_slot *s, uint64_t cookie, const char *callee, bool via_name,
               uint64_t deadline) {
        assert(!s->call.conn);
        s->call.deadline = deadline;
        s->call.callee = c->direct ? NULL : g_strdup(callee);
        s->call.via_name = via_name;
        s->call.conn = connection_ref(c);
        call_insert_deadline(c, s);
        call_register(c, s, cookie);
        return call_arm(c);
}

static bool message_in(GPtrArray *a, sd_bus_message *m) {
        for (unsigned i = 0; a && i < a->len; i++)
                if (a->pdata[i] == m)
                        return true;
        return false;
}

void call_register_held(connection *c, GPtrArray *failed, int error) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        for (GList *l = c->call_deadlines.head, *next; l; l = next) {
                ipcbus_slot *s = l->data;
                uint64_t cookie;

                next = l->next;
                if (s->call.msg && message_in(failed, s->call.msg)) {
                        if (!sd_bus_error_is_set(&e))
                                (void)sd_bus_error_set_errnof(&e, -error, "Cannot send the call: %s",
                                                              g_strerror(-error));
                        call_finish(s, NULL, &e);
                        /* Finishing may have ended others: start over. */
                        next = c->call_deadlines.head;
                        continue;
                }
                if (!s->call.msg || sd_bus_message_get_cookie(s->call.msg, &cookie) < 0)
                        continue;
                s->call.msg = sd_bus_message_unref(s->call.msg);
                call_register(c, s, cookie);
        }
}

void call_fail(ipcbus_slot *s, const sd_bus_error *error) {
        call_finish(s, NULL, error);
}

int call_start(connection *c, GQueue *calls, ipcbus_slot **ret_slot, sd_bus_message *m, const char *callee,
               bool names_rings, uint64_t timeout_usec, ipcbus_result_fn fn, void *userdata) {
        ipcbus_slot *s = call_new(calls, NULL, fn, NULL, userdata);
        int r;

        s->call.names_rings = names_rings;
        r = call_send(c, s, m, callee, false, timeout_usec);
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

static void call_drop_stray(connection *c, sd_bus_message *reply, const char *callee) {
        const char *sender = sd_bus_message_get_sender(reply);
        uint64_t cookie = 0;

        (void)sd_bus_message_get_reply_cookie(reply, &cookie);
        if (c->ep)
                endpoint_count(c->ep, IPCBUS_COUNTER_REPLIES_DROPPED);
        if (!c->forgers)
                c->forgers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        if (g_hash_table_size(c->forgers) >= CALL_FORGERS_MAX || g_hash_table_contains(c->forgers, strnull(sender)))
                return;
        g_hash_table_add(c->forgers, g_strdup(strnull(sender)));
        if (c->ep)
                log_emit(&c->ep->log, LOG_WARNING,
                         "Dropped a reply to call %llu from %s, which was not called (%s was); "
                         "further replies from it are dropped silently",
                         (unsigned long long)cookie, strnull(sender), strnull(callee));
}

static bool call_reply_counts(connection *c, sd_bus_message *reply, const char *callee, bool via_name) {
        const char *sender;

        if (c->direct || !callee)
                return true;
        sender = sd_bus_message_get_sender(reply);
        if (!sender)
                return false;
        if (streq(sender, callee))
                return true;
        if (via_name && c->name_owner && streq(sender, c->name_owner))
                return true;
        return streq(sender, BUS_DRIVER_NAME) && sd_bus_message_is_method_error(reply, NULL);
}

bool call_reply_is_from(connection *c, sd_bus_message *reply, const char *callee, bool via_name) {
        if (call_reply_counts(c, reply, callee, via_name))
                return true;
        call_drop_stray(c, reply, callee);
        return false;
}

int call_dispatch_reply(connection *c, sd_bus_message *reply) {
        ipcbus_slot *s;
        uint64_t cookie;

        if (!c->calls || sd_bus_message_get_reply_cookie(reply, &cookie) < 0)
                return 0;
        s = g_hash_table_lookup(c->calls, &cookie);
        if (!s)
                return 0;
        if (!call_reply_is_from(c, reply, s->call.callee, s->call.via_name))
                return 1;
        call_finish(s, reply, NULL);
        return 1;
}

void call_fail_all(connection *c, const char *callee, const char *why) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        (void)sd_bus_error_set(&error, IPCBUS_ERROR_DISCONNECTED, why);
        connection_ref(c);
        for (GList *l = c->call_deadlines.head, *next; l; l = next) {
                ipcbus_slot *s = l->data;

                /* A finished call may take others along (their owner went):
                 * start over from the head. */
                next = l->next;
                if (callee && !streq_ptr(s->call.callee, callee))
                        continue;
                call_finish(s, NULL, &error);
                next = c->call_deadlines.head;
        }
        connection_unref(c);
}
