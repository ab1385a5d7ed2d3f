/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "endpoint.h"
#include "slot.h"
#include "util.h"

void endpoint_init(endpoint *ep, const endpoint_ops *ops) {
        const char *large = getenv("IPCBUS_LARGE_VALUES");

        ep->ops = ops;
        /* A switch for debugging (the inline form shows in busctl monitor)
         * and for standing in for an older peer in tests. */
        ep->large_values = !large || !streq(large, "0");
        /* "memfd": a memfd per value only, as before rings (tests, A/B). */
        ep->large_rings = ep->large_values && !streq_ptr(large, "memfd");
        /* "ring": rings, their descriptor with every value, as before
         * rings were named by reference (tests, A/B). */
        ep->large_ring_refs = ep->large_rings && !streq_ptr(large, "ring");
        ep->large_value_max = IPCBUS_VALUE_LARGE_MAX;
        registry_init(&ep->registry, &ep->log);
}

void endpoint_done(endpoint *ep) {
        /* Nothing is called back from here: outgoing calls end quietly. */
        while (ep->calls.head)
                slot_disconnect(ep->calls.head->data);
        registry_clear(&ep->registry);
        ep->event = sd_event_unref(ep->event);
}

int endpoint_attach_event(endpoint *ep, sd_event *event, int64_t priority) {
        int r;

        if (ep->event)
                return -EBUSY;
        if (event)
                ep->event = sd_event_ref(event);
        else {
                r = sd_event_default(&ep->event);
                if (r < 0)
                        return r;
        }
        ep->priority = priority;
        return 0;
}

/*
 * SIGINT and SIGTERM end a running loop cleanly, unless the application
 * handles them (a handler of its own, or the signal blocked for its own
 * signalfd or sd-event source). A plain handler writes the signal to a
 * pipe the loop watches; the signal mask is never touched, so whatever the
 * application does with it while the loop runs stays its business, and the
 * old disposition comes back when the loop returns. One pipe serves the
 * process, as signal dispositions do.
 */
static int signal_pipe[2] = { -1, -1 };
static pid_t signal_pipe_pid;
static pthread_mutex_t signal_pipe_lock = PTHREAD_MUTEX_INITIALIZER;

/* The pipe of this process: one inherited through fork() is the parent's,
 * and a byte written there could wake the parent's loop instead. */
static int signal_pipe_get(void) {
        int fd;

        pthread_mutex_lock(&signal_pipe_lock);
        if (signal_pipe_pid != getpid()) {
                if (signal_pipe[0] >= 0) {
                        (void)close(signal_pipe[0]);
                        (void)close(signal_pipe[1]);
                }
                if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                        signal_pipe[0] = signal_pipe[1] = -1;
                signal_pipe_pid = getpid();
        }
        fd = signal_pipe[0];
        pthread_mutex_unlock(&signal_pipe_lock);
        return fd;
}

static void endpoint_signal_handler(int sig) {
        int saved = errno;
        char c = (char)sig;

        (void)!write(signal_pipe[1], &c, 1);
        errno = saved;
}

static int endpoint_on_signal_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        char buf[16];

        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* Return: true if @sig is the library's to handle while the loop runs. */
static bool endpoint_take_signal(int sig, struct sigaction *ret_old) {
        struct sigaction sa = { .sa_handler = endpoint_signal_handler, .sa_flags = SA_RESTART };
        sigset_t mask;

        if (sigaction(sig, NULL, ret_old) < 0 || ret_old->sa_handler != SIG_DFL)
                return false;
        if (pthread_sigmask(SIG_BLOCK, NULL, &mask) != 0 || sigismember(&mask, sig))
                return false;
        sigemptyset(&sa.sa_mask);
        return sigaction(sig, &sa, NULL) >= 0;
}

int endpoint_run(endpoint *ep) {
        static const int signals[] = { SIGINT, SIGTERM };
        struct sigaction old[2];
        bool taken[2] = {};
        sd_event_source *source = NULL;
        int r, fd;

        if (!ep->event)
                return -EINVAL;
        fd = signal_pipe_get();
        if (fd >= 0 && sd_event_add_io(ep->event, &source, fd, EPOLLIN, endpoint_on_signal_pipe, NULL) >= 0)
                for (size_t i = 0; i < 2; i++)
                        taken[i] = endpoint_take_signal(signals[i], &old[i]);
        r = sd_event_loop(ep->event);
        for (size_t i = 0; i < 2; i++)
                if (taken[i])
                        (void)sigaction(signals[i], &old[i], NULL);
        sd_event_source_disable_unref(source);
        return r;
}

int endpoint_exit(endpoint *ep, int code) {
        if (!ep->event)
                return -EINVAL;
        return sd_event_exit(ep->event, code);
}
