/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What crosses a MessagePort (docs/ports.md): one datagram per frame on an
 * AF_UNIX SOCK_SEQPACKET socket, a 16-byte header and the payload, with the
 * transferred ports' sockets (and a sealed memfd for a large payload) as
 * SCM_RIGHTS. A medium-sized payload follows its header-only frame in
 * continuation frames. This module knows the bytes and nothing of the port
 * object: the parsers and the reassembly are pure functions (the fuzz
 * target drives them), the rest is the few system calls around a frame
 * (sendmsg, recvmsg, memfd). The normal-form check is the value module's
 * (src/core/value-normal.c, value_normal_check());
 * port-bundle.c has the handover bundles.
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

/* The largest payload that travels inside its message's datagram. A wire
 * limit: a receiver refuses longer datagrams. */
#define PORT_FRAME_INLINE_MAX (64U * 1024U)
#define PORT_FRAME_DATAGRAM_MAX (PORT_FRAME_HEADER_SIZE + PORT_FRAME_INLINE_MAX)

/* Larger payloads are chunked: a header-only message frame announces the
 * size (at most IPCBUS_PORT_MESSAGE_MAX), continuation frames carry the
 * bytes. The receiver reads payloads up to PORT_FRAME_CHUNKED_MAX into
 * malloc()ed memory (reused from one message to the next) and larger ones
 * into transparent huge pages; where the kernel has none, a sender puts
 * payloads over PORT_FRAME_CHUNKED_MAX in a sealed memfd instead. */
#define PORT_FRAME_CHUNKED_MAX (16U * 1024U * 1024U)
/* The most bytes one continuation frame carries. */
#define PORT_FRAME_CHUNK_MAX (256U * 1024U)

/* The kernel passes at most SCM_MAX_FD (253) descriptors per datagram; one
 * is kept for the memfd. */
#define PORT_FRAME_FDS_MAX 253U
#define PORT_FRAME_PORTS_MAX 252U

/* A handover (docs/ports.md, "Transfer") carries at most this many port
 * sockets of queued messages, and a bundle of at most this many bytes. */
#define PORT_FRAME_HANDOVER_FDS_MAX 65536U
#define PORT_FRAME_BUNDLE_MAX (UINT64_C(1) << 40)

typedef enum port_frame_type {
        PORT_FRAME_MESSAGE = 0,  /* a message: payload "v", fds the transferred ports */
        PORT_FRAME_FDS = 1,      /* handover: port sockets of the queued messages, no payload */
        PORT_FRAME_ADOPT = 2,    /* handover: the port's own socket; payload the queued messages */
        PORT_FRAME_CONTINUE = 3, /* the next bytes of a chunked message's payload */
} port_frame_type;

#define PORT_FRAME_FLAG_MEMFD 0x01U   /* message, adopt: the payload is in the memfd */
#define PORT_FRAME_FLAG_CHUNKED 0x02U /* message: the payload follows in continuation frames */

#define PORT_FRAME_ALIGN8(x) (((x) + UINT64_C(7)) & ~UINT64_C(7))

typedef struct port_frame_header {
        uint8_t type;
        uint8_t flags;
        uint8_t n_ports;       /* fds before the memfd */
        uint64_t payload_size; /* inline: the bytes after the header; memfd: its size; chunked: the total */
} port_frame_header;

void port_frame_header_write(void *buf, port_frame_type type, uint8_t flags, uint8_t n_ports,
                             uint64_t payload_size);

/* Sets an org.ipcbus.Error.BadFrame error (@error may be NULL). Return: -EBADMSG. */
int port_frame_bad(sd_bus_error *error, const char *format, ...) G_GNUC_PRINTF(2, 3);

/* The fields of the 16 bytes at @p, with the checks that need nothing else
 * (magic, version, known flags). Return: 0; -EBADMSG with @error set. */
int port_frame_header_read(const void *p, port_frame_header *ret, sd_bus_error *error);

/**
 * port_frame_header_parse - check a received datagram's header
 * @datagram: what recvmsg() returned, @size bytes
 * @n_fds: how many descriptors came with it
 *
 * Checks magic, version, type, flags, that the descriptors are exactly the
 * ports plus the memfd the header announces, and that an inline payload is
 * exactly the rest of the datagram (a memfd or chunked message frame is the
 * header alone; a continuation frame carries 1..PORT_FRAME_CHUNK_MAX bytes).
 * Only @datagram's first 16 bytes are read: @size is the whole datagram's.
 * Return: 0; -EBADMSG with @error set.
 */
int port_frame_header_parse(const void *datagram, size_t size, size_t n_fds, port_frame_header *ret,
                            sd_bus_error *error);

/* Whether the 16 bytes at @header start a handover (FDS or ADOPT frame):
 * how a port that arrives tells a handover socket from its own. */
bool port_frame_is_handover(const void *header);

/**
 * port_frame_is_normal - whether @payload is a "v" in GVariant normal form
 * holding a value a channel carries (value_normal_check())
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

/* Whether the kernel gives transparent huge pages on request
 * (/sys/kernel/mm/transparent_hugepage/enabled: always or madvise), read once. */
bool port_frame_huge_pages(void);
/* Tests: 1 or 0 overrides port_frame_huge_pages(), -1 restores it. */
void port_frame_huge_pages_override(int value);

/* How a payload of @size bytes travels: inline, chunked or in a memfd. */
uint8_t port_frame_payload_flags(uint64_t size);

/*
 * Reassembly of a chunked message (docs/ports.md, "Medium messages"): the
 * receiver reads each continuation frame's header into 16 bytes of its own
 * and its bytes straight to port_frame_assembly_next(), at most
 * port_frame_assembly_room() of them (a longer datagram is truncated, so
 * refused), then hands the header to port_frame_assembly_add().
 */
typedef struct port_frame_assembly {
        uint8_t *buf;  /* the payload, @size bytes */
        uint64_t size; /* announced */
        uint64_t received;
        bool mapped;        /* @buf is a mapping of huge pages (over PORT_FRAME_CHUNKED_MAX) */
        uint64_t populated; /* of it, bytes populated ahead of what arrives */
        int *fds;           /* the message's transferred ports, owned */
        unsigned n_fds;
} port_frame_assembly;

/* Starts the message announced by @h (a parsed chunked message frame), with
 * the @n_fds descriptors that came with it (taken on success).
 * Return: 0; -ENOMEM when no mapping that large can be had (a peer's
 * announcement must not abort the process, as a failed g_malloc() would). */
int port_frame_assembly_begin(port_frame_assembly *a, const port_frame_header *h, const int *fds,
                              size_t n_fds);
static inline bool port_frame_assembly_busy(const port_frame_assembly *a) {
        return a->buf != NULL;
}
/* Where the next piece goes (a mapping is populated a few MiB ahead of it). */
uint8_t *port_frame_assembly_next(port_frame_assembly *a);
static inline size_t port_frame_assembly_room(const port_frame_assembly *a) {
        return (size_t)MIN(a->size - a->received, (uint64_t)PORT_FRAME_CHUNK_MAX);
}

/**
 * port_frame_assembly_add - take a received continuation frame
 * @header: its 16 header bytes; @size: the datagram's size; @n_fds: descriptors with it (must be 0)
 *
 * Return: 1 when the payload is complete (port_frame_assembly_steal()); 0
 * when more is to come; -EBADMSG with @error set when the frame is not the
 * next continuation (the assembly stays as it was; clear it).
 */
int port_frame_assembly_add(port_frame_assembly *a, const void *header, size_t size, size_t n_fds,
                            sd_bus_error *error);

/* The complete payload; the descriptors move to @ret_fds (a.n_fds of them,
 * g_free() the array). The assembly is empty afterwards. */
GBytes *port_frame_assembly_steal(port_frame_assembly *a, int **ret_fds);

/* Drops what was received and closes the descriptors. */
void port_frame_assembly_clear(port_frame_assembly *a);

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

/*
 * A handover bundle (docs/ports.md, "Transfer"): records of a 16-byte
 * header, the payload and zeros up to a multiple of 8, in this order:
 *   - at most one PARTIAL record: a chunked message this port was reading,
 *     its header (MESSAGE, CHUNKED, its ports, the whole size), then the
 *     count of bytes received (8 bytes, little-endian) and those bytes;
 *   - at most one REST record: the bytes of a chunked message this port was
 *     sending that did not go yet (CONTINUE header);
 *   - MESSAGE records: whole queued messages (MESSAGE header, flags 0).
 */
typedef enum port_frame_record_kind {
        PORT_RECORD_MESSAGE,
        PORT_RECORD_REST,
        PORT_RECORD_PARTIAL,
} port_frame_record_kind;

typedef struct port_frame_record {
        port_frame_record_kind kind;
        GVariant *value;  /* MESSAGE */
        GBytes *bytes;    /* REST: to send; PARTIAL: received */
        uint64_t total;   /* PARTIAL: the whole payload's size */
        unsigned n_ports; /* this record's share of the handover's FDS descriptors, in order */
} port_frame_record;

uint64_t port_frame_record_size(uint64_t payload_size);
uint64_t port_frame_partial_record_size(uint64_t received);

/* Write a record at @dst (8-aligned, of the size above). */
void port_frame_record_write(void *dst, GVariant *value, unsigned n_ports);
void port_frame_rest_record_write(void *dst, const struct iovec *iov, size_t n_iov, uint64_t size);
void port_frame_partial_record_write(void *dst, const port_frame_assembly *a);

/* Unreferences what each record holds and frees the array. */
void port_frame_records_free(port_frame_record *records, size_t n);

/**
 * port_frame_bundle_parse - the records of a bundle
 * @n_fds: descriptors that came in FDS frames; the records must use exactly these
 * @ret: port_frame_records_free() it
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
/* The same, with the datagram in @n_iov pieces. */
int port_frame_sendv(int fd, const struct iovec *iov, size_t n_iov, const int *fds, size_t n_fds);

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
/* The same, into @n_iov pieces; -EBADMSG also when the datagram is longer than they are. */
ssize_t port_frame_recvv(int fd, const struct iovec *iov, size_t n_iov, int *fds, size_t *ret_n_fds);

/* Close @n descriptors. */
void port_frame_close_fds(const int *fds, size_t n);

/* Whether @fd is an AF_UNIX SOCK_SEQPACKET socket, the only thing a port can be. */
bool port_frame_fd_is_port(int fd);
