/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <ipcbus/ipcbus-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * MessagePorts: Electron's MessageChannelMain / MessagePortMain. A channel
 * is a pair of connected AF_UNIX sockets; each port is one end. Ports travel
 * to other processes as file descriptors (Channel1.PostMessage, or inside a
 * message on another port), after which the two holders talk directly, with
 * no main on the path. docs/ports.md describes what crosses a port.
 *
 * Messages keep their order. Messages posted before the receiving end calls
 * ipcbus_port_start() wait, in order, also while that end travels to another
 * process; so do messages its own holder posted that the other end had no
 * room for yet. Closing one end (or the death of its process) fires "close"
 * on the other end once, started or not.
 *
 * Ports run on an sd-event loop (the one the endpoints use, so the GLib
 * adapter and a blocking sd_event_loop() both drive them). Like every ipcbus
 * object, a port is used from one thread.
 */

typedef struct ipcbus_port ipcbus_port;

/**
 * ipcbus_port_message_fn - a message arrived (port.on('message'))
 * @port: the receiving port
 * @data: the message (borrowed; g_variant_ref() to keep)
 * @ports: ports transferred with it (borrowed; ipcbus_port_ref() to keep: a
 *   port nobody keeps is closed after the listeners ran, and its other end
 *   sees close)
 * @n_ports: how many
 * @userdata: as registered
 *
 * Return: 0, or a negative errno-style code, which is reported through the
 * port's log function.
 */
typedef int (*ipcbus_port_message_fn)(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n_ports,
                                      void *userdata);

/* The port's outgoing queue emptied (a Node stream's 'drain'). */
typedef void (*ipcbus_port_drain_fn)(ipcbus_port *port, void *userdata);

/* port.on('close'): the other end closed or its process died, or this port
 * closed itself on a malformed frame (ipcbus_port_get_close_error()). */
typedef void (*ipcbus_port_close_fn)(ipcbus_port *port, void *userdata);

/*
 * The largest message a port carries: the size of the message serialized as
 * a GVariant of type "v" (g_variant_get_size() of g_variant_new_variant()),
 * which is the value's own size plus a few bytes for its type. Messages above
 * 64 KiB travel as continuation frames after a header (over 16 MiB, in a
 * sealed memfd where the kernel has no transparent huge pages), so the
 * limit is memory, not the socket (docs/ports.md).
 */
#define IPCBUS_PORT_MESSAGE_MAX (1024ULL * 1024ULL * 1024ULL)

/*
 * Back-pressure: the most a port keeps queued while its other end does not
 * read (docs/ports.md, "Back-pressure"). A post that would go past either
 * cap fails with -ENOBUFS; a message onto an empty queue is always taken.
 */
#define IPCBUS_PORT_QUEUE_MAX_MESSAGES 10000U
#define IPCBUS_PORT_QUEUE_MAX_BYTES (64ULL * 1024ULL * 1024ULL)

/* The most ports one message transfers (the kernel passes 253 descriptors
 * per datagram; one is kept for the memfd a very large message may use). */
#define IPCBUS_PORT_TRANSFER_MAX 252

/* The error of a port that closed itself on what the other end sent;
 * sd_bus_error_get_errno() gives EBADMSG, what ipcbus's port functions
 * return for a malformed frame. Never sent over D-Bus. */
#define IPCBUS_ERROR_BAD_FRAME "org.ipcbus.Error.BadFrame"

/**
 * ipcbus_message_channel_new - new MessageChannelMain()
 * @event: the loop the ports run on; NULL for the thread's default
 * @ret_port1: one end
 * @ret_port2: the other end
 *
 * Neither port is started. Messages posted on one wait for the other to start.
 *
 * Return: 0; -EINVAL for a NULL @ret_port1 or @ret_port2; -errno from
 * socketpair() (-EMFILE, -ENFILE, -ENOMEM); sd-event's errors (-ENOMEM)
 * creating the default loop or watching the sockets; -ENOMEM if sd-bus cannot
 * register ipcbus's error names (sd_bus_error_add_map()).
 */
IPCBUS_EXPORT int ipcbus_message_channel_new(sd_event *event, ipcbus_port **ret_port1,
                                             ipcbus_port **ret_port2);

IPCBUS_EXPORT ipcbus_port *ipcbus_port_ref(ipcbus_port *port);
/* Dropping the last reference closes the port as ipcbus_port_close() does
 * (the other end sees close) and ends its registrations. */
IPCBUS_EXPORT ipcbus_port *ipcbus_port_unref(ipcbus_port *port);
IPCBUS_EXPORT void ipcbus_port_unrefp(ipcbus_port **port);

/**
 * ipcbus_port_on_message - port.on('message', fn)
 * @ret_slot: the registration (unref it to remove), or NULL for one that
 *   lives as long as the port
 *
 * Listeners run in registration order. Messages arrive only after
 * ipcbus_port_start(); a message that arrives with no listener is dropped,
 * as with an EventEmitter.
 * Return: 0; -EINVAL for a NULL port or fn.
 */
IPCBUS_EXPORT int ipcbus_port_on_message(ipcbus_port *port, ipcbus_slot **ret_slot,
                                         ipcbus_port_message_fn fn, void *userdata);

/**
 * ipcbus_port_on_close - port.on('close', fn)
 *
 * Fires at most once per port, from the event loop: when the other end
 * closed or its process died (on a started port, after the messages the
 * other end sent before), or when this port closed itself on a malformed
 * frame. Also, with the error, from inside ipcbus_port_start() or
 * ipcbus_port_post_message() when the port cannot watch its socket any more
 * (sd_event_source_set_io_events() failed): a port that can neither read nor
 * write closes rather than stall. Not for ipcbus_port_close() on this port
 * itself.
 * Return: 0; -EINVAL for a NULL port or fn.
 */
IPCBUS_EXPORT int ipcbus_port_on_close(ipcbus_port *port, ipcbus_slot **ret_slot, ipcbus_port_close_fn fn,
                                       void *userdata);

/**
 * ipcbus_port_start - start delivering messages (port.start())
 *
 * Messages queued so far are delivered from the event loop, in order. A port
 * whose other end is gone can still be started: it delivers what the other
 * end sent before it went (close has fired already).
 * Return: 0 (also if started before); -EINVAL for NULL; -EBADF if closed
 * here or transferred.
 */
IPCBUS_EXPORT int ipcbus_port_start(ipcbus_port *port);

/**
 * ipcbus_port_close - port.close(); the other end gets close
 *
 * Messages posted before are still delivered: what the other end had no room
 * for yet is written from the event loop, as long as the loop runs, and the
 * socket is closed after the last one (docs/ports.md, "Close").
 * Return: 0 (also if already closed, by either end); -EINVAL for NULL;
 * -EBADF if transferred.
 */
IPCBUS_EXPORT int ipcbus_port_close(ipcbus_port *port);

/**
 * ipcbus_port_post_message - port.postMessage(message, transfer)
 * @message: any value a channel carries (a floating reference is sunk, also
 *   on failure); only the size limit differs: IPCBUS_PORT_MESSAGE_MAX
 * @transfer: ports to hand over (may be NULL when @n_transfer is 0); after
 *   success they are neutered here: closed for this process, alive at the
 *   receiver, with the messages queued on them in both directions
 * @n_transfer: how many, at most IPCBUS_PORT_TRANSFER_MAX
 *
 * Never blocks: what the other end has no room for yet waits in this
 * process, in order, and is written when there is room.
 *
 * Every refusal is also reported through the port's log function with
 * Electron's kind of text ("Port at index 1 is a duplicate of an earlier
 * port.").
 *
 * Queued messages are capped (IPCBUS_PORT_QUEUE_MAX_MESSAGES and
 * IPCBUS_PORT_QUEUE_MAX_BYTES): past a cap the post fails with -ENOBUFS;
 * ipcbus_port_on_drain() tells when to post again.
 *
 * Return: 0; -EINVAL for a NULL port or message, a value that cannot be
 * carried or a bad transfer list (something that is not a port, the port
 * itself, its own other end, a duplicate, a closed or already transferred
 * port); -ELOOP for a value nested too deep; -EMSGSIZE above
 * IPCBUS_PORT_MESSAGE_MAX; -ENOBUFS while the queue is full (logged
 * once per stall); -EPIPE if the other end is gone; -EBADF if this
 * port is closed or transferred; -EMFILE, -ENFILE, -ENOMEM and other -errno
 * from the system: memfd_create() and mmap() for a message that travels in a
 * memfd, socketpair() for the handover of a transferred port with messages
 * still queued, sendmsg(). On failure nothing is sent, the port stays usable
 * and the transfer list is untouched.
 */
IPCBUS_EXPORT int ipcbus_port_post_message(ipcbus_port *port, GVariant *message,
                                           ipcbus_port *const *transfer, size_t n_transfer);

/**
 * ipcbus_port_get_queued - what waits in this process for the other end to read
 * @ret_messages: optional; messages posted here and not yet written
 * @ret_bytes: optional; their payload bytes (as IPCBUS_PORT_MESSAGE_MAX counts)
 *
 * 0 and 0 while the other end keeps up: a message is queued only when the
 * socket is full. A closed or transferred port has none.
 * Return: 0; -EINVAL for NULL.
 */
IPCBUS_EXPORT int ipcbus_port_get_queued(ipcbus_port *port, size_t *ret_messages, uint64_t *ret_bytes);

/**
 * ipcbus_port_on_drain - stream.on('drain', fn), for a port
 * @ret_slot: the registration (unref it to remove), or NULL for one that
 *   lives as long as the port
 *
 * Fires from the event loop each time the outgoing queue empties after it
 * held messages (some post found the socket full) or after a post failed
 * with -ENOBUFS: the other end read, posting can go on. Not when the queue
 * is dropped because the port or its other end closed (close tells that).
 * Return: 0; -EINVAL for a NULL port or fn.
 */
IPCBUS_EXPORT int ipcbus_port_on_drain(ipcbus_port *port, ipcbus_slot **ret_slot, ipcbus_port_drain_fn fn,
                                       void *userdata);

/* Return: true once closed (by either end, or by a malformed frame) or transferred. */
IPCBUS_EXPORT bool ipcbus_port_is_closed(ipcbus_port *port);

/**
 * ipcbus_port_set_log_function - where this port reports what it cannot return
 * @fn: NULL to drop reports (the default)
 *
 * Reports: post refusals (the texts of docs/ports.md, "Errors"), the
 * reason a port closed itself, queued messages dropped because the other
 * end went away, failing message listeners. Ports received on this port
 * inherit the function.
 * Return: 0; -EINVAL for NULL.
 */
IPCBUS_EXPORT int ipcbus_port_set_log_function(ipcbus_port *port, ipcbus_log_fn fn, void *userdata);

/**
 * ipcbus_port_get_close_error - why the port closed itself
 * Return: the error (name IPCBUS_ERROR_BAD_FRAME for a malformed frame from
 * the other end, or an errno name when the system failed it), or NULL while
 * open and after an ordinary close. Valid as long as the port.
 */
IPCBUS_EXPORT const sd_bus_error *ipcbus_port_get_close_error(ipcbus_port *port);

#ifdef __cplusplus
}
#endif
