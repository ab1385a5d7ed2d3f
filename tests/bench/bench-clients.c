/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-channels.h"
#include "bench-clients.h"
#include "bench-servers.h"
#include "bench-table-peers.h"
#include "test-process.h"

static int report(const bench_client *c, const char *what, int r, const sd_bus_error *error) {
        fprintf(stderr, "bench-ipc: %s: %s failed: %s\n", c->label, what,
                error && sd_bus_error_is_set(error) ? error->message : strerror(-r));
        return r;
}

/* ---- ipcbus ---------------------------------------------------------------- */

static int ipcbus_open(bench_client *c, const char *address) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t id;
        int r;

        r = ipcbus_renderer_new(&c->renderer, c->server);
        if (r < 0)
                return report(c, "ipcbus_renderer_new", r, NULL);
        if (c->direct) {
                r = ipcbus_renderer_open_direct(c->renderer, c->direct_fd);
                c->direct_fd = -1;
        } else
                r = ipcbus_renderer_open_address(c->renderer, address);
        if (r < 0)
                return report(c, "ipcbus_renderer_open", r, NULL);
        /* Waits for the main; a renderer is a webContents, known by id. */
        r = ipcbus_renderer_attach_sync(c->renderer, "bench", &error, &id);
        if (r < 0)
                return report(c, "ipcbus_renderer_attach_sync", r, &error);
        return 0;
}

static GVariant *ipcbus_args_of(bench_client *c, const char *payload) {
        if (c->args_payload != payload) {
                g_clear_pointer(&c->args, g_variant_unref);
                c->args = g_variant_ref_sink(ipcbus_args(g_variant_new_string(payload), NULL));
                c->args_payload = payload;
        }
        return c->args;
}

static int ipcbus_call(bench_client *c, const char *payload) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) result = NULL, echoed = NULL;
        int r;

        /* Not floating: the call takes a reference of its own. */
        r = ipcbus_renderer_invoke_sync(c->renderer, "echo", ipcbus_args_of(c, payload), 0, &error, &result);
        if (r < 0)
                return report(c, "invoke", r, &error);
        if (!g_variant_is_of_type(result, G_VARIANT_TYPE("av")))
                return -EBADMSG;
        echoed = ipcbus_args_get(result, 0);
        if (!echoed || !g_variant_is_of_type(echoed, G_VARIANT_TYPE_STRING) ||
            strcmp(g_variant_get_string(echoed, NULL), payload) != 0)
                return -EBADMSG;
        return 0;
}

/* Invoke "echo-s": the channel typed C calls, untyped. */
static int ipcbus_call_s(bench_client *c, const char *payload) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) result = NULL;
        int r;

        r = ipcbus_renderer_invoke_sync(c->renderer, "echo-s", ipcbus_args(g_variant_new_string(payload), NULL), 0,
                                        &error, &result);
        if (r < 0)
                return report(c, "invoke", r, &error);
        if (!g_variant_is_of_type(result, G_VARIANT_TYPE_STRING) ||
            strcmp(g_variant_get_string(result, NULL), payload) != 0)
                return -EBADMSG;
        return 0;
}

/* The same through the C ipcbus-codegen made of org.ipcbus.Bench.Channels.xml. */
static int generated_call(bench_client *c, const char *payload) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *echoed = NULL;
        int r;

        r = bench_channels_invoke_echo_s_sync(c->renderer, payload, &error, &echoed);
        if (r < 0)
                return report(c, "typed invoke", r, &error);
        return strcmp(echoed, payload) == 0 ? 0 : -EBADMSG;
}

/* A new GVariant per message, as an application sending what it just made;
 * or the same value as sd-bus takes it, with no GVariant at all. */
static int ipcbus_send(bench_client *c, const char *payload) {
        if (c->sendf)
                return ipcbus_renderer_sendf(c->renderer, "count", "s", payload);
        return ipcbus_renderer_send(c->renderer, "count", ipcbus_args(g_variant_new_string(payload), NULL));
}

static int ipcbus_count(bench_client *c, uint32_t *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) result = NULL;
        int r;

        r = ipcbus_renderer_invoke_sync(c->renderer, "count-get", NULL, 0, &error, &result);
        if (r < 0)
                return report(c, "count-get", r, &error);
        if (!g_variant_is_of_type(result, G_VARIANT_TYPE_UINT32))
                return -EBADMSG;
        *ret = g_variant_get_uint32(result);
        return 0;
}

/* ---- plain sd-bus ---------------------------------------------------------- */

static int plain_call(bench_client *c, const char *payload) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *echoed;
        int r;

        /* Peer to peer there is nobody to route by name. */
        r = sd_bus_message_new_method_call(c->bus, &m, c->direct ? NULL : c->server, c->path,
                                           BENCH_PLAIN_INTERFACE, "Echo");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "sav", "echo", 1, "s", payload);
        if (r < 0)
                return r;
        r = sd_bus_call(c->bus, m, 0, &error, &reply);
        if (r < 0)
                return report(c, "Echo", r, &error);
        /* v holding av holding one v holding s */
        r = sd_bus_message_read(reply, "v", "av", 1, "s", &echoed);
        if (r < 0)
                return r;
        return strcmp(echoed, payload) == 0 ? 0 : -EBADMSG;
}

/* EchoS(s) -> s: on a plain server, or an ipcbus main's typed face. */
static int plain_call_s(bench_client *c, const char *interface, const char *payload) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *echoed;
        int r;

        r = sd_bus_message_new_method_call(c->bus, &m, c->server, c->path, interface, "EchoS");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", payload);
        if (r < 0)
                return r;
        r = sd_bus_call(c->bus, m, 0, &error, &reply);
        if (r < 0)
                return report(c, "EchoS", r, &error);
        r = sd_bus_message_read(reply, "s", &echoed);
        if (r < 0)
                return r;
        return strcmp(echoed, payload) == 0 ? 0 : -EBADMSG;
}

static int plain_send(bench_client *c, const char *payload) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_signal(c->bus, &m, BENCH_PLAIN_CLIENT_PATH, BENCH_PLAIN_SIGNAL_INTERFACE,
                                      "Message");
        if (r < 0)
                return r;
        /* Unicast, as ipcbus's renderer addresses its main; peer to peer, the peer. */
        r = c->direct ? 0 : sd_bus_message_set_destination(m, c->server);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "sav", "count", 1, "s", payload);
        if (r < 0)
                return r;
        return sd_bus_send(c->bus, m, NULL);
}

static int plain_count(bench_client *c, uint32_t *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        /* An ipcbus main, called without ipcbus: its count-get channel. */
        if (c->call == BENCH_CALL_ECHO_S_TYPED) {
                r = sd_bus_call_method(c->bus, c->server, c->path, IPCBUS_INTERFACE_MAIN, "Invoke", &error, &reply,
                                       "sav", "count-get", 0);
                if (r < 0)
                        return report(c, "Invoke count-get", r, &error);
                return sd_bus_message_read(reply, "v", "u", ret);
        }

        r = sd_bus_call_method(c->bus, c->direct ? NULL : c->server, c->path, BENCH_PLAIN_INTERFACE, "Count",
                               &error, &reply, NULL);
        if (r < 0)
                return report(c, "Count", r, &error);
        return sd_bus_message_read(reply, "u", ret);
}

static int plain_open(bench_client *c, const char *address) {
        int r;

        bench_path_from_name(c->server, c->path, sizeof(c->path));
        r = sd_bus_new(&c->bus);
        if (r >= 0 && c->direct) {
                r = sd_bus_set_fd(c->bus, c->direct_fd, c->direct_fd);
                if (r >= 0)
                        c->direct_fd = -1;
        } else if (r >= 0) {
                r = sd_bus_set_address(c->bus, address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(c->bus, 1);
        }
        if (r >= 0)
                r = sd_bus_start(c->bus);
        return r < 0 ? report(c, "connect", r, NULL) : 0;
}

/* ---- GDBus ----------------------------------------------------------------- */

static int gdbus_report(bench_client *c, const char *what, GError *error) {
        fprintf(stderr, "bench: %s: %s failed: %s\n", c->label, what, error ? error->message : "?");
        return -EIO;
}

static int gdbus_open(bench_client *c, const char *address) {
        g_autoptr(GError) error = NULL;

        bench_path_from_name(c->server, c->path, sizeof(c->path));
        c->gdbus = g_dbus_connection_new_for_address_sync(address,
                                                          G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                                  G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                          NULL, NULL, &error);
        return c->gdbus ? 0 : gdbus_report(c, "connect", error);
}

static int gdbus_call(bench_client *c, const char *payload) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL, av = NULL, first = NULL, echoed = NULL;

        reply = g_dbus_connection_call_sync(c->gdbus, c->server, c->path, BENCH_PLAIN_INTERFACE, "Echo",
                                            g_variant_new("(s@av)", "echo",
                                                          ipcbus_args(g_variant_new_string(payload), NULL)),
                                            G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        if (!reply)
                return gdbus_report(c, "Echo", error);
        /* (v holding av holding one v holding s) */
        g_variant_get(reply, "(v)", &av);
        if (!g_variant_is_of_type(av, G_VARIANT_TYPE("av")) || g_variant_n_children(av) != 1)
                return -EBADMSG;
        first = g_variant_get_child_value(av, 0);
        echoed = g_variant_get_variant(first);
        if (!g_variant_is_of_type(echoed, G_VARIANT_TYPE_STRING))
                return -EBADMSG;
        return strcmp(g_variant_get_string(echoed, NULL), payload) == 0 ? 0 : -EBADMSG;
}

static int gdbus_send(bench_client *c, const char *payload) {
        g_autoptr(GError) error = NULL;

        /* Unicast, as the plain client's signal. */
        if (!g_dbus_connection_emit_signal(c->gdbus, c->server, BENCH_PLAIN_CLIENT_PATH,
                                           BENCH_PLAIN_SIGNAL_INTERFACE, "Message",
                                           g_variant_new("(s@av)", "count",
                                                         ipcbus_args(g_variant_new_string(payload), NULL)),
                                           &error))
                return gdbus_report(c, "emit", error);
        return 0;
}

static int gdbus_count(bench_client *c, uint32_t *ret) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;

        reply = g_dbus_connection_call_sync(c->gdbus, c->server, c->path, BENCH_PLAIN_INTERFACE, "Count", NULL,
                                            G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        if (!reply)
                return gdbus_report(c, "Count", error);
        g_variant_get(reply, "(u)", ret);
        return 0;
}

/* ---- raw frames ------------------------------------------------------------ */

static int raw_call(bench_client *c, const char *payload) {
        size_t n = strlen(payload);
        bench_frame h;
        int r;

        r = bench_frame_write(c->direct_fd, 'E', payload, n);
        if (r >= 0)
                r = bench_frame_read_header(c->direct_fd, &h);
        if (r < 0)
                return r;
        if (h.type != 'E' || h.size != n)
                return -EBADMSG;
        if (n > c->raw_buf_size) {
                free(c->raw_buf);
                c->raw_buf = malloc(n);
                if (!c->raw_buf)
                        return -ENOMEM;
                c->raw_buf_size = n;
        }
        r = bench_table_read_all(c->direct_fd, c->raw_buf, n);
        if (r < 0)
                return r;
        /* Compared, as every other client compares its echo. */
        return memcmp(c->raw_buf, payload, n) == 0 ? 0 : -EBADMSG;
}

static int raw_count(bench_client *c, uint32_t *ret) {
        bench_frame h;
        int r;

        r = bench_frame_write(c->direct_fd, 'C', NULL, 0);
        if (r >= 0)
                r = bench_frame_read_header(c->direct_fd, &h);
        if (r >= 0 && (h.type != 'C' || h.size != sizeof(*ret)))
                r = -EBADMSG;
        if (r >= 0)
                r = bench_table_read_all(c->direct_fd, ret, sizeof(*ret));
        return r;
}

/* ---- either ---------------------------------------------------------------- */

int bench_client_open(bench_client *c, const char *address) {
        int64_t n;
        int r;

        if (c->transport == BENCH_TRANSPORT_GDBUS)
                r = gdbus_open(c, address);
        else if (c->transport == BENCH_TRANSPORT_RAW)
                r = 0; /* the socketpair is connected */
        else
                r = c->ipcbus ? ipcbus_open(c, address) : plain_open(c, address);
        if (r < 0)
                return r;
        n = bench_client_sync(c);
        return n < 0 ? (int)n : 0;
}

int bench_client_call(bench_client *c, const char *payload) {
        if (c->transport == BENCH_TRANSPORT_GDBUS)
                return gdbus_call(c, payload);
        if (c->transport == BENCH_TRANSPORT_RAW)
                return raw_call(c, payload);
        switch (c->call) {
        case BENCH_CALL_ECHO:
                return c->ipcbus ? ipcbus_call(c, payload) : plain_call(c, payload);
        case BENCH_CALL_ECHO_S:
                return c->ipcbus ? ipcbus_call_s(c, payload) : plain_call_s(c, BENCH_PLAIN_INTERFACE, payload);
        case BENCH_CALL_ECHO_S_GENERATED:
                return generated_call(c, payload);
        case BENCH_CALL_ECHO_S_TYPED:
                return plain_call_s(c, BENCH_CHANNELS_INTERFACE, payload);
        }
        return -EINVAL;
}

int bench_client_send(bench_client *c, const char *payload) {
        int r;

        if (c->transport == BENCH_TRANSPORT_GDBUS)
                r = gdbus_send(c, payload);
        else if (c->transport == BENCH_TRANSPORT_RAW)
                r = bench_frame_write(c->direct_fd, 'S', payload, strlen(payload));
        else
                r = c->ipcbus ? ipcbus_send(c, payload) : plain_send(c, payload);

        return r < 0 ? report(c, "send", r, NULL) : 0;
}

int64_t bench_client_sync(bench_client *c) {
        uint32_t count, before = c->count;
        int r;

        if (c->transport == BENCH_TRANSPORT_GDBUS)
                r = gdbus_count(c, &count);
        else if (c->transport == BENCH_TRANSPORT_RAW)
                r = raw_count(c, &count);
        else
                r = c->ipcbus ? ipcbus_count(c, &count) : plain_count(c, &count);
        if (r < 0)
                return r;
        c->count = count;
        return (int64_t)(uint32_t)(count - before);
}

static void bench_cpu_clear(bench_cpu *cpu) {
        bench_samples_clear(&cpu->client);
        bench_samples_clear(&cpu->bus);
        bench_samples_clear(&cpu->server);
}

void bench_client_forget_payload(bench_client *c) {
        g_clear_pointer(&c->args, g_variant_unref);
        c->args_payload = NULL;
}

void bench_client_close(bench_client *c) {
        c->renderer = ipcbus_renderer_unref(c->renderer);
        g_clear_pointer(&c->args, g_variant_unref);
        c->args_payload = NULL;
        c->bus = sd_bus_flush_close_unref(c->bus);
        if (c->gdbus) {
                (void)g_dbus_connection_close_sync(c->gdbus, NULL, NULL);
                g_clear_object(&c->gdbus);
        }
        if (c->transport == BENCH_TRANSPORT_RAW && c->direct_fd >= 0)
                (void)close(c->direct_fd);
        c->direct_fd = -1;
        free(c->raw_buf);
        c->raw_buf = NULL;
        c->raw_buf_size = 0;
        bench_samples_clear(&c->latency);
        bench_samples_clear(&c->round_latency);
        bench_samples_clear(&c->rate);
        bench_samples_clear(&c->paired_latency);
        bench_samples_clear(&c->paired_rate);
        bench_samples_clear(&c->paired_rate_sendf);
        bench_cpu_clear(&c->call_cpu);
        bench_cpu_clear(&c->send_cpu);
}
