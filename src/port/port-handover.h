/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Handovers (docs/ports.md, "Transfer"): a port that travels while messages
 * are on their way through it (queued here to be sent, or a chunked
 * message half read) does not travel as its own socket but inside a new
 * socketpair, together with those messages; the receiver unpacks it.
 */

#include <glib.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "port-frame.h"

/**
 * port_handover_new - pack a port's socket and what is on its way
 * @sock: the port's socket (a copy travels; @sock stays the caller's)
 * @in: the message the port was reading, or NULL
 * @out: the messages it has still to send (port_out), the first maybe begun
 * @ret_fd: the end of the new socketpair to send
 *
 * Everything is written before this returns, so the receiver never waits.
 * Changes nothing on failure: closing the new socket drops every copy it holds.
 * Return: 0; -ETOOMANYREFS, -ENOBUFS (too much for one handover); -errno.
 */
int port_handover_new(int sock, const port_frame_assembly *in, GQueue *out, int *ret_fd);

/* Whether @fd's first datagram starts a handover (peeked; no descriptors
 * are installed). */
bool port_handover_is(int fd);

/**
 * port_handover_unpack - what port_handover_new() packed
 * @ret_fd: the port's socket
 * @ret_in: the message it was reading (empty if none)
 * @ret_out: receives the messages to send first (port_out)
 * Return: 0; -EBADMSG with @error set; -ENOMEM.
 */
int port_handover_unpack(int hfd, int *ret_fd, port_frame_assembly *ret_in, GQueue *ret_out,
                         sd_bus_error *error);
