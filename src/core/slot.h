/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One registration (listener, handler, pending call, lifecycle callback).
 * Ownership as in sd-bus: a floating slot is held by its owner's container;
 * otherwise the caller holds it and the container only points at it.
 * slot_disconnect() ends the registration: it unlinks the slot through its
 * type's unlink function, runs the destroy callback and, for a floating
 * slot, drops the owner's reference.
 */

#include <ipcbus/ipcbus-slot.h>

typedef enum slot_type {
        SLOT_LISTENER,
        SLOT_HANDLER,
        SLOT_CALL,
        SLOT_LIFECYCLE,
} slot_type;

typedef struct channel_entry channel_entry;
struct connection;

/* An internal call's reply as it came (@reply), or a local error (@reply NULL). */
typedef void (*call_reply_fn)(sd_bus_message *reply, const sd_bus_error *error, void *userdata);

struct ipcbus_slot {
        unsigned n_ref;   /* the caller's references (or the owner's, floating) */
        unsigned n_pin;   /* the library's own, while it runs or queues the slot */
        slot_type type;
        bool floating;
        bool connected;
        bool once;
        void *userdata;
        ipcbus_destroy_fn destroy;
        /* Set by slot_disconnect_deferred(): a once registration is removed
         * before it runs, but its userdata must outlive that run. */
        ipcbus_destroy_fn deferred_destroy;
        /* Calls of this registration's callback under way: a registration
         * removed from inside its own callback keeps its userdata until the
         * callback returns, as sd-bus does. */
        unsigned running;
        /* Unlinks the slot from its owner; called once by slot_disconnect(). */
        void (*unlink)(ipcbus_slot *slot);
        /* The owner's container link (listener lists, lifecycle lists, calls). */
        GList link;
        union {
                struct {
                        channel_entry *entry;
                        ipcbus_listener_fn fn;        /* gets the arguments as a GVariant */
                        ipcbus_event_listener_fn read; /* or reads them from the event */
                } listener;
                struct {
                        channel_entry *entry;
                        ipcbus_handler_fn fn;
                } handler;
                struct {
                        ipcbus_result_fn fn;     /* a "v" reply, decoded */
                        call_reply_fn raw;       /* or the reply as it came */
                        GQueue *queue;           /* the owner's calls */
                        struct connection *conn; /* while sent: where the reply comes */
                        uint64_t cookie;         /* 0 until sent */
                        sd_bus_message *msg;     /* while held on a direct connection, unsent */
                        char *callee;            /* the only sender whose reply counts; NULL on a direct connection */
                        bool via_name;           /* sent to a well-known name: its current owner counts too */
                        bool names_rings;        /* the callee names rings by reference (value-large.h) */
                        uint64_t deadline;       /* CLOCK_MONOTONIC usec */
                        GList deadline_link;     /* in conn->call_deadlines */
                } call;
                struct {
                        void *fn;
                        GQueue *queue;
                } lifecycle;
        };
};

/* A new connected slot with one reference (the caller's, or the owner's when
 * @floating). */
ipcbus_slot *slot_new(slot_type type, bool floating, void *userdata, void (*unlink)(ipcbus_slot *slot));

void slot_disconnect(ipcbus_slot *slot);

/*
 * Keep a slot's memory while the library works with it (an emit's snapshot,
 * a queued call). A pin never keeps the registration alive: when the
 * caller's last reference goes, the slot disconnects at once, and a pinned
 * one is freed at its last unpin. Pinned code checks slot->connected.
 */
ipcbus_slot *slot_pin(ipcbus_slot *slot);
void slot_unpin(ipcbus_slot *slot);

/* Around a call of the slot's callback (listener, handler, port events). */
void slot_run_begin(ipcbus_slot *slot);
void slot_run_end(ipcbus_slot *slot);

/* Disconnect now, destroy the userdata at slot_finish_deferred() (or when
 * the last reference goes). For once listeners and handlers. */
void slot_disconnect_deferred(ipcbus_slot *slot);
void slot_finish_deferred(ipcbus_slot *slot);

/*
 * Hand a freshly registered slot to the caller (ret_slot) or keep it
 * floating: the pattern every *_on / *_handle / *_invoke ends with.
 */
static inline void slot_hand_over(ipcbus_slot *slot, ipcbus_slot **ret_slot) {
        if (ret_slot)
                *ret_slot = slot;
}

/* Lifecycle callbacks (attached/detached): a plain list of slots. */
int slot_list_add(GQueue *queue, ipcbus_slot **ret_slot, void *fn, void *userdata);
void slot_list_clear(GQueue *queue);
/* Run every callback of @queue through @call (which knows the callback's
 * type), in order, on a snapshot: callbacks may add or remove any. */
void slot_list_fire(GQueue *queue, void (*call)(void *fn, void *userdata, void *context), void *context);
