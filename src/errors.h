/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The one place that knows the contract's error names and message texts
 * (docs/wire-contract.md, "Errors"). Each returns a negative errno like
 * sd_bus_error_setf(), so callers can `return error_...(...)`. */

#include <stdint.h>
#include <systemd/sd-bus.h>

int error_no_handler(sd_bus_error *e, const char *channel);
int error_handler_failed(sd_bus_error *e, const char *channel, const char *message);
int error_no_return_value(sd_bus_error *e, const char *channel);
/* @channel NULL: Attach was refused. */
int error_denied(sd_bus_error *e, const char *channel);
int error_limits_exceeded(sd_bus_error *e, const char *limit, uint64_t value);
int error_invalid_args(sd_bus_error *e, const char *format, ...) __attribute__((format(printf, 2, 3)));
