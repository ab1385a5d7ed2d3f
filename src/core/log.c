/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

void log_emit(const log_target *target, int priority, const char *format, ...) {
        char buf[1024];
        va_list ap;

        /* Formatting costs even when nobody listens; skip it then. */
        if (!target || !target->fn)
                return;

        va_start(ap, format);
        (void)vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);

        target->fn(priority, buf, target->userdata);
}
