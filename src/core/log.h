/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The library never prints: reports go to the log function the application
 * set on the object, or nowhere. The one exception is opt-in: with
 * IPCBUS_DEBUG set, refused programming errors also go to stderr. */

#include <ipcbus/ipcbus-common.h>
#include <syslog.h>

typedef struct log_target {
        ipcbus_log_fn fn;
        void *userdata;
} log_target;

void log_emit(const log_target *target, int priority, const char *format, ...) G_GNUC_PRINTF(3, 4);

/*
 * log_assert_failed - report a refused programming error, as sd-bus does
 * @target: the object's log target, or NULL when the object itself is the
 *   NULL that was refused
 *
 * Logs "Assertion 'EXPR' failed at FILE:LINE, function FUNC(). Ignoring."
 * at LOG_DEBUG to @target, and to stderr when IPCBUS_DEBUG is set to a
 * non-empty value other than "0".
 */
void log_assert_failed(const log_target *target, const char *expr, const char *file, int line, const char *func);

/*
 * assert_return - refuse a programming error in a public entry point
 *
 * A NULL object, a NULL callback, a NULL required pointer: logged through
 * log_assert_failed() and answered with @r (-EINVAL as a rule), like
 * sd-bus's assert_return(). @target is evaluated only when @expr fails, so
 * it may dereference an object an earlier assert_return() checked. Bad data
 * (an invalid channel string, a value D-Bus cannot carry) is not a
 * programming error: it is refused by the usual checks.
 */
#define assert_return(expr, target, r)                                                   \
        do {                                                                             \
                if (G_UNLIKELY(!(expr))) {                                               \
                        log_assert_failed((target), #expr, __FILE__, __LINE__, __func__); \
                        return (r);                                                      \
                }                                                                        \
        } while (false)
