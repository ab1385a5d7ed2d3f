/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Desktop services and activation (issue 7), with `ipcbus-demo main` and
 * real clients on private dbus-daemons:
 *
 * - notify: the demo main calls org.freedesktop.Notifications.Notify on the
 *   bus it serves. python3-dbusmock's notification_daemon template, started
 *   on the test's bus (and only there: DBUS_SESSION_BUS_ADDRESS is that bus),
 *   answers with ids, and what it received is read back from it
 *   (org.freedesktop.DBus.Mock.GetCalls, through gdbus). A server that
 *   keeps the call waiting (this test, owning the name) shows the main
 *   serving others meanwhile, and what Notify carries, type by type.
 *   Without a server the invoker gets HandlerFailed naming ServiceUnknown.
 * - activation: a dbus-daemon whose <servicedir> is the build tree's
 *   (BUILDDIR/examples/activation/build-tree) starts the built demo main on the
 *   first call to org.ipcbus.Demo, and the main serves the bus that started
 *   it: a typed bus's (DBUS_STARTER_BUS_TYPE=session), and an untyped one's,
 *   which names itself in DBUS_STARTER_ADDRESS alone while the test's
 *   DBUS_SESSION_BUS_ADDRESS is "disabled:". The test stops the process the
 *   bus started (its pid from GetConnectionUnixProcessID, its end from a
 *   pidfd).
 *
 * The dbusmock test is skipped (with a line saying so) where no python3
 * here can import dbusmock; .ci/install-deps installs python3-dbusmock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "demo-run.h"
#include "test-bus.h"

#define DEMO_NAME "org.ipcbus.Demo"
#define DEMO_PATH "/org/ipcbus/Demo"
#define NOTIFY_NAME "org.freedesktop.Notifications"
#define NOTIFY_PATH "/org/freedesktop/Notifications"

typedef struct fixture {
        test_bus *bus;
        char *address;
        char *busctl_bus;   /* --address=ADDRESS */
        char *demo;
        test_process *main; /* ipcbus-demo main, started by the test */
        test_process *mock; /* python3 -m dbusmock */
        pid_t activated;    /* a demo main the bus started, 0 if none */
} fixture;

/* ---- fixtures ------------------------------------------------------------------ */

static int fixture_init(void **state, fixture **ret) {
        fixture *f = g_new0(fixture, 1);

        *state = f;
        f->demo = demo_path();
        *ret = f;
        return 0;
}

static void fixture_bus_ready(fixture *f) {
        f->address = g_strdup(test_bus_get_address(f->bus));
        f->busctl_bus = g_strdup_printf("--address=%s", f->address);
}

static int teardown(void **state);

/* A private bus and the demo main on it. */
static int setup_main(void **state) {
        char *argv[4 + 2];
        fixture *f;
        int k;

        fixture_init(state, &f);
        k = test_bus_start(&f->bus, TEST_BUS_DBUS_DAEMON);
        if (k < 0) {
                fprintf(stderr, "cannot start dbus-daemon: %s\n", strerror(-k));
                goto fail;
        }
        fixture_bus_ready(f);
        argv[0] = f->demo;
        argv[1] = "main";
        argv[2] = "--address";
        argv[3] = f->address;
        argv[4] = NULL;
        k = test_process_spawn_command(&f->main, argv);
        if (k >= 0)
                k = test_process_wait_line(f->main, "ready", DEMO_READY_TIMEOUT_USEC);
        if (k < 0) {
                fprintf(stderr, "%s main did not get ready: %s\n", f->demo, strerror(-k));
                goto fail;
        }
        return 0;
fail:
        (void)teardown(state);
        *state = NULL;
        return -1;
}

/* The build tree's service directory: where meson put org.ipcbus.Demo.service. */
static char *service_dir(void) {
        const char *builddir = getenv("IPCBUS_TEST_BUILDDIR");

        return g_build_filename(builddir && *builddir ? builddir : ".", "examples", "activation", "build-tree", NULL);
}

/* A bus that starts the demo main on demand, with or without a <type>. */
static int setup_activating(void **state, bool typed) {
        g_autofree char *dir = service_dir();
        char resolved[PATH_MAX];
        fixture *f;
        int k;

        fixture_init(state, &f);
        if (!realpath(dir, resolved)) {
                fprintf(stderr, "%s: %s\n", dir, strerror(errno));
                goto fail;
        }
        k = test_bus_start_activating(&f->bus, resolved, typed);
        if (k < 0) {
                fprintf(stderr, "cannot start dbus-daemon with <servicedir>%s: %s\n", resolved, strerror(-k));
                goto fail;
        }
        fixture_bus_ready(f);
        return 0;
fail:
        (void)teardown(state);
        *state = NULL;
        return -1;
}

static int setup_activating_typed(void **state) {
        return setup_activating(state, true);
}

static int setup_activating_untyped(void **state) {
        return setup_activating(state, false);
}

/* SIGTERM the demo main the bus started and wait for its end: it is not our
 * child, so its pidfd says when it is gone. Return: 0; -1 if it did not end. */
static int stop_activated(fixture *f) {
        int fd, k;

        if (f->activated <= 0)
                return 0;
        fd = (int)syscall(SYS_pidfd_open, f->activated, 0);
        if (kill(f->activated, SIGTERM) < 0 && errno != ESRCH) {
                fprintf(stderr, "cannot stop the activated demo main %d: %s\n", (int)f->activated, strerror(errno));
                k = -1;
        } else if (fd < 0) {
                /* No pidfds here: it ends with its bus at the latest. */
                fprintf(stderr, "pidfd_open(%d): %s; not waiting for it\n", (int)f->activated, strerror(errno));
                k = 0;
        } else {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };

                do
                        k = poll(&pfd, 1, (int)(test_deadline_usec(DEMO_READY_TIMEOUT_USEC) / 1000));
                while (k < 0 && errno == EINTR);
                if (k <= 0)
                        fprintf(stderr, "the activated demo main %d did not end\n", (int)f->activated);
                k = k > 0 ? 0 : -1;
        }
        if (fd >= 0)
                close(fd);
        f->activated = 0;
        return k;
}

static int stop_mock(fixture *f) {
        int status;

        if (!f->mock)
                return 0;
        /* dbusmock has no clean stop but the bus going; SIGTERM ends it. */
        if (test_process_kill(f->mock, SIGTERM) < 0 || test_process_wait_exit(f->mock, &status) < 0)
                return -1;
        f->mock = test_process_free(f->mock);
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        int r = 0;

        if (!f)
                return 0;
        if (stop_activated(f) < 0)
                r = -1;
        if (stop_mock(f) < 0)
                r = -1;
        if (demo_stop(&f->main, "ipcbus-demo main") < 0)
                r = -1;
        test_bus_free(f->bus);
        g_free(f->address);
        g_free(f->busctl_bus);
        g_free(f->demo);
        g_free(f);
        return r;
}

/* ---- clients ------------------------------------------------------------------- */

/* gdbus call on @dest: INTERFACE.METHOD ARGS... */
#define gdbus_call(r, f, dest, path, method, ...) \
        demo_run(r, "gdbus", "call", "--address", (f)->address, "--dest", (dest), "--object-path", (path), \
                 "--method", (method), __VA_ARGS__)

/* busctl call on the bus driver: METHOD SIGNATURE ARGS... */
#define busctl_driver(r, f, ...) \
        demo_run(r, "busctl", (f)->busctl_bus, "call", "org.freedesktop.DBus", "/org/freedesktop/DBus", \
                 "org.freedesktop.DBus", __VA_ARGS__)

/* ---- notify, with python3-dbusmock ---------------------------------------------- */

typedef struct mock_exec {
        const char *python;
        const char *address;
} mock_exec;

/* In the child: the mock's session bus is the test's bus, nothing else. */
static int exec_mock(void *userdata) {
        mock_exec *e = userdata;

        if (setenv("DBUS_SESSION_BUS_ADDRESS", e->address, 1) < 0)
                return 126;
        execlp(e->python, e->python, "-m", "dbusmock", "--template", "notification_daemon", (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", e->python, strerror(errno));
        return 127;
}

/* The Notify calls the mock logged, each its argument list in GVariant text. */
static GPtrArray *mock_notify_calls(fixture *f) {
        GPtrArray *calls = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariantIter) it = NULL;
        g_autoptr(GError) error = NULL;
        const char *method;
        GVariant *args;
        client_result r;

        gdbus_call(&r, f, NOTIFY_NAME, NOTIFY_PATH, "org.freedesktop.DBus.Mock.GetCalls", NULL);
        assert_client_exit(&r, 0);
        /* gdbus prints the reply in GVariant's text format: a(tsav), each
         * call's time, method and arguments. */
        reply = g_variant_parse(G_VARIANT_TYPE("(a(tsav))"), r.out, NULL, NULL, &error);
        if (!reply)
                fail_msg("GetCalls answered '%s': %s", r.out, error->message);
        client_result_clear(&r);
        g_variant_get(reply, "(a(tsav))", &it);
        while (g_variant_iter_loop(it, "(t&s@av)", NULL, &method, &args))
                if (g_str_equal(method, "Notify"))
                        g_ptr_array_add(calls, g_variant_print(args, TRUE));
        return calls;
}

static void test_notify_reaches_the_notification_server(void **state) {
        fixture *f = *state;
        const char *python = client_python_with("dbusmock", DEMO_CLIENT_TIMEOUT_USEC);
        g_autoptr(GPtrArray) calls = NULL;
        client_result r;

        if (!python) {
                printf("# skipped: neither python3 nor /usr/bin/python3 can import dbusmock; "
                       "install python3-dbusmock (.ci/install-deps does)\n");
                skip();
        }
        assert_int_equal(test_process_spawn(&f->mock, exec_mock, &(mock_exec){ python, f->address }), 0);
        /* The mock owns its name once its template is loaded: it takes calls
         * from then on. */
        demo_run(&r, "gdbus", "wait", "--address", f->address, "--timeout", "60", NOTIFY_NAME);
        assert_client(&r, 0, "", "");

        gdbus_call(&r, f, DEMO_NAME, DEMO_PATH, "org.ipcbus.Main1.Invoke", "notify",
                   "[<'Build finished'>, <'ipcbus: 0 failures'>]");
        assert_client(&r, 0, "(<uint32 1>,)\n", "");
        demo_wait_received(f->main, "notify [<'Build finished'>, <'ipcbus: 0 failures'>]");
        demo_run(&r, "busctl", f->busctl_bus, "call", DEMO_NAME, DEMO_PATH, "org.ipcbus.Main1", "Invoke", "sav",
                 "notify", "2", "s", "构建完成", "s", "第二条");
        assert_client(&r, 0, "v u 2\n", "");
        demo_wait_received(f->main, "notify [<'构建完成'>, <'第二条'>]");

        /* Notify(app_name, replaces_id, app_icon, summary, body, actions,
         * hints, expire_timeout), as the mock logged them. */
        calls = mock_notify_calls(f);
        assert_int_equal(calls->len, 2);
        assert_string_equal(calls->pdata[0], "[<'ipcbus-demo'>, <uint32 0>, <''>, <'Build finished'>, "
                                             "<'ipcbus: 0 failures'>, <@as []>, <@a{sv} {}>, <-1>]");
        assert_string_equal(calls->pdata[1], "[<'ipcbus-demo'>, <uint32 0>, <''>, <'构建完成'>, <'第二条'>, "
                                             "<@as []>, <@a{sv} {}>, <-1>]");
}

/* ---- notify, with a server that takes its time ----------------------------------- */

typedef struct held_call {
        sd_bus_message *call; /* the Notify call, not answered yet */
} held_call;

/* A filter sees the call before sd-bus would answer it (no object here). */
static int hold_notify(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        held_call *h = userdata;

        if (!sd_bus_message_is_method_call(m, "org.freedesktop.Notifications", "Notify") || h->call)
                return 0;
        h->call = sd_bus_message_ref(m);
        return 1;
}

static void test_notify_does_not_hold_up_the_main(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *server = NULL;
        _cleanup_(test_process_freep) test_process *caller = NULL;
        char *argv[] = { "gdbus", "call", "--address", f->address, "--dest", DEMO_NAME, "--object-path", DEMO_PATH,
                         "--method", "org.ipcbus.Main1.Invoke", "notify", "[<'slow'>, <'server'>]", NULL };
        const char *app, *icon, *summary, *body;
        uint32_t replaces;
        int32_t expire;
        held_call h = {};
        uint64_t deadline;
        client_result r;
        int status;

        assert_int_equal(test_bus_connect(f->bus, &server), 0);
        assert_int_equal(sd_bus_add_filter(server, NULL, hold_notify, &h), 0);
        assert_true(sd_bus_request_name(server, NOTIFY_NAME, 0) >= 0);

        assert_int_equal(test_process_spawn_command(&caller, argv), 0);
        deadline = g_get_monotonic_time() + test_deadline_usec(DEMO_READY_TIMEOUT_USEC);
        while (!h.call) {
                int k = sd_bus_process(server, NULL);

                assert_true(k >= 0);
                if (k > 0)
                        continue;
                assert_true((uint64_t)g_get_monotonic_time() < deadline);
                assert_true(sd_bus_wait(server, deadline - (uint64_t)g_get_monotonic_time()) >= 0);
        }
        assert_string_equal(sd_bus_message_get_signature(h.call, true), "susssasa{sv}i");
        assert_int_equal(sd_bus_message_read(h.call, "susss", &app, &replaces, &icon, &summary, &body), 1);
        assert_string_equal(app, "ipcbus-demo");
        assert_int_equal(replaces, 0);
        assert_string_equal(icon, "");
        assert_string_equal(summary, "slow");
        assert_string_equal(body, "server");
        assert_int_equal(sd_bus_message_read(h.call, "as", 0), 1);
        assert_int_equal(sd_bus_message_read(h.call, "a{sv}", 0), 1);
        assert_int_equal(sd_bus_message_read(h.call, "i", &expire), 1);
        assert_int_equal(expire, -1);

        /* The main answers others while the server has not answered it. */
        demo_run(&r, "busctl", f->busctl_bus, "call", DEMO_NAME, DEMO_PATH, "org.ipcbus.Main1", "Invoke", "sav",
                 "get-title", "0");
        assert_client(&r, 0, "v s \"ipcbus-demo\"\n", "");

        assert_int_equal(sd_bus_reply_method_return(h.call, "u", UINT32_C(42)), 1);
        assert_int_equal(sd_bus_flush(server), 0);
        assert_int_equal(test_process_wait_line(caller, "", DEMO_READY_TIMEOUT_USEC), 0);
        assert_string_equal(test_process_get_line(caller), "(<uint32 42>,)");
        assert_int_equal(test_process_wait_exit(caller, &status), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        sd_bus_message_unref(h.call);
}

/* ---- notify, with no server ------------------------------------------------------ */

static void test_notify_without_a_server(void **state) {
        fixture *f = *state;
        client_result r;

        gdbus_call(&r, f, DEMO_NAME, DEMO_PATH, "org.ipcbus.Main1.Invoke", "notify", "[<'title'>, <'body'>]");
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.ipcbus.Error.HandlerFailed: Error invoking remote method 'notify': "
                      "Error: no notification server on the bus (org.freedesktop.DBus.Error.ServiceUnknown: "
                      "The name org.freedesktop.Notifications was not provided by any .service files)\n");
        demo_wait_received(f->main, "notify [<'title'>, <'body'>]");

        /* notify is declared (org.ipcbus.Demo.Channels.xml): a call without a
         * body is refused in the declaration's words before the handler runs. */
        gdbus_call(&r, f, DEMO_NAME, DEMO_PATH, "org.ipcbus.Main1.Invoke", "notify", "[<'only a title'>]");
        assert_client(&r, 1, "",
                      "Error: GDBus.Error:org.freedesktop.DBus.Error.InvalidArgs: 'notify' takes (s title, s body), "
                      "got (s)\n(According to introspection data, you need to pass 'sav')\n");
}

/* ---- activation ------------------------------------------------------------------ */

/* /proc/PID/FILE, NUL-separated (cmdline, environ), as a NULL-terminated list. */
static char **proc_strings(pid_t pid, const char *file) {
        g_autofree char *path = g_strdup_printf("/proc/%d/%s", (int)pid, file);
        g_autofree char *data = NULL;
        g_autoptr(GError) error = NULL;
        GPtrArray *list = g_ptr_array_new();
        gsize len;

        if (!g_file_get_contents(path, &data, &len, &error))
                fail_msg("%s: %s", path, error->message);
        for (gsize i = 0; i < len; i += strlen(data + i) + 1)
                g_ptr_array_add(list, g_strdup(data + i));
        g_ptr_array_add(list, NULL);
        return (char **)g_ptr_array_free(list, FALSE);
}

static void check_activation(fixture *f, bool typed) {
        g_autofree char *demo = realpath(f->demo, NULL);
        g_auto(GStrv) cmdline = NULL, environ_ = NULL;
        client_result r;
        unsigned pid;

        /* Nobody owns the name; the bus knows how to start it. */
        busctl_driver(&r, f, "NameHasOwner", "s", DEMO_NAME);
        assert_client(&r, 0, "b false\n", "");
        busctl_driver(&r, f, "ListActivatableNames");
        assert_client_exit(&r, 0);
        assert_non_null(strstr(r.out, "\"" DEMO_NAME "\""));
        client_result_clear(&r);

        /* The first call starts the main; the bus delivers it once the main
         * owns the name, and the answer comes back. */
        demo_run(&r, "busctl", f->busctl_bus, "call", DEMO_NAME, DEMO_PATH, "org.ipcbus.Main1", "Invoke", "sav",
                 "get-title", "0");
        assert_client(&r, 0, "v s \"ipcbus-demo\"\n", "");

        busctl_driver(&r, f, "GetConnectionUnixProcessID", "s", DEMO_NAME);
        assert_client_exit(&r, 0);
        assert_int_equal(sscanf(r.out, "u %u", &pid), 1);
        client_result_clear(&r);
        f->activated = (pid_t)pid;

        /* The build tree's service file started the built demo, as a main
         * with no bus option: it chose the bus that started it. */
        cmdline = proc_strings(f->activated, "cmdline");
        assert_non_null(demo);
        assert_int_equal(g_strv_length(cmdline), 2);
        assert_string_equal(cmdline[0], demo);
        assert_string_equal(cmdline[1], "main");
        environ_ = proc_strings(f->activated, "environ");
        assert_string_equal(g_environ_getenv(environ_, "DBUS_STARTER_ADDRESS"), f->address);
        if (typed) {
                assert_string_equal(g_environ_getenv(environ_, "DBUS_STARTER_BUS_TYPE"), "session");
                assert_string_equal(g_environ_getenv(environ_, "DBUS_SESSION_BUS_ADDRESS"), f->address);
        } else {
                /* The user's bus is none: only the starter address leads here. */
                assert_null(g_environ_getenv(environ_, "DBUS_STARTER_BUS_TYPE"));
                assert_string_equal(g_environ_getenv(environ_, "DBUS_SESSION_BUS_ADDRESS"), "disabled:");
        }

        /* It serves: a second call reaches the same main. */
        gdbus_call(&r, f, DEMO_NAME, DEMO_PATH, "org.ipcbus.Main1.Invoke", "my_channel", "@av []");
        assert_client(&r, 0, "(<'replay'>,)\n", "");
        busctl_driver(&r, f, "GetConnectionUnixProcessID", "s", DEMO_NAME);
        assert_client_exit(&r, 0);
        assert_int_equal(sscanf(r.out, "u %u", &pid), 1);
        assert_int_equal((pid_t)pid, f->activated);
        client_result_clear(&r);

        assert_int_equal(stop_activated(f), 0);
}

/* <type>session</type>: the main has DBUS_STARTER_BUS_TYPE=session and the
 * bus as its session bus too. */
static void test_activation_on_a_session_bus(void **state) {
        check_activation(*state, true);
}

/* No <type>: the main has DBUS_STARTER_ADDRESS alone. */
static void test_activation_on_an_untyped_bus(void **state) {
        check_activation(*state, false);
}

/* ---- runner ------------------------------------------------------------------------ */

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_notify_reaches_the_notification_server, setup_main, teardown),
                cmocka_unit_test_setup_teardown(test_notify_does_not_hold_up_the_main, setup_main, teardown),
                cmocka_unit_test_setup_teardown(test_notify_without_a_server, setup_main, teardown),
                cmocka_unit_test_setup_teardown(test_activation_on_a_session_bus, setup_activating_typed, teardown),
                cmocka_unit_test_setup_teardown(test_activation_on_an_untyped_bus, setup_activating_untyped,
                                                teardown),
        };

        setenv("LC_ALL", "C.UTF-8", 1);
        setenv("SYSTEMD_PAGER", "", 1);
        setenv("SYSTEMD_COLORS", "0", 1);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
