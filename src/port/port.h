/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the endpoints need of ports to carry them in Channel1.PostMessage
 * ("ah ports"): checks on a transfer list, taking a port's socket to send,
 * and making a port of a socket that arrived. docs/ports.md, "Transfer",
 * says what travels with the socket.
 *
 * Sending:   port_transfer_prepare() on the list, build the signal, then
 *            port_transfer_take_fd() per port and append each fd ("h"
 *            dups it), close ours after sd_bus_send().
 * Receiving: port_new_from_fd() on a dup of each "h".
 */

#include <ipcbus/ipcbus-port.h>

/**
 * port_new_from_fd - a port of a socket that arrived
 * @event: the loop the port runs on (the endpoint's)
 * @priority: its sd-event priority (the endpoint's)
 * @fd: taken, also on failure
 *
 * A socket handed over with messages its previous holder could not write
 * yet (a handover, docs/ports.md) is unpacked here: the port gets the real
 * socket and those messages queued ahead of anything posted on it.
 * The port is not started.
 *
 * Return: 0; -ENOTSOCK when @fd is not an AF_UNIX SOCK_SEQPACKET socket;
 * -EBADMSG for a malformed handover; -ENOMEM; sd-event errors.
 */
int port_new_from_fd(sd_event *event, int64_t priority, int fd, ipcbus_port **ret);

/**
 * port_transfer_prepare - the checks of a transfer list, changing nothing
 * @ports: the list (may be NULL when @n is 0)
 * @sender: the port the list is posted on, or NULL (Channel1.PostMessage)
 * @error: on failure, InvalidArgs with Electron's kind of text (may be NULL)
 *
 * Return: 0; -EINVAL for more than IPCBUS_PORT_TRANSFER_MAX ports, an entry
 * that is NULL or not a port, @sender itself, @sender's own other end, a
 * duplicate, a closed or transferred port.
 */
int port_transfer_prepare(ipcbus_port *const *ports, size_t n, const ipcbus_port *sender, sd_bus_error *error);

/**
 * port_transfer_take_fd - neuter @port and hand over its socket
 * @ret_fd: the descriptor to send; the caller owns it
 *
 * First writes what the other end has room for of the messages queued on
 * @port. If some are still left, @ret_fd is not the port's socket but a
 * handover socket carrying the port's socket and those messages, which
 * port_new_from_fd() unpacks at the receiver; nothing waits on this process
 * either way. After success @port is transferred (-EBADF for its calls).
 *
 * Return: 0; -EBADF if @port is closed or transferred; -EINVAL for NULL;
 * -ENOMEM, -EMFILE and other -errno while building a handover (then @port
 * is unchanged).
 */
int port_transfer_take_fd(ipcbus_port *port, int *ret_fd);

/* Messages waiting in this process for room in @port's socket: how tests
 * know a port travels in a handover, whatever the socket buffers' sizes. */
unsigned port_queued(const ipcbus_port *port);
