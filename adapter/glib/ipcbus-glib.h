/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <systemd/sd-event.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef IPCBUS_EXPORT
#define IPCBUS_EXPORT __attribute__((visibility("default")))
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

#ifdef __cplusplus
}
#endif
