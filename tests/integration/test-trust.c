/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The trust boundary (issue 6), against a private dbus-daemon and the trust
 * main of trust-main.c in a child process:
 * - replies only from the callee: a forger on the bus answers each kind of
 *   call first (it eavesdrops for the serial, the main waits until the
 *   forgery is out); the forged answer is ignored, the real one delivered;
 * - kernel credentials of the sender, as root and as another uid, on the
 *   bus and on a direct connection, on dbus-daemon and dbus-broker;
 * - the central sender check, the allowlists (renderer, class, per web
 *   contents, unattached), names that gain nothing, and the counters;
 * - each per-peer limit, with everyone else still served.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <ipcbus/ipcbus.h>

#include "harness.h"
#include "test-bus.h"
#include "test-process.h"
#include "trust-main.h"

#define WAIT_USEC (10 * TEST_USEC_PER_SEC)
#define WAIT_MS 10000
#define NOBODY 65534

typedef struct fixture {
        test_bus *bus;
        sd_event *event;
        test_process *main;
        test_process *forger;
        trust_main_config main_config;
        forger_config forger_config;
        int slow_pipe[2];   /* forger -> main */
        int test_pipe[2];   /* forger -> this process */
        int direct[2];      /* [0] the main's, [1] ours */
} fixture;

static void fixture_start(fixture *f, test_bus_kind kind, bool forger, bool direct) {
        assert_int_equal(test_bus_start(&f->bus, kind), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(pipe2(f->slow_pipe, O_CLOEXEC), 0);
        assert_int_equal(pipe2(f->test_pipe, O_CLOEXEC), 0);
        f->direct[0] = f->direct[1] = -1;
        if (direct)
                assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->direct), 0);

        f->main_config.address = test_bus_get_address(f->bus);
        f->main_config.direct_fd = f->direct[0];
        f->main_config.slow_fd = f->slow_pipe[0];
        assert_int_equal(test_process_spawn(&f->main, trust_main_child, &f->main_config), 0);
        assert_int_equal(test_process_wait_line(f->main, "ready", WAIT_USEC), 0);
        if (f->direct[0] >= 0) {
                /* The main's copy lives in the child now. */
                (void)close(f->direct[0]);
                f->direct[0] = -1;
        }
        if (forger) {
                f->forger_config.address = test_bus_get_address(f->bus);
                f->forger_config.main_fd = f->slow_pipe[1];
                f->forger_config.test_fd = f->test_pipe[1];
                assert_int_equal(test_process_spawn(&f->forger, forger_child, &f->forger_config), 0);
                assert_int_equal(test_process_wait_line(f->forger, "forger ready", WAIT_USEC), 0);
        }
}

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(fixture));

        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        int status;

        if (f->main) {
                (void)test_process_kill(f->main, SIGTERM);
                (void)test_process_wait_exit(f->main, &status);
                f->main = test_process_free(f->main);
        }
        f->forger = test_process_free(f->forger);
        for (unsigned i = 0; i < 2; i++) {
                if (f->slow_pipe[i] > 0)
                        close(f->slow_pipe[i]);
                if (f->test_pipe[i] > 0)
                        close(f->test_pipe[i]);
                if (f->direct[i] >= 0)
                        close(f->direct[i]);
        }
        f->event = sd_event_unref(f->event);
        f->bus = test_bus_free(f->bus);
        free(f);
        return 0;
}

static ipcbus_renderer *renderer_new(fixture *f) {
        ipcbus_renderer *r = NULL;

        assert_int_equal(ipcbus_renderer_new(&r, TRUST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(r, f->event, 0), 0);
        assert_int_equal(ipcbus_renderer_set_timeout(r, test_deadline_usec(WAIT_USEC)), 0);
        assert_int_equal(ipcbus_renderer_open_address(r, test_bus_get_address(f->bus)), 0);
        return r;
}

static ipcbus_renderer *renderer_attached(fixture *f, const char *name) {
        ipcbus_renderer *r = renderer_new(f);
        uint64_t id = 0;

        assert_int_equal(ipcbus_renderer_attach_sync(r, name, NULL, &id), 0);
        assert_true(id > 0);
        return r;
}

static bool run_until(fixture *f, const bool *flag) {
        harness h = { .event = f->event };

        return harness_run_until(&h, flag, WAIT_MS);
}

/* Invoke synchronously; the string result or "error NAME". */
static char *invoke_text(ipcbus_renderer *r, const char *channel, GVariant *args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) v = NULL;

        int k;

        k = ipcbus_renderer_invoke_sync(r, channel, args, 0, &error, &v);
        if (k < 0) {
                /* Whatever the error, the return code is the errno of its name. */
                assert_int_equal(k, -sd_bus_error_get_errno(&error));
                return g_strdup_printf("error %s", error.name ? error.name : "?");
        }
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
                return g_variant_dup_string(v, NULL);
        return g_variant_print(v, FALSE);
}

static void assert_invoke(ipcbus_renderer *r, const char *channel, const char *want) {
        g_autofree char *got = invoke_text(r, channel, NULL);

        if (strcmp(got, want) != 0)
                fail_msg("invoke '%s': got '%s', want '%s'", channel, got, want);
}

static uint64_t main_counter(ipcbus_renderer *r, const char *name) {
        g_autoptr(GVariant) v = NULL;
        uint64_t n = 0;

        assert_int_equal(ipcbus_renderer_invoke_sync(r, "counters", NULL, 0, NULL, &v), 0);
        assert_true(g_variant_lookup(v, name, "t", &n));
        return n;
}

/* ---- replies from the callee only ------------------------------------------- */

typedef struct in_callback {
        ipcbus_renderer *r;
        bool done;
        int k;
        char *error_name;
} in_callback;

/* A blocking call made inside a callback cannot wait past a forgery:
 * sd-bus cannot process the connection from inside its own dispatch. */
static int on_poked(ipcbus_event *e, GVariant *args, void *userdata) {
        in_callback *ic = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        ic->k = ipcbus_renderer_invoke_sync(ic->r, "slow-invoke", NULL, 0, &error, NULL);
        ic->error_name = g_strdup(error.name);
        ic->done = true;
        return 0;
}

static void test_forged_replies_ignored(void **state) {
        fixture *f = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) v = NULL;
        result async = { 0 };
        uint64_t id = 0, dropped = 0;

        fixture_start(f, TEST_BUS_DBUS_DAEMON, true, false);
        r = renderer_new(f);

        /* Attach: the forger says id 999 first. */
        assert_int_equal(ipcbus_renderer_attach_sync(r, "slow-attach", &error, &id), 0);
        assert_int_equal(test_process_wait_line(f->forger, "forged Attach", WAIT_USEC), 0);
        assert_true(id > 0 && id != 999);
        assert_int_equal(ipcbus_renderer_get_id(r), id);

        /* Invoke, blocking and asynchronous. */
        assert_invoke(r, "slow-invoke", "real");
        assert_int_equal(test_process_wait_line(f->forger, "forged Invoke slow-invoke", WAIT_USEC), 0);
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "slow-invoke", NULL, 0, result_collect, &async), 0);
        assert_true(run_until(f, &async.done));
        assert_null(async.error_name);
        assert_string_equal(g_variant_get_string(async.value, NULL), "real");
        result_clear(&async);

        /* SendSync. */
        assert_int_equal(ipcbus_renderer_send_sync(r, "slow-sync", NULL, &error, &v), 0);
        assert_string_equal(g_variant_get_string(v, NULL), "real");
        assert_int_equal(test_process_wait_line(f->forger, "forged SendSync slow-sync", WAIT_USEC), 0);

        /* A forged error is refused as well: sd_bus_call() would hide who
         * sent it. */
        assert_invoke(r, "slowerr-invoke", "real");
        assert_int_equal(test_process_wait_line(f->forger, "forged Invoke slowerr-invoke", WAIT_USEC), 0);

        assert_int_equal(ipcbus_renderer_get_counter(r, IPCBUS_COUNTER_REPLIES_DROPPED, &dropped), 0);
        assert_int_equal(dropped, 5);

        /* Inside a callback the forged answer is refused, not taken. */
        {
                in_callback ic = { .r = r };

                assert_int_equal(ipcbus_renderer_on(r, NULL, "poked", on_poked, &ic), 0);
                assert_int_equal(ipcbus_renderer_send(r, "poke", NULL), 0);
                assert_true(run_until(f, &ic.done));
                assert_int_equal(ic.k, -EPROTO);
                assert_string_equal(ic.error_name, SD_BUS_ERROR_INCONSISTENT_MESSAGE);
                g_free(ic.error_name);
                /* The real answer comes later and is dropped: nobody waits. */
                assert_invoke(r, "echo", "[]");
        }
        /* Each forged reply was logged once per sender, not per reply: the
         * main did not log (nothing was forged to it yet). */
        assert_int_equal(main_counter(r, "replies-dropped"), 0);
}

static int h_slow_r(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        fixture *f = userdata;
        char b;

        /* Answer only once the forger's answer is out. */
        assert_int_equal(read(f->test_pipe[0], &b, 1), 1);
        return ipcbus_invocation_return_value(inv, g_variant_new_string("real"));
}

static void test_forged_reply_to_main_ignored(void **state) {
        fixture *f = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        result res = { 0 };

        fixture_start(f, TEST_BUS_DBUS_DAEMON, true, false);
        r = renderer_attached(f, "win");
        assert_int_equal(ipcbus_renderer_handle(r, NULL, "slow-r", h_slow_r, f), 0);

        /* The main invokes our Renderer1.Invoke; the forger answers for us
         * first. The main must pass on our answer, not the forger's. */
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "call-renderer",
                                                ipcbus_args(g_variant_new_string("slow-r"), NULL), 0,
                                                result_collect, &res),
                         0);
        assert_true(run_until(f, &res.done));
        assert_null(res.error_name);
        assert_string_equal(g_variant_get_string(res.value, NULL), "real");
        assert_int_equal(test_process_wait_line(f->forger, "forged Invoke slow-r", WAIT_USEC), 0);
        result_clear(&res);
        assert_int_equal(main_counter(r, "replies-dropped"), 1);
        assert_int_equal(test_process_wait_line(f->main, "log: Dropped a reply", WAIT_USEC), 0);
}

/* A blocking call holds back what arrives meanwhile, as sendSync blocks a
 * page in Electron: the listener runs after the call returned, from the loop. */
static void test_blocking_call_holds_back_messages(void **state) {
        fixture *f = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        inbox poked = {};

        fixture_start(f, TEST_BUS_DBUS_DAEMON, false, false);
        r = renderer_attached(f, "win");
        assert_int_equal(ipcbus_renderer_on(r, NULL, "poked", inbox_listener, &poked), 0);
        assert_invoke(r, "poke-then-answer", "real");
        assert_false(poked.got);
        assert_true(run_until(f, &poked.got));
        assert_int_equal(poked.n, 1);
        inbox_clear(&poked);
}

static void on_vanished(ipcbus_renderer *r, void *userdata) {
        *(bool *)userdata = true;
}

/* The unique name of the connection of this process that is not @self
 * (the renderer's, when it and @self are our only ones). */
static char *other_unique_name_of_ours(sd_bus *self) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_auto(GStrv) names = NULL;
        const char *me = NULL;
        char *found = NULL;

        assert_int_equal(sd_bus_get_unique_name(self, &me), 0);
        assert_true(sd_bus_list_names(self, &names, NULL) >= 0);
        for (size_t i = 0; names[i]; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                uint32_t pid;

                if (names[i][0] != ':' || strcmp(names[i], me) == 0)
                        continue;
                if (sd_bus_call_method(self, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "GetConnectionUnixProcessID", &error, &reply, "s", names[i]) < 0) {
                        sd_bus_error_free(&error);
                        continue;
                }
                assert_true(sd_bus_message_read(reply, "u", &pid) > 0);
                if (pid == (uint32_t)getpid()) {
                        assert_null(found);
                        found = g_strdup(names[i]);
                }
        }
        assert_non_null(found);
        return found;
}

/* A NameOwnerChanged that does not come from the bus is not believed. The
 * renderer's match admits only the bus's, but while a blocking call waits
 * the renderer reads everything itself: a peer's forgery, sent straight to
 * it then, was held back and replayed as if the bus had said the main was
 * gone. */
static void test_forged_owner_change_ignored(void **state) {
        fixture *f = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *rogue = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL, *reply = NULL;
        g_autofree char *renderer_name = NULL, *owner = NULL;
        inbox poked = {};
        bool vanished = false;

        fixture_start(f, TEST_BUS_DBUS_DAEMON, false, false);
        r = renderer_attached(f, "win");
        assert_int_equal(ipcbus_renderer_on(r, NULL, "poked", inbox_listener, &poked), 0);
        assert_int_equal(ipcbus_renderer_on_main_vanished(r, NULL, on_vanished, &vanished), 0);
        assert_int_equal(test_bus_connect(f->bus, &rogue), 0);
        renderer_name = other_unique_name_of_ours(rogue);
        {
                _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
                const char *u = NULL;

                assert_int_equal(sd_bus_get_name_creds(rogue, TRUST_MAIN_NAME, SD_BUS_CREDS_UNIQUE_NAME, &creds), 0);
                assert_int_equal(sd_bus_creds_get_unique_name(creds, &u), 0);
                owner = g_strdup(u);
        }

        /* "The main is gone", straight to the renderer, before it blocks. */
        assert_int_equal(sd_bus_message_new_signal(rogue, &sig, "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                                   "NameOwnerChanged"),
                         0);
        assert_int_equal(sd_bus_message_set_destination(sig, renderer_name), 0);
        assert_true(sd_bus_message_append(sig, "sss", TRUST_MAIN_NAME, owner, "") >= 0);
        assert_int_equal(sd_bus_send(rogue, sig, NULL), 1);
        /* The bus handles our messages in order: once this is answered, the
         * forgery waits in the renderer's socket. */
        assert_true(sd_bus_call_method(rogue, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetId", &error, &reply, "") >= 0);

        assert_invoke(r, "poke-then-answer", "real");
        /* What was held back is replayed in order: the forgery before "poked". */
        assert_true(run_until(f, &poked.got));
        assert_false(vanished);
        assert_true(ipcbus_renderer_has_main(r));
        assert_invoke(r, "poke-then-answer", "real");
        inbox_clear(&poked);
}

/* ---- credentials ------------------------------------------------------------- */

static void assert_whoami(GVariant *v, pid_t pid, uid_t uid, gid_t gid, bool attached) {
        uint32_t p, u, g;
        uint64_t id;

        assert_true(g_variant_lookup(v, "pid", "u", &p));
        assert_true(g_variant_lookup(v, "uid", "u", &u));
        assert_true(g_variant_lookup(v, "gid", "u", &g));
        assert_true(g_variant_lookup(v, "id", "t", &id));
        assert_int_equal(p, pid);
        assert_int_equal(u, uid);
        assert_int_equal(g, gid);
        assert_true(attached ? id > 0 : id == 0);
}

/* A renderer in a child process that drops to uid/gid NOBODY first. */
static int other_uid_child(void *userdata) {
        fixture *f = userdata;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        g_autoptr(GVariant) before = NULL, after = NULL;
        uint32_t uid, gid;
        uint64_t id;

        if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
                return 2;
        assert_int_equal(sd_event_new(&f->event), 0);
        r = renderer_new(f);
        assert_int_equal(ipcbus_renderer_invoke_sync(r, "whoami", NULL, 0, NULL, &before), 0);
        assert_int_equal(ipcbus_renderer_attach_sync(r, "other", NULL, NULL), 0);
        assert_int_equal(ipcbus_renderer_invoke_sync(r, "whoami", NULL, 0, NULL, &after), 0);
        assert_true(g_variant_lookup(after, "uid", "u", &uid));
        assert_true(g_variant_lookup(after, "gid", "u", &gid));
        assert_true(g_variant_lookup(before, "id", "t", &id));
        printf("whoami %d %u %u %" PRIu64, (int)getpid(), uid, gid, id);
        assert_true(g_variant_lookup(after, "id", "t", &id));
        printf(" %" PRIu64 "\n", id);
        return 0;
}

static void credentials_on(fixture *f, test_bus_kind kind) {
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL, *direct = NULL;
        _cleanup_(test_process_freep) test_process *other = NULL;
        g_autoptr(GVariant) v = NULL, dv = NULL;
        g_autofree char *dir = NULL, *socket_path = NULL;
        const char *address;
        int pid, uid, gid, status;
        uint64_t id_before, id_after;

        fixture_start(f, kind, false, true);

        /* Root, attached, on the bus. */
        r = renderer_attached(f, "root-win");
        assert_int_equal(ipcbus_renderer_invoke_sync(r, "whoami", NULL, 0, NULL, &v), 0);
        assert_whoami(v, getpid(), getuid(), getgid(), true);

        /* The direct renderer: the kernel's record of the socket. */
        assert_int_equal(ipcbus_renderer_new(&direct, TRUST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(direct, f->event, 0), 0);
        assert_int_equal(ipcbus_renderer_open_direct(direct, f->direct[1]), 0);
        f->direct[1] = -1;
        assert_int_equal(ipcbus_renderer_invoke_sync(direct, "whoami", NULL, 0, NULL, &dv), 0);
        /* socketpair(): the kernel records the process that made the pair,
         * which is this one. */
        assert_whoami(dv, getpid(), getuid(), getgid(), true);

        /* Another uid: the child must reach the bus socket. */
        address = test_bus_get_address(f->bus);
        assert_non_null(strstr(address, "unix:path="));
        socket_path = g_strdup(strstr(address, "unix:path=") + strlen("unix:path="));
        *strchrnul(socket_path, ',') = 0;
        dir = g_path_get_dirname(socket_path);
        assert_int_equal(chmod(dir, 0755), 0);
        /* dbus-daemon makes its socket world-writable; ours for dbus-broker
         * is as bind() left it. */
        assert_int_equal(chmod(socket_path, 0777), 0);
        assert_int_equal(test_process_spawn(&other, other_uid_child, f), 0);
        assert_int_equal(test_process_wait_line(other, "whoami ", WAIT_USEC), 0);
        assert_int_equal(sscanf(test_process_get_line(other), "whoami %d %d %d %" SCNu64 " %" SCNu64, &pid, &uid,
                                &gid, &id_before, &id_after),
                         5);
        assert_int_equal(pid, test_process_get_pid(other));
        assert_int_equal(uid, NOBODY);
        assert_int_equal(gid, NOBODY);
        assert_int_equal(id_before, 0);
        assert_true(id_after > 0);
        assert_int_equal(test_process_wait_exit(other, &status), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_credentials_dbus_daemon(void **state) {
        credentials_on(*state, TEST_BUS_DBUS_DAEMON);
}

static void test_credentials_dbus_broker(void **state) {
        credentials_on(*state, TEST_BUS_DBUS_BROKER);
}

/* ---- the sender check and the allowlists -------------------------------------- */

static void assert_count(ipcbus_renderer *r, uint32_t want) {
        g_autoptr(GVariant) v = NULL;

        assert_int_equal(ipcbus_renderer_invoke_sync(r, "count-get", NULL, 0, NULL, &v), 0);
        assert_int_equal(g_variant_get_uint32(v), want);
}

static uint32_t log_count(ipcbus_renderer *r, const char *text) {
        g_autoptr(GVariant) v = NULL;

        assert_int_equal(ipcbus_renderer_invoke_sync(r, "log-count", ipcbus_args(g_variant_new_string(text), NULL), 0,
                                                     NULL, &v),
                         0);
        return g_variant_get_uint32(v);
}

static void test_sender_check_and_allowlists(void **state) {
        fixture *f = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *win = NULL, *admin = NULL, *guest = NULL,
                                                        *busctl = NULL, *direct = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GVariant) v = NULL;
        uint64_t denied;

        fixture_start(f, TEST_BUS_DBUS_DAEMON, false, true);
        win = renderer_attached(f, "win");

        /* The central check: a call is Denied naming the channel... */
        assert_int_equal(ipcbus_renderer_invoke_sync(win, "forbidden-by-hook", NULL, 0, &error, NULL),
                         -EACCES);
        assert_string_equal(error.name, IPCBUS_ERROR_DENIED);
        assert_non_null(strstr(error.message, "'forbidden-by-hook'"));
        sd_bus_error_free(&error);
        /* ...signals are dropped and counted, logged once. */
        for (unsigned i = 0; i < 3; i++)
                assert_int_equal(ipcbus_renderer_send(win, "forbidden-by-hook", NULL), 0);
        assert_int_equal(ipcbus_renderer_send(win, "count", NULL), 0);
        assert_count(win, 1);
        assert_int_equal(main_counter(win, "signals-dropped"), 3);
        assert_int_equal(log_count(win, "Refused send on 'forbidden-by-hook'"), 1);
        /* PostMessage passes the same check: dropped, and its port is
         * closed unopened. */
        {
                g_autoptr(ipcbus_port) p1 = NULL, p2 = NULL;

                assert_int_equal(ipcbus_message_channel_new(f->event, &p1, &p2), 0);
                assert_int_equal(ipcbus_renderer_post_message(win, "forbidden-by-hook", g_variant_new_string("x"),
                                                              &p1, 1),
                                 0);
                assert_int_equal(main_counter(win, "signals-dropped"), 4);
                assert_int_equal(log_count(win, "Refused postMessage on 'forbidden-by-hook'"), 1);
        }
        /* So does Attach, with the name asked for as its channel. */
        {
                _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = renderer_new(f);

                assert_int_equal(ipcbus_renderer_attach_sync(r, "forbidden-by-hook", &error, NULL), -EACCES);
                assert_string_equal(error.name, IPCBUS_ERROR_DENIED);
                assert_string_equal(error.message, "Sender may not attach");
                sd_bus_error_free(&error);
        }

        /* The renderer policy: admin-only is not in it. */
        assert_invoke(win, "admin-only", "error " IPCBUS_ERROR_DENIED);
        /* A name chosen at Attach selects nothing: "admin" gains nothing. */
        admin = renderer_attached(f, "admin");
        assert_invoke(admin, "admin-only", "error " IPCBUS_ERROR_DENIED);
        /* The class the main gave its own direct renderer does. */
        assert_int_equal(ipcbus_renderer_new(&direct, TRUST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(direct, f->event, 0), 0);
        assert_int_equal(ipcbus_renderer_open_direct(direct, f->direct[1]), 0);
        f->direct[1] = -1;
        assert_invoke(direct, "admin-only", "admin");

        /* A guest is narrowed by the main to echo and count. */
        guest = renderer_attached(f, "guest");
        assert_invoke(guest, "echo", "[]");
        assert_invoke(guest, "whoami", "error " IPCBUS_ERROR_DENIED);
        assert_int_equal(ipcbus_renderer_send_sync(guest, "echo", NULL, &error, NULL), -EACCES);
        assert_string_equal(error.name, IPCBUS_ERROR_DENIED);
        sd_bus_error_free(&error);
        assert_int_equal(ipcbus_renderer_send(guest, "count", NULL), 0);
        assert_int_equal(ipcbus_renderer_send(guest, "release", NULL), 0);
        assert_count(win, 2);

        /* Unattached peers: the read-only face. */
        busctl = renderer_new(f);
        assert_invoke(busctl, "echo", "[]");
        assert_int_equal(ipcbus_renderer_invoke_sync(busctl, "whoami", NULL, 0, NULL, &v), 0);
        assert_invoke(busctl, "held", "error " IPCBUS_ERROR_DENIED);

        denied = main_counter(win, "calls-denied");
        assert_int_equal(denied, 7);
        assert_int_equal(main_counter(win, "signals-dropped"), 5);
}

/* ---- limits --------------------------------------------------------------------- */

static void test_calls_in_flight_limit(void **state) {
        fixture *f = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *greedy = NULL, *other = NULL;
        result held[4] = { 0 };

        f->main_config.calls_per_peer = 3;
        fixture_start(f, TEST_BUS_DBUS_DAEMON, false, false);
        greedy = renderer_attached(f, "greedy");
        other = renderer_attached(f, "other");

        for (unsigned i = 0; i < 4; i++)
                assert_int_equal(ipcbus_renderer_invoke(greedy, NULL, "held", NULL, 0, result_collect, &held[i]), 0);
        assert_true(run_until(f, &held[3].done));
        assert_string_equal(held[3].error_name, IPCBUS_ERROR_LIMITS_EXCEEDED);
        assert_int_equal(held[3].error_errno, ENOBUFS);
        assert_non_null(strstr(held[3].error_message, "calls in flight"));
        assert_false(held[0].done);
        /* Everyone else is served, and so is greedy once its calls end. */
        assert_invoke(other, "echo", "[]");
        assert_int_equal(ipcbus_renderer_send(other, "release", NULL), 0);
        for (unsigned i = 0; i < 3; i++) {
                assert_true(run_until(f, &held[i].done));
                assert_string_equal(g_variant_get_string(held[i].value, NULL), "real");
        }
        assert_invoke(greedy, "echo", "[]");
        assert_int_equal(main_counter(other, "limits-exceeded"), 1);
        for (unsigned i = 0; i < 4; i++)
                result_clear(&held[i]);
}

/* Attach with @n_keys properties and a name of @name_len bytes, raw. */
static int attach_raw(sd_bus *bus, size_t name_len, unsigned n_keys, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        g_autofree char *name = g_malloc(name_len + 1);

        memset(name, 'n', name_len);
        name[name_len] = 0;
        assert_true(sd_bus_message_new_method_call(bus, &call, TRUST_MAIN_NAME, "/org/ipcbus/TrustTest",
                                                   IPCBUS_INTERFACE_MAIN, "Attach") >= 0);
        assert_true(sd_bus_message_open_container(call, 'a', "{sv}") >= 0);
        assert_true(sd_bus_message_append(call, "{sv}", "name", "s", name) >= 0);
        for (unsigned i = 1; i < n_keys; i++) {
                char key[32];

                snprintf(key, sizeof(key), "k%u", i);
                assert_true(sd_bus_message_append(call, "{sv}", key, "u", i) >= 0);
        }
        assert_true(sd_bus_message_close_container(call) >= 0);
        return sd_bus_call(bus, call, 0, error, &reply);
}

static void test_attach_limits(void **state) {
        fixture *f = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *raw = NULL;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *other = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        fixture_start(f, TEST_BUS_DBUS_DAEMON, false, false);
        other = renderer_attached(f, "other");
        assert_int_equal(test_bus_connect(f->bus, &raw), 0);

        assert_int_equal(attach_raw(raw, 1024 * 1024, 1, &error), -ENOBUFS);
        assert_string_equal(error.name, IPCBUS_ERROR_LIMITS_EXCEEDED);
        assert_non_null(strstr(error.message, "Attach name"));
        sd_bus_error_free(&error);
        assert_true(attach_raw(raw, 8, 100000, &error) < 0);
        assert_string_equal(error.name, IPCBUS_ERROR_LIMITS_EXCEEDED);
        assert_non_null(strstr(error.message, "Attach properties"));
        sd_bus_error_free(&error);
        /* Within the limits it attaches; the others never noticed. */
        assert_true(attach_raw(raw, 255, 32, &error) >= 0);
        assert_invoke(other, "echo", "[]");
        assert_int_equal(main_counter(other, "limits-exceeded"), 2);
}

static void test_peers_per_connection_limit(void **state) {
        fixture *f = *state;
        ipcbus_renderer *r[6] = { 0 };

        f->main_config.peers_per_connection = 4;
        fixture_start(f, TEST_BUS_DBUS_DAEMON, false, false);
        for (unsigned i = 0; i < 4; i++)
                r[i] = renderer_attached(f, "ok");
        for (unsigned i = 4; i < 6; i++) {
                r[i] = renderer_new(f);
                assert_invoke(r[i], "echo", "error " IPCBUS_ERROR_LIMITS_EXCEEDED);
        }
        assert_invoke(r[0], "echo", "[]");
        /* One goes: its place is free again. */
        r[1] = ipcbus_renderer_unref(r[1]);
        assert_int_equal(test_process_wait_line(f->main, "detached ", WAIT_USEC), 0);
        assert_invoke(r[4], "echo", "[]");
        assert_invoke(r[5], "echo", "error " IPCBUS_ERROR_LIMITS_EXCEEDED);
        for (unsigned i = 0; i < 6; i++)
                ipcbus_renderer_unref(r[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_forged_replies_ignored, setup, teardown),
                cmocka_unit_test_setup_teardown(test_forged_reply_to_main_ignored, setup, teardown),
                cmocka_unit_test_setup_teardown(test_blocking_call_holds_back_messages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_forged_owner_change_ignored, setup, teardown),
                cmocka_unit_test_setup_teardown(test_credentials_dbus_daemon, setup, teardown),
                cmocka_unit_test_setup_teardown(test_credentials_dbus_broker, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sender_check_and_allowlists, setup, teardown),
                cmocka_unit_test_setup_teardown(test_calls_in_flight_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_attach_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_peers_per_connection_limit, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
