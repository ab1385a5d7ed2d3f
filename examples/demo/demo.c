/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "demo.h"

static const char usage_text[] =
        "Usage:\n"
        "  ipcbus-demo\n"
        "      Self-test: start a private bus, a main and two renderers (win1, win2),\n"
        "      run every example of the seed articles and the trust checks, print\n"
        "      'ok NAME' or 'FAIL NAME: why' per scenario ('skip NAME: why' for one\n"
        "      that cannot run here: the sandboxed renderer without bwrap); exit 0\n"
        "      only if none failed.\n"
        "\n"
        "  ipcbus-demo main [--address ADDRESS | --user | --system] [--name NAME]\n"
        "                   [--delay-ms N] [--file PATH] [--allow-dir DIR]...\n"
        "      Serve the demo main until SIGINT or SIGTERM. Prints 'ready' once it\n"
        "      owns NAME, then 'main-recv CHANNEL ARGS' per message or invoke. A\n"
        "      renderer attached as 'guest' may use only my_channel and get-title;\n"
        "      refusals are logged to stderr. spawn-sandboxed starts this program\n"
        "      as a sandboxed renderer under bwrap; notify shows a desktop\n"
        "      notification. Without a bus option, the main serves the bus that\n"
        "      started it (D-Bus activation: DBUS_STARTER_ADDRESS), else --user.\n"
        "        --name NAME      bus name to own (default " DEMO_DEFAULT_NAME ")\n"
        "        --delay-ms N     delay of render-invoke-to-main (default 200)\n"
        "        --file PATH      what dialog:openFile returns (default: a file the\n"
        "                         demo creates in its runtime directory)\n"
        "        --allow-dir DIR  where readFileEvent may read (repeatable; default:\n"
        "                         the demo's runtime directory); relative paths are\n"
        "                         taken from the first one\n"
        "\n"
        "  ipcbus-demo renderer [--address ADDRESS | --user | --system] [--name MAINNAME]\n"
        "                       --role win1|win2 [--interval-ms N]\n"
        "      Attach to the main as ROLE and print 'recv CHANNEL ARGS' per message,\n"
        "      until SIGINT or SIGTERM. win1 sends win1-msg once attached.\n"
        "\n"
        "  ipcbus-demo sandboxed-renderer [--name MAINNAME] --probe-address ADDRESS\n"
        "      What the main's spawn-sandboxed starts under bwrap, not for a shell:\n"
        "      talks to the main over the descriptor it inherited, tries to reach\n"
        "      the bus at ADDRESS, reports on sandbox-report and exits.\n"
        "\n"
        "  The bus defaults to --user (for main: unless a bus started it).\n"
        "  IPCBUS_DEMO_DEBUG=1 logs more to stderr.\n"
        "\n"
        "  ipcbus-demo --help\n";

uint64_t demo_now_usec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * UINT64_C(1000000) + (uint64_t)ts.tv_nsec / UINT64_C(1000);
}

char *demo_format_message(const char *channel, GVariant *args) {
        _cleanup_(demo_freep) char *printed = args ? g_variant_print(args, FALSE) : g_strdup("[]");

        return g_strdup_printf("%s %s", channel, printed);
}

char *demo_format_string_message(const char *channel, const char *text) {
        _cleanup_(demo_variant_unrefp) GVariant *args = g_variant_ref_sink(
                ipcbus_args(g_variant_new_string(text), NULL));

        return demo_format_message(channel, args);
}

bool demo_debug(void) {
        const char *e = getenv("IPCBUS_DEMO_DEBUG");

        return e && e[0] && !g_str_equal(e, "0");
}

void demo_log_stderr(int priority, const char *message, void *userdata) {
        if (priority > LOG_WARNING && !demo_debug())
                return;
        fprintf(stderr, "%s: %s\n", userdata ? (const char *)userdata : "ipcbus", message);
}

/* A decimal number in [0, UINT_MAX]. */
static int parse_unsigned(const char *s, unsigned *ret) {
        unsigned long v;
        char *end;

        if (!s || !g_ascii_isdigit(s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v > UINT_MAX)
                return -ERANGE;
        *ret = (unsigned)v;
        return 0;
}

enum {
        OPT_ADDRESS = 0x100,
        OPT_USER,
        OPT_SYSTEM,
        OPT_NAME,
        OPT_DELAY_MS,
        OPT_FILE,
        OPT_ALLOW_DIR,
        OPT_ROLE,
        OPT_INTERVAL_MS,
        OPT_PROBE_ADDRESS,
};

static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "address", required_argument, NULL, OPT_ADDRESS },
        { "user", no_argument, NULL, OPT_USER },
        { "system", no_argument, NULL, OPT_SYSTEM },
        { "name", required_argument, NULL, OPT_NAME },
        { "delay-ms", required_argument, NULL, OPT_DELAY_MS },
        { "file", required_argument, NULL, OPT_FILE },
        { "allow-dir", required_argument, NULL, OPT_ALLOW_DIR },
        { "role", required_argument, NULL, OPT_ROLE },
        { "interval-ms", required_argument, NULL, OPT_INTERVAL_MS },
        { "probe-address", required_argument, NULL, OPT_PROBE_ADDRESS },
        {},
};

/* Return: 0; -EINVAL after saying what is wrong on stderr. */
static int parse_options(int argc, char **argv, demo_options *o) {
        unsigned n_bus = 0;
        int c, index = 0;

        o->mode = DEMO_MODE_SELFTEST;
        o->bus = DEMO_BUS_DEFAULT;
        o->name = DEMO_DEFAULT_NAME;
        o->delay_ms = DEMO_DEFAULT_DELAY_MS;
        o->interval_ms = DEMO_DEFAULT_INTERVAL_MS;

        if (argc < 2)
                return 0;
        if (g_str_equal(argv[1], "main"))
                o->mode = DEMO_MODE_MAIN;
        else if (g_str_equal(argv[1], "renderer"))
                o->mode = DEMO_MODE_RENDERER;
        else if (g_str_equal(argv[1], "sandboxed-renderer"))
                o->mode = DEMO_MODE_SANDBOXED_RENDERER;
        else if (g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h")) {
                o->mode = DEMO_MODE_HELP;
                return 0;
        } else {
                fprintf(stderr, "ipcbus-demo: unknown mode '%s'\n", argv[1]);
                return -EINVAL;
        }

        /* The mode word is argv[1]; options follow it. */
        optind = 2;
        while ((c = getopt_long(argc, argv, "h", long_options, &index)) >= 0) {
                bool main_only = false, renderer_only = false, sandboxed_only = false, bus = false;

                switch (c) {
                case 'h':
                        o->mode = DEMO_MODE_HELP;
                        return 0;
                case OPT_ADDRESS:
                        o->bus = DEMO_BUS_ADDRESS;
                        o->address = optarg;
                        n_bus++;
                        bus = true;
                        break;
                case OPT_USER:
                        o->bus = DEMO_BUS_USER;
                        n_bus++;
                        bus = true;
                        break;
                case OPT_SYSTEM:
                        o->bus = DEMO_BUS_SYSTEM;
                        n_bus++;
                        bus = true;
                        break;
                case OPT_NAME:
                        o->name = optarg;
                        break;
                case OPT_DELAY_MS:
                        main_only = true;
                        if (parse_unsigned(optarg, &o->delay_ms) < 0) {
                                fprintf(stderr, "ipcbus-demo: invalid --delay-ms '%s'\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case OPT_FILE:
                        main_only = true;
                        o->file = optarg;
                        break;
                case OPT_ALLOW_DIR:
                        main_only = true;
                        g_ptr_array_add(o->allow_dirs, optarg);
                        break;
                case OPT_ROLE:
                        renderer_only = true;
                        o->role = optarg;
                        break;
                case OPT_INTERVAL_MS:
                        renderer_only = true;
                        if (parse_unsigned(optarg, &o->interval_ms) < 0 || o->interval_ms == 0) {
                                fprintf(stderr, "ipcbus-demo: invalid --interval-ms '%s'\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case OPT_PROBE_ADDRESS:
                        sandboxed_only = true;
                        o->probe_address = optarg;
                        break;
                default:
                        /* getopt_long said what was wrong. */
                        return -EINVAL;
                }
                /* A sandboxed renderer has its descriptor, and no bus. */
                if ((main_only && o->mode != DEMO_MODE_MAIN) ||
                    (renderer_only && o->mode != DEMO_MODE_RENDERER) ||
                    (sandboxed_only && o->mode != DEMO_MODE_SANDBOXED_RENDERER) ||
                    (bus && o->mode == DEMO_MODE_SANDBOXED_RENDERER)) {
                        fprintf(stderr, "ipcbus-demo: option '--%s' is not for mode '%s'\n",
                                long_options[index].name, argv[1]);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "ipcbus-demo: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        if (n_bus > 1) {
                fprintf(stderr, "ipcbus-demo: give at most one of --address, --user, --system\n");
                return -EINVAL;
        }
        if (o->mode == DEMO_MODE_RENDERER &&
            (!o->role || (!g_str_equal(o->role, "win1") && !g_str_equal(o->role, "win2")))) {
                fprintf(stderr, "ipcbus-demo: renderer needs --role win1 or --role win2\n");
                return -EINVAL;
        }
        if (o->mode == DEMO_MODE_SANDBOXED_RENDERER && !o->probe_address) {
                fprintf(stderr, "ipcbus-demo: sandboxed-renderer needs --probe-address\n");
                return -EINVAL;
        }
        return 0;
}

int main(int argc, char **argv) {
        _cleanup_(demo_ptr_array_unrefp) GPtrArray *allow_dirs = g_ptr_array_new();
        demo_options o = { .allow_dirs = allow_dirs };

        if (parse_options(argc, argv, &o) < 0) {
                fputs(usage_text, stderr);
                return 2;
        }
        switch (o.mode) {
        case DEMO_MODE_HELP:
                fputs(usage_text, stdout);
                return 0;
        case DEMO_MODE_MAIN:
                return demo_main_run(&o);
        case DEMO_MODE_RENDERER:
                return demo_renderer_run(&o);
        case DEMO_MODE_SANDBOXED_RENDERER:
                return demo_sandboxed_renderer_run(&o);
        case DEMO_MODE_SELFTEST:
                return demo_selftest_run();
        }
        return 2;
}
