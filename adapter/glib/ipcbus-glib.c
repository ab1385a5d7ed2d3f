/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One GSource that runs a whole sd-event loop from a GMainContext.
 *
 * sd-event splits an iteration into sd_event_prepare(), sd_event_wait() and
 * sd_event_dispatch(), which map onto GSource's prepare, check and dispatch.
 * Everything sd-event waits for (io, the timerfds of its timers, signalfd,
 * inotify, pidfds) sits in its epoll fd, and sd_event_prepare() arms the
 * timerfds, so polling that one fd for G_IO_IN is enough and prepare never
 * needs a GLib timeout of its own.
 *
 * The GSource functions do not trust the GLib phase they are called in to
 * say where sd-event is: they ask sd_event_get_state() every time, because
 * GLib does not always run prepare, check and dispatch in turn
 * (g_main_context_pending() prepares and checks without dispatching, and the
 * source stays ready into the next iteration; a context driven by hand with
 * g_main_context_prepare()/query() may never check; a nested main loop run
 * by another callback dispatches this source in place of the outer one), and
 * calling an sd_event_* function in the wrong state fails with -EBUSY. The
 * rule is: move sd-event forward only from the state the phase expects,
 * treat any other state as "nothing to do here", and never leave the loop
 * ARMED across GLib iterations, so that sources added from plain GLib
 * callbacks (a defer source, a queued bus message) are seen by the next
 * sd_event_prepare().
 *
 *   state      prepare            check                dispatch
 *   INITIAL    sd_event_prepare   FALSE (not prepared)  nothing
 *   ARMED      wait(0), prepare   sd_event_wait(0)      nothing
 *   PENDING    TRUE               TRUE                  sd_event_dispatch
 *   FINISHED   TRUE               TRUE                  callback, remove
 *   error      TRUE               TRUE                  exit code, callback, remove
 *   PREPARING, RUNNING, EXITING: only seen re-entrantly, from inside an
 *   sd-event handler (GLib blocks this source while it dispatches, so only
 *   through a second source on the same loop or g_source_set_can_recurse());
 *   nothing to do, the outer dispatch is still running.
 *
 * sd_event_dispatch() runs one event source per call, like sd_event_run();
 * further pending sources make the next prepare return TRUE at once, so GLib
 * sources of the same priority get their turn in between.
 */

#include "ipcbus-glib.h"

#include <errno.h>
#include <systemd/sd-event.h>

#include "log.h"

typedef struct glib_event_source {
        GSource source;
        sd_event *event;
        /* The first failure of an sd_event_* call; the source stops on it. */
        int error;
} glib_event_source;

/*
 * sd_event_get_state(), or the error the source has stopped on: once an
 * sd_event_* call failed, every phase only leads to source_finish().
 */
static int source_get_state(glib_event_source *s) {
        int state;

        if (s->error < 0)
                return s->error;

        state = sd_event_get_state(s->event);
        if (state < 0)
                s->error = state;
        return state;
}

static gboolean source_prepare(GSource *source, gint *ret_timeout) {
        glib_event_source *s = (glib_event_source *) source;
        int state, r;

        /* Whatever sd-event waits for is in its epoll fd; nothing to time. */
        *ret_timeout = -1;

        state = source_get_state(s);
        if (state < 0) {
                *ret_timeout = 0;
                return TRUE;
        }

        switch (state) {
        case SD_EVENT_ARMED:
                /*
                 * Prepared in an iteration that never got to check (someone
                 * drove the context by hand). Sources may have changed since,
                 * so finish that iteration and prepare afresh.
                 */
                r = sd_event_wait(s->event, 0);
                if (r == 0)
                        r = sd_event_prepare(s->event);
                break;
        case SD_EVENT_INITIAL:
                r = sd_event_prepare(s->event);
                break;
        case SD_EVENT_PENDING:
        case SD_EVENT_FINISHED:
                r = 1;
                break;
        case SD_EVENT_PREPARING:
        case SD_EVENT_RUNNING:
        case SD_EVENT_EXITING:
        default:
                /* Re-entered from inside sd-event: not ours to advance. */
                return FALSE;
        }

        if (r < 0)
                s->error = r;
        if (r != 0) {
                *ret_timeout = 0;
                return TRUE;
        }
        return FALSE;
}

static gboolean source_check(GSource *source) {
        glib_event_source *s = (glib_event_source *) source;
        int state, r;

        state = source_get_state(s);
        if (state < 0)
                return TRUE;

        switch (state) {
        case SD_EVENT_ARMED:
                /*
                 * Always wait, even if poll saw nothing on the epoll fd: it is
                 * the only way from ARMED back to INITIAL, and the cost is one
                 * epoll_wait() with a zero timeout.
                 */
                r = sd_event_wait(s->event, 0);
                if (r < 0)
                        s->error = r;
                return r != 0;
        case SD_EVENT_PENDING:
        case SD_EVENT_FINISHED:
                return TRUE;
        case SD_EVENT_INITIAL:
        case SD_EVENT_PREPARING:
        case SD_EVENT_RUNNING:
        case SD_EVENT_EXITING:
        default:
                return FALSE;
        }
}

/*
 * The loop is done, by sd_event_exit() or by an error: tell the owner (the
 * GSource callback, if any) and let GLib remove the source.
 */
static gboolean source_finish(glib_event_source *s, GSourceFunc callback, gpointer user_data) {
        int code;

        /*
         * Record an error as the loop's exit code, as sd_event_loop() would
         * return it, unless the loop was exiting anyway. Exit sources are not
         * run after an error: the loop cannot run any more.
         */
        if (s->error < 0 && sd_event_get_exit_code(s->event, &code) == -ENODATA)
                (void) sd_event_exit(s->event, s->error);

        if (callback)
                (void) callback(user_data);

        return G_SOURCE_REMOVE;
}

static gboolean source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data) {
        glib_event_source *s = (glib_event_source *) source;
        int state, r;

        state = source_get_state(s);
        if (state < 0)
                return source_finish(s, callback, user_data);

        switch (state) {
        case SD_EVENT_PENDING:
                r = sd_event_dispatch(s->event);
                if (r < 0)
                        s->error = r;
                if (r <= 0)
                        return source_finish(s, callback, user_data);
                return G_SOURCE_CONTINUE;
        case SD_EVENT_FINISHED:
                return source_finish(s, callback, user_data);
        case SD_EVENT_INITIAL:
        case SD_EVENT_ARMED:
        case SD_EVENT_PREPARING:
        case SD_EVENT_RUNNING:
        case SD_EVENT_EXITING:
        default:
                /* Moved on by other means, or re-entered: nothing pending. */
                return G_SOURCE_CONTINUE;
        }
}

static void source_finalize(GSource *source) {
        glib_event_source *s = (glib_event_source *) source;

        s->event = sd_event_unref(s->event);
}

static GSourceFuncs source_funcs = {
        .prepare = source_prepare,
        .check = source_check,
        .dispatch = source_dispatch,
        .finalize = source_finalize,
};

GSource *ipcbus_glib_source_new(sd_event *event) {
        glib_event_source *s;
        int fd, state;

        if (!event) {
                /* GLib's way (NULL and errno) rather than a return code. */
                log_assert_failed(NULL, "event", __FILE__, __LINE__, __func__);
                errno = EINVAL;
                return NULL;
        }

        state = sd_event_get_state(event);
        if (state < 0) {
                errno = -state;
                return NULL;
        }
        if (state == SD_EVENT_FINISHED) {
                errno = ESTALE;
                return NULL;
        }

        fd = sd_event_get_fd(event);
        if (fd < 0) {
                errno = -fd;
                return NULL;
        }

        s = (glib_event_source *) g_source_new(&source_funcs, sizeof(*s));
        s->event = sd_event_ref(event);
        s->error = 0;
        g_source_set_name(&s->source, "ipcbus sd-event");
        g_source_add_unix_fd(&s->source, fd, G_IO_IN);

        return &s->source;
}

guint ipcbus_glib_attach(sd_event *event, GMainContext *context) {
        GSource *source;
        guint id;

        source = ipcbus_glib_source_new(event);
        if (!source)
                return 0;

        id = g_source_attach(source, context);
        g_source_unref(source);

        return id;
}
