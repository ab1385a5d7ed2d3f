/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: everything a direct renderer can write to its main. One
 * ipcbus_main, on one sd-event loop, serves a new direct connection per
 * input (ipcbus_main_add_direct on one end of a socketpair); the harness
 * holds the other end and writes what the input says (fuzz-dbus.h): bytes
 * in place of the SASL handshake, bytes after it, or messages whose header
 * it makes and whose body and signature the fuzzer gives: Main1 calls
 * (Invoke, SendSync, Attach with its a{sv}, Detach), Channel1 signals
 * (Message, PostMessage with real descriptors), typed calls, sd-bus's own
 * interfaces, and replies to the Renderer1.Invoke the main makes of every
 * new connection.
 *
 * After the input, the main must still serve: a well-formed Invoke on the
 * same connection if it is still open and at a message boundary, else on a
 * new one, is answered with its value. Then the connection closes and the
 * main must be as before: every peer that attached detached, no web
 * contents left, every invoke it made called back exactly once. A crash,
 * a sanitizer report, a leak, a loop that never goes idle or a broken
 * invariant is a finding.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ipcbus/ipcbus.h>

#include "fuzz-dbus.h"

#define FUZZ_MAIN_NAME "org.ipcbus.Fuzz"
#define FUZZ_MAIN_PATH "/org/ipcbus/Fuzz"
#define FUZZ_TYPED_INTERFACE "org.ipcbus.Fuzz.Channels"
/* What fuzz-keep holds at most; older invocations are dropped (answered
 * HandlerFailed) as new ones come, well under the per-peer limit. */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The record's "what" byte, modulo the table. fuzz-seeds.c names them by
 * index: keep the order. */
static const fuzz_member members[] = {
        { IPCBUS_INTERFACE_MAIN, "Invoke" },
        { IPCBUS_INTERFACE_MAIN, "SendSync" },
        { IPCBUS_INTERFACE_MAIN, "Attach" },
        { IPCBUS_INTERFACE_MAIN, "Detach" },
        { IPCBUS_INTERFACE_CHANNEL, "Message" },
        { IPCBUS_INTERFACE_CHANNEL, "PostMessage" },
        { FUZZ_TYPED_INTERFACE, "TypedEcho" },
        { FUZZ_TYPED_INTERFACE, "TypedNote" },
        { FUZZ_TYPED_INTERFACE, "TypedSync" },
        { "org.freedesktop.DBus.Properties", "Get" },
        { "org.freedesktop.DBus.Properties", "GetAll" },
        { "org.freedesktop.DBus.Properties", "Set" },
        { "org.freedesktop.DBus.Introspectable", "Introspect" },
        { "org.freedesktop.DBus.Peer", "Ping" },
        { "org.freedesktop.DBus.ObjectManager", "GetManagedObjects" },
        { IPCBUS_INTERFACE_RENDERER, "Invoke" },
        { NULL, "Invoke" },
        { IPCBUS_INTERFACE_MAIN, "Nope" },
};

static struct {
        sd_event *event;
        ipcbus_main *main;
        GPtrArray *kept;        /* invocations fuzz-keep holds */
        GBytes *alive;          /* the body of the well-formed Invoke */
        unsigned attached;
        unsigned detached;
        unsigned invokes;       /* the main's invokes of its peers ... */
        unsigned results;       /* ... and their callbacks */
} the;

/* ---- what the main serves -------------------------------------------------- */

static int h_typed_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        g_autoptr(GVariant) boxed = g_variant_get_child_value(args, 0);
        g_autoptr(GVariant) name = g_variant_get_variant(boxed);

        return ipcbus_invocation_return_value(inv, name);
}

/* Message and SendSync: a sync event gets its arguments back, a message is
 * answered with event.reply. */
static int on_ping(ipcbus_event *event, GVariant *args, void *userdata) {
        if (ipcbus_event_is_sync(event))
                return ipcbus_event_set_return_value(event, args);
        (void)ipcbus_event_reply(event, "fuzz-pong", args);
        return 0;
}

static int on_post(ipcbus_event *event, GVariant *args, void *userdata) {
        size_t n = 0;
        ipcbus_port **ports = ipcbus_event_get_ports(event, &n);

        /* What a listener does with a port it does not keep. */
        for (size_t i = 0; i < n; i++) {
                (void)ipcbus_port_start(ports[i]);
                (void)ipcbus_port_post_message(ports[i], g_variant_new_string("back"), NULL, 0);
        }
        return 0;
}

static int on_typed_sync(ipcbus_event *event, GVariant *args, void *userdata) {
        g_autoptr(GVariant) boxed = g_variant_get_child_value(args, 0);
        g_autoptr(GVariant) n = g_variant_get_variant(boxed);

        if (ipcbus_event_is_sync(event) && g_variant_is_of_type(n, G_VARIANT_TYPE_INT32))
                return ipcbus_event_set_return_value(event, g_variant_new_int32(g_variant_get_int32(n) + 1));
        return 0;
}

static int on_note(ipcbus_event *event, GVariant *args, void *userdata) {
        return 0;
}

/* Reads the sender's credentials (creds.c) and refuses one channel. */
static int check_sender(ipcbus_main *m, ipcbus_web_contents *sender, ipcbus_op op, const char *channel,
                        void *userdata) {
        uid_t uid;

        if (ipcbus_web_contents_get_uid(sender, &uid) < 0)
                return -EACCES;
        return channel && strcmp(channel, "fuzz-denied") == 0 ? -EACCES : 0;
}

static void on_attached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        the.attached++;
}

static void on_detached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        the.detached++;
}

static int on_result(GVariant *result, const sd_bus_error *error, void *userdata) {
        the.results++;
        return 0;
}

static void check(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "invariant broken: %s\n", what);
                abort();
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = 0;

        /* GLib's slice magazines would hide a leaked GVariant from LSan. */
        setenv("G_SLICE", "always-malloc", 1);

        the.kept = g_ptr_array_new_with_free_func((GDestroyNotify)ipcbus_invocation_unref);
        the.alive = fuzz_body_new(g_variant_new("(s@av)", "fuzz-echo",
                                                ipcbus_args(g_variant_new_string("alive"), NULL)),
                                  false);
        if (sd_event_new(&the.event) < 0 || ipcbus_main_new(&the.main, FUZZ_MAIN_NAME) < 0)
                abort();
        r |= ipcbus_main_attach_event(the.main, the.event, 0);
        r |= ipcbus_main_set_log_function(the.main, fuzz_log_drop, NULL);
        r |= ipcbus_main_set_sender_check(the.main, check_sender, NULL);
        r |= ipcbus_main_on_attached(the.main, NULL, on_attached, NULL);
        r |= ipcbus_main_on_detached(the.main, NULL, on_detached, NULL);
        r |= ipcbus_main_handle(the.main, NULL, "fuzz-echo", fuzz_handle_echo, NULL);
        r |= ipcbus_main_handle(the.main, NULL, "fuzz-keep", fuzz_handle_keep, the.kept);
        r |= ipcbus_main_handle(the.main, NULL, "fuzz-fail", fuzz_handle_fail, NULL);
        r |= ipcbus_main_handle(the.main, NULL, "fuzz-denied", fuzz_handle_echo, NULL);
        r |= ipcbus_main_on_event(the.main, NULL, "fuzz-ping", fuzz_read_event, NULL);
        r |= ipcbus_main_on(the.main, NULL, "fuzz-ping", on_ping, NULL);
        r |= ipcbus_main_on(the.main, NULL, "fuzz-post", on_post, NULL);
        r |= ipcbus_main_declare_channel(the.main, IPCBUS_CHANNEL_HANDLE, "typed-echo", "sa{sv}", "name,props",
                                         "s", &error);
        r |= ipcbus_main_declare_channel(the.main, IPCBUS_CHANNEL_LISTENER, "typed-note", "s", NULL, NULL, &error);
        r |= ipcbus_main_declare_channel(the.main, IPCBUS_CHANNEL_LISTENER, "typed-sync", "i", NULL, "i", &error);
        r |= ipcbus_main_declare_channel(the.main, IPCBUS_CHANNEL_EVENT, "typed-event", "s", NULL, NULL, &error);
        r |= ipcbus_main_handle(the.main, NULL, "typed-echo", h_typed_echo, NULL);
        r |= ipcbus_main_on(the.main, NULL, "typed-note", on_note, NULL);
        r |= ipcbus_main_on(the.main, NULL, "typed-sync", on_typed_sync, NULL);
        if (r < 0) {
                fprintf(stderr, "setting the main up failed: %s\n", error.message ? error.message : "-");
                abort();
        }
        sd_bus_error_free(&error);
        /* The typed members are served from the next iteration on. */
        while (sd_event_run(the.event, 0) > 0)
                ;
        return 0;
}

/* ---- one connection ------------------------------------------------------ */

/* A new direct renderer on the main, the peer our end of it. The main
 * invokes it at once: the call waits for the peer to speak. */
static void connect_peer(fuzz_peer *p, bool handshake, ipcbus_web_contents **ret_wc) {
        int fds[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
                abort();
        fuzz_peer_init(p, fds[1], handshake ? "AGREE_UNIX_FD" : NULL);
        check(ipcbus_main_add_direct(the.main, fds[0], ret_wc) >= 0, "add_direct");
        check(ipcbus_web_contents_invoke(*ret_wc, NULL, "renderer-echo",
                                         ipcbus_args(g_variant_new_string("from the main"), NULL), 0, on_result,
                                         NULL) >= 0,
              "the main's invoke");
        the.invokes++;
        if (handshake)
                fuzz_auth_client(p->out);
}

/* A well-formed Invoke on @p is answered with its value. */
static void check_serving(fuzz_peer *p) {
        fuzz_header h = {
                .type = FUZZ_CALL,
                .serial = ++p->serial,
                .path = FUZZ_MAIN_PATH,
                .interface = IPCBUS_INTERFACE_MAIN,
                .member = "Invoke",
                .signature = "sav",
                .signature_size = SIZE_MAX,
        };
        const fuzz_seen *reply;

        fuzz_peer_queue(p, &h, g_bytes_get_data(the.alive, NULL), g_bytes_get_size(the.alive), 0, 0);
        fuzz_peer_pump(p, the.event);
        reply = fuzz_peer_reply(p, h.serial);
        if (!reply || reply->type != FUZZ_RETURN || strcmp(reply->signature, "v") != 0) {
                fprintf(stderr, "the main does not serve after the input: %s %s %s\n",
                        reply ? (reply->type == FUZZ_RETURN ? "return" : "error") : "no reply",
                        reply ? reply->error_name : "", reply ? reply->signature : "");
                fuzz_peer_dump(p);
                abort();
        }
}

static void write_records(fuzz_peer *p, const uint8_t *data, size_t size) {
        fuzz_record rec;

        while (!p->eof && fuzz_record_next(&data, &size, &rec)) {
                fuzz_header h;

                fuzz_record_header(p, &rec, members, G_N_ELEMENTS(members), FUZZ_MAIN_PATH, IPCBUS_RENDERER_PATH,
                                   &h);
                fuzz_peer_queue(p, &h, rec.body, rec.body_size, fuzz_header_takes_fds(&h) ? rec.fds & 3 : 0,
                                (rec.fds >> 2) & 3);
                fuzz_peer_pump(p, the.event);
        }
}

static void run_idle(void) {
        for (unsigned i = 0; sd_event_run(the.event, 0) > 0; i++)
                check(i < 20000, "the loop goes idle");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ipcbus_web_contents *wc = NULL, *wc2 = NULL;
        ipcbus_web_contents **all = NULL;
        unsigned mode;
        fuzz_peer p;
        int n;

        if (size < 1)
                return 0;
        mode = data[0] % FUZZ_MODES;
        data++;
        size--;

        connect_peer(&p, mode != FUZZ_MODE_PRE_AUTH, &wc);
        if (mode == FUZZ_MODE_PRE_AUTH)
                g_byte_array_append(p.out, data, (guint)size);
        fuzz_peer_pump(&p, the.event);
        if (mode == FUZZ_MODE_RAW) {
                g_byte_array_append(p.out, data, (guint)size);
                fuzz_peer_pump(&p, the.event);
        } else if (mode != FUZZ_MODE_PRE_AUTH)
                write_records(&p, data, size);

        /* Records leave the stream at a message boundary; raw bytes may not. */
        if (mode != FUZZ_MODE_PRE_AUTH && mode != FUZZ_MODE_RAW && !p.eof && !p.garbled)
                check_serving(&p);
        else {
                fuzz_peer fresh;

                connect_peer(&fresh, true, &wc2);
                fuzz_peer_pump(&fresh, the.event);
                check_serving(&fresh);
                fuzz_peer_done(&fresh);
        }

        /* The input's end: what it left behind goes. */
        g_ptr_array_set_size(the.kept, 0);
        fuzz_peer_done(&p);
        run_idle();

        check(!ipcbus_web_contents_is_attached(wc) && !ipcbus_web_contents_get_main(wc), "the peer is forgotten");
        check(!wc2 || !ipcbus_web_contents_get_main(wc2), "the second peer is forgotten");
        check(the.attached == the.detached, "every attach has its detach");
        check(the.invokes == the.results, "every invoke of the main is called back once");
        n = ipcbus_main_get_all_web_contents(the.main, &all);
        check(n == 0, "no web contents left");
        ipcbus_web_contents_array_free(all);
        ipcbus_web_contents_unref(wc);
        ipcbus_web_contents_unref(wc2);
        return 0;
}
