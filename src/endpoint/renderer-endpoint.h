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
        sd_bus_slot *channel_match;/* the main's broadcasts */

        GQueue pending;            /* of pending_op: sent once the main appears; at most IPCBUS_CONNECTION_QUEUE_MAX */
        bool pending_overflow_logged; /* an op was refused for a full pending queue; cleared below half */
        sd_event_source *pending_timer;

        attach_state attach;
        char *attach_name;
        uint64_t id;
        ipcbus_slot *attach_call;

        /* renderer-sync.c: a blocking call waiting, and what arrived
         * meanwhile, held back until the loop replays it. */
        struct sync_wait *sync_wait;
        GQueue held_back;          /* of sd_bus_message */
        sd_event_source *replay;

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

/* renderer-send.c: the queue of what waits for the main. */
void renderer_flush(ipcbus_renderer *r);                 /* the main is there: send it all, in order */
void renderer_fail_pending(ipcbus_renderer *r, int error); /* the connection is gone */
void renderer_drop_pending(ipcbus_renderer *r);          /* freeing: no callbacks */
int renderer_queue_attach(ipcbus_renderer *r);

/* renderer-endpoint.c: what the filter does with a message from the
 * connection, and what the replay does with one held back (@held: also
 * what sd-bus would have passed to matches and the object vtable).
 * Return: 1 handled; 0 not ours (sd-bus goes on with it). */
int renderer_dispatch(ipcbus_renderer *r, sd_bus_message *msg, bool held);

/* renderer-sync.c: the blocking calls. */
/* Send @call and wait for the main's reply, and only the main's: other
 * messages that arrive meanwhile are held back and dispatched, in order,
 * once the loop runs again (as sd_bus_call() holds them back). */
int renderer_call_blocking(ipcbus_renderer *r, sd_bus_message *call, const char *callee, uint64_t timeout_usec,
                           sd_bus_error *ret_error, sd_bus_message **ret_reply);
/* In the filter: the blocking call's reply, or a message to hold back.
 * Return: true if taken. */
bool renderer_sync_take(ipcbus_renderer *r, sd_bus_message *msg);
/* Dispatch what was held back, now (a tool with no loop, before it blocks
 * again). Not from inside an sd-bus callback. */
void renderer_sync_replay(ipcbus_renderer *r);
/* Freeing: drop what was held back. */
void renderer_sync_clear(ipcbus_renderer *r);
