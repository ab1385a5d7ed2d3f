/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static bool debug_to_stderr(void) {
        const char *e = getenv("IPCBUS_DEBUG");

        return e && e[0] && strcmp(e, "0") != 0;
}

/* __FILE__ is relative to the build directory ("../src/x.c") or absolute:
 * keep the part from the source tree's top folder on. */
static const char *short_file(const char *file) {
        static const char *const tops[] = { "/src/", "/adapter/" };
        const char *best = NULL;

        while (strncmp(file, "../", 3) == 0)
                file += 3;
        if (file[0] != '/')
                return file;
        for (size_t i = 0; i < G_N_ELEMENTS(tops); i++) {
                const char *p = g_strrstr(file, tops[i]);

                if (p && (!best || p > best))
                        best = p;
        }
        return best ? best + 1 : file;
}

void log_assert_failed(const log_target *target, const char *expr, const char *file, int line, const char *func) {
        char buf[1024];

        (void)snprintf(buf, sizeof(buf), "Assertion '%s' failed at %s:%d, function %s(). Ignoring.", expr,
                       short_file(file), line, func);
        if (target && target->fn)
                target->fn(LOG_DEBUG, buf, target->userdata);
        if (debug_to_stderr())
                (void)fprintf(stderr, "ipcbus: %s\n", buf);
}
