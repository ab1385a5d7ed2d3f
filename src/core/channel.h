/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Channels: the name rules and the registry of listeners (on/once) and
 * handlers (handle/handleOnce), independent of any transport. The main and
 * the renderer each own one registry.
 */

#include <ipcbus/ipcbus-common.h>

#include "log.h"
#include "slot.h"

/**
 * channel_validate - the contract's channel rules
 * Non-empty, valid UTF-8, at most IPCBUS_CHANNEL_MAX bytes.
 * Return: 0; -EINVAL with @error (may be NULL) set to InvalidArgs.
 */
int channel_validate(const char *channel, sd_bus_error *error);

struct channel_entry {
        char *name;
        GQueue listeners; /* of ipcbus_slot, registration order */
        ipcbus_slot *handler;
        struct registry *registry;
};

typedef struct registry {
        GHashTable *channels; /* name -> channel_entry */
        /* The entry a lookup found last, while it is in the table: a burst
         * of messages names one channel, and a string compare costs less
         * than hashing it. */
        struct channel_entry *last;
        const log_target *log;
        /* Told when a channel gets or loses its handler, its first or its
         * last listener (the main announces its channels: main-typed.c). */
        void (*changed)(void *userdata);
        void *changed_userdata;
} registry;

void registry_init(registry *reg, const log_target *log);
/* Ends every registration (destroy callbacks run). */
void registry_clear(registry *reg);

/* A listener is either @fn or @read (the other NULL). */
int registry_add_listener(registry *reg, ipcbus_slot **ret_slot, const char *channel, ipcbus_listener_fn fn,
                          ipcbus_event_listener_fn read, void *userdata, bool once);
int registry_remove_listener(registry *reg, const char *channel, ipcbus_listener_fn fn,
                             ipcbus_event_listener_fn read, void *userdata);
int registry_remove_all_listeners(registry *reg, const char *channel);
int registry_add_handler(registry *reg, ipcbus_slot **ret_slot, const char *channel, ipcbus_handler_fn fn,
                         void *userdata, bool once);
int registry_remove_handler(registry *reg, const char *channel);

/**
 * registry_emit - run @channel's listeners in registration order
 * Listeners added during the emit do not run for it; listeners removed
 * during it do not run any more; once listeners are removed before they run.
 * @ret_failed: optional; set to true if a listener returned < 0
 * Return: the number of listeners run.
 */
unsigned registry_emit(registry *reg, const char *channel, ipcbus_event *event, GVariant *args, bool *ret_failed);

/**
 * registry_get_handler - the handler for @channel, ready to run
 * A once handler is disconnected here, before it runs; its userdata is
 * destroyed when the returned reference is dropped.
 * Return: the slot, pinned (slot_unpin() after running), or NULL.
 */
ipcbus_slot *registry_get_handler(registry *reg, const char *channel);

/* Return: whether @channel has its handler. */
bool registry_has_handler(registry *reg, const char *channel);
/* Every channel with a handler or a listener, sorted (g_strfreev()). */
char **registry_get_channels(registry *reg);

/* Return: whether @channel has at least one listener. */
bool registry_has_listeners(registry *reg, const char *channel);
