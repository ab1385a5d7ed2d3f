/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <glib.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipcbus/ipcbus-spawn.h>

#include "sandbox.h"
#include "util.h"

/* Where bus sockets live by convention (the system bus in /run/dbus, user
 * buses in /run/user/UID, dbus-daemon's own in /tmp), along with other
 * services' sockets and writable scratch space: each gets an empty tmpfs,
 * because connect() on a read-only bind mount still reaches a socket. */
static const char *const hidden_dirs[] = { "/tmp", "/var/tmp", "/run", "/var/run" };

/* The bus addresses a renderer could otherwise find. */
static const char *const bus_env[] = { "DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS" };

int sandbox_find_bwrap(char **ret_path) {
        const char *name = g_getenv(IPCBUS_BWRAP_ENV);
        char *path;

        if (!name || !*name)
                name = "bwrap";
        if (strchr(name, '/'))
                path = g_strdup(name);
        else
                path = g_find_program_in_path(name);
        if (!path || access(path, X_OK) < 0) {
                g_free(path);
                return -ENOPKG;
        }
        *ret_path = path;
        return 0;
}

/* Only real directories are mounted over: a symlink such as /var/run ->
 * /run already leads into a hidden one. */
static bool hidden_dir_present(const char *dir) {
        struct stat st;

        return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* @path is canonical. */
static bool is_hidden(const char *path) {
        for (size_t i = 0; i < G_N_ELEMENTS(hidden_dirs); i++) {
                size_t n = strlen(hidden_dirs[i]);

                if (hidden_dir_present(hidden_dirs[i]) && strncmp(path, hidden_dirs[i], n) == 0 &&
                    (path[n] == '/' || path[n] == 0))
                        return true;
        }
        return false;
}

/* A D-Bus address value with its %XX escapes decoded; NULL if malformed. */
static char *address_unescape(const char *value) {
        GString *s = g_string_new(NULL);

        for (const char *p = value; *p; p++) {
                int hi, lo;

                if (*p != '%') {
                        g_string_append_c(s, *p);
                        continue;
                }
                hi = g_ascii_xdigit_value(p[1]);
                lo = hi < 0 ? -1 : g_ascii_xdigit_value(p[2]);
                if (lo < 0) {
                        g_string_free(s, TRUE);
                        return NULL;
                }
                g_string_append_c(s, (char)(hi << 4 | lo));
                p += 2;
        }
        return g_string_free(s, FALSE);
}

/* Adds the socket path of each "unix:path=..." in @address (a D-Bus
 * address list: "transport:key=value,...;..."). Abstract sockets and TCP
 * are another network namespace's in the sandbox. */
static void add_address_paths(GPtrArray *paths, const char *address) {
        g_auto(GStrv) entries = g_strsplit(address, ";", -1);

        for (char **e = entries; *e; e++) {
                const char *colon = strchr(*e, ':');
                g_auto(GStrv) pairs = NULL;

                if (!colon || colon - *e != 4 || strncmp(*e, "unix", 4) != 0)
                        continue;
                pairs = g_strsplit(colon + 1, ",", -1);
                for (char **p = pairs; *p; p++)
                        if (g_str_has_prefix(*p, "path=")) {
                                char *path = address_unescape(*p + strlen("path="));

                                if (path)
                                        g_ptr_array_add(paths, path);
                        }
        }
}

/* The sockets to cover: canonical, existing, outside the hidden directories. */
static GPtrArray *bus_sockets(char *const envp[]) {
        GPtrArray *named = g_ptr_array_new_with_free_func(g_free);
        GPtrArray *cover = g_ptr_array_new_with_free_func(g_free);
        const char *runtime = g_environ_getenv((char **)envp, "XDG_RUNTIME_DIR");

        for (size_t i = 0; i < G_N_ELEMENTS(bus_env); i++) {
                const char *address = g_environ_getenv((char **)envp, bus_env[i]);

                if (address)
                        add_address_paths(named, address);
        }
        /* Where sd-bus and GDBus look for the user bus without an address. */
        if (runtime && *runtime)
                g_ptr_array_add(named, g_build_filename(runtime, "bus", NULL));

        for (unsigned i = 0; i < named->len; i++) {
                char *canonical = realpath(named->pdata[i], NULL);

                if (!canonical)
                        continue;
                if (is_hidden(canonical) || g_ptr_array_find_with_equal_func(cover, canonical, g_str_equal, NULL))
                        free(canonical);
                else
                        g_ptr_array_add(cover, canonical);
        }
        g_ptr_array_unref(named);
        return cover;
}

static void add(GPtrArray *a, const char *arg) {
        g_ptr_array_add(a, g_strdup(arg));
}

int sandbox_build_argv(const char *bwrap, const char *program, char *const argv[], char *const envp[],
                       char ***ret_argv) {
        GPtrArray *a = g_ptr_array_new();
        g_autoptr(GPtrArray) sockets = bus_sockets(envp);
        char *exe = realpath(program, NULL);

        add(a, bwrap);
        /* The sandbox ends when the main does. */
        add(a, "--die-with-parent");
        /* New user (where possible), ipc, pid, net, uts and cgroup
         * namespaces: no network, no abstract sockets, no other process. */
        add(a, "--unshare-all");
        /* setsid(): no TIOCSTI into the main's terminal. */
        add(a, "--new-session");
        /* Run as root, bwrap would keep root's capabilities: mount could
         * undo everything below. */
        add(a, "--cap-drop");
        add(a, "ALL");
        /* The whole file system, read-only. */
        add(a, "--ro-bind");
        add(a, "/");
        add(a, "/");
        add(a, "--dev");
        add(a, "/dev");
        add(a, "--proc");
        add(a, "/proc");
        for (size_t i = 0; i < G_N_ELEMENTS(hidden_dirs); i++)
                if (hidden_dir_present(hidden_dirs[i])) {
                        add(a, "--tmpfs");
                        add(a, hidden_dirs[i]);
                }
        /* A bus socket the environment names elsewhere: a non-socket over it. */
        for (unsigned i = 0; i < sockets->len; i++) {
                add(a, "--ro-bind");
                add(a, "/dev/null");
                add(a, sockets->pdata[i]);
        }
        /* A program inside a hidden directory stays visible, alone. */
        if (exe && is_hidden(exe)) {
                add(a, "--ro-bind");
                add(a, exe);
                add(a, exe);
        }
        add(a, "--");
        add(a, exe ? exe : program);
        for (size_t i = 1; argv[0] && argv[i]; i++)
                add(a, argv[i]);
        g_ptr_array_add(a, NULL);
        free(exe);

        *ret_argv = (char **)g_ptr_array_free(a, FALSE);
        return 0;
}

void sandbox_filter_environ(char ***envp) {
        for (size_t i = 0; i < G_N_ELEMENTS(bus_env); i++)
                *envp = g_environ_unsetenv(*envp, bus_env[i]);
}
