/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writes the seed corpora of fuzz-main-direct, fuzz-renderer-direct and
 * fuzz-large-value (at the end):
 * well-formed messages of every kind each target reads, in both byte
 * orders, as records (fuzz-dbus.h), plus a few raw streams. The bodies are
 * serialized by GDBus (GDBusMessage), which writes either byte order; sd-bus
 * only writes the machine's. Run by hand when the record format or a
 * target's member table changes:
 *
 *   build-fuzz/tests/fuzz/make-fuzz-seeds tests/fuzz/corpus
 *
 * and commit what changed. The member indexes below are the targets' tables.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <ipcbus/ipcbus.h>

#include "fuzz-dbus.h"

/* fuzz-main-direct.c's table. */
enum {
        MAIN_INVOKE,
        MAIN_SEND_SYNC,
        MAIN_ATTACH,
        MAIN_DETACH,
        MAIN_MESSAGE,
        MAIN_POST_MESSAGE,
        MAIN_TYPED_ECHO,
        MAIN_TYPED_NOTE,
        MAIN_TYPED_SYNC,
        MAIN_PROPERTIES_GET,
        MAIN_PROPERTIES_GET_ALL,
        MAIN_PROPERTIES_SET,
        MAIN_INTROSPECT,
        MAIN_PING,
        MAIN_GET_MANAGED_OBJECTS,
};

/* fuzz-renderer-direct.c's table. */
enum {
        RENDERER_MESSAGE,
        RENDERER_POST_MESSAGE,
        RENDERER_INVOKE,
        RENDERER_PROPERTIES_GET_ALL,
        RENDERER_INTROSPECT,
        RENDERER_PING,
        RENDERER_MAIN_INVOKE,
        RENDERER_NAME_OWNER_CHANGED,
        RENDERER_DISCONNECTED,
};

#define CALL (FUZZ_CALL << FUZZ_CTL_TYPE_SHIFT)
#define RETURN (FUZZ_RETURN << FUZZ_CTL_TYPE_SHIFT)
#define ERROR (FUZZ_ERROR << FUZZ_CTL_TYPE_SHIFT)
#define SIGNAL (FUZZ_SIGNAL << FUZZ_CTL_TYPE_SHIFT)
#define PATH_LOCAL (FUZZ_PATH_LOCAL << FUZZ_CTL_PATH_SHIFT)
#define FDS(n, kind) ((n) | (kind) << 2)

/* One message of a seed: the body is a GVariant text (a tuple), or NULL.
 * A list of them ends at the first all-zero one. */
typedef struct seed_message {
        uint8_t ctl, what, fds;
        const char *signature;
        const char *body;
} seed_message;

typedef struct seed {
        const char *name;
        seed_message messages[8];
} seed;

/* Every kind of value a channel carries, as an argument list. */
#define RICH_ARGS                                                                                        \
        "[<'hi'>, <int32 3>, <{'k': <true>}>, <(1, 'two')>, <[true, false]>, <b'bytes'>, <<<'deep'>>>, " \
        "<@as []>, <[1.5, -0.0]>, <int64 -5>, <uint64 5>, <int16 -2>, <uint16 2>, <byte 0x7f>, "         \
        "<objectpath '/a/b'>, <signature 'a{sv}'>, <{'a': 'b'}>, <{1: 'one'}>, <@a(ii) [(1, 2)]>]"

static const seed main_seeds[] = {
        { "invoke-echo", { { CALL, MAIN_INVOKE, 0, "sav", "('fuzz-echo', " RICH_ARGS ")" } } },
        { "invoke-keep", { { CALL, MAIN_INVOKE, 0, "sav", "('fuzz-keep', @av [])" } } },
        { "invoke-fail", { { CALL, MAIN_INVOKE, 0, "sav", "('fuzz-fail', [<uint32 1>])" } } },
        { "invoke-no-handler", { { CALL, MAIN_INVOKE, 0, "sav", "('nobody', @av [])" } } },
        { "invoke-denied", { { CALL, MAIN_INVOKE, 0, "sav", "('fuzz-denied', @av [])" } } },
        { "send-sync", { { CALL, MAIN_SEND_SYNC, 0, "sav", "('fuzz-ping', [<'sync'>])" } } },
        { "send-sync-typed", { { CALL, MAIN_SEND_SYNC, 0, "sav", "('typed-sync', [<int32 41>])" } } },
        { "attach", { { CALL, MAIN_ATTACH, 0, "a{sv}", "({'name': <'window'>},)" } } },
        { "attach-extra", { { CALL, MAIN_ATTACH, 0, "a{sv}", "({'name': <'w'>, 'later': <[1, 2]>},)" } } },
        { "attach-bad-name", { { CALL, MAIN_ATTACH, 0, "a{sv}", "({'name': <42>},)" } } },
        { "attach-detach", { { CALL, MAIN_ATTACH, 0, "a{sv}", "({'name': <'a'>},)" }, { CALL, MAIN_DETACH } } },
        { "message", { { SIGNAL, MAIN_MESSAGE, 0, "sav", "('fuzz-ping', " RICH_ARGS ")" } } },
        { "post-message",
          { { SIGNAL, MAIN_POST_MESSAGE, FDS(1, FUZZ_FD_SEQPACKET), "svah", "('fuzz-post', <'msg'>, [handle 0])" } } },
        { "post-message-wrong-fds",
          { { SIGNAL, MAIN_POST_MESSAGE, FDS(2, FUZZ_FD_STREAM), "svah",
              "('fuzz-post', <'msg'>, [handle 0, 1])" } } },
        { "typed-echo", { { CALL, MAIN_TYPED_ECHO, 0, "sa{sv}", "('name', {'a': <1>})" } } },
        { "typed-note", { { CALL, MAIN_TYPED_NOTE, 0, "s", "('note',)" } } },
        { "typed-sync", { { CALL, MAIN_TYPED_SYNC, 0, "i", "(41,)" } } },
        { "properties-get", { { CALL, MAIN_PROPERTIES_GET, 0, "ss", "('org.ipcbus.Main1', 'Channels')" } } },
        { "properties-get-all", { { CALL, MAIN_PROPERTIES_GET_ALL, 0, "s", "('org.ipcbus.Main1',)" } } },
        { "introspect", { { CALL, MAIN_INTROSPECT } } },
        { "managed-objects", { { CALL, MAIN_GET_MANAGED_OBJECTS } } },
        /* The main's invoke of the renderer goes out once the peer spoke:
         * after the Ping, what 0 names it. */
        { "return", { { CALL, MAIN_PING }, { RETURN, 0, 0, "v", "(<'answer'>,)" } } },
        { "error", { { CALL, MAIN_PING }, { ERROR, 0, 0, "s", "('it failed',)" } } },
        { "session",
          { { CALL, MAIN_ATTACH, 0, "a{sv}", "({'name': <'window'>},)" },
            { CALL, MAIN_INVOKE, 0, "sav", "('fuzz-keep', [<'later'>])" },
            { CALL, MAIN_SEND_SYNC, 0, "sav", "('fuzz-ping', [<'sync'>])" },
            { SIGNAL, MAIN_MESSAGE, 0, "sav", "('fuzz-ping', [<'hello'>])" },
            { RETURN, 0, 0, "v", "(<'answer'>,)" },
            { CALL, MAIN_DETACH },
            { CALL, MAIN_INVOKE, 0, "sav", "('fuzz-echo', [<'after'>])" } } },
        /* A peer that names rings (wire-contract.md): its "(tttt)" is the
         * by-reference form, of a ring the main never kept; a ring form
         * with a memfd that is no ring; a "(tttt)" from one that did not
         * say so, which is a value. */
        { "ring-ref",
          { { CALL, MAIN_ATTACH, 0, "a{sv}",
              "({'features': <['large-values', 'large-values-ring', 'large-values-ring-ref']>},)" },
            { CALL, MAIN_INVOKE, 0, "sav", "('fuzz-echo', [<(uint64 1, uint64 2, uint64 64, uint64 100)>])" },
            { CALL, MAIN_INVOKE, FDS(1, FUZZ_FD_MEMFD), "sav",
              "('fuzz-echo', [<(handle 0, uint64 64, uint64 100)>])" },
            { SIGNAL, MAIN_MESSAGE, 0, "sav", "('fuzz-ping', [<(uint64 1, uint64 2, uint64 16, uint64 8)>])" },
            { CALL, MAIN_SEND_SYNC, 0, "sav",
              "('fuzz-ping', [<(uint64 0, uint64 0, uint64 0, uint64 0)>, <'more'>])" } } },
        { "ring-ref-unnamed",
          { { CALL, MAIN_INVOKE, 0, "sav", "('fuzz-echo', [<(uint64 1, uint64 2, uint64 64, uint64 100)>])" } } },
};

static const seed renderer_seeds[] = {
        { "message", { { SIGNAL, RENDERER_MESSAGE, 0, "sav", "('fuzz-ping', " RICH_ARGS ")" } } },
        { "post-message",
          { { SIGNAL, RENDERER_POST_MESSAGE, FDS(1, FUZZ_FD_SEQPACKET), "svah",
              "('fuzz-post', <'msg'>, [handle 0])" } } },
        { "post-message-pipe",
          { { SIGNAL, RENDERER_POST_MESSAGE, FDS(1, FUZZ_FD_PIPE), "svah", "('fuzz-post', <'msg'>, [handle 0])" } } },
        { "invoke-echo", { { CALL, RENDERER_INVOKE, 0, "sav", "('fuzz-echo', " RICH_ARGS ")" } } },
        { "invoke-keep", { { CALL, RENDERER_INVOKE, 0, "sav", "('fuzz-keep', @av [])" } } },
        { "invoke-fail", { { CALL, RENDERER_INVOKE, 0, "sav", "('fuzz-fail', [<1>])" } } },
        { "invoke-no-handler", { { CALL, RENDERER_INVOKE, 0, "sav", "('nobody', @av [])" } } },
        /* The renderer's invoke is its newest call (after its Ping). */
        { "return", { { RETURN, 0, 0, "v", "(<'answer'>,)" } } },
        { "return-rich", { { RETURN, 0, 0, "v", "(<" RICH_ARGS ">,)" } } },
        { "return-wrong-type", { { RETURN, 0, 0, "s", "('not a v',)" } } },
        /* A ring named by reference (the main names rings, when it does):
         * one never kept. */
        { "return-ring-ref", { { RETURN, 0, 0, "v", "(<(uint64 1, uint64 2, uint64 64, uint64 100)>,)" } } },
        { "message-ring-ref",
          { { SIGNAL, RENDERER_MESSAGE, 0, "sav", "('fuzz-ping', [<(uint64 1, uint64 2, uint64 64, uint64 100)>])" } } },
        { "return-ping", { { RETURN, 1 } } },
        { "error", { { ERROR, 0, (FUZZ_ERROR_NAMES - 1) << 4, "s", "('it failed',)" } } },
        { "name-owner-changed",
          { { SIGNAL, RENDERER_NAME_OWNER_CHANGED, 0, "sss", "('org.ipcbus.Fuzz', ':1.1', '')" } } },
        { "local-disconnected", { { SIGNAL | PATH_LOCAL, RENDERER_DISCONNECTED } } },
        { "introspect", { { CALL, RENDERER_INTROSPECT } } },
        { "properties-get-all", { { CALL, RENDERER_PROPERTIES_GET_ALL, 0, "s", "('org.ipcbus.Renderer1',)" } } },
};

static void write_file(const char *dir, const char *name, GByteArray *b) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GError) error = NULL;

        if (!g_file_set_contents(path, (const char *)b->data, b->len, &error)) {
                fprintf(stderr, "%s\n", error->message);
                exit(1);
        }
}

static GBytes *body_of(const seed_message *m, bool big_endian) {
        g_autoptr(GError) error = NULL;
        GVariant *v;

        if (!m->body)
                return NULL;
        v = g_variant_parse(NULL, m->body, NULL, NULL, &error);
        if (!v) {
                fprintf(stderr, "%s: %s\n", m->body, error->message);
                exit(1);
        }
        return fuzz_body_new(v, big_endian);
}

static void write_seeds(const char *root, const char *target, const seed *seeds, size_t n) {
        g_autofree char *dir = g_build_filename(root, target, NULL);

        if (g_mkdir_with_parents(dir, 0755) < 0) {
                perror(dir);
                exit(1);
        }
        for (size_t i = 0; i < n; i++)
                for (int be = 0; be < 2; be++) {
                        g_autoptr(GByteArray) b = g_byte_array_new();
                        g_autofree char *name = g_strdup_printf("%s-%s", seeds[i].name, be ? "be" : "le");

                        g_byte_array_append(b, &(guint8){ 2 }, 1);
                        for (const seed_message *m = seeds[i].messages; m->ctl || m->what || m->signature || m->body;
                             m++) {
                                g_autoptr(GBytes) body = body_of(m, be);

                                fuzz_record_append(b, m->ctl | (be ? FUZZ_CTL_BIG_ENDIAN : 0), m->what, m->fds,
                                                   m->signature, body);
                        }
                        write_file(dir, name, b);
                }
}

/* fuzz-large-value's seeds: argument lists and results in GVariant's
 * serialized form, behind the target's flag byte (0: sealed, exact). */
static const char *const large_value_seeds[] = {
        "[<'hello'>]",
        "[<'ünïcödé ✓'>, <int32 -7>, <true>]",
        "[<uint64 1>, <1.5>, <byte 0x20>, <int16 -2>, <uint16 2>, <int64 -3>]",
        "[<objectpath '/org/ipcbus/Fuzz'>, <signature 'a{sv}'>]",
        "[<['a', 'bb', 'ccc']>, <[1, 2, 3]>, <[true, false]>]",
        "[<{'name': <'x'>, 'n': <int32 1>}>, <{int32 1: 'one'}>]",
        "[<('Date', <1.7e12>)>, <('Map', <[(<'k'>, <int32 1>)]>)>]",
        "[<<<'nested'>>>, <[<'a'>, <[<'b'>]>]>]",
        "[<(int32 1, 'two', [byte 3], (4.0, true))>]",
        "[<[(int32 1, byte 2), (3, 4)]>, <@ay []>, <@as []>]",
        "[]",
};

static const char *const large_result_seeds[] = {
        "<'a result'>",
        "<{'title': <'ipcbus'>, 'size': <uint64 1048576>}>",
        "<[<'x'>, <int32 2>]>",
        "<('undefined', <byte 0>)>",
};

static void write_large_value_seeds(const char *root) {
        g_autofree char *dir = g_build_filename(root, "fuzz-large-value", NULL);

        if (g_mkdir_with_parents(dir, 0755) < 0) {
                perror(dir);
                exit(1);
        }
        for (int result = 0; result < 2; result++) {
                const char *const *texts = result ? large_result_seeds : large_value_seeds;
                size_t n = result ? G_N_ELEMENTS(large_result_seeds) : G_N_ELEMENTS(large_value_seeds);

                for (size_t i = 0; i < n; i++) {
                        g_autoptr(GError) error = NULL;
                        g_autoptr(GVariant) v = g_variant_parse(G_VARIANT_TYPE(result ? "v" : "av"), texts[i], NULL,
                                                               NULL, &error);
                        g_autoptr(GByteArray) b = g_byte_array_new();
                        g_autofree char *name = g_strdup_printf("%s-%zu", result ? "result" : "args", i);
                        uint8_t flags = result;

                        if (!v) {
                                fprintf(stderr, "%s: %s\n", texts[i], error->message);
                                exit(1);
                        }
                        g_variant_ref_sink(v);
                        g_byte_array_append(b, &flags, 1);
                        g_byte_array_append(b, g_variant_get_data(v), (guint)g_variant_get_size(v));
                        write_file(dir, name, b);

                        /* The same in a ring, at an offset of 8 * (1 + i). */
                        g_free(name);
                        name = g_strdup_printf("ring-%s-%zu", result ? "result" : "args", i);
                        flags = (uint8_t)(result | 8 | (i % 16) << 4);
                        g_byte_array_set_size(b, 0);
                        g_byte_array_append(b, &flags, 1);
                        g_byte_array_append(b, g_variant_get_data(v), (guint)g_variant_get_size(v));
                        write_file(dir, name, b);
                }
        }
}

/* A whole stream: @mode, then the handshake's lines if the mode is
 * PRE_AUTH, then one well-formed call. */
static void write_raw(const char *root, const char *target, const char *name, uint8_t mode, bool client,
                      const fuzz_header *h, const char *body) {
        g_autofree char *dir = g_build_filename(root, target, NULL);
        g_autoptr(GByteArray) b = g_byte_array_new();
        seed_message m = { .body = body };
        g_autoptr(GBytes) bytes = body_of(&m, false);

        g_byte_array_append(b, &mode, 1);
        if (mode == FUZZ_MODE_PRE_AUTH) {
                if (client)
                        fuzz_auth_client(b);
                else
                        fuzz_auth_server(b);
        }
        fuzz_message_append(b, h, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
        write_file(dir, name, b);
}

int main(int argc, char **argv) {
        const fuzz_header main_invoke = {
                .type = FUZZ_CALL,
                .serial = 1,
                .path = "/org/ipcbus/Fuzz",
                .interface = IPCBUS_INTERFACE_MAIN,
                .member = "Invoke",
                .signature = "sav",
                .signature_size = SIZE_MAX,
        };
        const fuzz_header renderer_message = {
                .type = FUZZ_SIGNAL,
                .serial = 1,
                .path = IPCBUS_RENDERER_PATH,
                .interface = IPCBUS_INTERFACE_CHANNEL,
                .member = "Message",
                .signature = "sav",
                .signature_size = SIZE_MAX,
        };
        const char *echo = "('fuzz-echo', [<'raw'>])", *ping = "('fuzz-ping', [<'raw'>])";

        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS_ROOT (tests/fuzz/corpus)\n", argv[0]);
                return 2;
        }
        write_seeds(argv[1], "fuzz-main-direct", main_seeds, G_N_ELEMENTS(main_seeds));
        write_raw(argv[1], "fuzz-main-direct", "raw", FUZZ_MODE_RAW, true, &main_invoke, echo);
        write_raw(argv[1], "fuzz-main-direct", "pre-auth", FUZZ_MODE_PRE_AUTH, true, &main_invoke, echo);
        write_seeds(argv[1], "fuzz-renderer-direct", renderer_seeds, G_N_ELEMENTS(renderer_seeds));
        write_raw(argv[1], "fuzz-renderer-direct", "raw", FUZZ_MODE_RAW, false, &renderer_message, ping);
        write_raw(argv[1], "fuzz-renderer-direct", "pre-auth", FUZZ_MODE_PRE_AUTH, false, &renderer_message, ping);
        write_large_value_seeds(argv[1]);
        return 0;
}
