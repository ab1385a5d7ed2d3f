/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IPCBUS_EXPORT __attribute__((visibility("default")))

typedef struct ipcbus_main ipcbus_main;
typedef struct ipcbus_renderer ipcbus_renderer;
typedef struct ipcbus_web_contents ipcbus_web_contents;
typedef struct ipcbus_event ipcbus_event;
typedef struct ipcbus_invocation ipcbus_invocation;
typedef struct ipcbus_slot ipcbus_slot;
typedef struct ipcbus_port ipcbus_port;

/* D-Bus interface names and error names of wire contract version 1. */
#define IPCBUS_INTERFACE_MAIN "org.ipcbus.Main1"
#define IPCBUS_INTERFACE_RENDERER "org.ipcbus.Renderer1"
#define IPCBUS_INTERFACE_CHANNEL "org.ipcbus.Channel1"
#define IPCBUS_RENDERER_PATH "/org/ipcbus/Renderer"

/*
 * The error names, each with the errno it maps to: what the *_sync calls
 * return, and what sd_bus_error_get_errno() gives for the error a result
 * callback receives. ipcbus registers the mapping with sd-bus
 * (sd_bus_error_add_map()) before its first object exists, so it holds in
 * the whole process. A name a handler chooses itself passes through with the
 * errno sd-bus knows for it: -EIO for any name it does not know.
 */
/* -ENOENT: nothing is registered under that channel, as a lookup by name
 * that finds nothing. */
#define IPCBUS_ERROR_NO_HANDLER "org.ipcbus.Error.NoHandler"
/* -EREMOTEIO: the handler ran and failed on the other side, Electron's
 * "Error invoking remote method"; no standard D-Bus name maps to it. */
#define IPCBUS_ERROR_HANDLER_FAILED "org.ipcbus.Error.HandlerFailed"
/* -ENODATA: the listeners ran and none gave a value. */
#define IPCBUS_ERROR_NO_RETURN_VALUE "org.ipcbus.Error.NoReturnValue"
/* -EACCES: refused by who the sender is, the errno of the bus's own
 * AccessDenied as well: refused either way, the name tells by whom. */
#define IPCBUS_ERROR_DENIED "org.ipcbus.Error.Denied"
/* -EINVAL (sd-bus's own mapping): a bad channel, signature or value. */
#define IPCBUS_ERROR_INVALID_ARGS "org.freedesktop.DBus.Error.InvalidArgs"
/* -ENOBUFS (sd-bus's own mapping): past a documented per-peer limit. */
#define IPCBUS_ERROR_LIMITS_EXCEEDED "org.freedesktop.DBus.Error.LimitsExceeded"
/* Local, never on the wire: the peer a call went to went away first (its
 * connection closed, or its name lost its owner). Maps to -ENOTCONN. */
#define IPCBUS_ERROR_DISCONNECTED "org.ipcbus.Error.Disconnected"

/* Channel names: non-empty UTF-8, at most this many bytes. */
#define IPCBUS_CHANNEL_MAX 255

/*
 * Back-pressure (docs/architecture.md, "Limits"): the most messages the main
 * keeps queued on one connection (one direct renderer, or one bus
 * connection, whose queue the bus daemon drains for every renderer on it)
 * while the other end does not read. A send past it fails with -ENOBUFS
 * and nothing is queued; sends succeed again as the queue drains.
 */
#define IPCBUS_CONNECTION_QUEUE_MAX 10000U

/**
 * ipcbus_op - what a peer asks of an endpoint; also a bit mask
 * @IPCBUS_OP_MESSAGE: a Channel1.Message signal (ipcRenderer.send)
 * @IPCBUS_OP_SEND_SYNC: Main1.SendSync (ipcRenderer.sendSync)
 * @IPCBUS_OP_INVOKE: Main1.Invoke or Renderer1.Invoke (invoke/handle)
 * @IPCBUS_OP_POST_MESSAGE: a Channel1.PostMessage signal (postMessage)
 * @IPCBUS_OP_ATTACH: Main1.Attach (a renderer comes up); no channel
 */
typedef enum ipcbus_op {
        IPCBUS_OP_MESSAGE = 1 << 0,
        IPCBUS_OP_SEND_SYNC = 1 << 1,
        IPCBUS_OP_INVOKE = 1 << 2,
        IPCBUS_OP_POST_MESSAGE = 1 << 3,
        IPCBUS_OP_ATTACH = 1 << 4,
} ipcbus_op;

/* Every operation an allowlist can name (all but Attach). */
#define IPCBUS_OP_CHANNELS \
        (IPCBUS_OP_MESSAGE | IPCBUS_OP_SEND_SYNC | IPCBUS_OP_INVOKE | IPCBUS_OP_POST_MESSAGE)

/**
 * ipcbus_counter - what an endpoint refused, counted since it was created
 * @IPCBUS_COUNTER_CALLS_DENIED: calls answered org.ipcbus.Error.Denied
 * @IPCBUS_COUNTER_SIGNALS_DROPPED: Message and PostMessage signals refused
 * @IPCBUS_COUNTER_REPLIES_DROPPED: replies to our calls from a peer we did not call
 * @IPCBUS_COUNTER_LIMITS_EXCEEDED: calls answered LimitsExceeded
 */
typedef enum ipcbus_counter {
        IPCBUS_COUNTER_CALLS_DENIED,
        IPCBUS_COUNTER_SIGNALS_DROPPED,
        IPCBUS_COUNTER_REPLIES_DROPPED,
        IPCBUS_COUNTER_LIMITS_EXCEEDED,
        _IPCBUS_COUNTER_MAX,
} ipcbus_counter;

/**
 * ipcbus_listener_fn - a listener for channel messages (ipcMain.on / ipcRenderer.on)
 * @event: what arrived; valid during the call, ipcbus_event_ref() to keep it
 * @args: the arguments, a GVariant of type "av" (borrowed)
 * @userdata: as registered
 *
 * Return: 0, or a negative errno-style code, which is reported through the
 * log callback; for a SendSync call with no return value set yet, a failing
 * listener makes the call fail with org.ipcbus.Error.HandlerFailed,
 * "Error invoking remote method 'CHANNEL': Error: a listener failed".
 */
typedef int (*ipcbus_listener_fn)(ipcbus_event *event, GVariant *args, void *userdata);

/**
 * ipcbus_event_listener_fn - a listener that reads the arguments itself
 * @event: what arrived, as for ipcbus_listener_fn; read the arguments with
 *   ipcbus_event_read() (sd-bus style) or ipcbus_event_get_args() (the
 *   GVariant, made when asked for)
 * @userdata: as registered
 *
 * Registered with ipcbus_main_on_event() or ipcbus_renderer_on_event().
 * Where every listener of a message is of this kind, no GVariant is made
 * for a list of basic values: the cheapest way to receive small messages.
 * Return: as ipcbus_listener_fn.
 */
typedef int (*ipcbus_event_listener_fn)(ipcbus_event *event, void *userdata);

/**
 * ipcbus_handler_fn - a handler for invokes (ipcMain.handle / Renderer1.Invoke)
 * @invocation: the pending call; complete it with ipcbus_invocation_return_*(),
 *   now or later (take a reference with ipcbus_invocation_ref() to finish later)
 * @args: the arguments, a GVariant of type "av" (borrowed)
 * @userdata: as registered
 *
 * A handler that returns without completing the invocation and without
 * keeping a reference answers undefined, like a JavaScript handler that
 * returns nothing. A negative return value answers
 * org.ipcbus.Error.HandlerFailed with strerror() of that code as the
 * message: "Error invoking remote method 'CHANNEL': Error: Permission denied".
 */
typedef int (*ipcbus_handler_fn)(ipcbus_invocation *invocation, GVariant *args, void *userdata);

/**
 * ipcbus_result_fn - completion of an asynchronous invoke
 * @result: the handler's value (borrowed), or NULL when @error is set
 * @error: NULL on success, else the D-Bus error (name and message, as the
 *   other side set them); sd_bus_error_get_errno() on it gives the errno
 *   its name maps to (IPCBUS_ERROR_*), the one a *_sync call would return
 * @userdata: as passed to the invoke
 *
 * Called exactly once from the event loop, unless the call is cancelled
 * first by unreferencing its slot.
 */
typedef int (*ipcbus_result_fn)(GVariant *result, const sd_bus_error *error, void *userdata);

/**
 * ipcbus_log_fn - where the library reports what it cannot return
 * @priority: a syslog priority (LOG_ERR, LOG_WARNING, LOG_DEBUG, ...)
 * @message: the text, without trailing newline
 * @userdata: as set
 *
 * The library never prints by itself; without a log function, these reports
 * are dropped. A refused programming error (a NULL object, callback or
 * required pointer: the call returns -EINVAL) is logged at LOG_DEBUG as
 * sd-bus does, "Assertion 'fn' failed at src/main-endpoint.c:123, function
 * ipcbus_main_on(). Ignoring."; with the environment variable IPCBUS_DEBUG
 * set to a non-empty value other than "0" it is also printed to stderr
 * (prefixed "ipcbus: "), the one exception to the rule, and opt-in.
 */
typedef void (*ipcbus_log_fn)(int priority, const char *message, void *userdata);

/* Called when a slot's userdata is no longer needed. */
typedef void (*ipcbus_destroy_fn)(void *userdata);

#ifdef __cplusplus
}
#endif
