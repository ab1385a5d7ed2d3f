/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The shared library exports exactly the public API (as c-util's tests
 * prove for theirs): every dynamic symbol it defines starts with "ipcbus_"
 * and is declared IPCBUS_EXPORT in an installed header, and every such
 * declaration is exported, under the version node of libipcbus.sym.
 *
 * This program links the shared library, not the internal static one.
 * meson passes the library's path and the installed headers:
 *
 *     test_exports LIBRARY.so HEADER...
 *
 * The library's dynamic symbol table is read straight from its ELF file
 * (.dynsym with its string table and .gnu.version / .gnu.version_d).
 */

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include <ipcbus/ipcbus.h>
#include "ipcbus-glib.h"

#define VERSION_NODE "IPCBUS_0"

static bool streq0(const char *a, const char *b) {
        return g_strcmp0(a, b) == 0;
}

static const char *library_path;
static char **header_paths;
static int n_headers;

/* ---- the library's dynamic symbols ----------------------------------------- */

typedef struct exports {
        GHashTable *symbols;    /* name -> version name (or "" when unversioned) */
        GPtrArray *nodes;       /* version definitions other than the file's own */
} exports;

static void exports_clear(exports *e) {
        g_clear_pointer(&e->symbols, g_hash_table_unref);
        g_clear_pointer(&e->nodes, g_ptr_array_unref);
}

static const ElfW(Shdr) *section_of_type(const ElfW(Ehdr) *eh, size_t size, uint32_t type) {
        const ElfW(Shdr) *sh = (const void *)((const char *)eh + eh->e_shoff);

        for (size_t i = 0; i < eh->e_shnum; i++)
                if (sh[i].sh_type == type) {
                        assert_true(sh[i].sh_offset + sh[i].sh_size <= size);
                        return &sh[i];
                }
        return NULL;
}

/* Version index -> name, from .gnu.version_d; index 1 is the file itself. */
static GHashTable *read_version_definitions(const ElfW(Ehdr) *eh, size_t size, GPtrArray *nodes) {
        const ElfW(Shdr) *shdrs = (const void *)((const char *)eh + eh->e_shoff);
        const ElfW(Shdr) *vd = section_of_type(eh, size, SHT_GNU_verdef);
        GHashTable *names = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
        const char *strtab;
        size_t off;

        if (!vd)
                return names;
        strtab = (const char *)eh + shdrs[vd->sh_link].sh_offset;
        off = vd->sh_offset;
        for (size_t i = 0; i < vd->sh_info; i++) {
                const ElfW(Verdef) *d = (const void *)((const char *)eh + off);
                const ElfW(Verdaux) *aux = (const void *)((const char *)d + d->vd_aux);
                const char *name = strtab + aux->vda_name;

                g_hash_table_insert(names, GUINT_TO_POINTER(d->vd_ndx), g_strdup(name));
                if (!(d->vd_flags & VER_FLG_BASE))
                        g_ptr_array_add(nodes, g_strdup(name));
                if (!d->vd_next)
                        break;
                off += d->vd_next;
        }
        return names;
}

static void read_exports(const char *path, exports *ret) {
        g_autoptr(GHashTable) versions = NULL;
        const ElfW(Shdr) *shdrs, *dynsym, *versym;
        const ElfW(Ehdr) *eh;
        const ElfW(Sym) *syms;
        const ElfW(Half) *vers = NULL;
        const char *strtab;
        struct stat st;
        void *map;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                fail_msg("cannot open %s: %s", path, g_strerror(errno));
        assert_int_equal(fstat(fd, &st), 0);
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        assert_true(map != MAP_FAILED);
        (void)close(fd);

        eh = map;
        assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
        assert_int_equal(eh->e_ident[EI_CLASS], sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32);
        assert_int_equal(eh->e_type, ET_DYN);
        assert_true(eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) <= (size_t)st.st_size);

        shdrs = (const void *)((const char *)map + eh->e_shoff);
        dynsym = section_of_type(eh, (size_t)st.st_size, SHT_DYNSYM);
        assert_non_null(dynsym);
        syms = (const void *)((const char *)map + dynsym->sh_offset);
        strtab = (const char *)map + shdrs[dynsym->sh_link].sh_offset;
        versym = section_of_type(eh, (size_t)st.st_size, SHT_GNU_versym);
        if (versym)
                vers = (const void *)((const char *)map + versym->sh_offset);

        ret->symbols = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        ret->nodes = g_ptr_array_new_with_free_func(g_free);
        versions = read_version_definitions(eh, (size_t)st.st_size, ret->nodes);

        for (size_t i = 1; i < dynsym->sh_size / sizeof(ElfW(Sym)); i++) {
                const ElfW(Sym) *s = &syms[i];
                unsigned bind = ELF64_ST_BIND(s->st_info), vis = ELF64_ST_VISIBILITY(s->st_other);
                const char *name = strtab + s->st_name, *version = "";

                /* Defined here and visible to others: what the library exports. */
                if (s->st_shndx == SHN_UNDEF || bind == STB_LOCAL ||
                    (vis != STV_DEFAULT && vis != STV_PROTECTED))
                        continue;
                if (vers) {
                        const char *v = g_hash_table_lookup(versions, GUINT_TO_POINTER(vers[i] & 0x7fff));

                        version = v ? v : "?";
                }
                /* The version node itself shows up as an absolute symbol. */
                if (s->st_shndx == SHN_ABS && streq0(name, version))
                        continue;
                g_hash_table_insert(ret->symbols, g_strdup(name), g_strdup(version));
        }
        assert_int_equal(munmap(map, (size_t)st.st_size), 0);
}

/* ---- what the headers declare ------------------------------------------------ */

/* Remove comments and preprocessor lines, keeping the rest as is. */
static char *strip_comments_and_cpp(const char *text) {
        GString *out = g_string_new(NULL);
        bool line_start = true;

        for (const char *p = text; *p;) {
                if (p[0] == '/' && p[1] == '*') {
                        const char *end = strstr(p + 2, "*/");

                        assert_non_null(end);
                        p = end + 2;
                        g_string_append_c(out, ' ');
                } else if (p[0] == '/' && p[1] == '/') {
                        while (*p && *p != '\n')
                                p++;
                } else if (line_start && *p == '#') {
                        /* Directives may continue over backslash-newlines. */
                        while (*p && !(*p == '\n' && p[-1] != '\\'))
                                p++;
                } else {
                        if (*p == '\n')
                                line_start = true;
                        else if (*p != ' ' && *p != '\t')
                                line_start = false;
                        g_string_append_c(out, *p++);
                }
        }
        return g_string_free(out, FALSE);
}

/* Adds the name of each "IPCBUS_EXPORT ... name(" declaration in @path. */
static void read_declarations(const char *path, GHashTable *declared) {
        g_autoptr(GRegex) re = NULL;
        g_autoptr(GMatchInfo) match = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *text = NULL, *code = NULL;
        unsigned uses = 0, matches = 0;

        if (!g_file_get_contents(path, &text, NULL, &error))
                fail_msg("%s", error->message);
        code = strip_comments_and_cpp(text);
        re = g_regex_new("\\bIPCBUS_EXPORT\\b[^;(]*?\\b([A-Za-z_][A-Za-z0-9_]*)\\s*\\(", G_REGEX_MULTILINE, 0,
                         &error);
        assert_non_null(re);
        g_regex_match(re, code, 0, &match);
        while (g_match_info_matches(match)) {
                char *name = g_match_info_fetch(match, 1);

                matches++;
                if (!g_hash_table_add(declared, name))
                        fail_msg("%s: %s is declared twice", path, name);
                g_match_info_next(match, NULL);
        }
        /* Every use of the macro is such a declaration: an exported variable
         * or a shape this parser does not know would show here. */
        for (const char *p = code; (p = strstr(p, "IPCBUS_EXPORT")); p += strlen("IPCBUS_EXPORT"))
                uses++;
        if (uses != matches)
                fail_msg("%s: IPCBUS_EXPORT used %u times, %u function declarations found", path, uses, matches);
}

static GHashTable *read_all_declarations(void) {
        GHashTable *declared = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        for (int i = 0; i < n_headers; i++) {
                unsigned before = g_hash_table_size(declared);

                read_declarations(header_paths[i], declared);
                print_message("%s: %u declarations\n", header_paths[i], g_hash_table_size(declared) - before);
        }
        return declared;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_parse_declarations(void **state) {
        /* The parser itself, on the shapes the headers use. */
        g_autofree char *path = g_build_filename(g_get_tmp_dir(), "ipcbus-test-exports-XXXXXX.h", NULL);
        g_autoptr(GHashTable) declared = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GError) error = NULL;
        int fd;
        static const char text[] =
                "#define IPCBUS_EXPORT __attribute__((visibility(\"default\")))\n"
                "#ifndef IPCBUS_EXPORT\n#endif\n"
                "/* IPCBUS_EXPORT int not_me(void); */\n"
                "// IPCBUS_EXPORT int nor_me(void);\n"
                "IPCBUS_EXPORT int ipcbus_a(ipcbus_main **ret, const char *name);\n"
                "IPCBUS_EXPORT ipcbus_main *ipcbus_b(ipcbus_main *m);\n"
                "IPCBUS_EXPORT int ipcbus_c(ipcbus_invocation *invocation, const char *name,\n"
                "                           const char *format, ...) G_GNUC_PRINTF(3, 4);\n"
                "IPCBUS_EXPORT GVariant *ipcbus_d(GVariant *first, ...) G_GNUC_NULL_TERMINATED;\n"
                "IPCBUS_EXPORT const char *\n    ipcbus_e (void);\n"
                "typedef int (*ipcbus_fn)(void *userdata);\n"
                "int internal_f(void);\n";

        fd = g_mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
        (void)close(fd);
        read_declarations(path, declared);
        (void)unlink(path);

        assert_int_equal(g_hash_table_size(declared), 5);
        assert_true(g_hash_table_contains(declared, "ipcbus_a"));
        assert_true(g_hash_table_contains(declared, "ipcbus_b"));
        assert_true(g_hash_table_contains(declared, "ipcbus_c"));
        assert_true(g_hash_table_contains(declared, "ipcbus_d"));
        assert_true(g_hash_table_contains(declared, "ipcbus_e"));
}

static void test_linked_library_is_the_one_checked(void **state) {
        Dl_info info = {};
        struct stat a, b;

        /* This program calls into the shared library ... */
        assert_string_equal(ipcbus_kind_to_string(IPCBUS_KIND_NULL), "null");
        /* ... and that is the file whose symbols the other tests read. */
        assert_true(dladdr((void *)ipcbus_kind_to_string, &info) != 0);
        assert_non_null(info.dli_fname);
        print_message("ipcbus_kind_to_string comes from %s\n", info.dli_fname);
        assert_int_equal(stat(info.dli_fname, &a), 0);
        assert_int_equal(stat(library_path, &b), 0);
        assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
}

static void test_exports_all_prefixed(void **state) {
        exports e = {};
        GHashTableIter it;
        const char *name, *version;
        unsigned bad = 0;

        read_exports(library_path, &e);
        assert_true(g_hash_table_size(e.symbols) > 0);
        g_hash_table_iter_init(&it, e.symbols);
        while (g_hash_table_iter_next(&it, (void **)&name, (void **)&version)) {
                if (!g_str_has_prefix(name, "ipcbus_")) {
                        print_error("exported without the ipcbus_ prefix: %s\n", name);
                        bad++;
                }
                if (!streq0(version, VERSION_NODE)) {
                        print_error("%s has version '%s', not " VERSION_NODE "\n", name, version);
                        bad++;
                }
        }
        /* One version node, the one libipcbus.sym names. */
        assert_int_equal(e.nodes->len, 1);
        assert_string_equal(g_ptr_array_index(e.nodes, 0), VERSION_NODE);
        print_message("%u exported symbols\n", g_hash_table_size(e.symbols));
        assert_int_equal(bad, 0);
        exports_clear(&e);
}

static void test_exports_match_headers(void **state) {
        g_autoptr(GHashTable) declared = read_all_declarations();
        g_autoptr(GList) names = NULL;
        exports e = {};
        unsigned missing = 0, undeclared = 0;

        read_exports(library_path, &e);
        assert_true(g_hash_table_size(declared) > 0);

        /* Declared IPCBUS_EXPORT, hence promised: must be exported. */
        names = g_list_sort(g_hash_table_get_keys(declared), (GCompareFunc)strcmp);
        for (GList *l = names; l; l = l->next)
                if (!g_hash_table_contains(e.symbols, l->data)) {
                        print_error("declared IPCBUS_EXPORT but not exported: %s\n", (const char *)l->data);
                        missing++;
                }
        g_clear_pointer(&names, g_list_free);

        /* Exported: must be declared in an installed header (no internal
         * helper that merely carries the prefix). */
        names = g_list_sort(g_hash_table_get_keys(e.symbols), (GCompareFunc)strcmp);
        for (GList *l = names; l; l = l->next)
                if (!g_hash_table_contains(declared, l->data)) {
                        print_error("exported but not declared in an installed header: %s\n",
                                    (const char *)l->data);
                        undeclared++;
                }
        print_message("%u declared, %u exported\n", g_hash_table_size(declared), g_hash_table_size(e.symbols));
        assert_int_equal(missing, 0);
        assert_int_equal(undeclared, 0);
        exports_clear(&e);
}

int main(int argc, char **argv) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_declarations),
                cmocka_unit_test(test_linked_library_is_the_one_checked),
                cmocka_unit_test(test_exports_all_prefixed),
                cmocka_unit_test(test_exports_match_headers),
        };

        if (argc < 3) {
                fprintf(stderr, "usage: %s LIBRARY.so HEADER...\n", argv[0]);
                return 2;
        }
        library_path = argv[1];
        header_paths = argv + 2;
        n_headers = argc - 2;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
