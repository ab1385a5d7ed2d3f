/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <glib.h>

#include <ipcbus/ipcbus-common.h>
#include <ipcbus/ipcbus-port.h>

#include "errors.h"

/* The errnos are documented next to the names in the public headers.
 * sd-bus's own table already maps InvalidArgs (EINVAL) and LimitsExceeded
 * (ENOBUFS). sd-bus keeps a pointer to this array for the life of the
 * process. */
static const sd_bus_error_map ipcbus_error_map[] = {
        SD_BUS_ERROR_MAP(IPCBUS_ERROR_NO_HANDLER, ENOENT),
        SD_BUS_ERROR_MAP(IPCBUS_ERROR_HANDLER_FAILED, EREMOTEIO),
        SD_BUS_ERROR_MAP(IPCBUS_ERROR_NO_RETURN_VALUE, ENODATA),
        SD_BUS_ERROR_MAP(IPCBUS_ERROR_DENIED, EACCES),
        SD_BUS_ERROR_MAP(IPCBUS_ERROR_BAD_FRAME, EBADMSG),
        /* Local: the peer a call went to went away first. */
        SD_BUS_ERROR_MAP(IPCBUS_ERROR_DISCONNECTED, ENOTCONN),
        SD_BUS_ERROR_MAP_END,
};

int errors_add_map(void) {
        static gsize once = 0;
        static int result;

        /* sd_bus_error_add_map() itself is idempotent but not thread-safe. */
        if (g_once_init_enter(&once)) {
                result = sd_bus_error_add_map(ipcbus_error_map);
                g_once_init_leave(&once, 1);
        }
        return result < 0 ? result : 0;
}

/* Electron's texts, so messages read the same to people who know it. */

int error_no_handler(sd_bus_error *e, const char *channel) {
        return sd_bus_error_setf(e, IPCBUS_ERROR_NO_HANDLER, "No handler registered for '%s'", channel);
}

/* Electron rejects the invoke with the handler's error as String(error)
 * gives it, which for an Error is Error.prototype.toString(): "KIND: MESSAGE",
 * the kind alone for an empty message, the message alone for an empty kind. */
int error_handler_failed(sd_bus_error *e, const char *channel, const char *kind, const char *message) {
        if (!kind)
                kind = "Error";
        return sd_bus_error_setf(e, IPCBUS_ERROR_HANDLER_FAILED, "Error invoking remote method '%s': %s%s%s",
                                 channel, kind, *kind && *message ? ": " : "", message);
}

int error_no_return_value(sd_bus_error *e, const char *channel) {
        return sd_bus_error_setf(e, IPCBUS_ERROR_NO_RETURN_VALUE,
                                 "No listener of '%s' set a return value (event.returnValue)", channel);
}

int error_denied(sd_bus_error *e, const char *channel) {
        if (!channel)
                return sd_bus_error_set(e, IPCBUS_ERROR_DENIED, "Sender may not attach");
        return sd_bus_error_setf(e, IPCBUS_ERROR_DENIED, "Sender may not use channel '%s'", channel);
}

int error_limits_exceeded(sd_bus_error *e, const char *limit, uint64_t value) {
        return sd_bus_error_setf(e, IPCBUS_ERROR_LIMITS_EXCEEDED, "Limit exceeded: %s (at most %llu)", limit,
                                 (unsigned long long)value);
}

int error_invalid_args(sd_bus_error *e, const char *format, ...) {
        char buf[512];
        va_list ap;

        va_start(ap, format);
        (void)vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);
        return sd_bus_error_set(e, IPCBUS_ERROR_INVALID_ARGS, buf);
}
