/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The self-test's scenarios for the trust boundary (issue 6), run after the
 * seeds': the main says who called from the kernel's credentials (whoami),
 * asks the caller back (ask-renderer), confines a renderer attached as
 * "guest", takes a renderer's answer only from that renderer, even when
 * a forger on the bus answers first, and spawns a renderer under bwrap that
 * has its descriptor and no bus.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "demo-selftest.h"

/* Wait for @c and check it answered a dictionary (a{sv}). */
static int call_expect_vardict(demo_selftest *t, demo_call *c, const char *channel) {
        _cleanup_(demo_freep) char *printed = NULL;

        if (selftest_call_wait(t, c, channel) < 0)
                return -1;
        if (sd_bus_error_is_set(&c->error))
                return selftest_fail(t, "invoke '%s' failed: %s: %s", channel, c->error.name,
                                     c->error.message);
        if (!c->result || !g_variant_is_of_type(c->result, G_VARIANT_TYPE_VARDICT)) {
                printed = c->result ? g_variant_print(c->result, TRUE) : g_strdup("nothing");
                return selftest_fail(t, "%s: expected a dictionary (a{sv}), got %s", channel, printed);
        }
        return 0;
}

/* Wait for @c, an ask-renderer from @w, and check it answered @w's own
 * renderer-state. */
static int call_expect_state_of(demo_selftest *t, demo_call *c, demo_window *w) {
        _cleanup_(demo_freep) char *printed = NULL;
        const char *role = NULL;
        uint64_t id = 0;

        if (call_expect_vardict(t, c, "ask-renderer") < 0)
                return -1;
        printed = g_variant_print(c->result, TRUE);
        if (!g_variant_lookup(c->result, "role", "&s", &role) || !g_variant_lookup(c->result, "id", "t", &id))
                return selftest_fail(t, "ask-renderer: expected role (s) and id (t), got %s", printed);
        if (!g_str_equal(role, w->name) || id != ipcbus_renderer_get_id(w->r))
                return selftest_fail(t, "ask-renderer: expected %s's state (id %" PRIu64 "), got %s",
                                     w->name, ipcbus_renderer_get_id(w->r), printed);
        return 0;
}

/* ---- who called ----------------------------------------------------------- */

/* win1 lives in this process: the main must see our pid, uid and gid. */
static int scenario_whoami(demo_selftest *t) {
        _cleanup_(demo_call_clear) demo_call c = DEMO_CALL_INIT;
        _cleanup_(demo_freep) char *printed = NULL;
        uint32_t pid, uid, gid;
        uint64_t id;

        if (selftest_call_start(t, &t->win1, "whoami", NULL, &c) < 0 ||
            call_expect_vardict(t, &c, "whoami") < 0)
                return -1;
        printed = g_variant_print(c.result, TRUE);
        if (!g_variant_lookup(c.result, "pid", "u", &pid) || !g_variant_lookup(c.result, "uid", "u", &uid) ||
            !g_variant_lookup(c.result, "gid", "u", &gid) || !g_variant_lookup(c.result, "id", "t", &id))
                return selftest_fail(t, "whoami: expected pid, uid, gid (u) and id (t), got %s", printed);
        if (pid != (uint32_t)getpid() || uid != (uint32_t)getuid() || gid != (uint32_t)getgid() ||
            id != ipcbus_renderer_get_id(t->win1.r))
                return selftest_fail(t, "whoami: expected pid %d, uid %u, gid %u, id %" PRIu64 ", got %s",
                                     (int)getpid(), (unsigned)getuid(), (unsigned)getgid(),
                                     ipcbus_renderer_get_id(t->win1.r), printed);
        return 0;
}

/* ---- the main asks the caller back ------------------------------------------- */

static int scenario_ask_renderer(demo_selftest *t) {
        _cleanup_(demo_call_clear) demo_call c = DEMO_CALL_INIT;

        if (selftest_call_start(t, &t->win1, "ask-renderer", NULL, &c) < 0)
                return -1;
        return call_expect_state_of(t, &c, &t->win1);
}

/* ---- a confined renderer ------------------------------------------------------- */

/* Invoke get-title from @w; the title, or NULL after recording why not. */
static char *window_get_title(demo_selftest *t, demo_window *w) {
        _cleanup_(demo_call_clear) demo_call c = DEMO_CALL_INIT;

        if (selftest_call_start(t, w, "get-title", NULL, &c) < 0 || selftest_call_wait(t, &c, "get-title") < 0)
                return NULL;
        if (sd_bus_error_is_set(&c.error)) {
                selftest_fail(t, "%s: invoke 'get-title' failed: %s: %s", w->name, c.error.name,
                              c.error.message);
                return NULL;
        }
        if (!c.result || !g_variant_is_of_type(c.result, G_VARIANT_TYPE_STRING)) {
                selftest_fail(t, "%s: get-title did not answer a string", w->name);
                return NULL;
        }
        return g_variant_dup_string(c.result, NULL);
}

/* The main narrowed "guest" to my_channel (every op) and get-title (invoke). */
static int scenario_guest_denied(demo_selftest *t) {
        _cleanup_(window_close) demo_window guest = {};
        _cleanup_(demo_call_clear) demo_call read = DEMO_CALL_INIT;
        _cleanup_(demo_freep) char *title = NULL;
        int k;

        if (window_open(t, &guest, DEMO_GUEST_NAME) < 0)
                return -1;
        k = ipcbus_renderer_attach(guest.r, DEMO_GUEST_NAME);
        if (k < 0)
                return selftest_fail(t, "guest: attach failed: %s", g_strerror(-k));
        /* The main greets it as any window: what it sends is not confined. */
        if (window_expect_message(t, &guest, "testMsg", DEMO_TEST_MSG) < 0)
                return -1;

        /* A call outside its allowlist: Denied, naming the channel. */
        if (selftest_call_start(t, &guest, "readFileEvent", selftest_string_args(DEMO_FILE_NAME), &read) < 0 ||
            selftest_call_wait(t, &read, "readFileEvent") < 0)
                return -1;
        if (!sd_bus_error_has_name(&read.error, IPCBUS_ERROR_DENIED) || !read.error.message ||
            !strstr(read.error.message, "'readFileEvent'"))
                return selftest_fail(t,
                                     "readFileEvent from the guest: expected %s naming 'readFileEvent', got %s",
                                     IPCBUS_ERROR_DENIED,
                                     sd_bus_error_is_set(&read.error) ? read.error.message : "an answer");

        /* A signal outside it is dropped: the title stays. The get-title
         * after it comes on the same connection, so the main has handled
         * (dropped) set-title by then. */
        title = window_get_title(t, &guest);
        if (!title)
                return -1;
        if (window_send(t, &guest, "set-title", selftest_string_args("set by the guest")) < 0)
                return -1;
        if (window_invoke_expect_string(t, &guest, "get-title", NULL, title) < 0)
                return -1;

        /* my_channel is in its allowlist. */
        return window_invoke_expect_string(t, &guest, "my_channel", selftest_string_args("my_data"), "replay");
}

/* ---- a forged reply --------------------------------------------------------------- */

/*
 * A plain sd-bus connection on the self-test's loop, no ipcbus: it
 * eavesdrops on the main's Renderer1.Invoke 'renderer-state' and answers it
 * 'SPOOFED' before the renderer that was asked. sd-bus does not parse
 * eavesdrop rules, so AddMatch is sent as a raw call.
 */
typedef struct demo_forger {
        demo_window *victim; /* holds its answer until the forgery is queued */
        sd_bus *bus;
        bool listening; /* the bus took the match */
        bool seen;      /* the main's call went by */
        bool forged;    /* 'SPOOFED' sent, and the round trip after it returned */
        int error;      /* the first failure on the forger's path, -errno */
} demo_forger;

#define FORGER_MATCH                                                                                    \
        "eavesdrop='true',type='method_call',interface='" IPCBUS_INTERFACE_RENDERER "',member='Invoke'," \
        "arg0='" DEMO_RENDERER_STATE "'"

static void forger_clear(demo_forger *f) {
        /* Whatever happened to the forger, win1 answers now rather than
         * leave the main's call to time out. */
        if (f->victim)
                (void)window_release_state(f->victim);
        f->bus = sd_bus_flush_close_unref(f->bus);
}

/* Record the first failure, then let the real answer go: the scenario
 * fails on what went wrong, not on a timeout. */
static void forger_failed(demo_forger *f, int error) {
        if (!f->error)
                f->error = error;
        (void)window_release_state(f->victim);
}

static int on_forger_round_trip(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        demo_forger *f = userdata;
        int k;

        if (sd_bus_message_is_method_error(m, NULL)) {
                forger_failed(f, -sd_bus_message_get_errno(m) ?: -EIO);
                return 0;
        }
        /* The bus answered GetId after it queued the forgery for the main:
         * now the real answer can only come after it. */
        f->forged = true;
        k = window_release_state(f->victim);
        if (k < 0)
                forger_failed(f, k);
        return 0;
}

static int forge(demo_forger *f, sd_bus_message *call) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int k;

        /* The reply carries the call's serial and goes to the main, as the
         * renderer's would: only its sender differs. */
        k = sd_bus_message_new_method_return(call, &reply);
        if (k >= 0)
                k = sd_bus_message_append(reply, "v", "s", "SPOOFED");
        if (k >= 0)
                k = sd_bus_send(f->bus, reply, NULL);
        if (k >= 0)
                k = sd_bus_call_method_async(f->bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                             "org.freedesktop.DBus", "GetId", on_forger_round_trip, f, NULL);
        return k;
}

static int on_forger_eavesdropped(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        demo_forger *f = userdata;
        int k;

        if (!sd_bus_message_is_method_call(m, IPCBUS_INTERFACE_RENDERER, "Invoke"))
                return 0;
        /* Handled, whatever it was: sd-bus must not answer a call that was
         * not ours (UnknownObject) in its callee's place. */
        if (f->seen)
                return 1;
        f->seen = true;
        k = forge(f, m);
        if (k < 0)
                forger_failed(f, k);
        return 1;
}

static int on_forger_listening(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        demo_forger *f = userdata;

        if (sd_bus_message_is_method_error(m, NULL))
                f->error = -sd_bus_message_get_errno(m) ?: -EIO;
        else
                f->listening = true;
        return 0;
}

/* Connect and eavesdrop; the match is in place once f->listening. Return: 0; -errno. */
static int forger_start(demo_forger *f, demo_selftest *t) {
        int k;

        k = sd_bus_new(&f->bus);
        if (k >= 0)
                k = sd_bus_set_address(f->bus, t->bus->address);
        if (k >= 0)
                k = sd_bus_set_bus_client(f->bus, 1);
        if (k >= 0)
                k = sd_bus_start(f->bus);
        if (k >= 0)
                k = sd_bus_attach_event(f->bus, t->event, 0);
        if (k >= 0)
                k = sd_bus_add_filter(f->bus, NULL, on_forger_eavesdropped, f);
        if (k >= 0)
                k = sd_bus_call_method_async(f->bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                             "org.freedesktop.DBus", "AddMatch", on_forger_listening, f, "s",
                                             FORGER_MATCH);
        return k;
}

/* win1 asks the main for ask-renderer; the main asks win1 for its state;
 * the forger answers for win1 first, and win1 holds its answer until the
 * forgery is queued at the bus. The main must pass on win1's answer. */
static int scenario_forged_reply_ignored(demo_selftest *t) {
        _cleanup_(forger_clear) demo_forger f = { .victim = &t->win1 };
        _cleanup_(demo_call_clear) demo_call c = DEMO_CALL_INIT;
        int k;

        k = forger_start(&f, t);
        if (k < 0)
                return selftest_fail(t, "the forger cannot connect: %s", g_strerror(-k));
        if (WAIT_FOR(t, f.listening || f.error) < 0)
                return selftest_fail(t, "the bus did not answer the forger's AddMatch");
        if (f.error)
                return selftest_fail(t, "the bus refused to let the forger eavesdrop: %s",
                                     g_strerror(-f.error));

        t->win1.hold_state = true;
        if (selftest_call_start(t, &t->win1, "ask-renderer", NULL, &c) < 0 ||
            selftest_call_wait(t, &c, "ask-renderer") < 0)
                return -1;
        /* Without a forgery first, the scenario would prove nothing. */
        if (f.error)
                return selftest_fail(t, "the forger failed: %s", g_strerror(-f.error));
        if (!f.forged)
                return selftest_fail(t, "the forger never answered the main's call to win1");
        return call_expect_state_of(t, &c, &t->win1);
}

/* ---- a sandboxed renderer ---------------------------------------------------------- */

/*
 * win1 has the main spawn a renderer under bwrap (spawn-sandboxed), with
 * the private bus's address. The child has only its end of a socketpair:
 * it invokes get-title, sendSyncs synchronous-message, sends
 * asynchronous-message and waits for the reply, tries to reach the bus,
 * reports and exits. The main answers once it has the report and the exit
 * has detached the child. Without bwrap the main says NoSandbox: skipped.
 */
static int scenario_sandboxed_renderer(demo_selftest *t) {
        _cleanup_(demo_call_clear) demo_call c = DEMO_CALL_INIT;
        _cleanup_(demo_freep) char *title = NULL, *printed = NULL;
        const char *got_title, *pong, *reply, *bus_error, *failed;
        gboolean detached;
        int32_t bus_errno;
        uint32_t pid;
        int k;

        title = window_get_title(t, &t->win1);
        if (!title)
                return -1;
        k = selftest_call_start(t, &t->win1, "spawn-sandboxed", selftest_string_args(t->bus->address), &c);
        if (k < 0 || selftest_call_wait(t, &c, "spawn-sandboxed") < 0)
                return -1;
        if (sd_bus_error_has_name(&c.error, DEMO_ERROR_NO_SANDBOX))
                return selftest_skip(t, "%s", c.error.message ?: DEMO_NO_SANDBOX_MESSAGE);
        if (call_expect_vardict(t, &c, "spawn-sandboxed") < 0)
                return -1;
        printed = g_variant_print(c.result, TRUE);
        if (g_variant_lookup(c.result, "failed", "&s", &failed))
                return selftest_fail(t, "the sandboxed renderer reported failures: %s", failed);
        if (!g_variant_lookup(c.result, "title", "&s", &got_title) ||
            !g_variant_lookup(c.result, "pong", "&s", &pong) ||
            !g_variant_lookup(c.result, "reply", "&s", &reply) ||
            !g_variant_lookup(c.result, "bus_errno", "i", &bus_errno) ||
            !g_variant_lookup(c.result, "bus_error", "&s", &bus_error) ||
            !g_variant_lookup(c.result, "detached", "b", &detached) ||
            !g_variant_lookup(c.result, "pid", "u", &pid))
                return selftest_fail(t,
                                     "spawn-sandboxed: expected title, pong, reply, bus_error (s), bus_errno (i), "
                                     "detached (b) and pid (u), got %s",
                                     printed);
        /* Every pattern worked over the descriptor alone. */
        if (!g_str_equal(got_title, title))
                return selftest_fail(t, "get-title in the sandbox: expected '%s', got '%s'", title, got_title);
        if (!g_str_equal(pong, "pong"))
                return selftest_fail(t,
                                     "sendSync synchronous-message in the sandbox: expected 'pong', got '%s'",
                                     pong);
        if (!g_str_equal(reply, "pong"))
                return selftest_fail(t, "asynchronous-reply in the sandbox: expected 'pong', got '%s'", reply);
        /* The bus's socket is out of reach: hidden (ENOENT) or covered
         * (ECONNREFUSED), not merely a bad address. */
        if (bus_errno == 0)
                return selftest_fail(t, "the sandboxed renderer reached the bus at %s", t->bus->address);
        if (bus_errno != -ENOENT && bus_errno != -ECONNREFUSED)
                return selftest_fail(
                        t, "the sandboxed renderer's try at the bus: expected ENOENT or ECONNREFUSED, got %s",
                        bus_error);
        /* The main answered after the child's exit detached it, and knows
         * its process (bwrap's pid) from the fork. */
        if (!detached || pid == 0 || pid == (uint32_t)getpid() || pid == (uint32_t)t->main->pid)
                return selftest_fail(t, "spawn-sandboxed: expected detached and the child's pid, got %s",
                                     printed);
        return 0;
}

/* In the order of issue 6. */
const demo_scenario selftest_trust_scenarios[] = {
        { "whoami", scenario_whoami },
        { "ask-renderer", scenario_ask_renderer },
        { "guest-Denied", scenario_guest_denied },
        { "forged-reply-ignored", scenario_forged_reply_ignored },
        { "sandboxed-renderer", scenario_sandboxed_renderer },
};

const size_t selftest_n_trust_scenarios = G_N_ELEMENTS(selftest_trust_scenarios);
