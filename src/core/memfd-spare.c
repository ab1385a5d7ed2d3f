/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One spare memfd, its pages allocated ahead by a thread (memfd-spare.h).
 * The thread exists from the first large value on and sleeps while the
 * spare is there; the spare is at most SPARE_MAX bytes, so at most that
 * much memory waits in it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memfd-spare.h"

#define SPARE_MIN (64U * 1024U)
#define SPARE_MAX (16U * 1024U * 1024U)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wanted = PTHREAD_COND_INITIALIZER;
static bool thread_started, atfork_set;
static int spare_fd = -1;
static size_t spare_size, want_size;

static int memfd_new(void) {
        int fd = memfd_create("ipcbus-value", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        return fd < 0 ? -errno : fd;
}

static void *spare_thread(void *userdata) {
        pthread_mutex_lock(&lock);
        for (;;) {
                size_t size;
                int fd;

                while (spare_fd >= 0 || want_size == 0)
                        pthread_cond_wait(&wanted, &lock);
                size = want_size;
                want_size = 0;
                pthread_mutex_unlock(&lock);

                fd = memfd_new();
                if (fd >= 0 && fallocate(fd, 0, 0, (off_t)size) < 0) {
                        (void)close(fd);
                        fd = -1;
                }

                pthread_mutex_lock(&lock);
                if (fd >= 0 && spare_fd < 0) {
                        spare_fd = fd;
                        spare_size = size;
                } else if (fd >= 0)
                        (void)close(fd);
        }
        return NULL;
}

/* A child of fork() has no thread, and must not write into the memfd its
 * parent will hand out. */
static void atfork_prepare(void) {
        pthread_mutex_lock(&lock);
}

static void atfork_parent(void) {
        pthread_mutex_unlock(&lock);
}

static void atfork_child(void) {
        if (spare_fd >= 0)
                (void)close(spare_fd);
        spare_fd = -1;
        want_size = 0;
        thread_started = false;
        pthread_mutex_unlock(&lock);
}

/* The next spare's size: the value's, rounded up to a power of two. */
static size_t spare_size_for(size_t size) {
        size_t s = SPARE_MIN;

        while (s < size && s < SPARE_MAX)
                s *= 2;
        return s;
}

int memfd_spare_take(size_t size) {
        int fd = -1;

        pthread_mutex_lock(&lock);
        if (!atfork_set) {
                atfork_set = pthread_atfork(atfork_prepare, atfork_parent, atfork_child) == 0;
        }
        if (spare_fd >= 0 && spare_size >= size) {
                fd = spare_fd;
                spare_fd = -1;
        }
        if (size <= SPARE_MAX) {
                want_size = spare_size_for(size);
                if (!thread_started && atfork_set) {
                        pthread_t t;
                        pthread_attr_t attr;

                        /* Detached: it lives as long as the process. */
                        if (pthread_attr_init(&attr) == 0) {
                                (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                                thread_started = pthread_create(&t, &attr, spare_thread, NULL) == 0;
                                (void)pthread_attr_destroy(&attr);
                        }
                }
                pthread_cond_signal(&wanted);
        }
        pthread_mutex_unlock(&lock);

        return fd >= 0 ? fd : memfd_new();
}
