/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The renderer endpoint (ipcbus_renderer): ipcRenderer for one main. Its
 * fields: renderer-private.h; what it sends: renderer-send.h; its blocking
 * calls: renderer-sync.h. */

#include "renderer-private.h"
#include "renderer-send.h"
#include "renderer-sync.h"
