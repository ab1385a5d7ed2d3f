/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "main-private.h"

/* The gate every incoming message passes (endpoint_ops.admit). */
int main_admit(endpoint *ep, connection *c, sd_bus_message *msg, ipcbus_op op, const char *channel,
               ipcbus_web_contents **ret_sender, sd_bus_error *error);
void main_gate_init(ipcbus_main *m);
void main_gate_done(ipcbus_main *m);
/* Refuse a call or signal for exceeding @limit, logged once per peer. */
int main_refuse_limit(ipcbus_main *m, ipcbus_web_contents *wc, ipcbus_op op, ipcbus_limit limit,
                      sd_bus_error *error);
