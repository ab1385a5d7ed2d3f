/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The main's gate: the one function every incoming Message, PostMessage,
 * Invoke, SendSync and Attach passes before any listener or handler runs.
 * It names the sender, then asks the application's sender check, the
 * sender's allowlist and the per-peer limits, in that order. */
#include <errno.h>

#include "errors.h"
#include "log.h"
#include "main-gate.h"
#include "main-peers.h"
#include "policy.h"
#include "util.h"
#include "web-contents.h"

/* How many distinct refusals one peer may have logged; past that its
 * refusals are still counted but no longer logged. */
#define REFUSALS_LOGGED_MAX 64

static const uint64_t limit_defaults[_IPCBUS_LIMIT_MAX] = {
        [IPCBUS_LIMIT_CALLS_PER_PEER] = 64,
        [IPCBUS_LIMIT_ATTACH_NAME] = 255,
        [IPCBUS_LIMIT_ATTACH_PROPERTIES] = 32,
        [IPCBUS_LIMIT_PEERS_PER_CONNECTION] = 4096,
        [IPCBUS_LIMIT_LARGE_VALUE_BYTES] = IPCBUS_VALUE_LARGE_MAX,
};

static const char *const limit_names[_IPCBUS_LIMIT_MAX] = {
        [IPCBUS_LIMIT_CALLS_PER_PEER] = "calls in flight per peer",
        [IPCBUS_LIMIT_ATTACH_NAME] = "bytes in an Attach name",
        [IPCBUS_LIMIT_ATTACH_PROPERTIES] = "Attach properties",
        [IPCBUS_LIMIT_PEERS_PER_CONNECTION] = "peers per connection",
        [IPCBUS_LIMIT_LARGE_VALUE_BYTES] = "bytes in an out-of-band value",
};

static void policy_unref_notify(void *p) {
        ipcbus_policy_unref(p);
}

void main_gate_init(ipcbus_main *m) {
        memcpy(m->limits, limit_defaults, sizeof(m->limits));
        m->class_policies = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, policy_unref_notify);
}

void main_gate_done(ipcbus_main *m) {
        g_hash_table_unref(m->class_policies);
        m->renderer_policy = ipcbus_policy_unref(m->renderer_policy);
        m->unattached_policy = ipcbus_policy_unref(m->unattached_policy);
}

static const char *op_name(ipcbus_op op) {
        switch (op) {
        case IPCBUS_OP_MESSAGE:
                return "send";
        case IPCBUS_OP_SEND_SYNC:
                return "sendSync";
        case IPCBUS_OP_INVOKE:
                return "invoke";
        case IPCBUS_OP_POST_MESSAGE:
                return "postMessage";
        case IPCBUS_OP_ATTACH:
                return "attach";
        }
        return "?";
}

static bool op_is_call(ipcbus_op op) {
        return op != IPCBUS_OP_MESSAGE && op != IPCBUS_OP_POST_MESSAGE;
}

/* Log a refusal the first time this peer earns it for @what. */
static void main_log_refusal_once(ipcbus_main *m, ipcbus_web_contents *wc, const char *what, const char *why) {
        if (!wc->refusals_logged)
                wc->refusals_logged = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        if (g_hash_table_size(wc->refusals_logged) >= REFUSALS_LOGGED_MAX ||
            g_hash_table_contains(wc->refusals_logged, what))
                return;
        g_hash_table_add(wc->refusals_logged, g_strdup(what));
        log_emit(&m->ep.log, LOG_WARNING, "Refused %s from %s (id %llu%s%s): %s; logged once per peer and channel",
                 what, wc->bus_name ? wc->bus_name : "a direct connection", (unsigned long long)wc->id,
                 wc->name ? ", " : "", wc->name ? wc->name : "", why);
}

static int main_refuse(ipcbus_main *m, ipcbus_web_contents *wc, ipcbus_op op, const char *channel,
                       const char *why, sd_bus_error *error) {
        _cleanup_(freep) char *what = g_strdup_printf("%s on '%s'", op_name(op), channel ? channel : "");

        main_log_refusal_once(m, wc, op == IPCBUS_OP_ATTACH ? "attach" : what, why);
        if (!op_is_call(op)) {
                endpoint_count(&m->ep, IPCBUS_COUNTER_SIGNALS_DROPPED);
                return -EACCES;
        }
        endpoint_count(&m->ep, IPCBUS_COUNTER_CALLS_DENIED);
        return error_denied(error, op == IPCBUS_OP_ATTACH ? NULL : channel);
}

int main_refuse_limit(ipcbus_main *m, ipcbus_web_contents *wc, ipcbus_op op, ipcbus_limit limit,
                      sd_bus_error *error) {
        main_log_refusal_once(m, wc, limit_names[limit], "over its limit");
        if (!op_is_call(op)) {
                endpoint_count(&m->ep, IPCBUS_COUNTER_SIGNALS_DROPPED);
                return -ENOBUFS;
        }
        endpoint_count(&m->ep, IPCBUS_COUNTER_LIMITS_EXCEEDED);
        return error_limits_exceeded(error, limit_names[limit], m->limits[limit]);
}

/* The one policy that applies to @wc: its own, its class's, or the main's. */
static ipcbus_policy *main_policy_for(ipcbus_main *m, ipcbus_web_contents *wc) {
        ipcbus_policy *p;

        if (wc->policy)
                return wc->policy;
        if (wc->class_name) {
                p = g_hash_table_lookup(m->class_policies, wc->class_name);
                if (p)
                        return p;
        }
        return wc->attached ? m->renderer_policy : m->unattached_policy;
}

int main_admit(endpoint *ep, connection *c, sd_bus_message *msg, ipcbus_op op, const char *channel,
               ipcbus_web_contents **ret_sender, sd_bus_error *error) {
        ipcbus_main *m = main_from_endpoint(ep);
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *wc = NULL;
        int r;

        r = main_peer_get(m, c, msg, &wc);
        if (r < 0)
                return main_refuse_limit(m, wc, op, IPCBUS_LIMIT_PEERS_PER_CONNECTION, error);
        if (m->check && m->check(m, wc, op, channel, m->check_userdata) < 0)
                return main_refuse(m, wc, op, channel, "the sender check refused it", error);
        if (op != IPCBUS_OP_ATTACH && !ipcbus_policy_allows(main_policy_for(m, wc), op, channel))
                return main_refuse(m, wc, op, channel, "not in its allowlist", error);
        if (op == IPCBUS_OP_INVOKE && wc->calls_in_flight >= m->limits[IPCBUS_LIMIT_CALLS_PER_PEER])
                return main_refuse_limit(m, wc, op, IPCBUS_LIMIT_CALLS_PER_PEER, error);
        *ret_sender = TAKE_PTR(wc);
        return 0;
}

/* ---- the application's side -------------------------------------------- */

int ipcbus_main_set_sender_check(ipcbus_main *m, ipcbus_sender_check_fn fn, void *userdata) {
        assert_return(m, NULL, -EINVAL);
        m->check = fn;
        m->check_userdata = userdata;
        return 0;
}

static void policy_replace(ipcbus_policy **slot, ipcbus_policy *p) {
        ipcbus_policy_ref(p);
        ipcbus_policy_unref(*slot);
        *slot = p;
}

int ipcbus_main_set_renderer_policy(ipcbus_main *m, ipcbus_policy *policy) {
        assert_return(m, NULL, -EINVAL);
        policy_replace(&m->renderer_policy, policy);
        return 0;
}

int ipcbus_main_set_unattached_policy(ipcbus_main *m, ipcbus_policy *policy) {
        assert_return(m, NULL, -EINVAL);
        policy_replace(&m->unattached_policy, policy);
        return 0;
}

int ipcbus_main_set_class_policy(ipcbus_main *m, const char *class_name, ipcbus_policy *policy) {
        assert_return(m, NULL, -EINVAL);
        assert_return(class_name, &m->ep.log, -EINVAL);
        if (policy)
                g_hash_table_replace(m->class_policies, g_strdup(class_name), ipcbus_policy_ref(policy));
        else
                g_hash_table_remove(m->class_policies, class_name);
        return 0;
}

int ipcbus_main_set_limit(ipcbus_main *m, ipcbus_limit limit, uint64_t value) {
        assert_return(m, NULL, -EINVAL);
        assert_return((unsigned)limit < _IPCBUS_LIMIT_MAX, &m->ep.log, -EINVAL);
        if (value == 0)
                return -EINVAL;
        if (limit == IPCBUS_LIMIT_LARGE_VALUE_BYTES)
                value = MIN(value, (uint64_t)IPCBUS_VALUE_LARGE_MAX);
        m->limits[limit] = value;
        /* Read where the values are, below the gate (dispatch.c). */
        if (limit == IPCBUS_LIMIT_LARGE_VALUE_BYTES)
                m->ep.large_value_max = value;
        return 0;
}

uint64_t ipcbus_main_get_limit(ipcbus_main *m, ipcbus_limit limit) {
        assert_return(m, NULL, 0);
        assert_return((unsigned)limit < _IPCBUS_LIMIT_MAX, &m->ep.log, 0);
        return m->limits[limit];
}

int ipcbus_main_get_counter(ipcbus_main *m, ipcbus_counter counter, uint64_t *ret) {
        assert_return(m, NULL, -EINVAL);
        assert_return((unsigned)counter < _IPCBUS_COUNTER_MAX, &m->ep.log, -EINVAL);
        assert_return(ret, &m->ep.log, -EINVAL);
        *ret = m->ep.counters[counter];
        return 0;
}
