/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <ipcbus/ipcbus-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A slot is one registration: a listener, a handler, a pending invoke or a
 * lifecycle callback. As with sd_bus_slot, a registration made with a NULL
 * ret_slot is "floating": it lives as long as its owner. A registration that
 * hands out a slot lives until the caller drops its last reference, so
 * unreferencing the slot is how exactly that one registration is removed
 * (or that one pending invoke cancelled).
 */

IPCBUS_EXPORT ipcbus_slot *ipcbus_slot_ref(ipcbus_slot *slot);
IPCBUS_EXPORT ipcbus_slot *ipcbus_slot_unref(ipcbus_slot *slot);
IPCBUS_EXPORT void ipcbus_slot_unrefp(ipcbus_slot **slot);

/**
 * ipcbus_slot_set_floating - hand the registration to its owner (or take it back)
 * Return: 0, or -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_slot_set_floating(ipcbus_slot *slot, int b);

/**
 * ipcbus_slot_set_destroy_callback - called with the userdata when the
 * registration ends (removed, fired once, cancelled or owner freed).
 * Return: 0, or -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_slot_set_destroy_callback(ipcbus_slot *slot, ipcbus_destroy_fn callback);

IPCBUS_EXPORT void *ipcbus_slot_get_userdata(ipcbus_slot *slot);

/**
 * ipcbus_slot_is_connected - whether the registration is still in effect
 * Return: 1 while in effect, 0 after it ended (a once listener that fired,
 * a removed handler, a finished invoke), -EINVAL for NULL.
 */
IPCBUS_EXPORT int ipcbus_slot_is_connected(ipcbus_slot *slot);

#ifdef __cplusplus
}
#endif
