/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "introspect-canon.h"

typedef struct canon {
        GHashTable *ifaces; /* name -> canonical text */
        unsigned node_depth;
        char *iface;      /* the open interface of the top node, or NULL */
        GPtrArray *lines; /* char *, one per member (with its args) or annotation */
        GString *member;  /* the open method, signal or property */
        bool in_method;   /* the open member is a method: args default to "in" */
        bool in_arg;
} canon;

static const char *attr(const char **names, const char **values, const char *name) {
        for (size_t i = 0; names[i]; i++)
                if (strcmp(names[i], name) == 0)
                        return values[i];
        return NULL;
}

static bool require(GError **error, const char *value, const char *element, const char *name) {
        if (value)
                return true;
        g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_MISSING_ATTRIBUTE, "<%s> without %s", element, name);
        return false;
}

static void on_start(GMarkupParseContext *ctx, const char *element, const char **names, const char **values,
                     void *userdata, GError **error) {
        canon *c = userdata;
        const char *name = attr(names, values, "name");
        const char *type = attr(names, values, "type");

        if (strcmp(element, "node") == 0) {
                c->node_depth++;
                return;
        }
        /* Child nodes describe other objects. */
        if (c->node_depth != 1)
                return;

        if (strcmp(element, "interface") == 0 && !c->iface) {
                if (!require(error, name, element, "name"))
                        return;
                c->iface = g_strdup(name);
                c->lines = g_ptr_array_new_with_free_func(g_free);
        } else if (c->iface && !c->member &&
                   (strcmp(element, "method") == 0 || strcmp(element, "signal") == 0)) {
                if (!require(error, name, element, "name"))
                        return;
                c->member = g_string_new(NULL);
                c->in_method = element[0] == 'm';
                g_string_append_printf(c->member, "  %s %s\n", element, name);
        } else if (c->iface && !c->member && strcmp(element, "property") == 0) {
                const char *access = attr(names, values, "access");

                if (!require(error, name, element, "name") || !require(error, type, element, "type") ||
                    !require(error, access, element, "access"))
                        return;
                c->member = g_string_new(NULL);
                c->in_method = false;
                g_string_append_printf(c->member, "  property %s %s %s\n", name, type, access);
        } else if (c->member && !c->in_arg && strcmp(element, "arg") == 0) {
                const char *direction = attr(names, values, "direction");

                if (!require(error, type, element, "type"))
                        return;
                c->in_arg = true;
                if (c->in_method)
                        g_string_append_printf(c->member, "    arg %s %s %s\n", direction ? direction : "in",
                                               type, name ? name : "(unnamed)");
                else
                        g_string_append_printf(c->member, "    arg %s %s\n", type, name ? name : "(unnamed)");
        } else if (c->iface && strcmp(element, "annotation") == 0) {
                const char *value = attr(names, values, "value");

                if (!require(error, name, element, "name") || !require(error, value, element, "value"))
                        return;
                if (c->member)
                        g_string_append_printf(c->member, "%s    annotation %s=%s\n", c->in_arg ? "  " : "",
                                               name, value);
                else
                        g_ptr_array_add(c->lines, g_strdup_printf("  annotation %s=%s\n", name, value));
        }
}

static int compare_lines(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void on_end(GMarkupParseContext *ctx, const char *element, void *userdata, GError **error) {
        canon *c = userdata;

        if (strcmp(element, "node") == 0) {
                c->node_depth--;
                return;
        }
        if (c->node_depth != 1)
                return;

        if (strcmp(element, "arg") == 0 && c->in_arg) {
                c->in_arg = false;
        } else if (c->member &&
                   (strcmp(element, "method") == 0 || strcmp(element, "signal") == 0 ||
                    strcmp(element, "property") == 0)) {
                g_ptr_array_add(c->lines, g_string_free(c->member, FALSE));
                c->member = NULL;
        } else if (c->iface && strcmp(element, "interface") == 0) {
                GString *text = g_string_new(NULL);

                /* D-Bus gives member order no meaning. */
                g_ptr_array_sort(c->lines, compare_lines);
                g_string_append_printf(text, "interface %s\n", c->iface);
                for (unsigned i = 0; i < c->lines->len; i++)
                        g_string_append(text, c->lines->pdata[i]);
                g_clear_pointer(&c->lines, g_ptr_array_unref);
                if (g_hash_table_contains(c->ifaces, c->iface)) {
                        g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
                                    "interface %s appears twice", c->iface);
                        g_string_free(text, TRUE);
                        return;
                }
                g_hash_table_insert(c->ifaces, c->iface, g_string_free(text, FALSE));
                c->iface = NULL;
        }
}

int introspect_canon_parse(const char *xml, GHashTable **ret, char **ret_error) {
        static const GMarkupParser parser = {
                .start_element = on_start,
                .end_element = on_end,
        };
        canon c = {
                .ifaces = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
        };
        GMarkupParseContext *ctx = g_markup_parse_context_new(&parser, 0, &c, NULL);
        GError *error = NULL;
        bool ok;

        ok = g_markup_parse_context_parse(ctx, xml, -1, &error) &&
                g_markup_parse_context_end_parse(ctx, &error);
        g_markup_parse_context_free(ctx);
        g_free(c.iface);
        if (c.lines)
                g_ptr_array_unref(c.lines);
        if (c.member)
                g_string_free(c.member, TRUE);
        if (!ok) {
                if (ret_error)
                        *ret_error = g_strdup(error->message);
                g_error_free(error);
                g_hash_table_unref(c.ifaces);
                return -EINVAL;
        }
        *ret = c.ifaces;
        return 0;
}

char *introspect_canon_names(GHashTable *table) {
        g_autofree const char **names = (const char **)g_hash_table_get_keys_as_array(table, NULL);

        qsort(names, g_hash_table_size(table), sizeof(*names), compare_lines);
        return g_strjoinv(" ", (char **)names);
}
