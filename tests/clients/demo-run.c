/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <glib.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "demo-run.h"

char *demo_path(void) {
        const char *builddir = getenv("IPCBUS_TEST_BUILDDIR");

        /* meson test sets it; run by hand from the build directory otherwise. */
        return g_build_filename(builddir && *builddir ? builddir : ".", "examples", "ipcbus-demo", NULL);
}

char *demo_source_path(const char *name) {
        const char *srcdir = getenv("IPCBUS_TEST_SRCDIR");
        g_autofree char *path = g_build_filename(srcdir && *srcdir ? srcdir : "..", name, NULL);
        char resolved[PATH_MAX];

        if (!realpath(path, resolved))
                fail_msg("%s: %s", path, strerror(errno));
        return g_strdup(resolved);
}

int demo_stop(test_process **p, const char *what) {
        int status = 0, r = 0;

        if (!*p)
                return 0;
        if (test_process_kill(*p, SIGTERM) < 0 || test_process_wait_exit(*p, &status) < 0)
                r = -1;
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "%s ended with %s %d, not exit 0\n", what, WIFEXITED(status) ? "exit" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                r = -1;
        }
        *p = test_process_free(*p);
        return r;
}

void demo_wait_received(test_process *main, const char *line) {
        g_autofree char *channel = g_strndup(line, strcspn(line, " "));
        g_autofree char *prefix = g_strdup_printf("main-recv %s ", channel);

        assert_int_equal(test_process_wait_line(main, prefix, DEMO_READY_TIMEOUT_USEC), 0);
        assert_string_equal(test_process_get_line(main) + strlen("main-recv "), line);
}
