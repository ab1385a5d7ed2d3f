/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <ipcbus/ipcbus.h>

#include "test-main.h"
#include "test-process.h"
#include "value-large.h"
#include "value-ring.h"

/*
 * Channels:
 *   echo (handle)            returns its arguments as one "av" value
 *   async-echo (handle)      (delay_ms, value): answers value after delay_ms; a
 *                            negative delay holds the answer until release-held
 *   release-held (on)        answers every held async-echo, oldest first
 *   fail (handle)            rejects with no error name: HandlerFailed "boom"
 *   fail-named (handle)      rejects with com.example.Error.Custom "custom"
 *   fail-errno (handle)      returns -EPERM without answering
 *   fail-kind (handle)       (kind, message): rejects with
 *                            ipcbus_invocation_return_error_kind(); a kind that
 *                            is not a string is NULL
 *   reject (handle)          (name, message): rejects with that error name
 *   undefined (handle)       returns without answering: undefined
 *   drop (handle)            keeps the invocation, drops it later unanswered
 *   once (handleOnce)        returns "first"
 *   remove-me (handle)       returns "here"; removed by a message on remove-handler
 *   sync-ping (on, on)       first listener sets "pong", the second "second"
 *   sync-none (on)           sets nothing
 *   sync-fail (on)           fails (-EPERM) and sets nothing
 *   sync-die (on)            the main exits at once (sendSync to a dead main)
 *   reply (on)               event reply on reply-back with the same args
 *   sender-send (on)         sender.send on sender-back
 *   sender-sendf (on)        (text): ipcbus_web_contents_sendf() on sender-back of
 *                            "sua{sv}": text, 7, {"k": <"v">}
 *   reply-f (on)             (text): the same with ipcbus_event_replyf() on reply-back
 *   broadcast-f (on)         (text): the same with ipcbus_main_broadcastf() on bcast
 *   read (on_event)          (text, u, x, d, b): ipcbus_event_read() of "suxdb", sent
 *                            back with ipcbus_event_replyf() on read-back
 *   read-any (on_event)      (text, dict, anything): read as "s@a{sv}v", sent back
 *                            as they are on read-back
 *   read-wrong (on_event)    answers read-back with "iit": what reading "u" and
 *                            "s@a{sv}" returned, and ipcbus_event_count_args()
 *   read-late (on_event, on) (text): reads "s", then takes the GVariant
 *                            (ipcbus_event_get_args()) and answers read-back
 *                            with the text read first and the GVariant's
 *                            first argument; then a GVariant listener
 *                            answers read-back with its own args
 *   broadcast (on)           broadcasts bcast with the same args
 *   to-name (on)             (name, value): sends direct=value to the renderer named name
 *   order (on, handle, on-sync) records arg0 (int32); order-get (handle) returns them as "ai"
 *   call-renderer (handle)   (name, channel, timeout_ms, value): invokes the renderer's
 *                            handler and answers its result, or rejects with its error name
 *   ids (handle)             returns "a(ts)" of attached renderers
 *   sender-name (handle)     the caller's unique bus name
 *   port-echo (on)           creates a MessageChannel, posts port1 to the sender on
 *                            port-echo-port after queueing "q1", "q2" on port2, and
 *                            echoes everything that arrives on port2; prints
 *                            "port-closed" when port1's holder closes it
 *   port-pair (on)           (name): a MessageChannel, port1 to the sender and
 *                            port2 to the renderer called name, both on "paired"
 *   port-back (on)           a PostMessage carrying a port: posts "hello from main"
 *                            on it and prints "got-port N" (N ports arrived)
 *   count (on)               counts; count-get (handle) returns the count
 *   sync-echo (on)           sets its arguments ("av") as the return value
 *   large-counts (handle)    "(tt)": values this process sent and received out
 *                            of band (ipcbus_value_get_large_counts())
 *   ref-counts (handle)      "at", 4: of those, sent and received in a ring
 *                            named by reference; and the rings this process
 *                            keeps for peers that name them, and their bytes
 */

static ipcbus_main *the_main;
static GArray *order_seen;
static uint32_t counted;
static GList *kept_ports;


static int h_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, args);
}

typedef struct delayed {
        ipcbus_invocation *inv;
        GVariant *value;
} delayed;

/* async-echo calls held until release-held: tests that need one answer
 * after another say when, instead of racing a timer. */
static GQueue held = G_QUEUE_INIT;

static void delayed_answer(delayed *d) {
        (void)ipcbus_invocation_return_value(d->inv, d->value);
        ipcbus_invocation_unref(d->inv);
        g_variant_unref(d->value);
        g_free(d);
}

static int on_delay(sd_event_source *s, uint64_t usec, void *userdata) {
        delayed_answer(userdata);
        return 0;
}

static int on_release_held(ipcbus_event *e, GVariant *args, void *userdata) {
        delayed *d;

        while ((d = g_queue_pop_head(&held)))
                delayed_answer(d);
        return 0;
}

static int h_async_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) delay = ipcbus_args_get(args, 0);
        delayed *d = g_new0(delayed, 1);

        d->inv = ipcbus_invocation_ref(inv);
        d->value = ipcbus_args_get(args, 1);
        if (g_variant_get_int32(delay) < 0) {
                g_queue_push_tail(&held, d);
                return 0;
        }
        return sd_event_add_time_relative(ipcbus_main_get_event(the_main), NULL, CLOCK_MONOTONIC,
                                          (uint64_t)g_variant_get_int32(delay) * 1000, 0, on_delay, d);
}

static int h_fail(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_error(inv, NULL, "boom");
}

static int h_fail_named(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_error(inv, "com.example.Error.Custom", "custom");
}

static int h_fail_errno(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return -EPERM;
}

static int h_fail_kind(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) kind = ipcbus_args_get(args, 0), message = ipcbus_args_get(args, 1);
        const char *k = g_variant_is_of_type(kind, G_VARIANT_TYPE_STRING) ? g_variant_get_string(kind, NULL)
                                                                          : NULL;

        /* A kind D-Bus cannot carry is refused and leaves the call open. */
        if (ipcbus_invocation_return_error_kind(inv, "\xff", "x") != -EINVAL)
                return ipcbus_invocation_return_value(inv, g_variant_new_string("a bad kind was taken"));
        if (ipcbus_invocation_is_completed(inv))
                return 0;
        return ipcbus_invocation_return_error_kind(inv, k, "%s", g_variant_get_string(message, NULL));
}

static int h_reject(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) name = ipcbus_args_get(args, 0), message = ipcbus_args_get(args, 1);

        return ipcbus_invocation_return_error(inv, g_variant_get_string(name, NULL), "%s",
                                              g_variant_get_string(message, NULL));
}

static int h_undefined(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return 0;
}

static int on_drop(sd_event_source *s, uint64_t usec, void *userdata) {
        ipcbus_invocation_unref(userdata);
        return 0;
}

static int h_drop(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return sd_event_add_time_relative(ipcbus_main_get_event(the_main), NULL, CLOCK_MONOTONIC, 1000, 0, on_drop,
                                          ipcbus_invocation_ref(inv));
}

static int h_once(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, g_variant_new_string("first"));
}

static int h_remove_me(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, g_variant_new_string("here"));
}

static int on_remove_handler(ipcbus_event *e, GVariant *args, void *userdata) {
        test_say("removed %d", ipcbus_main_remove_handler(the_main, "remove-me"));
        return 0;
}

static int on_sync_ping(ipcbus_event *e, GVariant *args, void *userdata) {
        return ipcbus_event_set_return_value(e, g_variant_new_string(userdata)) < 0 ? -EIO : 0;
}

static int on_sync_echo(ipcbus_event *e, GVariant *args, void *userdata) {
        return ipcbus_event_set_return_value(e, args) < 0 ? -EIO : 0;
}

/* sendSync "sync-burst" (u n, t size): first n messages "burst" to the
 * sender, the i-th one string of @size bytes of 'A' + i % 26, then a
 * return value of the same size of '#': the sender reads the reply before
 * the messages, which wait in its queue (issue 9: a ring region read late). */
static int on_sync_burst(ipcbus_event *e, GVariant *args, void *userdata) {
        g_autoptr(GVariant) count = ipcbus_args_get(args, 0), size = ipcbus_args_get(args, 1);
        uint32_t n = count ? g_variant_get_uint32(count) : 0;
        uint64_t bytes = size ? g_variant_get_uint64(size) : 0;
        char *s;

        if (bytes > 64 * 1024 * 1024)
                return -EINVAL;
        for (uint32_t i = 0; i < n; i++) {
                s = g_malloc(bytes + 1);
                memset(s, 'A' + (int) (i % 26), bytes);
                s[bytes] = '\0';
                if (ipcbus_web_contents_send(ipcbus_event_get_sender(e), "burst",
                                             ipcbus_args(g_variant_new_take_string(s), NULL)) < 0)
                        return -EIO;
        }
        s = g_malloc(bytes + 1);
        memset(s, '#', bytes);
        s[bytes] = '\0';
        return ipcbus_event_set_return_value(e, g_variant_new_take_string(s)) < 0 ? -EIO : 0;
}

static int h_large_counts(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        uint64_t sent, received;

        ipcbus_value_get_large_counts(&sent, &received);
        return ipcbus_invocation_return_value(inv, g_variant_new("(tt)", sent, received));
}

static int h_ref_counts(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        uint64_t sent, received;
        size_t kept, bytes;

        value_large_ref_counts(&sent, &received);
        value_ring_kept_count(&kept, &bytes);
        const uint64_t v[] = { sent, received, kept, bytes };

        /* Not "(tttt)": to a renderer that names rings, that goes out of band. */
        return ipcbus_invocation_return_value(inv, g_variant_new_fixed_array(G_VARIANT_TYPE_UINT64, v, 4,
                                                                             sizeof(v[0])));
}

static int on_sync_none(ipcbus_event *e, GVariant *args, void *userdata) {
        return 0;
}

static int on_sync_fail(ipcbus_event *e, GVariant *args, void *userdata) {
        return -EPERM;
}

static int on_sync_die(ipcbus_event *e, GVariant *args, void *userdata) {
        _exit(3);
}

static int on_reply(ipcbus_event *e, GVariant *args, void *userdata) {
        return ipcbus_event_reply(e, "reply-back", args);
}

static int on_sender_send(ipcbus_event *e, GVariant *args, void *userdata) {
        return ipcbus_web_contents_send(ipcbus_event_get_sender(e), "sender-back", args);
}

static int on_sender_sendf(ipcbus_event *e, GVariant *args, void *userdata) {
        g_autoptr(GVariant) text = ipcbus_args_get(args, 0);

        if (!text || !g_variant_is_of_type(text, G_VARIANT_TYPE_STRING))
                return -EINVAL;
        return ipcbus_web_contents_sendf(ipcbus_event_get_sender(e), "sender-back", "sua{sv}",
                                         g_variant_get_string(text, NULL), 7, 1, "k", "s", "v");
}

static int on_reply_f(ipcbus_event *e, GVariant *args, void *userdata) {
        g_autoptr(GVariant) text = ipcbus_args_get(args, 0);

        if (!text || !g_variant_is_of_type(text, G_VARIANT_TYPE_STRING))
                return -EINVAL;
        return ipcbus_event_replyf(e, "reply-back", "sua{sv}", g_variant_get_string(text, NULL), 7, 1, "k", "s",
                                   "v");
}

static int on_read(ipcbus_event *e, void *userdata) {
        const char *text;
        uint32_t u;
        int64_t x;
        double d;
        int b, r;

        r = ipcbus_event_read(e, "suxdb", &text, &u, &x, &d, &b);
        if (r < 0)
                return r;
        return ipcbus_event_replyf(e, "read-back", "suxdb", text, u, x, d, b);
}

static int on_read_any(ipcbus_event *e, void *userdata) {
        g_autoptr(GVariant) dict = NULL, any = NULL;
        const char *text;
        int r;

        r = ipcbus_event_read(e, "s@a{sv}v", &text, &dict, &any);
        if (r < 0)
                return r;
        return ipcbus_event_reply(e, "read-back", ipcbus_args(g_variant_new_string(text), dict, any, NULL));
}

static int on_read_wrong(ipcbus_event *e, void *userdata) {
        g_autoptr(GVariant) dict = NULL;
        uint32_t u = 0;
        int wrong, twice;

        wrong = ipcbus_event_read(e, "u", &u);
        twice = ipcbus_event_read(e, "s@a{sv}", NULL, &dict);
        return ipcbus_event_replyf(e, "read-back", "iit", wrong, twice, (uint64_t) ipcbus_event_count_args(e));
}

static int on_read_late(ipcbus_event *e, void *userdata) {
        g_autoptr(GVariant) first = NULL;
        const char *text;
        GVariant *args;
        int r;

        r = ipcbus_event_read(e, "s", &text);
        if (r < 0)
                return r;
        /* Made now, from the list as it was read: @text stays where it is. */
        args = ipcbus_event_get_args(e);
        first = ipcbus_args_get(args, 0);
        return ipcbus_event_reply(e, "read-back", ipcbus_args(g_variant_new_string(text), first, NULL));
}

static int on_read_late_variant(ipcbus_event *e, GVariant *args, void *userdata) {
        return ipcbus_event_reply(e, "read-back", args);
}

static int on_broadcast_f(ipcbus_event *e, GVariant *args, void *userdata) {
        g_autoptr(GVariant) text = ipcbus_args_get(args, 0);

        if (!text || !g_variant_is_of_type(text, G_VARIANT_TYPE_STRING))
                return -EINVAL;
        return ipcbus_main_broadcastf(the_main, "bcast", "sua{sv}", g_variant_get_string(text, NULL), 7, 1, "k",
                                      "s", "v");
}

static int on_broadcast(ipcbus_event *e, GVariant *args, void *userdata) {
        return ipcbus_main_broadcast(the_main, "bcast", args);
}

static int on_to_name(ipcbus_event *e, GVariant *args, void *userdata) {
        g_autoptr(GVariant) name = ipcbus_args_get(args, 0), value = ipcbus_args_get(args, 1);
        ipcbus_web_contents *wc = NULL;
        int r;

        r = ipcbus_main_find_web_contents(the_main, g_variant_get_string(name, NULL), &wc);
        if (r < 0)
                return r;
        r = ipcbus_web_contents_send(wc, "direct", ipcbus_args(value, NULL));
        ipcbus_web_contents_unref(wc);
        return r;
}

static void record_order(GVariant *args) {
        g_autoptr(GVariant) v = ipcbus_args_get(args, 0);
        int32_t i = v && g_variant_is_of_type(v, G_VARIANT_TYPE_INT32) ? g_variant_get_int32(v) : -1;

        g_array_append_val(order_seen, i);
}

static int on_order(ipcbus_event *e, GVariant *args, void *userdata) {
        record_order(args);
        if (ipcbus_event_is_sync(e))
                (void)ipcbus_event_set_return_value(e, g_variant_new_boolean(true));
        return 0;
}

static int h_order(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        record_order(args);
        return ipcbus_invocation_return_value(inv, g_variant_new_boolean(true));
}

static int h_order_get(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(
                inv, g_variant_new_fixed_array(G_VARIANT_TYPE_INT32, order_seen->data, order_seen->len, 4));
}

static int on_renderer_answer(GVariant *result, const sd_bus_error *error, void *userdata) {
        ipcbus_invocation *inv = userdata;

        if (error)
                (void)ipcbus_invocation_return_error(inv, error->name, "%s", error->message);
        else
                (void)ipcbus_invocation_return_value(inv, result);
        ipcbus_invocation_unref(inv);
        return 0;
}

static int h_call_renderer(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) name = ipcbus_args_get(args, 0), channel = ipcbus_args_get(args, 1),
                            timeout = ipcbus_args_get(args, 2), value = ipcbus_args_get(args, 3);
        ipcbus_web_contents *wc = NULL;
        int r;

        r = ipcbus_main_find_web_contents(the_main, g_variant_get_string(name, NULL), &wc);
        if (r < 0)
                return ipcbus_invocation_return_error(inv, "org.ipcbus.Test.NoSuchRenderer", "no renderer");
        r = ipcbus_web_contents_invoke(wc, NULL, g_variant_get_string(channel, NULL),
                                       ipcbus_args(value, NULL),
                                       (uint64_t)g_variant_get_int32(timeout) * 1000, on_renderer_answer,
                                       ipcbus_invocation_ref(inv));
        ipcbus_web_contents_unref(wc);
        if (r < 0)
                ipcbus_invocation_unref(inv);
        return r;
}

static int h_ids(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        GVariantBuilder b;
        ipcbus_web_contents **all = NULL;
        int n;

        n = ipcbus_main_get_all_web_contents(the_main, &all);
        if (n < 0)
                return n;
        g_variant_builder_init(&b, G_VARIANT_TYPE("a(ts)"));
        for (int i = 0; i < n; i++) {
                const char *name = ipcbus_web_contents_get_name(all[i]);

                g_variant_builder_add(&b, "(ts)", ipcbus_web_contents_get_id(all[i]), name ? name : "");
        }
        ipcbus_web_contents_array_free(all);
        return ipcbus_invocation_return_value(inv, g_variant_builder_end(&b));
}

static int h_sender_name(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        const char *name = ipcbus_invocation_get_sender_bus_name(inv);

        /* A direct connection has no bus names. */
        return ipcbus_invocation_return_value(inv, g_variant_new_string(name ? name : ""));
}

static int on_port_echo_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n_ports,
                                void *userdata) {
        return ipcbus_port_post_message(port, data, ports, n_ports);
}

static void on_port_echo_close(ipcbus_port *port, void *userdata) {
        test_say("port-closed");
        ipcbus_port_unref(port);
}

static int on_port_echo(ipcbus_event *e, GVariant *args, void *userdata) {
        ipcbus_port *p1 = NULL, *p2 = NULL;
        int r;

        r = ipcbus_message_channel_new(ipcbus_main_get_event(the_main), &p1, &p2);
        if (r < 0)
                return r;
        /* Posted before the renderer even has its end: they wait. */
        (void)ipcbus_port_post_message(p2, g_variant_new_string("q1"), NULL, 0);
        (void)ipcbus_port_post_message(p2, g_variant_new_string("q2"), NULL, 0);
        (void)ipcbus_port_on_message(p2, NULL, on_port_echo_message, NULL);
        (void)ipcbus_port_on_close(p2, NULL, on_port_echo_close, NULL);
        (void)ipcbus_port_start(p2);
        /* p2's reference now belongs to its close callback. */
        r = ipcbus_web_contents_post_message(ipcbus_event_get_sender(e), "port-echo-port", NULL, &p1, 1);
        ipcbus_port_unref(p1);
        return r;
}

static int on_port_pair(ipcbus_event *e, GVariant *args, void *userdata) {
        g_autoptr(GVariant) name = ipcbus_args_get(args, 0);
        ipcbus_web_contents *other = NULL;
        ipcbus_port *p1 = NULL, *p2 = NULL;
        int r;

        r = ipcbus_main_find_web_contents(the_main, g_variant_get_string(name, NULL), &other);
        if (r < 0)
                return r;
        r = ipcbus_message_channel_new(ipcbus_main_get_event(the_main), &p1, &p2);
        if (r >= 0)
                r = ipcbus_web_contents_post_message(ipcbus_event_get_sender(e), "paired", NULL, &p1, 1);
        if (r >= 0)
                r = ipcbus_web_contents_post_message(other, "paired", NULL, &p2, 1);
        ipcbus_port_unref(p1);
        ipcbus_port_unref(p2);
        ipcbus_web_contents_unref(other);
        return r;
}

static int on_port_back(ipcbus_event *e, GVariant *args, void *userdata) {
        size_t n = 0;
        ipcbus_port **ports = ipcbus_event_get_ports(e, &n);

        test_say("got-port %zu", n);
        if (n < 1)
                return -EINVAL;
        return ipcbus_port_post_message(ports[0], g_variant_new_string("hello from main"), NULL, 0);
}

static int on_count(ipcbus_event *e, GVariant *args, void *userdata) {
        counted++;
        return 0;
}

static int h_count_get(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, g_variant_new_uint32(counted));
}

static void port_free(void *port) {
        ipcbus_port_unref(port);
}

static void on_attached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        const char *name = ipcbus_web_contents_get_name(wc);

        test_say("attached %" PRIu64 " %s", ipcbus_web_contents_get_id(wc), name ? name : "-");
        /* A direct renderer gets a port at once, before it said anything:
         * the fds must not ride along with the handshake's answer. */
        if (!ipcbus_web_contents_get_bus_name(wc)) {
                ipcbus_port *p1 = NULL, *p2 = NULL;

                if (ipcbus_message_channel_new(ipcbus_main_get_event(the_main), &p1, &p2) >= 0) {
                        (void)ipcbus_port_post_message(p2, g_variant_new_string("over the port"), NULL, 0);
                        (void)ipcbus_web_contents_post_message(wc, "direct-port", g_variant_new_string("welcome"),
                                                               &p1, 1);
                }
                ipcbus_port_unref(p1);
                /* p2 closes with the main; its message is written already. */
                kept_ports = g_list_prepend(kept_ports, p2);
        }
}

static void on_detached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        const char *name = ipcbus_web_contents_get_name(wc);

        test_say("detached %" PRIu64 " %s", ipcbus_web_contents_get_id(wc), name ? name : "-");
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return ipcbus_main_exit(the_main, 0);
}

#define CHECK(expr) TEST_CHILD_CHECK("test main", expr)

int test_main_child(void *userdata) {
        const test_main_config *config = userdata;
        sigset_t mask;
        int r;

        order_seen = g_array_new(FALSE, FALSE, sizeof(int32_t));
        CHECK(ipcbus_main_new(&the_main, TEST_MAIN_NAME));
        if (config->large_value_limit > 0)
                CHECK(ipcbus_main_set_limit(the_main, IPCBUS_LIMIT_LARGE_VALUE_BYTES, config->large_value_limit));
        CHECK(ipcbus_main_handle(the_main, NULL, "echo", h_echo, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "async-echo", h_async_echo, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "release-held", on_release_held, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "fail", h_fail, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "fail-named", h_fail_named, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "fail-errno", h_fail_errno, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "fail-kind", h_fail_kind, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "reject", h_reject, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "undefined", h_undefined, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "drop", h_drop, NULL));
        CHECK(ipcbus_main_handle_once(the_main, NULL, "once", h_once, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "remove-me", h_remove_me, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "remove-handler", on_remove_handler, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "sync-ping", on_sync_ping, (void *)"pong"));
        CHECK(ipcbus_main_on(the_main, NULL, "sync-ping", on_sync_ping, (void *)"second"));
        CHECK(ipcbus_main_on(the_main, NULL, "sync-none", on_sync_none, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "sync-echo", on_sync_echo, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "sync-burst", on_sync_burst, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "large-counts", h_large_counts, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "ref-counts", h_ref_counts, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "sync-fail", on_sync_fail, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "sync-die", on_sync_die, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "reply", on_reply, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "sender-send", on_sender_send, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "sender-sendf", on_sender_sendf, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "reply-f", on_reply_f, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "broadcast-f", on_broadcast_f, NULL));
        CHECK(ipcbus_main_on_event(the_main, NULL, "read", on_read, NULL));
        CHECK(ipcbus_main_on_event(the_main, NULL, "read-any", on_read_any, NULL));
        CHECK(ipcbus_main_on_event(the_main, NULL, "read-wrong", on_read_wrong, NULL));
        CHECK(ipcbus_main_on_event(the_main, NULL, "read-late", on_read_late, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "read-late", on_read_late_variant, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "broadcast", on_broadcast, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "to-name", on_to_name, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "order", on_order, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "order", h_order, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "order-get", h_order_get, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "call-renderer", h_call_renderer, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "ids", h_ids, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "sender-name", h_sender_name, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "port-echo", on_port_echo, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "port-pair", on_port_pair, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "port-back", on_port_back, NULL));
        CHECK(ipcbus_main_on(the_main, NULL, "count", on_count, NULL));
        CHECK(ipcbus_main_handle(the_main, NULL, "count-get", h_count_get, NULL));
        CHECK(ipcbus_main_on_attached(the_main, NULL, on_attached, NULL));
        CHECK(ipcbus_main_on_detached(the_main, NULL, on_detached, NULL));

        if (config->direct_fd >= 0)
                CHECK(ipcbus_main_add_direct(the_main, config->direct_fd, NULL));
        else
                CHECK(ipcbus_main_open_address(the_main, config->address));

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        CHECK(sd_event_add_signal(ipcbus_main_get_event(the_main), NULL, SIGTERM, on_sigterm, NULL));

        test_say("ready");
        r = ipcbus_main_run(the_main);
        the_main = ipcbus_main_unref(the_main);
        g_list_free_full(kept_ports, port_free);
        g_array_unref(order_seen);
        return r < 0 ? 1 : 0;
}
