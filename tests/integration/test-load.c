/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Load (issue 10; docs/reliability.md, "Load"): one main, in a child
 * process, and LOAD_RENDERERS renderers in this process on one loop, each
 * making LOAD_OPS mixed calls: invokes (asynchronous, up to IN_FLIGHT at a
 * time), sends and sendSyncs, numbered per renderer. On a private
 * dbus-daemon, and again with a direct connection per renderer.
 *
 * Checked: every call answered with its own number and no error; the main
 * got every message of every renderer, each renderer's in the order it
 * sent them (whatever the kind); once all renderers went, the main's fd
 * count is what it was before they came and its VmRSS within
 * LOAD_RSS_MARGIN_KB of it. Under ASan or valgrind the renderers make
 * fewer calls (LOAD_OPS_SLOW), the checks stay the same, except VmRSS,
 * which their allocators make meaningless: printed there, not bounded.
 *
 * Nothing sleeps: the test runs its loop and waits for lines of the main.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <ipcbus/ipcbus.h>

#include "test-bus.h"
#include "test-process.h"

#define MAIN_NAME "org.ipcbus.Load"
#define LOAD_RENDERERS 200U
#define LOAD_OPS 1000U
#define LOAD_OPS_SLOW 100U
#define IN_FLIGHT 8U
#define LOAD_RSS_MARGIN_KB 8192L
#define WAIT_USEC (120 * TEST_USEC_PER_SEC)

#if defined(__SANITIZE_ADDRESS__)
#define LOAD_SANITIZED true
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOAD_SANITIZED true
#endif
#endif
#ifndef LOAD_SANITIZED
#define LOAD_SANITIZED false
#endif

/* valgrind's preload library is how a process sees it runs under it. */
static bool load_slow_allocator(void) {
        const char *preload = getenv("LD_PRELOAD");

        return LOAD_SANITIZED || (preload && strstr(preload, "vgpreload"));
}

static unsigned load_ops(void) {
        return load_slow_allocator() ? LOAD_OPS_SLOW : LOAD_OPS;
}

static long status_kb(const char *field) {
        g_autofree char *status = NULL;
        const char *line;

        if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
                return -1;
        line = strstr(status, field);
        return line ? strtol(line + strlen(field), NULL, 10) : -1;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000U + (uint64_t)ts.tv_nsec / 1000U;
}

static long fd_count(void) {
        g_autoptr(GDir) d = g_dir_open("/proc/self/fd", 0, NULL);
        long n = 0;

        if (!d)
                return -1;
        while (g_dir_read_name(d))
                n++;
        return n - 1; /* the directory's own */
}

/* ---- the main (a child) ------------------------------------------------------ */

typedef struct main_config {
        const char *address;  /* a bus, or NULL for the direct fds */
        int *fds;             /* the main's ends, LOAD_RENDERERS + 1 (the last: control) */
        int *close_fds;       /* the renderers' ends, closed in the child */
        unsigned n;
} main_config;

typedef struct main_state {
        ipcbus_main *m;
        int64_t last[LOAD_RENDERERS];
        uint32_t count[LOAD_RENDERERS];
        bool disorder[LOAD_RENDERERS];
        unsigned attached;
        unsigned keep;        /* attached all along: the direct control renderer */
        bool had_all;
} main_state;

static main_state the;

/* Argument @i of @args, a uint32. */
static uint32_t arg_u32(GVariant *args, size_t i) {
        g_autoptr(GVariant) v = g_variant_get_child_value(args, i);
        g_autoptr(GVariant) inner = g_variant_get_variant(v);

        return g_variant_get_uint32(inner);
}

/* One numbered call or message of renderer @rid; returns the number. */
static uint32_t record(GVariant *args) {
        uint32_t rid = arg_u32(args, 0), seq = arg_u32(args, 1);

        if (rid >= LOAD_RENDERERS)
                return UINT32_MAX;
        if ((int64_t)seq <= the.last[rid])
                the.disorder[rid] = true;
        the.last[rid] = seq;
        the.count[rid]++;
        return seq;
}

static int h_invoke(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, g_variant_new_uint32(record(args)));
}

static int on_send(ipcbus_event *e, GVariant *args, void *userdata) {
        (void)record(args);
        return 0;
}

static int on_sync(ipcbus_event *e, GVariant *args, void *userdata) {
        return ipcbus_event_set_return_value(e, g_variant_new_uint32(record(args)));
}

static int h_report(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        uint32_t rid = arg_u32(args, 0);

        if (rid >= LOAD_RENDERERS)
                return -EINVAL;
        return ipcbus_invocation_return_value(inv, g_variant_new("(ub)", the.count[rid], !the.disorder[rid]));
}

static int h_stats(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, g_variant_new("(xx)", (int64_t)status_kb("VmRSS:"),
                                                                 (int64_t)fd_count()));
}

/* A direct connection's renderer is attached as soon as the main adds it,
 * the control renderer's too; on a bus only the load attaches. */
static void on_attached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        if (++the.attached == LOAD_RENDERERS + the.keep) {
                the.had_all = true;
                test_say("all attached");
        }
}

static void on_detached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        if (--the.attached == the.keep && the.had_all)
                test_say("all gone");
}

static int main_child(void *userdata) {
        main_config *c = userdata;
        const char *who = "load main";

        for (unsigned i = 0; i < c->n; i++)
                (void)close(c->close_fds[i]);
        for (unsigned i = 0; i < LOAD_RENDERERS; i++)
                the.last[i] = -1;
        TEST_CHILD_CHECK(who, ipcbus_main_new(&the.m, MAIN_NAME));
        TEST_CHILD_CHECK(who, ipcbus_main_handle(the.m, NULL, "load-invoke", h_invoke, NULL));
        TEST_CHILD_CHECK(who, ipcbus_main_on(the.m, NULL, "load-send", on_send, NULL));
        TEST_CHILD_CHECK(who, ipcbus_main_on(the.m, NULL, "load-sync", on_sync, NULL));
        TEST_CHILD_CHECK(who, ipcbus_main_handle(the.m, NULL, "load-report", h_report, NULL));
        TEST_CHILD_CHECK(who, ipcbus_main_handle(the.m, NULL, "stats", h_stats, NULL));
        TEST_CHILD_CHECK(who, ipcbus_main_on_attached(the.m, NULL, on_attached, NULL));
        TEST_CHILD_CHECK(who, ipcbus_main_on_detached(the.m, NULL, on_detached, NULL));
        the.keep = c->address ? 0 : 1;
        if (c->address)
                TEST_CHILD_CHECK(who, ipcbus_main_open_address(the.m, c->address));
        else
                for (unsigned i = 0; i < c->n; i++)
                        TEST_CHILD_CHECK(who, ipcbus_main_add_direct(the.m, c->fds[i], NULL));
        test_say("ready");
        TEST_CHILD_CHECK(who, ipcbus_main_run(the.m));
        the.m = ipcbus_main_unref(the.m);
        return 0;
}

/* ---- the renderers (this process) ----------------------------------------------- */

typedef struct load_renderer {
        ipcbus_renderer *r;
        uint32_t rid;
        uint32_t next;        /* the number of the next call */
        unsigned in_flight;   /* invokes not answered yet */
        unsigned answered;
        unsigned errors;
        unsigned wrong;       /* answered with another number */
        unsigned retries;     /* a send refused for a full queue, tried again */
} load_renderer;

typedef struct invoke_ctx {
        load_renderer *lr;
        uint32_t seq;
} invoke_ctx;

static int on_invoked(GVariant *result, const sd_bus_error *error, void *userdata) {
        invoke_ctx *ctx = userdata;
        load_renderer *lr = ctx->lr;

        lr->in_flight--;
        if (error)
                lr->errors++;
        else if (!result || !g_variant_is_of_type(result, G_VARIANT_TYPE_UINT32) ||
                 g_variant_get_uint32(result) != ctx->seq)
                lr->wrong++;
        else
                lr->answered++;
        g_free(ctx);
        return 0;
}

static GVariant *numbered(load_renderer *lr, uint32_t seq) {
        return ipcbus_args(g_variant_new_uint32(lr->rid), g_variant_new_uint32(seq), NULL);
}

/* Issue what @lr may now. Return: whether it has calls left to issue. */
static bool renderer_step(load_renderer *lr, unsigned ops) {
        while (lr->next < ops && lr->in_flight < IN_FLIGHT) {
                uint32_t seq = lr->next;
                int k;

                switch (seq % 3) {
                case 0: {
                        invoke_ctx *ctx = g_new(invoke_ctx, 1);

                        *ctx = (invoke_ctx){ lr, seq };
                        k = ipcbus_renderer_invoke(lr->r, NULL, "load-invoke", numbered(lr, seq), 0, on_invoked, ctx);
                        if (k < 0)
                                g_free(ctx);
                        else
                                lr->in_flight++;
                        break;
                }
                case 1:
                        k = ipcbus_renderer_send(lr->r, "load-send", numbered(lr, seq));
                        if (k >= 0)
                                lr->answered++;
                        break;
                default: {
                        g_autoptr(GVariant) v = NULL;

                        k = ipcbus_renderer_send_sync(lr->r, "load-sync", numbered(lr, seq), NULL, &v);
                        if (k >= 0 && v && g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32) &&
                            g_variant_get_uint32(v) == seq)
                                lr->answered++;
                        else if (k >= 0)
                                lr->wrong++;
                        break;
                }
                }
                if (k == -ENOBUFS) {
                        /* Back-pressure: the loop drains, then this goes again. */
                        lr->retries++;
                        return true;
                }
                if (k < 0)
                        lr->errors++;
                lr->next++;
        }
        return lr->next < ops;
}

typedef struct fixture {
        test_bus *bus;
        test_process *main;
        sd_event *event;
        main_config mc;
        int fds[LOAD_RENDERERS + 1][2]; /* direct: [0] the main's, [1] ours; [LOAD_RENDERERS] control */
} fixture;

static void control_stats(ipcbus_renderer *control, long *ret_rss, long *ret_fds) {
        g_autoptr(GVariant) v = NULL;
        int64_t rss, fds;

        assert_int_equal(ipcbus_renderer_invoke_sync(control, "stats", NULL, 0, NULL, &v), 0);
        g_variant_get(v, "(xx)", &rss, &fds);
        *ret_rss = (long)rss;
        *ret_fds = (long)fds;
}

static ipcbus_renderer *renderer_open(fixture *f, bool direct, unsigned i) {
        ipcbus_renderer *r = NULL;

        assert_int_equal(ipcbus_renderer_new(&r, MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(r, f->event, 0), 0);
        assert_int_equal(ipcbus_renderer_set_timeout(r, test_deadline_usec(WAIT_USEC)), 0);
        if (direct) {
                assert_int_equal(ipcbus_renderer_open_direct(r, f->fds[i][1]), 0);
                f->fds[i][1] = -1;
        } else
                assert_int_equal(ipcbus_renderer_open_address(r, test_bus_get_address(f->bus)), 0);
        return r;
}

static void run_load(bool direct) {
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *control = NULL;
        load_renderer *lrs = g_new0(load_renderer, LOAD_RENDERERS);
        fixture f = {};
        int main_fds[LOAD_RENDERERS + 1], their_fds[LOAD_RENDERERS + 1];
        unsigned ops = load_ops(), busy, answered = 0, errors = 0, wrong = 0, retries = 0;
        long rss_before, fds_before, rss_after, fds_after;
        uint64_t start = now_usec(), elapsed;

        assert_int_equal(sd_event_new(&f.event), 0);
        if (direct) {
                for (unsigned i = 0; i <= LOAD_RENDERERS; i++) {
                        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.fds[i]), 0);
                        main_fds[i] = f.fds[i][0];
                        their_fds[i] = f.fds[i][1];
                }
                f.mc = (main_config){ .fds = main_fds, .close_fds = their_fds, .n = LOAD_RENDERERS + 1 };
        } else {
                assert_int_equal(test_bus_start(&f.bus, TEST_BUS_DBUS_DAEMON), 0);
                f.mc = (main_config){ .address = test_bus_get_address(f.bus) };
        }
        assert_int_equal(test_process_spawn(&f.main, main_child, &f.mc), 0);
        assert_int_equal(test_process_wait_line(f.main, "ready", WAIT_USEC), 0);
        if (direct)
                for (unsigned i = 0; i <= LOAD_RENDERERS; i++) {
                        (void)close(f.fds[i][0]);
                        f.fds[i][0] = -1;
                }

        /* The control renderer never attaches: it is not one of the load. */
        control = renderer_open(&f, direct, LOAD_RENDERERS);
        control_stats(control, &rss_before, &fds_before);

        for (unsigned i = 0; i < LOAD_RENDERERS; i++) {
                g_autofree char *name = g_strdup_printf("load-%u", i);

                lrs[i].rid = i;
                lrs[i].r = renderer_open(&f, direct, i);
                assert_int_equal(ipcbus_renderer_attach(lrs[i].r, name), 0);
        }
        /* Direct renderers were attached when the main added them (the line
         * came before "ready"). */
        if (!direct)
                assert_int_equal(test_process_wait_line(f.main, "all attached", WAIT_USEC), 0);

        do {
                busy = 0;
                for (unsigned i = 0; i < LOAD_RENDERERS; i++)
                        if (renderer_step(&lrs[i], ops) || lrs[i].in_flight > 0)
                                busy++;
                if (busy)
                        assert_true(sd_event_run(f.event, 100 * TEST_USEC_PER_MSEC) >= 0);
                assert_true(now_usec() < start + test_deadline_usec(WAIT_USEC));
        } while (busy);
        elapsed = now_usec() - start;

        for (unsigned i = 0; i < LOAD_RENDERERS; i++) {
                g_autoptr(GVariant) v = NULL;
                uint32_t count;
                gboolean ordered;

                /* After everything this renderer sent: its connection keeps order. */
                assert_int_equal(ipcbus_renderer_invoke_sync(lrs[i].r, "load-report",
                                                             ipcbus_args(g_variant_new_uint32(i), NULL), 0, NULL,
                                                             &v),
                                 0);
                g_variant_get(v, "(ub)", &count, &ordered);
                assert_int_equal(count, ops);
                assert_true(ordered);
                answered += lrs[i].answered;
                errors += lrs[i].errors;
                wrong += lrs[i].wrong;
                retries += lrs[i].retries;
        }
        assert_int_equal(errors, 0);
        assert_int_equal(wrong, 0);
        assert_int_equal(answered, LOAD_RENDERERS * ops);

        for (unsigned i = 0; i < LOAD_RENDERERS; i++)
                lrs[i].r = ipcbus_renderer_unref(lrs[i].r);
        assert_int_equal(test_process_wait_line(f.main, "all gone", WAIT_USEC), 0);
        /* A detach comes before its connection's close: ask until the main
         * has closed what it will (each answer is a round trip, no sleep). */
        do
                control_stats(control, &rss_after, &fds_after);
        while (fds_after > (direct ? fds_before - (long)LOAD_RENDERERS : fds_before) &&
               now_usec() < start + test_deadline_usec(WAIT_USEC));
        fprintf(stderr,
                "load %s: %u renderers x %u calls (invoke, send, sendSync) in %.2f s, %u sends retried; "
                "main fds %ld before, %ld after; VmRSS %ld kB before, %ld kB after\n",
                direct ? "direct" : "bus", LOAD_RENDERERS, ops, (double)elapsed / 1e6, retries, fds_before,
                fds_after, rss_before, rss_after);
        assert_int_equal(fds_after, direct ? fds_before - LOAD_RENDERERS : fds_before);
        /* ASan's quarantine and valgrind's allocator keep what glibc would
         * reuse: there the figures are printed, not bounded. */
        if (!load_slow_allocator())
                assert_true(rss_after - rss_before < LOAD_RSS_MARGIN_KB);

        control = ipcbus_renderer_unref(control);
        f.main = test_process_free(f.main);
        f.bus = test_bus_free(f.bus);
        f.event = sd_event_unref(f.event);
        g_free(lrs);
}

static void test_load_bus(void **state) {
        run_load(false);
}

static void test_load_direct(void **state) {
        run_load(true);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_load_bus),
                cmocka_unit_test(test_load_direct),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
