/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Typed channels, served (ipcbus-typed.h): the declarations become members
 * of application interfaces at the main's object, live.
 *
 * The members served are rebuilt as one sd-bus vtable per interface
 * whenever what is served changes (a declaration, a handler or the first or
 * last listener of a declared channel), at most once per loop iteration: a
 * defer source, so that a handler removing itself from inside a typed call
 * never frees the vtable sd-bus is dispatching from. The same refresh
 * announces org.ipcbus.Main1.Channels (PropertiesChanged) and the changed
 * interfaces (ObjectManager's InterfacesRemoved / InterfacesAdded at the
 * main's object), which is how clients that cache introspection learn.
 */
#include <errno.h>

#include "dispatch.h"
#include "log.h"
#include "main-private.h"
#include "main-typed.h"
#include "typed.h"
#include "util.h"
#include "value.h"

/* One interface's vtable, shared by every connection that serves it. */
typedef struct typed_vtable {
        unsigned n_ref;
        char *interface;
        sd_bus_vtable *vtable;   /* START, the members, END */
        GPtrArray *channels;     /* of typed_channel: the vtable points into them */
        char *described;         /* what it serves, to tell a change */
} typed_vtable;

static void typed_vtable_unref(void *p) {
        typed_vtable *tv = p;

        if (!tv || --tv->n_ref > 0)
                return;
        g_free(tv->interface);
        g_free(tv->vtable);
        g_ptr_array_unref(tv->channels);
        g_free(tv->described);
        g_free(tv);
}

static typed_vtable *typed_vtable_ref(typed_vtable *tv) {
        tv->n_ref++;
        return tv;
}

static void slot_unref_notify(void *slot) {
        sd_bus_slot_unref(slot);
}

/* ---- the typed face: method calls --------------------------------------- */

static int typed_method(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        connection *c = userdata;
        ipcbus_main *m = c->owner;
        typed_channel *t;

        if (!m)
                return sd_bus_error_set(error, SD_BUS_ERROR_UNKNOWN_METHOD, "The main is gone");
        t = typed_table_get_member(&m->typed, sd_bus_message_get_interface(msg), sd_bus_message_get_member(msg));
        /* Undeclared since the vtable was built (it is rebuilt on the next
         * iteration): the channel has no typed face any more. */
        if (!t || t->kind == IPCBUS_CHANNEL_EVENT)
                return sd_bus_error_setf(error, SD_BUS_ERROR_UNKNOWN_METHOD, "No member %s on %s any more",
                                         strnull(sd_bus_message_get_member(msg)),
                                         strnull(sd_bus_message_get_interface(msg)));
        /* A handler may undeclare its own channel. */
        _unused_ _cleanup_(typed_channel_unrefp) typed_channel *hold = typed_channel_ref(t);

        return dispatch_typed_call(&m->ep, c, msg, hold, error);
}

/* ---- what is served ------------------------------------------------------ */

/* Whether @t's member is there now: a handle channel with its handler, a
 * listener channel with a listener, an event channel always. */
static bool typed_is_served(ipcbus_main *m, typed_channel *t) {
        switch (t->kind) {
        case IPCBUS_CHANNEL_HANDLE:
                return registry_has_handler(&m->ep.registry, t->channel);
        case IPCBUS_CHANNEL_LISTENER:
                return registry_has_listeners(&m->ep.registry, t->channel);
        case IPCBUS_CHANNEL_EVENT:
                return true;
        }
        return false;
}

static int typed_cmp_member(const void *a, const void *b) {
        const typed_channel *x = *(typed_channel *const *)a, *y = *(typed_channel *const *)b;
        int r = strcmp(x->interface, y->interface);

        return r != 0 ? r : strcmp(x->member, y->member);
}

static void typed_vtable_entry(sd_bus_vtable *v, const typed_channel *t) {
        *v = (sd_bus_vtable){};
        if (t->kind == IPCBUS_CHANNEL_EVENT) {
                v->type = _SD_BUS_VTABLE_SIGNAL;
                v->x.signal.member = t->member;
                v->x.signal.signature = t->args;
                v->x.signal.names = t->vtable_names;
                return;
        }
        v->type = _SD_BUS_VTABLE_METHOD;
        /* UNPRIVILEGED: as Main1's; the gate is ipcbus's own. */
        v->flags = SD_BUS_VTABLE_UNPRIVILEGED;
        if (t->kind == IPCBUS_CHANNEL_LISTENER && !t->result)
                v->flags |= SD_BUS_VTABLE_METHOD_NO_REPLY;
        v->x.method.member = t->member;
        v->x.method.signature = t->args;
        v->x.method.result = t->result ? t->result : "";
        v->x.method.handler = typed_method;
        v->x.method.names = t->vtable_names;
}

/* The vtables of what is served now, one per interface, by interface. */
static GPtrArray *typed_build(ipcbus_main *m) {
        g_autoptr(GPtrArray) served = g_ptr_array_new();
        GPtrArray *out = g_ptr_array_new_with_free_func(typed_vtable_unref);
        static const sd_bus_vtable start = SD_BUS_VTABLE_START(0), end = SD_BUS_VTABLE_END;
        GHashTableIter it;
        typed_channel *t;

        g_hash_table_iter_init(&it, m->typed.by_channel);
        while (g_hash_table_iter_next(&it, NULL, (void **)&t))
                if (typed_is_served(m, t))
                        g_ptr_array_add(served, t);
        if (served->len > 0)
                qsort(served->pdata, served->len, sizeof(void *), typed_cmp_member);

        for (unsigned i = 0; i < served->len;) {
                const char *interface = ((typed_channel *)served->pdata[i])->interface;
                g_autoptr(GString) described = g_string_new(NULL);
                typed_vtable *tv = g_new0(typed_vtable, 1);
                unsigned j = i, k = 1;

                while (j < served->len && streq(((typed_channel *)served->pdata[j])->interface, interface))
                        j++;
                tv->n_ref = 1;
                tv->interface = g_strdup(interface);
                tv->channels = g_ptr_array_new_with_free_func(typed_channel_unref_notify);
                tv->vtable = g_new0(sd_bus_vtable, j - i + 2);
                tv->vtable[0] = start;
                for (; i < j; i++, k++) {
                        t = served->pdata[i];
                        g_ptr_array_add(tv->channels, typed_channel_ref(t));
                        typed_vtable_entry(&tv->vtable[k], t);
                        g_string_append_printf(described, "%d %s(%s)%s;", t->kind, t->member, t->args,
                                               t->result ? t->result : "");
                }
                tv->vtable[k] = end;
                tv->described = g_string_free(g_steal_pointer(&described), false);
                g_ptr_array_add(out, tv);
        }
        return out;
}

static typed_vtable *typed_find(GPtrArray *list, const char *interface) {
        for (unsigned i = 0; list && i < list->len; i++)
                if (streq(((typed_vtable *)list->pdata[i])->interface, interface))
                        return list->pdata[i];
        return NULL;
}

/* Serve @list on @c, replacing what it served. */
static int typed_serve(ipcbus_main *m, connection *c, GPtrArray *list) {
        int r;

        /* The slots go before the vtables they point into. */
        if (c->app_slots)
                g_ptr_array_set_size(c->app_slots, 0);
        else
                c->app_slots = g_ptr_array_new_with_free_func(slot_unref_notify);
        if (c->app_vtables)
                g_ptr_array_set_size(c->app_vtables, 0);
        else
                c->app_vtables = g_ptr_array_new_with_free_func(typed_vtable_unref);
        for (unsigned i = 0; list && i < list->len; i++) {
                typed_vtable *tv = list->pdata[i];
                sd_bus_slot *slot = NULL;

                r = sd_bus_add_object_vtable(c->bus, &slot, m->path, tv->interface, tv->vtable, c);
                if (r < 0)
                        return r;
                g_ptr_array_add(c->app_vtables, typed_vtable_ref(tv));
                g_ptr_array_add(c->app_slots, slot);
        }
        return 0;
}

/* Tell @c's clients what changed between @old and @now. */
static void typed_announce(ipcbus_main *m, connection *c, GPtrArray *old, GPtrArray *now, bool channels) {
        int r = 0;

        for (unsigned i = 0; old && i < old->len; i++) {
                typed_vtable *a = old->pdata[i], *b = typed_find(now, a->interface);

                if (!b || !streq(a->described, b->described))
                        r = sd_bus_emit_interfaces_removed(c->bus, m->path, a->interface, NULL);
                if (r < 0)
                        break;
        }
        for (unsigned i = 0; r >= 0 && now && i < now->len; i++) {
                typed_vtable *b = now->pdata[i], *a = typed_find(old, b->interface);

                if (!a || !streq(a->described, b->described))
                        r = sd_bus_emit_interfaces_added(c->bus, m->path, b->interface, NULL);
        }
        if (r >= 0 && channels)
                r = sd_bus_emit_properties_changed(c->bus, m->path, IPCBUS_INTERFACE_MAIN, "Channels", NULL);
        if (r < 0)
                log_emit(&m->ep.log, LOG_WARNING, "Cannot announce the changed channels: %s", g_strerror(-r));
}

static bool typed_same(GPtrArray *a, GPtrArray *b) {
        if ((a ? a->len : 0) != (b ? b->len : 0))
                return false;
        for (unsigned i = 0; a && i < a->len; i++) {
                typed_vtable *x = a->pdata[i], *y = b->pdata[i];

                if (!streq(x->interface, y->interface) || !streq(x->described, y->described))
                        return false;
        }
        return true;
}

void main_typed_refresh(ipcbus_main *m) {
        g_autoptr(GPtrArray) now = typed_build(m);
        g_auto(GStrv) channels = registry_get_channels(&m->ep.registry);
        bool served_changed = !typed_same(m->typed_served, now);
        bool channels_changed = !m->channels_published ||
                                !g_strv_equal((const char *const *)channels,
                                              (const char *const *)m->channels_published);

        m->typed_dirty = false;
        if (!served_changed && !channels_changed)
                return;
        for (GList *l = m->connections.head; l; l = l->next) {
                connection *c = l->data;
                int r;

                if (!connection_is_open(c))
                        continue;
                if (served_changed) {
                        /* Served before announced: InterfacesAdded reads the vtable. */
                        r = typed_serve(m, c, now);
                        if (r < 0)
                                log_emit(&m->ep.log, LOG_ERR, "Cannot serve the typed channels: %s",
                                         g_strerror(-r));
                }
                typed_announce(m, c, served_changed ? m->typed_served : NULL, served_changed ? now : NULL,
                               channels_changed);
        }
        if (served_changed) {
                if (m->typed_served)
                        g_ptr_array_unref(m->typed_served);
                m->typed_served = g_steal_pointer(&now);
        }
        g_strfreev(m->channels_published);
        m->channels_published = g_steal_pointer(&channels);
}

static int typed_on_refresh(sd_event_source *s, void *userdata) {
        main_typed_refresh(userdata);
        return 0;
}

void main_typed_changed(void *userdata) {
        ipcbus_main *m = userdata;

        if (m->typed_dirty)
                return;
        m->typed_dirty = true;
        /* Nothing is served yet: the first connection serves what is there.
         * A loop that finished serves nothing any more. */
        if (!m->ep.event || !m->connections.head || sd_event_get_state(m->ep.event) == SD_EVENT_FINISHED)
                return;
        if (!m->typed_refresh &&
            sd_event_add_defer(m->ep.event, &m->typed_refresh, typed_on_refresh, m) >= 0)
                (void)sd_event_source_set_priority(m->typed_refresh, m->ep.priority);
        if (!m->typed_refresh || sd_event_source_set_enabled(m->typed_refresh, SD_EVENT_ONESHOT) < 0) {
                log_emit(&m->ep.log, LOG_DEBUG, "Cannot schedule the channel refresh; doing it now");
                main_typed_refresh(m);
        }
}

int main_typed_serve_connection(ipcbus_main *m, connection *c) {
        int r;

        /* The object manager makes InterfacesAdded / Removed possible. */
        r = sd_bus_add_object_manager(c->bus, &c->object_slots[2], m->path);
        if (r < 0)
                return r;
        /* A pending change is applied to every connection, this one too. */
        if (m->typed_dirty) {
                main_typed_refresh(m);
                if (c->app_slots)
                        return 0;
        }
        return typed_serve(m, c, m->typed_served);
}

void main_typed_init(ipcbus_main *m) {
        typed_table_init(&m->typed);
        m->ep.registry.changed = main_typed_changed;
        m->ep.registry.changed_userdata = m;
}

void main_typed_done(ipcbus_main *m) {
        m->ep.registry.changed = NULL;
        m->typed_refresh = sd_event_source_disable_unref(m->typed_refresh);
        if (m->typed_served)
                g_ptr_array_unref(m->typed_served);
        m->typed_served = NULL;
        g_strfreev(m->channels_published);
        m->channels_published = NULL;
        typed_table_clear(&m->typed);
        g_free(m->channel_interface);
}

typed_channel *main_typed_lookup(endpoint *ep, const char *channel) {
        return typed_table_get(&main_from_endpoint(ep)->typed, channel);
}

/* ---- the typed face: signals --------------------------------------------- */

int main_typed_check_event(endpoint *ep, const char *channel, GVariant *args, typed_channel **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        ipcbus_main *m = main_from_endpoint(ep);
        typed_channel *t = typed_table_get(&m->typed, channel);
        int r;

        *ret = NULL;
        if (!t || t->kind != IPCBUS_CHANNEL_EVENT)
                return 0;
        r = typed_channel_check_args(t, args, &error);
        if (r < 0) {
                log_emit(&m->ep.log, LOG_ERR, "send on '%s' refused: %s", channel, error.message);
                return r;
        }
        *ret = t;
        return 0;
}

int main_typed_emit(endpoint *ep, connection *c, const char *destination, const typed_channel *t, GVariant *args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        ipcbus_main *m = main_from_endpoint(ep);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        size_t n = args ? g_variant_n_children(args) : 0;
        int r;

        r = sd_bus_message_new_signal(c->bus, &msg, m->path, t->interface, t->member);
        if (r < 0)
                return r;
        if (destination) {
                r = sd_bus_message_set_destination(msg, destination);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n; i++) {
                g_autoptr(GVariant) boxed = g_variant_get_child_value(args, i);
                g_autoptr(GVariant) v = g_variant_get_variant(boxed);

                r = streq(t->arg_types[i], "v") ? value_append_variant(msg, v, &error) : value_append(msg, v, 0, &error);
                if (r < 0) {
                        log_emit(&m->ep.log, LOG_ERR, "Cannot emit %s.%s: %s", t->interface, t->member,
                                 error.message ? error.message : g_strerror(-r));
                        return r;
                }
        }
        r = connection_send(c, msg, NULL);
        return r < 0 ? r : 0;
}

/* ---- the public calls ---------------------------------------------------- */

static const char *main_channel_interface(ipcbus_main *m) {
        if (!m->channel_interface)
                m->channel_interface = g_strconcat(m->name, ".Channels", NULL);
        return m->channel_interface;
}

int ipcbus_main_set_channel_interface(ipcbus_main *m, const char *interface) {
        assert_return(m, NULL, -EINVAL);
        assert_return(interface, &m->ep.log, -EINVAL);
        if (typed_interface_check(interface, NULL) < 0)
                return -EINVAL;
        g_free(m->channel_interface);
        m->channel_interface = g_strdup(interface);
        return 0;
}

/* Declare all of @list or nothing. */
static int main_declare(ipcbus_main *m, GPtrArray *list, sd_bus_error *error) {
        int r = typed_table_add(&m->typed, list, error);

        if (r < 0) {
                log_emit(&m->ep.log, LOG_ERR, "Declaration refused: %s", error->message);
                return r;
        }
        if (r > 0)
                main_typed_changed(m);
        return 0;
}

int ipcbus_main_declare_channel(ipcbus_main *m, ipcbus_channel_kind kind, const char *channel, const char *args,
                                const char *arg_names, const char *result, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error local = SD_BUS_ERROR_NULL;
        sd_bus_error *error = ret_error ? ret_error : &local;
        g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(typed_channel_unref_notify);
        g_auto(GStrv) names = NULL;
        typed_channel *t = NULL;
        int r;

        assert_return(m, NULL, -EINVAL);
        assert_return(channel, &m->ep.log, -EINVAL);
        if (kind == IPCBUS_CHANNEL_EVENT && result && result[0]) {
                (void)sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Event channel '%s' cannot have a result",
                                        channel);
                log_emit(&m->ep.log, LOG_ERR, "Declaration refused: %s", error->message);
                return -EINVAL;
        }
        if (arg_names)
                names = arg_names[0] ? g_strsplit(arg_names, ",", -1) : g_new0(char *, 1);
        r = typed_channel_new(kind, channel, main_channel_interface(m), NULL, args, names, result, NULL, error, &t);
        if (r < 0) {
                log_emit(&m->ep.log, LOG_ERR, "Declaration refused: %s", error->message);
                return r;
        }
        g_ptr_array_add(list, t);
        return main_declare(m, list, error);
}

int ipcbus_main_declare_channels_xml(ipcbus_main *m, const char *xml, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error local = SD_BUS_ERROR_NULL;
        sd_bus_error *error = ret_error ? ret_error : &local;
        g_autoptr(GPtrArray) list = NULL;
        int r;

        assert_return(m, NULL, -EINVAL);
        assert_return(xml, &m->ep.log, -EINVAL);
        r = typed_parse_xml(xml, error, &list);
        if (r < 0) {
                log_emit(&m->ep.log, LOG_ERR, "Declaration refused: %s", error->message);
                return r;
        }
        return main_declare(m, list, error);
}

int ipcbus_main_declare_channels_file(ipcbus_main *m, const char *path, sd_bus_error *ret_error) {
        g_autofree char *xml = NULL;
        g_autoptr(GError) gerror = NULL;

        assert_return(m, NULL, -EINVAL);
        assert_return(path, &m->ep.log, -EINVAL);
        if (!g_file_get_contents(path, &xml, NULL, &gerror)) {
                int r = !g_error_matches(gerror, G_FILE_ERROR, gerror->code) ? -EIO
                        : gerror->code == G_FILE_ERROR_NOENT                 ? -ENOENT
                        : gerror->code == G_FILE_ERROR_ACCES                 ? -EACCES
                                                                             : -EIO;

                (void)sd_bus_error_setf(ret_error, SD_BUS_ERROR_FILE_NOT_FOUND, "Cannot read '%s': %s", path,
                                        gerror->message);
                log_emit(&m->ep.log, LOG_ERR, "Cannot read '%s': %s", path, gerror->message);
                return r;
        }
        return ipcbus_main_declare_channels_xml(m, xml, ret_error);
}

int ipcbus_main_undeclare_channel(ipcbus_main *m, const char *channel) {
        int r;

        assert_return(m, NULL, -EINVAL);
        assert_return(channel, &m->ep.log, -EINVAL);
        r = typed_table_remove(&m->typed, channel);
        if (r < 0)
                return r;
        main_typed_changed(m);
        return 0;
}

int ipcbus_main_get_channels(ipcbus_main *m, char ***ret) {
        assert_return(m, NULL, -EINVAL);
        assert_return(ret, &m->ep.log, -EINVAL);
        *ret = registry_get_channels(&m->ep.registry);
        return 0;
}

int ipcbus_channel_member_name(const char *channel, char **ret) {
        assert_return(channel, NULL, -EINVAL);
        assert_return(ret, NULL, -EINVAL);
        return typed_member_name(channel, ret);
}

/* Main1.Channels */
int main_typed_get_channels_property(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        connection *c = userdata;
        ipcbus_main *m = c->owner;
        g_auto(GStrv) channels = m ? registry_get_channels(&m->ep.registry) : g_new0(char *, 1);

        return sd_bus_message_append_strv(reply, channels);
}
