/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The self-test: a private bus, the demo main as a child process, and two
 * renderers (win1, win2) in this process, each with its own connection, both
 * on one sd-event loop. Every example of the seed articles runs as one
 * scenario and prints "ok NAME" or "FAIL NAME: why"; nothing else goes to
 * stdout. Waiting is always for an event, bounded by a deadline: the loop
 * runs until the condition holds, never sleeps.
 *
 * One-way messages to the main are seen on its stdout ("main-recv CHANNEL
 * ARGS"). That a message did NOT reach a renderer is shown with a barrier:
 * an invoke from that renderer, started after the main handled the message;
 * its answer comes after anything the main sent that renderer before.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <signal.h>

#include "demo.h"

#define SCENARIO_TIMEOUT_USEC (5U * 1000U * 1000U)
#define READY_TIMEOUT_USEC (10U * 1000U * 1000U)

typedef struct demo_window {
        const char *name;
        char *log_prefix;
        ipcbus_renderer *r;
        GPtrArray *recv; /* "CHANNEL ARGS" of each message since the scenario began */
        demo_port_end port;
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

/* ---- waiting ---------------------------------------------------------------- */

/* One loop iteration, bounded by the scenario's deadline. Return: 0; -ETIMEDOUT; -errno. */
static int step(demo_selftest *t) {
        uint64_t now = demo_now_usec();
        int k;

        if (now >= t->deadline)
                return -ETIMEDOUT;
        k = sd_event_run(t->event, t->deadline - now);
        return k < 0 ? k : 0;
}

/* Run the loop until @cond holds. Return: 0; -ETIMEDOUT; -errno. */
#define WAIT_FOR(t, cond)                                               \
        ({                                                              \
                int _k = 0;                                             \
                while (!(cond) && (_k = step(t)) >= 0)                  \
                        ;                                               \
                _k;                                                     \
        })

static int fail(demo_selftest *t, const char *format, ...) G_GNUC_PRINTF(2, 3);
static int fail(demo_selftest *t, const char *format, ...) {
        va_list ap;

        if (!t->why) {
                va_start(ap, format);
                t->why = g_strdup_vprintf(format, ap);
                va_end(ap);
        }
        return -1;
}

/* ---- what the renderers receive ------------------------------------------- */

static int on_window_recv(ipcbus_event *event, GVariant *args, void *userdata) {
        demo_window *w = userdata;

        g_ptr_array_add(w->recv, demo_format_message(ipcbus_event_get_channel(event), args));
        return 0;
}

static unsigned window_count(demo_window *w, const char *line) {
        unsigned n = 0;

        for (unsigned i = 0; i < w->recv->len; i++)
                n += g_str_equal(w->recv->pdata[i], line);
        return n;
}

/* The messages @w got, for a FAIL line. */
static char *window_describe(demo_window *w) {
        GString *s = g_string_new(NULL);

        g_string_append_printf(s, "%s got %u message(s)", w->name, w->recv->len);
        for (unsigned i = 0; i < w->recv->len; i++)
                g_string_append_printf(s, "%s%s", i ? "; " : ": ", (const char *)w->recv->pdata[i]);
        return g_string_free(s, FALSE);
}

/* Wait until @w got @channel with the one string @text, exactly once. */
static int expect_message(demo_selftest *t, demo_window *w, const char *channel, const char *text) {
        _cleanup_(demo_freep) char *line = demo_format_string_message(channel, text), *seen = NULL;
        unsigned n;

        if (WAIT_FOR(t, window_count(w, line) > 0) < 0) {
                seen = window_describe(w);
                return fail(t, "%s did not receive '%s' (%s)", w->name, line, seen);
        }
        n = window_count(w, line);
        if (n != 1)
                return fail(t, "%s received '%s' %u times", w->name, line, n);
        return 0;
}

/* Wait until the main printed that it received @channel with @args. */
static int expect_main_recv(demo_selftest *t, const char *channel, GVariant *args) {
        _cleanup_(demo_freep) char *message = demo_format_message(channel, args);
        _cleanup_(demo_freep) char *line = g_strdup_printf("main-recv %s", message);

        if (WAIT_FOR(t, demo_child_find_line(t->main, t->main_mark, line) >= 0 || t->main->eof) < 0)
                return fail(t, "the main did not print '%s'", line);
        if (demo_child_find_line(t->main, t->main_mark, line) < 0)
                return fail(t, "the main exited before printing '%s'", line);
        return 0;
}

/* ---- invokes ---------------------------------------------------------------- */

typedef struct demo_call {
        demo_selftest *t;
        ipcbus_slot *slot;
        bool done;
        unsigned order;    /* 1 for the first answer in the scenario, ... */
        uint64_t started, finished;
        GVariant *result;
        sd_bus_error error;
} demo_call;

#define DEMO_CALL_INIT { .error = SD_BUS_ERROR_NULL }

static void demo_call_clear(demo_call *c) {
        /* Cancels the call if it is still pending: its callback writes to @c. */
        c->slot = ipcbus_slot_unref(c->slot);
        if (c->result)
                g_variant_unref(c->result);
        c->result = NULL;
        sd_bus_error_free(&c->error);
}

static int on_call_done(GVariant *result, const sd_bus_error *error, void *userdata) {
        demo_call *c = userdata;

        c->done = true;
        c->finished = demo_now_usec();
        c->order = ++c->t->completions;
        if (error)
                (void)sd_bus_error_copy(&c->error, error);
        else if (result)
                c->result = g_variant_ref(result);
        return 0;
}

/* ipcRenderer.invoke(channel, ...args), asynchronous. */
static int call_start(demo_selftest *t, demo_window *w, const char *channel, GVariant *args, demo_call *c) {
        int k;

        c->t = t;
        c->started = demo_now_usec();
        k = ipcbus_renderer_invoke(w->r, &c->slot, channel, args, 0, on_call_done, c);
        if (k < 0)
                return fail(t, "%s: invoke '%s' failed to start: %s", w->name, channel, g_strerror(-k));
        return 0;
}

static int call_wait(demo_selftest *t, demo_call *c, const char *channel) {
        if (WAIT_FOR(t, c->done) < 0)
                return fail(t, "no answer to invoke '%s' within %u s", channel,
                            SCENARIO_TIMEOUT_USEC / 1000000U);
        return 0;
}

static int expect_string(demo_selftest *t, const char *what, GVariant *v, const char *expected) {
        _cleanup_(demo_freep) char *printed = v ? g_variant_print(v, TRUE) : g_strdup("nothing");

        if (!v || !g_variant_is_of_type(v, G_VARIANT_TYPE_STRING) ||
            !g_str_equal(g_variant_get_string(v, NULL), expected))
                return fail(t, "%s: expected '%s', got %s", what, expected, printed);
        return 0;
}

/* Wait for @c and check it answered the string @expected. */
static int call_expect_string(demo_selftest *t, demo_call *c, const char *channel, const char *expected) {
        if (call_wait(t, c, channel) < 0)
                return -1;
        if (sd_bus_error_is_set(&c->error))
                return fail(t, "invoke '%s' failed: %s: %s", channel, c->error.name, c->error.message);
        return expect_string(t, channel, c->result, expected);
}

/* Wait for @c and check it failed with exactly @name and @message. */
static int call_expect_error(demo_selftest *t, demo_call *c, const char *channel, const char *name,
                             const char *message) {
        _cleanup_(demo_freep) char *printed = NULL;

        if (call_wait(t, c, channel) < 0)
                return -1;
        if (!sd_bus_error_is_set(&c->error)) {
                printed = c->result ? g_variant_print(c->result, TRUE) : g_strdup("nothing");
                return fail(t, "invoke '%s' answered %s instead of failing", channel, printed);
        }
        if (!g_str_equal(c->error.name, name) || g_strcmp0(c->error.message, message) != 0)
                return fail(t, "invoke '%s': expected %s \"%s\", got %s \"%s\"", channel, name, message,
                            c->error.name, c->error.message ?: "(no message)");
        return 0;
}

/* Invoke and wait, for scenarios that need nothing in between. */
static int invoke_expect_string(demo_selftest *t, demo_window *w, const char *channel, GVariant *args,
                                const char *expected) {
        _cleanup_(demo_call_clear) demo_call c = DEMO_CALL_INIT;

        if (call_start(t, w, channel, args, &c) < 0)
                return -1;
        return call_expect_string(t, &c, channel, expected);
}

static int invoke_expect_error(demo_selftest *t, demo_window *w, const char *channel, GVariant *args,
                               const char *name, const char *message) {
        _cleanup_(demo_call_clear) demo_call c = DEMO_CALL_INIT;

        if (call_start(t, w, channel, args, &c) < 0)
                return -1;
        return call_expect_error(t, &c, channel, name, message);
}

/* ipcRenderer.sendSync(channel, text): blocks, as in Electron. */
static int send_sync_expect_string(demo_selftest *t, demo_window *w, const char *channel, const char *text,
                                   const char *expected) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(demo_variant_unrefp) GVariant *value = NULL;
        int k;

        k = ipcbus_renderer_send_sync(w->r, channel, ipcbus_args(g_variant_new_string(text), NULL), &error,
                                      &value);
        if (k < 0)
                return fail(t, "sendSync '%s' failed: %s", channel,
                            sd_bus_error_is_set(&error) ? error.message : g_strerror(-k));
        return expect_string(t, channel, value, expected);
}

static int send(demo_selftest *t, demo_window *w, const char *channel, GVariant *args) {
        int k = ipcbus_renderer_send(w->r, channel, args);

        if (k < 0)
                return fail(t, "%s: send '%s' failed: %s", w->name, channel, g_strerror(-k));
        return 0;
}

/* Once this returns, everything the main sent @w before handling a new
 * invoke from @w has been dispatched: @w's unicast messages arrive in order. */
static int barrier(demo_selftest *t, demo_window *w) {
        _cleanup_(demo_call_clear) demo_call c = DEMO_CALL_INIT;

        if (call_start(t, w, "get-title", NULL, &c) < 0)
                return -1;
        if (call_wait(t, &c, "get-title") < 0)
                return -1;
        return 0;
}

/* After a barrier: @w got nothing at all in this scenario. */
static int expect_nothing(demo_selftest *t, demo_window *w) {
        _cleanup_(demo_freep) char *seen = NULL;

        if (barrier(t, w) < 0)
                return -1;
        if (w->recv->len > 0) {
                seen = window_describe(w);
                return fail(t, "%s should have got nothing, but %s", w->name, seen);
        }
        return 0;
}

/* ('text'), floating: a call it is passed to sinks it. */
static GVariant *string_args(const char *text) {
        return ipcbus_args(g_variant_new_string(text), NULL);
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
                        return fail(t, "%s: attach failed: %s", wins[i]->name, g_strerror(-k));
        }
        for (size_t i = 0; i < G_N_ELEMENTS(wins); i++)
                if (expect_message(t, wins[i], "testMsg", DEMO_TEST_MSG) < 0)
                        return -1;
        /* The Attach reply comes before what the main sends on attach. */
        id1 = ipcbus_renderer_get_id(t->win1.r);
        id2 = ipcbus_renderer_get_id(t->win2.r);
        if (id1 == 0 || id2 == 0 || id1 == id2)
                return fail(t, "expected two distinct webContents ids, got %" G_GUINT64_FORMAT " and %"
                               G_GUINT64_FORMAT, id1, id2);
        return 0;
}

/* Seed 000 #1: ipcRenderer.send('set-title', title); the title read back. */
static int scenario_set_title(demo_selftest *t) {
        _cleanup_(demo_variant_unrefp) GVariant *args = g_variant_ref_sink(string_args("ipcbus 演示窗口"));

        if (send(t, &t->win1, "set-title", args) < 0)
                return -1;
        /* Sent right after: handled after set-title, in order. */
        if (invoke_expect_string(t, &t->win1, "get-title", NULL, "ipcbus 演示窗口") < 0)
                return -1;
        return expect_main_recv(t, "set-title", args);
}

/* Seed 000 #2: ipcRenderer.invoke('dialog:openFile') -> filePaths[0]. */
static int scenario_open_file(demo_selftest *t) {
        _cleanup_(demo_call_clear) demo_call c = DEMO_CALL_INIT;
        _cleanup_(demo_freep) char *base = NULL;
        const char *path;

        if (call_start(t, &t->win1, "dialog:openFile", NULL, &c) < 0 ||
            call_wait(t, &c, "dialog:openFile") < 0)
                return -1;
        if (sd_bus_error_is_set(&c.error))
                return fail(t, "%s: %s", c.error.name, c.error.message);
        if (!c.result || !g_variant_is_of_type(c.result, G_VARIANT_TYPE_STRING))
                return fail(t, "expected a path (a string)");
        path = g_variant_get_string(c.result, NULL);
        base = g_path_get_basename(path);
        if (!g_path_is_absolute(path) || !g_str_equal(base, DEMO_FILE_NAME))
                return fail(t, "expected an absolute path to %s, got '%s'", DEMO_FILE_NAME, path);
        g_free(t->open_file);
        t->open_file = g_strdup(path);
        return 0;
}

/* Seed 001 双向: ipcRenderer.invoke('readFileEvent', 'a.txt'), and the path
 * dialog:openFile gave. */
static int scenario_read_file(demo_selftest *t) {
        if (invoke_expect_string(t, &t->win1, "readFileEvent", string_args(DEMO_FILE_NAME),
                                 DEMO_FILE_TEXT) < 0)
                return -1;
        if (!t->open_file)
                return fail(t, "no path from dialog:openFile to read");
        return invoke_expect_string(t, &t->win1, "readFileEvent", string_args(t->open_file), DEMO_FILE_TEXT);
}

/* Outside the allowed directory: refused, also through "..". */
static int scenario_read_file_outside(demo_selftest *t) {
        _cleanup_(demo_freep) char *message = NULL, *dotdot = NULL, *dotdot_message = NULL;

        message = g_strdup_printf("Error invoking remote method 'readFileEvent': "
                                  "EACCES: '%s' is outside the directories this demo may read",
                                  t->outside_file);
        if (invoke_expect_error(t, &t->win1, "readFileEvent", string_args(t->outside_file),
                                IPCBUS_ERROR_HANDLER_FAILED, message) < 0)
                return -1;
        /* Relative to the allowed directory; surplus ".." stop at "/". */
        dotdot = g_strdup_printf("../../../../../../../../../../../..%s", t->outside_file);
        dotdot_message = g_strdup_printf("Error invoking remote method 'readFileEvent': "
                                         "EACCES: '%s' is outside the directories this demo may read",
                                         dotdot);
        return invoke_expect_error(t, &t->win1, "readFileEvent", string_args(dotdot),
                                   IPCBUS_ERROR_HANDLER_FAILED, dotdot_message);
}

/* A missing file: fs.readFileSync's ENOENT, as Electron reports it. */
static int scenario_read_file_missing(demo_selftest *t) {
        return invoke_expect_error(t, &t->win1, "readFileEvent", string_args("missing.txt"),
                                   IPCBUS_ERROR_HANDLER_FAILED,
                                   "Error invoking remote method 'readFileEvent': "
                                   "ENOENT: no such file or directory, open 'missing.txt'");
}

/* Seed 001 单项: ipcRenderer.send('test-call', msg); the main logs it. */
static int scenario_test_call(demo_selftest *t) {
        _cleanup_(demo_variant_unrefp) GVariant *args = g_variant_ref_sink(string_args("你好，能听到我说话吗？"));

        if (send(t, &t->win1, "test-call", args) < 0)
                return -1;
        return expect_main_recv(t, "test-call", args);
}

/* Seed 002 1: ipcRenderer.send('my_channel', 'my_data') -> ipcMain.on. */
static int scenario_my_channel_send(demo_selftest *t) {
        _cleanup_(demo_variant_unrefp) GVariant *args = g_variant_ref_sink(string_args("my_data"));

        if (send(t, &t->win1, "my_channel", args) < 0)
                return -1;
        return expect_main_recv(t, "my_channel", args);
}

/* Seed 002 2.1: await ipcRenderer.invoke('my_channel', 'my_data') -> 'replay'. */
static int scenario_my_channel_invoke(demo_selftest *t) {
        return invoke_expect_string(t, &t->win1, "my_channel", string_args("my_data"), "replay");
}

/* Seed 002 2.2: send('asynchronous-message', 'ping') -> event.reply, to the
 * sender only. */
static int scenario_asynchronous_message(demo_selftest *t) {
        if (send(t, &t->win1, "asynchronous-message", string_args("ping")) < 0)
                return -1;
        if (expect_message(t, &t->win1, "asynchronous-reply", "pong") < 0)
                return -1;
        return expect_nothing(t, &t->win2);
}

/* Seed 002 2.3: ipcRenderer.sendSync('synchronous-message', 'ping') -> 'pong'. */
static int scenario_synchronous_message(demo_selftest *t) {
        return send_sync_expect_string(t, &t->win1, "synchronous-message", "ping", "pong");
}

/* Seed 002 3.2: event.sender.send('messageToRenderer', 'Hello from Main!'). */
static int scenario_message_from_main(demo_selftest *t) {
        if (send(t, &t->win1, "messageFromMain", string_args("hi")) < 0)
                return -1;
        if (expect_message(t, &t->win1, "messageToRenderer", DEMO_HELLO_FROM_MAIN) < 0)
                return -1;
        return expect_nothing(t, &t->win2);
}

/* Seed 002 4.1: the main as broker, win1-msg -> window2.webContents.send('forWin2'). */
static int scenario_win1_msg(demo_selftest *t) {
        if (send(t, &t->win1, "win1-msg", string_args(DEMO_WIN1_MSG)) < 0)
                return -1;
        if (expect_message(t, &t->win2, "forWin2", DEMO_WIN1_MSG) < 0)
                return -1;
        return expect_nothing(t, &t->win1);
}

/* Seed 003 send/on 【同步】: sendSync('from-renderer', 'ping') -> 'pong'; the
 * listener's event.sender.send reaches the sender as well. */
static int scenario_from_renderer_sync(demo_selftest *t) {
        if (send_sync_expect_string(t, &t->win1, "from-renderer", "ping", "pong") < 0)
                return -1;
        return expect_message(t, &t->win1, "asynchronous-reply", "pong");
}

/* Seed 003 send/on 【异步】: send('from-renderer', 'ping') -> asynchronous-reply. */
static int scenario_from_renderer_async(demo_selftest *t) {
        if (send(t, &t->win1, "from-renderer", string_args("ping")) < 0)
                return -1;
        if (expect_message(t, &t->win1, "asynchronous-reply", "pong") < 0)
                return -1;
        return expect_nothing(t, &t->win2);
}

/* Seed 003 handle/invoke: invoke('my-invokable-ipc', arg1, arg2), in order. */
static int scenario_my_invokable_ipc(demo_selftest *t) {
        return invoke_expect_string(
                t, &t->win1, "my-invokable-ipc",
                ipcbus_args(g_variant_new_string("arg1"), g_variant_new_string("arg2"), NULL), "arg1 arg2");
}

/* Seed 004 send: event.reply('main-reply-to-render', ...). */
static int scenario_render_send_to_main(demo_selftest *t) {
        if (send(t, &t->win1, "render-send-to-main", string_args("我是渲染进程通过 send 发送的消息")) < 0)
                return -1;
        return expect_message(t, &t->win1, "main-reply-to-render", DEMO_REPLY_TO_RENDER);
}

/* Seed 004 sendSync: event.returnValue = '主进程回复的消息'; 'ping' gives 'pong'. */
static int scenario_render_send_sync_to_main(demo_selftest *t) {
        if (send_sync_expect_string(t, &t->win1, "render-send-sync-to-main",
                                    "我是渲染进程通过 syncSend 发送给主进程的消息", DEMO_SYNC_REPLY) < 0)
                return -1;
        return send_sync_expect_string(t, &t->win1, "render-send-sync-to-main", "ping", "pong");
}

/* Seed 004 invoke: the handler awaits asyncWork(); meanwhile the main serves
 * other calls, so a get-title invoked after it is answered first. */
static int scenario_render_invoke_to_main(demo_selftest *t) {
        _cleanup_(demo_call_clear) demo_call slow = DEMO_CALL_INIT, quick = DEMO_CALL_INIT;
        _cleanup_(demo_freep) char *expected = g_strdup_printf("延迟 %u 毫秒获取到主进程的返回结果",
                                                               DEMO_DEFAULT_DELAY_MS);

        if (call_start(t, &t->win1, "render-invoke-to-main", string_args("我是渲染进程通过 invoke 发送的消息"),
                       &slow) < 0)
                return -1;
        if (call_start(t, &t->win1, "get-title", NULL, &quick) < 0)
                return -1;
        if (call_wait(t, &quick, "get-title") < 0)
                return -1;
        if (slow.done)
                return fail(t, "render-invoke-to-main answered before get-title: the delayed handler held "
                               "up the main");
        if (call_expect_string(t, &slow, "render-invoke-to-main", expected) < 0)
                return -1;
        if (slow.finished - slow.started < DEMO_DEFAULT_DELAY_MS * 1000U)
                return fail(t, "answered after %" G_GUINT64_FORMAT " ms, before the %u ms delay",
                            (slow.finished - slow.started) / 1000U, DEMO_DEFAULT_DELAY_MS);
        return 0;
}

/* Electron's error for an invoke nobody handles. */
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
                return fail(t, "win1 cannot post on its port: %s", g_strerror(-k));
        if (WAIT_FOR(t, port_got(&t->win1.port, pong)) < 0)
                return fail(t, "win1 got no %s over the port", pong);
        return 0;
}

static int scenario_port(demo_selftest *t) {
        /* The main gave each window one end once both were attached. */
        if (WAIT_FOR(t, t->win1.port.port && t->win2.port.port) < 0)
                return fail(t, "the windows did not both get an end of the 'port' channel");
        return port_ping(t, 1);
}

static int scenario_port_main_stopped(demo_selftest *t) {
        int k;

        /* After the handoff the main is not on the path. */
        if (kill(t->main->pid, SIGSTOP) < 0)
                return fail(t, "cannot stop the main: %m");
        k = port_ping(t, 2);
        (void)kill(t->main->pid, SIGCONT);
        return k;
}

static int scenario_main_port(demo_selftest *t) {
        int k;

        /* const { port1, port2 } = new MessageChannelMain()
         * w.webContents.postMessage('port', null, [port2])
         * port1.postMessage({ some: 'message' }) */
        k = send(t, &t->win1, "ask-main-port", NULL);
        if (k < 0)
                return k;
        if (WAIT_FOR(t, port_got(&t->win1.port, "{'some': <'message'>}")) < 0)
                return fail(t, "win1 got no {some: 'message'} over the main's port");
        return 0;
}

static int scenario_no_handler(demo_selftest *t) {
        return invoke_expect_error(t, &t->win1, "no-such-channel", string_args("hello"),
                                   IPCBUS_ERROR_NO_HANDLER, "No handler registered for 'no-such-channel'");
}

typedef struct demo_scenario {
        const char *name;
        int (*run)(demo_selftest *t);
} demo_scenario;

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

static void report(demo_selftest *t, const char *name, int result) {
        if (result >= 0)
                printf("ok %s\n", name);
        else {
                printf("FAIL %s: %s\n", name, t->why ?: "failed");
                t->failed++;
        }
        fflush(stdout);
        g_free(t->why);
        t->why = NULL;
}

static void scenario_begin(demo_selftest *t, uint64_t timeout_usec) {
        t->deadline = demo_now_usec() + timeout_usec;
        t->main_mark = t->main ? t->main->lines->len : 0;
        t->completions = 0;
        if (t->win1.recv)
                g_ptr_array_set_size(t->win1.recv, 0);
        if (t->win2.recv)
                g_ptr_array_set_size(t->win2.recv, 0);
}

static int window_open(demo_selftest *t, demo_window *w, const char *name) {
        int k;

        w->name = name;
        w->log_prefix = g_strdup_printf("ipcbus-demo %s", name);
        w->recv = g_ptr_array_new_with_free_func(g_free);
        k = ipcbus_renderer_new(&w->r, DEMO_DEFAULT_NAME);
        if (k < 0)
                return fail(t, "%s: %s", name, g_strerror(-k));
        ipcbus_renderer_set_log_function(w->r, demo_log_stderr, w->log_prefix);
        /* A failing scenario fails within its deadline, sendSync included. */
        (void)ipcbus_renderer_set_timeout(w->r, SCENARIO_TIMEOUT_USEC);
        k = ipcbus_renderer_attach_event(w->r, t->event, 0);
        if (k >= 0)
                k = ipcbus_renderer_open_address(w->r, t->bus->address);
        if (k >= 0)
                /* Listeners before Attach: testMsg comes right after it. */
                k = demo_renderer_listen(w->r, on_window_recv, w);
        if (k >= 0) {
                w->port.answer = g_str_equal(name, "win2");
                k = demo_port_listen(w->r, &w->port);
        }
        if (k < 0)
                return fail(t, "%s: cannot connect: %s", name, g_strerror(-k));
        return 0;
}

static void window_close(demo_window *w) {
        demo_port_end_clear(&w->port);
        w->r = ipcbus_renderer_unref(w->r);
        if (w->recv)
                g_ptr_array_unref(w->recv);
        w->recv = NULL;
        g_free(w->log_prefix);
        w->log_prefix = NULL;
}

static int start_main(demo_selftest *t) {
        _cleanup_(demo_freep) char *exe = demo_self_exe();
        char *argv[] = { exe, (char *)"main", (char *)"--address", t->bus->address, (char *)"--name",
                         (char *)DEMO_DEFAULT_NAME, NULL };
        int k;

        k = demo_child_spawn(&t->main, t->event, argv);
        if (k < 0)
                return fail(t, "cannot start the main: %s", g_strerror(-k));
        if (WAIT_FOR(t, demo_child_find_line(t->main, 0, "ready") >= 0 || t->main->eof) < 0)
                return fail(t, "the main did not print 'ready' within %u s", READY_TIMEOUT_USEC / 1000000U);
        if (demo_child_find_line(t->main, 0, "ready") < 0)
                return fail(t, "the main exited before it was ready");
        return 0;
}

/* A file the self-test owns, outside the main's runtime directory. */
static int make_outside_file(demo_selftest *t) {
        t->outside_file = g_build_filename(t->bus->dir, "outside.txt", NULL);
        if (!g_file_set_contents(t->outside_file, "not for renderers\n", -1, NULL))
                return fail(t, "cannot write %s", t->outside_file);
        return 0;
}

static int stop_main(demo_selftest *t) {
        int status = 0, k;

        k = demo_child_stop(t->main, &status);
        if (k < 0)
                return fail(t, "cannot stop the main: %s", g_strerror(-k));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                if (WIFSIGNALED(status))
                        return fail(t, "the main was killed by signal %d", WTERMSIG(status));
                return fail(t, "the main exited with status %d", WEXITSTATUS(status));
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

int demo_selftest_run(void) {
        _cleanup_(demo_selftest_clear) demo_selftest t = {};
        _cleanup_(demo_freep) char *error = NULL;
        int k;

        k = sd_event_new(&t.event);
        if (k < 0) {
                fail(&t, "sd_event_new: %s", g_strerror(-k));
                report(&t, "setup", -1);
                return 1;
        }
        k = demo_bus_start(&t.bus, &error);
        if (k < 0) {
                fail(&t, "%s", error);
                report(&t, "private-bus", -1);
                return 1;
        }
        scenario_begin(&t, READY_TIMEOUT_USEC);
        if (make_outside_file(&t) < 0 || start_main(&t) < 0) {
                report(&t, "main-ready", -1);
                return 1;
        }
        scenario_begin(&t, SCENARIO_TIMEOUT_USEC);
        if (window_open(&t, &t.win1, "win1") < 0 || window_open(&t, &t.win2, "win2") < 0) {
                report(&t, "renderers", -1);
                return 1;
        }

        for (size_t i = 0; i < G_N_ELEMENTS(scenarios); i++) {
                scenario_begin(&t, SCENARIO_TIMEOUT_USEC);
                k = scenarios[i].run(&t);
                report(&t, scenarios[i].name, k);
        }

        /* Windows close first; then the main must stop cleanly on SIGTERM. */
        window_close(&t.win1);
        window_close(&t.win2);
        report(&t, "main-exits-on-SIGTERM", stop_main(&t));
        return t.failed ? 1 : 0;
}
