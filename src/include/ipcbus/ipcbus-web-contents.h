/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

#include <ipcbus/ipcbus-common.h>
#include <ipcbus/ipcbus-policy.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A renderer as the main sees it: Electron's webContents. Attached
 * renderers have an id (from 1, never reused) and an optional name; peers
 * that talk without attaching (busctl, a desktop service) appear as
 * unattached web contents with id 0, so event.sender.send() works for them
 * too. After the renderer detaches or disconnects, sends fail with -ENOTCONN.
 */

IPCBUS_EXPORT ipcbus_web_contents *ipcbus_web_contents_ref(ipcbus_web_contents *wc);
IPCBUS_EXPORT ipcbus_web_contents *ipcbus_web_contents_unref(ipcbus_web_contents *wc);
IPCBUS_EXPORT void ipcbus_web_contents_unrefp(ipcbus_web_contents **wc);

/* Return: the id (webContents.id), 0 if not attached. */
IPCBUS_EXPORT uint64_t ipcbus_web_contents_get_id(ipcbus_web_contents *wc);
/* Return: the name given at Attach, or NULL. */
IPCBUS_EXPORT const char *ipcbus_web_contents_get_name(ipcbus_web_contents *wc);
/* Return: the renderer's unique bus name, NULL on a direct connection. */
IPCBUS_EXPORT const char *ipcbus_web_contents_get_bus_name(ipcbus_web_contents *wc);
/* Return: true while attached (Attach called, not detached, connected). */
IPCBUS_EXPORT bool ipcbus_web_contents_is_attached(ipcbus_web_contents *wc);
/* Return: the main it belongs to (borrowed); NULL once the main forgot it
 * (it detached or went away, or the main was freed). */
IPCBUS_EXPORT ipcbus_main *ipcbus_web_contents_get_main(ipcbus_web_contents *wc);

/**
 * ipcbus_web_contents_send - webContents.send(channel, ...args)
 * @args: "av" (floating reference sunk), or NULL for no arguments
 * Never blocks: what the renderer has not read yet waits in the main, up
 * to IPCBUS_CONNECTION_QUEUE_MAX messages on its connection.
 * Return: 0; -EINVAL for a NULL @wc or @channel, a bad channel or value;
 * -ENOTCONN if gone;
 * -ENOBUFS while the connection's queue is full (the renderer, or on a bus
 * the bus daemon, is not reading): nothing is sent, try again later.
 */
IPCBUS_EXPORT int ipcbus_web_contents_send(ipcbus_web_contents *wc, const char *channel, GVariant *args);

/**
 * ipcbus_web_contents_sendf - webContents.send(channel, ...args), as sd-bus appends
 * @types: the arguments' D-Bus types, each complete type one argument, the
 *   values following as sd_bus_message_append(3) takes them (see
 *   ipcbus_renderer_sendf())
 * The same message as ipcbus_web_contents_send() with those values, without
 * a GVariant in between (except on a declared event channel, whose typed
 * face is made from one, and for a list that goes out of band).
 * Return: as ipcbus_web_contents_send(); -EINVAL also for a type string
 * that is not D-Bus types, or one with 'h'.
 */
IPCBUS_EXPORT int ipcbus_web_contents_sendf(ipcbus_web_contents *wc, const char *channel, const char *types, ...);
/* The same with a va_list, which it does not use up. */
IPCBUS_EXPORT int ipcbus_web_contents_sendfv(ipcbus_web_contents *wc, const char *channel, const char *types,
                                             va_list ap);

/**
 * ipcbus_web_contents_post_message - webContents.postMessage(channel, message, transfer)
 * @message: the value (floating reference sunk); NULL means undefined
 * @transfer: MessagePorts to hand over (neutered here once sent)
 * The renderer's listeners on @channel get (event, message) and the ports
 * in ipcbus_event_get_ports().
 * Return: 0; -EINVAL for a NULL @wc or @channel, a bad channel, value or
 * transfer list (nothing is sent, the ports stay usable); -ENOTCONN if gone; -ENOBUFS as
 * ipcbus_web_contents_send() (nothing is sent, the ports stay usable).
 */
IPCBUS_EXPORT int ipcbus_web_contents_post_message(ipcbus_web_contents *wc, const char *channel, GVariant *message,
                                                   ipcbus_port *const *transfer, size_t n_transfer);

/**
 * ipcbus_web_contents_get_queued - what the main holds for this renderer
 * @ret_messages: messages sent and not yet written to its connection (on a
 *   bus: to the bus connection, which all its renderers share)
 *
 * Sends fail with -ENOBUFS while this is IPCBUS_CONNECTION_QUEUE_MAX; it
 * falls as the peer (or the bus daemon) reads. 0 once the renderer is gone:
 * what waited for it was freed.
 * Return: 0; -EINVAL for a NULL @wc or @ret_messages.
 */
IPCBUS_EXPORT int ipcbus_web_contents_get_queued(ipcbus_web_contents *wc, uint64_t *ret_messages);

/**
 * ipcbus_web_contents_invoke - call a handler the renderer registered
 * (org.ipcbus.Renderer1.Invoke); Electron lacks this, electron-better-ipc's
 * callRenderer fills the gap.
 * @ret_slot: optional; unreferencing it cancels the call
 * @timeout_usec: how long to wait; 0 for the default (25 s)
 * @callback: gets the result or the error (timeouts are
 *   org.freedesktop.DBus.Error.NoReply)
 * Return: 0; -EINVAL for a NULL @wc, @channel or @callback, a bad channel or
 * value; -ENOTCONN if the renderer is gone; -ENOBUFS as
 * ipcbus_web_contents_send().
 */
IPCBUS_EXPORT int ipcbus_web_contents_invoke(ipcbus_web_contents *wc, ipcbus_slot **ret_slot, const char *channel,
                                             GVariant *args, uint64_t timeout_usec, ipcbus_result_fn callback,
                                             void *userdata);

/**
 * ipcbus_web_contents_get_pid, ipcbus_web_contents_get_uid,
 * ipcbus_web_contents_get_gid - the sender's kernel-verified credentials
 *
 * On a direct connection: what the kernel recorded for the socket
 * (SO_PEERCRED), or, for a renderer the main spawned, that process. On a
 * bus: the bus's own answer for the peer's unique name (the process that
 * connected), with the gid from the kernel for that process. Asked for
 * once per peer, on first use, and cached: a peer's identity does not
 * change while its connection lasts.
 * Return: 0; -ESRCH if the peer is gone before it could be asked;
 * -ENODATA if neither the kernel nor the bus can tell; -EINVAL for a NULL
 * @wc or output.
 */
IPCBUS_EXPORT int ipcbus_web_contents_get_pid(ipcbus_web_contents *wc, pid_t *ret_pid);
IPCBUS_EXPORT int ipcbus_web_contents_get_uid(ipcbus_web_contents *wc, uid_t *ret_uid);
IPCBUS_EXPORT int ipcbus_web_contents_get_gid(ipcbus_web_contents *wc, gid_t *ret_gid);

/**
 * ipcbus_web_contents_get_pidfd - a pidfd for the sender's process
 *
 * Borrowed: valid while @wc is referenced; dup it to keep it.
 * Return: the descriptor; -ENODATA where the kernel and the bus give none;
 * the errors of ipcbus_web_contents_get_pid().
 */
IPCBUS_EXPORT int ipcbus_web_contents_get_pidfd(ipcbus_web_contents *wc);

/**
 * ipcbus_web_contents_set_policy - this peer's own allowlist
 * @policy: a reference is taken; NULL falls back to its class's or the
 *   main's (ipcbus_main_set_renderer_policy())
 * Return: 0; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_web_contents_set_policy(ipcbus_web_contents *wc, ipcbus_policy *policy);

/**
 * ipcbus_web_contents_set_class - put the peer in a class of the main's
 * @class_name: NULL for none; its policy is ipcbus_main_set_class_policy()'s
 * Return: 0; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_web_contents_set_class(ipcbus_web_contents *wc, const char *class_name);
/* Return: the class the main assigned, or NULL. */
IPCBUS_EXPORT const char *ipcbus_web_contents_get_class(ipcbus_web_contents *wc);

#ifdef __cplusplus
}
#endif
