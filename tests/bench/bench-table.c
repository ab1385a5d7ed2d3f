/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-table: the C half of issue 9's one table. ipcbus next to what a user
 * could pick instead, in one run, on one machine: raw length-prefixed frames
 * on a socketpair, plain sd-bus and ipcbus peer to peer, and plain sd-bus,
 * ipcbus and GDBus through a private dbus-daemon and a private dbus-broker.
 * run-table runs it together with bench-port and the Node.js contenders
 * (table-node.js) and makes the Markdown table of what they print.
 *
 * What it measures (docs/performance.md says more):
 *   memory     VmRSS of an ipcbus main before and after 100 renderers
 *              attached, on the bus and on direct connections, and of the bus
 *              daemon; first, while this process's heap is still small (the
 *              main is a forked child); the broadcasts next, for the same
 *              reason (their receivers are forked)
 *   rt         echo round trip of one string of 64 B, 4 KiB, 64 KiB, 1 MiB:
 *              Invoke "echo" (s, av) -> v for ipcbus, Echo(s, av) -> v for
 *              plain sd-bus and GDBus, an 'E' frame for raw; rounds alternate
 *              between all contenders, the first one rotates; median of every
 *              call
 *   cpu        CPU time of the client (this process), the server and the bus
 *              daemon per 10,000 64-byte round trips: each process's CPU
 *              clock (clock_getcpuclockid(), utime + stime in nanoseconds
 *              rather than /proc/PID/stat's ticks) around each round; median
 *              of the rounds
 *   send       one-way messages/s: N unicast sends of one 64-byte string,
 *              then one call that returns the count; median of the rounds.
 *              ipcbus twice: ipcbus_renderer_send() of a new GVariant per
 *              message, and (ipcbus-sendf-*, sends only) _sendf()
 *   bcast      one 64-byte broadcast to n = 1, 10, 50 receivers (one farm
 *              process, bench-table-peers.h): time until the last receiver
 *              has it, median; ipcbus_main_broadcast() on the bus and on
 *              direct connections, a plain sd-bus signal with n matches, n
 *              raw frames written one after the other
 *
 * Output: records on stdout, tab-separated, one per line (the first field
 * says which); progress on stderr. A contender that cannot run (no
 * dbus-broker) gets a "skip" record with the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench-clients.h"
#include "bench-servers.h"
#include "bench-table-peers.h"
#include "test-bus.h"

static void freep(void *p) {
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

#define N_SIZES 4
static const size_t sizes[N_SIZES] = { 64, 4096, 65536, 1048576 };
#define SMALL 64
#define MEMORY_RENDERERS 100
#define WAIT_USEC (UINT64_C(30) * 1000000)

typedef struct options {
        unsigned rounds;              /* round-trip rounds */
        unsigned calls[N_SIZES];      /* calls per contender per round, by size */
        unsigned send_rounds;
        unsigned messages;            /* per contender per send round */
        unsigned bcast_reps;          /* broadcasts per contender and n */
        bool quick;
} options;

static const options defaults = {
        .rounds = 12,
        .calls = { 400, 300, 60, 6 },
        .send_rounds = 5,
        .messages = 20000,
        .bcast_reps = 200,
};

static const options quick = {
        .rounds = 3,
        .calls = { 100, 50, 10, 2 },
        .send_rounds = 2,
        .messages = 2000,
        .bcast_reps = 20,
        .quick = true,
};

/* ---- contenders ------------------------------------------------------------ */

typedef enum where { ON_NOTHING, ON_DAEMON, ON_BROKER, _ON_MAX } where;

typedef enum server_kind { SERVER_RAW, SERVER_PLAIN, SERVER_IPCBUS, SERVER_GDBUS } server_kind;

typedef struct contender {
        const char *id;        /* in the records */
        where where;
        server_kind server;
        bench_client client;
        test_process *process;
        bool active;
        bool send_only;        /* a second way to send (ipcbus_renderer_sendf()): no calls measured */
        const char *skip;      /* why not, when not active */
        int server_fd;         /* direct: the server's end until the fork */
        bench_samples rt[N_SIZES];
        bench_samples cpu_client, cpu_server, cpu_bus; /* µs per call, per round */
        bench_samples rate;
} contender;

#define C(id_, where_, server_, label_, name_, ipcbus_, transport_, direct_)                               \
        { .id = id_, .where = where_, .server = server_, .server_fd = -1,                                 \
          .client = { .label = label_, .server = name_, .ipcbus = ipcbus_, .transport = transport_,      \
                      .direct = direct_, .direct_fd = -1 } }

/* A main like its row above's, sent to with ipcbus_renderer_sendf() and
 * reading with ipcbus_event_read() (bench_server_config.reads). */
#define C_SENDF(id_, where_, label_, direct_)                                                              \
        { .id = id_, .where = where_, .server = SERVER_IPCBUS, .server_fd = -1, .send_only = true,        \
          .client = { .label = label_, .server = BENCH_IPCBUS_SENDF_NAME, .ipcbus = true, .sendf = true, \
                      .transport = BENCH_TRANSPORT_SD_BUS, .direct = direct_, .direct_fd = -1 } }

static contender contenders[] = {
        C("raw-socketpair", ON_NOTHING, SERVER_RAW, "raw socketpair", "raw", false, BENCH_TRANSPORT_RAW, true),
        C("sd-bus-p2p", ON_NOTHING, SERVER_PLAIN, "sd-bus p2p", BENCH_PLAIN_NAME, false, BENCH_TRANSPORT_SD_BUS,
          true),
        C("ipcbus-direct", ON_NOTHING, SERVER_IPCBUS, "ipcbus direct", BENCH_IPCBUS_NAME, true,
          BENCH_TRANSPORT_SD_BUS, true),
        C("sd-bus-dbus-daemon", ON_DAEMON, SERVER_PLAIN, "sd-bus dbus-daemon", BENCH_PLAIN_NAME, false,
          BENCH_TRANSPORT_SD_BUS, false),
        C("ipcbus-dbus-daemon", ON_DAEMON, SERVER_IPCBUS, "ipcbus dbus-daemon", BENCH_IPCBUS_NAME, true,
          BENCH_TRANSPORT_SD_BUS, false),
        C("gdbus-dbus-daemon", ON_DAEMON, SERVER_GDBUS, "GDBus dbus-daemon", BENCH_GDBUS_NAME, false,
          BENCH_TRANSPORT_GDBUS, false),
        C("sd-bus-dbus-broker", ON_BROKER, SERVER_PLAIN, "sd-bus dbus-broker", BENCH_PLAIN_NAME, false,
          BENCH_TRANSPORT_SD_BUS, false),
        C("ipcbus-dbus-broker", ON_BROKER, SERVER_IPCBUS, "ipcbus dbus-broker", BENCH_IPCBUS_NAME, true,
          BENCH_TRANSPORT_SD_BUS, false),
        C("gdbus-dbus-broker", ON_BROKER, SERVER_GDBUS, "GDBus dbus-broker", BENCH_GDBUS_BROKER_NAME, false,
          BENCH_TRANSPORT_GDBUS, false),
        C_SENDF("ipcbus-sendf-direct", ON_NOTHING, "ipcbus sendf direct", true),
        C_SENDF("ipcbus-sendf-dbus-daemon", ON_DAEMON, "ipcbus sendf dbus-daemon", false),
        C_SENDF("ipcbus-sendf-dbus-broker", ON_BROKER, "ipcbus sendf dbus-broker", false),
};
#define N_CONTENDERS (sizeof(contenders) / sizeof(contenders[0]))

typedef struct bus_state {
        test_bus *bus;
        const char *skip;
        clockid_t clock;
        bool has_clock;
        pid_t pid;
} bus_state;

static bus_state buses[_ON_MAX];

static const char *address_of(where w) {
        return w == ON_NOTHING ? NULL : test_bus_get_address(buses[w].bus);
}

/* ---- options --------------------------------------------------------------- */

static void usage(FILE *f) {
        fprintf(f,
                "Usage: bench-table [OPTION...]\n"
                "  --quick          a short run (smoke test, numbers are rough)\n"
                "  --rounds=N       round-trip rounds (12)\n"
                "  --send-rounds=N  send rounds (5)\n"
                "  --messages=N     messages per contender per send round (20000)\n"
                "  --bcast-reps=N   broadcasts per contender and receiver count (200)\n"
                "Records go to stdout (tab-separated), progress to stderr; tests/bench/run-table\n"
                "makes the table of them.\n");
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
        enum { OPT_ROUNDS = 256, OPT_SEND_ROUNDS, OPT_MESSAGES, OPT_BCAST_REPS };
        static const struct option longopts[] = {
                { "quick", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                { "rounds", required_argument, NULL, OPT_ROUNDS },
                { "send-rounds", required_argument, NULL, OPT_SEND_ROUNDS },
                { "messages", required_argument, NULL, OPT_MESSAGES },
                { "bcast-reps", required_argument, NULL, OPT_BCAST_REPS },
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
                case OPT_SEND_ROUNDS:
                        r = parse_unsigned(optarg, &o->send_rounds);
                        break;
                case OPT_MESSAGES:
                        r = parse_unsigned(optarg, &o->messages);
                        break;
                case OPT_BCAST_REPS:
                        r = parse_unsigned(optarg, &o->bcast_reps);
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

/* ---- the buses ------------------------------------------------------------- */

/* dbus-broker answers for its own name with its launcher's pid: the broker
 * is the launcher's only child. (As bench-ipc.c.) */
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

static int bus_open_clock(bus_state *b) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *probe = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint32_t pid;
        int r;

        r = test_bus_connect(b->bus, &probe);
        if (r >= 0)
                r = sd_bus_call_method(probe, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetConnectionUnixProcessID", NULL, &reply,
                                       "s", "org.freedesktop.DBus");
        if (r >= 0)
                r = sd_bus_message_read(reply, "u", &pid);
        if (r < 0)
                return r;
        b->pid = launcher_child((pid_t)pid);
        r = bench_cpu_clock(b->pid, &b->clock);
        b->has_clock = r >= 0;
        return r;
}

static void start_buses(void) {
        static const test_bus_kind kinds[_ON_MAX] = { 0, TEST_BUS_DBUS_DAEMON, TEST_BUS_DBUS_BROKER };

        for (int w = ON_DAEMON; w < _ON_MAX; w++) {
                int r = test_bus_start(&buses[w].bus, kinds[w]);

                if (r < 0) {
                        /* Said in the table instead of failing the run. */
                        buses[w].skip = w == ON_BROKER && r == -EOPNOTSUPP
                                                ? "dbus-broker needs a mount namespace (root)"
                                        : w == ON_BROKER ? "dbus-broker did not start (Debian package dbus-broker)"
                                                         : "dbus-daemon did not start";
                        fprintf(stderr, "bench-table: %s: %s\n", test_bus_kind_to_string(kinds[w]),
                                strerror(-r));
                        continue;
                }
                if (bus_open_clock(&buses[w]) < 0)
                        fprintf(stderr, "bench-table: no CPU clock for %s\n", test_bus_kind_to_string(kinds[w]));
        }
}

/* ---- memory per renderer ----------------------------------------------------- */

typedef struct memory_main_config {
        bool direct;
        const char *address;
        unsigned n;
        int fds[BENCH_FARM_MAX];       /* direct: the main's ends */
        int close_fds[BENCH_FARM_MAX]; /* the farm's ends */
} memory_main_config;

static void on_attached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        unsigned *n = userdata;

        (*n)++;
}

/* A main in a process of its own: its VmRSS before any renderer, and once n
 * are attached. Before counts the main on its bus (or with nothing yet, for
 * direct): each direct connection is part of what a renderer costs. */
static int memory_main(void *userdata) {
        const memory_main_config *config = userdata;
        _cleanup_(ipcbus_main_unrefp) ipcbus_main *m = NULL;
        sd_event *event = NULL;
        unsigned attached = 0;
        long before, after;

        for (unsigned i = 0; i < BENCH_FARM_MAX; i++)
                if (config->close_fds[i] >= 0)
                        (void)close(config->close_fds[i]);
        TEST_CHILD_CHECK("memory main", sd_event_new(&event));
        TEST_CHILD_CHECK("memory main", ipcbus_main_new(&m, BENCH_FARM_MAIN_NAME));
        TEST_CHILD_CHECK("memory main", ipcbus_main_attach_event(m, event, 0));
        TEST_CHILD_CHECK("memory main", ipcbus_main_on_attached(m, NULL, on_attached, &attached));
        if (!config->direct)
                TEST_CHILD_CHECK("memory main", ipcbus_main_open_address(m, config->address));
        before = bench_rss_kib(0);
        for (unsigned i = 0; config->direct && i < config->n; i++)
                TEST_CHILD_CHECK("memory main", ipcbus_main_add_direct(m, config->fds[i], NULL));
        test_say("opened");
        while (attached < config->n) {
                int r = sd_event_run(event, WAIT_USEC);

                if (r == 0)
                        r = -ETIMEDOUT;
                TEST_CHILD_CHECK("memory main", r);
        }
        after = bench_rss_kib(0);
        test_say("rss %ld %ld", before, after);
        /* Stays until killed: the bench reads the bus daemon's memory meanwhile. */
        for (;;)
                TEST_CHILD_CHECK("memory main", sd_event_run(event, UINT64_MAX));
}

static void close_all(int *fds, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                if (fds[i] >= 0) {
                        (void)close(fds[i]);
                        fds[i] = -1;
                }
}

static void stop(test_process **p) {
        if (!*p)
                return;
        (void)test_process_kill(*p, SIGTERM);
        (void)test_process_wait_exit(*p, NULL);
        *p = test_process_free(*p);
}

static int measure_memory(bool direct) {
        const char *id = direct ? "ipcbus-direct" : "ipcbus-dbus-daemon";
        memory_main_config mc = { .direct = direct, .n = MEMORY_RENDERERS };
        bench_farm_config fc = { .kind = direct ? BENCH_FARM_IPCBUS_DIRECT : BENCH_FARM_IPCBUS_BUS,
                                 .n = MEMORY_RENDERERS };
        test_process *main_p = NULL, *farm_p = NULL;
        int ack[2] = { -1, -1 };
        long before, after, bus_before = 0, bus_after = 0;
        bus_state *b = &buses[ON_DAEMON];
        int r;

        if (!direct && b->skip) {
                printf("skip\tmem\t%s\t%s\n", id, b->skip);
                return 0;
        }
        for (unsigned i = 0; i < BENCH_FARM_MAX; i++)
                mc.fds[i] = mc.close_fds[i] = fc.fds[i] = fc.close_fds[i] = -1;
        mc.address = fc.address = direct ? NULL : test_bus_get_address(b->bus);
        for (unsigned i = 0; direct && i < MEMORY_RENDERERS; i++) {
                int sv[2];

                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                        return -errno;
                mc.fds[i] = fc.close_fds[i] = sv[0];
                fc.fds[i] = mc.close_fds[i] = sv[1];
        }
        /* The farm only writes acks to it; nobody broadcasts here. */
        if (pipe2(ack, O_CLOEXEC) < 0)
                return -errno;
        fc.ack_fd = ack[1];
        fc.ack_close_fd = ack[0];

        r = test_process_spawn(&main_p, memory_main, &mc);
        if (r >= 0)
                r = test_process_wait_line(main_p, "opened", 10 * TEST_USEC_PER_SEC);
        if (r >= 0 && b->pid > 0 && !direct)
                bus_before = bench_rss_kib(b->pid);
        if (r >= 0)
                r = test_process_spawn(&farm_p, bench_farm, &fc);
        close_all(mc.fds, MEMORY_RENDERERS);
        close_all(fc.fds, MEMORY_RENDERERS);
        if (r >= 0)
                r = test_process_wait_line(main_p, "rss ", 60 * TEST_USEC_PER_SEC);
        if (r >= 0 && sscanf(test_process_get_line(main_p), "rss %ld %ld", &before, &after) != 2)
                r = -EBADMSG;
        if (r >= 0)
                r = test_process_wait_line(farm_p, "ready", 60 * TEST_USEC_PER_SEC);
        if (r >= 0 && b->pid > 0 && !direct)
                bus_after = bench_rss_kib(b->pid);
        if (r >= 0)
                printf("mem\t%s\t%u\t%.1f\t%.1f\t%s\n", id, MEMORY_RENDERERS,
                       (double)(after - before) / MEMORY_RENDERERS,
                       direct ? 0.0 : (double)(bus_after - bus_before) / MEMORY_RENDERERS,
                       direct ? "-" : "dbus-daemon");
        stop(&farm_p);
        stop(&main_p);
        (void)close(ack[0]);
        (void)close(ack[1]);
        return r;
}

/* ---- servers and clients --------------------------------------------------- */

static int spawn_server(contender *c) {
        bench_server_config config = {
                .address = address_of(c->where),
                .name = c->client.server,
                .direct = c->client.direct,
                .direct_fd = c->server_fd,
                /* sd-bus style both ways: sendf in, ipcbus_event_read() out. */
                .reads = c->client.sendf,
        };
        test_process_fn fn = c->server == SERVER_RAW      ? bench_raw_server
                             : c->server == SERVER_PLAIN  ? bench_plain_server
                             : c->server == SERVER_IPCBUS ? bench_ipcbus_main
                                                          : bench_gdbus_server;
        int r;

        r = test_process_spawn(&c->process, fn, &config);
        if (c->server_fd >= 0) {
                (void)close(c->server_fd);
                c->server_fd = -1;
        }
        if (r >= 0)
                r = test_process_wait_line(c->process, "ready", 10 * TEST_USEC_PER_SEC);
        return r;
}

static int setup_contenders(void) {
        int r;

        for (size_t i = 0; i < N_CONTENDERS; i++) {
                contender *c = &contenders[i];

                c->active = !buses[c->where].skip;
                c->skip = buses[c->where].skip;
                if (!c->active || !c->client.direct)
                        continue;
                {
                        int sv[2];

                        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                                return -errno;
                        c->client.direct_fd = sv[0];
                        c->server_fd = sv[1];
                }
        }
        /* Servers first: they are forked, and a fork must not copy our connections. */
        for (size_t i = 0; i < N_CONTENDERS; i++)
                if (contenders[i].active) {
                        r = spawn_server(&contenders[i]);
                        if (r < 0)
                                return r;
                }
        for (size_t i = 0; i < N_CONTENDERS; i++) {
                contender *c = &contenders[i];

                if (!c->active)
                        continue;
                r = bench_client_open(&c->client, address_of(c->where));
                if (r < 0)
                        return r;
                c->client.has_server_clock = bench_cpu_clock(test_process_get_pid(c->process),
                                                             &c->client.server_clock) >= 0;
        }
        return 0;
}

/* ---- round trips and CPU ---------------------------------------------------- */

typedef struct cpu_mark {
        uint64_t client, server, bus;
} cpu_mark;

static void cpu_mark_take(const contender *c, cpu_mark *m) {
        const bus_state *b = &buses[c->where];

        /* The process, not the thread: GDBus does its I/O in a thread of its own. */
        m->client = bench_clock_nsec(CLOCK_PROCESS_CPUTIME_ID);
        m->server = c->client.has_server_clock ? bench_clock_nsec(c->client.server_clock) : 0;
        m->bus = c->where != ON_NOTHING && b->has_clock ? bench_clock_nsec(b->clock) : 0;
}

static int cpu_record(contender *c, const cpu_mark *a, const cpu_mark *z, unsigned calls) {
        int r;

        r = bench_samples_add(&c->cpu_client, (double)(z->client - a->client) / 1000.0 / calls);
        if (r >= 0 && c->client.has_server_clock)
                r = bench_samples_add(&c->cpu_server, (double)(z->server - a->server) / 1000.0 / calls);
        if (r >= 0 && c->where != ON_NOTHING && buses[c->where].has_clock)
                r = bench_samples_add(&c->cpu_bus, (double)(z->bus - a->bus) / 1000.0 / calls);
        return r;
}

static int rt_share(contender *c, int size_index, const char *payload, unsigned calls, bool timed) {
        cpu_mark a, z;
        int r = 0;

        cpu_mark_take(c, &a);
        for (unsigned i = 0; r >= 0 && i < calls; i++) {
                uint64_t t0 = bench_now_nsec();

                r = bench_client_call(&c->client, payload);
                if (r >= 0 && timed)
                        r = bench_samples_add(&c->rt[size_index], (double)(bench_now_nsec() - t0) / 1000.0);
        }
        cpu_mark_take(c, &z);
        if (r >= 0 && timed && sizes[size_index] == SMALL)
                r = cpu_record(c, &a, &z, calls);
        if (r == -EBADMSG)
                fprintf(stderr, "bench-table: %s: the echo is not what was sent\n", c->client.label);
        return r;
}

/* One string of @size bytes (no NUL inside), the same both ways. */
static char *make_payload(size_t size) {
        char *p = malloc(size + 1);

        if (!p)
                return NULL;
        for (size_t i = 0; i < size; i++)
                p[i] = (char)('a' + i % 26);
        p[size] = '\0';
        return p;
}

static int measure_round_trips(const options *o) {
        int r = 0;

        for (int s = 0; r >= 0 && s < N_SIZES; s++) {
                _cleanup_free_ char *payload = make_payload(sizes[s]);
                unsigned warmup = o->calls[s] / 4 + 1;

                if (!payload)
                        return -ENOMEM;
                fprintf(stderr, "bench-table: round trip, %zu bytes\n", sizes[s]);
                for (size_t i = 0; r >= 0 && i < N_CONTENDERS; i++)
                        if (contenders[i].active && !contenders[i].send_only)
                                r = rt_share(&contenders[i], s, payload, warmup, false);
                /* Round k starts with contender k mod n: all see the same noise. */
                for (unsigned k = 0; r >= 0 && k < o->rounds; k++)
                        for (size_t j = 0; r >= 0 && j < N_CONTENDERS; j++) {
                                contender *c = &contenders[(k + j) % N_CONTENDERS];

                                if (c->active && !c->send_only)
                                        r = rt_share(c, s, payload, o->calls[s], true);
                        }
                /* The next payload may come at the same address. */
                for (size_t i = 0; i < N_CONTENDERS; i++)
                        bench_client_forget_payload(&contenders[i].client);
        }
        if (r < 0)
                return r;
        for (size_t i = 0; i < N_CONTENDERS; i++) {
                contender *c = &contenders[i];

                if (!c->active || c->send_only)
                        continue;
                for (int s = 0; s < N_SIZES; s++)
                        printf("rt\t%s\t%zu\t%.2f\t%.2f\t%zu\n", c->id, sizes[s],
                               bench_samples_percentile(&c->rt[s], 50), bench_samples_percentile(&c->rt[s], 90),
                               c->rt[s].n);
                /* ms per 10,000 calls is µs per call x 10. */
                printf("cpu\t%s\t%.1f\t%.1f\t%.1f\n", c->id, 10.0 * bench_samples_percentile(&c->cpu_client, 50),
                       c->cpu_server.n ? 10.0 * bench_samples_percentile(&c->cpu_server, 50) : -1.0,
                       c->cpu_bus.n ? 10.0 * bench_samples_percentile(&c->cpu_bus, 50) : -1.0);
        }
        return 0;
}

/* ---- send ------------------------------------------------------------------ */

static int send_share(contender *c, const char *payload, unsigned messages, bool timed) {
        uint64_t t0 = bench_now_nsec(), t1;
        int64_t counted;
        int r = 0;

        for (unsigned i = 0; r >= 0 && i < messages; i++)
                r = bench_client_send(&c->client, payload);
        if (r < 0)
                return r;
        counted = bench_client_sync(&c->client);
        t1 = bench_now_nsec();
        if (counted < 0)
                return (int)counted;
        if (counted != messages) {
                fprintf(stderr, "bench-table: %s: %u messages sent, %lld counted\n", c->client.label, messages,
                        (long long)counted);
                return -EPROTO;
        }
        return timed ? bench_samples_add(&c->rate, (double)messages * 1e9 / (double)(t1 - t0)) : 0;
}

static int measure_sends(const options *o) {
        _cleanup_free_ char *payload = make_payload(SMALL);
        int r = 0;

        if (!payload)
                return -ENOMEM;
        fprintf(stderr, "bench-table: send\n");
        for (size_t i = 0; r >= 0 && i < N_CONTENDERS; i++)
                if (contenders[i].active)
                        r = send_share(&contenders[i], payload, o->messages / 10 + 1, false);
        for (unsigned k = 0; r >= 0 && k < o->send_rounds; k++)
                for (size_t j = 0; r >= 0 && j < N_CONTENDERS; j++) {
                        contender *c = &contenders[(k + j) % N_CONTENDERS];

                        if (c->active)
                                r = send_share(c, payload, o->messages, true);
                }
        if (r < 0)
                return r;
        for (size_t i = 0; i < N_CONTENDERS; i++)
                if (contenders[i].active)
                        printf("send\t%s\t%.0f\n", contenders[i].id,
                               bench_samples_percentile(&contenders[i].rate, 50));
        return 0;
}

/* ---- broadcast ------------------------------------------------------------- */

typedef enum bcast_kind {
        BCAST_IPCBUS_DAEMON,
        BCAST_IPCBUS_BROKER,
        BCAST_IPCBUS_DIRECT,
        BCAST_SD_BUS_DAEMON,
        BCAST_SD_BUS_BROKER,
        BCAST_RAW,
        _BCAST_MAX
} bcast_kind;

static const struct {
        const char *id;
        where where;
        bench_farm_kind farm;
} bcasts[_BCAST_MAX] = {
        [BCAST_IPCBUS_DAEMON] = { "ipcbus-dbus-daemon", ON_DAEMON, BENCH_FARM_IPCBUS_BUS },
        [BCAST_IPCBUS_BROKER] = { "ipcbus-dbus-broker", ON_BROKER, BENCH_FARM_IPCBUS_BUS },
        [BCAST_IPCBUS_DIRECT] = { "ipcbus-direct", ON_NOTHING, BENCH_FARM_IPCBUS_DIRECT },
        [BCAST_SD_BUS_DAEMON] = { "sd-bus-dbus-daemon", ON_DAEMON, BENCH_FARM_SD_BUS },
        [BCAST_SD_BUS_BROKER] = { "sd-bus-dbus-broker", ON_BROKER, BENCH_FARM_SD_BUS },
        [BCAST_RAW] = { "raw-socketpair", ON_NOTHING, BENCH_FARM_RAW },
};

typedef struct bcast_run {
        bcast_kind k;
        sd_event *event;
        sd_event_source *ack_source;
        ipcbus_main *main;
        sd_bus *bus;
        int fds[BENCH_FARM_MAX]; /* direct (until the main takes them) and raw: our ends */
        int ack[2];
        unsigned n;
        unsigned attached;
        bool acked;
        test_process *farm;
        bench_samples t; /* µs per broadcast */
} bcast_run;

static int on_ack(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        bcast_run *b = userdata;
        uint8_t byte;

        if (read(fd, &byte, 1) == 1)
                b->acked = true;
        return 0;
}

static int run_until(bcast_run *b, bool *flag, unsigned *count, unsigned want) {
        while (flag ? !*flag : *count < want) {
                int r = sd_event_run(b->event, WAIT_USEC);

                if (r == 0)
                        return -ETIMEDOUT;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int bcast_once(bcast_run *b, const char *payload) {
        int r = 0;

        b->acked = false;
        switch (bcasts[b->k].farm) {
        case BENCH_FARM_IPCBUS_BUS:
        case BENCH_FARM_IPCBUS_DIRECT:
                r = ipcbus_main_broadcast(b->main, BENCH_FARM_CHANNEL,
                                          ipcbus_args(g_variant_new_string(payload), NULL));
                break;
        case BENCH_FARM_SD_BUS:
                r = sd_bus_emit_signal(b->bus, BENCH_FARM_PATH, BENCH_FARM_INTERFACE, BENCH_FARM_MEMBER, "s",
                                       payload);
                break;
        case BENCH_FARM_RAW:
                for (unsigned i = 0; r >= 0 && i < b->n; i++)
                        r = bench_frame_write(b->fds[i], 'S', payload, strlen(payload));
                break;
        }
        if (r < 0)
                return r;
        return run_until(b, &b->acked, NULL, 0);
}

static void bcast_teardown(bcast_run *b) {
        stop(&b->farm);
        bench_samples_clear(&b->t);
        b->main = ipcbus_main_unref(b->main);
        b->bus = sd_bus_flush_close_unref(b->bus);
        b->ack_source = sd_event_source_disable_unref(b->ack_source);
        close_all(b->fds, BENCH_FARM_MAX);
        close_all(b->ack, 2);
        b->event = sd_event_unref(b->event);
}

/* The sender (a main, a connection, raw sockets) here, n receivers in a
 * farm, everything connected and attached, a few broadcasts through. */
static int bcast_setup(bcast_run *b, bcast_kind k, unsigned n, const char *payload) {
        bench_farm_config fc = { .kind = bcasts[k].farm, .n = n };
        bool direct = fc.kind == BENCH_FARM_IPCBUS_DIRECT || fc.kind == BENCH_FARM_RAW;
        int r;

        *b = (bcast_run){ .k = k, .n = n, .ack = { -1, -1 } };
        for (unsigned i = 0; i < BENCH_FARM_MAX; i++)
                b->fds[i] = fc.fds[i] = fc.close_fds[i] = -1;
        fc.address = address_of(bcasts[k].where);
        r = sd_event_new(&b->event);
        if (r < 0)
                return r;
        if (pipe2(b->ack, O_CLOEXEC) < 0)
                return -errno;
        fc.ack_fd = b->ack[1];
        fc.ack_close_fd = b->ack[0];
        r = sd_event_add_io(b->event, &b->ack_source, b->ack[0], EPOLLIN, on_ack, b);
        for (unsigned i = 0; r >= 0 && direct && i < n; i++) {
                int sv[2];

                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                        r = -errno;
                        break;
                }
                b->fds[i] = fc.close_fds[i] = sv[0];
                fc.fds[i] = sv[1];
        }
        /* The sender before the farm: renderers attach to a main that is there. */
        if (r >= 0 && (fc.kind == BENCH_FARM_IPCBUS_BUS || fc.kind == BENCH_FARM_IPCBUS_DIRECT)) {
                r = ipcbus_main_new(&b->main, BENCH_FARM_MAIN_NAME);
                if (r >= 0)
                        r = ipcbus_main_attach_event(b->main, b->event, 0);
                if (r >= 0)
                        r = ipcbus_main_on_attached(b->main, NULL, on_attached, &b->attached);
                if (r >= 0 && fc.kind == BENCH_FARM_IPCBUS_BUS)
                        r = ipcbus_main_open_address(b->main, fc.address);
                for (unsigned i = 0; r >= 0 && fc.kind == BENCH_FARM_IPCBUS_DIRECT && i < n; i++) {
                        r = ipcbus_main_add_direct(b->main, b->fds[i], NULL);
                        b->fds[i] = -1;
                }
        } else if (r >= 0 && fc.kind == BENCH_FARM_SD_BUS) {
                r = test_bus_connect(buses[bcasts[k].where].bus, &b->bus);
                if (r >= 0)
                        r = sd_bus_attach_event(b->bus, b->event, 0);
        }
        if (r >= 0)
                r = test_process_spawn(&b->farm, bench_farm, &fc);
        close_all(fc.fds, BENCH_FARM_MAX);
        /* The main answers the renderers' Attach calls meanwhile. */
        if (r >= 0 && b->main)
                r = run_until(b, NULL, &b->attached, n);
        /* The main keeps running until the farm is ready: the answer to the
         * last Attach may still be queued on a direct connection. */
        for (unsigned i = 0; r >= 0; i++) {
                r = test_process_wait_line(b->farm, "ready", TEST_USEC_PER_MSEC);
                if (r != -ETIMEDOUT)
                        break;
                r = i < 60000 ? sd_event_run(b->event, TEST_USEC_PER_MSEC) : -ETIMEDOUT;
        }
        for (unsigned i = 0; r >= 0 && i < 20; i++)
                r = bcast_once(b, payload);
        return r;
}

#define BCAST_ROUNDS 10

/* All contenders set up for @n receivers at once, so that rounds alternate
 * between them as everywhere else (the first rotates): all see the same noise. */
static int measure_bcast_n(const options *o, unsigned n, const char *payload) {
        bcast_run runs[_BCAST_MAX] = { 0 };
        bool up[_BCAST_MAX] = { 0 };
        unsigned per_round = o->bcast_reps / BCAST_ROUNDS + 1;
        int r = 0;

        fprintf(stderr, "bench-table: broadcast, %u receivers\n", n);
        for (int k = 0; r >= 0 && k < _BCAST_MAX; k++) {
                if (buses[bcasts[k].where].skip)
                        continue;
                r = bcast_setup(&runs[k], (bcast_kind)k, n, payload);
                up[k] = true;
        }
        for (unsigned round = 0; r >= 0 && round < BCAST_ROUNDS; round++)
                for (int j = 0; r >= 0 && j < _BCAST_MAX; j++) {
                        unsigned k = (round + (unsigned)j) % _BCAST_MAX;
                        bcast_run *b = &runs[k];

                        /* By index: a run never set up is all zeros, its k too. */
                        if (!up[k])
                                continue;
                        for (unsigned i = 0; r >= 0 && i < per_round; i++) {
                                uint64_t t0 = bench_now_nsec();

                                r = bcast_once(b, payload);
                                if (r >= 0)
                                        r = bench_samples_add(&b->t, (double)(bench_now_nsec() - t0) / 1000.0);
                        }
                }
        for (int k = 0; k < _BCAST_MAX; k++) {
                if (!up[k])
                        continue;
                if (r >= 0)
                        printf("bcast\t%s\t%u\t%.2f\t%.2f\n", bcasts[k].id, n,
                               bench_samples_percentile(&runs[k].t, 50), bench_samples_percentile(&runs[k].t, 90));
                bcast_teardown(&runs[k]);
        }
        return r;
}

static int measure_broadcasts(const options *o) {
        static const unsigned ns[] = { 1, 10, 50 };
        _cleanup_free_ char *payload = make_payload(SMALL);
        int r = 0;

        if (!payload)
                return -ENOMEM;
        for (int k = 0; k < _BCAST_MAX; k++)
                if (buses[bcasts[k].where].skip)
                        printf("skip\tbcast\t%s\t%s\n", bcasts[k].id, buses[bcasts[k].where].skip);
        for (size_t i = 0; r >= 0 && i < sizeof(ns) / sizeof(ns[0]); i++)
                r = measure_bcast_n(o, ns[i], payload);
        return r;
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv) {
        options o;
        int r;

        if (parse_options(argc, argv, &o) < 0)
                return EXIT_FAILURE;
        setvbuf(stdout, NULL, _IOLBF, 0);
        /* A receiver that is gone must not kill us with SIGPIPE: the write says so. */
        signal(SIGPIPE, SIG_IGN);

        start_buses();
        if (buses[ON_DAEMON].skip) {
                fprintf(stderr, "bench-table: no dbus-daemon, nothing to compare with\n");
                return EXIT_FAILURE;
        }
        printf("meta\tdbus-daemon-pid\t%d\n", (int)buses[ON_DAEMON].pid);
        printf("meta\tbench-pid\t%d\n", (int)getpid());
        for (size_t i = 0; i < N_CONTENDERS; i++)
                if (buses[contenders[i].where].skip)
                        printf("skip\tall\t%s\t%s\n", contenders[i].id, buses[contenders[i].where].skip);

        /* First, while this process's heap is small: the mains and the farms
         * are forks of it, and a fork of a heap grown by 1 MiB messages pays
         * copy-on-write faults wherever its allocator reuses that heap. */
        fprintf(stderr, "bench-table: memory per renderer\n");
        r = measure_memory(false);
        if (r >= 0)
                r = measure_memory(true);
        if (r >= 0)
                r = measure_broadcasts(&o);
        if (r >= 0)
                r = setup_contenders();
        if (r >= 0)
                r = measure_round_trips(&o);
        if (r >= 0)
                r = measure_sends(&o);
        for (size_t i = 0; i < N_CONTENDERS; i++) {
                bench_client_close(&contenders[i].client);
                stop(&contenders[i].process);
        }
        if (r < 0)
                fprintf(stderr, "bench-table: failed: %s\n", strerror(-r));
        for (int w = ON_DAEMON; w < _ON_MAX; w++)
                buses[w].bus = test_bus_free(buses[w].bus);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
