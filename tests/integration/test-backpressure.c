/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Back-pressure on the main's connections (docs/architecture.md, "Limits"):
 * a renderer in a child process stops (SIGSTOP) while the main, in another
 * child, sends it 100,000 messages. The main refuses what is past
 * IPCBUS_CONNECTION_QUEUE_MAX with -ENOBUFS instead of growing, another
 * renderer keeps being served, and after SIGCONT the stalled renderer gets
 * what was taken, in order, and the main's queue empties; or the stalled
 * renderer is killed and what waited for it is freed. Direct connections
 * and a bus. The main prints its VmRSS (kB) at start, at the peak and
 * after; the test prints them too and bounds the growth.
 *
 * The other way round: the main stops (SIGSTOP) while a renderer, in the
 * test process, sends it 100,000 messages. The renderer refuses what is
 * past IPCBUS_CONNECTION_QUEUE_MAX with -ENOBUFS (direct; on a bus the
 * daemon reads on and buffers for the stopped main), its VmRSS stays
 * bounded, and after SIGCONT the main gets what was taken, in order. A
 * renderer whose main has not appeared yet queues at most
 * IPCBUS_CONNECTION_QUEUE_MAX operations, and they all reach the main once
 * it appears.
 *
 * Nothing sleeps: the test waits for lines from the children and for the
 * stalled child to be stopped (waitid WSTOPPED).
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
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

#include "test-bus.h"
#include "test-process.h"

#define MAIN_NAME "org.ipcbus.BackPressure"
#define WAIT_USEC (60 * TEST_USEC_PER_SEC)
#define FLOOD 100000U
#define RSS_GROWTH_MAX_KB (64U * 1024U)
/* "Close to its starting memory" once the stall is over. */
#define RSS_AFTER_MAX_KB 4096L

/* ASan keeps freed memory in quarantine (256 MiB) instead of reusing it:
 * there the figures are printed, not bounded. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_CHECKED false
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_CHECKED false
#endif
#endif
#ifndef RSS_CHECKED
#define RSS_CHECKED rss_allocator_is_glibc()
#endif

/* Under valgrind, malloc is valgrind's: it adds its own overhead and
 * malloc_trim() gives nothing back, so the figures are only printed. Its
 * preload library is how a process sees it is there. */
/* Unused where ASan makes RSS_CHECKED false. */
G_GNUC_UNUSED static bool rss_allocator_is_glibc(void) {
        const char *preload = getenv("LD_PRELOAD");

        return !(preload && strstr(preload, "vgpreload"));
}

static long rss_kb(void) {
        g_autofree char *status = NULL;
        const char *line;

        if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
                return -1;
        line = strstr(status, "VmRSS:");
        return line ? strtol(line + 6, NULL, 10) : -1;
}

/* The test process's baseline: what earlier tests left in glibc's heap
 * would make the later figures look better than they are. */
static long rss_trimmed_kb(void) {
        (void)malloc_trim(0);
        return rss_kb();
}

static void say(const char *format, ...) G_GNUC_PRINTF(1, 2);
static void say(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vprintf(format, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

/* ---- the main (a child) ------------------------------------------------------ */

typedef struct main_config {
        const char *address; /* a bus, or NULL for the two direct fds */
        int stalled_fd, healthy_fd;
        int close_fds[2];    /* the renderers' ends, closed in the main */
} main_config;

static ipcbus_main *the_main;
static uint32_t accepted;
static long rss_start;

static ipcbus_web_contents *find_stalled(void) {
        ipcbus_web_contents *wc = NULL;

        return ipcbus_main_find_web_contents(the_main, "stalled", &wc) >= 0 ? wc : NULL;
}

/* The uint32 in the first of @args. */
static uint32_t arg_u32(GVariant *args) {
        g_autoptr(GVariant) v = g_variant_get_child_value(args, 0);
        g_autoptr(GVariant) inner = g_variant_get_variant(v);

        return g_variant_get_uint32(inner);
}

/* Counts a numbered message; the numbers must come 0, 1, 2, ... */
static void count_in_order(GVariant *args, uint32_t *n, bool *in_order) {
        if (arg_u32(args) != *n)
                *in_order = false;
        (*n)++;
}

/* What a flooding renderer sent the main, as the main got it. */
static uint32_t main_got;
static bool main_ordered = true;

static int on_rbp(ipcbus_event *e, GVariant *args, void *userdata) {
        count_in_order(args, &main_got, &main_ordered);
        return 0;
}

/* SendSync after the flood: it arrives after everything sent before it. */
static int on_rbp_end(ipcbus_event *e, GVariant *args, void *userdata) {
        say("main end got=%" PRIu32 " expected=%" PRIu32 " ordered=%d", main_got, arg_u32(args), main_ordered);
        return ipcbus_event_set_return_value(e, g_variant_new_uint32(main_got));
}

static int h_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, args ? g_variant_ref(args) : NULL);
}

/* Sends FLOOD messages to the stalled renderer, numbered by how many were
 * taken before, so that it can check it got exactly those, in order. */
static int on_flood(ipcbus_event *e, GVariant *args, void *userdata) {
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *wc = find_stalled();
        unsigned refused = 0, other = 0;
        uint64_t queued = 0;
        long peak;

        if (!wc)
                return -ENOENT;
        for (unsigned i = 0; i < FLOOD; i++) {
                int r = ipcbus_web_contents_send(wc, "bp", ipcbus_args(g_variant_new_uint32(accepted), NULL));

                if (r == 0)
                        accepted++;
                else if (r == -ENOBUFS)
                        refused++;
                else
                        other++;
        }
        peak = rss_kb();
        (void)ipcbus_web_contents_get_queued(wc, &queued);
        say("flood accepted=%" PRIu32 " refused=%u other=%u queued=%" PRIu64 " rss_start=%ld rss_peak=%ld",
            accepted, refused, other, queued, rss_start, peak);
        return 0;
}

/* Once the stalled renderer reads again: "bp-end" with the count, sent as
 * soon as there is room, then "drained" once the queue is empty. */
static int finish_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *wc = find_stalled();
        static bool end_sent;
        uint64_t queued = 0;
        int r;

        if (!wc) {
                say("finish: stalled renderer gone");
                return 0;
        }
        if (!end_sent) {
                r = ipcbus_web_contents_send(wc, "bp-end", ipcbus_args(g_variant_new_uint32(accepted), NULL));
                if (r < 0 && r != -ENOBUFS) {
                        say("finish: %s", g_strerror(-r));
                        return 0;
                }
                end_sent = r == 0;
        }
        (void)ipcbus_web_contents_get_queued(wc, &queued);
        if (end_sent && queued == 0) {
                say("drained");
                return 0;
        }
        /* Polled in the main only: the test itself waits for lines. */
        (void)sd_event_source_set_time_relative(s, 10 * TEST_USEC_PER_MSEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_finish(ipcbus_event *e, GVariant *args, void *userdata) {
        return sd_event_add_time_relative(ipcbus_main_get_event(the_main), NULL, CLOCK_MONOTONIC, 0, 0,
                                          finish_tick, NULL);
}

static int on_rss(ipcbus_event *e, GVariant *args, void *userdata) {
        /* Nobody trims here: after a stall the library gives the memory
         * back itself (src/core/heap.h). */
        say("rss %ld", rss_kb());
        return 0;
}

static void on_attached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        say("attached %s", ipcbus_web_contents_get_name(wc));
}

static void on_detached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        say("detached %s", ipcbus_web_contents_get_name(wc));
}

static int main_child(void *userdata) {
        main_config *c = userdata;
        int r;

        for (unsigned i = 0; i < 2; i++)
                if (c->close_fds[i] >= 0)
                        (void)close(c->close_fds[i]);
        if (ipcbus_main_new(&the_main, MAIN_NAME) < 0 ||
            ipcbus_main_handle(the_main, NULL, "echo", h_echo, NULL) < 0 ||
            ipcbus_main_on(the_main, NULL, "flood", on_flood, NULL) < 0 ||
            ipcbus_main_on(the_main, NULL, "finish", on_finish, NULL) < 0 ||
            ipcbus_main_on(the_main, NULL, "rss", on_rss, NULL) < 0 ||
            ipcbus_main_on(the_main, NULL, "rbp", on_rbp, NULL) < 0 ||
            ipcbus_main_on(the_main, NULL, "rbp-end", on_rbp_end, NULL) < 0 ||
            ipcbus_main_on_attached(the_main, NULL, on_attached, NULL) < 0 ||
            ipcbus_main_on_detached(the_main, NULL, on_detached, NULL) < 0)
                return 1;
        if (c->address)
                r = ipcbus_main_open_address(the_main, c->address);
        else {
                r = ipcbus_main_add_direct(the_main, c->stalled_fd, NULL);
                if (r >= 0 && c->healthy_fd >= 0)
                        r = ipcbus_main_add_direct(the_main, c->healthy_fd, NULL);
        }
        if (r < 0)
                return 1;
        rss_start = rss_kb();
        say("ready rss=%ld", rss_start);
        r = ipcbus_main_run(the_main);
        the_main = ipcbus_main_unref(the_main);
        return r < 0 ? 1 : 0;
}

/* ---- the stalled renderer (a child) ------------------------------------------ */

typedef struct renderer_config {
        const char *address;
        int fd;
        int close_fd; /* the main's end */
} renderer_config;

static uint32_t got;
static bool ordered = true;

static int on_bp(ipcbus_event *e, GVariant *args, void *userdata) {
        count_in_order(args, &got, &ordered);
        return 0;
}

static int on_bp_end(ipcbus_event *e, GVariant *args, void *userdata) {
        say("end got=%" PRIu32 " expected=%" PRIu32 " ordered=%d", got, arg_u32(args), ordered);
        return 0;
}

static int renderer_child(void *userdata) {
        renderer_config *c = userdata;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        uint64_t id;

        if (c->close_fd >= 0)
                (void)close(c->close_fd);
        if (ipcbus_renderer_new(&r, MAIN_NAME) < 0 ||
            ipcbus_renderer_on(r, NULL, "bp", on_bp, NULL) < 0 ||
            ipcbus_renderer_on(r, NULL, "bp-end", on_bp_end, NULL) < 0)
                return 1;
        if ((c->address ? ipcbus_renderer_open_address(r, c->address) : ipcbus_renderer_open_direct(r, c->fd)) < 0)
                return 1;
        if (ipcbus_renderer_attach_sync(r, "stalled", NULL, &id) < 0)
                return 1;
        say("renderer attached");
        return ipcbus_renderer_run(r) < 0 ? 1 : 0;
}

/* ---- the test ------------------------------------------------------------------ */

typedef struct fixture {
        test_bus *bus;
        sd_event *event;
        test_process *main, *stalled;
        ipcbus_renderer *healthy;
        main_config mc;
        renderer_config rc;
        bool direct;
} fixture;

static long line_long(test_process *p, const char *key) {
        const char *s = strstr(test_process_get_line(p), key);

        assert_non_null(s);
        return strtol(s + strlen(key), NULL, 10);
}

static void start(fixture *f) {
        int stalled[2] = { -1, -1 }, healthy[2] = { -1, -1 };

        assert_int_equal(sd_event_new(&f->event), 0);
        if (f->direct) {
                assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, stalled), 0);
                assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, healthy), 0);
                f->mc = (main_config){ .stalled_fd = stalled[0], .healthy_fd = healthy[0],
                                       .close_fds = { stalled[1], healthy[1] } };
        } else {
                assert_int_equal(test_bus_start(&f->bus, TEST_BUS_DBUS_DAEMON), 0);
                f->mc = (main_config){ .address = test_bus_get_address(f->bus), .stalled_fd = -1,
                                       .healthy_fd = -1, .close_fds = { -1, -1 } };
        }
        assert_int_equal(test_process_spawn(&f->main, main_child, &f->mc), 0);
        assert_int_equal(test_process_wait_line(f->main, "ready", WAIT_USEC), 0);
        if (f->direct) {
                (void)close(stalled[0]);
                (void)close(healthy[0]);
        }

        f->rc = (renderer_config){ .address = f->mc.address, .fd = stalled[1], .close_fd = -1 };
        assert_int_equal(test_process_spawn(&f->stalled, renderer_child, &f->rc), 0);
        assert_int_equal(test_process_wait_line(f->stalled, "renderer attached", WAIT_USEC), 0);
        if (f->direct)
                /* Attached at add_direct already, unnamed; attach_sync returned, so the name is set. */
                (void)close(stalled[1]);
        else
                assert_int_equal(test_process_wait_line(f->main, "attached stalled", WAIT_USEC), 0);

        assert_int_equal(ipcbus_renderer_new(&f->healthy, MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(f->healthy, f->event, 0), 0);
        assert_int_equal(ipcbus_renderer_set_timeout(f->healthy, WAIT_USEC), 0);
        if (f->direct)
                assert_int_equal(ipcbus_renderer_open_direct(f->healthy, healthy[1]), 0);
        else
                assert_int_equal(ipcbus_renderer_open_address(f->healthy, f->mc.address), 0);
        assert_int_equal(ipcbus_renderer_attach_sync(f->healthy, "healthy", NULL, NULL), 0);
}

static void stop(fixture *f) {
        f->healthy = ipcbus_renderer_unref(f->healthy);
        f->stalled = test_process_free(f->stalled);
        f->main = test_process_free(f->main);
        f->bus = test_bus_free(f->bus);
        f->event = sd_event_unref(f->event);
}

/* Stops the stalled renderer (and waits until it is stopped), floods it,
 * checks the main stayed bounded and the healthy renderer is served. */
static void stall_and_flood(fixture *f, long *ret_start, long *ret_peak, unsigned *ret_accepted) {
        siginfo_t si = {};
        long refused;

        assert_int_equal(test_process_kill(f->stalled, SIGSTOP), 0);
        assert_int_equal(waitid(P_PID, (id_t)test_process_get_pid(f->stalled), &si, WSTOPPED | WNOWAIT), 0);
        assert_int_equal(si.si_code, CLD_STOPPED);

        assert_int_equal(ipcbus_renderer_send(f->healthy, "flood", NULL), 0);
        assert_int_equal(test_process_wait_line(f->main, "flood ", WAIT_USEC), 0);
        *ret_accepted = (unsigned)line_long(f->main, "accepted=");
        refused = line_long(f->main, "refused=");
        *ret_start = line_long(f->main, "rss_start=");
        *ret_peak = line_long(f->main, "rss_peak=");
        assert_int_equal(line_long(f->main, "other="), 0);
        assert_int_equal(*ret_accepted + (unsigned long)refused, FLOOD);
        if (f->direct) {
                /* The socket took some, the queue IPCBUS_CONNECTION_QUEUE_MAX, the rest is refused. */
                assert_true(refused > 0);
                assert_int_equal(line_long(f->main, "queued="), IPCBUS_CONNECTION_QUEUE_MAX);
        }
        if (RSS_CHECKED)
                assert_true(*ret_peak - *ret_start < (long)RSS_GROWTH_MAX_KB);

        /* Others are served meanwhile. */
        assert_int_equal(ipcbus_renderer_invoke_sync(f->healthy, "echo", ipcbus_args(g_variant_new_uint32(1), NULL),
                                                     0, NULL, NULL),
                         0);
}

static void run_resume(bool direct) {
        fixture f = { .direct = direct };
        long start_kb, peak_kb, after_kb;
        unsigned accepted_n;

        start(&f);
        stall_and_flood(&f, &start_kb, &peak_kb, &accepted_n);

        assert_int_equal(test_process_kill(f.stalled, SIGCONT), 0);
        assert_int_equal(ipcbus_renderer_send(f.healthy, "finish", NULL), 0);
        assert_int_equal(test_process_wait_line(f.stalled, "end ", WAIT_USEC), 0);
        assert_int_equal(line_long(f.stalled, "got="), accepted_n);
        assert_int_equal(line_long(f.stalled, "expected="), accepted_n);
        assert_int_equal(line_long(f.stalled, "ordered="), 1);
        assert_int_equal(test_process_wait_line(f.main, "drained", WAIT_USEC), 0);
        /* Asked on a later turn of the main's loop than the one that
         * emptied the queue. */
        assert_int_equal(ipcbus_renderer_send(f.healthy, "rss", NULL), 0);
        assert_int_equal(test_process_wait_line(f.main, "rss ", WAIT_USEC), 0);
        after_kb = line_long(f.main, "rss ");
        fprintf(stderr, "back-pressure %s, resumed: accepted %u of %u; main VmRSS start %ld kB, peak %ld kB, after %ld kB\n",
                direct ? "direct" : "bus", accepted_n, FLOOD, start_kb, peak_kb, after_kb);
        if (RSS_CHECKED)
                assert_true(after_kb - start_kb < RSS_AFTER_MAX_KB);
        stop(&f);
}

static void run_killed(bool direct) {
        fixture f = { .direct = direct };
        long start_kb, peak_kb, after_kb;
        unsigned accepted_n;
        int status;

        start(&f);
        stall_and_flood(&f, &start_kb, &peak_kb, &accepted_n);

        assert_int_equal(test_process_kill(f.stalled, SIGKILL), 0);
        assert_int_equal(test_process_wait_exit(f.stalled, &status), 0);
        assert_int_equal(test_process_wait_line(f.main, "detached stalled", WAIT_USEC), 0);
        assert_int_equal(ipcbus_renderer_send(f.healthy, "rss", NULL), 0);
        assert_int_equal(test_process_wait_line(f.main, "rss ", WAIT_USEC), 0);
        after_kb = line_long(f.main, "rss ");
        fprintf(stderr, "back-pressure %s, killed: accepted %u of %u; main VmRSS start %ld kB, peak %ld kB, after %ld kB\n",
                direct ? "direct" : "bus", accepted_n, FLOOD, start_kb, peak_kb, after_kb);
        if (RSS_CHECKED)
                assert_true(after_kb - start_kb < RSS_AFTER_MAX_KB);
        assert_int_equal(ipcbus_renderer_invoke_sync(f.healthy, "echo", NULL, 0, NULL, NULL), 0);
        stop(&f);
}

/* ---- the renderer's side: the main stops reading ------------------------------ */

typedef struct flood_log {
        unsigned not_reading; /* connection_send's warning */
        unsigned not_there;   /* the pending queue's */
} flood_log;

static void flood_log_fn(int priority, const char *message, void *userdata) {
        flood_log *l = userdata;

        if (strstr(message, "is not reading"))
                l->not_reading++;
        else if (strstr(message, "is not there"))
                l->not_there++;
}

typedef struct flood_count {
        unsigned accepted, refused, other;
} flood_count;

/* FLOOD numbered sends from @r, numbered by how many were taken before. */
static void renderer_flood(ipcbus_renderer *r, flood_count *n) {
        for (unsigned i = 0; i < FLOOD; i++) {
                int k = ipcbus_renderer_send(r, "rbp", ipcbus_args(g_variant_new_uint32(n->accepted), NULL));

                if (k == 0)
                        n->accepted++;
                else if (k == -ENOBUFS)
                        n->refused++;
                else
                        n->other++;
        }
}

static int nop_result(GVariant *result, const sd_bus_error *error, void *userdata) {
        return 0;
}

/* Past a cap everything the renderer sends is refused, each kind alike. */
static void assert_refuses_all(ipcbus_renderer *r) {
        assert_int_equal(ipcbus_renderer_send(r, "rbp", NULL), -ENOBUFS);
        assert_int_equal(ipcbus_renderer_post_message(r, "rbp", g_variant_new_uint32(0), NULL, 0), -ENOBUFS);
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "echo", NULL, 0, nop_result, NULL), -ENOBUFS);
}

/* "rbp-end" by SendSync, retried from the loop while the queue is full;
 * its answer is what the main got. */
static uint32_t renderer_end(ipcbus_renderer *r, sd_event *event, uint32_t n_sent) {
        g_autoptr(GVariant) v = NULL;
        int k;

        while ((k = ipcbus_renderer_send_sync(r, "rbp-end", ipcbus_args(g_variant_new_uint32(n_sent), NULL),
                                              NULL, &v)) == -ENOBUFS)
                assert_true(sd_event_run(event, 10 * TEST_USEC_PER_MSEC) >= 0);
        assert_int_equal(k, 0);
        return g_variant_get_uint32(v);
}

static void renderer_new_for(fixture *f, ipcbus_renderer **ret, flood_log *log) {
        assert_int_equal(ipcbus_renderer_new(ret, MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_set_log_function(*ret, flood_log_fn, log), 0);
        assert_int_equal(ipcbus_renderer_attach_event(*ret, f->event, 0), 0);
        assert_int_equal(ipcbus_renderer_set_timeout(*ret, WAIT_USEC), 0);
}

static void run_main_stalled(bool direct) {
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        fixture f = { .direct = direct };
        int fds[2] = { -1, -1 };
        flood_log log = {};
        flood_count n = {};
        long start_kb, peak_kb, after_kb;
        siginfo_t si = {};

        assert_int_equal(sd_event_new(&f.event), 0);
        if (direct) {
                assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
                f.mc = (main_config){ .stalled_fd = fds[0], .healthy_fd = -1, .close_fds = { fds[1], -1 } };
        } else {
                assert_int_equal(test_bus_start(&f.bus, TEST_BUS_DBUS_DAEMON), 0);
                f.mc = (main_config){ .address = test_bus_get_address(f.bus), .stalled_fd = -1, .healthy_fd = -1,
                                      .close_fds = { -1, -1 } };
        }
        assert_int_equal(test_process_spawn(&f.main, main_child, &f.mc), 0);
        assert_int_equal(test_process_wait_line(f.main, "ready", WAIT_USEC), 0);
        if (direct)
                (void)close(fds[0]);

        renderer_new_for(&f, &r, &log);
        if (direct)
                assert_int_equal(ipcbus_renderer_open_direct(r, fds[1]), 0);
        else
                assert_int_equal(ipcbus_renderer_open_address(r, f.mc.address), 0);
        assert_int_equal(ipcbus_renderer_attach_sync(r, "flooder", NULL, NULL), 0);

        assert_int_equal(test_process_kill(f.main, SIGSTOP), 0);
        assert_int_equal(waitid(P_PID, (id_t)test_process_get_pid(f.main), &si, WSTOPPED | WNOWAIT), 0);
        assert_int_equal(si.si_code, CLD_STOPPED);

        start_kb = rss_trimmed_kb();
        renderer_flood(r, &n);
        peak_kb = rss_kb();
        assert_int_equal(n.other, 0);
        assert_int_equal(n.accepted + n.refused, FLOOD);
        if (direct)
                /* The socket took some, the queue IPCBUS_CONNECTION_QUEUE_MAX, the rest is refused. */
                assert_true(n.refused > 0);
        if (n.refused > 0) {
                assert_refuses_all(r);
                assert_int_equal(log.not_reading, 1);
        }
        if (RSS_CHECKED)
                assert_true(peak_kb - start_kb < (long)RSS_GROWTH_MAX_KB);

        assert_int_equal(test_process_kill(f.main, SIGCONT), 0);
        assert_int_equal(renderer_end(r, f.event, n.accepted), n.accepted);
        assert_int_equal(test_process_wait_line(f.main, "main end ", WAIT_USEC), 0);
        assert_int_equal(line_long(f.main, "got="), n.accepted);
        assert_int_equal(line_long(f.main, "expected="), n.accepted);
        assert_int_equal(line_long(f.main, "ordered="), 1);
        after_kb = rss_kb();
        fprintf(stderr,
                "back-pressure %s, main stopped: renderer accepted %u of %u; renderer VmRSS start %ld kB, "
                "peak %ld kB, after %ld kB\n",
                direct ? "direct" : "bus", n.accepted, FLOOD, start_kb, peak_kb, after_kb);
        if (RSS_CHECKED)
                assert_true(after_kb - start_kb < RSS_AFTER_MAX_KB);

        r = ipcbus_renderer_unref(r);
        stop(&f);
}

/* No main yet: the renderer queues IPCBUS_CONNECTION_QUEUE_MAX operations
 * and refuses the rest; once the main appears it gets them all, in order. */
static void test_backpressure_renderer_pending(void **state) {
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        fixture f = {};
        flood_log log = {};
        flood_count n = {};
        long start_kb, peak_kb;

        assert_int_equal(sd_event_new(&f.event), 0);
        assert_int_equal(test_bus_start(&f.bus, TEST_BUS_DBUS_DAEMON), 0);
        f.mc = (main_config){ .address = test_bus_get_address(f.bus), .stalled_fd = -1, .healthy_fd = -1,
                              .close_fds = { -1, -1 } };
        renderer_new_for(&f, &r, &log);
        assert_int_equal(ipcbus_renderer_open_address(r, f.mc.address), 0);
        assert_false(ipcbus_renderer_has_main(r));

        start_kb = rss_trimmed_kb();
        renderer_flood(r, &n);
        peak_kb = rss_kb();
        assert_int_equal(n.other, 0);
        assert_int_equal(n.accepted, IPCBUS_CONNECTION_QUEUE_MAX);
        assert_int_equal(n.refused, FLOOD - IPCBUS_CONNECTION_QUEUE_MAX);
        assert_refuses_all(r);
        /* Attach waits in the same queue. */
        assert_int_equal(ipcbus_renderer_attach(r, "late"), -ENOBUFS);
        assert_int_equal(log.not_there, 1);
        if (RSS_CHECKED)
                assert_true(peak_kb - start_kb < (long)RSS_GROWTH_MAX_KB);

        assert_int_equal(test_process_spawn(&f.main, main_child, &f.mc), 0);
        assert_int_equal(renderer_end(r, f.event, n.accepted), n.accepted);
        assert_int_equal(test_process_wait_line(f.main, "main end ", WAIT_USEC), 0);
        assert_int_equal(line_long(f.main, "got="), IPCBUS_CONNECTION_QUEUE_MAX);
        assert_int_equal(line_long(f.main, "ordered="), 1);
        fprintf(stderr,
                "back-pressure, no main yet: renderer queued %u of %u; renderer VmRSS start %ld kB, peak %ld kB\n",
                n.accepted, FLOOD, start_kb, peak_kb);
        /* Below the cap again: taken. */
        assert_int_equal(ipcbus_renderer_send(r, "rbp", ipcbus_args(g_variant_new_uint32(n.accepted), NULL)), 0);

        r = ipcbus_renderer_unref(r);
        stop(&f);
}

static void test_backpressure_main_stalled_direct(void **state) {
        run_main_stalled(true);
}

static void test_backpressure_main_stalled_bus(void **state) {
        run_main_stalled(false);
}

static void test_backpressure_direct_resume(void **state) {
        run_resume(true);
}

static void test_backpressure_direct_killed(void **state) {
        run_killed(true);
}

static void test_backpressure_bus_resume(void **state) {
        run_resume(false);
}

static void test_backpressure_bus_killed(void **state) {
        run_killed(false);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_backpressure_direct_resume),
                cmocka_unit_test(test_backpressure_direct_killed),
                cmocka_unit_test(test_backpressure_bus_resume),
                cmocka_unit_test(test_backpressure_bus_killed),
                cmocka_unit_test(test_backpressure_main_stalled_direct),
                cmocka_unit_test(test_backpressure_main_stalled_bus),
                cmocka_unit_test(test_backpressure_renderer_pending),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
