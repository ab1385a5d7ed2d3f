/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A private message bus for one test: its own daemon, config and socket in a
 * temporary directory, so tests never touch the user's or the system's bus
 * and can run in parallel. The config is session-like (EXTERNAL auth, every
 * user may connect, everything allowed, no activatable services) with limits
 * raised so that 64 MiB messages pass; or system-like (test_bus_start_with()):
 * the default policy of the system bus, with a directory of policy files
 * included, and a socket other users can reach.
 *
 *     _cleanup_(test_bus_freep) test_bus *bus = NULL;
 *     _cleanup_(sd_bus_flush_close_unrefp) sd_bus *conn = NULL;
 *     assert_int_equal(test_bus_start(&bus, TEST_BUS_DBUS_DAEMON), 0);
 *     assert_int_equal(test_bus_connect(bus, &conn), 0);
 */

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "test-process.h"

/* The environment variable test_bus_setenv() sets for child processes. */
#define TEST_BUS_ADDRESS_ENV "IPCBUS_TEST_BUS_ADDRESS"

typedef enum test_bus_kind {
        TEST_BUS_DBUS_DAEMON, /* the reference dbus-daemon */
        TEST_BUS_DBUS_BROKER, /* dbus-broker, through dbus-broker-launch */
} test_bus_kind;

/* What the bus allows: its <policy> and limits. */
typedef enum test_bus_config {
        /* Like a session bus: anything goes, limits raised (test_bus_start()). */
        TEST_BUS_SESSION_LIKE,
        /*
         * Like Debian's system bus (/usr/share/dbus-1/system.conf): every user
         * may connect with EXTERNAL, nobody may own a name or send a method
         * call except to the bus driver, signals and requested replies pass;
         * the included policy files punch the holes. The daemon's default
         * limits. The bus directory is mode 0755 and every directory above it
         * must be searchable by others, so that a process of another uid
         * reaches the socket (which the daemon makes 0777).
         */
        TEST_BUS_SYSTEM_LIKE,
} test_bus_config;

typedef struct test_bus test_bus;

/**
 * test_bus_start - start a private bus and wait until it accepts clients
 * @ret: the running bus
 * @kind: which implementation
 *
 * dbus-daemon reports its address when it listens (--print-address), which
 * is the readiness signal. dbus-broker-launch needs a journal socket at a
 * fixed path and takes its listening socket from the caller, so it runs in a
 * private mount namespace (needs CAP_SYS_ADMIN: root outside a restricted
 * container) under a small keeper process that reaps it and the broker;
 * readiness is a first round trip to the bus. Both die with the test
 * (PR_SET_PDEATHSIG).
 * Return: 0; -EOPNOTSUPP for dbus-broker where no mount namespace can be
 * made; -EINVAL for an
 * unknown @kind; -EIO if the daemon exited or never became ready; -ENOMEM;
 * -errno from creating the directory or config.
 */
int test_bus_start(test_bus **ret, test_bus_kind kind);

/**
 * test_bus_start_with - start a private bus with a given config
 * @ret: the running bus
 * @kind: which implementation
 * @config: what the bus allows
 * @policy_dir: NULL, or a directory whose *.conf files the config includes
 *   (<includedir>) after its own policy, as the system bus does with
 *   system.d/; an absolute path
 *
 * test_bus_start() is test_bus_start_with(ret, kind, TEST_BUS_SESSION_LIKE, NULL).
 * Return: as test_bus_start(); also -EINVAL for a relative @policy_dir or one
 * with characters XML would need escaped, -EACCES for a system-like bus whose
 * directory (from $TMPDIR) another uid cannot reach.
 */
int test_bus_start_with(test_bus **ret, test_bus_kind kind, test_bus_config config, const char *policy_dir);

/**
 * test_bus_start_activating - start a session-like dbus-daemon that starts
 *   the services of @service_dir on demand (D-Bus activation)
 * @ret: the running bus
 * @service_dir: an absolute directory of D-Bus .service files, the
 *   config's <servicedir>
 * @typed: whether the config says <type>session</type>. A typed bus gives
 *   the services it starts DBUS_STARTER_ADDRESS, DBUS_STARTER_BUS_TYPE=session
 *   and its address as DBUS_SESSION_BUS_ADDRESS; an untyped one
 *   DBUS_STARTER_ADDRESS alone. Either way they inherit the rest of this
 *   process's environment.
 *
 * The bus starts a service as a process of its own (not a child of the
 * test), which outlives the bus unless it ends with its connection: a test
 * stops what it started.
 * Return: as test_bus_start(); -EINVAL for a NULL, relative or
 * XML-unsafe @service_dir.
 */
int test_bus_start_activating(test_bus **ret, const char *service_dir, bool typed);

/* Return: "dbus-daemon" or "dbus-broker", for messages and test names. */
const char *test_bus_kind_to_string(test_bus_kind kind);

/* Return: the bus address (unix:path=...), valid until test_bus_free(). */
const char *test_bus_get_address(test_bus *b);

/**
 * test_bus_connect - a new started client connection to the bus
 * @ret: the connection; release it with sd_bus_flush_close_unref()
 *
 * The Hello call is sent but not waited for; the first call waits for it.
 * Return: 0; sd-bus errors.
 */
int test_bus_connect(test_bus *b, sd_bus **ret);

/**
 * test_bus_setenv - make the bus this process's (and its children's) session bus
 *
 * Sets DBUS_SESSION_BUS_ADDRESS, so sd_bus_open_user(), busctl --user and
 * gdbus --session reach it, and TEST_BUS_ADDRESS_ENV. The variables are not
 * restored by test_bus_free().
 * Return: 0; -ENOMEM.
 */
int test_bus_setenv(test_bus *b);

/**
 * test_bus_kill - kill the bus's daemon with @sig and reap it, as a crash would
 *
 * The directory stays until test_bus_free(); the bus accepts nobody after.
 * For dbus-broker, @sig reaches the keeper, not the broker.
 * Return: 0; -ESRCH if the daemon is gone already; -errno from kill().
 */
int test_bus_kill(test_bus *b, int sig);

/**
 * test_bus_free - stop the daemon, reap it, remove its directory
 * Return: NULL.
 */
test_bus *test_bus_free(test_bus *b);
void test_bus_freep(test_bus **b);
