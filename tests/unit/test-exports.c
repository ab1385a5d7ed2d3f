/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The shared library exports exactly the public API (as c-util's tests
 * prove for theirs): every dynamic symbol it defines starts with "ipcbus_"
 * and is declared IPCBUS_EXPORT in an installed header, and every such
 * declaration is exported. The version script, libipcbus.sym, lists that
 * same set by name (no glob), and each symbol carries the version node the
 * script lists it under.
 *
 * This program links the shared library, not the internal static one.
 * meson passes the library's path, the version script and the installed
 * headers:
 *
 *     test_exports LIBRARY.so libipcbus.sym HEADER...
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

static bool streq0(const char *a, const char *b) {
        return g_strcmp0(a, b) == 0;
}

static const char *library_path;
static const char *script_path;
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

/* ---- the version script ---------------------------------------------------------- */

typedef struct version_node {
        char *name;
        char *parent;           /* the node it inherits, or NULL */
        GPtrArray *globals;     /* entries as written, globs included */
        GPtrArray *locals;
} version_node;

static void version_node_free(version_node *n) {
        g_free(n->name);
        g_free(n->parent);
        g_ptr_array_unref(n->globals);
        g_ptr_array_unref(n->locals);
        g_free(n);
}

static bool is_identifier(const char *s) {
        if (!g_ascii_isalpha(*s) && *s != '_')
                return false;
        for (s++; *s; s++)
                if (!g_ascii_isalnum(*s) && *s != '_')
                        return false;
        return true;
}

static bool is_punctuation(const char *s) {
        return s[0] && strchr("{};:", s[0]);
}

/* Words and the one-character tokens { } ; : of comment-free @code. */
static GPtrArray *tokenize(const char *code) {
        GPtrArray *tokens = g_ptr_array_new_with_free_func(g_free);

        for (const char *p = code; *p;) {
                const char *start = p;

                if (g_ascii_isspace(*p)) {
                        p++;
                        continue;
                }
                if (is_punctuation(p))
                        p++;
                else
                        while (*p && !g_ascii_isspace(*p) && !is_punctuation(p))
                                p++;
                g_ptr_array_add(tokens, g_strndup(start, (gsize)(p - start)));
        }
        return tokens;
}

static const char *token_at(GPtrArray *tokens, guint i) {
        return i < tokens->len ? g_ptr_array_index(tokens, i) : "";
}

/*
 * The nodes of a version script, in order. Only the shape libipcbus.sym
 * uses is understood,
 *
 *     NAME { [global:] ENTRY; ... [local: ENTRY; ...] } [PARENT];
 *
 * and anything else fails the test (@where names the file).
 */
static GPtrArray *parse_version_script(const char *text, const char *where) {
        g_autofree char *code = strip_comments_and_cpp(text);
        g_autoptr(GPtrArray) tokens = tokenize(code);
        GPtrArray *nodes = g_ptr_array_new_with_free_func((GDestroyNotify)version_node_free);
        guint i = 0;

        while (i < tokens->len) {
                version_node *n = g_new0(version_node, 1);
                GPtrArray *section;

                n->globals = g_ptr_array_new_with_free_func(g_free);
                n->locals = g_ptr_array_new_with_free_func(g_free);
                g_ptr_array_add(nodes, n);
                n->name = g_strdup(token_at(tokens, i++));
                if (is_punctuation(n->name) || !streq0(token_at(tokens, i++), "{"))
                        fail_msg("%s: expected 'NAME {' at '%s'", where, n->name);
                /* Entries before any "global:" or "local:" are global. */
                section = n->globals;
                while (!streq0(token_at(tokens, i), "}")) {
                        const char *t = token_at(tokens, i++);
                        bool label = streq0(token_at(tokens, i), ":");

                        if (!*t)
                                fail_msg("%s: node %s is not closed", where, n->name);
                        if (label && (streq0(t, "global") || streq0(t, "local"))) {
                                section = streq0(t, "global") ? n->globals : n->locals;
                                i++;
                                continue;
                        }
                        if (is_punctuation(t) || !streq0(token_at(tokens, i++), ";"))
                                fail_msg("%s: node %s: expected 'ENTRY;' at '%s'", where, n->name, t);
                        g_ptr_array_add(section, g_strdup(t));
                }
                i++;
                if (!is_punctuation(token_at(tokens, i)))
                        n->parent = g_strdup(token_at(tokens, i++));
                if (!streq0(token_at(tokens, i++), ";"))
                        fail_msg("%s: node %s: expected ';' after '}'", where, n->name);
        }
        return nodes;
}

static GPtrArray *read_version_script(void) {
        g_autoptr(GError) error = NULL;
        g_autofree char *text = NULL;

        if (!g_file_get_contents(script_path, &text, NULL, &error))
                fail_msg("%s", error->message);
        return parse_version_script(text, script_path);
}

/* Global entry -> the name of the node that lists it. */
static GHashTable *listed_symbols(GPtrArray *nodes) {
        GHashTable *listed = g_hash_table_new(g_str_hash, g_str_equal);

        for (guint k = 0; k < nodes->len; k++) {
                version_node *n = g_ptr_array_index(nodes, k);

                for (guint j = 0; j < n->globals->len; j++)
                        g_hash_table_insert(listed, g_ptr_array_index(n->globals, j), n->name);
        }
        return listed;
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

static void test_parse_version_script(void **state) {
        /* The parser itself, on the script's shape and on a glob it must
         * show rather than expand. */
        static const char text[] =
                "/* IPCBUS_9.9 { global: not_me; }; */\n"
                "IPCBUS_0.1 {\n"
                "global:\n"
                "        /* group */\n"
                "        ipcbus_a;\n"
                "        ipcbus_b ;\n"
                "local:\n"
                "        *;\n"
                "};\n"
                "IPCBUS_0.2 { ipcbus_c; ipcbus_*; } IPCBUS_0.1;\n";
        g_autoptr(GPtrArray) nodes = parse_version_script(text, "test");
        version_node *first, *second;

        assert_int_equal(nodes->len, 2);
        first = g_ptr_array_index(nodes, 0);
        second = g_ptr_array_index(nodes, 1);
        assert_string_equal(first->name, "IPCBUS_0.1");
        assert_null(first->parent);
        assert_int_equal(first->globals->len, 2);
        assert_string_equal(g_ptr_array_index(first->globals, 0), "ipcbus_a");
        assert_string_equal(g_ptr_array_index(first->globals, 1), "ipcbus_b");
        assert_int_equal(first->locals->len, 1);
        assert_string_equal(g_ptr_array_index(first->locals, 0), "*");
        assert_string_equal(second->name, "IPCBUS_0.2");
        assert_string_equal(second->parent, "IPCBUS_0.1");
        assert_int_equal(second->globals->len, 2);
        assert_string_equal(g_ptr_array_index(second->globals, 0), "ipcbus_c");
        assert_string_equal(g_ptr_array_index(second->globals, 1), "ipcbus_*");
        assert_int_equal(second->locals->len, 0);
        assert_true(is_identifier("ipcbus_c"));
        assert_false(is_identifier("ipcbus_*"));
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

static void test_version_script_is_explicit(void **state) {
        g_autoptr(GPtrArray) nodes = read_version_script();
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
        unsigned bad = 0;

        assert_true(nodes->len > 0);
        for (guint k = 0; k < nodes->len; k++) {
                version_node *n = g_ptr_array_index(nodes, k);
                const char *before = k > 0 ? ((version_node *)g_ptr_array_index(nodes, k - 1))->name : NULL;

                if (!g_regex_match_simple("^IPCBUS_[0-9]+\\.[0-9]+$", n->name, 0, 0)) {
                        print_error("node %s is not named IPCBUS_MAJOR.MINOR\n", n->name);
                        bad++;
                }
                /* Each node inherits the one before it; the first has none. */
                if (!streq0(n->parent, before)) {
                        print_error("node %s inherits '%s', not '%s'\n", n->name, n->parent ?: "",
                                    before ?: "");
                        bad++;
                }
                /* Everything not listed is local, said once, in the first node. */
                if (k == 0 ? n->locals->len != 1 || !streq0(g_ptr_array_index(n->locals, 0), "*")
                           : n->locals->len != 0) {
                        print_error("node %s: only the first node has 'local: *;', and nothing else local\n",
                                    n->name);
                        bad++;
                }
                if (n->globals->len == 0) {
                        print_error("node %s lists no symbol\n", n->name);
                        bad++;
                }
                for (guint j = 0; j < n->globals->len; j++) {
                        const char *name = g_ptr_array_index(n->globals, j);

                        if (!is_identifier(name)) {
                                print_error("node %s: '%s' is a pattern, not a symbol: list each name\n",
                                            n->name, name);
                                bad++;
                        } else if (!g_hash_table_add(seen, (void *)name)) {
                                print_error("%s is listed twice\n", name);
                                bad++;
                        }
                }
        }
        print_message("%s: %u nodes, %u symbols\n", script_path, nodes->len, g_hash_table_size(seen));
        assert_int_equal(bad, 0);
}

static void test_version_script_matches_headers(void **state) {
        g_autoptr(GHashTable) declared = read_all_declarations();
        g_autoptr(GPtrArray) nodes = read_version_script();
        g_autoptr(GHashTable) listed = listed_symbols(nodes);
        g_autoptr(GList) names = NULL;
        unsigned missing = 0, undeclared = 0;

        names = g_list_sort(g_hash_table_get_keys(declared), (GCompareFunc)strcmp);
        for (GList *l = names; l; l = l->next)
                if (!g_hash_table_contains(listed, l->data)) {
                        print_error("declared IPCBUS_EXPORT but not listed in libipcbus.sym: %s\n",
                                    (const char *)l->data);
                        missing++;
                }
        g_clear_pointer(&names, g_list_free);

        names = g_list_sort(g_hash_table_get_keys(listed), (GCompareFunc)strcmp);
        for (GList *l = names; l; l = l->next)
                if (!g_hash_table_contains(declared, l->data)) {
                        print_error("listed in libipcbus.sym but not declared IPCBUS_EXPORT: %s\n",
                                    (const char *)l->data);
                        undeclared++;
                }
        print_message("%u declared, %u listed\n", g_hash_table_size(declared), g_hash_table_size(listed));
        assert_int_equal(missing, 0);
        assert_int_equal(undeclared, 0);
}

static void test_exports_all_prefixed(void **state) {
        g_autoptr(GPtrArray) nodes = read_version_script();
        g_autoptr(GHashTable) listed = listed_symbols(nodes);
        exports e = {};
        GHashTableIter it;
        const char *name, *version;
        unsigned bad = 0;

        read_exports(library_path, &e);
        assert_true(g_hash_table_size(e.symbols) > 0);
        g_hash_table_iter_init(&it, e.symbols);
        while (g_hash_table_iter_next(&it, (void **)&name, (void **)&version)) {
                const char *node = g_hash_table_lookup(listed, name);

                if (!g_str_has_prefix(name, "ipcbus_")) {
                        print_error("exported without the ipcbus_ prefix: %s\n", name);
                        bad++;
                }
                if (!streq0(version, node)) {
                        print_error("%s has version '%s', libipcbus.sym lists it in '%s'\n", name, version,
                                    node ?: "no node");
                        bad++;
                }
        }
        /* The library defines the script's nodes, in its order. */
        assert_int_equal(e.nodes->len, nodes->len);
        for (guint k = 0; k < nodes->len; k++)
                assert_string_equal(g_ptr_array_index(e.nodes, k),
                                    ((version_node *)g_ptr_array_index(nodes, k))->name);
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
                cmocka_unit_test(test_parse_version_script),
                cmocka_unit_test(test_linked_library_is_the_one_checked),
                cmocka_unit_test(test_version_script_is_explicit),
                cmocka_unit_test(test_version_script_matches_headers),
                cmocka_unit_test(test_exports_all_prefixed),
                cmocka_unit_test(test_exports_match_headers),
        };

        if (argc < 4) {
                fprintf(stderr, "usage: %s LIBRARY.so VERSION-SCRIPT HEADER...\n", argv[0]);
                return 2;
        }
        library_path = argv[1];
        script_path = argv[2];
        header_paths = argv + 3;
        n_headers = argc - 3;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
