/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The test helpers themselves: private buses and child processes. */

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test-bus.h"
#include "test-process.h"

/* The largest array D-Bus allows; the message around it is a little larger. */
#define BIG_SIZE (64u * 1024 * 1024)

/*
 * sd-bus reallocates its read buffer to the full message size after every
 * read(); glibc does that in place, ASan copies every time, which turns one
 * 64 MiB message into minutes of copying. The plain build covers it.
 */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static test_bus_kind dbus_daemon = TEST_BUS_DBUS_DAEMON;
static test_bus_kind dbus_broker = TEST_BUS_DBUS_BROKER;

/* A bus test run against one kind of bus, named after both. */
#define BUS_TEST(fn, kind) \
        { #fn "_" #kind, fn, NULL, NULL, &kind }

/* Starts the bus named by the test's state; skips dbus-broker where it cannot run (no CAP_SYS_ADMIN). */
static test_bus *start_bus(void **state) {
        test_bus_kind kind = *(test_bus_kind *)*state;
        test_bus *bus = NULL;
        int r;

        r = test_bus_start(&bus, kind);
        if (r == -EOPNOTSUPP && kind == TEST_BUS_DBUS_BROKER) {
                print_message("dbus-broker cannot run here (no mount namespace), skipped\n");
                skip();
        }
        assert_int_equal(r, 0);
        return bus;
}

static void test_util_bus_get_id(void **state) {
        _cleanup_(test_bus_freep) test_bus *bus = start_bus(state);
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *conn = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *id;

        assert_non_null(strstr(test_bus_get_address(bus), "unix:path="));
        assert_int_equal(test_bus_connect(bus, &conn), 0);
        assert_int_equal(sd_bus_call_method(conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                            "org.freedesktop.DBus", "GetId", &error, &reply, NULL),
                         1);
        assert_int_equal(sd_bus_message_read(reply, "s", &id), 1);
        assert_int_equal(strlen(id), 32);
}

struct big_send {
        test_bus *bus;
        const char *destination;
};

/* Runs in a child: one 64 MiB signal to the destination. */
static int send_big(void *userdata) {
        struct big_send *s = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *conn = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        void *p;

        if (test_bus_connect(s->bus, &conn) < 0 ||
            sd_bus_message_new_signal(conn, &m, "/org/ipcbus/Test", "org.ipcbus.Test", "Big") < 0 ||
            sd_bus_message_set_destination(m, s->destination) < 0 ||
            sd_bus_message_append_array_space(m, 'y', BIG_SIZE, &p) < 0)
                return 1;
        memset(p, 0x5a, BIG_SIZE);
        if (sd_bus_send(conn, m, NULL) < 0 || sd_bus_flush(conn) < 0)
                return 2;
        return 0;
}

static int on_message(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        size_t *received = userdata;
        const uint8_t *p;
        size_t size;

        if (!sd_bus_message_is_signal(m, "org.ipcbus.Test", "Big"))
                return 0;
        assert_int_equal(sd_bus_message_read_array(m, 'y', (const void **)&p, &size), 1);
        assert_int_equal(size, BIG_SIZE);
        assert_int_equal(p[0], 0x5a);
        assert_int_equal(p[size - 1], 0x5a);
        *received = size;
        return 1;
}

static void test_util_bus_passes_64mib(void **state) {
#ifdef UNDER_ASAN
        /* Before anything is started: skip() leaves without running cleanups. */
        print_message("64 MiB through sd-bus is too slow under ASan, skipped\n");
        skip();
#endif
        _cleanup_(test_bus_freep) test_bus *bus = start_bus(state);
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *conn = NULL;
        _cleanup_(test_process_freep) test_process *sender = NULL;
        struct big_send s = { .bus = bus };
        size_t received = 0;
        int r, status;

        assert_int_equal(test_bus_connect(bus, &conn), 0);
        assert_int_equal(sd_bus_add_filter(conn, NULL, on_message, &received), 0);
        assert_int_equal(sd_bus_get_unique_name(conn, &s.destination), 0);
        assert_int_equal(test_process_spawn(&sender, send_big, &s), 0);

        while (received == 0) {
                r = sd_bus_process(conn, NULL);
                assert_true(r >= 0);
                if (r == 0)
                        assert_true(sd_bus_wait(conn, 60 * TEST_USEC_PER_SEC) > 0);
        }
        assert_int_equal(test_process_wait_exit(sender, &status), 0);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* busctl --user reaches the bus through the exported address. */
static void test_util_bus_setenv_reaches_children(void **state) {
        _cleanup_(test_bus_freep) test_bus *bus = start_bus(state);
        _cleanup_(test_process_freep) test_process *busctl = NULL;
        char *argv[] = { "busctl",
                         "--user",
                         "call",
                         "org.freedesktop.DBus",
                         "/org/freedesktop/DBus",
                         "org.freedesktop.DBus",
                         "GetId",
                         NULL };
        int status;

        assert_int_equal(test_bus_setenv(bus), 0);
        assert_string_equal(getenv(TEST_BUS_ADDRESS_ENV), test_bus_get_address(bus));
        assert_int_equal(test_process_spawn_command(&busctl, argv), 0);
        assert_int_equal(test_process_wait_line(busctl, "s \"", 30 * TEST_USEC_PER_SEC), 0);
        assert_int_equal(test_process_wait_exit(busctl, &status), 0);
        assert_int_equal(status, 0);
        unsetenv("DBUS_SESSION_BUS_ADDRESS");
        unsetenv(TEST_BUS_ADDRESS_ENV);
}

/* test_bus_free() leaves no process and no directory behind. */
static void test_util_bus_free_reaps(void **state) {
        test_bus *bus = start_bus(state);
        char dir[256];

        /* The directory from the address: unix:path=DIR/bus[,guid=...] */
        snprintf(dir, sizeof(dir), "%s", test_bus_get_address(bus) + strlen("unix:path="));
        *strrchr(dir, '/') = '\0';
        assert_int_equal(access(dir, F_OK), 0);
        test_bus_free(bus);

        assert_int_equal(access(dir, F_OK), -1);
        assert_int_equal(errno, ENOENT);
        /* Every child of ours is reaped (the broker's keeper waits for the broker). */
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
}

static int print_lines(void *userdata) {
        printf("hello\n");
        printf("ready %d\n", 42);
        printf("bye");
        return 3;
}

static void test_util_process_waits_for_lines(void **state) {
        _cleanup_(test_process_freep) test_process *p = NULL;
        int status;

        assert_int_equal(test_process_spawn(&p, print_lines, NULL), 0);
        assert_int_equal(test_process_wait_line(p, "ready", 30 * TEST_USEC_PER_SEC), 0);
        assert_string_equal(test_process_get_line(p), "ready 42");
        /* An unterminated last line counts. */
        assert_int_equal(test_process_wait_line(p, "bye", 30 * TEST_USEC_PER_SEC), 0);
        assert_int_equal(test_process_wait_line(p, "never", 30 * TEST_USEC_PER_SEC), -EPIPE);
        assert_int_equal(test_process_wait_exit(p, &status), 0);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 3);
}

static int print_and_hang(void *userdata) {
        printf("started\n");
        pause(); /* until killed */
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * TEST_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static void test_util_process_times_out_and_kills(void **state) {
        _cleanup_(test_process_freep) test_process *p = NULL;
        uint64_t start;
        int status;

        assert_int_equal(test_process_spawn(&p, print_and_hang, NULL), 0);
        start = now_usec();
        assert_int_equal(test_process_wait_line(p, "ready", 200 * TEST_USEC_PER_MSEC), -ETIMEDOUT);
        assert_true(now_usec() - start >= 200 * TEST_USEC_PER_MSEC);
        assert_string_equal(test_process_get_line(p) ?: "", "");

        assert_int_equal(test_process_kill(p, SIGTERM), 0);
        assert_int_equal(test_process_wait_exit(p, &status), 0);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGTERM);
        assert_int_equal(test_process_get_pid(p), 0);
        assert_int_equal(test_process_kill(p, SIGTERM), -ESRCH);
}

static void test_util_process_runs_commands(void **state) {
        _cleanup_(test_process_freep) test_process *sh = NULL, *missing = NULL;
        char *sh_argv[] = { "sh", "-c", "echo one; echo two; exit 7", NULL };
        char *missing_argv[] = { "ipcbus-no-such-command", NULL };
        int status;

        assert_int_equal(test_process_spawn_command(&sh, sh_argv), 0);
        assert_int_equal(test_process_wait_line(sh, "two", 30 * TEST_USEC_PER_SEC), 0);
        assert_int_equal(test_process_wait_exit(sh, &status), 0);
        assert_int_equal(WEXITSTATUS(status), 7);

        assert_int_equal(test_process_spawn_command(&missing, missing_argv), 0);
        assert_int_equal(test_process_wait_exit(missing, &status), 0);
        assert_int_equal(WEXITSTATUS(status), 127);
}

static int fail_an_assertion(void *userdata) {
        assert_true(false);
        return 0;
}

/* A failed assertion in a child ends the child, not a second run of the remaining tests. */
static void test_util_process_child_assertion_aborts(void **state) {
        _cleanup_(test_process_freep) test_process *p = NULL;
        int status;

        assert_int_equal(test_process_spawn(&p, fail_an_assertion, NULL), 0);
        assert_int_equal(test_process_wait_line(p, "", 30 * TEST_USEC_PER_SEC), -EPIPE);
        assert_int_equal(test_process_wait_exit(p, &status), 0);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                BUS_TEST(test_util_bus_get_id, dbus_daemon),
                BUS_TEST(test_util_bus_get_id, dbus_broker),
                BUS_TEST(test_util_bus_passes_64mib, dbus_daemon),
                BUS_TEST(test_util_bus_passes_64mib, dbus_broker),
                BUS_TEST(test_util_bus_setenv_reaches_children, dbus_daemon),
                BUS_TEST(test_util_bus_free_reaps, dbus_daemon),
                BUS_TEST(test_util_bus_free_reaps, dbus_broker),
                cmocka_unit_test(test_util_process_waits_for_lines),
                cmocka_unit_test(test_util_process_times_out_and_kills),
                cmocka_unit_test(test_util_process_runs_commands),
                cmocka_unit_test(test_util_process_child_assertion_aborts),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
