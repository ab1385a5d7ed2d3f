/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Spawned renderers (ipcbus_main_spawn, ipcbus_renderer_open_spawned): the
 * main runs in this process, on the harness loop; it spawns
 * tests/integration/spawned-renderer (found through IPCBUS_TEST_BUILDDIR),
 * with and without the bwrap sandbox. The renderer does every Electron
 * pattern over its descriptor and notes what it saw ("note" messages,
 * checked here), then probes the bus socket of the harness's private bus,
 * the network and the file system. Its end, however it comes (exit, a
 * SIGKILL, a closed connection, the main freed), is a detach, once, and the
 * child is reaped.
 *
 * The sandboxed tests skip (with the reason) where bwrap is not installed;
 * CI installs it (.ci/install-deps). The *_no_pidfd tests run as where the
 * kernel has no pidfds (spawn_test_no_pidfd), as under valgrind 3.19.
 */
#include <sys/syscall.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "spawn.h"        /* spawn_test_no_pidfd */
#include "web-contents.h" /* the pid the main keeps (connection.spawn_pid) */

#define WAIT_MS 20000

typedef struct fixture {
        harness h;                /* the private bus (the socket the sandbox must hide) and the loop */
        ipcbus_main *m;
        ipcbus_web_contents *wc;  /* the spawned renderer */
        pid_t pid;                /* what the main spawned (bwrap, under the sandbox) */

        GHashTable *notes;        /* name -> text, from the renderer */
        bool done;
        unsigned n_attached, n_detached;
        bool detached;
        GPtrArray *log;           /* the main's log lines */
        bool exit_logged;         /* the main reaped the child */

        result invoked;           /* the main's invoke of the renderer's "r-double" */
        ipcbus_port *port_main;   /* the main's end of the channel whose other end it posted */
        bool port_closed;         /* ... and the renderer's end went away */
        ipcbus_port *port_back;   /* the port the renderer posted to the main */

        /* What the renderer probes. */
        char *bus_socket;
        int tcp_fd;
        unsigned tcp_port;
        int abstract_fd;
        char *abstract_name;
        char *write_probe;
} fixture;

/* ---- the main's side -------------------------------------------------------- */

static void on_log(int priority, const char *message, void *userdata) {
        fixture *f = userdata;

        print_message("main log: %s\n", message);
        g_ptr_array_add(f->log, g_strdup(message));
        if (g_str_has_prefix(message, "Spawned renderer ") &&
            (strstr(message, " exited") || strstr(message, " was killed")))
                f->exit_logged = true;
}

static void on_attached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        fixture *f = userdata;

        f->n_attached++;
}

static void on_detached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        fixture *f = userdata;

        f->n_detached++;
        f->detached = true;
        /* Detached means gone: no longer attached, at once. */
        assert_false(ipcbus_web_contents_is_attached(wc));
}

static int on_note(ipcbus_event *e, GVariant *args, void *userdata) {
        fixture *f = userdata;
        g_autoptr(GVariant) name = ipcbus_args_get(args, 0), text = ipcbus_args_get(args, 1);

        g_hash_table_replace(f->notes, g_variant_dup_string(name, NULL), g_variant_dup_string(text, NULL));
        return 0;
}

static int on_done(ipcbus_event *e, GVariant *args, void *userdata) {
        fixture *f = userdata;

        f->done = true;
        return 0;
}

/* ipcMain.handle('echo', (e, ...args) => args) */
static int h_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, args);
}

/* ipcMain.handle('fail', () => { throw ... }) */
static int h_fail(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_error(inv, "com.example.Error.Spawned", "refused");
}

/* ipcMain.on('ping', e => e.reply('pong', ...)) */
static int on_ping(ipcbus_event *e, GVariant *args, void *userdata) {
        g_autoptr(GVariant) v = ipcbus_args_get(args, 0);
        g_autofree char *text = g_strdup_printf("pong to %s", g_variant_get_string(v, NULL));

        return ipcbus_event_reply(e, "pong", ipcbus_args(g_variant_new_string(text), NULL));
}

/* ipcMain.on('sync', e => { e.returnValue = ... }) */
static int on_sync(ipcbus_event *e, GVariant *args, void *userdata) {
        g_autoptr(GVariant) v = ipcbus_args_get(args, 0);
        g_autofree char *text = g_strdup_printf("sync:%s", g_variant_get_string(v, NULL));

        return ipcbus_event_set_return_value(e, g_variant_new_string(text));
}

/* win.webContents.send('from-main', ...), on the object spawn returned. */
static int on_ask_send(ipcbus_event *e, GVariant *args, void *userdata) {
        fixture *f = userdata;
        g_autoptr(GVariant) v = ipcbus_args_get(args, 0);
        g_autofree char *text = g_strdup_printf("main says %s", g_variant_get_string(v, NULL));

        /* The sender is the spawned renderer itself. */
        assert_ptr_equal(ipcbus_event_get_sender(e), f->wc);
        return ipcbus_web_contents_send(f->wc, "from-main", ipcbus_args(g_variant_new_string(text), NULL));
}

static int on_invoked(GVariant *value, const sd_bus_error *error, void *userdata) {
        fixture *f = userdata;
        g_autofree char *printed = NULL;

        result_collect(value, error, &f->invoked);
        printed = value ? g_variant_print(value, FALSE) : g_strdup(error->name);
        return ipcbus_web_contents_send(f->wc, "invoked", ipcbus_args(g_variant_new_string(printed), NULL));
}

/* The main calls the renderer's handler: Renderer1.Invoke. */
static int on_ask_invoke(ipcbus_event *e, GVariant *args, void *userdata) {
        fixture *f = userdata;

        return ipcbus_web_contents_invoke(f->wc, NULL, "r-double", ipcbus_args(g_variant_new_int32(21), NULL),
                                          5 * G_USEC_PER_SEC, on_invoked, f);
}

static int on_main_port_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n, void *userdata) {
        g_autofree char *text = g_strdup_printf("main got: %s", g_variant_get_string(data, NULL));

        return ipcbus_port_post_message(port, g_variant_new_string(text), NULL, 0);
}

static void on_main_port_close(ipcbus_port *port, void *userdata) {
        fixture *f = userdata;

        f->port_closed = true;
}

/* const { port1, port2 } = new MessageChannelMain();
 * win.webContents.postMessage('port', 'take this', [port1]) */
static int on_ask_port(ipcbus_event *e, GVariant *args, void *userdata) {
        fixture *f = userdata;
        g_autoptr(ipcbus_port) port1 = NULL;

        assert_int_equal(ipcbus_message_channel_new(ipcbus_main_get_event(f->m), &port1, &f->port_main), 0);
        assert_int_equal(ipcbus_port_on_message(f->port_main, NULL, on_main_port_message, f), 0);
        assert_int_equal(ipcbus_port_on_close(f->port_main, NULL, on_main_port_close, f), 0);
        assert_int_equal(ipcbus_port_start(f->port_main), 0);
        return ipcbus_web_contents_post_message(f->wc, "port", g_variant_new_string("take this"), &port1, 1);
}

/* ipcMain.on('port-back', e => { const [port] = e.ports; ... }) */
static int on_port_back(ipcbus_event *e, GVariant *args, void *userdata) {
        fixture *f = userdata;
        size_t n = 0;
        ipcbus_port **ports = ipcbus_event_get_ports(e, &n);

        assert_int_equal(n, 1);
        f->port_back = ipcbus_port_ref(ports[0]);
        assert_int_equal(ipcbus_port_on_message(f->port_back, NULL, on_main_port_message, f), 0);
        return ipcbus_port_start(f->port_back);
}

static void main_new(fixture *f) {
        assert_int_equal(ipcbus_main_new(&f->m, TEST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_main_attach_event(f->m, f->h.event, 0), 0);
        ipcbus_main_set_log_function(f->m, on_log, f);
        assert_int_equal(ipcbus_main_on_attached(f->m, NULL, on_attached, f), 0);
        assert_int_equal(ipcbus_main_on_detached(f->m, NULL, on_detached, f), 0);
        assert_int_equal(ipcbus_main_on(f->m, NULL, "note", on_note, f), 0);
        assert_int_equal(ipcbus_main_on(f->m, NULL, "done", on_done, f), 0);
        assert_int_equal(ipcbus_main_handle(f->m, NULL, "echo", h_echo, f), 0);
        assert_int_equal(ipcbus_main_handle(f->m, NULL, "fail", h_fail, f), 0);
        assert_int_equal(ipcbus_main_on(f->m, NULL, "ping", on_ping, f), 0);
        assert_int_equal(ipcbus_main_on(f->m, NULL, "sync", on_sync, f), 0);
        assert_int_equal(ipcbus_main_on(f->m, NULL, "ask-send", on_ask_send, f), 0);
        assert_int_equal(ipcbus_main_on(f->m, NULL, "ask-invoke", on_ask_invoke, f), 0);
        assert_int_equal(ipcbus_main_on(f->m, NULL, "ask-port", on_ask_port, f), 0);
        assert_int_equal(ipcbus_main_on(f->m, NULL, "port-back", on_port_back, f), 0);
}

/* ---- fixture ------------------------------------------------------------------ */

static const char *builddir(void) {
        const char *d = getenv("IPCBUS_TEST_BUILDDIR");

        assert_non_null(d);
        return d;
}

/* The bus's socket path, from its address "unix:path=PATH,guid=...". */
static char *bus_socket_path(const char *address) {
        const char *start = strstr(address, "path=");

        assert_non_null(start);
        start += strlen("path=");
        return g_strndup(start, strcspn(start, ",;"));
}

static void listen_probes(fixture *f) {
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        socklen_t len = sizeof(in);

        /* A TCP listener on the loopback of this network namespace. */
        f->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(f->tcp_fd >= 0);
        assert_int_equal(bind(f->tcp_fd, (struct sockaddr *)&in, sizeof(in)), 0);
        assert_int_equal(listen(f->tcp_fd, 16), 0);
        assert_int_equal(getsockname(f->tcp_fd, (struct sockaddr *)&in, &len), 0);
        f->tcp_port = ntohs(in.sin_port);

        /* An abstract socket, which no file system hides. */
        f->abstract_name = g_strdup_printf("ipcbus-test-spawn-%d", (int)getpid());
        memcpy(un.sun_path + 1, f->abstract_name, strlen(f->abstract_name));
        f->abstract_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(f->abstract_fd >= 0);
        assert_int_equal(bind(f->abstract_fd, (struct sockaddr *)&un,
                              (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(f->abstract_name))),
                         0);
        assert_int_equal(listen(f->abstract_fd, 16), 0);
}

static int setup(void **state) {
        fixture *f = g_new0(fixture, 1);

        harness_start_bus(&f->h);
        /* The bus is also this process's session bus, so the sandbox must
         * hide the socket its environment names, wherever TMPDIR put it. */
        assert_int_equal(test_bus_setenv(f->h.bus), 0);
        f->bus_socket = bus_socket_path(test_bus_get_address(f->h.bus));
        f->notes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        f->log = g_ptr_array_new_with_free_func(g_free);
        f->tcp_fd = f->abstract_fd = -1;
        listen_probes(f);
        main_new(f);
        *state = f;
        return 0;
}

static int setup_no_bus(void **state);

/* A writable directory the sandbox does not hide (the build tree, else
 * $HOME), short enough for a socket path below it; NULL if none. */
static char *visible_dir(void) {
        const char *candidates[] = { getenv("IPCBUS_TEST_BUILDDIR"), g_get_home_dir() };

        for (size_t i = 0; i < G_N_ELEMENTS(candidates); i++) {
                g_autofree char *canonical = candidates[i] ? realpath(candidates[i], NULL) : NULL;
                bool hidden = false;

                if (!canonical || access(canonical, W_OK) < 0 || strlen(canonical) > 60)
                        continue;
                for (const char *const *h = (const char *const[]){ "/tmp", "/var/tmp", "/run", "/var/run", NULL };
                     *h; h++)
                        if (g_str_has_prefix(canonical, *h) && (canonical[strlen(*h)] == '/' || !canonical[strlen(*h)]))
                                hidden = true;
                if (!hidden)
                        return g_steal_pointer(&canonical);
        }
        return NULL;
}

/* The same, with the bus's socket outside the directories the sandbox
 * hides: only the cover over the socket its environment names stops it. */
static int setup_bus_elsewhere(void **state) {
        g_autofree char *dir = visible_dir();
        g_autofree char *saved = g_strdup(getenv("TMPDIR"));
        fixture *f;

        if (!dir) {
                print_message("no writable directory outside /tmp, /var/tmp and /run: setup skipped\n");
                return setup_no_bus(state);
        }
        assert_int_equal(setenv("TMPDIR", dir, 1), 0);
        setup(state);
        if (saved)
                assert_int_equal(setenv("TMPDIR", saved, 1), 0);
        else
                assert_int_equal(unsetenv("TMPDIR"), 0);
        f = *state;
        assert_true(g_str_has_prefix(f->bus_socket, dir));
        return 0;
}

static void reap_check(pid_t pid);

/* As setup, with the main spawning as where there are no pidfds. */
static int setup_no_pidfd(void **state) {
        spawn_test_no_pidfd = true;
        return setup(state);
}

static int teardown(void **state) {
        fixture *f = *state;

        f->wc = ipcbus_web_contents_unref(f->wc);
        f->port_main = ipcbus_port_unref(f->port_main);
        spawn_test_no_pidfd = false;
        f->port_back = ipcbus_port_unref(f->port_back);
        /* Kills and reaps a renderer still running. */
        f->m = ipcbus_main_unref(f->m);
        if (f->pid > 0)
                reap_check(f->pid);
        result_clear(&f->invoked);
        harness_stop(&f->h);
        if (f->tcp_fd >= 0)
                (void)close(f->tcp_fd);
        if (f->abstract_fd >= 0)
                (void)close(f->abstract_fd);
        if (f->write_probe)
                (void)unlink(f->write_probe);
        g_free(f->write_probe);
        g_free(f->abstract_name);
        g_free(f->bus_socket);
        g_hash_table_unref(f->notes);
        g_ptr_array_unref(f->log);
        g_free(f);
        return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static bool pidfds_available(void) {
        int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);

        if (fd < 0)
                return false;
        (void)close(fd);
        return true;
}

static char *renderer_path(void) {
        return g_build_filename(builddir(), "tests", "spawned-renderer", NULL);
}

/* Spawn the renderer with the probes' arguments. Return: as ipcbus_main_spawn(). */
static int spawn(fixture *f, uint64_t flags) {
        g_autofree char *path = renderer_path(), *port = g_strdup_printf("%u", f->tcp_port);
        int r;

        /* Sandboxed, a file right under / (EROFS there); else one in the
         * build tree, which must work. */
        g_free(f->write_probe);
        if (flags & IPCBUS_SPAWN_SANDBOX)
                f->write_probe = g_strdup_printf("/ipcbus-spawn-probe-%d", (int)getpid());
        else
                f->write_probe = g_strdup_printf("%s/tests/spawn-write-probe-%d", builddir(), (int)getpid());
        char *argv[] = { path,          "--bus-socket", f->bus_socket,  "--tcp-port", port, "--abstract",
                         f->abstract_name, "--write-probe", f->write_probe, NULL };

        r = ipcbus_main_spawn(f->m, argv, flags, &f->wc);
        if (r < 0)
                return r;
        assert_non_null(f->wc);
        f->pid = f->wc->conn->spawn_pid;
        assert_true(f->pid > 0);
        /* A pidfd wherever this process can have one. */
        if (spawn_test_no_pidfd || !pidfds_available())
                assert_int_equal(f->wc->conn->spawn_pidfd, -1);
        else
                assert_true(f->wc->conn->spawn_pidfd >= 0);
        /* Its credentials are the spawned process's, not the socketpair's
         * maker's (this process). */
        {
                pid_t pid = 0;
                uid_t uid = 1;

                assert_int_equal(ipcbus_web_contents_get_pid(f->wc, &pid), 0);
                assert_int_equal(pid, f->pid);
                assert_int_equal(ipcbus_web_contents_get_uid(f->wc, &uid), 0);
                assert_int_equal(uid, getuid());
                if (f->wc->conn->spawn_pidfd >= 0)
                        assert_true(ipcbus_web_contents_get_pidfd(f->wc) >= 0);
        }
        /* Attached from the start, as add_direct does. */
        assert_int_equal(f->n_attached, 1);
        assert_true(ipcbus_web_contents_is_attached(f->wc));
        assert_true(ipcbus_web_contents_get_id(f->wc) > 0);
        assert_null(ipcbus_web_contents_get_bus_name(f->wc));
        return 0;
}

static void spawn_sandboxed_or_skip(fixture *f) {
        int r = spawn(f, IPCBUS_SPAWN_SANDBOX);

        if (r == -ENOPKG) {
                print_message("bwrap not found ($IPCBUS_BWRAP or bwrap in $PATH; Debian package bubblewrap): "
                              "sandbox test skipped\n");
                skip();
        }
        assert_int_equal(r, 0);
}

static const char *note(fixture *f, const char *name) {
        const char *text = g_hash_table_lookup(f->notes, name);

        if (!text)
                fail_msg("the renderer noted no '%s'", name);
        return text;
}

static bool log_has(fixture *f, const char *text) {
        for (unsigned i = 0; i < f->log->len; i++)
                if (strstr(f->log->pdata[i], text))
                        return true;
        return false;
}

/* The child is gone for good: reaped (by the main), not a zombie. */
static void reap_check(pid_t pid) {
        int status;

        assert_int_equal(waitpid(pid, &status, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
}

/* Everything the renderer did over its descriptor, as it saw it. */
static void check_patterns(fixture *f) {
        g_autofree char *attach = g_strdup_printf("0 %" PRIu64, ipcbus_web_contents_get_id(f->wc));

        assert_true(harness_run_until(&f->h, &f->done, WAIT_MS));
        assert_null(g_hash_table_lookup(f->notes, "timeout"));
        /* open_spawned took the descriptor and unset the variable. */
        assert_string_equal(note(f, "fd-env"), "set then unset");
        /* Attach keeps the id the main gave at spawn. */
        assert_string_equal(note(f, "attach"), attach);
        assert_int_equal(f->n_attached, 1);
        assert_string_equal(ipcbus_web_contents_get_name(f->wc), "spawned");
        /* invoke / handle: a value, and a handler's error. */
        assert_string_equal(note(f, "invoke"), "0 [<'hello'>, <7>]");
        assert_string_equal(note(f, "invoke-async"), "0 [<'later'>]");
        assert_string_equal(note(f, "invoke-error"), "failed com.example.Error.Spawned: refused");
        /* send / on with event.reply */
        assert_string_equal(note(f, "reply"), "0 pong to p1");
        /* sendSync / returnValue */
        assert_string_equal(note(f, "send-sync"), "0 sync:q");
        /* webContents.send */
        assert_string_equal(note(f, "web-contents-send"), "0 main says hi");
        /* main-to-renderer invoke: the main got the renderer's answer. */
        assert_true(f->invoked.done);
        assert_null(f->invoked.error_name);
        assert_int_equal(g_variant_get_int32(f->invoked.value), 42);
        assert_string_equal(note(f, "main-invoked"), "0 42");
        /* MessagePorts, both ways: transferred, then messages over them. */
        assert_string_equal(note(f, "port"), "0 main got: over the port");
        assert_non_null(f->port_back);
        assert_string_equal(note(f, "port-back"), "0 main got: through my port");
}

/* The renderer is gone: detached once, unreachable, reaped. */
static void check_gone(fixture *f) {
        assert_true(harness_run_until(&f->h, &f->detached, WAIT_MS));
        /* The connection's close and the pidfd may come in either order:
         * wait for both, then count. */
        assert_true(harness_run_until(&f->h, &f->exit_logged, WAIT_MS));
        assert_int_equal(f->n_detached, 1);
        assert_false(ipcbus_web_contents_is_attached(f->wc));
        assert_int_equal(ipcbus_web_contents_send(f->wc, "anyone", NULL), -ENOTCONN);
        assert_int_equal(ipcbus_web_contents_post_message(f->wc, "anyone", NULL, NULL, 0), -ENOTCONN);
        assert_int_equal(ipcbus_web_contents_invoke(f->wc, NULL, "r-double", NULL, 0, result_collect, NULL),
                         -ENOTCONN);
        reap_check(f->pid);
}

static void tell(fixture *f, const char *channel, GVariant *args) {
        assert_int_equal(ipcbus_web_contents_send(f->wc, channel, args), 0);
}

/* ---- without the sandbox ------------------------------------------------------- */

static void test_spawn_patterns(void **state) {
        fixture *f = *state;
        g_autofree char *pid = NULL;

        assert_int_equal(spawn(f, 0), 0);
        check_patterns(f);
        /* The main knows the renderer's own pid. */
        pid = g_strdup_printf("%d", (int)f->pid);
        assert_string_equal(note(f, "pid"), pid);
        /* Outside a sandbox everything is reachable: the probes work. */
        assert_string_equal(note(f, "bus-socket"), "0");
        assert_string_equal(note(f, "tcp"), "0");
        assert_string_equal(note(f, "abstract"), "0");
        assert_string_equal(note(f, "write"), "0");
        assert_string_equal(note(f, "session-bus-env"), "set");
        assert_string_equal(note(f, "open-user-bus"), "0");

        tell(f, "exit", ipcbus_args(g_variant_new_int32(0), NULL));
        check_gone(f);
        assert_true(log_has(f, "exited with status 0"));
}

static void test_spawn_killed(void **state) {
        fixture *f = *state;

        assert_int_equal(spawn(f, 0), 0);
        assert_true(harness_run_until(&f->h, &f->done, WAIT_MS));
        assert_int_equal(kill(f->pid, SIGKILL), 0);
        check_gone(f);
        assert_true(log_has(f, "was killed by signal 9"));
        /* Its end of the port went with it. */
        assert_true(harness_run_until(&f->h, &f->port_closed, WAIT_MS));
}

/* The connection closes first, the process lives on: detached then, reaped
 * when it exits, without a second detach. */
static void test_spawn_connection_closed_first(void **state) {
        fixture *f = *state;

        assert_int_equal(spawn(f, 0), 0);
        assert_true(harness_run_until(&f->h, &f->done, WAIT_MS));
        tell(f, "close-connection", NULL);
        assert_true(harness_run_until(&f->h, &f->detached, WAIT_MS));
        assert_int_equal(f->n_detached, 1);
        assert_false(f->exit_logged);
        assert_int_equal(kill(f->pid, 0), 0);
        assert_int_equal(ipcbus_web_contents_send(f->wc, "anyone", NULL), -ENOTCONN);

        assert_int_equal(kill(f->pid, SIGTERM), 0);
        check_gone(f);
        assert_true(log_has(f, "exited with status 0"));
}

/* A main freed while its renderer runs kills and reaps it before
 * ipcbus_main_unref() returns. */
static void run_main_freed(fixture *f) {
        assert_true(harness_run_until(&f->h, &f->done, WAIT_MS));
        f->m = ipcbus_main_unref(f->m);
        reap_check(f->pid);
        /* The renderer itself is dead too (under the sandbox, bwrap's
         * --die-with-parent saw to it): its end of the port closed. */
        assert_true(harness_run_until(&f->h, &f->port_closed, WAIT_MS));
}

static void test_spawn_main_freed(void **state) {
        fixture *f = *state;

        assert_int_equal(spawn(f, 0), 0);
        run_main_freed(f);
}

/* ---- in the sandbox ------------------------------------------------------------ */

static void test_spawn_sandboxed_patterns(void **state) {
        fixture *f = *state;
        g_autofree char *bwrap_pid = NULL;

        spawn_sandboxed_or_skip(f);
        bwrap_pid = g_strdup_printf("%d", (int)f->pid);
        check_patterns(f);
        /* No bus: its socket is hidden (ENOENT under an empty /tmp,
         * ECONNREFUSED where covered), its address gone from the
         * environment, and sd-bus finds no user bus either. */
        print_message("sandboxed: bus socket %s, tcp %s, abstract %s, write %s, interfaces %s, CapEff %s, "
                      "user bus %s\n",
                      note(f, "bus-socket"), note(f, "tcp"), note(f, "abstract"), note(f, "write"),
                      note(f, "interfaces"), note(f, "cap-eff"), note(f, "open-user-bus"));
        assert_true(g_str_equal(note(f, "bus-socket"), "ENOENT") ||
                    g_str_equal(note(f, "bus-socket"), "ECONNREFUSED"));
        assert_string_equal(note(f, "session-bus-env"), "unset");
        assert_string_equal(note(f, "system-bus-env"), "unset");
        assert_string_not_equal(note(f, "open-user-bus"), "0");
        /* No network: another namespace's loopback, where nothing listens;
         * no abstract sockets of ours; no interface but lo. */
        assert_string_equal(note(f, "tcp"), "ECONNREFUSED");
        assert_string_equal(note(f, "abstract"), "ECONNREFUSED");
        assert_string_equal(note(f, "interfaces"), "lo");
        /* A read-only file system, and no capability to remount it. */
        assert_string_equal(note(f, "write"), "EROFS");
        assert_string_equal(note(f, "cap-eff"), "0000000000000000");
        /* Its own pid namespace: the main knows bwrap's pid, not this one. */
        assert_string_not_equal(note(f, "pid"), bwrap_pid);

        tell(f, "exit", ipcbus_args(g_variant_new_int32(3), NULL));
        check_gone(f);
        /* bwrap exits with the renderer's status. */
        assert_true(log_has(f, "exited with status 3"));
}

/* The bus socket outside /tmp: the environment names it, so it is covered. */
static void test_spawn_sandboxed_bus_elsewhere(void **state) {
        fixture *f = *state;

        if (!f->h.bus)
                skip();
        spawn_sandboxed_or_skip(f);
        assert_true(harness_run_until(&f->h, &f->done, WAIT_MS));
        print_message("sandboxed, bus at %s: %s\n", f->bus_socket, note(f, "bus-socket"));
        assert_string_equal(note(f, "bus-socket"), "ECONNREFUSED");
        assert_string_equal(note(f, "session-bus-env"), "unset");
        assert_string_not_equal(note(f, "open-user-bus"), "0");
}

/* The renderer dies by a signal inside the sandbox. */
static void test_spawn_sandboxed_crash(void **state) {
        fixture *f = *state;

        spawn_sandboxed_or_skip(f);
        assert_true(harness_run_until(&f->h, &f->done, WAIT_MS));
        tell(f, "crash", NULL);
        check_gone(f);
        /* bwrap reports a signal as 128 + its number. */
        assert_true(log_has(f, "exited with status 137"));
        assert_true(harness_run_until(&f->h, &f->port_closed, WAIT_MS));
}

/* SIGKILL to the process the main holds, bwrap: --die-with-parent takes
 * the renderer along, which its port shows. */
static void test_spawn_sandbox_killed(void **state) {
        fixture *f = *state;

        spawn_sandboxed_or_skip(f);
        assert_true(harness_run_until(&f->h, &f->done, WAIT_MS));
        assert_int_equal(kill(f->pid, SIGKILL), 0);
        check_gone(f);
        assert_true(log_has(f, "was killed by signal 9"));
        assert_true(harness_run_until(&f->h, &f->port_closed, WAIT_MS));
}

static void test_spawn_sandboxed_main_freed(void **state) {
        fixture *f = *state;

        spawn_sandboxed_or_skip(f);
        run_main_freed(f);
}

/* ---- without pidfds: the exit seen when the connection closes ---------------- */

#define NO_PIDFD(test)                                  \
        static void test##_no_pidfd(void **state) {     \
                assert_true(spawn_test_no_pidfd);       \
                test(state);                            \
        }
NO_PIDFD(test_spawn_patterns)
NO_PIDFD(test_spawn_killed)
NO_PIDFD(test_spawn_connection_closed_first)
NO_PIDFD(test_spawn_main_freed)
NO_PIDFD(test_spawn_sandbox_killed)

/* ---- refusals ----------------------------------------------------------------- */

/* No process was started: this test process has no child at all. */
static void assert_no_child(fixture *f) {
        assert_int_equal(f->n_attached, 0);
        assert_null(f->wc);
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
}

static int setup_no_bus(void **state) {
        fixture *f = g_new0(fixture, 1);

        assert_int_equal(sd_event_new(&f->h.event), 0);
        f->notes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        f->log = g_ptr_array_new_with_free_func(g_free);
        f->tcp_fd = f->abstract_fd = -1;
        main_new(f);
        *state = f;
        return 0;
}

static void test_spawn_no_bwrap(void **state) {
        fixture *f = *state;
        g_autofree char *path = renderer_path();
        char *argv[] = { path, NULL };
        g_autofree char *saved = g_strdup(getenv("IPCBUS_BWRAP"));

        assert_int_equal(setenv("IPCBUS_BWRAP", "/nonexistent/bwrap", 1), 0);
        assert_int_equal(ipcbus_main_spawn(f->m, argv, IPCBUS_SPAWN_SANDBOX, &f->wc), -ENOPKG);
        if (saved)
                assert_int_equal(setenv("IPCBUS_BWRAP", saved, 1), 0);
        else
                assert_int_equal(unsetenv("IPCBUS_BWRAP"), 0);
        assert_no_child(f);
        assert_true(log_has(f, "no bwrap"));
}

static void test_spawn_refused(void **state) {
        fixture *f = *state;
        g_autofree char *path = renderer_path();
        g_autofree char *readme = g_build_filename(getenv("IPCBUS_TEST_SRCDIR"), "README.md", NULL);
        g_autofree char *garbage = g_strdup_printf("%s/tests/spawn-not-a-program-%d", builddir(), (int)getpid());
        char *argv[] = { path, NULL };
        char *missing[] = { "/nonexistent/renderer", NULL };
        char *unknown[] = { "ipcbus-no-such-renderer", NULL };
        char *not_executable[] = { readme, NULL };
        char *not_a_program[] = { garbage, NULL };
        char *empty[] = { "", NULL };
        int r;

        assert_int_equal(ipcbus_main_spawn(NULL, argv, 0, NULL), -EINVAL);
        assert_int_equal(ipcbus_main_spawn(f->m, NULL, 0, NULL), -EINVAL);
        assert_int_equal(ipcbus_main_spawn(f->m, empty, 0, NULL), -EINVAL);
        assert_int_equal(ipcbus_main_spawn(f->m, argv, UINT64_C(1) << 40, NULL), -EINVAL);
        assert_int_equal(ipcbus_main_spawn(f->m, missing, 0, NULL), -ENOENT);
        assert_int_equal(ipcbus_main_spawn(f->m, unknown, 0, NULL), -ENOENT);
        assert_int_equal(ipcbus_main_spawn(f->m, not_executable, 0, NULL), -EACCES);
        /* Executable, but the kernel cannot run it: execve() fails in the
         * child, which is reaped before the error comes back. */
        assert_true(g_file_set_contents(garbage, "\x01\x02 not a program\n", -1, NULL));
        assert_int_equal(chmod(garbage, 0755), 0);
        r = ipcbus_main_spawn(f->m, not_a_program, 0, &f->wc);
        (void)unlink(garbage);
        assert_int_equal(r, -ENOEXEC);
        assert_no_child(f);
}

/* ipcbus_renderer_open_spawned() where the variable is missing, bad or fine. */
static void test_open_spawned(void **state) {
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        char number[16];
        int pipefd[2], sv[2], dgram[2];

        assert_int_equal(sd_event_new(&event), 0);
        assert_int_equal(ipcbus_renderer_new(&r, TEST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(r, event, 0), 0);
        assert_int_equal(ipcbus_renderer_open_spawned(NULL), -EINVAL);

        assert_int_equal(unsetenv(IPCBUS_DIRECT_FD_ENV), 0);
        assert_int_equal(ipcbus_renderer_open_spawned(r), -ENXIO);

        /* Not a number, a closed descriptor, a pipe, a datagram socket: all
         * refused, each consuming the variable, none closing anything. */
        assert_int_equal(setenv(IPCBUS_DIRECT_FD_ENV, "three", 1), 0);
        assert_int_equal(ipcbus_renderer_open_spawned(r), -EBADF);
        assert_null(getenv(IPCBUS_DIRECT_FD_ENV));
        assert_int_equal(setenv(IPCBUS_DIRECT_FD_ENV, "999999", 1), 0);
        assert_int_equal(ipcbus_renderer_open_spawned(r), -EBADF);
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        snprintf(number, sizeof(number), "%d", pipefd[0]);
        assert_int_equal(setenv(IPCBUS_DIRECT_FD_ENV, number, 1), 0);
        assert_int_equal(ipcbus_renderer_open_spawned(r), -EBADF);
        assert_true(fcntl(pipefd[0], F_GETFD) >= 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dgram), 0);
        snprintf(number, sizeof(number), "%d", dgram[0]);
        assert_int_equal(setenv(IPCBUS_DIRECT_FD_ENV, number, 1), 0);
        assert_int_equal(ipcbus_renderer_open_spawned(r), -EBADF);

        /* A stream socketpair end, inherited without close-on-exec: taken,
         * and close-on-exec from then on. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        snprintf(number, sizeof(number), "%d", sv[1]);
        assert_int_equal(setenv(IPCBUS_DIRECT_FD_ENV, number, 1), 0);
        assert_int_equal(ipcbus_renderer_open_spawned(r), 0);
        assert_null(getenv(IPCBUS_DIRECT_FD_ENV));
        assert_true(fcntl(sv[1], F_GETFD) & FD_CLOEXEC);
        assert_true(ipcbus_renderer_has_main(r));
        assert_int_equal(setenv(IPCBUS_DIRECT_FD_ENV, number, 1), 0);
        assert_int_equal(ipcbus_renderer_open_spawned(r), -EBUSY);
        assert_int_equal(unsetenv(IPCBUS_DIRECT_FD_ENV), 0);

        (void)close(pipefd[0]);
        (void)close(pipefd[1]);
        (void)close(dgram[0]);
        (void)close(dgram[1]);
        (void)close(sv[0]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_spawn_patterns, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_killed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_connection_closed_first, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_main_freed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_sandboxed_patterns, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_sandboxed_bus_elsewhere, setup_bus_elsewhere, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_sandboxed_crash, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_sandbox_killed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_sandboxed_main_freed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_patterns_no_pidfd, setup_no_pidfd, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_killed_no_pidfd, setup_no_pidfd, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_connection_closed_first_no_pidfd, setup_no_pidfd, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_main_freed_no_pidfd, setup_no_pidfd, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_sandbox_killed_no_pidfd, setup_no_pidfd, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_no_bwrap, setup_no_bus, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_refused, setup_no_bus, teardown),
                cmocka_unit_test(test_open_spawned),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
