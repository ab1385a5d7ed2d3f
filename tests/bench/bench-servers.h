/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The two kinds of server bench-ipc compares, each run in a child process
 * (test_process_spawn()) on the bench's private bus. Both print "ready" once
 * they own their name and serve until SIGTERM ends the process (no handler:
 * nothing but the measured work runs in them).
 *
 * The ipcbus main serves channels through ipcbus_main_run():
 *   echo (handle)        returns its arguments, one "av" value
 *   echo-s (handle)      returns its one string argument, "s": untyped, or
 *                        with config.typed declared (org.ipcbus.Bench.Channels,
 *                        so also the method EchoS(s) -> s) and served by the
 *                        handler ipcbus-codegen generated (bench-channels.h)
 *   count (on)           counts the messages
 *   count-get (handle)   returns the count, "u"
 *
 * The plain sd-bus server does the same work shape with nothing but sd-bus:
 *   method Echo(s channel, av args) -> v   returns args, as ipcbus's Invoke
 *   method EchoS(s text) -> s              returns text, as the typed EchoS
 *   method Count() -> u                    the signals counted so far
 *   signal Message(s channel, av args)     counted by a filter when channel
 *                                          is "count", as ipcbus's Message
 * The vtable is UNPRIVILEGED (no credentials query per call), the loop either
 * sd_bus_process()/sd_bus_wait() or sd-event with sd_bus_attach_event().
 *
 * The names have the lengths of ipcbus's (org.ipcbus.Main1 and
 * org.ipcbus.Echo1, Channel1 and Signal1 ...), so that after D-Bus's 8-byte
 * padding of header fields both sides send messages of the same size.
 */

#include <stdbool.h>
#include <stddef.h>

#define BENCH_IPCBUS_NAME "org.ipcbus.Bench"
/* The same main again, for the client that sends with ipcbus_renderer_sendf(). */
#define BENCH_IPCBUS_SENDF_NAME "org.ipcbus.BenchSendf"
/* The ipcbus mains of bench-ipc --typed's typed clients (config.typed). */
#define BENCH_DECLARED_NAME "org.ipcbus.BenchD"
#define BENCH_GENERATED_NAME "org.ipcbus.BenchG"
#define BENCH_TYPED_FACE_NAME "org.ipcbus.BenchF"

#define BENCH_PLAIN_NAME "org.ipcbus.Plain"
#define BENCH_PLAIN_EVENT_NAME "org.ipcbus.PlainE"
#define BENCH_PLAIN_INTERFACE "org.ipcbus.Echo1"
#define BENCH_PLAIN_SIGNAL_INTERFACE "org.ipcbus.Signal1"
#define BENCH_PLAIN_CLIENT_PATH "/org/ipcbus/Client"

typedef struct bench_server_config {
        const char *address; /* the bus */
        const char *name;    /* the well-known name to own; the path is derived from it */
        bool use_event;      /* plain server: sd-event instead of sd_bus_process()/sd_bus_wait() */
        bool gate;           /* ipcbus main: a sender check reading the sender's uid, and allowlists */
        bool typed;          /* ipcbus main: echo-s declared and served by generated C */
        bool reads;          /* ipcbus main: count's listener reads the event (ipcbus_main_on_event(),
                              * ipcbus_event_read() of "s") instead of taking the GVariant */
        bool direct;         /* serve direct_fd, one end of a socketpair, instead of a bus (peer to
                              * peer: no name, no bus daemon); address and name are then unused */
        int direct_fd;
} bench_server_config;

/**
 * bench_plain_server - the plain sd-bus server (test_process_fn)
 * @userdata: a bench_server_config
 * Return: only on failure: 1 (reported on stderr).
 */
int bench_plain_server(void *userdata);

/**
 * bench_ipcbus_main - the ipcbus main (test_process_fn)
 * @userdata: a bench_server_config (name is used as the main's name)
 * Return: only on failure: 1 (reported on stderr).
 */
int bench_ipcbus_main(void *userdata);

/* "/org/ipcbus/Plain" for "org.ipcbus.Plain", in @buf of @size bytes. */
void bench_path_from_name(const char *name, char *buf, size_t size);
