/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <ipcbus/ipcbus-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Renderer processes the main starts itself: Electron's BrowserWindow with
 * its renderer process, optionally with sandbox: true. The main keeps one
 * end of a socketpair as a direct connection (ipcbus_main_add_direct());
 * the child inherits the other end and finds it with
 * ipcbus_renderer_open_spawned(). No bus is involved, so a sandboxed
 * renderer needs no bus socket at all.
 */

/* The environment variable that gives a spawned renderer the number of its
 * end of the socketpair (decimal). */
#define IPCBUS_DIRECT_FD_ENV "IPCBUS_DIRECT_FD"

/* The environment variable that names the bwrap binary for
 * IPCBUS_SPAWN_SANDBOX (a path, or a name looked up in $PATH); "bwrap" when
 * unset. */
#define IPCBUS_BWRAP_ENV "IPCBUS_BWRAP"

/* Run the renderer inside a bubblewrap sandbox: no bus socket, no network,
 * a read-only file system, no capabilities (docs/api.md, "Spawned
 * and sandboxed renderers", lists every bwrap argument and why). */
#define IPCBUS_SPAWN_SANDBOX (UINT64_C(1) << 0)

/**
 * ipcbus_main_spawn - start a renderer process connected to this main
 * @argv: the program and its arguments, NULL-terminated; a program name
 *   without a slash is looked up in $PATH now, in this process
 * @flags: 0 or IPCBUS_SPAWN_SANDBOX
 * @ret_web_contents: optional; the renderer (new reference)
 *
 * Makes a socketpair, serves one end as a direct connection, and starts
 * @argv with the other end inherited as file descriptor 3, named by
 * $IPCBUS_DIRECT_FD. The child's stdin is /dev/null; its stdout and stderr
 * are this process's; no other descriptor is inherited. It gets the main's
 * environment (under the sandbox, without DBUS_SESSION_BUS_ADDRESS and
 * DBUS_SYSTEM_BUS_ADDRESS), a default signal mask and handlers, and
 * PR_SET_PDEATHSIG SIGKILL: it dies with the thread that spawned it.
 *
 * Returns once the program is executing. The renderer is attached from the
 * start, as with ipcbus_main_add_direct(): on_attached has fired when this
 * returns, and fires again if the renderer calls Attach to give its name.
 *
 * The main watches the process through a pidfd on its event loop, without
 * SIGCHLD. The child's exit is a detach: on_detached fires once (whether
 * the connection's close or the exit is noticed first), sends to the web
 * contents fail with -ENOTCONN, and the child is reaped; messages it sent
 * before it exited are dispatched first. Its exit status is reported
 * through the log function. Where there are no pidfds (Linux before 5.3,
 * a seccomp filter refusing pidfd_open, valgrind before 3.20), the exit is
 * noticed when the connection closes, and the child is reaped once it has
 * exited (looked for on a timer, from 1 ms up to every second). A main freed while spawned children run kills
 * them with SIGKILL and reaps them before ipcbus_main_unref() returns: a
 * renderer ends with its main, as in Electron.
 *
 * With IPCBUS_SPAWN_SANDBOX, the process started is bwrap
 * ($IPCBUS_BWRAP, else "bwrap" in $PATH), which runs @argv in the sandbox
 * (argv[0] there is the program's path) and exits when it does, with its
 * exit code, or 128 plus the signal that killed it. The process the main
 * watches and kills is bwrap; --die-with-parent takes the renderer with it.
 *
 * Return: 0; -EINVAL for a NULL @m or @argv, an empty program name or an
 * unknown flag; -ENOENT if the program is not found; -ENOPKG with
 * IPCBUS_SPAWN_SANDBOX when bwrap is not found (no process is started);
 * the errno of a failed execve() (-EACCES, -ENOEXEC, ...), after the child
 * is reaped; -errno from socketpair(), pipe2(), fork() or pidfd_open();
 * sd-bus's errors (-ENOMEM) setting up the direct connection.
 */
IPCBUS_EXPORT int ipcbus_main_spawn(ipcbus_main *m, char *const argv[], uint64_t flags,
                                    ipcbus_web_contents **ret_web_contents);

/**
 * ipcbus_renderer_open_spawned - connect to the main that spawned this process
 *
 * Reads $IPCBUS_DIRECT_FD, unsets it (so the renderer's own children do not
 * inherit it; call this before starting threads, as with unsetenv()),
 * makes the descriptor close-on-exec, and continues as
 * ipcbus_renderer_open_direct(), which takes it.
 *
 * Return: 0; -EINVAL for a NULL @r; -EBUSY if already connected; -ENXIO if
 * $IPCBUS_DIRECT_FD is not set (not spawned by ipcbus_main_spawn());
 * -EBADF if it is not a number naming an open AF_UNIX stream socket (the
 * descriptor is then left alone); connection errors as
 * ipcbus_renderer_open_direct().
 */
IPCBUS_EXPORT int ipcbus_renderer_open_spawned(ipcbus_renderer *r);

#ifdef __cplusplus
}
#endif
