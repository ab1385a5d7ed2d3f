/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Renderer processes a main started (ipcbus_main_spawn): their exit is
 * watched through a pidfd on the main's loop and is a detach. */

#include <ipcbus/ipcbus.h>

/* The main is being freed, its connections dropped: kill (SIGKILL) every
 * child not reaped yet, reap it, and drop the watches. Blocks only until
 * the kernel has torn the children down. */
void spawn_main_freed(ipcbus_main *m);
