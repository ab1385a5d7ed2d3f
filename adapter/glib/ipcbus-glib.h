/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <ipcbus/ipcbus-common.h>
#include <systemd/sd-event.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * GLib main-context adapter. ipcbus objects run on an sd-event loop
 * (ipcbus_main_get_event(), ipcbus_renderer_get_event()); this GSource runs
 * that whole loop from a GMainContext, so a GLib or GTK program needs one
 * call:
 *
 *     ipcbus_glib_attach(ipcbus_main_get_event(m), NULL);
 */

/**
 * ipcbus_glib_source_new - a GSource that dispatches @event
 * @event: the sd-event loop (a reference is taken, dropped when the source
 *   is finalized)
 *
 * The source polls the loop's epoll fd and runs one sd-event iteration step
 * per GLib phase (sd_event_prepare, sd_event_wait with a zero timeout,
 * sd_event_dispatch), one sd-event source per GLib iteration. Its priority
 * is G_PRIORITY_DEFAULT, like GDBus; change it with g_source_set_priority()
 * before attaching. sd-event's own priorities still order the sources inside
 * the loop.
 *
 * When the loop finishes (sd_event_exit() was called and its exit sources
 * ran) the source calls its callback, if one was set with
 * g_source_set_callback() (a GSourceFunc; its return value is ignored), and
 * removes itself. It does the same if an sd-event call fails (as
 * sd_event_loop() would return): the error then becomes the loop's exit
 * code unless an exit was already requested, so sd_event_get_exit_code()
 * tells both cases apart.
 *
 * Attach it to the context of the thread that uses @event, and do not run
 * @event by other means (sd_event_run(), a second source) while it is
 * attached. The source does not recurse: while an sd-event handler runs a
 * nested GLib main loop, the sd-event loop waits for it to return. Destroyed
 * between its check and its dispatch (by another callback of the same GLib
 * iteration), the source leaves @event in SD_EVENT_PENDING: a new source
 * carries on from there, sd_event_run() refuses with -EBUSY.
 *
 * Return: a new GSource (not attached), or NULL with errno set: EINVAL if
 * @event is NULL, ESTALE if it has finished, ECHILD if it was created in
 * another process.
 */
IPCBUS_EXPORT GSource *ipcbus_glib_source_new(sd_event *event);

/**
 * ipcbus_glib_attach - run @event from @context
 * @event: the sd-event loop (a reference is taken)
 * @context: the GMainContext, or NULL for the global default
 *
 * ipcbus_glib_source_new() attached with default priority and no callback.
 * To detach, g_source_destroy(g_main_context_find_source_by_id(@context,
 * id)), or g_source_remove(id) for the global default context.
 *
 * Return: the source id (> 0), or 0 on failure with errno set as by
 * ipcbus_glib_source_new().
 */
IPCBUS_EXPORT guint ipcbus_glib_attach(sd_event *event, GMainContext *context);

/*
 * GIO-style invokes, for programs that run a GMainLoop: the _async call
 * takes a GCancellable and a GAsyncReadyCallback, the _finish call turns
 * the GAsyncResult into the value or a GError, as g_dbus_connection_call()
 * and g_dbus_connection_call_finish() do. They wrap ipcbus_renderer_invoke()
 * and ipcbus_web_contents_invoke() in a GTask.
 *
 * As everywhere in GIO, the callback runs exactly once, from the
 * thread-default GMainContext of the thread that called _async (pushed
 * with g_main_context_push_thread_default(), or the global default), never
 * from inside the _async call: also when the call cannot start and when it
 * is cancelled. The sd-event loop of the renderer or main must run for the
 * answer to arrive (ipcbus_glib_attach() it to that context, or run it by
 * other means in the same thread). Call _async from the thread that uses
 * the object; the GCancellable may be cancelled from any thread.
 *
 * Errors from _finish:
 * - the peer's (or the bus's) D-Bus error, as g_dbus_error_new_for_dbus_error()
 *   makes it: a name GIO knows keeps its G_DBUS_ERROR code (the call's
 *   timeout is org.freedesktop.DBus.Error.NoReply, G_DBUS_ERROR_NO_REPLY, as
 *   for ipcbus_result_fn; not G_IO_ERROR_TIMED_OUT as in GDBus), any other
 *   (org.ipcbus.Error.NoHandler, a handler's own name) is
 *   G_IO_ERROR_DBUS_ERROR; g_dbus_error_get_remote_error() gives the name
 *   in both cases, g_dbus_error_strip_remote_error() the bare message;
 * - G_IO_ERROR_CANCELLED once @cancellable is cancelled, whether the
 *   answer came first or not;
 * - for a call that could not start: G_IO_ERROR_INVALID_ARGUMENT (a NULL
 *   object, a bad channel, a value D-Bus cannot carry, nested too deep),
 *   G_IO_ERROR_MESSAGE_TOO_LARGE (values over IPCBUS_VALUE_MAX_SIZE),
 *   G_IO_ERROR_NOT_CONNECTED (not connected, or the renderer is gone); the
 *   log function has the details;
 * - G_IO_ERROR_CLOSED when the main was freed while its invoke of a
 *   renderer was in flight.
 */

/**
 * ipcbus_renderer_invoke_async - ipcRenderer.invoke(channel, ...args), the GIO way
 * @r: the renderer; a reference is held until the callback has run
 * @channel: the channel
 * @args: "av" (floating reference sunk) or NULL
 * @timeout_usec: 0 for the renderer's timeout (ipcbus_renderer_set_timeout())
 * @cancellable: optional; cancelling it drops the call (its answer, if one
 *   comes, is ignored) and completes it with G_IO_ERROR_CANCELLED; already
 *   cancelled, nothing is sent
 * @callback: called once with the GAsyncResult for
 *   ipcbus_renderer_invoke_finish(); may be NULL
 * @user_data: for @callback
 *
 * Like ipcbus_renderer_invoke(), the call waits in the renderer's queue
 * while the main has not appeared (up to @timeout_usec).
 *
 * Return: nothing; every outcome, also a call refused at once, arrives
 * through @callback.
 */
IPCBUS_EXPORT void ipcbus_renderer_invoke_async(ipcbus_renderer *r, const char *channel, GVariant *args,
                                                uint64_t timeout_usec, GCancellable *cancellable,
                                                GAsyncReadyCallback callback, gpointer user_data);

/**
 * ipcbus_renderer_invoke_finish - the outcome of ipcbus_renderer_invoke_async()
 * @r: the renderer passed to _async
 * @result: the GAsyncResult the callback got
 * @error: the error on failure (may be NULL)
 *
 * Return: the handler's value (a new reference; undefined is
 * ipcbus_value_undefined()'s value, not NULL), or NULL with @error set to
 * one of the errors listed above; G_IO_ERROR_INVALID_ARGUMENT if @result
 * is not from ipcbus_renderer_invoke_async() on @r.
 */
IPCBUS_EXPORT GVariant *ipcbus_renderer_invoke_finish(ipcbus_renderer *r, GAsyncResult *result, GError **error);

/**
 * ipcbus_web_contents_invoke_async - call a renderer's handler, the GIO way
 * @wc: the renderer as the main sees it; a reference is held until the
 *   callback has run (not on its main: a main freed meanwhile ends the
 *   call with G_IO_ERROR_CLOSED)
 * @channel: the channel
 * @args: "av" (floating reference sunk) or NULL
 * @timeout_usec: 0 for the default (25 s)
 * @cancellable: optional, as for ipcbus_renderer_invoke_async()
 * @callback: called once with the GAsyncResult for
 *   ipcbus_web_contents_invoke_finish(); may be NULL
 * @user_data: for @callback
 *
 * The asynchronous form of ipcbus_web_contents_invoke(): a renderer that is
 * not attached completes the call with G_IO_ERROR_NOT_CONNECTED.
 *
 * Return: nothing; every outcome arrives through @callback.
 */
IPCBUS_EXPORT void ipcbus_web_contents_invoke_async(ipcbus_web_contents *wc, const char *channel, GVariant *args,
                                                    uint64_t timeout_usec, GCancellable *cancellable,
                                                    GAsyncReadyCallback callback, gpointer user_data);

/**
 * ipcbus_web_contents_invoke_finish - the outcome of ipcbus_web_contents_invoke_async()
 * @wc: the web contents passed to _async
 * @result: the GAsyncResult the callback got
 * @error: the error on failure (may be NULL)
 *
 * Return: the renderer handler's value (a new reference), or NULL with
 * @error set to one of the errors listed above; G_IO_ERROR_INVALID_ARGUMENT
 * if @result is not from ipcbus_web_contents_invoke_async() on @wc.
 */
IPCBUS_EXPORT GVariant *ipcbus_web_contents_invoke_finish(ipcbus_web_contents *wc, GAsyncResult *result,
                                                          GError **error);

#ifdef __cplusplus
}
#endif
