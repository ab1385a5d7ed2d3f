/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The far ends bench-table adds to bench-ipc's (bench-servers.h), each a
 * child process (test_process_spawn()):
 *
 * The GDBus server: a GDBusConnection of gio-2.0 on the bus, on a GMainLoop,
 * serving what the plain sd-bus server serves (Echo(s channel, av args) -> v,
 * Count() -> u, the unicast signal Message(s, av) counted), at the path of its
 * name: what a GLib application would write instead of ipcbus.
 *
 * The raw server: length-prefixed frames on one end of a SOCK_STREAM
 * socketpair with blocking read()/write(), nothing else on the path. A frame
 * is a bench_frame header and size bytes:
 *   'E'  echoed back as it is (the invoke)
 *   'S'  counted (the send)
 *   'C'  answered with a 'C' frame of 4 bytes: the count so far
 *
 * The farm: n receivers of a broadcast in one process on one sd-event loop,
 * each with a connection of its own (renderers are processes of their own in
 * Electron; here they share one, which makes them slower to get through all n,
 * alike for every contender). When all n have received one broadcast it
 * writes one byte to ack_fd. Kinds:
 *   ipcbus, bus      n renderers on the bus, attached, listening on "tick"
 *   ipcbus, direct   n renderers on the fds (the main holds the other ends)
 *   sd-bus, bus      n plain connections with a match for the signal Tick
 *   raw              n socketpair ends, one 'S' frame each
 * It prints "ready" once every receiver is set up (attached for ipcbus).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_GDBUS_NAME "org.ipcbus.GdbusB"
#define BENCH_GDBUS_BROKER_NAME "org.ipcbus.GdbusK"

/* The broadcast's channel, and the plain signal that carries the same. */
#define BENCH_FARM_CHANNEL "tick"
#define BENCH_FARM_PATH "/org/ipcbus/Farm"
#define BENCH_FARM_INTERFACE "org.ipcbus.Farm1"
#define BENCH_FARM_MEMBER "Tick"
#define BENCH_FARM_MAIN_NAME "org.ipcbus.FarmMain"

typedef struct bench_frame {
        uint32_t size; /* bytes after the header */
        uint32_t type; /* 'E', 'S' or 'C' */
} bench_frame;

/* Blocking, retried on EINTR. Return: 0; -EPIPE at the end; -errno. */
int bench_frame_write(int fd, uint32_t type, const void *data, size_t size);
int bench_frame_read_header(int fd, bench_frame *ret);
int bench_table_read_all(int fd, void *data, size_t size);

/* test_process_fn, with a bench_server_config (direct_fd for raw). Return:
 * only on failure: 1 (stderr says why); raw: 0 when the client closed. */
int bench_gdbus_server(void *userdata);
int bench_raw_server(void *userdata);

typedef enum bench_farm_kind {
        BENCH_FARM_IPCBUS_BUS,
        BENCH_FARM_IPCBUS_DIRECT,
        BENCH_FARM_SD_BUS,
        BENCH_FARM_RAW,
} bench_farm_kind;

#define BENCH_FARM_MAX 128

typedef struct bench_farm_config {
        bench_farm_kind kind;
        unsigned n;
        const char *address;             /* the bus, for the bus kinds */
        int fds[BENCH_FARM_MAX];         /* direct and raw: the farm's ends */
        int close_fds[BENCH_FARM_MAX];   /* the other ends, closed in the farm; -1 unused */
        int ack_fd;                      /* a pipe's write end */
        int ack_close_fd;                /* its read end, closed in the farm */
} bench_farm_config;

/* test_process_fn. Return: only on failure: 1 (stderr says why). */
int bench_farm(void *userdata);

/* Return: VmRSS of @pid (0: this process) in KiB; negative errno. */
long bench_rss_kib(int pid);
