/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The one place that turns GVariant into sd-bus message contents and back.
 * Every way in and out (Main1, Renderer1, Channel1, ports) goes through here,
 * so limits (depth, size, UTF-8) are enforced in one place.
 */

#include <glib.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>

/* D-Bus's limit on a signature, in characters. */
#define VALUE_SIGNATURE_MAX 255U

/**
 * value_append - append @value as its own D-Bus type (no variant wrapper)
 * @error: on failure, InvalidArgs saying what is wrong (may be NULL)
 * @depth: the containers already open around @value (0 at top level); they
 *   count towards IPCBUS_VALUE_MAX_DEPTH
 * Return: 0; -EINVAL (type D-Bus lacks, invalid UTF-8/path/signature, 'h'),
 * -ELOOP (too deep), -EMSGSIZE (@value alone over IPCBUS_VALUE_MAX_SIZE);
 * sd-bus errors. On failure the message is unusable.
 */
int value_append(sd_bus_message *m, GVariant *value, unsigned depth, sd_bus_error *error);

/* Append "v" holding @value; NULL appends undefined. The variant itself does
 * not count towards the depth. Errors as value_append(). */
int value_append_variant(sd_bus_message *m, GVariant *value, sd_bus_error *error);

/**
 * value_append_args - append "av"
 * @args: a GVariant of type "av", or NULL for an empty list
 * Each argument is checked as value_append_variant() does; also enforces
 * IPCBUS_VALUE_MAX_SIZE over the whole list (-EMSGSIZE). Error messages
 * name the argument ("argument 2: string is not valid UTF-8").
 */
int value_append_args(sd_bus_message *m, GVariant *args, sd_bus_error *error);

/* The checks of value_append_variant() without a message (ipcbus_value_check). */
int value_check(GVariant *value, sd_bus_error *error);

/**
 * value_type_check - can D-Bus carry values of this GVariant type?
 * @type: one complete type, @len characters (need not be NUL-terminated)
 * @allow_fd: whether 'h' counts as carried
 * @ret_depth: the containers the type nests (a variant counts 1: its
 *   contents have a type of their own)
 * @ret_problem: on failure, static text that completes "type 'T' ..."
 *
 * D-Bus types are a subset of GVariant's: no maybe, no "()", dict entries
 * only in arrays, at most 255 characters, 32 nested arrays and 32 nested
 * structs / dict entries.
 *
 * Return: 0; -EINVAL for a type D-Bus lacks or one too long; -ELOOP for
 * nesting beyond D-Bus's 32 / 32.
 */
int value_type_check(const char *type, size_t len, bool allow_fd, unsigned *ret_depth,
                     const char **ret_problem);

/* Whether @s (@len characters) is a D-Bus signature, as a 'g' value holds. */
bool value_signature_is_dbus(const char *s, size_t len);

/*
 * Reading. Values come back as new, non-floating references. A container
 * nested deeper than IPCBUS_VALUE_MAX_DEPTH gives -ELOOP, 'h' gives -EINVAL
 * (file descriptors travel only as MessagePort transfers); sd-bus errors
 * (-EBADMSG for malformed data, ...) pass through. After an error the read
 * position is undefined: drop the message.
 */

/* Read the next complete value of any type. Return: 0; -EINVAL, -ELOOP; -ENXIO at end. */
int value_read(sd_bus_message *m, GVariant **ret);

/* Read "v" and return its contents (unboxed). -ENXIO at the end or when the
 * next value is not a variant. */
int value_read_variant(sd_bus_message *m, GVariant **ret);

/* Read "av" into a GVariant of type "av" (boxed elements, as on the wire).
 * -ENXIO at the end or when the next value is not "av". */
int value_read_args(sd_bus_message *m, GVariant **ret);
