/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Who a peer is, as the kernel says: pid, uid, gid and a pidfd. A peer's
 * identity cannot change while its connection (or unique name) lasts, so
 * it is asked for once and cached on the peer.
 */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

typedef struct peer_creds {
        int state;      /* 0: not asked yet; 1: known; < 0: the query failed with this errno */
        pid_t pid;
        uid_t uid;
        gid_t gid;
        int pidfd;      /* -1 where neither the kernel nor the bus gave one */
} peer_creds;

#define PEER_CREDS_INIT ((peer_creds){ .pidfd = -1 })

/* The bus's own answer for @name (GetConnectionCredentials), the gid and,
 * where the bus gives none, the pidfd from the kernel for that pid.
 * Return: 0; -ESRCH if the peer is gone; -EPROTO if the answer did not
 * come from the bus; sd-bus errors. */
int creds_query_bus(sd_bus *bus, const char *name, peer_creds *ret);

/* SO_PEERCRED and SO_PEERPIDFD of a connected AF_UNIX socket.
 * Return: 0; -errno from getsockopt(). */
int creds_query_socket(int fd, peer_creds *ret);

/* The process @pid behind @pidfd (one the main spawned; -1 where the
 * system has no pidfds), while it runs.
 * Return: 0; -ESRCH if it has exited; -errno. */
int creds_query_pidfd(int pidfd, pid_t pid, peer_creds *ret);

void creds_done(peer_creds *c);
