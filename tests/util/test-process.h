/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Child processes for tests: a function run in a forked copy of the test, or
 * a command. The child's stdout is a pipe the test reads line by line, so a
 * test waits for the line a child prints when it is ready instead of
 * sleeping. Every child gets PR_SET_PDEATHSIG, so none outlives a crashed test.
 *
 * A forked child must not use sd-bus connections or GLib main contexts of the
 * parent (sd-bus refuses with -ECHILD): it opens its own. A failed cmocka
 * assertion or a crash in the child aborts the child (CMOCKA_TEST_ABORT=1,
 * default crash signal handlers) rather than jumping back into the copy of
 * the test runner; the parent sees it in the exit status.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#ifndef _cleanup_
#define _cleanup_(f) __attribute__((cleanup(f)))
#endif

#define TEST_USEC_PER_SEC UINT64_C(1000000)
#define TEST_USEC_PER_MSEC UINT64_C(1000)

typedef struct test_process test_process;

/* Runs in the child; the return value is the child's exit status (0..255). */
typedef int (*test_process_fn)(void *userdata);

/**
 * test_process_spawn - run @fn in a forked child
 * @ret: the new process
 * @fn: what the child runs; its stdout is line-buffered and goes to the pipe
 * @userdata: passed to @fn (the child's copy of the parent's memory)
 *
 * The child leaves with _exit(), so atexit handlers and leak checkers of the
 * test do not run twice.
 * Return: 0; -ENOMEM; -errno from pipe2() or fork().
 */
int test_process_spawn(test_process **ret, test_process_fn fn, void *userdata);

/**
 * test_process_spawn_command - run a command (fork and execvp)
 * @ret: the new process
 * @argv: the command and its arguments, NULL-terminated; looked up in $PATH
 *
 * An exec failure shows as exit status 127, as in a shell.
 * Return: 0; -ENOMEM; -errno from pipe2() or fork().
 */
int test_process_spawn_command(test_process **ret, char *const argv[]);

/* Return: the child's pid, 0 once it has been reaped. */
pid_t test_process_get_pid(test_process *p);

/* @usec scaled by $IPCBUS_TEST_DEADLINE_SCALE (a whole number, default 1):
 * .ci/run raises it for the valgrind stage. Only for deadlines, which bound
 * how long a test waits for an event before failing; never for checks that
 * something happened fast. */
uint64_t test_deadline_usec(uint64_t usec);

/**
 * test_process_wait_line - read the child's stdout until a line starts with @prefix
 * @prefix: what the wanted line starts with ("" matches any line)
 * @timeout_usec: how long to wait at most, from now (through test_deadline_usec())
 *
 * Lines before the match are consumed; every line read is echoed to stderr
 * with the child's pid, so a failing test's log shows what the child said.
 * The matched line stays available through test_process_get_line().
 * Return: 0; -ETIMEDOUT; -EPIPE if the child closed its stdout (usually: it
 * exited) without printing such a line; -ENOMEM; -errno from poll() or read().
 */
int test_process_wait_line(test_process *p, const char *prefix, uint64_t timeout_usec);

/**
 * test_process_wait_line_containing - like test_process_wait_line(), for a
 * line with @needle anywhere in it (a log line behind a timestamp)
 * Return: as test_process_wait_line().
 */
int test_process_wait_line_containing(test_process *p, const char *needle, uint64_t timeout_usec);

/* Return: the last line test_process_wait_line() matched, without newline, or NULL. */
const char *test_process_get_line(test_process *p);

/**
 * test_process_kill - send @sig to the child
 * Return: 0; -ESRCH if it has already been reaped; -errno from kill().
 */
int test_process_kill(test_process *p, int sig);

/**
 * test_process_wait_exit - wait for the child to end and reap it
 * @ret_status: optional; the wait status (WIFEXITED(), WEXITSTATUS(), ...)
 *
 * Blocks without a timeout: the test's own timeout covers a hanging child.
 * Calling it again returns the same status.
 * Return: 0; -errno from waitpid().
 */
int test_process_wait_exit(test_process *p, int *ret_status);

/* A line on stdout, flushed at once: what a child prints for the test to
 * wait on (test_process_wait_line()). */
void test_say(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* In a child's setup: on a negative errno, say what failed on stderr and
 * end the child with status 1. */
#define TEST_CHILD_CHECK(who, expr)                                                         \
        do {                                                                               \
                int _r = (expr);                                                           \
                if (_r < 0) {                                                              \
                        fprintf(stderr, "%s: %s: %s\n", (who), #expr, strerror(-_r));      \
                        return 1;                                                          \
                }                                                                          \
        } while (0)

/* How many lines of /proc/@pid/maps name @needle (mappings of a file
 * such as "memfd:ipcbus-ring"); -errno if they cannot be read. */
int test_count_mappings(pid_t pid, const char *needle);

/**
 * test_process_free - kill (SIGKILL) and reap the child if still running, free @p
 * Return: NULL.
 */
test_process *test_process_free(test_process *p);
void test_process_freep(test_process **p);
