/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Helpers shared by the MessagePort unit tests (test-port.c and
 * test-port-chunked.c): waiting on the event loop with a deadline, counting
 * descriptors, a receiver that records everything, a log that collects
 * what a port says, posting small values, and the pieces of a frame written
 * raw. The assertions are cmocka's: include <cmocka.h> before using
 * RUN_UNTIL().
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <glib.h>

#include <ipcbus/ipcbus.h>

#include "test-process.h"

/* Generous: valgrind runs these many times slower (and
 * $IPCBUS_TEST_DEADLINE_SCALE scales it, through test_deadline_usec()). */
#ifndef DEADLINE_USEC
#define DEADLINE_USEC (120 * TEST_USEC_PER_SEC)
#endif

/* CLOCK_MONOTONIC, in microseconds. */
uint64_t pt_now_usec(void);

/* Runs @e until @cond holds; fails the test at the deadline. */
#define RUN_UNTIL(e, cond) \
        do { \
                uint64_t _deadline = pt_now_usec() + test_deadline_usec(DEADLINE_USEC); \
                while (!(cond)) { \
                        assert_true(pt_now_usec() < _deadline); \
                        assert_true(sd_event_run((e), 100 * TEST_USEC_PER_MSEC) >= 0); \
                } \
        } while (0)

/* Runs @e until nothing is left to dispatch right now. */
void pt_run_idle(sd_event *e);

/* The descriptors this process has open (/proc/self/fd). */
unsigned pt_count_fds(void);

/* ---- a receiver that records everything ---------------------------------- */

typedef struct inbox {
        GPtrArray *values; /* GVariant */
        GPtrArray *ports;  /* ipcbus_port, one array per message flattened */
        GArray *n_ports;   /* unsigned, per message */
        unsigned closes;
} inbox;

void inbox_init(inbox *in);
void inbox_clear(inbox *in);
/* Records @port's messages and closes in @in. */
void inbox_listen(inbox *in, ipcbus_port *port);
GVariant *inbox_value(inbox *in, unsigned i);
unsigned inbox_n_ports(inbox *in, unsigned i);
int32_t inbox_int(inbox *in, unsigned i);
const char *inbox_str(inbox *in, unsigned i);

/* ---- what a port logs ----------------------------------------------------- */

typedef struct logbook {
        GString *text;
} logbook;

/* An ipcbus_port_set_log_function() function: appends each line to the logbook @userdata. */
void logbook_fn(int priority, const char *message, void *userdata);

/* Fails unless @l holds @needle; empties @l. */
void assert_logged(logbook *l, const char *needle);

/* ---- posting -------------------------------------------------------------- */

int post_int(ipcbus_port *p, int32_t x);
int post_str(ipcbus_port *p, const char *format, ...) G_GNUC_PRINTF(2, 3);

/* ---- frames written raw --------------------------------------------------- */

/* A header as docs/ports.md spells it, byte by byte (not port-frame.c's
 * writer); @magic and @version are parameters so that tests can get them
 * wrong. */
void pt_frame_header(uint8_t buf[16], uint32_t magic, uint8_t version, uint8_t type, uint8_t flags,
                     uint8_t n_ports, uint64_t size);

/* The most descriptors one frame written raw carries. */
#define PT_FDS_MAX 8

typedef union pt_fds_control {
        struct cmsghdr h;
        uint8_t buf[CMSG_SPACE(sizeof(int) * PT_FDS_MAX)];
} pt_fds_control;

/* Attaches @fds (SCM_RIGHTS) to @mh, built in @control; nothing when @n_fds is 0. */
void pt_attach_fds(struct msghdr *mh, pt_fds_control *control, const int *fds, size_t n_fds);
