/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* send/on, reply routing, sender.send, broadcast, renderer-to-renderer
 * through the main, attach/detach, and main-to-renderer invoke. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

static int setup(void **state) {
        harness *h = g_new0(harness, 1);

        harness_start(h);
        *state = h;
        return 0;
}

static int teardown(void **state) {
        harness_stop(*state);
        g_free(*state);
        return 0;
}

static void test_reply_routes_to_sender(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *win1 = harness_renderer(h, "win1");
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *win2 = harness_renderer(h, "win2");
        inbox in1 = {}, in2 = {}, back2 = {};

        assert_int_equal(ipcbus_renderer_on(win1, NULL, "reply-back", inbox_listener, &in1), 0);
        assert_int_equal(ipcbus_renderer_on(win2, NULL, "reply-back", inbox_listener, &in2), 0);
        assert_int_equal(ipcbus_renderer_on(win2, NULL, "sender-back", inbox_listener, &back2), 0);

        assert_int_equal(ipcbus_renderer_send(win2, "reply", ipcbus_args(g_variant_new_string("to-2"), NULL)), 0);
        assert_int_equal(ipcbus_renderer_send(win1, "reply", ipcbus_args(g_variant_new_string("to-1"), NULL)), 0);
        assert_int_equal(ipcbus_renderer_send(win2, "sender-send", ipcbus_args(g_variant_new_string("s2"), NULL)), 0);
        assert_true(harness_run_until(h, &in1.got, 5000));
        assert_true(harness_run_until(h, &in2.got, 5000));
        assert_true(harness_run_until(h, &back2.got, 5000));
        /* A barrier: anything misrouted would have arrived by now. */
        assert_int_equal(ipcbus_renderer_invoke_sync(win1, "echo", NULL, 0, NULL, NULL), 0);
        assert_int_equal(ipcbus_renderer_invoke_sync(win2, "echo", NULL, 0, NULL, NULL), 0);
        assert_true(sd_event_run(h->event, 0) >= 0);

        assert_int_equal(in1.n, 1);
        assert_int_equal(in2.n, 1);
        assert_string_equal(arg_string(in1.last, 0), "to-1");
        assert_string_equal(arg_string(in2.last, 0), "to-2");
        assert_string_equal(arg_string(back2.last, 0), "s2");
        inbox_clear(&in1);
        inbox_clear(&in2);
        inbox_clear(&back2);
}

/* Sends on "reply", which the main answers by sending the same arguments
 * back on "reply-back": returns what came back. */
static GVariant *sent_back(harness *h, inbox *in) {
        GVariant *got;

        assert_true(harness_run_until(h, &in->got, 5000));
        in->got = false;
        got = g_variant_ref(in->last);
        return got;
}

/* ipcbus_renderer_sendf(): the main gets what ipcbus_renderer_send() of the
 * same values gives it; what it refuses is not sent. */
static void test_sendf_matches_send(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *win = harness_renderer(h, "win1");
        g_autoptr(GVariant) want = g_variant_ref_sink(g_variant_new_parsed(
                "[<'text'>, <uint32 7>, <[1, 2, 3]>, <{'k': <'v'>, 'n': <2.5>}>, <('Date', <1.5>)>, "
                "<<'boxed'>>, <objectpath '/a/b'>, <true>, <byte 0xff>, <int64 -5>]"));
        g_autoptr(GVariant) by_sendf = NULL, by_send = NULL, empty = NULL;
        inbox in = {};

        assert_int_equal(ipcbus_renderer_on(win, NULL, "reply-back", inbox_listener, &in), 0);

        assert_int_equal(ipcbus_renderer_sendf(win, "reply", "suaia{sv}(sv)vobyx", "text", 7, 3, 1, 2, 3, 2, "k",
                                               "s", "v", "n", "d", 2.5, "Date", "d", 1.5, "s", "boxed", "/a/b", 1,
                                               0xff, (int64_t)-5),
                         0);
        by_sendf = sent_back(h, &in);
        assert_int_equal(ipcbus_renderer_send(win, "reply", want), 0);
        by_send = sent_back(h, &in);
        assert_true(g_variant_equal(by_sendf, want));
        assert_true(g_variant_equal(by_send, want));

        assert_int_equal(ipcbus_renderer_sendf(win, "reply", NULL), 0);
        empty = sent_back(h, &in);
        assert_int_equal(g_variant_n_children(empty), 0);

        /* Refused before anything is sent: a descriptor, bad UTF-8, a
         * type that is not D-Bus's, a bad channel. */
        assert_int_equal(ipcbus_renderer_sendf(win, "reply", "h", 0), -EINVAL);
        assert_int_equal(ipcbus_renderer_sendf(win, "reply", "ss", "ok", "\xff"), -EINVAL);
        assert_int_equal(ipcbus_renderer_sendf(win, "reply", "m"), -EINVAL);
        assert_int_equal(ipcbus_renderer_sendf(win, "", "s", "x"), -EINVAL);
        /* A barrier: a refused send that went out would have come back. */
        assert_int_equal(ipcbus_renderer_invoke_sync(win, "echo", NULL, 0, NULL, NULL), 0);
        assert_true(sd_event_run(h->event, 0) >= 0);
        assert_int_equal(in.n, 3);
        inbox_clear(&in);
}

/* @v equals the GVariant text @text (with @... as g_variant_new_parsed()). */
static bool equal_parsed(GVariant *v, const char *text, ...) {
        g_autoptr(GVariant) want = NULL;
        va_list ap;

        va_start(ap, text);
        want = g_variant_ref_sink(g_variant_new_parsed_va(text, &ap));
        va_end(ap);
        return g_variant_equal(v, want);
}

/* A renderer's listener that reads the event: the broadcast-f list. */
typedef struct read_probe {
        bool got;
        int r;
        char *text;
        uint32_t u;
        GVariant *dict;
        size_t n;
} read_probe;

static int read_probe_listener(ipcbus_event *e, void *userdata) {
        read_probe *p = userdata;
        const char *text = NULL;

        p->got = true;
        p->n = ipcbus_event_count_args(e);
        g_clear_pointer(&p->dict, g_variant_unref);
        p->r = ipcbus_event_read(e, "su@a{sv}", &text, &p->u, &p->dict);
        g_free(p->text);
        p->text = g_strdup(text);
        return p->r;
}

/* Listeners that read the event (ipcbus_main_on_event()): the main reads
 * what sendf() and send() sent alike, as C variables or as GVariants; a
 * wrong read writes nothing and says -ENXIO; a GVariant made after a read
 * keeps the strings read; a listener of the other kind on the same
 * channel gets the list as before. And a renderer's own. */
static void test_event_read(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *win = harness_renderer(h, "win1");
        g_autoptr(GVariant) want = g_variant_ref_sink(
                g_variant_new_parsed("[<'tëxt'>, <uint32 7>, <int64 -5>, <2.5>, <true>]"));
        g_autoptr(GVariant) any = g_variant_ref_sink(
                g_variant_new_parsed("[<'x'>, <{'k': <1>}>, <('null', <''>)>]"));
        g_autoptr(GVariant) got = NULL;
        read_probe probe = {};
        inbox in = {};

        assert_int_equal(ipcbus_renderer_on(win, NULL, "read-back", inbox_listener, &in), 0);

        assert_int_equal(ipcbus_renderer_sendf(win, "read", "suxdb", "tëxt", 7, (int64_t) -5, 2.5, 1), 0);
        got = sent_back(h, &in);
        assert_true(g_variant_equal(got, want));
        g_clear_pointer(&got, g_variant_unref);
        assert_int_equal(ipcbus_renderer_send(win, "read", want), 0);
        got = sent_back(h, &in);
        assert_true(g_variant_equal(got, want));
        g_clear_pointer(&got, g_variant_unref);

        /* Of other types, or too few: the listener fails, nothing comes back. */
        assert_int_equal(ipcbus_renderer_sendf(win, "read", "suxd", "short", 7, (int64_t) -5, 2.5), 0);
        assert_int_equal(ipcbus_renderer_sendf(win, "read", "sixdb", "int", 7, (int64_t) -5, 2.5, 1), 0);

        assert_int_equal(ipcbus_renderer_send(win, "read-any", any), 0);
        got = sent_back(h, &in);
        assert_true(g_variant_equal(got, any));
        g_clear_pointer(&got, g_variant_unref);

        assert_int_equal(ipcbus_renderer_sendf(win, "read-wrong", "sa{sv}", "x", 1, "k", "i", 1), 0);
        got = sent_back(h, &in);
        assert_true(equal_parsed(got, "[<%i>, <0>, <uint64 2>]", -ENXIO));
        g_clear_pointer(&got, g_variant_unref);

        /* Two answers: the event listener's (the text read first, then the
         * GVariant's), then the GVariant listener's. 125 characters, their
         * NUL and the element's two fill the main's first buffer: making
         * the GVariant needs room it reserved when it read the list (under
         * ASan, a moved buffer is a use after free in the main). */
        {
                char late[126];

                memset(late, 'l', sizeof(late) - 1);
                late[sizeof(late) - 1] = '\0';
                assert_int_equal(ipcbus_renderer_sendf(win, "read-late", "s", late), 0);
                got = sent_back(h, &in);
                assert_true(equal_parsed(got, "[<%s>, <%s>]", late, late));
                g_clear_pointer(&got, g_variant_unref);
                got = sent_back(h, &in);
                assert_true(equal_parsed(got, "[<%s>]", late));
                g_clear_pointer(&got, g_variant_unref);
        }

        /* A barrier: the failed reads sent nothing back. */
        assert_int_equal(ipcbus_renderer_invoke_sync(win, "echo", NULL, 0, NULL, NULL), 0);
        assert_true(sd_event_run(h->event, 0) >= 0);
        assert_int_equal(in.n, 6);

        /* The renderer's side, on what the main broadcasts. */
        assert_int_equal(ipcbus_renderer_on_event(win, NULL, "bcast", read_probe_listener, &probe), 0);
        assert_int_equal(ipcbus_renderer_sendf(win, "broadcast-f", "s", "to all"), 0);
        assert_true(harness_run_until(h, &probe.got, 5000));
        assert_int_equal(probe.r, 0);
        assert_int_equal(probe.n, 3);
        assert_string_equal(probe.text, "to all");
        assert_int_equal(probe.u, 7);
        assert_true(equal_parsed(probe.dict, "{'k': <'v'>}"));
        assert_int_equal(ipcbus_renderer_remove_event_listener(win, "bcast", read_probe_listener, &probe), 1);
        assert_int_equal(ipcbus_renderer_remove_event_listener(win, "bcast", read_probe_listener, &probe), 0);
        g_free(probe.text);
        g_clear_pointer(&probe.dict, g_variant_unref);
        inbox_clear(&in);
}

/* A renderer's listener that answers with ipcbus_event_replyf(). */
static int replyf_listener(ipcbus_event *e, GVariant *args, void *userdata) {
        return ipcbus_event_replyf(e, "reply", "s", "from the renderer");
}

/* The main's sd-bus-style sends: ipcbus_web_contents_sendf(),
 * ipcbus_event_replyf(), ipcbus_main_broadcastf(); each message carries
 * the same list. And a renderer's ipcbus_event_replyf() reaches the main. */
static void test_main_sendf(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *win = harness_renderer(h, "win1");
        g_autoptr(GVariant) want =
                g_variant_ref_sink(g_variant_new_parsed("[<'from main'>, <uint32 7>, <{'k': <'v'>}>]"));
        inbox sender = {}, reply = {}, bcast = {};

        assert_int_equal(ipcbus_renderer_on(win, NULL, "sender-back", inbox_listener, &sender), 0);
        assert_int_equal(ipcbus_renderer_on(win, NULL, "reply-back", inbox_listener, &reply), 0);
        assert_int_equal(ipcbus_renderer_on(win, NULL, "bcast", inbox_listener, &bcast), 0);
        assert_int_equal(ipcbus_renderer_sendf(win, "sender-sendf", "s", "from main"), 0);
        assert_int_equal(ipcbus_renderer_sendf(win, "reply-f", "s", "from main"), 0);
        assert_int_equal(ipcbus_renderer_sendf(win, "broadcast-f", "s", "from main"), 0);
        assert_true(harness_run_until(h, &sender.got, 5000));
        assert_true(harness_run_until(h, &reply.got, 5000));
        assert_true(harness_run_until(h, &bcast.got, 5000));
        assert_true(g_variant_equal(sender.last, want));
        assert_true(g_variant_equal(reply.last, want));
        assert_true(g_variant_equal(bcast.last, want));

        /* The renderer's side: on the broadcast, reply to the main, which
         * sends it back on reply-back. */
        assert_true(ipcbus_renderer_remove_all_listeners(win, "bcast") >= 0);
        assert_int_equal(ipcbus_renderer_on(win, NULL, "bcast", replyf_listener, NULL), 0);
        reply.got = false;
        assert_int_equal(ipcbus_renderer_send(win, "broadcast", NULL), 0);
        assert_true(harness_run_until(h, &reply.got, 5000));
        assert_string_equal(arg_string(reply.last, 0), "from the renderer");

        /* A broadcast's values are checked before anything is sent. */
        {
                _cleanup_(ipcbus_main_unrefp) ipcbus_main *local = NULL;

                assert_int_equal(ipcbus_main_new(&local, "org.ipcbus.TestLocal"), 0);
                assert_int_equal(ipcbus_main_broadcastf(local, "x", "h", 1), -EINVAL);
                assert_int_equal(ipcbus_main_broadcastf(local, "x", "s", "\xff"), -EINVAL);
                assert_int_equal(ipcbus_main_broadcastf(local, "x", "as", 1, "ok"), 0);
        }
        inbox_clear(&sender);
        inbox_clear(&reply);
        inbox_clear(&bcast);
}

static void test_broadcast_reaches_all(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *win1 = harness_renderer(h, "win1");
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *win2 = harness_renderer(h, "win2");
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *win3 = harness_renderer(h, NULL);
        inbox in1 = {}, in2 = {}, in3 = {};

        assert_int_equal(ipcbus_renderer_on(win1, NULL, "bcast", inbox_listener, &in1), 0);
        assert_int_equal(ipcbus_renderer_on(win2, NULL, "bcast", inbox_listener, &in2), 0);
        assert_int_equal(ipcbus_renderer_on(win3, NULL, "bcast", inbox_listener, &in3), 0);
        /* win3 never attached: a round trip shows its subscription is in
         * place (the bus applies a connection's messages in order). */
        assert_int_equal(ipcbus_renderer_invoke_sync(win3, "echo", NULL, 0, NULL, NULL), 0);
        assert_int_equal(ipcbus_renderer_send(win1, "broadcast", ipcbus_args(g_variant_new_uint32(7), NULL)), 0);
        assert_true(harness_run_until(h, &in1.got, 5000));
        assert_true(harness_run_until(h, &in2.got, 5000));
        assert_true(harness_run_until(h, &in3.got, 5000));
        assert_int_equal(in1.n + in2.n + in3.n, 3);
        inbox_clear(&in1);
        inbox_clear(&in2);
        inbox_clear(&in3);
}

static void test_renderer_to_renderer_through_main(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *win1 = harness_renderer(h, "win1");
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *win2 = harness_renderer(h, "win2");
        inbox at1 = {}, at2 = {};

        assert_int_equal(ipcbus_renderer_on(win1, NULL, "direct", inbox_listener, &at1), 0);
        assert_int_equal(ipcbus_renderer_on(win2, NULL, "direct", inbox_listener, &at2), 0);
        assert_int_equal(ipcbus_renderer_send(win1, "to-name",
                                              ipcbus_args(g_variant_new_string("win2"),
                                                          g_variant_new_string("msg from win1"), NULL)),
                         0);
        assert_true(harness_run_until(h, &at2.got, 5000));
        assert_string_equal(arg_string(at2.last, 0), "msg from win1");
        assert_int_equal(at1.n, 0);
        inbox_clear(&at1);
        inbox_clear(&at2);
}

static void test_listener_once_and_remove(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, "win1");
        _cleanup_(ipcbus_slot_unrefp) ipcbus_slot *slot = NULL;
        inbox once = {}, on = {}, removed = {};

        assert_int_equal(ipcbus_renderer_once(r, NULL, "reply-back", inbox_listener, &once), 0);
        assert_int_equal(ipcbus_renderer_on(r, &slot, "reply-back", inbox_listener, &on), 0);
        assert_int_equal(ipcbus_renderer_on(r, NULL, "reply-back", inbox_listener, &removed), 0);
        assert_int_equal(ipcbus_renderer_remove_listener(r, "reply-back", inbox_listener, &removed), 1);

        for (int i = 0; i < 2; i++) {
                on.got = false;
                assert_int_equal(ipcbus_renderer_send(r, "reply", NULL), 0);
                assert_true(harness_run_until(h, &on.got, 5000));
        }
        assert_int_equal(once.n, 1);
        assert_int_equal(on.n, 2);
        assert_int_equal(removed.n, 0);

        /* Unreferencing the slot removes exactly that listener. */
        slot = ipcbus_slot_unref(slot);
        assert_int_equal(ipcbus_renderer_remove_all_listeners(r, "reply-back"), 0);
        inbox_clear(&once);
        inbox_clear(&on);
        inbox_clear(&removed);
}

static void test_detach_on_disconnect(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *stay = harness_renderer(h, "stay");
        ipcbus_renderer *gone = harness_renderer(h, "gone");
        uint64_t gone_id = ipcbus_renderer_get_id(gone);
        g_autoptr(GVariant) ids = NULL;
        char line[64];

        assert_true(gone_id > ipcbus_renderer_get_id(stay));
        /* Closing its connection is the window going away. */
        ipcbus_renderer_unref(gone);
        snprintf(line, sizeof(line), "detached %" PRIu64 " gone", gone_id);
        assert_int_equal(test_process_wait_line(h->main, line, 5 * TEST_USEC_PER_SEC), 0);

        assert_int_equal(ipcbus_renderer_invoke_sync(stay, "ids", NULL, 0, NULL, &ids), 0);
        assert_int_equal(g_variant_n_children(ids), 1);
        {
                g_autoptr(GVariant) first = g_variant_get_child_value(ids, 0);
                uint64_t id;
                const char *name;

                g_variant_get(first, "(t&s)", &id, &name);
                assert_int_equal(id, ipcbus_renderer_get_id(stay));
                assert_string_equal(name, "stay");
        }

        /* Detach is the same, by request. */
        assert_int_equal(ipcbus_renderer_detach(stay), 0);
        snprintf(line, sizeof(line), "detached %" PRIu64 " stay", (uint64_t)1);
        assert_int_equal(test_process_wait_line(h->main, "detached", 5 * TEST_USEC_PER_SEC), 0);
        g_variant_unref(g_steal_pointer(&ids));
        assert_int_equal(ipcbus_renderer_invoke_sync(stay, "ids", NULL, 0, NULL, &ids), 0);
        assert_int_equal(g_variant_n_children(ids), 0);
}

static void test_order_of_mixed_calls(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, "win1");
        g_autoptr(GVariant) seen = NULL;
        const int32_t *values;
        size_t n;
        unsigned answered = 0;
        result results[1000] = {};

        /* Electron's own test: 1,000 mixed send, sendSync and invoke from
         * one sender arrive in the order sent. */
        for (int32_t i = 0; i < 1000; i++) {
                GVariant *args = ipcbus_args(g_variant_new_int32(i), NULL);

                switch (i % 3) {
                case 0:
                        assert_int_equal(ipcbus_renderer_send(r, "order", args), 0);
                        break;
                case 1:
                        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "order", args, 0, result_collect,
                                                                &results[i]),
                                         0);
                        break;
                default:
                        assert_int_equal(ipcbus_renderer_send_sync(r, "order", args, NULL, NULL), 0);
                        break;
                }
        }
        assert_int_equal(ipcbus_renderer_invoke_sync(r, "order-get", NULL, 0, NULL, &seen), 0);
        values = g_variant_get_fixed_array(seen, &n, sizeof(int32_t));
        assert_int_equal(n, 1000);
        for (int32_t i = 0; i < 1000; i++)
                assert_int_equal(values[i], i);

        for (int i = 1; i < 1000; i += 3)
                assert_true(harness_run_until(h, &results[i].done, 5000));
        for (int i = 0; i < 1000; i++)
                if (results[i].done) {
                        assert_null(results[i].error_name);
                        answered++;
                        result_clear(&results[i]);
                }
        assert_int_equal(answered, 333);
}

static int renderer_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) v = ipcbus_args_get(args, 0);

        return ipcbus_invocation_return_value(inv, g_variant_new_printf("renderer got %s",
                                                                        g_variant_get_string(v, NULL)));
}

static void invocation_free(void *inv) {
        ipcbus_invocation_unref(inv);
}

static int renderer_never_answers(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        GPtrArray *kept = userdata;

        g_ptr_array_add(kept, ipcbus_invocation_ref(inv));
        return 0;
}

static void test_main_invokes_renderer(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, "win1");
        g_autoptr(GPtrArray) kept = g_ptr_array_new_with_free_func(invocation_free);
        result answer = {}, timeout = {}, none = {};

        assert_int_equal(ipcbus_renderer_handle(r, NULL, "r-echo", renderer_echo, NULL), 0);
        assert_int_equal(ipcbus_renderer_handle(r, NULL, "r-hang", renderer_never_answers, kept), 0);

        /* The renderer must keep dispatching while its own invoke waits:
         * use the asynchronous invoke. */
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "call-renderer",
                                                ipcbus_args(g_variant_new_string("win1"),
                                                            g_variant_new_string("r-echo"), g_variant_new_int32(5000),
                                                            g_variant_new_string("hi"), NULL),
                                                0, result_collect, &answer),
                         0);
        assert_true(harness_run_until(h, &answer.done, 5000));
        assert_null(answer.error_name);
        assert_string_equal(g_variant_get_string(answer.value, NULL), "renderer got hi");

        /* A renderer that never answers: the main's timeout ends the call. */
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "call-renderer",
                                                ipcbus_args(g_variant_new_string("win1"),
                                                            g_variant_new_string("r-hang"), g_variant_new_int32(200),
                                                            g_variant_new_string("x"), NULL),
                                                0, result_collect, &timeout),
                         0);
        assert_true(harness_run_until(h, &timeout.done, 5000));
        assert_string_equal(timeout.error_name, SD_BUS_ERROR_NO_REPLY);
        assert_int_equal(kept->len, 1);

        /* No handler in the renderer: the contract's NoHandler. */
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "call-renderer",
                                                ipcbus_args(g_variant_new_string("win1"),
                                                            g_variant_new_string("r-none"), g_variant_new_int32(5000),
                                                            g_variant_new_string("x"), NULL),
                                                0, result_collect, &none),
                         0);
        assert_true(harness_run_until(h, &none.done, 5000));
        assert_string_equal(none.error_name, IPCBUS_ERROR_NO_HANDLER);
        assert_int_equal(none.error_errno, ENOENT);
        result_clear(&answer);
        result_clear(&timeout);
        result_clear(&none);
}

static int on_denied_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        result *r = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        r->done = true;
        r->error_name = g_strdup(e ? e->name : "");
        r->error_errno = sd_bus_message_get_errno(reply);
        return 0;
}

static void test_renderer_denies_others(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, "win1");
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *intruder = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        g_autoptr(GVariant) name = NULL;
        result denied = {};
        inbox in = {};

        assert_int_equal(ipcbus_renderer_on(r, NULL, "reply-back", inbox_listener, &in), 0);
        assert_int_equal(ipcbus_renderer_handle(r, NULL, "r-echo", renderer_echo, NULL), 0);
        assert_int_equal(ipcbus_renderer_invoke_sync(r, "sender-name", NULL, 0, NULL, &name), 0);

        /* Another peer calls the renderer's handler and claims to be the
         * main with a Message: Denied, and dropped. */
        assert_int_equal(test_bus_connect(h->bus, &intruder), 0);
        assert_true(sd_bus_attach_event(intruder, h->event, 0) >= 0);
        assert_true(sd_bus_call_method_async(intruder, NULL, g_variant_get_string(name, NULL), IPCBUS_RENDERER_PATH,
                                             IPCBUS_INTERFACE_RENDERER, "Invoke", on_denied_reply, &denied, "sav",
                                             "r-echo", 0) >= 0);
        assert_true(sd_bus_message_new_signal(intruder, &sig, "/org/ipcbus/Test", IPCBUS_INTERFACE_CHANNEL,
                                              "Message") >= 0);
        assert_true(sd_bus_message_set_destination(sig, g_variant_get_string(name, NULL)) >= 0);
        assert_true(sd_bus_message_append(sig, "sav", "reply-back", 0) >= 0);
        assert_true(sd_bus_send(intruder, sig, NULL) >= 0);
        assert_true(harness_run_until(h, &denied.done, 5000));
        assert_string_equal(denied.error_name, IPCBUS_ERROR_DENIED);
        /* A plain sd-bus call in this process knows the errno too. */
        assert_int_equal(denied.error_errno, EACCES);

        /* The main's own Message arrives, once. */
        assert_int_equal(ipcbus_renderer_send(r, "reply", NULL), 0);
        assert_true(harness_run_until(h, &in.got, 5000));
        assert_int_equal(ipcbus_renderer_invoke_sync(r, "echo", NULL, 0, NULL, NULL), 0);
        assert_true(sd_event_run(h->event, 0) >= 0);
        assert_int_equal(in.n, 1);
        (void)sd_bus_detach_event(intruder);
        result_clear(&denied);
        inbox_clear(&in);
}

static int setup_bus_only(void **state) {
        harness *h = g_new0(harness, 1);

        harness_start_bus(h);
        *state = h;
        return 0;
}

static void test_renderer_before_main(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);
        result early = {};
        inbox at = {};

        /* Electron's startup race: the first invoke must not fail with
         * "No handler" just because the main is not up yet. */
        assert_int_equal(ipcbus_renderer_attach(r, "early"), 0);
        assert_int_equal(ipcbus_renderer_on(r, NULL, "reply-back", inbox_listener, &at), 0);
        assert_int_equal(ipcbus_renderer_send(r, "reply", ipcbus_args(g_variant_new_string("queued"), NULL)), 0);
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "echo", ipcbus_args(g_variant_new_string("early"), NULL),
                                                0, result_collect, &early),
                         0);
        assert_true(sd_event_run(h->event, 0) >= 0);
        assert_false(early.done);
        assert_false(ipcbus_renderer_has_main(r));

        harness_start_main(h);
        assert_true(harness_run_until(h, &early.done, 5000));
        assert_null(early.error_name);
        assert_true(harness_run_until(h, &at.got, 5000));
        assert_string_equal(arg_string(at.last, 0), "queued");
        assert_true(ipcbus_renderer_get_id(r) > 0);
        assert_int_equal(test_process_wait_line(h->main, "attached", 5 * TEST_USEC_PER_SEC), 0);
        result_clear(&early);
        inbox_clear(&at);
}

static void test_renderer_main_never_comes(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        result late = {};

        assert_int_equal(ipcbus_renderer_set_timeout(r, 200 * 1000), 0);
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "echo", NULL, 0, result_collect, &late), 0);
        assert_true(harness_run_until(h, &late.done, 5000));
        assert_string_equal(late.error_name, SD_BUS_ERROR_SERVICE_UNKNOWN);
        assert_true(ipcbus_renderer_invoke_sync(r, "echo", NULL, 0, &error, NULL) == -ETIMEDOUT);
        assert_string_equal(error.name, SD_BUS_ERROR_SERVICE_UNKNOWN);
        result_clear(&late);
}

static void test_cancel_invoke(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);
        ipcbus_slot *slot = NULL;
        result cancelled = {}, after = {};

        assert_int_equal(ipcbus_renderer_invoke(r, &slot, "async-echo",
                                                ipcbus_args(g_variant_new_int32(100), g_variant_new_string("x"),
                                                            NULL),
                                                0, result_collect, &cancelled),
                         0);
        assert_int_equal(ipcbus_slot_is_connected(slot), 1);
        ipcbus_slot_unref(slot);
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "async-echo",
                                                ipcbus_args(g_variant_new_int32(200), g_variant_new_string("y"),
                                                            NULL),
                                                0, result_collect, &after),
                         0);
        assert_true(harness_run_until(h, &after.done, 5000));
        assert_false(cancelled.done);
        result_clear(&after);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_reply_routes_to_sender, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sendf_matches_send, setup, teardown),
                cmocka_unit_test_setup_teardown(test_main_sendf, setup, teardown),
                cmocka_unit_test_setup_teardown(test_event_read, setup, teardown),
                cmocka_unit_test_setup_teardown(test_broadcast_reaches_all, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_to_renderer_through_main, setup, teardown),
                cmocka_unit_test_setup_teardown(test_listener_once_and_remove, setup, teardown),
                cmocka_unit_test_setup_teardown(test_detach_on_disconnect, setup, teardown),
                cmocka_unit_test_setup_teardown(test_order_of_mixed_calls, setup, teardown),
                cmocka_unit_test_setup_teardown(test_main_invokes_renderer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_denies_others, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_before_main, setup_bus_only, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_main_never_comes, setup_bus_only, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_invoke, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
