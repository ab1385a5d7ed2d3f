/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Fault injection: libipcbus-test-fault.so defines a few libsystemd
 * functions itself, passes each call on to libsystemd's (dlsym(RTLD_NEXT))
 * and, once armed, makes chosen calls fail with a chosen -errno. A test
 * reaches failures the system rarely gives (no timerfd left, epoll full, a
 * send that fails) on the path it means, without a mock of sd-bus.
 *
 *     assert_int_equal(fault_arm("sd_bus_send", -EIO, 0, 1), 0);
 *     ... the next sd_bus_send() the code makes fails with -EIO ...
 *     assert_int_equal(fault_fired("sd_bus_send"), 1);
 *
 * Interposed: sd_bus_send, sd_event_add_time, sd_event_source_set_time and
 * sd_event_source_set_io_events.
 *
 * Only a definition that comes before libsystemd's in the process's lookup
 * order is used: the test links the library (meson link_with), so that it
 * is NEEDED ahead of libsystemd. That works under ASan, whose runtime must be
 * first (LD_PRELOAD would put this one there), and under valgrind.
 * fault_arm() checks that calls reach this library.
 *
 * Only calls from outside libsystemd count and fail: libipcbus's, the
 * test's. What libsystemd calls of its own through its exported names
 * (sd_bus_call_method_async() sending, sd-bus arming its own timer) passes,
 * so a count means the calls the code under test makes.
 *
 * For one thread; a forked child inherits what is armed.
 */

/**
 * fault_arm - make calls to @function fail
 * @function: one of the interposed functions, by name
 * @error: what a failing call returns, a negative errno
 * @skip: how many calls to let through first
 * @count: how many calls fail after them; then calls pass again
 *
 * Replaces what was armed for @function before and sets its fired count to 0.
 * Return: 0; -EINVAL for a function not interposed or an @error that is not
 * negative; -ENOLINK if calls to @function do not reach this library (it was
 * linked after libsystemd, or not at all).
 */
int fault_arm(const char *function, int error, unsigned skip, unsigned count);

/* Return: how many calls to @function failed since it was last armed, or 0
 * for a function not interposed. */
unsigned fault_fired(const char *function);

/* Calls to every function pass again; the fired counts stay. */
void fault_disarm_all(void);
