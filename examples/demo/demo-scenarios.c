/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The self-test: a private bus, the demo main as a child process, and two
 * renderers (win1, win2) in this process, each with its own connection, both
 * on one sd-event loop. Every example of the seed articles runs as one
 * scenario and prints "ok NAME" or "FAIL NAME: why"; nothing else goes to
 * stdout. The machinery the scenarios share is in demo-selftest.c; the
 * trust boundary's scenarios (issue 6) are in demo-trust.c and run after
 * these.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "demo-channels.h"
#include "demo-selftest.h"

/* ---- typed calls (demo-channels.h) ------------------------------------------ */

/* A typed string result into @c, as an untyped one goes. */
static int on_typed_string(const char *value, const sd_bus_error *error, void *userdata) {
        selftest_call_done(userdata, error ? NULL : g_variant_new_string(value), error);
        return 0;
}

static int typed_call_started(demo_selftest *t, demo_window *w, const char *channel, int k) {
        if (k < 0)
                return selftest_fail(t, "%s: invoke '%s' failed to start: %s", w->name, channel, g_strerror(-k));
        return 0;
}

/* ---- the scenarios, in the order of the seed articles ------------------------ */

/* Seed 001 主进程到渲染进程: win.webContents.send('testMsg', ...) when a window
 * comes up. Both windows attach here, with the names the main addresses. */
static int scenario_test_msg(demo_selftest *t) {
        demo_window *wins[] = { &t->win1, &t->win2 };
        uint64_t id1, id2;
        int k;

        for (size_t i = 0; i < G_N_ELEMENTS(wins); i++) {
                k = ipcbus_renderer_attach(wins[i]->r, wins[i]->name);
                if (k < 0)
                        return selftest_fail(t, "%s: attach failed: %s", wins[i]->name, g_strerror(-k));
        }
        for (size_t i = 0; i < G_N_ELEMENTS(wins); i++)
                if (window_expect_message(t, wins[i], "testMsg", DEMO_TEST_MSG) < 0)
                        return -1;
        /* The Attach reply comes before what the main sends on attach. */
        id1 = ipcbus_renderer_get_id(t->win1.r);
        id2 = ipcbus_renderer_get_id(t->win2.r);
        if (id1 == 0 || id2 == 0 || id1 == id2)
                return selftest_fail(t,
                                     "expected two distinct webContents ids, got %" G_GUINT64_FORMAT
                                     " and %" G_GUINT64_FORMAT,
                                     id1, id2);
        return 0;
}

/* Seed 000 #1: ipcRenderer.send('set-title', title); the title read back.
 * Both typed, through the C generated from org.ipcbus.Demo.Channels.xml. */
static int scenario_set_title(demo_selftest *t) {
        static const char title[] = "ipcbus 演示窗口";
        _cleanup_(demo_variant_unrefp) GVariant *args = g_variant_ref_sink(selftest_string_args(title));
        _cleanup_(demo_call_clear) demo_call c = { .t = t, .error = SD_BUS_ERROR_NULL };
        int k;

        k = demo_channels_send_set_title(t->win1.r, title);
        if (k < 0)
                return selftest_fail(t, "win1: send 'set-title' failed: %s", g_strerror(-k));
        /* Sent right after: handled after set-title, in order. */
        c.started = demo_now_usec();
        k = demo_channels_invoke_get_title(t->win1.r, &c.slot, on_typed_string, &c);
        if (typed_call_started(t, &t->win1, "get-title", k) < 0 ||
            selftest_call_expect_string(t, &c, "get-title", title) < 0)
                return -1;
        return selftest_expect_main_recv(t, "set-title", args);
}

/* Seed 000 #2: ipcRenderer.invoke('dialog:openFile') -> filePaths[0], typed. */
static int scenario_open_file(demo_selftest *t) {
        _cleanup_(demo_call_clear) demo_call c = { .t = t, .error = SD_BUS_ERROR_NULL };
        _cleanup_(demo_freep) char *base = NULL;
        const char *path;
        int k;

        c.started = demo_now_usec();
        k = demo_channels_invoke_dialog_open_file(t->win1.r, &c.slot, on_typed_string, &c);
        if (typed_call_started(t, &t->win1, "dialog:openFile", k) < 0 ||
            selftest_call_wait(t, &c, "dialog:openFile") < 0)
                return -1;
        if (sd_bus_error_is_set(&c.error))
                return selftest_fail(t, "%s: %s", c.error.name, c.error.message);
        if (!c.result || !g_variant_is_of_type(c.result, G_VARIANT_TYPE_STRING))
                return selftest_fail(t, "expected a path (a string)");
        path = g_variant_get_string(c.result, NULL);
        base = g_path_get_basename(path);
        if (!g_path_is_absolute(path) || !g_str_equal(base, DEMO_FILE_NAME))
                return selftest_fail(t, "expected an absolute path to %s, got '%s'", DEMO_FILE_NAME, path);
        g_free(t->open_file);
        t->open_file = g_strdup(path);
        return 0;
}

/* Seed 001 双向: ipcRenderer.invoke('readFileEvent', 'a.txt'), and the path
 * dialog:openFile gave. */
static int scenario_read_file(demo_selftest *t) {
        if (window_invoke_expect_string(t, &t->win1, "readFileEvent", selftest_string_args(DEMO_FILE_NAME),
                                        DEMO_FILE_TEXT) < 0)
                return -1;
        if (!t->open_file)
                return selftest_fail(t, "no path from dialog:openFile to read");
        return window_invoke_expect_string(t, &t->win1, "readFileEvent", selftest_string_args(t->open_file),
                                           DEMO_FILE_TEXT);
}

/* Outside the allowed directory: refused, also through "..". */
static int scenario_read_file_outside(demo_selftest *t) {
        _cleanup_(demo_freep) char *message = NULL, *dotdot = NULL, *dotdot_message = NULL;

        message = g_strdup_printf("Error invoking remote method 'readFileEvent': "
                                  "Error: EACCES: '%s' is outside the directories this demo may read",
                                  t->outside_file);
        if (window_invoke_expect_error(t, &t->win1, "readFileEvent", selftest_string_args(t->outside_file),
                                       IPCBUS_ERROR_HANDLER_FAILED, message) < 0)
                return -1;
        /* Relative to the allowed directory; surplus ".." stop at "/". */
        dotdot = g_strdup_printf("../../../../../../../../../../../..%s", t->outside_file);
        dotdot_message = g_strdup_printf("Error invoking remote method 'readFileEvent': "
                                         "Error: EACCES: '%s' is outside the directories this demo may read",
                                         dotdot);
        return window_invoke_expect_error(t, &t->win1, "readFileEvent", selftest_string_args(dotdot),
                                          IPCBUS_ERROR_HANDLER_FAILED, dotdot_message);
}

/* A missing file: fs.readFileSync's ENOENT, as Electron reports it. */
static int scenario_read_file_missing(demo_selftest *t) {
        return window_invoke_expect_error(t, &t->win1, "readFileEvent", selftest_string_args("missing.txt"),
                                          IPCBUS_ERROR_HANDLER_FAILED,
                                          "Error invoking remote method 'readFileEvent': "
                                          "Error: ENOENT: no such file or directory, open 'missing.txt'");
}

/* Seed 001 单项: ipcRenderer.send('test-call', msg); the main logs it. */
static int scenario_test_call(demo_selftest *t) {
        _cleanup_(demo_variant_unrefp)
                GVariant *args = g_variant_ref_sink(selftest_string_args("你好，能听到我说话吗？"));

        if (window_send(t, &t->win1, "test-call", args) < 0)
                return -1;
        return selftest_expect_main_recv(t, "test-call", args);
}

/* Seed 002 1: ipcRenderer.send('my_channel', 'my_data') -> ipcMain.on. */
static int scenario_my_channel_send(demo_selftest *t) {
        _cleanup_(demo_variant_unrefp) GVariant *args = g_variant_ref_sink(selftest_string_args("my_data"));

        if (window_send(t, &t->win1, "my_channel", args) < 0)
                return -1;
        return selftest_expect_main_recv(t, "my_channel", args);
}

/* Seed 002 2.1: await ipcRenderer.invoke('my_channel', 'my_data') -> 'replay'. */
static int scenario_my_channel_invoke(demo_selftest *t) {
        return window_invoke_expect_string(t, &t->win1, "my_channel", selftest_string_args("my_data"),
                                           "replay");
}

/* Seed 002 2.2: send('asynchronous-message', 'ping') -> event.reply, to the
 * sender only. */
static int scenario_asynchronous_message(demo_selftest *t) {
        if (window_send(t, &t->win1, "asynchronous-message", selftest_string_args("ping")) < 0)
                return -1;
        if (window_expect_message(t, &t->win1, "asynchronous-reply", "pong") < 0)
                return -1;
        return window_expect_nothing(t, &t->win2);
}

/* Seed 002 2.3: ipcRenderer.sendSync('synchronous-message', 'ping') -> 'pong'. */
static int scenario_synchronous_message(demo_selftest *t) {
        return window_send_sync_expect_string(t, &t->win1, "synchronous-message", "ping", "pong");
}

/* Seed 002 3.2: event.sender.send('messageToRenderer', 'Hello from Main!'). */
static int scenario_message_from_main(demo_selftest *t) {
        if (window_send(t, &t->win1, "messageFromMain", selftest_string_args("hi")) < 0)
                return -1;
        if (window_expect_message(t, &t->win1, "messageToRenderer", DEMO_HELLO_FROM_MAIN) < 0)
                return -1;
        return window_expect_nothing(t, &t->win2);
}

/* Seed 002 4.1: the main as broker, win1-msg -> window2.webContents.send('forWin2'). */
static int scenario_win1_msg(demo_selftest *t) {
        if (window_send(t, &t->win1, "win1-msg", selftest_string_args(DEMO_WIN1_MSG)) < 0)
                return -1;
        if (window_expect_message(t, &t->win2, "forWin2", DEMO_WIN1_MSG) < 0)
                return -1;
        return window_expect_nothing(t, &t->win1);
}

/* Seed 003 send/on 【同步】: sendSync('from-renderer', 'ping') -> 'pong'; the
 * listener's event.sender.send reaches the sender as well. */
static int scenario_from_renderer_sync(demo_selftest *t) {
        if (window_send_sync_expect_string(t, &t->win1, "from-renderer", "ping", "pong") < 0)
                return -1;
        return window_expect_message(t, &t->win1, "asynchronous-reply", "pong");
}

/* Seed 003 send/on 【异步】: send('from-renderer', 'ping') -> asynchronous-reply. */
static int scenario_from_renderer_async(demo_selftest *t) {
        if (window_send(t, &t->win1, "from-renderer", selftest_string_args("ping")) < 0)
                return -1;
        if (window_expect_message(t, &t->win1, "asynchronous-reply", "pong") < 0)
                return -1;
        return window_expect_nothing(t, &t->win2);
}

/* Seed 003 handle/invoke: invoke('my-invokable-ipc', arg1, arg2), in order. */
static int scenario_my_invokable_ipc(demo_selftest *t) {
        return window_invoke_expect_string(t, &t->win1, "my-invokable-ipc",
                                           ipcbus_args(g_variant_new_string("arg1"),
                                                       g_variant_new_string("arg2"), NULL),
                                           "arg1 arg2");
}

/* Seed 004 send: event.reply('main-reply-to-render', ...). */
static int scenario_render_send_to_main(demo_selftest *t) {
        if (window_send(t, &t->win1, "render-send-to-main",
                        selftest_string_args("我是渲染进程通过 send 发送的消息")) < 0)
                return -1;
        return window_expect_message(t, &t->win1, "main-reply-to-render", DEMO_REPLY_TO_RENDER);
}

/* Seed 004 sendSync: event.returnValue = '主进程回复的消息'; 'ping' gives 'pong'. */
static int scenario_render_send_sync_to_main(demo_selftest *t) {
        if (window_send_sync_expect_string(t, &t->win1, "render-send-sync-to-main",
                                           "我是渲染进程通过 syncSend 发送给主进程的消息", DEMO_SYNC_REPLY) < 0)
                return -1;
        return window_send_sync_expect_string(t, &t->win1, "render-send-sync-to-main", "ping", "pong");
}

/* Seed 004 invoke: the handler awaits asyncWork(); meanwhile the main serves
 * other calls, so a get-title invoked after it is answered first. */
static int scenario_render_invoke_to_main(demo_selftest *t) {
        _cleanup_(demo_call_clear) demo_call slow = DEMO_CALL_INIT, quick = DEMO_CALL_INIT;
        _cleanup_(demo_freep) char *expected = g_strdup_printf("延迟 %u 毫秒获取到主进程的返回结果",
                                                               DEMO_DEFAULT_DELAY_MS);

        if (selftest_call_start(t, &t->win1, "render-invoke-to-main",
                                selftest_string_args("我是渲染进程通过 invoke 发送的消息"), &slow) < 0)
                return -1;
        if (selftest_call_start(t, &t->win1, "get-title", NULL, &quick) < 0)
                return -1;
        if (selftest_call_wait(t, &quick, "get-title") < 0)
                return -1;
        if (slow.done)
                return selftest_fail(t,
                                     "render-invoke-to-main answered before get-title: the delayed handler held "
                                     "up the main");
        if (selftest_call_expect_string(t, &slow, "render-invoke-to-main", expected) < 0)
                return -1;
        if (slow.finished - slow.started < DEMO_DEFAULT_DELAY_MS * 1000U)
                return selftest_fail(t, "answered after %" G_GUINT64_FORMAT " ms, before the %u ms delay",
                                     (slow.finished - slow.started) / 1000U, DEMO_DEFAULT_DELAY_MS);
        return 0;
}

/* ---- seeds 002, 003: MessagePorts ------------------------------------------ */

static bool port_got(demo_port_end *end, const char *value) {
        for (unsigned i = 0; i < end->recv->len; i++)
                if (g_str_equal(end->recv->pdata[i], value))
                        return true;
        return false;
}

/* win1 posts "ping N" over its end; win2, at the other end, answers. */
static int port_ping(demo_selftest *t, unsigned n) {
        g_autofree char *ping = g_strdup_printf("ping %u", n), *pong = g_strdup_printf("'pong %u'", n);
        int k;

        k = ipcbus_port_post_message(t->win1.port.port, g_variant_new_string(ping), NULL, 0);
        if (k < 0)
                return selftest_fail(t, "win1 cannot post on its port: %s", g_strerror(-k));
        if (WAIT_FOR(t, port_got(&t->win1.port, pong)) < 0)
                return selftest_fail(t, "win1 got no %s over the port", pong);
        return 0;
}

static int scenario_port(demo_selftest *t) {
        /* The main gave each window one end once both were attached. */
        if (WAIT_FOR(t, t->win1.port.port && t->win2.port.port) < 0)
                return selftest_fail(t, "the windows did not both get an end of the 'port' channel");
        return port_ping(t, 1);
}

static int scenario_port_main_stopped(demo_selftest *t) {
        int k;

        /* After the handoff the main is not on the path. */
        if (kill(t->main->pid, SIGSTOP) < 0)
                return selftest_fail(t, "cannot stop the main: %m");
        k = port_ping(t, 2);
        (void)kill(t->main->pid, SIGCONT);
        return k;
}

static int scenario_main_port(demo_selftest *t) {
        int k;

        /* const { port1, port2 } = new MessageChannelMain()
         * w.webContents.postMessage('port', null, [port2])
         * port1.postMessage({ some: 'message' }) */
        k = window_send(t, &t->win1, "ask-main-port", NULL);
        if (k < 0)
                return k;
        if (WAIT_FOR(t, port_got(&t->win1.port, "{'some': <'message'>}")) < 0)
                return selftest_fail(t, "win1 got no {some: 'message'} over the main's port");
        return 0;
}

/* Electron's error for an invoke nobody handles. */
static int scenario_no_handler(demo_selftest *t) {
        return window_invoke_expect_error(t, &t->win1, "no-such-channel", selftest_string_args("hello"),
                                          IPCBUS_ERROR_NO_HANDLER,
                                          "No handler registered for 'no-such-channel'");
}

static const demo_scenario scenarios[] = {
        { "testMsg-on-attach", scenario_test_msg },                        /* 001 */
        { "set-title/get-title", scenario_set_title },                     /* 000 */
        { "dialog:openFile", scenario_open_file },                         /* 000 */
        { "readFileEvent", scenario_read_file },                           /* 001 */
        { "readFileEvent-outside-refused", scenario_read_file_outside },   /* 001 */
        { "readFileEvent-missing-refused", scenario_read_file_missing },   /* 001 */
        { "test-call", scenario_test_call },                               /* 001 */
        { "my_channel-send", scenario_my_channel_send },                   /* 002 */
        { "my_channel-invoke", scenario_my_channel_invoke },               /* 002 */
        { "asynchronous-message", scenario_asynchronous_message },         /* 002 */
        { "synchronous-message", scenario_synchronous_message },           /* 002 */
        { "messageFromMain", scenario_message_from_main },                 /* 002 */
        { "win1-msg-to-win2", scenario_win1_msg },                         /* 002 */
        { "from-renderer-sendSync", scenario_from_renderer_sync },         /* 003 */
        { "from-renderer-send", scenario_from_renderer_async },            /* 003 */
        { "my-invokable-ipc", scenario_my_invokable_ipc },                 /* 003 */
        { "render-send-to-main", scenario_render_send_to_main },           /* 004 */
        { "render-send-sync-to-main", scenario_render_send_sync_to_main }, /* 004 */
        { "render-invoke-to-main", scenario_render_invoke_to_main },       /* 004 */
        { "port", scenario_port },                                         /* 002 */
        { "port-with-main-stopped", scenario_port_main_stopped },          /* 002 */
        { "MessageChannelMain-port1.postMessage", scenario_main_port },    /* 003 */
        { "unknown-channel-NoHandler", scenario_no_handler },
};

/* ---- setup and teardown ------------------------------------------------------ */

static int start_main(demo_selftest *t) {
        _cleanup_(demo_freep) char *exe = demo_self_exe();
        char *argv[] = { exe, (char *)"main", (char *)"--address", t->bus->address, (char *)"--name",
                         (char *)DEMO_DEFAULT_NAME, NULL };
        int k;

        /* The private bus is the session bus of the main we start: the
         * sandbox it spawns renderers in covers the socket its environment
         * names, also where TMPDIR put it outside the directories the
         * sandbox hides anyway (/tmp, /run). */
        if (!g_setenv("DBUS_SESSION_BUS_ADDRESS", t->bus->address, TRUE))
                return selftest_fail(t, "cannot set DBUS_SESSION_BUS_ADDRESS: %s", g_strerror(errno));
        k = demo_child_spawn(&t->main, t->event, argv);
        if (k < 0)
                return selftest_fail(t, "cannot start the main: %s", g_strerror(-k));
        if (WAIT_FOR(t, demo_child_find_line(t->main, 0, "ready") >= 0 || t->main->eof) < 0)
                return selftest_fail(t, "the main did not print 'ready' within %u s",
                                     SELFTEST_READY_TIMEOUT_USEC / 1000000U);
        if (demo_child_find_line(t->main, 0, "ready") < 0)
                return selftest_fail(t, "the main exited before it was ready");
        return 0;
}

/* A file the self-test owns, outside the main's runtime directory. */
static int make_outside_file(demo_selftest *t) {
        t->outside_file = g_build_filename(t->bus->dir, "outside.txt", NULL);
        if (!g_file_set_contents(t->outside_file, "not for renderers\n", -1, NULL))
                return selftest_fail(t, "cannot write %s", t->outside_file);
        return 0;
}

static int stop_main(demo_selftest *t) {
        int status = 0, k;

        k = demo_child_stop(t->main, &status);
        if (k < 0)
                return selftest_fail(t, "cannot stop the main: %s", g_strerror(-k));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                if (WIFSIGNALED(status))
                        return selftest_fail(t, "the main was killed by signal %d", WTERMSIG(status));
                return selftest_fail(t, "the main exited with status %d", WEXITSTATUS(status));
        }
        return 0;
}

static void demo_selftest_clear(demo_selftest *t) {
        window_close(&t->win1);
        window_close(&t->win2);
        t->main = demo_child_free(t->main);
        if (t->outside_file)
                (void)unlink(t->outside_file);
        g_free(t->outside_file);
        g_free(t->open_file);
        g_free(t->why);
        t->bus = demo_bus_free(t->bus);
        t->event = sd_event_unref(t->event);
}

static void run_scenarios(demo_selftest *t, const demo_scenario *list, size_t n) {
        for (size_t i = 0; i < n; i++) {
                selftest_scenario_begin(t, SELFTEST_SCENARIO_TIMEOUT_USEC);
                selftest_report(t, list[i].name, list[i].run(t));
        }
}

int demo_selftest_run(void) {
        _cleanup_(demo_selftest_clear) demo_selftest t = {};
        _cleanup_(demo_freep) char *error = NULL;
        int k;

        k = sd_event_new(&t.event);
        if (k < 0) {
                selftest_fail(&t, "sd_event_new: %s", g_strerror(-k));
                selftest_report(&t, "setup", -1);
                return 1;
        }
        k = demo_bus_start(&t.bus, &error);
        if (k < 0) {
                selftest_fail(&t, "%s", error);
                selftest_report(&t, "private-bus", -1);
                return 1;
        }
        selftest_scenario_begin(&t, SELFTEST_READY_TIMEOUT_USEC);
        if (make_outside_file(&t) < 0 || start_main(&t) < 0) {
                selftest_report(&t, "main-ready", -1);
                return 1;
        }
        selftest_scenario_begin(&t, SELFTEST_SCENARIO_TIMEOUT_USEC);
        if (window_open(&t, &t.win1, "win1") < 0 || window_open(&t, &t.win2, "win2") < 0) {
                selftest_report(&t, "renderers", -1);
                return 1;
        }

        run_scenarios(&t, scenarios, G_N_ELEMENTS(scenarios));
        run_scenarios(&t, selftest_trust_scenarios, selftest_n_trust_scenarios);

        /* Windows close first; then the main must stop cleanly on SIGTERM. */
        window_close(&t.win1);
        window_close(&t.win2);
        selftest_report(&t, "main-exits-on-SIGTERM", stop_main(&t));
        return t.failed ? 1 : 0;
}
