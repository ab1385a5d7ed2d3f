/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The main process endpoint (ipcbus_main): owns the name, serves Main1 on
 * every connection, tracks the peers that talk to it and decides what each
 * may do. Its fields: main-private.h. */

#include "main-private.h"

/* Serve a direct connection the caller opened (spawn.c sets what it knows
 * of the peer first) and announce the renderer at its other end. On
 * failure the connection is dropped. Return: as ipcbus_main_add_direct(). */
int main_add_direct(ipcbus_main *m, connection *c, ipcbus_web_contents **ret_web_contents);
/* Stop serving @c, as when it closes: its renderers detach. Once per
 * connection; later calls do nothing. */
void main_drop_connection(ipcbus_main *m, connection *c);
