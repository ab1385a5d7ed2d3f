/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "call.h"
#include "creds.h"
#include "util.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

static int pidfd_open_cloexec(pid_t pid) {
        int fd = (int)syscall(SYS_pidfd_open, pid, 0);

        /* pidfds are always close-on-exec. */
        return fd < 0 ? -errno : fd;
}

/* Has the process behind @pidfd exited? A pidfd polls readable then. */
static bool pidfd_exited(int pidfd) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };

        return poll(&p, 1, 0) > 0;
}

/* The effective uid and gid of @pid from /proc, as SO_PEERCRED reports them. */
static int proc_read_ids(pid_t pid, uid_t *ret_uid, gid_t *ret_gid) {
        char path[64], line[256];
        _cleanup_(fclosep) FILE *f = NULL;
        unsigned long real, effective;
        bool have_uid = false, have_gid = false;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? -ESRCH : -errno;
        while (fgets(line, sizeof(line), f)) {
                if (sscanf(line, "Uid: %lu %lu", &real, &effective) == 2) {
                        *ret_uid = (uid_t)effective;
                        have_uid = true;
                } else if (sscanf(line, "Gid: %lu %lu", &real, &effective) == 2) {
                        *ret_gid = (gid_t)effective;
                        have_gid = true;
                }
        }
        return have_uid && have_gid ? 0 : -EIO;
}

/*
 * Read the ids of the process @pidfd refers to. The pidfd pins the
 * process: if it has not exited after /proc was read, /proc/PID was that
 * process and not a later one that got the same pid. Without a pidfd
 * (@pidfd < 0: a kernel before 5.3, or valgrind) /proc is all there is.
 */
static int creds_fill_from_pidfd(int pidfd, pid_t pid, peer_creds *c) {
        uid_t uid;
        gid_t gid;
        int r;

        r = proc_read_ids(pid, &uid, &gid);
        if (r < 0)
                return r;
        if (pidfd >= 0 && pidfd_exited(pidfd))
                return -ESRCH;
        c->uid = uid;
        c->gid = gid;
        return 0;
}

int creds_query_bus(sd_bus *bus, const char *name, peer_creds *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(closep) int pidfd = -1;
        peer_creds c = PEER_CREDS_INIT;
        bool have_uid = false, have_pid = false;
        uid_t uid;
        int r;

        r = sd_bus_call_method(bus, BUS_DRIVER_NAME, "/org/freedesktop/DBus", BUS_DRIVER_NAME,
                               "GetConnectionCredentials", &error, &reply, "s", name);
        if (r < 0)
                return sd_bus_error_has_name(&error, SD_BUS_ERROR_NAME_HAS_NO_OWNER) ? -ESRCH : r;
        /* sd_bus_call() takes the first reply with the call's serial: only
         * the bus may have sent it. */
        if (!streq_ptr(sd_bus_message_get_sender(reply), BUS_DRIVER_NAME))
                return -EPROTO;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key;
                uint32_t u;
                int fd;

                r = sd_bus_message_read_basic(reply, 's', &key);
                if (r < 0)
                        return r;
                if (streq(key, "UnixUserID") && sd_bus_message_read(reply, "v", "u", &u) >= 0) {
                        c.uid = u;
                        have_uid = true;
                } else if (streq(key, "ProcessID") && sd_bus_message_read(reply, "v", "u", &u) >= 0) {
                        c.pid = (pid_t)u;
                        have_pid = true;
                } else if (streq(key, "ProcessFD") && sd_bus_message_read(reply, "v", "h", &fd) >= 0) {
                        closep(&pidfd);
                        pidfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                } else {
                        r = sd_bus_message_skip(reply, "v");
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        if (!have_uid || !have_pid)
                return -ENODATA;

        /* The bus gives no gid: the kernel's, for the process the bus named. */
        if (pidfd < 0) {
                pidfd = pidfd_open_cloexec(c.pid);
                if (pidfd == -ESRCH)
                        return pidfd;
                /* No pidfds here: the uid check below is the only guard. */
                if (pidfd < 0 && pidfd != -ENOSYS)
                        return pidfd;
        }
        uid = c.uid;
        r = creds_fill_from_pidfd(pidfd, c.pid, &c);
        if (r < 0)
                return r;
        /* Not the process the bus saw connect (its pid was reused). */
        if (c.uid != uid)
                return -ESRCH;
        c.pidfd = TAKE_FD(pidfd);
        c.state = 1;
        *ret = c;
        return 0;
}

int creds_query_socket(int fd, peer_creds *ret) {
        struct ucred uc;
        socklen_t len = sizeof(uc);
        peer_creds c = PEER_CREDS_INIT;
        int pidfd;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
                return -errno;
        c.pid = uc.pid;
        c.uid = uc.uid;
        c.gid = uc.gid;
        len = sizeof(pidfd);
        /* Linux 6.5 and later: a pidfd for the very process that connected. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) >= 0)
                c.pidfd = pidfd;
        c.state = 1;
        *ret = c;
        return 0;
}

int creds_query_pidfd(int pidfd, pid_t pid, peer_creds *ret) {
        peer_creds c = PEER_CREDS_INIT;
        int r;

        c.pid = pid;
        r = creds_fill_from_pidfd(pidfd, pid, &c);
        if (r < 0)
                return r;
        if (pidfd >= 0) {
                c.pidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
                if (c.pidfd < 0)
                        return -errno;
        }
        c.state = 1;
        *ret = c;
        return 0;
}

void creds_done(peer_creds *c) {
        if (c->pidfd >= 0)
                (void)close(c->pidfd);
        *c = PEER_CREDS_INIT;
}
