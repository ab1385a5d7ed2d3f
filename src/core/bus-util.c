/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bus-util.h"

char *bus_path_from_name(const char *name) {
        size_t n = strlen(name);
        char *p = g_malloc(n + 2);

        p[0] = '/';
        for (size_t i = 0; i < n; i++)
                p[i + 1] = name[i] == '.' ? '/' : name[i] == '-' ? '_' : name[i];
        p[n + 1] = 0;
        return p;
}

bool bus_well_known_name_is_valid(const char *name) {
        return name && name[0] != ':' && sd_bus_service_name_is_valid(name) > 0;
}
