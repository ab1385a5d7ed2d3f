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
