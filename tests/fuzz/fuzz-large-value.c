/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-large-value: the out-of-band forms of large values (value-large.h),
 * as a peer can make them. The first byte chooses: bit 0 the type ("av",
 * an argument list, or "v", a result), bit 1 leaves the memfd unsealed,
 * bit 2 announces one byte more than it holds, bit 3 the ring form
 * (value-ring.h) with the value at offset 8 * (1 + bits 4..7) in a ring of
 * whole pages; the rest is the value's bytes.
 *
 * Checked on every input:
 * - value_large_open() refuses an unsealed memfd or a wrong size, and
 *   otherwise accepts exactly what value_normal_check() accepts;
 * - in a ring: it refuses an unsealed ring or a value past the ring's end,
 *   accepts exactly the announced bytes that value_normal_check() accepts,
 *   and writes nothing in the ring but, once it copied them out, zeroes in
 *   the 8 bytes before them;
 * - whatever value_normal_check() accepts, GLib holds to be in normal form
 *   (g_variant_is_normal_form() on the bytes as untrusted data) and reads
 *   the same as the trusted value ipcbus makes of it: trusting it is safe;
 * - the value passes ipcbus's own checks of what it sends (types D-Bus
 *   has, UTF-8 without noncharacters, IPCBUS_VALUE_MAX_DEPTH), so it can be
 *   sent on inline or out of band;
 * - nothing leaks (ASan).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ipcbus/ipcbus.h>

#include "value.h"
#include "value-large.h"
#include "value-ring.h"
#include "util.h"

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)

static void check_accepted(const char *type, const uint8_t *data, size_t size) {
        GVariant *untrusted, *trusted, *value;
        char *text;

        untrusted = g_variant_ref_sink(
                g_variant_new_from_data(G_VARIANT_TYPE(type), data, size, FALSE, NULL, NULL));
        trusted = g_variant_ref_sink(g_variant_new_from_data(G_VARIANT_TYPE(type), data, size, TRUE, NULL, NULL));
        if (!g_variant_is_normal_form(untrusted))
                abort(); /* accepted what GLib does not hold to be normal */
        if (!g_variant_equal(untrusted, trusted))
                abort();
        text = g_variant_print(trusted, TRUE);
        g_free(text);

        if (type[0] == 'a') {
                if (value_check_args_limit(trusted, IPCBUS_VALUE_LARGE_MAX, NULL) < 0)
                        abort();
        } else {
                value = g_variant_get_variant(trusted);
                if (value_check_limit(value, IPCBUS_VALUE_LARGE_MAX, NULL) < 0)
                        abort();
                g_variant_unref(value);
        }
        g_variant_unref(trusted);
        g_variant_unref(untrusted);
}

/* The ring form: the value at @offset in a ring of whole pages. */
static void fuzz_ring(const char *type, const uint8_t *data, size_t size, bool sealed, bool exact, size_t offset) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        size_t ring_size = (offset + size + 4095) & ~(size_t) 4095;
        size_t announced = size + !exact;
        const char *problem = NULL;
        GVariant *value = NULL;
        uint8_t *before, *after;
        bool fits;
        int fd, normal = -1, opened;

        fd = memfd_create("fuzz-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || ftruncate(fd, (off_t) ring_size) < 0 || fallocate(fd, 0, 0, (off_t) ring_size) < 0)
                abort();
        /* Marked unread, the rest of the ring a pattern. */
        before = g_malloc(ring_size);
        for (size_t i = 0; i < ring_size; i++)
                before[i] = (uint8_t) (i * 131 + 7);
        memcpy(before + offset, data, size);
        if (pwrite(fd, before, ring_size, 0) != (ssize_t) ring_size)
                abort();
        if (sealed && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
                abort();

        fits = announced > 0 && offset + announced <= ring_size;
        if (fits)
                normal = value_normal_check(type, before + offset, announced, &problem);
        opened = value_large_open(&(ValueLarge) { .fd = fd, .ring = true, .offset = offset, .size = announced },
                                  type, &error, &value);
        if (opened == 0) {
                if (!sealed || !fits || normal != 0)
                        abort();
                g_variant_unref(value);
        } else {
                if (!sd_bus_error_is_set(&error))
                        abort();
                if (sealed && fits && normal == 0)
                        abort();
        }

        /* Nothing written but, once copied out (whether or not the value
         * then passes), the mark: the region is the sender's again. */
        after = g_malloc(ring_size);
        if (pread(fd, after, ring_size, 0) != (ssize_t) ring_size)
                abort();
        if (sealed && fits)
                memset(before + offset - 8, 0, 8);
        if (memcmp(before, after, ring_size) != 0)
                abort();
        g_free(after);
        g_free(before);
        (void)close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t input_size);
int LLVMFuzzerTestOneInput(const uint8_t *input, size_t input_size) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *type, *problem = NULL;
        GVariant *value = NULL;
        ValueLarge large;
        uint8_t *data;
        size_t size;
        bool sealed, exact;
        int fd, normal, opened;

        if (input_size < 1)
                return 0;
        type = input[0] & 1 ? "v" : "av";
        sealed = !(input[0] & 2);
        exact = !(input[0] & 4);
        size = input_size - 1;
        /* GVariant wants its data aligned as a heap block is. */
        data = g_malloc(size ? size : 1);
        memcpy(data, input + 1, size);

        normal = value_normal_check(type, data, size, &problem);
        if (normal == 0)
                check_accepted(type, data, size);
        else if (!problem)
                abort(); /* a refusal always says why */

        if (input[0] & 8) {
                fuzz_ring(type, data, size, sealed, exact, 8 * (1 + (size_t) (input[0] >> 4)));
                g_free(data);
                return 0;
        }

        fd = memfd_create("fuzz-large-value", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                abort();
        if (size > 0 && write(fd, data, size) != (ssize_t)size)
                abort();
        if (sealed && fcntl(fd, F_ADD_SEALS, SEALS) < 0)
                abort();
        large = (ValueLarge) { .fd = fd, .size = size + !exact };

        opened = value_large_open(&large, type, &error, &value);
        if (opened == 0) {
                /* Only a sealed memfd of the announced size, holding what
                 * the check accepts, is ever opened. */
                if (!sealed || !exact || size == 0 || normal != 0)
                        abort();
                g_variant_unref(value);
        } else {
                if (!sd_bus_error_is_set(&error))
                        abort();
                if (sealed && exact && size > 0 && normal == 0)
                        abort();
        }
        (void)close(fd);
        g_free(data);
        return 0;
}
