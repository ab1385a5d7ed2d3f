/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

#include <ipcbus/ipcbus-common.h>
#include <ipcbus/ipcbus-policy.h>

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
 * Return: 0; -EINVAL for an invalid name; -ENOMEM if sd-bus cannot register
 * ipcbus's error names (sd_bus_error_add_map()).
 */
IPCBUS_EXPORT int ipcbus_main_new(ipcbus_main **ret, const char *name);
IPCBUS_EXPORT ipcbus_main *ipcbus_main_ref(ipcbus_main *m);
IPCBUS_EXPORT ipcbus_main *ipcbus_main_unref(ipcbus_main *m);
IPCBUS_EXPORT void ipcbus_main_unrefp(ipcbus_main **m);

/* Return: 0; -EINVAL for an invalid path; -EBUSY once a connection is open. */
IPCBUS_EXPORT int ipcbus_main_set_object_path(ipcbus_main *m, const char *path);
IPCBUS_EXPORT const char *ipcbus_main_get_name(ipcbus_main *m);
IPCBUS_EXPORT const char *ipcbus_main_get_object_path(ipcbus_main *m);

/**
 * ipcbus_main_set_log_function - where the main reports what it cannot return
 * @fn: the log function, or NULL for none (the default: reports are dropped)
 * Return: 0; -EINVAL for a NULL @m.
 */
IPCBUS_EXPORT int ipcbus_main_set_log_function(ipcbus_main *m, ipcbus_log_fn fn, void *userdata);

/**
 * ipcbus_main_attach_event - run on this sd-event loop
 * @event: the loop, or NULL for the thread's default loop
 * @priority: the priority of the main's event sources
 * Without this call, the first open attaches to the thread's default loop.
 * Return: 0; -EBUSY if already attached; sd-event's errors (-ENOMEM) when
 * creating the default loop fails.
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
 * ipcbus_main_open_default - serve the bus that started this process, else
 * the user's bus
 *
 * A main that D-Bus activation starts (a .service file's Exec=) must serve
 * the bus that started it, which dbus-daemon names in the environment:
 * DBUS_STARTER_ADDRESS and DBUS_STARTER_BUS_TYPE. With either set, the bus
 * is the one sd_bus_open() chooses from them (the type's bus, else the
 * address; GLib's G_BUS_TYPE_STARTER follows the type alone, and fails on a
 * bus that names no type). With neither, it is the user's bus, as
 * ipcbus_main_open_user() (sd_bus_open() would guess from the cgroup
 * instead); a service that systemd starts for the bus (SystemdService=)
 * gets no starter variables and serves the user's bus. A starter bus that
 * cannot be reached is an error: there is no falling back to another bus.
 * Return: as ipcbus_main_open_user().
 */
IPCBUS_EXPORT int ipcbus_main_open_default(ipcbus_main *m);

/**
 * ipcbus_main_get_bus - the bus connection the main serves
 *
 * The first bus connection still open, of those ipcbus_main_open_*() and
 * ipcbus_main_add_bus() gave it (direct connections are not buses), for
 * calls of the application's own on the bus the main is on: a desktop
 * service (org.freedesktop.Notifications), a portal. Calls made on it with
 * sd_bus_call_method_async() are answered to their own callbacks; the main
 * takes only the replies to its own calls. Borrowed: valid until the main
 * lets go of it (the bus closes, or the main is freed); take a reference
 * (sd_bus_ref()) to keep it longer, and neither close nor detach it.
 * Return: the bus; NULL if the main serves no bus (yet, or any more) or @m
 * is NULL.
 */
IPCBUS_EXPORT sd_bus *ipcbus_main_get_bus(ipcbus_main *m);

/**
 * ipcbus_main_add_bus - serve on a bus connection the caller set up
 * @bus: a started bus connection; the main takes a reference
 *
 * The bus stays the caller's: the main never flushes, closes or detaches it.
 * When the main lets go of it (ipcbus_main_unref(), or a failed add), it
 * removes only what it added: its objects, filter and matches, the name it
 * took, and its attachment to the loop if it attached the bus itself. A bus
 * already attached to the main's event loop is served there.
 *
 * Return: as ipcbus_main_open_user(); -EBUSY if @bus is attached to another
 * event loop than the main's.
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
 * Return: 0; -EBADF; sd-bus's errors (-ENOMEM) setting up the connection.
 */
IPCBUS_EXPORT int ipcbus_main_add_direct(ipcbus_main *m, int fd, ipcbus_web_contents **ret_web_contents);

/**
 * ipcbus_main_run - a plain blocking loop for small tools
 *
 * Runs the main's sd-event loop until ipcbus_main_exit() or an error.
 * SIGINT and SIGTERM end it cleanly (it returns 0), unless the application
 * handles them itself: a handler installed, or the signal blocked (a
 * signalfd, an sd-event signal source of its own) when the loop starts.
 * While the loop runs the library's handler is installed for those it
 * takes; the old disposition comes back when it returns.
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
 * Return: 0; -EINVAL for an invalid channel, a NULL @channel or NULL @fn.
 */
IPCBUS_EXPORT int ipcbus_main_on(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel,
                                 ipcbus_listener_fn fn, void *userdata);
IPCBUS_EXPORT int ipcbus_main_once(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel,
                                   ipcbus_listener_fn fn, void *userdata);

/**
 * ipcbus_main_on_event, ipcbus_main_once_event - ipcMain.on / once with a
 * listener that reads the arguments from the event (ipcbus_event_read()):
 *
 *   static int on_count(ipcbus_event *event, void *userdata) {
 *           const char *text;
 *           int r = ipcbus_event_read(event, "s", &text);
 *           ...
 *   }
 *   ipcbus_main_on_event(m, NULL, "count", on_count, NULL);
 *
 * Runs in registration order with the channel's other listeners. Removed
 * by its slot, ipcbus_main_remove_event_listener() or
 * ipcbus_main_remove_all_listeners().
 * Return: as ipcbus_main_on().
 */
IPCBUS_EXPORT int ipcbus_main_on_event(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel,
                                       ipcbus_event_listener_fn fn, void *userdata);
IPCBUS_EXPORT int ipcbus_main_once_event(ipcbus_main *m, ipcbus_slot **ret_slot, const char *channel,
                                         ipcbus_event_listener_fn fn, void *userdata);

/**
 * ipcbus_main_remove_listener - ipcMain.removeListener
 * Removes the most recently added listener on @channel with this @fn and
 * @userdata, as Node's EventEmitter does.
 * Return: 1 if one was removed, 0 if none matched; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_main_remove_listener(ipcbus_main *m, const char *channel, ipcbus_listener_fn fn,
                                              void *userdata);
/* The same for a listener added with ipcbus_main_on_event() or _once_event(). */
IPCBUS_EXPORT int ipcbus_main_remove_event_listener(ipcbus_main *m, const char *channel,
                                                    ipcbus_event_listener_fn fn, void *userdata);

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
 * Return: 0; -EINVAL for a NULL @m or @fn.
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
 * Return: the number of renderers; -EINVAL for a NULL @m or @ret.
 */
IPCBUS_EXPORT int ipcbus_main_get_all_web_contents(ipcbus_main *m, ipcbus_web_contents ***ret);
IPCBUS_EXPORT void ipcbus_web_contents_array_free(ipcbus_web_contents **array);

/**
 * ipcbus_main_broadcast - send @channel to every renderer
 * One broadcast signal on each bus connection plus one per direct
 * connection. Attached renderers and any other listening peer receive it.
 * A connection whose queue is full (IPCBUS_CONNECTION_QUEUE_MAX) is
 * skipped; the others still get the broadcast.
 * Return: 0; -EINVAL for a bad channel or a value that cannot be carried;
 * the first error of a connection that was skipped (-ENOBUFS).
 */
IPCBUS_EXPORT int ipcbus_main_broadcast(ipcbus_main *m, const char *channel, GVariant *args);
/* The same with the arguments as sd_bus_message_append(3) takes them (see
 * ipcbus_renderer_sendf()). They are made into one GVariant first, which
 * every connection's message is written from: a convenience, no faster
 * than ipcbus_main_broadcast(). The va_list form does not use its list up. */
IPCBUS_EXPORT int ipcbus_main_broadcastf(ipcbus_main *m, const char *channel, const char *types, ...);
IPCBUS_EXPORT int ipcbus_main_broadcastfv(ipcbus_main *m, const char *channel, const char *types, va_list ap);

/* ---- The main's buses ---------------------------------------------------- */

/* Called when a bus connection the main served closed (the bus went away). */
typedef void (*ipcbus_main_bus_fn)(ipcbus_main *m, sd_bus *bus, void *userdata);

/**
 * ipcbus_main_on_bus_closed - a bus connection the main served closed
 * Return: 0; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_main_on_bus_closed(ipcbus_main *m, ipcbus_slot **ret_slot, ipcbus_main_bus_fn fn,
                                            void *userdata);

/**
 * ipcbus_main_set_exit_on_bus_closed - end the loop when a bus goes
 *
 * On by default, as GDBus's exit-on-close: when a bus connection the main
 * serves closes, the on_bus_closed callbacks run and the main's loop exits
 * with -ENOTCONN (ipcbus_main_run() returns it). A main that serves direct
 * connections on after its bus is gone turns it off.
 * Return: 0; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_main_set_exit_on_bus_closed(ipcbus_main *m, bool b);

/* ---- The trust boundary (docs/security.md) ------------------------------ */

/**
 * ipcbus_sender_check_fn - the central sender check
 * @m: the main
 * @sender: who sent it: an attached renderer, or a peer that never
 *   attached (id 0); its kernel credentials are one call away
 *   (ipcbus_web_contents_get_uid() and friends, cached per peer)
 * @op: what it asks: IPCBUS_OP_MESSAGE, _SEND_SYNC, _INVOKE,
 *   _POST_MESSAGE or _ATTACH
 * @channel: the channel; for IPCBUS_OP_ATTACH the name the renderer
 *   asks for, or NULL
 * @userdata: as set
 *
 * Runs before any listener or handler and before the arguments are
 * decoded, for every incoming message on every connection: Electron's
 * "validate the sender of all IPC messages" in one place.
 * Return: 0 to let it through; a negative errno (-EPERM, -EACCES) to
 * refuse it: a call is answered org.ipcbus.Error.Denied naming the
 * channel, a signal is dropped; both are counted and logged once per peer
 * and channel.
 */
typedef int (*ipcbus_sender_check_fn)(ipcbus_main *m, ipcbus_web_contents *sender, ipcbus_op op,
                                      const char *channel, void *userdata);

/* Install the sender check (NULL removes it). Return: 0; -EINVAL. */
IPCBUS_EXPORT int ipcbus_main_set_sender_check(ipcbus_main *m, ipcbus_sender_check_fn fn, void *userdata);

/**
 * ipcbus_main_set_renderer_policy, ipcbus_main_set_unattached_policy,
 * ipcbus_main_set_class_policy - who may use which channels
 * @policy: an allowlist (a reference is taken); NULL allows everything
 * @class_name: a class the main assigns with ipcbus_web_contents_set_class()
 *
 * One policy applies to each peer, the most specific one: the peer's own
 * (ipcbus_web_contents_set_policy()); else its class's; else, for an
 * attached renderer, the renderer policy; else (busctl, desktop services,
 * anything that never attached) the unattached policy. Only the main
 * decides which: the name a renderer attaches with selects nothing.
 * Return: 0; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_main_set_renderer_policy(ipcbus_main *m, ipcbus_policy *policy);
IPCBUS_EXPORT int ipcbus_main_set_unattached_policy(ipcbus_main *m, ipcbus_policy *policy);
IPCBUS_EXPORT int ipcbus_main_set_class_policy(ipcbus_main *m, const char *class_name, ipcbus_policy *policy);

/**
 * ipcbus_limit - per-peer caps; past one, a call gets
 *   org.freedesktop.DBus.Error.LimitsExceeded naming it and a signal is dropped
 * @IPCBUS_LIMIT_CALLS_PER_PEER: Invokes of one peer whose handlers have not
 *   answered yet (default 64)
 * @IPCBUS_LIMIT_ATTACH_NAME: bytes in the name given at Attach (default 255)
 * @IPCBUS_LIMIT_ATTACH_PROPERTIES: entries in Attach's properties (default 32)
 * @IPCBUS_LIMIT_PEERS_PER_CONNECTION: renderers and other peers the main
 *   tracks on one bus connection (default 4096)
 * @IPCBUS_LIMIT_LARGE_VALUE_BYTES: bytes of one argument list a peer sends
 *   out of band (docs/values.md, "Large values"; default and most
 *   IPCBUS_VALUE_LARGE_MAX, 1 GiB). Checked on the size the peer announces,
 *   before its memfd is read: a main that takes no large values from its
 *   renderers needs none kept in memory, nor the time to read them.
 */
typedef enum ipcbus_limit {
        IPCBUS_LIMIT_CALLS_PER_PEER,
        IPCBUS_LIMIT_ATTACH_NAME,
        IPCBUS_LIMIT_ATTACH_PROPERTIES,
        IPCBUS_LIMIT_PEERS_PER_CONNECTION,
        IPCBUS_LIMIT_LARGE_VALUE_BYTES,
        _IPCBUS_LIMIT_MAX,
} ipcbus_limit;

/* Return: 0; -EINVAL for an unknown limit or a value of 0. */
IPCBUS_EXPORT int ipcbus_main_set_limit(ipcbus_main *m, ipcbus_limit limit, uint64_t value);
/* Return: the limit's value; 0 for an unknown limit or a NULL main. */
IPCBUS_EXPORT uint64_t ipcbus_main_get_limit(ipcbus_main *m, ipcbus_limit limit);

/**
 * ipcbus_main_get_counter - what the trust boundary refused so far
 * Return: 0 with the count in @ret; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_main_get_counter(ipcbus_main *m, ipcbus_counter counter, uint64_t *ret);

#ifdef __cplusplus
}
#endif
