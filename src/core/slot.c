/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "log.h"
#include "slot.h"
#include "util.h"

ipcbus_slot *slot_new(slot_type type, bool floating, void *userdata, void (*unlink)(ipcbus_slot *slot)) {
        ipcbus_slot *s = g_new0(ipcbus_slot, 1);

        s->n_ref = 1;
        s->type = type;
        s->floating = floating;
        s->connected = true;
        s->userdata = userdata;
        s->unlink = unlink;
        s->link.data = s;
        return s;
}

void slot_disconnect(ipcbus_slot *s) {
        ipcbus_destroy_fn destroy;

        if (!s || !s->connected)
                return;

        s->connected = false;
        if (s->unlink)
                s->unlink(s);

        destroy = s->destroy;
        s->destroy = NULL;
        if (destroy && s->running)
                s->deferred_destroy = destroy;
        else if (destroy)
                destroy(s->userdata);

        /* The owner's reference goes last: it may be the final one. */
        if (s->floating) {
                s->floating = false;
                ipcbus_slot_unref(s);
        }
}

void slot_disconnect_deferred(ipcbus_slot *s) {
        if (!s->connected)
                return;
        s->deferred_destroy = s->destroy;
        s->destroy = NULL;
        slot_disconnect(s);
}

void slot_finish_deferred(ipcbus_slot *s) {
        ipcbus_destroy_fn destroy = s->deferred_destroy;

        s->deferred_destroy = NULL;
        if (destroy)
                destroy(s->userdata);
}

void slot_run_begin(ipcbus_slot *s) {
        s->running++;
}

void slot_run_end(ipcbus_slot *s) {
        g_assert(s->running > 0);
        if (--s->running == 0)
                slot_finish_deferred(s);
}

ipcbus_slot *ipcbus_slot_ref(ipcbus_slot *s) {
        if (s)
                s->n_ref++;
        return s;
}

static void slot_free(ipcbus_slot *s) {
        slot_finish_deferred(s);
        g_free(s);
}

ipcbus_slot *ipcbus_slot_unref(ipcbus_slot *s) {
        if (!s)
                return NULL;
        g_assert(s->n_ref > 0);
        if (--s->n_ref > 0)
                return NULL;

        /* The caller's last reference on a registration ends it, pinned or
         * not. n_ref is 0 here, so the floating path cannot unref again. */
        s->floating = false;
        slot_disconnect(s);
        if (s->n_pin == 0)
                slot_free(s);
        return NULL;
}

ipcbus_slot *slot_pin(ipcbus_slot *s) {
        s->n_pin++;
        return s;
}

void slot_unpin(ipcbus_slot *s) {
        g_assert(s->n_pin > 0);
        if (--s->n_pin == 0 && s->n_ref == 0)
                slot_free(s);
}

void ipcbus_slot_unrefp(ipcbus_slot **s) {
        if (s && *s)
                ipcbus_slot_unref(*s);
}

int ipcbus_slot_set_floating(ipcbus_slot *s, int b) {
        assert_return(s, NULL, -EINVAL);
        if (!!b == s->floating)
                return 0;
        if (!s->connected)
                return -ESTALE;

        /* The count does not change: the caller's reference becomes the
         * owner's, or the other way round. */
        s->floating = !!b;
        return 0;
}

int ipcbus_slot_set_destroy_callback(ipcbus_slot *s, ipcbus_destroy_fn callback) {
        assert_return(s, NULL, -EINVAL);
        s->destroy = callback;
        return 0;
}

void *ipcbus_slot_get_userdata(ipcbus_slot *s) {
        assert_return(s, NULL, NULL);
        return s->userdata;
}

int ipcbus_slot_is_connected(ipcbus_slot *s) {
        assert_return(s, NULL, -EINVAL);
        return s->connected;
}

static void lifecycle_unlink(ipcbus_slot *s) {
        g_queue_unlink(s->lifecycle.queue, &s->link);
}

int slot_list_add(GQueue *queue, ipcbus_slot **ret_slot, void *fn, void *userdata) {
        ipcbus_slot *s;

        if (!fn)
                return -EINVAL;
        s = slot_new(SLOT_LIFECYCLE, !ret_slot, userdata, lifecycle_unlink);
        s->lifecycle.fn = fn;
        s->lifecycle.queue = queue;
        g_queue_push_tail_link(queue, &s->link);
        slot_hand_over(s, ret_slot);
        return 0;
}

void slot_list_clear(GQueue *queue) {
        while (queue->head)
                slot_disconnect(queue->head->data);
}

void slot_list_fire(GQueue *queue, void (*call)(void *fn, void *userdata, void *context), void *context) {
        /* Callbacks may remove themselves or others: walk a snapshot. */
        unsigned n = queue->length, i = 0;
        ipcbus_slot **snap = g_newa(ipcbus_slot *, n + 1);

        for (GList *l = queue->head; l; l = l->next)
                snap[i++] = slot_pin(l->data);
        for (i = 0; i < n; i++) {
                if (snap[i]->connected) {
                        slot_run_begin(snap[i]);
                        call(snap[i]->lifecycle.fn, snap[i]->userdata, context);
                        slot_run_end(snap[i]);
                }
                slot_unpin(snap[i]);
        }
}
