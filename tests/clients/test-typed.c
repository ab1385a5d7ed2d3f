/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Typed channels as busctl and gdbus see them (docs/typed-channels.md).
 *
 * A main in a child process declares channels in C and from XML, on its own
 * interface (org.ipcbus.TypedTest.Channels) and on another one the XML
 * names, and serves them on a private dbus-daemon. The clients are real
 * processes: busctl introspects and calls the typed members and the generic
 * face and compares the two, gdbus monitor subscribes to the typed signals
 * and to the announcements (PropertiesChanged of Main1.Channels,
 * InterfacesAdded / InterfacesRemoved) while generic control channels make
 * the main add and remove a handler at run time.
 *
 * Nothing sleeps: the test waits for lines from the main and from gdbus
 * monitor, and busctl calls return when answered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <ipcbus/ipcbus.h>

#include "client-run.h"
#include "introspect-canon.h"
#include "test-bus.h"
#include "test-process.h"

#define NAME "org.ipcbus.TypedTest"
#define PATH "/org/ipcbus/TypedTest"
#define IFACE "org.ipcbus.TypedTest.Channels"
#define EXTRA_IFACE "org.ipcbus.TypedTest.Extra"
#define TIMEOUT_USEC (60 * TEST_USEC_PER_SEC)

/* ---- the main (a child) ---------------------------------------------------- */

static const char extra_xml[] =
        "<node>"
        " <interface name='" EXTRA_IFACE "'>"
        "  <method name='EchoAny'>"
        "   <annotation name='org.ipcbus.Channel' value='echo:any'/>"
        "   <arg name='value' type='v' direction='in'/>"
        "   <arg name='same' type='v' direction='out'/>"
        "  </method>"
        "  <method name='Count'>"
        "   <annotation name='org.ipcbus.Channel' value='count'/>"
        "   <annotation name='org.ipcbus.Channel.Kind' value='listener'/>"
        "   <arg name='word' type='s' direction='in'/>"
        "   <arg name='n' type='u' direction='out'/>"
        "  </method>"
        " </interface>"
        "</node>";

typedef struct typed_main {
        ipcbus_main *m;
        char *last_line;
        uint32_t count;
        ipcbus_slot *late;
} typed_main;

static int handle_ping_pong(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) v = g_variant_get_child_value(args, 0);
        g_autoptr(GVariant) word = g_variant_get_variant(v);
        const char *w = g_variant_get_string(word, NULL);

        if (strcmp(w, "fail") == 0)
                return ipcbus_invocation_return_error(inv, NULL, "asked to fail");
        return ipcbus_invocation_return_value(inv, g_variant_new_printf("pong %s", w));
}

static int handle_sum(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) va = g_variant_get_child_value(args, 0), vb = g_variant_get_child_value(args, 1);
        g_autoptr(GVariant) a = g_variant_get_variant(va), b = g_variant_get_variant(vb);

        return ipcbus_invocation_return_value(inv, g_variant_new_int32(g_variant_get_int32(a) + g_variant_get_int32(b)));
}

static int handle_bad_result(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        /* Declared to return 's'. */
        return ipcbus_invocation_return_value(inv, g_variant_new_uint32(7));
}

static int handle_echo_any(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) v = g_variant_get_child_value(args, 0);

        return ipcbus_invocation_return_value(inv, g_variant_get_variant(v));
}

static int handle_late(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, g_variant_new_string("late"));
}

static int on_log_line(ipcbus_event *e, GVariant *args, void *userdata) {
        typed_main *t = userdata;
        g_autoptr(GVariant) v = g_variant_get_child_value(args, 0);
        g_autoptr(GVariant) line = g_variant_get_variant(v);

        g_free(t->last_line);
        t->last_line = g_variant_dup_string(line, NULL);
        test_say("log-line %s", t->last_line);
        return 0;
}

static int on_count(ipcbus_event *e, GVariant *args, void *userdata) {
        typed_main *t = userdata;

        return ipcbus_event_set_return_value(e, g_variant_new_uint32(++t->count));
}

/* Control channels, on the generic face only. */
static int handle_last_line(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        typed_main *t = userdata;

        return ipcbus_invocation_return_value(inv, g_variant_new_string(t->last_line ? t->last_line : ""));
}

static int handle_add_late(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        typed_main *t = userdata;
        int r = ipcbus_main_handle(t->m, &t->late, "late:channel", handle_late, t);

        return r < 0 ? r : ipcbus_invocation_return_value(inv, g_variant_new_boolean(true));
}

static int handle_remove_late(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        typed_main *t = userdata;

        t->late = ipcbus_slot_unref(t->late);
        return ipcbus_invocation_return_value(inv, g_variant_new_boolean(true));
}

static int handle_tick(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        typed_main *t = userdata;
        int r = ipcbus_main_broadcast(t->m, "tick", ipcbus_args(g_variant_new_uint32(7), NULL));

        if (r < 0)
                return r;
        /* Not as declared: refused, nothing sent. */
        r = ipcbus_main_broadcast(t->m, "tick", ipcbus_args(g_variant_new_string("seven"), NULL));
        return ipcbus_invocation_return_value(inv, g_variant_new_int32(r));
}

static int typed_main_child(void *userdata) {
        const char *address = userdata;
        typed_main t = {};
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *who = "typed main";

        TEST_CHILD_CHECK(who, ipcbus_main_new(&t.m, NAME));
        TEST_CHILD_CHECK(who, ipcbus_main_declare_channel(t.m, IPCBUS_CHANNEL_HANDLE, "ping-pong", "s", "word", "s",
                                                          &error));
        TEST_CHILD_CHECK(who, ipcbus_main_declare_channel(t.m, IPCBUS_CHANNEL_HANDLE, "sum", "ii", "a,b", "i",
                                                          &error));
        TEST_CHILD_CHECK(who, ipcbus_main_declare_channel(t.m, IPCBUS_CHANNEL_HANDLE, "bad_result", NULL, NULL, "s",
                                                          &error));
        TEST_CHILD_CHECK(who, ipcbus_main_declare_channel(t.m, IPCBUS_CHANNEL_LISTENER, "log-line", "s", "line",
                                                          NULL, &error));
        TEST_CHILD_CHECK(who, ipcbus_main_declare_channel(t.m, IPCBUS_CHANNEL_EVENT, "tick", "u", "n", NULL,
                                                          &error));
        TEST_CHILD_CHECK(who, ipcbus_main_declare_channel(t.m, IPCBUS_CHANNEL_HANDLE, "late:channel", NULL, NULL,
                                                          "s", &error));
        TEST_CHILD_CHECK(who, ipcbus_main_declare_channels_xml(t.m, extra_xml, &error));
        /* Declared, never served: no handler. */
        TEST_CHILD_CHECK(who, ipcbus_main_declare_channel(t.m, IPCBUS_CHANNEL_HANDLE, "unserved", NULL, NULL, NULL,
                                                          &error));

        TEST_CHILD_CHECK(who, ipcbus_main_handle(t.m, NULL, "ping-pong", handle_ping_pong, &t));
        TEST_CHILD_CHECK(who, ipcbus_main_handle(t.m, NULL, "sum", handle_sum, &t));
        TEST_CHILD_CHECK(who, ipcbus_main_handle(t.m, NULL, "bad_result", handle_bad_result, &t));
        TEST_CHILD_CHECK(who, ipcbus_main_handle(t.m, NULL, "echo:any", handle_echo_any, &t));
        TEST_CHILD_CHECK(who, ipcbus_main_on(t.m, NULL, "log-line", on_log_line, &t));
        TEST_CHILD_CHECK(who, ipcbus_main_on(t.m, NULL, "count", on_count, &t));
        TEST_CHILD_CHECK(who, ipcbus_main_handle(t.m, NULL, "last-line", handle_last_line, &t));
        TEST_CHILD_CHECK(who, ipcbus_main_handle(t.m, NULL, "add-late", handle_add_late, &t));
        TEST_CHILD_CHECK(who, ipcbus_main_handle(t.m, NULL, "remove-late", handle_remove_late, &t));
        TEST_CHILD_CHECK(who, ipcbus_main_handle(t.m, NULL, "do-tick", handle_tick, &t));
        TEST_CHILD_CHECK(who, ipcbus_main_open_address(t.m, address));
        test_say("ready");
        TEST_CHILD_CHECK(who, ipcbus_main_run(t.m));
        ipcbus_slot_unref(t.late);
        ipcbus_main_unref(t.m);
        g_free(t.last_line);
        return 0;
}

/* ---- fixture and clients ----------------------------------------------------- */

typedef struct fixture {
        test_bus *bus;
        char *address;
        char *busctl_bus;
        test_process *main;
        test_process *monitor;
} fixture;

static int setup(void **state) {
        fixture *f = g_new0(fixture, 1);

        *state = f;
        assert_int_equal(test_bus_start(&f->bus, TEST_BUS_DBUS_DAEMON), 0);
        f->address = g_strdup(test_bus_get_address(f->bus));
        f->busctl_bus = g_strdup_printf("--address=%s", f->address);
        assert_int_equal(test_process_spawn(&f->main, typed_main_child, f->address), 0);
        assert_int_equal(test_process_wait_line(f->main, "ready", TIMEOUT_USEC), 0);
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        f->monitor = test_process_free(f->monitor);
        f->main = test_process_free(f->main);
        f->bus = test_bus_free(f->bus);
        g_free(f->address);
        g_free(f->busctl_bus);
        g_free(f);
        return 0;
}

/* Run a client: argv from NULL-terminated varargs after @first. */
static void run(client_result *r, const char *first, ...) G_GNUC_NULL_TERMINATED;
static void run(client_result *r, const char *first, ...) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        va_list ap;
        int k;

        va_start(ap, first);
        for (const char *a = first; a; a = va_arg(ap, const char *))
                g_ptr_array_add(argv, (char *)a);
        va_end(ap);
        g_ptr_array_add(argv, NULL);
        k = client_run(r, (char *const *)argv->pdata, TIMEOUT_USEC);
        if (k < 0)
                fail_msg("cannot run %s: %s", first, strerror(-k));
}

#define assert_client(r, code, want_out, want_err)                      \
        do {                                                            \
                assert_true(WIFEXITED((r)->status));                    \
                assert_int_equal(WEXITSTATUS((r)->status), (code));     \
                assert_string_equal((r)->out, (want_out));              \
                assert_string_equal((r)->err, (want_err));              \
                client_result_clear(r);                                 \
        } while (0)

/* The canonical text of @iface in the main's live introspection, or NULL
 * if it has no such interface. */
static char *live_interface(fixture *f, const char *iface) {
        g_autoptr(GHashTable) table = NULL;
        g_autofree char *error = NULL;
        client_result r;
        char *text;

        run(&r, "busctl", f->busctl_bus, "--no-pager", "introspect", "--xml-interface", NAME, PATH, NULL);
        assert_int_equal(WEXITSTATUS(r.status), 0);
        if (introspect_canon_parse(r.out, &table, &error) < 0)
                fail_msg("busctl introspect: %s", error);
        client_result_clear(&r);
        text = g_strdup(g_hash_table_lookup(table, iface));
        return text;
}

static const char expected_channels_iface[] =
        "interface " IFACE "\n"
        "  method BadResult\n"
        "    arg out s result\n"
        "  method LogLine\n"
        "    arg in s line\n"
        "    annotation org.freedesktop.DBus.Method.NoReply=true\n"
        "  method PingPong\n"
        "    arg in s word\n"
        "    arg out s result\n"
        "  method Sum\n"
        "    arg in i a\n"
        "    arg in i b\n"
        "    arg out i result\n"
        "  signal Tick\n"
        "    arg u n\n";

static const char expected_extra_iface[] =
        "interface " EXTRA_IFACE "\n"
        "  method Count\n"
        "    arg in s word\n"
        "    arg out u n\n"
        "  method EchoAny\n"
        "    arg in v value\n"
        "    arg out v same\n";

/* ---- tests ------------------------------------------------------------------- */

/* Each served declaration is a member with its signature and argument
 * names; a declared channel without a handler (unserved, late:channel) is
 * not there. */
static void test_introspection(void **state) {
        fixture *f = *state;
        g_autofree char *channels = live_interface(f, IFACE);
        g_autofree char *extra = live_interface(f, EXTRA_IFACE);

        assert_non_null(channels);
        assert_string_equal(channels, expected_channels_iface);
        assert_non_null(extra);
        assert_string_equal(extra, expected_extra_iface);
}

/* A typed call gives what Invoke gives, errors included. */
static void test_typed_call_is_invoke(void **state) {
        fixture *f = *state;
        client_result r;

        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, IFACE, "PingPong", "s", "hello", NULL);
        assert_client(&r, 0, "s \"pong hello\"\n", "");
        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, "org.ipcbus.Main1", "Invoke", "sav", "ping-pong", "1",
            "s", "hello", NULL);
        assert_client(&r, 0, "v s \"pong hello\"\n", "");

        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, IFACE, "Sum", "ii", "2", "40", NULL);
        assert_client(&r, 0, "i 42\n", "");

        /* The same error on both faces (gdbus prints its name). */
        run(&r, "gdbus", "call", "--address", f->address, "--dest", NAME, "--object-path", PATH, "--method",
            IFACE ".PingPong", "fail", NULL);
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.ipcbus.Error.HandlerFailed: Error invoking remote method "
                      "'ping-pong': Error: asked to fail\n");
        run(&r, "gdbus", "call", "--address", f->address, "--dest", NAME, "--object-path", PATH, "--method",
            "org.ipcbus.Main1.Invoke", "ping-pong", "[<'fail'>]", NULL);
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.ipcbus.Error.HandlerFailed: Error invoking remote method "
                      "'ping-pong': Error: asked to fail\n");

        /* A variant in, the same variant out. */
        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, EXTRA_IFACE, "EchoAny", "v", "as", "2", "a", "b",
            NULL);
        assert_client(&r, 0, "v as 2 \"a\" \"b\"\n", "");
}

/* Wrong arguments get InvalidArgs on both faces; a result other than the
 * declared one gets HandlerFailed saying what was declared. */
static void test_types_are_checked(void **state) {
        fixture *f = *state;
        client_result r;

        run(&r, "gdbus", "call", "--address", f->address, "--dest", NAME, "--object-path", PATH, "--method",
            "org.ipcbus.Main1.Invoke", "ping-pong", "[<int32 3>]", NULL);
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.freedesktop.DBus.Error.InvalidArgs: 'ping-pong' takes (s word), got "
                      "(i)\n(According to introspection data, you need to pass 'sav')\n");
        run(&r, "gdbus", "call", "--address", f->address, "--dest", NAME, "--object-path", PATH, "--method",
            "org.ipcbus.Main1.Invoke", "sum", "[<int32 3>]", NULL);
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.freedesktop.DBus.Error.InvalidArgs: 'sum' takes (i a, i b), got (i)\n(According to introspection data, you need to pass 'sav')\n");
        /* The typed face: sd-bus checks the signature against the member's. */
        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, IFACE, "PingPong", "i", "3", NULL);
        assert_true(WIFEXITED(r.status));
        assert_int_equal(WEXITSTATUS(r.status), 1);
        assert_non_null(strstr(r.err, "Invalid arguments 'i' to call " IFACE ".PingPong(), expecting 's'"));
        client_result_clear(&r);

        run(&r, "gdbus", "call", "--address", f->address, "--dest", NAME, "--object-path", PATH, "--method",
            IFACE ".BadResult", NULL);
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.ipcbus.Error.HandlerFailed: Error invoking remote method "
                      "'bad_result': TypeError: the handler returned a value of type 'u', but 'bad_result' is "
                      "declared to return 's'\n");
        run(&r, "gdbus", "call", "--address", f->address, "--dest", NAME, "--object-path", PATH, "--method",
            "org.ipcbus.Main1.Invoke", "bad_result", "@av []", NULL);
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.ipcbus.Error.HandlerFailed: Error invoking remote method "
                      "'bad_result': TypeError: the handler returned a value of type 'u', but 'bad_result' is "
                      "declared to return 's'\n");
}

/* A listener channel: a NoReply method whose call runs the listeners; with
 * a result, a sendSync. */
static void test_listener_methods(void **state) {
        fixture *f = *state;
        client_result r;

        run(&r, "busctl", f->busctl_bus, "call", "--expect-reply=no", NAME, PATH, IFACE, "LogLine", "s",
            "typed line", NULL);
        assert_client(&r, 0, "", "");
        assert_int_equal(test_process_wait_line(f->main, "log-line typed line", TIMEOUT_USEC), 0);
        /* Asked for an answer anyway: an empty one. */
        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, IFACE, "LogLine", "s", "answered", NULL);
        assert_client(&r, 0, "", "");
        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, "org.ipcbus.Main1", "Invoke", "sav", "last-line", "0",
            NULL);
        assert_client(&r, 0, "v s \"answered\"\n", "");

        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, EXTRA_IFACE, "Count", "s", "one", NULL);
        assert_client(&r, 0, "u 1\n", "");
        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, "org.ipcbus.Main1", "SendSync", "sav", "count", "1",
            "s", "two", NULL);
        assert_client(&r, 0, "v u 2\n", "");
}

/* gdbus monitor on the main: started, and known to be subscribed. */
static void start_monitor(fixture *f) {
        char *argv[] = { "gdbus", "monitor", "--address", f->address, "--dest", NAME, "--object-path", PATH, NULL };

        assert_int_equal(test_process_spawn_command(&f->monitor, argv), 0);
        /* Printed once its matches are in place and the owner is known. */
        assert_int_equal(test_process_wait_line_containing(f->monitor, "is owned by", TIMEOUT_USEC), 0);
}

/* An event channel is a signal that a gdbus subscriber receives when the
 * main broadcasts; a broadcast with other arguments is refused. */
static void test_typed_signal(void **state) {
        fixture *f = *state;
        client_result r;

        start_monitor(f);
        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, "org.ipcbus.Main1", "Invoke", "sav", "do-tick", "0",
            NULL);
        assert_client(&r, 0, "v i -22\n", "");
        assert_int_equal(test_process_wait_line_containing(f->monitor, IFACE ".Tick (uint32 7,)", TIMEOUT_USEC),
                         0);
        assert_string_equal(test_process_get_line(f->monitor), PATH ": " IFACE ".Tick (uint32 7,)");
}

/* Properties.Get on Main1.Channels, as busctl prints it. */
static void assert_channels(fixture *f, const char *want) {
        client_result r;

        run(&r, "busctl", f->busctl_bus, "get-property", NAME, PATH, "org.ipcbus.Main1", "Channels", NULL);
        assert_client(&r, 0, want, "");
}

/* A handler added and removed at run time: its member comes and goes in
 * the live introspection and in Channels, and subscribers are told. */
static void test_live_changes(void **state) {
        fixture *f = *state;
        g_autofree char *before = NULL, *during = NULL, *after = NULL;
        client_result r;

        before = live_interface(f, IFACE);
        assert_null(strstr(before, "LateChannel"));
        assert_channels(f,
                        "as 10 \"add-late\" \"bad_result\" \"count\" \"do-tick\" \"echo:any\" \"last-line\" "
                        "\"log-line\" \"ping-pong\" \"remove-late\" \"sum\"\n");

        start_monitor(f);
        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, "org.ipcbus.Main1", "Invoke", "sav", "add-late", "0",
            NULL);
        assert_client(&r, 0, "v b true\n", "");
        /* The interface changed: removed and added again, then Channels. */
        assert_int_equal(test_process_wait_line_containing(f->monitor,
                                                           "org.freedesktop.DBus.ObjectManager.InterfacesAdded",
                                                           TIMEOUT_USEC),
                         0);
        assert_non_null(strstr(test_process_get_line(f->monitor), "'" IFACE "'"));
        assert_int_equal(test_process_wait_line_containing(f->monitor, "org.freedesktop.DBus.Properties."
                                                                       "PropertiesChanged ('org.ipcbus.Main1'",
                                                           TIMEOUT_USEC),
                         0);
        assert_non_null(strstr(test_process_get_line(f->monitor), "'late:channel'"));

        during = live_interface(f, IFACE);
        assert_non_null(strstr(during, "  method LateChannel\n    arg out s result\n"));
        assert_channels(f,
                        "as 11 \"add-late\" \"bad_result\" \"count\" \"do-tick\" \"echo:any\" \"last-line\" "
                        "\"late:channel\" \"log-line\" \"ping-pong\" \"remove-late\" \"sum\"\n");
        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, IFACE, "LateChannel", NULL);
        assert_client(&r, 0, "s \"late\"\n", "");

        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, "org.ipcbus.Main1", "Invoke", "sav", "remove-late",
            "0", NULL);
        assert_client(&r, 0, "v b true\n", "");
        assert_int_equal(test_process_wait_line_containing(f->monitor,
                                                           "org.freedesktop.DBus.ObjectManager.InterfacesRemoved",
                                                           TIMEOUT_USEC),
                         0);
        after = live_interface(f, IFACE);
        assert_string_equal(after, before);
        assert_channels(f,
                        "as 10 \"add-late\" \"bad_result\" \"count\" \"do-tick\" \"echo:any\" \"last-line\" "
                        "\"log-line\" \"ping-pong\" \"remove-late\" \"sum\"\n");
        /* Gone from the typed face; the generic face says why. */
        run(&r, "busctl", f->busctl_bus, "call", NAME, PATH, "org.ipcbus.Main1", "Invoke", "sav", "late:channel",
            "0", NULL);
        assert_client(&r, 1, "", "Call failed: No handler registered for 'late:channel'\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_introspection, setup, teardown),
                cmocka_unit_test_setup_teardown(test_typed_call_is_invoke, setup, teardown),
                cmocka_unit_test_setup_teardown(test_types_are_checked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_listener_methods, setup, teardown),
                cmocka_unit_test_setup_teardown(test_typed_signal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_live_changes, setup, teardown),
        };

        setenv("LC_ALL", "C.UTF-8", 1);
        setenv("SYSTEMD_PAGER", "", 1);
        setenv("SYSTEMD_COLORS", "0", 1);
        return cmocka_run_group_tests_name("typed channels", tests, NULL, NULL);
}
