/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Large values out of band (issue 9): arguments, results and messages of at
 * least IPCBUS_VALUE_LARGE_MIN bytes travel through rings (up to 4 MiB) or
 * as sealed memfds between an ipcbus main (test-main.c, in a child
 * process) and an ipcbus renderer here, on every path, through dbus-daemon,
 * through dbus-broker (skipped where it cannot start) and on a direct
 * connection. Also: a generic client (busctl) and a renderer that never
 * said it takes them get the inline form, one that takes memfds only gets
 * no ring; values read out of order and more than a ring holds arrive
 * whole; every hostile memfd or ring a peer can send is refused with
 * InvalidArgs and the main keeps serving; a ring a plain client made is
 * served. Between peers that both name large-values-ring-ref, every large
 * value after the first each way names its kept ring instead of passing
 * it; values shaped like that form still arrive as themselves, and a peer
 * that names a ring not kept for it is refused.
 *
 * Which form a value took is read from both processes' counts
 * (ipcbus_value_get_large_counts() and value_large_ref_counts(); the
 * main's through its large-counts and ref-counts channels).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/valgrind.h>
#include <cmocka.h>

#include "harness.h"
#include "renderer-private.h"
#include "value-large.h"
#include "value-ring.h"

#define WAIT_USEC (60 * TEST_USEC_PER_SEC)
#define MIB (1024U * 1024U)

typedef enum transport {
        T_DAEMON,
        T_BROKER,
        T_DIRECT,
} transport;

typedef struct fixture {
        transport kind;
        uint64_t large_value_limit; /* for the main, 0: its default */
        test_bus *bus;
        test_process *main;
        sd_event *event;
        ipcbus_renderer *r;
        bool memfd_only; /* the renderer takes a memfd per value, no rings */
        bool ring_only;  /* the renderer takes rings but names none */
        bool skip;
} fixture;

static int direct_child_fd = -1;

static int direct_main_child(void *userdata) {
        /* Only the renderer holds its end, so its close reaches the main. */
        (void)close(direct_child_fd);
        return test_main_child(userdata);
}

static int r_echo_value(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) value = ipcbus_args_get(args, 0);

        return ipcbus_invocation_return_value(inv, value);
}

static void fixture_start(fixture *f, bool large) {
        static test_main_config config;
        int r;

        assert_int_equal(sd_event_new(&f->event), 0);
        if (!large)
                assert_int_equal(setenv("IPCBUS_LARGE_VALUES", "0", 1), 0);
        else if (f->memfd_only)
                assert_int_equal(setenv("IPCBUS_LARGE_VALUES", "memfd", 1), 0);
        else if (f->ring_only)
                assert_int_equal(setenv("IPCBUS_LARGE_VALUES", "ring", 1), 0);
        assert_int_equal(ipcbus_renderer_new(&f->r, TEST_MAIN_NAME), 0);
        assert_int_equal(unsetenv("IPCBUS_LARGE_VALUES"), 0);
        assert_int_equal(ipcbus_renderer_attach_event(f->r, f->event, 0), 0);
        assert_int_equal(ipcbus_renderer_set_timeout(f->r, WAIT_USEC), 0);
        assert_int_equal(ipcbus_renderer_handle(f->r, NULL, "r-echo", r_echo_value, NULL), 0);

        if (f->kind == T_DIRECT) {
                int fds[2];

                assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
                config = (test_main_config) { .direct_fd = fds[0], .large_value_limit = f->large_value_limit };
                direct_child_fd = fds[1];
                assert_int_equal(test_process_spawn(&f->main, direct_main_child, &config), 0);
                (void)close(fds[0]);
                assert_int_equal(test_process_wait_line(f->main, "ready", WAIT_USEC), 0);
                assert_int_equal(ipcbus_renderer_open_direct(f->r, fds[1]), 0);
        } else {
                r = test_bus_start(&f->bus, f->kind == T_BROKER ? TEST_BUS_DBUS_BROKER : TEST_BUS_DBUS_DAEMON);
                if (r == -EOPNOTSUPP) {
                        f->skip = true;
                        return;
                }
                assert_int_equal(r, 0);
                config = (test_main_config) { .address = test_bus_get_address(f->bus), .direct_fd = -1,
                                              .large_value_limit = f->large_value_limit };
                assert_int_equal(test_process_spawn(&f->main, test_main_child, &config), 0);
                assert_int_equal(test_process_wait_line(f->main, "ready", WAIT_USEC), 0);
                assert_int_equal(ipcbus_renderer_open_address(f->r, test_bus_get_address(f->bus)), 0);
        }
        assert_int_equal(ipcbus_renderer_attach_sync(f->r, "big", NULL, NULL), 0);
}

/* A main that takes at most 100,000 bytes out of band from a peer. */
#define TEST_LARGE_LIMIT 100000U

static int setup_fixture(void **state, fixture how, bool large) {
        fixture *f = g_new0(fixture, 1);

        *f = how;
        fixture_start(f, large);
        *state = f;
        return 0;
}

static int setup_daemon(void **state) {
        return setup_fixture(state, (fixture) { .kind = T_DAEMON }, true);
}
static int setup_broker(void **state) {
        return setup_fixture(state, (fixture) { .kind = T_BROKER }, true);
}
static int setup_direct(void **state) {
        return setup_fixture(state, (fixture) { .kind = T_DIRECT }, true);
}
static int setup_daemon_old(void **state) {
        return setup_fixture(state, (fixture) { .kind = T_DAEMON }, false);
}
/* A renderer that takes large values in memfds only (as the ipcbus before
 * rings): the main must not send it the ring form. */
static int setup_daemon_memfd(void **state) {
        return setup_fixture(state, (fixture) { .kind = T_DAEMON, .memfd_only = true }, true);
}
/* A renderer that takes rings but does not name them (IPCBUS_LARGE_VALUES=ring). */
static int setup_daemon_ring_only(void **state) {
        return setup_fixture(state, (fixture) { .kind = T_DAEMON, .ring_only = true }, true);
}
static int setup_direct_limited(void **state) {
        return setup_fixture(state, (fixture) { .kind = T_DIRECT, .large_value_limit = TEST_LARGE_LIMIT }, true);
}

static int teardown(void **state) {
        fixture *f = *state;
        int status;

        f->r = ipcbus_renderer_unref(f->r);
        if (f->main) {
                (void)test_process_kill(f->main, SIGTERM);
                (void)test_process_wait_exit(f->main, &status);
                f->main = test_process_free(f->main);
        }
        f->bus = test_bus_free(f->bus);
        f->event = sd_event_unref(f->event);
        g_free(f);
        return 0;
}

#define SKIP_IF_NO_BUS(f)                                                              \
        do {                                                                           \
                if ((f)->skip) {                                                       \
                        print_message("dbus-broker cannot start here: skipped\n");    \
                        skip();                                                        \
                }                                                                      \
        } while (0)

/* Arguments ("av" of one string) of exactly @size serialized bytes. The
 * calls below take them as they are: not floating, so each call takes a
 * reference of its own. */
static GVariant *args_of_size(size_t size, char fill) {
        size_t len = size > 8 ? size - 8 : 1;

        for (;;) {
                char *s = g_malloc(len + 1);
                GVariant *args;

                memset(s, fill, len);
                s[len] = '\0';
                args = g_variant_ref_sink(ipcbus_args(g_variant_new_take_string(s), NULL));
                if (g_variant_get_size(args) == size)
                        return args;
                assert_true(g_variant_get_size(args) < size);
                len += size - g_variant_get_size(args);
                g_variant_unref(args);
        }
}

typedef struct counts {
        uint64_t sent, received;            /* this process (the renderer) */
        uint64_t main_sent, main_received;  /* the main's */
} counts;

static counts read_counts(fixture *f) {
        g_autoptr(GVariant) v = NULL;
        counts c;

        ipcbus_value_get_large_counts(&c.sent, &c.received);
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "large-counts", NULL, 0, NULL, &v), 0);
        g_variant_get(v, "(tt)", &c.main_sent, &c.main_received);
        return c;
}

/* The counts moved by exactly these since @before (the read itself is small). */
static void assert_moved(fixture *f, counts before, uint64_t sent, uint64_t received, uint64_t main_sent,
                         uint64_t main_received) {
        counts now = read_counts(f);

        assert_int_equal(now.sent - before.sent, sent);
        assert_int_equal(now.received - before.received, received);
        assert_int_equal(now.main_sent - before.main_sent, main_sent);
        assert_int_equal(now.main_received - before.main_received, main_received);
}

/* The first argument of the echo's result (echo answers its "av"). */
static void assert_echoed(GVariant *got, GVariant *args) {
        assert_non_null(got);
        assert_true(g_variant_equal(got, args));
}

/* A one-string list sent with ipcbus_renderer_sendf() on "reply", which the
 * main sends back: both ways out of band if @large, and back equal to
 * @args, the same list as a GVariant. */
static void check_sendf_back(fixture *f, GVariant *args, bool large) {
        g_autoptr(GVariant) value = ipcbus_args_get(args, 0);
        inbox in = {};
        counts before;

        assert_int_equal(ipcbus_renderer_on(f->r, NULL, "reply-back", inbox_listener, &in), 0);
        before = read_counts(f);
        assert_int_equal(ipcbus_renderer_sendf(f->r, "reply", "s", g_variant_get_string(value, NULL)), 0);
        assert_true(harness_run_until(&(harness) { .event = f->event }, &in.got, 60000));
        assert_true(g_variant_equal(in.last, args));
        assert_moved(f, before, large, large, large, large);
        assert_true(ipcbus_renderer_remove_all_listeners(f->r, "reply-back") >= 0);
        inbox_clear(&in);
}

/* ---- the threshold, one byte either side ------------------------------------ */

/* Through rings from IPCBUS_VALUE_RING_MIN, in memfds (where the peer
 * takes no rings) from IPCBUS_VALUE_LARGE_MIN. */
static void check_threshold(fixture *f) {
        const size_t min = f->memfd_only ? IPCBUS_VALUE_LARGE_MIN : IPCBUS_VALUE_RING_MIN;
        /* The echo's result is the same "av": as large as the arguments. */
        const size_t sizes[] = { min - 1, min, min + 1 };

        for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
                g_autoptr(GVariant) args = args_of_size(sizes[i], 'a' + (char)i);
                g_autoptr(GVariant) got = NULL;
                bool args_large = sizes[i] >= min;
                bool result_large = args_large;
                counts before = read_counts(f);

                print_message("arguments of %zu bytes\n", sizes[i]);
                assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", args, 0, NULL, &got), 0);
                assert_echoed(got, args);
                assert_moved(f, before, args_large, result_large, result_large, args_large);
                /* sendf decides as send does. */
                check_sendf_back(f, args, args_large);
        }
}

static void test_threshold(void **state) {
        fixture *f = *state;

        SKIP_IF_NO_BUS(f);
        check_threshold(f);
}

/* ---- every path at 1 MiB ------------------------------------------------------ */

/* A send on @channel that the main answers by sending @args back, which
 * @in receives: one hop each way, out of band if @large. */
static void check_sent_back(fixture *f, const char *channel, GVariant *args, inbox *in, bool large) {
        counts before = read_counts(f);

        assert_int_equal(ipcbus_renderer_send(f->r, channel, args), 0);
        assert_true(harness_run_until(&(harness) { .event = f->event }, &in->got, 60000));
        assert_true(g_variant_equal(in->last, args));
        assert_moved(f, before, large, large, large, large);
}

static void check_paths(fixture *f, size_t size, bool large) {
        g_autoptr(GVariant) args = args_of_size(size, 'p');
        g_autoptr(GVariant) value = ipcbus_args_get(args, 0);
        g_autoptr(GVariant) got = NULL;
        g_autoptr(GVariant) sync_result = NULL;
        g_autoptr(GVariant) call_args = NULL;
        inbox reply = {}, sender = {}, bcast = {};
        counts before;

        assert_int_equal(ipcbus_renderer_on(f->r, NULL, "reply-back", inbox_listener, &reply), 0);
        assert_int_equal(ipcbus_renderer_on(f->r, NULL, "sender-back", inbox_listener, &sender), 0);
        assert_int_equal(ipcbus_renderer_on(f->r, NULL, "bcast", inbox_listener, &bcast), 0);

        /* invoke / handle: large args there, large got back. */
        before = read_counts(f);
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", args, 0, NULL, &got), 0);
        assert_echoed(got, args);
        assert_moved(f, before, large, large, large, large);

        /* sendSync / event.returnValue. */
        before = read_counts(f);
        assert_int_equal(ipcbus_renderer_send_sync(f->r, "sync-echo", args, NULL, &sync_result), 0);
        assert_echoed(sync_result, args);
        assert_moved(f, before, large, large, large, large);

        /* send / on, then event.reply: renderer to main and back. */
        check_sent_back(f, "reply", args, &reply, large);
        /* The same sent with sd-bus-style arguments. */
        check_sendf_back(f, args, large);
        /* event.sender.send (webContents.send). */
        check_sent_back(f, "sender-send", args, &sender, large);
        /* The same with ipcbus_web_contents_sendf(): the value, a number
         * and a dict. */
        {
                g_autoptr(GVariant) want = g_variant_ref_sink(g_variant_new_parsed(
                        "[<%s>, <uint32 7>, <{'k': <'v'>}>]", g_variant_get_string(value, NULL)));

                sender.got = false;
                before = read_counts(f);
                assert_int_equal(ipcbus_renderer_sendf(f->r, "sender-sendf", "s", g_variant_get_string(value, NULL)),
                                 0);
                assert_true(harness_run_until(&(harness) { .event = f->event }, &sender.got, 60000));
                assert_true(g_variant_equal(sender.last, want));
                assert_moved(f, before, large, large, large, large);
        }
        /* broadcast: to the one attached renderer, out of band. */
        check_sent_back(f, "broadcast", args, &bcast, large);

        /* Renderer1.Invoke: the main calls our r-echo with the value, we
         * answer it, and it answers our call with that: four hops. The
         * call's args hold three small values and the large one. */
        call_args = g_variant_ref_sink(ipcbus_args(g_variant_new_string("big"), g_variant_new_string("r-echo"),
                                                   g_variant_new_int32(60000), value, NULL));
        before = read_counts(f);
        {
                result res = {};

                /* Asynchronous: a blocking call would hold the main's call
                 * back until it returned. */
                assert_int_equal(ipcbus_renderer_invoke(f->r, NULL, "call-renderer", call_args, 0,
                                                        result_collect, &res),
                                 0);
                assert_true(harness_run_until(&(harness) { .event = f->event }, &res.done, 60000));
                assert_null(res.error_name);
                assert_true(g_variant_equal(res.value, value));
                result_clear(&res);
        }
        assert_moved(f, before, 2 * large, 2 * large, 2 * large, 2 * large);

        assert_true(ipcbus_renderer_remove_all_listeners(f->r, "reply-back") >= 0);
        assert_true(ipcbus_renderer_remove_all_listeners(f->r, "sender-back") >= 0);
        assert_true(ipcbus_renderer_remove_all_listeners(f->r, "bcast") >= 0);
        inbox_clear(&reply);
        inbox_clear(&sender);
        inbox_clear(&bcast);
}

/* A listener that reads the event (ipcbus_event_read()) gets a value that
 * came out of band as one that came inline; read-late answers the text
 * read and the GVariant's first argument, then its GVariant listener the
 * list: two large answers in a row, so not counted as check_paths()
 * counts (the second may not find the first's ring free). */
static void check_read_late(fixture *f, size_t size) {
        g_autoptr(GVariant) args = args_of_size(size, 'e');
        g_autoptr(GVariant) value = ipcbus_args_get(args, 0);
        g_autoptr(GVariant) twice = g_variant_ref_sink(ipcbus_args(value, value, NULL));
        counts before = read_counts(f), after;
        inbox read = {};

        assert_int_equal(ipcbus_renderer_on(f->r, NULL, "read-back", inbox_listener, &read), 0);
        assert_int_equal(ipcbus_renderer_send(f->r, "read-late", args), 0);
        assert_true(harness_run_until(&(harness) { .event = f->event }, &read.got, 60000));
        assert_true(g_variant_equal(read.last, twice));
        read.got = false;
        assert_true(harness_run_until(&(harness) { .event = f->event }, &read.got, 60000));
        assert_true(g_variant_equal(read.last, args));
        assert_true(ipcbus_renderer_remove_all_listeners(f->r, "read-back") >= 0);
        inbox_clear(&read);
        after = read_counts(f);
        /* It went out of band (one value there, two back). */
        assert_int_equal(after.main_received - before.main_received, 1);
        assert_int_equal(after.received - before.received, 2);
}

/* Mappings of rings in @pid's address space ("/memfd:ipcbus-ring"). */
static unsigned ring_mappings(pid_t pid) {
        int n = test_count_mappings(pid, "memfd:ipcbus-ring");

        assert_true(n >= 0);
        return (unsigned)n;
}

static void test_paths(void **state) {
        fixture *f = *state;

        unsigned before;

        SKIP_IF_NO_BUS(f);
        /* The main, forked from us, may have inherited mappings of ours. */
        before = ring_mappings(test_process_get_pid(f->main));
        check_paths(f, MIB, true);
        check_read_late(f, MIB);
        /* Through rings: the main's own toward us, and ours it maps. */
        assert_true(ring_mappings(test_process_get_pid(f->main)) >= before + 2);
}

/* A renderer's ring goes from the main with the renderer: the main's
 * mapping of it, and the main's own ring toward it. */
static void test_ring_gone_with_renderer(void **state) {
        fixture *f = *state;
        pid_t main_pid = test_process_get_pid(f->main);
        g_autoptr(GVariant) args = args_of_size(MIB, 's');
        g_autoptr(GVariant) got = NULL;
        ipcbus_renderer *second = NULL;
        unsigned before;

        SKIP_IF_NO_BUS(f);
        before = ring_mappings(main_pid);
        assert_int_equal(ipcbus_renderer_new(&second, TEST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(second, f->event, 0), 0);
        assert_int_equal(ipcbus_renderer_set_timeout(second, WAIT_USEC), 0);
        assert_int_equal(ipcbus_renderer_open_address(second, test_bus_get_address(f->bus)), 0);
        assert_int_equal(ipcbus_renderer_attach_sync(second, "second", NULL, NULL), 0);
        assert_int_equal(ipcbus_renderer_invoke_sync(second, "echo", args, 0, NULL, &got), 0);
        assert_echoed(got, args);
        assert_int_equal(ring_mappings(main_pid), before + 2);

        second = ipcbus_renderer_unref(second);
        assert_int_equal(test_process_wait_line(f->main, "detached", WAIT_USEC), 0);
        assert_non_null(strstr(test_process_get_line(f->main), "second"));
        /* One round trip more: the main has done with the detach. */
        (void)read_counts(f);
        assert_int_equal(ring_mappings(main_pid), before);
}

/* A renderer that takes memfds but not rings: every path out of band, in
 * memfds, and the main makes no ring. */
static void test_paths_memfd_only(void **state) {
        fixture *f = *state;
        unsigned before = ring_mappings(test_process_get_pid(f->main));

        check_threshold(f);
        check_paths(f, MIB, true);
        assert_int_equal(ring_mappings(test_process_get_pid(f->main)), before);
}

/* ---- values read late, and more than a ring holds ----------------------------- */

/*
 * The main sends @n messages of @size bytes, then answers the SendSync
 * with a value as large: we read the answer first, while the messages wait
 * in sd-bus's queue, so the main's ring regions are read out of order; 24
 * messages of 1 MiB are more than a ring holds, so some go in memfds of
 * their own and the ring is left for a new one. Every message must then
 * arrive whole, in order, with the content sent.
 */
typedef struct burst {
        unsigned n;
        size_t size;
        bool bad;
        unsigned want;
        bool done; /* all @want came */
} burst;

static int on_burst(ipcbus_event *e, GVariant *args, void *userdata) {
        burst *b = userdata;
        g_autoptr(GVariant) v = ipcbus_args_get(args, 0);
        const char *s = v && g_variant_is_of_type(v, G_VARIANT_TYPE_STRING) ? g_variant_get_string(v, NULL) : "";
        char want = (char)('A' + b->n % 26);

        if (strlen(s) != b->size)
                b->bad = true;
        for (size_t i = 0; !b->bad && i < b->size; i++)
                if (s[i] != want)
                        b->bad = true;
        if (b->bad)
                print_message("message %u: wrong content\n", b->n);
        b->n++;
        b->done = b->n >= b->want;
        return 0;
}

static void test_read_late(void **state) {
        fixture *f = *state;
        burst b = { .size = MIB, .want = 24 };
        g_autoptr(GVariant) answer = NULL;
        const char *s;

        SKIP_IF_NO_BUS(f);
        assert_int_equal(ipcbus_renderer_on(f->r, NULL, "burst", on_burst, &b), 0);
        for (unsigned round = 0; round < 2; round++) {
                b.n = 0;
                b.done = false;
                g_clear_pointer(&answer, g_variant_unref);
                assert_int_equal(ipcbus_renderer_send_sync(f->r, "sync-burst",
                                                           ipcbus_args(g_variant_new_uint32(24),
                                                                       g_variant_new_uint64(MIB), NULL),
                                                           NULL, &answer),
                                 0);
                s = g_variant_get_string(answer, NULL);
                assert_int_equal(strlen(s), MIB);
                assert_true(s[0] == '#' && s[MIB - 1] == '#');
                /* None of the messages was read before the answer. */
                assert_int_equal(b.n, 0);
                assert_true(harness_run_until(&(harness) { .event = f->event }, &b.done, 60000));
                assert_false(b.bad);
        }

        /* 100 of 8000 bytes: more than the ring holds, and too small for a
         * memfd of their own; those that find no room go inline. */
        {
                counts before = read_counts(f);
                counts after;

                b = (burst) { .size = 8000, .want = 100 };
                g_clear_pointer(&answer, g_variant_unref);
                assert_int_equal(ipcbus_renderer_send_sync(f->r, "sync-burst",
                                                           ipcbus_args(g_variant_new_uint32(100),
                                                                       g_variant_new_uint64(8000), NULL),
                                                           NULL, &answer),
                                 0);
                assert_int_equal(strlen(g_variant_get_string(answer, NULL)), 8000);
                assert_true(harness_run_until(&(harness) { .event = f->event }, &b.done, 60000));
                assert_false(b.bad);
                after = read_counts(f);
                print_message("100 messages of 8000 bytes: %" PRIu64 " out of band\n",
                              after.main_sent - before.main_sent);
                assert_true(after.main_sent - before.main_sent > 0);
                assert_true(after.main_sent - before.main_sent < 101);
        }
        assert_true(ipcbus_renderer_remove_all_listeners(f->r, "burst") >= 0);
}

/* A renderer that never said it takes large values (as an older ipcbus):
 * every path still works, all inline. */
static void test_paths_inline_for_old_peer(void **state) {
        fixture *f = *state;

        check_paths(f, MIB, false);
        check_paths(f, 20000, false);
}

/* ---- 64 MiB and 256 MiB ------------------------------------------------------- */

static uint64_t status_kb(pid_t pid, const char *key) {
        char path[64], line[256];
        uint64_t kb = 0;
        FILE *file;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        file = fopen(path, "re");
        assert_non_null(file);
        while (fgets(line, sizeof(line), file))
                if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':')
                        kb = strtoull(line + strlen(key) + 1, NULL, 10);
        fclose(file);
        return kb;
}

/* Start counting @pid's peak memory (VmHWM) from now. */
static void reset_peak(pid_t pid) {
        char path[64];
        FILE *file;

        snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
        file = fopen(path, "we");
        assert_non_null(file);
        assert_true(fputs("5", file) >= 0);
        assert_int_equal(fclose(file), 0);
}

static void check_size(fixture *f, size_t size) {
        g_autoptr(GVariant) args = args_of_size(size, 'z');
        g_autoptr(GVariant) got = NULL;
        pid_t main_pid = test_process_get_pid(f->main), self = getpid();
        uint64_t main_before, self_before, main_peak, self_peak;
        counts before = read_counts(f);
        gint64 t0;

        reset_peak(main_pid);
        reset_peak(self);
        main_before = status_kb(main_pid, "VmRSS");
        self_before = status_kb(self, "VmRSS");
        t0 = g_get_monotonic_time();
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", args, 0, NULL, &got), 0);
        t0 = g_get_monotonic_time() - t0;
        main_peak = status_kb(main_pid, "VmHWM");
        self_peak = status_kb(self, "VmHWM");
        assert_echoed(got, args);
        assert_moved(f, before, 1, 1, 1, 1);

        /* Near one copy per side. The renderer (holding its arguments
         * already) writes them into the memfd from the string itself and
         * maps the answer; the main maps what it received and writes its
         * answer from that mapping. */
        print_message("%zu MiB echo in %.1f ms: peak above the start, main %" PRIu64 " kB, renderer %" PRIu64
                      " kB\n",
                      size / MIB, (double)t0 / 1000.0, main_peak - main_before, self_peak - self_before);
        assert_true(main_peak < main_before + (size / 1024) * 5 / 4);
        assert_true(self_peak < self_before + (size / 1024) * 5 / 4);
}

static void test_sizes(void **state) {
        fixture *f = *state;

        SKIP_IF_NO_BUS(f);
        if (RUNNING_ON_VALGRIND) {
                print_message("64 and 256 MiB are not copied under valgrind: skipped\n");
                skip();
        }
        check_size(f, 64 * MIB);
        /* Through a bus only: direct connections show the same code. */
        if (f->kind != T_DIRECT)
                check_size(f, 256 * MIB);
}

/* ---- generic clients get the inline form ------------------------------------- */

static void test_busctl_gets_inline(void **state) {
        fixture *f = *state;
        g_autofree char *text = g_malloc(40001);
        g_autofree char *out = NULL;
        g_autofree char *command = NULL;
        counts before;
        FILE *p;
        size_t n;
        int status;

        memset(text, 'q', 40000);
        text[40000] = '\0';
        before = read_counts(f);
        command = g_strdup_printf("busctl --address=%s call %s /org/ipcbus/Test org.ipcbus.Main1 Invoke sav echo 1 s %s",
                                  test_bus_get_address(f->bus), TEST_MAIN_NAME, text);
        p = popen(command, "r");
        assert_non_null(p);
        out = g_malloc0(100000);
        n = fread(out, 1, 99999, p);
        status = pclose(p);
        assert_int_equal(WEXITSTATUS(status), 0);
        /* v av 1 s "qqq...": the value inline, in busctl's own words. */
        assert_true(n > 40000);
        assert_non_null(strstr(out, "v av 1 s \"qqqq"));
        assert_moved(f, before, 0, 0, 0, 0);
}

/* ---- hostile memfds ------------------------------------------------------------ */

typedef enum hostile {
        H_UNSEALED,
        H_NO_SHRINK_SEAL,
        H_FUTURE_WRITE_ONLY,
        H_SPARSE,
        H_ANNOUNCED_MORE,
        H_ANNOUNCED_LESS,
        H_OVER_LIMIT,
        H_ZERO,
        H_PIPE,
        H_NOT_NORMAL,
        H_BAD_UTF8,
        H_HANDLE_INSIDE,
        H_EXTRA_ELEMENT,
        /* The ring form, "(htt)" */
        H_RING_UNSEALED,
        H_RING_SPARSE,
        H_RING_PAST_END,
        H_RING_UNALIGNED,
        H_RING_WRITE_SEALED,
        H_RING_NOT_NORMAL,
        H_RING_OVER_LIMIT,
        _H_MAX,
} hostile;

static const char *const hostile_names[_H_MAX] = {
        "unsealed", "no shrink seal", "F_SEAL_FUTURE_WRITE only", "sparse", "more announced than held",
        "less announced than held", "over the limit", "zero bytes", "a pipe", "not in normal form",
        "invalid UTF-8", "a value holding 'h'", "a second element", "ring: unsealed", "ring: sparse",
        "ring: value past its end", "ring: offset not a multiple of 8", "ring: sealed against writing",
        "ring: not in normal form", "ring: over the limit",
};

#define RING_SIZE (1024U * 1024U)
#define RING_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

/* A ring as another sender would make it: @n bytes of @data at @offset. */
static int ring_with(const void *data, size_t n, uint64_t offset, bool allocate, unsigned seals) {
        int fd = memfd_create("foreign-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, RING_SIZE), 0);
        if (allocate)
                assert_int_equal(fallocate(fd, 0, 0, RING_SIZE), 0);
        if (n)
                assert_int_equal(pwrite(fd, data, n, (off_t)offset), (ssize_t)n);
        if (seals)
                assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
        return fd;
}

/* A sealed memfd holding @n bytes of @data. */
static int memfd_with(const void *data, size_t n, unsigned seals) {
        int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, n), (ssize_t)n);
        if (seals)
                assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
        return fd;
}

#define SEALED (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)

/* An Invoke of echo whose args are the out-of-band form @h makes. */
static void call_hostile(sd_bus *bus, hostile h, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        g_autoptr(GVariant) good = args_of_size(IPCBUS_VALUE_LARGE_MIN, 'h');
        const void *data = g_variant_get_data(good);
        size_t size = g_variant_get_size(good);
        uint64_t announced = size, offset = 4096;
        bool ring = h >= H_RING_UNSEALED;
        int fd = -1, pipes[2];

        switch (h) {
        case H_UNSEALED:
                fd = memfd_with(data, size, 0);
                break;
        case H_NO_SHRINK_SEAL:
                fd = memfd_with(data, size, F_SEAL_GROW | F_SEAL_WRITE);
                break;
        case H_FUTURE_WRITE_ONLY:
                fd = memfd_with(data, size, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE);
                break;
        case H_SPARSE:
                fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
                assert_int_equal(ftruncate(fd, (off_t)size), 0);
                assert_int_equal(fcntl(fd, F_ADD_SEALS, SEALED), 0);
                break;
        case H_ANNOUNCED_MORE:
                fd = memfd_with(data, size, SEALED);
                announced = size + 4096;
                break;
        case H_ANNOUNCED_LESS:
                fd = memfd_with(data, size, SEALED);
                announced = size - 1;
                break;
        case H_OVER_LIMIT:
                fd = memfd_with(data, size, SEALED);
                announced = (uint64_t)IPCBUS_VALUE_LARGE_MAX + 1;
                break;
        case H_ZERO:
                fd = memfd_with(data, 0, SEALED);
                announced = 0;
                break;
        case H_PIPE:
                assert_int_equal(pipe2(pipes, O_CLOEXEC), 0);
                assert_int_equal(write(pipes[1], data, 64), 64);
                (void)close(pipes[1]);
                fd = pipes[0];
                break;
        case H_NOT_NORMAL: {
                /* The framing offset points past the end. */
                g_autofree uint8_t *bad = g_memdup2(data, size);

                bad[size - 1] = 0xff;
                bad[size - 2] = 0xff;
                fd = memfd_with(bad, size, SEALED);
                break;
        }
        case H_BAD_UTF8: {
                g_autofree uint8_t *bad = g_memdup2(data, size);

                bad[100] = 0xC0; /* an overlong form */
                bad[101] = 0x80;
                fd = memfd_with(bad, size, SEALED);
                break;
        }
        case H_HANDLE_INSIDE: {
                /* A well-formed "av" holding an 'h' (GLib would take it). */
                g_autoptr(GVariant) v =
                        g_variant_ref_sink(ipcbus_args(g_variant_new_handle(0), NULL));

                fd = memfd_with(g_variant_get_data(v), g_variant_get_size(v), SEALED);
                announced = g_variant_get_size(v);
                break;
        }
        case H_EXTRA_ELEMENT:
        case _H_MAX:
                fd = memfd_with(data, size, SEALED);
                break;
        case H_RING_UNSEALED:
                fd = ring_with(data, size, offset, true, 0);
                break;
        case H_RING_SPARSE:
                fd = ring_with(data, size, offset, false, RING_SEALS);
                break;
        case H_RING_PAST_END:
                fd = ring_with(data, size, offset, true, RING_SEALS);
                offset = RING_SIZE - size + 8;
                break;
        case H_RING_UNALIGNED:
                fd = ring_with(data, size, 4099, true, RING_SEALS);
                offset = 4099;
                break;
        case H_RING_WRITE_SEALED:
                fd = ring_with(data, size, offset, true, RING_SEALS | F_SEAL_WRITE);
                break;
        case H_RING_NOT_NORMAL: {
                g_autofree uint8_t *bad = g_memdup2(data, size);

                bad[size - 1] = 0xff;
                bad[size - 2] = 0xff;
                fd = ring_with(bad, size, offset, true, RING_SEALS);
                break;
        }
        case H_RING_OVER_LIMIT:
                fd = ring_with(data, size, offset, true, RING_SEALS);
                announced = (uint64_t)IPCBUS_VALUE_LARGE_MAX + 1;
                break;
        }

        assert_int_equal(sd_bus_message_new_method_call(bus, &m, TEST_MAIN_NAME, "/org/ipcbus/Test",
                                                        "org.ipcbus.Main1", "Invoke"),
                         0);
        assert_true(sd_bus_message_append(m, "s", "echo") >= 0);
        assert_true(sd_bus_message_open_container(m, 'a', "v") >= 0);
        if (ring)
                assert_true(sd_bus_message_append(m, "v", "(htt)", fd, offset, announced) >= 0);
        else
                assert_true(sd_bus_message_append(m, "v", "(ht)", fd, announced) >= 0);
        if (h == H_EXTRA_ELEMENT)
                assert_true(sd_bus_message_append(m, "v", "s", "more") >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        (void)close(fd);
        assert_true(sd_bus_call(bus, m, test_deadline_usec(WAIT_USEC), error, &reply) < 0);
}

static void test_hostile_memfds(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;

        SKIP_IF_NO_BUS(f);
        assert_int_equal(test_bus_connect(f->bus, &bus), 0);

        for (hostile h = 0; h < _H_MAX; h++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                g_autoptr(GVariant) got = NULL;

                call_hostile(bus, h, &error);
                print_message("%s: %s: %s\n", hostile_names[h], error.name, error.message);
                /* Over 1 GiB is also over the main's limit, checked first. */
                assert_string_equal(error.name, h == H_OVER_LIMIT || h == H_RING_OVER_LIMIT
                                                        ? "org.freedesktop.DBus.Error.LimitsExceeded"
                                                        : "org.freedesktop.DBus.Error.InvalidArgs");
                /* And the main goes on serving. */
                assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", ipcbus_args(g_variant_new_string("ok"), NULL),
                                                             0, NULL, &got),
                                 0);
        }
}

/* A ring made by another program (the contract, not ipcbus, says how) is
 * read, and only the 8 bytes before the value are written: zeroed. */
static void test_foreign_ring(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) args = args_of_size(100000, 'f');
        g_autoptr(GVariant) value = ipcbus_args_get(args, 0);
        const size_t size = g_variant_get_size(args);
        uint8_t *map;
        const char *s;
        int fd;

        SKIP_IF_NO_BUS(f);
        assert_int_equal(test_bus_connect(f->bus, &bus), 0);
        fd = ring_with(g_variant_get_data(args), size, 8192, true, RING_SEALS);
        map = mmap(NULL, RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        assert_true(map != MAP_FAILED);
        memset(map + 8184, 0x5a, 8); /* the mark: "not read yet" */

        assert_int_equal(sd_bus_message_new_method_call(bus, &m, TEST_MAIN_NAME, "/org/ipcbus/Test",
                                                        "org.ipcbus.Main1", "Invoke"),
                         0);
        assert_true(sd_bus_message_append(m, "s", "echo") >= 0);
        assert_true(sd_bus_message_open_container(m, 'a', "v") >= 0);
        assert_true(sd_bus_message_append(m, "v", "(htt)", fd, (uint64_t)8192, (uint64_t)size) >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_int_equal(sd_bus_call(bus, m, test_deadline_usec(WAIT_USEC), &error, &reply), 1);
        /* A plain client never said it takes large values: inline back. */
        assert_true(sd_bus_message_enter_container(reply, 'v', "av") > 0);
        assert_true(sd_bus_message_enter_container(reply, 'a', "v") > 0);
        assert_true(sd_bus_message_read(reply, "v", "s", &s) > 0);
        assert_string_equal(s, g_variant_get_string(value, NULL));
        for (size_t i = 0; i < 8; i++)
                assert_int_equal(map[8184 + i], 0);
        assert_int_equal(map[8192 + size], 0);
        assert_int_equal(map[8183], 0);
        munmap(map, RING_SIZE);
        (void)close(fd);
}

/* ---- rings named by reference ------------------------------------------------ */

typedef struct ref_counts {
        uint64_t sent, received, kept;               /* this process (the renderer) */
        uint64_t main_sent, main_received, main_kept; /* the main's */
} ref_counts;

static ref_counts read_ref_counts(fixture *f) {
        g_autoptr(GVariant) v = NULL;
        const uint64_t *main;
        size_t n, bytes, kept;
        ref_counts c;

        value_large_ref_counts(&c.sent, &c.received);
        value_ring_kept_count(&kept, &bytes);
        c.kept = kept;
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "ref-counts", NULL, 0, NULL, &v), 0);
        main = g_variant_get_fixed_array(v, &n, sizeof(uint64_t));
        assert_int_equal(n, 4);
        c.main_sent = main[0];
        c.main_received = main[1];
        c.main_kept = main[2];
        return c;
}

/*
 * Between a main and a renderer that both name large-values-ring-ref: the
 * first large value each way goes with its ring's descriptor, and its
 * receiver keeps that ring; every large value after it, on every path,
 * names the ring instead (no descriptor through the bus). With
 * IPCBUS_LARGE_VALUES=ring (@named false: a renderer that does not name
 * them) every value keeps its descriptor.
 */
static void check_rings_named(fixture *f, bool named) {
        g_autoptr(GVariant) args = args_of_size(65000, 'n');
        g_autoptr(GVariant) got = NULL;
        ref_counts r0, r1, r2;
        counts before, after;

        r0 = read_ref_counts(f);
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", args, 0, NULL, &got), 0);
        assert_echoed(got, args);
        r1 = read_ref_counts(f);
        /* Each side keeps the other's ring; nothing was named yet. */
        assert_int_equal(r1.main_kept - r0.main_kept, named);
        assert_int_equal(r1.kept - r0.kept, named);
        assert_int_equal(r1.sent, r0.sent);
        assert_int_equal(r1.main_sent, r0.main_sent);

        before = read_counts(f);
        r1 = read_ref_counts(f);
        check_paths(f, 65000, true);
        after = read_counts(f);
        r2 = read_ref_counts(f);
        /* Every large value of those went by reference (or none did). */
        assert_int_equal(r2.sent - r1.sent, named ? after.sent - before.sent : 0);
        assert_int_equal(r2.received - r1.received, named ? after.received - before.received : 0);
        assert_int_equal(r2.main_sent - r1.main_sent, named ? after.main_sent - before.main_sent : 0);
        assert_int_equal(r2.main_received - r1.main_received, named ? after.main_received - before.main_received : 0);
        assert_true(after.sent - before.sent >= 5);
        /* No ring more kept: the same two rings all along. */
        assert_int_equal(r2.main_kept, r1.main_kept);
        assert_int_equal(r2.kept, r1.kept);
}

static void test_rings_named(void **state) {
        fixture *f = *state;

        SKIP_IF_NO_BUS(f);
        check_rings_named(f, true);
}

static void test_rings_not_named(void **state) {
        fixture *f = *state;

        check_rings_named(f, false);
}

/*
 * A value that looks like the by-reference form ("(tttt)", first in its
 * list or as a result) goes out of band between peers that name rings,
 * however small, so that it arrives as the value it is. From a peer that
 * named nothing (busctl), the same "(tttt)" inline is a value.
 */
static void test_ref_lookalike_values(void **state) {
        fixture *f = *state;
        g_autoptr(GVariant) args =
                g_variant_ref_sink(ipcbus_args(g_variant_new("(tttt)", (guint64)1, (guint64)2, (guint64)4096,
                                                             (guint64)64), NULL));
        g_autoptr(GVariant) two =
                g_variant_ref_sink(ipcbus_args(g_variant_new("(tttt)", (guint64)1, (guint64)2, (guint64)4096,
                                                             (guint64)64), g_variant_new_string("and"), NULL));
        g_autoptr(GVariant) second =
                g_variant_ref_sink(ipcbus_args(g_variant_new_string("and"),
                                               g_variant_new("(tttt)", (guint64)1, (guint64)2, (guint64)4096,
                                                             (guint64)64), NULL));
        g_autoptr(GVariant) got = NULL, got2 = NULL;
        g_autofree char *command = NULL;
        char out[256] = "";
        counts before;
        FILE *p;
        int status;

        SKIP_IF_NO_BUS(f);
        /* Alone in the list: out of band there; the echo's result is the
         * list, a "v" holding "av", which goes inline. */
        before = read_counts(f);
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", args, 0, NULL, &got), 0);
        assert_echoed(got, args);
        assert_moved(f, before, 1, 0, 0, 1);
        /* As a result, both ways: our call's list of four goes inline; the
         * main calls our r-echo with it alone in a list (out of band), we
         * answer it (out of band), the main answers our call with it (out
         * of band). */
        before = read_counts(f);
        {
                g_autoptr(GVariant) value = ipcbus_args_get(args, 0);
                result res = {};

                assert_int_equal(ipcbus_renderer_invoke(f->r, NULL, "call-renderer",
                                                        ipcbus_args(g_variant_new_string("big"),
                                                                    g_variant_new_string("r-echo"),
                                                                    g_variant_new_int32(60000), value,
                                                                    NULL),
                                                        0, result_collect, &res),
                                 0);
                assert_true(harness_run_until(&(harness) { .event = f->event }, &res.done, 60000));
                assert_null(res.error_name);
                assert_true(g_variant_equal(res.value, value));
                result_clear(&res);
        }
        assert_moved(f, before, 1, 2, 2, 1);
        /* First in its list, with more after it: out of band too (the
         * receiver reads a first "(tttt)" as the form). The result, a "v"
         * holding that list: inline. */
        before = read_counts(f);
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", two, 0, NULL, &got2), 0);
        assert_echoed(got2, two);
        assert_moved(f, before, 1, 0, 0, 1);
        /* The same sent with sd-bus-style arguments, and sent back. */
        {
                inbox in = {};

                assert_int_equal(ipcbus_renderer_on(f->r, NULL, "reply-back", inbox_listener, &in), 0);
                before = read_counts(f);
                assert_int_equal(ipcbus_renderer_sendf(f->r, "reply", "(tttt)s", (uint64_t)1, (uint64_t)2,
                                                       (uint64_t)4096, (uint64_t)64, "and"),
                                 0);
                assert_true(harness_run_until(&(harness) { .event = f->event }, &in.got, 60000));
                assert_true(g_variant_equal(in.last, two));
                assert_moved(f, before, 1, 1, 1, 1);
                assert_true(ipcbus_renderer_remove_all_listeners(f->r, "reply-back") >= 0);
                inbox_clear(&in);
        }
        /* Second in its list: inline, as any small value. */
        g_clear_pointer(&got2, g_variant_unref);
        before = read_counts(f);
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", second, 0, NULL, &got2), 0);
        assert_echoed(got2, second);
        assert_moved(f, before, 0, 0, 0, 0);

        if (f->kind == T_DIRECT)
                return;
        command = g_strdup_printf("busctl --address=%s call %s /org/ipcbus/Test org.ipcbus.Main1 Invoke sav echo 1 "
                                  "'(tttt)' 1 2 4096 64",
                                  test_bus_get_address(f->bus), TEST_MAIN_NAME);
        p = popen(command, "r");
        assert_non_null(p);
        assert_true(fread(out, 1, sizeof(out) - 1, p) > 0);
        status = pclose(p);
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_string_equal(out, "v av 1 (tttt) 1 2 4096 64\n");
}

/* A peer that named rings and names one it never sent, or another's, is
 * refused (InvalidArgs, the call answered), and the main goes on serving. */
static void test_hostile_refs(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *attach = NULL, *attached = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) big = args_of_size(65000, 'h');
        g_autoptr(GVariant) got = NULL;
        ValueRing *ring = NULL;
        uint64_t dev, ino;
        uint8_t *data;
        uint64_t offset;
        int fd;

        SKIP_IF_NO_BUS(f);
        assert_int_equal(test_bus_connect(f->bus, &bus), 0);
        assert_int_equal(sd_bus_message_new_method_call(bus, &attach, TEST_MAIN_NAME, "/org/ipcbus/Test",
                                                        "org.ipcbus.Main1", "Attach"),
                         0);
        assert_true(sd_bus_message_append(attach, "a{sv}", 1, "features", "as", 3, "large-values",
                                          "large-values-ring", "large-values-ring-ref") >= 0);
        assert_int_equal(sd_bus_call(bus, attach, test_deadline_usec(WAIT_USEC), &error, &attached), 1);

        /* The renderer's ring, which the main keeps for the renderer after
         * this: not this peer's to name. */
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", big, 0, NULL, &got), 0);
        g_clear_pointer(&got, g_variant_unref);
        assert_non_null(f->r->main_large.ring);
        assert_true(value_ring_kept(f->r->main_large.ring));
        /* And one this peer made and never sent. */
        assert_int_equal(value_ring_reserve(&ring, 100, &data, &offset, &fd), 1);

        for (unsigned i = 0; i < 2; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;

                sd_bus_error_free(&error);
                assert_int_equal(sd_bus_message_new_method_call(bus, &m, TEST_MAIN_NAME, "/org/ipcbus/Test",
                                                                "org.ipcbus.Main1", "Invoke"),
                                 0);
                assert_true(sd_bus_message_append(m, "s", "echo") >= 0);
                assert_true(sd_bus_message_open_container(m, 'a', "v") >= 0);
                value_ring_id(i == 0 ? ring : f->r->main_large.ring, &dev, &ino);
                assert_true(sd_bus_message_append(m, "v", "(tttt)", dev, ino, offset, (uint64_t)100) >= 0);
                assert_true(sd_bus_message_close_container(m) >= 0);
                assert_true(sd_bus_call(bus, m, test_deadline_usec(WAIT_USEC), &error, &reply) < 0);
                print_message("%s: %s\n", error.name, error.message);
                assert_string_equal(error.name, "org.freedesktop.DBus.Error.InvalidArgs");
                assert_string_equal(error.message,
                                    "out-of-band value: the ring named is not one this process keeps for the sender");
        }
        value_ring_free(ring);
        /* Still serving, by reference too. */
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", big, 0, NULL, &got), 0);
        assert_echoed(got, big);
}

/* IPCBUS_LIMIT_LARGE_VALUE_BYTES: past it LimitsExceeded, counted, and the
 * main goes on; at it, served. */
static void test_large_limit(void **state) {
        fixture *f = *state;
        g_autoptr(GVariant) small = args_of_size(TEST_LARGE_LIMIT, 'l');
        g_autoptr(GVariant) large = args_of_size(TEST_LARGE_LIMIT + 1, 'm');
        g_autoptr(GVariant) got = NULL, got2 = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", small, 0, NULL, &got), 0);
        assert_echoed(got, small);
        assert_true(ipcbus_renderer_invoke_sync(f->r, "echo", large, 0, &error, &got2) < 0);
        print_message("%s: %s\n", error.name, error.message);
        assert_string_equal(error.name, "org.freedesktop.DBus.Error.LimitsExceeded");
        assert_non_null(strstr(error.message, "out-of-band"));
        g_clear_pointer(&got, g_variant_unref);
        assert_int_equal(ipcbus_renderer_invoke_sync(f->r, "echo", small, 0, NULL, &got), 0);
        assert_echoed(got, small);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_threshold, setup_daemon, teardown),
                cmocka_unit_test_setup_teardown(test_threshold, setup_broker, teardown),
                cmocka_unit_test_setup_teardown(test_threshold, setup_direct, teardown),
                cmocka_unit_test_setup_teardown(test_paths, setup_daemon, teardown),
                cmocka_unit_test_setup_teardown(test_paths, setup_broker, teardown),
                cmocka_unit_test_setup_teardown(test_paths, setup_direct, teardown),
                cmocka_unit_test_setup_teardown(test_paths_inline_for_old_peer, setup_daemon_old, teardown),
                cmocka_unit_test_setup_teardown(test_paths_memfd_only, setup_daemon_memfd, teardown),
                cmocka_unit_test_setup_teardown(test_ring_gone_with_renderer, setup_daemon, teardown),
                cmocka_unit_test_setup_teardown(test_ring_gone_with_renderer, setup_broker, teardown),
                cmocka_unit_test_setup_teardown(test_read_late, setup_daemon, teardown),
                cmocka_unit_test_setup_teardown(test_read_late, setup_broker, teardown),
                cmocka_unit_test_setup_teardown(test_read_late, setup_direct, teardown),
                cmocka_unit_test_setup_teardown(test_sizes, setup_daemon, teardown),
                cmocka_unit_test_setup_teardown(test_sizes, setup_broker, teardown),
                cmocka_unit_test_setup_teardown(test_sizes, setup_direct, teardown),
                cmocka_unit_test_setup_teardown(test_busctl_gets_inline, setup_daemon, teardown),
                cmocka_unit_test_setup_teardown(test_hostile_memfds, setup_daemon, teardown),
                cmocka_unit_test_setup_teardown(test_hostile_memfds, setup_broker, teardown),
                cmocka_unit_test_setup_teardown(test_foreign_ring, setup_daemon, teardown),
                cmocka_unit_test_setup_teardown(test_large_limit, setup_direct_limited, teardown),
                cmocka_unit_test_setup_teardown(test_rings_named, setup_daemon, teardown),
                cmocka_unit_test_setup_teardown(test_rings_named, setup_broker, teardown),
                cmocka_unit_test_setup_teardown(test_rings_named, setup_direct, teardown),
                cmocka_unit_test_setup_teardown(test_rings_not_named, setup_daemon_ring_only, teardown),
                cmocka_unit_test_setup_teardown(test_ref_lookalike_values, setup_daemon, teardown),
                cmocka_unit_test_setup_teardown(test_ref_lookalike_values, setup_direct, teardown),
                cmocka_unit_test_setup_teardown(test_hostile_refs, setup_daemon, teardown),
                cmocka_unit_test_setup_teardown(test_hostile_refs, setup_broker, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
