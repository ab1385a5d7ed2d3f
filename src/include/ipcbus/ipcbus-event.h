/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

#include <ipcbus/ipcbus-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What a listener sees: Electron's IpcMainEvent in the main, IpcRendererEvent
 * in a renderer. Valid during the listener call; take a reference to reply
 * later (a reply after the sender went away fails with -ENOTCONN).
 */

IPCBUS_EXPORT ipcbus_event *ipcbus_event_ref(ipcbus_event *event);
IPCBUS_EXPORT ipcbus_event *ipcbus_event_unref(ipcbus_event *event);
IPCBUS_EXPORT void ipcbus_event_unrefp(ipcbus_event **event);

IPCBUS_EXPORT const char *ipcbus_event_get_channel(ipcbus_event *event);
/* Return: the arguments, "av", borrowed (made on the first call where the
 * listeners read the event: ipcbus_event_listener_fn). */
IPCBUS_EXPORT GVariant *ipcbus_event_get_args(ipcbus_event *event);

/**
 * ipcbus_event_read - the arguments into C variables, as sd_bus_message_read(3)
 * @types: one item per argument, from the first: a basic type other than
 *   'h' (its C type, as sd-bus has it: 'b' an int, 's', 'o' and 'g' a
 *   const char * valid as long as the event), 'v' (the argument, whatever
 *   its type, as a GVariant reference to unref) or '@' and a complete type
 *   ("@a{sv}": the argument, if of that type, as a GVariant reference).
 *   Arguments past the last item are left unread.
 * @...: a pointer for each item; NULL skips its argument
 *
 *   const char *text; uint32_t n;
 *   r = ipcbus_event_read(event, "su", &text, &n);
 *
 * The twin of ipcbus_renderer_sendf(): a value sent as "s" reads as "s".
 * What JavaScript would call null or undefined is a tagged value
 * (ipcbus-value.h): read it as "v".
 * Return: 0, every variable written; -ENXIO if an argument is missing or of
 * another type, -EINVAL for a bad @types: then none is written.
 */
IPCBUS_EXPORT int ipcbus_event_read(ipcbus_event *event, const char *types, ...);
/* The same with a va_list, which it does not use up (va_copy()). */
IPCBUS_EXPORT int ipcbus_event_readv(ipcbus_event *event, const char *types, va_list ap);
/* Return: how many arguments came (args.length). */
IPCBUS_EXPORT size_t ipcbus_event_count_args(ipcbus_event *event);

/**
 * ipcbus_event_get_sender - event.sender in the main
 * Return: the sending renderer (borrowed; attached or not: a peer such as
 * busctl that never called Attach has id 0), or NULL in a renderer, where
 * every event comes from the main.
 */
IPCBUS_EXPORT ipcbus_web_contents *ipcbus_event_get_sender(ipcbus_event *event);

/* Return: the sender's unique bus name, or NULL on a direct connection. */
IPCBUS_EXPORT const char *ipcbus_event_get_sender_bus_name(ipcbus_event *event);

/**
 * ipcbus_event_reply - event.reply(channel, ...args)
 * In the main, sends @channel to the renderer that sent the event; in a
 * renderer, sends @channel to the main.
 * Return: 0; -EINVAL for a bad channel or value; -ENOTCONN if the peer is gone.
 */
IPCBUS_EXPORT int ipcbus_event_reply(ipcbus_event *event, const char *channel, GVariant *args);
/* The same with the arguments as sd_bus_message_append(3) takes them (see
 * ipcbus_renderer_sendf()); the va_list form does not use its list up. */
IPCBUS_EXPORT int ipcbus_event_replyf(ipcbus_event *event, const char *channel, const char *types, ...);
IPCBUS_EXPORT int ipcbus_event_replyfv(ipcbus_event *event, const char *channel, const char *types, va_list ap);

/**
 * ipcbus_event_set_return_value - event.returnValue = value (SendSync)
 * The first value set wins, as in Electron; later ones are ignored.
 * Return: 1 if this value is the answer, 0 if one was set before;
 * -EOPNOTSUPP if the event is not from a SendSync call.
 */
IPCBUS_EXPORT int ipcbus_event_set_return_value(ipcbus_event *event, GVariant *value);

/**
 * ipcbus_event_get_ports - event.ports: the MessagePorts that came with a
 * PostMessage (ipcRenderer.postMessage / webContents.postMessage)
 * @ret_n: how many (may be NULL)
 * Return: the ports (borrowed; ipcbus_port_ref() the ones you keep; the
 * others close when the event goes), or NULL when none came.
 */
IPCBUS_EXPORT ipcbus_port **ipcbus_event_get_ports(ipcbus_event *event, size_t *ret_n);

/* Return: true if the event comes from SendSync (the sender is waiting). */
IPCBUS_EXPORT bool ipcbus_event_is_sync(ipcbus_event *event);

#ifdef __cplusplus
}
#endif
