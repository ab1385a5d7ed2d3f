/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The defects of issue 8, each shown by the test that failed before: a
 * borrowed bus stays the caller's, a detach overtakes an Attach in flight,
 * a main whose bus dies under an owner check frees everything, and a web
 * contents outliving its main says so instead of pointing at freed memory.
 * Run under ASan (leak detection on) for the last two to mean anything.
 * Those whose failure has to be injected are in test-faults.c.
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

#define WAIT_MS 10000
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

/* Whether the test main lists a renderer of @name. */
static bool main_lists(ipcbus_renderer *r, const char *name) {
        g_autoptr(GVariant) ids = NULL;
        GVariantIter it;
        const char *n;
        uint64_t id;
        bool found = false;

        assert_int_equal(ipcbus_renderer_invoke_sync(r, "ids", NULL, 0, NULL, &ids), 0);
        g_variant_iter_init(&it, ids);
        while (g_variant_iter_next(&it, "(t&s)", &id, &n))
                if (strcmp(n, name) == 0)
                        found = true;
        return found;
}

/* Defect 3: Attach and Detach queued before the main is there. */
static void test_detach_overtakes_queued_attach(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = new_renderer(h);
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *probe = NULL;

        assert_int_equal(ipcbus_renderer_open_address(r, test_bus_get_address(h->bus)), 0);
        assert_false(ipcbus_renderer_has_main(r));
        assert_int_equal(ipcbus_renderer_attach(r, "overtaken"), 0);
        assert_int_equal(ipcbus_renderer_detach(r), 0);

        harness_start_main(h);
        /* A round trip on the same connection: whatever was queued went out
         * before, and its answers came back. */
        assert_false(main_lists(r, "overtaken"));
        assert_int_equal(ipcbus_renderer_get_id(r), 0);
        probe = harness_renderer(h, NULL);
        assert_false(main_lists(probe, "overtaken"));
        assert_int_equal(ipcbus_renderer_get_id(r), 0);
}

/* Defect 3: both sent, the Attach still unanswered when Detach goes. */
static void test_detach_while_attach_in_flight(void **state) {
        harness *h = *state;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = harness_renderer(h, NULL);

        /* The main is known once a first call came back. */
        assert_false(main_lists(r, "in-flight"));
        assert_int_equal(ipcbus_renderer_attach(r, "in-flight"), 0);
        assert_int_equal(ipcbus_renderer_detach(r), 0);
        assert_false(main_lists(r, "in-flight"));
        assert_int_equal(ipcbus_renderer_get_id(r), 0);
        /* The Attach's reply is in by now; one more trip to be sure. */
        assert_false(main_lists(r, "in-flight"));
        assert_int_equal(ipcbus_renderer_get_id(r), 0);
}

typedef struct attach_watch {
        harness *h;
        bool attached;
        bool kill_bus;          /* kill the bus daemon from on_attached */
        ipcbus_web_contents *wc;
} attach_watch;

static void on_attached(ipcbus_main *m, ipcbus_web_contents *wc, void *userdata) {
        attach_watch *w = userdata;

        w->attached = true;
        if (!w->wc)
                w->wc = ipcbus_web_contents_ref(wc);
        /* The owner check of this new peer is under way now. */
        if (w->kill_bus)
                w->h->bus = test_bus_free(w->h->bus);
}

/* Defect 4: the bus dies while the owner check of a new peer is in flight;
 * under ASan, nothing of the main, its peers or its bus may leak. */
static void bus_dies_under_owner_check(harness *h, bool from_callback) {
        attach_watch w = { .h = h, .kill_bus = from_callback };
        ipcbus_renderer *r = NULL;
        ipcbus_main *m = new_main(h, TEST_MAIN_NAME);

        assert_int_equal(ipcbus_main_set_exit_on_bus_closed(m, false), 0);
        assert_int_equal(ipcbus_main_on_attached(m, NULL, on_attached, &w), 0);
        assert_int_equal(ipcbus_main_open_address(m, test_bus_get_address(h->bus)), 0);
        r = new_renderer(h);
        assert_int_equal(ipcbus_renderer_open_address(r, test_bus_get_address(h->bus)), 0);
        assert_int_equal(ipcbus_renderer_attach(r, "doomed"), 0);
        assert_true(harness_run_until(h, &w.attached, WAIT_MS));
        if (!from_callback)
                h->bus = test_bus_free(h->bus);
        /* Let both ends see the bus go. */
        for (int i = 0; i < 20; i++)
                assert_true(sd_event_run(h->event, 10000) >= 0);
        ipcbus_renderer_unref(r);
        ipcbus_main_unref(m);
        assert_null(ipcbus_web_contents_get_main(w.wc));
        ipcbus_web_contents_unref(w.wc);
}

static void test_bus_dies_in_attach(void **state) {
        bus_dies_under_owner_check(*state, true);
}

static void test_bus_dies_after_attach(void **state) {
        bus_dies_under_owner_check(*state, false);
}

/* Defect 5: a web contents kept past its main. */
static void test_web_contents_outlives_main(void **state) {
        harness *h = *state;
        attach_watch w = { .h = h };
        result res = { 0 };
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        ipcbus_main *m = new_main(h, TEST_MAIN_NAME);

        assert_int_equal(ipcbus_main_on_attached(m, NULL, on_attached, &w), 0);
        assert_int_equal(ipcbus_main_open_address(m, test_bus_get_address(h->bus)), 0);
        r = new_renderer(h);
        assert_int_equal(ipcbus_renderer_open_address(r, test_bus_get_address(h->bus)), 0);
        assert_int_equal(ipcbus_renderer_attach(r, "orphan"), 0);
        assert_true(harness_run_until(h, &w.attached, WAIT_MS));
        assert_ptr_equal(ipcbus_web_contents_get_main(w.wc), m);

        ipcbus_main_unref(m);
        assert_null(ipcbus_web_contents_get_main(w.wc));
        assert_false(ipcbus_web_contents_is_attached(w.wc));
        assert_int_equal(ipcbus_web_contents_send(w.wc, "orphaned", NULL), -ENOTCONN);
        assert_int_equal(ipcbus_web_contents_post_message(w.wc, "orphaned", g_variant_new_string("x"), NULL, 0),
                         -ENOTCONN);
        assert_int_equal(ipcbus_web_contents_invoke(w.wc, NULL, "orphaned", NULL, 0, result_collect, &res), -ENOTCONN);
        assert_false(res.done);
        ipcbus_web_contents_unref(w.wc);
}

/* A "main" that answers Invoke with a string instead of a variant. */
static int fake_invoke(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "s", "not a variant");
}

static const sd_bus_vtable fake_main_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Invoke", "sav", "s", fake_invoke, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* Issue 10's hostile input: a result of the wrong type is refused with a
 * message that says what was expected (it said "No such device or address"). */
static void test_wrong_result_type_says_what_was_expected(void **state) {
        harness *h = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *fake = NULL;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        result res = {};

        assert_int_equal(test_bus_connect(h->bus, &fake), 0);
        assert_int_equal(sd_bus_add_object_vtable(fake, NULL, "/org/ipcbus/Fake", IPCBUS_INTERFACE_MAIN,
                                                  fake_main_vtable, NULL),
                         0);
        assert_true(sd_bus_request_name(fake, "org.ipcbus.Fake", 0) >= 0);
        assert_int_equal(sd_bus_attach_event(fake, h->event, 0), 0);

        assert_int_equal(ipcbus_renderer_new(&r, "org.ipcbus.Fake"), 0);
        assert_int_equal(ipcbus_renderer_attach_event(r, h->event, 0), 0);
        assert_int_equal(ipcbus_renderer_open_address(r, test_bus_get_address(h->bus)), 0);
        assert_int_equal(ipcbus_renderer_invoke(r, NULL, "any", NULL, 0, result_collect, &res), 0);
        assert_true(harness_run_until(h, &res.done, WAIT_MS));
        assert_string_equal(res.error_name, "org.freedesktop.DBus.Error.InvalidArgs");
        assert_string_equal(res.error_message, "The result must be one variant (signature 'v'), not 's'");
        result_clear(&res);
        (void)sd_bus_detach_event(fake);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_main_add_bus_same_loop, setup_bus_only, teardown),
                cmocka_unit_test_setup_teardown(test_main_add_bus_unattached, setup_bus_only, teardown),
                cmocka_unit_test_setup_teardown(test_main_add_bus_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renderer_add_bus, setup, teardown),
                cmocka_unit_test_setup_teardown(test_detach_overtakes_queued_attach, setup_bus_only, teardown),
                cmocka_unit_test_setup_teardown(test_detach_while_attach_in_flight, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bus_dies_in_attach, setup_bus_only, teardown),
                cmocka_unit_test_setup_teardown(test_bus_dies_after_attach, setup_bus_only, teardown),
                cmocka_unit_test_setup_teardown(test_web_contents_outlives_main, setup_bus_only, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_result_type_says_what_was_expected, setup_bus_only,
                                                teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
