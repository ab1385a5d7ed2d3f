/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The exit of a spawned renderer: noticed through its pidfd in the main's
 * loop (or, without pidfds, when its connection is dropped), reaped,
 * logged, and made a detach. */
#include <errno.h>
#include <glib.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "main-private.h"
#include "spawn.h"
#include "util.h"

/* Without a pidfd, how often to look for the exit after the connection
 * went: an exiting process is a zombie within moments; one that only
 * closed its connection may take as long as it likes. */
#define REAP_RETRY_FIRST_USEC UINT64_C(1000)
#define REAP_RETRY_MAX_USEC UINT64_C(1000000)

typedef struct spawn_child {
        ipcbus_main *main;            /* weak: its list of children holds us */
        connection *conn;             /* carries spawn_pid and spawn_pidfd */
        sd_event_source *exit_source; /* the pidfd: readable once the child exited */
        sd_event_source *reap_timer;  /* without a pidfd: the next look for the exit */
        uint64_t reap_delay_usec;
        GList link;                   /* in main->spawned */
} spawn_child;

static int pidfd_send_signal_(int pidfd, int sig) {
        return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int process_reap(pid_t pid, int pidfd, bool block, siginfo_t *ret_info) {
        siginfo_t si = {};
        idtype_t idtype = pidfd >= 0 ? P_PIDFD : P_PID;
        id_t id = pidfd >= 0 ? (id_t)pidfd : (id_t)pid;

        while (waitid(idtype, id, &si, WEXITED | (block ? 0 : WNOHANG)) < 0)
                if (errno != EINTR)
                        return -errno;
        if (si.si_pid == 0)
                return 0;
        *ret_info = si;
        return 1;
}

void process_kill_and_reap(pid_t pid, int pidfd) {
        siginfo_t si;

        if (pidfd >= 0)
                /* Through the pidfd, a recycled pid is never signalled. */
                (void)pidfd_send_signal_(pidfd, SIGKILL);
        else if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
                /* Still our child, so not recycled (unless SIGCHLD is
                 * ignored and it exits right now). */
                (void)kill(pid, SIGKILL);
        (void)process_reap(pid, pidfd, true, &si);
}

static spawn_child *spawn_child_find(ipcbus_main *m, connection *c) {
        for (GList *l = m->spawned.head; l; l = l->next)
                if (((spawn_child *)l->data)->conn == c)
                        return l->data;
        return NULL;
}

static void spawn_child_free(spawn_child *child) {
        g_queue_unlink(&child->main->spawned, &child->link);
        /* Before the connection, which owns the pidfd the source watches. */
        sd_event_source_disable_unref(child->exit_source);
        sd_event_source_disable_unref(child->reap_timer);
        connection_unref(child->conn);
        g_free(child);
}

static void spawn_log_exit(ipcbus_main *m, pid_t pid, int r, const siginfo_t *si) {
        if (r < 0)
                log_emit(&m->ep.log, LOG_WARNING, "Spawned renderer %d exited, reaped elsewhere (%s)", (int)pid,
                         g_strerror(-r));
        else if (si->si_code == CLD_EXITED)
                log_emit(&m->ep.log, si->si_status == 0 ? LOG_DEBUG : LOG_WARNING,
                         "Spawned renderer %d exited with status %d", (int)pid, si->si_status);
        else
                log_emit(&m->ep.log, LOG_WARNING, "Spawned renderer %d was killed by signal %d", (int)pid,
                         si->si_status);
}

/* Reaped (@r from process_reap()): the end of the child, and of its
 * connection if the main still serves it. */
static void spawn_child_exited(spawn_child *child, int r, const siginfo_t *si) {
        ipcbus_main *m = child->main;
        _unused_ _cleanup_(endpoint_releasep) endpoint *hold = endpoint_hold(&m->ep);
        connection *c = child->conn;

        spawn_log_exit(m, c->spawn_pid, r, si);
        /* What the renderer sent before it exited is in our socket: dispatch
         * it before the detach, as when its connection closes; its close is
         * dispatched too, and is the detach. */
        while (c->owner == m && connection_is_open(c))
                if (connection_process_once(c) <= 0)
                        break;
        /* Without that close (something it started holds the socket), the
         * exit alone is the detach. Nothing happens if the close came first. */
        m->ep.ops->drop_connection(&m->ep, c);
        spawn_child_free(child);
}

static int spawn_on_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        spawn_child *child = userdata;
        siginfo_t si;
        int r;

        r = process_reap(child->conn->spawn_pid, fd, false, &si);
        if (r != 0)
                spawn_child_exited(child, r, &si);
        return 0;
}

static int spawn_on_reap_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* Look for the exit again in reap_delay_usec. */
static int reap_timer_arm(spawn_child *child) {
        sd_event *event = child->main->ep.event;
        uint64_t now;
        int r;

        r = sd_event_now(event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        if (child->reap_timer) {
                r = sd_event_source_set_time(child->reap_timer, now + child->reap_delay_usec);
                return r < 0 ? r : sd_event_source_set_enabled(child->reap_timer, SD_EVENT_ONESHOT);
        }
        r = sd_event_add_time(event, &child->reap_timer, CLOCK_MONOTONIC, now + child->reap_delay_usec, 0,
                              spawn_on_reap_timer, child);
        if (r >= 0)
                r = sd_event_source_set_priority(child->reap_timer, child->main->ep.priority);
        if (r >= 0)
                (void)sd_event_source_set_description(child->reap_timer, "ipcbus-spawned-reap");
        return r;
}

static int spawn_on_reap_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        spawn_child *child = userdata;
        siginfo_t si;
        int r;

        r = process_reap(child->conn->spawn_pid, -1, false, &si);
        if (r != 0) {
                spawn_child_exited(child, r, &si);
                return 0;
        }
        child->reap_delay_usec = MIN(2 * child->reap_delay_usec, REAP_RETRY_MAX_USEC);
        r = reap_timer_arm(child);
        if (r < 0)
                /* Not watched any more; reaped when the main is freed. */
                log_emit(&child->main->ep.log, LOG_ERR, "Cannot wait for spawned renderer %d: %s",
                         (int)child->conn->spawn_pid, g_strerror(-r));
        return 0;
}

int spawn_watch(ipcbus_main *m, connection *c) {
        spawn_child *child = g_new0(spawn_child, 1);
        int r = 0;

        child->main = m;
        child->conn = connection_ref(c);
        child->link.data = child;
        g_queue_push_tail_link(&m->spawned, &child->link);

        /* A pidfd polls readable once the process exited: no SIGCHLD, which
         * the application may not have blocked for sd-event. */
        if (c->spawn_pidfd >= 0) {
                r = sd_event_add_io(m->ep.event, &child->exit_source, c->spawn_pidfd, EPOLLIN, spawn_on_exit, child);
                if (r >= 0)
                        r = sd_event_source_set_priority(child->exit_source, m->ep.priority);
                if (r >= 0)
                        (void)sd_event_source_set_description(child->exit_source, "ipcbus-spawned-exit");
        }
        if (r < 0)
                spawn_child_free(child);
        return r;
}

void spawn_watch_kill(ipcbus_main *m, connection *c) {
        spawn_child *child = spawn_child_find(m, c);

        process_kill_and_reap(c->spawn_pid, c->spawn_pidfd);
        if (child)
                spawn_child_free(child);
}

void spawn_connection_dropped(ipcbus_main *m, connection *c) {
        spawn_child *child;
        int r;

        if (m->n_ref == 0 || c->spawn_pidfd >= 0 || !(child = spawn_child_find(m, c)) || child->reap_timer)
                return;
        child->reap_delay_usec = REAP_RETRY_FIRST_USEC;
        r = reap_timer_arm(child);
        if (r < 0)
                log_emit(&m->ep.log, LOG_ERR, "Cannot wait for spawned renderer %d: %s", (int)c->spawn_pid,
                         g_strerror(-r));
}

void spawn_main_freed(ipcbus_main *m) {
        spawn_child *child;

        while ((child = g_queue_peek_head(&m->spawned))) {
                process_kill_and_reap(child->conn->spawn_pid, child->conn->spawn_pidfd);
                spawn_child_free(child);
        }
}
