/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <ipcbus/ipcbus-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The main process: Electron's ipcMain plus the webContents it talks to.
 * It owns a well-known bus name, serves org.ipcbus.Main1 at one object on
 * every connection it has (its bus connections and direct, bus-less
 * connections to renderers it spawned), and dispatches all of them through
 * the same registry.
 *
 * Typical use:
 *
 *     _cleanup_(ipcbus_main_unrefp) ipcbus_main *m = NULL;
 *     r = ipcbus_main_new(&m, "org.example.App");
 *     r = ipcbus_main_handle(m, NULL, "get-title", on_get_title, NULL);
 *     r = ipcbus_main_open_user(m);        // or _open_system / _open_address
 *     r = ipcbus_main_run(m);               // or attach to GLib / sd-event
 */

/**
 * ipcbus_main_new - create a main that will own @name
 * @ret: the new main
 * @name: the well-known bus name (e.g. "org.ipcbus.Demo"); the object path
 *   is derived from it ("/org/ipcbus/Demo") unless set otherwise
 * Return: 0; -EINVAL for an invalid name; -ENOMEM.
 */
IPCBUS_EXPORT int ipcbus_main_new(ipcbus_main **ret, const char *name);
IPCBUS_EXPORT ipcbus_main *ipcbus_main_ref(ipcbus_main *m);
IPCBUS_EXPORT ipcbus_main *ipcbus_main_unref(ipcbus_main *m);
IPCBUS_EXPORT void ipcbus_main_unrefp(ipcbus_main **m);

/* Return: 0; -EINVAL for an invalid path; -EBUSY once a connection is open. */
IPCBUS_EXPORT int ipcbus_main_set_object_path(ipcbus_main *m, const char *path);
IPCBUS_EXPORT const char *ipcbus_main_get_name(ipcbus_main *m);
IPCBUS_EXPORT const char *ipcbus_main_get_object_path(ipcbus_main *m);
IPCBUS_EXPORT void ipcbus_main_set_log_function(ipcbus_main *m, ipcbus_log_fn fn, void *userdata);

/**
 * ipcbus_main_attach_event - run on this sd-event loop
 * @event: the loop, or NULL for the thread's default loop
 * @priority: the priority of the main's event sources
 * Without this call, the first open attaches to the thread's default loop.
 * Return: 0; -EBUSY if already attached; -ENOMEM.
 */
IPCBUS_EXPORT int ipcbus_main_attach_event(ipcbus_main *m, sd_event *event, int64_t priority);
/* Return: the loop the main runs on (borrowed), NULL before attaching. */
IPCBUS_EXPORT sd_event *ipcbus_main_get_event(ipcbus_main *m);

/**
 * ipcbus_main_open_user, ipcbus_main_open_system, ipcbus_main_open_address -
 * connect to a bus and take the main's name on it
 * Return: 0; -EEXIST if another peer owns the name; connection errors as
 * negative errno codes.
 */
IPCBUS_EXPORT int ipcbus_main_open_user(ipcbus_main *m);
IPCBUS_EXPORT int ipcbus_main_open_system(ipcbus_main *m);
IPCBUS_EXPORT int ipcbus_main_open_address(ipcbus_main *m, const char *address);

/**
 * ipcbus_main_add_bus - serve on a bus connection the caller set up
 * @bus: a started bus connection; the main takes a reference
 * Return: as ipcbus_main_open_user().
 */
IPCBUS_EXPORT int ipcbus_main_add_bus(ipcbus_main *m, sd_bus *bus);

/**
 * ipcbus_main_add_direct - serve a direct, bus-less connection
 * @fd: one end of a connected AF_UNIX stream socket (socketpair()); the main
 *   takes ownership, also on failure
 * @ret_web_contents: optional; the renderer at the other end, attached
 *   without a name until it calls Attach (new reference)
 *
 * For renderers the main spawns itself (sandboxed ones): the child gets the
 * other end and calls ipcbus_renderer_open_direct().
 * Return: 0; -EBADF; -ENOMEM.
 */
IPCBUS_EXPORT int ipcbus_main_add_direct(ipcbus_main *m, int fd, ipcbus_web_contents **ret_web_contents);

/**
 * ipcbus_main_run - a plain blocking loop for small tools
 * Runs the main's sd-event loop until ipcbus_main_exit() or an error.
 * Return: the exit code given to ipcbus_main_exit(), or a negative errno.
 */
IPCBUS_EXPORT int ipcbus_main_run(ipcbus_main *m);
IPCBUS_EXPORT int ipcbus_main_exit(ipcbus_main *m, int code);

/**
 * ipcbus_main_on, ipcbus_main_once - ipcMain.on / ipcMain.once
 * @ret_slot: optional; unreferencing it removes exactly this listener
 * @channel: the channel name
 * @fn: called for each Message signal and SendSync call on @channel, in
 *   registration order (once: only for the next one, removed before it runs)
 * Return: 0; -EINVAL for an invalid channel or NULL @fn; -ENOMEM.
 */
IPCBUS_EXPORT int ipcbus_main_on(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel,
                                 ipcbus_listener_fn fn, void *userdata);
IPCBUS_EXPORT int ipcbus_main_once(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel,
                                   ipcbus_listener_fn fn, void *userdata);

/**
 * ipcbus_main_remove_listener - ipcMain.removeListener
 * Removes the most recently added listener on @channel with this @fn and
 * @userdata, as Node's EventEmitter does.
 * Return: 1 if one was removed, 0 if none matched; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_main_remove_listener(ipcbus_main *m, const char *channel, ipcbus_listener_fn fn,
                                              void *userdata);

/**
 * ipcbus_main_remove_all_listeners - ipcMain.removeAllListeners
 * @channel: the channel, or NULL for every channel
 * Return: the number removed; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_main_remove_all_listeners(ipcbus_main *m, const char *channel);

/**
 * ipcbus_main_handle, ipcbus_main_handle_once - ipcMain.handle / handleOnce
 * One handler per channel. A once handler is removed before it runs.
 * Return: 0; -EEXIST if @channel has a handler already (the log function is
 * told "Attempted to register a second handler for 'CHANNEL'"); -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_main_handle(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel,
                                     ipcbus_handler_fn fn, void *userdata);
IPCBUS_EXPORT int ipcbus_main_handle_once(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel,
                                          ipcbus_handler_fn fn, void *userdata);

/**
 * ipcbus_main_remove_handler - ipcMain.removeHandler
 * Return: 1 if a handler was removed, 0 if there was none; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_main_remove_handler(ipcbus_main *m, const char *channel);

/* Callback for renderers attaching and detaching (window created / closed). */
typedef void (*ipcbus_web_contents_fn)(ipcbus_main *m, ipcbus_web_contents *web_contents, void *userdata);

/**
 * ipcbus_main_on_attached, ipcbus_main_on_detached - renderer lifecycle
 * Detached fires on Detach and when the renderer's connection goes away.
 * Return: 0; -EINVAL; -ENOMEM.
 */
IPCBUS_EXPORT int ipcbus_main_on_attached(ipcbus_main *m, ipcbus_slot **ret_slot, ipcbus_web_contents_fn fn,
                                          void *userdata);
IPCBUS_EXPORT int ipcbus_main_on_detached(ipcbus_main *m, ipcbus_slot **ret_slot, ipcbus_web_contents_fn fn,
                                          void *userdata);

/**
 * ipcbus_main_get_web_contents - webContents.fromId
 * Return: 0 and a new reference; -ENOENT if no attached renderer has @id.
 */
IPCBUS_EXPORT int ipcbus_main_get_web_contents(ipcbus_main *m, uint64_t id, ipcbus_web_contents **ret);

/**
 * ipcbus_main_find_web_contents - the attached renderer named @name
 * Return: 0 and a new reference; -ENOENT if none is attached with that name.
 */
IPCBUS_EXPORT int ipcbus_main_find_web_contents(ipcbus_main *m, const char *name, ipcbus_web_contents **ret);

/**
 * ipcbus_main_get_all_web_contents - webContents.getAllWebContents
 * @ret: a NULL-terminated array of new references, ordered by id; free
 *   with ipcbus_web_contents_array_free()
 * Return: the number of renderers; -ENOMEM.
 */
IPCBUS_EXPORT int ipcbus_main_get_all_web_contents(ipcbus_main *m, ipcbus_web_contents ***ret);
IPCBUS_EXPORT void ipcbus_web_contents_array_free(ipcbus_web_contents **array);

/**
 * ipcbus_main_broadcast - send @channel to every renderer
 * One broadcast signal on each bus connection plus one per direct
 * connection. Attached renderers and any other listening peer receive it.
 * Return: 0; -EINVAL for a bad channel or a value that cannot be carried.
 */
IPCBUS_EXPORT int ipcbus_main_broadcast(ipcbus_main *m, const char *channel, GVariant *args);

#ifdef __cplusplus
}
#endif
