/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include "harness.h"

void harness_start_bus(harness *h) {
        memset(h, 0, sizeof(*h));
        assert_int_equal(test_bus_start(&h->bus, TEST_BUS_DBUS_DAEMON), 0);
        assert_int_equal(sd_event_new(&h->event), 0);
}

void harness_start_main(harness *h) {
        static test_main_config config;

        config.address = test_bus_get_address(h->bus);
        config.direct_fd = -1;
        assert_int_equal(test_process_spawn(&h->main, test_main_child, &config), 0);
        assert_int_equal(test_process_wait_line(h->main, "ready", 10 * TEST_USEC_PER_SEC), 0);
}

void harness_start(harness *h) {
        harness_start_bus(h);
        harness_start_main(h);
}

void harness_stop(harness *h) {
        int status;

        if (h->main) {
                (void)test_process_kill(h->main, SIGTERM);
                (void)test_process_wait_exit(h->main, &status);
                h->main = test_process_free(h->main);
        }
        h->event = sd_event_unref(h->event);
        h->bus = test_bus_free(h->bus);
}

ipcbus_renderer *harness_renderer(harness *h, const char *name) {
        ipcbus_renderer *r = NULL;
        uint64_t id = 0;

        assert_int_equal(ipcbus_renderer_new(&r, TEST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(r, h->event, 0), 0);
        assert_int_equal(ipcbus_renderer_set_timeout(r, 10 * TEST_USEC_PER_SEC), 0);
        assert_int_equal(ipcbus_renderer_open_address(r, test_bus_get_address(h->bus)), 0);
        if (name) {
                assert_int_equal(ipcbus_renderer_attach_sync(r, name, NULL, &id), 0);
                assert_true(id > 0);
        }
        return r;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

bool harness_run_until(harness *h, const bool *flag, unsigned timeout_ms) {
        uint64_t deadline = now_usec() + test_deadline_usec((uint64_t)timeout_ms * 1000);

        while (!*flag) {
                uint64_t now = now_usec();

                if (now >= deadline)
                        return false;
                assert_true(sd_event_run(h->event, deadline - now) >= 0);
        }
        return true;
}

int result_collect(GVariant *value, const sd_bus_error *error, void *userdata) {
        result *r = userdata;

        r->done = true;
        if (r->counter)
                r->order = ++*r->counter;
        if (error) {
                r->error_name = g_strdup(error->name);
                r->error_message = g_strdup(error->message);
                r->error_errno = sd_bus_error_get_errno(error);
        } else
                r->value = g_variant_ref(value);
        return 0;
}

void result_clear(result *r) {
        if (r->value)
                g_variant_unref(r->value);
        g_free(r->error_name);
        g_free(r->error_message);
        memset(r, 0, sizeof(*r));
}

int inbox_listener(ipcbus_event *e, GVariant *args, void *userdata) {
        inbox *in = userdata;

        in->n++;
        in->got = true;
        if (in->last)
                g_variant_unref(in->last);
        in->last = g_variant_ref(args);
        return 0;
}

void inbox_clear(inbox *in) {
        if (in->last)
                g_variant_unref(in->last);
        memset(in, 0, sizeof(*in));
}

const char *arg_string(GVariant *args, size_t i) {
        static char buf[4096];
        GVariant *v = ipcbus_args_get(args, i);

        if (!v)
                return NULL;
        if (!g_variant_is_of_type(v, G_VARIANT_TYPE_STRING)) {
                g_variant_unref(v);
                return NULL;
        }
        g_strlcpy(buf, g_variant_get_string(v, NULL), sizeof(buf));
        g_variant_unref(v);
        return buf;
}
