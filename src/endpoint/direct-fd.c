/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The renderer's side of ipcbus_main_spawn(): its end of the socketpair,
 * named by $IPCBUS_DIRECT_FD. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "log.h"
#include "renderer-endpoint.h"
#include "util.h"

/* Return: the descriptor named by @value, if it is an open AF_UNIX stream
 * socket; -EBADF otherwise. */
static int parse_direct_fd(const char *value) {
        int fd, domain, type;
        socklen_t len;
        struct stat st;
        char *end;
        long n;

        errno = 0;
        n = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end || n < 0 || n > INT_MAX)
                return -EBADF;
        fd = (int)n;
        if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
                return -EBADF;
        len = sizeof(domain);
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX)
                return -EBADF;
        len = sizeof(type);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
                return -EBADF;
        return fd;
}

int ipcbus_renderer_open_spawned(ipcbus_renderer *r) {
        _cleanup_(freep) char *value = NULL;
        const char *e;
        int fd;

        assert_return(r, NULL, -EINVAL);
        if (r->conn)
                return -EBUSY;
        e = getenv(IPCBUS_DIRECT_FD_ENV);
        if (!e)
                return -ENXIO;
        /* Consumed: whatever the renderer starts must not believe it was
         * spawned by the main. */
        value = g_strdup(e);
        (void)unsetenv(IPCBUS_DIRECT_FD_ENV);

        fd = parse_direct_fd(value);
        if (fd < 0)
                return fd;
        /* The main cleared close-on-exec to hand it over; it stops here. */
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return -EBADF;
        return ipcbus_renderer_open_direct(r, fd);
}
