/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Child processes of the self-test: the private dbus-daemon and the demo
 * main. They die with us (PR_SET_PDEATHSIG), and we reap them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "demo.h"

/* After fork(): only async-signal-safe calls until exec. */
static void child_setup_and_exec(char *const argv[], int stdout_fd, int stderr_fd, int keep_fd,
                                 pid_t parent) {
        sigset_t empty;

        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
                _exit(127);
        /* The parent died before prctl(): nobody would stop us. */
        if (getppid() != parent)
                _exit(127);
        /* Signal masks survive exec: give the child a clean one. */
        sigemptyset(&empty);
        (void)sigprocmask(SIG_SETMASK, &empty, NULL);

        if (stdout_fd < 0)
                stdout_fd = STDERR_FILENO;
        if (stdout_fd == STDOUT_FILENO) {
                if (fcntl(STDOUT_FILENO, F_SETFD, 0) < 0)
                        _exit(127);
        } else if (dup2(stdout_fd, STDOUT_FILENO) < 0) /* dup2() clears O_CLOEXEC on the copy */
                _exit(127);
        if (stderr_fd >= 0 && dup2(stderr_fd, STDERR_FILENO) < 0)
                _exit(127);
        if (keep_fd >= 0 && fcntl(keep_fd, F_SETFD, 0) < 0)
                _exit(127);

        if (strchr(argv[0], '/'))
                execv(argv[0], argv);
        else
                execvp(argv[0], argv);
        _exit(127);
}

int demo_spawn(char *const argv[], int stdout_fd, int stderr_fd, int keep_fd, pid_t *ret_pid) {
        pid_t parent = getpid(), pid;

        if (!argv || !argv[0] || !ret_pid)
                return -EINVAL;
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                child_setup_and_exec(argv, stdout_fd, stderr_fd, keep_fd, parent);
        *ret_pid = pid;
        return 0;
}

int demo_terminate(pid_t pid, int *ret_status) {
        int status;

        if (pid <= 0)
                return -EINVAL;
        if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
                return -errno;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (ret_status)
                *ret_status = status;
        return 0;
}

char *demo_self_exe(void) {
        char buf[PATH_MAX];
        ssize_t n;

        /* The resolved path rather than /proc/self/exe itself: what a tool
         * such as valgrind reports as our executable is what we exec. */
        n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
        if (n <= 0 || (size_t)n >= sizeof(buf) - 1)
                return g_strdup("/proc/self/exe");
        buf[n] = 0;
        if (access(buf, X_OK) < 0)
                return g_strdup("/proc/self/exe");
        return g_strdup(buf);
}

/* ---- a child whose lines we read ------------------------------------------ */

static void child_take_lines(demo_child *c) {
        char *nl;

        while ((nl = memchr(c->partial->str, '\n', c->partial->len))) {
                size_t n = (size_t)(nl - c->partial->str);
                char *line = g_strndup(c->partial->str, n);

                if (c->echo_prefix)
                        fprintf(stderr, "%s: %s\n", c->echo_prefix, line);
                g_ptr_array_add(c->lines, line);
                g_string_erase(c->partial, 0, (gssize)n + 1);
        }
}

static int on_child_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        demo_child *c = userdata;
        char buf[4096];

        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n <= 0) {
                        /* EOF (or an error): the child is gone or closed stdout. */
                        c->eof = true;
                        c->io = sd_event_source_disable_unref(c->io);
                        break;
                }
                g_string_append_len(c->partial, buf, n);
        }
        child_take_lines(c);
        return 0;
}

int demo_child_spawn(demo_child **ret, sd_event *event, char *const argv[]) {
        _cleanup_(demo_child_freep) demo_child *c = NULL;
        _cleanup_(demo_closep) int write_end = -1;
        int fds[2], r;

        c = g_new0(demo_child, 1);
        c->fd = -1;
        c->partial = g_string_new(NULL);
        c->lines = g_ptr_array_new_with_free_func(g_free);
        if (demo_debug())
                c->echo_prefix = "ipcbus-demo (main's stdout)";

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        c->fd = fds[0];
        write_end = fds[1];
        if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0)
                return -errno;

        r = demo_spawn(argv, write_end, -1, -1, &c->pid);
        if (r < 0)
                return r;
        /* Only the child holds the write end now: its exit is our EOF. */
        (void)close(write_end);
        write_end = -1;

        r = sd_event_add_io(event, &c->io, c->fd, EPOLLIN, on_child_output, c);
        if (r < 0)
                return r;
        *ret = DEMO_TAKE_PTR(c);
        return 0;
}

int demo_child_find_line(demo_child *c, unsigned from, const char *line) {
        for (unsigned i = from; i < c->lines->len; i++)
                if (g_str_equal(c->lines->pdata[i], line))
                        return (int)i;
        return -1;
}

int demo_child_stop(demo_child *c, int *ret_status) {
        int r;

        if (c->pid <= 0)
                return -ECHILD;
        r = demo_terminate(c->pid, ret_status);
        if (r < 0)
                return r;
        c->pid = 0;
        return 0;
}

demo_child *demo_child_free(demo_child *c) {
        if (!c)
                return NULL;
        if (c->pid > 0) {
                (void)kill(c->pid, SIGKILL);
                while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        sd_event_source_disable_unref(c->io);
        if (c->fd >= 0)
                (void)close(c->fd);
        g_string_free(c->partial, TRUE);
        g_ptr_array_unref(c->lines);
        g_free(c);
        return NULL;
}
