/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The one place that knows the contract's error names, their errnos and
 * their message texts (docs/wire-contract.md, "Errors"). Each error_*()
 * returns the negative errno of its name like sd_bus_error_setf(), so
 * callers can `return error_...(...)`. */

#include <stdint.h>
#include <systemd/sd-bus.h>

/*
 * errors_add_map - teach sd-bus the errnos of ipcbus's error names
 *
 * sd-bus's table is per process and only grows: registered once, the
 * mapping holds for every call in the process, whoever makes it. Every
 * public constructor calls this first, so an application never has to.
 * Thread-safe.
 *
 * Return: 0; -ENOMEM (then, and in every later call, sd-bus maps the
 * names to -EIO).
 */
int errors_add_map(void);

int error_no_handler(sd_bus_error *e, const char *channel);
/* @kind: the error's kind as Electron prints it ("TypeError"); NULL for
 * "Error"; "" for none (a thrown string). */
int error_handler_failed(sd_bus_error *e, const char *channel, const char *kind, const char *message);
int error_no_return_value(sd_bus_error *e, const char *channel);
/* @channel NULL: Attach was refused. */
int error_denied(sd_bus_error *e, const char *channel);
int error_limits_exceeded(sd_bus_error *e, const char *limit, uint64_t value);
int error_invalid_args(sd_bus_error *e, const char *format, ...) __attribute__((format(printf, 2, 3)));
