/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include <systemd/sd-bus.h>

#include "value-large.h"

/**
 * value_append_args_va - append "av" from sd-bus-style arguments
 * @types: complete D-Bus types, each one argument, their values in @ap as
 *   sd_bus_message_append(3) takes them; NULL or "" for none
 * @peer: as value_append_args_any(): the list goes out of band where that
 *   peer takes it and it is large enough
 * Checked as value_append_args() checks a GVariant list: the same types
 * refused, depth, size, strings, and the same errors. @ap is not used up
 * (the walks read copies).
 * Return: 0; -EINVAL, -ELOOP, -EMSGSIZE with @error set; sd-bus errors.
 * On failure the message is unusable.
 */
int value_append_args_va(sd_bus_message *m, const char *types, va_list ap, ValueLargePeer *peer,
                         sd_bus_error *error);

/* The same arguments as a GVariant list ("av", a new reference), checked
 * the same way: for what needs the list as a value (a declared channel's
 * typed face). Return: 0; errors as value_append_args_va(). */
int value_args_va_build(const char *types, va_list ap, sd_bus_error *error, GVariant **ret);
