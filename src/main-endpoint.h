/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The main process endpoint (ipcbus_main): owns the name, serves Main1 on
 * every connection, tracks renderers. */

#include <ipcbus/ipcbus.h>

#include "channel.h"
#include "connection.h"
#include "log.h"

struct ipcbus_main {
        unsigned n_ref;
        char *name;
        char *path;
        sd_event *event;
        int64_t priority;
        log_target log;

        GQueue connections;          /* of connection, bus and direct */
        registry registry;

        uint64_t next_id;
        GHashTable *by_bus_name;     /* unique name -> attached ipcbus_web_contents (bus peers) */
        GHashTable *by_id;           /* id -> attached ipcbus_web_contents (all) */

        GQueue on_attached;          /* of lifecycle slots */
        GQueue on_detached;
        GQueue calls;                /* pending main-to-renderer invokes (slots) */
        GQueue spawned;              /* of spawn_child (spawn-watch.c): started, not reaped yet */
};

/* Called by web-contents.c when a renderer goes away. */
void main_forget_web_contents(ipcbus_main *m, ipcbus_web_contents *wc);

/* Serve a direct connection the caller opened (spawn.c sets what it knows
 * of the peer first) and announce the renderer at its other end. On
 * failure the connection is dropped. Return: as ipcbus_main_add_direct(). */
int main_add_direct(ipcbus_main *m, connection *c, ipcbus_web_contents **ret_web_contents);
/* Stop serving @c, as when it closes: its renderers detach. Once per
 * connection; later calls do nothing. */
void main_drop_connection(ipcbus_main *m, connection *c);
