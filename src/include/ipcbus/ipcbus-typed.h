/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <ipcbus/ipcbus-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Typed channels (docs/typed-channels.md): a channel declared with D-Bus
 * types is also served as a real member of an application interface at the
 * main's object, so busctl, gdbus and D-Spy see methods and signals with
 * their arguments instead of Invoke(s, av).
 *
 *   a handle channel    -> a method with its arguments and result
 *                          (ipcMain.handle / ipcRenderer.invoke)
 *   a listener channel  -> a method annotated
 *                          org.freedesktop.DBus.Method.NoReply (ipcMain.on /
 *                          ipcRenderer.send), or with its result when the
 *                          channel answers ipcRenderer.sendSync
 *   an event channel    -> a signal, emitted whenever the main sends on the
 *                          channel (webContents.send / broadcast)
 *
 * The member's name comes from the channel's: split at every character that
 * is not an ASCII letter or digit, capitalize each part's first letter
 * ("dialog:openFile" -> DialogOpenFile, "set-title" -> SetTitle).
 *
 * A declared method or signal is there while the channel has its handler
 * (handle) or at least one listener (listener); an event channel's signal
 * while it is declared. Changes reach clients at the next loop iteration:
 * the object's introspection, org.freedesktop.DBus.ObjectManager's
 * InterfacesAdded / InterfacesRemoved at the main's object, and
 * PropertiesChanged of org.ipcbus.Main1.Channels.
 *
 * Declared types hold on both faces: a typed call and an Invoke, SendSync
 * or Message on the channel whose arguments differ from the declaration get
 * InvalidArgs (signals are dropped and logged), and a handler whose result
 * differs from the declared result answers HandlerFailed saying what was
 * declared. An event sent with other arguments is refused (-EINVAL).
 */

typedef enum ipcbus_channel_kind {
        IPCBUS_CHANNEL_HANDLE = 1,
        IPCBUS_CHANNEL_LISTENER,
        IPCBUS_CHANNEL_EVENT,
} ipcbus_channel_kind;

/**
 * ipcbus_main_set_channel_interface - where channels declared in C are served
 * @interface: a D-Bus interface name; the default is the main's name with
 *   ".Channels" appended (org.ipcbus.Demo -> org.ipcbus.Demo.Channels)
 * Applies to the declarations that follow; channels declared from XML are
 * served on the interface the XML names.
 * Return: 0; -EINVAL for an invalid name or one of ipcbus's or
 * org.freedesktop.DBus's own.
 */
IPCBUS_EXPORT int ipcbus_main_set_channel_interface(ipcbus_main *m, const char *interface);

/**
 * ipcbus_main_declare_channel - declare a channel's D-Bus types
 * @kind: what the channel is (above)
 * @channel: the channel's name
 * @args: the arguments' signature, one complete type per argument ("ss"),
 *   or NULL / "" for none
 * @arg_names: the arguments' names, comma-separated ("title,body"), or
 *   NULL for arg0, arg1, ...
 * @result: HANDLE: the result, one complete type, or NULL / "" for none;
 *   LISTENER: NULL for a send-only channel, or the type a sendSync returns;
 *   EVENT: NULL
 * @ret_error: optional; says what is wrong on failure
 *
 * The result is named "result". Declaring the same channel again with the
 * same types does nothing.
 *
 * Return: 0; -EINVAL for a bad name, type or argument list, a result that
 * is not one complete type, or a member name the channel's name cannot
 * give; -EEXIST if the channel is declared otherwise or its member name is
 * taken on the interface; -ENOMEM.
 */
IPCBUS_EXPORT int ipcbus_main_declare_channel(ipcbus_main *m, ipcbus_channel_kind kind, const char *channel,
                                              const char *args, const char *arg_names, const char *result,
                                              sd_bus_error *ret_error);

/**
 * ipcbus_main_declare_channels_xml - declare every channel of interface XML
 * @xml: D-Bus introspection XML (the format busctl introspect --xml-interface
 *   prints); each interface's methods and signals become channels on it
 *
 * A method is a handle channel; one annotated
 * org.freedesktop.DBus.Method.NoReply is a listener channel; one annotated
 * org.ipcbus.Channel.Kind = "listener" is a listener channel answering
 * sendSync with its one out argument. A signal is an event channel. The
 * channel's name is the annotation org.ipcbus.Channel on the member, or
 * the member's name; the member's name must be the one the channel's name
 * gives. A method has at most one out argument. All or nothing: on failure
 * nothing of @xml is declared.
 *
 * Return: as ipcbus_main_declare_channel(); -EBADMSG if @xml does not parse.
 */
IPCBUS_EXPORT int ipcbus_main_declare_channels_xml(ipcbus_main *m, const char *xml, sd_bus_error *ret_error);
/* The same, from a file. Return: also -errno of reading it. */
IPCBUS_EXPORT int ipcbus_main_declare_channels_file(ipcbus_main *m, const char *path, sd_bus_error *ret_error);

/**
 * ipcbus_main_undeclare_channel - serve @channel on the generic face only
 * Return: 0; -ENOENT if it was not declared; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_main_undeclare_channel(ipcbus_main *m, const char *channel);

/**
 * ipcbus_main_get_channels - what org.ipcbus.Main1.Channels says
 * @ret: every channel with a handler or a listener, sorted, NULL-terminated
 *   (free with g_strfreev())
 * Return: 0; -EINVAL.
 */
IPCBUS_EXPORT int ipcbus_main_get_channels(ipcbus_main *m, char ***ret);

/**
 * ipcbus_channel_member_name - the member name a channel's name gives
 * @ret: the name (free with free()), e.g. "DialogOpenFile"
 * Return: 0; -EINVAL if the name gives no valid member name (nothing but
 * separators, a leading digit, over 255 characters).
 */
IPCBUS_EXPORT int ipcbus_channel_member_name(const char *channel, char **ret);

#ifdef __cplusplus
}
#endif
