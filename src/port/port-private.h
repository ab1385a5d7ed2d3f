/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the port modules share, bottom up: the port object and its state
 * and life (port-state.c), making ports and reading them (port-read.c),
 * and the public calls on top (port.c). */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <ipcbus/ipcbus-port.h>

#include "log.h"
#include "port-frame.h"

/* Tells a port from a stray pointer in a transfer list. */
#define PORT_MAGIC UINT32_C(0x74726f70)

typedef enum port_state {
        PORT_OPEN,
        PORT_PEER_GONE, /* the other end went; the socket stays until what it sent before is read */
        PORT_CLOSED,    /* by close() or a malformed frame */
        PORT_TRANSFERRED,
} port_state;

struct ipcbus_port {
        uint32_t magic;
        unsigned n_ref;
        sd_event *event;
        int64_t priority;
        int fd;
        sd_event_source *io;
        port_state state;
        bool started;
        bool close_fired;
        /* The other end while both live in this process (refused in the
         * other's transfer list: it would travel into its own socket). */
        ipcbus_port *sibling;
        GQueue out;             /* port_out */
        uint64_t out_bytes;     /* their payload bytes (port_out.size) */
        bool drain_wanted;      /* out was not empty, or a post was refused: fire drain when it empties */
        bool overflow_logged;   /* an ENOBUFS refusal was logged in this stall */
        port_frame_assembly in; /* a chunked message being read */
        GQueue on_message;
        GQueue on_close;
        GQueue on_drain;
        log_target log;
        sd_bus_error close_error;
        uint8_t *rbuf;                      /* PORT_FRAME_DATAGRAM_MAX, while started */
        unsigned probe_backoff, probe_skip; /* port_read() */
};

static inline bool port_valid(const ipcbus_port *p) {
        return p && p->magic == PORT_MAGIC;
}

/* port-state.c */

/* The events the io source waits for now, and telling it so. */
uint32_t port_events(ipcbus_port *p);
void port_update_io(ipcbus_port *p);
/* Stop watching the socket and close it (before anyone else can own it). */
void port_drop_socket(ipcbus_port *p);
/* The socket goes, after the queued frames if the other end is there to read them. */
void port_close_socket(ipcbus_port *p);
/* Close *@fd if open; it is -EBADF after. */
void port_safe_close(int *fd);
/* Free what waits in `out`. */
void port_out_clear(ipcbus_port *p);
/* While both ends live in this process, they know each other: forget it. */
void port_unlink_sibling(ipcbus_port *p);
/* Disconnect every registration (message, close, drain). */
void port_end_registrations(ipcbus_port *p);
/* Fire close, once. */
void port_fire_close(ipcbus_port *p);
/* Run the listeners of @list (message, close or drain) on a snapshot. */
void port_fire(ipcbus_port *p, GQueue *list);
/* Write what waits in `out`; the other end gone or an error ends the port. */
void port_flush(ipcbus_port *p);
/* The end of a port's socket: @state is CLOSED, TRANSFERRED or (read to the end) PEER_GONE. */
void port_finish(ipcbus_port *p, port_state state, bool fire);
/* The port closes itself: something the other end sent, or the system, failed it. */
void port_fail(ipcbus_port *p, const sd_bus_error *error);
void port_fail_errno(ipcbus_port *p, int r, const char *what);
/* The other end went (its messages may still be queued here to read). */
void port_peer_gone(ipcbus_port *p);
/* port-read.c */

/* A port on @fd, watched on @event (takes @fd, the messages of @out and the
 * message being read of @in; both may be NULL). */
int port_new_internal(sd_event *event, int64_t priority, int fd, GQueue *out, port_frame_assembly *in,
                      const log_target *log, ipcbus_port **ret);
/* A port of a socket that arrived in a message on @p's loop (takes @fd). */
int port_new_received(sd_event *event, int64_t priority, int fd, const log_target *log, ipcbus_port **ret,
                      sd_bus_error *error);

/* Reads what is queued on a started port, a batch at most. */
void port_read(ipcbus_port *p);
