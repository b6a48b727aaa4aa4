/* Plugin loading and the component index. */
#include <cnas/registry.h>

#include <cnas/dataset.h>
#include <cnas/log.h>
#include <cnas/op.h>
#include <cnas/space.h>
#include <cnas/strategy.h>

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "params_internal.h"

typedef struct loaded {
    char *path;
    void *handle;
    const cnas_plugin_desc *desc;
    int level;      /* the search-path entry it came from */
} loaded;

/* Each public load call is one level of the search path. A plugin whose name is
 * already loaded from an earlier level is shadowed (skipped, as PATH does with
 * commands); the same name twice within one level is an error. */
struct cnas_registry {
    loaded *p;
    int n, cap;
    int level;
};

cnas_registry *cnas_registry_new(cnas_error *err)
{
    cnas_registry *r = calloc(1, sizeof *r);
    if (!r)
        cnas_error_set(err, CNAS_ERR_NOMEM, "registry: out of memory");
    return r;
}

void cnas_registry_free(cnas_registry *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++) {
        free(r->p[i].path);
        dlclose(r->p[i].handle);
    }
    free(r->p);
    free(r);
}

/* Read the ELF header first: "not an ELF file", "an executable, not a shared
 * object" and "built for another machine" say more than dlerror() does. dlopen
 * still has the last word (missing libraries, unresolved symbols). */
static cnas_status check_elf(const char *path, cnas_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: cannot open: %s", path, strerror(errno));
    Elf64_Ehdr h;
    size_t got = fread(&h, 1, sizeof h, f);
    if (got < EI_NIDENT || memcmp(h.e_ident, ELFMAG, SELFMAG) != 0) {
        fclose(f);
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: not a shared object (no ELF "
                              "header)", path);
    }
    if (got < sizeof h || h.e_ident[EI_CLASS] != ELFCLASS64) {
        fclose(f);
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: a %s object; this cnas is 64-bit",
                              path, h.e_ident[EI_CLASS] == ELFCLASS32 ? "32-bit" : "truncated or "
                              "unknown-class");
    }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const int data = ELFDATA2LSB;
#else
    const int data = ELFDATA2MSB;
#endif
    if (h.e_ident[EI_DATA] != data) {
        fclose(f);
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: built for a machine of the other "
                              "byte order", path);
    }
#if defined(__x86_64__)
    const int machine = EM_X86_64;
#elif defined(__aarch64__)
    const int machine = EM_AARCH64;
#elif defined(__powerpc64__)
    const int machine = EM_PPC64;
#elif defined(__riscv)
    const int machine = EM_RISCV;
#elif defined(__s390x__)
    const int machine = EM_S390;
#else
    const int machine = h.e_machine;
#endif
    if (h.e_machine != machine) {
        fclose(f);
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: built for another architecture "
                              "(ELF machine %d; this machine is %d)", path, h.e_machine, machine);
    }
    if (h.e_type != ET_DYN) {
        fclose(f);
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: an ELF %s, not a shared object",
                              path, h.e_type == ET_EXEC ? "executable"
                                    : h.e_type == ET_REL ? "relocatable object (.o)"
                                                         : "file of another type");
    }
    /* A position-independent executable is ET_DYN too; unlike a shared object it asks
     * for a program interpreter. */
    bool pie = false;
    if (h.e_phentsize == sizeof(Elf64_Phdr) && h.e_phnum < 256 &&
        fseek(f, (long)h.e_phoff, SEEK_SET) == 0) {
        for (int i = 0; i < h.e_phnum && !pie; i++) {
            Elf64_Phdr ph;
            if (fread(&ph, sizeof ph, 1, f) != 1)
                break;
            pie = ph.p_type == PT_INTERP;
        }
    }
    fclose(f);
    if (pie)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: an executable (it names a program "
                              "interpreter), not a shared object", path);
    return CNAS_OK;
}

static bool valid_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

/* The members a component of each kind must set; every other member is optional
 * (callers check it with CNAS_VT_HAS). A minor never adds a required member: a
 * vtable built for 1.0 must stay loadable. */
typedef struct required_member {
    cnas_kind kind;
    const char *name;
    size_t offset;
    size_t end;                 /* offset + size: the smallest vtable size that holds it */
} required_member;

#define REQUIRED(kind, type, member)                                                      \
    {kind, #member, offsetof(type, member), offsetof(type, member) + sizeof(((type *)0)->member)}
static const required_member required_members[] = {
    REQUIRED(CNAS_KIND_OP, cnas_op_vtable, create),
    REQUIRED(CNAS_KIND_OP, cnas_op_vtable, destroy),
    REQUIRED(CNAS_KIND_OP, cnas_op_vtable, forward),
    REQUIRED(CNAS_KIND_OP, cnas_op_vtable, tensors),
    REQUIRED(CNAS_KIND_SPACE, cnas_space_vtable, create),
    REQUIRED(CNAS_KIND_SPACE, cnas_space_vtable, destroy),
    REQUIRED(CNAS_KIND_SPACE, cnas_space_vtable, forward),
    REQUIRED(CNAS_KIND_SPACE, cnas_space_vtable, tensors),
    REQUIRED(CNAS_KIND_STRATEGY, cnas_strategy_vtable, create),
    REQUIRED(CNAS_KIND_STRATEGY, cnas_strategy_vtable, destroy),
    REQUIRED(CNAS_KIND_STRATEGY, cnas_strategy_vtable, run),
    REQUIRED(CNAS_KIND_STRATEGY, cnas_strategy_vtable, save),
    REQUIRED(CNAS_KIND_STRATEGY, cnas_strategy_vtable, load),
    REQUIRED(CNAS_KIND_DATASET, cnas_dataset_vtable, open),
    REQUIRED(CNAS_KIND_DATASET, cnas_dataset_vtable, close),
    REQUIRED(CNAS_KIND_DATASET, cnas_dataset_vtable, info),
    REQUIRED(CNAS_KIND_DATASET, cnas_dataset_vtable, get),
};
#undef REQUIRED

/* Every required member is covered by the vtable's size and set. Members are
 * function pointers, read through one pointer type: their layout is the same. */
static cnas_status check_vtable(const char *path, const cnas_component *c, cnas_error *err)
{
    const unsigned char *vt = c->vtable;
    uint32_t size = *(const uint32_t *)c->vtable;
    for (size_t i = 0; i < sizeof required_members / sizeof required_members[0]; i++) {
        const required_member *m = &required_members[i];
        if (m->kind != c->kind)
            continue;
        if (size < m->end)
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: %s '%s' has a vtable of %u "
                                  "bytes, too small to hold '%s' (required; it ends at byte %zu)",
                                  path, cnas_kind_str(c->kind), c->name, size, m->name, m->end);
        void (*fn)(void);
        memcpy(&fn, vt + m->offset, sizeof fn);
        if (!fn)
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: %s '%s' has no '%s' (required)",
                                  path, cnas_kind_str(c->kind), c->name, m->name);
    }
    return CNAS_OK;
}

/* The descriptor as ABI 1.0 defines it, the smallest any plugin may hand over. */
#define DESC_SIZE_1_0 (offsetof(cnas_plugin_desc, init) + sizeof(((cnas_plugin_desc *)0)->init))

static cnas_status check_desc(const char *path, const cnas_plugin_desc *d, cnas_error *err)
{
    /* size, abi_major and abi_minor lead every version of the descriptor. */
    if (d->size < offsetof(cnas_plugin_desc, name))
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: bad descriptor size %u (smaller "
                              "than any version of the ABI)", path, d->size);
    if (d->abi_major != CNAS_ABI_MAJOR)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: built for plugin ABI %u.%u; this "
                              "cnas speaks ABI %d.%d (majors must match; rebuild the plugin "
                              "against this cnas)", path, d->abi_major, d->abi_minor,
                              CNAS_ABI_MAJOR, CNAS_ABI_MINOR);
    if (d->abi_minor > CNAS_ABI_MINOR)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: built for plugin ABI %u.%u, newer "
                              "than this cnas (%d.%d); upgrade cnas", path, d->abi_major,
                              d->abi_minor, CNAS_ABI_MAJOR, CNAS_ABI_MINOR);
    /* Any minor holds at least the 1.0 fields, and none the host does not know (its
     * minor is not newer); a later field is read only when d->size covers it. */
    if (d->size < DESC_SIZE_1_0 || d->size > sizeof(cnas_plugin_desc))
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: bad descriptor size %u (ABI "
                              "%u.%u descriptors have %zu to %zu bytes)", path, d->size,
                              d->abi_major, d->abi_minor, (size_t)DESC_SIZE_1_0,
                              sizeof(cnas_plugin_desc));
    if (!valid_name(d->name))
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: missing mandatory field: %s "
                              "invalid plugin name%s%s%s (expected [a-z0-9_]+)", path,
                              d->name ? "an" : "no name, an", d->name ? " '" : "",
                              d->name ? d->name : "", d->name ? "'" : "");
    if (!d->version || !*d->version)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: missing mandatory field: plugin "
                              "'%s' has no version", path, d->name);
    if (!d->components || d->n_components == 0)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: missing mandatory field: plugin "
                              "'%s' declares no components", path, d->name);
    /* ABI 1.0 has a single component layout; a later minor that appends to
     * cnas_component must step through the array by each plugin's c->size. */
    for (uint32_t i = 0; i < d->n_components; i++) {
        const cnas_component *c = &d->components[i];
        if (c->size < sizeof(cnas_component))
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: component %u has size %u, "
                                  "expected at least %zu", path, i, c->size, sizeof(cnas_component));
        if (!valid_name(c->name))
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: component %u has a missing or "
                                  "invalid name (expected [a-z0-9_]+)", path, i);
        if (c->kind < CNAS_KIND_OP || c->kind > CNAS_KIND_DATASET)
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: component '%s' has unknown "
                                  "kind %d", path, c->name, (int)c->kind);
        if (!c->vtable)
            return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: %s '%s' has no vtable", path,
                                  cnas_kind_str(c->kind), c->name);
        cnas_status st = check_vtable(path, c, err);
        if (st)
            return st;
        char where[512];
        snprintf(where, sizeof where, "plugin %s: %s '%s'", path, cnas_kind_str(c->kind), c->name);
        st = cnas__params_check_schema(c->params, (int)c->n_params, where, err);
        if (st)
            return st;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(d->components[j].name, c->name) == 0 && d->components[j].kind == c->kind)
                return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: duplicate component: "
                                      "component name '%s' is used twice (both %s)", path,
                                      c->name, cnas_kind_str(c->kind));
    }
    return CNAS_OK;
}

static cnas_status load_one(cnas_registry *r, const char *path, cnas_error *err)
{
    char *real = realpath(path, NULL);
    if (!real)
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: %s", path, strerror(errno));
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->p[i].path, real) == 0) {
            free(real);
            return CNAS_OK; /* already loaded */
        }
    cnas_status st = check_elf(real, err);
    if (st) {
        free(real);
        return st;
    }
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: cannot be loaded: %s", real, dlerror());
        free(real);
        return st;
    }
    cnas_plugin_entry_fn entry = (cnas_plugin_entry_fn)dlsym(h, CNAS_PLUGIN_ENTRY_SYMBOL);
    const cnas_plugin_desc *d = entry ? entry() : NULL;
    if (!entry)
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: no entry symbol '%s' (is it a cnas "
                            "plugin? declare it with CNAS_PLUGIN)", real, CNAS_PLUGIN_ENTRY_SYMBOL);
    else if (!d)
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: the entry returned no descriptor", real);
    else
        st = check_desc(real, d, err);
    for (int i = 0; !st && i < r->n; i++) {
        if (strcmp(r->p[i].desc->name, d->name) != 0)
            continue;
        if (r->p[i].level < r->level) {
            cnas_log(3, "plugin %s: '%s' is shadowed by %s, found earlier on the search path", real,
                     d->name, r->p[i].path);
            dlclose(h);
            free(real);
            return CNAS_OK;
        }
        st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: duplicate plugin name: '%s' is "
                            "already loaded from %s", real, d->name, r->p[i].path);
    }
    if (!st && CNAS_VT_HAS(d, init)) {
        cnas_error ie = {0};
        if (d->init(&ie) != CNAS_OK)
            st = cnas_error_set(err, CNAS_ERR_PLUGIN, "plugin %s: initialisation failed: %s", real,
                                ie.msg[0] ? ie.msg : "(no message)");
    }
    if (!st && r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        loaded *p = realloc(r->p, (size_t)cap * sizeof *p);
        if (!p)
            st = cnas_error_set(err, CNAS_ERR_NOMEM, "registry: out of memory");
        else {
            r->p = p;
            r->cap = cap;
        }
    }
    if (st) {
        dlclose(h);
        free(real);
        return st;
    }
    r->p[r->n++] = (loaded){real, h, d, r->level};
    return CNAS_OK;
}

cnas_status cnas_registry_load_file(cnas_registry *r, const char *path, cnas_error *err)
{
    r->level++;
    return load_one(r, path, err);
}

static bool is_so(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

/* A bad plugin does not hide the good ones after it: every file of the directory is
 * tried and every rejection reported, one per line. */
static void load_dir_depth(cnas_registry *r, const char *dir, int depth, cnas__errs *e)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        size_t len = strlen(name);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        struct stat sb;
        if (name[0] != '.' && stat(path, &sb) == 0) {
            if (S_ISREG(sb.st_mode) && is_so(name)) {
                cnas_error one;
                if (load_one(r, path, &one))
                    cnas__errs_add_error(e, &one);
            } else if (S_ISDIR(sb.st_mode) && depth > 0 &&
                       /* meson keeps object files in <target>.p/: nothing to load there. */
                       !(len > 2 && strcmp(name + len - 2, ".p") == 0)) {
                load_dir_depth(r, path, depth - 1, e);
            }
        }
        free(list[i]);
    }
    free(list);
}

cnas_status cnas_registry_load_dir(cnas_registry *r, const char *dir, cnas_error *err)
{
    r->level++;
    cnas__errs e = {err, 0, false};
    load_dir_depth(r, dir, 2, &e);
    return e.n ? (err ? err->code : CNAS_ERR_PLUGIN) : CNAS_OK;
}

cnas_status cnas_registry_load_path(cnas_registry *r, const char *path_list, cnas_error *err)
{
    if (!path_list)
        return CNAS_OK;
    char *copy = strdup(path_list);
    if (!copy)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "registry: out of memory");
    cnas__errs e = {err, 0, false};
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        struct stat sb;
        cnas_error one;
        cnas_status st = stat(dir, &sb) == 0 && S_ISREG(sb.st_mode)
                             ? cnas_registry_load_file(r, dir, &one)
                             : cnas_registry_load_dir(r, dir, &one);
        if (st)
            cnas__errs_add_error(&e, &one);
    }
    free(copy);
    return e.n ? (err ? err->code : CNAS_ERR_PLUGIN) : CNAS_OK;
}

int cnas_registry_plugin_count(const cnas_registry *r) { return r->n; }

const cnas_plugin_desc *cnas_registry_plugin(const cnas_registry *r, int i, const char **path)
{
    if (i < 0 || i >= r->n)
        return NULL;
    if (path)
        *path = r->p[i].path;
    return r->p[i].desc;
}

const cnas_component *cnas_registry_find(const cnas_registry *r, cnas_kind kind, const char *name,
                                         const cnas_plugin_desc **plugin, cnas_error *err)
{
    const char *slash = strchr(name, '/');
    size_t plen = slash ? (size_t)(slash - name) : 0;
    const char *shortname = slash ? slash + 1 : name;
    const cnas_component *found = NULL;
    const cnas_plugin_desc *fp = NULL;
    char others[512] = "";
    size_t ol = 0;
    int matches = 0;
    for (int i = 0; i < r->n; i++) {
        const cnas_plugin_desc *d = r->p[i].desc;
        if (slash && (strlen(d->name) != plen || strncmp(d->name, name, plen) != 0))
            continue;
        for (uint32_t k = 0; k < d->n_components; k++) {
            const cnas_component *c = &d->components[k];
            if (c->kind != kind || strcmp(c->name, shortname) != 0)
                continue;
            matches++;
            found = c;
            fp = d;
            ol += (size_t)snprintf(others + ol, ol < sizeof others ? sizeof others - ol : 0,
                                   "%s%s/%s", matches > 1 ? ", " : "", d->name, c->name);
        }
    }
    if (matches == 1) {
        if (plugin)
            *plugin = fp;
        return found;
    }
    if (matches > 1) {
        cnas_error_set(err, CNAS_ERR_CONFIG, "%s '%s' is ambiguous: %s; name it as plugin/%s",
                       cnas_kind_str(kind), name, others, shortname);
        return NULL;
    }
    /* List what is loaded of this kind, so the user sees the choices. */
    ol = 0;
    others[0] = '\0';
    for (int i = 0; i < r->n; i++)
        for (uint32_t k = 0; k < r->p[i].desc->n_components; k++)
            if (r->p[i].desc->components[k].kind == kind)
                ol += (size_t)snprintf(others + ol, ol < sizeof others ? sizeof others - ol : 0,
                                       "%s%s", ol ? ", " : "", r->p[i].desc->components[k].name);
    cnas_error_set(err, CNAS_ERR_CONFIG, "no %s component named '%s' (loaded: %s)",
                   cnas_kind_str(kind), name, ol ? others : "none");
    return NULL;
}

static cnas_status registry_create_op(void *ctx, const char *name, const cnas_op_args *args,
                                      const char *const *keys, const char *const *values, int n_kv,
                                      const cnas_op_vtable **vt, void **self, cnas_error *err)
{
    const cnas_component *c = cnas_registry_find(ctx, CNAS_KIND_OP, name, NULL, err);
    if (!c)
        return err->code;
    return cnas_op_component_create(c, args, keys, values, n_kv, vt, self, err);
}

cnas_op_factory cnas_registry_op_factory(cnas_registry *r)
{
    cnas_op_factory f = {sizeof f, r, registry_create_op};
    return f;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *cnas_registry_fingerprint(const cnas_registry *r)
{
    char **lines = calloc((size_t)(r->n ? r->n : 1), sizeof *lines);
    size_t total = 1;
    for (int i = 0; lines && i < r->n; i++) {
        size_t n = strlen(r->p[i].desc->name) + strlen(r->p[i].desc->version) + 3;
        lines[i] = malloc(n);
        if (!lines[i])
            continue;
        snprintf(lines[i], n, "%s %s\n", r->p[i].desc->name, r->p[i].desc->version);
        total += n;
    }
    char *out = lines ? malloc(total) : NULL;
    if (out) {
        qsort(lines, (size_t)r->n, sizeof *lines, by_name);
        out[0] = '\0';
        for (int i = 0; i < r->n; i++)
            if (lines[i])
                strcat(out, lines[i]);
    }
    for (int i = 0; lines && i < r->n; i++)
        free(lines[i]);
    free(lines);
    return out;
}
