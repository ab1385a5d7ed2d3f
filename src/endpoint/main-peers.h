/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "main-private.h"

/* The peers the main knows (main-peers.c). */

/* The sender of @msg on @c, known from now on (a new reference).
 * Return: 0; -ENOBUFS past IPCBUS_LIMIT_PEERS_PER_CONNECTION. */
int main_peer_get(ipcbus_main *m, connection *c, sd_bus_message *msg, ipcbus_web_contents **ret);
/* Give @wc an id: it is a renderer now. */
void main_peer_attach(ipcbus_main *m, ipcbus_web_contents *wc);
/* @wc went away or detached: forget it (on_detached fires if it was attached). */
void main_forget_web_contents(ipcbus_main *m, ipcbus_web_contents *wc);
/* A renderer the main made the connection for (direct): attached at once. */
ipcbus_web_contents *main_peer_new_direct(ipcbus_main *m, connection *c);
void main_fire_lifecycle(ipcbus_main *m, GQueue *queue, ipcbus_web_contents *wc);
