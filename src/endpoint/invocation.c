/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>

#include "endpoint.h"
#include "errors.h"
#include "invocation.h"
#include "log.h"
#include "slot.h"
#include "typed.h"
#include "util.h"
#include "value.h"
#include "value-large.h"
#include "web-contents.h"

ipcbus_invocation *invocation_new(sd_bus_message *call, connection *conn, const char *channel, GVariant *args,
                                  ipcbus_web_contents *sender) {
        ipcbus_invocation *inv = g_new0(ipcbus_invocation, 1);

        inv->n_ref = 1;
        inv->call = sd_bus_message_ref(call);
        inv->conn = connection_ref(conn);
        inv->channel = channel;
        inv->args = args;
        inv->sender = ipcbus_web_contents_ref(sender);
        /* Counted against the sender's calls in flight until answered. */
        if (sender)
                sender->calls_in_flight++;
        /* A tracked sender that leaves is forgotten (NameOwnerChanged):
         * then the caller is gone though the bus connection is open. */
        inv->sender_tracked = sender && sender->known;
        return inv;
}

/* Where a refused call on @inv is logged: its endpoint's log function,
 * while the connection it came on still serves one. */
static const log_target *invocation_log(ipcbus_invocation *inv) {
        return inv->conn && inv->conn->ep ? &inv->conn->ep->log : NULL;
}

/* Send the reply or error, whichever @reply is. */
static int invocation_send(ipcbus_invocation *inv, sd_bus_message *reply) {
        int r;

        inv->completed = true;
        if (inv->sender)
                inv->sender->calls_in_flight--;
        if (!connection_is_open(inv->conn))
                return -ENOTCONN;
        if (inv->sender_tracked && !inv->sender->known)
                return -ENOTCONN;
        r = sd_bus_send(inv->conn->bus, reply, NULL);
        value_large_refill();
        return r < 0 ? r : 0;
}

static int invocation_fail(ipcbus_invocation *inv, const sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_error(inv->call, &reply, error);
        if (r < 0)
                return r;
        return invocation_send(inv, reply);
}

int ipcbus_invocation_return_value(ipcbus_invocation *inv, GVariant *value) {
        _cleanup_(g_variant_unrefp) GVariant *v = variant_take(value);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        assert_return(inv, NULL, -EINVAL);
        if (inv->completed)
                return -EALREADY;

        if (inv->typed && !typed_channel_result_matches(inv->typed, v)) {
                (void)invocation_error_result(&error, inv->typed, v);
                log_emit(invocation_log(inv), LOG_ERR, "%s", error.message);
                (void)invocation_fail(inv, &error);
                return -EINVAL;
        }
        r = sd_bus_message_new_method_return(inv->call, &reply);
        if (r < 0)
                return r;
        if (!inv->typed_reply)
                r = value_append_variant_any(reply, v, inv->conn->ep->ops->large_peer(inv->conn->ep, inv->sender),
                                             &error);
        else if (streq(inv->typed->result ? inv->typed->result : "", "v"))
                r = value_append_variant(reply, v, &error);
        else if (inv->typed->result)
                r = value_append(reply, v, 0, &error);
        else
                r = 0; /* declared without a result: the method returns nothing */
        if (r < 0) {
                /* The caller must not hang on a value we cannot carry: it
                 * learns why instead. */
                (void)invocation_fail(inv, &error);
                return r;
        }
        return invocation_send(inv, reply);
}

int invocation_error_result(sd_bus_error *error, const typed_channel *t, GVariant *value) {
        _cleanup_(freep) char *message = g_strdup_printf(
                "the handler returned %s%s%s, but '%s' is declared to return '%s'", value ? "a value of type '" : "",
                value ? g_variant_get_type_string(value) : "undefined", value ? "'" : "", t->channel, t->result);

        return error_handler_failed(error, t->channel, "TypeError", message);
}

/* Reject with @name, or with HandlerFailed of @kind when @name is NULL. */
static __attribute__((format(printf, 4, 0))) int invocation_reject(ipcbus_invocation *inv, const char *name,
                                                                   const char *kind, const char *format,
                                                                   va_list ap) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *message = NULL;

        if (inv->completed)
                return -EALREADY;
        if (name && !sd_bus_interface_name_is_valid(name))
                return -EINVAL;
        if (kind && !g_utf8_validate(kind, -1, NULL))
                return -EINVAL;

        message = g_strdup_vprintf(format, ap);
        if (name)
                (void)sd_bus_error_set(&error, name, message);
        else
                (void)error_handler_failed(&error, inv->channel, kind, message);
        return invocation_fail(inv, &error);
}

int ipcbus_invocation_return_error(ipcbus_invocation *inv, const char *name, const char *format, ...) {
        va_list ap;
        int r;

        assert_return(inv, NULL, -EINVAL);
        assert_return(format, invocation_log(inv), -EINVAL);
        va_start(ap, format);
        r = invocation_reject(inv, name, NULL, format, ap);
        va_end(ap);
        return r;
}

int ipcbus_invocation_return_error_kind(ipcbus_invocation *inv, const char *kind, const char *format, ...) {
        va_list ap;
        int r;

        assert_return(inv, NULL, -EINVAL);
        assert_return(format, invocation_log(inv), -EINVAL);
        va_start(ap, format);
        r = invocation_reject(inv, NULL, kind, format, ap);
        va_end(ap);
        return r;
}

bool ipcbus_invocation_is_completed(ipcbus_invocation *inv) {
        assert_return(inv, NULL, false);
        return inv->completed;
}

ipcbus_invocation *ipcbus_invocation_ref(ipcbus_invocation *inv) {
        if (inv)
                inv->n_ref++;
        return inv;
}

ipcbus_invocation *ipcbus_invocation_unref(ipcbus_invocation *inv) {
        if (!inv || --inv->n_ref > 0)
                return NULL;

        if (!inv->completed)
                (void)ipcbus_invocation_return_error(inv, NULL,
                                                     "the handler dropped the invocation without answering");
        sd_bus_message_unref(inv->call);
        connection_unref(inv->conn);
        g_variant_unref(inv->args);
        ipcbus_web_contents_unref(inv->sender);
        typed_channel_unref(inv->typed);
        g_free(inv);
        return NULL;
}

void ipcbus_invocation_unrefp(ipcbus_invocation **inv) {
        if (inv && *inv)
                ipcbus_invocation_unref(*inv);
}

const char *ipcbus_invocation_get_channel(ipcbus_invocation *inv) {
        assert_return(inv, NULL, NULL);
        return inv->channel;
}

GVariant *ipcbus_invocation_get_args(ipcbus_invocation *inv) {
        assert_return(inv, NULL, NULL);
        return inv->args;
}

ipcbus_web_contents *ipcbus_invocation_get_sender(ipcbus_invocation *inv) {
        assert_return(inv, NULL, NULL);
        return inv->sender;
}

const char *ipcbus_invocation_get_sender_bus_name(ipcbus_invocation *inv) {
        assert_return(inv, NULL, NULL);
        return sd_bus_message_get_sender(inv->call);
}

void invocation_run(ipcbus_invocation *inv, ipcbus_slot *handler) {
        int r;

        slot_run_begin(handler);
        r = handler->handler.fn(inv, inv->args, handler->userdata);
        slot_run_end(handler);

        if (!inv->completed) {
                if (r < 0)
                        (void)ipcbus_invocation_return_error(inv, NULL, "%s", g_strerror(-r));
                else if (inv->n_ref == 1)
                        /* Returned without answering or keeping it: undefined. */
                        (void)ipcbus_invocation_return_value(inv, NULL);
        }
        ipcbus_invocation_unref(inv);
}
