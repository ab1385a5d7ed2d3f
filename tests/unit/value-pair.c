/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <systemd/sd-id128.h>

#include "value-pair.h"

int pair_setup(void **state) {
        Pair *p = calloc(1, sizeof(*p));
        sd_id128_t id;
        int fds[2];

        assert_non_null(p);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds), 0);
        assert_int_equal(sd_id128_randomize(&id), 0);

        assert_int_equal(sd_bus_new(&p->server), 0);
        assert_int_equal(sd_bus_set_fd(p->server, fds[0], fds[0]), 0);
        assert_int_equal(sd_bus_set_server(p->server, 1, id), 0);
        assert_int_equal(sd_bus_set_anonymous(p->server, 1), 0);
        assert_int_equal(sd_bus_negotiate_fds(p->server, 1), 0);
        assert_int_equal(sd_bus_start(p->server), 0);

        assert_int_equal(sd_bus_new(&p->client), 0);
        assert_int_equal(sd_bus_set_fd(p->client, fds[1], fds[1]), 0);
        assert_int_equal(sd_bus_set_anonymous(p->client, 1), 0);
        assert_int_equal(sd_bus_negotiate_fds(p->client, 1), 0);
        assert_int_equal(sd_bus_start(p->client), 0);

        *state = p;
        return 0;
}

int pair_teardown(void **state) {
        Pair *p = *state;

        sd_bus_flush_close_unref(p->client);
        sd_bus_flush_close_unref(p->server);
        free(p);
        return 0;
}

sd_bus_message *new_message(Pair *p) {
        sd_bus_message *m = NULL;

        assert_int_equal(sd_bus_message_new_signal(p->client, &m, TEST_PATH, TEST_INTERFACE, "Value"), 0);
        return m;
}

sd_bus_message *transfer(Pair *p, sd_bus_message *m) {
        assert_true(sd_bus_send(p->client, m, NULL) >= 0);

        for (unsigned idle = 0; idle < 100;) {
                sd_bus_message *in = NULL;
                int a, b;

                a = sd_bus_process(p->client, NULL);
                assert_true(a >= 0);
                b = sd_bus_process(p->server, &in);
                assert_true(b >= 0);
                if (in) {
                        if (sd_bus_message_is_signal(in, TEST_INTERFACE, "Value"))
                                return in;
                        sd_bus_message_unref(in);
                        continue;
                }
                if (a == 0 && b == 0) {
                        struct pollfd fds[2] = {
                                { .fd = sd_bus_get_fd(p->client),
                                  .events = (short) sd_bus_get_events(p->client) },
                                { .fd = sd_bus_get_fd(p->server),
                                  .events = (short) sd_bus_get_events(p->server) },
                        };

                        if (poll(fds, 2, 100) == 0)
                                idle++;
                }
        }
        fail_msg("message did not arrive");
        return NULL;
}
