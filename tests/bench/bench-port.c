/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-port: an ipcbus MessagePort against plain AF_UNIX sockets between
 * the same two processes, in one run (issue 3).
 *
 * Round trip: a 64-character string ("s", 67 bytes as the port's "v") posted
 * and echoed, against a 64-byte datagram written and echoed on a blocking
 * SOCK_SEQPACKET socketpair. Throughput: N such strings posted, the receiver
 * counts them and answers after the last, against N datagrams written with
 * blocking write(). Both also run "raw on sd-event": the same datagrams on a
 * nonblocking socketpair watched by an sd-event io source on each side, one
 * read per wakeup, as a port reads. It is no baseline of an aim; it splits
 * the gap into what the loop costs and what ipcbus adds on top.
 *
 * Bandwidth: one "ay" of 1 MiB and of 256 MiB, timed until the receiver has
 * it mapped and digested (bench_port_digest()) and said so, against the same
 * bytes through a SOCK_STREAM socketpair into a buffer the receiver keeps
 * (the raw baseline of the aim) and through a sealed memfd passed on a
 * socket and mapped (what the port does over 16 MiB on a kernel without
 * transparent huge pages, minus ipcbus; otherwise it sends continuation
 * frames on its socket).
 *
 * The bench is one process, the far ends are two children
 * (bench-port-peers.h). The ipcbus child is a renderer on a direct
 * connection to this process's main: the main creates the channel after the
 * fork and posts one end to the renderer (webContents.postMessage), as an
 * application hands a renderer a port. Creating the channel before the fork
 * cannot work: sd-event refuses a loop in a forked child (-ECHILD) and a
 * port cannot move to another loop. The renderer and the main are dropped
 * before anything is measured; each side then runs its own sd-event loop
 * with nothing but the port on it (this side's loop also watches the idle
 * raw-on-sd-event socket).
 *
 * Contenders alternate within each round (the first rotates), results are
 * medians; see README.md.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-port-ops.h"
#include "bench-stats.h"
#include "test-process.h"

#define MIB (1024U * 1024U)

#define AIM_ROUND_TRIP 1.3
#define AIM_BANDWIDTH 0.5

typedef struct options {
        unsigned rounds;    /* round-trip rounds */
        unsigned calls;     /* round trips per contender per round */
        unsigned warmup;    /* untimed round trips per contender first */
        unsigned tp_rounds; /* throughput rounds */
        unsigned messages;  /* messages per contender per throughput round */
        unsigned bw_rounds; /* 1 MiB rounds */
        unsigned bw_reps;   /* 1 MiB transfers per contender per round */
        unsigned big_reps;  /* big transfers per contender (0: none) */
        unsigned big_mib;   /* the big value's size */
        bench_port_touch touch;
        bool fresh_buffer; /* the raw stream receiver allocates per value */
        const char *only;  /* "ipcbus" or "raw": one side only, for profiling */
} options;

static const options defaults = {
        .rounds = 30,
        .calls = 1000,
        .warmup = 2000,
        .tp_rounds = 10,
        .messages = 20000,
        .bw_rounds = 10,
        .bw_reps = 50,
        .big_reps = 5,
        .big_mib = 256,
        .touch = BENCH_PORT_TOUCH_SAMPLE,
};

/* A few seconds: shows the benchmark works, not what the numbers are. */
static const options quick = {
        .rounds = 4,
        .calls = 200,
        .warmup = 200,
        .tp_rounds = 3,
        .messages = 2000,
        .bw_rounds = 3,
        .bw_reps = 10,
        .big_reps = 1,
        .big_mib = 256,
        .touch = BENCH_PORT_TOUCH_SAMPLE,
};

static void usage(FILE *f) {
        fprintf(f,
                "Usage: bench-port [OPTION...]\n"
                "  --quick           a short run (smoke test, numbers are rough)\n"
                "  --rounds=N        round-trip rounds (30)\n"
                "  --calls=N         round trips per contender per round (1000)\n"
                "  --warmup=N        untimed round trips per contender before (2000)\n"
                "  --tp-rounds=N     throughput rounds (10)\n"
                "  --messages=N      messages per contender per throughput round (20000)\n"
                "  --bw-rounds=N     1 MiB rounds (10)\n"
                "  --bw-reps=N       1 MiB transfers per contender per round (50)\n"
                "  --big-reps=N      big transfers per contender, 0 for none (5)\n"
                "  --big-mib=N       size of the big value in MiB (256)\n"
                "  --touch=HOW       what a receiver reads of a bulk value: sample (a word\n"
                "                    per page, default) or full (every byte)\n"
                "  --raw-fresh-buffer  the raw stream receiver reads into a new malloc() per\n"
                "                    value instead of one buffer kept and pre-faulted\n"
                "  --only=SIDE       ipcbus or raw: one side only (profiling)\n");
}

static int parse_unsigned(const char *s, unsigned *ret, bool allow_zero) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || !*s || *end || (v == 0 && !allow_zero) || v > 100000000UL)
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

static int parse_options(int argc, char **argv, options *o) {
        enum {
                OPT_ROUNDS = 256,
                OPT_CALLS,
                OPT_WARMUP,
                OPT_TP_ROUNDS,
                OPT_MESSAGES,
                OPT_BW_ROUNDS,
                OPT_BW_REPS,
                OPT_BIG_REPS,
                OPT_BIG_MIB,
                OPT_TOUCH,
                OPT_FRESH,
                OPT_ONLY,
        };
        static const struct option longopts[] = {
                { "quick", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                { "rounds", required_argument, NULL, OPT_ROUNDS },
                { "calls", required_argument, NULL, OPT_CALLS },
                { "warmup", required_argument, NULL, OPT_WARMUP },
                { "tp-rounds", required_argument, NULL, OPT_TP_ROUNDS },
                { "messages", required_argument, NULL, OPT_MESSAGES },
                { "bw-rounds", required_argument, NULL, OPT_BW_ROUNDS },
                { "bw-reps", required_argument, NULL, OPT_BW_REPS },
                { "big-reps", required_argument, NULL, OPT_BIG_REPS },
                { "big-mib", required_argument, NULL, OPT_BIG_MIB },
                { "touch", required_argument, NULL, OPT_TOUCH },
                { "raw-fresh-buffer", no_argument, NULL, OPT_FRESH },
                { "only", required_argument, NULL, OPT_ONLY },
                {},
        };
        int c, r = 0;

        *o = defaults;
        /* --quick first, so that explicit counts given with it win. */
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--quick") == 0)
                        *o = quick;

        while (r == 0 && (c = getopt_long(argc, argv, "qh", longopts, NULL)) >= 0) {
                switch (c) {
                case 'q':
                        break;
                case 'h':
                        usage(stdout);
                        exit(EXIT_SUCCESS);
                case OPT_ROUNDS:
                        r = parse_unsigned(optarg, &o->rounds, false);
                        break;
                case OPT_CALLS:
                        r = parse_unsigned(optarg, &o->calls, false);
                        break;
                case OPT_WARMUP:
                        r = parse_unsigned(optarg, &o->warmup, true);
                        break;
                case OPT_TP_ROUNDS:
                        r = parse_unsigned(optarg, &o->tp_rounds, false);
                        break;
                case OPT_MESSAGES:
                        r = parse_unsigned(optarg, &o->messages, false);
                        break;
                case OPT_BW_ROUNDS:
                        r = parse_unsigned(optarg, &o->bw_rounds, false);
                        break;
                case OPT_BW_REPS:
                        r = parse_unsigned(optarg, &o->bw_reps, false);
                        break;
                case OPT_BIG_REPS:
                        r = parse_unsigned(optarg, &o->big_reps, true);
                        break;
                case OPT_BIG_MIB:
                        r = parse_unsigned(optarg, &o->big_mib, false);
                        if (r == 0 && o->big_mib > 1000)
                                r = -EINVAL; /* IPCBUS_PORT_MESSAGE_MAX is 1 GiB */
                        break;
                case OPT_TOUCH:
                        if (strcmp(optarg, "sample") == 0)
                                o->touch = BENCH_PORT_TOUCH_SAMPLE;
                        else if (strcmp(optarg, "full") == 0)
                                o->touch = BENCH_PORT_TOUCH_FULL;
                        else
                                r = -EINVAL;
                        break;
                case OPT_FRESH:
                        o->fresh_buffer = true;
                        break;
                case OPT_ONLY:
                        if (strcmp(optarg, "ipcbus") != 0 && strcmp(optarg, "raw") != 0)
                                r = -EINVAL;
                        o->only = optarg;
                        break;
                default:
                        r = -EINVAL;
                }
        }
        if (r == 0 && optind < argc)
                r = -EINVAL;
        if (r < 0)
                usage(stderr);
        return r;
}

/* The operations' context and how to run them. */
typedef struct bench {
        bench_port_ctx ctx;
        options o;
} bench;

typedef struct contender contender;
typedef int (*op_fn)(bench_port_ctx *b, size_t arg);
typedef int (*hook_fn)(bench_port_ctx *b);

struct contender {
        const char *label;
        bool ipcbus;
        op_fn op;
        hook_fn begin, end;   /* around each round's share, untimed */
        clockid_t peer_clock; /* the far end's process CPU clock */
        bool has_peer_clock;

        bench_samples value;  /* round trip: µs, each; throughput: msg/s per round; bulk: MiB/s, each */
        bench_samples round;  /* round trip: each round's median */
        bench_samples paired; /* not ipcbus: the aim's ratio against ipcbus, same round */
        bench_samples cpu_self, cpu_peer; /* µs of CPU per operation, per round */
        double last;                      /* this round's median (or rate) */
};

/* ---- rounds ---------------------------------------------------------------- */

typedef enum test_kind { TEST_ROUND_TRIP, TEST_THROUGHPUT, TEST_BULK } test_kind;

typedef struct test {
        test_kind kind;
        const char *title;
        contender *c;
        size_t n;      /* contenders; c[0] is ipcbus */
        size_t arg;    /* throughput: messages; bulk: bytes */
        unsigned reps; /* operations per contender per round (throughput: 1) */
} test;

static bool active(const bench *b, const contender *c) {
        if (!b->o.only)
                return true;
        return c->ipcbus == (strcmp(b->o.only, "ipcbus") == 0);
}

static int cpu_record(contender *c, uint64_t self0, uint64_t peer0, unsigned ops) {
        uint64_t self = bench_clock_nsec(CLOCK_THREAD_CPUTIME_ID) - self0;
        int r;

        r = bench_samples_add(&c->cpu_self, (double)self / 1000.0 / ops);
        if (r >= 0 && c->has_peer_clock)
                r = bench_samples_add(&c->cpu_peer,
                                      (double)(bench_clock_nsec(c->peer_clock) - peer0) / 1000.0 / ops);
        return r;
}

/* One contender's share of a round. */
static int run_one(bench *b, const test *t, contender *c, bool timed) {
        bench_samples round = { 0 };
        uint64_t self0, peer0;
        int r = 0;

        if (c->begin) {
                r = c->begin(&b->ctx);
                if (r < 0)
                        return r;
        }
        self0 = bench_clock_nsec(CLOCK_THREAD_CPUTIME_ID);
        peer0 = c->has_peer_clock ? bench_clock_nsec(c->peer_clock) : 0;
        for (unsigned i = 0; r >= 0 && i < t->reps; i++) {
                uint64_t t0 = bench_now_nsec(), t1;
                double v;

                r = c->op(&b->ctx, t->arg);
                t1 = bench_now_nsec();
                if (r < 0 || !timed)
                        continue;
                switch (t->kind) {
                case TEST_ROUND_TRIP:
                        v = (double)(t1 - t0) / 1000.0;
                        break;
                case TEST_THROUGHPUT:
                        v = (double)t->arg * 1e9 / (double)(t1 - t0);
                        break;
                case TEST_BULK:
                default:
                        v = (double)t->arg / MIB * 1e9 / (double)(t1 - t0);
                        break;
                }
                r = bench_samples_add(&c->value, v);
                if (r >= 0)
                        r = bench_samples_add(&round, v);
        }
        if (r >= 0 && timed) {
                unsigned ops = t->kind == TEST_THROUGHPUT ? (unsigned)t->arg : t->reps;

                r = cpu_record(c, self0, peer0, ops);
                c->last = bench_samples_percentile(&round, 50);
                if (r >= 0)
                        r = bench_samples_add(&c->round, c->last);
        }
        if (r >= 0 && c->end)
                r = c->end(&b->ctx);
        if (r < 0)
                fprintf(stderr, "bench-port: %s, %s: %s\n", t->title, c->label, strerror(-r));
        bench_samples_clear(&round);
        return r;
}

/* Round k starts with contender k mod n: each goes first equally often. */
static int run_rounds(bench *b, const test *t, unsigned rounds, bool timed) {
        for (unsigned k = 0; k < rounds; k++) {
                int r;

                for (size_t j = 0; j < t->n; j++) {
                        contender *c = &t->c[(k + j) % t->n];

                        if (!active(b, c))
                                continue;
                        r = run_one(b, t, c, timed);
                        if (r < 0)
                                return r;
                }
                if (!timed || !active(b, &t->c[0]) || !active(b, &t->c[1]))
                        continue;
                for (size_t j = 1; j < t->n; j++) {
                        contender *c = &t->c[j];
                        /* The aim's orientation: ipcbus/raw, but raw/ipcbus for a rate of messages. */
                        double ratio = t->kind == TEST_THROUGHPUT ? c->last / t->c[0].last
                                                                  : t->c[0].last / c->last;

                        r = bench_samples_add(&c->paired, ratio);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* ---- reporting ------------------------------------------------------------- */

static double median(bench_samples *s) {
        return bench_samples_percentile(s, 50);
}

static void report_cpu(const bench *b, const test *t, const char *per) {
        printf("  CPU µs per %-30s   bench     peer    total\n", per);
        for (size_t i = 0; i < t->n; i++) {
                contender *c = &t->c[i];

                if (!active(b, c))
                        continue;
                printf("  %-41s %8.2f", c->label, median(&c->cpu_self));
                if (c->cpu_peer.n > 0)
                        printf(" %8.2f %8.2f", median(&c->cpu_peer),
                               median(&c->cpu_self) + median(&c->cpu_peer));
                printf("\n");
        }
}

static void report_paired(const bench *b, const test *t, const char *orientation) {
        for (size_t i = 1; i < t->n; i++) {
                contender *c = &t->c[i];

                if (c->paired.n == 0)
                        continue;
                printf("  same-round ratios %s, against %s: median %.3f, min..max %.3f..%.3f\n", orientation,
                       c->label, median(&c->paired), bench_samples_min(&c->paired),
                       bench_samples_max(&c->paired));
        }
}

static bool both(const bench *b, const test *t) {
        return active(b, &t->c[0]) && active(b, &t->c[1]);
}

static void report_round_trip(const bench *b, const test *t) {
        contender *ipc = &t->c[0], *raw = &t->c[1];

        printf("\n%s: %u rounds x %u per contender, alternating, after %u warm-up\n", t->title, b->o.rounds,
               t->reps, b->o.warmup);
        printf("  %-24s %10s %10s %24s\n", "contender", "median", "p90", "round medians min..max");
        for (size_t i = 0; i < t->n; i++) {
                contender *c = &t->c[i];

                if (!active(b, c))
                        continue;
                printf("  %-24s %7.2f µs %7.2f µs %13.2f..%.2f µs\n", c->label, median(&c->value),
                       bench_samples_percentile(&c->value, 90), bench_samples_min(&c->round),
                       bench_samples_max(&c->round));
        }
        report_cpu(b, t, "round trip (median of rounds)");
        report_paired(b, t, "ipcbus/raw");
        if (!both(b, t))
                return;
        if (t->n > 2 && active(b, &t->c[2]))
                printf("  (of the gap: raw on sd-event/raw blocking %.3f, ipcbus/raw on sd-event %.3f)\n",
                       median(&t->c[2].value) / median(&raw->value),
                       median(&ipc->value) / median(&t->c[2].value));
        printf("port round trip: ipcbus %.2f µs, raw socketpair %.2f µs, ratio %.3f (aim <= %.2f)\n",
               median(&ipc->value), median(&raw->value), median(&ipc->value) / median(&raw->value),
               AIM_ROUND_TRIP);
}

static void report_throughput(const bench *b, const test *t) {
        contender *ipc = &t->c[0], *raw = &t->c[1];

        printf("\n%s: %u rounds x %zu messages per contender, alternating, each ended by the receiver's count\n",
               t->title, b->o.tp_rounds, t->arg);
        printf("  %-24s %14s %28s\n", "contender", "median", "rounds min..max");
        for (size_t i = 0; i < t->n; i++) {
                contender *c = &t->c[i];

                if (!active(b, c))
                        continue;
                printf("  %-24s %8.0f msg/s %13.0f..%.0f msg/s\n", c->label, median(&c->value),
                       bench_samples_min(&c->value), bench_samples_max(&c->value));
        }
        report_cpu(b, t, "message (median of rounds)");
        report_paired(b, t, "raw/ipcbus");
        if (!both(b, t))
                return;
        if (t->n > 2 && active(b, &t->c[2]))
                printf("  (of the gap: raw blocking/raw on sd-event %.3f, raw on sd-event/ipcbus %.3f)\n",
                       median(&raw->value) / median(&t->c[2].value),
                       median(&t->c[2].value) / median(&ipc->value));
        printf("port throughput: ipcbus %.0f msg/s, raw socketpair %.0f msg/s, ratio raw/ipcbus %.3f "
               "(no aim set; > 1: ipcbus slower)\n",
               median(&ipc->value), median(&raw->value), median(&raw->value) / median(&ipc->value));
}

static void report_bulk(const bench *b, const test *t, unsigned rounds, const char *name) {
        contender *ipc = &t->c[0], *raw = &t->c[1];

        printf("\n%s: %u rounds x %u per contender, alternating, after a warm-up; receiver reads %s%s\n",
               t->title, rounds, t->reps,
               b->o.touch == BENCH_PORT_TOUCH_FULL ? "every byte" : "one word per page",
               b->o.fresh_buffer ? "; raw stream into a new malloc() each" : "");
        printf("  %-24s %12s %10s %26s\n", "contender", "median", "per value", "transfers min..max");
        for (size_t i = 0; i < t->n; i++) {
                contender *c = &t->c[i];
                double m;

                if (!active(b, c))
                        continue;
                m = median(&c->value);
                printf("  %-24s %7.0f MiB/s %7.2f ms %11.0f..%.0f MiB/s\n", c->label, m,
                       (double)t->arg / MIB / m * 1000.0, bench_samples_min(&c->value),
                       bench_samples_max(&c->value));
        }
        report_cpu(b, t, "value (median of rounds)");
        report_paired(b, t, "ipcbus/raw");
        if (!both(b, t))
                return;
        printf("port bandwidth %s: ipcbus %.0f MiB/s, raw %.0f MiB/s, ratio %.3f (aim >= %.2f)\n", name,
               median(&ipc->value), median(&raw->value), median(&ipc->value) / median(&raw->value),
               AIM_BANDWIDTH);
        if (t->n > 2 && active(b, &t->c[2]))
                printf("  (raw stream socketpair is the aim's baseline; against the raw memfd: ratio %.3f)\n",
                       median(&ipc->value) / median(&t->c[2].value));
}

/* ---- setup ----------------------------------------------------------------- */

static int spawn_peers(bench *b, test_process **ret_ipcbus, test_process **ret_raw, int *ret_direct) {
        int ctl[2], stream[2], fdsock[2], evsock[2], direct[2], r;
        bench_port_peer_config raw = { .touch = b->o.touch, .fresh_buffer = b->o.fresh_buffer },
                               ipc = { .touch = b->o.touch };

        /* Blocking sockets: the raw side's best case. */
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0 ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, stream) < 0 ||
            socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fdsock) < 0 ||
            socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, evsock) < 0 ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, direct) < 0)
                return bench_port_error("socketpair", -errno);

        /* Each child closes the other processes' ends, so a close is seen. */
        raw.ctl_fd = ctl[1];
        raw.stream_fd = stream[1];
        raw.fdsock_fd = fdsock[1];
        raw.evsock_fd = evsock[1];
        ipc.direct_fd = direct[1];
        for (size_t i = 0; i < BENCH_PORT_CLOSE_MAX; i++)
                raw.close_fds[i] = ipc.close_fds[i] = -1;
        raw.close_fds[0] = ipc.close_fds[0] = ctl[0];
        raw.close_fds[1] = ipc.close_fds[1] = stream[0];
        raw.close_fds[2] = ipc.close_fds[2] = fdsock[0];
        raw.close_fds[3] = ipc.close_fds[3] = direct[0];
        raw.close_fds[4] = evsock[0];
        raw.close_fds[5] = direct[1];
        ipc.close_fds[4] = evsock[0];
        ipc.close_fds[5] = ctl[1];
        ipc.close_fds[6] = stream[1];
        ipc.close_fds[7] = fdsock[1];
        ipc.close_fds[8] = evsock[1];

        r = test_process_spawn(ret_raw, bench_port_raw_peer, &raw);
        if (r >= 0)
                r = test_process_spawn(ret_ipcbus, bench_port_ipcbus_peer, &ipc);
        (void)close(ctl[1]);
        (void)close(stream[1]);
        (void)close(fdsock[1]);
        (void)close(evsock[1]);
        (void)close(direct[1]);
        b->ctx.ctl = ctl[0];
        b->ctx.stream = stream[0];
        b->ctx.fdsock = fdsock[0];
        b->ctx.evsock = evsock[0];
        *ret_direct = direct[0];
        return r < 0 ? bench_port_error("test_process_spawn", r) : 0;
}

/* A peer ends once its sockets close; one that does not within 10 s is killed. */
static void stop_peer(test_process *p, const char *label) {
        int status = 0;

        if (!p)
                return;
        /* No line starts so: returns when the child's stdout closes, i.e. it exited. */
        if (test_process_wait_line(p, "\n", 10 * TEST_USEC_PER_SEC) == -ETIMEDOUT) {
                fprintf(stderr, "bench-port: the %s peer did not end; killing it\n", label);
                (void)test_process_kill(p, SIGKILL);
        }
        if (test_process_wait_exit(p, &status) >= 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
                fprintf(stderr, "bench-port: the %s peer ended with status 0x%x\n", label, status);
        test_process_free(p);
}

int main(int argc, char **argv) {
        test_process *ipcbus_peer = NULL, *raw_peer = NULL;
        bench b = { .ctx = { .ctl = -1, .stream = -1, .fdsock = -1, .evsock = -1 } };
        contender rt[3] = {
                { .label = "ipcbus port", .ipcbus = true, .op = bench_port_ipcbus_round_trip },
                { .label = "raw socketpair", .op = bench_port_raw_round_trip },
                { .label = "raw on sd-event",
                  .op = bench_port_event_round_trip,
                  .begin = bench_port_event_begin,
                  .end = bench_port_event_end },
        };
        contender tp[3] = {
                { .label = "ipcbus port", .ipcbus = true, .op = bench_port_ipcbus_throughput },
                { .label = "raw socketpair", .op = bench_port_raw_throughput },
                { .label = "raw on sd-event",
                  .op = bench_port_event_throughput,
                  .begin = bench_port_event_begin,
                  .end = bench_port_event_end },
        };
        contender bw[2][3] = {
                { { .label = "ipcbus port", .ipcbus = true, .op = bench_port_ipcbus_bulk },
                  { .label = "raw stream socketpair", .op = bench_port_raw_stream_bulk },
                  { .label = "raw memfd", .op = bench_port_raw_memfd_bulk } },
                { { .label = "ipcbus port", .ipcbus = true, .op = bench_port_ipcbus_bulk },
                  { .label = "raw stream socketpair", .op = bench_port_raw_stream_bulk },
                  { .label = "raw memfd", .op = bench_port_raw_memfd_bulk } },
        };
        contender *all[] = { &rt[0],    &rt[1],    &rt[2],    &tp[0],    &tp[1],    &tp[2],
                             &bw[0][0], &bw[0][1], &bw[0][2], &bw[1][0], &bw[1][1], &bw[1][2] };
        test t_rt, t_tp, t_bw, t_big;
        clockid_t ipcbus_clock = 0, raw_clock = 0;
        bool has_ipcbus_clock, has_raw_clock;
        char big_name[32];
        int direct_fd = -1, r;

        if (parse_options(argc, argv, &b.o) < 0)
                return EXIT_FAILURE;
        b.ctx.touch = b.o.touch;
        setvbuf(stdout, NULL, _IOLBF, 0);
        /* A peer that dies is an error from write(), not the end of the bench. */
        signal(SIGPIPE, SIG_IGN);

        /* Written once, before the children exist: no copy-on-write later. */
        b.ctx.bytes_size = (size_t)(b.o.big_reps > 0 && b.o.big_mib > 1 ? b.o.big_mib : 1) * MIB;
        b.ctx.bytes = mmap(NULL, b.ctx.bytes_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (b.ctx.bytes == MAP_FAILED) {
                bench_port_error("mmap", -errno);
                return EXIT_FAILURE;
        }
        bench_port_fill(b.ctx.bytes, b.ctx.bytes_size);

        r = spawn_peers(&b, &ipcbus_peer, &raw_peer, &direct_fd);
        if (r >= 0)
                r = bench_port_connect(&b.ctx, direct_fd);
        /* On the same loop as the port, so both loops watch the same sources. */
        if (r >= 0)
                r = bench_port_event_attach(&b.ctx);
        if (r < 0)
                goto finish;

        has_ipcbus_clock = bench_cpu_clock(test_process_get_pid(ipcbus_peer), &ipcbus_clock) >= 0;
        has_raw_clock = bench_cpu_clock(test_process_get_pid(raw_peer), &raw_clock) >= 0;
        for (size_t i = 0; i < G_N_ELEMENTS(all); i++) {
                all[i]->peer_clock = all[i]->ipcbus ? ipcbus_clock : raw_clock;
                all[i]->has_peer_clock = all[i]->ipcbus ? has_ipcbus_clock : has_raw_clock;
        }

        printf("bench-port: bench pid %d, ipcbus peer pid %d (renderer dropped, port only), raw peer pid %d\n",
               (int)getpid(), (int)test_process_get_pid(ipcbus_peer), (int)test_process_get_pid(raw_peer));
        printf("small message: ipcbus a %zu-character string (\"s\", %zu bytes as the port's \"v\"), "
               "raw a %u-byte datagram\n",
               strlen(BENCH_PORT_PAYLOAD), strlen(BENCH_PORT_PAYLOAD) + 3, BENCH_PORT_SMALL);

        t_rt = (test){ TEST_ROUND_TRIP, "Round trip", rt, 3, 0, b.o.calls };
        t_tp = (test){ TEST_THROUGHPUT, "One-way throughput", tp, 3, b.o.messages, 1 };
        t_bw = (test){ TEST_BULK, "Bandwidth, 1 MiB \"ay\"", bw[0], 3, MIB, b.o.bw_reps };
        snprintf(big_name, sizeof(big_name), "%u MiB", b.o.big_mib);
        t_big = (test){ TEST_BULK, "Bandwidth, big \"ay\"", bw[1], 3, (size_t)b.o.big_mib * MIB, 1 };

        /* Round trip. */
        t_rt.reps = b.o.warmup;
        r = b.o.warmup > 0 ? run_rounds(&b, &t_rt, 1, false) : 0;
        t_rt.reps = b.o.calls;
        if (r >= 0)
                r = run_rounds(&b, &t_rt, b.o.rounds, true);
        if (r < 0)
                goto finish;
        report_round_trip(&b, &t_rt);

        /* Throughput. */
        t_tp.arg = b.o.messages / 10 + 1;
        r = run_rounds(&b, &t_tp, 1, false);
        t_tp.arg = b.o.messages;
        if (r >= 0)
                r = run_rounds(&b, &t_tp, b.o.tp_rounds, true);
        if (r < 0)
                goto finish;
        report_throughput(&b, &t_tp);

        /* Bandwidth. */
        t_bw.reps = b.o.bw_reps / 5 + 1;
        r = run_rounds(&b, &t_bw, 1, false);
        t_bw.reps = b.o.bw_reps;
        if (r >= 0)
                r = run_rounds(&b, &t_bw, b.o.bw_rounds, true);
        if (r < 0)
                goto finish;
        report_bulk(&b, &t_bw, b.o.bw_rounds, "1 MiB");

        if (b.o.big_reps > 0) {
                char title[64];

                snprintf(title, sizeof(title), "Bandwidth, %s \"ay\"", big_name);
                t_big.title = title;
                r = run_rounds(&b, &t_big, 1, false);
                if (r >= 0)
                        r = run_rounds(&b, &t_big, b.o.big_reps, true);
                if (r < 0)
                        goto finish;
                report_bulk(&b, &t_big, b.o.big_reps, big_name);
        }

finish:
        if (r < 0)
                fprintf(stderr, "bench-port: failed: %s\n", strerror(-r));
        /* Closing our ends ends the children. */
        b.ctx.port = ipcbus_port_unref(b.ctx.port);
        if (b.ctx.last)
                g_variant_unref(b.ctx.last);
        if (b.ctx.ctl >= 0)
                (void)close(b.ctx.ctl);
        if (b.ctx.stream >= 0)
                (void)close(b.ctx.stream);
        if (b.ctx.fdsock >= 0)
                (void)close(b.ctx.fdsock);
        sd_event_source_disable_unref(b.ctx.ev_io);
        if (b.ctx.evsock >= 0)
                (void)close(b.ctx.evsock);
        stop_peer(ipcbus_peer, "ipcbus");
        stop_peer(raw_peer, "raw");
        sd_event_unref(b.ctx.event);
        for (size_t i = 0; i < G_N_ELEMENTS(all); i++) {
                bench_samples_clear(&all[i]->value);
                bench_samples_clear(&all[i]->round);
                bench_samples_clear(&all[i]->paired);
                bench_samples_clear(&all[i]->cpu_self);
                bench_samples_clear(&all[i]->cpu_peer);
        }
        (void)munmap(b.ctx.bytes, b.ctx.bytes_size);
        /* A benchmark, not a test: numbers beyond the aim are reported, not failed. */
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
