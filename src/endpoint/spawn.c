/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ipcbus_main_spawn(): a renderer process started on a socketpair, served
 * as a direct connection, and handed to spawn-watch.c. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "main-endpoint.h"
#include "sandbox.h"
#include "spawn-exec.h"
#include "spawn.h"
#include "util.h"

bool spawn_test_no_pidfd;

DEFINE_CLEANUP(char **, g_strfreev)

static int take_fd(int *fd) {
        int taken = *fd;

        *fd = -1;
        return taken;
}

/* A pidfd for @pid in @ret_pidfd, or -1 where there are none (ENOSYS:
 * before Linux 5.3 or under valgrind before 3.20; EPERM: a seccomp
 * filter). Through syscall(): glibc wraps it only since 2.36.
 * Return: 0; -errno. */
static int pidfd_open_(pid_t pid, int *ret_pidfd) {
        int fd = -1;

        if (!spawn_test_no_pidfd) {
                fd = (int)syscall(SYS_pidfd_open, pid, 0);
                if (fd < 0 && errno != ENOSYS && errno != EPERM)
                        return -errno;
        }
        *ret_pidfd = fd < 0 ? -1 : fd;
        return 0;
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

/* Fork and execute, with a pidfd for the child where there are pidfds
 * (-1 otherwise). Return: 0; -errno. */
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
        r = pidfd_open_(pid, &pidfd);
        if (r < 0) {
                process_kill_and_reap(pid, -1);
                return r;
        }
        r = wait_exec(error_read);
        if (r < 0) {
                siginfo_t si;

                (void)process_reap(pid, pidfd, true, &si); /* it is on its way out: _exit(127) */
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

int ipcbus_main_spawn(ipcbus_main *m, char *const argv[], uint64_t flags, ipcbus_web_contents **ret_web_contents) {
        _unused_ _cleanup_(ipcbus_main_unrefp) ipcbus_main *hold = NULL;
        _cleanup_(connection_unrefp) connection *c = NULL;
        _cleanup_(freep) char *program = NULL, *bwrap = NULL;
        _cleanup_(g_strfreevp) char **envp = NULL, **sandbox_argv = NULL;
        _cleanup_(closep) int main_fd = -1, child_fd = -1, pidfd = -1;
        bool sandbox = flags & IPCBUS_SPAWN_SANDBOX;
        pid_t pid = 0;
        int fds[2], r;

        assert_return(m, NULL, -EINVAL);
        assert_return(argv, &m->ep.log, -EINVAL);
        assert_return(argv[0], &m->ep.log, -EINVAL);
        if (!argv[0][0] || (flags & ~IPCBUS_SPAWN_SANDBOX))
                return -EINVAL;
        r = find_program(argv[0], &program);
        if (r < 0)
                return r;
        envp = g_get_environ();
        if (sandbox) {
                r = sandbox_find_bwrap(&bwrap);
                if (r < 0) {
                        log_emit(&m->ep.log, LOG_ERR, "Cannot sandbox %s: no bwrap", argv[0]);
                        return r;
                }
                /* From the main's own environment: the bus sockets it names. */
                r = sandbox_build_argv(bwrap, program, argv, envp, &sandbox_argv);
                if (r < 0)
                        return r;
        }
        envp = spawn_environ(TAKE_PTR(envp), sandbox);
        if (!m->ep.event) {
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
                log_emit(&m->ep.log, LOG_ERR, "Cannot start %s: %s", sandbox ? bwrap : program, g_strerror(-r));
                return r;
        }
        /* Only the child holds its end now: its exit closes the connection. */
        (void)close(take_fd(&child_fd));

        r = connection_open_direct(&c, take_fd(&main_fd), true);
        if (r < 0) {
                process_kill_and_reap(pid, pidfd);
                return r;
        }
        c->spawn_pid = pid;
        c->spawn_pidfd = take_fd(&pidfd);
        r = spawn_watch(m, c);
        if (r < 0) {
                process_kill_and_reap(pid, c->spawn_pidfd);
                return r;
        }
        log_emit(&m->ep.log, LOG_DEBUG, "Spawned renderer %d: %s%s%s", (int)pid, sandbox ? "sandboxed " : "", program,
                 c->spawn_pidfd < 0 ? " (no pidfd: its exit is seen when its connection closes)" : "");

        /* on_attached callbacks run from here and may drop the caller's
         * reference to the main. */
        hold = ipcbus_main_ref(m);
        r = main_add_direct(m, c, ret_web_contents);
        if (r < 0) {
                /* The connection was dropped; the renderer goes with it. */
                spawn_watch_kill(m, c);
                return r;
        }
        return 0;
}
