/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

#include <ipcbus/ipcbus-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A renderer process: Electron's ipcRenderer. It talks to one main, named
 * by its well-known bus name (or the other end of a direct connection).
 *
 * A renderer may start before its main: until the main's name has an owner,
 * sends, invokes and Attach are queued in order and go out when it appears
 * (within the renderer's timeout; after that, queued invokes fail with
 * org.freedesktop.DBus.Error.ServiceUnknown). Messages from anyone but the
 * main's current owner are dropped.
 */

/**
 * ipcbus_renderer_new - create a renderer for the main named @main_name
 * @main_name: the main's well-known name; the main's object path is derived
 *   from it unless set with ipcbus_renderer_set_main_path()
 * Return: 0; -EINVAL; -ENOMEM if sd-bus cannot register ipcbus's error names
 * (sd_bus_error_add_map()).
 */
IPCBUS_EXPORT int ipcbus_renderer_new(ipcbus_renderer **ret, const char *main_name);
IPCBUS_EXPORT ipcbus_renderer *ipcbus_renderer_ref(ipcbus_renderer *r);
IPCBUS_EXPORT ipcbus_renderer *ipcbus_renderer_unref(ipcbus_renderer *r);
IPCBUS_EXPORT void ipcbus_renderer_unrefp(ipcbus_renderer **r);

IPCBUS_EXPORT int ipcbus_renderer_set_main_path(ipcbus_renderer *r, const char *path);
/* As ipcbus_main_set_log_function(). Return: 0; -EINVAL for a NULL @r. */
IPCBUS_EXPORT int ipcbus_renderer_set_log_function(ipcbus_renderer *r, ipcbus_log_fn fn, void *userdata);

/**
 * ipcbus_renderer_set_timeout - the default for invokes, SendSync, and the
 * wait for the main to appear
 * @usec: microseconds; 0 restores the default (25 s, as D-Bus)
 * Return: 0; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_renderer_set_timeout(ipcbus_renderer *r, uint64_t usec);

/* As ipcbus_main_attach_event(). */
IPCBUS_EXPORT int ipcbus_renderer_attach_event(ipcbus_renderer *r, sd_event *event, int64_t priority);
IPCBUS_EXPORT sd_event *ipcbus_renderer_get_event(ipcbus_renderer *r);

/**
 * ipcbus_renderer_open_user, _open_system, _open_address, _add_bus,
 * _open_direct - connect
 * _open_direct takes one end of a socketpair() whose other end the main
 * passed to ipcbus_main_add_direct(); it owns @fd, also on failure.
 * _add_bus borrows the caller's bus as ipcbus_main_add_bus() does: it is
 * never flushed, closed or detached by the renderer, and may already be
 * attached to the renderer's event loop.
 * Return: 0; connection errors as negative errno codes; -EBUSY if already
 * connected, or (_add_bus) if the bus is attached to another event loop.
 */
IPCBUS_EXPORT int ipcbus_renderer_open_user(ipcbus_renderer *r);
IPCBUS_EXPORT int ipcbus_renderer_open_system(ipcbus_renderer *r);
IPCBUS_EXPORT int ipcbus_renderer_open_address(ipcbus_renderer *r, const char *address);
IPCBUS_EXPORT int ipcbus_renderer_add_bus(ipcbus_renderer *r, sd_bus *bus);
IPCBUS_EXPORT int ipcbus_renderer_open_direct(ipcbus_renderer *r, int fd);

/* As ipcbus_main_run() / ipcbus_main_exit(). */
IPCBUS_EXPORT int ipcbus_renderer_run(ipcbus_renderer *r);
IPCBUS_EXPORT int ipcbus_renderer_exit(ipcbus_renderer *r, int code);

/**
 * ipcbus_renderer_wait_for_main - block until the main's name has an owner
 * Runs nothing but the renderer's own connection meanwhile.
 * @timeout_usec: 0 for the renderer's timeout
 * Return: 0; -ETIMEDOUT; connection errors.
 */
IPCBUS_EXPORT int ipcbus_renderer_wait_for_main(ipcbus_renderer *r, uint64_t timeout_usec);

/* Return: true once the main's owner is known (and the connection is up). */
IPCBUS_EXPORT bool ipcbus_renderer_has_main(ipcbus_renderer *r);

/**
 * ipcbus_renderer_attach - become a known renderer (a webContents coming up)
 * @name: optional name the main can address this renderer by
 * Queued like a send; the id arrives asynchronously (see get_id).
 * Return: 0; -EINVAL; -EALREADY if attached or attaching; -ENOBUFS past a
 * cap, as ipcbus_renderer_send() (then not attaching).
 */
IPCBUS_EXPORT int ipcbus_renderer_attach(ipcbus_renderer *r, const char *name);

/**
 * ipcbus_renderer_attach_sync - attach and wait for the id
 * Return: 0 and the id in @ret_id; errors as negative errno codes, the D-Bus
 * error in @ret_error (may be NULL).
 */
IPCBUS_EXPORT int ipcbus_renderer_attach_sync(ipcbus_renderer *r, const char *name, sd_bus_error *ret_error,
                                              uint64_t *ret_id);
/* Return: the id the main gave (webContents.id), 0 while not attached. */
IPCBUS_EXPORT uint64_t ipcbus_renderer_get_id(ipcbus_renderer *r);
/* Return: 0; -ENOTCONN if not attached; -ENOBUFS as ipcbus_renderer_send()
 * (then still attached). Detach: a window closing. */
IPCBUS_EXPORT int ipcbus_renderer_detach(ipcbus_renderer *r);

/**
 * ipcbus_renderer_send - ipcRenderer.send(channel, ...args)
 * @args: "av" (floating reference sunk) or NULL
 * Sends never block. What the main has not read yet waits in the renderer,
 * at most IPCBUS_CONNECTION_QUEUE_MAX messages on the connection (sd-bus's
 * write queue), and at most IPCBUS_CONNECTION_QUEUE_MAX operations (sends,
 * postMessages, invokes, Attach, Detach) queued while the main has not
 * appeared; past either cap the send fails with -ENOBUFS, nothing is
 * queued, and the renderer's log function is told once per stall.
 * Return: 0; -EINVAL for a bad channel or a value that cannot be carried
 * (nothing is sent); -ENOTCONN; -ENOBUFS past a cap.
 */
IPCBUS_EXPORT int ipcbus_renderer_send(ipcbus_renderer *r, const char *channel, GVariant *args);

/**
 * ipcbus_renderer_sendf - ipcRenderer.send(channel, ...args), as sd-bus appends
 * @types: D-Bus types, each complete type one argument, the values
 *   following as sd_bus_message_append(3) takes them: "s", text; "su",
 *   text, 7; "ai", 2, 1, 2; "v", "s", text; "a{sv}", 1, "key", "u", 7.
 *   NULL or "" for no arguments.
 * The same message as ipcbus_renderer_send() with those values, checked and
 * queued the same, without a GVariant in between: for a small message,
 * about what sd_bus_emit_signal() costs. A list that may go out of band
 * (ipcbus-value.h) is made into a GVariant first, as the other call's is.
 * Return: as ipcbus_renderer_send(); -EINVAL also for a type string that
 * is not D-Bus types, or one with 'h'.
 */
IPCBUS_EXPORT int ipcbus_renderer_sendf(ipcbus_renderer *r, const char *channel, const char *types, ...);
/* The same with a va_list, which it does not use up. */
IPCBUS_EXPORT int ipcbus_renderer_sendfv(ipcbus_renderer *r, const char *channel, const char *types, va_list ap);

/**
 * ipcbus_renderer_post_message - ipcRenderer.postMessage(channel, message, transfer)
 * The main's listeners on @channel get (event, message) and the ports in
 * ipcbus_event_get_ports(). Queued like a send while the main is not there.
 * Return: as ipcbus_web_contents_post_message().
 */
IPCBUS_EXPORT int ipcbus_renderer_post_message(ipcbus_renderer *r, const char *channel, GVariant *message,
                                               ipcbus_port *const *transfer, size_t n_transfer);

/**
 * ipcbus_renderer_invoke - ipcRenderer.invoke(channel, ...args), asynchronous
 * @ret_slot: optional; unreferencing it cancels (the callback is not called)
 * @timeout_usec: 0 for the renderer's timeout
 * @callback: called once from the event loop with the result or the error
 * Return: 0; -EINVAL; -ENOTCONN; -ENOBUFS past a cap, as
 * ipcbus_renderer_send() (the callback is not called).
 */
IPCBUS_EXPORT int ipcbus_renderer_invoke(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel,
                                         GVariant *args, uint64_t timeout_usec, ipcbus_result_fn callback,
                                         void *userdata);

/**
 * ipcbus_renderer_invoke_sync - invoke and block for the answer (small tools)
 * @ret_error: the D-Bus error on failure (may be NULL)
 * @ret_result: the value (new reference), on success
 * Return: 0; when the main answered an error, the errno its name maps to
 * (ipcbus-common.h: -ENOENT NoHandler, -EREMOTEIO HandlerFailed, -ENODATA
 * NoReturnValue, -EACCES Denied, -EINVAL InvalidArgs, -ENOBUFS
 * LimitsExceeded; -EIO for a name of the handler's own that sd-bus does not
 * know) with @ret_error holding the name and message; -ETIMEDOUT; -ENOTCONN;
 * -ENOBUFS with @ret_error unset when the renderer's own connection queue is
 * full (IPCBUS_CONNECTION_QUEUE_MAX, as ipcbus_renderer_send()): nothing
 * was sent.
 */
IPCBUS_EXPORT int ipcbus_renderer_invoke_sync(ipcbus_renderer *r, const char *channel, GVariant *args,
                                              uint64_t timeout_usec, sd_bus_error *ret_error,
                                              GVariant **ret_result);

/**
 * ipcbus_renderer_send_sync - ipcRenderer.sendSync(channel, ...args)
 * Blocks until the main's listeners ran. Never hangs: with no return value
 * set, the call fails with org.ipcbus.Error.NoReturnValue; a main that dies
 * fails it at once.
 * Return: as ipcbus_renderer_invoke_sync().
 */
IPCBUS_EXPORT int ipcbus_renderer_send_sync(ipcbus_renderer *r, const char *channel, GVariant *args,
                                            sd_bus_error *ret_error, GVariant **ret_value);

/* ipcRenderer.on / once / removeListener / removeAllListeners, for
 * messages from the main. Same semantics as the ipcbus_main_* ones. */
IPCBUS_EXPORT int ipcbus_renderer_on(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel,
                                     ipcbus_listener_fn fn, void *userdata);
IPCBUS_EXPORT int ipcbus_renderer_once(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel,
                                       ipcbus_listener_fn fn, void *userdata);
IPCBUS_EXPORT int ipcbus_renderer_remove_listener(ipcbus_renderer *r, const char *channel,
                                                  ipcbus_listener_fn fn, void *userdata);
IPCBUS_EXPORT int ipcbus_renderer_remove_all_listeners(ipcbus_renderer *r, const char *channel);
/* Listeners that read the arguments from the event, as ipcbus_main_on_event(). */
IPCBUS_EXPORT int ipcbus_renderer_on_event(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel,
                                           ipcbus_event_listener_fn fn, void *userdata);
IPCBUS_EXPORT int ipcbus_renderer_once_event(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel,
                                             ipcbus_event_listener_fn fn, void *userdata);
IPCBUS_EXPORT int ipcbus_renderer_remove_event_listener(ipcbus_renderer *r, const char *channel,
                                                        ipcbus_event_listener_fn fn, void *userdata);

/* Handlers for main-to-renderer invoke (org.ipcbus.Renderer1.Invoke),
 * served at /org/ipcbus/Renderer to the main only. */
IPCBUS_EXPORT int ipcbus_renderer_handle(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel,
                                         ipcbus_handler_fn fn, void *userdata);
IPCBUS_EXPORT int ipcbus_renderer_handle_once(ipcbus_renderer *r, ipcbus_slot **ret_slot, const char *channel,
                                              ipcbus_handler_fn fn, void *userdata);
IPCBUS_EXPORT int ipcbus_renderer_remove_handler(ipcbus_renderer *r, const char *channel);

/**
 * ipcbus_renderer_get_counter - what this renderer refused so far: replies
 * to its calls from a peer it did not call (IPCBUS_COUNTER_REPLIES_DROPPED),
 * Message, PostMessage and Renderer1.Invoke from anyone but its main
 * Return: 0 with the count in @ret; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_renderer_get_counter(ipcbus_renderer *r, ipcbus_counter counter, uint64_t *ret);

/* ---- the main's comings and goings ------------------------------------- */

/* Called when the main appears or vanishes. */
typedef void (*ipcbus_renderer_main_fn)(ipcbus_renderer *r, void *userdata);

/**
 * ipcbus_renderer_on_main_appeared, ipcbus_renderer_on_main_vanished -
 * the main's name gained an owner, or lost it
 *
 * On a bus, "vanished" is the main's name losing its owner (the main
 * exited or released it) or the bus connection closing; "appeared" is a
 * main owning the name again (a restart: the renderer attaches again by
 * itself if it was attached). On a direct connection the main is there
 * from the open, and vanishes when the connection closes. The state is
 * right from the first call after open (ipcbus_renderer_has_main()); the
 * callbacks report changes after that. Calls in flight to a main that
 * vanished fail at once with org.ipcbus.Error.Disconnected (-ENOTCONN).
 * Return: 0; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_renderer_on_main_appeared(ipcbus_renderer *r, ipcbus_slot **ret_slot,
                                                   ipcbus_renderer_main_fn fn, void *userdata);
IPCBUS_EXPORT int ipcbus_renderer_on_main_vanished(ipcbus_renderer *r, ipcbus_slot **ret_slot,
                                                   ipcbus_renderer_main_fn fn, void *userdata);

/**
 * ipcbus_renderer_set_exit_on_main_vanished - end the loop when the main goes
 *
 * Off by default. When on, the renderer's loop exits with -ENOTCONN
 * (ipcbus_renderer_run() returns it) after the on_main_vanished callbacks.
 * Return: 0; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_renderer_set_exit_on_main_vanished(ipcbus_renderer *r, bool b);

#ifdef __cplusplus
}
#endif
