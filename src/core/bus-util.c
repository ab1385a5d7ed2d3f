/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bus-util.h"

int bus_path_from_name(const char *name, char **ret) {
        size_t n = strlen(name);
        char *p = malloc(n + 2);

        if (!p)
                return -ENOMEM;
        p[0] = '/';
        for (size_t i = 0; i < n; i++)
                p[i + 1] = name[i] == '.' ? '/' : name[i] == '-' ? '_' : name[i];
        p[n + 1] = 0;
        *ret = p;
        return 0;
}

bool bus_well_known_name_is_valid(const char *name) {
        return name && name[0] != ':' && sd_bus_service_name_is_valid(name) > 0;
}
