/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A renderer's end of the demo's MessagePorts (seeds 002 and 003):
 *
 *     ipcRenderer.on('port', e => { window.electronMessagePort = e.ports[0]; ... })
 *
 * The "port" channel brings one end of a channel the main made for win1 and
 * win2; "main-port" brings the end of a channel whose other end the main
 * keeps (MessageChannelMain, port1.postMessage({ some: 'message' })). win2
 * answers "ping N" with "pong N"; win1, with an interval, posts "ping N".
 */
#include <errno.h>
#include <stdio.h>

#include "demo.h"

static int on_port_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n, void *userdata) {
        demo_port_end *end = userdata;
        char *line = g_variant_print(data, FALSE);

        if (end->print) {
                printf("port-recv %s\n", line);
                fflush(stdout);
        }
        g_ptr_array_add(end->recv, line);
        if (end->answer && g_variant_is_of_type(data, G_VARIANT_TYPE_STRING) &&
            g_str_has_prefix(g_variant_get_string(data, NULL), "ping ")) {
                g_autofree char *pong = g_strdup_printf("pong %s", g_variant_get_string(data, NULL) + 5);

                return ipcbus_port_post_message(port, g_variant_new_string(pong), NULL, 0);
        }
        return 0;
}

static int on_ping_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        demo_port_end *end = userdata;
        g_autofree char *ping = g_strdup_printf("ping %u", ++end->pings);
        int k;

        k = ipcbus_port_post_message(end->port, g_variant_new_string(ping), NULL, 0);
        if (k < 0)
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
        k = sd_event_source_set_time_relative(s, end->interval_usec);
        if (k < 0)
                return k;
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* e.ports[0]: keep it, listen, start. A newer port replaces an older one. */
static int on_port_arrived(ipcbus_event *event, GVariant *args, void *userdata) {
        demo_port_end *end = userdata;
        size_t n = 0;
        ipcbus_port **ports = ipcbus_event_get_ports(event, &n);
        bool from_main = g_str_equal(ipcbus_event_get_channel(event), "main-port");
        ipcbus_port **slot = from_main ? &end->main_port : &end->port;
        int k;

        if (n < 1)
                return -EINVAL;
        ipcbus_port_unref(*slot);
        *slot = ipcbus_port_ref(ports[0]);
        k = ipcbus_port_on_message(*slot, NULL, on_port_message, end);
        if (k >= 0)
                k = ipcbus_port_start(*slot);
        if (k >= 0 && !from_main && end->interval_usec > 0) {
                end->timer = sd_event_source_disable_unref(end->timer);
                /* 1 ms accuracy: sd-event's default (250 ms) would bunch the pings. */
                k = sd_event_add_time_relative(end->event, &end->timer, CLOCK_MONOTONIC, end->interval_usec, 1000,
                                               on_ping_timer, end);
        }
        return k;
}

int demo_port_listen(ipcbus_renderer *r, demo_port_end *end) {
        int k;

        end->event = ipcbus_renderer_get_event(r);
        if (!end->recv)
                end->recv = g_ptr_array_new_with_free_func(g_free);
        k = ipcbus_renderer_on(r, NULL, "port", on_port_arrived, end);
        if (k >= 0)
                k = ipcbus_renderer_on(r, NULL, "main-port", on_port_arrived, end);
        return k;
}

void demo_port_end_clear(demo_port_end *end) {
        end->timer = sd_event_source_disable_unref(end->timer);
        end->port = ipcbus_port_unref(end->port);
        end->main_port = ipcbus_port_unref(end->main_port);
        if (end->recv)
                g_ptr_array_unref(end->recv);
        end->recv = NULL;
}
