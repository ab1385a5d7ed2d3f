/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The demo main as real clients see it: busctl (systemd), gdbus (GLib),
 * dbus-send (libdbus) and dbus-python, run as separate processes against
 * `ipcbus-demo main` on a private bus. Each check asserts a client's exact
 * stdout, stderr and exit status, since that is what the wire contract
 * promises such users (docs: /work/shared/design/wire-contract.md).
 *
 * Every test runs twice: on dbus-daemon and on dbus-broker. dbus-broker
 * needs root (test_bus_start() answers -EOPNOTSUPP otherwise); without it
 * the dbus-broker group is left out and says so.
 *
 * What these clients print, for the record (systemd 252, GLib 2.74,
 * dbus 1.14):
 * - busctl prints only the message of a D-Bus error ("Call failed: MSG"),
 *   never its name; gdbus ("Error: GDBus.Error:NAME: MSG") and dbus-send
 *   ("Error NAME: MSG") print the name, so names are asserted through them.
 * - gdbus emit --dest takes only unique names: the main's is looked up.
 * - dbus-send cannot build an `av` (no variant element type), so it is only
 *   used for calls that fail; and it needs --bus=, not --address= (that one
 *   is --peer=, a connection without Hello, which the bus refuses).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "client-run.h"
#include "introspect-canon.h"
#include "test-bus.h"
#include "test-process.h"

#define DEMO_NAME "org.ipcbus.Demo"
#define DEMO_PATH "/org/ipcbus/Demo"
#define RENDERER_PATH "/org/ipcbus/Renderer"
#define MAIN_IFACE "org.ipcbus.Main1"
#define CHANNEL_IFACE "org.ipcbus.Channel1"
#define RENDERER_IFACE "org.ipcbus.Renderer1"
/* The demo main's typed channels (examples/demo/org.ipcbus.Demo.Channels.xml). */
#define DEMO_CHANNELS_IFACE "org.ipcbus.Demo.Channels"

/* Generous: under valgrind, and on a loaded CI machine, clients start slowly. */
#define CLIENT_TIMEOUT_USEC (60 * TEST_USEC_PER_SEC)
#define READY_TIMEOUT_USEC (30 * TEST_USEC_PER_SEC)

/* Interfaces sd-bus adds to every object. */
#define SD_BUS_STANDARD_IFACES \
        "org.freedesktop.DBus.Introspectable org.freedesktop.DBus.Peer " \
        "org.freedesktop.DBus.Properties"
/* The main's object also has an object manager, which announces its typed
 * interfaces coming and going (docs/typed-channels.md). */
#define MAIN_STANDARD_IFACES \
        "org.freedesktop.DBus.Introspectable org.freedesktop.DBus.ObjectManager org.freedesktop.DBus.Peer " \
        "org.freedesktop.DBus.Properties"

typedef struct fixture {
        test_bus_kind kind;
        test_bus *bus;
        char *address;       /* the bus address */
        char *busctl_bus;    /* --address=ADDRESS */
        char *dbus_send_bus; /* --bus=ADDRESS */
        char *demo;          /* path of ipcbus-demo */
        test_process *main;  /* ipcbus-demo main */
        test_process *renderer;
} fixture;

static test_bus_kind kind_dbus_daemon = TEST_BUS_DBUS_DAEMON;
static test_bus_kind kind_dbus_broker = TEST_BUS_DBUS_BROKER;

static char *demo_path(void) {
        const char *builddir = getenv("IPCBUS_TEST_BUILDDIR");

        /* meson test sets it; run by hand from the build directory otherwise. */
        return g_build_filename(builddir && *builddir ? builddir : ".", "examples", "ipcbus-demo", NULL);
}

/* ---- running clients ------------------------------------------------------ */

/* Run @argv (NULL-terminated GPtrArray of char *) and fail the test if it cannot run. */
static void run_argv(client_result *r, GPtrArray *argv) {
        int k;

        g_ptr_array_add(argv, NULL);
        k = client_run(r, (char *const *)argv->pdata, CLIENT_TIMEOUT_USEC);
        if (k < 0)
                fail_msg("cannot run %s: %s", (char *)argv->pdata[0], strerror(-k));
        g_ptr_array_unref(argv);
}

static GPtrArray *argv_new(const char *first, ...) G_GNUC_NULL_TERMINATED;
static GPtrArray *argv_new(const char *first, ...) {
        GPtrArray *argv = g_ptr_array_new();
        va_list ap;

        va_start(ap, first);
        for (const char *a = first; a; a = va_arg(ap, const char *))
                g_ptr_array_add(argv, (char *)a);
        va_end(ap);
        return argv;
}

static void argv_append_va(GPtrArray *argv, va_list ap) {
        for (const char *a; (a = va_arg(ap, const char *));)
                g_ptr_array_add(argv, (char *)a);
}

/* busctl call on the demo main: METHOD SIGNATURE ARGS..., NULL-terminated. */
static void busctl_call(fixture *f, client_result *r, const char *method, ...) G_GNUC_NULL_TERMINATED;
static void busctl_call(fixture *f, client_result *r, const char *method, ...) {
        GPtrArray *argv = argv_new("busctl", f->busctl_bus, "call", DEMO_NAME, DEMO_PATH, MAIN_IFACE, method,
                                   NULL);
        va_list ap;

        va_start(ap, method);
        argv_append_va(argv, ap);
        va_end(ap);
        run_argv(r, argv);
}

/* gdbus call on the demo main: org.ipcbus.Main1.METHOD ARGS..., NULL-terminated. */
static void gdbus_call(fixture *f, client_result *r, const char *method, ...) G_GNUC_NULL_TERMINATED;
static void gdbus_call(fixture *f, client_result *r, const char *method, ...) {
        g_autofree char *member = g_strdup_printf("%s.%s", MAIN_IFACE, method);
        GPtrArray *argv = argv_new("gdbus", "call", "--address", f->address, "--dest", DEMO_NAME,
                                   "--object-path", DEMO_PATH, "--method", member, NULL);
        va_list ap;

        va_start(ap, method);
        argv_append_va(argv, ap);
        va_end(ap);
        run_argv(r, argv);
}

/* dbus-send --print-reply on the demo main: METHOD ARGS..., NULL-terminated. */
static void dbus_send_call(fixture *f, client_result *r, const char *method, ...) G_GNUC_NULL_TERMINATED;
static void dbus_send_call(fixture *f, client_result *r, const char *method, ...) {
        g_autofree char *member = g_strdup_printf("%s.%s", MAIN_IFACE, method);
        GPtrArray *argv = argv_new("dbus-send", f->dbus_send_bus, "--print-reply", "--dest=" DEMO_NAME,
                                   DEMO_PATH, member, NULL);
        va_list ap;

        va_start(ap, method);
        argv_append_va(argv, ap);
        va_end(ap);
        run_argv(r, argv);
}

/* The client exited with @code and printed exactly @want_out and @want_err.
 * A macro, so that a failure names the line of the check. */
#define assert_client(r, code, want_out, want_err) \
        do { \
                assert_true(WIFEXITED((r)->status)); \
                assert_int_equal(WEXITSTATUS((r)->status), (code)); \
                assert_string_equal((r)->out, (want_out)); \
                assert_string_equal((r)->err, (want_err)); \
                client_result_clear(r); \
        } while (0)

/* The next "main-recv CHANNEL ..." line of the demo main, which it prints
 * when a message or invoke on CHANNEL arrived: how a test learns that a
 * one-way signal was handled, without sleeping. */
static void assert_main_received(fixture *f, const char *line) {
        g_autofree char *channel = g_strndup(line, strcspn(line, " "));
        g_autofree char *prefix = g_strdup_printf("main-recv %s ", channel);

        assert_int_equal(test_process_wait_line(f->main, prefix, READY_TIMEOUT_USEC), 0);
        assert_string_equal(test_process_get_line(f->main) + strlen("main-recv "), line);
}

/* ---- fixture -------------------------------------------------------------- */

static int teardown(void **state);

static int setup(void **state) {
        fixture *f = g_new0(fixture, 1);
        char *argv[] = { NULL, "main", "--address", NULL, NULL };
        int k;

        f->kind = *(test_bus_kind *)*state;
        *state = f;
        k = test_bus_start(&f->bus, f->kind);
        if (k < 0) {
                fprintf(stderr, "cannot start %s: %s\n", test_bus_kind_to_string(f->kind), strerror(-k));
                goto fail;
        }
        f->address = g_strdup(test_bus_get_address(f->bus));
        f->busctl_bus = g_strdup_printf("--address=%s", f->address);
        f->dbus_send_bus = g_strdup_printf("--bus=%s", f->address);
        f->demo = demo_path();

        argv[0] = f->demo;
        argv[3] = f->address;
        k = test_process_spawn_command(&f->main, argv);
        if (k >= 0)
                k = test_process_wait_line(f->main, "ready", READY_TIMEOUT_USEC);
        if (k < 0) {
                fprintf(stderr, "%s main did not get ready: %s\n", f->demo, strerror(-k));
                goto fail;
        }
        return 0;
fail:
        /* cmocka runs no teardown after a failed setup. */
        (void)teardown(state);
        *state = NULL;
        return -1;
}

/* SIGTERM @p and check it stopped cleanly: a child that crashed on what a
 * client sent fails the test here. */
static int stop_child(test_process **p, const char *what) {
        int status = 0, r = 0;

        if (!*p)
                return 0;
        if (test_process_kill(*p, SIGTERM) < 0 || test_process_wait_exit(*p, &status) < 0)
                r = -1;
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "ipcbus-demo %s ended with %s %d, not exit 0\n", what,
                        WIFEXITED(status) ? "exit" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                r = -1;
        }
        *p = test_process_free(*p);
        return r;
}

static int teardown(void **state) {
        fixture *f = *state;
        int r = 0;

        if (stop_child(&f->renderer, "renderer") < 0)
                r = -1;
        if (stop_child(&f->main, "main") < 0)
                r = -1;
        test_bus_free(f->bus);
        g_free(f->address);
        g_free(f->busctl_bus);
        g_free(f->dbus_send_bus);
        g_free(f->demo);
        g_free(f);
        return r;
}

/* ---- 1-3: invoke and sendSync --------------------------------------------- */

static void test_busctl_invoke_joins_arguments(void **state) {
        fixture *f = *state;
        client_result r;

        busctl_call(f, &r, "Invoke", "sav", "my-invokable-ipc", "2", "s", "hello", "s", "world", NULL);
        assert_client(&r, 0, "v s \"hello world\"\n", "");
        assert_main_received(f, "my-invokable-ipc [<'hello'>, <'world'>]");

        /* Non-strings are joined in GVariant text form. */
        busctl_call(f, &r, "Invoke", "sav", "my-invokable-ipc", "3", "s", "n", "i", "42", "b", "true", NULL);
        assert_client(&r, 0, "v s \"n 42 true\"\n", "");
}

static void test_gdbus_invoke_joins_arguments(void **state) {
        fixture *f = *state;
        client_result r;

        gdbus_call(f, &r, "Invoke", "my-invokable-ipc", "[<'a'>, <'b'>]", NULL);
        assert_client(&r, 0, "(<'a b'>,)\n", "");
        assert_main_received(f, "my-invokable-ipc [<'a'>, <'b'>]");
}

static void test_busctl_send_sync_ping_pong(void **state) {
        fixture *f = *state;
        client_result r;

        busctl_call(f, &r, "SendSync", "sav", "synchronous-message", "1", "s", "ping", NULL);
        assert_client(&r, 0, "v s \"pong\"\n", "");
        assert_main_received(f, "synchronous-message [<'ping'>]");
}

static void test_gdbus_send_sync_ping_pong(void **state) {
        fixture *f = *state;
        client_result r;

        gdbus_call(f, &r, "SendSync", "synchronous-message", "[<'ping'>]", NULL);
        assert_client(&r, 0, "(<'pong'>,)\n", "");
        assert_main_received(f, "synchronous-message [<'ping'>]");
}

/* ---- 4: errors from the handler side ---------------------------------------- */

static void test_unknown_channel_fails_with_no_handler(void **state) {
        fixture *f = *state;
        client_result r;

        busctl_call(f, &r, "Invoke", "sav", "no-such-channel", "0", NULL);
        assert_client(&r, 1, "", "Call failed: No handler registered for 'no-such-channel'\n");

        gdbus_call(f, &r, "Invoke", "no-such-channel", "@av []", NULL);
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.ipcbus.Error.NoHandler: "
                      "No handler registered for 'no-such-channel'\n");

        /* sendSync where no listener sets a value fails instead of hanging. */
        gdbus_call(f, &r, "SendSync", "no-such-channel", "@av []", NULL);
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.ipcbus.Error.NoReturnValue: "
                      "No listener of 'no-such-channel' set a return value (event.returnValue)\n");
        busctl_call(f, &r, "SendSync", "sav", "no-such-channel", "0", NULL);
        assert_client(&r, 1, "",
                      "Call failed: No listener of 'no-such-channel' set a return value (event.returnValue)\n");

        /* The main keeps serving. */
        busctl_call(f, &r, "Invoke", "sav", "my-invokable-ipc", "1", "s", "still here", NULL);
        assert_client(&r, 0, "v s \"still here\"\n", "");
}

/* ---- 5: InvalidArgs --------------------------------------------------------- */

static void test_wrong_signature_fails_with_invalid_args(void **state) {
        fixture *f = *state;
        client_result r;

        busctl_call(f, &r, "Invoke", "s", "my-invokable-ipc", NULL);
        assert_client(&r, 1, "",
                      "Call failed: Invalid arguments 's' to call org.ipcbus.Main1.Invoke(), expecting 'sav'.\n");
        /* A valid call right after: the main keeps serving. */
        busctl_call(f, &r, "Invoke", "sav", "my-invokable-ipc", "1", "s", "after s", NULL);
        assert_client(&r, 0, "v s \"after s\"\n", "");

        busctl_call(f, &r, "Invoke", "ss", "my-invokable-ipc", "x", NULL);
        assert_client(&r, 1, "",
                      "Call failed: Invalid arguments 'ss' to call org.ipcbus.Main1.Invoke(), expecting 'sav'.\n");
        busctl_call(f, &r, "Invoke", NULL);
        assert_client(&r, 1, "",
                      "Call failed: Invalid arguments '' to call org.ipcbus.Main1.Invoke(), expecting 'sav'.\n");
        busctl_call(f, &r, "SendSync", "s", "synchronous-message", NULL);
        assert_client(
                &r, 1, "",
                "Call failed: Invalid arguments 's' to call org.ipcbus.Main1.SendSync(), expecting 'sav'.\n");

        /* The error name, through clients that print it. */
        gdbus_call(f, &r, "Invoke", "my-invokable-ipc", NULL);
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.freedesktop.DBus.Error.InvalidArgs: "
                      "Invalid arguments 's' to call org.ipcbus.Main1.Invoke(), expecting 'sav'.\n"
                      "(According to introspection data, you need to pass 'sav')\n");
        dbus_send_call(f, &r, "Invoke", "string:my-invokable-ipc", "string:x", NULL);
        assert_client(&r, 1, "",
                      "Error org.freedesktop.DBus.Error.InvalidArgs: "
                      "Invalid arguments 'ss' to call org.ipcbus.Main1.Invoke(), expecting 'sav'.\n");
        dbus_send_call(f, &r, "Invoke", "string:no-such-channel", "array:string:", NULL);
        assert_client(&r, 1, "",
                      "Error org.freedesktop.DBus.Error.InvalidArgs: "
                      "Invalid arguments 'sas' to call org.ipcbus.Main1.Invoke(), expecting 'sav'.\n");

        busctl_call(f, &r, "Invoke", "sav", "my-invokable-ipc", "1", "s", "still here", NULL);
        assert_client(&r, 0, "v s \"still here\"\n", "");
        busctl_call(f, &r, "SendSync", "sav", "synchronous-message", "1", "s", "ping", NULL);
        assert_client(&r, 0, "v s \"pong\"\n", "");
}

static void test_bad_channel_name_fails_with_invalid_args(void **state) {
        fixture *f = *state;
        g_autofree char *long_channel = g_strnfill(300, 'x');
        g_autofree char *max_channel = g_strnfill(255, 'x');
        g_autofree char *max_expected = g_strdup_printf("Call failed: No handler registered for '%s'\n",
                                                        max_channel);
        client_result r;

        busctl_call(f, &r, "Invoke", "sav", "", "0", NULL);
        assert_client(&r, 1, "", "Call failed: Channel name is empty\n");
        gdbus_call(f, &r, "Invoke", "", "@av []", NULL);
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.freedesktop.DBus.Error.InvalidArgs: Channel name is empty\n"
                      "(According to introspection data, you need to pass 'sav')\n");
        busctl_call(f, &r, "SendSync", "sav", "", "1", "s", "ping", NULL);
        assert_client(&r, 1, "", "Call failed: Channel name is empty\n");

        busctl_call(f, &r, "Invoke", "sav", long_channel, "0", NULL);
        assert_client(&r, 1, "", "Call failed: Channel name is longer than 255 bytes\n");
        gdbus_call(f, &r, "Invoke", long_channel, "@av []", NULL);
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.freedesktop.DBus.Error.InvalidArgs: "
                      "Channel name is longer than 255 bytes\n"
                      "(According to introspection data, you need to pass 'sav')\n");
        busctl_call(f, &r, "SendSync", "sav", long_channel, "0", NULL);
        assert_client(&r, 1, "", "Call failed: Channel name is longer than 255 bytes\n");

        /* A noncharacter (U+FDD0) passes the bus daemons but not sd-bus:
         * the answer says so, on either bus. */
        gdbus_call(f, &r, "Invoke", "a\xef\xb7\x90" "b", "@av []", NULL);
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.freedesktop.DBus.Error.InvalidArgs: The channel name is not UTF-8 "
                      "that D-Bus strings may hold: it has a Unicode noncharacter (U+FDD0..U+FDEF, U+FFFE, "
                      "U+FFFF, ...) or is not UTF-8 at all\n"
                      "(According to introspection data, you need to pass 'sav')\n");

        /* 255 bytes is a valid name: it just has no handler. */
        busctl_call(f, &r, "Invoke", "sav", max_channel, "0", NULL);
        assert_client(&r, 1, "", max_expected);

        busctl_call(f, &r, "Invoke", "sav", "my-invokable-ipc", "1", "s", "still here", NULL);
        assert_client(&r, 0, "v s \"still here\"\n", "");
}

/* ---- 6: Message signals to the main --------------------------------------- */

/* busctl emit of a Message from RENDERER_PATH: SIGNATURE ARGS..., NULL-terminated.
 * @destination: "--destination=NAME", or NULL for a broadcast. */
static void busctl_emit_message(fixture *f, client_result *r, const char *destination,
                                ...) G_GNUC_NULL_TERMINATED;
static void busctl_emit_message(fixture *f, client_result *r, const char *destination, ...) {
        GPtrArray *argv = argv_new("busctl", f->busctl_bus, "emit", NULL);
        va_list ap;

        if (destination)
                g_ptr_array_add(argv, (char *)destination);
        g_ptr_array_add(argv, RENDERER_PATH);
        g_ptr_array_add(argv, CHANNEL_IFACE);
        g_ptr_array_add(argv, "Message");
        va_start(ap, destination);
        argv_append_va(argv, ap);
        va_end(ap);
        run_argv(r, argv);
}

static void busctl_emit_set_title(fixture *f, client_result *r, const char *destination, const char *title) {
        busctl_emit_message(f, r, destination, "sav", "set-title", "1", "s", title, NULL);
}

static void test_busctl_emit_message_sets_title(void **state) {
        fixture *f = *state;
        client_result r;

        busctl_emit_set_title(f, &r, "--destination=" DEMO_NAME, "from busctl");
        assert_client(&r, 0, "", "");
        assert_main_received(f, "set-title [<'from busctl'>]");

        busctl_call(f, &r, "Invoke", "sav", "get-title", "0", NULL);
        assert_client(&r, 0, "v s \"from busctl\"\n", "");
}

/* The main's unique name, as gdbus sees it: "(':1.N',)". */
static char *main_unique_name(fixture *f) {
        client_result r;
        char *name;

        run_argv(&r,
                 argv_new("gdbus", "call", "--address", f->address, "--dest", "org.freedesktop.DBus",
                          "--object-path", "/org/freedesktop/DBus", "--method",
                          "org.freedesktop.DBus.GetNameOwner", DEMO_NAME, NULL));
        assert_true(WIFEXITED(r.status));
        assert_int_equal(WEXITSTATUS(r.status), 0);
        assert_true(g_str_has_prefix(r.out, "(':") && g_str_has_suffix(r.out, "',)\n"));
        name = g_strndup(r.out + 2, strlen(r.out) - strlen("('") - strlen("',)\n"));
        client_result_clear(&r);
        return name;
}

static void test_gdbus_emit_message_sets_title(void **state) {
        fixture *f = *state;
        g_autofree char *unique = main_unique_name(f);
        client_result r;

        /* gdbus emit --dest takes only unique names. */
        run_argv(&r,
                 argv_new("gdbus", "emit", "--address", f->address, "--dest", DEMO_NAME, "--object-path",
                          RENDERER_PATH, "--signal", CHANNEL_IFACE ".Message", "set-title",
                          "[<'from gdbus'>]", NULL));
        assert_client(&r, 1, "", "Error: org.ipcbus.Demo is not a valid unique bus name.\n");

        run_argv(&r,
                 argv_new("gdbus", "emit", "--address", f->address, "--dest", unique, "--object-path",
                          RENDERER_PATH, "--signal", CHANNEL_IFACE ".Message", "set-title",
                          "[<'from gdbus'>]", NULL));
        assert_client(&r, 0, "", "");
        assert_main_received(f, "set-title [<'from gdbus'>]");

        gdbus_call(f, &r, "Invoke", "get-title", "@av []", NULL);
        assert_client(&r, 0, "(<'from gdbus'>,)\n", "");
}

/*
 * A Message without a destination is a main talking to all its renderers;
 * the main does not take it as a renderer's message. (On a bus it does not
 * even arrive: the main holds no match rule for Channel1, and the bus
 * delivers broadcasts only to matching connections. The core also drops
 * broadcasts that do arrive.)
 *
 * Nothing comes back for a dropped signal, so the check is an order: the
 * broadcasts are sent first, by clients that have exited, then a unicast
 * from a new client (which needs several round trips with the bus before it
 * can send); the first set-title the main reports must be the unicast one.
 */
static void test_broadcast_message_is_ignored(void **state) {
        fixture *f = *state;
        client_result r;

        busctl_emit_set_title(f, &r, NULL, "busctl broadcast");
        assert_client(&r, 0, "", "");
        run_argv(&r,
                 argv_new("gdbus", "emit", "--address", f->address, "--object-path", RENDERER_PATH,
                          "--signal", CHANNEL_IFACE ".Message", "set-title", "[<'gdbus broadcast'>]", NULL));
        assert_client(&r, 0, "", "");

        busctl_emit_set_title(f, &r, "--destination=" DEMO_NAME, "unicast");
        assert_client(&r, 0, "", "");
        assert_main_received(f, "set-title [<'unicast'>]");

        busctl_call(f, &r, "Invoke", "sav", "get-title", "0", NULL);
        assert_client(&r, 0, "v s \"unicast\"\n", "");
}

/*
 * A Message the main cannot read is dropped (a signal has no error reply)
 * and the main goes on. Checked as in the broadcast test: the first
 * set-title the main reports must be the valid one sent after them.
 */
static void test_malformed_message_is_dropped(void **state) {
        fixture *f = *state;
        g_autofree char *long_channel = g_strnfill(300, 'x');
        client_result r;

        busctl_emit_message(f, &r, "--destination=" DEMO_NAME, "s", "set-title", NULL);
        assert_client(&r, 0, "", "");
        busctl_emit_message(f, &r, "--destination=" DEMO_NAME, "sas", "set-title", "1", "as string", NULL);
        assert_client(&r, 0, "", "");
        busctl_emit_message(f, &r, "--destination=" DEMO_NAME, "sav", "", "1", "s", "empty channel", NULL);
        assert_client(&r, 0, "", "");
        busctl_emit_message(f, &r, "--destination=" DEMO_NAME, "sav", long_channel, "0", NULL);
        assert_client(&r, 0, "", "");

        busctl_emit_set_title(f, &r, "--destination=" DEMO_NAME, "valid");
        assert_client(&r, 0, "", "");
        assert_main_received(f, "set-title [<'valid'>]");
        busctl_call(f, &r, "Invoke", "sav", "get-title", "0", NULL);
        assert_client(&r, 0, "v s \"valid\"\n", "");
}

/* ---- 7: introspection ------------------------------------------------------- */

static GHashTable *parse_xml(const char *xml, const char *what) {
        g_autofree char *error = NULL;
        GHashTable *table = NULL;

        if (introspect_canon_parse(xml, &table, &error) < 0)
                fail_msg("%s: %s", what, error);
        return table;
}

/* The canonical text of interface @name in introspection/NAME.xml. */
static char *canonical_interface(const char *name) {
        const char *srcdir = getenv("IPCBUS_TEST_SRCDIR");
        g_autofree char *file = g_strdup_printf("%s.xml", name);
        g_autofree char *path = g_build_filename(srcdir && *srcdir ? srcdir : "..", "introspection", file,
                                                 NULL);
        g_autofree char *xml = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GHashTable) table = NULL;
        g_autofree char *names = NULL;

        if (!g_file_get_contents(path, &xml, NULL, &error))
                fail_msg("%s", error->message);
        table = parse_xml(xml, path);
        /* One file, one interface. */
        names = introspect_canon_names(table);
        assert_string_equal(names, name);
        return g_strdup(g_hash_table_lookup(table, name));
}

/* @xml has exactly @names (sorted, space-separated) and each ipcbus
 * interface among @ipcbus_ifaces reads as its file in introspection/. */
static void assert_introspection(const char *xml, const char *what, const char *names,
                                 const char *const *ipcbus_ifaces) {
        g_autoptr(GHashTable) table = parse_xml(xml, what);
        g_autofree char *got_names = introspect_canon_names(table);

        assert_string_equal(got_names, names);
        for (size_t i = 0; ipcbus_ifaces[i]; i++) {
                g_autofree char *expected = canonical_interface(ipcbus_ifaces[i]);

                assert_non_null(g_hash_table_lookup(table, ipcbus_ifaces[i]));
                assert_string_equal(g_hash_table_lookup(table, ipcbus_ifaces[i]), expected);
        }
}

/* The demo's typed face: its members, as busctl lists them and in its
 * XML, and a typed call answering what Invoke answers, errors included. */
static void test_demo_typed_channels(void **state) {
        fixture *f = *state;
        g_autoptr(GHashTable) table = NULL;
        client_result r;

        run_argv(&r, argv_new("busctl", f->busctl_bus, "--no-pager", "introspect", DEMO_NAME, DEMO_PATH,
                              DEMO_CHANNELS_IFACE, NULL));
        assert_client(&r, 0,
                      "NAME                     TYPE      SIGNATURE RESULT/VALUE FLAGS\n"
                      ".DialogOpenFile          method    -         s            -\n"
                      ".GetTitle                method    -         s            -\n"
                      ".Notify                  method    ss        u            -\n"
                      ".ReadFileEvent           method    s         s            -\n"
                      ".SetTitle                method    s         -            no-reply\n"
                      ".TestMsg                 signal    s         -            -\n"
                      ".TitleChanged            signal    s         -            -\n",
                      "");
        run_argv(&r, argv_new("busctl", f->busctl_bus, "--no-pager", "introspect", "--xml-interface", DEMO_NAME,
                              DEMO_PATH, NULL));
        table = parse_xml(r.out, "busctl introspect");
        client_result_clear(&r);
        assert_string_equal(g_hash_table_lookup(table, DEMO_CHANNELS_IFACE),
                            "interface " DEMO_CHANNELS_IFACE "\n"
                            "  method DialogOpenFile\n"
                            "    arg out s path\n"
                            "  method GetTitle\n"
                            "    arg out s title\n"
                            "  method Notify\n"
                            "    arg in s title\n"
                            "    arg in s body\n"
                            "    arg out u id\n"
                            "  method ReadFileEvent\n"
                            "    arg in s path\n"
                            "    arg out s contents\n"
                            "  method SetTitle\n"
                            "    arg in s title\n"
                            "    annotation org.freedesktop.DBus.Method.NoReply=true\n"
                            "  signal TestMsg\n"
                            "    arg s message\n"
                            "  signal TitleChanged\n"
                            "    arg s title\n");

        /* ReadFileEvent s PATH gives what Invoke readFileEvent gives. */
        run_argv(&r, argv_new("busctl", f->busctl_bus, "call", DEMO_NAME, DEMO_PATH, DEMO_CHANNELS_IFACE,
                              "ReadFileEvent", "s", "a.txt", NULL));
        assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
        assert_true(g_str_has_prefix(r.out, "s \""));
        {
                g_autofree char *typed = g_strdup(r.out);

                client_result_clear(&r);
                busctl_call(f, &r, "Invoke", "sav", "readFileEvent", "1", "s", "a.txt", NULL);
                assert_true(g_str_has_prefix(r.out, "v "));
                assert_string_equal(r.out + 2, typed);
                client_result_clear(&r);
        }
        run_argv(&r, argv_new("busctl", f->busctl_bus, "call", DEMO_NAME, DEMO_PATH, DEMO_CHANNELS_IFACE,
                              "ReadFileEvent", "s", "nope.txt", NULL));
        assert_client(&r, 1, "",
                      "Call failed: Error invoking remote method 'readFileEvent': Error: ENOENT: no such file or "
                      "directory, open 'nope.txt'\n");
        busctl_call(f, &r, "Invoke", "sav", "readFileEvent", "1", "s", "nope.txt", NULL);
        assert_client(&r, 1, "",
                      "Call failed: Error invoking remote method 'readFileEvent': Error: ENOENT: no such file or "
                      "directory, open 'nope.txt'\n");

        /* SetTitle, no reply wanted, then GetTitle. */
        run_argv(&r, argv_new("busctl", f->busctl_bus, "call", "--expect-reply=no", DEMO_NAME, DEMO_PATH,
                              DEMO_CHANNELS_IFACE, "SetTitle", "s", "typed title", NULL));
        assert_client(&r, 0, "", "");
        assert_main_received(f, "set-title [<'typed title'>]");
        run_argv(&r, argv_new("busctl", f->busctl_bus, "call", DEMO_NAME, DEMO_PATH, DEMO_CHANNELS_IFACE,
                              "GetTitle", NULL));
        assert_client(&r, 0, "s \"typed title\"\n", "");
}

static void test_main_introspection_matches_xml(void **state) {
        static const char *const ifaces[] = { CHANNEL_IFACE, MAIN_IFACE, NULL };
        fixture *f = *state;
        client_result r;

        run_argv(&r,
                 argv_new("busctl", f->busctl_bus, "--no-pager", "introspect", "--xml-interface", DEMO_NAME,
                          DEMO_PATH, NULL));
        assert_true(WIFEXITED(r.status));
        assert_int_equal(WEXITSTATUS(r.status), 0);
        assert_string_equal(r.err, "");
        assert_introspection(r.out, "busctl introspect",
                             MAIN_STANDARD_IFACES " " CHANNEL_IFACE " " DEMO_CHANNELS_IFACE " " MAIN_IFACE, ifaces);
        client_result_clear(&r);

        run_argv(&r,
                 argv_new("gdbus", "introspect", "--address", f->address, "--dest", DEMO_NAME,
                          "--object-path", DEMO_PATH, "--xml", NULL));
        assert_true(WIFEXITED(r.status));
        assert_int_equal(WEXITSTATUS(r.status), 0);
        assert_string_equal(r.err, "");
        assert_introspection(r.out, "gdbus introspect",
                             MAIN_STANDARD_IFACES " " CHANNEL_IFACE " " DEMO_CHANNELS_IFACE " " MAIN_IFACE, ifaces);
        client_result_clear(&r);
}

/* Start `ipcbus-demo renderer --role win1` and return its unique name. */
static char *start_renderer(fixture *f) {
        char *argv[] = { f->demo, "renderer", "--address", f->address, "--role", "win1", NULL };
        g_auto(GStrv) lines = NULL;
        client_result r;
        char *unique = NULL;

        assert_int_equal(test_process_spawn_command(&f->renderer, argv), 0);
        /* The main sends testMsg once the renderer attached: it is up and serving. */
        assert_int_equal(test_process_wait_line(f->renderer, "recv testMsg ", READY_TIMEOUT_USEC), 0);

        /* Its connection is the one whose peer is its pid (the bus reads SO_PEERCRED):
         * lines of NAME PID PROCESS USER CONNECTION ... */
        run_argv(&r, argv_new("busctl", f->busctl_bus, "--no-pager", "--no-legend", "list", "--unique", NULL));
        assert_true(WIFEXITED(r.status));
        assert_int_equal(WEXITSTATUS(r.status), 0);
        lines = g_strsplit(r.out, "\n", -1);
        client_result_clear(&r);
        for (size_t i = 0; lines[i]; i++) {
                char name[256];
                long pid;

                if (sscanf(lines[i], "%255s %ld", name, &pid) == 2 &&
                    pid == test_process_get_pid(f->renderer)) {
                        assert_null(unique);
                        unique = g_strdup(name);
                }
        }
        assert_non_null(unique);
        assert_true(unique[0] == ':');
        return unique;
}

static void test_renderer_introspection_matches_xml(void **state) {
        static const char *const ifaces[] = { CHANNEL_IFACE, RENDERER_IFACE, NULL };
        fixture *f = *state;
        g_autofree char *unique = start_renderer(f);
        client_result r;

        run_argv(&r,
                 argv_new("busctl", f->busctl_bus, "--no-pager", "introspect", "--xml-interface", unique,
                          RENDERER_PATH, NULL));
        assert_true(WIFEXITED(r.status));
        assert_int_equal(WEXITSTATUS(r.status), 0);
        assert_string_equal(r.err, "");
        assert_introspection(r.out, "busctl introspect (renderer)",
                             SD_BUS_STANDARD_IFACES " " CHANNEL_IFACE " " RENDERER_IFACE, ifaces);
        client_result_clear(&r);
}

/* Renderer1.Invoke is the main's to call: another client is refused. */
static void test_renderer_denies_other_callers(void **state) {
        fixture *f = *state;
        g_autofree char *unique = start_renderer(f);
        client_result r;

        run_argv(&r,
                 argv_new("busctl", f->busctl_bus, "call", unique, RENDERER_PATH, RENDERER_IFACE, "Invoke",
                          "sav", "anything", "0", NULL));
        assert_client(&r, 1, "", "Call failed: Sender may not use channel 'anything'\n");
        run_argv(&r,
                 argv_new("gdbus", "call", "--address", f->address, "--dest", unique, "--object-path",
                          RENDERER_PATH, "--method", RENDERER_IFACE ".Invoke", "anything", "@av []", NULL));
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.ipcbus.Error.Denied: Sender may not use channel 'anything'\n");
}

/* ---- 8: dbus-python ------------------------------------------------------- */

static const char python_script[] =
        "import sys\n"
        "import dbus\n"
        "bus = dbus.bus.BusConnection(sys.argv[1])\n"
        "main = dbus.Interface(bus.get_object('org.ipcbus.Demo', '/org/ipcbus/Demo'), 'org.ipcbus.Main1')\n"
        "result = main.Invoke('my-invokable-ipc', dbus.Array(['from', 'python', dbus.Int32(3)], signature='v'))\n"
        "print(type(result).__name__, result)\n"
        "try:\n"
        "    main.Invoke('no-such-channel', dbus.Array([], signature='v'))\n"
        "except dbus.exceptions.DBusException as e:\n"
        "    print(e.get_dbus_name(), e.get_dbus_message())\n";

static void test_dbus_python_invoke(void **state) {
        fixture *f = *state;
        const char *python = client_python_with("dbus", CLIENT_TIMEOUT_USEC);
        client_result r;

        if (!python) {
                fprintf(stderr,
                        "skipped: neither python3 nor /usr/bin/python3 can import dbus; "
                        "install python3-dbus (.ci/install-deps does)\n");
                skip();
        }
        run_argv(&r, argv_new(python, "-c", python_script, f->address, NULL));
        assert_client(&r, 0,
                      "String from python 3\n"
                      "org.ipcbus.Error.NoHandler No handler registered for 'no-such-channel'\n",
                      "");
        assert_main_received(f, "my-invokable-ipc [<'from'>, <'python'>, <3>]");
}

/* ---- runner --------------------------------------------------------------- */

typedef struct client_test {
        const char *name;
        CMUnitTestFunction fn;
} client_test;

#define CLIENT_TEST(f) \
        { #f, f }

static const client_test client_tests[] = {
        CLIENT_TEST(test_busctl_invoke_joins_arguments),
        CLIENT_TEST(test_gdbus_invoke_joins_arguments),
        CLIENT_TEST(test_busctl_send_sync_ping_pong),
        CLIENT_TEST(test_gdbus_send_sync_ping_pong),
        CLIENT_TEST(test_unknown_channel_fails_with_no_handler),
        CLIENT_TEST(test_wrong_signature_fails_with_invalid_args),
        CLIENT_TEST(test_bad_channel_name_fails_with_invalid_args),
        CLIENT_TEST(test_busctl_emit_message_sets_title),
        CLIENT_TEST(test_gdbus_emit_message_sets_title),
        CLIENT_TEST(test_broadcast_message_is_ignored),
        CLIENT_TEST(test_malformed_message_is_dropped),
        CLIENT_TEST(test_main_introspection_matches_xml),
        CLIENT_TEST(test_demo_typed_channels),
        CLIENT_TEST(test_renderer_introspection_matches_xml),
        CLIENT_TEST(test_renderer_denies_other_callers),
        CLIENT_TEST(test_dbus_python_invoke),
};

/* Every test, with a bus of @kind of its own. */
static int run_group(const char *name, test_bus_kind *kind) {
        struct CMUnitTest tests[G_N_ELEMENTS(client_tests)];

        for (size_t i = 0; i < G_N_ELEMENTS(client_tests); i++)
                tests[i] = (struct CMUnitTest){
                        .name = client_tests[i].name,
                        .test_func = client_tests[i].fn,
                        .setup_func = setup,
                        .teardown_func = teardown,
                        .initial_state = kind,
                };
        /* cmocka's default output does not name the group: say which bus. */
        printf("# %s\n", name);
        return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}

/* Whether dbus-broker can run here: the answer of a real start. */
static bool broker_available(void) {
        test_bus *b = NULL;
        int k = test_bus_start(&b, TEST_BUS_DBUS_BROKER);

        test_bus_free(b);
        if (k == -EOPNOTSUPP) {
                printf("# dbus-broker needs root here (test_bus_start: %s): "
                       "the clients run on dbus-daemon only\n",
                       strerror(-k));
                return false;
        }
        /* Any other failure is a failure: the tests report it. */
        return true;
}

int main(void) {
        int failed;

        /* What the clients print is asserted to the letter: no translations,
         * no pager, no colours. */
        setenv("LC_ALL", "C.UTF-8", 1);
        setenv("SYSTEMD_PAGER", "", 1);
        setenv("SYSTEMD_COLORS", "0", 1);

        failed = run_group("clients on dbus-daemon", &kind_dbus_daemon);
        if (broker_available())
                failed += run_group("clients on dbus-broker", &kind_dbus_broker);
        return failed;
}
