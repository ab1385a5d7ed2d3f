/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ipcbus/ipcbus.h>

#include "test-process.h"
#include "trust-main.h"

static ipcbus_main *the_main;
static const trust_main_config *cfg;
static GQueue held = G_QUEUE_INIT;
static uint32_t counted;
static ipcbus_policy *guest_policy;


static GPtrArray *logged;

static void on_log(int priority, const char *message, void *userdata) {
        g_ptr_array_add(logged, g_strdup(message));
        test_say("log: %s", message);
}

/* (text): how many log lines so far contain text. */
static int h_log_count(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) text = ipcbus_args_get(args, 0);
        uint32_t n = 0;

        if (!text || !g_variant_is_of_type(text, G_VARIANT_TYPE_STRING))
                return -EINVAL;
        for (unsigned i = 0; i < logged->len; i++)
                n += strstr(logged->pdata[i], g_variant_get_string(text, NULL)) != NULL;
        return ipcbus_invocation_return_value(inv, g_variant_new_uint32(n));
}

/* Wait for the forger's byte: its forged reply is on the wire by then. */
static void wait_for_forger(void) {
        struct pollfd p = { .fd = cfg->slow_fd, .events = POLLIN };
        char b;

        if (cfg->slow_fd >= 0 && poll(&p, 1, 30000) > 0)
                (void)!read(cfg->slow_fd, &b, 1);
}

static int check_sender(ipcbus_main *m, ipcbus_web_contents *sender, ipcbus_op op, const char *channel,
                        void *userdata) {
        if (channel && g_str_has_prefix(channel, "slow"))
                wait_for_forger();
        if (channel && strcmp(channel, "forbidden-by-hook") == 0)
                return -EPERM;
        return 0;
}

static int h_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, args);
}

static int h_real(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, g_variant_new_string("real"));
}

/* Sends "poked" to the caller, then answers: the message arrives while
 * the caller is still blocked in its call. */
static int h_poke_then_answer(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        int r = ipcbus_web_contents_send(ipcbus_invocation_get_sender(inv), "poked", NULL);

        if (r < 0)
                return r;
        return ipcbus_invocation_return_value(inv, g_variant_new_string("real"));
}

static int on_slow_sync(ipcbus_event *e, GVariant *args, void *userdata) {
        return ipcbus_event_set_return_value(e, g_variant_new_string("real"));
}

static int h_whoami(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        ipcbus_web_contents *wc = ipcbus_invocation_get_sender(inv);
        GVariantBuilder b;
        pid_t pid;
        uid_t uid;
        gid_t gid;
        int r;

        r = ipcbus_web_contents_get_pid(wc, &pid);
        if (r >= 0)
                r = ipcbus_web_contents_get_uid(wc, &uid);
        if (r >= 0)
                r = ipcbus_web_contents_get_gid(wc, &gid);
        if (r < 0)
                return r;
        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", "pid", g_variant_new_uint32((uint32_t)pid));
        g_variant_builder_add(&b, "{sv}", "uid", g_variant_new_uint32(uid));
        g_variant_builder_add(&b, "{sv}", "gid", g_variant_new_uint32(gid));
        g_variant_builder_add(&b, "{sv}", "id", g_variant_new_uint64(ipcbus_web_contents_get_id(wc)));
        g_variant_builder_add(&b, "{sv}", "pidfd",
                              g_variant_new_boolean(ipcbus_web_contents_get_pidfd(wc) >= 0));
        return ipcbus_invocation_return_value(inv, g_variant_builder_end(&b));
}

static int h_held(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_queue_push_tail(&held, ipcbus_invocation_ref(inv));
        return 0;
}

static int on_release(ipcbus_event *e, GVariant *args, void *userdata) {
        ipcbus_invocation *inv;

        while ((inv = g_queue_pop_head(&held))) {
                (void)ipcbus_invocation_return_value(inv, g_variant_new_string("real"));
                ipcbus_invocation_unref(inv);
        }
        return 0;
}

static int on_poke(ipcbus_event *e, GVariant *args, void *userdata) {
        return ipcbus_web_contents_send(ipcbus_event_get_sender(e), "poked", NULL);
}

static int h_admin_only(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, g_variant_new_string("admin"));
}

static int h_counters(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        static const char *const names[] = { "calls-denied", "signals-dropped", "replies-dropped",
                                             "limits-exceeded" };
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a{st}"));
        for (unsigned i = 0; i < G_N_ELEMENTS(names); i++) {
                uint64_t n = 0;

                (void)ipcbus_main_get_counter(the_main, (ipcbus_counter)i, &n);
                g_variant_builder_add(&b, "{st}", names[i], n);
        }
        return ipcbus_invocation_return_value(inv, g_variant_builder_end(&b));
}

static int on_count(ipcbus_event *e, GVariant *args, void *userdata) {
        counted++;
        return 0;
}

static int h_count_get(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, g_variant_new_uint32(counted));
}

static int on_renderer_answer(GVariant *result, const sd_bus_error *error, void *userdata) {
        ipcbus_invocation *inv = userdata;

        if (error)
                (void)ipcbus_invocation_return_value(inv, g_variant_new_printf("error %s", error->name));
        else
                (void)ipcbus_invocation_return_value(inv, result);
        ipcbus_invocation_unref(inv);
        return 0;
}

static int h_call_renderer(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) channel = ipcbus_args_get(args, 0);

        if (!channel || !g_variant_is_of_type(channel, G_VARIANT_TYPE_STRING))
                return -EINVAL;
        return ipcbus_web_contents_invoke(ipcbus_invocation_get_sender(inv), NULL,
                                          g_variant_get_string(channel, NULL), NULL, 10 * 1000 * 1000,
                                          on_renderer_answer, ipcbus_invocation_ref(inv));
}

static void on_attached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        const char *name = ipcbus_web_contents_get_name(wc);

        /* Narrowing on a name the renderer chose is the main's call to make;
         * widening never happens through a name. */
        if (name && strcmp(name, "guest") == 0)
                (void)ipcbus_web_contents_set_policy(wc, guest_policy);
        test_say("attached %" PRIu64 " %s", ipcbus_web_contents_get_id(wc), name ? name : "-");
}

static void on_detached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        test_say("detached %" PRIu64, ipcbus_web_contents_get_id(wc));
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return ipcbus_main_exit(the_main, 0);
}

#define CHECK(expr) TEST_CHILD_CHECK("trust main", expr)

static const char *const renderer_channels[] = {
        "echo", "whoami", "held", "release", "counters", "count", "count-get", "call-renderer",
        "forbidden-by-hook", "slow-invoke", "slow-sync", "poke", "log-count",
        "slowerr-invoke", "poke-then-answer",
};

int trust_main_child(void *userdata) {
        g_autoptr(ipcbus_policy) renderers = NULL, admin = NULL, unattached = NULL;
        sigset_t mask;
        int r;

        cfg = userdata;
        logged = g_ptr_array_new_with_free_func(g_free);
        CHECK(ipcbus_main_new(&the_main, TRUST_MAIN_NAME));
        ipcbus_main_set_log_function(the_main, on_log, NULL);
        CHECK(ipcbus_main_handle(the_main, NULL, "echo", h_echo, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "whoami", h_whoami, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "held", h_held, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "release", on_release, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "poke", on_poke, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "admin-only", h_admin_only, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "counters", h_counters, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "log-count", h_log_count, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "count", on_count, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "count-get", h_count_get, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "call-renderer", h_call_renderer, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "forbidden-by-hook", h_echo, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "forbidden-by-hook", on_count, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "slow-invoke", h_real, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "slowerr-invoke", h_real, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "poke-then-answer", h_poke_then_answer, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "slow-sync", on_slow_sync, NULL));
        CHECK(ipcbus_main_on_attached(the_main, NULL, on_attached, NULL));
        CHECK(ipcbus_main_on_detached(the_main, NULL, on_detached, NULL));
        CHECK(ipcbus_main_set_sender_check(the_main, check_sender, NULL));

        /* Attached renderers: the test channels, not admin-only. */
        CHECK(ipcbus_policy_new(&renderers));
        for (unsigned i = 0; i < G_N_ELEMENTS(renderer_channels); i++)
                CHECK(ipcbus_policy_allow(renderers, IPCBUS_OP_CHANNELS, renderer_channels[i]));
        CHECK(ipcbus_main_set_renderer_policy(the_main, renderers));
        /* The class the main gives its own direct renderer: everything. */
        CHECK(ipcbus_policy_new(&admin));
        CHECK(ipcbus_policy_allow(admin, IPCBUS_OP_CHANNELS, NULL));
        CHECK(ipcbus_main_set_class_policy(the_main, "admin", admin));
        /* busctl and friends: a read-only face. */
        CHECK(ipcbus_policy_new(&unattached));
        CHECK(ipcbus_policy_allow(unattached, IPCBUS_OP_INVOKE, "echo"));
        CHECK(ipcbus_policy_allow(unattached, IPCBUS_OP_INVOKE, "whoami"));
        CHECK(ipcbus_policy_allow(unattached, IPCBUS_OP_INVOKE, "counters"));
        CHECK(ipcbus_policy_allow(unattached, IPCBUS_OP_INVOKE | IPCBUS_OP_SEND_SYNC, "slow-invoke"));
        CHECK(ipcbus_policy_allow(unattached, IPCBUS_OP_SEND_SYNC, "slow-sync"));
        CHECK(ipcbus_main_set_unattached_policy(the_main, unattached));
        CHECK(ipcbus_policy_new(&guest_policy));
        CHECK(ipcbus_policy_allow(guest_policy, IPCBUS_OP_INVOKE, "echo"));
        CHECK(ipcbus_policy_allow(guest_policy, IPCBUS_OP_MESSAGE, "count"));
        if (cfg->calls_per_peer)
                CHECK(ipcbus_main_set_limit(the_main, IPCBUS_LIMIT_CALLS_PER_PEER, cfg->calls_per_peer));
        if (cfg->peers_per_connection)
                CHECK(ipcbus_main_set_limit(the_main, IPCBUS_LIMIT_PEERS_PER_CONNECTION,
                                            cfg->peers_per_connection));

        CHECK(ipcbus_main_open_address(the_main, cfg->address));
        if (cfg->direct_fd >= 0) {
                g_autoptr(ipcbus_web_contents) wc = NULL;

                CHECK(ipcbus_main_add_direct(the_main, cfg->direct_fd, &wc));
                CHECK(ipcbus_web_contents_set_class(wc, "admin"));
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        CHECK(sd_event_add_signal(ipcbus_main_get_event(the_main), NULL, SIGTERM, on_sigterm, NULL));

        test_say("ready");
        r = ipcbus_main_run(the_main);
        on_release(NULL, NULL, NULL);
        the_main = ipcbus_main_unref(the_main);
        guest_policy = ipcbus_policy_unref(guest_policy);
        g_ptr_array_unref(logged);
        return r < 0 ? 1 : 0;
}

/* ---- the forger ------------------------------------------------------------ */

static const forger_config *fcfg;

/* Answer @call as if we were its callee. */
static int forge(sd_bus_message *call, const char *what) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus *bus = sd_bus_message_get_bus(call);
        bool to_renderer = sd_bus_message_is_method_call(call, IPCBUS_INTERFACE_RENDERER, NULL);
        int r;

        if (g_str_has_prefix(what, "slowerr")) {
                r = sd_bus_message_new_method_errorf(call, &reply, "org.example.Forged", "forged by %s", what);
                if (r < 0)
                        return r;
        } else
                r = sd_bus_message_new_method_return(call, &reply);
        if (r < 0)
                return r;
        if (g_str_has_prefix(what, "slowerr"))
                ;
        else if (sd_bus_message_is_method_call(call, NULL, "Attach"))
                r = sd_bus_message_append(reply, "t", UINT64_C(999));
        else
                r = sd_bus_message_append(reply, "v", "s", "SPOOFED");
        if (r < 0)
                return r;
        r = sd_bus_send(bus, reply, NULL);
        if (r < 0)
                return r;
        /* A round trip to the bus: once it answers, the forgery sits in
         * the destination's queue at the bus, before any real answer. */
        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId",
                               NULL, NULL, NULL);
        if (r < 0)
                return r;
        test_say("forged %s %s", sd_bus_message_get_member(call), what);
        (void)!write(to_renderer ? fcfg->test_fd : fcfg->main_fd, "x", 1);
        return 0;
}

/* The channel of an Invoke or SendSync, or the name of an Attach. */
static const char *call_subject(sd_bus_message *m) {
        const char *s = NULL, *key;

        if (!sd_bus_message_is_method_call(m, NULL, "Attach")) {
                return sd_bus_message_read_basic(m, 's', &s) > 0 ? s : NULL;
        }
        if (sd_bus_message_enter_container(m, 'a', "{sv}") <= 0)
                return NULL;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read_basic(m, 's', &key) <= 0)
                        return NULL;
                if (strcmp(key, "name") == 0) {
                        if (sd_bus_message_read(m, "v", "s", &s) < 0)
                                return NULL;
                } else if (sd_bus_message_skip(m, "v") < 0)
                        return NULL;
                if (sd_bus_message_exit_container(m) < 0)
                        return NULL;
        }
        return s;
}

static int on_eavesdropped(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *subject;

        if (!sd_bus_message_is_method_call(m, IPCBUS_INTERFACE_MAIN, NULL) &&
            !sd_bus_message_is_method_call(m, IPCBUS_INTERFACE_RENDERER, NULL))
                return 0;
        subject = call_subject(m);
        if (subject && g_str_has_prefix(subject, "slow"))
                (void)forge(m, subject);
        /* Handled: sd-bus must not answer a call that was not ours. */
        return 1;
}

int forger_child(void *userdata) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        fcfg = userdata;
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, fcfg->address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        /* sd-bus does not parse eavesdrop rules: ask the bus directly, and
         * see what arrives in a filter. */
        if (r >= 0)
                r = sd_bus_add_filter(bus, NULL, on_eavesdropped, NULL);
        if (r >= 0)
                r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "AddMatch", NULL, NULL, "s",
                                       "eavesdrop='true',type='method_call',interface='" IPCBUS_INTERFACE_MAIN "'");
        if (r >= 0)
                r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "AddMatch", NULL, NULL, "s",
                                       "eavesdrop='true',type='method_call',interface='" IPCBUS_INTERFACE_RENDERER
                                       "'");
        if (r < 0) {
                fprintf(stderr, "forger: %s\n", g_strerror(-r));
                return 1;
        }
        test_say("forger ready");
        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return 1;
                if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
                        return 1;
        }
}
