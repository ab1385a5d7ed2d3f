/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The defects of issue 8, each shown by the test that failed before: a
 * borrowed bus stays the caller's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

#define DEFECTS_MAIN_NAME "org.ipcbus.Defects"

static int setup(void **state) {
        harness *h = calloc(1, sizeof(harness));

        harness_start(h);
        *state = h;
        return 0;
}

static int setup_bus_only(void **state) {
        harness *h = calloc(1, sizeof(harness));

        harness_start_bus(h);
        *state = h;
        return 0;
}

static int teardown(void **state) {
        harness *h = *state;

        harness_stop(h);
        free(h);
        return 0;
}

/* The caller's bus still carries a call of the caller's. */
static void assert_bus_usable(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

        assert_true(sd_bus_is_open(bus) > 0);
        assert_int_equal(sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                            "org.freedesktop.DBus", "GetId", &error, &reply, ""),
                         1);
}

static bool name_has_owner(sd_bus *bus, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int has = 0;

        assert_true(sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", NULL, &reply, "s", name) >= 0);
        assert_int_equal(sd_bus_message_read(reply, "b", &has), 1);
        return has;
}

static ipcbus_main *new_main(harness *h, const char *name) {
        ipcbus_main *m = NULL;

        assert_int_equal(ipcbus_main_new(&m, name), 0);
        assert_int_equal(ipcbus_main_attach_event(m, h->event, 0), 0);
        return m;
}

static sd_bus *connect_on(harness *h, sd_event *event) {
        sd_bus *bus = NULL;

        assert_int_equal(test_bus_connect(h->bus, &bus), 0);
        if (event)
                assert_int_equal(sd_bus_attach_event(bus, event, 0), 0);
        return bus;
}

/* Defect 1: a main on the caller's bus, already on the main's loop. */
static void test_main_add_bus_same_loop(void **state) {
        harness *h = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = connect_on(h, h->event);
        ipcbus_main *m = new_main(h, DEFECTS_MAIN_NAME);

        assert_int_equal(ipcbus_main_add_bus(m, bus), 0);
        assert_true(name_has_owner(bus, DEFECTS_MAIN_NAME));
        ipcbus_main_unref(m);
        assert_bus_usable(bus);
        /* Still the caller's loop's, and the name given back. */
        assert_ptr_equal(sd_bus_get_event(bus), h->event);
        assert_false(name_has_owner(bus, DEFECTS_MAIN_NAME));
}

/* The main attached the bus itself: it detaches it, and nothing more. */
static void test_main_add_bus_unattached(void **state) {
        harness *h = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = connect_on(h, NULL);
        ipcbus_main *m = new_main(h, DEFECTS_MAIN_NAME);

        assert_int_equal(ipcbus_main_add_bus(m, bus), 0);
        assert_ptr_equal(sd_bus_get_event(bus), h->event);
        ipcbus_main_unref(m);
        assert_null(sd_bus_get_event(bus));
        assert_bus_usable(bus);
}

static void test_main_add_bus_failures(void **state) {
        harness *h = *state;
        _cleanup_(sd_event_unrefp) sd_event *other = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = connect_on(h, h->event);
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *elsewhere = NULL;
        ipcbus_main *m = new_main(h, TEST_MAIN_NAME);

        /* The test main owns the name already. */
        assert_int_equal(ipcbus_main_add_bus(m, bus), -EEXIST);
        assert_bus_usable(bus);

        assert_int_equal(sd_event_new(&other), 0);
        elsewhere = connect_on(h, other);
        assert_int_equal(ipcbus_main_add_bus(m, elsewhere), -EBUSY);
        assert_bus_usable(elsewhere);
        assert_ptr_equal(sd_bus_get_event(elsewhere), other);

        ipcbus_main_unref(m);
        assert_bus_usable(bus);
        assert_bus_usable(elsewhere);
}

static ipcbus_renderer *new_renderer(harness *h) {
        ipcbus_renderer *r = NULL;

        assert_int_equal(ipcbus_renderer_new(&r, TEST_MAIN_NAME), 0);
        assert_int_equal(ipcbus_renderer_attach_event(r, h->event, 0), 0);
        assert_int_equal(ipcbus_renderer_set_timeout(r, 10 * TEST_USEC_PER_SEC), 0);
        return r;
}

static void test_renderer_add_bus(void **state) {
        harness *h = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = connect_on(h, h->event);
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *second = connect_on(h, h->event);
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *elsewhere = NULL;
        _cleanup_(sd_event_unrefp) sd_event *other = NULL;
        ipcbus_renderer *r = new_renderer(h);
        uint64_t id = 0;

        assert_int_equal(ipcbus_renderer_add_bus(r, bus), 0);
        assert_int_equal(ipcbus_renderer_attach_sync(r, "borrowed", NULL, &id), 0);
        assert_true(id > 0);

        /* Already connected: refused, and the refused bus is left alone. */
        assert_int_equal(ipcbus_renderer_add_bus(r, second), -EBUSY);
        assert_bus_usable(second);

        ipcbus_renderer_unref(r);
        assert_bus_usable(bus);
        assert_ptr_equal(sd_bus_get_event(bus), h->event);

        r = new_renderer(h);
        assert_int_equal(sd_event_new(&other), 0);
        elsewhere = connect_on(h, other);
        assert_int_equal(ipcbus_renderer_add_bus(r, elsewhere), -EBUSY);
        assert_bus_usable(elsewhere);
        ipcbus_renderer_unref(r);
        assert_bus_usable(elsewhere);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_main_add_bus_same_loop, setup_bus_only, teardown),
                cmocka_unit_test_setup_teardown(test_main_add_bus_unattached, setup_bus_only, teardown),
                cmocka_unit_test_setup_teardown(test_main_add_bus_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_add_bus, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
