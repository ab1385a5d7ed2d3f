/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dbus-policy/ on a system-like bus, as a user other than root sees it.
 *
 * Each test starts a private bus, dbus-daemon and then dbus-broker, with
 * the default policy of Debian's system bus (test_bus_start_with(TEST_BUS_SYSTEM_LIKE): nobody
 * may own a name or send a method call except to the bus itself) that
 * includes the policy files of a directory, as system.conf includes
 * system.d/: dbus-policy/ of the source tree, or a template filled in by the
 * test. `ipcbus-demo main` runs as root, as on a real system bus, and the
 * clients (gdbus, busctl, dbus-send, the demo renderer) run as uid and gid
 * 65534 (nobody/nogroup on Debian) through setpriv (util-linux).
 *
 * What is checked is what the template's header promises: root owns the
 * main's name and calls Renderer1; everyone else reaches Main1, Channel1
 * signals, Introspectable, Peer and reading properties; everything else is
 * the bus's AccessDenied. The two buses word their refusals differently
 * (dbus-daemon 1.14 describes the message it rejected, dbus-broker 33 says
 * "Sender is not authorized to send message"); the error name is the same.
 *
 * Needs root (setpriv, and the demo main as root): otherwise the whole
 * program is skipped (exit 77). Without a mount namespace for dbus-broker
 * (test_bus_start() answers -EOPNOTSUPP), only dbus-daemon runs, as in
 * test-clients.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "demo-run.h"
#include "test-bus.h"

#define DEMO_NAME "org.ipcbus.Demo"
#define DEMO_PATH "/org/ipcbus/Demo"
#define RENDERER_PATH "/org/ipcbus/Renderer"

#define NOBODY_UID 65534u
#define NOBODY_ID "65534"
/* Run the rest of the command line as uid and gid 65534 with no other
 * groups; setpriv restores the parent-death signal the credential change
 * cleared, so the client still dies with the test. */
#define AS_NOBODY \
        "setpriv", "--reuid=" NOBODY_ID, "--regid=" NOBODY_ID, "--clear-groups", "--pdeathsig", "keep"

#define GDBUS_ACCESS_DENIED "Error: GDBus.Error:org.freedesktop.DBus.Error.AccessDenied: "
#define DBUS_SEND_ACCESS_DENIED "Error org.freedesktop.DBus.Error.AccessDenied: "

typedef struct fixture {
        test_bus_kind kind;
        test_bus *bus;
        char *address;
        char *busctl_bus; /* --address=ADDRESS */
        char *demo;       /* path of ipcbus-demo */
        test_process *main;
        test_process *renderer;
        char *policy_dir; /* a directory the test made and removes, or NULL */
} fixture;

/* ---- clients ---------------------------------------------------------------- */

/*
 * @err (after @prefix, the client's way to print an AccessDenied) is the
 * bus's refusal of a method call by policy: dbus-daemon describes the
 * message, where @interface and @member must show; dbus-broker does not.
 */
static void check_send_denied(fixture *f, const char *err, const char *prefix, const char *interface,
                              const char *member) {
        g_autofree char *what = g_strdup_printf("interface=\"%s\" member=\"%s\"", interface, member);

        if (!g_str_has_prefix(err, prefix))
                fail_msg("not an AccessDenied: %s", err);
        err += strlen(prefix);
        if (f->kind == TEST_BUS_DBUS_BROKER)
                assert_string_equal(err, "Sender is not authorized to send message\n");
        else if (!g_str_has_prefix(err, "Rejected send message, ") || !strstr(err, what))
                fail_msg("not dbus-daemon's refusal of %s: %s", what, err);
}

/* gdbus failed with the bus's AccessDenied for a call of INTERFACE.MEMBER. */
#define assert_gdbus_send_denied(f, r, interface, member) \
        do { \
                assert_client_exit(r, 1); \
                assert_string_equal((r)->out, ""); \
                check_send_denied((f), (r)->err, GDBUS_ACCESS_DENIED, (interface), (member)); \
                client_result_clear(r); \
        } while (0)

/* gdbus call as uid 65534 on the demo main: INTERFACE.METHOD ARGS... */
#define nobody_gdbus_call(f, r, method, ...) \
        demo_run(r, AS_NOBODY, "gdbus", "call", "--address", (f)->address, "--dest", DEMO_NAME, "--object-path", \
            DEMO_PATH, "--method", method, __VA_ARGS__)

/* The main's unique name, asked by uid 65534: "(':1.N',)". */
static char *main_unique_name(fixture *f) {
        client_result r;
        char *name;

        demo_run(&r, AS_NOBODY, "gdbus", "call", "--address", f->address, "--dest", "org.freedesktop.DBus",
                 "--object-path", "/org/freedesktop/DBus", "--method", "org.freedesktop.DBus.GetNameOwner",
                 DEMO_NAME);
        assert_client_exit(&r, 0);
        assert_true(g_str_has_prefix(r.out, "(':") && g_str_has_suffix(r.out, "',)\n"));
        name = g_strndup(r.out + 2, strlen(r.out) - strlen("('',)\n"));
        client_result_clear(&r);
        return name;
}

/*
 * Whether uid 65534 may run the demo: every directory above the build
 * directory must let others search it, which a build under /root or a home
 * directory of mode 0700 does not. The checks that need an unprivileged
 * demo process skip, saying so, where it cannot.
 */
static bool nobody_can_run_demo(fixture *f) {
        client_result r;
        bool ok;

        demo_run(&r, AS_NOBODY, f->demo, "--help");
        ok = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
        client_result_clear(&r);
        if (!ok)
                fprintf(stderr, "skipped: uid " NOBODY_ID " cannot run %s (a directory above it is not "
                                "searchable by others?); build where others can reach\n",
                        f->demo);
        return ok;
}

/* ---- fixture ------------------------------------------------------------------- */

static int teardown(void **state);

/* A system-like bus including @policy_dir; the demo main as root if @main. */
static int start(fixture *f, const char *policy_dir, bool main) {
        int k;

        k = test_bus_start_with(&f->bus, f->kind, TEST_BUS_SYSTEM_LIKE, policy_dir);
        if (k < 0) {
                fprintf(stderr, "cannot start a system-like %s: %s\n", test_bus_kind_to_string(f->kind),
                        strerror(-k));
                return -1;
        }
        f->address = g_strdup(test_bus_get_address(f->bus));
        f->busctl_bus = g_strdup_printf("--address=%s", f->address);
        if (!main)
                return 0;

        k = test_process_spawn_command(&f->main,
                                       (char *const[]){ f->demo, "main", "--address", f->address, NULL });
        if (k >= 0)
                k = test_process_wait_line(f->main, "ready", DEMO_READY_TIMEOUT_USEC);
        if (k < 0) {
                fprintf(stderr, "%s main (as root) did not get ready: %s\n", f->demo, strerror(-k));
                return -1;
        }
        return 0;
}

/* dbus-policy/ of the source tree, and the demo main as root. */
static int setup(void **state) {
        fixture *f = g_new0(fixture, 1);
        g_autofree char *policy = demo_source_path("dbus-policy");

        f->kind = *(test_bus_kind *)*state;
        *state = f;
        f->demo = demo_path();
        if (start(f, policy, true) < 0) {
                (void)teardown(state);
                *state = NULL;
                return -1;
        }
        return 0;
}

/* The test starts its bus itself. */
static int setup_bare(void **state) {
        fixture *f = g_new0(fixture, 1);

        f->kind = *(test_bus_kind *)*state;
        *state = f;
        f->demo = demo_path();
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        int r = 0;

        if (demo_stop(&f->renderer, "ipcbus-demo renderer") < 0)
                r = -1;
        if (demo_stop(&f->main, "ipcbus-demo main") < 0)
                r = -1;
        test_bus_free(f->bus);
        if (f->policy_dir) {
                g_autofree char *file = g_build_filename(f->policy_dir, DEMO_NAME ".conf", NULL);

                (void)g_unlink(file);
                (void)g_rmdir(f->policy_dir);
                g_free(f->policy_dir);
        }
        g_free(f->address);
        g_free(f->busctl_bus);
        g_free(f->demo);
        g_free(f);
        return r;
}

/* ---- the main's name ---------------------------------------------------------------- */

/* Only root (or the template's group) may own the main's name. */
static void test_nobody_cannot_own_the_main_name(void **state) {
        fixture *f = *state;
        client_result r;

        demo_run(&r, AS_NOBODY, "gdbus", "call", "--address", f->address, "--dest", "org.freedesktop.DBus",
            "--object-path", "/org/freedesktop/DBus", "--method", "org.freedesktop.DBus.RequestName", DEMO_NAME,
            "0");
        assert_client_exit(&r, 1);
        assert_string_equal(r.out, "");
        if (f->kind == TEST_BUS_DBUS_BROKER)
                assert_string_equal(r.err, GDBUS_ACCESS_DENIED "Request to own name refused by policy\n");
        else {
                assert_true(g_str_has_prefix(r.err, GDBUS_ACCESS_DENIED "Connection \":1."));
                assert_true(g_str_has_suffix(r.err, "\" is not allowed to own the service \"" DEMO_NAME
                                                     "\" due to security policies in the configuration file\n"));
        }
        client_result_clear(&r);

        /* The demo main itself, as uid 65534, gives up. */
        if (nobody_can_run_demo(f)) {
                demo_run(&r, AS_NOBODY, f->demo, "main", "--address", f->address);
                assert_true(WIFEXITED(r.status));
                assert_int_not_equal(WEXITSTATUS(r.status), 0);
                assert_non_null(strstr(r.err, "Cannot own '" DEMO_NAME "'"));
                client_result_clear(&r);
        }

        /* root's main still owns it and serves. */
        nobody_gdbus_call(f, &r, "org.ipcbus.Main1.Invoke", "get-title", "@av []");
        assert_client(&r, 0, "(<'ipcbus-demo'>,)\n", "");
}

/* ---- what everyone may do ------------------------------------------------------------ */

static void test_nobody_reaches_the_ipcbus_interfaces(void **state) {
        fixture *f = *state;
        g_autofree char *unique = main_unique_name(f);
        client_result r;

        /* Main1: Invoke, SendSync, Attach, Detach (GLib's client and sd-bus's). */
        nobody_gdbus_call(f, &r, "org.ipcbus.Main1.Invoke", "get-title", "@av []");
        assert_client(&r, 0, "(<'ipcbus-demo'>,)\n", "");
        demo_wait_received(f->main, "get-title []");
        demo_run(&r, AS_NOBODY, "busctl", f->busctl_bus, "call", DEMO_NAME, DEMO_PATH, "org.ipcbus.Main1", "Invoke",
            "sav", "my-invokable-ipc", "1", "s", "from uid " NOBODY_ID);
        assert_client(&r, 0, "v s \"from uid " NOBODY_ID "\"\n", "");
        nobody_gdbus_call(f, &r, "org.ipcbus.Main1.SendSync", "synchronous-message", "[<'ping'>]");
        assert_client(&r, 0, "(<'pong'>,)\n", "");
        /* A rule for the main's name holds for its unique name too. */
        demo_run(&r, AS_NOBODY, "gdbus", "call", "--address", f->address, "--dest", unique, "--object-path",
                 DEMO_PATH, "--method", "org.ipcbus.Main1.Invoke", "my_channel", "@av []");
        assert_client(&r, 0, "(<'replay'>,)\n", "");
        nobody_gdbus_call(f, &r, "org.ipcbus.Main1.Attach", "{'name': <'nobody'>}");
        assert_client_exit(&r, 0);
        assert_true(g_str_has_prefix(r.out, "(uint64 "));
        client_result_clear(&r);
        nobody_gdbus_call(f, &r, "org.ipcbus.Main1.Detach", NULL);
        assert_client(&r, 0, "()\n", "");

        /* A Channel1.Message signal to the main arrives and is handled. */
        demo_run(&r, AS_NOBODY, "busctl", f->busctl_bus, "emit", "--destination=" DEMO_NAME, RENDERER_PATH,
            "org.ipcbus.Channel1", "Message", "sav", "set-title", "1", "s", "set by uid " NOBODY_ID);
        assert_client(&r, 0, "", "");
        demo_wait_received(f->main, "set-title [<'set by uid " NOBODY_ID "'>]");
        nobody_gdbus_call(f, &r, "org.ipcbus.Main1.Invoke", "get-title", "@av []");
        assert_client(&r, 0, "(<'set by uid " NOBODY_ID "'>,)\n", "");

        /* Introspect, ping, read properties. */
        demo_run(&r, AS_NOBODY, "gdbus", "introspect", "--address", f->address, "--dest", DEMO_NAME, "--object-path",
            DEMO_PATH, "--xml");
        assert_client_exit(&r, 0);
        assert_non_null(strstr(r.out, "<interface name=\"org.ipcbus.Main1\">"));
        client_result_clear(&r);
        nobody_gdbus_call(f, &r, "org.freedesktop.DBus.Peer.Ping", NULL);
        assert_client(&r, 0, "()\n", "");
        nobody_gdbus_call(f, &r, "org.freedesktop.DBus.Properties.GetAll", "org.ipcbus.Main1");
        assert_client_exit(&r, 0);
        assert_true(g_str_has_prefix(r.out, "("));
        client_result_clear(&r);
}

/* ---- what nobody may do --------------------------------------------------------------- */

static void test_nobody_is_refused_other_members(void **state) {
        fixture *f = *state;
        g_autofree char *unique = main_unique_name(f);
        g_autofree char *dbus_send_bus = g_strdup_printf("--bus=%s", f->address);
        client_result r;

        /* A member of a listed interface the policy leaves out. */
        nobody_gdbus_call(f, &r, "org.freedesktop.DBus.Properties.Set", "org.ipcbus.Main1", "Channels",
                          "<['x']>");
        assert_gdbus_send_denied(f, &r, "org.freedesktop.DBus.Properties", "Set");
        /* Interfaces the policy does not list. */
        nobody_gdbus_call(f, &r, "org.ipcbus.Renderer1.Invoke", "get-title", "@av []");
        assert_gdbus_send_denied(f, &r, "org.ipcbus.Renderer1", "Invoke");
        nobody_gdbus_call(f, &r, "org.example.NotListed.Anything", NULL);
        assert_gdbus_send_denied(f, &r, "org.example.NotListed", "Anything");
        /* Addressed to the main's unique name: the same rules. */
        demo_run(&r, AS_NOBODY, "gdbus", "call", "--address", f->address, "--dest", unique, "--object-path",
                 DEMO_PATH, "--method", "org.example.NotListed.Anything");
        assert_gdbus_send_denied(f, &r, "org.example.NotListed", "Anything");

        /* What busctl and dbus-send make of it. */
        demo_run(&r, AS_NOBODY, "busctl", f->busctl_bus, "call", DEMO_NAME, DEMO_PATH, "org.freedesktop.DBus.Properties",
            "Set", "ssv", "org.ipcbus.Main1", "Channels", "as", "1", "x");
        assert_client(&r, 1, "", "Call failed: Access denied\n");
        demo_run(&r, AS_NOBODY, "dbus-send", dbus_send_bus, "--print-reply",
            "--dest=" DEMO_NAME, DEMO_PATH, "org.example.NotListed.Anything");
        assert_client_exit(&r, 1);
        check_send_denied(f, r.err, DBUS_SEND_ACCESS_DENIED, "org.example.NotListed", "Anything");
        client_result_clear(&r);

        /* None of it reached the main: the next call it reports is this one. */
        nobody_gdbus_call(f, &r, "org.ipcbus.Main1.Invoke", "my_channel", "@av []");
        assert_client(&r, 0, "(<'replay'>,)\n", "");
        assert_int_equal(test_process_wait_line(f->main, "main-recv ", DEMO_READY_TIMEOUT_USEC), 0);
        assert_string_equal(test_process_get_line(f->main), "main-recv my_channel []");
}

/* The pid's unique name on the bus, from busctl list (NAME PID ...). */
static char *unique_name_of(fixture *f, pid_t pid) {
        g_auto(GStrv) lines = NULL;
        client_result r;
        char *unique = NULL;

        demo_run(&r, "busctl", f->busctl_bus, "--no-pager", "--no-legend", "list", "--unique");
        assert_client_exit(&r, 0);
        lines = g_strsplit(r.out, "\n", -1);
        client_result_clear(&r);
        for (size_t i = 0; lines[i]; i++) {
                char name[256];
                long p;

                if (sscanf(lines[i], "%255s %ld", name, &p) == 2 && p == pid) {
                        assert_null(unique);
                        unique = g_strdup(name);
                }
        }
        assert_non_null(unique);
        return unique;
}

/*
 * A renderer run as uid 65534 attaches and gets the main's messages; its
 * Renderer1 is the main's (root's) to call: uid 65534 is refused by the bus,
 * root gets through the bus and is refused by the renderer itself, which
 * takes Renderer1.Invoke only from the main's owner.
 */
static void test_nobody_cannot_call_renderer1(void **state) {
        fixture *f = *state;
        g_autofree char *unique = NULL;
        client_result r;

        if (!nobody_can_run_demo(f))
                skip();
        assert_int_equal(test_process_spawn_command(&f->renderer,
                                                    (char *const[]){ AS_NOBODY, f->demo, "renderer", "--address",
                                                                     f->address, "--role", "win1", NULL }),
                         0);
        /* The main greets a renderer that attached: Attach and the main's signal passed. */
        assert_int_equal(test_process_wait_line(f->renderer, "recv testMsg ", DEMO_READY_TIMEOUT_USEC), 0);
        /* setpriv execs the demo: same pid. */
        unique = unique_name_of(f, test_process_get_pid(f->renderer));

        demo_run(&r, AS_NOBODY, "gdbus", "call", "--address", f->address, "--dest", unique, "--object-path",
            RENDERER_PATH, "--method", "org.ipcbus.Renderer1.Invoke", "get-emoji", "@av []");
        assert_gdbus_send_denied(f, &r, "org.ipcbus.Renderer1", "Invoke");

        demo_run(&r, "gdbus", "call", "--address", f->address, "--dest", unique, "--object-path", RENDERER_PATH,
            "--method", "org.ipcbus.Renderer1.Invoke", "get-emoji", "@av []");
        assert_client_exit(&r, 1);
        assert_true(g_str_has_prefix(r.err, "Error: GDBus.Error:org.ipcbus.Error.Denied: "));
        client_result_clear(&r);
}

/* ---- whoami ---------------------------------------------------------------------------- */

/* The value of the uint32 @key in whoami's answer as gdbus prints it: "(<{...}>,)". */
static guint32 whoami_get(const char *out, const char *key) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = g_variant_parse(G_VARIANT_TYPE("(v)"), out, NULL, NULL, &error);
        g_autoptr(GVariant) dict = NULL;
        guint32 value;

        if (!reply)
                fail_msg("whoami answered %s: %s", out, error->message);
        g_variant_get(reply, "(v)", &dict);
        if (!g_variant_is_of_type(dict, G_VARIANT_TYPE("a{sv}")) ||
            !g_variant_lookup(dict, key, "u", &value))
                fail_msg("whoami answered %s: no %s (u)", out, key);
        return value;
}

/*
 * The demo main's whoami channel answers with the caller's credentials as
 * the bus reports them: the uid 65534 the policy let through, and root's 0.
 */
static void test_whoami_reports_the_callers_uid(void **state) {
        fixture *f = *state;
        client_result r;

        nobody_gdbus_call(f, &r, "org.ipcbus.Main1.Invoke", "whoami", "@av []");
        assert_client_exit(&r, 0);
        assert_int_equal(whoami_get(r.out, "uid"), NOBODY_UID);
        client_result_clear(&r);

        demo_run(&r, "gdbus", "call", "--address", f->address, "--dest", DEMO_NAME, "--object-path", DEMO_PATH,
            "--method", "org.ipcbus.Main1.Invoke", "whoami", "@av []");
        assert_client_exit(&r, 0);
        assert_int_equal(whoami_get(r.out, "uid"), 0);
        client_result_clear(&r);
}

/* ---- the template for a group, installed and reloaded ---------------------------------------- */

/*
 * The template filled in for a group, installed into a running bus's
 * policy directory and read after ReloadConfig, as its header says: before,
 * uid 65534 may not run the main; after, as a member of the group (its own
 * group, nogroup on Debian), it may, and everyone reaches it.
 */
static void test_template_for_a_group_after_reload(void **state) {
        fixture *f = *state;
        const char *tmp = getenv("TMPDIR");
        g_autofree char *script = demo_source_path("tests/policy/policy-template");
        g_autofree char *srcdir = demo_source_path(".");
        g_autofree char *dir_template = g_build_filename(tmp && *tmp ? tmp : "/tmp", "ipcbus-policy-XXXXXX", NULL);
        g_autofree char *file = NULL;
        g_autoptr(GError) error = NULL;
        struct group *gr = getgrgid(NOBODY_UID);
        client_result r;

        if (!nobody_can_run_demo(f))
                skip();
        if (!gr)
                fail_msg("no group has gid " NOBODY_ID);
        f->policy_dir = g_strdup(dir_template);
        if (!g_mkdtemp(f->policy_dir)) {
                g_free(f->policy_dir);
                f->policy_dir = NULL;
                fail_msg("mkdtemp %s: %s", dir_template, strerror(errno));
        }
        assert_int_equal(start(f, f->policy_dir, false), 0);

        /* An empty policy directory: the system default refuses the name. */
        demo_run(&r, AS_NOBODY, f->demo, "main", "--address", f->address);
        assert_true(WIFEXITED(r.status));
        assert_int_not_equal(WEXITSTATUS(r.status), 0);
        assert_non_null(strstr(r.err, "Cannot own '" DEMO_NAME "'"));
        client_result_clear(&r);

        demo_run(&r, script, srcdir, "fill", DEMO_NAME, gr->gr_name);
        assert_client_exit(&r, 0);
        file = g_build_filename(f->policy_dir, DEMO_NAME ".conf", NULL);
        if (!g_file_set_contents(file, r.out, -1, &error))
                fail_msg("%s", error->message);
        client_result_clear(&r);
        demo_run(&r, "busctl", f->busctl_bus, "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
            "org.freedesktop.DBus", "ReloadConfig");
        assert_client(&r, 0, "", "");

        assert_int_equal(test_process_spawn_command(&f->main, (char *const[]){ AS_NOBODY, f->demo, "main",
                                                                                "--address", f->address, NULL }),
                         0);
        assert_int_equal(test_process_wait_line(f->main, "ready", DEMO_READY_TIMEOUT_USEC), 0);
        nobody_gdbus_call(f, &r, "org.ipcbus.Main1.Invoke", "get-title", "@av []");
        assert_client(&r, 0, "(<'ipcbus-demo'>,)\n", "");
}

static test_bus_kind kind_dbus_daemon = TEST_BUS_DBUS_DAEMON;
static test_bus_kind kind_dbus_broker = TEST_BUS_DBUS_BROKER;

typedef struct policy_test {
        const char *name;
        CMUnitTestFunction fn;
        CMFixtureFunction setup;
} policy_test;

static const policy_test policy_tests[] = {
        { "test_nobody_cannot_own_the_main_name", test_nobody_cannot_own_the_main_name, setup },
        { "test_nobody_reaches_the_ipcbus_interfaces", test_nobody_reaches_the_ipcbus_interfaces, setup },
        { "test_nobody_is_refused_other_members", test_nobody_is_refused_other_members, setup },
        { "test_nobody_cannot_call_renderer1", test_nobody_cannot_call_renderer1, setup },
        { "test_whoami_reports_the_callers_uid", test_whoami_reports_the_callers_uid, setup },
        { "test_template_for_a_group_after_reload", test_template_for_a_group_after_reload, setup_bare },
};

/* Every test, each with a bus of @kind of its own. */
static int run_group(const char *name, test_bus_kind *kind) {
        struct CMUnitTest tests[G_N_ELEMENTS(policy_tests)];

        for (size_t i = 0; i < G_N_ELEMENTS(policy_tests); i++)
                tests[i] = (struct CMUnitTest){
                        .name = policy_tests[i].name,
                        .test_func = policy_tests[i].fn,
                        .setup_func = policy_tests[i].setup,
                        .teardown_func = teardown,
                        .initial_state = kind,
                };
        printf("# %s\n", name);
        return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}

/* Whether dbus-broker can run here: the answer of a real start. */
static bool broker_available(void) {
        test_bus *b = NULL;
        int k = test_bus_start(&b, TEST_BUS_DBUS_BROKER);

        test_bus_free(b);
        if (k == -EOPNOTSUPP) {
                printf("# dbus-broker cannot run here (test_bus_start: %s): dbus-daemon only\n", strerror(-k));
                return false;
        }
        return true;
}

int main(void) {
        client_result r;
        int failed;

        setenv("LC_ALL", "C.UTF-8", 1);
        setenv("SYSTEMD_PAGER", "", 1);
        setenv("SYSTEMD_COLORS", "0", 1);

        /* meson test counts exit status 77 as skipped. */
        if (geteuid() != 0) {
                printf("# skipped: needs root (a demo main as root, clients as uid " NOBODY_ID " via setpriv)\n");
                return 77;
        }
        if (client_run_args(&r, DEMO_CLIENT_TIMEOUT_USEC, "setpriv", "--version", NULL) < 0 || !WIFEXITED(r.status) ||
            WEXITSTATUS(r.status) != 0) {
                printf("# skipped: setpriv (util-linux) cannot run\n");
                client_result_clear(&r);
                return 77;
        }
        client_result_clear(&r);

        failed = run_group("dbus-policy on a system-like dbus-daemon", &kind_dbus_daemon);
        if (broker_available())
                failed += run_group("dbus-policy on a system-like dbus-broker", &kind_dbus_broker);
        return failed;
}
