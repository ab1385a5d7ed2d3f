/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The self-test's machinery, shared by its scenario files: the windows
 * (in-process renderers), waiting for events under the scenario's deadline,
 * invokes and their answers, what the windows and the main received, and
 * the "ok NAME" / "FAIL NAME: why" / "skip NAME: why" report.
 *
 * Waiting is always for an event, bounded by a deadline: the loop runs
 * until the condition holds, never sleeps. Functions that check something
 * return 0, or -1 after recording why (selftest_fail()); the first reason
 * recorded in a scenario is the one its FAIL line gives.
 */

#include "demo.h"

#define SELFTEST_SCENARIO_TIMEOUT_USEC (5U * 1000U * 1000U)
#define SELFTEST_READY_TIMEOUT_USEC (10U * 1000U * 1000U)

typedef struct demo_window {
        const char *name;
        char *log_prefix;
        ipcbus_renderer *r;
        GPtrArray *recv; /* "CHANNEL ARGS" of each message since the scenario began */
        demo_port_end port;
        /* While set, the main's Renderer1.Invoke on renderer-state is kept
         * in held_state, unanswered, until window_release_state(). */
        bool hold_state;
        ipcbus_invocation *held_state;
} demo_window;

typedef struct demo_selftest {
        sd_event *event;
        demo_bus *bus;
        demo_child *main;
        demo_window win1, win2;
        char *outside_file; /* exists, but outside what the main may read */
        char *open_file;    /* what dialog:openFile answered */
        uint64_t deadline;  /* of the running scenario */
        unsigned main_mark; /* the main's lines before this are older scenarios' */
        unsigned completions;
        char *why;
        unsigned failed;
} demo_selftest;

typedef struct demo_scenario {
        const char *name;
        int (*run)(demo_selftest *t);
} demo_scenario;

/* The trust boundary's scenarios (demo-trust.c), run after the seeds'. */
extern const demo_scenario selftest_trust_scenarios[];
extern const size_t selftest_n_trust_scenarios;

/* ---- waiting, failing, reporting ------------------------------------------ */

/* One loop iteration, bounded by the scenario's deadline. Return: 0; -ETIMEDOUT; -errno. */
int selftest_step(demo_selftest *t);

/* Run the loop until @cond holds. Return: 0; -ETIMEDOUT; -errno. */
#define WAIT_FOR(t, cond)                                               \
        ({                                                              \
                int _k = 0;                                             \
                while (!(cond) && (_k = selftest_step(t)) >= 0)         \
                        ;                                               \
                _k;                                                     \
        })

/* Record why the scenario failed (the first reason wins). Return: -1. */
int selftest_fail(demo_selftest *t, const char *format, ...) G_GNUC_PRINTF(2, 3);

/* A scenario's result when what it shows cannot be shown on this machine
 * (bwrap is missing): neither a pass nor a failure. */
#define SELFTEST_SKIPPED 1

/* Record why the scenario cannot run here. Return: SELFTEST_SKIPPED, or -1
 * if it had already failed. */
int selftest_skip(demo_selftest *t, const char *format, ...) G_GNUC_PRINTF(2, 3);

/* A new deadline; what the windows and the main received so far is old. */
void selftest_scenario_begin(demo_selftest *t, uint64_t timeout_usec);

/* Print "ok NAME", "skip NAME: why" (SELFTEST_SKIPPED) or "FAIL NAME: why"
 * (negative) for @result. */
void selftest_report(demo_selftest *t, const char *name, int result);

/* ---- windows ---------------------------------------------------------------- */

/* Connect a renderer named @name to the private bus, not attached yet. */
int window_open(demo_selftest *t, demo_window *w, const char *name);
/* Disconnect; NULL-safe on a window never opened. */
void window_close(demo_window *w);

/* Stop holding renderer-state and answer the one held, if any.
 * Return: 0; -errno from answering it. */
int window_release_state(demo_window *w);

/* The messages @w got, for a FAIL line. */
char *window_describe(demo_window *w);

/* Wait until @w got @channel with the one string @text, exactly once. */
int window_expect_message(demo_selftest *t, demo_window *w, const char *channel, const char *text);

/* Wait until the main printed that it received @channel with @args. */
int selftest_expect_main_recv(demo_selftest *t, const char *channel, GVariant *args);

/* ---- invokes ---------------------------------------------------------------- */

typedef struct demo_call {
        demo_selftest *t;
        ipcbus_slot *slot;
        bool done;
        unsigned order; /* 1 for the first answer in the scenario, ... */
        uint64_t started, finished;
        GVariant *result;
        sd_bus_error error;
} demo_call;

#define DEMO_CALL_INIT { .error = SD_BUS_ERROR_NULL }

/* Cancels the call if it is still pending: its callback writes to @c. */
void demo_call_clear(demo_call *c);

/* Record @c's answer (a floating @result is sunk): what a result callback
 * does, typed ones (demo-channels.h) included. */
void selftest_call_done(demo_call *c, GVariant *result, const sd_bus_error *error);

/* ipcRenderer.invoke(channel, ...args), asynchronous. */
int selftest_call_start(demo_selftest *t, demo_window *w, const char *channel, GVariant *args, demo_call *c);
int selftest_call_wait(demo_selftest *t, demo_call *c, const char *channel);
/* Wait for @c and check it answered the string @expected. */
int selftest_call_expect_string(demo_selftest *t, demo_call *c, const char *channel, const char *expected);
/* Wait for @c and check it failed with exactly @name and @message. */
int selftest_call_expect_error(demo_selftest *t, demo_call *c, const char *channel, const char *name,
                               const char *message);
int selftest_expect_string(demo_selftest *t, const char *what, GVariant *v, const char *expected);

/* Invoke and wait, for scenarios that need nothing in between. */
int window_invoke_expect_string(demo_selftest *t, demo_window *w, const char *channel, GVariant *args,
                                const char *expected);
int window_invoke_expect_error(demo_selftest *t, demo_window *w, const char *channel, GVariant *args,
                               const char *name, const char *message);

/* ipcRenderer.sendSync(channel, text): blocks, as in Electron. */
int window_send_sync_expect_string(demo_selftest *t, demo_window *w, const char *channel, const char *text,
                                   const char *expected);

/* ipcRenderer.send(channel, ...args). */
int window_send(demo_selftest *t, demo_window *w, const char *channel, GVariant *args);

/* Once this returns, everything the main sent @w before handling a new
 * invoke from @w has been dispatched: @w's unicast messages arrive in order. */
int window_barrier(demo_selftest *t, demo_window *w);

/* After a barrier: @w got nothing at all in this scenario. */
int window_expect_nothing(demo_selftest *t, demo_window *w);

/* ('text'), floating: a call it is passed to sinks it. */
GVariant *selftest_string_args(const char *text);
