/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-ipc: ipcbus against plain sd-bus, on one private bus, in one run.
 *
 * Invoke round trip: ipcbus_renderer_invoke_sync("echo", one string) to an
 * ipcbus main, against sd_bus_call() of Echo(sav) -> v to a plain sd-bus
 * server doing the same work. Send throughput: N ipcbus_renderer_send() to
 * the main's "count" listener, and N ipcbus_renderer_sendf() to a second
 * main's, against N unicast sd-bus signals to the plain server's filter,
 * each followed by one call that returns the count.
 *
 * --typed (issue 7): the calls of a typed channel, echo-s (s) -> s, against
 * Invoke of the same channel on an ipcbus main that declares nothing: the
 * renderer side ipcbus-codegen generates (bench_channels_invoke_echo_s_sync()
 * to a main serving it with the generated handler), the same main's typed
 * face called with plain sd-bus (EchoS(s) -> s), Invoke on such a main (what
 * the declaration costs), and EchoS on the plain servers; calls only.
 *
 * Every server is its own process; every client is in this process. Rounds
 * alternate between the clients (the starting one rotates), so all see the
 * same noise; results are medians. See README.md for how to read them.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-clients.h"
#include "bench-servers.h"
#include "test-bus.h"

/* 16 bytes: a small argument, unless --size says otherwise. */
static const char *payload = "0123456789abcdef";
#define AIM 1.15

typedef struct options {
        unsigned rounds;      /* latency rounds */
        unsigned calls;       /* calls per client per latency round */
        unsigned warmup;      /* untimed calls per client first */
        unsigned send_rounds; /* throughput rounds */
        unsigned messages;    /* messages per client per throughput round */
        bool event_baseline;  /* also a plain server on sd-event */
        const char *only;     /* one client's label, for profiling a server */
        test_bus_kind bus;
        bool gate;            /* the ipcbus main with a sender check and allowlists */
        bool typed;           /* typed calls against Invoke (issue 7) */
        unsigned size;        /* bytes of the string argument; 0: 16 */
        unsigned renderers;   /* ipcbus calls round-robin over this many renderers */
} options;

enum {
        CLIENT_IPCBUS,
        CLIENT_PLAIN,
        CLIENT_PLAIN_EVENT,
        CLIENT_DECLARED,
        CLIENT_GENERATED,
        CLIENT_TYPED_FACE,
        CLIENT_IPCBUS_SENDF, /* sends only: its calls would be ipcbus's */
        N_CLIENTS
};

/* --renderers: the ipcbus client's other renderers, calls taking turns. */
#define MORE_RENDERERS_MAX 63U
static bench_client more_renderers[MORE_RENDERERS_MAX];
static unsigned n_more_renderers;

static bench_client clients[N_CLIENTS] = {
        [CLIENT_IPCBUS] = { .label = "ipcbus", .server = BENCH_IPCBUS_NAME, .ipcbus = true },
        [CLIENT_PLAIN] = { .label = "plain sd-bus", .server = BENCH_PLAIN_NAME },
        [CLIENT_PLAIN_EVENT] = { .label = "plain sd-bus, sd-event", .server = BENCH_PLAIN_EVENT_NAME },
        [CLIENT_DECLARED] = { .label = "Invoke, declared", .server = BENCH_DECLARED_NAME, .ipcbus = true,
                              .call = BENCH_CALL_ECHO_S },
        [CLIENT_GENERATED] = { .label = "ipcbus generated", .server = BENCH_GENERATED_NAME, .ipcbus = true,
                               .call = BENCH_CALL_ECHO_S_GENERATED },
        [CLIENT_TYPED_FACE] = { .label = "typed face, sd-bus", .server = BENCH_TYPED_FACE_NAME,
                                .call = BENCH_CALL_ECHO_S_TYPED },
        [CLIENT_IPCBUS_SENDF] = { .label = "ipcbus, sendf", .server = BENCH_IPCBUS_SENDF_NAME, .ipcbus = true,
                                  .sendf = true },
};

/* The baselines ipcbus is held to; the typed clients are held to Invoke. */
static bool is_plain(int i) {
        return i == CLIENT_PLAIN || i == CLIENT_PLAIN_EVENT;
}

/* The clients of --typed's mains, which declare echo-s. */
static bool is_typed(int i) {
        return i == CLIENT_DECLARED || i == CLIENT_GENERATED || i == CLIENT_TYPED_FACE;
}
static bool active[N_CLIENTS];

static const options defaults = {
        .rounds = 40,
        .calls = 500,
        .warmup = 1000,
        .send_rounds = 10,
        .messages = 20000,
        .event_baseline = true,
        .bus = TEST_BUS_DBUS_DAEMON,
};

/* About a second: shows the benchmark works, not what the numbers are. */
static const options quick = {
        .rounds = 4,
        .calls = 250,
        .warmup = 250,
        .send_rounds = 4,
        .messages = 2000,
        .event_baseline = true,
        .bus = TEST_BUS_DBUS_DAEMON,
};

static void usage(FILE *f) {
        fprintf(f,
                "Usage: bench-ipc [OPTION...]\n"
                "  --quick              a short run (smoke test, numbers are rough)\n"
                "  --rounds=N           latency rounds (40)\n"
                "  --calls=N            calls per client per round (500)\n"
                "  --warmup=N           untimed calls per client before (1000)\n"
                "  --send-rounds=N      throughput rounds (10)\n"
                "  --messages=N         messages per client per throughput round (20000)\n"
                "  --no-event-baseline  skip the plain server on sd-event\n"
                "  --only=CLIENT        run one client: ipcbus, plain, plain-event, declared, generated,\n"
                "                       typed-face or ipcbus-sendf (profiling)\n"
                "  --bus=KIND           dbus-daemon (default) or dbus-broker (root only)\n"
                "  --gate               the ipcbus main with a sender check (the caller's uid) and allowlists\n"
                "  --size=BYTES         the string argument's size (default 16): with IPCBUS_LARGE_VALUES=0\n"
                "                       and without it, where large values start to pay (issue 9)\n"
                "  --typed              typed calls (generated, typed face) against Invoke of the same channel;\n"
                "                       calls only\n"
                "  --renderers=N        ipcbus calls go round-robin over N renderers (connections) to the one\n"
                "                       main (default 1): with --size, a main many peers send large values to\n");
}

static int parse_unsigned(const char *s, unsigned *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || !*s || *end || v == 0 || v > 100000000UL)
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

static int parse_options(int argc, char **argv, options *o) {
        enum {
                OPT_ROUNDS = 256,
                OPT_CALLS,
                OPT_WARMUP,
                OPT_SEND_ROUNDS,
                OPT_MESSAGES,
                OPT_NO_EVENT,
                OPT_ONLY,
                OPT_BUS,
                OPT_GATE,
                OPT_TYPED,
                OPT_SIZE,
                OPT_RENDERERS
        };
        static const struct option longopts[] = {
                { "quick", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                { "rounds", required_argument, NULL, OPT_ROUNDS },
                { "calls", required_argument, NULL, OPT_CALLS },
                { "warmup", required_argument, NULL, OPT_WARMUP },
                { "send-rounds", required_argument, NULL, OPT_SEND_ROUNDS },
                { "messages", required_argument, NULL, OPT_MESSAGES },
                { "no-event-baseline", no_argument, NULL, OPT_NO_EVENT },
                { "only", required_argument, NULL, OPT_ONLY },
                { "bus", required_argument, NULL, OPT_BUS },
                { "gate", no_argument, NULL, OPT_GATE },
                { "typed", no_argument, NULL, OPT_TYPED },
                { "size", required_argument, NULL, OPT_SIZE },
                { "renderers", required_argument, NULL, OPT_RENDERERS },
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
                        r = parse_unsigned(optarg, &o->rounds);
                        break;
                case OPT_CALLS:
                        r = parse_unsigned(optarg, &o->calls);
                        break;
                case OPT_WARMUP:
                        r = parse_unsigned(optarg, &o->warmup);
                        break;
                case OPT_SEND_ROUNDS:
                        r = parse_unsigned(optarg, &o->send_rounds);
                        break;
                case OPT_MESSAGES:
                        r = parse_unsigned(optarg, &o->messages);
                        break;
                case OPT_NO_EVENT:
                        o->event_baseline = false;
                        break;
                case OPT_ONLY:
                        if (strcmp(optarg, "ipcbus") != 0 && strcmp(optarg, "plain") != 0 &&
                            strcmp(optarg, "plain-event") != 0 && strcmp(optarg, "declared") != 0 &&
                            strcmp(optarg, "generated") != 0 && strcmp(optarg, "typed-face") != 0 &&
                            strcmp(optarg, "ipcbus-sendf") != 0)
                                r = -EINVAL;
                        o->only = optarg;
                        break;
                case OPT_GATE:
                        o->gate = true;
                        break;
                case OPT_SIZE:
                        r = parse_unsigned(optarg, &o->size);
                        break;
                case OPT_RENDERERS:
                        r = parse_unsigned(optarg, &o->renderers);
                        if (r >= 0 && o->renderers > MORE_RENDERERS_MAX + 1)
                                r = -EINVAL;
                        break;
                case OPT_TYPED:
                        o->typed = true;
                        break;
                case OPT_BUS:
                        if (strcmp(optarg, "dbus-daemon") == 0)
                                o->bus = TEST_BUS_DBUS_DAEMON;
                        else if (strcmp(optarg, "dbus-broker") == 0)
                                o->bus = TEST_BUS_DBUS_BROKER;
                        else
                                r = -EINVAL;
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

/* ---- measuring ------------------------------------------------------------- */

static clockid_t bus_clock;
static bool has_bus_clock;

typedef struct cpu_mark {
        uint64_t client, bus, server;
} cpu_mark;

static void cpu_mark_take(const bench_client *c, cpu_mark *ret) {
        ret->client = bench_clock_nsec(CLOCK_THREAD_CPUTIME_ID);
        ret->bus = has_bus_clock ? bench_clock_nsec(bus_clock) : 0;
        ret->server = c->has_server_clock ? bench_clock_nsec(c->server_clock) : 0;
}

/* µs of CPU per operation in each process, between two marks. */
static int cpu_record(const bench_client *c, bench_cpu *cpu, const cpu_mark *a, const cpu_mark *b,
                      unsigned ops) {
        int r;

        r = bench_samples_add(&cpu->client, (double)(b->client - a->client) / 1000.0 / ops);
        if (r >= 0 && has_bus_clock)
                r = bench_samples_add(&cpu->bus, (double)(b->bus - a->bus) / 1000.0 / ops);
        if (r >= 0 && c->has_server_clock)
                r = bench_samples_add(&cpu->server, (double)(b->server - a->server) / 1000.0 / ops);
        return r;
}

static int latency_round(bench_client *c, unsigned calls, bool timed) {
        bench_samples round = { 0 };
        cpu_mark before, after;
        int r = 0;

        cpu_mark_take(c, &before);
        for (unsigned i = 0; r >= 0 && i < calls; i++) {
                unsigned turn = c == &clients[CLIENT_IPCBUS] ? i % (n_more_renderers + 1) : 0;
                uint64_t t0 = bench_now_nsec(), t1;

                r = bench_client_call(turn == 0 ? c : &more_renderers[turn - 1], payload);
                t1 = bench_now_nsec();
                if (r >= 0 && timed) {
                        double usec = (double)(t1 - t0) / 1000.0;

                        r = bench_samples_add(&c->latency, usec);
                        if (r >= 0)
                                r = bench_samples_add(&round, usec);
                }
        }
        cpu_mark_take(c, &after);
        if (r >= 0 && timed) {
                c->last = bench_samples_percentile(&round, 50);
                r = bench_samples_add(&c->round_latency, c->last);
                if (r >= 0)
                        r = cpu_record(c, &c->call_cpu, &before, &after, calls);
        }
        bench_samples_clear(&round);
        if (r == -EBADMSG)
                fprintf(stderr, "bench-ipc: %s: the echo is not what was sent\n", c->label);
        return r;
}

/* From the first send to the reply that says all of them arrived. */
static int throughput_round(bench_client *c, unsigned messages, bool timed) {
        cpu_mark before, after;
        uint64_t t0, t1;
        int64_t counted;
        int r = 0;

        cpu_mark_take(c, &before);
        t0 = bench_now_nsec();
        for (unsigned i = 0; r >= 0 && i < messages; i++)
                r = bench_client_send(c, payload);
        if (r < 0)
                return r;
        counted = bench_client_sync(c);
        t1 = bench_now_nsec();
        cpu_mark_take(c, &after);
        if (counted < 0)
                return (int)counted;
        if (counted != messages) {
                fprintf(stderr, "bench-ipc: %s: %u messages sent, %lld counted\n", c->label, messages,
                        (long long)counted);
                return -EPROTO;
        }
        if (!timed)
                return 0;
        c->last = (double)messages * 1e9 / (double)(t1 - t0);
        r = bench_samples_add(&c->rate, c->last);
        if (r >= 0)
                r = cpu_record(c, &c->send_cpu, &before, &after, messages);
        return r;
}

/* Both clients ran in this round: how they compare under the same noise. */
static int record_pairs(bool latency) {
        const bench_client *ipc = &clients[CLIENT_IPCBUS];
        int r = 0;

        if (!active[CLIENT_IPCBUS])
                return 0;
        for (int i = CLIENT_PLAIN; r >= 0 && i < N_CLIENTS; i++) {
                bench_client *c = &clients[i];

                if (!active[i] || i == CLIENT_IPCBUS_SENDF)
                        continue;
                if (is_typed(i))
                        r = bench_samples_add(&c->paired_latency, c->last / ipc->last);
                else if (latency)
                        r = bench_samples_add(&c->paired_latency, ipc->last / c->last);
                else {
                        r = bench_samples_add(&c->paired_rate, c->last / ipc->last);
                        if (r >= 0 && active[CLIENT_IPCBUS_SENDF])
                                r = bench_samples_add(&c->paired_rate_sendf,
                                                      c->last / clients[CLIENT_IPCBUS_SENDF].last);
                }
        }
        return r;
}

/* Round k starts with client k mod n: each client goes first equally often. */
static int run_rounds(unsigned rounds, unsigned per_round, bool latency, bool timed) {
        int ids[N_CLIENTS], n = 0, r;

        for (int i = 0; i < N_CLIENTS; i++)
                if (active[i] && !(latency && i == CLIENT_IPCBUS_SENDF))
                        ids[n++] = i;
        for (unsigned k = 0; k < rounds; k++) {
                for (int j = 0; j < n; j++) {
                        bench_client *c = &clients[ids[(k + (unsigned)j) % (unsigned)n]];

                        r = latency ? latency_round(c, per_round, timed)
                                    : throughput_round(c, per_round, timed);
                        if (r < 0)
                                return r;
                }
                if (timed) {
                        r = record_pairs(latency);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* ---- reporting ------------------------------------------------------------- */

/* The faster plain client: the baseline ipcbus is held to. */
static bench_client *best_plain(bool latency) {
        bench_client *best = NULL;

        for (int i = CLIENT_PLAIN; i < N_CLIENTS; i++) {
                bench_client *c = &clients[i];

                if (!active[i] || !is_plain(i))
                        continue;
                if (!best ||
                    (latency ? bench_samples_percentile(&c->latency, 50) <
                                     bench_samples_percentile(&best->latency, 50)
                             : bench_samples_percentile(&c->rate, 50) >
                                     bench_samples_percentile(&best->rate, 50)))
                        best = c;
        }
        return best;
}

static void print_cpu_value(bench_samples *s) {
        if (s->n == 0)
                printf(" %8s", "n/a");
        else
                printf(" %8.1f", bench_samples_percentile(s, 50));
}

/* The median of each process's per-round CPU time per operation. */
static void report_cpu(bool latency) {
        printf("  CPU µs per %s (median of rounds)  client      bus   server    total\n",
               latency ? "call" : "message");
        for (int i = 0; i < N_CLIENTS; i++) {
                bench_client *c = &clients[i];
                bench_cpu *cpu = latency ? &c->call_cpu : &c->send_cpu;
                double total;

                if (!active[i] || (latency && i == CLIENT_IPCBUS_SENDF))
                        continue;
                printf("  %-35s", c->label);
                print_cpu_value(&cpu->client);
                print_cpu_value(&cpu->bus);
                print_cpu_value(&cpu->server);
                total = bench_samples_percentile(&cpu->client, 50) +
                        bench_samples_percentile(&cpu->bus, 50) + bench_samples_percentile(&cpu->server, 50);
                if (cpu->bus.n > 0 && cpu->server.n > 0)
                        printf(" %8.1f", total);
                printf("\n");
        }
}

/* Typed calls against Invoke of the same channel, same rounds. */
static void report_typed(void) {
        bench_client *ipc = &clients[CLIENT_IPCBUS];
        double invoke = bench_samples_percentile(&ipc->latency, 50);

        if (!active[CLIENT_IPCBUS])
                return;
        for (int i = CLIENT_DECLARED; i < N_CLIENTS; i++) {
                bench_client *c = &clients[i];

                if (!active[i] || !is_typed(i))
                        continue;
                printf("  same-round ratios %s/%s: median %.3f, min..max %.3f..%.3f\n", c->label, ipc->label,
                       bench_samples_percentile(&c->paired_latency, 50), bench_samples_min(&c->paired_latency),
                       bench_samples_max(&c->paired_latency));
        }
        for (int i = CLIENT_DECLARED; i < N_CLIENTS; i++) {
                bench_client *c = &clients[i];
                double typed;

                if (!active[i] || !is_typed(i))
                        continue;
                typed = bench_samples_percentile(&c->latency, 50);
                printf("typed call: %s %.1f µs, %s %.1f µs, ratio %.3f (aim <= 1.00)\n", c->label, typed,
                       ipc->label, invoke, typed / invoke);
        }
}

static void report_latency(const options *o) {
        bench_client *ipc = &clients[CLIENT_IPCBUS], *plain;

        printf("\nInvoke round trip: %u rounds x %u calls per client, alternating, after %u warm-up calls\n",
               o->rounds, o->calls, o->warmup);
        printf("  %-24s %10s %10s %22s\n", "client", "median", "p90", "round medians min..max");
        for (int i = 0; i < N_CLIENTS; i++) {
                bench_client *c = &clients[i];

                if (!active[i] || i == CLIENT_IPCBUS_SENDF)
                        continue;
                printf("  %-24s %7.1f µs %7.1f µs %11.1f..%.1f µs\n", c->label,
                       bench_samples_percentile(&c->latency, 50), bench_samples_percentile(&c->latency, 90),
                       bench_samples_min(&c->round_latency), bench_samples_max(&c->round_latency));
        }
        report_cpu(true);
        if (o->typed)
                report_typed();
        plain = best_plain(true);
        if (!active[CLIENT_IPCBUS] || !plain)
                return;
        printf("  same-round ratios ipcbus/%s: median %.3f, min..max %.3f..%.3f\n", plain->label,
               bench_samples_percentile(&plain->paired_latency, 50),
               bench_samples_min(&plain->paired_latency), bench_samples_max(&plain->paired_latency));
        printf("invoke round trip: ipcbus %.1f µs, %s %.1f µs, ratio %.3f (aim <= %.2f)\n",
               bench_samples_percentile(&ipc->latency, 50), plain->label,
               bench_samples_percentile(&plain->latency, 50),
               bench_samples_percentile(&ipc->latency, 50) / bench_samples_percentile(&plain->latency, 50),
               AIM);
}

static void report_throughput(const options *o) {
        bench_client *ipc = &clients[CLIENT_IPCBUS], *plain;

        printf("\nSend throughput: %u rounds x %u messages per client, alternating, each ended by a count call\n",
               o->send_rounds, o->messages);
        printf("  %-24s %14s %26s\n", "client", "median", "rounds min..max");
        for (int i = 0; i < N_CLIENTS; i++) {
                bench_client *c = &clients[i];

                if (!active[i])
                        continue;
                printf("  %-24s %8.0f msg/s %11.0f..%.0f msg/s\n", c->label,
                       bench_samples_percentile(&c->rate, 50), bench_samples_min(&c->rate),
                       bench_samples_max(&c->rate));
        }
        report_cpu(false);
        plain = best_plain(false);
        if (!active[CLIENT_IPCBUS] || !plain)
                return;
        printf("  same-round ratios %s/ipcbus: median %.3f, min..max %.3f..%.3f\n", plain->label,
               bench_samples_percentile(&plain->paired_rate, 50), bench_samples_min(&plain->paired_rate),
               bench_samples_max(&plain->paired_rate));
        printf("send throughput: ipcbus %.0f msg/s, %s %.0f msg/s, ratio %.3f (aim <= %.2f)\n",
               bench_samples_percentile(&ipc->rate, 50), plain->label,
               bench_samples_percentile(&plain->rate, 50),
               bench_samples_percentile(&plain->rate, 50) / bench_samples_percentile(&ipc->rate, 50), AIM);
        if (!active[CLIENT_IPCBUS_SENDF])
                return;
        ipc = &clients[CLIENT_IPCBUS_SENDF];
        printf("  same-round ratios %s/%s: median %.3f, min..max %.3f..%.3f\n", plain->label, ipc->label,
               bench_samples_percentile(&plain->paired_rate_sendf, 50),
               bench_samples_min(&plain->paired_rate_sendf), bench_samples_max(&plain->paired_rate_sendf));
        printf("send throughput, sendf: ipcbus %.0f msg/s, %s %.0f msg/s, ratio %.3f (aim <= %.2f)\n",
               bench_samples_percentile(&ipc->rate, 50), plain->label,
               bench_samples_percentile(&plain->rate, 50),
               bench_samples_percentile(&plain->rate, 50) / bench_samples_percentile(&ipc->rate, 50), AIM);
}

/* ---- setup ----------------------------------------------------------------- */

static bool client_wanted(const options *o, int i) {
        static const char *const names[N_CLIENTS] = { "ipcbus", "plain", "plain-event", "declared",
                                                       "generated", "typed-face", "ipcbus-sendf" };

        if (is_typed(i) && !o->typed)
                return false;
        /* Sends are not measured with --typed. */
        if (i == CLIENT_IPCBUS_SENDF && o->typed)
                return false;
        if (o->only)
                return strcmp(o->only, names[i]) == 0;
        return i != CLIENT_PLAIN_EVENT || o->event_baseline;
}

static int spawn_server(test_process **ret, int i, const char *address, bool gate) {
        /* The child gets a copy of this: it needs to live only until the fork. */
        bench_server_config config = {
                .address = address,
                .name = clients[i].server,
                .use_event = i == CLIENT_PLAIN_EVENT,
                .gate = gate,
                .typed = is_typed(i),
                /* sd-bus style both ways: sendf in, ipcbus_event_read() out. */
                .reads = i == CLIENT_IPCBUS_SENDF,
        };
        int r;

        r = test_process_spawn(ret,
                               i == CLIENT_IPCBUS || i == CLIENT_IPCBUS_SENDF || is_typed(i) ? bench_ipcbus_main
                                                                                                : bench_plain_server,
                               &config);
        if (r < 0)
                return r;
        return test_process_wait_line(*ret, "ready", 10 * TEST_USEC_PER_SEC);
}

/* dbus-broker answers for its own name with its launcher's pid: the broker
 * is the launcher's only child. */
static pid_t launcher_child(pid_t pid) {
        char path[64], comm[32] = "";
        FILE *f;
        int child = 0;

        snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return pid;
        if (!fgets(comm, sizeof(comm), f) || strncmp(comm, "dbus-broker-lau", 15) != 0) {
                fclose(f);
                return pid;
        }
        fclose(f);
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
        f = fopen(path, "re");
        if (!f)
                return pid;
        if (fscanf(f, "%d", &child) != 1)
                child = (int)pid;
        fclose(f);
        return (pid_t)child;
}

/* The bus's own pid, from its driver, which answers for its own name. */
static int open_bus_clock(test_bus *bus, clockid_t *ret, pid_t *ret_pid) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *probe = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint32_t pid;
        pid_t p;
        int r;

        r = test_bus_connect(bus, &probe);
        if (r >= 0)
                r = sd_bus_call_method(probe, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetConnectionUnixProcessID", NULL, &reply,
                                       "s", "org.freedesktop.DBus");
        if (r >= 0)
                r = sd_bus_message_read(reply, "u", &pid);
        if (r < 0)
                return r;
        p = launcher_child((pid_t)pid);
        r = bench_cpu_clock(p, ret);
        if (r >= 0)
                *ret_pid = p;
        return r;
}

static void stop_server(test_process *p) {
        if (!p)
                return;
        (void)test_process_kill(p, SIGTERM);
        (void)test_process_wait_exit(p, NULL);
        test_process_free(p);
}

int main(int argc, char **argv) {
        _cleanup_(test_bus_freep) test_bus *bus = NULL;
        test_process *servers[N_CLIENTS] = { 0 };
        pid_t bus_pid = 0;
        options o;
        int r;

        if (parse_options(argc, argv, &o) < 0)
                return EXIT_FAILURE;
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (o.size > 0) {
                /* Freed with the process. */
                char *p = malloc(o.size + 1);

                if (!p)
                        return EXIT_FAILURE;
                memset(p, 'x', o.size);
                p[o.size] = '\0';
                payload = p;
        }
        /* Invoke and the plain servers call what the typed clients call. */
        if (o.typed) {
                clients[CLIENT_IPCBUS].label = "ipcbus Invoke";
                for (int i = CLIENT_IPCBUS; i <= CLIENT_PLAIN_EVENT; i++)
                        clients[i].call = BENCH_CALL_ECHO_S;
        }

        r = test_bus_start(&bus, o.bus);
        if (r < 0) {
                fprintf(stderr, "bench-ipc: cannot start %s: %s\n", test_bus_kind_to_string(o.bus),
                        strerror(-r));
                return EXIT_FAILURE;
        }

        /* Servers first: they are forked, and a fork must not copy our connections. */
        for (int i = 0; r >= 0 && i < N_CLIENTS; i++) {
                active[i] = client_wanted(&o, i);
                if (active[i])
                        r = spawn_server(&servers[i], i, test_bus_get_address(bus), o.gate);
        }
        for (int i = 0; r >= 0 && i < N_CLIENTS; i++)
                if (active[i]) {
                        r = bench_client_open(&clients[i], test_bus_get_address(bus));
                        clients[i].has_server_clock = bench_cpu_clock(test_process_get_pid(servers[i]),
                                                                      &clients[i].server_clock) >= 0;
                }
        if (r >= 0 && active[CLIENT_IPCBUS] && o.renderers > 1)
                for (; r >= 0 && n_more_renderers + 1 < o.renderers; n_more_renderers++) {
                        bench_client *c = &more_renderers[n_more_renderers];

                        *c = (bench_client) { .label = clients[CLIENT_IPCBUS].label,
                                              .server = clients[CLIENT_IPCBUS].server,
                                              .ipcbus = true,
                                              .call = clients[CLIENT_IPCBUS].call };
                        r = bench_client_open(c, test_bus_get_address(bus));
                }
        if (r < 0)
                goto finish;
        has_bus_clock = open_bus_clock(bus, &bus_clock, &bus_pid) >= 0;

        printf("bench-ipc: one private %s (pid %d); servers: ", test_bus_kind_to_string(o.bus), (int)bus_pid);
        for (int i = 0; i < N_CLIENTS; i++)
                if (active[i])
                        printf("%s pid %d, ", clients[i].label, (int)test_process_get_pid(servers[i]));
        printf("clients: pid %d\n", (int)getpid());
        if (n_more_renderers > 0)
                printf("ipcbus: calls take turns among %u renderers (connections) to the one main\n",
                       n_more_renderers + 1);
        if (o.gate)
                printf("ipcbus main: with a sender check (the caller's uid) and allowlists on every message\n");
        if (o.typed)
                printf("payload: one %zu-byte string; Invoke \"echo-s\" (s, av) -> v holding s to a main that "
                       "declares nothing; the generated invoke of the same to a main serving it with the "
                       "generated handler; EchoS(s) -> s on that main's typed face and on the plain servers\n",
                       strlen(payload));
        else
                printf("payload: channel \"echo\"/\"count\" and one %zu-byte string; call (s, av) -> v holding "
                       "av\n",
                       strlen(payload));

        r = run_rounds(1, o.warmup, true, false);
        if (r >= 0)
                r = run_rounds(o.rounds, o.calls, true, true);
        if (r >= 0)
                report_latency(&o);
        /* Typed channels change calls; sends are measured without --typed. */
        if (o.typed)
                goto finish;
        if (r >= 0)
                r = run_rounds(1, o.messages / 10 + 1, false, false);
        if (r >= 0)
                r = run_rounds(o.send_rounds, o.messages, false, true);
        if (r >= 0)
                report_throughput(&o);

finish:
        if (r < 0)
                fprintf(stderr, "bench-ipc: failed: %s\n", strerror(-r));
        for (unsigned i = 0; i < n_more_renderers; i++)
                bench_client_close(&more_renderers[i]);
        for (int i = 0; i < N_CLIENTS; i++) {
                bench_client_close(&clients[i]);
                stop_server(servers[i]);
        }
        /* A benchmark, not a test: numbers beyond the aim are reported, not failed. */
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
