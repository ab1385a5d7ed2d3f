/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <ipcbus/ipcbus-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A pending invoke: Electron's handle() listener and the promise it
 * returns. Complete it once, now or later from the event loop. If the last
 * reference goes away before it is completed, the caller gets
 * org.ipcbus.Error.HandlerFailed rather than waiting for its timeout.
 */

IPCBUS_EXPORT ipcbus_invocation *ipcbus_invocation_ref(ipcbus_invocation *invocation);
IPCBUS_EXPORT ipcbus_invocation *ipcbus_invocation_unref(ipcbus_invocation *invocation);
IPCBUS_EXPORT void ipcbus_invocation_unrefp(ipcbus_invocation **invocation);

IPCBUS_EXPORT const char *ipcbus_invocation_get_channel(ipcbus_invocation *invocation);
/* Return: the arguments, "av", borrowed. */
IPCBUS_EXPORT GVariant *ipcbus_invocation_get_args(ipcbus_invocation *invocation);
/* Return: the calling renderer in the main (borrowed), NULL in a renderer. */
IPCBUS_EXPORT ipcbus_web_contents *ipcbus_invocation_get_sender(ipcbus_invocation *invocation);
IPCBUS_EXPORT const char *ipcbus_invocation_get_sender_bus_name(ipcbus_invocation *invocation);

/**
 * ipcbus_invocation_return_value - resolve the invoke
 * @value: the result (floating reference sunk); NULL means undefined
 * Return: 0; -EALREADY if already completed; -EINVAL if the value cannot
 * be carried (the caller then gets InvalidArgs saying why, so it never hangs);
 * -ENOTCONN if the caller went away (nothing to do).
 */
IPCBUS_EXPORT int ipcbus_invocation_return_value(ipcbus_invocation *invocation, GVariant *value);

/**
 * ipcbus_invocation_return_error - reject the invoke
 * @name: a D-Bus error name that reaches the caller intact, or NULL for
 *   org.ipcbus.Error.HandlerFailed with the message
 *   "Error invoking remote method 'CHANNEL': Error: MESSAGE", the text
 *   Electron gives for a handler that throws new Error(MESSAGE)
 * @format: printf-style message
 * Return: 0; -EALREADY if already completed; -EINVAL for an invalid @name;
 * -ENOTCONN if the caller went away.
 */
IPCBUS_EXPORT int ipcbus_invocation_return_error(ipcbus_invocation *invocation, const char *name,
                                                 const char *format, ...) G_GNUC_PRINTF(3, 4);

/**
 * ipcbus_invocation_return_error_kind - reject the invoke with an error of a kind
 * @kind: the JavaScript error's name, as Electron prints it: "TypeError"
 *   gives "Error invoking remote method 'CHANNEL': TypeError: MESSAGE";
 *   NULL is "Error" (as ipcbus_invocation_return_error() with no name);
 *   "" gives the message alone, like a handler that throws a string
 * @format: printf-style message; an empty one leaves the kind alone
 *   ("...: TypeError"), as Error.prototype.toString() does
 *
 * The caller gets org.ipcbus.Error.HandlerFailed: the kind is in the text
 * only, for people and for code that reads Electron's messages.
 *
 * Return: 0; -EALREADY if already completed; -EINVAL for a @kind that is
 * not UTF-8; -ENOTCONN if the caller went away.
 */
IPCBUS_EXPORT int ipcbus_invocation_return_error_kind(ipcbus_invocation *invocation, const char *kind,
                                                      const char *format, ...) G_GNUC_PRINTF(3, 4);

/* Return: true once return_value, return_error or return_error_kind has been called. */
IPCBUS_EXPORT bool ipcbus_invocation_is_completed(ipcbus_invocation *invocation);

#ifdef __cplusplus
}
#endif
