/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A peer as the main sees it (ipcbus_web_contents): an attached renderer,
 * or a peer that talks without attaching. */

#include <ipcbus/ipcbus.h>

#include "connection.h"
#include "creds.h"
#include "value-large.h"

struct ipcbus_web_contents {
        unsigned n_ref;
        ipcbus_main *main;     /* weak: cleared when the main forgets it */
        struct endpoint *ep;   /* the main as an endpoint (its log, its calls); with main */
        const char *path;      /* the main's object path; with main */
        connection *conn;
        uint64_t id;           /* 0 while not attached */
        char *name;
        char *bus_name;        /* unique name, NULL on a direct connection */
        bool attached;
        bool known;            /* in the main's tables (by_bus_name, or its direct connection) */
        ValueLargePeer large;  /* what it said at Attach it takes out of band, our ring to it (value-large.h) */
        sd_bus_slot *owner_watch; /* NameOwnerChanged for bus_name */

        peer_creds creds;      /* asked for on first use */
        ipcbus_policy *policy;
        char *class_name;
        unsigned calls_in_flight;     /* Invokes of this peer not answered yet */
        GHashTable *refusals_logged;  /* what was refused and logged once (channel or limit) */
};

int web_contents_new(ipcbus_web_contents **ret, ipcbus_main *m, struct endpoint *ep, const char *path,
                     connection *conn, const char *bus_name);

/* What the web contents knows of its main, all together; NULLs when the
 * main forgets it. */
static inline void web_contents_set_main(ipcbus_web_contents *wc, ipcbus_main *m, struct endpoint *ep,
                                         const char *path) {
        wc->main = m;
        wc->ep = ep;
        wc->path = path;
}
/* The credentials, asked for once. Return: 0 and the cached creds; a negative errno. */
int web_contents_get_creds(ipcbus_web_contents *wc, const peer_creds **ret);
