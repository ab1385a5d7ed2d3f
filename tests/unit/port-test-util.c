/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "port-test-util.h"

uint64_t pt_now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * TEST_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

void pt_run_idle(sd_event *e) {
        for (unsigned i = 0; i < 100000; i++) {
                int r = sd_event_run(e, 0);

                assert_true(r >= 0);
                if (r == 0)
                        return;
        }
        fail_msg("event loop never went idle");
}

unsigned pt_count_fds(void) {
        unsigned n = 0;
        GDir *d = g_dir_open("/proc/self/fd", 0, NULL);

        assert_non_null(d);
        while (g_dir_read_name(d))
                n++;
        g_dir_close(d);
        return n;
}

/* ---- a receiver that records everything ---------------------------------- */

void inbox_init(inbox *in) {
        in->values = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
        in->ports = g_ptr_array_new_with_free_func((GDestroyNotify)(void (*)(void))ipcbus_port_unref);
        in->n_ports = g_array_new(FALSE, FALSE, sizeof(unsigned));
        in->closes = 0;
}

void inbox_clear(inbox *in) {
        g_ptr_array_unref(in->values);
        g_ptr_array_unref(in->ports);
        g_array_unref(in->n_ports);
}

static int inbox_on_message(ipcbus_port *port, GVariant *data, ipcbus_port **ports, size_t n_ports,
                            void *userdata) {
        inbox *in = userdata;
        unsigned n = (unsigned)n_ports;

        g_ptr_array_add(in->values, g_variant_ref(data));
        g_array_append_val(in->n_ports, n);
        for (size_t i = 0; i < n_ports; i++)
                g_ptr_array_add(in->ports, ipcbus_port_ref(ports[i]));
        return 0;
}

static void inbox_on_close(ipcbus_port *port, void *userdata) {
        inbox *in = userdata;

        in->closes++;
}

void inbox_listen(inbox *in, ipcbus_port *port) {
        assert_int_equal(ipcbus_port_on_message(port, NULL, inbox_on_message, in), 0);
        assert_int_equal(ipcbus_port_on_close(port, NULL, inbox_on_close, in), 0);
}

GVariant *inbox_value(inbox *in, unsigned i) {
        assert_true(i < in->values->len);
        return g_ptr_array_index(in->values, i);
}

unsigned inbox_n_ports(inbox *in, unsigned i) {
        assert_true(i < in->n_ports->len);
        return g_array_index(in->n_ports, unsigned, i);
}

int32_t inbox_int(inbox *in, unsigned i) {
        GVariant *v = inbox_value(in, i);

        assert_true(g_variant_is_of_type(v, G_VARIANT_TYPE_INT32));
        return g_variant_get_int32(v);
}

const char *inbox_str(inbox *in, unsigned i) {
        GVariant *v = inbox_value(in, i);

        assert_true(g_variant_is_of_type(v, G_VARIANT_TYPE_STRING));
        return g_variant_get_string(v, NULL);
}

/* ---- what a port logs ----------------------------------------------------- */

void logbook_fn(int priority, const char *message, void *userdata) {
        logbook *l = userdata;

        g_string_append(l->text, message);
        g_string_append_c(l->text, '\n');
}

void assert_logged(logbook *l, const char *needle) {
        if (!strstr(l->text->str, needle))
                fail_msg("log lacks '%s'; it holds:\n%s", needle, l->text->str);
        g_string_truncate(l->text, 0);
}

/* ---- posting -------------------------------------------------------------- */

int post_int(ipcbus_port *p, int32_t x) {
        return ipcbus_port_post_message(p, g_variant_new_int32(x), NULL, 0);
}

int post_str(ipcbus_port *p, const char *format, ...) {
        va_list ap;
        char *s;

        va_start(ap, format);
        s = g_strdup_vprintf(format, ap);
        va_end(ap);
        return ipcbus_port_post_message(p, g_variant_new_take_string(s), NULL, 0);
}

/* ---- frames written raw --------------------------------------------------- */

void pt_frame_header(uint8_t buf[16], uint32_t magic, uint8_t version, uint8_t type, uint8_t flags,
                     uint8_t n_ports, uint64_t size) {
        uint32_t m = GUINT32_TO_LE(magic);
        uint64_t s = GUINT64_TO_LE(size);

        memcpy(buf, &m, 4);
        buf[4] = version;
        buf[5] = type;
        buf[6] = flags;
        buf[7] = n_ports;
        memcpy(buf + 8, &s, 8);
}

void pt_attach_fds(struct msghdr *mh, pt_fds_control *control, const int *fds, size_t n_fds) {
        struct cmsghdr *c;

        if (n_fds == 0)
                return;
        assert_true(n_fds <= PT_FDS_MAX);
        memset(control, 0, sizeof(*control));
        mh->msg_control = control;
        mh->msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
        c = CMSG_FIRSTHDR(mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
}
