/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <gio/gio.h>
#include <ipcbus/ipcbus.h>

#include "bench-servers.h"
#include "bench-table-peers.h"
#include "test-process.h"

#define CHECK(what, expr) \
        do { \
                int _r = (expr); \
                if (_r < 0) { \
                        fprintf(stderr, "bench-table %s: %s: %s\n", what, #expr, strerror(-_r)); \
                        return 1; \
                } \
        } while (0)

static void ready(void) {
        printf("ready\n");
        fflush(stdout);
}

long bench_rss_kib(int pid) {
        char path[64], line[256];
        long kib = -ENOENT;
        FILE *f;

        if (pid > 0)
                snprintf(path, sizeof(path), "/proc/%d/status", pid);
        else
                snprintf(path, sizeof(path), "/proc/self/status");
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

/* ---- raw frames ------------------------------------------------------------ */

int bench_table_read_all(int fd, void *data, size_t size) {
        uint8_t *p = data;

        while (size > 0) {
                ssize_t k = read(fd, p, size);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EPIPE;
                p += k;
                size -= (size_t)k;
        }
        return 0;
}

int bench_frame_write(int fd, uint32_t type, const void *data, size_t size) {
        bench_frame h = { .size = (uint32_t)size, .type = type };
        struct iovec iov[2] = {
                { .iov_base = &h, .iov_len = sizeof(h) },
                { .iov_base = (void *)data, .iov_len = size },
        };
        size_t left = sizeof(h) + size;
        int n = 2;
        struct iovec *v = iov;

        /* One writev() for header and payload: one syscall per small frame, as a
         * careful hand-written protocol would do. */
        while (left > 0) {
                ssize_t k = writev(fd, v, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                left -= (size_t)k;
                while (n > 0 && (size_t)k >= v->iov_len) {
                        k -= (ssize_t)v->iov_len;
                        v++;
                        n--;
                }
                if (n > 0) {
                        v->iov_base = (uint8_t *)v->iov_base + k;
                        v->iov_len -= (size_t)k;
                }
        }
        return 0;
}

int bench_frame_read_header(int fd, bench_frame *ret) {
        return bench_table_read_all(fd, ret, sizeof(*ret));
}

int bench_raw_server(void *userdata) {
        const bench_server_config *config = userdata;
        uint8_t *buf = NULL;
        size_t buf_size = 0;
        uint32_t counted = 0;
        int fd = config->direct_fd, r;

        ready();
        for (;;) {
                bench_frame h;

                r = bench_frame_read_header(fd, &h);
                if (r == -EPIPE)
                        break;
                CHECK("raw server", r);
                if (h.size > buf_size) {
                        free(buf);
                        buf = malloc(h.size);
                        if (!buf)
                                return 1;
                        buf_size = h.size;
                }
                CHECK("raw server", bench_table_read_all(fd, buf, h.size));
                switch (h.type) {
                case 'E':
                        CHECK("raw server", bench_frame_write(fd, 'E', buf, h.size));
                        break;
                case 'S':
                        counted++;
                        break;
                case 'C':
                        CHECK("raw server", bench_frame_write(fd, 'C', &counted, sizeof(counted)));
                        break;
                default:
                        fprintf(stderr, "bench-table raw server: frame type %u\n", h.type);
                        return 1;
                }
        }
        free(buf);
        return 0;
}

/* ---- GDBus ----------------------------------------------------------------- */

static const char gdbus_xml[] =
        "<node>"
        "  <interface name='" BENCH_PLAIN_INTERFACE "'>"
        "    <method name='Echo'>"
        "      <arg name='channel' type='s' direction='in'/>"
        "      <arg name='args' type='av' direction='in'/>"
        "      <arg name='result' type='v' direction='out'/>"
        "    </method>"
        "    <method name='Count'>"
        "      <arg name='count' type='u' direction='out'/>"
        "    </method>"
        "  </interface>"
        "</node>";

static guint32 gdbus_counted;

static void gdbus_method(GDBusConnection *conn, const char *sender, const char *path, const char *interface,
                         const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer userdata) {
        if (strcmp(method, "Echo") == 0) {
                g_autoptr(GVariant) args = g_variant_get_child_value(params, 1);

                /* The "av" as it came, in the reply's "v": what the plain server copies. */
                g_dbus_method_invocation_return_value(inv, g_variant_new("(v)", args));
        } else
                g_dbus_method_invocation_return_value(inv, g_variant_new("(u)", gdbus_counted));
}

/* As the plain filter: the channel, and the one string argument read. */
static void gdbus_signal(GDBusConnection *conn, const char *sender, const char *path, const char *interface,
                         const char *member, GVariant *params, gpointer userdata) {
        const char *channel = NULL;
        g_autoptr(GVariant) args = NULL, first = NULL, arg = NULL;

        if (!g_variant_is_of_type(params, G_VARIANT_TYPE("(sav)")))
                return;
        g_variant_get(params, "(&s@av)", &channel, &args);
        if (strcmp(channel, "count") != 0 || g_variant_n_children(args) < 1)
                return;
        first = g_variant_get_child_value(args, 0);
        arg = g_variant_get_variant(first);
        if (g_variant_is_of_type(arg, G_VARIANT_TYPE_STRING) && g_variant_get_string(arg, NULL))
                gdbus_counted++;
}

static const GDBusInterfaceVTable gdbus_vtable = { .method_call = gdbus_method };

int bench_gdbus_server(void *userdata) {
        const bench_server_config *config = userdata;
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusConnection) conn = NULL;
        g_autoptr(GDBusNodeInfo) info = NULL;
        g_autoptr(GMainLoop) loop = NULL;
        g_autoptr(GVariant) owned = NULL;
        char path[256];

        bench_path_from_name(config->name, path, sizeof(path));
        conn = g_dbus_connection_new_for_address_sync(config->address,
                                                      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                              G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                      NULL, NULL, &error);
        if (conn)
                info = g_dbus_node_info_new_for_xml(gdbus_xml, &error);
        if (info && g_dbus_connection_register_object(conn, path, info->interfaces[0], &gdbus_vtable, NULL,
                                                      NULL, &error) == 0)
                info = NULL;
        if (info) {
                g_dbus_connection_signal_subscribe(conn, NULL, BENCH_PLAIN_SIGNAL_INTERFACE, "Message", NULL,
                                                   NULL, G_DBUS_SIGNAL_FLAGS_NONE, gdbus_signal, NULL, NULL);
                owned = g_dbus_connection_call_sync(conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                    "org.freedesktop.DBus", "RequestName",
                                                    g_variant_new("(su)", config->name, 0), NULL,
                                                    G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        }
        if (!owned) {
                fprintf(stderr, "bench-table gdbus server: %s\n", error ? error->message : "failed");
                return 1;
        }
        ready();
        loop = g_main_loop_new(NULL, FALSE);
        /* Runs until SIGTERM ends the process. */
        g_main_loop_run(loop);
        return 0;
}

/* ---- the farm -------------------------------------------------------------- */

typedef struct farm {
        const bench_farm_config *config;
        unsigned got;
        int error;
} farm;

static void farm_got(farm *f) {
        uint8_t byte = 1;

        if (++f->got < f->config->n)
                return;
        f->got = 0;
        if (write(f->config->ack_fd, &byte, 1) != 1)
                f->error = -errno;
}

static int farm_on_tick(ipcbus_event *e, GVariant *args, void *userdata) {
        farm_got(userdata);
        return 0;
}

static int farm_on_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *text;

        /* Read, as any receiver that uses its message does. */
        if (sd_bus_message_read(m, "s", &text) >= 0)
                farm_got(userdata);
        return 0;
}

static int farm_on_raw(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        farm *f = userdata;
        uint8_t buf[256];
        bench_frame h;
        int r;

        r = bench_frame_read_header(fd, &h);
        if (r >= 0 && h.size > sizeof(buf))
                r = -EPROTO;
        if (r >= 0)
                r = bench_table_read_all(fd, buf, h.size);
        if (r < 0) {
                /* The bench closed its end: the farm is done. */
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
                return 0;
        }
        farm_got(f);
        return 0;
}

int bench_farm(void *userdata) {
        const bench_farm_config *config = userdata;
        ipcbus_renderer *renderers[BENCH_FARM_MAX] = { 0 };
        sd_bus *buses[BENCH_FARM_MAX] = { 0 };
        sd_event *event = NULL;
        farm f = { .config = config };

        for (unsigned i = 0; i < BENCH_FARM_MAX; i++)
                if (config->close_fds[i] >= 0)
                        (void)close(config->close_fds[i]);
        (void)close(config->ack_close_fd);

        /* A loop of its own: the parent's does not survive fork(). */
        CHECK("farm", sd_event_new(&event));
        for (unsigned i = 0; i < config->n; i++) {
                switch (config->kind) {
                case BENCH_FARM_IPCBUS_BUS:
                case BENCH_FARM_IPCBUS_DIRECT: {
                        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                        char name[32];
                        uint64_t id;

                        CHECK("farm", ipcbus_renderer_new(&renderers[i], BENCH_FARM_MAIN_NAME));
                        CHECK("farm", ipcbus_renderer_attach_event(renderers[i], event, 0));
                        if (config->kind == BENCH_FARM_IPCBUS_BUS)
                                CHECK("farm", ipcbus_renderer_open_address(renderers[i], config->address));
                        else
                                CHECK("farm", ipcbus_renderer_open_direct(renderers[i], config->fds[i]));
                        CHECK("farm", ipcbus_renderer_on(renderers[i], NULL, BENCH_FARM_CHANNEL, farm_on_tick,
                                                         &f));
                        snprintf(name, sizeof(name), "farm-%u", i);
                        CHECK("farm", ipcbus_renderer_attach_sync(renderers[i], name, &error, &id));
                        break;
                }
                case BENCH_FARM_SD_BUS:
                        CHECK("farm", sd_bus_new(&buses[i]));
                        CHECK("farm", sd_bus_set_address(buses[i], config->address));
                        CHECK("farm", sd_bus_set_bus_client(buses[i], 1));
                        CHECK("farm", sd_bus_start(buses[i]));
                        CHECK("farm", sd_bus_attach_event(buses[i], event, 0));
                        /* Synchronous: the bus knows the match when "ready" is said. */
                        CHECK("farm", sd_bus_match_signal(buses[i], NULL, NULL, BENCH_FARM_PATH,
                                                          BENCH_FARM_INTERFACE, BENCH_FARM_MEMBER,
                                                          farm_on_signal, &f));
                        break;
                case BENCH_FARM_RAW:
                        CHECK("farm", sd_event_add_io(event, NULL, config->fds[i], EPOLLIN, farm_on_raw, &f));
                        break;
                }
        }
        ready();
        /* Runs until SIGTERM ends the process. */
        while (f.error == 0)
                CHECK("farm", sd_event_run(event, UINT64_MAX));
        CHECK("farm", f.error);
        return 0;
}
