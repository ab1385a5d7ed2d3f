/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GIO-style invokes: ipcbus_renderer_invoke() and ipcbus_web_contents_invoke()
 * wrapped in a GTask, with a GCancellable. Public API only, like the rest of
 * the adapter.
 *
 * One pending invoke is a GTask whose task data (invoke_op) holds the
 * ipcbus slot of the call (the caller's reference, so that dropping it
 * cancels the call) and the GSource that watches the cancellable. The
 * references on the task:
 *
 *   - the slot's userdata: dropped by the slot's destroy callback, which
 *     runs exactly once whichever way the call ends (answered, cancelled by
 *     us, or dropped by a main that is freed);
 *   - the cancellable source's callback data: dropped when the source is
 *     destroyed, which every way of ending does first;
 *   - GTask's own while it completes (g_task_return_*() from a callback of
 *     another iteration completes at once; otherwise in an idle source of
 *     the task's context, with a reference of its own).
 *
 * The invariant: the task is returned once (op->returned), and then the
 * cancellable source is gone; the slot reference lives until the task data
 * is freed, or until a cancellation drops it, never in between, since
 * unreferencing a slot from its own destroy callback would free it under
 * the library's feet.
 *
 * The cancellable is watched with a GCancellableSource on the task's
 * context rather than g_cancellable_connect(): g_cancellable_cancel() may
 * be called from any thread, and the ipcbus objects are used from one.
 */

#include "ipcbus-glib.h"

#include <errno.h>
#include <ipcbus/ipcbus.h>

#include "log.h"

/* What differs between the renderer's invoke and the main's. */
typedef struct invoke_kind {
        const char *name;   /* the _async function: task name, errors */
        const char *caller; /* who calls, for the errors */
        int (*invoke)(void *owner, ipcbus_slot **ret_slot, const char *channel, GVariant *args,
                      uint64_t timeout_usec, ipcbus_result_fn callback, void *userdata);
        void (*unref)(void *owner);
} invoke_kind;

typedef struct invoke_op {
        const invoke_kind *kind;
        /* The object the call was made on, referenced; _finish checks it. */
        void *owner;
        ipcbus_slot *slot;
        GSource *cancel_source;
        bool returned;
} invoke_op;

static void invoke_op_free(gpointer data) {
        invoke_op *op = data;

        g_assert(!op->cancel_source);
        op->slot = ipcbus_slot_unref(op->slot);
        op->kind->unref(op->owner);
        g_free(op);
}

/* Ends the watch on the cancellable. The caller holds a reference on the
 * task: the source's may be the last but that one. */
static void invoke_stop_watching(invoke_op *op) {
        GSource *source = g_steal_pointer(&op->cancel_source);

        if (source) {
                g_source_destroy(source);
                g_source_unref(source);
        }
}

static void invoke_return_error(GTask *task, GError *error) {
        invoke_op *op = g_task_get_task_data(task);

        g_assert(!op->returned);
        op->returned = true;
        invoke_stop_watching(op);
        g_task_return_error(task, error);
}

/* A D-Bus error the way GDBus hands one over: a registered name keeps its
 * G_DBUS_ERROR code, any other is G_IO_ERROR_DBUS_ERROR; the name travels in
 * the message for g_dbus_error_get_remote_error(). */
static GError *error_from_bus(const sd_bus_error *error) {
        return g_dbus_error_new_for_dbus_error(error->name ? error->name : SD_BUS_ERROR_FAILED,
                                               error->message ? error->message : "");
}

/* ipcbus's -errno for a call that could not start. */
static GError *error_from_errno(int k, const char *caller, const char *channel) {
        GIOErrorEnum code;

        switch (-k) {
        case EINVAL:
        case ELOOP: /* a value nested too deep */
                code = G_IO_ERROR_INVALID_ARGUMENT;
                break;
        default:
                code = g_io_error_from_errno(-k);
                break;
        }
        return g_error_new(G_IO_ERROR, code, "The %s cannot invoke '%s': %s", caller,
                           channel ? channel : "(null)", g_strerror(-k));
}

static int invoke_on_result(GVariant *result, const sd_bus_error *error, void *userdata) {
        GTask *task = userdata;
        invoke_op *op = g_task_get_task_data(task);

        /* A cancellation dropped the slot first: no result comes then. */
        g_assert(!op->returned);
        if (error)
                invoke_return_error(task, error_from_bus(error));
        else if (!result)
                invoke_return_error(task, g_error_new_literal(G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                                              "The answer carried no value"));
        else {
                op->returned = true;
                invoke_stop_watching(op);
                /* With the cancellable cancelled by now, _finish says so:
                 * GTask checks it (g_task_set_check_cancellable()). */
                g_task_return_pointer(task, g_variant_ref(result), (GDestroyNotify)g_variant_unref);
        }
        return 0;
}

/* The registration ended: after the result, after a cancellation, or
 * dropped without either by a main that is being freed. */
static void invoke_on_slot_destroy(void *userdata) {
        GTask *task = userdata;
        invoke_op *op = g_task_get_task_data(task);

        if (!op->returned)
                invoke_return_error(task, g_error_new(G_IO_ERROR, G_IO_ERROR_CLOSED,
                                                      "The %s was freed before the call was answered",
                                                      op->kind->caller));
        g_object_unref(task);
}

static gboolean invoke_on_cancelled(GCancellable *cancellable, gpointer userdata) {
        GTask *task = g_object_ref(userdata);
        invoke_op *op = g_task_get_task_data(task);
        ipcbus_slot *slot = g_steal_pointer(&op->slot);

        if (!op->returned) {
                op->returned = true;
                invoke_stop_watching(op);
                /* Inside a cancellation GTask completes from an idle source,
                 * never from here. A cancellable reset in between (which
                 * GIO leaves undefined) still ends the task. */
                if (!g_task_return_error_if_cancelled(task))
                        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
        }
        /* Cancels the call: its callback does not run, the destroy
         * callback does, and drops the slot's reference on the task. */
        ipcbus_slot_unref(slot);
        g_object_unref(task);
        return G_SOURCE_REMOVE;
}

/*
 * The common part of both _async calls. @owner is referenced already (or
 * NULL); the task takes that reference.
 */
static void invoke_start(const invoke_kind *kind, void *owner, const char *channel, GVariant *args,
                         uint64_t timeout_usec, GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data, gpointer source_tag) {
        /* Sunk at once, so that every path below drops it: the invoke
         * takes a reference of its own. */
        g_autoptr(GVariant) a = args ? g_variant_ref_sink(args) : NULL;
        g_autoptr(GTask) task = NULL;
        invoke_op *op;
        int k;

        task = g_task_new(NULL, cancellable, callback, user_data);
        g_task_set_source_tag(task, source_tag);
        g_task_set_name(task, kind->name);
        g_task_set_check_cancellable(task, TRUE);
        op = g_new0(invoke_op, 1);
        op->kind = kind;
        op->owner = owner;
        g_task_set_task_data(task, op, invoke_op_free);

        /* GTask completes from the task's context, never from here. */
        if (!owner) {
                op->returned = true;
                g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "No %s to invoke '%s'",
                                        kind->caller, channel ? channel : "(null)");
                return;
        }
        if (g_task_return_error_if_cancelled(task)) {
                op->returned = true;
                return;
        }

        k = kind->invoke(owner, &op->slot, channel, a, timeout_usec, invoke_on_result,
                         g_object_ref(task));
        if (k < 0) {
                /* Nothing was registered: the reference for the slot is ours. */
                g_object_unref(task);
                op->returned = true;
                g_task_return_error(task, error_from_errno(k, kind->caller, channel));
                return;
        }
        (void)ipcbus_slot_set_destroy_callback(op->slot, invoke_on_slot_destroy);

        if (cancellable) {
                op->cancel_source = g_cancellable_source_new(cancellable);
                g_task_attach_source(task, op->cancel_source, G_SOURCE_FUNC(invoke_on_cancelled));
        }
}

static GVariant *invoke_finish(const invoke_kind *kind, void *owner, GAsyncResult *result, gpointer source_tag,
                               GError **error) {
        invoke_op *op = NULL;

        if (g_task_is_valid(result, NULL) && g_async_result_is_tagged(result, source_tag))
                op = g_task_get_task_data(G_TASK(result));
        if (!op || op->owner != owner) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Not the result of %s() on this object",
                            kind->name);
                return NULL;
        }
        return g_task_propagate_pointer(G_TASK(result), error);
}

static int renderer_invoke(void *owner, ipcbus_slot **ret_slot, const char *channel, GVariant *args,
                           uint64_t timeout_usec, ipcbus_result_fn callback, void *userdata) {
        return ipcbus_renderer_invoke(owner, ret_slot, channel, args, timeout_usec, callback, userdata);
}

static void renderer_unref(void *owner) {
        ipcbus_renderer_unref(owner);
}

static const invoke_kind renderer_kind = {
        .name = "ipcbus_renderer_invoke_async",
        .caller = "renderer",
        .invoke = renderer_invoke,
        .unref = renderer_unref,
};

void ipcbus_renderer_invoke_async(ipcbus_renderer *r, const char *channel, GVariant *args, uint64_t timeout_usec,
                                  GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data) {
        /* Refused the GIO way, through @callback; logged as every refused
         * programming error is. A NULL @channel is the invoke's to refuse. */
        if (!r)
                log_assert_failed(NULL, "r", __FILE__, __LINE__, __func__);
        invoke_start(&renderer_kind, ipcbus_renderer_ref(r), channel, args, timeout_usec, cancellable, callback,
                     user_data, ipcbus_renderer_invoke_async);
}

GVariant *ipcbus_renderer_invoke_finish(ipcbus_renderer *r, GAsyncResult *result, GError **error) {
        return invoke_finish(&renderer_kind, r, result, ipcbus_renderer_invoke_async, error);
}

static int web_contents_invoke(void *owner, ipcbus_slot **ret_slot, const char *channel, GVariant *args,
                               uint64_t timeout_usec, ipcbus_result_fn callback, void *userdata) {
        return ipcbus_web_contents_invoke(owner, ret_slot, channel, args, timeout_usec, callback, userdata);
}

static void web_contents_unref(void *owner) {
        ipcbus_web_contents_unref(owner);
}

static const invoke_kind web_contents_kind = {
        .name = "ipcbus_web_contents_invoke_async",
        .caller = "main",
        .invoke = web_contents_invoke,
        .unref = web_contents_unref,
};

void ipcbus_web_contents_invoke_async(ipcbus_web_contents *wc, const char *channel, GVariant *args,
                                      uint64_t timeout_usec, GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data) {
        if (!wc)
                log_assert_failed(NULL, "wc", __FILE__, __LINE__, __func__);
        invoke_start(&web_contents_kind, ipcbus_web_contents_ref(wc), channel, args, timeout_usec, cancellable,
                     callback, user_data, ipcbus_web_contents_invoke_async);
}

GVariant *ipcbus_web_contents_invoke_finish(ipcbus_web_contents *wc, GAsyncResult *result, GError **error) {
        return invoke_finish(&web_contents_kind, wc, result, ipcbus_web_contents_invoke_async, error);
}
