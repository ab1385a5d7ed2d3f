/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The client side of bench-ipc: one connection per server, all in the bench
 * process. An ipcbus client is an ipcbus_renderer (attached, as Electron's
 * renderers always are); a plain client is a bare sd-bus connection that
 * builds and reads the same bodies with sd-bus calls. Each client also keeps
 * the samples measured through it.
 */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <gio/gio.h>
#include <ipcbus/ipcbus.h>

#include "bench-stats.h"

/* CPU time per operation, µs, one sample per round, of each process involved. */
typedef struct bench_cpu {
        bench_samples client; /* this process (the client's thread) */
        bench_samples bus;    /* the bus daemon */
        bench_samples server; /* the client's server */
} bench_cpu;

/* What bench_client_call() calls. */
typedef enum bench_call {
        BENCH_CALL_ECHO,            /* Invoke "echo" / Echo(sav): one string in an "av", the "av" back */
        BENCH_CALL_ECHO_S,          /* Invoke "echo-s" / EchoS(s): one string, the string back */
        BENCH_CALL_ECHO_S_GENERATED, /* ipcbus: bench_channels_invoke_echo_s_sync(), generated */
        BENCH_CALL_ECHO_S_TYPED,    /* plain sd-bus to an ipcbus main: its typed member EchoS(s) -> s */
} bench_call;

/* What the client is, when not an ipcbus renderer or plain sd-bus. */
typedef enum bench_transport {
        BENCH_TRANSPORT_SD_BUS, /* ipcbus or plain sd-bus, as .ipcbus says */
        BENCH_TRANSPORT_GDBUS,  /* GDBusConnection of gio-2.0, to the GDBus server (bench-table-peers.h) */
        BENCH_TRANSPORT_RAW,    /* length-prefixed frames on a socketpair (bench-table-peers.h) */
} bench_transport;

struct bench_client;
/* Drop the arguments made of the last payload (before it is freed). */
void bench_client_forget_payload(struct bench_client *c);

typedef struct bench_client {
        const char *label;  /* for the report */
        const char *server; /* the server's well-known name */
        bool ipcbus;        /* an ipcbus renderer, else plain sd-bus */
        bool sendf;         /* ipcbus: sends with ipcbus_renderer_sendf(), not a GVariant */
        bench_call call;
        bench_transport transport;
        /* Peer to peer: a socketpair end (taken by bench_client_open()) instead of
         * the bus address; the only way for BENCH_TRANSPORT_RAW. */
        bool direct;
        int direct_fd;

        sd_bus *bus;               /* plain */
        char path[256];            /* plain: the server's object path */
        ipcbus_renderer *renderer; /* ipcbus */
        /* ipcbus: the arguments made of the last payload. An application
         * holds its values as GVariants; making one of a C string would
         * add GLib's UTF-8 scan of the string to every call (0.3 ms at
         * 1 MiB), which is not the transport's cost. The plain clients
         * append the C string, sd-bus's own value. */
        const char *args_payload;
        GVariant *args;
        GDBusConnection *gdbus;    /* GDBus */
        uint8_t *raw_buf;          /* raw: where echoes arrive, grown to the largest */
        size_t raw_buf_size;
        uint32_t count;            /* the server's count at the last sync */
        clockid_t server_clock;    /* the server's CPU-time clock */
        bool has_server_clock;

        bench_samples latency;        /* µs, every timed call */
        bench_samples round_latency;  /* µs, the median of each round */
        bench_samples rate;           /* messages/s, one per round */
        bench_samples paired_latency; /* plain: ipcbus's round median / ours, same round; typed: ours /
                                       * ipcbus's (Invoke) */
        bench_samples paired_rate;    /* plain: our rate / ipcbus's, same round */
        bench_samples paired_rate_sendf; /* plain: our rate / ipcbus sendf's, same round */
        double last;                  /* the last round's median latency or rate */
        bench_cpu call_cpu;           /* per call, in the latency rounds */
        bench_cpu send_cpu;           /* per message, in the throughput rounds */
} bench_client;

/**
 * bench_client_open - connect, attach (ipcbus) and read the server's count
 * @c: label, server and ipcbus set (transport, direct and direct_fd too, when
 *   not a bus client)
 * @address: the bus; unused when c->direct
 * Return: 0; negative errno codes, with the reason on stderr.
 */
int bench_client_open(bench_client *c, const char *address);

/**
 * bench_client_call - one echo round trip with @payload, as c->call says
 * Builds the call, waits for the reply and checks that it carries @payload.
 * Return: 0; -EBADMSG for a wrong echo; other negative errno codes, with the
 * reason on stderr.
 */
int bench_client_call(bench_client *c, const char *payload);

/**
 * bench_client_send - one message on channel "count" with @payload, not waited for
 * Return: 0; negative errno codes.
 */
int bench_client_send(bench_client *c, const char *payload);

/**
 * bench_client_sync - a round trip returning the server's count
 * Everything sent before has been handled when it returns.
 * Return: the number counted since the previous sync (>= 0); negative errno codes.
 */
int64_t bench_client_sync(bench_client *c);

void bench_client_close(bench_client *c);
