/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The one place that turns GVariant into sd-bus message contents and back.
 * Every way in and out (Main1, Renderer1, Channel1, ports) goes through here,
 * so limits (depth, size, UTF-8) are enforced in one place.
 */

#include <glib.h>
#include <systemd/sd-bus.h>

/**
 * value_append - append @value as its own D-Bus type (no variant wrapper)
 * @error: on failure, InvalidArgs saying what is wrong (may be NULL)
 * @depth: the container depth @value starts at (0 at top level)
 * Return: 0; -EINVAL (type D-Bus lacks, invalid UTF-8/path/signature),
 * -ELOOP (too deep); sd-bus errors. On failure the message is unusable.
 */
int value_append(sd_bus_message *m, GVariant *value, unsigned depth, sd_bus_error *error);

/* Append "v" holding @value; NULL appends undefined. */
int value_append_variant(sd_bus_message *m, GVariant *value, sd_bus_error *error);

/**
 * value_append_args - append "av"
 * @args: a GVariant of type "av", or NULL for an empty list
 * Also enforces IPCBUS_VALUE_MAX_SIZE (-EMSGSIZE).
 */
int value_append_args(sd_bus_message *m, GVariant *args, sd_bus_error *error);

/* Read the next complete value of any type. Return: 0; -EINVAL, -ELOOP; -ENXIO at end. */
int value_read(sd_bus_message *m, GVariant **ret);

/* Read "v" and return its contents (unboxed). */
int value_read_variant(sd_bus_message *m, GVariant **ret);

/* Read "av" into a GVariant of type "av" (boxed elements, as on the wire). */
int value_read_args(sd_bus_message *m, GVariant **ret);
