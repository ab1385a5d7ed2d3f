/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The handlers both endpoint targets serve (fuzz-dbus.h). Apart from
 * fuzz-dbus.c, which make-fuzz-seeds links without the library. */
#include "fuzz-dbus.h"

int fuzz_handle_echo(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_value(inv, args);
}

int fuzz_handle_fail(ipcbus_invocation *inv, GVariant *args, void *userdata) {
        return ipcbus_invocation_return_error(inv, "org.example.Error", "failed with %zu argument(s)",
                                              g_variant_n_children(args));
}

int fuzz_handle_keep(ipcbus_invocation *inv, GVariant *args, void *kept) {
        GPtrArray *a = kept;

        if (a->len == FUZZ_KEPT_MAX)
                g_ptr_array_remove_index(a, 0);
        g_ptr_array_add(a, ipcbus_invocation_ref(inv));
        return 0;
}

static volatile size_t fuzz_read_sink;

int fuzz_read_event(ipcbus_event *event, void *userdata) {
        static const char *const reads[] = { "s", "ss", "su", "sy", "x", "d", "b", "g", "o" };
        g_autoptr(GVariant) any = NULL, dict = NULL;
        size_t total = 0;

        for (size_t i = 0; i < G_N_ELEMENTS(reads); i++) {
                /* Room for each item's widest value. */
                union {
                        const char *s;
                        uint64_t t;
                        double d;
                } a = {}, b = {};

                if (ipcbus_event_read(event, reads[i], &a, &b) < 0)
                        continue;
                if (reads[i][0] == 's' || reads[i][0] == 'g' || reads[i][0] == 'o')
                        total += strlen(a.s);
                if (reads[i][1] == 's')
                        total += strlen(b.s);
        }
        (void)ipcbus_event_read(event, "v@a{sv}", &any, &dict);
        /* Kept, so that the reads are not optimized away. */
        fuzz_read_sink = total + ipcbus_event_count_args(event);
        return 0;
}
