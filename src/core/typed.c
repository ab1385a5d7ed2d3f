/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <gio/gio.h>
#include <string.h>

#include "channel.h"
#include "errors.h"
#include "typed.h"
#include "value.h"

#define MEMBER_NAME_MAX 255U

/* The annotations the XML form reads (docs/typed-channels.md). */
#define ANNOTATION_CHANNEL "org.ipcbus.Channel"
#define ANNOTATION_KIND "org.ipcbus.Channel.Kind"
#define ANNOTATION_NO_REPLY "org.freedesktop.DBus.Method.NoReply"

static const char *kind_name(ipcbus_channel_kind kind) {
        switch (kind) {
        case IPCBUS_CHANNEL_HANDLE:
                return "handle";
        case IPCBUS_CHANNEL_LISTENER:
                return "listener";
        case IPCBUS_CHANNEL_EVENT:
                return "event";
        }
        return "?";
}

/* ---- names --------------------------------------------------------------- */

static bool is_ascii_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int typed_member_name(const char *channel, char **ret) {
        g_autoptr(GString) s = NULL;
        bool part_start = true;

        if (!channel)
                return -EINVAL;
        s = g_string_new(NULL);
        /* Every byte that is not an ASCII letter or digit separates, the
         * bytes of a multi-byte character included. */
        for (const char *p = channel; *p; p++) {
                if (!is_ascii_alnum(*p)) {
                        part_start = true;
                        continue;
                }
                g_string_append_c(s, part_start ? g_ascii_toupper(*p) : *p);
                part_start = false;
        }
        if (s->len == 0 || g_ascii_isdigit(s->str[0]) || s->len > MEMBER_NAME_MAX)
                return -EINVAL;
        *ret = strdup(s->str);
        return *ret ? 0 : -ENOMEM;
}

static bool arg_name_is_valid(const char *name) {
        if (!name || !(g_ascii_isalpha(name[0]) || name[0] == '_'))
                return false;
        for (const char *p = name; *p; p++)
                if (!(is_ascii_alnum(*p) || *p == '_'))
                        return false;
        return strlen(name) <= MEMBER_NAME_MAX;
}

int typed_interface_check(const char *interface, sd_bus_error *error) {
        if (!interface || !sd_bus_interface_name_is_valid(interface))
                return error_invalid_args(error, "'%s' is not a valid D-Bus interface name", strnull(interface));
        if (g_str_has_prefix(interface, "org.ipcbus.") &&
            (streq(interface, IPCBUS_INTERFACE_MAIN) || streq(interface, IPCBUS_INTERFACE_RENDERER) ||
             streq(interface, IPCBUS_INTERFACE_CHANNEL)))
                return error_invalid_args(error, "'%s' is ipcbus's own interface", interface);
        if (g_str_has_prefix(interface, "org.freedesktop.DBus"))
                return error_invalid_args(error, "'%s' is D-Bus's own interface", interface);
        return 0;
}

/* ---- one declaration ----------------------------------------------------- */

typed_channel *typed_channel_ref(typed_channel *t) {
        if (t)
                t->n_ref++;
        return t;
}

typed_channel *typed_channel_unref(typed_channel *t) {
        if (!t || --t->n_ref > 0)
                return NULL;
        g_free(t->channel);
        g_free(t->interface);
        g_free(t->member);
        g_free(t->args);
        g_strfreev(t->arg_types);
        g_strfreev(t->arg_names);
        g_free(t->result);
        g_free(t->result_name);
        g_free(t->vtable_names);
        g_free(t);
        return NULL;
}

void typed_channel_unref_notify(void *t) {
        typed_channel_unref(t);
}

/* One complete, carriable type. */
static int check_type(const char *channel, const char *what, const char *type, size_t len, sd_bus_error *error) {
        const char *problem = NULL;
        unsigned depth;

        if (value_type_check(type, len, false, &depth, &problem) < 0)
                return error_invalid_args(error, "The %s of '%s', type '%.*s', %s", what, channel, (int)len, type,
                                          problem);
        return 0;
}

/* Split @args into complete types, each checked. */
static int split_args(const char *channel, const char *args, sd_bus_error *error, GPtrArray *types) {
        const char *p = args, *end;
        int r;

        while (*p) {
                if (!g_variant_type_string_scan(p, NULL, &end))
                        return error_invalid_args(error, "The arguments of '%s', '%s', are not a D-Bus signature",
                                                  channel, args);
                r = check_type(channel, "argument", p, (size_t)(end - p), error);
                if (r < 0)
                        return r;
                g_ptr_array_add(types, g_strndup(p, (size_t)(end - p)));
                p = end;
        }
        return 0;
}

int typed_channel_new(ipcbus_channel_kind kind, const char *channel, const char *interface, const char *member,
                      const char *args, char **arg_names, const char *result, const char *result_name,
                      sd_bus_error *error, typed_channel **ret) {
        _cleanup_(typed_channel_unrefp) typed_channel *t = NULL;
        g_autoptr(GPtrArray) types = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GString) names = g_string_new(NULL);
        _cleanup_(freep) char *derived = NULL;
        size_t n_names;
        int r;

        r = channel_validate(channel, error);
        if (r < 0)
                return r;
        if (kind != IPCBUS_CHANNEL_HANDLE && kind != IPCBUS_CHANNEL_LISTENER && kind != IPCBUS_CHANNEL_EVENT)
                return error_invalid_args(error, "'%s': %d is not a channel kind", channel, (int)kind);
        r = typed_interface_check(interface, error);
        if (r < 0)
                return r;
        if (typed_member_name(channel, &derived) < 0)
                return error_invalid_args(error,
                                          "'%s' gives no D-Bus member name: it needs a letter or digit, must "
                                          "not start with a digit and gives at most 255 characters",
                                          channel);
        if (member && !streq(member, derived))
                return error_invalid_args(error, "Member '%s' does not match channel '%s', which gives '%s'",
                                          member, channel, derived);

        r = split_args(channel, args ? args : "", error, types);
        if (r < 0)
                return r;
        if (result && !result[0])
                result = NULL;
        if (result) {
                const char *end = NULL;

                if (kind == IPCBUS_CHANNEL_EVENT)
                        return error_invalid_args(error, "Event channel '%s' cannot have a result", channel);
                if (g_variant_type_string_scan(result, NULL, &end) && *end)
                        return error_invalid_args(error,
                                                  "The result of '%s', '%s', is not one complete type: a channel "
                                                  "answers with one value (use a struct, '(%s)')",
                                                  channel, result, result);
                r = check_type(channel, "result", result, strlen(result), error);
                if (r < 0)
                        return r;
        }

        if (!result_name)
                result_name = "result";
        if (result && !arg_name_is_valid(result_name))
                return error_invalid_args(error, "Result name '%s' of '%s' is not a C identifier", result_name,
                                          channel);
        n_names = arg_names ? g_strv_length(arg_names) : 0;
        if (arg_names && n_names != types->len)
                return error_invalid_args(error, "'%s' has %u argument(s) but %zu name(s)", channel, types->len,
                                          n_names);
        for (size_t i = 0; i < n_names; i++) {
                if (!arg_name_is_valid(arg_names[i]))
                        return error_invalid_args(error, "Argument name '%s' of '%s' is not a C identifier",
                                                  arg_names[i], channel);
                for (size_t j = 0; j < i; j++)
                        if (streq(arg_names[i], arg_names[j]))
                                return error_invalid_args(error, "'%s' names two arguments '%s'", channel,
                                                          arg_names[i]);
        }

        t = g_new0(typed_channel, 1);
        t->n_ref = 1;
        t->kind = kind;
        t->channel = g_strdup(channel);
        t->interface = g_strdup(interface);
        t->member = g_strdup(derived);
        t->args = g_strdup(args ? args : "");
        g_ptr_array_add(types, NULL);
        t->arg_types = (char **)g_ptr_array_steal(types, NULL);
        t->arg_names = g_new0(char *, n_names ? n_names + 1 : g_strv_length(t->arg_types) + 1);
        for (size_t i = 0; t->arg_types[i]; i++) {
                t->arg_names[i] = arg_names ? g_strdup(arg_names[i]) : g_strdup_printf("arg%zu", i);
                g_string_append_len(names, t->arg_names[i], (gssize)strlen(t->arg_names[i]) + 1);
        }
        t->result = g_strdup(result);
        t->result_name = result ? g_strdup(result_name) : NULL;
        if (result)
                g_string_append_len(names, result_name, (gssize)strlen(result_name) + 1);
        t->vtable_names_len = names->len;
        t->vtable_names = g_string_free(g_steal_pointer(&names), false);
        *ret = TAKE_PTR(t);
        return 0;
}

bool typed_channel_equal(const typed_channel *a, const typed_channel *b) {
        return a->kind == b->kind && streq(a->channel, b->channel) && streq(a->interface, b->interface) &&
               streq(a->args, b->args) && g_strv_equal((const char *const *)a->arg_names,
                                                        (const char *const *)b->arg_names) &&
               g_strcmp0(a->result, b->result) == 0 && g_strcmp0(a->result_name, b->result_name) == 0;
}

int typed_channel_check_args(const typed_channel *t, GVariant *args, sd_bus_error *error) {
        size_t n = args ? g_variant_n_children(args) : 0, want = g_strv_length(t->arg_types);
        g_autoptr(GString) got = NULL;
        bool ok = n == want;

        for (size_t i = 0; ok && i < n; i++) {
                g_autoptr(GVariant) v = g_variant_get_child_value(args, i);
                g_autoptr(GVariant) inner = g_variant_get_variant(v);

                ok = streq(t->arg_types[i], "v") || streq(g_variant_get_type_string(inner), t->arg_types[i]);
        }
        if (ok)
                return 0;
        got = g_string_new(NULL);
        for (size_t i = 0; i < n; i++) {
                g_autoptr(GVariant) v = g_variant_get_child_value(args, i);
                g_autoptr(GVariant) inner = g_variant_get_variant(v);

                g_string_append(got, g_variant_get_type_string(inner));
        }
        {
                g_autoptr(GString) expected = g_string_new(NULL);

                for (size_t i = 0; t->arg_types[i]; i++)
                        g_string_append_printf(expected, "%s%s %s", i ? ", " : "", t->arg_types[i],
                                               t->arg_names[i]);
                return error_invalid_args(error, "'%s' takes (%s), got (%s)", t->channel, expected->str,
                                          got->str);
        }
}

bool typed_channel_result_matches(const typed_channel *t, GVariant *value) {
        if (!t->result)
                return true;
        if (streq(t->result, "v"))
                return true;
        return value && streq(g_variant_get_type_string(value), t->result);
}

/* ---- the table ----------------------------------------------------------- */

void typed_table_init(typed_table *tt) {
        tt->by_channel = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, typed_channel_unref_notify);
        tt->by_member = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

void typed_table_clear(typed_table *tt) {
        g_clear_pointer(&tt->by_member, g_hash_table_unref);
        g_clear_pointer(&tt->by_channel, g_hash_table_unref);
}

static char *member_key(const char *interface, const char *member) {
        return g_strconcat(interface, ".", member, NULL);
}

int typed_table_add(typed_table *tt, GPtrArray *list, sd_bus_error *error) {
        g_autoptr(GHashTable) members = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GHashTable) channels = g_hash_table_new(g_str_hash, g_str_equal);
        int added = 0;

        /* Check everything first: all or nothing. */
        for (unsigned i = 0; i < list->len; i++) {
                typed_channel *t = list->pdata[i], *old = g_hash_table_lookup(tt->by_channel, t->channel);
                g_autofree char *key = member_key(t->interface, t->member);
                typed_channel *taken = g_hash_table_lookup(tt->by_member, key);

                if (old && !typed_channel_equal(old, t))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_FILE_EXISTS,
                                                 "Channel '%s' is declared already, otherwise (%s %s(%s)%s%s)",
                                                 t->channel, kind_name(old->kind), old->member, old->args,
                                                 old->result ? " -> " : "", old->result ? old->result : "");
                if (!old && taken)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_FILE_EXISTS,
                                                 "Channel '%s' gives member %s of %s, which channel '%s' has already",
                                                 t->channel, t->member, t->interface, taken->channel);
                taken = g_hash_table_lookup(members, key);
                if (taken && !streq(taken->channel, t->channel))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_FILE_EXISTS,
                                                 "Channels '%s' and '%s' both give member %s of %s",
                                                 taken->channel, t->channel, t->member, t->interface);
                if (g_hash_table_contains(channels, t->channel))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_FILE_EXISTS, "Channel '%s' is declared twice",
                                                 t->channel);
                g_hash_table_add(channels, t->channel);
                g_hash_table_insert(members, g_steal_pointer(&key), t);
        }
        for (unsigned i = 0; i < list->len; i++) {
                typed_channel *t = list->pdata[i];

                if (g_hash_table_contains(tt->by_channel, t->channel))
                        continue;
                g_hash_table_insert(tt->by_channel, t->channel, typed_channel_ref(t));
                g_hash_table_insert(tt->by_member, member_key(t->interface, t->member), t);
                added++;
        }
        return added;
}

int typed_table_remove(typed_table *tt, const char *channel) {
        typed_channel *t = channel ? g_hash_table_lookup(tt->by_channel, channel) : NULL;
        g_autofree char *key = NULL;

        if (!t)
                return -ENOENT;
        key = member_key(t->interface, t->member);
        g_hash_table_remove(tt->by_member, key);
        g_hash_table_remove(tt->by_channel, channel);
        return 0;
}

typed_channel *typed_table_get(typed_table *tt, const char *channel) {
        /* The common case, no channel declared, costs no hashing. */
        if (!tt->by_channel || g_hash_table_size(tt->by_channel) == 0)
                return NULL;
        return g_hash_table_lookup(tt->by_channel, channel);
}

typed_channel *typed_table_get_member(typed_table *tt, const char *interface, const char *member) {
        g_autofree char *key = NULL;

        if (!interface || !member)
                return NULL;
        key = member_key(interface, member);
        return g_hash_table_lookup(tt->by_member, key);
}

/* ---- the XML form -------------------------------------------------------- */

static const char *annotation(GDBusAnnotationInfo **annotations, const char *name) {
        return g_dbus_annotation_info_lookup(annotations, name);
}

/* The in (or out) arguments' signature and names. */
static void collect_args(GDBusArgInfo **args, GString *sig, GPtrArray *names) {
        for (size_t i = 0; args && args[i]; i++) {
                g_string_append(sig, args[i]->signature);
                if (names)
                        g_ptr_array_add(names, args[i]->name ? g_strdup(args[i]->name) : g_strdup_printf("arg%zu", i));
        }
}

static int xml_member(const char *interface, const char *member, GDBusAnnotationInfo **annotations,
                      ipcbus_channel_kind kind, GDBusArgInfo **in, GDBusArgInfo **out, sd_bus_error *error,
                      GPtrArray *list) {
        const char *channel = annotation(annotations, ANNOTATION_CHANNEL);
        const char *kind_text = annotation(annotations, ANNOTATION_KIND);
        g_autoptr(GString) sig = g_string_new(NULL), res = g_string_new(NULL);
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        typed_channel *t = NULL;
        size_t n_out = 0;
        int r;

        if (!channel)
                channel = member;
        while (out && out[n_out])
                n_out++;
        if (kind == IPCBUS_CHANNEL_HANDLE) {
                const char *no_reply = annotation(annotations, ANNOTATION_NO_REPLY);

                if (no_reply && streq(no_reply, "true"))
                        kind = IPCBUS_CHANNEL_LISTENER;
                if (kind_text && streq(kind_text, "listener"))
                        kind = IPCBUS_CHANNEL_LISTENER;
                else if (kind_text && !streq(kind_text, "handle"))
                        return error_invalid_args(error, "%s.%s: %s is '%s'; it is 'handle' or 'listener'", interface,
                                                  member, ANNOTATION_KIND, kind_text);
                if (kind == IPCBUS_CHANNEL_LISTENER && no_reply && streq(no_reply, "true") && n_out > 0)
                        return error_invalid_args(error, "%s.%s is NoReply but has a result", interface, member);
        }
        if (n_out > 1)
                return error_invalid_args(error,
                                          "%s.%s has %zu out arguments: a channel answers with one value (use a "
                                          "struct)",
                                          interface, member, n_out);
        collect_args(in, sig, names);
        collect_args(out, res, NULL);
        g_ptr_array_add(names, NULL);
        r = typed_channel_new(kind, channel, interface, member, sig->str, (char **)names->pdata,
                              res->len ? res->str : NULL, n_out > 0 ? out[0]->name : NULL, error, &t);
        if (r < 0)
                return r;
        g_ptr_array_add(list, t);
        return 0;
}

int typed_parse_xml(const char *xml, sd_bus_error *error, GPtrArray **ret) {
        g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(typed_channel_unref_notify);
        g_autoptr(GDBusNodeInfo) node = NULL;
        g_autoptr(GError) gerror = NULL;
        int r;

        if (!xml)
                return -EINVAL;
        node = g_dbus_node_info_new_for_xml(xml, &gerror);
        if (!node) {
                (void)sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "The interface XML does not parse: %s",
                                        gerror->message);
                return -EBADMSG;
        }
        for (size_t i = 0; node->interfaces && node->interfaces[i]; i++) {
                GDBusInterfaceInfo *iface = node->interfaces[i];

                if (iface->properties && iface->properties[0])
                        return error_invalid_args(error, "%s declares property '%s': channels are methods and signals",
                                                  iface->name, iface->properties[0]->name);
                for (size_t j = 0; iface->methods && iface->methods[j]; j++) {
                        GDBusMethodInfo *mi = iface->methods[j];

                        r = xml_member(iface->name, mi->name, mi->annotations, IPCBUS_CHANNEL_HANDLE, mi->in_args,
                                       mi->out_args, error, list);
                        if (r < 0)
                                return r;
                }
                for (size_t j = 0; iface->signals && iface->signals[j]; j++) {
                        GDBusSignalInfo *si = iface->signals[j];

                        r = xml_member(iface->name, si->name, si->annotations, IPCBUS_CHANNEL_EVENT, si->args, NULL,
                                       error, list);
                        if (r < 0)
                                return r;
                }
        }
        if (list->len == 0)
                return error_invalid_args(error, "The interface XML declares no method or signal");
        *ret = g_steal_pointer(&list);
        return 0;
}
