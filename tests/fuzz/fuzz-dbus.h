/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The peer's side of a direct connection, byte by byte, for the endpoint
 * fuzz targets (fuzz-main-direct.c, fuzz-renderer-direct.c) and their seed
 * generator (fuzz-seeds.c): the SASL lines, D-Bus messages written from a
 * header the harness makes and a body the fuzzer gives, and a reader of
 * what the endpoint answers. No sd-bus on this side, so nothing checks or
 * fixes what is written.
 *
 * An input is one mode byte, then:
 *
 *   mode 0  bytes written in place of the SASL handshake
 *   mode 1  the handshake, then the bytes as they are
 *   mode 2+ the handshake, then records, each one message:
 *
 *     ctl      bit 0 big-endian; bits 1-2 type (call, return, error,
 *              signal); bit 3 NO_REPLY_EXPECTED; bit 4 a SENDER field;
 *              bit 5 a DESTINATION field; bits 6-7 the path (the
 *              endpoint's own, "/", the other endpoint's, the Local one)
 *     what     a call or signal: the member, an index into the target's
 *              table; a return or error: the reply serial, 0-3 the serial
 *              of the endpoint's latest calls to us (0 the newest), else
 *              itself less 4
 *     fds      bits 0-1 descriptors sent with it (0-3), bits 2-3 their
 *              kind (FUZZ_FD_*), bits 4-6 an error's name
 *     n        the signature's length, then its bytes
 *     len      the body's length, two bytes little-endian, then the body
 *
 * The harness writes each message whole and runs the endpoint's loop until
 * it is idle before the next, so a reply can name a call the endpoint made
 * in answer to an earlier record.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>
#include <systemd/sd-event.h>

#include <ipcbus/ipcbus.h>

#define FUZZ_MODE_PRE_AUTH 0
#define FUZZ_MODE_RAW 1
#define FUZZ_MODES 8

#define FUZZ_CTL_BIG_ENDIAN 0x01
#define FUZZ_CTL_TYPE_SHIFT 1
#define FUZZ_CTL_NO_REPLY 0x08
#define FUZZ_CTL_SENDER 0x10
#define FUZZ_CTL_DESTINATION 0x20
#define FUZZ_CTL_PATH_SHIFT 6

/* The D-Bus message types, as the ctl byte's bits 1-2 name them. */
enum {
        FUZZ_CALL,
        FUZZ_RETURN,
        FUZZ_ERROR,
        FUZZ_SIGNAL,
};

enum {
        FUZZ_PATH_OWN,
        FUZZ_PATH_ROOT,
        FUZZ_PATH_OTHER,
        FUZZ_PATH_LOCAL,
};

/* What a descriptor sent with a message is. */
enum {
        FUZZ_FD_SEQPACKET,   /* a port's socket, as PostMessage expects */
        FUZZ_FD_STREAM,      /* a socket of the wrong type */
        FUZZ_FD_PIPE,        /* not a socket */
        FUZZ_FD_MEMFD,       /* not a socket either, and sealable */
};

#define FUZZ_FDS_MAX 3
#define FUZZ_ERROR_NAMES 8

/* The guid the harness answers a client's AUTH with. */
#define FUZZ_SERVER_GUID "0123456789abcdef0123456789abcdef"

typedef struct fuzz_member {
        const char *interface; /* NULL: no INTERFACE field */
        const char *member;
} fuzz_member;

/* One message to write: the header fields the harness chooses. */
typedef struct fuzz_header {
        bool big_endian;
        uint8_t type;          /* FUZZ_CALL ... FUZZ_SIGNAL */
        uint8_t flags;         /* the header's flags byte */
        uint32_t serial;
        const char *path;
        const char *interface;
        const char *member;
        const char *error_name;
        uint32_t reply_serial; /* 0: no REPLY_SERIAL field */
        const char *destination;
        const char *sender;
        const char *signature; /* NULL or "": no SIGNATURE field */
        size_t signature_size; /* its bytes, which may hold a NUL: SIZE_MAX for strlen() */
        uint32_t n_fds;        /* the UNIX_FDS field, 0: none */
} fuzz_header;

/* One templated record, pointing into the input. */
typedef struct fuzz_record {
        uint8_t ctl, what, fds;
        const char *signature;
        size_t signature_size;
        const uint8_t *body;
        size_t body_size;
} fuzz_record;

/* A message the endpoint wrote to us, as far as the harness cares. */
typedef struct fuzz_seen {
        uint8_t type;          /* FUZZ_CALL ... FUZZ_SIGNAL, as on the wire less 1 */
        uint32_t serial;
        uint32_t reply_serial;
        char member[64];
        char error_name[128];
        char signature[64];
} fuzz_seen;

/* Our end of the socketpair. */
typedef struct fuzz_peer {
        int fd;
        GByteArray *out;               /* written from out_done on */
        size_t out_done;
        int out_fds[FUZZ_FDS_MAX];     /* sent with the next byte of out */
        size_t n_out_fds;
        GArray *kept_fds;              /* the other ends, closed with the peer */
        GByteArray *in;                /* read and not parsed yet */
        const char *auth_end;          /* the SASL line that ends the endpoint's part */
        bool auth_done;
        bool garbled;                  /* what the endpoint wrote cannot be parsed: stop */
        bool eof;                      /* the endpoint closed, or a write failed */
        uint32_t serial;
        GArray *seen;                  /* fuzz_seen */
} fuzz_peer;

/* Reads a record at *data; advances past it. Return: false at the end. */
bool fuzz_record_next(const uint8_t **data, size_t *size, fuzz_record *ret);

/* Appends one message with @body (already in the header's byte order). */
void fuzz_message_append(GByteArray *out, const fuzz_header *h, const void *body, size_t body_size);

/* The body of @body (a tuple, floating or not) serialized as D-Bus does. */
GBytes *fuzz_body_new(GVariant *body, bool big_endian);

/* Appends a record: the inverse of fuzz_record_next(). */
void fuzz_record_append(GByteArray *out, uint8_t ctl, uint8_t what, uint8_t fds, const char *signature,
                        GBytes *body);

/* The SASL lines of a client (uid of this process), or of a server. */
void fuzz_auth_client(GByteArray *out);
void fuzz_auth_server(GByteArray *out);

/* @fd is ours, @auth_end the line after which the endpoint speaks D-Bus
 * ("AGREE_UNIX_FD" from a server, "BEGIN" from a client), NULL never. */
void fuzz_peer_init(fuzz_peer *p, int fd, const char *auth_end);
void fuzz_peer_done(fuzz_peer *p);

/* Queues a message; the descriptors of @n_fds of @kind go with it. */
void fuzz_peer_queue(fuzz_peer *p, const fuzz_header *h, const void *body, size_t body_size, unsigned n_fds,
                     unsigned kind);

/* The serial of the endpoint's @nth newest call to us, 0 if none. */
uint32_t fuzz_peer_call_serial(fuzz_peer *p, unsigned nth);

/* The reply to our call @serial, or NULL. */
const fuzz_seen *fuzz_peer_reply(fuzz_peer *p, uint32_t serial);

/* Tells stderr what the endpoint wrote: for the report of a finding. */
void fuzz_peer_dump(fuzz_peer *p);

/* Writes what is queued and reads what comes, running @event between,
 * until all is written and nothing happens any more. Aborts after too many
 * rounds: an endpoint that never goes idle is a finding. */
void fuzz_peer_pump(fuzz_peer *p, sd_event *event);

/* A record's header: @table is the target's members, @paths its own path
 * and the other endpoint's. The error names come from a fixed table. */
void fuzz_record_header(fuzz_peer *p, const fuzz_record *rec, const fuzz_member *table, size_t n_table,
                        const char *own_path, const char *other_path, fuzz_header *ret);

/* Whether descriptors may go with the message @h: not if sd-bus will drop
 * it as invalid, since sd-bus 252 then forgets the descriptors that came
 * with it (bus_socket_make_message: its array and each descriptor leak).
 * A hostile peer can do that to any sd-bus program; it is not ipcbus's to
 * find on every run. */
bool fuzz_header_takes_fds(const fuzz_header *h);

/* LeakSanitizer's suppressions: the one leak of sd-bus's above, which
 * fuzz_header_takes_fds() cannot always foresee. */
const char *__lsan_default_suppressions(void);

/* A log function that reads the message and drops it. */
void fuzz_log_drop(int priority, const char *message, void *userdata);

/* fuzz-handlers.c: the handlers both endpoint targets serve: fuzz-echo answers its
 * arguments, fuzz-fail an error, fuzz-keep answers nothing and keeps the
 * invocation in the GPtrArray its userdata is (the oldest of
 * FUZZ_KEPT_MAX goes, answered by its last unref). */
#define FUZZ_KEPT_MAX 8
int fuzz_handle_echo(ipcbus_invocation *inv, GVariant *args, void *userdata);
int fuzz_handle_fail(ipcbus_invocation *inv, GVariant *args, void *userdata);
int fuzz_handle_keep(ipcbus_invocation *inv, GVariant *args, void *kept);
/* A listener that reads the event (ipcbus_event_read()) in several ways,
 * each string to its end; registered on fuzz-ping before the GVariant
 * listener, which then makes the GVariant from what was read. */
int fuzz_read_event(ipcbus_event *event, void *userdata);
