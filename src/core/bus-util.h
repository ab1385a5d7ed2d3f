/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* "org.ipcbus.Demo" -> "/org/ipcbus/Demo" (the contract's default object
 * path); '-' is not allowed in paths and becomes '_'. Return: a new string
 * (g_free()). */
char *bus_path_from_name(const char *name);

/* A well-known (not unique) bus name a main may own. */
bool bus_well_known_name_is_valid(const char *name);
