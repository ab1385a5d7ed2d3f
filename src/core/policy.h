/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Channel allowlists (ipcbus_policy): the rules, no transport. */

#include <ipcbus/ipcbus.h>
