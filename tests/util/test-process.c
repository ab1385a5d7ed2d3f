/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test-process.h"

struct test_process {
        pid_t pid; /* 0 once reaped */
        int status;
        int fd;    /* read end of the child's stdout, -1 after EOF */
        char *buf; /* bytes read and not yet consumed as lines */
        size_t len;
        size_t size;
        char *line; /* the last matched line */
};

static const int crash_signals[] = { SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGSYS };

_Noreturn static void child_run(test_process *p, int fd, pid_t parent, test_process_fn fn, void *userdata,
                                char *const argv[]) {
        int r;

        /* The parent's half-built object; freed so leak checkers in the child see no loss. */
        close(p->fd);
        free(p);

        /* Checking the parent after the prctl() closes the race with a parent that died first. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(EXIT_FAILURE);
        if (dup2(fd, STDOUT_FILENO) < 0)
                _exit(EXIT_FAILURE);
        close(fd);

        if (argv) {
                execvp(argv[0], argv);
                fprintf(stderr, "test-process: cannot run %s: %m\n", argv[0]);
                _exit(127);
        }

        /*
         * The child is a copy of the test runner: a failed cmocka assertion or a
         * crash caught by cmocka's signal handlers would longjmp() back into it and
         * run the remaining tests here too. Make both end the child instead.
         */
        setenv("CMOCKA_TEST_ABORT", "1", 1);
        (void)setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
        for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
                signal(crash_signals[i], SIG_DFL);

        setvbuf(stdout, NULL, _IOLBF, 0);
        r = fn(userdata);
        fflush(stdout);
        _exit(r);
}

static int spawn(test_process **ret, test_process_fn fn, void *userdata, char *const argv[]) {
        _cleanup_(test_process_freep) test_process *p = NULL;
        pid_t parent = getpid();
        int pipefd[2];

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->fd = -1;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        p->fd = pipefd[0];
        /* Only our end polls: the child writes blocking. */
        if (fcntl(p->fd, F_SETFL, O_NONBLOCK) < 0) {
                close(pipefd[1]);
                return -errno;
        }

        /* Else output buffered here would be written again by the child. */
        fflush(NULL);

        p->pid = fork();
        if (p->pid < 0) {
                int r = -errno;

                p->pid = 0;
                close(pipefd[1]);
                return r;
        }
        if (p->pid == 0)
                child_run(p, pipefd[1], parent, fn, userdata, argv);

        /* Without our copy of the write end, the child's exit shows as EOF. */
        close(pipefd[1]);

        *ret = p;
        p = NULL;
        return 0;
}

int test_process_spawn(test_process **ret, test_process_fn fn, void *userdata) {
        if (!ret || !fn)
                return -EINVAL;
        return spawn(ret, fn, userdata, NULL);
}

int test_process_spawn_command(test_process **ret, char *const argv[]) {
        if (!ret || !argv || !argv[0])
                return -EINVAL;
        return spawn(ret, NULL, NULL, argv);
}

pid_t test_process_get_pid(test_process *p) {
        return p->pid;
}

const char *test_process_get_line(test_process *p) {
        return p->line;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * TEST_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* Reads what is there, waiting until @deadline. Return: 0; -ETIMEDOUT; -errno. */
static int fill(test_process *p, uint64_t deadline) {
        struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
        uint64_t now = now_usec();
        uint64_t msec = now >= deadline ? 0 : (deadline - now + 999) / 1000;
        ssize_t n;
        int r;

        if (p->size - p->len < 4096) {
                size_t size = p->size ? p->size * 2 : 8192;
                char *buf = realloc(p->buf, size);

                if (!buf)
                        return -ENOMEM;
                p->buf = buf;
                p->size = size;
        }

        r = poll(&pfd, 1, msec > INT_MAX ? INT_MAX : (int)msec);
        if (r < 0)
                return errno == EINTR ? 0 : -errno;
        if (r == 0)
                return -ETIMEDOUT;

        n = read(p->fd, p->buf + p->len, p->size - p->len);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0) {
                close(p->fd);
                p->fd = -1;
                /* An unterminated last line still counts as a line. */
                if (p->len > 0 && p->buf[p->len - 1] != '\n')
                        p->buf[p->len++] = '\n';
                return 0;
        }
        p->len += (size_t)n;
        return 0;
}

uint64_t test_deadline_usec(uint64_t usec) {
        const char *e = getenv("IPCBUS_TEST_DEADLINE_SCALE");
        unsigned long scale = e ? strtoul(e, NULL, 10) : 1;

        if (scale < 1)
                scale = 1;
        return usec > UINT64_MAX / scale ? UINT64_MAX : usec * scale;
}

/* The next line for which @match(line, @pattern) holds, as test_process_wait_line(). */
static int wait_line(test_process *p, bool (*match)(const char *line, const char *pattern), const char *pattern,
                     uint64_t timeout_usec) {
        uint64_t start = now_usec();
        uint64_t deadline;
        int r;

        timeout_usec = test_deadline_usec(timeout_usec);
        deadline = timeout_usec > UINT64_MAX - start ? UINT64_MAX : start + timeout_usec;
        if (!p || !pattern)
                return -EINVAL;

        for (;;) {
                char *nl;

                while (p->len > 0 && (nl = memchr(p->buf, '\n', p->len))) {
                        size_t n = (size_t)(nl - p->buf);
                        char *line = strndup(p->buf, n);

                        if (!line)
                                return -ENOMEM;
                        p->len -= n + 1;
                        memmove(p->buf, nl + 1, p->len);

                        fprintf(stderr, "[child %d] %s\n", (int)p->pid, line);
                        if (match(line, pattern)) {
                                free(p->line);
                                p->line = line;
                                return 0;
                        }
                        free(line);
                }
                if (p->fd < 0)
                        return -EPIPE;
                r = fill(p, deadline);
                if (r < 0)
                        return r;
        }
}

static bool has_prefix(const char *line, const char *prefix) {
        return strncmp(line, prefix, strlen(prefix)) == 0;
}

static bool contains(const char *line, const char *needle) {
        return strstr(line, needle) != NULL;
}

int test_process_wait_line(test_process *p, const char *prefix, uint64_t timeout_usec) {
        return wait_line(p, has_prefix, prefix, timeout_usec);
}

int test_process_wait_line_containing(test_process *p, const char *needle, uint64_t timeout_usec) {
        return wait_line(p, contains, needle, timeout_usec);
}

int test_process_kill(test_process *p, int sig) {
        if (!p)
                return -EINVAL;
        if (p->pid == 0)
                return -ESRCH;
        return kill(p->pid, sig) < 0 ? -errno : 0;
}

int test_process_wait_exit(test_process *p, int *ret_status) {
        if (!p)
                return -EINVAL;
        while (p->pid > 0) {
                if (waitpid(p->pid, &p->status, 0) == p->pid)
                        p->pid = 0;
                else if (errno != EINTR)
                        return -errno;
        }
        if (ret_status)
                *ret_status = p->status;
        return 0;
}

test_process *test_process_free(test_process *p) {
        if (!p)
                return NULL;
        if (p->pid > 0) {
                (void)kill(p->pid, SIGKILL);
                (void)test_process_wait_exit(p, NULL);
        }
        if (p->fd >= 0)
                close(p->fd);
        free(p->buf);
        free(p->line);
        free(p);
        return NULL;
}

void test_process_freep(test_process **p) {
        test_process_free(*p);
}

void test_say(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vprintf(format, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

int test_count_mappings(pid_t pid, const char *needle) {
        char path[64], line[512];
        int n = 0;
        FILE *file;

        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        file = fopen(path, "re");
        if (!file)
                return -errno;
        while (fgets(line, sizeof(line), file))
                if (strstr(line, needle))
                        n++;
        fclose(file);
        return n;
}
