/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A private dbus-daemon for the self-test, so it never touches the user's
 * session bus and needs none. The configuration is generated into a fresh
 * directory; dbus-daemon writes its address to a pipe once it listens,
 * which is the readiness signal: no polling, no sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

#define BUS_START_TIMEOUT_USEC (10U * 1000U * 1000U)

/* D-Bus address value escaping: all but [-0-9A-Za-z_/.\*] as %XX. */
static char *address_escape(const char *s) {
        GString *out = g_string_new(NULL);

        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (g_ascii_isalnum(*p) || strchr("-_/.\\*", *p))
                        g_string_append_c(out, (char)*p);
                else
                        g_string_append_printf(out, "%%%02x", *p);
        }
        return g_string_free(out, FALSE);
}

static char *bus_config(const char *socket) {
        _cleanup_(demo_freep) char *escaped = address_escape(socket);
        _cleanup_(demo_freep) char *listen = g_markup_escape_text(escaped, -1);

        /* A session-type bus that lets its one user do anything. */
        return g_strdup_printf(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig>\n"
                "  <type>session</type>\n"
                "  <listen>unix:path=%s</listen>\n"
                "  <auth>EXTERNAL</auth>\n"
                "  <policy context=\"default\">\n"
                "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                "    <allow eavesdrop=\"true\"/>\n"
                "    <allow own=\"*\"/>\n"
                "  </policy>\n"
                "</busconfig>\n",
                listen);
}

/* Read one line from @fd within the deadline. Return: 0; -ETIMEDOUT; -EPIPE at EOF; -errno. */
static int read_line(int fd, uint64_t deadline, char **ret) {
        GString *line = g_string_new(NULL);
        char *nl;

        while (!(nl = memchr(line->str, '\n', line->len))) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now = demo_now_usec();
                char buf[512];
                ssize_t n;
                int k;

                if (now >= deadline) {
                        g_string_free(line, TRUE);
                        return -ETIMEDOUT;
                }
                k = poll(&p, 1, (int)((deadline - now + 999) / 1000));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        k = -errno;
                        g_string_free(line, TRUE);
                        return k;
                }
                if (k == 0)
                        continue;
                n = read(fd, buf, sizeof(buf));
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0) {
                        k = n < 0 ? -errno : -EPIPE;
                        g_string_free(line, TRUE);
                        return k;
                }
                g_string_append_len(line, buf, n);
        }
        g_string_truncate(line, (gsize)(nl - line->str));
        *ret = g_string_free(line, FALSE);
        return 0;
}

int demo_bus_start(demo_bus **ret, char **ret_error) {
        _cleanup_(demo_bus_freep) demo_bus *b = NULL;
        _cleanup_(demo_freep) char *config = NULL, *print_address = NULL, *address = NULL;
        _cleanup_(demo_closep) int read_end = -1, write_end = -1, null_fd = -1;
        GError *error = NULL;
        int fds[2], r;

        b = g_new0(demo_bus, 1);
        b->dir = g_build_filename(g_get_tmp_dir(), "ipcbus-demo-XXXXXX", NULL);
        if (!mkdtemp(b->dir)) {
                r = -errno;
                *ret_error = g_strdup_printf("cannot create %s: %s", b->dir, g_strerror(-r));
                g_clear_pointer(&b->dir, g_free);
                return r;
        }
        b->socket = g_build_filename(b->dir, "bus", NULL);
        b->config = g_build_filename(b->dir, "bus.conf", NULL);
        config = bus_config(b->socket);
        if (!g_file_set_contents(b->config, config, -1, &error)) {
                *ret_error = g_strdup_printf("cannot write %s: %s", b->config, error->message);
                g_error_free(error);
                return -EIO;
        }

        if (pipe2(fds, O_CLOEXEC) < 0) {
                r = -errno;
                *ret_error = g_strdup_printf("pipe: %s", g_strerror(-r));
                return r;
        }
        read_end = fds[0];
        write_end = fds[1];
        print_address = g_strdup_printf("--print-address=%d", write_end);
        {
                _cleanup_(demo_freep) char *config_arg = g_strdup_printf("--config-file=%s", b->config);
                char *argv[] = { (char *)"dbus-daemon", config_arg, (char *)"--nofork", (char *)"--nosyslog",
                                 print_address, NULL };

                /* Its warnings (a container's root cannot raise the fd
                 * limit, ...) are not the demo's business unless debugging. */
                if (!demo_debug())
                        null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                r = demo_spawn(argv, -1, null_fd, write_end, &b->pid);
        }
        if (r < 0) {
                *ret_error = g_strdup_printf("cannot start dbus-daemon: %s", g_strerror(-r));
                return r;
        }
        /* Our copy closed, a daemon that dies gives us EOF. */
        (void)close(write_end);
        write_end = -1;

        r = read_line(read_end, demo_now_usec() + BUS_START_TIMEOUT_USEC, &address);
        if (r < 0 || !address[0]) {
                *ret_error = g_strdup_printf("dbus-daemon did not report its address: %s",
                                             r == -EPIPE ? "it exited (is dbus-daemon installed? "
                                                           "IPCBUS_DEMO_DEBUG=1 shows its errors)"
                                                         : g_strerror(r < 0 ? -r : EINVAL));
                return r < 0 ? r : -EINVAL;
        }
        b->address = DEMO_TAKE_PTR(address);
        *ret = DEMO_TAKE_PTR(b);
        return 0;
}

demo_bus *demo_bus_free(demo_bus *b) {
        if (!b)
                return NULL;
        if (b->pid > 0) {
                int status = 0, r;

                r = demo_terminate(b->pid, &status);
                if (r < 0)
                        fprintf(stderr, "ipcbus-demo: cannot stop dbus-daemon %d: %s\n", (int)b->pid,
                                g_strerror(-r));
                else if (demo_debug())
                        fprintf(stderr, "ipcbus-demo: dbus-daemon exited with status 0x%x\n", status);
        }
        if (b->socket)
                (void)unlink(b->socket);
        if (b->config)
                (void)unlink(b->config);
        if (b->dir && rmdir(b->dir) < 0)
                fprintf(stderr, "ipcbus-demo: cannot remove %s: %s\n", b->dir, g_strerror(errno));
        g_free(b->socket);
        g_free(b->config);
        g_free(b->dir);
        g_free(b->address);
        g_free(b);
        return NULL;
}
