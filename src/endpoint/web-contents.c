/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "call.h"
#include "endpoint.h"
#include "log.h"
#include "typed.h"
#include "util.h"
#include "value-va.h"
#include "web-contents.h"
#include "wire.h"

int web_contents_new(ipcbus_web_contents **ret, ipcbus_main *m, endpoint *ep, const char *path, connection *conn,
                     const char *bus_name) {
        ipcbus_web_contents *wc = g_new0(ipcbus_web_contents, 1);

        wc->n_ref = 1;
        web_contents_set_main(wc, m, ep, path);
        wc->conn = connection_ref(conn);
        wc->bus_name = g_strdup(bus_name);
        wc->creds = PEER_CREDS_INIT;
        *ret = wc;
        return 0;
}

ipcbus_web_contents *ipcbus_web_contents_ref(ipcbus_web_contents *wc) {
        if (wc)
                wc->n_ref++;
        return wc;
}

ipcbus_web_contents *ipcbus_web_contents_unref(ipcbus_web_contents *wc) {
        if (!wc || --wc->n_ref > 0)
                return NULL;
        sd_bus_slot_unref(wc->owner_watch);
        connection_unref(wc->conn);
        creds_done(&wc->creds);
        ipcbus_policy_unref(wc->policy);
        g_free(wc->class_name);
        if (wc->refusals_logged)
                g_hash_table_unref(wc->refusals_logged);
        g_free(wc->name);
        g_free(wc->bus_name);
        value_large_peer_reset(&wc->large);
        g_free(wc);
        return NULL;
}

void ipcbus_web_contents_unrefp(ipcbus_web_contents **wc) {
        if (wc && *wc)
                ipcbus_web_contents_unref(*wc);
}

void ipcbus_web_contents_array_free(ipcbus_web_contents **array) {
        if (!array)
                return;
        for (ipcbus_web_contents **p = array; *p; p++)
                ipcbus_web_contents_unref(*p);
        g_free(array);
}

/* Where a refusal on @wc is logged: its main's log function, nowhere once
 * the main forgot it. */
static const log_target *web_contents_log(const ipcbus_web_contents *wc) {
        return wc->ep ? &wc->ep->log : NULL;
}

uint64_t ipcbus_web_contents_get_id(ipcbus_web_contents *wc) {
        assert_return(wc, NULL, 0);
        return wc->id;
}

const char *ipcbus_web_contents_get_name(ipcbus_web_contents *wc) {
        assert_return(wc, NULL, NULL);
        return wc->name;
}

const char *ipcbus_web_contents_get_bus_name(ipcbus_web_contents *wc) {
        assert_return(wc, NULL, NULL);
        return wc->bus_name;
}

bool ipcbus_web_contents_is_attached(ipcbus_web_contents *wc) {
        assert_return(wc, NULL, false);
        return wc->attached && connection_is_open(wc->conn);
}

ipcbus_main *ipcbus_web_contents_get_main(ipcbus_web_contents *wc) {
        assert_return(wc, NULL, NULL);
        return wc->main;
}

/* A renderer that detached or disconnected is gone for good; an unattached
 * peer (busctl) can be answered while its connection lasts. */
static bool web_contents_reachable(ipcbus_web_contents *wc) {
        if (!wc->main || !connection_is_open(wc->conn))
                return false;
        return wc->attached || wc->id == 0;
}

int ipcbus_web_contents_send(ipcbus_web_contents *wc, const char *channel, GVariant *args) {
        _cleanup_(g_variant_unrefp) GVariant *a = variant_take(args);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        typed_channel *typed;
        int r;

        assert_return(wc, NULL, -EINVAL);
        assert_return(channel, web_contents_log(wc), -EINVAL);
        if (!web_contents_reachable(wc))
                return -ENOTCONN;
        r = wc->ep->ops->check_event(wc->ep, channel, a, &typed);
        if (r < 0)
                return r;

        r = wire_message_new(wc->conn->bus, wc->path, wc->bus_name, channel, a, &wc->large, &error, &msg);
        if (r < 0) {
                log_emit(&wc->ep->log, LOG_ERR, "send on '%s' refused: %s", channel,
                         error.message ? error.message : g_strerror(-r));
                return r;
        }
        r = connection_send(wc->conn, msg, NULL);
        /* Its typed face too, to the same renderer. */
        if (r >= 0 && typed)
                r = wc->ep->ops->emit_event(wc->ep, wc->conn, wc->bus_name, typed, a);
        return r < 0 ? r : 0;
}

int ipcbus_web_contents_sendfv(ipcbus_web_contents *wc, const char *channel, const char *types, va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        typed_channel *t;
        int r;

        assert_return(wc, NULL, -EINVAL);
        assert_return(channel, web_contents_log(wc), -EINVAL);
        if (!web_contents_reachable(wc))
                return -ENOTCONN;

        /* A declared event channel checks the list and emits its typed face
         * from it: that takes the GVariant. */
        t = wc->ep->ops->typed ? wc->ep->ops->typed(wc->ep, channel) : NULL;
        if (t && t->kind == IPCBUS_CHANNEL_EVENT) {
                GVariant *args = NULL;

                r = value_args_va_build(types, ap, &error, &args);
                if (r >= 0) {
                        /* Not floating: the send takes a reference of its own. */
                        r = ipcbus_web_contents_send(wc, channel, args);
                        g_variant_unref(args);
                        return r;
                }
        } else {
                r = wire_message_new_va(wc->conn->bus, wc->path, wc->bus_name, channel, types, ap, &wc->large,
                                        &error, &msg);
                if (r >= 0) {
                        r = connection_send(wc->conn, msg, NULL);
                        return r < 0 ? r : 0;
                }
        }
        log_emit(&wc->ep->log, LOG_ERR, "send on '%s' refused: %s", channel,
                 error.message ? error.message : g_strerror(-r));
        return r;
}

int ipcbus_web_contents_sendf(ipcbus_web_contents *wc, const char *channel, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = ipcbus_web_contents_sendfv(wc, channel, types, ap);
        va_end(ap);
        return r;
}

int ipcbus_web_contents_post_message(ipcbus_web_contents *wc, const char *channel, GVariant *message,
                                     ipcbus_port *const *transfer, size_t n_transfer) {
        _cleanup_(g_variant_unrefp) GVariant *v = variant_take(message);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        assert_return(wc, NULL, -EINVAL);
        assert_return(channel, web_contents_log(wc), -EINVAL);
        if (!web_contents_reachable(wc))
                return -ENOTCONN;
        r = wire_post_message_new(wc->conn->bus, wc->path, wc->bus_name, channel, v, transfer, n_transfer,
                                  &error, &msg);
        if (r < 0) {
                log_emit(&wc->ep->log, LOG_ERR, "postMessage on '%s' refused: %s", channel,
                         error.message ? error.message : g_strerror(-r));
                return r;
        }
        r = connection_send(wc->conn, msg, NULL);
        return r < 0 ? r : 0;
}

int ipcbus_web_contents_get_queued(ipcbus_web_contents *wc, uint64_t *ret_messages) {
        assert_return(wc, NULL, -EINVAL);
        assert_return(ret_messages, web_contents_log(wc), -EINVAL);
        *ret_messages = wc->conn && connection_is_open(wc->conn) ? connection_queued(wc->conn) : 0;
        return 0;
}

int ipcbus_web_contents_invoke(ipcbus_web_contents *wc, ipcbus_slot **ret_slot, const char *channel,
                               GVariant *args, uint64_t timeout_usec, ipcbus_result_fn callback, void *userdata) {
        _cleanup_(g_variant_unrefp) GVariant *a = variant_take(args);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        assert_return(wc, NULL, -EINVAL);
        assert_return(channel, web_contents_log(wc), -EINVAL);
        assert_return(callback, web_contents_log(wc), -EINVAL);
        /* Renderer1 is served by attached renderers only. */
        if (!wc->attached || !web_contents_reachable(wc))
                return -ENOTCONN;

        r = sd_bus_message_new_method_call(wc->conn->bus, &call, wc->bus_name, IPCBUS_RENDERER_PATH,
                                           IPCBUS_INTERFACE_RENDERER, "Invoke");
        if (r < 0)
                return r;
        r = wire_append_channel_args(call, channel, a, &wc->large, &error);
        if (r < 0) {
                log_emit(&wc->ep->log, LOG_ERR, "invoke on '%s' refused: %s", channel,
                         error.message ? error.message : g_strerror(-r));
                return r;
        }
        return call_start(wc->conn, &wc->ep->calls, ret_slot, call, wc->bus_name, wc->large.takes_ring_ref,
                          timeout_usec, callback, userdata);
}

/* ---- who the peer is ------------------------------------------------------ */

int web_contents_get_creds(ipcbus_web_contents *wc, const peer_creds **ret) {
        connection *c = wc->conn;
        int r;

        if (wc->creds.state == 0) {
                if (!connection_is_open(c))
                        r = -ESRCH;
                else if (c->direct && c->spawn_pid > 0)
                        /* SO_PEERCRED of a socketpair names its maker, the
                         * main: the process it spawned is the peer. */
                        r = creds_query_pidfd(c->spawn_pidfd, c->spawn_pid, &wc->creds);
                else if (c->direct)
                        r = creds_query_socket(sd_bus_get_fd(c->bus), &wc->creds);
                else if (wc->bus_name)
                        r = creds_query_bus(c->bus, wc->bus_name, &wc->creds);
                else
                        r = -ENODATA;
                /* A peer that is gone stays gone; anything else (a reply
                 * not from the bus, a full fd table) may pass: ask again. */
                if (r < 0 && (r == -ESRCH || r == -ENODATA))
                        wc->creds.state = r;
                if (r < 0)
                        return r;
        }
        if (wc->creds.state < 0)
                return wc->creds.state;
        *ret = &wc->creds;
        return 0;
}

int ipcbus_web_contents_get_pid(ipcbus_web_contents *wc, pid_t *ret_pid) {
        const peer_creds *c;
        int r;

        assert_return(wc, NULL, -EINVAL);
        assert_return(ret_pid, web_contents_log(wc), -EINVAL);
        r = web_contents_get_creds(wc, &c);
        if (r < 0)
                return r;
        *ret_pid = c->pid;
        return 0;
}

int ipcbus_web_contents_get_uid(ipcbus_web_contents *wc, uid_t *ret_uid) {
        const peer_creds *c;
        int r;

        assert_return(wc, NULL, -EINVAL);
        assert_return(ret_uid, web_contents_log(wc), -EINVAL);
        r = web_contents_get_creds(wc, &c);
        if (r < 0)
                return r;
        *ret_uid = c->uid;
        return 0;
}

int ipcbus_web_contents_get_gid(ipcbus_web_contents *wc, gid_t *ret_gid) {
        const peer_creds *c;
        int r;

        assert_return(wc, NULL, -EINVAL);
        assert_return(ret_gid, web_contents_log(wc), -EINVAL);
        r = web_contents_get_creds(wc, &c);
        if (r < 0)
                return r;
        *ret_gid = c->gid;
        return 0;
}

int ipcbus_web_contents_get_pidfd(ipcbus_web_contents *wc) {
        const peer_creds *c;
        int r;

        assert_return(wc, NULL, -EINVAL);
        r = web_contents_get_creds(wc, &c);
        if (r < 0)
                return r;
        return c->pidfd >= 0 ? c->pidfd : -ENODATA;
}

/* ---- what the peer may do ------------------------------------------------- */

int ipcbus_web_contents_set_policy(ipcbus_web_contents *wc, ipcbus_policy *policy) {
        assert_return(wc, NULL, -EINVAL);
        ipcbus_policy_ref(policy);
        ipcbus_policy_unref(wc->policy);
        wc->policy = policy;
        return 0;
}

int ipcbus_web_contents_set_class(ipcbus_web_contents *wc, const char *class_name) {
        assert_return(wc, NULL, -EINVAL);
        g_free(wc->class_name);
        wc->class_name = g_strdup(class_name);
        return 0;
}

const char *ipcbus_web_contents_get_class(ipcbus_web_contents *wc) {
        assert_return(wc, NULL, NULL);
        return wc->class_name;
}
