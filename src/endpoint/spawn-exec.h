/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The child's side of ipcbus_main_spawn(): from fork() to execve(). */

#include <sys/types.h>

/* The descriptor number the renderer's end of the socketpair gets. */
#define SPAWN_DIRECT_FD 3

typedef struct spawn_exec {
        const char *path;   /* what to execute (absolute, or relative to the cwd) */
        char *const *argv;
        char *const *envp;  /* IPCBUS_DIRECT_FD already set */
        int direct_fd;      /* becomes SPAWN_DIRECT_FD */
        int null_fd;        /* /dev/null, becomes stdin */
        int error_fd;       /* close-on-exec pipe: gets errno if anything fails */
        pid_t parent;       /* the spawner's pid, for the PDEATHSIG race */
} spawn_exec;

/* Runs in the child right after fork(): only async-signal-safe calls, no
 * allocation, nothing of the parent's sd-bus, sd-event or GLib state. Sets
 * up the child's descriptors, signals and parent-death signal, and executes
 * @e->path. On any failure it writes errno to @e->error_fd and exits 127. */
_Noreturn void spawn_exec_child(const spawn_exec *e);
