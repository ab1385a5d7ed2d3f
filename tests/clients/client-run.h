/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Run a command-line D-Bus client (busctl, gdbus, dbus-send, python3) to its
 * end and keep what it printed on stdout and stderr apart, with its exit
 * status: the three things a user of that client sees. test_process reads
 * only a child's stdout, line by line, for long-running children; this is
 * the one-shot counterpart.
 */

#include <stdint.h>

typedef struct client_result {
        int status; /* wait status: WIFEXITED(), WEXITSTATUS(), ... */
        char *out;  /* everything written to stdout, NUL-terminated */
        char *err;  /* everything written to stderr, NUL-terminated */
} client_result;

/**
 * client_run - run @argv to completion
 * @ret: filled on success; release with client_result_clear()
 * @argv: the command and its arguments, NULL-terminated; looked up in $PATH
 * @timeout_usec: how long the client may run; then it is killed (SIGKILL)
 *
 * The client's stdin is /dev/null; it dies with us (PR_SET_PDEATHSIG). The
 * command line and both outputs are echoed to our stderr, so a failing
 * test's log shows what each client said. An exec failure shows as exit
 * status 127, as in a shell.
 * Return: 0; -ETIMEDOUT (the client was killed and reaped); -ENOMEM;
 * -errno from pipe2(), fork(), poll(), read() or waitpid().
 */
int client_run(client_result *ret, char *const argv[], uint64_t timeout_usec);

/* client_run() of a NULL-terminated argument list of at most 63 arguments
 * (-E2BIG past that), for calls written out in place. */
int client_run_args(client_result *ret, uint64_t timeout_usec, const char *arg0, ...)
        __attribute__((sentinel));

/* The first of python3 (from $PATH) and /usr/bin/python3 that can import
 * @module, or NULL: the python3 in $PATH may be another installation
 * (pyenv, venv) than the distribution's, which has python3-dbus. */
const char *client_python_with(const char *module, uint64_t timeout_usec);

/* Frees the outputs; the result may be zero-initialized. */
void client_result_clear(client_result *r);
