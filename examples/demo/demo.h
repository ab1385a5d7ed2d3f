/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * ipcbus-demo: every example of the seed articles, run on ipcbus.
 *
 *   demo.c            arguments, modes, usage
 *   demo-main.c       the demo main: the channels the seeds' main.js serves
 *   demo-renderer.c   renderer mode (a GLib program), and the listeners both
 *                     renderer mode and the self-test register
 *   demo-scenarios.c  the self-test: one scenario per seed example, and the
 *                     run loop
 *   demo-selftest.c   the self-test's machinery: windows, waiting, invokes,
 *                     the report (demo-selftest.h)
 *   demo-trust.c      the self-test's trust boundary scenarios (issue 6)
 *   demo-sandbox.c    a renderer the main spawns under bwrap: the main's
 *                     spawn-sandboxed and sandbox-report, and the
 *                     sandboxed-renderer mode the child runs
 *   demo-notify.c     the main's notify: a desktop notification through
 *                     org.freedesktop.Notifications on the main's bus
 *   demo-bus.c        a private dbus-daemon for the self-test
 *   demo-spawn.c      child processes: spawn, read their lines, stop
 *
 * Only the public API is used (ipcbus/ipcbus.h and the GLib adapter), as an
 * application would.
 */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include <ipcbus/ipcbus.h>

#include "ipcbus-glib.h"

#ifndef _cleanup_
#define _cleanup_(f) __attribute__((__cleanup__(f)))
#endif

/* Hand over ownership: yields the pointer and clears the variable. */
#define DEMO_TAKE_PTR(p)                     \
        ({                                   \
                __typeof__(p) _taken = (p);  \
                (p) = NULL;                  \
                _taken;                      \
        })

static inline void demo_freep(void *p) {
        g_free(*(void **)p);
}

static inline void demo_strvp(char ***p) {
        g_strfreev(*p);
}

static inline void demo_variant_unrefp(GVariant **v) {
        if (*v)
                g_variant_unref(*v);
}

static inline void demo_ptr_array_unrefp(GPtrArray **a) {
        if (*a)
                g_ptr_array_unref(*a);
}

static inline void demo_closep(int *fd) {
        if (*fd >= 0)
                (void)close(*fd);
}

/* ---- what the seeds say --------------------------------------------------- */

#define DEMO_DEFAULT_NAME "org.ipcbus.Demo"
#define DEMO_DEFAULT_DELAY_MS 200U
#define DEMO_DEFAULT_INTERVAL_MS 100U

/* Seed 001 reads 'a.txt'; the main creates it in its runtime directory. */
#define DEMO_FILE_NAME "a.txt"
#define DEMO_FILE_TEXT "你好，这是 ipcbus-demo 的文件 a.txt。\n"
#define DEMO_INITIAL_TITLE "ipcbus-demo"

#define DEMO_TEST_MSG "你好啊，我是主进程"
#define DEMO_HELLO_FROM_MAIN "Hello from Main!"
#define DEMO_REPLY_TO_RENDER "主进程通过 reply 回复给渲染进程的消息"
#define DEMO_SYNC_REPLY "主进程回复的消息"
#define DEMO_WIN1_MSG "msg from win1"

/* Issue 6: a renderer attached with this name may use only my_channel
 * (every op) and get-title (invoke); the main asks a renderer for its
 * state (ask-renderer) on this channel of its Renderer1.Invoke. */
#define DEMO_GUEST_NAME "guest"
#define DEMO_RENDERER_STATE "renderer-state"
#define DEMO_ASK_RENDERER_TIMEOUT_USEC (2U * 1000U * 1000U)

/* Issue 6: spawn-sandboxed fails with these. NoSandbox: bwrap is missing,
 * nothing was started (the self-test skips rather than fails). */
#define DEMO_ERROR_NO_SANDBOX "org.ipcbus.Demo.Error.NoSandbox"
#define DEMO_NO_SANDBOX_MESSAGE "bwrap is not installed (Debian package bubblewrap)"
#define DEMO_ERROR_SANDBOX_FAILED "org.ipcbus.Demo.Error.SandboxFailed"

/* ---- options -------------------------------------------------------------- */

typedef enum demo_mode {
        DEMO_MODE_SELFTEST,
        DEMO_MODE_MAIN,
        DEMO_MODE_RENDERER,
        DEMO_MODE_SANDBOXED_RENDERER,
        DEMO_MODE_HELP,
} demo_mode;

typedef enum demo_bus_kind {
        DEMO_BUS_DEFAULT, /* main: the bus that started it, else the user's; renderer: the user's */
        DEMO_BUS_USER,
        DEMO_BUS_SYSTEM,
        DEMO_BUS_ADDRESS,
} demo_bus_kind;

typedef struct demo_options {
        demo_mode mode;
        demo_bus_kind bus;
        const char *address;
        const char *name;
        /* main */
        unsigned delay_ms;
        const char *file;
        GPtrArray *allow_dirs; /* const char *, borrowed from argv */
        /* renderer */
        const char *role;
        unsigned interval_ms;
        /* sandboxed-renderer */
        const char *probe_address;
} demo_options;

/* ---- modes ---------------------------------------------------------------- */

/* Each returns the process exit code. */
int demo_main_run(const demo_options *o);
int demo_renderer_run(const demo_options *o);
int demo_sandboxed_renderer_run(const demo_options *o);
int demo_selftest_run(void);

/* ---- shared helpers (demo.c) ---------------------------------------------- */

/* Monotonic clock in microseconds, the clock every deadline here uses. */
uint64_t demo_now_usec(void);

/* "CHANNEL ARGS", the form main-recv and recv lines use. */
char *demo_format_message(const char *channel, GVariant *args);

/* The same for a message with one string argument (what the seeds send). */
char *demo_format_string_message(const char *channel, const char *text);

/* A log function for ipcbus objects: warnings and worse to stderr,
 * everything with IPCBUS_DEMO_DEBUG set. @userdata: a static prefix. */
void demo_log_stderr(int priority, const char *message, void *userdata);
bool demo_debug(void);

/* ---- the main's sandboxed renderers (demo-sandbox.c) ----------------------- */

typedef struct demo_sandbox demo_sandbox;

/**
 * demo_sandbox_new - serve spawn-sandboxed and sandbox-report on @m
 * @m: the demo main (borrowed: free the sandbox before it)
 * @main_name: the name the main owns, which the child's renderer addresses
 *   (borrowed, lives as long as the sandbox)
 * Return: 0; -errno.
 */
int demo_sandbox_new(demo_sandbox **ret, ipcbus_main *m, const char *main_name);
/* Fails the spawn-sandboxed calls still waiting; the children end with the
 * main. NULL-safe. */
demo_sandbox *demo_sandbox_free(demo_sandbox *s);

/* ---- the main's desktop service (demo-notify.c) ----------------------------- */

typedef struct demo_notify demo_notify;

/**
 * demo_notify_new - serve notify on @m: org.freedesktop.Notifications.Notify
 *   on the main's bus, answered with the notification's id
 * @m: the demo main (borrowed: free the demo_notify before it)
 * Return: 0; -errno.
 */
int demo_notify_new(demo_notify **ret, ipcbus_main *m);
/* Fails the notify calls still waiting for the server. NULL-safe. */
demo_notify *demo_notify_free(demo_notify *n);

/* The main's "main-recv CHANNEL ARGS" line (demo-main.c). */
void demo_main_print_recv(const char *channel, GVariant *args);

/* ---- renderer listeners (demo-renderer.c) ---------------------------------- */

/* The channels the demo main sends to renderers. */
extern const char *const demo_renderer_channels[];

/* Register @fn for every channel in demo_renderer_channels. Return: 0, -errno. */
int demo_renderer_listen(ipcbus_renderer *r, ipcbus_listener_fn fn, void *userdata);

/* What a renderer answers the main's Renderer1.Invoke on "renderer-state"
 * (ask-renderer): a{sv} with role (s) and id (t), floating. */
GVariant *demo_renderer_state(ipcbus_renderer *r, const char *role);

/* ---- child processes (demo-spawn.c) ---------------------------------------- */

/**
 * demo_spawn - fork and exec @argv[0] (a path, or a name looked up in PATH)
 * @stdout_fd: the child's stdout, or -1 to point it at our stderr (so a
 *   helper's chatter never mixes with the demo's result lines)
 * @stderr_fd: the child's stderr, or -1 to share ours
 * @keep_fd: one more descriptor the child inherits as is, or -1
 *
 * The child dies with us (PR_SET_PDEATHSIG), starts with an empty signal
 * mask, and inherits nothing else we opened (every fd here is O_CLOEXEC).
 * Return: 0 and the pid; -errno.
 */
int demo_spawn(char *const argv[], int stdout_fd, int stderr_fd, int keep_fd, pid_t *ret_pid);

/* SIGTERM @pid and wait for it. Return: 0 and its wait status; -errno. */
int demo_terminate(pid_t pid, int *ret_status);

/* Our own executable, for re-running ourselves in another mode. */
char *demo_self_exe(void);

/*
 * A child whose stdout we read line by line from an sd-event loop: the main
 * in the self-test.
 */
/* A renderer's end of the demo's MessagePorts (demo-port.c). */
typedef struct demo_port_end {
        ipcbus_port *port;          /* from the "port" channel (win1 <-> win2) */
        ipcbus_port *main_port;     /* from "main-port" (the main keeps the other end) */
        GPtrArray *recv;            /* char *, each message, GVariant text form */
        bool answer;                /* win2: answer "ping N" with "pong N" */
        bool print;                 /* renderer mode: print "port-recv VALUE" */
        uint64_t interval_usec;     /* win1 in renderer mode: post "ping N" this often */
        unsigned pings;
        sd_event *event;
        sd_event_source *timer;
} demo_port_end;

int demo_port_listen(ipcbus_renderer *r, demo_port_end *end);
void demo_port_end_clear(demo_port_end *end);

typedef struct demo_child {
        pid_t pid;
        int fd;
        sd_event_source *io;
        GString *partial;
        GPtrArray *lines; /* char *, every complete line so far */
        bool eof;
        const char *echo_prefix; /* copy lines to stderr when debugging */
} demo_child;

int demo_child_spawn(demo_child **ret, sd_event *event, char *const argv[]);
/* Index of the first line at or after @from equal to @line, or -1. */
int demo_child_find_line(demo_child *c, unsigned from, const char *line);
/* SIGTERM, reap. Return: 0 and the wait status; -errno. */
int demo_child_stop(demo_child *c, int *ret_status);
/* Kills (SIGKILL) and reaps a child that is still running. */
demo_child *demo_child_free(demo_child *c);
static inline void demo_child_freep(demo_child **c) {
        demo_child_free(*c);
}

/* ---- private bus (demo-bus.c) -------------------------------------------- */

typedef struct demo_bus {
        pid_t pid;
        char *dir;     /* a fresh directory: config, socket, the self-test's files */
        char *config;
        char *socket;
        char *address; /* as dbus-daemon printed it */
} demo_bus;

/**
 * demo_bus_start - a private dbus-daemon in a new temporary directory
 * Readiness is dbus-daemon's --print-address on a pipe: once the address
 * is read, the bus accepts connections.
 * @ret_error: on failure, what went wrong (free with g_free)
 * Return: 0; -errno.
 */
int demo_bus_start(demo_bus **ret, char **ret_error);
/* Stops the daemon (SIGTERM, reap) and removes its directory's files. */
demo_bus *demo_bus_free(demo_bus *b);
static inline void demo_bus_freep(demo_bus **b) {
        demo_bus_free(*b);
}
