/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lifecycle (issue 8): a renderer knows its main from the first call after
 * open, hears it vanish and appear, fails its calls at once when it goes,
 * and can end its loop with it; a main knows its bus and ends its loop when
 * the bus goes; both loops end cleanly on SIGTERM unless the application
 * handles the signal itself. ipcbus_main_open_default() serves the bus that
 * started the process (issue 7), else the user's.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

#define WAIT_USEC (10 * TEST_USEC_PER_SEC)
#define WAIT_MS 10000

static int setup(void **state) {
        harness *h = calloc(1, sizeof(harness));

        harness_start(h);
        *state = h;
        return 0;
}

static int teardown(void **state) {
        harness *h = *state;

        harness_stop(h);
        free(h);
        return 0;
}

typedef struct main_watch {
        unsigned appeared, vanished;
        bool changed;
} main_watch;

static void on_appeared(ipcbus_renderer *r, void *userdata) {
        main_watch *w = userdata;

        w->appeared++;
        w->changed = true;
}

static void on_vanished(ipcbus_renderer *r, void *userdata) {
        main_watch *w = userdata;

        w->vanished++;
        w->changed = true;
}

static void kill_main(harness *h) {
        int status;

        assert_int_equal(test_process_kill(h->main, SIGKILL), 0);
        assert_int_equal(test_process_wait_exit(h->main, &status), 0);
        h->main = test_process_free(h->main);
}

static void test_has_main_right_after_open(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;

        assert_int_equal(ipcbus_renderer_new(&r, TEST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(r, h->event, 0), 0);
        assert_int_equal(ipcbus_renderer_open_address(r, test_bus_get_address(h->bus)), 0);
        /* No loop run yet. */
        assert_true(ipcbus_renderer_has_main(r));
}

static void test_no_main_right_after_open(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;

        kill_main(h);
        r = harness_renderer(h, NULL);
        assert_false(ipcbus_renderer_has_main(r));
}

static void test_main_vanishes_and_appears(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, "win");
        main_watch w = {};
        result held = {};
        gint64 start;

        assert_int_equal(ipcbus_renderer_on_main_appeared(r, NULL, on_appeared, &w), 0);
        assert_int_equal(ipcbus_renderer_on_main_vanished(r, NULL, on_vanished, &w), 0);
        /* A call in flight when the main dies fails at once, not at its timeout. */
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "async-echo",
                                                ipcbus_args(g_variant_new_int32(-1), g_variant_new_string("x"), NULL),
                                                0, result_collect, &held),
                         0);
        assert_int_equal(ipcbus_renderer_invoke_sync(r, "echo", NULL, 0, NULL, NULL), 0);
        start = g_get_monotonic_time();
        kill_main(h);
        assert_true(harness_run_until(h, &held.done, WAIT_MS));
        assert_string_equal(held.error_name, IPCBUS_ERROR_DISCONNECTED);
        assert_true(harness_run_until(h, &w.changed, WAIT_MS));
        assert_true(g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC);
        assert_int_equal(w.vanished, 1);
        assert_int_equal(w.appeared, 0);
        assert_false(ipcbus_renderer_has_main(r));
        result_clear(&held);

        /* A new main: appeared, and the renderer attaches again by itself. */
        w.changed = false;
        harness_start_main(h);
        assert_true(harness_run_until(h, &w.changed, WAIT_MS));
        assert_int_equal(w.appeared, 1);
        assert_true(ipcbus_renderer_has_main(r));
        assert_int_equal(test_process_wait_line(h->main, "attached ", WAIT_USEC), 0);
        assert_non_null(strstr(test_process_get_line(h->main), " win"));
}

static void test_exit_on_main_vanished(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, "win");

        assert_int_equal(ipcbus_renderer_set_exit_on_main_vanished(r, true), 0);
        kill_main(h);
        /* The harness's loop is the renderer's. */
        assert_int_equal(ipcbus_renderer_run(r), -ENOTCONN);
}

/* ---- a main and its bus, in a child process ---------------------------------- */

static void on_bus_closed(ipcbus_main *m, sd_bus *bus, void *userdata) {
        printf("bus-closed\n");
        fflush(stdout);
}

/* "ready" once the loop runs: a signal sent after it finds the loop's
 * handling in place. */
static int say_ready(sd_event_source *s, void *userdata) {
        printf("ready\n");
        fflush(stdout);
        return 0;
}

static int bus_main_child(void *userdata) {
        const char *address = userdata;
        _cleanup_(ipcbus_main_unrefp) ipcbus_main *m = NULL;
        int r;

        if (ipcbus_main_new(&m, "org.ipcbus.LifecycleTest") < 0 ||
            ipcbus_main_on_bus_closed(m, NULL, on_bus_closed, NULL) < 0 || ipcbus_main_open_address(m, address) < 0 ||
            sd_event_add_defer(ipcbus_main_get_event(m), NULL, say_ready, NULL) < 0)
                return 2;
        r = ipcbus_main_run(m);
        printf("run returned %d\n", r);
        return r == 0 ? 0 : 1;
}

static void test_main_exits_when_its_bus_goes(void **state) {
        harness *h = *state;
        _cleanup_(test_process_freep) test_process *p = NULL;
        int status;

        assert_int_equal(test_process_spawn(&p, bus_main_child, (void *)test_bus_get_address(h->bus)), 0);
        assert_int_equal(test_process_wait_line(p, "ready", WAIT_USEC), 0);
        h->bus = test_bus_free(h->bus);
        assert_int_equal(test_process_wait_line(p, "bus-closed", WAIT_USEC), 0);
        assert_int_equal(test_process_wait_line(p, "run returned ", WAIT_USEC), 0);
        assert_string_equal(test_process_get_line(p), "run returned -107"); /* -ENOTCONN */
        assert_int_equal(test_process_wait_exit(p, &status), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        /* harness_stop frees the test main, whose bus is gone too. */
}

static void test_main_ends_on_sigterm(void **state) {
        harness *h = *state;
        _cleanup_(test_process_freep) test_process *p = NULL;
        int status;

        assert_int_equal(test_process_spawn(&p, bus_main_child, (void *)test_bus_get_address(h->bus)), 0);
        assert_int_equal(test_process_wait_line(p, "ready", WAIT_USEC), 0);
        assert_int_equal(test_process_kill(p, SIGTERM), 0);
        assert_int_equal(test_process_wait_line(p, "run returned 0", WAIT_USEC), 0);
        assert_int_equal(test_process_wait_exit(p, &status), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The application's own SIGTERM handling wins: the loop goes on. */
static int renderer_own_sigterm_child(void *userdata) {
        const char *address = userdata;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        /* Blocked for a signalfd the application reads itself (here: never). */
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || sd_event_new(&event) < 0 ||
            ipcbus_renderer_new(&r, TEST_MAIN_NAME) < 0 || ipcbus_renderer_attach_event(r, event, 0) < 0 ||
            ipcbus_renderer_open_address(r, address) < 0 || sd_event_add_defer(event, NULL, say_ready, NULL) < 0)
                return 2;
        /* SIGTERM stays pending; SIGINT (not handled) ends the loop. */
        printf("run returned %d\n", ipcbus_renderer_run(r));
        fflush(stdout);
        return sigpending(&mask) == 0 && sigismember(&mask, SIGTERM) ? 0 : 3;
}

static void test_application_keeps_its_sigterm(void **state) {
        harness *h = *state;
        _cleanup_(test_process_freep) test_process *p = NULL;
        int status;

        assert_int_equal(test_process_spawn(&p, renderer_own_sigterm_child, (void *)test_bus_get_address(h->bus)), 0);
        assert_int_equal(test_process_wait_line(p, "ready", WAIT_USEC), 0);
        assert_int_equal(test_process_kill(p, SIGTERM), 0);
        assert_int_equal(test_process_kill(p, SIGINT), 0);
        assert_int_equal(test_process_wait_line(p, "run returned 0", WAIT_USEC), 0);
        assert_int_equal(test_process_wait_exit(p, &status), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- which bus ipcbus_main_open_default() serves ------------------------------- */

#define DEFAULT_BUS_MAIN_NAME "org.ipcbus.DefaultBusTest"
#define NO_BUS "unix:path=/nonexistent/ipcbus-test"

/* The environment a main is started with; NULL unsets the variable. */
typedef struct starter_env {
        const char *starter_address;
        const char *starter_type;
        const char *session;
        const char *system;
} starter_env;

static int set_or_unset(const char *name, const char *value) {
        return value ? setenv(name, value, 1) : unsetenv(name);
}

/* From the loop, as say_ready(): the unique name the main has on the bus
 * ipcbus_main_get_bus() gives. */
static int say_serving(sd_event_source *s, void *userdata) {
        const char *unique = NULL;

        if (sd_bus_get_unique_name(ipcbus_main_get_bus(userdata), &unique) < 0)
                return ipcbus_main_exit(userdata, 3);
        test_say("serving %s", unique);
        return 0;
}

/* "serving UNIQUE" once the main runs on the bus it chose, or "open failed:
 * ERROR". */
static int default_bus_main_child(void *userdata) {
        const starter_env *e = userdata;
        _cleanup_(ipcbus_main_unrefp) ipcbus_main *m = NULL;
        int r;

        if (set_or_unset("DBUS_STARTER_ADDRESS", e->starter_address) < 0 ||
            set_or_unset("DBUS_STARTER_BUS_TYPE", e->starter_type) < 0 ||
            set_or_unset("DBUS_SESSION_BUS_ADDRESS", e->session) < 0 ||
            set_or_unset("DBUS_SYSTEM_BUS_ADDRESS", e->system) < 0 || ipcbus_main_new(&m, DEFAULT_BUS_MAIN_NAME) < 0)
                return 2;
        r = ipcbus_main_open_default(m);
        if (r < 0) {
                test_say("open failed: %s", strerror(-r));
                return 1;
        }
        if (!ipcbus_main_get_bus(m) || sd_event_add_defer(ipcbus_main_get_event(m), NULL, say_serving, m) < 0)
                return 3;
        r = ipcbus_main_run(m);
        return r == 0 ? 0 : 1;
}

/* The owner of the test main's name on the harness bus, or NULL. */
static char *default_bus_main_owner(harness *h) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *owner;

        assert_int_equal(test_bus_connect(h->bus, &bus), 0);
        if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "GetNameOwner", NULL, &reply, "s", DEFAULT_BUS_MAIN_NAME) < 0 ||
            sd_bus_message_read(reply, "s", &owner) < 0)
                return NULL;
        return g_strdup(owner);
}

/* A main started with @e serves the harness bus: its bus connection is the
 * one that owns the name there; it ends cleanly on SIGTERM. */
static void assert_serves_harness_bus(harness *h, starter_env *e) {
        _cleanup_(test_process_freep) test_process *p = NULL;
        g_autofree char *owner = NULL;
        int status;

        assert_int_equal(test_process_spawn(&p, default_bus_main_child, e), 0);
        assert_int_equal(test_process_wait_line(p, "serving ", WAIT_USEC), 0);
        owner = default_bus_main_owner(h);
        assert_non_null(owner);
        assert_string_equal(test_process_get_line(p) + strlen("serving "), owner);
        assert_int_equal(test_process_kill(p, SIGTERM), 0);
        assert_int_equal(test_process_wait_exit(p, &status), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int setup_bus(void **state) {
        harness *h = calloc(1, sizeof(harness));

        harness_start_bus(h);
        *state = h;
        return 0;
}

/* What dbus-daemon gives a service it starts from a bus without a <type>:
 * the starter address alone. */
static void test_open_default_serves_the_starter_address(void **state) {
        harness *h = *state;
        starter_env e = { .starter_address = test_bus_get_address(h->bus), .session = "disabled:", .system = NO_BUS };

        assert_serves_harness_bus(h, &e);
}

/* A session bus also sets DBUS_STARTER_BUS_TYPE and points
 * DBUS_SESSION_BUS_ADDRESS at itself; sd_bus_open() takes the type. */
static void test_open_default_serves_the_starter_bus_type(void **state) {
        harness *h = *state;
        starter_env session = { .starter_type = "session", .session = test_bus_get_address(h->bus), .system = NO_BUS };
        starter_env system = { .starter_type = "system", .session = "disabled:", .system = test_bus_get_address(h->bus) };

        assert_serves_harness_bus(h, &session);
        assert_serves_harness_bus(h, &system);
}

/* Not started by a bus: the user's bus, whatever the cgroup says. */
static void test_open_default_serves_the_user_bus(void **state) {
        harness *h = *state;
        starter_env e = { .session = test_bus_get_address(h->bus), .system = NO_BUS };

        assert_serves_harness_bus(h, &e);
}

/* A starter bus that is gone is an error, not a reason to take another. */
static void test_open_default_does_not_fall_back(void **state) {
        harness *h = *state;
        _cleanup_(test_process_freep) test_process *p = NULL;
        starter_env e = { .starter_address = NO_BUS, .session = test_bus_get_address(h->bus), .system = NO_BUS };
        int status;

        assert_int_equal(test_process_spawn(&p, default_bus_main_child, &e), 0);
        assert_int_equal(test_process_wait_line(p, "open failed: ", WAIT_USEC), 0);
        assert_string_equal(test_process_get_line(p), "open failed: No such file or directory");
        assert_int_equal(test_process_wait_exit(p, &status), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        assert_null(default_bus_main_owner(h));
}

/* ---- the demo shows it --------------------------------------------------------- */

static char *demo_exe(void) {
        return g_build_filename(g_getenv("IPCBUS_TEST_BUILDDIR"), "examples", "ipcbus-demo", NULL);
}

/* The demo main with its stderr on the stdout the test reads. */
static test_process *demo_main(harness *h) {
        g_autofree char *demo = demo_exe();
        char *argv[] = { (char *)"sh", (char *)"-c", (char *)"exec \"$0\" main --address \"$1\" 2>&1", demo,
                         (char *)test_bus_get_address(h->bus), NULL };
        test_process *p = NULL;

        assert_int_equal(test_process_spawn_command(&p, argv), 0);
        assert_int_equal(test_process_wait_line(p, "ready", WAIT_USEC), 0);
        return p;
}

static void test_demo_lifecycle(void **state) {
        harness *h = *state;
        g_autofree char *demo = demo_exe();
        _cleanup_(test_process_freep) test_process *main1 = NULL, *main2 = NULL, *renderer = NULL;
        char *argv[] = { demo, (char *)"renderer", (char *)"--address", (char *)test_bus_get_address(h->bus),
                         (char *)"--role", (char *)"win2", NULL };
        int status;

        main1 = demo_main(h);
        assert_int_equal(test_process_spawn_command(&renderer, argv), 0);
        assert_int_equal(test_process_wait_line(renderer, "recv testMsg ", WAIT_USEC), 0);

        /* The main goes: "main gone". Another comes: "main back", and the
         * renderer attaches again by itself, so testMsg follows. */
        assert_int_equal(test_process_kill(main1, SIGKILL), 0);
        assert_int_equal(test_process_wait_line(renderer, "main gone", WAIT_USEC), 0);
        main2 = demo_main(h);
        assert_int_equal(test_process_wait_line(renderer, "main back", WAIT_USEC), 0);
        assert_int_equal(test_process_wait_line(renderer, "recv testMsg ", WAIT_USEC), 0);

        /* The bus goes: the main says so and exits non-zero within 2 s. */
        h->bus = test_bus_free(h->bus);
        assert_int_equal(test_process_wait_line(main2, "ipcbus-demo main: the bus went away", 2 * TEST_USEC_PER_SEC),
                         0);
        assert_int_equal(test_process_wait_line(main2, "never printed", 2 * TEST_USEC_PER_SEC), -EPIPE);
        assert_int_equal(test_process_wait_exit(main2, &status), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        assert_int_equal(test_process_wait_line(renderer, "main gone", WAIT_USEC), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_has_main_right_after_open, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_main_right_after_open, setup, teardown),
                cmocka_unit_test_setup_teardown(test_main_vanishes_and_appears, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exit_on_main_vanished, setup, teardown),
                cmocka_unit_test_setup_teardown(test_main_exits_when_its_bus_goes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_main_ends_on_sigterm, setup, teardown),
                cmocka_unit_test_setup_teardown(test_application_keeps_its_sigterm, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_default_serves_the_starter_address, setup_bus, teardown),
                cmocka_unit_test_setup_teardown(test_open_default_serves_the_starter_bus_type, setup_bus, teardown),
                cmocka_unit_test_setup_teardown(test_open_default_serves_the_user_bus, setup_bus, teardown),
                cmocka_unit_test_setup_teardown(test_open_default_does_not_fall_back, setup_bus, teardown),
                cmocka_unit_test_setup_teardown(test_demo_lifecycle, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
