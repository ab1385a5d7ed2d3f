/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * bench-port's side of each measured operation; bench-port.c times them and
 * runs the rounds. Every operation is one complete exchange with a peer
 * (bench-port-peers.h), checked: the echo is what was sent, the count is N,
 * the digest is the one of the bytes sent.
 *
 * Return of every operation: 0; -EBADMSG for a wrong answer; -EPIPE when
 * the peer is gone; -ETIMEDOUT after 30 s without an answer; other -errno.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipcbus/ipcbus.h>

#include "bench-port-peers.h"

/* 64 characters. */
#define BENCH_PORT_PAYLOAD "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

typedef struct bench_port_ctx {
        bench_port_touch touch;
        /* ipcbus */
        sd_event *event;
        ipcbus_port *port;
        unsigned received; /* messages that arrived on the port */
        GVariant *last;    /* the last of them */
        bool closed;
        /* raw, blocking */
        int ctl, stream, fdsock;
        /* raw, nonblocking on this process's sd-event loop */
        int evsock;
        sd_event_source *ev_io;
        unsigned ev_received;
        uint8_t ev_last[BENCH_PORT_SMALL + BENCH_PORT_CMD_SIZE];
        size_t ev_last_size;
        int ev_error;
        /* the bulk bytes, written once */
        uint8_t *bytes;
        size_t bytes_size;
} bench_port_ctx;

/* Prints "bench-port: WHAT: ERROR" on stderr. Return: @r. */
int bench_port_error(const char *what, int r);

/**
 * bench_port_connect - hand the ipcbus peer its port
 * @direct_fd: the main's end of the direct connection (taken)
 *
 * Creates b->event, a main on the direct connection and the channel; posts
 * one end to the peer and waits until it echoes a first message on it.
 * The main is gone again on return: only the port stays on the loop.
 * Return: 0; -errno (reported on stderr).
 */
int bench_port_connect(bench_port_ctx *b, int direct_fd);

/* Watches b->evsock from b->event for the "raw on sd-event" contender. */
int bench_port_event_attach(bench_port_ctx *b);

/* The operations; @arg is the message count (throughput) or byte count (bulk). */
int bench_port_ipcbus_round_trip(bench_port_ctx *b, size_t unused);
int bench_port_raw_round_trip(bench_port_ctx *b, size_t unused);
int bench_port_event_round_trip(bench_port_ctx *b, size_t unused);
int bench_port_ipcbus_throughput(bench_port_ctx *b, size_t n);
int bench_port_raw_throughput(bench_port_ctx *b, size_t n);
int bench_port_event_throughput(bench_port_ctx *b, size_t n);
int bench_port_ipcbus_bulk(bench_port_ctx *b, size_t size);
int bench_port_raw_stream_bulk(bench_port_ctx *b, size_t size);
int bench_port_raw_memfd_bulk(bench_port_ctx *b, size_t size);

/* Around a round's share of "raw on sd-event": the raw peer serves evsock
 * from its loop between them. */
int bench_port_event_begin(bench_port_ctx *b);
int bench_port_event_end(bench_port_ctx *b);
