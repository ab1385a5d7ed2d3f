/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The renderer test-spawn.c starts with ipcbus_main_spawn(), with and
 * without the sandbox. It uses nothing but the public API and its inherited
 * descriptor: ipcbus_renderer_open_spawned(), then every Electron pattern
 * against the test's main. It judges nothing itself: each observation goes
 * to the main as a Message on "note" with (name, text), and the test checks
 * them. Then it probes what it can reach (the bus socket, the network, the
 * file system) and notes the errno names, says "done", and waits for the
 * main to tell it how to end: "exit" (code), "crash" (SIGKILL itself) or
 * "close-connection" (drop the connection, then wait for SIGTERM).
 *
 *   spawned-renderer [--bus-socket PATH] [--tcp-port N] [--abstract NAME] [--write-probe PATH]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ipcbus/ipcbus.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

#define MAIN_NAME "org.ipcbus.Test"
#define WAIT_USEC (20 * G_USEC_PER_SEC)

static ipcbus_renderer *rend;

static const char *strnull(const char *s) {
        return s ? s : "(null)";
}

static void note(const char *name, const char *format, ...) G_GNUC_PRINTF(2, 3);
static void note(const char *name, const char *format, ...) {
        g_autofree char *text = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        text = g_strdup_vprintf(format, ap);
        va_end(ap);
        r = ipcbus_renderer_send(rend, "note", ipcbus_args(g_variant_new_string(name), g_variant_new_string(text),
                                                          NULL));
        if (r < 0)
                fprintf(stderr, "spawned-renderer: cannot note %s: %s\n", name, strerror(-r));
}

/* "0" for success, else the errno's name: what the test compares. */
static const char *errno_name(int error) {
        return error == 0 ? "0" : strerrorname_np(error);
}

static void run_until(const bool *flag, const char *what) {
        gint64 deadline = g_get_monotonic_time() + WAIT_USEC;

        while (!*flag) {
                gint64 now = g_get_monotonic_time();

                if (now >= deadline) {
                        note("timeout", "%s", what);
                        fprintf(stderr, "spawned-renderer: timed out waiting for %s\n", what);
                        exit(3);
                }
                if (sd_event_run(ipcbus_renderer_get_event(rend), (uint64_t)(deadline - now)) < 0)
                        exit(4);
        }
}

/* ---- what arrives from the main -------------------------------------------- */

typedef struct arrival {
        bool got;
        char *text;
} arrival;

static arrival pong, from_main, invoked, port_arrived, port_msg, port_back_msg, async_result;
static ipcbus_port *port_from_main, *port_mine;

static void arrive(arrival *a, const char *text) {
        g_free(a->text);
        a->text = g_strdup(text);
        a->got = true;
}

static void arrive_arg0(arrival *a, GVariant *args) {
        g_autoptr(GVariant) v = ipcbus_args_get(args, 0);
        g_autofree char *printed = v ? g_variant_print(v, FALSE) : g_strdup("none");

        arrive(a, v && g_variant_is_of_type(v, G_VARIANT_TYPE_STRING) ? g_variant_get_string(v, NULL) : printed);
}

static int on_arg0(ipcbus_event *e, GVariant *args, void *userdata) {
        arrive_arg0(userdata, args);
        return 0;
}

static int on_port_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n, void *userdata) {
        arrive(userdata, g_variant_is_of_type(data, G_VARIANT_TYPE_STRING) ? g_variant_get_string(data, NULL) : "?");
        return 0;
}

/* webContents.postMessage('port', message, [port1]) */
static int on_port(ipcbus_event *e, GVariant *args, void *userdata) {
        size_t n = 0;
        ipcbus_port **ports = ipcbus_event_get_ports(e, &n);
        g_autoptr(GVariant) message = ipcbus_args_get(args, 0);

        arrive(&port_arrived, message ? g_variant_get_string(message, NULL) : "-");
        if (n != 1)
                return -EINVAL;
        port_from_main = ipcbus_port_ref(ports[0]);
        (void)ipcbus_port_on_message(port_from_main, NULL, on_port_message, &port_msg);
        return ipcbus_port_start(port_from_main);
}

/* ipcRenderer.handle's counterpart for the main's invoke (Renderer1.Invoke). */
static int on_double(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) v = ipcbus_args_get(args, 0);

        return ipcbus_invocation_return_value(inv, g_variant_new_int32(2 * g_variant_get_int32(v)));
}

static int on_async_result(GVariant *result, const sd_bus_error *error, void *userdata) {
        g_autofree char *printed = result ? g_variant_print(result, FALSE) : NULL;

        arrive(&async_result, error ? error->name : printed);
        return 0;
}

static int on_exit_request(ipcbus_event *e, GVariant *args, void *userdata) {
        g_autoptr(GVariant) code = ipcbus_args_get(args, 0);

        return ipcbus_renderer_exit(rend, g_variant_get_int32(code));
}

static int on_crash(ipcbus_event *e, GVariant *args, void *userdata) {
        return raise(SIGKILL);
}

static bool close_requested;

static sigset_t sigterm_mask;

static int on_close_connection(ipcbus_event *e, GVariant *args, void *userdata) {
        close_requested = true;
        /* Now: the loop's end closes the connection (sd-bus closes on exit),
         * and the main may signal as soon as it sees that. */
        sigemptyset(&sigterm_mask);
        sigaddset(&sigterm_mask, SIGTERM);
        (void)sigprocmask(SIG_BLOCK, &sigterm_mask, NULL);
        return ipcbus_renderer_exit(rend, 0);
}

/* ---- the patterns ---------------------------------------------------------- */

static void patterns(void) {
        _cleanup_(sd_bus_error_free) sd_bus_error attach_error = SD_BUS_ERROR_NULL, error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) echoed = NULL, none = NULL, sync_value = NULL;
        g_autofree char *printed = NULL;
        ipcbus_port *theirs = NULL;
        uint64_t id = 0;
        int r;

        r = ipcbus_renderer_attach_sync(rend, "spawned", &attach_error, &id);
        note("attach", "%d %" PRIu64, r, id);

        /* await ipcRenderer.invoke('echo', 'hello', 7) */
        r = ipcbus_renderer_invoke_sync(rend, "echo", ipcbus_args(g_variant_new_string("hello"),
                                                                  g_variant_new_int32(7), NULL),
                                        0, NULL, &echoed);
        printed = echoed ? g_variant_print(echoed, FALSE) : g_strdup("none");
        note("invoke", "%d %s", r, printed);
        r = ipcbus_renderer_invoke(rend, NULL, "echo", ipcbus_args(g_variant_new_string("later"), NULL), 0,
                                   on_async_result, NULL);
        if (r >= 0)
                run_until(&async_result.got, "the asynchronous invoke");
        note("invoke-async", "%d %s", r, async_result.text);
        /* a handler that throws */
        r = ipcbus_renderer_invoke_sync(rend, "fail", NULL, 0, &error, &none);
        note("invoke-error", "%s %s: %s", r < 0 ? "failed" : "succeeded", strnull(error.name), strnull(error.message));

        /* ipcRenderer.send('ping') and event.reply('pong') */
        r = ipcbus_renderer_send(rend, "ping", ipcbus_args(g_variant_new_string("p1"), NULL));
        if (r >= 0)
                run_until(&pong.got, "pong");
        note("reply", "%d %s", r, pong.text);

        /* ipcRenderer.sendSync('sync', 'q') and event.returnValue */
        r = ipcbus_renderer_send_sync(rend, "sync", ipcbus_args(g_variant_new_string("q"), NULL), NULL, &sync_value);
        note("send-sync", "%d %s", r, sync_value ? g_variant_get_string(sync_value, NULL) : "none");

        /* webContents.send('from-main'), on request */
        r = ipcbus_renderer_send(rend, "ask-send", ipcbus_args(g_variant_new_string("hi"), NULL));
        if (r >= 0)
                run_until(&from_main.got, "from-main");
        note("web-contents-send", "%d %s", r, from_main.text);

        /* The main invokes our handler (Renderer1.Invoke) and tells us. */
        r = ipcbus_renderer_send(rend, "ask-invoke", NULL);
        if (r >= 0)
                run_until(&invoked.got, "invoked");
        note("main-invoked", "%d %s", r, invoked.text);

        /* MessageChannelMain: the main posts us port1; messages both ways. */
        r = ipcbus_renderer_send(rend, "ask-port", NULL);
        if (r >= 0)
                run_until(&port_arrived.got, "the main's port");
        r = port_from_main ? ipcbus_port_post_message(port_from_main, g_variant_new_string("over the port"), NULL, 0)
                           : -ENOENT;
        if (r >= 0)
                run_until(&port_msg.got, "an answer on the main's port");
        note("port", "%d %s", r, port_msg.text);

        /* ipcRenderer.postMessage('port-back', msg, [port]): ours to the main. */
        r = ipcbus_message_channel_new(ipcbus_renderer_get_event(rend), &port_mine, &theirs);
        if (r >= 0)
                r = ipcbus_renderer_post_message(rend, "port-back", g_variant_new_string("yours"), &theirs, 1);
        ipcbus_port_unref(theirs);
        if (r >= 0) {
                (void)ipcbus_port_on_message(port_mine, NULL, on_port_message, &port_back_msg);
                r = ipcbus_port_start(port_mine);
        }
        if (r >= 0)
                r = ipcbus_port_post_message(port_mine, g_variant_new_string("through my port"), NULL, 0);
        if (r >= 0)
                run_until(&port_back_msg.got, "an answer on our port");
        note("port-back", "%d %s", r, port_back_msg.text);
}

/* ---- what the process can reach --------------------------------------------- */

static int try_connect(int family, const struct sockaddr *sa, socklen_t len) {
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), error = 0;

        if (fd < 0)
                return errno;
        if (connect(fd, sa, len) < 0)
                error = errno;
        (void)close(fd);
        return error;
}

static void probe_unix(const char *name, const char *path, bool abstract) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n = strlen(path);

        if (n + 1 >= sizeof(sa.sun_path)) {
                note(name, "too long");
                return;
        }
        memcpy(sa.sun_path + (abstract ? 1 : 0), path, n);
        note(name, "%s",
             errno_name(try_connect(AF_UNIX, (struct sockaddr *)&sa,
                                    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (abstract ? 1 : 0)))));
}

static void probe_tcp(unsigned port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

        note("tcp", "%s", errno_name(try_connect(AF_INET, (struct sockaddr *)&sa, sizeof(sa))));
}

static void probe_write(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

        note("write", "%s", errno_name(fd < 0 ? errno : 0));
        if (fd >= 0) {
                (void)close(fd);
                (void)unlink(path);
        }
}

static void probe_interfaces(void) {
        struct if_nameindex *ifs = if_nameindex();
        g_autoptr(GString) names = g_string_new(NULL);

        for (struct if_nameindex *i = ifs; i && i->if_index; i++)
                g_string_append_printf(names, "%s%s", names->len ? "," : "", i->if_name);
        if (ifs)
                if_freenameindex(ifs);
        note("interfaces", "%s", names->str);
}

static void probe_capabilities(void) {
        g_autofree char *status = NULL;
        const char *line;

        if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL) || !(line = strstr(status, "CapEff:\t"))) {
                note("cap-eff", "unknown");
                return;
        }
        line += strlen("CapEff:\t");
        note("cap-eff", "%.*s", (int)strcspn(line, "\n"), line);
}

static void probes(const char *bus_socket, unsigned tcp_port, const char *abstract, const char *write_probe) {
        sd_bus *bus = NULL;
        int r;

        if (bus_socket)
                probe_unix("bus-socket", bus_socket, false);
        if (tcp_port)
                probe_tcp(tcp_port);
        if (abstract)
                probe_unix("abstract", abstract, true);
        if (write_probe)
                probe_write(write_probe);
        probe_interfaces();
        probe_capabilities();
        note("session-bus-env", "%s", getenv("DBUS_SESSION_BUS_ADDRESS") ? "set" : "unset");
        note("system-bus-env", "%s", getenv("DBUS_SYSTEM_BUS_ADDRESS") ? "set" : "unset");
        /* What a library would do to find the user's bus. */
        r = sd_bus_open_user(&bus);
        if (r >= 0)
                r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "GetId", NULL, NULL, "");
        note("open-user-bus", "%s", errno_name(r < 0 ? -r : 0));
        sd_bus_flush_close_unref(bus);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "bus-socket", required_argument, NULL, 'b' },
                { "tcp-port", required_argument, NULL, 't' },
                { "abstract", required_argument, NULL, 'a' },
                { "write-probe", required_argument, NULL, 'w' },
                {},
        };
        const char *bus_socket = NULL, *abstract = NULL, *write_probe = NULL;
        unsigned tcp_port = 0;
        bool had_fd;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'b':
                        bus_socket = optarg;
                        break;
                case 't':
                        tcp_port = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 'a':
                        abstract = optarg;
                        break;
                case 'w':
                        write_probe = optarg;
                        break;
                default:
                        return 2;
                }

        had_fd = getenv(IPCBUS_DIRECT_FD_ENV) != NULL;
        r = ipcbus_renderer_new(&rend, MAIN_NAME);
        if (r >= 0)
                r = ipcbus_renderer_attach_event(rend, NULL, 0);
        if (r >= 0)
                r = ipcbus_renderer_set_timeout(rend, WAIT_USEC);
        if (r >= 0)
                r = ipcbus_renderer_open_spawned(rend);
        if (r < 0) {
                fprintf(stderr, "spawned-renderer: cannot connect: %s\n", strerror(-r));
                return 2;
        }
        note("fd-env", "%s then %s", had_fd ? "set" : "unset", getenv(IPCBUS_DIRECT_FD_ENV) ? "set" : "unset");
        note("pid", "%d", (int)getpid());

        (void)ipcbus_renderer_on(rend, NULL, "pong", on_arg0, &pong);
        (void)ipcbus_renderer_on(rend, NULL, "from-main", on_arg0, &from_main);
        (void)ipcbus_renderer_on(rend, NULL, "invoked", on_arg0, &invoked);
        (void)ipcbus_renderer_on(rend, NULL, "port", on_port, NULL);
        (void)ipcbus_renderer_on(rend, NULL, "exit", on_exit_request, NULL);
        (void)ipcbus_renderer_on(rend, NULL, "crash", on_crash, NULL);
        (void)ipcbus_renderer_on(rend, NULL, "close-connection", on_close_connection, NULL);
        (void)ipcbus_renderer_handle(rend, NULL, "r-double", on_double, NULL);

        patterns();
        probes(bus_socket, tcp_port, abstract, write_probe);
        (void)ipcbus_renderer_send(rend, "done", NULL);

        /* Until the main says how to end. */
        r = ipcbus_renderer_run(rend);
        if (close_requested) {
                int sig;

                /* The connection goes, the process stays: until SIGTERM. */
                ipcbus_port_unref(port_from_main);
                ipcbus_port_unref(port_mine);
                port_from_main = port_mine = NULL;
                rend = ipcbus_renderer_unref(rend);
                (void)sigwait(&sigterm_mask, &sig);
                return 0;
        }
        ipcbus_port_unref(port_from_main);
        ipcbus_port_unref(port_mine);
        ipcbus_renderer_unref(rend);
        return r < 0 ? 5 : r;
}
