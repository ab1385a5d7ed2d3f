/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "renderer-private.h"

/* The queue of what waits for the main (renderer-send.c). */
void renderer_flush(ipcbus_renderer *r);                 /* the main is there: send it all, in order */
void renderer_fail_pending(ipcbus_renderer *r, int error); /* the connection is gone */
void renderer_drop_pending(ipcbus_renderer *r);          /* freeing: no callbacks */
int renderer_queue_attach(ipcbus_renderer *r);
