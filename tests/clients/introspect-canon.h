/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * D-Bus introspection XML, reduced to text that compares equal exactly when
 * two documents describe an interface the same way on the wire: the same
 * methods, signals and properties, each argument with the same name, type
 * and direction in the same order, the same annotations. Layout, comments,
 * the DOCTYPE, attribute order and member order (which D-Bus gives no
 * meaning) do not matter. One interface reads like this:
 *
 *     interface org.ipcbus.Main1
 *       method Attach
 *         arg in a{sv} properties
 *         arg out t id
 *       method Detach
 *       ...
 *       signal Message
 *         arg s channel
 *
 * Method arguments without a direction are "in", as the specification
 * says; signal arguments carry none. Only the interfaces of the document's
 * own node count, not those of child nodes.
 *
 * GMarkup (GLib), not GDBusNodeInfo, reads the XML: the tests link GLib but
 * not GIO, and this keeps it so. It is the parser GIO's introspection uses.
 */

#include <glib.h>

/**
 * introspect_canon_parse - the canonical text of every interface in @xml
 * @xml: an introspection document, as Introspect() returns it
 * @ret: interface name to canonical text (both char *, owned by the table)
 * @ret_error: on failure, what is wrong (free with g_free())
 *
 * Return: 0; -EINVAL if @xml is not well-formed or an element misses its
 * name or type.
 */
int introspect_canon_parse(const char *xml, GHashTable **ret, char **ret_error);

/* Return: the interface names of @table, sorted and joined by spaces (g_free()). */
char *introspect_canon_names(GHashTable *table);
