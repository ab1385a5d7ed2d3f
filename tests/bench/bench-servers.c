/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <ipcbus/ipcbus.h>
#include <systemd/sd-id128.h>

#include "bench-channels.h"
#include "bench-servers.h"
#include "test-process.h"

/* Each server is its own process: one counter each is enough. */
static uint32_t counted;

void bench_path_from_name(const char *name, char *buf, size_t size) {
        snprintf(buf, size, "/%s", name);
        for (char *p = buf; *p; p++)
                if (*p == '.')
                        *p = '/';
}

static void ready(void) {
        printf("ready\n");
        fflush(stdout);
}

#define CHECK(what, expr) \
        do { \
                int _r = (expr); \
                if (_r < 0) { \
                        fprintf(stderr, "bench %s: %s: %s\n", what, #expr, strerror(-_r)); \
                        return 1; \
                } \
        } while (0)

/* ---- plain sd-bus ---------------------------------------------------------- */

/* Echo(s channel, av args) -> v: the args, as one "av" in the variant. */
static int plain_echo(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *channel;
        int r;

        r = sd_bus_message_read_basic(m, 's', &channel);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'v', "av");
        if (r < 0)
                return r;
        /* The rest of the call is the "av": copied as it is, element by element. */
        r = sd_bus_message_copy(reply, m, true);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        r = sd_bus_send(NULL, reply, NULL);
        return r < 0 ? r : 1;
}

/* EchoS(s text) -> s: what the typed face's EchoS does. */
static int plain_echo_s(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *text;
        int r;

        r = sd_bus_message_read_basic(m, 's', &text);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "s", text);
}

static int plain_count(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "u", counted);
}

/* Signals addressed to us: dispatch on the channel, as a receiver of
 * several channels would, and read the argument, as any receiver that uses
 * its messages does (ipcbus hands every listener its arguments decoded). The
 * bench sends exactly one string argument, so the plain reader may know the
 * types in advance, which ipcbus cannot. */
static int plain_filter(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *channel, *arg;

        if (!sd_bus_message_is_signal(m, BENCH_PLAIN_SIGNAL_INTERFACE, "Message"))
                return 0;
        if (sd_bus_message_read(m, "sav", &channel, 1, "s", &arg) >= 0 && strcmp(channel, "count") == 0 && arg)
                counted++;
        return 1;
}

static const sd_bus_vtable plain_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Echo", SD_BUS_ARGS("s", channel, "av", args), SD_BUS_RESULT("v", result),
                                plain_echo, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("EchoS", SD_BUS_ARGS("s", text), SD_BUS_RESULT("s", same), plain_echo_s,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Count", SD_BUS_NO_ARGS, SD_BUS_RESULT("u", count), plain_count,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static int plain_loop(sd_bus *bus) {
        for (;;) {
                int r = sd_bus_process(bus, NULL);

                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        return r;
        }
}

int bench_plain_server(void *userdata) {
        const bench_server_config *config = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        char path[256];

        bench_path_from_name(config->name, path, sizeof(path));
        CHECK("plain server", sd_bus_new(&bus));
        if (config->direct) {
                sd_id128_t id;

                /* Peer to peer: sd-bus's server side of the handshake, which wants an id. */
                CHECK("plain server", sd_id128_randomize(&id));
                CHECK("plain server", sd_bus_set_fd(bus, config->direct_fd, config->direct_fd));
                CHECK("plain server", sd_bus_set_server(bus, 1, id));
        } else {
                CHECK("plain server", sd_bus_set_address(bus, config->address));
                CHECK("plain server", sd_bus_set_bus_client(bus, 1));
        }
        CHECK("plain server", sd_bus_start(bus));
        CHECK("plain server",
              sd_bus_add_object_vtable(bus, NULL, path, BENCH_PLAIN_INTERFACE, plain_vtable, NULL));
        CHECK("plain server", sd_bus_add_filter(bus, NULL, plain_filter, NULL));
        if (config->use_event) {
                CHECK("plain server", sd_event_default(&event));
                CHECK("plain server", sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL));
        }
        if (!config->direct)
                CHECK("plain server", sd_bus_request_name(bus, config->name, 0));
        ready();
        /* Runs until SIGTERM ends the process. */
        if (event)
                CHECK("plain server", sd_event_loop(event));
        else
                CHECK("plain server", plain_loop(bus));
        return 0;
}

/* ---- ipcbus ---------------------------------------------------------------- */

static int h_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, args);
}

/* echo-s, untyped: the one argument back, whatever it is. */
static int h_echo_s(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) text = ipcbus_args_get(args, 0);

        /* Not floating: the invocation takes a reference of its own. */
        return ipcbus_invocation_return_value(inv, text);
}

/* echo-s, typed: the generated trampoline checked and unpacked it. */
static int h_echo_s_typed(ipcbus_invocation *inv, const char *text, void *userdata) {
        return bench_channels_complete_echo_s(inv, text);
}

static int on_count(ipcbus_event *e, GVariant *args, void *userdata) {
        counted++;
        return 0;
}

/* The sd-bus-style receiver, the twin of ipcbus_renderer_sendf(): reads
 * the string as the plain server does. */
static int on_count_read(ipcbus_event *e, void *userdata) {
        const char *arg;

        if (ipcbus_event_read(e, "s", &arg) >= 0 && arg)
                counted++;
        return 0;
}

static int h_count_get(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, g_variant_new_uint32(counted));
}

/* What an application's central check typically does: the sender's
 * kernel identity (asked once per peer, cached) against its own. */
static int check_same_uid(ipcbus_main *m, ipcbus_web_contents *sender, ipcbus_op op, const char *channel,
                          void *userdata) {
        const uid_t *mine = userdata;
        uid_t uid;

        return ipcbus_web_contents_get_uid(sender, &uid) >= 0 && uid == *mine ? 0 : -EPERM;
}

static int install_gate(ipcbus_main *m) {
        _cleanup_(ipcbus_policy_unrefp) ipcbus_policy *p = NULL;
        static const char *const channels[] = { "echo", "echo-s", "count", "count-get" };
        int r;

        static uid_t mine;

        /* Asked once: a getuid() per message would be the check's cost, not ipcbus's. */
        mine = getuid();
        r = ipcbus_main_set_sender_check(m, check_same_uid, &mine);
        if (r >= 0)
                r = ipcbus_policy_new(&p);
        for (size_t i = 0; r >= 0 && i < G_N_ELEMENTS(channels); i++)
                r = ipcbus_policy_allow(p, IPCBUS_OP_CHANNELS, channels[i]);
        if (r >= 0)
                r = ipcbus_main_set_unattached_policy(m, p);
        if (r >= 0)
                r = ipcbus_main_set_renderer_policy(m, p);
        return r;
}

int bench_ipcbus_main(void *userdata) {
        const bench_server_config *config = userdata;
        _cleanup_(ipcbus_main_unrefp) ipcbus_main *m = NULL;

        CHECK("ipcbus main", ipcbus_main_new(&m, config->name));
        if (config->gate)
                CHECK("ipcbus main", install_gate(m));
        CHECK("ipcbus main", ipcbus_main_handle(m, NULL, "echo", h_echo, NULL));
        if (config->typed) {
                CHECK("ipcbus main", bench_channels_declare(m, NULL));
                CHECK("ipcbus main", bench_channels_handle_echo_s(m, NULL, h_echo_s_typed, NULL));
        } else
                CHECK("ipcbus main", ipcbus_main_handle(m, NULL, "echo-s", h_echo_s, NULL));
        if (config->reads)
                CHECK("ipcbus main", ipcbus_main_on_event(m, NULL, "count", on_count_read, NULL));
        else
                CHECK("ipcbus main", ipcbus_main_on(m, NULL, "count", on_count, NULL));
        CHECK("ipcbus main", ipcbus_main_handle(m, NULL, "count-get", h_count_get, NULL));
        if (config->direct) {
                CHECK("ipcbus main", ipcbus_main_attach_event(m, NULL, 0));
                CHECK("ipcbus main", ipcbus_main_add_direct(m, config->direct_fd, NULL));
        } else
                CHECK("ipcbus main", ipcbus_main_open_address(m, config->address));
        ready();
        /* Runs until SIGTERM ends the process. */
        CHECK("ipcbus main", ipcbus_main_run(m));
        return 0;
}
