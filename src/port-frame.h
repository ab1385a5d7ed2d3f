/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What crosses a MessagePort (docs/ports.md): one datagram per frame on an
 * AF_UNIX SOCK_SEQPACKET socket, a 16-byte header and the payload, with the
 * transferred ports' sockets (and a sealed memfd for a large payload) as
 * SCM_RIGHTS. This module knows the bytes and nothing of the port object:
 * the parsers are pure functions (the fuzz target drives them), the rest is
 * the few system calls around a frame (sendmsg, recvmsg, memfd).
 *
 * Everything received is untrusted: every parser checks sizes against what
 * actually arrived and fails with an org.ipcbus.Error.BadFrame error whose
 * message says what was wrong.
 */

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <systemd/sd-bus.h>

/* "ipcP" in memory; header fields are little-endian. */
#define PORT_FRAME_MAGIC UINT32_C(0x50637069)
#define PORT_FRAME_VERSION 1
#define PORT_FRAME_HEADER_SIZE 16U

/* The largest payload that travels inside the datagram; larger ones travel
 * in a sealed memfd. A wire limit: a receiver refuses longer datagrams. */
#define PORT_FRAME_INLINE_MAX (64U * 1024U)
#define PORT_FRAME_DATAGRAM_MAX (PORT_FRAME_HEADER_SIZE + PORT_FRAME_INLINE_MAX)

/* The kernel passes at most SCM_MAX_FD (253) descriptors per datagram; one
 * is kept for the memfd. */
#define PORT_FRAME_FDS_MAX 253U
#define PORT_FRAME_PORTS_MAX 252U

/* A handover (docs/ports.md, "Transfer") carries at most this many port
 * sockets of queued messages, and a bundle of at most this many bytes. */
#define PORT_FRAME_HANDOVER_FDS_MAX 65536U
#define PORT_FRAME_BUNDLE_MAX (UINT64_C(1) << 40)

typedef enum port_frame_type {
        PORT_FRAME_MESSAGE = 0, /* a message: payload "v", fds the transferred ports */
        PORT_FRAME_FDS = 1,     /* handover: port sockets of the queued messages, no payload */
        PORT_FRAME_ADOPT = 2,   /* handover: the port's own socket; payload the queued messages */
} port_frame_type;

#define PORT_FRAME_FLAG_MEMFD 0x01U

typedef struct port_frame_header {
        uint8_t type;
        uint8_t flags;
        uint8_t n_ports;       /* fds before the memfd */
        uint64_t payload_size; /* inline: the bytes after the header; memfd: its size */
} port_frame_header;

void port_frame_header_write(void *buf, port_frame_type type, uint8_t flags, uint8_t n_ports,
                             uint64_t payload_size);

/**
 * port_frame_header_parse - check a received datagram's header
 * @datagram: what recvmsg() returned, @size bytes
 * @n_fds: how many descriptors came with it
 *
 * Checks magic, version, type, flags, that the descriptors are exactly the
 * ports plus the memfd the header announces, and that an inline payload is
 * exactly the rest of the datagram (a memfd frame is the header alone).
 * Return: 0; -EBADMSG with @error set.
 */
int port_frame_header_parse(const void *datagram, size_t size, size_t n_fds, port_frame_header *ret,
                            sd_bus_error *error);

/* Whether the 16 bytes at @header start a handover (FDS or ADOPT frame):
 * how a port that arrives tells a handover socket from its own. */
bool port_frame_is_handover(const void *header);

/**
 * port_frame_is_normal - whether @payload is a "v" in GVariant normal form
 *
 * As g_variant_is_normal_form() decides, for values of D-Bus types (others
 * are refused), without visiting each number of an array of numbers.
 */
bool port_frame_is_normal(GBytes *payload);

/**
 * port_frame_value_decode - the message in a payload
 * @payload: the serialized GVariant of type "v" (untrusted)
 * @ret_value: the message (unboxed), referencing @payload's memory (no copy)
 *
 * The payload must be in GVariant normal form and its value one a channel
 * carries (ipcbus_value_check(): D-Bus types only, depth, UTF-8, ...); the
 * channels' size limit does not apply, IPCBUS_PORT_MESSAGE_MAX does.
 * Return: 0; -EBADMSG with @error set.
 */
int port_frame_value_decode(GBytes *payload, GVariant **ret_value, sd_bus_error *error);

/* The payload of @value: its serialized bytes, a NUL and its type, which
 * is a "v" holding it, as port_frame_value_decode() reads it. */
uint64_t port_frame_payload_size(GVariant *value);
/* Writes port_frame_payload_size() bytes at @dst (8-aligned). */
void port_frame_payload_write(GVariant *value, void *dst);
/* The payload in a new sealed memfd. Return: 0; -errno. */
int port_frame_payload_memfd(GVariant *value, int *ret_fd);

/**
 * port_frame_memfd_map - map a received payload memfd
 * @fd: the descriptor (not closed here)
 * @size: the payload size the header announced
 *
 * The memfd must be a regular file of exactly @size bytes sealed against
 * shrinking, growing and writing, so that what was checked stays what is
 * read and no SIGBUS can come from a truncation. Mapped MAP_PRIVATE and
 * read-only; the GBytes unmaps when freed.
 * Return: 0; -EBADMSG with @error set; -errno from mmap().
 */
int port_frame_memfd_map(int fd, uint64_t size, GBytes **ret, sd_bus_error *error);

typedef void (*port_frame_fill_fn)(void *dst, void *userdata);

/**
 * port_frame_memfd_new - a sealed memfd of @size bytes that @fill wrote
 * Return: 0; -errno (memfd_create, ftruncate, mmap, F_ADD_SEALS).
 */
int port_frame_memfd_new(uint64_t size, port_frame_fill_fn fill, void *userdata, int *ret_fd);

/* The same, with the contents of @iov (@n pieces). Return: 0; -errno. */
int port_frame_memfd_new_from_iov(const struct iovec *iov, size_t n, int *ret_fd);

/* A handover bundle: the queued messages, each a record of a MESSAGE
 * header, the payload and zeros up to a multiple of 8. */
typedef struct port_frame_record {
        GVariant *value;
        unsigned n_ports; /* this record's share of the handover's FDS descriptors, in order */
} port_frame_record;

uint64_t port_frame_record_size(uint64_t payload_size);

/* Writes the record of @value at @dst (8-aligned, port_frame_record_size() bytes). */
void port_frame_record_write(void *dst, GVariant *value, unsigned n_ports);

/**
 * port_frame_bundle_parse - the records of a bundle
 * @n_fds: descriptors that came in FDS frames; the records must use exactly these
 * @ret: g_free() the array after unreferencing each value
 * Return: 0; -EBADMSG with @error set.
 */
int port_frame_bundle_parse(GBytes *bundle, size_t n_fds, port_frame_record **ret, size_t *ret_n,
                            sd_bus_error *error);

/**
 * port_frame_send - send one datagram, never raising SIGPIPE
 * Return: 0; -EAGAIN when the socket's buffer is full; -EPIPE when the
 * other end is gone; other -errno.
 */
int port_frame_send(int fd, const void *datagram, size_t size, const int *fds, size_t n_fds);

/**
 * port_frame_recv - receive one datagram and its descriptors (O_CLOEXEC)
 * @buf: PORT_FRAME_DATAGRAM_MAX bytes
 * @fds: room for PORT_FRAME_FDS_MAX descriptors, owned by the caller after success
 *
 * Return: the datagram's size; 0 at the end (the other end closed and
 * everything was read); -EAGAIN; -ECONNRESET (the other end closed; more
 * may still be queued: read again); -EBADMSG for a datagram that cannot be
 * a frame (empty, truncated, too many descriptors), whose descriptors are
 * closed; other -errno.
 */
ssize_t port_frame_recv(int fd, void *buf, int *fds, size_t *ret_n_fds);

/* Close @n descriptors. */
void port_frame_close_fds(const int *fds, size_t n);

/* Whether @fd is an AF_UNIX SOCK_SEQPACKET socket, the only thing a port can be. */
bool port_frame_fd_is_port(int fd);
