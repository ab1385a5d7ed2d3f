/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The peers a main knows: attached renderers and peers that talk without
 * attaching, each one ipcbus_web_contents for as long as its connection or
 * unique name lasts, so that what is learnt of it (credentials, refusals
 * logged, calls in flight) is learnt once. */
#include <errno.h>

#include "call.h"
#include "main-peers.h"
#include "util.h"
#include "value-ring.h"
#include "web-contents.h"

typedef struct lifecycle_call {
        ipcbus_main *m;
        ipcbus_web_contents *wc;
} lifecycle_call;

static void call_web_contents_fn(void *fn, void *userdata, void *context) {
        lifecycle_call *lc = context;

        ((ipcbus_web_contents_fn)fn)(lc->m, lc->wc, userdata);
}

void main_fire_lifecycle(ipcbus_main *m, GQueue *queue, ipcbus_web_contents *wc) {
        lifecycle_call lc = { m, wc };

        slot_list_fire(queue, call_web_contents_fn, &lc);
}

void main_forget_web_contents(ipcbus_main *m, ipcbus_web_contents *wc) {
        bool was_attached = wc->attached;

        if (!wc->known)
                return;
        wc->known = false;
        wc->attached = false;
        wc->owner_watch = sd_bus_slot_unref(wc->owner_watch);
        /* Its ring need not stay mapped here. */
        value_ring_forget(wc->conn->bus, wc->bus_name, false);
        if (m->last_peer == wc)
                m->last_peer = NULL;
        if (wc->bus_name && g_hash_table_remove(m->by_bus_name, wc->bus_name))
                wc->conn->n_peers--;
        if (was_attached) {
                g_hash_table_remove(m->by_id, &wc->id);
                main_fire_lifecycle(m, &m->on_detached, wc);
        }
        /* Whoever still holds it holds a peer of no main. */
        web_contents_set_main(wc, NULL, NULL, NULL);
        /* The tables' reference. */
        ipcbus_web_contents_unref(wc);
}

static int main_on_owner_changed(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        ipcbus_web_contents *wc = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(msg, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (!new_owner[0] && wc->main) {
                /* Calls to it end now, not at their timeout. */
                call_fail_all(wc->conn, wc->bus_name, "The renderer went away");
                main_forget_web_contents(wc->main, wc);
        }
        return 0;
}

static void main_on_owner_checked(sd_bus_message *reply, const sd_bus_error *error, void *userdata) {
        ipcbus_web_contents *wc = userdata;

        /* Gone before our watch was in place: NameOwnerChanged was missed.
         * (A local error, such as the bus closing, proves nothing.) */
        if (reply && error && wc->main)
                main_forget_web_contents(wc->main, wc);
}

static void web_contents_unref_notify(void *wc) {
        ipcbus_web_contents_unref(wc);
}

static int main_on_watch_installed(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        ipcbus_web_contents *wc = userdata;
        ipcbus_slot *s;
        int r;

        if (!wc->known || !wc->main)
                return 0;
        r = sd_bus_message_new_method_call(wc->conn->bus, &call, BUS_DRIVER_NAME, "/org/freedesktop/DBus",
                                           BUS_DRIVER_NAME, "GetNameOwner");
        if (r >= 0)
                r = sd_bus_message_append(call, "s", wc->bus_name);
        if (r < 0)
                return 0;
        s = call_new(&wc->main->ep.calls, NULL, NULL, main_on_owner_checked, ipcbus_web_contents_ref(wc));
        s->destroy = web_contents_unref_notify;
        if (call_send(wc->conn, s, call, BUS_DRIVER_NAME, false, 0) < 0)
                slot_disconnect(s);
        return 0;
}

/* Notice when a bus peer's connection goes away. */
static int main_watch_owner(ipcbus_web_contents *wc) {
        _cleanup_(freep) char *rule = NULL;

        rule = g_strdup_printf("type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                               "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='%s'",
                               wc->bus_name);
        return sd_bus_add_match_async(wc->conn->bus, &wc->owner_watch, rule, main_on_owner_changed,
                                      main_on_watch_installed, wc);
}

int main_peer_get(ipcbus_main *m, connection *c, sd_bus_message *msg, ipcbus_web_contents **ret) {
        ipcbus_web_contents *wc;
        const char *sender;
        int r;

        if (c->direct) {
                *ret = ipcbus_web_contents_ref(c->peer);
                return 0;
        }
        sender = sd_bus_message_get_sender(msg);
        if (!sender)
                wc = NULL;
        else if (m->last_peer && streq(m->last_peer->bus_name, sender))
                wc = m->last_peer;
        else
                wc = m->last_peer = g_hash_table_lookup(m->by_bus_name, sender);
        if (wc) {
                *ret = ipcbus_web_contents_ref(wc);
                return 0;
        }
        (void)web_contents_new(&wc, m, &m->ep, m->path, c, sender);
        /* No sender (a bus that does not say): answerable, never tracked. */
        if (!sender) {
                *ret = wc;
                return 0;
        }
        if (c->n_peers >= m->limits[IPCBUS_LIMIT_PEERS_PER_CONNECTION]) {
                *ret = wc;
                return -ENOBUFS;
        }
        r = main_watch_owner(wc);
        if (r < 0) {
                /* Without a watch we would never forget it: serve it untracked. */
                log_emit(&m->ep.log, LOG_WARNING, "Cannot watch %s: %s", sender, g_strerror(-r));
                *ret = wc;
                return 0;
        }
        wc->known = true;
        c->n_peers++;
        g_hash_table_insert(m->by_bus_name, wc->bus_name, ipcbus_web_contents_ref(wc));
        *ret = wc;
        return 0;
}

void main_peer_attach(ipcbus_main *m, ipcbus_web_contents *wc) {
        wc->id = ++m->next_id;
        wc->attached = true;
        g_hash_table_insert(m->by_id, &wc->id, wc);
}

ipcbus_web_contents *main_peer_new_direct(ipcbus_main *m, connection *c) {
        ipcbus_web_contents *wc;

        (void)web_contents_new(&wc, m, &m->ep, m->path, c, NULL);
        wc->known = true;
        main_peer_attach(m, wc);
        c->peer = ipcbus_web_contents_ref(wc);
        return wc;
}
