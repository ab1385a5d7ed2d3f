/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The sandbox of IPCBUS_SPAWN_SANDBOX: the bwrap command line that runs a
 * renderer with no bus socket, no network, a read-only file system and no
 * capabilities, and the environment it gets. Nothing here starts a process.
 */

/**
 * sandbox_find_bwrap - the bwrap binary: $IPCBUS_BWRAP, else "bwrap" in $PATH
 * @ret_path: its path (g_free())
 * Return: 0; -ENOPKG if there is none, or it is not executable.
 */
int sandbox_find_bwrap(char **ret_path);

/**
 * sandbox_build_argv - the command line that runs @program in the sandbox
 * @bwrap: from sandbox_find_bwrap()
 * @program: the renderer's executable, as a path
 * @argv: its arguments; argv[0] is replaced by @program (bwrap has no way
 *   to set it)
 * @envp: the main's environment, read for the bus sockets it names:
 *   those outside the directories the sandbox hides are covered too
 * @ret_argv: NULL-terminated (g_strfreev())
 * Return: 0.
 */
int sandbox_build_argv(const char *bwrap, const char *program, char *const argv[], char *const envp[],
                       char ***ret_argv);

/* Removes what names a bus from a sandboxed renderer's environment
 * (@envp as from g_get_environ(), modified in place). */
void sandbox_filter_environ(char ***envp);
