/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * MessagePorts: order, queue before start, every value kind, transfer
 * refusals, ports through ports (in one process and across three), close
 * (by close(), by the last reference, by SIGKILL), errors instead of
 * SIGPIPE, 256 MiB messages, the size limit, and frames from a hostile peer
 * written raw into the socket. Children are forked with tests/util's
 * test_process; nothing sleeps: every wait runs the event loop until a
 * condition holds, with a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <ipcbus/ipcbus.h>

#include "ipcbus-glib.h"
#include "port-frame.h"
#include "port-test-util.h"
#include "port.h"
#include "test-process.h"

/* Posts @first, @first + 1, ... on @p until some wait in its queue (the
 * socket is full; how many that takes depends on the socket buffers), then
 * @extra more. Return: how many were posted. */
static int32_t post_past_socket(ipcbus_port *p, int32_t first, int32_t extra) {
        int32_t n = 0;

        while (port_queued(p) == 0) {
                assert_int_equal(post_int(p, first + n), 0);
                n++;
                assert_true(n < 10 * 1000 * 1000);
        }
        for (int32_t i = 0; i < extra; i++, n++)
                assert_int_equal(post_int(p, first + n), 0);
        assert_true(port_queued(p) > 0);
        return n;
}

/* ---- in one process ------------------------------------------------------- */

static void test_port_order(void **state) {
        ipcbus_port *p1, *p2;
        sd_event *e;
        inbox in;
        int32_t n;

        inbox_init(&in);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        inbox_listen(&in, p2);
        assert_int_equal(ipcbus_port_start(p2), 0);

        /* More than the socket holds: the rest waits in p1's queue. */
        n = post_past_socket(p1, 0, 500);
        RUN_UNTIL(e, in.values->len == (unsigned)n);
        for (int32_t i = 0; i < n; i++)
                assert_int_equal(inbox_int(&in, (unsigned)i), i);
        assert_int_equal(in.closes, 0);

        ipcbus_port_unref(p1);
        RUN_UNTIL(e, in.closes == 1);
        ipcbus_port_unref(p2);
        inbox_clear(&in);
        sd_event_unref(e);
}

static void test_port_queued_before_start(void **state) {
        ipcbus_port *p1, *p2;
        sd_event *e;
        inbox in;

        inbox_init(&in);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        inbox_listen(&in, p2);

        for (int32_t i = 0; i < 500; i++)
                assert_int_equal(post_int(p1, i), 0);
        pt_run_idle(e);
        assert_int_equal(in.values->len, 0);

        assert_int_equal(ipcbus_port_start(p2), 0);
        assert_int_equal(ipcbus_port_start(p2), 0);
        RUN_UNTIL(e, in.values->len == 500);
        for (unsigned i = 0; i < 500; i++)
                assert_int_equal(inbox_int(&in, i), (int32_t)i);

        ipcbus_port_unref(p1);
        ipcbus_port_unref(p2);
        inbox_clear(&in);
        sd_event_unref(e);
}

static GVariant *av(GVariant *first, ...) G_GNUC_NULL_TERMINATED;
static GVariant *av(GVariant *first, ...) {
        GVariantBuilder b;
        va_list ap;

        g_variant_builder_init(&b, G_VARIANT_TYPE("av"));
        va_start(ap, first);
        for (GVariant *v = first; v; v = va_arg(ap, GVariant *))
                g_variant_builder_add_value(&b, g_variant_new_variant(v));
        va_end(ap);
        return g_variant_builder_end(&b);
}

/* Every row of docs/values.md. */
static GPtrArray *value_kinds(void) {
        GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
        static const uint8_t bytes[] = { 0, 1, 2, 255 };
        static const int32_t ints[] = { -1, 0, 7 };
        GVariantBuilder b;

#define ADD(v) g_ptr_array_add(a, g_variant_ref_sink(v))
        ADD(g_variant_new_string("héllo"));
        ADD(g_variant_new_string(""));
        ADD(g_variant_new_double(3.5));
        ADD(g_variant_new_double(NAN));
        ADD(g_variant_new_double(-INFINITY));
        ADD(g_variant_new_double(-0.0));
        ADD(g_variant_new_byte(7));
        ADD(g_variant_new_int16(-3));
        ADD(g_variant_new_uint16(3));
        ADD(g_variant_new_int32(3));
        ADD(g_variant_new_uint32(4));
        ADD(g_variant_new_int64(INT64_MIN));
        ADD(g_variant_new_uint64(UINT64_MAX));
        ADD(ipcbus_value_new_bigint("123456789012345678901234567890"));
        ADD(g_variant_new_boolean(TRUE));
        ADD(ipcbus_value_null());
        ADD(ipcbus_value_undefined());
        ADD(av(g_variant_new_double(1.0), g_variant_new_string("two"), ipcbus_value_null(), NULL));
        ADD(g_variant_new_strv((const char *const[]){ "a", "b" }, 2));
        ADD(g_variant_new_fixed_array(G_VARIANT_TYPE_INT32, ints, G_N_ELEMENTS(ints), sizeof(int32_t)));
        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&b, "{sv}", "name", g_variant_new_string("Ada"));
        g_variant_builder_add(&b, "{sv}", "age", g_variant_new_double(36));
        ADD(g_variant_builder_end(&b));
        g_variant_builder_init(&b, G_VARIANT_TYPE("a(vv)"));
        g_variant_builder_add(&b, "(vv)", g_variant_new_string("key"), g_variant_new_double(1));
        ADD(ipcbus_value_new_map(g_variant_builder_end(&b)));
        ADD(ipcbus_value_new_set(av(g_variant_new_double(1), g_variant_new_string("one"), NULL)));
        ADD(g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, bytes, sizeof(bytes), 1));
        ADD(ipcbus_value_new_array_buffer(bytes, sizeof(bytes)));
        ADD(ipcbus_value_new_date(1700000000000.0));
        ADD(ipcbus_value_new_regexp("^a+$", "gi"));
        ADD(ipcbus_value_new_error("TypeError", "bad thing"));
        ADD(g_variant_new("(si)", "a", 1));
        g_variant_builder_init(&b, G_VARIANT_TYPE("a{is}"));
        g_variant_builder_add(&b, "{is}", 1, "one");
        ADD(g_variant_builder_end(&b));
        ADD(g_variant_new_object_path("/org/ipcbus/Demo"));
        ADD(g_variant_new_signature("a{sv}"));
        ADD(g_variant_new_variant(g_variant_new_variant(g_variant_new_int32(3))));
#undef ADD
        return a;
}

static void test_port_value_kinds(void **state) {
        g_autoptr(GPtrArray) kinds = value_kinds();
        ipcbus_port *p1, *p2;
        sd_event *e;
        inbox in;

        inbox_init(&in);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        inbox_listen(&in, p2);
        assert_int_equal(ipcbus_port_start(p2), 0);

        for (unsigned i = 0; i < kinds->len; i++)
                assert_int_equal(ipcbus_port_post_message(p1, g_ptr_array_index(kinds, i), NULL, 0), 0);
        RUN_UNTIL(e, in.values->len == kinds->len);
        for (unsigned i = 0; i < kinds->len; i++) {
                GVariant *sent = g_ptr_array_index(kinds, i), *got = g_ptr_array_index(in.values, i);

                assert_string_equal(g_variant_get_type_string(got), g_variant_get_type_string(sent));
                if (!g_variant_equal(sent, got))
                        fail_msg("value %u changed on the way", i);
                assert_int_equal(ipcbus_value_get_kind(got), ipcbus_value_get_kind(sent));
        }

        ipcbus_port_unref(p1);
        ipcbus_port_unref(p2);
        inbox_clear(&in);
        sd_event_unref(e);
}

/* The fast normal-form check agrees with GLib's on values whose offsets
 * take 1, 2 and 4 bytes (tests/fuzz compares them on small inputs). */
static void test_port_normal_form(void **state) {
        g_autoptr(GPtrArray) values = value_kinds();
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
        for (unsigned i = 0; i < 20000; i++)
                g_variant_builder_add(&b, "s", i % 7 ? "x" : "a longer string");
        g_ptr_array_add(values, g_variant_ref_sink(g_variant_builder_end(&b)));
        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        for (unsigned i = 0; i < 300; i++) {
                g_autofree char *key = g_strdup_printf("key %u", i);

                g_variant_builder_add(&b, "{sv}", key,
                                      i % 2 ? g_variant_new_int32(i) : g_variant_new_string(key));
        }
        g_ptr_array_add(values,
                        g_variant_ref_sink(g_variant_new("(s@a{sv}s)", "a", g_variant_builder_end(&b), "z")));
        g_ptr_array_add(values, g_variant_ref_sink(g_variant_new("(sas)", "", NULL)));

        for (unsigned i = 0; i < values->len; i++) {
                GVariant *v = g_ptr_array_index(values, i);
                uint64_t size = port_frame_payload_size(v);
                g_autofree uint8_t *buf = g_malloc(size);
                g_autoptr(GBytes) payload = NULL;
                g_autoptr(GVariant) boxed = NULL;

                port_frame_payload_write(v, buf);
                payload = g_bytes_new(buf, size);
                boxed = g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE_VARIANT, payload, FALSE));
                assert_true(g_variant_is_normal_form(boxed));
                assert_true(port_frame_is_normal(payload));

                /* Every single-byte change: the same verdict as GLib. */
                for (size_t at = 0; at < size && size < 4096; at++) {
                        g_autoptr(GBytes) bad = NULL;
                        g_autoptr(GVariant) bad_boxed = NULL;

                        buf[at] ^= 0x01;
                        bad = g_bytes_new(buf, size);
                        bad_boxed = g_variant_ref_sink(
                                g_variant_new_from_bytes(G_VARIANT_TYPE_VARIANT, bad, FALSE));
                        if (port_frame_is_normal(bad) && !g_variant_is_normal_form(bad_boxed))
                                fail_msg("value %u, byte %zu: accepted what GLib calls not normal", i, at);
                        buf[at] ^= 0x01;
                }
        }
}

static void test_port_transfer_errors(void **state) {
        ipcbus_port *p1, *p2, *q1, *q2, *c1, *c2, *t1, *t2, *many[IPCBUS_PORT_TRANSFER_MAX + 1];
        uint32_t not_a_port[16] = { 0 };
        logbook l = { g_string_new(NULL) };
        sd_event *e;
        inbox in;
        int fd;

        inbox_init(&in);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &q1, &q2), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &c1, &c2), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &t1, &t2), 0);
        assert_int_equal(ipcbus_port_set_log_function(p1, logbook_fn, &l), 0);
        inbox_listen(&in, p2);
        assert_int_equal(ipcbus_port_start(p2), 0);

        assert_int_equal(ipcbus_port_close(c1), 0);
        assert_int_equal(port_transfer_take_fd(t1, &fd), 0);
        assert_int_equal(close(fd), 0);
        assert_true(ipcbus_port_is_closed(t1));

#define REFUSED(r, text, ...) \
        do { \
                ipcbus_port *_list[] = { __VA_ARGS__ }; \
                assert_int_equal(ipcbus_port_post_message(p1, g_variant_new_int32(-1), _list, \
                                                          G_N_ELEMENTS(_list)), \
                                 r); \
                assert_logged(&l, text); \
        } while (0)

        REFUSED(-EINVAL, "Port at index 0 is not a port.", NULL);
        REFUSED(-EINVAL, "Port at index 1 is not a port.", q1, (ipcbus_port *)not_a_port);
        REFUSED(-EINVAL, "Port at index 0 contains the source port.", p1);
        REFUSED(-EINVAL, "Port at index 1 is the other end of the source port.", q1, p2);
        REFUSED(-EINVAL, "Port at index 2 is a duplicate of an earlier port.", q1, q2, q1);
        REFUSED(-EINVAL, "Port at index 0 is closed.", c1);
        REFUSED(-EINVAL, "Port at index 1 is already neutered.", q2, t1);
#undef REFUSED

        for (size_t i = 0; i < G_N_ELEMENTS(many); i++)
                many[i] = q1;
        assert_int_equal(ipcbus_port_post_message(p1, g_variant_new_int32(-1), many, G_N_ELEMENTS(many)),
                         -EINVAL);
        assert_logged(&l, "one message carries at most 252");
        assert_int_equal(ipcbus_port_post_message(p1, g_variant_new_int32(-1), NULL, 1), -EINVAL);
        assert_logged(&l, "Transfer list is NULL");

        /* Values: the channels' rules. */
        assert_int_equal(ipcbus_port_post_message(p1, g_variant_new_maybe(G_VARIANT_TYPE_INT32, NULL), NULL, 0),
                         -EINVAL);
        assert_logged(&l, "An object could not be cloned: value: type 'mi' has a maybe type");
        assert_int_equal(ipcbus_port_post_message(p1, g_variant_new_handle(0), NULL, 0), -EINVAL);
        assert_logged(&l, "file descriptors travel only as MessagePort transfers");
        assert_int_equal(ipcbus_port_post_message(p1, NULL, NULL, 0), -EINVAL);
        assert_logged(&l, "the message is NULL");
        assert_int_equal(ipcbus_port_post_message(NULL, g_variant_new_int32(1), NULL, 0), -EINVAL);

        /* Nothing of that was sent, and every port is as it was. */
        assert_false(ipcbus_port_is_closed(p1));
        assert_false(ipcbus_port_is_closed(q1));
        assert_false(ipcbus_port_is_closed(q2));
        assert_int_equal(post_int(p1, 42), 0);
        RUN_UNTIL(e, in.values->len == 1);
        pt_run_idle(e);
        assert_int_equal(in.values->len, 1);
        assert_int_equal(inbox_int(&in, 0), 42);
        assert_int_equal(in.ports->len, 0);

        /* And a good list goes through: both ends of another channel. */
        assert_int_equal(ipcbus_port_post_message(p1, g_variant_new_int32(43), (ipcbus_port *[]){ q1, q2 }, 2),
                         0);
        assert_true(ipcbus_port_is_closed(q1));
        assert_int_equal(ipcbus_port_post_message(q1, g_variant_new_int32(1), NULL, 0), -EBADF);
        assert_int_equal(ipcbus_port_start(q1), -EBADF);
        assert_int_equal(ipcbus_port_close(q1), -EBADF);
        RUN_UNTIL(e, in.values->len == 2);
        assert_int_equal(in.ports->len, 2);
        assert_int_equal(post_int(g_ptr_array_index(in.ports, 0), 44), 0);

        ipcbus_port_unref(p1);
        ipcbus_port_unref(p2);
        ipcbus_port_unref(q1);
        ipcbus_port_unref(q2);
        ipcbus_port_unref(c1);
        ipcbus_port_unref(c2);
        ipcbus_port_unref(t1);
        ipcbus_port_unref(t2);
        inbox_clear(&in);
        g_string_free(l.text, TRUE);
        sd_event_unref(e);
}

/*
 * A port through a port in one process, with messages queued on it both
 * ways: q2's unread messages sit in q1's socket, q1's unwritten ones in q1's
 * queue (q2 is not reading), so q1 travels in a handover.
 */
static void test_port_through_port(void **state) {
        ipcbus_port *pa, *pb, *q1, *q2, *r;
        sd_event *e;
        inbox at_b, at_q2, at_r;
        int32_t n;

        inbox_init(&at_b);
        inbox_init(&at_q2);
        inbox_init(&at_r);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &pa, &pb), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &q1, &q2), 0);
        inbox_listen(&at_b, pb);
        inbox_listen(&at_q2, q2);
        assert_int_equal(ipcbus_port_start(pb), 0);

        for (int32_t i = 0; i < 3; i++)
                assert_int_equal(post_int(q2, 100 + i), 0);
        n = post_past_socket(q1, 0, 500);
        assert_int_equal(ipcbus_port_post_message(pa, g_variant_new_string("take q1"), &q1, 1), 0);
        assert_true(ipcbus_port_is_closed(q1));
        assert_int_equal(post_int(q2, 103), 0);

        RUN_UNTIL(e, at_b.values->len == 1);
        assert_string_equal(inbox_str(&at_b, 0), "take q1");
        assert_int_equal(at_b.ports->len, 1);
        r = ipcbus_port_ref(g_ptr_array_index(at_b.ports, 0));
        inbox_listen(&at_r, r);
        assert_int_equal(ipcbus_port_start(r), 0);
        assert_int_equal(ipcbus_port_start(q2), 0);
        assert_int_equal(post_int(r, n), 0);

        RUN_UNTIL(e, at_r.values->len == 4 && at_q2.values->len == (unsigned)n + 1);
        for (unsigned i = 0; i < 4; i++)
                assert_int_equal(inbox_int(&at_r, i), 100 + (int32_t)i);
        for (int32_t i = 0; i <= n; i++)
                assert_int_equal(inbox_int(&at_q2, (unsigned)i), i);

        assert_int_equal(ipcbus_port_close(r), 0);
        RUN_UNTIL(e, at_q2.closes == 1);
        assert_int_equal(at_r.closes, 0);
        ipcbus_port_unref(r);

        ipcbus_port_unref(pa);
        ipcbus_port_unref(pb);
        ipcbus_port_unref(q1);
        ipcbus_port_unref(q2);
        inbox_clear(&at_b);
        inbox_clear(&at_q2);
        inbox_clear(&at_r);
        sd_event_unref(e);
}

/* What Channel1.PostMessage does with a port: take its fd, make a port of it. */
static void test_port_take_fd(void **state) {
        ipcbus_port *q1, *q2, *r;
        inbox at_q2, at_r;
        sd_event *e;
        int32_t n;
        int fd;

        inbox_init(&at_q2);
        inbox_init(&at_r);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &q1, &q2), 0);
        inbox_listen(&at_q2, q2);

        /* No queue: the socket itself. */
        assert_int_equal(port_transfer_take_fd(q1, &fd), 0);
        assert_true(port_frame_fd_is_port(fd));
        assert_int_equal(port_transfer_take_fd(q1, &fd), -EBADF);
        assert_int_equal(port_new_from_fd(e, 0, fd, &r), 0);
        ipcbus_port_unref(q1);

        /* A queue: a handover, twice over. */
        n = post_past_socket(r, 0, 100);
        assert_int_equal(port_transfer_take_fd(r, &fd), 0);
        ipcbus_port_unref(r);
        assert_int_equal(port_new_from_fd(e, 0, fd, &r), 0);
        assert_true(port_queued(r) > 100);
        assert_int_equal(post_int(r, n), 0);
        assert_int_equal(port_transfer_take_fd(r, &fd), 0);
        ipcbus_port_unref(r);
        assert_int_equal(port_new_from_fd(e, 0, fd, &r), 0);
        assert_int_equal(post_int(r, n + 1), 0);
        inbox_listen(&at_r, r);
        assert_int_equal(ipcbus_port_start(r), 0);
        assert_int_equal(post_int(q2, -1), 0);

        assert_int_equal(ipcbus_port_start(q2), 0);
        RUN_UNTIL(e, at_q2.values->len == (unsigned)n + 2 && at_r.values->len == 1);
        for (int32_t i = 0; i < n + 2; i++)
                assert_int_equal(inbox_int(&at_q2, (unsigned)i), i);
        assert_int_equal(inbox_int(&at_r, 0), -1);

        /* Not a port. */
        assert_int_equal(port_new_from_fd(e, 0, open("/dev/null", O_RDONLY | O_CLOEXEC), &r), -ENOTSOCK);

        ipcbus_port_unref(r);
        ipcbus_port_unref(q2);
        inbox_clear(&at_q2);
        inbox_clear(&at_r);
        sd_event_unref(e);
}

static void test_port_close_once(void **state) {
        for (unsigned how = 0; how < 4; how++) {
                bool started = how & 1, by_unref = how & 2;
                ipcbus_port *p1, *p2;
                sd_event *e;
                inbox in;

                inbox_init(&in);
                assert_int_equal(sd_event_new(&e), 0);
                assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
                inbox_listen(&in, p2);
                if (started)
                        assert_int_equal(ipcbus_port_start(p2), 0);
                pt_run_idle(e);

                if (by_unref)
                        ipcbus_port_unref(p1);
                else {
                        assert_int_equal(ipcbus_port_close(p1), 0);
                        assert_int_equal(ipcbus_port_close(p1), 0);
                        assert_true(ipcbus_port_is_closed(p1));
                        assert_int_equal(post_int(p1, 1), -EBADF);
                        assert_int_equal(ipcbus_port_start(p1), -EBADF);
                }
                RUN_UNTIL(e, in.closes == 1);
                pt_run_idle(e);
                assert_int_equal(in.closes, 1);
                assert_true(ipcbus_port_is_closed(p2));
                assert_null(ipcbus_port_get_close_error(p2));
                assert_int_equal(post_int(p2, 1), -EPIPE);

                if (!by_unref)
                        ipcbus_port_unref(p1);
                ipcbus_port_unref(p2);
                inbox_clear(&in);
                sd_event_unref(e);
        }
}

/* Posted, then closed: an unstarted receiver sees close at once and the
 * messages when it starts; a started one the messages, then close. */
static void test_port_close_keeps_messages(void **state) {
        ipcbus_port *p1, *p2;
        sd_event *e;
        inbox in;
        int32_t n;

        inbox_init(&in);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        inbox_listen(&in, p2);
        for (int32_t i = 0; i < 3; i++)
                assert_int_equal(post_int(p1, i), 0);
        assert_int_equal(ipcbus_port_close(p1), 0);
        RUN_UNTIL(e, in.closes == 1);
        assert_int_equal(in.values->len, 0);
        assert_int_equal(ipcbus_port_start(p2), 0);
        RUN_UNTIL(e, in.values->len == 3);
        pt_run_idle(e);
        assert_int_equal(in.closes, 1);
        assert_int_equal(post_int(p2, 1), -EPIPE);
        ipcbus_port_unref(p1);
        ipcbus_port_unref(p2);
        inbox_clear(&in);

        /* More than the socket holds, then close: the rest lingers until written. */
        inbox_init(&in);
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        inbox_listen(&in, p2);
        n = post_past_socket(p1, 0, 100);
        ipcbus_port_unref(p1);
        pt_run_idle(e);
        assert_int_equal(in.closes, 0);
        assert_int_equal(ipcbus_port_start(p2), 0);
        RUN_UNTIL(e, in.closes == 1);
        assert_int_equal(in.values->len, (unsigned)n);
        for (int32_t i = 0; i < n; i++)
                assert_int_equal(inbox_int(&in, (unsigned)i), i);
        ipcbus_port_unref(p2);
        inbox_clear(&in);

        /* A loop freed while a port lingers takes the linger with it. */
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        (void)post_past_socket(p1, 0, 100);
        ipcbus_port_unref(p1);
        ipcbus_port_unref(p2);
        sd_event_unref(e);
}

static void test_port_message_max(void **state) {
        g_autofree GVariant **children = g_new(GVariant *, 1025);
        g_autofree uint8_t *mib = g_malloc0(1024 * 1024);
        logbook l = { g_string_new(NULL) };
        GVariant *one, *huge;
        ipcbus_port *p1, *p2;
        sd_event *e;
        inbox in;

        /* 1025 references to one 1 MiB array: over 1 GiB, no memory to speak of. */
        one = g_variant_ref_sink(g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, mib, 1024 * 1024, 1));
        for (unsigned i = 0; i < 1025; i++)
                children[i] = one;
        huge = g_variant_ref_sink(g_variant_new_array(NULL, children, 1025));

        inbox_init(&in);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        assert_int_equal(ipcbus_port_set_log_function(p1, logbook_fn, &l), 0);
        inbox_listen(&in, p2);
        assert_int_equal(ipcbus_port_start(p2), 0);

        assert_int_equal(ipcbus_port_post_message(p1, huge, NULL, 0), -EMSGSIZE);
        assert_logged(&l, "exceeds the limit of 1073741824 bytes");
        assert_false(ipcbus_port_is_closed(p1));
        /* Over the channels' 31 MiB is fine on a port. */
        assert_int_equal(ipcbus_port_post_message(p1, g_variant_new_array(NULL, children, 40), NULL, 0), 0);
        assert_int_equal(post_int(p1, 7), 0);
        RUN_UNTIL(e, in.values->len == 2);
        assert_int_equal(g_variant_n_children(g_ptr_array_index(in.values, 0)), 40);
        assert_int_equal(inbox_int(&in, 1), 7);

        g_variant_unref(huge);
        g_variant_unref(one);
        ipcbus_port_unref(p1);
        ipcbus_port_unref(p2);
        inbox_clear(&in);
        g_string_free(l.text, TRUE);
        sd_event_unref(e);
}

/* ---- frames from a hostile peer ------------------------------------------- */

static void send_raw(int fd, const void *data, size_t size, const int *fds, size_t n_fds) {
        struct iovec iov = { .iov_base = (void *)data, .iov_len = size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        pt_fds_control control;

        pt_attach_fds(&mh, &control, fds, n_fds);
        assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)size);
}

/* A frame as docs/ports.md spells it, byte by byte. */
static size_t frame(uint8_t *buf, uint32_t magic, uint8_t version, uint8_t type, uint8_t flags,
                    uint8_t n_ports, uint64_t size, const void *payload, size_t payload_len) {
        pt_frame_header(buf, magic, version, type, flags, n_ports, size);
        if (payload_len)
                memcpy(buf + 16, payload, payload_len);
        return 16 + payload_len;
}

static int memfd_with(const void *data, size_t size, unsigned seals) {
        int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t)size);
        if (seals)
                assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
        return fd;
}

typedef enum bad_kind {
        BAD_MAGIC,
        BAD_VERSION,
        BAD_FLAGS,
        BAD_TYPE,
        BAD_TRUNCATED,
        BAD_EMPTY,
        BAD_SIZE_MISMATCH,
        BAD_PORTS_WITHOUT_FDS,
        BAD_FDS_WITHOUT_PORTS,
        BAD_HUGE_SIZE,
        BAD_TOO_LONG,
        BAD_NOT_NORMAL,
        BAD_MAYBE,
        BAD_HANDLE,
        BAD_MEMFD_UNSEALED,
        BAD_MEMFD_WRITABLE,
        BAD_MEMFD_SIZE,
        BAD_MEMFD_PIPE,
        BAD_PORT_IS_PIPE,
        BAD_FDS_FRAME,
        BAD_HANDOVER_PORT,
        _BAD_MAX,
} bad_kind;

/* Writes one bad frame into @fd. */
static void send_bad(int fd, bad_kind kind) {
        g_autoptr(GVariant) good = g_variant_ref_sink(g_variant_new_variant(g_variant_new_int32(5)));
        g_autoptr(GVariant) maybe = g_variant_ref_sink(
                g_variant_new_variant(g_variant_new_maybe(NULL, g_variant_new_int32(5))));
        g_autoptr(GVariant) handle = g_variant_ref_sink(g_variant_new_variant(g_variant_new_handle(0)));
        const void *data = g_variant_get_data(good);
        size_t size = g_variant_get_size(good), n;
        static uint8_t buf[PORT_FRAME_DATAGRAM_MAX + 100];
        int fds[2], sv[2];

        switch (kind) {
        case BAD_MAGIC:
                n = frame(buf, 0x12345678, 1, 0, 0, 0, size, data, size);
                send_raw(fd, buf, n, NULL, 0);
                break;
        case BAD_VERSION:
                n = frame(buf, PORT_FRAME_MAGIC, 2, 0, 0, 0, size, data, size);
                send_raw(fd, buf, n, NULL, 0);
                break;
        case BAD_FLAGS:
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 0x80, 0, size, data, size);
                send_raw(fd, buf, n, NULL, 0);
                break;
        case BAD_TYPE:
                n = frame(buf, PORT_FRAME_MAGIC, 1, 9, 0, 0, size, data, size);
                send_raw(fd, buf, n, NULL, 0);
                break;
        case BAD_TRUNCATED:
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 0, 0, size, data, size);
                send_raw(fd, buf, 10, NULL, 0);
                break;
        case BAD_EMPTY:
                send_raw(fd, buf, 0, NULL, 0);
                break;
        case BAD_SIZE_MISMATCH:
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 0, 0, size + 100, data, size);
                send_raw(fd, buf, n, NULL, 0);
                break;
        case BAD_PORTS_WITHOUT_FDS:
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 0, 1, size, data, size);
                send_raw(fd, buf, n, NULL, 0);
                break;
        case BAD_FDS_WITHOUT_PORTS:
                assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 0, 0, size, data, size);
                send_raw(fd, buf, n, sv, 2);
                close(sv[0]);
                close(sv[1]);
                break;
        case BAD_HUGE_SIZE:
                fds[0] = memfd_with(data, size, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 1, 0, UINT64_MAX, NULL, 0);
                send_raw(fd, buf, n, fds, 1);
                close(fds[0]);
                break;
        case BAD_TOO_LONG:
                memset(buf, 0, sizeof(buf));
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 0, 0, sizeof(buf) - 16, NULL, 0);
                send_raw(fd, buf, sizeof(buf), NULL, 0);
                break;
        case BAD_NOT_NORMAL:
                /* A boolean of 2 inside a variant: GVariant reads it, normal form forbids it. */
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 0, 0, 3, "\x02\0b", 3);
                send_raw(fd, buf, n, NULL, 0);
                break;
        case BAD_MAYBE:
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 0, 0, g_variant_get_size(maybe),
                          g_variant_get_data(maybe), g_variant_get_size(maybe));
                send_raw(fd, buf, n, NULL, 0);
                break;
        case BAD_HANDLE:
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 0, 0, g_variant_get_size(handle),
                          g_variant_get_data(handle), g_variant_get_size(handle));
                send_raw(fd, buf, n, NULL, 0);
                break;
        case BAD_MEMFD_UNSEALED:
        case BAD_MEMFD_WRITABLE:
        case BAD_MEMFD_SIZE:
                fds[0] = memfd_with(data, size,
                                    kind == BAD_MEMFD_UNSEALED ? 0
                                            : kind == BAD_MEMFD_WRITABLE
                                            ? F_SEAL_SHRINK | F_SEAL_GROW
                                            : F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 1, 0, kind == BAD_MEMFD_SIZE ? size + 1 : size, NULL,
                          0);
                send_raw(fd, buf, n, fds, 1);
                close(fds[0]);
                break;
        case BAD_MEMFD_PIPE:
                assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 1, 0, size, NULL, 0);
                send_raw(fd, buf, n, fds, 1);
                close(fds[0]);
                close(fds[1]);
                break;
        case BAD_PORT_IS_PIPE:
                assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 0, 1, size, data, size);
                send_raw(fd, buf, n, fds, 1);
                close(fds[0]);
                close(fds[1]);
                break;
        case BAD_FDS_FRAME:
                assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
                n = frame(buf, PORT_FRAME_MAGIC, 1, 1, 0, 1, 0, NULL, 0);
                send_raw(fd, buf, n, sv, 1);
                close(sv[0]);
                close(sv[1]);
                break;
        case BAD_HANDOVER_PORT:
                /* A transferred port whose socket holds a handover with a bad bundle. */
                assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
                assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
                n = frame(buf, PORT_FRAME_MAGIC, 1, 2, 0, 1, 8, "garbage!", 8);
                send_raw(sv[1], buf, n, fds, 1);
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 0, 1, size, data, size);
                send_raw(fd, buf, n, sv, 1);
                close(sv[0]);
                close(sv[1]);
                close(fds[0]);
                close(fds[1]);
                break;
        case _BAD_MAX:
                fail();
        }
}

static void test_port_malformed_frames(void **state) {
        g_autoptr(GVariant) good = g_variant_ref_sink(g_variant_new_variant(g_variant_new_int32(5)));
        unsigned fds_before = pt_count_fds();
        uint8_t buf[64];
        sd_event *e;

        assert_int_equal(sd_event_new(&e), 0);

        for (bad_kind kind = 0; kind < _BAD_MAX; kind++) {
                logbook l = { g_string_new(NULL) };
                const sd_bus_error *error;
                ipcbus_port *p;
                inbox in;
                int sv[2];
                size_t n;

                inbox_init(&in);
                assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
                assert_int_equal(port_new_from_fd(e, 0, sv[0], &p), 0);
                assert_int_equal(ipcbus_port_set_log_function(p, logbook_fn, &l), 0);
                inbox_listen(&in, p);
                assert_int_equal(ipcbus_port_start(p), 0);

                /* A good frame, raw: the layout docs/ports.md gives. */
                n = frame(buf, PORT_FRAME_MAGIC, 1, 0, 0, 0, g_variant_get_size(good),
                          g_variant_get_data(good), g_variant_get_size(good));
                send_raw(sv[1], buf, n, NULL, 0);
                send_bad(sv[1], kind);

                RUN_UNTIL(e, in.closes == 1);
                assert_int_equal(in.values->len, 1);
                assert_int_equal(inbox_int(&in, 0), 5);
                assert_true(ipcbus_port_is_closed(p));
                error = ipcbus_port_get_close_error(p);
                assert_non_null(error);
                assert_string_equal(error->name, IPCBUS_ERROR_BAD_FRAME);
                assert_int_equal(sd_bus_error_get_errno(error), EBADMSG);
                print_message("bad frame %u: %s\n", kind, error->message);
                assert_logged(&l, "MessagePort closed: ");
                assert_int_equal(ipcbus_port_post_message(p, g_variant_new_int32(1), NULL, 0), -EBADF);

                /* The peer sees the port go. */
                assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 0);
                close(sv[1]);
                ipcbus_port_unref(p);
                inbox_clear(&in);
                g_string_free(l.text, TRUE);
        }

        /* A handover that arrives directly is refused whole. */
        {
                int sv[2], inner[2];
                ipcbus_port *p;

                assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
                assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, inner), 0);
                send_raw(sv[1], buf, frame(buf, PORT_FRAME_MAGIC, 1, 1, 0, 1, 0, NULL, 0), inner, 1);
                close(sv[1]);
                assert_int_equal(port_new_from_fd(e, 0, sv[0], &p), -EBADMSG);
                close(inner[0]);
                close(inner[1]);
        }

        /* No descriptor of any of it is left, and ports still work. */
        assert_int_equal(pt_count_fds(), fds_before + 1 /* the loop's epoll */);
        {
                ipcbus_port *p1, *p2;
                inbox in;

                inbox_init(&in);
                assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
                inbox_listen(&in, p2);
                assert_int_equal(ipcbus_port_start(p2), 0);
                assert_int_equal(post_int(p1, 9), 0);
                RUN_UNTIL(e, in.values->len == 1);
                ipcbus_port_unref(p1);
                ipcbus_port_unref(p2);
                inbox_clear(&in);
        }
        sd_event_unref(e);
}

/* ---- the GLib adapter drives ports too ----------------------------------- */

typedef struct glib_pingpong {
        GMainLoop *loop;
        ipcbus_port *a, *b;
        int32_t last;
} glib_pingpong;

static int pingpong_on_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n_ports,
                               void *userdata) {
        glib_pingpong *pp = userdata;
        int32_t x = g_variant_get_int32(data);

        pp->last = x;
        if (x == 200)
                g_main_loop_quit(pp->loop);
        else
                assert_int_equal(post_int(port, x + 1), 0);
        return 0;
}

static gboolean on_guard(gpointer userdata) {
        fail_msg("GLib loop timed out");
        return G_SOURCE_REMOVE;
}

static void test_port_glib_adapter(void **state) {
        GMainContext *context = g_main_context_new();
        glib_pingpong pp = { .loop = g_main_loop_new(context, FALSE) };
        GSource *source, *guard;
        sd_event *e;

        assert_int_equal(sd_event_new(&e), 0);
        source = ipcbus_glib_source_new(e);
        g_source_attach(source, context);
        guard = g_timeout_source_new_seconds(60);
        g_source_set_callback(guard, on_guard, NULL, NULL);
        g_source_attach(guard, context);

        assert_int_equal(ipcbus_message_channel_new(e, &pp.a, &pp.b), 0);
        assert_int_equal(ipcbus_port_on_message(pp.a, NULL, pingpong_on_message, &pp), 0);
        assert_int_equal(ipcbus_port_on_message(pp.b, NULL, pingpong_on_message, &pp), 0);
        assert_int_equal(ipcbus_port_start(pp.a), 0);
        assert_int_equal(ipcbus_port_start(pp.b), 0);
        assert_int_equal(post_int(pp.a, 0), 0);
        g_main_loop_run(pp.loop);
        assert_int_equal(pp.last, 200);

        ipcbus_port_unref(pp.a);
        ipcbus_port_unref(pp.b);
        g_source_destroy(guard);
        g_source_unref(guard);
        g_source_destroy(source);
        g_source_unref(source);
        g_main_loop_unref(pp.loop);
        g_main_context_unref(context);
        sd_event_unref(e);
}

/* ---- across processes ----------------------------------------------------- */

/* In a forked child: close every descriptor inherited from the test but
 * stdio and @keep, so that only the ports handed over stay open here. */
static void child_keep_only(const int *keep, size_t n) {
        int sorted[8];
        unsigned lo = 3;

        assert_true(n <= G_N_ELEMENTS(sorted));
        memcpy(sorted, keep, n * sizeof(int));
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        if (sorted[j] < sorted[i]) {
                                int t = sorted[i];
                                sorted[i] = sorted[j];
                                sorted[j] = t;
                        }
        for (size_t i = 0; i < n; i++) {
                if ((unsigned)sorted[i] > lo)
                        assert_int_equal(close_range(lo, (unsigned)sorted[i] - 1, 0), 0);
                lo = (unsigned)sorted[i] + 1;
        }
        assert_int_equal(close_range(lo, ~0U, 0), 0);
}

static void assert_sigpipe_default(void) {
        struct sigaction sa;

        /* SIGPIPE kills, as in any program that did not ask otherwise. */
        assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
        assert_ptr_equal(sa.sa_handler, SIG_DFL);
}

typedef struct holder_args {
        int fd;
} holder_args;

/* Holds one end and waits to be killed. */
static int child_hold(void *userdata) {
        holder_args *a = userdata;
        ipcbus_port *p;
        sd_event *e;

        child_keep_only(&a->fd, 1);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(port_new_from_fd(e, 0, a->fd, &p), 0);
        printf("ready\n");
        fflush(stdout);
        for (;;)
                assert_true(sd_event_run(e, UINT64_MAX) >= 0);
        return 0;
}

static void test_port_sigkill(void **state) {
        assert_sigpipe_default();

        for (unsigned started = 0; started < 2; started++) {
                _cleanup_(test_process_freep) test_process *child = NULL;
                holder_args args;
                ipcbus_port *p1, *p2;
                sd_event *e;
                inbox in;
                int status;

                inbox_init(&in);
                assert_int_equal(sd_event_new(&e), 0);
                assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
                inbox_listen(&in, p1);
                if (started)
                        assert_int_equal(ipcbus_port_start(p1), 0);
                assert_int_equal(port_transfer_take_fd(p2, &args.fd), 0);
                ipcbus_port_unref(p2);

                assert_int_equal(test_process_spawn(&child, child_hold, &args), 0);
                close(args.fd);
                assert_int_equal(test_process_wait_line(child, "ready", DEADLINE_USEC), 0);
                assert_int_equal(post_int(p1, 1), 0);

                assert_int_equal(test_process_kill(child, SIGKILL), 0);
                assert_int_equal(test_process_wait_exit(child, &status), 0);
                assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

                /* Before the loop noticed: the send itself fails, without SIGPIPE. */
                assert_int_equal(post_int(p1, 2), -EPIPE);
                assert_int_equal(post_int(p1, 3), -EPIPE);
                RUN_UNTIL(e, in.closes == 1);
                pt_run_idle(e);
                assert_int_equal(in.closes, 1);
                assert_true(ipcbus_port_is_closed(p1));
                assert_int_equal(post_int(p1, 4), -EPIPE);
                assert_int_equal(ipcbus_port_close(p1), 0);
                assert_int_equal(post_int(p1, 5), -EBADF);

                ipcbus_port_unref(p1);
                inbox_clear(&in);
                sd_event_unref(e);
        }
}

/* Two hops across three processes: A (the test) sends q1 to B over P, B
 * sends it on to C over R; C and A (holding q2) then talk. Before the hops
 * q2 posted more than a socket holds (half waits in A's queue) and so did q1
 * (all of it waits: q2 is not started), so q1 travels in handovers twice.
 * q1's first message is a 12 MiB chunked one, half written when q1 leaves:
 * its rest travels in both handovers, and C writes it. */
#define HOPS_N 600
/* Each message is padded to 8 KiB: 600 are more than any port socket holds
 * (ipcbus asks for 1 MiB of send buffer). */
#define HOPS_PAD 8192
static char hops_pad[HOPS_PAD + 1];

static void hops_pad_init(void) {
        memset(hops_pad, '.', HOPS_PAD);
        hops_pad[HOPS_PAD] = '\0';
}

typedef struct hop_args {
        int fds[2];
} hop_args;

typedef struct hop_b {
        ipcbus_port *forward_to;
        bool done;
} hop_b;

static int hop_b_on_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n_ports,
                            void *userdata) {
        hop_b *b = userdata;

        assert_int_equal(n_ports, 1);
        assert_int_equal(ipcbus_port_post_message(b->forward_to, g_variant_new_string("from B"), ports, 1), 0);
        assert_true(ipcbus_port_is_closed(ports[0]));
        b->done = true;
        return 0;
}

static int child_hop_b(void *userdata) {
        hop_args *a = userdata;
        ipcbus_port *pb, *rb;
        hop_b b = {};
        sd_event *e;

        child_keep_only(a->fds, 2);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(port_new_from_fd(e, 0, a->fds[0], &pb), 0);
        assert_int_equal(port_new_from_fd(e, 0, a->fds[1], &rb), 0);
        b.forward_to = rb;
        assert_int_equal(ipcbus_port_on_message(pb, NULL, hop_b_on_message, &b), 0);
        assert_int_equal(ipcbus_port_start(pb), 0);
        RUN_UNTIL(e, b.done);
        printf("forwarded\n");
        ipcbus_port_unref(pb);
        ipcbus_port_unref(rb);
        sd_event_unref(e);
        return 0;
}

static int child_hop_c(void *userdata) {
        hop_args *a = userdata;
        ipcbus_port *rc, *q;
        inbox at_rc, at_q;
        sd_event *e;

        child_keep_only(a->fds, 1);
        inbox_init(&at_rc);
        inbox_init(&at_q);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(port_new_from_fd(e, 0, a->fds[0], &rc), 0);
        inbox_listen(&at_rc, rc);
        assert_int_equal(ipcbus_port_start(rc), 0);
        RUN_UNTIL(e, at_rc.values->len == 1);
        assert_string_equal(inbox_str(&at_rc, 0), "from B");
        assert_int_equal(at_rc.ports->len, 1);
        q = ipcbus_port_ref(g_ptr_array_index(at_rc.ports, 0));
        inbox_listen(&at_q, q);
        assert_int_equal(ipcbus_port_start(q), 0);

        /* q2's messages from before the hops, then one from after them. */
        RUN_UNTIL(e, at_q.values->len == HOPS_N + 1);
        for (unsigned i = 0; i < HOPS_N; i++) {
                g_autofree char *want = g_strdup_printf("before %u%s", i, hops_pad);

                assert_string_equal(inbox_str(&at_q, i), want);
        }
        assert_string_equal(inbox_str(&at_q, HOPS_N), "after the hops");
        assert_int_equal(post_str(q, "from C"), 0);
        RUN_UNTIL(e, at_q.values->len == HOPS_N + 2);
        assert_string_equal(inbox_str(&at_q, HOPS_N + 1), "ack");
        printf("c ok\n");

        ipcbus_port_unref(q);
        ipcbus_port_unref(rc);
        inbox_clear(&at_rc);
        inbox_clear(&at_q);
        sd_event_unref(e);
        return 0;
}

#define HOPS_BIG (12U * 1024U * 1024U)

static GVariant *hops_big_value(void) {
        uint8_t *d = g_malloc(HOPS_BIG);

        for (size_t i = 0; i < HOPS_BIG; i++)
                d[i] = (uint8_t)(i * 131 + 17);
        return g_variant_new_from_data(G_VARIANT_TYPE_BYTESTRING, d, HOPS_BIG, TRUE, g_free, d);
}

static void test_port_two_hops(void **state) {
        _cleanup_(test_process_freep) test_process *b = NULL, *c = NULL;
        ipcbus_port *pa, *pb, *rb, *rc, *q1, *q2;
        hop_args args_b, args_c;
        sd_event *e;
        inbox at_q2;
        int status;

        inbox_init(&at_q2);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &pa, &pb), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &rb, &rc), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &q1, &q2), 0);
        assert_int_equal(port_transfer_take_fd(pb, &args_b.fds[0]), 0);
        assert_int_equal(port_transfer_take_fd(rb, &args_b.fds[1]), 0);
        assert_int_equal(port_transfer_take_fd(rc, &args_c.fds[0]), 0);
        ipcbus_port_unref(pb);
        ipcbus_port_unref(rb);
        ipcbus_port_unref(rc);

        hops_pad_init();
        for (unsigned i = 0; i < HOPS_N; i++)
                assert_int_equal(post_str(q2, "before %u%s", i, hops_pad), 0);
        assert_int_equal(ipcbus_port_post_message(q1, hops_big_value(), NULL, 0), 0);
        for (unsigned i = 0; i < HOPS_N; i++)
                assert_int_equal(post_str(q1, "early %u%s", i, hops_pad), 0);
        assert_true(port_queued(q1) == HOPS_N + 1 && port_queued(q2) > 0);

        assert_int_equal(test_process_spawn(&b, child_hop_b, &args_b), 0);
        assert_int_equal(test_process_spawn(&c, child_hop_c, &args_c), 0);
        close(args_b.fds[0]);
        close(args_b.fds[1]);
        close(args_c.fds[0]);

        assert_int_equal(ipcbus_port_post_message(pa, g_variant_new_string("take q1"), &q1, 1), 0);
        assert_int_equal(post_str(q2, "after the hops"), 0);
        inbox_listen(&at_q2, q2);
        assert_int_equal(ipcbus_port_start(q2), 0);

        RUN_UNTIL(e, at_q2.values->len == HOPS_N + 2);
        {
                g_autoptr(GVariant) want = g_variant_ref_sink(hops_big_value());

                assert_true(g_variant_equal(g_ptr_array_index(at_q2.values, 0), want));
        }
        for (unsigned i = 0; i < HOPS_N; i++) {
                g_autofree char *want = g_strdup_printf("early %u%s", i, hops_pad);

                assert_string_equal(inbox_str(&at_q2, i + 1), want);
        }
        assert_string_equal(inbox_str(&at_q2, HOPS_N + 1), "from C");
        assert_int_equal(post_str(q2, "ack"), 0);
        RUN_UNTIL(e, at_q2.closes == 1);

        assert_int_equal(test_process_wait_line(b, "forwarded", DEADLINE_USEC), 0);
        assert_int_equal(test_process_wait_line(c, "c ok", DEADLINE_USEC), 0);
        assert_int_equal(test_process_wait_exit(b, &status), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(test_process_wait_exit(c, &status), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        ipcbus_port_unref(pa);
        ipcbus_port_unref(q1);
        ipcbus_port_unref(q2);
        inbox_clear(&at_q2);
        sd_event_unref(e);
}

/* 256 MiB from a child: a memfd, whole and intact. */
#define BIG_SIZE (256U * 1024U * 1024U)

static uint64_t checksum(const uint8_t *p, size_t size) {
        uint64_t h = UINT64_C(1469598103934665603), w;

        for (size_t i = 0; i + 8 <= size; i += 8) {
                memcpy(&w, p + i, 8);
                h = (h ^ w) * UINT64_C(1099511628211);
        }
        return h;
}

static int child_big(void *userdata) {
        holder_args *a = userdata;
        uint64_t *data = g_malloc(BIG_SIZE), sum;
        ipcbus_port *p;
        sd_event *e;
        inbox in;

        child_keep_only(&a->fd, 1);
        for (size_t i = 0; i < BIG_SIZE / 8; i++)
                data[i] = i * UINT64_C(0x9E3779B97F4A7C15);
        sum = checksum((const uint8_t *)data, BIG_SIZE);

        inbox_init(&in);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(port_new_from_fd(e, 0, a->fd, &p), 0);
        inbox_listen(&in, p);
        assert_int_equal(ipcbus_port_start(p), 0);
        assert_int_equal(ipcbus_port_post_message(
                                 p,
                                 g_variant_new("(t@ay)", sum,
                                               g_variant_new_from_data(G_VARIANT_TYPE_BYTESTRING, data,
                                                                       BIG_SIZE, TRUE, g_free, data)),
                                 NULL, 0),
                         0);
        RUN_UNTIL(e, in.values->len == 1);
        ipcbus_port_unref(p);
        inbox_clear(&in);
        sd_event_unref(e);
        return 0;
}

static void test_port_256mib(void **state) {
        _cleanup_(test_process_freep) test_process *child = NULL;
        GVariant *v, *bytes;
        ipcbus_port *p1, *p2;
        holder_args args;
        const uint8_t *data;
        uint64_t sum, t0;
        sd_event *e;
        gsize size;
        inbox in;
        int status;

        inbox_init(&in);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        inbox_listen(&in, p1);
        assert_int_equal(ipcbus_port_start(p1), 0);
        assert_int_equal(port_transfer_take_fd(p2, &args.fd), 0);
        ipcbus_port_unref(p2);

        t0 = pt_now_usec();
        assert_int_equal(test_process_spawn(&child, child_big, &args), 0);
        close(args.fd);
        RUN_UNTIL(e, in.values->len == 1);

        v = g_ptr_array_index(in.values, 0);
        assert_string_equal(g_variant_get_type_string(v), "(tay)");
        g_variant_get_child(v, 0, "t", &sum);
        bytes = g_variant_get_child_value(v, 1);
        data = g_variant_get_fixed_array(bytes, &size, 1);
        assert_int_equal(size, BIG_SIZE);
        assert_true(sum == checksum(data, size));
        print_message("256 MiB: built, sent, received and checked in %.2f s\n",
                      (double)(pt_now_usec() - t0) / TEST_USEC_PER_SEC);
        g_variant_unref(bytes);

        assert_int_equal(post_str(p1, "ack"), 0);
        RUN_UNTIL(e, in.closes == 1);
        assert_int_equal(test_process_wait_exit(child, &status), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        ipcbus_port_unref(p1);
        inbox_clear(&in);
        sd_event_unref(e);
}

/* ---- back-pressure ---------------------------------------------------------- */

static void on_drain_count(ipcbus_port *port, void *userdata) {
        (*(unsigned *)userdata)++;
}

/* Posts until the queue refuses; returns how many were taken. */
static int32_t post_until_full(ipcbus_port *p, int32_t first) {
        int32_t n = 0;
        int r;

        while ((r = post_int(p, first + n)) == 0) {
                n++;
                assert_true(n < 10 * 1000 * 1000);
        }
        assert_int_equal(r, -ENOBUFS);
        return n;
}

/* The other end stops reading (never started): posts fail with ENOBUFS past
 * IPCBUS_PORT_QUEUE_MAX_MESSAGES, the counts are right, drain fires once it
 * reads again, and everything taken arrives in order. */
static void test_port_backpressure_messages(void **state) {
        g_autoptr(GVariant) one = g_variant_ref_sink(g_variant_new_int32(0));
        ipcbus_port *p1, *p2;
        ipcbus_slot *slot = NULL;
        unsigned drains = 0;
        logbook log = { g_string_new(NULL) };
        size_t queued = 1;
        uint64_t bytes = 1;
        sd_event *e;
        inbox in;
        int32_t n;

        inbox_init(&in);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        assert_int_equal(ipcbus_port_set_log_function(p1, logbook_fn, &log), 0);
        assert_int_equal(ipcbus_port_on_drain(p1, &slot, on_drain_count, &drains), 0);
        assert_int_equal(ipcbus_port_on_drain(p1, NULL, NULL, NULL), -EINVAL);
        assert_int_equal(ipcbus_port_get_queued(NULL, &queued, &bytes), -EINVAL);
        assert_int_equal(ipcbus_port_get_queued(p1, &queued, &bytes), 0);
        assert_true(queued == 0 && bytes == 0);
        inbox_listen(&in, p2);

        n = post_until_full(p1, 0);
        assert_int_equal(ipcbus_port_get_queued(p1, &queued, &bytes), 0);
        assert_int_equal(queued, IPCBUS_PORT_QUEUE_MAX_MESSAGES);
        assert_true(bytes == (uint64_t)queued * port_frame_payload_size(one));
        assert_true((size_t)n > queued); /* the socket took the first ones */
        /* Logged once per stall, not once per refusal. */
        assert_logged(&log, "not reading");
        assert_int_equal(post_int(p1, -1), -ENOBUFS);
        assert_int_equal(log.text->len, 0);
        pt_run_idle(e);
        assert_int_equal(drains, 0);

        /* The reader resumes. */
        assert_int_equal(ipcbus_port_start(p2), 0);
        RUN_UNTIL(e, drains == 1);
        assert_int_equal(ipcbus_port_get_queued(p1, &queued, &bytes), 0);
        assert_true(queued == 0 && bytes == 0);
        RUN_UNTIL(e, in.values->len == (unsigned)n);
        for (int32_t i = 0; i < n; i++)
                assert_int_equal(inbox_int(&in, (unsigned)i), i);
        assert_int_equal(post_int(p1, n), 0);
        RUN_UNTIL(e, in.values->len == (unsigned)n + 1);
        pt_run_idle(e);
        assert_int_equal(drains, 1); /* nothing waited: no drain */

        ipcbus_slot_unref(slot);
        ipcbus_port_unref(p1);
        ipcbus_port_unref(p2);
        g_string_free(log.text, true);
        inbox_clear(&in);
        sd_event_unref(e);
}

/* Large messages: IPCBUS_PORT_QUEUE_MAX_BYTES caps the queue; one message
 * larger than the cap is still taken onto an empty queue. When the other
 * end goes instead of reading, the queue is freed and drain does not fire. */
static void test_port_backpressure_bytes(void **state) {
        const size_t big = 4 * 1024 * 1024;
        g_autofree uint8_t *data = g_malloc0(IPCBUS_PORT_QUEUE_MAX_BYTES + 1);
        ipcbus_port *p1, *p2;
        unsigned drains = 0, n = 0;
        size_t queued;
        uint64_t bytes;
        sd_event *e;
        int r;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        assert_int_equal(ipcbus_port_on_drain(p1, NULL, on_drain_count, &drains), 0);

        while ((r = ipcbus_port_post_message(
                        p1, g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, big, 1), NULL, 0)) == 0) {
                n++;
                assert_true(n < 1000);
        }
        assert_int_equal(r, -ENOBUFS);
        assert_int_equal(ipcbus_port_get_queued(p1, &queued, &bytes), 0);
        assert_true(queued > 0 && queued <= n);
        assert_true(bytes <= IPCBUS_PORT_QUEUE_MAX_BYTES);
        assert_true(bytes + big + 16 > IPCBUS_PORT_QUEUE_MAX_BYTES);

        /* The reader goes: what waited for it is freed. */
        ipcbus_port_unref(p2);
        RUN_UNTIL(e, ipcbus_port_is_closed(p1));
        assert_int_equal(ipcbus_port_get_queued(p1, &queued, &bytes), 0);
        assert_true(queued == 0 && bytes == 0);
        assert_int_equal(drains, 0);
        ipcbus_port_unref(p1);

        /* One message above the byte cap, onto an empty queue. */
        assert_int_equal(ipcbus_message_channel_new(e, &p1, &p2), 0);
        assert_int_equal(ipcbus_port_post_message(p1,
                                                  g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data,
                                                                            IPCBUS_PORT_QUEUE_MAX_BYTES + 1, 1),
                                                  NULL, 0),
                         0);
        ipcbus_port_unref(p1);
        ipcbus_port_unref(p2);
        sd_event_unref(e);
}

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_port_order),
                cmocka_unit_test(test_port_backpressure_messages),
                cmocka_unit_test(test_port_backpressure_bytes),
                cmocka_unit_test(test_port_queued_before_start),
                cmocka_unit_test(test_port_value_kinds),
                cmocka_unit_test(test_port_normal_form),
                cmocka_unit_test(test_port_transfer_errors),
                cmocka_unit_test(test_port_through_port),
                cmocka_unit_test(test_port_take_fd),
                cmocka_unit_test(test_port_close_once),
                cmocka_unit_test(test_port_close_keeps_messages),
                cmocka_unit_test(test_port_message_max),
                cmocka_unit_test(test_port_malformed_frames),
                cmocka_unit_test(test_port_glib_adapter),
                cmocka_unit_test(test_port_sigkill),
                cmocka_unit_test(test_port_two_hops),
                cmocka_unit_test(test_port_256mib),
        };

        /* test_port NAME runs the tests matching NAME (a glob). */
        if (argc > 1)
                cmocka_set_test_filter(argv[1]);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
