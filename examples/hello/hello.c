/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hello: a program built against an installed ipcbus, out of the source
 * tree, with nothing but
 *
 *     cc hello.c -o hello $(pkg-config --cflags --libs ipcbus)
 *
 * (the README's install section; tests/install/check-install builds and
 * runs it against a fresh install). A main and a renderer in one process,
 * on the two ends of a socketpair (a direct connection: no bus daemon),
 * run from a GMainLoop through the GLib adapter: the renderer invokes
 * "greet" and prints the main's answer. It first prints which file the
 * dynamic linker loaded as libipcbus.so.0.
 */

#define _GNU_SOURCE /* dlinfo() */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ipcbus/ipcbus.h>
#include <ipcbus/ipcbus-glib.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

typedef struct hello {
        GMainLoop *loop;
        int status;
} hello;

/* ipcMain.handle('greet', (event, who) => `hello, ${who}`) */
static int handle_greet(ipcbus_invocation *invocation, GVariant *args, void *userdata) {
        g_autoptr(GVariant) who = ipcbus_args_get(args, 0);
        char *greeting;

        if (!who || !g_variant_is_of_type(who, G_VARIANT_TYPE_STRING))
                return -EINVAL; /* answered as org.ipcbus.Error.HandlerFailed */
        greeting = g_strdup_printf("hello, %s", g_variant_get_string(who, NULL));
        return ipcbus_invocation_return_value(invocation, g_variant_new_take_string(greeting));
}

/* const answer = await ipcRenderer.invoke('greet', 'installed ipcbus') */
static int on_answer(GVariant *result, const sd_bus_error *error, void *userdata) {
        hello *h = userdata;

        if (error)
                fprintf(stderr, "hello: invoke failed: %s: %s\n", error->name, error->message);
        else if (!g_variant_is_of_type(result, G_VARIANT_TYPE_STRING))
                fprintf(stderr, "hello: unexpected answer of type %s\n", g_variant_get_type_string(result));
        else {
                printf("answer: %s\n", g_variant_get_string(result, NULL));
                h->status = 0;
        }
        g_main_loop_quit(h->loop);
        return 0;
}

/* The path of the libipcbus.so.0 this process runs, as the dynamic linker
 * found it (rpath, LD_LIBRARY_PATH or the ldconfig cache). */
static int print_library(void) {
        struct link_map *map = NULL;
        void *handle;

        handle = dlopen("libipcbus.so.0", RTLD_LAZY | RTLD_NOLOAD);
        if (!handle || dlinfo(handle, RTLD_DI_LINKMAP, &map) < 0) {
                fprintf(stderr, "hello: libipcbus.so.0 is not loaded: %s\n", dlerror());
                return -ENOENT;
        }
        printf("libipcbus.so.0: %s\n", map->l_name);
        (void)dlclose(handle);
        return 0;
}

int main(void) {
        _cleanup_(ipcbus_main_unrefp) ipcbus_main *m = NULL;
        _cleanup_(ipcbus_renderer_unrefp) ipcbus_renderer *r = NULL;
        g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
        hello h = { .loop = loop, .status = 1 };
        guint source;
        int sv[2], k;

        k = print_library();
        if (k >= 0)
                k = ipcbus_main_new(&m, "org.example.Hello");
        if (k >= 0)
                k = ipcbus_main_handle(m, NULL, "greet", handle_greet, NULL);
        if (k >= 0)
                k = ipcbus_renderer_new(&r, "org.example.Hello");
        if (k >= 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                k = -errno;
        if (k >= 0) {
                k = ipcbus_main_add_direct(m, sv[0], NULL); /* takes sv[0], also on failure */
                if (k < 0)
                        (void)close(sv[1]);
        }
        if (k >= 0)
                k = ipcbus_renderer_open_direct(r, sv[1]); /* takes sv[1], also on failure */
        if (k >= 0)
                k = ipcbus_renderer_invoke(r, NULL, "greet",
                                           ipcbus_args(g_variant_new_string("installed ipcbus"), NULL), 0,
                                           on_answer, &h);
        if (k < 0) {
                fprintf(stderr, "hello: %s\n", strerror(-k));
                return 1;
        }

        /* Main and renderer share this thread's default sd-event loop:
         * attach it once. */
        source = ipcbus_glib_attach(ipcbus_renderer_get_event(r), NULL);
        if (source == 0) {
                fprintf(stderr, "hello: ipcbus_glib_attach: %s\n", strerror(errno));
                return 1;
        }
        g_main_loop_run(loop);
        g_source_remove(source);
        return h.status;
}
