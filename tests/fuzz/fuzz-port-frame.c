/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: everything a hostile peer can make a port parse
 * (docs/ports.md, "Framing"). The first input byte picks what the rest is:
 *
 *   0  a datagram: header, then the inline payload decoded
 *   1  a memfd frame: 16 header bytes, the rest the memfd's contents
 *      (byte 1 says which seals it gets), mapped and decoded
 *   2  a handover bundle, with byte 1 descriptors announced
 *   3  a payload alone
 *   4  a chunked message: a 16-byte announcement, then datagrams, each
 *      preceded by its length (2 bytes, little-endian), reassembled as a
 *      port reads them (the header apart, the bytes into the message)
 *
 * Every payload that reaches the decoder is also judged by GLib
 * (g_variant_is_normal_form() and ipcbus_value_check()); the target aborts
 * when the two verdicts differ, so the fast normal-form check in
 * port-frame.c is held to GLib's on every input. Any crash, leak or
 * sanitizer report is a finding; refusals are the expected outcome.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "port-frame.h"
#include "value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* GLib's verdict on @payload: normal form, and a value a channel carries. */
static bool reference_accepts(GBytes *payload) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        GVariant *boxed, *value;
        bool ok = false;
        int r;

        boxed = g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE_VARIANT, payload, FALSE));
        if (g_variant_is_normal_form(boxed)) {
                value = g_variant_get_variant(boxed);
                r = value_check(value, &error);
                ok = r >= 0 || r == -EMSGSIZE;
                g_variant_unref(value);
        }
        g_variant_unref(boxed);
        sd_bus_error_free(&error);
        return ok;
}

static void decode(GBytes *payload) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        GVariant *value = NULL;
        bool ours, glib;
        int r;

        r = port_frame_value_decode(payload, &value, &error);
        ours = r >= 0;
        glib = reference_accepts(payload);
        if (ours != glib) {
                fprintf(stderr, "verdicts differ: ours %s (%s), GLib %s\n", ours ? "accepts" : "refuses",
                        error.message ? error.message : "-", glib ? "accepts" : "refuses");
                abort();
        }
        if (value) {
                /* What a listener would do with it. */
                g_free(g_variant_print(value, TRUE));
                g_variant_unref(value);
        }
        sd_bus_error_free(&error);
}

static void fuzz_datagram(const uint8_t *data, size_t size, size_t n_fds) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        port_frame_header h;
        GBytes *payload;

        /* Inline messages only: a memfd or chunked one is the header alone. */
        if (port_frame_header_parse(data, size, n_fds, &h, &error) >= 0 && h.type == PORT_FRAME_MESSAGE &&
            h.flags == 0) {
                /* A copy, as the port makes: aligned, and ASan sees the bounds. */
                payload = g_bytes_new(data + PORT_FRAME_HEADER_SIZE, h.payload_size);
                decode(payload);
                g_bytes_unref(payload);
        }
        sd_bus_error_free(&error);
}

static void fuzz_memfd(const uint8_t *data, size_t size, uint8_t seal_bits) {
        static const int seal_sets[] = {
                F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL,
                F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE,
                F_SEAL_SHRINK | F_SEAL_GROW,
                0,
        };
        sd_bus_error error = SD_BUS_ERROR_NULL;
        port_frame_header h;
        GBytes *payload = NULL;
        int fd;

        if (size < PORT_FRAME_HEADER_SIZE)
                return;
        if (port_frame_header_parse(data, PORT_FRAME_HEADER_SIZE, 1, &h, &error) < 0 ||
            !(h.flags & PORT_FRAME_FLAG_MEMFD) || h.type != PORT_FRAME_MESSAGE) {
                sd_bus_error_free(&error);
                return;
        }

        fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                abort();
        if (size > PORT_FRAME_HEADER_SIZE &&
            write(fd, data + PORT_FRAME_HEADER_SIZE, size - PORT_FRAME_HEADER_SIZE) !=
                    (ssize_t)(size - PORT_FRAME_HEADER_SIZE))
                abort();
        if (seal_sets[seal_bits % 4] && fcntl(fd, F_ADD_SEALS, seal_sets[seal_bits % 4]) < 0)
                abort();

        if (port_frame_memfd_map(fd, h.payload_size, &payload, &error) >= 0) {
                decode(payload);
                g_bytes_unref(payload);
        }
        close(fd);
        sd_bus_error_free(&error);
}

static void fuzz_bundle(const uint8_t *data, size_t size, size_t n_fds) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        port_frame_record *records;
        GBytes *bundle = g_bytes_new(data, size);
        size_t n;

        if (port_frame_bundle_parse(bundle, n_fds, &records, &n, &error) >= 0)
                port_frame_records_free(records, n);
        g_bytes_unref(bundle);
        sd_bus_error_free(&error);
}

static void fuzz_chunked(const uint8_t *data, size_t size) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        port_frame_assembly a = {};
        port_frame_header h;
        int r = 0;

        /* Descriptors cannot be fuzzed here: an announcement of ports fails. */
        if (size < PORT_FRAME_HEADER_SIZE ||
            port_frame_header_parse(data, PORT_FRAME_HEADER_SIZE, 0, &h, &error) < 0 ||
            h.type != PORT_FRAME_MESSAGE || !(h.flags & PORT_FRAME_FLAG_CHUNKED))
                goto out;
        /* Large announcements cost an allocation per input and slow the
         * search down: up to 1 MiB on the heap, and a little over 16 MiB so
         * that the huge-page mapping is reached too. */
        if (h.payload_size > 1024 * 1024 &&
            (h.payload_size <= PORT_FRAME_CHUNKED_MAX ||
             h.payload_size > PORT_FRAME_CHUNKED_MAX + 4 * PORT_FRAME_CHUNK_MAX))
                goto out;
        if (port_frame_assembly_begin(&a, &h, NULL, 0) < 0)
                goto out;
        data += PORT_FRAME_HEADER_SIZE;
        size -= PORT_FRAME_HEADER_SIZE;

        while (r == 0 && size >= 2) {
                uint8_t header[PORT_FRAME_HEADER_SIZE] = {};
                size_t len = data[0] | (size_t)data[1] << 8, room = port_frame_assembly_room(&a);

                data += 2;
                size -= 2;
                len = MIN(len, size);
                /* What recvmsg() makes of the datagram: the header apart,
                 * the rest into the message, truncation refused. */
                memcpy(header, data, MIN(len, sizeof(header)));
                if (len > sizeof(header)) {
                        if (len - sizeof(header) > room)
                                break;
                        memcpy(port_frame_assembly_next(&a), data + sizeof(header), len - sizeof(header));
                }
                r = port_frame_assembly_add(&a, header, len, 0, &error);
                data += len;
                size -= len;
        }
        if (r == 1) {
                int *fds = NULL;
                GBytes *payload = port_frame_assembly_steal(&a, &fds);

                decode(payload);
                g_bytes_unref(payload);
                g_free(fds);
        }
out:
        port_frame_assembly_clear(&a);
        sd_bus_error_free(&error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        GBytes *payload;

        if (size < 2)
                return 0;

        switch (data[0] % 5) {
        case 0:
                fuzz_datagram(data + 2, size - 2, data[1]);
                break;
        case 1:
                fuzz_memfd(data + 2, size - 2, data[1]);
                break;
        case 2:
                fuzz_bundle(data + 2, size - 2, data[1]);
                break;
        case 3:
                payload = g_bytes_new(data + 2, size - 2);
                decode(payload);
                g_bytes_unref(payload);
                break;
        case 4:
                fuzz_chunked(data + 2, size - 2);
                break;
        }
        return 0;
}
