/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The demo main: what the seed articles' main.js files do, on ipcbus.
 *
 * Every message and invoke it receives is printed as one line,
 * "main-recv CHANNEL ARGS", flushed at once: the seeds' console.log, and
 * what the self-test reads to see that a one-way message arrived.
 *
 * The typed channels of org.ipcbus.Demo.Channels.xml (issue 7) are declared
 * and served through the C ipcbus-codegen makes of that file
 * (demo-channels.h): their handlers and listeners take and return C types,
 * and busctl sees them as methods and signals of org.ipcbus.Demo.Channels.
 *
 * Beyond the seeds, the trust boundary (issue 6): whoami answers with the
 * caller's kernel credentials, ask-renderer asks the caller's own
 * Renderer1.Invoke, a renderer attached as "guest" is confined to
 * my_channel and get-title, and spawn-sandboxed starts a renderer under
 * bwrap (demo-sandbox.c). Issue 7: notify shows a desktop notification
 * (demo-notify.c), and a main started by D-Bus activation serves the bus
 * that started it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "demo-channels.h"
#include "demo.h"

/* readFileEvent returns text; bigger files are refused rather than sent. */
#define DEMO_READ_MAX (1024 * 1024)

typedef struct demo_main {
        ipcbus_main *m;
        char *title;
        char *file;          /* what dialog:openFile answers */
        GPtrArray *allowed;  /* char *, real paths of the allowed directories */
        char *runtime_dir;   /* created (and removed) by us, or NULL */
        char *runtime_file;
        unsigned delay_ms;
        char *last_test_call;
        GQueue delayed;      /* delayed_reply *, render-invoke-to-main answers not yet due */
        uint64_t paired[2];  /* ids of the win1/win2 last given a 'port' channel */
        ipcbus_port *kept;   /* port1 of the last ask-main-port */
        GQueue asks;         /* renderer_ask *, ask-renderer calls waiting for the renderer */
        ipcbus_policy *guest; /* what a renderer attached as "guest" may use */
        demo_sandbox *sandbox; /* spawn-sandboxed and the renderers it started */
        demo_notify *notify;   /* notify and its calls to the notification server */
} demo_main;

void demo_main_print_recv(const char *channel, GVariant *args) {
        _cleanup_(demo_freep) char *line = demo_format_message(channel, args);

        printf("main-recv %s\n", line);
        fflush(stdout);
}

/* Argument @index as a new string, or NULL if it is not a string. */
static char *args_dup_string(GVariant *args, size_t index) {
        _cleanup_(demo_variant_unrefp) GVariant *v = ipcbus_args_get(args, index);

        if (!v || !g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
                return NULL;
        return g_variant_dup_string(v, NULL);
}

static GVariant *string_args(const char *text) {
        return ipcbus_args(g_variant_new_string(text), NULL);
}

/* ---- seed 000: set-title, dialog:openFile (typed) ------------------------- */

/* The declared types are checked before these run: @title is a string. */
static int on_set_title(ipcbus_event *event, const char *title, void *userdata) {
        demo_main *d = userdata;

        demo_main_print_recv(ipcbus_event_get_channel(event), ipcbus_event_get_args(event));
        g_free(d->title);
        d->title = g_strdup(title);
        /* Every renderer hears of it, and busctl sees TitleChanged; a failure
         * is reported through the log function. */
        return demo_channels_broadcast_title_changed(d->m, d->title);
}

static int handle_get_title(ipcbus_invocation *inv, void *userdata) {
        demo_main *d = userdata;

        demo_main_print_recv(ipcbus_invocation_get_channel(inv), ipcbus_invocation_get_args(inv));
        return demo_channels_complete_get_title(inv, d->title);
}

static int handle_open_file(ipcbus_invocation *inv, void *userdata) {
        demo_main *d = userdata;

        /* No dialog here: the configured file, as if the user had picked it. */
        demo_main_print_recv(ipcbus_invocation_get_channel(inv), ipcbus_invocation_get_args(inv));
        return demo_channels_complete_dialog_open_file(inv, d->file);
}

/* ---- seed 001: test-call, readFileEvent ---------------------------------- */

static int on_test_call(ipcbus_event *event, GVariant *args, void *userdata) {
        demo_main *d = userdata;

        /* console.log("主进程收到消息:", arg) */
        demo_main_print_recv(ipcbus_event_get_channel(event), args);
        g_free(d->last_test_call);
        d->last_test_call = args_dup_string(args, 0);
        return 0;
}

/* Whether @path (resolved) is below @dir (resolved), or @dir itself. */
static bool path_is_below(const char *path, const char *dir, bool or_same) {
        size_t n = strlen(dir);

        if (strncmp(path, dir, n) != 0)
                return false;
        if (path[n] == 0)
                return or_same;
        return path[n] == '/' || g_str_equal(dir, "/");
}

static bool path_is_allowed(demo_main *d, const char *real, bool or_same) {
        for (unsigned i = 0; i < d->allowed->len; i++)
                if (path_is_below(real, d->allowed->pdata[i], or_same))
                        return true;
        return false;
}

/* Read a regular file of at most DEMO_READ_MAX bytes. Return: 0; -errno. */
static int read_text(const char *path, char **ret) {
        _cleanup_(demo_closep) int fd = -1;
        _cleanup_(demo_freep) char *buf = NULL;
        struct stat st;
        size_t n = 0;

        /* @path is already resolved: a symlink swapped in since is refused. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (st.st_size > DEMO_READ_MAX)
                return -EFBIG;
        buf = g_malloc((size_t)st.st_size + 1);
        while (n < (size_t)st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t)k;
        }
        buf[n] = 0;
        /* As Node's buffer.toString(): invalid UTF-8 becomes U+FFFD. */
        *ret = g_utf8_make_valid(buf, (gssize)n);
        return 0;
}

/* Typed: @param is the string the declaration says. */
static int handle_read_file(ipcbus_invocation *inv, const char *param, void *userdata) {
        demo_main *d = userdata;
        _cleanup_(demo_freep) char *path = NULL, *real = NULL, *dir = NULL, *real_dir = NULL, *text = NULL;
        int r;

        demo_main_print_recv(ipcbus_invocation_get_channel(inv), ipcbus_invocation_get_args(inv));
        if (!param[0])
                return ipcbus_invocation_return_error(inv, IPCBUS_ERROR_INVALID_ARGS,
                                                      "readFileEvent expects a file path (a string)");
        /* Seed 001 reads 'a.txt': relative paths are taken from the first
         * allowed directory, not from wherever the main was started. */
        path = g_path_is_absolute(param) ? g_strdup(param)
                                         : g_build_filename(d->allowed->pdata[0], param, NULL);

        real = realpath(path, NULL);
        if (!real) {
                r = -errno;
                /* Say "missing" only inside the allowed directories: outside
                 * them, not even whether a file exists is told. */
                dir = g_path_get_dirname(path);
                real_dir = realpath(dir, NULL);
                if (r == -ENOENT && real_dir && path_is_allowed(d, real_dir, true))
                        return ipcbus_invocation_return_error(inv, NULL,
                                                              "ENOENT: no such file or directory, open '%s'",
                                                              param);
                return ipcbus_invocation_return_error(
                        inv, NULL, "EACCES: '%s' is outside the directories this demo may read", param);
        }
        if (!path_is_allowed(d, real, false))
                return ipcbus_invocation_return_error(
                        inv, NULL, "EACCES: '%s' is outside the directories this demo may read", param);

        r = read_text(real, &text);
        if (r < 0)
                return ipcbus_invocation_return_error(inv, NULL, "%s: cannot read '%s': %s",
                                                      r == -EFBIG ? "EFBIG" : "EIO", param, g_strerror(-r));
        return demo_channels_complete_read_file_event(inv, text);
}

/* ---- seed 002: my_channel, asynchronous-message, synchronous-message,
 *      messageFromMain, win1-msg --------------------------------------------- */

static int on_my_channel(ipcbus_event *event, GVariant *args, void *userdata) {
        /* console.log(`receive message from render: ${message}`) */
        demo_main_print_recv(ipcbus_event_get_channel(event), args);
        return 0;
}

static int handle_my_channel(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        demo_main_print_recv(ipcbus_invocation_get_channel(inv), args);
        return ipcbus_invocation_return_value(inv, g_variant_new_string("replay"));
}

static int on_asynchronous_message(ipcbus_event *event, GVariant *args, void *userdata) {
        demo_main_print_recv(ipcbus_event_get_channel(event), args);
        /* event.reply('asynchronous-reply', 'pong') */
        return ipcbus_event_reply(event, "asynchronous-reply", string_args("pong"));
}

static int on_synchronous_message(ipcbus_event *event, GVariant *args, void *userdata) {
        demo_main_print_recv(ipcbus_event_get_channel(event), args);
        /* event.returnValue = 'pong'; a plain send has no one waiting. */
        if (ipcbus_event_is_sync(event))
                (void)ipcbus_event_set_return_value(event, g_variant_new_string("pong"));
        return 0;
}

static int on_message_from_main(ipcbus_event *event, GVariant *args, void *userdata) {
        demo_main_print_recv(ipcbus_event_get_channel(event), args);
        /* event.sender.send('messageToRenderer', 'Hello from Main!') */
        return ipcbus_web_contents_send(ipcbus_event_get_sender(event), "messageToRenderer",
                                        string_args(DEMO_HELLO_FROM_MAIN));
}

static int on_win1_msg(ipcbus_event *event, GVariant *args, void *userdata) {
        demo_main *d = userdata;
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *win2 = NULL;
        int r;

        demo_main_print_recv(ipcbus_event_get_channel(event), args);
        /* The main as broker: window2.webContents.send('forWin2', arg) */
        r = ipcbus_main_find_web_contents(d->m, "win2", &win2);
        if (r < 0) {
                fprintf(stderr, "ipcbus-demo main: win1-msg: no renderer named win2 is attached\n");
                return 0;
        }
        return ipcbus_web_contents_send(win2, "forWin2", args);
}

/* ---- seed 003: from-renderer, my-invokable-ipc ---------------------------- */

static int on_from_renderer(ipcbus_event *event, GVariant *args, void *userdata) {
        demo_main_print_recv(ipcbus_event_get_channel(event), args);
        /* 【同步】响应: only sendSync waits for it. */
        if (ipcbus_event_is_sync(event))
                (void)ipcbus_event_set_return_value(event, g_variant_new_string("pong"));
        /* 【异步】响应 */
        return ipcbus_web_contents_send(ipcbus_event_get_sender(event), "asynchronous-reply",
                                        string_args("pong"));
}

static int handle_my_invokable_ipc(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        GString *s = g_string_new(NULL);
        size_t n = ipcbus_args_count(args);

        demo_main_print_recv(ipcbus_invocation_get_channel(inv), args);
        /* The arguments joined, so the caller sees they arrived in order. */
        for (size_t i = 0; i < n; i++) {
                _cleanup_(demo_variant_unrefp) GVariant *a = ipcbus_args_get(args, i);

                if (i > 0)
                        g_string_append_c(s, ' ');
                if (g_variant_is_of_type(a, G_VARIANT_TYPE_STRING))
                        g_string_append(s, g_variant_get_string(a, NULL));
                else
                        g_variant_print_string(a, s, FALSE);
        }
        return ipcbus_invocation_return_value(inv, g_variant_new_take_string(g_string_free(s, FALSE)));
}

/* ---- seed 004: render-send-to-main, render-send-sync-to-main,
 *      render-invoke-to-main ------------------------------------------------- */

static int on_render_send_to_main(ipcbus_event *event, GVariant *args, void *userdata) {
        demo_main_print_recv(ipcbus_event_get_channel(event), args);
        return ipcbus_event_reply(event, "main-reply-to-render", string_args(DEMO_REPLY_TO_RENDER));
}

static int on_render_send_sync_to_main(ipcbus_event *event, GVariant *args, void *userdata) {
        _cleanup_(demo_freep) char *text = args_dup_string(args, 0);
        const char *answer = g_strcmp0(text, "ping") == 0 ? "pong" : DEMO_SYNC_REPLY;

        demo_main_print_recv(ipcbus_event_get_channel(event), args);
        if (ipcbus_event_is_sync(event))
                (void)ipcbus_event_set_return_value(event, g_variant_new_string(answer));
        return 0;
}

/* An answer that is due later: the handler's `await asyncWork()`. */
typedef struct delayed_reply {
        GList link;
        demo_main *d;
        ipcbus_invocation *inv;
        sd_event_source *timer;
} delayed_reply;

static void delayed_reply_free(delayed_reply *x) {
        g_queue_unlink(&x->d->delayed, &x->link);
        /* Safe from the timer's own callback: sd-event frees it after the
         * dispatch. */
        sd_event_source_disable_unref(x->timer);
        /* Unanswered (the main is stopping): the caller gets an error at
         * once rather than waiting for its timeout. */
        ipcbus_invocation_unref(x->inv);
        g_free(x);
}

static int on_delay_elapsed(sd_event_source *s, uint64_t usec, void *userdata) {
        delayed_reply *x = userdata;
        int r;

        r = ipcbus_invocation_return_value(
                x->inv, g_variant_new_take_string(g_strdup_printf("延迟 %u 毫秒获取到主进程的返回结果",
                                                                  x->d->delay_ms)));
        /* -ENOTCONN: the caller went away meanwhile; nothing to do. */
        if (r < 0 && r != -ENOTCONN)
                fprintf(stderr, "ipcbus-demo main: render-invoke-to-main: %s\n", g_strerror(-r));
        delayed_reply_free(x);
        return 0;
}

static int handle_render_invoke_to_main(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        demo_main *d = userdata;
        delayed_reply *x;
        int r;

        demo_main_print_recv(ipcbus_invocation_get_channel(inv), args);
        x = g_new0(delayed_reply, 1);
        x->link.data = x;
        x->d = d;
        /* Keeping a reference is what makes the handler asynchronous: it
         * returns now, the main serves other calls, the answer comes later. */
        x->inv = ipcbus_invocation_ref(inv);
        g_queue_push_tail_link(&d->delayed, &x->link);
        r = sd_event_add_time_relative(ipcbus_main_get_event(d->m), &x->timer, CLOCK_MONOTONIC,
                                       (uint64_t)d->delay_ms * 1000U, 0, on_delay_elapsed, x);
        if (r < 0) {
                delayed_reply_free(x);
                return r; /* the caller gets HandlerFailed with strerror */
        }
        return 0;
}

/* ---- issue 6: whoami, ask-renderer ------------------------------------------ */

static int handle_whoami(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        ipcbus_web_contents *wc = ipcbus_invocation_get_sender(inv);
        GVariantBuilder b;
        pid_t pid;
        uid_t uid;
        gid_t gid;
        int r;

        demo_main_print_recv(ipcbus_invocation_get_channel(inv), args);
        /* What the kernel and the bus say about the caller's connection,
         * never what the caller says about itself. */
        r = ipcbus_web_contents_get_pid(wc, &pid);
        if (r >= 0)
                r = ipcbus_web_contents_get_uid(wc, &uid);
        if (r >= 0)
                r = ipcbus_web_contents_get_gid(wc, &gid);
        if (r < 0)
                return ipcbus_invocation_return_error(inv, NULL, "cannot tell who is calling: %s",
                                                      g_strerror(-r));
        /* A builder, not a GVariantDict: the keys keep this order on the wire. */
        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", "pid", g_variant_new_uint32((uint32_t)pid));
        g_variant_builder_add(&b, "{sv}", "uid", g_variant_new_uint32((uint32_t)uid));
        g_variant_builder_add(&b, "{sv}", "gid", g_variant_new_uint32((uint32_t)gid));
        g_variant_builder_add(&b, "{sv}", "id", g_variant_new_uint64(ipcbus_web_contents_get_id(wc)));
        return ipcbus_invocation_return_value(inv, g_variant_builder_end(&b));
}

/* An ask-renderer waiting for the renderer's own answer. */
typedef struct renderer_ask {
        GList link;
        demo_main *d;
        ipcbus_invocation *inv;
        ipcbus_slot *slot; /* the main's call to the renderer */
} renderer_ask;

static void renderer_ask_free(renderer_ask *a) {
        g_queue_unlink(&a->d->asks, &a->link);
        /* A pending call is cancelled: its callback would use @a. Safe from
         * that callback too: the library keeps @a's slot until it returns. */
        ipcbus_slot_unref(a->slot);
        /* Unanswered (the main is stopping): the caller gets an error now. */
        ipcbus_invocation_unref(a->inv);
        g_free(a);
}

static int on_renderer_state(GVariant *result, const sd_bus_error *error, void *userdata) {
        renderer_ask *a = userdata;
        int r;

        /* The renderer's answer becomes ours; so does its error, with the
         * same name and message. */
        if (error)
                r = ipcbus_invocation_return_error(a->inv, error->name, "%s", error->message ?: "");
        else
                r = ipcbus_invocation_return_value(a->inv, result);
        /* -ENOTCONN: the caller went away meanwhile; nothing to do. */
        if (r < 0 && r != -ENOTCONN)
                fprintf(stderr, "ipcbus-demo main: ask-renderer: %s\n", g_strerror(-r));
        renderer_ask_free(a);
        return 0;
}

static int handle_ask_renderer(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        demo_main *d = userdata;
        ipcbus_web_contents *sender = ipcbus_invocation_get_sender(inv);
        renderer_ask *a;
        int r;

        demo_main_print_recv(ipcbus_invocation_get_channel(inv), args);
        /* Only attached renderers serve Renderer1: busctl and the like get
         * a reason rather than "not connected". */
        if (!ipcbus_web_contents_is_attached(sender))
                return ipcbus_invocation_return_error(inv, NULL,
                                                      "only an attached renderer can be asked (call Attach first)");
        a = g_new0(renderer_ask, 1);
        a->link.data = a;
        a->d = d;
        a->inv = ipcbus_invocation_ref(inv);
        g_queue_push_tail_link(&d->asks, &a->link);
        /* electron-better-ipc's callRenderer: the renderer that asked is
         * asked back, and the main serves others while it waits. */
        r = ipcbus_web_contents_invoke(sender, &a->slot, DEMO_RENDERER_STATE, NULL, DEMO_ASK_RENDERER_TIMEOUT_USEC,
                                       on_renderer_state, a);
        if (r < 0) {
                renderer_ask_free(a);
                return r; /* the caller gets HandlerFailed with strerror */
        }
        return 0;
}

static void demo_main_pair_windows(demo_main *d);

/* ---- seed 001 主进程到渲染进程: testMsg on attach --------------------------- */

/* The library ends the loop with -ENOTCONN after this (exit-on-close). */
static void on_bus_closed(ipcbus_main *m, sd_bus *bus, void *userdata) {
        fprintf(stderr, "ipcbus-demo main: the bus went away; exiting\n");
}

static void on_attached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        demo_main *d = userdata;
        int r;

        /* A chosen name may narrow a renderer's rights, never widen them:
         * "guest" gets its allowlist before anything else it sent is read. */
        if (g_strcmp0(ipcbus_web_contents_get_name(wc), DEMO_GUEST_NAME) == 0) {
                r = ipcbus_web_contents_set_policy(wc, d->guest);
                if (r < 0)
                        fprintf(stderr, "ipcbus-demo main: guest policy: %s\n", g_strerror(-r));
        }
        if (demo_debug())
                fprintf(stderr, "ipcbus-demo main: renderer %" PRIu64 " (%s) attached\n",
                        ipcbus_web_contents_get_id(wc), ipcbus_web_contents_get_name(wc) ?: "no name");
        /* win.webContents.send('testMsg', '你好啊，我是主进程'), typed */
        r = demo_channels_send_test_msg(wc, DEMO_TEST_MSG);
        if (r < 0)
                fprintf(stderr, "ipcbus-demo main: testMsg: %s\n", g_strerror(-r));
        demo_main_pair_windows(d);
}

/* ---- seed 002: a MessagePort for win1 and win2 ------------------------------ */

/* const { port1, port2 } = new MessageChannelMain()
 * mainWindow.webContents.postMessage('port', null, [port1])
 * secondaryWindow.webContents.postMessage('port', null, [port2])
 * Once both are attached; again if either comes back. */
static void demo_main_pair_windows(demo_main *d) {
        _cleanup_(ipcbus_web_contents_unrefp) ipcbus_web_contents *win1 = NULL, *win2 = NULL;
        _cleanup_(ipcbus_port_unrefp) ipcbus_port *port1 = NULL, *port2 = NULL;
        int r;

        if (ipcbus_main_find_web_contents(d->m, "win1", &win1) < 0 ||
            ipcbus_main_find_web_contents(d->m, "win2", &win2) < 0)
                return;
        if (ipcbus_web_contents_get_id(win1) == d->paired[0] && ipcbus_web_contents_get_id(win2) == d->paired[1])
                return;
        r = ipcbus_message_channel_new(ipcbus_main_get_event(d->m), &port1, &port2);
        if (r >= 0)
                r = ipcbus_web_contents_post_message(win1, "port", ipcbus_value_null(), &port1, 1);
        if (r >= 0)
                r = ipcbus_web_contents_post_message(win2, "port", ipcbus_value_null(), &port2, 1);
        if (r < 0) {
                fprintf(stderr, "ipcbus-demo main: port: %s\n", g_strerror(-r));
                return;
        }
        d->paired[0] = ipcbus_web_contents_get_id(win1);
        d->paired[1] = ipcbus_web_contents_get_id(win2);
}

/* ---- seed 003: MessageChannelMain, the main keeping port1 -------------------- */

static int on_ask_main_port(ipcbus_event *event, GVariant *args, void *userdata) {
        demo_main *d = userdata;
        _cleanup_(ipcbus_port_unrefp) ipcbus_port *port1 = NULL, *port2 = NULL;
        GVariantDict some;
        int r;

        demo_main_print_recv(ipcbus_event_get_channel(event), args);
        /* w.webContents.postMessage('port', null, [port2]); port1.postMessage({ some: 'message' }) */
        r = ipcbus_message_channel_new(ipcbus_main_get_event(d->m), &port1, &port2);
        if (r < 0)
                return r;
        r = ipcbus_web_contents_post_message(ipcbus_event_get_sender(event), "main-port", ipcbus_value_null(),
                                             &port2, 1);
        if (r < 0)
                return r;
        g_variant_dict_init(&some, NULL);
        g_variant_dict_insert(&some, "some", "s", "message");
        r = ipcbus_port_post_message(port1, g_variant_dict_end(&some), NULL, 0);
        if (r < 0)
                return r;
        ipcbus_port_unref(d->kept);
        d->kept = DEMO_TAKE_PTR(port1);
        return 0;
}

/* ---- setup ---------------------------------------------------------------- */

typedef struct demo_listener {
        const char *channel;
        ipcbus_listener_fn fn;
} demo_listener;

typedef struct demo_handler {
        const char *channel;
        ipcbus_handler_fn fn;
} demo_handler;

/* Untyped channels; the typed ones are registered in demo_main_register(). */
static const demo_listener listeners[] = {
        { "test-call", on_test_call },
        { "my_channel", on_my_channel },
        { "asynchronous-message", on_asynchronous_message },
        { "synchronous-message", on_synchronous_message },
        { "messageFromMain", on_message_from_main },
        { "win1-msg", on_win1_msg },
        { "from-renderer", on_from_renderer },
        { "render-send-to-main", on_render_send_to_main },
        { "render-send-sync-to-main", on_render_send_sync_to_main },
        { "ask-main-port", on_ask_main_port },
};

static const demo_handler handlers[] = {
        { "my_channel", handle_my_channel },
        { "my-invokable-ipc", handle_my_invokable_ipc },
        { "render-invoke-to-main", handle_render_invoke_to_main },
        { "whoami", handle_whoami },
        { "ask-renderer", handle_ask_renderer },
};

/* What a renderer attached as "guest" may use: my_channel for every op,
 * get-title to invoke. Everything else from it is refused by the library:
 * calls with org.ipcbus.Error.Denied, signals dropped, logged once. */
static int demo_main_make_guest_policy(demo_main *d) {
        int r;

        r = ipcbus_policy_new(&d->guest);
        if (r >= 0)
                r = ipcbus_policy_allow(d->guest, IPCBUS_OP_CHANNELS, "my_channel");
        if (r >= 0)
                r = ipcbus_policy_allow(d->guest, IPCBUS_OP_INVOKE, "get-title");
        return r;
}

/* org.ipcbus.Demo.Channels: declared (all or nothing) before any handler, so
 * that no call reaches a typed channel unchecked. notify keeps the untyped
 * handler demo-notify.c registers; the declaration checks its arguments and
 * its result all the same, and serves it on the typed face. */
static int demo_main_register_typed(demo_main *d) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = demo_channels_declare(d->m, &error);
        if (r < 0) {
                fprintf(stderr, "ipcbus-demo main: cannot declare %s: %s\n", DEMO_CHANNELS_INTERFACE,
                        error.message ?: g_strerror(-r));
                return r;
        }
        r = demo_channels_on_set_title(d->m, NULL, on_set_title, d);
        if (r >= 0)
                r = demo_channels_handle_get_title(d->m, NULL, handle_get_title, d);
        if (r >= 0)
                r = demo_channels_handle_dialog_open_file(d->m, NULL, handle_open_file, d);
        if (r >= 0)
                r = demo_channels_handle_read_file_event(d->m, NULL, handle_read_file, d);
        return r;
}

static int demo_main_register(demo_main *d, const char *name) {
        int r;

        r = demo_main_register_typed(d);
        if (r < 0)
                return r;
        for (size_t i = 0; i < G_N_ELEMENTS(listeners); i++) {
                r = ipcbus_main_on(d->m, NULL, listeners[i].channel, listeners[i].fn, d);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < G_N_ELEMENTS(handlers); i++) {
                r = ipcbus_main_handle(d->m, NULL, handlers[i].channel, handlers[i].fn, d);
                if (r < 0)
                        return r;
        }
        r = demo_main_make_guest_policy(d);
        if (r < 0)
                return r;
        r = demo_sandbox_new(&d->sandbox, d->m, name);
        if (r < 0)
                return r;
        r = demo_notify_new(&d->notify, d->m);
        if (r < 0)
                return r;
        r = ipcbus_main_on_bus_closed(d->m, NULL, on_bus_closed, d);
        if (r < 0)
                return r;
        return ipcbus_main_on_attached(d->m, NULL, on_attached, d);
}

/* The runtime directory with the file dialog:openFile answers by default. */
static int demo_main_make_runtime_dir(demo_main *d) {
        const char *base = g_getenv("XDG_RUNTIME_DIR");
        _cleanup_(demo_freep) char *template = NULL;

        if (!base || !g_path_is_absolute(base) || access(base, W_OK) < 0)
                base = g_get_tmp_dir();
        template = g_build_filename(base, "ipcbus-demo-main-XXXXXX", NULL);
        if (!mkdtemp(template))
                return -errno;
        d->runtime_dir = DEMO_TAKE_PTR(template);
        d->runtime_file = g_build_filename(d->runtime_dir, DEMO_FILE_NAME, NULL);
        if (!g_file_set_contents(d->runtime_file, DEMO_FILE_TEXT, -1, NULL))
                return -EIO;
        return 0;
}

static void demo_main_clear(demo_main *d) {
        delayed_reply *x;
        renderer_ask *a;

        while ((x = g_queue_peek_head(&d->delayed)))
                delayed_reply_free(x);
        while ((a = g_queue_peek_head(&d->asks)))
                renderer_ask_free(a);
        /* Before the main, which kills the children it spawned. */
        d->sandbox = demo_sandbox_free(d->sandbox);
        d->notify = demo_notify_free(d->notify);
        d->kept = ipcbus_port_unref(d->kept);
        d->guest = ipcbus_policy_unref(d->guest);
        d->m = ipcbus_main_unref(d->m);
        if (d->runtime_file)
                (void)unlink(d->runtime_file);
        if (d->runtime_dir)
                (void)rmdir(d->runtime_dir);
        g_free(d->runtime_file);
        g_free(d->runtime_dir);
        g_free(d->title);
        g_free(d->file);
        g_free(d->last_test_call);
        if (d->allowed)
                g_ptr_array_unref(d->allowed);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        demo_main *d = userdata;

        return ipcbus_main_exit(d->m, 0);
}

static int demo_main_open(demo_main *d, const demo_options *o) {
        switch (o->bus) {
        case DEMO_BUS_ADDRESS:
                return ipcbus_main_open_address(d->m, o->address);
        case DEMO_BUS_SYSTEM:
                return ipcbus_main_open_system(d->m);
        case DEMO_BUS_DEFAULT:
                /* D-Bus activation: the bus that started us. */
                return ipcbus_main_open_default(d->m);
        case DEMO_BUS_USER:
                return ipcbus_main_open_user(d->m);
        default:
                return -EINVAL;
        }
}

int demo_main_run(const demo_options *o) {
        _cleanup_(demo_main_clear) demo_main d = {
                .delay_ms = o->delay_ms,
                .title = g_strdup(DEMO_INITIAL_TITLE),
        };
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        sigset_t mask;
        int r;

        g_queue_init(&d.delayed);
        g_queue_init(&d.asks);
        d.allowed = g_ptr_array_new_with_free_func(g_free);
        if (!o->file || o->allow_dirs->len == 0) {
                r = demo_main_make_runtime_dir(&d);
                if (r < 0) {
                        fprintf(stderr, "ipcbus-demo main: cannot create the runtime directory: %s\n",
                                g_strerror(-r));
                        return 1;
                }
        }
        d.file = g_strdup(o->file ?: d.runtime_file);
        for (unsigned i = 0; i < MAX(o->allow_dirs->len, 1U); i++) {
                const char *dir = o->allow_dirs->len ? o->allow_dirs->pdata[i] : d.runtime_dir;
                char *real = realpath(dir, NULL);

                if (!real) {
                        fprintf(stderr, "ipcbus-demo main: allowed directory '%s': %s\n", dir,
                                g_strerror(errno));
                        return 1;
                }
                g_ptr_array_add(d.allowed, real);
        }

        /* sd-event takes the signals through a signalfd: block them first. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return 1;

        r = sd_event_new(&event);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, on_signal, &d);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, on_signal, &d);
        if (r >= 0)
                r = ipcbus_main_new(&d.m, o->name);
        if (r < 0) {
                fprintf(stderr, "ipcbus-demo main: %s\n", r == -EINVAL ? "invalid --name" : g_strerror(-r));
                return 1;
        }
        /* The library's warnings, the trust boundary's refusals among them
         * (once per peer and channel), go to stderr. */
        ipcbus_main_set_log_function(d.m, demo_log_stderr, (void *)"ipcbus-demo main");
        r = ipcbus_main_attach_event(d.m, event, 0);
        if (r >= 0)
                r = demo_main_register(&d, o->name);
        if (r < 0) {
                fprintf(stderr, "ipcbus-demo main: setup failed: %s\n", g_strerror(-r));
                return 1;
        }

        /* Handlers first, then the name: no caller finds it half served. */
        r = demo_main_open(&d, o);
        if (r < 0) {
                fprintf(stderr, "ipcbus-demo main: cannot serve '%s': %s\n", o->name,
                        r == -EEXIST ? "another process owns that name" : g_strerror(-r));
                return 1;
        }
        printf("ready\n");
        fflush(stdout);

        r = ipcbus_main_run(d.m);
        if (r == -ENOTCONN)
                return 1; /* the bus went away: on_bus_closed said so */
        if (r < 0) {
                fprintf(stderr, "ipcbus-demo main: event loop failed: %s\n", g_strerror(-r));
                return 1;
        }
        return r;
}
