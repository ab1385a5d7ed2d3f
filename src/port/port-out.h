/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A port's outgoing messages (docs/ports.md, "Order and queues"): each one
 * goes straight into the socket when there is room, and otherwise waits in
 * a queue of port_out, in order, written on EPOLLOUT. A chunked message can
 * be partly written: its announcement and some continuation frames went,
 * the rest waits (begun). A closed port's queue lingers on the loop until
 * written.
 */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <systemd/sd-event.h>

#include "log.h"

typedef struct port_out {
        GVariant *value; /* the message; NULL for the rest of one begun elsewhere (a handover) */
        GBytes *rest;    /* that rest */
        int *fds;        /* the transferred ports' sockets, owned */
        unsigned n_fds;
        /* Built the first time the message is tried. */
        uint8_t *datagram; /* inline: the whole frame; memfd or chunked: the header */
        size_t datagram_size;
        int memfd;
        uint8_t flags; /* how the payload travels: port_frame_payload_flags() */
        /* Chunked messages. */
        bool begun;    /* the announcement, with the sockets, went */
        uint64_t size; /* payload bytes (known from the start: the queue's byte count) */
        uint64_t sent; /* of them written */
        size_t chunk;  /* bytes per continuation frame, from the socket's send buffer */
} port_out;

/* Takes @value and @fds. */
port_out *port_out_new(GVariant *value, int *fds, unsigned n_fds);
/* The rest of a chunked message whose announcement went from elsewhere; takes @rest. */
port_out *port_out_new_rest(GBytes *rest);
void port_out_free(port_out *o);
void port_out_queue_clear(GQueue *q);

/* The bytes of a begun message not written yet, in up to 3 pieces. Return: how many pieces. */
size_t port_out_unsent(const port_out *o, struct iovec iov[3], uint64_t *ret_size);

/**
 * port_out_send - write one message, or as much of it as fits
 * Return: 0 when all of it went; -EAGAIN when the socket is full (a chunked
 * message may be begun); -EPIPE when the other end is gone; other -errno.
 */
int port_out_send(int fd, port_out *o);

/* Writes queued messages until none is left or the socket is full;
 * @bytes (optional) loses the payload size of each message that went.
 * Return: 0; -EPIPE; other -errno (the message stays queued). */
int port_out_flush(int fd, GQueue *q, uint64_t *bytes);
/* The payload bytes of the messages in @q. */
uint64_t port_out_queue_bytes(const GQueue *q);

/* Hands @fd and the messages of @out to the loop, which writes them and
 * then closes @fd (a floating io source: it goes with the loop at the latest). */
void port_linger_start(sd_event *event, int64_t priority, const log_target *log, int fd, GQueue *out);
