/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The two far ends bench-port measures against, each a child process
 * (test_process_spawn()) that answers the bench until its socket closes.
 *
 * The ipcbus peer is a renderer on a direct connection to the bench's main
 * (ipcbus_renderer_open_direct()); the main posts it one end of a
 * MessageChannel on channel "port", after which the renderer is dropped and
 * the two processes talk over the port alone, each on its own sd-event loop.
 * What arrives on the port:
 *   "s"              echoed back as it is (round trip)
 *   ("count", N)     "(st)": count the next N "s" messages, then post the
 *                    count back as "t" (throughput)
 *   "ay"             a bulk value: digest it (bench_port_digest()), post the
 *                    digest back as "t" (bandwidth)
 *
 * The raw peer is the same work on plain AF_UNIX sockets with blocking
 * read()/write(), nothing else on the path:
 *   ctl, SOCK_SEQPACKET   a BENCH_PORT_SMALL-byte datagram is echoed back; a
 *                         BENCH_PORT_CMD_SIZE one is a command:
 *     'C' N   read N small datagrams, then answer 'A' N
 *     'S' n   read n bytes from the stream socket into a buffer, answer 'A'
 *             digest; the buffer is kept across commands and written once up
 *             front (the raw side's best case), or with fresh_buffer a new
 *             malloc() each time, as a receiver that keeps the value must
 *     'M' n   receive a sealed memfd of n bytes on the fd socket, map it as
 *             the port's receiver does, answer 'A' digest, unmap
 *     'V'     serve evsock from an sd-event loop until 'Q' arrives there
 *   stream, SOCK_STREAM   the byte stream of 'S'
 *   fdsock, SOCK_SEQPACKET  the memfds of 'M' (kept off ctl so that the echo
 *                         path stays a bare read() and write())
 *   evsock, SOCK_SEQPACKET, nonblocking  the echo and 'C' of ctl from an
 *                         sd-event io source (one read per wakeup while
 *                         echoing, up to 32 while counting, as a port reads):
 *                         ipcbus minus ipcbus, to tell the loop's cost from
 *                         the library's
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_PORT_SMALL 64U
#define BENCH_PORT_CMD_SIZE 16U
#define BENCH_PORT_MAIN_NAME "org.ipcbus.PortBench"
#define BENCH_PORT_CHANNEL "port"

typedef enum bench_port_touch {
        BENCH_PORT_TOUCH_SAMPLE, /* one 8-byte word per 4 KiB page, and the last bytes */
        BENCH_PORT_TOUCH_FULL,   /* every byte */
} bench_port_touch;

/* Descriptors a child closes first: the other processes' ends. */
#define BENCH_PORT_CLOSE_MAX 12

typedef struct bench_port_peer_config {
        bench_port_touch touch;
        int direct_fd; /* ipcbus: the renderer's end of the direct connection */
        int ctl_fd, stream_fd, fdsock_fd, evsock_fd; /* raw */
        bool fresh_buffer;                           /* raw: a new receive buffer per 'S' */
        int close_fds[BENCH_PORT_CLOSE_MAX];         /* -1 for unused */
} bench_port_peer_config;

/* The raw protocol's command datagram: the letter, 7 zero bytes, a
 * little-endian (host order: both ends are this machine) 64-bit argument. */
void bench_port_cmd_write(uint8_t buf[BENCH_PORT_CMD_SIZE], char cmd, uint64_t arg);
void bench_port_cmd_read(const uint8_t buf[BENCH_PORT_CMD_SIZE], char *ret_cmd, uint64_t *ret_arg);

/* Blocking write()/read() of exactly @size bytes, retried on EINTR.
 * Return: 0; -EPIPE when read() meets the end; -errno. */
int bench_port_write_all(int fd, const void *data, size_t size);
int bench_port_read_all(int fd, void *data, size_t size);

/* Fills @size bytes (a multiple of 8) with a pattern no page repeats. */
void bench_port_fill(void *p, size_t size);

/* What the receiver computes over what arrived, to prove it is all there
 * (and checked by the sender against its own copy). */
uint64_t bench_port_digest(const void *p, size_t size, bench_port_touch touch);

/* test_process_fn: the ipcbus peer. Return: only on failure, 1 (stderr says why). */
int bench_port_ipcbus_peer(void *userdata);

/* test_process_fn: the raw peer. Return: 0 when the bench closed ctl; 1 on failure. */
int bench_port_raw_peer(void *userdata);
