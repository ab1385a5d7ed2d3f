/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Renderer processes a main started (ipcbus_main_spawn): spawn.c starts
 * them, spawn-watch.c watches their exit, which is a detach, and reaps
 * them. Each child's connection carries its pid and pidfd
 * (connection.spawn_pid, .spawn_pidfd).
 *
 * Without pidfds (Linux before 5.3, a seccomp filter that refuses
 * pidfd_open, valgrind before 3.20) spawn_pidfd is -1: the exit is then
 * noticed when the main drops the connection (the child closed it, mostly
 * by exiting), and the child is reaped by pid, retrying on a timer until
 * it has exited.
 */

#include <ipcbus/ipcbus.h>
#include <signal.h>

#include "connection.h"

/* Tests set this to run as where there are no pidfds. */
extern bool spawn_test_no_pidfd;

/* Watch the process of @c (a connection the main has not served yet),
 * from the main's list of children. Return: 0; sd-event errors. */
int spawn_watch(ipcbus_main *m, connection *c);
/* Stop watching the process of @c and kill (SIGKILL) and reap it: for a
 * spawn that failed after the child started. */
void spawn_watch_kill(ipcbus_main *m, connection *c);

/* The main dropped @c: without a pidfd, its process's exit is due; reap
 * it as soon as it comes. Nothing for other connections. */
void spawn_connection_dropped(ipcbus_main *m, connection *c);
/* The main is being freed, its connections dropped: kill (SIGKILL) every
 * child not reaped yet, reap it, and drop the watches. Blocks only until
 * the kernel has torn the children down. */
void spawn_main_freed(ipcbus_main *m);

/* Reap the process @pid (through @pidfd when >= 0).
 * Return: 1 and its exit in @ret_info; 0 if it still runs (only without
 * @block); -ECHILD if someone else reaped it (SIGCHLD ignored). */
int process_reap(pid_t pid, int pidfd, bool block, siginfo_t *ret_info);
/* SIGKILL, which cannot be caught, so the wait that follows is bounded. */
void process_kill_and_reap(pid_t pid, int pidfd);
