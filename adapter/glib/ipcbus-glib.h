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
 * @event: the sd-event loop (a reference is taken)
 * Return: a new GSource (not attached), or NULL with errno set.
 */
IPCBUS_EXPORT GSource *ipcbus_glib_source_new(sd_event *event);

/**
 * ipcbus_glib_attach - run @event from @context
 * @context: the GMainContext, or NULL for the global default
 * Return: the source id (> 0), or 0 on failure.
 */
IPCBUS_EXPORT guint ipcbus_glib_attach(sd_event *event, GMainContext *context);

#ifdef __cplusplus
}
#endif
