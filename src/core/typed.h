/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Typed channel declarations (ipcbus-typed.h), without a transport: what a
 * declaration says, the rules it must follow (member names, one result,
 * carriable types, no collisions) and the table of them. The main serves
 * them (main-typed.c).
 */

#include <ipcbus/ipcbus-typed.h>

#include "util.h"

typedef struct typed_channel {
        unsigned n_ref;
        ipcbus_channel_kind kind;
        char *channel;
        char *interface;
        char *member;
        char *args;         /* signature, "" for none */
        char **arg_types;   /* one complete type each, NULL-terminated */
        char **arg_names;   /* as many */
        char *result;       /* one complete type, or NULL: no result */
        char *result_name;
        /* sd-bus's vtable names: each argument's, then the result's, each
         * NUL-terminated. */
        char *vtable_names;
        size_t vtable_names_len;
} typed_channel;

typed_channel *typed_channel_ref(typed_channel *t);
typed_channel *typed_channel_unref(typed_channel *t);
DEFINE_CLEANUP(typed_channel *, typed_channel_unref);
/* As a GDestroyNotify. */
void typed_channel_unref_notify(void *t);

/* A new declaration, checked. Return: 0; -EINVAL with @error set. */
int typed_channel_new(ipcbus_channel_kind kind, const char *channel, const char *interface, const char *member,
                      const char *args, char **arg_names, const char *result, const char *result_name,
                      sd_bus_error *error, typed_channel **ret);

/* Whether two declarations say the same. */
bool typed_channel_equal(const typed_channel *a, const typed_channel *b);

/* Whether @args ("av", boxed) match the declared arguments; on a mismatch
 * @error says what was expected. Return: 0; -EINVAL. */
int typed_channel_check_args(const typed_channel *t, GVariant *args, sd_bus_error *error);

/* Whether @value is what the channel declares it returns: its type is the
 * result's (anything for "v"). */
bool typed_channel_result_matches(const typed_channel *t, GVariant *value);

/* The member name a channel's name gives (ipcbus_channel_member_name()). */
int typed_member_name(const char *channel, char **ret);

/* Whether @interface may carry typed channels (valid, not ipcbus's own or
 * org.freedesktop.DBus's). Return: 0; -EINVAL with @error set. */
int typed_interface_check(const char *interface, sd_bus_error *error);

/* The declarations of a main. */
typedef struct typed_table {
        GHashTable *by_channel;  /* channel -> typed_channel */
        GHashTable *by_member;   /* "interface.member" -> typed_channel (borrowed) */
} typed_table;

void typed_table_init(typed_table *tt);
void typed_table_clear(typed_table *tt);

/* Add all of @list (of typed_channel) or nothing. Redeclaring a channel
 * the same way is no change. Return: the number added; -EEXIST with @error
 * set for a channel declared otherwise or a member name taken. */
int typed_table_add(typed_table *tt, GPtrArray *list, sd_bus_error *error);
/* Return: 0; -ENOENT. */
int typed_table_remove(typed_table *tt, const char *channel);
typed_channel *typed_table_get(typed_table *tt, const char *channel);
typed_channel *typed_table_get_member(typed_table *tt, const char *interface, const char *member);

/* Declarations from introspection XML, as ipcbus_main_declare_channels_xml()
 * reads them. Return: 0 and the list (of typed_channel); -EBADMSG, -EINVAL
 * with @error set. */
int typed_parse_xml(const char *xml, sd_bus_error *error, GPtrArray **ret);
