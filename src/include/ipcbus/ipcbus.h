/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * ipcbus: Electron's IPC model (ipcMain, ipcRenderer, webContents,
 * MessageChannelMain) for native Linux processes, over D-Bus.
 *
 * This is the one header users include. The wire format it speaks is fixed
 * by docs/wire-contract.md; docs/api.md shows one example per Electron
 * pattern.
 *
 * Conventions (as in sd-bus): every fallible call returns 0 or a positive
 * value on success and a negative errno-style code on failure; outputs come
 * last, are named ret_*, and are written only on success. Objects are
 * reference counted; *_unref() accepts NULL and returns NULL, and each type
 * has a *_unrefp() helper for __attribute__((cleanup)). Values are GVariant:
 * a function taking a GVariant * sinks a floating reference, as GLib's own
 * calls do. Objects are not thread-safe: use each from one thread.
 */

#include <ipcbus/ipcbus-common.h>
#include <ipcbus/ipcbus-value.h>
#include <ipcbus/ipcbus-slot.h>
#include <ipcbus/ipcbus-event.h>
#include <ipcbus/ipcbus-invocation.h>
#include <ipcbus/ipcbus-policy.h>
#include <ipcbus/ipcbus-main.h>
#include <ipcbus/ipcbus-web-contents.h>
#include <ipcbus/ipcbus-renderer.h>
#include <ipcbus/ipcbus-port.h>
#include <ipcbus/ipcbus-spawn.h>
#include <ipcbus/ipcbus-typed.h>

/* g_autoptr() support, for GLib programs. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ipcbus_main, ipcbus_main_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ipcbus_renderer, ipcbus_renderer_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ipcbus_web_contents, ipcbus_web_contents_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ipcbus_event, ipcbus_event_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ipcbus_invocation, ipcbus_invocation_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ipcbus_slot, ipcbus_slot_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ipcbus_port, ipcbus_port_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ipcbus_policy, ipcbus_policy_unref)
