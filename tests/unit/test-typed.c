/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Typed channel declarations (ipcbus-typed.h) without a bus: the member
 * names channel names give, what a declaration may say, collisions, the
 * XML form's rules, and all-or-nothing. What busctl and gdbus see of them
 * is `integration typed`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>
#include <ipcbus/ipcbus.h>

typedef struct fixture {
        ipcbus_main *m;
        sd_bus_error error;
} fixture;

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(ipcbus_main_new(&f->m, "org.example.App"), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        ipcbus_main_unref(f->m);
        sd_bus_error_free(&f->error);
        free(f);
        return 0;
}

/* Declare; on failure the error's message must contain @needle. */
static int declare(fixture *f, ipcbus_channel_kind kind, const char *channel, const char *args, const char *names,
                   const char *result, const char *needle) {
        int r;

        sd_bus_error_free(&f->error);
        r = ipcbus_main_declare_channel(f->m, kind, channel, args, names, result, &f->error);
        if (needle) {
                assert_true(r < 0);
                assert_non_null(f->error.message);
                if (!strstr(f->error.message, needle))
                        fail_msg("'%s' does not say '%s'", f->error.message, needle);
        }
        return r;
}

static int declare_xml(fixture *f, const char *xml, const char *needle) {
        int r;

        sd_bus_error_free(&f->error);
        r = ipcbus_main_declare_channels_xml(f->m, xml, &f->error);
        if (needle) {
                assert_true(r < 0);
                if (!strstr(f->error.message, needle))
                        fail_msg("'%s' does not say '%s'", f->error.message, needle);
        }
        return r;
}

static void assert_member(const char *channel, const char *want) {
        char *got = NULL;

        assert_int_equal(ipcbus_channel_member_name(channel, &got), 0);
        assert_string_equal(got, want);
        free(got);
}

static void assert_no_member(const char *channel) {
        char *got = NULL;

        assert_int_equal(ipcbus_channel_member_name(channel, &got), -EINVAL);
        assert_null(got);
}

static void test_member_names(void **state) {
        char long_name[300];

        /* The examples. */
        assert_member("dialog:openFile", "DialogOpenFile");
        assert_member("readFileEvent", "ReadFileEvent");
        assert_member("set-title", "SetTitle");
        assert_member("my_channel", "MyChannel");
        /* Every non-alphanumeric byte separates, non-ASCII ones included. */
        assert_member("a.b-c", "ABC");
        assert_member("über-x", "BerX");
        assert_member("get title 2", "GetTitle2");
        assert_member("x9", "X9");
        assert_no_member("123abc");
        assert_no_member(":-:");
        assert_no_member("ü");
        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        assert_no_member(long_name);
        long_name[255] = '\0';
        {
                char want[256];

                memcpy(want, long_name, sizeof(want));
                want[0] = 'A';
                assert_member(long_name, want);
        }
}

static void test_declarations_checked(void **state) {
        fixture *f = *state;

        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "read", "s", "path", "s", NULL), 0);
        /* The same again: nothing changes. */
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "read", "s", "path", "s", NULL), 0);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "read", "s", "file", "s", "declared already"), -EEXIST);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_LISTENER, "read", "s", "path", NULL, "declared already"), -EEXIST);

        /* Results: one complete, carriable type. */
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "two", NULL, NULL, "ss", "not one complete type"),
                         -EINVAL);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "maybe", NULL, NULL, "ms", "D-Bus"), -EINVAL);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "fd", NULL, NULL, "h", "result of 'fd'"), -EINVAL);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "broken", NULL, NULL, "a{", "result of 'broken'"),
                         -EINVAL);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_EVENT, "ev", "s", NULL, "s", "cannot have a result"), -EINVAL);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "none", NULL, NULL, "", NULL), 0);

        /* Arguments and their names. */
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "args", "s(", NULL, NULL, "not a D-Bus signature"),
                         -EINVAL);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "fdarg", "h", NULL, NULL, "argument of 'fdarg'"),
                         -EINVAL);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "names", "ss", "a", NULL, "2 argument(s) but 1 name(s)"),
                         -EINVAL);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "names", "ss", "a,a", NULL, "names two arguments 'a'"),
                         -EINVAL);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "names", "s", "9lives", NULL, "not a C identifier"),
                         -EINVAL);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "names", "a{sv}(si)v", "props,pair,any", NULL, NULL), 0);

        /* Names that give no member, and bad channel names. */
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "42", NULL, NULL, NULL, "gives no D-Bus member name"),
                         -EINVAL);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "", NULL, NULL, NULL, "empty"), -EINVAL);
        assert_int_equal(declare(f, 7, "kind", NULL, NULL, NULL, "not a channel kind"), -EINVAL);
}

static void test_collisions(void **state) {
        fixture *f = *state;

        assert_int_equal(declare(f, IPCBUS_CHANNEL_LISTENER, "set-title", "s", "title", NULL, NULL), 0);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "set_title", NULL, NULL, "s",
                                 "Channel 'set_title' gives member SetTitle of org.example.App.Channels, which "
                                 "channel 'set-title' has already"),
                         -EEXIST);
        /* Another interface: no collision. */
        assert_int_equal(ipcbus_main_set_channel_interface(f->m, "org.example.App.Other"), 0);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "set_title", NULL, NULL, "s", NULL), 0);
        /* For what follows only. */
        assert_int_equal(ipcbus_main_set_channel_interface(f->m, "org.example.App.Third"), 0);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "set_title", NULL, NULL, "s", "declared already"),
                         -EEXIST);
        assert_int_equal(declare(f, IPCBUS_CHANNEL_HANDLE, "set:title", NULL, NULL, "s", NULL), 0);
        assert_int_equal(ipcbus_main_set_channel_interface(f->m, "org.ipcbus.Main1"), -EINVAL);
        assert_int_equal(ipcbus_main_set_channel_interface(f->m, "org.freedesktop.DBus.Peer"), -EINVAL);
        assert_int_equal(ipcbus_main_set_channel_interface(f->m, "not an interface"), -EINVAL);

        /* Undeclared, the member is free again. */
        assert_int_equal(ipcbus_main_undeclare_channel(f->m, "set-title"), 0);
        assert_int_equal(ipcbus_main_undeclare_channel(f->m, "set-title"), -ENOENT);
}

#define XML_HEAD "<node><interface name='org.example.App.Xml'>"
#define XML_TAIL "</interface></node>"

static void test_xml(void **state) {
        fixture *f = *state;

        assert_int_equal(declare_xml(f, "<node><interface", "does not parse"), -EBADMSG);
        assert_int_equal(declare_xml(f, "<node/>", "declares no method or signal"), -EINVAL);
        assert_int_equal(declare_xml(f,
                                     XML_HEAD "<method name='Two'><arg type='s' direction='out'/>"
                                              "<arg type='s' direction='out'/></method>" XML_TAIL,
                                     "has 2 out arguments"),
                         -EINVAL);
        assert_int_equal(declare_xml(f,
                                     XML_HEAD "<method name='Other'><annotation name='org.ipcbus.Channel' "
                                              "value='set-title'/></method>" XML_TAIL,
                                     "Member 'Other' does not match channel 'set-title', which gives 'SetTitle'"),
                         -EINVAL);
        assert_int_equal(declare_xml(f, XML_HEAD "<property name='P' type='s' access='read'/>" XML_TAIL,
                                     "declares property 'P'"),
                         -EINVAL);
        assert_int_equal(declare_xml(f,
                                     XML_HEAD "<method name='Nr'><annotation name='org.freedesktop.DBus.Method."
                                              "NoReply' value='true'/><arg type='s' direction='out'/></method>"
                                              XML_TAIL,
                                     "is NoReply but has a result"),
                         -EINVAL);
        assert_int_equal(declare_xml(f,
                                     XML_HEAD "<method name='K'><annotation name='org.ipcbus.Channel.Kind' "
                                              "value='event'/></method>" XML_TAIL,
                                     "'handle' or 'listener'"),
                         -EINVAL);

        /* All or nothing: the good method of a refused document is not declared. */
        assert_int_equal(declare_xml(f,
                                     XML_HEAD "<method name='Good'><arg type='s' direction='out'/></method>"
                                              "<method name='Bad'><arg type='s' direction='out'/>"
                                              "<arg type='s' direction='out'/></method>" XML_TAIL,
                                     "has 2 out arguments"),
                         -EINVAL);
        assert_int_equal(ipcbus_main_undeclare_channel(f->m, "Good"), -ENOENT);

        /* Every kind; the channel from the annotation or the member. */
        assert_int_equal(declare_xml(f,
                                     XML_HEAD "<method name='Good'><arg name='out' type='s' direction='out'/></method>"
                                              "<method name='SetTitle'>"
                                              "<annotation name='org.ipcbus.Channel' value='set-title'/>"
                                              "<annotation name='org.freedesktop.DBus.Method.NoReply' value='true'/>"
                                              "<arg name='title' type='s'/></method>"
                                              "<method name='Count'>"
                                              "<annotation name='org.ipcbus.Channel.Kind' value='listener'/>"
                                              "<arg name='n' type='u' direction='out'/></method>"
                                              "<signal name='Tick'><arg name='n' type='u'/></signal>" XML_TAIL,
                                     NULL),
                         0);
        assert_int_equal(ipcbus_main_undeclare_channel(f->m, "Good"), 0);
        assert_int_equal(ipcbus_main_undeclare_channel(f->m, "set-title"), 0);
        assert_int_equal(ipcbus_main_undeclare_channel(f->m, "Count"), 0);
        assert_int_equal(ipcbus_main_undeclare_channel(f->m, "Tick"), 0);

        assert_int_equal(ipcbus_main_declare_channels_file(f->m, "/nonexistent/x.xml", NULL), -ENOENT);
}

static int handler(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return 0;
}

static int listener(ipcbus_event *e, GVariant *args, void *userdata) {
        return 0;
}

/* Main1.Channels: every channel with a handler or a listener, sorted,
 * declared or not. */
static void test_channels(void **state) {
        fixture *f = *state;
        ipcbus_slot *slot = NULL;
        char **channels = NULL;

        assert_int_equal(ipcbus_main_get_channels(f->m, &channels), 0);
        assert_null(channels[0]);
        g_strfreev(channels);
        assert_int_equal(ipcbus_main_handle(f->m, NULL, "zeta", handler, NULL), 0);
        assert_int_equal(ipcbus_main_on(f->m, &slot, "alpha", listener, NULL), 0);
        assert_int_equal(ipcbus_main_on(f->m, NULL, "mu", listener, NULL), 0);
        assert_int_equal(ipcbus_main_get_channels(f->m, &channels), 0);
        assert_string_equal(channels[0], "alpha");
        assert_string_equal(channels[1], "mu");
        assert_string_equal(channels[2], "zeta");
        assert_null(channels[3]);
        g_strfreev(channels);
        ipcbus_slot_unref(slot);
        assert_int_equal(ipcbus_main_get_channels(f->m, &channels), 0);
        assert_string_equal(channels[0], "mu");
        g_strfreev(channels);
}

/* introspection/ is valid D-Bus introspection XML, as GIO reads it, one
 * interface per file named after it; and the demo's typed channels declare
 * (integration clients compares the live introspection with it). */
static void test_introspection_xml_valid(void **state) {
        const char *srcdir = getenv("IPCBUS_TEST_SRCDIR");
        g_autofree char *dir = g_build_filename(srcdir && *srcdir ? srcdir : "..", "introspection", NULL);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;
        unsigned n = 0;

        assert_non_null(d);
        while ((name = g_dir_read_name(d))) {
                g_autofree char *path = g_build_filename(dir, name, NULL), *xml = NULL, *iface = NULL;
                g_autoptr(GDBusNodeInfo) node = NULL;
                g_autoptr(GError) error = NULL;

                assert_true(g_str_has_suffix(name, ".xml"));
                assert_true(g_file_get_contents(path, &xml, NULL, NULL));
                node = g_dbus_node_info_new_for_xml(xml, &error);
                if (!node)
                        fail_msg("%s: %s", name, error->message);
                iface = g_strndup(name, strlen(name) - strlen(".xml"));
                assert_non_null(node->interfaces[0]);
                assert_null(node->interfaces[1]);
                assert_string_equal(node->interfaces[0]->name, iface);
                n++;
        }
        assert_int_equal(n, 3);
}

static void test_demo_xml_declares(void **state) {
        fixture *f = *state;
        const char *srcdir = getenv("IPCBUS_TEST_SRCDIR");
        g_autofree char *path = g_build_filename(srcdir && *srcdir ? srcdir : "..", "examples", "demo",
                                                 "org.ipcbus.Demo.Channels.xml", NULL);

        assert_int_equal(ipcbus_main_declare_channels_file(f->m, path, &f->error), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_member_names),
                cmocka_unit_test_setup_teardown(test_declarations_checked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_collisions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_xml, setup, teardown),
                cmocka_unit_test_setup_teardown(test_channels, setup, teardown),
                cmocka_unit_test(test_introspection_xml_valid),
                cmocka_unit_test_setup_teardown(test_demo_xml_declares, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
