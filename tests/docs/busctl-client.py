#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# docs/busctl.md: a dbus-python client of the demo main (no ipcbus needed).
import dbus
import dbus.lowlevel

bus = dbus.SessionBus()  # a private bus: dbus.bus.BusConnection("unix:path=...")
main = dbus.Interface(bus.get_object("org.ipcbus.Demo", "/org/ipcbus/Demo"), "org.ipcbus.Main1")


def args(*values):
    """An argument list: av, each value a variant of its own type."""
    return dbus.Array(values, signature="v")


NULL = dbus.Struct(("null", dbus.String("", variant_level=1)), signature="sv")

# ipcRenderer.invoke('my-invokable-ipc', 'text', 3.5, true, ['a', 'b'], {name: 'Ada'}, null)
print(main.Invoke("my-invokable-ipc", args(
    "text", dbus.Double(3.5), dbus.Boolean(True), dbus.Array(["a", "b"], signature="s"),
    dbus.Dictionary({"name": "Ada"}, signature="sv"), NULL)))

# ipcRenderer.sendSync('synchronous-message', 'ping')
print(main.SendSync("synchronous-message", args("ping")))

# ipcRenderer.send('set-title', 'From Python'): a Message signal to the main's name
msg = dbus.lowlevel.SignalMessage("/org/ipcbus/Renderer", "org.ipcbus.Channel1", "Message")
msg.set_destination("org.ipcbus.Demo")
msg.append("set-title", args("From Python"), signature="sav")
bus.send_message(msg)
print(main.Invoke("get-title", args()))  # handled after the signal: same sender, same order

try:
    main.Invoke("no-such-channel", args())
except dbus.DBusException as e:
    print(e.get_dbus_name(), "|", e.get_dbus_message())
