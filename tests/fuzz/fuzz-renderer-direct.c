/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: everything a main can write to a direct renderer. Per
 * input, a new ipcbus_renderer opens the client end of a socketpair
 * (ipcbus_renderer_open_direct) on one sd-event loop shared by all inputs;
 * the harness is the main on the other end: it answers the SASL handshake
 * (or writes the input in its place) and writes what the input says
 * (fuzz-dbus.h): raw bytes, or messages whose header it makes and whose
 * body and signature the fuzzer gives: Channel1 Message and PostMessage
 * (with real descriptors of several kinds), Renderer1.Invoke, sd-bus's
 * own interfaces, and returns and errors whose reply serial names the
 * renderer's calls: the renderer invokes the main once before the input.
 *
 * After the input, if the connection is open and at a message boundary,
 * the renderer must still serve: a well-formed Renderer1.Invoke is
 * answered with its value, a well-formed Message reaches its listener,
 * and a new invoke of the renderer's gets the answer the harness writes.
 * If the connection closed, the renderer must know (no main any more).
 * Every invoke's callback runs exactly once by the time our end closes.
 * A crash, a sanitizer report, a leak, a loop that never goes idle or a
 * broken invariant is a finding.
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

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The record's "what" byte, modulo the table. fuzz-seeds.c names them by
 * index: keep the order. */
static const fuzz_member members[] = {
        { IPCBUS_INTERFACE_CHANNEL, "Message" },
        { IPCBUS_INTERFACE_CHANNEL, "PostMessage" },
        { IPCBUS_INTERFACE_RENDERER, "Invoke" },
        { "org.freedesktop.DBus.Properties", "GetAll" },
        { "org.freedesktop.DBus.Introspectable", "Introspect" },
        { "org.freedesktop.DBus.Peer", "Ping" },
        { IPCBUS_INTERFACE_MAIN, "Invoke" },
        { "org.freedesktop.DBus", "NameOwnerChanged" },
        { "org.freedesktop.DBus.Local", "Disconnected" },
        { NULL, "Invoke" },
};

/* One invoke of the renderer's: its callback runs at most once. */
typedef struct result {
        unsigned calls;
        char *value;            /* a string result, printed */
} result;

static struct {
        sd_event *event;
        GPtrArray *kept;        /* invocations fuzz-keep holds */
        GBytes *alive;          /* the body of the well-formed Invoke ... */
        GBytes *ping;           /* ... and Message */
        GBytes *pong;           /* the body of the harness's answer */
        unsigned pings;         /* fuzz-ping's listener ran */
} the;

/* ---- what the renderer serves -------------------------------------------- */

static int on_ping(ipcbus_event *event, GVariant *args, void *userdata) {
        the.pings++;
        (void)ipcbus_event_reply(event, "fuzz-pong", args);
        return 0;
}

static int on_post(ipcbus_event *event, GVariant *args, void *userdata) {
        size_t n = 0;
        ipcbus_port **ports = ipcbus_event_get_ports(event, &n);

        for (size_t i = 0; i < n; i++) {
                (void)ipcbus_port_start(ports[i]);
                (void)ipcbus_port_post_message(ports[i], g_variant_new_string("back"), NULL, 0);
        }
        return 0;
}

static int on_result(GVariant *value, const sd_bus_error *error, void *userdata) {
        result *res = userdata;

        if (++res->calls > 1) {
                fprintf(stderr, "invariant broken: an invoke called back twice\n");
                abort();
        }
        if (value)
                res->value = g_variant_print(value, FALSE);
        return 0;
}

static void check(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "invariant broken: %s\n", what);
                abort();
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        /* GLib's slice magazines would hide a leaked GVariant from LSan. */
        setenv("G_SLICE", "always-malloc", 1);

        the.kept = g_ptr_array_new_with_free_func((GDestroyNotify)ipcbus_invocation_unref);
        the.alive = fuzz_body_new(g_variant_new("(s@av)", "fuzz-echo",
                                                ipcbus_args(g_variant_new_string("alive"), NULL)),
                                  false);
        the.ping = fuzz_body_new(g_variant_new("(s@av)", "fuzz-ping",
                                               ipcbus_args(g_variant_new_string("alive"), NULL)),
                                 false);
        the.pong = fuzz_body_new(g_variant_new("(v)", g_variant_new_string("pong")), false);
        if (sd_event_new(&the.event) < 0)
                abort();
        return 0;
}

/* ---- one renderer --------------------------------------------------------- */

static ipcbus_renderer *renderer_new(void) {
        ipcbus_renderer *r = NULL;
        int k = 0;

        if (ipcbus_renderer_new(&r, FUZZ_MAIN_NAME) < 0)
                abort();
        k |= ipcbus_renderer_attach_event(r, the.event, 0);
        k |= ipcbus_renderer_set_log_function(r, fuzz_log_drop, NULL);
        k |= ipcbus_renderer_handle(r, NULL, "fuzz-echo", fuzz_handle_echo, NULL);
        k |= ipcbus_renderer_handle(r, NULL, "fuzz-keep", fuzz_handle_keep, the.kept);
        k |= ipcbus_renderer_handle(r, NULL, "fuzz-fail", fuzz_handle_fail, NULL);
        k |= ipcbus_renderer_on_event(r, NULL, "fuzz-ping", fuzz_read_event, NULL);
        k |= ipcbus_renderer_on(r, NULL, "fuzz-ping", on_ping, NULL);
        k |= ipcbus_renderer_on(r, NULL, "fuzz-post", on_post, NULL);
        check(k >= 0, "the renderer is set up");
        return r;
}

static void write_records(fuzz_peer *p, const uint8_t *data, size_t size) {
        fuzz_record rec;

        while (!p->eof && fuzz_record_next(&data, &size, &rec)) {
                fuzz_header h;

                fuzz_record_header(p, &rec, members, G_N_ELEMENTS(members), IPCBUS_RENDERER_PATH, FUZZ_MAIN_PATH,
                                   &h);
                fuzz_peer_queue(p, &h, rec.body, rec.body_size, fuzz_header_takes_fds(&h) ? rec.fds & 3 : 0,
                                (rec.fds >> 2) & 3);
                fuzz_peer_pump(p, the.event);
        }
}

/* The renderer still answers an Invoke, hears a Message, and takes the
 * answer to a new invoke of its own. */
static void check_serving(fuzz_peer *p, ipcbus_renderer *r) {
        fuzz_header h = {
                .type = FUZZ_CALL,
                .serial = ++p->serial,
                .path = IPCBUS_RENDERER_PATH,
                .interface = IPCBUS_INTERFACE_RENDERER,
                .member = "Invoke",
                .signature = "sav",
                .signature_size = SIZE_MAX,
        };
        unsigned pings = the.pings;
        const fuzz_seen *reply;
        result res = {};
        uint32_t serial;

        fuzz_peer_queue(p, &h, g_bytes_get_data(the.alive, NULL), g_bytes_get_size(the.alive), 0, 0);
        h.type = FUZZ_SIGNAL;
        h.serial = ++p->serial;
        h.interface = IPCBUS_INTERFACE_CHANNEL;
        h.member = "Message";
        fuzz_peer_queue(p, &h, g_bytes_get_data(the.ping, NULL), g_bytes_get_size(the.ping), 0, 0);
        fuzz_peer_pump(p, the.event);
        reply = fuzz_peer_reply(p, h.serial - 1);
        if (!reply || reply->type != FUZZ_RETURN || strcmp(reply->signature, "v") != 0) {
                fprintf(stderr, "the renderer does not serve after the input: %s %s\n",
                        reply ? (reply->type == FUZZ_RETURN ? "return" : "error") : "no reply",
                        reply ? reply->error_name : "");
                fuzz_peer_dump(p);
                abort();
        }
        check(the.pings == pings + 1, "a Message reaches its listener after the input");

        /* The fuzzer's "fuzz-echo" is still our channel: a channel of its
         * own, so nothing it left pending answers this one. */
        check(ipcbus_renderer_invoke(r, NULL, "alive", NULL, 0, on_result, &res) >= 0, "a new invoke");
        fuzz_peer_pump(p, the.event);
        serial = fuzz_peer_call_serial(p, 0);
        check(serial != 0, "the new invoke reaches the main");
        h = (fuzz_header){
                .type = FUZZ_RETURN,
                .serial = ++p->serial,
                .reply_serial = serial,
                .signature = "v",
                .signature_size = SIZE_MAX,
        };
        fuzz_peer_queue(p, &h, g_bytes_get_data(the.pong, NULL), g_bytes_get_size(the.pong), 0, 0);
        fuzz_peer_pump(p, the.event);
        check(res.calls == 1 && res.value && strcmp(res.value, "'pong'") == 0, "the new invoke is answered");
        g_free(res.value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ipcbus_renderer *r;
        result first = {};
        unsigned mode;
        fuzz_peer p;
        int fds[2];

        if (size < 1)
                return 0;
        mode = data[0] % FUZZ_MODES;
        data++;
        size--;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
                abort();
        fuzz_peer_init(&p, fds[0], mode == FUZZ_MODE_PRE_AUTH ? NULL : "BEGIN");
        if (mode == FUZZ_MODE_PRE_AUTH)
                g_byte_array_append(p.out, data, (guint)size);
        else
                fuzz_auth_server(p.out);
        r = renderer_new();
        check(ipcbus_renderer_open_direct(r, fds[1]) >= 0, "open_direct");
        check(ipcbus_renderer_invoke(r, NULL, "main-echo", ipcbus_args(g_variant_new_string("from the renderer"),
                                                                        NULL),
                                     0, on_result, &first) >= 0,
              "the renderer's invoke");
        fuzz_peer_pump(&p, the.event);
        if (mode == FUZZ_MODE_RAW) {
                g_byte_array_append(p.out, data, (guint)size);
                fuzz_peer_pump(&p, the.event);
        } else if (mode != FUZZ_MODE_PRE_AUTH)
                write_records(&p, data, size);

        if (mode != FUZZ_MODE_PRE_AUTH && mode != FUZZ_MODE_RAW && !p.eof && !p.garbled)
                check_serving(&p, r);
        if (p.eof)
                check(!ipcbus_renderer_has_main(r), "a renderer whose connection closed has no main");

        /* The input's end: our end closes, every call is called back. */
        g_ptr_array_set_size(the.kept, 0);
        fuzz_peer_done(&p);
        for (unsigned i = 0; sd_event_run(the.event, 0) > 0; i++)
                check(i < 20000, "the loop goes idle");
        check(!ipcbus_renderer_has_main(r), "the renderer sees the main go");
        check(first.calls == 1, "the renderer's invoke is called back once");
        g_free(first.value);
        ipcbus_renderer_unref(r);
        for (unsigned i = 0; sd_event_run(the.event, 0) > 0; i++)
                check(i < 20000, "the loop goes idle");
        return 0;
}
