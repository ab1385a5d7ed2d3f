/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Faults (issue 10): processes killed in the middle of a call, on a
 * private dbus-daemon and, where a descriptor is in flight, on a direct
 * connection. docs/reliability.md ("Faults") lists what each test asserts
 * and the figures they print.
 *
 *  - A renderer (a child) is SIGKILLed while the main holds its invoke: the
 *    main sees it detach, answering the held invocation says the caller is
 *    gone (-ENOTCONN), the main keeps serving another renderer, and its
 *    descriptor count (/proc/self/fd, reported on the "fds" channel or on
 *    SIGUSR1) is what it was before the renderer came.
 *  - A direct renderer is SIGKILLed while stopped with large messages in
 *    flight on the port the main gave it: the port closes, it detaches,
 *    and the main gives back the connection's and the port's descriptors.
 *  - The main (a child) is SIGKILLed while a renderer blocks in
 *    invoke_sync, then in send_sync: each returns -ENOTCONN with
 *    org.ipcbus.Error.Disconnected within one second of the kill (scaled by
 *    IPCBUS_TEST_DEADLINE_SCALE under valgrind).
 *  - A handler never completes: the caller's own timeout fires
 *    (-ETIMEDOUT), and once the caller has gone, answering the invocation
 *    says so (-ENOTCONN) and dropping it leaves no descriptor behind.
 *  - The bus daemon is SIGKILLed: the renderer's held call fails at once
 *    and its main vanishes; the main is told and its loop ends.
 *  - A direct peer calls and never reads: another renderer is still served
 *    within SERVED_WITHIN_USEC.
 *
 * Nothing sleeps: the test waits for lines the children print ("holding",
 * "in-sync", "attached", "detached", "fds", "port-closed", ...) and for the
 * loop's events; a helper thread does the killing while the test thread
 * blocks in a _sync call.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <ipcbus/ipcbus.h>

#include "harness.h"

#define KILL_MAIN_NAME "org.ipcbus.Kill"
#define WAIT_USEC (20 * TEST_USEC_PER_SEC)
#define WAIT_MS 20000
/* How soon a blocked call must fail once its main is gone (issue 10). */
#define FAIL_WITHIN_USEC TEST_USEC_PER_SEC

/* ---- the main (a child) -------------------------------------------------------- */

typedef struct main_config {
        const char *address;
        int direct_fd;  /* >= 0: also serve this direct connection */
        int close_fd;   /* the renderer's end, closed in the main */
} main_config;

static ipcbus_main *kill_main;
static GQueue held = G_QUEUE_INIT;
/* The main's end of the port it gives a direct renderer. */
static ipcbus_port *direct_port;

static unsigned count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        unsigned n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        /* opendir()'s own descriptor. */
        return n - 1;
}

static int h_fds(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, g_variant_new_uint32(count_fds()));
}

static int h_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, args);
}

/* Keeps the invocation unanswered until answer-held. */
static int h_hold(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_queue_push_tail(&held, ipcbus_invocation_ref(inv));
        test_say("holding %u", g_queue_get_length(&held));
        return 0;
}

/* Answers every held invocation and drops it; returns what each answer
 * returned ("ai"). */
static int h_answer_held(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        GVariantBuilder b;
        ipcbus_invocation *h;

        g_variant_builder_init(&b, G_VARIANT_TYPE("ai"));
        while ((h = g_queue_pop_head(&held))) {
                g_variant_builder_add(&b, "i", ipcbus_invocation_return_value(h, g_variant_new_string("late")));
                ipcbus_invocation_unref(h);
        }
        return ipcbus_invocation_return_value(inv, g_variant_builder_end(&b));
}

/* A sendSync listener that never returns: the test kills the main here. */
static int on_sync_hang(ipcbus_event *e, GVariant *args, void *userdata) {
        test_say("in-sync");
        for (;;)
                pause();
        return 0;
}

static void on_direct_port_close(ipcbus_port *port, void *userdata) {
        test_say("port-closed");
        direct_port = ipcbus_port_unref(direct_port);
}

static void on_attached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        const char *name = ipcbus_web_contents_get_name(wc);
        ipcbus_port *p1 = NULL;

        test_say("attached %s", name ? name : "-");
        /* A direct renderer gets a port at once. */
        if (ipcbus_web_contents_get_bus_name(wc) || direct_port)
                return;
        if (ipcbus_message_channel_new(ipcbus_main_get_event(kill_main), &p1, &direct_port) < 0)
                return;
        (void)ipcbus_port_on_close(direct_port, NULL, on_direct_port_close, NULL);
        (void)ipcbus_port_start(direct_port);
        (void)ipcbus_web_contents_post_message(wc, "port", NULL, &p1, 1);
        ipcbus_port_unref(p1);
}

/* SIGUSR1: "fds N", the main's open descriptors. */
static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        test_say("fds %u", count_fds());
        return 0;
}

/* SIGUSR2: 256 KiB messages on the direct renderer's port until it refuses
 * or 64 went out ("flooded ACCEPTED"): messages in flight when the test
 * kills the renderer. */
static int on_sigusr2(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        g_autofree char *big = g_malloc(256 * 1024 + 1);
        unsigned accepted = 0;

        memset(big, 'x', 256 * 1024);
        big[256 * 1024] = 0;
        for (unsigned i = 0; direct_port && i < 64; i++) {
                if (ipcbus_port_post_message(direct_port, g_variant_new_string(big), NULL, 0) < 0)
                        break;
                accepted++;
        }
        test_say("flooded %u", accepted);
        return 0;
}

static void on_detached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        const char *name = ipcbus_web_contents_get_name(wc);

        test_say("detached %s", name ? name : "-");
}

static void on_bus_closed(ipcbus_main *m, sd_bus *bus, void *userdata) {
        test_say("bus-closed");
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return ipcbus_main_exit(kill_main, 0);
}

#define CHECK(expr) TEST_CHILD_CHECK("kill main", expr)

static int main_child(void *userdata) {
        const main_config *config = userdata;
        ipcbus_invocation *h;
        sigset_t mask;
        int r;

        CHECK(ipcbus_main_new(&kill_main, KILL_MAIN_NAME));
        CHECK(ipcbus_main_handle(kill_main, NULL, "fds", h_fds, NULL));
        CHECK(ipcbus_main_handle(kill_main, NULL, "echo", h_echo, NULL));
        CHECK(ipcbus_main_handle(kill_main, NULL, "hold", h_hold, NULL));
        CHECK(ipcbus_main_handle(kill_main, NULL, "answer-held", h_answer_held, NULL));
        CHECK(ipcbus_main_on(kill_main, NULL, "sync-hang", on_sync_hang, NULL));
        CHECK(ipcbus_main_on_attached(kill_main, NULL, on_attached, NULL));
        CHECK(ipcbus_main_on_detached(kill_main, NULL, on_detached, NULL));
        CHECK(ipcbus_main_on_bus_closed(kill_main, NULL, on_bus_closed, NULL));
        CHECK(ipcbus_main_open_address(kill_main, config->address));
        if (config->close_fd >= 0)
                close(config->close_fd);
        if (config->direct_fd >= 0)
                CHECK(ipcbus_main_add_direct(kill_main, config->direct_fd, NULL));
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGUSR1);
        sigaddset(&mask, SIGUSR2);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        CHECK(sd_event_add_signal(ipcbus_main_get_event(kill_main), NULL, SIGTERM, on_sigterm, NULL));
        CHECK(sd_event_add_signal(ipcbus_main_get_event(kill_main), NULL, SIGUSR1, on_sigusr1, NULL));
        CHECK(sd_event_add_signal(ipcbus_main_get_event(kill_main), NULL, SIGUSR2, on_sigusr2, NULL));
        test_say("ready");
        r = ipcbus_main_run(kill_main);
        test_say("run returned %d", r);
        while ((h = g_queue_pop_head(&held)))
                ipcbus_invocation_unref(h);
        direct_port = ipcbus_port_unref(direct_port);
        kill_main = ipcbus_main_unref(kill_main);
        return r < 0 ? 1 : 0;
}

/* ---- a renderer (a child) that invokes "hold" and waits ------------------------ */

static int on_hold_answer(GVariant *value, const sd_bus_error *error, void *userdata) {
        return 0;
}

static int renderer_child(void *userdata) {
        const char *address = userdata;
        ipcbus_renderer *r = NULL;
        uint64_t id = 0;

#undef CHECK
#define CHECK(expr) TEST_CHILD_CHECK("kill renderer", expr)
        CHECK(ipcbus_renderer_new(&r, KILL_MAIN_NAME));
        CHECK(ipcbus_renderer_open_address(r, address));
        CHECK(ipcbus_renderer_attach_sync(r, "victim", NULL, &id));
        CHECK(ipcbus_renderer_invoke(r, NULL, "hold", NULL, 600 * TEST_USEC_PER_SEC, on_hold_answer, NULL));
        /* Runs until killed. */
        (void)ipcbus_renderer_run(r);
        ipcbus_renderer_unref(r);
        return 0;
}

/* ---- a direct renderer (a child) that takes the main's port ------------------- */

static ipcbus_port *renderer_port;

static int on_port_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n_ports,
                           void *userdata) {
        return 0;
}

static int on_port(ipcbus_event *e, GVariant *args, void *userdata) {
        size_t n = 0;
        ipcbus_port **ports = ipcbus_event_get_ports(e, &n);

        if (n < 1 || renderer_port)
                return -EINVAL;
        renderer_port = ipcbus_port_ref(ports[0]);
        (void)ipcbus_port_on_message(renderer_port, NULL, on_port_message, NULL);
        (void)ipcbus_port_start(renderer_port);
        test_say("got-port");
        return 0;
}

static int direct_renderer_child(void *userdata) {
        const int *fds = userdata;
        ipcbus_renderer *r = NULL;

        close(fds[0]);
        CHECK(ipcbus_renderer_new(&r, KILL_MAIN_NAME));
        CHECK(ipcbus_renderer_on(r, NULL, "port", on_port, NULL));
        CHECK(ipcbus_renderer_open_direct(r, fds[1]));
        /* Runs until killed. */
        (void)ipcbus_renderer_run(r);
        ipcbus_renderer_unref(r);
        return 0;
}

/* ---- a direct renderer (a child) that calls and never reads ------------------- */

#define NEVER_READS_CALLS 200
#define NEVER_READS_BYTES (64 * 1024)

/* Plain sd-bus, so that nothing reads for it: its calls are written, their
 * answers (and the main's own call to a new renderer) never read. */
static int direct_silent_child(void *userdata) {
        const int *fds = userdata;
        g_autofree char *big = g_malloc(NEVER_READS_BYTES + 1);
        sd_bus *bus = NULL;
        unsigned sent = 0;

        close(fds[0]);
        memset(big, 'y', NEVER_READS_BYTES);
        big[NEVER_READS_BYTES] = 0;
        CHECK(sd_bus_new(&bus));
        CHECK(sd_bus_set_fd(bus, fds[1], fds[1]));
        CHECK(sd_bus_start(bus));
        for (unsigned i = 0; i < NEVER_READS_CALLS; i++)
                if (sd_bus_call_method_async(bus, NULL, NULL, "/org/ipcbus/Kill", IPCBUS_INTERFACE_MAIN, "Invoke",
                                             NULL, NULL, "sav", "echo", 1, "s", big) >= 0)
                        sent++;
        CHECK(sd_bus_flush(bus));
        test_say("sent %u", sent);
        for (;;)
                pause();
        return 0;
}

/* ---- the test side -------------------------------------------------------------- */

typedef struct fixture {
        test_bus *bus;
        test_process *main;
        sd_event *event;
        main_config config;
        int direct[2]; /* [0] the main's end, [1] the direct renderer's */
} fixture;

static int setup_with(void **state, bool direct) {
        fixture *f = calloc(1, sizeof(*f));

        f->direct[0] = f->direct[1] = -1;
        assert_int_equal(test_bus_start(&f->bus, TEST_BUS_DBUS_DAEMON), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        if (direct)
                assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->direct), 0);
        f->config = (main_config){ test_bus_get_address(f->bus), f->direct[0], f->direct[1] };
        assert_int_equal(test_process_spawn(&f->main, main_child, &f->config), 0);
        assert_int_equal(test_process_wait_line(f->main, "ready", WAIT_USEC), 0);
        *state = f;
        return 0;
}

static int setup(void **state) {
        return setup_with(state, false);
}

static int setup_direct(void **state) {
        return setup_with(state, true);
}

static int teardown(void **state) {
        fixture *f = *state;
        int status;

        if (f->main) {
                (void)test_process_kill(f->main, SIGTERM);
                (void)test_process_wait_exit(f->main, &status);
                f->main = test_process_free(f->main);
        }
        for (size_t i = 0; i < 2; i++)
                if (f->direct[i] >= 0)
                        close(f->direct[i]);
        f->event = sd_event_unref(f->event);
        f->bus = test_bus_free(f->bus);
        free(f);
        return 0;
}

static ipcbus_renderer *renderer(fixture *f, const char *name) {
        ipcbus_renderer *r = NULL;
        uint64_t id = 0;

        assert_int_equal(ipcbus_renderer_new(&r, KILL_MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(r, f->event, 0), 0);
        assert_int_equal(ipcbus_renderer_set_timeout(r, WAIT_USEC), 0);
        assert_int_equal(ipcbus_renderer_open_address(r, test_bus_get_address(f->bus)), 0);
        assert_int_equal(ipcbus_renderer_attach_sync(r, name, NULL, &id), 0);
        assert_int_equal(test_process_wait_line(f->main, "attached ", WAIT_USEC), 0);
        return r;
}

static unsigned main_fds(ipcbus_renderer *r) {
        g_autoptr(GVariant) v = NULL;

        assert_int_equal(ipcbus_renderer_invoke_sync(r, "fds", NULL, WAIT_USEC, NULL, &v), 0);
        return g_variant_get_uint32(v);
}

static void wait_stopped(test_process *p) {
        int status;

        assert_int_equal(test_process_wait_exit(p, &status), 0);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* Answers the held invocations and returns how many said -ENOTCONN; fails
 * on any other result. */
static unsigned answer_held(ipcbus_renderer *r, unsigned expected) {
        g_autoptr(GVariant) v = NULL;
        const int32_t *results;
        size_t n = 0;
        unsigned gone = 0;

        assert_int_equal(ipcbus_renderer_invoke_sync(r, "answer-held", NULL, WAIT_USEC, NULL, &v), 0);
        results = g_variant_get_fixed_array(v, &n, sizeof(int32_t));
        assert_int_equal(n, expected);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(results[i], -ENOTCONN);
                gone++;
        }
        return gone;
}

static void test_renderer_killed_mid_invoke(void **state) {
        fixture *f = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *probe = renderer(f, "probe");
        _cleanup_(test_process_freep) test_process *victim = NULL;
        g_autoptr(GVariant) echoed = NULL;
        unsigned before, during, after;

        before = main_fds(probe);
        assert_int_equal(test_process_spawn(&victim, renderer_child, (void *)f->config.address), 0);
        assert_int_equal(test_process_wait_line(f->main, "attached victim", WAIT_USEC), 0);
        assert_int_equal(test_process_wait_line(f->main, "holding 1", WAIT_USEC), 0);
        during = main_fds(probe);

        assert_int_equal(test_process_kill(victim, SIGKILL), 0);
        wait_stopped(victim);
        assert_int_equal(test_process_wait_line(f->main, "detached victim", WAIT_USEC), 0);

        /* The main keeps serving, and its answer to the dead caller goes nowhere. */
        assert_int_equal(ipcbus_renderer_invoke_sync(probe, "echo", ipcbus_args(g_variant_new_string("still"), NULL),
                                                     WAIT_USEC, NULL, &echoed),
                         0);
        assert_int_equal(answer_held(probe, 1), 1);
        after = main_fds(probe);
        fprintf(stderr, "renderer killed mid-invoke: main fds before=%u during=%u after=%u\n", before, during,
                after);
        assert_int_equal(after, before);
}

/* Waits for a line starting with @a and one starting with @b, in either
 * order: the port's socket and the connection close in the same instant,
 * and the loop may see either first. */
static void wait_both(test_process *p, const char *a, const char *b) {
        bool got_a = false, got_b = false;

        while (!got_a || !got_b) {
                const char *line;

                assert_int_equal(test_process_wait_line(p, "", WAIT_USEC), 0);
                line = test_process_get_line(p);
                got_a = got_a || g_str_has_prefix(line, a);
                got_b = got_b || g_str_has_prefix(line, b);
        }
}

/* The main's descriptor count, asked for with SIGUSR1. */
static unsigned main_fds_by_signal(fixture *f) {
        unsigned n = 0;

        assert_int_equal(test_process_kill(f->main, SIGUSR1), 0);
        assert_int_equal(test_process_wait_line(f->main, "fds ", WAIT_USEC), 0);
        assert_int_equal(sscanf(test_process_get_line(f->main), "fds %u", &n), 1);
        return n;
}

static void test_renderer_killed_mid_port_message(void **state) {
        fixture *f = *state;
        _cleanup_(test_process_freep) test_process *victim = NULL;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *probe = NULL;
        g_autoptr(GVariant) echoed = NULL;
        unsigned before, during, after, flooded = 0;

        /* The direct connection was attached and given its port before
         * "ready": three of these descriptors are the connection, the
         * port's end the main keeps and the other end, waiting in the
         * connection's outgoing message. */
        before = main_fds_by_signal(f);
        assert_int_equal(test_process_spawn(&victim, direct_renderer_child, f->direct), 0);
        close(f->direct[1]);
        f->direct[1] = -1;
        assert_int_equal(test_process_wait_line(victim, "got-port", WAIT_USEC), 0);

        /* The renderer stops reading; the main sends large messages on the
         * port, and the renderer dies with them in flight. */
        assert_int_equal(test_process_kill(victim, SIGSTOP), 0);
        assert_int_equal(test_process_kill(f->main, SIGUSR2), 0);
        assert_int_equal(test_process_wait_line(f->main, "flooded ", WAIT_USEC), 0);
        assert_int_equal(sscanf(test_process_get_line(f->main), "flooded %u", &flooded), 1);
        assert_true(flooded > 0);
        during = main_fds_by_signal(f);
        assert_int_equal(test_process_kill(victim, SIGKILL), 0);
        wait_stopped(victim);

        wait_both(f->main, "port-closed", "detached ");
        after = main_fds_by_signal(f);
        fprintf(stderr, "renderer killed mid-port-message (direct, %u x 256 KiB on the port): main fds "
                "before=%u during=%u after=%u\n", flooded, before, during, after);
        /* Those three are gone, and nothing the flood made stays. */
        assert_int_equal(after, before - 3);

        /* The main keeps serving. */
        probe = renderer(f, "probe");
        assert_int_equal(ipcbus_renderer_invoke_sync(probe, "echo", ipcbus_args(g_variant_new_string("still"), NULL),
                                                     WAIT_USEC, NULL, &echoed),
                         0);
}

/* Round trips of echo from @r: the slowest, in microseconds. */
static gint64 slowest_echo(ipcbus_renderer *r, unsigned n) {
        gint64 slowest = 0;

        for (unsigned i = 0; i < n; i++) {
                g_autoptr(GVariant) v = NULL;
                gint64 start = g_get_monotonic_time(), took;

                assert_int_equal(ipcbus_renderer_invoke_sync(r, "echo", ipcbus_args(g_variant_new_uint32(i), NULL),
                                                             WAIT_USEC, NULL, &v),
                                 0);
                took = g_get_monotonic_time() - start;
                if (took > slowest)
                        slowest = took;
        }
        return slowest;
}

/* What a renderer's round trip may take while another peer never reads
 * (docs/reliability.md, "Faults"). */
#define SERVED_WITHIN_USEC (100 * TEST_USEC_PER_MSEC)

static void test_peer_never_reads(void **state) {
        fixture *f = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *probe = renderer(f, "probe");
        _cleanup_(test_process_freep) test_process *silent = NULL;
        gint64 baseline, stalled, after_kill;
        unsigned sent = 0, fds_before, fds_after;

        /* As in test_renderer_killed_mid_port_message, three of them are
         * the direct connection and its port. */
        fds_before = main_fds_by_signal(f);
        baseline = slowest_echo(probe, 100);
        assert_int_equal(test_process_spawn(&silent, direct_silent_child, f->direct), 0);
        close(f->direct[1]);
        f->direct[1] = -1;
        assert_int_equal(test_process_wait_line(silent, "sent ", WAIT_USEC), 0);
        assert_int_equal(sscanf(test_process_get_line(silent), "sent %u", &sent), 1);

        /* The main answers it into a connection nobody reads while serving
         * the probe. */
        stalled = slowest_echo(probe, 100);
        fprintf(stderr, "peer never reads (%u calls of 64 KiB echo sent): slowest of 100 echo round trips "
                "%" G_GINT64_FORMAT " us before, %" G_GINT64_FORMAT " us during\n", sent, baseline, stalled);
        assert_int_equal(sent, NEVER_READS_CALLS);
        assert_true(stalled < (gint64)test_deadline_usec(SERVED_WITHIN_USEC));

        /* It goes; the main still serves. */
        assert_int_equal(test_process_kill(silent, SIGKILL), 0);
        wait_stopped(silent);
        wait_both(f->main, "port-closed", "detached ");
        after_kill = slowest_echo(probe, 10);
        fds_after = main_fds_by_signal(f);
        fprintf(stderr, "peer never reads, killed: slowest echo after %" G_GINT64_FORMAT " us; main fds "
                "before=%u after=%u\n", after_kill, fds_before, fds_after);
        assert_true(after_kill < (gint64)test_deadline_usec(SERVED_WITHIN_USEC));
        assert_int_equal(fds_after, fds_before - 3);
}

/* ---- the main killed while a renderer blocks ------------------------------------ */

typedef struct killer {
        test_process *main;
        const char *line;
        gint64 killed_at;
        int r;
} killer;

static void *killer_thread(void *userdata) {
        killer *k = userdata;

        k->r = test_process_wait_line(k->main, k->line, WAIT_USEC);
        if (k->r < 0)
                return NULL;
        k->killed_at = g_get_monotonic_time();
        k->r = test_process_kill(k->main, SIGKILL);
        return NULL;
}

typedef enum blocked_call { BLOCKED_INVOKE, BLOCKED_SEND_SYNC } blocked_call;

static void main_killed_while_blocked(fixture *f, blocked_call call) {
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = renderer(f, "waiter");
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) v = NULL;
        killer k = { .main = f->main, .line = call == BLOCKED_INVOKE ? "holding" : "in-sync" };
        pthread_t thread;
        gint64 returned, elapsed;
        int rv, status;

        assert_int_equal(pthread_create(&thread, NULL, killer_thread, &k), 0);
        if (call == BLOCKED_INVOKE)
                rv = ipcbus_renderer_invoke_sync(r, "hold", NULL, 60 * TEST_USEC_PER_SEC, &error, &v);
        else
                rv = ipcbus_renderer_send_sync(r, "sync-hang", NULL, &error, &v);
        returned = g_get_monotonic_time();
        assert_int_equal(pthread_join(thread, NULL), 0);
        assert_int_equal(k.r, 0);
        elapsed = returned - k.killed_at;
        fprintf(stderr, "main killed during %s: failed after %" G_GINT64_FORMAT " us with %d %s: %s\n",
                call == BLOCKED_INVOKE ? "invoke_sync" : "send_sync", elapsed, rv, error.name, error.message);
        assert_int_equal(rv, -ENOTCONN);
        assert_string_equal(error.name, IPCBUS_ERROR_DISCONNECTED);
        assert_int_equal(sd_bus_error_get_errno(&error), ENOTCONN);
        assert_non_null(error.message);
        assert_true(elapsed < (gint64)test_deadline_usec(FAIL_WITHIN_USEC));
        assert_null(v);

        assert_int_equal(test_process_wait_exit(f->main, &status), 0);
        f->main = test_process_free(f->main);
}

static void test_main_killed_during_invoke_sync(void **state) {
        main_killed_while_blocked(*state, BLOCKED_INVOKE);
}

static void test_main_killed_during_send_sync(void **state) {
        main_killed_while_blocked(*state, BLOCKED_SEND_SYNC);
}

/* ---- a handler that never completes --------------------------------------------- */

static void test_handler_never_completes(void **state) {
        fixture *f = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *probe = renderer(f, "probe");
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        ipcbus_renderer *caller = renderer(f, "caller");
        g_autoptr(GVariant) v = NULL;
        unsigned before, after;
        gint64 start, elapsed;
        int rv;

        before = main_fds(probe);
        start = g_get_monotonic_time();
        rv = ipcbus_renderer_invoke_sync(caller, "hold", NULL, 200 * TEST_USEC_PER_MSEC, &error, &v);
        elapsed = g_get_monotonic_time() - start;
        fprintf(stderr, "handler never completes: caller's 200 ms timeout fired after %" G_GINT64_FORMAT
                " us with %d %s: %s\n", elapsed, rv, error.name, error.message);
        assert_int_equal(rv, -ETIMEDOUT);
        assert_non_null(error.name);
        assert_int_equal(sd_bus_error_get_errno(&error), ETIMEDOUT);
        assert_true(elapsed >= 200 * (gint64)TEST_USEC_PER_MSEC);
        assert_true(elapsed < (gint64)test_deadline_usec(5 * TEST_USEC_PER_SEC));
        assert_int_equal(test_process_wait_line(f->main, "holding 1", WAIT_USEC), 0);

        /* The caller goes: the main hears it, and the held invocation knows. */
        caller = ipcbus_renderer_unref(caller);
        assert_int_equal(test_process_wait_line(f->main, "detached caller", WAIT_USEC), 0);
        assert_int_equal(answer_held(probe, 1), 1);
        after = main_fds(probe);
        fprintf(stderr, "handler never completes: main fds before=%u after=%u\n", before, after);
        assert_int_equal(after, before);
}

/* ---- the bus daemon killed ------------------------------------------------------ */

static void on_vanished(ipcbus_renderer *r, void *userdata) {
        *(bool *)userdata = true;
}

static bool run_until(fixture *f, const bool *flag) {
        gint64 deadline = g_get_monotonic_time() + (gint64)test_deadline_usec(WAIT_USEC);

        while (!*flag) {
                gint64 now = g_get_monotonic_time();

                if (now >= deadline)
                        return false;
                assert_true(sd_event_run(f->event, (uint64_t)(deadline - now)) >= 0);
        }
        return true;
}

static void test_bus_daemon_killed(void **state) {
        fixture *f = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = renderer(f, "orphan");
        result pending = {};
        bool vanished = false;
        gint64 killed_at, failed_at, vanished_at;
        int status;

        assert_int_equal(ipcbus_renderer_on_main_vanished(r, NULL, on_vanished, &vanished), 0);
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "hold", NULL, 60 * TEST_USEC_PER_SEC, result_collect,
                                                &pending),
                         0);
        assert_int_equal(test_process_wait_line(f->main, "holding 1", WAIT_USEC), 0);

        killed_at = g_get_monotonic_time();
        assert_int_equal(test_bus_kill(f->bus, SIGKILL), 0);

        /* The renderer: its call fails, its main is gone. */
        assert_true(run_until(f, &pending.done));
        failed_at = g_get_monotonic_time();
        assert_true(run_until(f, &vanished));
        vanished_at = g_get_monotonic_time();
        fprintf(stderr, "bus killed: renderer's invoke failed after %" G_GINT64_FORMAT " us with %d %s: %s; "
                "main vanished after %" G_GINT64_FORMAT " us\n", failed_at - killed_at, pending.error_errno,
                pending.error_name, pending.error_message, vanished_at - killed_at);
        assert_string_equal(pending.error_name, IPCBUS_ERROR_DISCONNECTED);
        assert_int_equal(pending.error_errno, ENOTCONN);
        assert_false(ipcbus_renderer_has_main(r));
        assert_true(failed_at - killed_at < (gint64)test_deadline_usec(FAIL_WITHIN_USEC));
        result_clear(&pending);

        /* The main: told, its loop ends, it exits without crashing. */
        assert_int_equal(test_process_wait_line(f->main, "bus-closed", WAIT_USEC), 0);
        assert_int_equal(test_process_wait_line(f->main, "run returned ", WAIT_USEC), 0);
        assert_string_equal(test_process_get_line(f->main), "run returned -107"); /* -ENOTCONN */
        assert_int_equal(test_process_wait_exit(f->main, &status), 0);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 1);
        f->main = test_process_free(f->main);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_renderer_killed_mid_invoke, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_killed_mid_port_message, setup_direct, teardown),
                cmocka_unit_test_setup_teardown(test_main_killed_during_invoke_sync, setup, teardown),
                cmocka_unit_test_setup_teardown(test_main_killed_during_send_sync, setup, teardown),
                cmocka_unit_test_setup_teardown(test_handler_never_completes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bus_daemon_killed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_peer_never_reads, setup_direct, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
