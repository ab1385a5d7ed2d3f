/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ipcbus_main_spawn(): a renderer process on a socketpair, started, watched
 * through a pidfd, reaped, and detached when it exits. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connection.h"
#include "log.h"
#include "main-endpoint.h"
#include "sandbox.h"
#include "spawn-exec.h"
#include "spawn.h"
#include "util.h"

typedef struct spawn_child {
        ipcbus_main *main;            /* weak: its list of children holds us */
        connection *conn;             /* carries spawn_pid and spawn_pidfd */
        sd_event_source *exit_source; /* the pidfd: readable once the child exited */
        GList link;                   /* in main->spawned */
} spawn_child;

DEFINE_CLEANUP(char **, g_strfreev)

static int take_fd(int *fd) {
        int taken = *fd;

        *fd = -1;
        return taken;
}

/* Through syscall(): glibc wraps these only since 2.36. */
static int pidfd_open_(pid_t pid) {
        return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_send_signal_(int pidfd, int sig) {
        return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Return: 1 and the child's exit in @ret_info; 0 if it still runs (only
 * without @block); -ECHILD if someone else reaped it (SIGCHLD ignored). */
static int pidfd_reap(int pidfd, bool block, siginfo_t *ret_info) {
        siginfo_t si = {};

        while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | (block ? 0 : WNOHANG)) < 0)
                if (errno != EINTR)
                        return -errno;
        if (si.si_pid == 0)
                return 0;
        *ret_info = si;
        return 1;
}

/* SIGKILL cannot be caught, so the wait that follows is bounded. Through
 * the pidfd, a recycled pid is never signalled. */
static void pidfd_kill_and_reap(int pidfd) {
        siginfo_t si;

        (void)pidfd_send_signal_(pidfd, SIGKILL);
        (void)pidfd_reap(pidfd, true, &si);
}

static void spawn_log_exit(ipcbus_main *m, pid_t pid, int r, const siginfo_t *si) {
        if (r < 0)
                log_emit(&m->log, LOG_WARNING, "Spawned renderer %d exited, reaped elsewhere (%s)", (int)pid,
                         g_strerror(-r));
        else if (si->si_code == CLD_EXITED)
                log_emit(&m->log, si->si_status == 0 ? LOG_DEBUG : LOG_WARNING,
                         "Spawned renderer %d exited with status %d", (int)pid, si->si_status);
        else
                log_emit(&m->log, LOG_WARNING, "Spawned renderer %d was killed by signal %d", (int)pid,
                         si->si_status);
}

static void spawn_child_free(spawn_child *child) {
        g_queue_unlink(&child->main->spawned, &child->link);
        /* Before the connection, which owns the pidfd the source watches. */
        sd_event_source_disable_unref(child->exit_source);
        connection_unref(child->conn);
        g_free(child);
}

static int spawn_on_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        spawn_child *child = userdata;
        ipcbus_main *m = child->main;
        _cleanup_(ipcbus_main_unrefp) ipcbus_main *hold = ipcbus_main_ref(m);
        connection *c = child->conn;
        siginfo_t si;
        int r;

        r = pidfd_reap(fd, false, &si);
        if (r == 0)
                return 0;
        spawn_log_exit(m, c->spawn_pid, r, &si);

        /* What the renderer sent before it exited is in our socket: dispatch
         * it before the detach, as when its connection closes; its close is
         * dispatched too, and is the detach. */
        while (c->owner == m && connection_is_open(c))
                if (sd_bus_process(c->bus, NULL) <= 0)
                        break;
        /* Without that close (something it started holds the socket), the
         * exit alone is the detach. Nothing happens if the close came first. */
        main_drop_connection(m, c);
        spawn_child_free(child);
        return 0;
}

void spawn_main_freed(ipcbus_main *m) {
        spawn_child *child;

        while ((child = g_queue_peek_head(&m->spawned))) {
                pidfd_kill_and_reap(child->conn->spawn_pidfd);
                spawn_child_free(child);
        }
}

static int find_program(const char *name, char **ret_path) {
        char *path = strchr(name, '/') ? g_strdup(name) : g_find_program_in_path(name);

        if (!path)
                return -ENOENT;
        if (access(path, X_OK) < 0) {
                int r = -errno;

                g_free(path);
                return r;
        }
        *ret_path = path;
        return 0;
}

/* Blocks until the child executed its program (the pipe's write end closes
 * on exec) or failed before (it writes errno). Return: 0; the child's -errno. */
static int wait_exec(int fd) {
        int error;
        ssize_t n;

        do
                n = read(fd, &error, sizeof(error));
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n == 0)
                return 0;
        return n == sizeof(error) && error > 0 ? -error : -EIO;
}

/* Fork and execute, with a pidfd for the child. Return: 0; -errno. */
static int spawn_process(const char *path, char *const argv[], char *const envp[], int child_fd, pid_t *ret_pid,
                         int *ret_pidfd) {
        _cleanup_(closep) int null_fd = -1, error_read = -1, error_write = -1, pidfd = -1;
        spawn_exec e;
        pid_t pid;
        int fds[2], r;

        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd < 0)
                return -errno;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        error_read = fds[0];
        error_write = fds[1];

        /* Prepared here: after fork() the child may not allocate. */
        e = (spawn_exec){
                .path = path,
                .argv = argv,
                .envp = envp,
                .direct_fd = child_fd,
                .null_fd = null_fd,
                .error_fd = error_write,
                .parent = getpid(),
        };
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                spawn_exec_child(&e);

        /* Only the child holds the write end now: its exec is our EOF. */
        (void)close(take_fd(&error_write));

        /* Nobody has waited for the child, so the pid is still its own
         * (unless the application reaps what it did not start: SIGCHLD
         * ignored, or waitpid(-1)). */
        pidfd = pidfd_open_(pid);
        if (pidfd < 0) {
                r = -errno;
                (void)kill(pid, SIGKILL);
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                return r;
        }
        r = wait_exec(error_read);
        if (r < 0) {
                siginfo_t si;

                (void)pidfd_reap(pidfd, true, &si); /* it is on its way out: _exit(127) */
                return r;
        }
        *ret_pid = pid;
        *ret_pidfd = take_fd(&pidfd);
        return 0;
}

/* The child's environment: the main's, with its end of the socketpair
 * named, and under the sandbox without bus addresses. */
static char **spawn_environ(char **envp, bool sandbox) {
        char number[16];

        if (sandbox)
                sandbox_filter_environ(&envp);
        (void)snprintf(number, sizeof(number), "%d", SPAWN_DIRECT_FD);
        return g_environ_setenv(envp, IPCBUS_DIRECT_FD_ENV, number, TRUE);
}

/* Watch @c's process from now on; the main's list of children holds it. */
static int spawn_watch(ipcbus_main *m, connection *c, spawn_child **ret_child) {
        spawn_child *child = g_new0(spawn_child, 1);
        int r;

        child->main = m;
        child->conn = connection_ref(c);
        child->link.data = child;
        g_queue_push_tail_link(&m->spawned, &child->link);

        /* A pidfd polls readable once the process exited: no SIGCHLD, which
         * the application may not have blocked for sd-event. */
        r = sd_event_add_io(m->event, &child->exit_source, c->spawn_pidfd, EPOLLIN, spawn_on_exit, child);
        if (r >= 0)
                r = sd_event_source_set_priority(child->exit_source, m->priority);
        if (r >= 0)
                (void)sd_event_source_set_description(child->exit_source, "ipcbus-spawned-renderer");
        if (r < 0) {
                spawn_child_free(child);
                return r;
        }
        *ret_child = child;
        return 0;
}

int ipcbus_main_spawn(ipcbus_main *m, char *const argv[], uint64_t flags, ipcbus_web_contents **ret_web_contents) {
        _cleanup_(ipcbus_main_unrefp) ipcbus_main *hold = NULL;
        _cleanup_(connection_unrefp) connection *c = NULL;
        _cleanup_(freep) char *program = NULL, *bwrap = NULL;
        _cleanup_(g_strfreevp) char **envp = NULL, **sandbox_argv = NULL;
        _cleanup_(closep) int main_fd = -1, child_fd = -1, pidfd = -1;
        bool sandbox = flags & IPCBUS_SPAWN_SANDBOX;
        spawn_child *child;
        pid_t pid = 0;
        int fds[2], r;

        if (!m || !argv || !argv[0] || !argv[0][0] || (flags & ~IPCBUS_SPAWN_SANDBOX))
                return -EINVAL;
        r = find_program(argv[0], &program);
        if (r < 0)
                return r;
        envp = g_get_environ();
        if (sandbox) {
                r = sandbox_find_bwrap(&bwrap);
                if (r < 0) {
                        log_emit(&m->log, LOG_ERR, "Cannot sandbox %s: no bwrap", argv[0]);
                        return r;
                }
                /* From the main's own environment: the bus sockets it names. */
                r = sandbox_build_argv(bwrap, program, argv, envp, &sandbox_argv);
                if (r < 0)
                        return r;
        }
        envp = spawn_environ(TAKE_PTR(envp), sandbox);
        if (!m->event) {
                r = ipcbus_main_attach_event(m, NULL, 0);
                if (r < 0)
                        return r;
        }

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
                return -errno;
        main_fd = fds[0];
        child_fd = fds[1];
        r = spawn_process(sandbox ? bwrap : program, sandbox ? sandbox_argv : argv, envp, child_fd, &pid, &pidfd);
        if (r < 0) {
                log_emit(&m->log, LOG_ERR, "Cannot start %s: %s", sandbox ? bwrap : program, g_strerror(-r));
                return r;
        }
        /* Only the child holds its end now: its exit closes the connection. */
        (void)close(take_fd(&child_fd));

        r = connection_open_direct(&c, take_fd(&main_fd), true);
        if (r < 0) {
                pidfd_kill_and_reap(pidfd);
                return r;
        }
        c->spawn_pid = pid;
        c->spawn_pidfd = take_fd(&pidfd);
        r = spawn_watch(m, c, &child);
        if (r < 0) {
                pidfd_kill_and_reap(c->spawn_pidfd);
                return r;
        }
        log_emit(&m->log, LOG_DEBUG, "Spawned renderer %d: %s%s", (int)pid, sandbox ? "sandboxed " : "", program);

        /* on_attached callbacks run from here and may drop the caller's
         * reference to the main. */
        hold = ipcbus_main_ref(m);
        r = main_add_direct(m, c, ret_web_contents);
        if (r < 0) {
                /* The connection was dropped; the renderer goes with it. */
                pidfd_kill_and_reap(c->spawn_pidfd);
                spawn_child_free(child);
                return r;
        }
        return 0;
}
