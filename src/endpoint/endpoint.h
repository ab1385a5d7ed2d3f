/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

/*
 * What the main and a renderer have in common: the loop they run on, where
 * they log, their channel registry, their outgoing calls, and the one path
 * every incoming Message, PostMessage, Invoke and SendSync takes
 * (dispatch.h). Both embed an endpoint as their first member; what differs
 * between them (who the sender is, whether it may do this) is the admit
 * function of their ops.
 */

#include <ipcbus/ipcbus.h>

#include "channel.h"
#include "connection.h"
#include "log.h"
#include "value-large.h"

typedef struct endpoint endpoint;

typedef struct endpoint_ops {
        void (*ref)(endpoint *ep);
        void (*unref)(endpoint *ep);
        /*
         * The gate: before a message is decoded any further than its
         * channel, say who sent it and whether it may. @channel is NULL for
         * Attach (the name asked for goes in @attach_name). On refusal,
         * calls get the error set in @error (Denied, LimitsExceeded);
         * signals are dropped. The admit function logs and counts what it
         * refuses. Return: 0 and the sender (a new reference, NULL in a
         * renderer); negative errno to refuse.
         */
        int (*admit)(endpoint *ep, connection *c, sd_bus_message *msg, ipcbus_op op, const char *channel,
                     ipcbus_web_contents **ret_sender, sd_bus_error *error);
        /* event.reply(): a Message back to @sender (NULL in a renderer: to
         * its main). Takes over @args as the send functions do. */
        int (*reply)(endpoint *ep, ipcbus_web_contents *sender, const char *channel, GVariant *args);
        /* The same with sd-bus-style arguments (ipcbus_event_replyf()). */
        int (*replyv)(endpoint *ep, ipcbus_web_contents *sender, const char *channel, const char *types,
                      va_list ap);
        /* The declaration of @channel (typed.h), borrowed, or NULL; NULL
         * function in a renderer, which declares nothing. */
        struct typed_channel *(*typed)(endpoint *ep, const char *channel);
        /* A send on @channel (webContents.send, broadcast): when it is a
         * declared event channel, check @args ("av", -EINVAL logged on a
         * mismatch) and set @ret to its declaration, else to NULL. Then,
         * after the Channel1.Message, emit_event sends its typed signal on
         * @c to @destination (NULL: broadcast). NULL in a renderer. */
        int (*check_event)(endpoint *ep, const char *channel, GVariant *args, struct typed_channel **ret);
        int (*emit_event)(endpoint *ep, connection *c, const char *destination, const struct typed_channel *t,
                          GVariant *args);
        /* What results for @peer (the caller; NULL in a renderer: its
         * main) may go out of band as (value-large.h); NULL: inline only. */
        ValueLargePeer *(*large_peer)(endpoint *ep, ipcbus_web_contents *peer);
        /* Stop serving @c, as when it closes (the main: its renderers
         * detach). Once per connection. */
        void (*drop_connection)(endpoint *ep, connection *c);
} endpoint_ops;

struct endpoint {
        const endpoint_ops *ops;
        sd_event *event;
        int64_t priority;
        log_target log;
        registry registry;
        GQueue calls;                /* outgoing calls in flight or queued (slots) */
        uint64_t counters[_IPCBUS_COUNTER_MAX];
        /* We take and send large values out of band (value-large.h), unless
         * IPCBUS_LARGE_VALUES=0 said otherwise when we were created. */
        bool large_values;
        /* ... and through rings (value-ring.h), unless it said "memfd". */
        bool large_rings;
        /* ... and name kept rings by reference, unless it said "ring". */
        bool large_ring_refs;
        /* Bytes of the largest argument list taken out of band from a peer
         * (IPCBUS_LIMIT_LARGE_VALUE_BYTES in a main). */
        uint64_t large_value_max;
};

/* The features a peer names to say it takes large values out of band, in
 * a memfd each and in a ring (value-large.h): in Attach's "features" (as)
 * and in Main1's Features property. */
#define ENDPOINT_FEATURE_LARGE_VALUES "large-values"
#define ENDPOINT_FEATURE_LARGE_VALUES_RING "large-values-ring"
/* And that it keeps rings it is sent, and names its own by reference once
 * the peer keeps them (value-large.h). */
#define ENDPOINT_FEATURE_LARGE_VALUES_RING_REF "large-values-ring-ref"

void endpoint_init(endpoint *ep, const endpoint_ops *ops);

/* Cancel outgoing calls without callbacks, clear the registry, drop the loop. */
void endpoint_done(endpoint *ep);

/* Return: 0; -EBUSY if already attached; sd-event errors. */
int endpoint_attach_event(endpoint *ep, sd_event *event, int64_t priority);
int endpoint_run(endpoint *ep);
int endpoint_exit(endpoint *ep, int code);

static inline endpoint *endpoint_hold(endpoint *ep) {
        ep->ops->ref(ep);
        return ep;
}

static inline void endpoint_releasep(endpoint **ep) {
        if (*ep)
                (*ep)->ops->unref(*ep);
}

static inline void endpoint_count(endpoint *ep, ipcbus_counter counter) {
        ep->counters[counter]++;
}
