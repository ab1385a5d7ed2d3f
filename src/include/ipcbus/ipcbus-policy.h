/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * An allowlist of channels per op (ipcbus_policy): what one renderer, a
 * class of renderers, or the peers that never attached may invoke,
 * sendSync, send and postMessage to the main. Electron's contextBridge
 * decides what a page can reach; here the main decides what a peer can
 * reach, and everything else is refused: calls with
 * org.ipcbus.Error.Denied, signals dropped.
 *
 *     _cleanup_(ipcbus_policy_unrefp) ipcbus_policy *guest = NULL;
 *     ipcbus_policy_new(&guest);
 *     ipcbus_policy_allow(guest, IPCBUS_OP_INVOKE, "get-title");
 *     ipcbus_policy_allow(guest, IPCBUS_OP_MESSAGE | IPCBUS_OP_INVOKE, "my_channel");
 *     ipcbus_web_contents_set_policy(wc, guest);
 */

#include <ipcbus/ipcbus-common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ipcbus_policy ipcbus_policy;

/**
 * ipcbus_policy_new - an empty allowlist: it allows nothing
 * Return: 0; -EINVAL if @ret is NULL.
 */
IPCBUS_EXPORT int ipcbus_policy_new(ipcbus_policy **ret);
IPCBUS_EXPORT ipcbus_policy *ipcbus_policy_ref(ipcbus_policy *policy);
IPCBUS_EXPORT ipcbus_policy *ipcbus_policy_unref(ipcbus_policy *policy);
IPCBUS_EXPORT void ipcbus_policy_unrefp(ipcbus_policy **policy);

/**
 * ipcbus_policy_allow - allow @channel for the @ops given
 * @ops: IPCBUS_OP_MESSAGE, _SEND_SYNC, _INVOKE, _POST_MESSAGE, or'ed
 *   (IPCBUS_OP_CHANNELS for all four); adds to what was allowed before
 * @channel: a channel name; NULL allows every channel for those ops
 *
 * A policy in use by a peer may be changed: the next message sees it.
 * Return: 0; -EINVAL for a NULL policy, an invalid channel name, or @ops
 * outside IPCBUS_OP_CHANNELS or none.
 */
IPCBUS_EXPORT int ipcbus_policy_allow(ipcbus_policy *policy, unsigned ops, const char *channel);

/* Return: true if @policy allows @op on @channel; a NULL policy allows everything. */
IPCBUS_EXPORT bool ipcbus_policy_allows(ipcbus_policy *policy, ipcbus_op op, const char *channel);

#ifdef __cplusplus
}
#endif
