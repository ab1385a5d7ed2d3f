/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "spawn-exec.h"

/* Above the three standard descriptors and SPAWN_DIRECT_FD, so that moving
 * one of ours into place never overwrites another of ours. */
#define SPAWN_FD_SCRATCH 10

_Noreturn static void fail(const spawn_exec *e, int error_fd) {
        int error = errno;

        /* A short write only loses the reason; the parent then sees exit 127. */
        (void)!write(error_fd >= 0 ? error_fd : e->error_fd, &error, sizeof(error));
        _exit(127);
}

/* Everything from @from up is closed at exec: descriptors the application
 * left without O_CLOEXEC must not reach a renderer, least of all a
 * sandboxed one. */
static int cloexec_from(int from) {
        struct rlimit rl;

        if (syscall(SYS_close_range, (unsigned)from, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
                return 0;
        /* Before Linux 5.11: one by one, up to the limit. */
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -1;
        for (rlim_t fd = (rlim_t)from; fd < rl.rlim_cur && fd <= INT_MAX; fd++)
                (void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
        return 0;
}

_Noreturn void spawn_exec_child(const spawn_exec *e) {
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t empty;
        int error_fd, direct_fd, null_fd;

        /* Ignored signals and the mask survive execve(): the renderer starts
         * with defaults, whatever the main's loop blocked or ignored. */
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void)sigaction(sig, &sa, NULL);
        sigemptyset(&empty);
        if (sigprocmask(SIG_SETMASK, &empty, NULL) < 0)
                fail(e, -1);

        /* A renderer without its main is of no use. Checking the parent
         * after prctl() closes the race with a parent that died first. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                fail(e, -1);
        if (getppid() != e->parent) {
                errno = ESRCH;
                fail(e, -1);
        }

        error_fd = fcntl(e->error_fd, F_DUPFD_CLOEXEC, SPAWN_FD_SCRATCH);
        if (error_fd < 0)
                fail(e, -1);
        direct_fd = fcntl(e->direct_fd, F_DUPFD_CLOEXEC, SPAWN_FD_SCRATCH);
        null_fd = fcntl(e->null_fd, F_DUPFD_CLOEXEC, SPAWN_FD_SCRATCH);
        if (direct_fd < 0 || null_fd < 0)
                fail(e, error_fd);
        /* dup2() leaves the copies without O_CLOEXEC: these are inherited. */
        if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(direct_fd, SPAWN_DIRECT_FD) < 0)
                fail(e, error_fd);
        if (cloexec_from(SPAWN_DIRECT_FD + 1) < 0)
                fail(e, error_fd);

        execve(e->path, e->argv, e->envp);
        fail(e, error_fd);
}
