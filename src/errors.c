/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <ipcbus/ipcbus-common.h>

#include "errors.h"

/* Electron's texts, so messages read the same to people who know it. */

int error_no_handler(sd_bus_error *e, const char *channel) {
        return sd_bus_error_setf(e, IPCBUS_ERROR_NO_HANDLER, "No handler registered for '%s'", channel);
}

int error_handler_failed(sd_bus_error *e, const char *channel, const char *message) {
        return sd_bus_error_setf(e, IPCBUS_ERROR_HANDLER_FAILED, "Error invoking remote method '%s': %s", channel,
                                 message);
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
