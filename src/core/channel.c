/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include <ipcbus/ipcbus-event.h>

#include "channel.h"
#include "errors.h"
#include "util.h"
#include "value.h"

int channel_validate(const char *channel, sd_bus_error *error) {
        size_t n;

        if (!channel || !channel[0])
                return error_invalid_args(error, "Channel name is empty");
        n = strnlen(channel, IPCBUS_CHANNEL_MAX + 1);
        if (n > IPCBUS_CHANNEL_MAX)
                return error_invalid_args(error, "Channel name is longer than %d bytes", IPCBUS_CHANNEL_MAX);
        /* Every message checks its channel: spare ASCII names the UTF-8 scans. */
        if (value_is_plain_ascii(channel, n))
                return 0;
        if (!g_utf8_validate(channel, n, NULL))
                return error_invalid_args(error, "Channel name is not valid UTF-8");
        if (value_utf8_has_noncharacter(channel, n))
                return error_invalid_args(error, "Channel name holds a Unicode noncharacter, which D-Bus cannot carry");
        return 0;
}

static void entry_free(channel_entry *e) {
        if (e->registry->last == e)
                e->registry->last = NULL;
        g_free(e->name);
        g_free(e);
}

/* An entry lives while it has a listener or a handler. */
static void entry_maybe_drop(channel_entry *e) {
        if (e->handler || e->listeners.head)
                return;
        g_hash_table_remove(e->registry->channels, e->name);
}

static channel_entry *entry_find(registry *reg, const char *channel) {
        channel_entry *e = reg->last;

        if (e && streq(e->name, channel))
                return e;
        e = g_hash_table_lookup(reg->channels, channel);
        if (e)
                reg->last = e;
        return e;
}

static channel_entry *entry_get(registry *reg, const char *channel, bool create) {
        channel_entry *e = entry_find(reg, channel);

        if (e || !create)
                return e;
        e = g_new0(channel_entry, 1);
        e->name = g_strdup(channel);
        e->registry = reg;
        g_queue_init(&e->listeners);
        g_hash_table_insert(reg->channels, e->name, e);
        return e;
}

static int strv_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

void registry_init(registry *reg, const log_target *log) {
        reg->channels = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)entry_free);
        reg->last = NULL;
        reg->log = log;
}

void registry_clear(registry *reg) {
        GHashTableIter it;
        channel_entry *e;

        /* Nobody is told of a registry that goes. */
        reg->changed = NULL;
        if (!reg->channels)
                return;
        /* Disconnecting may drop the entry from the table: restart each time. */
        for (;;) {
                g_hash_table_iter_init(&it, reg->channels);
                if (!g_hash_table_iter_next(&it, NULL, (void **)&e))
                        break;
                if (e->handler)
                        slot_disconnect(e->handler);
                else
                        slot_disconnect(e->listeners.head->data);
        }
        g_hash_table_unref(reg->channels);
        reg->channels = NULL;
}

static void registry_changed(registry *reg) {
        if (reg->changed)
                reg->changed(reg->changed_userdata);
}

static void listener_unlink(ipcbus_slot *s) {
        channel_entry *e = s->listener.entry;
        registry *reg = e->registry;
        bool last = e->listeners.length == 1;

        g_queue_unlink(&e->listeners, &s->link);
        s->listener.entry = NULL;
        entry_maybe_drop(e);
        /* Only the first listener coming and the last going change what
         * the channel is (the hook's users ask "has it listeners?"). */
        if (last)
                registry_changed(reg);
}

int registry_add_listener(registry *reg, ipcbus_slot **ret_slot, const char *channel, ipcbus_listener_fn fn,
                          ipcbus_event_listener_fn read, void *userdata, bool once) {
        channel_entry *e;
        ipcbus_slot *s;
        int r;

        if (!fn == !read)
                return -EINVAL;
        r = channel_validate(channel, NULL);
        if (r < 0)
                return r;

        e = entry_get(reg, channel, true);
        s = slot_new(SLOT_LISTENER, !ret_slot, userdata, listener_unlink);
        s->once = once;
        s->listener.entry = e;
        s->listener.fn = fn;
        s->listener.read = read;
        g_queue_push_tail_link(&e->listeners, &s->link);
        slot_hand_over(s, ret_slot);
        if (e->listeners.length == 1)
                registry_changed(reg);
        return 0;
}

int registry_remove_listener(registry *reg, const char *channel, ipcbus_listener_fn fn,
                             ipcbus_event_listener_fn read, void *userdata) {
        channel_entry *e;

        if (!channel || !fn == !read)
                return -EINVAL;
        e = entry_get(reg, channel, false);
        if (!e)
                return 0;
        /* Like Node's EventEmitter: the most recently added match goes. */
        for (GList *l = e->listeners.tail; l; l = l->prev) {
                ipcbus_slot *s = l->data;

                if (s->listener.fn == fn && s->listener.read == read && s->userdata == userdata) {
                        slot_disconnect(s);
                        return 1;
                }
        }
        return 0;
}

static int entry_remove_listeners(channel_entry *e) {
        int n = 0;

        /* The last listener may free the entry: count before, not after. */
        for (unsigned left = e->listeners.length; left > 0; left--, n++)
                slot_disconnect(e->listeners.head->data);
        return n;
}

int registry_remove_all_listeners(registry *reg, const char *channel) {
        GList *entries;
        channel_entry *e;
        int n = 0;

        if (channel) {
                e = entry_get(reg, channel, false);
                return e ? entry_remove_listeners(e) : 0;
        }

        /* Entries without a handler are freed by their last listener: walk
         * a list taken before any of that happens. */
        entries = g_hash_table_get_values(reg->channels);
        for (GList *l = entries; l; l = l->next) {
                e = l->data;
                n += entry_remove_listeners(e);
        }
        g_list_free(entries);
        return n;
}

static void handler_unlink(ipcbus_slot *s) {
        channel_entry *e = s->handler.entry;
        registry *reg = e->registry;

        e->handler = NULL;
        s->handler.entry = NULL;
        entry_maybe_drop(e);
        registry_changed(reg);
}

int registry_add_handler(registry *reg, ipcbus_slot **ret_slot, const char *channel, ipcbus_handler_fn fn,
                         void *userdata, bool once) {
        channel_entry *e;
        ipcbus_slot *s;
        int r;

        if (!fn)
                return -EINVAL;
        r = channel_validate(channel, NULL);
        if (r < 0)
                return r;

        e = entry_get(reg, channel, true);
        if (e->handler) {
                log_emit(reg->log, LOG_ERR, "Attempted to register a second handler for '%s'", channel);
                return -EEXIST;
        }
        s = slot_new(SLOT_HANDLER, !ret_slot, userdata, handler_unlink);
        s->once = once;
        s->handler.entry = e;
        s->handler.fn = fn;
        e->handler = s;
        slot_hand_over(s, ret_slot);
        registry_changed(reg);
        return 0;
}

int registry_remove_handler(registry *reg, const char *channel) {
        channel_entry *e;

        if (!channel)
                return -EINVAL;
        e = entry_get(reg, channel, false);
        if (!e || !e->handler)
                return 0;
        slot_disconnect(e->handler);
        return 1;
}

ipcbus_slot *registry_get_handler(registry *reg, const char *channel) {
        channel_entry *e = entry_find(reg, channel);
        ipcbus_slot *s;

        if (!e || !e->handler)
                return NULL;
        s = slot_pin(e->handler);
        if (s->once)
                slot_disconnect_deferred(s);
        return s;
}

bool registry_has_handler(registry *reg, const char *channel) {
        channel_entry *e = entry_find(reg, channel);

        return e && e->handler;
}

char **registry_get_channels(registry *reg) {
        g_autofree const char **names = NULL;
        char **copy;
        guint n = 0;

        if (!reg->channels)
                return g_new0(char *, 1);
        names = (const char **)g_hash_table_get_keys_as_array(reg->channels, &n);
        copy = g_new0(char *, n + 1);
        for (guint i = 0; i < n; i++)
                copy[i] = g_strdup(names[i]);
        qsort(copy, n, sizeof(char *), strv_cmp);
        return copy;
}

bool registry_has_listeners(registry *reg, const char *channel) {
        channel_entry *e = entry_find(reg, channel);

        return e && e->listeners.head;
}

unsigned registry_emit(registry *reg, const char *channel, ipcbus_event *event, GVariant *args, bool *ret_failed) {
        /* Snapshot first: listeners may add or remove listeners while they
         * run. Most channels have one or two listeners; stay on the stack. */
        ipcbus_slot *stack[8], **snap = stack;
        channel_entry *e = entry_find(reg, channel);
        unsigned n = 0, ran = 0;
        bool failed = false;

        if (!e)
                goto finish;

        n = e->listeners.length;
        if (n > G_N_ELEMENTS(stack))
                snap = g_new(ipcbus_slot *, n);
        {
                unsigned i = 0;
                for (GList *l = e->listeners.head; l; l = l->next)
                        snap[i++] = slot_pin(l->data);
        }

        for (unsigned i = 0; i < n; i++) {
                ipcbus_slot *s = snap[i];
                int r;

                if (s->connected) {
                        ipcbus_listener_fn fn = s->listener.fn;
                        ipcbus_event_listener_fn read = s->listener.read;
                        void *userdata = s->userdata;

                        slot_run_begin(s);
                        if (s->once)
                                slot_disconnect(s);
                        /* The GVariant is made for the first listener that
                         * takes one, and kept by the event. */
                        if (fn && !args && event)
                                args = ipcbus_event_get_args(event);
                        r = fn ? fn(event, args, userdata) : read(event, userdata);
                        slot_run_end(s);
                        ran++;
                        if (r < 0) {
                                failed = true;
                                log_emit(reg->log, LOG_WARNING, "Listener for '%s' failed: %s", channel,
                                         g_strerror(-r));
                        }
                }
                slot_unpin(s);
        }
        if (snap != stack)
                g_free(snap);

finish:
        if (ret_failed)
                *ret_failed = failed;
        return ran;
}
