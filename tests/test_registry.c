/* The plugin loader: every kind of bad file is rejected with the file and the
 * reason, and nothing crashes; good plugins are found by full and short name. */
#include "testutil.h"

#include <elf.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static const char *dir(void)
{
    const char *d = getenv("BROKEN_PLUGIN_DIR");
    ck_assert_msg(d != NULL, "BROKEN_PLUGIN_DIR is not set");
    return d;
}

static void expect_rejected(const char *file, const char *reason)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir(), file);
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    ck_assert_int_eq(cnas_registry_load_file(r, path, &err), CNAS_ERR_PLUGIN);
    ck_assert_msg(strstr(err.msg, file) && strstr(err.msg, reason), "message '%s' lacks '%s' or '%s'",
                  err.msg, file, reason);
    ck_assert_int_eq(cnas_registry_plugin_count(r), 0);
    cnas_registry_free(r);
}

START_TEST(test_a_good_plugin_loads_and_its_components_are_found)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/broken_good.so", dir());
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    ck_assert_msg(cnas_registry_load_file(r, path, &err) == CNAS_OK, "%s", err.msg);
    ck_assert_int_eq(cnas_registry_load_file(r, path, &err), CNAS_OK); /* twice: once */
    ck_assert_int_eq(cnas_registry_plugin_count(r), 1);
    const cnas_plugin_desc *p;
    ck_assert_ptr_nonnull(cnas_registry_find(r, CNAS_KIND_DATASET, "broken_data", &p, &err));
    ck_assert_str_eq(p->name, "broken_good");
    ck_assert_ptr_nonnull(cnas_registry_find(r, CNAS_KIND_DATASET, "broken_good/broken_data", &p, &err));
    ck_assert_ptr_null(cnas_registry_find(r, CNAS_KIND_STRATEGY, "broken_data", &p, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "no strategy component named 'broken_data'"));
    ck_assert_ptr_null(cnas_registry_find(r, CNAS_KIND_DATASET, "other/broken_data", &p, &err));
    cnas_registry_free(r);
}
END_TEST

START_TEST(test_a_text_file_is_not_a_shared_object)
{
    char path[] = "/tmp/cnas-notelf-XXXXXX.so";
    int fd = mkstemps(path, 3);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "hello\n", 6), 6);
    close(fd);
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    ck_assert_int_eq(cnas_registry_load_file(r, path, &err), CNAS_ERR_PLUGIN);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a shared object"));
    ck_assert_ptr_nonnull(strstr(err.msg, "cnas-notelf-"));
    cnas_registry_free(r);
    unlink(path);
}
END_TEST

START_TEST(test_an_executable_and_a_foreign_architecture_are_rejected)
{
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    ck_assert_int_eq(cnas_registry_load_file(r, "/bin/true", &err), CNAS_ERR_PLUGIN);
    ck_assert_ptr_nonnull(strstr(err.msg, "true"));
    /* An ELF header claiming another machine. */
    char path[] = "/tmp/cnas-arm-XXXXXX.so";
    int fd = mkstemps(path, 3);
    Elf64_Ehdr h;
    memset(&h, 0, sizeof h);
    memcpy(h.e_ident, ELFMAG, SELFMAG);
    h.e_ident[EI_CLASS] = ELFCLASS64;
    h.e_ident[EI_DATA] = ELFDATA2LSB;
    h.e_type = ET_DYN;
#ifdef __x86_64__
    h.e_machine = EM_AARCH64;
#else
    h.e_machine = EM_X86_64;
#endif
    ck_assert_int_eq(write(fd, &h, sizeof h), (ssize_t)sizeof h);
    close(fd);
    ck_assert_int_eq(cnas_registry_load_file(r, path, &err), CNAS_ERR_PLUGIN);
    ck_assert_ptr_nonnull(strstr(err.msg, "another architecture"));
    unlink(path);
    cnas_registry_free(r);
}
END_TEST

START_TEST(test_a_missing_entry_symbol_is_named)
{
    expect_rejected("broken_no_entry.so", "no entry symbol 'cnas_plugin_entry'");
}
END_TEST

START_TEST(test_another_abi_major_is_rejected)
{
    expect_rejected("broken_abi_major.so", "majors must match");
}
END_TEST

START_TEST(test_a_newer_abi_minor_is_rejected)
{
    expect_rejected("broken_abi_minor.so", "newer than this cnas");
}
END_TEST

START_TEST(test_a_descriptor_with_a_bad_size_is_rejected)
{
    expect_rejected("broken_bad_size.so", "descriptor size 4");
}
END_TEST

START_TEST(test_missing_mandatory_fields_are_rejected)
{
    expect_rejected("broken_no_name.so", "invalid plugin name");
    expect_rejected("broken_no_version.so", "has no version");
}
END_TEST

START_TEST(test_a_duplicate_component_name_is_rejected)
{
    expect_rejected("broken_duplicate.so", "component name 'broken_data' is used twice");
}
END_TEST

START_TEST(test_a_failing_initialisation_is_reported_with_its_message)
{
    expect_rejected("broken_init_fails.so", "initialisation failed: this machine lacks the frobnicator");
}
END_TEST

START_TEST(test_loading_a_directory_loads_the_good_plugins_and_names_every_bad_one)
{
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    ck_assert_int_eq(cnas_registry_load_dir(r, dir(), &err), CNAS_ERR_PLUGIN);
    /* One line per rejected file; the good ones are loaded all the same. */
    static const char *const bad[] = {"broken_no_entry.so", "broken_abi_major.so",
                                      "broken_init_fails.so", "broken_unresolved.so"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(strstr(err.msg, bad[i]) || strstr(err.msg, "\n..."), "%s not named in: %s",
                      bad[i], err.msg);
    ck_assert_ptr_nonnull(strchr(err.msg, '\n'));
    /* broken_good, broken_good_twin, and broken_strategy_memory: well formed, its fault
     * (a memory model of no supernet) shows only when a search asks for it. */
    ck_assert_int_eq(cnas_registry_plugin_count(r), 3);
    cnas_registry_free(r);
    r = cnas_registry_new(&err);
    ck_assert_int_eq(cnas_registry_load_dir(r, "/nonexistent/cnas", &err), CNAS_OK);
    ck_assert_int_eq(cnas_registry_load_path(r, "/nonexistent/a:/nonexistent/b", &err), CNAS_OK);
    ck_assert_int_eq(cnas_registry_plugin_count(r), 0);
    cnas_registry_free(r);
}
END_TEST

START_TEST(test_more_broken_descriptors_are_rejected_with_their_reason)
{
    expect_rejected("broken_large_size.so", "bad descriptor size");
    expect_rejected("broken_no_components.so", "declares no components");
    expect_rejected("broken_null_desc.so", "returned no descriptor");
    expect_rejected("broken_no_vtable.so", "'broken_data' has no vtable");
    expect_rejected("broken_bad_default.so", "the default of key 'epochs' is 'ten': expected an integer");
    expect_rejected("broken_unresolved.so", "cnas_test_symbol_defined_nowhere");
}
END_TEST

/* Copy `from` to `to`, changing `n` bytes at `offset` (a forged ELF header field). */
static void copy_patched(const char *from, const char *to, long offset, const void *bytes, size_t n)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, got, out), got);
    fclose(in);
    if (n) {
        ck_assert_int_eq(fseek(out, offset, SEEK_SET), 0);
        ck_assert_uint_eq(fwrite(bytes, 1, n, out), n);
    }
    fclose(out);
}

START_TEST(test_a_position_independent_executable_a_32_bit_object_and_a_dot_o_are_named)
{
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    char good[4096];
    snprintf(good, sizeof good, "%s/broken_good.so", dir());
    char path[] = "/tmp/cnas-elf-XXXXXX.so";
    int fd = mkstemps(path, 3);
    ck_assert_int_ge(fd, 0);
    close(fd);
    /* This suite's own executable: ET_DYN like a shared object, but with an interpreter. */
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_int_gt(len, 0);
    self[len] = '\0';
    copy_patched(self, path, 0, NULL, 0);
    ck_assert_int_eq(cnas_registry_load_file(r, path, &err), CNAS_ERR_PLUGIN);
    ck_assert_msg(strstr(err.msg, "cnas-elf-") && strstr(err.msg, "executable"), "%s", err.msg);
    unsigned char cls = ELFCLASS32;
    copy_patched(good, path, EI_CLASS, &cls, 1);
    ck_assert_int_eq(cnas_registry_load_file(r, path, &err), CNAS_ERR_PLUGIN);
    ck_assert_msg(strstr(err.msg, "a 32-bit object"), "%s", err.msg);
    uint16_t type = ET_REL;
    copy_patched(good, path, offsetof(Elf64_Ehdr, e_type), &type, sizeof type);
    ck_assert_int_eq(cnas_registry_load_file(r, path, &err), CNAS_ERR_PLUGIN);
    ck_assert_msg(strstr(err.msg, "relocatable object"), "%s", err.msg);
    copy_patched(good, path, 0, NULL, 0);
    ck_assert_msg(cnas_registry_load_file(r, path, &err) == CNAS_OK, "%s", err.msg);
    ck_assert_int_eq(cnas_registry_plugin_count(r), 1);
    cnas_registry_free(r);
    unlink(path);
}
END_TEST

START_TEST(test_a_short_name_in_two_plugins_is_ambiguous_and_the_full_name_is_not)
{
    char path[4096];
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    snprintf(path, sizeof path, "%s/broken_good.so", dir());
    ck_assert_int_eq(cnas_registry_load_file(r, path, &err), CNAS_OK);
    snprintf(path, sizeof path, "%s/broken_good_twin.so", dir());
    ck_assert_int_eq(cnas_registry_load_file(r, path, &err), CNAS_OK);
    const cnas_plugin_desc *p = NULL;
    ck_assert_ptr_null(cnas_registry_find(r, CNAS_KIND_DATASET, "broken_data", &p, &err));
    ck_assert_msg(strstr(err.msg, "'broken_data' is ambiguous: broken_good/broken_data, "
                                  "broken_good_twin/broken_data"), "%s", err.msg);
    ck_assert_ptr_nonnull(cnas_registry_find(r, CNAS_KIND_DATASET, "broken_good_twin/broken_data",
                                             &p, &err));
    ck_assert_str_eq(p->name, "broken_good_twin");
    char *fp = cnas_registry_fingerprint(r);
    ck_assert_str_eq(fp, "broken_good 1.0.0\nbroken_good_twin 1.0.0\n");
    free(fp);
    cnas_registry_free(r);
}
END_TEST

START_TEST(test_an_earlier_search_path_entry_shadows_a_plugin_of_the_same_name)
{
    char a[] = "/tmp/cnas-shadow-a-XXXXXX", b[] = "/tmp/cnas-shadow-b-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(a));
    ck_assert_ptr_nonnull(mkdtemp(b));
    char good[4096], pa[4200], pb[4200], pb2[4200];
    snprintf(good, sizeof good, "%s/broken_good.so", dir());
    snprintf(pa, sizeof pa, "%s/x.so", a);
    snprintf(pb, sizeof pb, "%s/y.so", b);
    snprintf(pb2, sizeof pb2, "%s/z.so", b);
    copy_patched(good, pa, 0, NULL, 0);
    copy_patched(good, pb, 0, NULL, 0);
    char list[256];
    snprintf(list, sizeof list, "%s:%s", a, b);
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    ck_assert_msg(cnas_registry_load_path(r, list, &err) == CNAS_OK, "%s", err.msg);
    ck_assert_int_eq(cnas_registry_plugin_count(r), 1);
    const char *from = NULL;
    cnas_registry_plugin(r, 0, &from);
    ck_assert_msg(strstr(from, "cnas-shadow-a-"), "%s", from);
    cnas_registry_free(r);
    /* Twice within one directory is a real conflict. */
    copy_patched(good, pb2, 0, NULL, 0);
    r = cnas_registry_new(&err);
    ck_assert_int_eq(cnas_registry_load_dir(r, b, &err), CNAS_ERR_PLUGIN);
    ck_assert_msg(strstr(err.msg, "duplicate plugin name: 'broken_good'"), "%s", err.msg);
    cnas_registry_free(r);
    unlink(pa);
    unlink(pb);
    unlink(pb2);
    rmdir(a);
    rmdir(b);
}
END_TEST

START_TEST(test_a_missing_or_unreachable_required_member_is_named)
{
    /* The plugin file, the component's kind and name, and the member. */
    expect_rejected("broken_space_no_forward.so", "space 'broken_space' has no 'forward' (required)");
    expect_rejected("broken_strategy_short.so", "strategy 'broken_strategy' has a vtable of");
    expect_rejected("broken_strategy_short.so", "too small to hold 'load' (required");
}
END_TEST

START_TEST(test_cnas_vt_has_reads_only_what_the_size_covers)
{
    static const cnas_op_vtable full = {sizeof full, NULL, NULL, NULL, NULL,
                                        (int64_t (*)(void *, const int64_t *, int64_t *))1};
    ck_assert(CNAS_VT_HAS(&full, flops));
    ck_assert(!CNAS_VT_HAS(&full, create));              /* covered but NULL */
    /* A vtable of an older minor that ended before flops: the bytes after it are not its. */
    cnas_op_vtable older = full;
    older.size = (uint32_t)offsetof(cnas_op_vtable, flops);
    ck_assert(!CNAS_VT_HAS(&older, flops));
    older.size = (uint32_t)(offsetof(cnas_op_vtable, flops) + sizeof older.flops - 1);
    ck_assert(!CNAS_VT_HAS(&older, flops));
}
END_TEST

/* A plugin built against the frozen 1.0 headers (tests/abi10) loads in this host and
 * its op runs through the registry's factory, as a space would create it. */
START_TEST(test_a_plugin_built_for_abi_1_0_loads_and_its_op_runs)
{
    const char *path = getenv("ABI10_PLUGIN");
    ck_assert_msg(path != NULL, "ABI10_PLUGIN is not set");
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    ck_assert_msg(cnas_registry_load_file(r, path, &err) == CNAS_OK, "%s", err.msg);
    ck_assert_int_eq(cnas_registry_plugin_count(r), 1);
    const cnas_plugin_desc *d = cnas_registry_plugin(r, 0, NULL);
    ck_assert_str_eq(d->name, "abi10");
    ck_assert_uint_eq(d->abi_major, 1);
    ck_assert_uint_eq(d->abi_minor, 0);
    ck_assert_uint_le(d->size, sizeof(cnas_plugin_desc));

    cnas_op_factory f = cnas_registry_op_factory(r);
    cnas_rng rng;
    cnas_rng_init(&rng, 1, "init");
    cnas_op_args a = {sizeof a, 3, 3, 1, true, true, &rng};
    const cnas_op_vtable *vt = NULL;
    void *self = NULL;
    ck_assert_msg(f.create(f.ctx, "abi10/abi10_relu", &a, NULL, NULL, 0, &vt, &self, &err) ==
                      CNAS_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(vt);
    ck_assert(CNAS_VT_HAS(vt, flops));
    cnas_graph *g = cnas_graph_new(&err);
    cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(2, 3, 4, 4));
    cnas_rng_fill_uniform(&rng, x->data, x->numel, -1, 1);
    cnas_op_forward_ctx ctx = {sizeof ctx, true, NULL};
    cnas_tensor *y = vt->forward(self, g, x, &ctx);
    ck_assert_msg(y != NULL, "%s", cnas_graph_error(g)->msg);
    ck_assert_int_eq(y->numel, x->numel);
    for (int64_t i = 0; i < x->numel; i++)
        ck_assert_float_eq(y->data[i], x->data[i] > 0 ? x->data[i] : 0.0f);
    int64_t in[4] = {2, 3, 4, 4}, out[4], numel = x->numel;
    ck_assert_int_eq(vt->flops(self, in, out), numel);
    ck_assert_int_eq(vt->tensors(self, NULL, 0), 0);
    cnas_graph_free(g);
    vt->destroy(self);
    /* Stride 2, as on a reducing edge of a cell. */
    a.stride = 2;
    ck_assert_msg(f.create(f.ctx, "abi10_relu", &a, NULL, NULL, 0, &vt, &self, &err) == CNAS_OK,
                  "%s", err.msg);
    ck_assert_int_eq(vt->flops(self, in, out), numel);
    ck_assert(out[2] == 2 && out[3] == 2);
    vt->destroy(self);
    cnas_registry_free(r);
}
END_TEST

/* ---- damaged copies of real plugins --------------------------------------------------
 *
 * Copies of built plugins (darts_ops.so, darts_cell.so: the loader's everyday input)
 * cut short, with bits flipped and with regions zeroed: each loads or is rejected with
 * a message naming its file, and none crashes the process. The flips and zeroed regions
 * avoid the executable segments: their bytes are machine code, which no reading of the
 * file can verify. */

typedef struct plugin_bytes {
    unsigned char *b;
    size_t n;
    size_t code[8][2];     /* file ranges of executable segments */
    int n_code;
    size_t data[8][2];     /* of writable segments */
    int n_data;
    size_t dyn[2];         /* of the dynamic section */
} plugin_bytes;

static plugin_bytes read_plugin(const char *env)
{
    const char *path = getenv(env);
    ck_assert_msg(path != NULL, "%s is not set", env);
    plugin_bytes p = {0};
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    p.n = (size_t)ftell(f);
    rewind(f);
    p.b = malloc(p.n);
    ck_assert_uint_eq(fread(p.b, 1, p.n, f), p.n);
    fclose(f);
    Elf64_Ehdr h;
    memcpy(&h, p.b, sizeof h);
    for (int i = 0; i < h.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, p.b + h.e_phoff + (size_t)i * sizeof ph, sizeof ph);
        if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && p.n_code < 8) {
            p.code[p.n_code][0] = ph.p_offset;
            p.code[p.n_code++][1] = ph.p_offset + ph.p_filesz;
        }
        if (ph.p_type == PT_LOAD && (ph.p_flags & PF_W) && p.n_data < 8) {
            p.data[p.n_data][0] = ph.p_offset;
            p.data[p.n_data++][1] = ph.p_offset + ph.p_filesz;
        }
        if (ph.p_type == PT_DYNAMIC) {
            p.dyn[0] = ph.p_offset;
            p.dyn[1] = ph.p_offset + ph.p_filesz;
        }
    }
    ck_assert_int_gt(p.n_code, 0);
    ck_assert_int_gt(p.dyn[1], p.dyn[0]);
    return p;
}

static bool overlaps(const size_t (*ranges)[2], int n, size_t lo, size_t hi)
{
    for (int i = 0; i < n; i++)
        if (lo < ranges[i][1] && hi > ranges[i][0])
            return true;
    return false;
}

/* Bytes a damaged copy may change. A sanitized build's plugins keep the sanitizer's
 * own tables of their globals in their writable data, which its runtime trusts at
 * load (a flipped size there has it poison gigabytes of shadow memory): there, the
 * writable segments are left alone too, except the dynamic section. */
static bool may_damage(const plugin_bytes *p, size_t lo, size_t hi)
{
    if (overlaps((const size_t(*)[2])p->code, p->n_code, lo, hi))
        return false;
#if defined(__SANITIZE_ADDRESS__)
    if (overlaps((const size_t(*)[2])p->data, p->n_data, lo, hi) && !(lo >= p->dyn[0] && hi <= p->dyn[1]))
        return false;
#endif
    return true;
}

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* What is being loaded, for the report of a crash (which ends the suite). */
static char loading[256];

static void on_crash(int sig)
{
    char msg[400];
    int n = snprintf(msg, sizeof msg, "\ncrashed (signal %d) while loading %s\n", sig, loading);
    ssize_t w = write(2, msg, (size_t)(n > 0 ? n : 0));
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

typedef struct damage_dir {
    char path[64];
    int serial;
    int loaded, rejected;
} damage_dir;

static void damage_dir_open(damage_dir *d)
{
    snprintf(d->path, sizeof d->path, "/tmp/cnas-damaged-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d->path));
    d->serial = d->loaded = d->rejected = 0;
    signal(SIGSEGV, on_crash);
    signal(SIGBUS, on_crash);
    signal(SIGILL, on_crash);
    signal(SIGFPE, on_crash);
    signal(SIGABRT, on_crash); /* a sanitizer's report ends in abort() */
}

/* Every file stays until the end: a new file never reuses an inode the dynamic loader
 * may still associate with an earlier one. */
static void damage_dir_close(damage_dir *d)
{
    for (int i = 0; i < d->serial; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/d%05d.so", d->path, i);
        unlink(path);
    }
    rmdir(d->path);
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    signal(SIGILL, SIG_DFL);
    signal(SIGFPE, SIG_DFL);
    signal(SIGABRT, SIG_DFL);
}

/* Write n bytes as a new plugin file and load it: loaded, or rejected naming the file
 * (and saying `must` when given). */
static void load_damaged(damage_dir *d, const unsigned char *b, size_t n, const char *what,
                         const char *must)
{
    char path[128], name[16];
    snprintf(name, sizeof name, "d%05d.so", d->serial);
    snprintf(path, sizeof path, "%s/%s", d->path, name);
    d->serial++;
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    snprintf(loading, sizeof loading, "%s (%s)", path, what);
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    cnas_status st = cnas_registry_load_file(r, path, &err);
    if (st == CNAS_OK) {
        d->loaded++;
    } else {
        d->rejected++;
        ck_assert_msg(st == CNAS_ERR_PLUGIN, "%s: status %d: %s", what, st, err.msg);
        ck_assert_msg(strstr(err.msg, name), "%s: the message does not name the file: %s", what,
                      err.msg);
        if (must)
            ck_assert_msg(strstr(err.msg, must), "%s: the message lacks '%s': %s", what, must,
                          err.msg);
    }
    ck_assert_int_eq(cnas_registry_plugin_count(r), st == CNAS_OK);
    cnas_registry_free(r);
}

static const char *const real_plugins[] = {"DARTS_OPS_SO", "DARTS_CELL_SO"};

START_TEST(test_a_real_plugin_cut_short_is_rejected_as_truncated)
{
    damage_dir d;
    damage_dir_open(&d);
    for (size_t k = 0; k < sizeof real_plugins / sizeof *real_plugins; k++) {
        plugin_bytes p = read_plugin(real_plugins[k]);
        size_t lens[80] = {0, 1, 3, 4, 5, 16, 63, 64, 100, 1000, 4096, 20000, p.n / 2, p.n - 1,
                           p.n - 8, p.n - 64};
        int n = 16;
        for (int i = 1; i <= 40; i++) /* a sweep over the whole file */
            lens[n++] = p.n * (size_t)i / 41;
        for (int i = 0; i < n; i++) {
            if (lens[i] >= p.n)
                continue;
            char what[96];
            snprintf(what, sizeof what, "%s cut to %zu of %zu bytes", real_plugins[k], lens[i], p.n);
            load_damaged(&d, p.b, lens[i], what, "truncated or corrupt ELF file");
        }
        ck_assert_int_eq(d.loaded, 0);
        free(p.b);
    }
    damage_dir_close(&d);
}
END_TEST

START_TEST(test_a_real_plugin_with_flipped_bits_loads_or_is_rejected)
{
    damage_dir d;
    damage_dir_open(&d);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (size_t k = 0; k < sizeof real_plugins / sizeof *real_plugins; k++) {
        plugin_bytes p = read_plugin(real_plugins[k]);
        unsigned char *b = malloc(p.n);
        Elf64_Ehdr h;
        memcpy(&h, p.b, sizeof h);
        /* Every byte of the ELF header, the program headers and the dynamic section; every
         * seventh of the section headers; 150 seeded positions anywhere else allowed. */
        size_t pos[4096];
        int n = 0;
        for (size_t i = 0; i < h.e_phoff + (size_t)h.e_phnum * sizeof(Elf64_Phdr); i++)
            pos[n++] = i;
        for (size_t i = p.dyn[0]; i < p.dyn[1] && n < 3000; i++)
            pos[n++] = i;
        for (size_t i = h.e_shoff; i < p.n && n < 3900; i += 7)
            pos[n++] = i;
        for (int i = 0; i < 150;) {
            size_t at = (size_t)(next_random(&seed) % p.n);
            if (may_damage(&p, at, at + 1))
                pos[n++] = at, i++;
        }
        for (int i = 0; i < n; i++) {
            if (!may_damage(&p, pos[i], pos[i] + 1))
                continue;
            int bit = (int)(next_random(&seed) % 8);
            memcpy(b, p.b, p.n);
            b[pos[i]] ^= (unsigned char)(1u << bit);
            char what[96];
            snprintf(what, sizeof what, "%s with bit %d of byte %zu flipped", real_plugins[k], bit,
                     pos[i]);
            load_damaged(&d, b, p.n, what, NULL);
        }
        free(b);
        free(p.b);
    }
    /* Both outcomes occur: a flip in unused bytes is harmless, one in a header is not. */
    ck_assert_int_gt(d.loaded, 0);
    ck_assert_int_gt(d.rejected, 0);
    damage_dir_close(&d);
}
END_TEST

START_TEST(test_a_real_plugin_with_zeroed_regions_loads_or_is_rejected)
{
    damage_dir d;
    damage_dir_open(&d);
    uint64_t seed = 0x2545f4914f6cdd1dull;
    static const size_t lens[] = {1, 8, 24, 64, 256, 1024, 4096};
    for (size_t k = 0; k < sizeof real_plugins / sizeof *real_plugins; k++) {
        plugin_bytes p = read_plugin(real_plugins[k]);
        unsigned char *b = malloc(p.n);
        for (int i = 0; i < 60;) {
            size_t len = lens[next_random(&seed) % (sizeof lens / sizeof *lens)];
            size_t at = (size_t)(next_random(&seed) % p.n);
            if (at + len > p.n || !may_damage(&p, at, at + len))
                continue;
            i++;
            memcpy(b, p.b, p.n);
            memset(b + at, 0, len);
            char what[96];
            snprintf(what, sizeof what, "%s with bytes %zu..%zu zeroed", real_plugins[k], at,
                     at + len - 1);
            load_damaged(&d, b, p.n, what, NULL);
        }
        /* The headers, wholly. */
        memcpy(b, p.b, p.n);
        memset(b + 16, 0, sizeof(Elf64_Ehdr) - 16);
        load_damaged(&d, b, p.n, "the ELF header after e_ident zeroed", NULL);
        Elf64_Ehdr h;
        memcpy(&h, p.b, sizeof h);
        memcpy(b, p.b, p.n);
        memset(b + h.e_phoff, 0, (size_t)h.e_phnum * sizeof(Elf64_Phdr));
        load_damaged(&d, b, p.n, "the program headers zeroed", "truncated or corrupt");
        memcpy(b, p.b, p.n);
        memset(b + p.dyn[0], 0, p.dyn[1] - p.dyn[0]);
        load_damaged(&d, b, p.n, "the dynamic section zeroed", "truncated or corrupt");
        free(b);
        free(p.b);
    }
    ck_assert_int_gt(d.rejected, 0);
    damage_dir_close(&d);
}
END_TEST

/* Forged fields, each named in the message. */
START_TEST(test_forged_layout_fields_are_named)
{
    damage_dir d;
    damage_dir_open(&d);
    plugin_bytes p = read_plugin("DARTS_OPS_SO");
    unsigned char *b = malloc(p.n);
    Elf64_Ehdr h;
    memcpy(&h, p.b, sizeof h);
    uint64_t big = (uint64_t)p.n + 4096;
    struct {
        size_t offset;
        const char *what, *must;
    } forged[] = {
        {offsetof(Elf64_Ehdr, e_phoff), "e_phoff past the end", "program headers at offset"},
        {offsetof(Elf64_Ehdr, e_shoff), "e_shoff past the end", "section headers at offset"},
    };
    for (size_t i = 0; i < sizeof forged / sizeof *forged; i++) {
        memcpy(b, p.b, p.n);
        memcpy(b + forged[i].offset, &big, sizeof big);
        load_damaged(&d, b, p.n, forged[i].what, forged[i].must);
    }
    /* The PLT's first relocation emptied (type 0): its slot would stay unrelocated. */
    Elf64_Shdr sh, names;
    memcpy(&names, p.b + h.e_shoff + (size_t)h.e_shstrndx * sizeof sh, sizeof names);
    for (int i = 0; i < h.e_shnum; i++) {
        memcpy(&sh, p.b + h.e_shoff + (size_t)i * sizeof sh, sizeof sh);
        if (sh.sh_type != SHT_RELA || sh.sh_size == 0 ||
            strcmp((const char *)p.b + names.sh_offset + sh.sh_name, ".rela.plt") != 0)
            continue;
        memcpy(b, p.b, p.n);
        memset(b + sh.sh_offset + offsetof(Elf64_Rela, r_info), 0, sizeof(uint64_t));
        int rejected = d.rejected;
        load_damaged(&d, b, p.n, "the first PLT relocation emptied", "DT_JMPREL relocation 0 is empty");
        ck_assert_msg(d.rejected == rejected + 1, "an emptied PLT relocation was loaded");
    }
    /* Each LOAD segment made longer than the file; the dynamic section moved out of them. */
    for (int i = 0; i < h.e_phnum; i++) {
        Elf64_Phdr ph;
        size_t at = h.e_phoff + (size_t)i * sizeof ph;
        memcpy(&ph, p.b + at, sizeof ph);
        if (ph.p_type != PT_LOAD && ph.p_type != PT_DYNAMIC)
            continue;
        memcpy(b, p.b, p.n);
        Elf64_Phdr f = ph;
        if (ph.p_type == PT_LOAD) {
            f.p_filesz = f.p_memsz = p.n - ph.p_offset + 1;
        } else {
            f.p_vaddr += 1 << 30;
        }
        memcpy(b + at, &f, sizeof f);
        char what[64];
        snprintf(what, sizeof what, "segment %d forged", i);
        load_damaged(&d, b, p.n, what, ph.p_type == PT_LOAD ? "past the end of the" : "DYNAMIC");
    }
    free(b);
    free(p.b);
    damage_dir_close(&d);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("loader");
    tcase_add_test(tc, test_a_good_plugin_loads_and_its_components_are_found);
    tcase_add_test(tc, test_a_text_file_is_not_a_shared_object);
    tcase_add_test(tc, test_an_executable_and_a_foreign_architecture_are_rejected);
    tcase_add_test(tc, test_a_missing_entry_symbol_is_named);
    tcase_add_test(tc, test_another_abi_major_is_rejected);
    tcase_add_test(tc, test_a_newer_abi_minor_is_rejected);
    tcase_add_test(tc, test_a_descriptor_with_a_bad_size_is_rejected);
    tcase_add_test(tc, test_missing_mandatory_fields_are_rejected);
    tcase_add_test(tc, test_a_duplicate_component_name_is_rejected);
    tcase_add_test(tc, test_a_failing_initialisation_is_reported_with_its_message);
    tcase_add_test(tc, test_loading_a_directory_loads_the_good_plugins_and_names_every_bad_one);
    tcase_add_test(tc, test_more_broken_descriptors_are_rejected_with_their_reason);
    tcase_add_test(tc, test_a_position_independent_executable_a_32_bit_object_and_a_dot_o_are_named);
    tcase_add_test(tc, test_a_short_name_in_two_plugins_is_ambiguous_and_the_full_name_is_not);
    tcase_add_test(tc, test_an_earlier_search_path_entry_shadows_a_plugin_of_the_same_name);
    tcase_add_test(tc, test_a_missing_or_unreachable_required_member_is_named);
    tcase_add_test(tc, test_cnas_vt_has_reads_only_what_the_size_covers);
    tcase_add_test(tc, test_a_plugin_built_for_abi_1_0_loads_and_its_op_runs);
    tcase_add_test(tc, test_a_real_plugin_cut_short_is_rejected_as_truncated);
    tcase_add_test(tc, test_a_real_plugin_with_flipped_bits_loads_or_is_rejected);
    tcase_add_test(tc, test_a_real_plugin_with_zeroed_regions_loads_or_is_rejected);
    tcase_add_test(tc, test_forged_layout_fields_are_named);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
