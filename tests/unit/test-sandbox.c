/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bwrap command line of IPCBUS_SPAWN_SANDBOX (src/endpoint/sandbox.c): the fixed
 * arguments, the bus sockets the main's environment names (covered where
 * no hidden directory holds them), the program's place, the environment the
 * renderer gets, and finding bwrap. Nothing is run here; test-spawn runs it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "sandbox.h"
#include "util.h"

/* A writable directory the sandbox does not hide (the build tree, else
 * $HOME), where a socket path fits; NULL if there is none. */
static char *visible_dir(void) {
        const char *candidates[] = { getenv("IPCBUS_TEST_BUILDDIR"), g_get_home_dir() };

        for (size_t i = 0; i < G_N_ELEMENTS(candidates); i++) {
                g_autofree char *canonical = candidates[i] ? realpath(candidates[i], NULL) : NULL;
                bool hidden = false;

                if (!canonical || access(canonical, W_OK) < 0 || strlen(canonical) > 60)
                        continue;
                for (const char *const *h = (const char *const[]){ "/tmp", "/var/tmp", "/run", "/var/run", NULL };
                     *h; h++)
                        if (g_str_has_prefix(canonical, *h) && (canonical[strlen(*h)] == '/' || !canonical[strlen(*h)]))
                                hidden = true;
                if (!hidden)
                        return g_steal_pointer(&canonical);
        }
        return NULL;
}

/* Index of the first run of @n arguments equal to @want in @argv, or -1. */
static int find_args(char **argv, const char *const *want, size_t n) {
        for (int i = 0; argv[i]; i++) {
                size_t k = 0;

                while (k < n && argv[i + k] && g_str_equal(argv[i + k], want[k]))
                        k++;
                if (k == n)
                        return i;
        }
        return -1;
}

static int count_covers(char **argv) {
        int n = 0;

        for (int i = 0; argv[i] && argv[i + 1]; i++)
                if (g_str_equal(argv[i], "--ro-bind") && g_str_equal(argv[i + 1], "/dev/null"))
                        n++;
        return n;
}

static void test_sandbox_fixed_arguments(void **state) {
        g_auto(GStrv) argv = NULL;
        char *args[] = { "renderer", "--flag", "value", NULL };
        char *envp[] = { "PATH=/usr/bin", NULL };
        const char *const head[] = { "/usr/bin/bwrap", "--die-with-parent", "--unshare-all", "--new-session",
                                     "--cap-drop", "ALL", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc" };
        const char *const tmp[] = { "--tmpfs", "/tmp" };
        const char *const run[] = { "--tmpfs", "/run" };
        const char *const tail[] = { "--", "/bin/true", "--flag", "value" };
        int n;

        assert_int_equal(sandbox_build_argv("/usr/bin/bwrap", "/bin/true", args, envp, &argv), 0);
        assert_int_equal(find_args(argv, head, G_N_ELEMENTS(head)), 0);
        assert_true(find_args(argv, tmp, 2) > 0);
        assert_true(find_args(argv, run, 2) > 0);
        n = (int)g_strv_length(argv);
        /* The program by its canonical path (bwrap cannot set argv[0]). */
        g_autofree char *canonical = realpath("/bin/true", NULL);
        assert_non_null(canonical);
        assert_int_equal(find_args(argv, (const char *const[]){ "--", canonical }, 2), n - 4);
        assert_string_equal(argv[n - 2], tail[2]);
        assert_string_equal(argv[n - 1], tail[3]);
        assert_int_equal(count_covers(argv), 0);
}

/* A listening socket at @path, as a bus would have. */
static int listen_at(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_true(strlen(path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        (void)unlink(path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 1), 0);
        return fd;
}

static void test_sandbox_covers_named_sockets(void **state) {
        g_autofree char *base = visible_dir();
        g_autofree char *dir = NULL;
        g_autofree char *session = NULL, *system = NULL, *runtime_bus = NULL;
        g_autofree char *session_canonical = NULL, *system_canonical = NULL, *runtime_canonical = NULL;
        g_autofree char *session_env = NULL, *system_env = NULL, *runtime_env = NULL;
        g_auto(GStrv) argv = NULL;
        char *args[] = { "/bin/true", NULL };
        int fds[3];

        if (!base) {
                print_message("no writable directory outside /tmp, /var/tmp and /run: skipped\n");
                skip();
        }
        dir = g_strdup_printf("%s/ipcbus-sandbox-unit-%d", base, (int)getpid());
        session = g_build_filename(dir, "session bus", NULL);
        system = g_build_filename(dir, "system", NULL);
        runtime_bus = g_build_filename(dir, "bus", NULL);
        assert_int_equal(g_mkdir_with_parents(dir, 0700), 0);
        fds[0] = listen_at(session);
        fds[1] = listen_at(system);
        fds[2] = listen_at(runtime_bus);
        session_canonical = realpath(session, NULL);
        system_canonical = realpath(system, NULL);
        runtime_canonical = realpath(runtime_bus, NULL);

        /* The space escaped as D-Bus does; abstract, tcp, a socket under
         * /tmp (hidden anyway) and a missing one need no cover. */
        {
                g_autofree char *escaped = g_strdup_printf("%s/session%%20bus", dir);

                session_env = g_strdup_printf("DBUS_SESSION_BUS_ADDRESS=unix:abstract=/tmp/dbus-x,guid=1;"
                                              "unix:path=%s,guid=0123;tcp:host=localhost,port=1",
                                              escaped);
        }
        system_env = g_strdup_printf("DBUS_SYSTEM_BUS_ADDRESS=unix:path=/tmp/no-such-bus;unix:path=%s/missing;"
                                     "unix:path=%s",
                                     dir, system);
        runtime_env = g_strdup_printf("XDG_RUNTIME_DIR=%s", dir);
        {
                char *envp[] = { session_env, system_env, runtime_env, NULL };
                const char *const cover_session[] = { "--ro-bind", "/dev/null", session_canonical };
                const char *const cover_system[] = { "--ro-bind", "/dev/null", system_canonical };
                const char *const cover_runtime[] = { "--ro-bind", "/dev/null", runtime_canonical };

                assert_int_equal(sandbox_build_argv("bwrap", "/bin/true", args, envp, &argv), 0);
                assert_true(find_args(argv, cover_session, 3) > 0);
                assert_true(find_args(argv, cover_system, 3) > 0);
                assert_true(find_args(argv, cover_runtime, 3) > 0);
                assert_int_equal(count_covers(argv), 3);
        }

        /* A malformed escape names nothing. */
        g_clear_pointer(&argv, g_strfreev);
        {
                char *envp[] = { "DBUS_SESSION_BUS_ADDRESS=unix:path=/x%2", NULL };

                assert_int_equal(sandbox_build_argv("bwrap", "/bin/true", args, envp, &argv), 0);
                assert_int_equal(count_covers(argv), 0);
        }

        for (size_t i = 0; i < G_N_ELEMENTS(fds); i++)
                (void)close(fds[i]);
        (void)unlink(session);
        (void)unlink(system);
        (void)unlink(runtime_bus);
        (void)rmdir(dir);
}

/* A program in a hidden directory is bound in, alone. */
static void test_sandbox_program_in_hidden_dir(void **state) {
        g_autofree char *dir = g_dir_make_tmp("ipcbus-sandbox-XXXXXX", NULL);
        g_autofree char *program = NULL, *canonical = NULL;
        g_auto(GStrv) argv = NULL;
        char *args[] = { "renderer", NULL };
        char *envp[] = { NULL };

        assert_non_null(dir);
        if (!g_str_has_prefix(dir, "/tmp/")) {
                (void)rmdir(dir);
                skip(); /* TMPDIR is elsewhere: nothing hidden to test with */
        }
        program = g_build_filename(dir, "renderer", NULL);
        assert_true(g_file_set_contents(program, "", 0, NULL));
        canonical = realpath(program, NULL);
        assert_int_equal(sandbox_build_argv("bwrap", program, args, envp, &argv), 0);
        assert_true(find_args(argv, (const char *const[]){ "--ro-bind", canonical, canonical }, 3) > 0);
        assert_true(find_args(argv, (const char *const[]){ "--ro-bind", canonical, canonical }, 3) <
                    find_args(argv, (const char *const[]){ "--", canonical }, 2));
        (void)unlink(program);
        (void)rmdir(dir);
}

static void test_sandbox_environ(void **state) {
        g_auto(GStrv) envp = g_strdupv((char *[]){ "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/0/bus",
                                                    "HOME=/root", "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/x", NULL });

        sandbox_filter_environ(&envp);
        assert_null(g_environ_getenv(envp, "DBUS_SESSION_BUS_ADDRESS"));
        assert_null(g_environ_getenv(envp, "DBUS_SYSTEM_BUS_ADDRESS"));
        assert_string_equal(g_environ_getenv(envp, "HOME"), "/root");
}

static void test_sandbox_find_bwrap(void **state) {
        g_autofree char *saved = g_strdup(getenv("IPCBUS_BWRAP"));
        g_autofree char *path = NULL;

        assert_int_equal(setenv("IPCBUS_BWRAP", "/nonexistent/bwrap", 1), 0);
        assert_int_equal(sandbox_find_bwrap(&path), -ENOPKG);
        assert_int_equal(setenv("IPCBUS_BWRAP", "ipcbus-no-such-bwrap", 1), 0);
        assert_int_equal(sandbox_find_bwrap(&path), -ENOPKG);
        /* Any executable will do for the lookup: a path, or a name in $PATH. */
        assert_int_equal(setenv("IPCBUS_BWRAP", "/bin/true", 1), 0);
        assert_int_equal(sandbox_find_bwrap(&path), 0);
        assert_string_equal(path, "/bin/true");
        g_clear_pointer(&path, g_free);
        assert_int_equal(setenv("IPCBUS_BWRAP", "true", 1), 0);
        assert_int_equal(sandbox_find_bwrap(&path), 0);
        assert_true(g_path_is_absolute(path));
        if (saved)
                assert_int_equal(setenv("IPCBUS_BWRAP", saved, 1), 0);
        else
                assert_int_equal(unsetenv("IPCBUS_BWRAP"), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sandbox_fixed_arguments),
                cmocka_unit_test(test_sandbox_covers_named_sockets),
                cmocka_unit_test(test_sandbox_program_in_hidden_dir),
                cmocka_unit_test(test_sandbox_environ),
                cmocka_unit_test(test_sandbox_find_bwrap),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
