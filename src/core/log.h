/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The library never prints: reports go to the log function the application
 * set on the object, or nowhere. */

#include <ipcbus/ipcbus-common.h>
#include <syslog.h>

typedef struct log_target {
        ipcbus_log_fn fn;
        void *userdata;
} log_target;

void log_emit(const log_target *target, int priority, const char *format, ...) G_GNUC_PRINTF(3, 4);
