/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-bus.h"

#define START_TIMEOUT_USEC (30 * TEST_USEC_PER_SEC)

struct test_bus {
        char *dir; /* holds bus.conf and the socket "bus" */
        char *address;
        test_bus_config config;
        test_process *daemon; /* dbus-daemon, or the keeper of dbus-broker-launch */
};

/*
 * Like the session bus, without activatable services unless a test asks
 * for a <servicedir> (test_bus_start_activating()). The limits are
 * dbus-daemon's session values: 1 GB per connection and message, far above
 * the 64 MiB a test sends. dbus-broker reads only max_outgoing_*,
 * max_connections_per_user and max_match_rules_per_connection, and derives
 * its per-user quotas from them. Its launcher ignores <listen> and <auth>
 * and warns that eavesdropping is deprecated.
 */
static const char session_policy[] =
        "  <policy context=\"default\">\n"
        "    <allow user=\"*\"/>\n"
        "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
        "    <allow eavesdrop=\"true\"/>\n"
        "    <allow own=\"*\"/>\n"
        "  </policy>\n"
        "  <limit name=\"max_incoming_bytes\">1000000000</limit>\n"
        "  <limit name=\"max_incoming_unix_fds\">250000000</limit>\n"
        "  <limit name=\"max_outgoing_bytes\">1000000000</limit>\n"
        "  <limit name=\"max_outgoing_unix_fds\">250000000</limit>\n"
        "  <limit name=\"max_message_size\">1000000000</limit>\n"
        "  <limit name=\"max_message_unix_fds\">4096</limit>\n"
        "  <limit name=\"max_completed_connections\">100000</limit>\n"
        "  <limit name=\"max_incomplete_connections\">10000</limit>\n"
        "  <limit name=\"max_connections_per_user\">100000</limit>\n"
        "  <limit name=\"max_names_per_connection\">50000</limit>\n"
        "  <limit name=\"max_match_rules_per_connection\">50000</limit>\n"
        "  <limit name=\"max_replies_per_connection\">50000</limit>\n";

/*
 * The default policy of Debian 12's system bus (dbus 1.14,
 * /usr/share/dbus-1/system.conf), without what a private test bus has no
 * use for (<user>, <fork>, the service helper, the pid file, syslog,
 * systemd's activator interface): holes for names and method calls come
 * from the included policy files only. The daemon's own limits apply.
 */
static const char system_policy[] =
        "  <policy context=\"default\">\n"
        "    <allow user=\"*\"/>\n"
        "    <deny own=\"*\"/>\n"
        "    <deny send_type=\"method_call\"/>\n"
        "    <allow send_type=\"signal\"/>\n"
        "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
        "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
        "    <allow receive_type=\"method_call\"/>\n"
        "    <allow receive_type=\"method_return\"/>\n"
        "    <allow receive_type=\"error\"/>\n"
        "    <allow receive_type=\"signal\"/>\n"
        "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>\n"
        "    <allow send_destination=\"org.freedesktop.DBus\"\n"
        "           send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
        "    <allow send_destination=\"org.freedesktop.DBus\"\n"
        "           send_interface=\"org.freedesktop.DBus.Properties\"/>\n"
        "    <deny send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"\n"
        "          send_member=\"UpdateActivationEnvironment\"/>\n"
        "    <deny send_destination=\"org.freedesktop.DBus\"\n"
        "          send_interface=\"org.freedesktop.DBus.Debug.Stats\"/>\n"
        "  </policy>\n"
        "  <policy user=\"root\">\n"
        "    <allow send_destination=\"org.freedesktop.DBus\"\n"
        "           send_interface=\"org.freedesktop.DBus.Monitoring\"/>\n"
        "  </policy>\n";

const char *test_bus_kind_to_string(test_bus_kind kind) {
        switch (kind) {
        case TEST_BUS_DBUS_DAEMON:
                return "dbus-daemon";
        case TEST_BUS_DBUS_BROKER:
                return "dbus-broker";
        default:
                return NULL;
        }
}

/* What a bus.conf says besides its <policy>: its directories, and whether
 * it names its <type>. */
typedef struct bus_files {
        const char *policy_dir;
        const char *service_dir;
        bool untyped;
} bus_files;

static int write_config(const char *dir, test_bus_config config, const bus_files *files) {
        char path[PATH_MAX];
        FILE *f;
        int r;

        snprintf(path, sizeof(path), "%s/bus.conf", dir);
        f = fopen(path, "wex");
        if (!f)
                return -errno;
        fputs("<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
              " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
              "<busconfig>\n",
              f);
        if (!files->untyped)
                fprintf(f, "  <type>%s</type>\n", config == TEST_BUS_SYSTEM_LIKE ? "system" : "session");
        fprintf(f,
                "  <listen>unix:path=%s/bus</listen>\n"
                "  <auth>EXTERNAL</auth>\n",
                dir);
        fputs(config == TEST_BUS_SYSTEM_LIKE ? system_policy : session_policy, f);
        /* After the bus's own policy, so the files' rules win, as in system.conf. */
        if (files->policy_dir)
                fprintf(f, "  <includedir>%s</includedir>\n", files->policy_dir);
        if (files->service_dir)
                fprintf(f, "  <servicedir>%s</servicedir>\n", files->service_dir);
        fputs("</busconfig>\n", f);
        r = ferror(f) ? -EIO : 0;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        return r;
}

/* A path written into the config as it is: absolute, nothing XML must escape. */
static bool config_path_ok(const char *path) {
        return path[0] == '/' && !strpbrk(path, "<>&\"'");
}

/*
 * Another uid reaches the socket only through directories it may search:
 * ours becomes 0755 (mkdtemp made it 0700), and each one above must let
 * others search it already (/tmp does; a $TMPDIR under /root does not).
 */
static int open_to_others(const char *dir) {
        char path[PATH_MAX];
        struct stat st;
        char *slash;

        if (chmod(dir, 0755) < 0)
                return -errno;
        snprintf(path, sizeof(path), "%s", dir);
        while ((slash = strrchr(path, '/')) && slash != path) {
                *slash = 0;
                if (stat(path, &st) < 0)
                        return -errno;
                if (!(st.st_mode & S_IXOTH)) {
                        fprintf(stderr, "test-bus: %s is not searchable by other users (mode %04o): "
                                        "set TMPDIR to a directory they can reach\n",
                                path, (unsigned)(st.st_mode & 07777));
                        return -EACCES;
                }
        }
        return 0;
}

static int start_daemon(test_bus *b) {
        char config[PATH_MAX + 16];
        char *argv[] = { "dbus-daemon", config, "--nofork", "--nosyslog", "--print-address", NULL };
        int r;

        snprintf(config, sizeof(config), "--config-file=%s/bus.conf", b->dir);
        r = test_process_spawn_command(&b->daemon, argv);
        if (r < 0)
                return r;
        /* The address is printed once the daemon listens. */
        r = test_process_wait_line(b->daemon, "unix:", START_TIMEOUT_USEC);
        if (r < 0)
                return r == -ENOMEM ? r : -EIO;
        b->address = strdup(test_process_get_line(b->daemon));
        return b->address ? 0 : -ENOMEM;
}

static int listen_unix(const char *path, int type) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            (type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

/*
 * dbus-broker-launch fails unless it can connect to the journal socket, so
 * it gets one of its own: a tmpfs over /run/systemd (or /run) in a private
 * mount namespace, and a datagram socket nobody reads (its logging is lossy).
 */
static int fake_journal(void) {
        struct stat st;
        const char *mnt = stat("/run/systemd", &st) == 0 ? "/run/systemd" : "/run";

        if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
                return -errno;
        if ((mkdir("/run/systemd", 0755) < 0 && errno != EEXIST) || mkdir("/run/systemd/journal", 0755) < 0)
                return -errno;
        return listen_unix("/run/systemd/journal/socket", SOCK_DGRAM);
}

_Noreturn static void exec_launcher(test_bus *b, int listen_fd) {
        char config[PATH_MAX], pid[16];
        sigset_t all;

        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                _exit(EXIT_FAILURE);
        /* Socket activation: the listening socket is fd 3. */
        if (listen_fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(listen_fd, 3) < 0)
                _exit(EXIT_FAILURE);
        snprintf(config, sizeof(config), "%s/bus.conf", b->dir);
        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        /* The launcher connects to its own bus as a client, through the session address. */
        if (setenv("LISTEN_FDS", "1", 1) < 0 || setenv("LISTEN_PID", pid, 1) < 0 ||
            unsetenv("LISTEN_FDNAMES") < 0 || setenv("DBUS_SESSION_BUS_ADDRESS", b->address, 1) < 0)
                _exit(EXIT_FAILURE);
        execlp("dbus-broker-launch", "dbus-broker-launch", "--scope", "user", "--config-file", config,
               (char *)NULL);
        fprintf(stderr, "test-bus: cannot run dbus-broker-launch: %m\n");
        _exit(127);
}

/*
 * The keeper: prints "ready" once the socket listens (or "unsupported"
 * without the right to make a mount namespace), runs the launcher,
 * and reaps it and (as child subreaper) the broker it forks. SIGTERM, also
 * from PR_SET_PDEATHSIG when the test dies, stops the launcher, whose broker
 * follows by its own PR_SET_PDEATHSIG. Exits once no child is left.
 */
static int broker_keeper(void *userdata) {
        test_bus *b = userdata;
        char path[PATH_MAX];
        int journal_fd, listen_fd, wstatus, status = EXIT_FAILURE;
        pid_t launcher, pid;
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 ||
            prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                return EXIT_FAILURE;

        journal_fd = fake_journal();
        if (journal_fd == -EPERM) {
                /* Not root, or a container without CAP_SYS_ADMIN. */
                printf("unsupported\n");
                return EXIT_FAILURE;
        }
        snprintf(path, sizeof(path), "%s/bus", b->dir);
        listen_fd = listen_unix(path, SOCK_STREAM);
        /* Connecting takes write permission on the socket; dbus-daemon makes its own 0777. */
        if (listen_fd >= 0 && b->config == TEST_BUS_SYSTEM_LIKE && chmod(path, 0777) < 0)
                listen_fd = -errno;
        if (journal_fd < 0 || listen_fd < 0) {
                fprintf(stderr, "test-bus: cannot prepare dbus-broker: %s\n",
                        strerror(-(journal_fd < 0 ? journal_fd : listen_fd)));
                return EXIT_FAILURE;
        }

        /* Clients may connect from now on: the launcher accepts once it runs. */
        printf("ready\n");
        fflush(stdout);
        launcher = fork();
        if (launcher < 0)
                return EXIT_FAILURE;
        if (launcher == 0)
                exec_launcher(b, listen_fd);
        /* Once the launcher is gone, nobody holds the socket and clients fail fast. */
        close(listen_fd);

        for (;;) {
                siginfo_t si;

                if (sigwaitinfo(&mask, &si) < 0)
                        continue;
                if (si.si_signo != SIGCHLD) {
                        if (launcher > 0)
                                kill(launcher, SIGTERM);
                        continue;
                }
                while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
                        if (pid == launcher) {
                                status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : EXIT_FAILURE;
                                launcher = 0;
                        }
                if (pid < 0 && errno == ECHILD)
                        return status;
        }
}

static int start_broker(test_bus *b) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *probe = NULL;
        const char *unique;
        int r;

        if (asprintf(&b->address, "unix:path=%s/bus", b->dir) < 0) {
                b->address = NULL;
                return -ENOMEM;
        }
        r = test_process_spawn(&b->daemon, broker_keeper, b);
        if (r < 0)
                return r;
        /* The keeper's first line: "ready" or "unsupported". */
        r = test_process_wait_line(b->daemon, "", START_TIMEOUT_USEC);
        if (r < 0)
                return r == -ENOMEM ? r : -EIO;
        if (strcmp(test_process_get_line(b->daemon), "ready") != 0)
                return -EOPNOTSUPP;
        /* Waits for the Hello reply: the broker runs and applied its policy. */
        r = test_bus_connect(b, &probe);
        if (r >= 0)
                r = sd_bus_get_unique_name(probe, &unique);
        return r < 0 ? -EIO : 0;
}

static int bus_start(test_bus **ret, test_bus_kind kind, test_bus_config config, const bus_files *files) {
        _cleanup_(test_bus_freep) test_bus *b = NULL;
        const char *tmp = getenv("TMPDIR");
        char dir[PATH_MAX];
        int r;

        if (!ret || !test_bus_kind_to_string(kind) ||
            (config != TEST_BUS_SESSION_LIKE && config != TEST_BUS_SYSTEM_LIKE) ||
            (files->policy_dir && !config_path_ok(files->policy_dir)) ||
            (files->service_dir && !config_path_ok(files->service_dir)))
                return -EINVAL;
        snprintf(dir, sizeof(dir), "%s/ipcbus-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir))
                return -errno;

        b = calloc(1, sizeof(*b));
        if (!b || !(b->dir = strdup(dir))) {
                rmdir(dir);
                return -ENOMEM;
        }

        b->config = config;
        if (config == TEST_BUS_SYSTEM_LIKE) {
                r = open_to_others(b->dir);
                if (r < 0)
                        return r;
        }
        r = write_config(b->dir, config, files);
        if (r < 0)
                return r;
        r = kind == TEST_BUS_DBUS_DAEMON ? start_daemon(b) : start_broker(b);
        if (r < 0)
                return r;

        *ret = b;
        b = NULL;
        return 0;
}

int test_bus_start_with(test_bus **ret, test_bus_kind kind, test_bus_config config, const char *policy_dir) {
        return bus_start(ret, kind, config, &(bus_files){ .policy_dir = policy_dir });
}

int test_bus_start_activating(test_bus **ret, const char *service_dir, bool typed) {
        if (!service_dir)
                return -EINVAL;
        return bus_start(ret, TEST_BUS_DBUS_DAEMON, TEST_BUS_SESSION_LIKE,
                         &(bus_files){ .service_dir = service_dir, .untyped = !typed });
}

int test_bus_start(test_bus **ret, test_bus_kind kind) {
        return test_bus_start_with(ret, kind, TEST_BUS_SESSION_LIKE, NULL);
}

const char *test_bus_get_address(test_bus *b) {
        return b->address;
}

int test_bus_connect(test_bus *b, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, b->address);
        if (r < 0)
                return r;
        r = sd_bus_set_bus_client(bus, 1);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;

        *ret = bus;
        bus = NULL;
        return 0;
}

int test_bus_setenv(test_bus *b) {
        if (setenv("DBUS_SESSION_BUS_ADDRESS", b->address, 1) < 0 ||
            setenv(TEST_BUS_ADDRESS_ENV, b->address, 1) < 0)
                return -errno;
        return 0;
}

/* The directory holds only files the bus made (config, socket): no recursion needed. */
static void remove_dir(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        (void)unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
        (void)rmdir(path);
}

int test_bus_kill(test_bus *b, int sig) {
        int r;

        if (!b->daemon)
                return -ESRCH;
        r = test_process_kill(b->daemon, sig);
        if (r < 0)
                return r;
        (void)test_process_wait_exit(b->daemon, NULL);
        b->daemon = test_process_free(b->daemon);
        return 0;
}

test_bus *test_bus_free(test_bus *b) {
        if (!b)
                return NULL;
        if (b->daemon) {
                /* SIGTERM lets the broker's keeper stop and reap the launcher and broker. */
                (void)test_process_kill(b->daemon, SIGTERM);
                (void)test_process_wait_exit(b->daemon, NULL);
                test_process_free(b->daemon);
        }
        if (b->dir) {
                remove_dir(b->dir);
                free(b->dir);
        }
        free(b->address);
        free(b);
        return NULL;
}

void test_bus_freep(test_bus **b) {
        test_bus_free(*b);
}
