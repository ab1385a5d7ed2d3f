#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# docs/busctl.md: a dbus-python renderer of the demo main: attaches, listens,
# sends asynchronous-message and waits for the main's event.reply.
import dbus
import dbus.lowlevel
import dbus.mainloop.glib
from gi.repository import GLib

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.SessionBus()
loop = GLib.MainLoop()


def on_message(channel, args):
    print("recv", channel, [str(a) for a in args])
    if channel == "asynchronous-reply":
        loop.quit()


# Message signals whose sender is the current owner of org.ipcbus.Demo:
# dbus-python follows the name's owner, as an ipcbus renderer does.
bus.add_signal_receiver(on_message, signal_name="Message", dbus_interface="org.ipcbus.Channel1",
                        bus_name="org.ipcbus.Demo")

main = dbus.Interface(bus.get_object("org.ipcbus.Demo", "/org/ipcbus/Demo"), "org.ipcbus.Main1")
print("attached as", main.Attach({"name": dbus.String("py", variant_level=1)}, signature="a{sv}"))

msg = dbus.lowlevel.SignalMessage("/org/ipcbus/Renderer", "org.ipcbus.Channel1", "Message")
msg.set_destination("org.ipcbus.Demo")
msg.append("asynchronous-message", dbus.Array(["ping"], signature="v"), signature="sav")
bus.send_message(msg)

GLib.timeout_add_seconds(5, loop.quit)
loop.run()
main.Detach()
