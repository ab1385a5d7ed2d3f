/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A renderer as the main sees it (ipcbus_web_contents). */

#include <ipcbus/ipcbus.h>

#include "connection.h"

struct ipcbus_web_contents {
        unsigned n_ref;
        ipcbus_main *main;     /* weak: cleared when the main goes */
        connection *conn;
        uint64_t id;           /* 0 while not attached */
        char *name;
        char *bus_name;        /* unique name, NULL on a direct connection */
        bool attached;
        sd_bus_slot *owner_watch; /* NameOwnerChanged for bus_name */
};

int web_contents_new(ipcbus_web_contents **ret, ipcbus_main *m, connection *conn, const char *bus_name);
