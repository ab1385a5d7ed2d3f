/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libipcbus-test-fault.so (fault-inject.h): each interposed function asks
 * fault_hit() whether this call fails, else calls the next definition of its
 * name, libsystemd's. Built with the project's hidden visibility: what the
 * program must see is marked FAULT_EXPORT.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "fault-inject.h"

#define FAULT_EXPORT __attribute__((visibility("default")))

typedef struct fault {
        const char *name;
        void *real;      /* the next definition: libsystemd's */
        void *real_base; /* where the object that defines it is loaded */
        int error;
        unsigned skip;
        unsigned count;
        unsigned fired;
} fault;

typedef enum fault_function {
        FAULT_SD_BUS_SEND,
        FAULT_SD_EVENT_ADD_TIME,
        FAULT_SD_EVENT_SOURCE_SET_TIME,
        FAULT_SD_EVENT_SOURCE_SET_IO_EVENTS,
        _FAULT_FUNCTION_MAX,
} fault_function;

static fault faults[_FAULT_FUNCTION_MAX] = {
        [FAULT_SD_BUS_SEND] = { .name = "sd_bus_send" },
        [FAULT_SD_EVENT_ADD_TIME] = { .name = "sd_event_add_time" },
        [FAULT_SD_EVENT_SOURCE_SET_TIME] = { .name = "sd_event_source_set_time" },
        [FAULT_SD_EVENT_SOURCE_SET_IO_EVENTS] = { .name = "sd_event_source_set_io_events" },
};

static fault *fault_find(const char *name) {
        for (size_t i = 0; name && i < _FAULT_FUNCTION_MAX; i++)
                if (strcmp(faults[i].name, name) == 0)
                        return &faults[i];
        return NULL;
}

/* Without the real function there is nothing to pass calls on to. */
static void *fault_real(fault *f) {
        Dl_info info;

        if (f->real)
                return f->real;
        f->real = dlsym(RTLD_NEXT, f->name);
        if (!f->real || !dladdr(f->real, &info)) {
                fprintf(stderr, "fault-inject: no definition of %s after this library\n", f->name);
                abort();
        }
        f->real_base = info.dli_fbase;
        return f->real;
}

/* Whether this call, from @caller, fails; then *@ret_error says with what. */
static bool fault_hit(fault *f, const void *caller, int *ret_error) {
        Dl_info info;

        if (f->skip == 0 && f->count == 0)
                return false;
        (void)fault_real(f);
        /* libsystemd calling itself by its exported name. */
        if (dladdr(caller, &info) && info.dli_fbase == f->real_base)
                return false;
        if (f->skip > 0) {
                f->skip--;
                return false;
        }
        f->count--;
        f->fired++;
        *ret_error = f->error;
        return true;
}

/* Whether the process's definition of @f's name, the one every caller
 * binds to, is this library's. */
static bool fault_reaches_us(fault *f) {
        Dl_info ours, theirs;
        void *used = dlsym(RTLD_DEFAULT, f->name);

        return used && dladdr((void *)fault_reaches_us, &ours) && dladdr(used, &theirs) &&
                ours.dli_fbase == theirs.dli_fbase;
}

FAULT_EXPORT int fault_arm(const char *function, int error, unsigned skip, unsigned count) {
        fault *f = fault_find(function);

        if (!f || error >= 0)
                return -EINVAL;
        if (!fault_reaches_us(f))
                return -ENOLINK;
        f->error = error;
        f->skip = skip;
        f->count = count;
        f->fired = 0;
        return 0;
}

FAULT_EXPORT unsigned fault_fired(const char *function) {
        fault *f = fault_find(function);

        return f ? f->fired : 0;
}

FAULT_EXPORT void fault_disarm_all(void) {
        for (size_t i = 0; i < _FAULT_FUNCTION_MAX; i++)
                faults[i].skip = faults[i].count = 0;
}

/* ---- the interposed functions ---------------------------------------------- */

FAULT_EXPORT int sd_bus_send(sd_bus *bus, sd_bus_message *m, uint64_t *ret_cookie) {
        fault *f = &faults[FAULT_SD_BUS_SEND];
        int (*real)(sd_bus *, sd_bus_message *, uint64_t *) = fault_real(f);
        int r;

        if (fault_hit(f, __builtin_return_address(0), &r))
                return r;
        return real(bus, m, ret_cookie);
}

FAULT_EXPORT int sd_event_add_time(sd_event *e, sd_event_source **ret_source, clockid_t clock, uint64_t usec,
                                   uint64_t accuracy, sd_event_time_handler_t callback, void *userdata) {
        fault *f = &faults[FAULT_SD_EVENT_ADD_TIME];
        int (*real)(sd_event *, sd_event_source **, clockid_t, uint64_t, uint64_t, sd_event_time_handler_t,
                    void *) = fault_real(f);
        int r;

        if (fault_hit(f, __builtin_return_address(0), &r))
                return r;
        return real(e, ret_source, clock, usec, accuracy, callback, userdata);
}

FAULT_EXPORT int sd_event_source_set_time(sd_event_source *s, uint64_t usec) {
        fault *f = &faults[FAULT_SD_EVENT_SOURCE_SET_TIME];
        int (*real)(sd_event_source *, uint64_t) = fault_real(f);
        int r;

        if (fault_hit(f, __builtin_return_address(0), &r))
                return r;
        return real(s, usec);
}

FAULT_EXPORT int sd_event_source_set_io_events(sd_event_source *s, uint32_t events) {
        fault *f = &faults[FAULT_SD_EVENT_SOURCE_SET_IO_EVENTS];
        int (*real)(sd_event_source *, uint32_t) = fault_real(f);
        int r;

        if (fault_hit(f, __builtin_return_address(0), &r))
                return r;
        return real(s, events);
}
