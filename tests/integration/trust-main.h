/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The main and the forger of the trust tests (test-trust.c), each run in a
 * child process.
 *
 * The trust main (TRUST_MAIN_NAME) serves, behind its gate:
 *   echo (handle)            returns its arguments
 *   whoami (handle)          a{sv}: pid, uid, gid (u) of the caller's credentials, id (t)
 *   held (handle)            answers "real" once "release" arrives (calls in flight)
 *   release (on)             answers every held invoke
 *   admin-only (handle)      returns "admin": only the class "admin" may call it
 *   counters (handle)        a{st}: the main's counters by name
 *   count (on), count-get    counts messages; returns the count (u)
 *   call-renderer (handle)   (channel): invokes the caller's Renderer1.Invoke on
 *                            channel, answers its result or "error NAME"
 *   slow-invoke (handle), slow-sync (on, returnValue): answer "real"
 * Its sender check refuses channel "forbidden-by-hook" and, for channels and
 * Attach names starting with "slow", first waits for a byte on
 * @slow_fd: the forger writes it once its forged reply is out, so the
 * forgery always arrives first. Renderers attached as "guest" may only
 * invoke echo and send count. Its own direct renderer is in class "admin".
 * It prints "ready", "log: TEXT" for each log line, "attached ID NAME".
 */

#include <stdint.h>

#define TRUST_MAIN_NAME "org.ipcbus.TrustTest"

typedef struct trust_main_config {
        const char *address;
        int direct_fd;          /* >= 0: also serve this direct connection */
        int slow_fd;            /* the forger's go-ahead */
        uint64_t calls_per_peer;
        uint64_t peers_per_connection;
} trust_main_config;

int trust_main_child(void *userdata);

/*
 * The forger: eavesdrops on calls to Main1 and Renderer1 and answers every
 * one whose channel (or Attach name) starts with "slow" itself, with
 * 'SPOOFED' (Attach: id 999), from its own connection. Then it writes one
 * byte to @main_fd (a call to the main) or @test_fd (a call to a
 * renderer). Prints "forger ready" and "forged MEMBER" lines.
 */
typedef struct forger_config {
        const char *address;
        int main_fd;
        int test_fd;
} forger_config;

int forger_child(void *userdata);
