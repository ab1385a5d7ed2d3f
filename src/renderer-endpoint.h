/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The renderer endpoint (ipcbus_renderer): ipcRenderer for one main. */

#include <ipcbus/ipcbus.h>
#include <time.h>

#include "endpoint.h"

typedef enum attach_state {
        ATTACH_NONE,
        ATTACH_WANTED,   /* Attach queued or in flight */
        ATTACH_DONE,
} attach_state;

struct ipcbus_renderer {
        endpoint ep;               /* first: a renderer is an endpoint */
        unsigned n_ref;
        char *main_name;
        char *main_path;
        uint64_t timeout_usec;

        connection *conn;
        char *main_owner;          /* the main's unique name; NULL while unknown */
        bool has_main;             /* the owner is known (always, on a direct connection) */
        sd_bus_slot *owner_watch;  /* NameOwnerChanged for main_name */
        ipcbus_slot *owner_query;  /* GetNameOwner in flight */
        sd_bus_slot *channel_match;/* the main's broadcasts */

        GQueue pending;            /* of pending_op: sent once the main appears */
        sd_event_source *pending_timer;

        attach_state attach;
        char *attach_name;
        uint64_t id;
        ipcbus_slot *attach_call;
};

#define RENDERER_DEFAULT_TIMEOUT_USEC (25ULL * 1000ULL * 1000ULL) /* as D-Bus */

static inline uint64_t now_usec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

static inline uint64_t renderer_timeout(ipcbus_renderer *r, uint64_t usec) {
        return usec ? usec : r->timeout_usec;
}

/* renderer-send.c: the queue of what waits for the main. */
void renderer_flush(ipcbus_renderer *r);                 /* the main is there: send it all, in order */
void renderer_fail_pending(ipcbus_renderer *r, int error); /* the connection is gone */
void renderer_drop_pending(ipcbus_renderer *r);          /* freeing: no callbacks */
int renderer_queue_attach(ipcbus_renderer *r);
