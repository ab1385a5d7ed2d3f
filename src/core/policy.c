/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "channel.h"
#include "log.h"
#include "policy.h"
#include "util.h"

struct ipcbus_policy {
        unsigned n_ref;
        unsigned every_channel; /* ops allowed on any channel */
        GHashTable *channels;   /* channel -> the ops allowed on it (a mask) */
};

int ipcbus_policy_new(ipcbus_policy **ret) {
        ipcbus_policy *p;

        assert_return(ret, NULL, -EINVAL);
        p = g_new0(ipcbus_policy, 1);
        p->n_ref = 1;
        p->channels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        *ret = p;
        return 0;
}

ipcbus_policy *ipcbus_policy_ref(ipcbus_policy *p) {
        if (p)
                p->n_ref++;
        return p;
}

ipcbus_policy *ipcbus_policy_unref(ipcbus_policy *p) {
        if (!p || --p->n_ref > 0)
                return NULL;
        g_hash_table_unref(p->channels);
        g_free(p);
        return NULL;
}

void ipcbus_policy_unrefp(ipcbus_policy **p) {
        if (p && *p)
                ipcbus_policy_unref(*p);
}

int ipcbus_policy_allow(ipcbus_policy *p, unsigned ops, const char *channel) {
        unsigned had;

        assert_return(p, NULL, -EINVAL);
        if (!ops || (ops & ~(unsigned)IPCBUS_OP_CHANNELS))
                return -EINVAL;
        if (!channel) {
                p->every_channel |= ops;
                return 0;
        }
        if (channel_validate(channel, NULL) < 0)
                return -EINVAL;
        had = GPOINTER_TO_UINT(g_hash_table_lookup(p->channels, channel));
        g_hash_table_replace(p->channels, g_strdup(channel), GUINT_TO_POINTER(had | ops));
        return 0;
}

bool ipcbus_policy_allows(ipcbus_policy *p, ipcbus_op op, const char *channel) {
        if (!p)
                return true;
        if (p->every_channel & op)
                return true;
        return channel && (GPOINTER_TO_UINT(g_hash_table_lookup(p->channels, channel)) & op);
}
