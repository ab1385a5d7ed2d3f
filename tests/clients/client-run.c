/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client-run.h"

typedef struct buffer {
        char *data;
        size_t len;
        size_t size;
} buffer;

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * UINT64_C(1000000) + (uint64_t)ts.tv_nsec / 1000;
}

_Noreturn static void child_exec(char *const argv[], int out, int err, pid_t parent) {
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

        /* Checking the parent after the prctl() closes the race with a parent that died first. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(EXIT_FAILURE);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
            dup2(err, STDERR_FILENO) < 0)
                _exit(EXIT_FAILURE);
        execvp(argv[0], argv);
        dprintf(STDERR_FILENO, "client-run: cannot run %s: %m\n", argv[0]);
        _exit(127);
}

/* Read what @fd has into @b. Return: 1 at EOF; 0; -errno. */
static int drain(int fd, buffer *b) {
        ssize_t n;

        if (b->size - b->len < 4096) {
                size_t size = b->size ? b->size * 2 : 8192;
                char *data = realloc(b->data, size);

                if (!data)
                        return -ENOMEM;
                b->data = data;
                b->size = size;
        }
        /* One byte stays free for the terminating NUL. */
        n = read(fd, b->data + b->len, b->size - b->len - 1);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0)
                return 1;
        b->len += (size_t)n;
        return 0;
}

/* Read both pipes until both are at EOF (the client and anything it forked closed them). */
static int collect(int fds[2], buffer bufs[2], uint64_t deadline) {
        int r;

        while (fds[0] >= 0 || fds[1] >= 0) {
                struct pollfd pfd[2] = {
                        { .fd = fds[0], .events = POLLIN },
                        { .fd = fds[1], .events = POLLIN },
                };
                uint64_t now = now_usec();
                uint64_t msec = now >= deadline ? 0 : (deadline - now + 999) / 1000;

                r = poll(pfd, 2, msec > INT_MAX ? INT_MAX : (int)msec);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                for (size_t i = 0; i < 2; i++) {
                        if (fds[i] < 0 || pfd[i].revents == 0)
                                continue;
                        r = drain(fds[i], &bufs[i]);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                close(fds[i]);
                                fds[i] = -1;
                        }
                }
        }
        return 0;
}

static int reap(pid_t pid, int *ret_status) {
        while (waitpid(pid, ret_status, 0) != pid)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

static char *take_string(buffer *b) {
        char *s = b->data ? b->data : strdup("");

        if (b->data)
                b->data[b->len] = 0;
        b->data = NULL;
        return s;
}

static void echo(char *const argv[], const client_result *r) {
        fprintf(stderr, "[client] $");
        for (size_t i = 0; argv[i]; i++)
                fprintf(stderr, " %s", argv[i]);
        fprintf(stderr, "\n[client] status: %s %d\n[client] stdout: %s\n[client] stderr: %s\n",
                WIFEXITED(r->status) ? "exit" : "signal",
                WIFEXITED(r->status) ? WEXITSTATUS(r->status) : WTERMSIG(r->status), r->out, r->err);
}

int client_run(client_result *ret, char *const argv[], uint64_t timeout_usec) {
        uint64_t start = now_usec();
        uint64_t deadline = timeout_usec > UINT64_MAX - start ? UINT64_MAX : start + timeout_usec;
        int out[2] = { -1, -1 }, err[2] = { -1, -1 }, fds[2];
        buffer bufs[2] = {};
        client_result r = {};
        pid_t parent = getpid(), pid;
        int k;

        if (!ret || !argv || !argv[0])
                return -EINVAL;
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
                k = -errno;
                if (out[0] >= 0) {
                        close(out[0]);
                        close(out[1]);
                }
                return k;
        }

        /* Else output buffered here would be written again by the child. */
        fflush(NULL);
        pid = fork();
        if (pid == 0)
                child_exec(argv, out[1], err[1], parent);
        k = pid < 0 ? -errno : 0;
        /* Without our copies of the write ends, the client's exit shows as EOF. */
        close(out[1]);
        close(err[1]);
        fds[0] = out[0];
        fds[1] = err[0];
        if (k == 0)
                k = collect(fds, bufs, deadline);
        for (size_t i = 0; i < 2; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        if (pid > 0) {
                int q;

                if (k < 0)
                        (void)kill(pid, SIGKILL);
                q = reap(pid, &r.status);
                if (q < 0 && k == 0)
                        k = q;
        }
        r.out = take_string(&bufs[0]);
        r.err = take_string(&bufs[1]);
        if (k == 0 && (!r.out || !r.err))
                k = -ENOMEM;
        if (k < 0) {
                if (pid > 0)
                        fprintf(stderr, "[client] %s: %s\n", argv[0], strerror(-k));
                client_result_clear(&r);
                return k;
        }

        echo(argv, &r);
        *ret = r;
        return 0;
}

int client_run_args(client_result *ret, uint64_t timeout_usec, const char *arg0, ...) {
        char *argv[64];
        size_t n = 0;
        va_list ap;

        va_start(ap, arg0);
        for (const char *a = arg0; a; a = va_arg(ap, const char *)) {
                if (n == sizeof(argv) / sizeof(argv[0]) - 1) {
                        va_end(ap);
                        return -E2BIG;
                }
                argv[n++] = (char *)a;
        }
        va_end(ap);
        argv[n] = NULL;
        return client_run(ret, argv, timeout_usec);
}

const char *client_python_with(const char *module, uint64_t timeout_usec) {
        static const char *const candidates[] = { "python3", "/usr/bin/python3" };
        char import[128];

        if (snprintf(import, sizeof(import), "import %s", module) >= (int)sizeof(import))
                return NULL;
        for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
                client_result r;
                int ok;

                if (client_run_args(&r, timeout_usec, candidates[i], "-c", import, NULL) < 0)
                        continue;
                ok = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
                client_result_clear(&r);
                if (ok)
                        return candidates[i];
        }
        return NULL;
}

void client_result_clear(client_result *r) {
        free(r->out);
        free(r->err);
        r->out = r->err = NULL;
}
