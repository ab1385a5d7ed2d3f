/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the renderer's files share (ipcbus_renderer's fields), below all of
 * them: renderer-endpoint.c on top uses renderer-send.c, which uses
 * renderer-sync.c; each sees the renderer through this header. */

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
        sd_bus_slot *channel_match;/* the main's broadcasts */

        GQueue pending;            /* of pending_op: sent once the main appears; at most IPCBUS_CONNECTION_QUEUE_MAX */
        bool pending_overflow_logged; /* an op was refused for a full pending queue; cleared below half */
        sd_event_source *pending_timer;

        attach_state attach;
        char *attach_name;
        uint64_t id;
        ipcbus_slot *attach_call;
        /* The main's Features property named large values (asked after
         * each Attach): our values above the threshold go out of band. */
        ValueLargePeer main_large; /* what the main takes out of band, our ring to it */

        /* renderer-sync.c: a blocking call waiting, and what arrived
         * meanwhile, held back until the loop replays it. */
        struct sync_wait *sync_wait;
        GQueue held_back;          /* of sd_bus_message */
        sd_event_source *replay;

        /* renderer-endpoint.c's dispatch, for renderer-sync.c to replay
         * what it held back (@held: also what sd-bus would have passed to
         * matches and the object vtable). Return: 1 handled; 0 not ours. */
        int (*dispatch)(ipcbus_renderer *r, sd_bus_message *msg, bool held);

        GQueue on_main_appeared;   /* of lifecycle slots */
        GQueue on_main_vanished;
        bool exit_on_main_vanished;
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
