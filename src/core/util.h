/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small helpers every module uses: cleanup attributes and ownership moves. */

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((__cleanup__(f)))
/* For a variable that exists only for its cleanup (a reference held for a
 * scope): clang warns of it as unused otherwise. */
#define _unused_ __attribute__((__unused__))

/* Hand over ownership: yields the pointer and clears the variable, so the
 * cleanup attribute on it no longer frees it. */
#define TAKE_PTR(p)                          \
        ({                                   \
                __typeof__(p) _taken = (p);  \
                (p) = NULL;                  \
                _taken;                      \
        })

#define DEFINE_CLEANUP(type, func)                 \
        static inline void func##p(type *p) {      \
                if (*p)                            \
                        func(*p);                  \
        }

static inline void freep(void *p) {
        free(*(void **)p);
}

/* sd-bus and sd-event ship their own *_unrefp helpers. */
DEFINE_CLEANUP(GVariant *, g_variant_unref)

static inline void closep(int *fd) {
        if (*fd >= 0)
                (void)close(*fd);
        *fd = -1;
}

/* Like TAKE_PTR() for a file descriptor: yields it and leaves -1. */
#define TAKE_FD(fd)                     \
        ({                              \
                int _taken = (fd);      \
                (fd) = -1;              \
                _taken;                 \
        })

static inline void g_ptr_array_unrefp(GPtrArray **a) {
        if (*a)
                g_ptr_array_unref(*a);
}

static inline void fclosep(FILE **f) {
        if (*f)
                (void)fclose(*f);
}

/* Sink a floating GVariant (or ref a normal one); NULL stays NULL. */
static inline GVariant *variant_take(GVariant *v) {
        return v ? g_variant_ref_sink(v) : NULL;
}

static inline const char *strnull(const char *s) {
        return s ? s : "(null)";
}

#define streq(a, b) (strcmp((a), (b)) == 0)

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}
