/* A space's notation parser: the op plugins and the space (FUZZ_SPACE, a plugin file in
 * FUZZ_SPACE_SO, built with the fuzzer's instrumentation) are loaded once and a supernet
 * built once; each input is parsed as an architecture, and a parsed one written back. */
#include "fuzz_util.h"

#include <cnas/arch.h>
#include <cnas/registry.h>
#include <cnas/rng.h>
#include <cnas/space.h>

static const cnas_space_vtable *vt;
static void *sup;
static int n_points;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cnas_error err;
    cnas_registry *reg = cnas_registry_new(&err);
    const char *ops = getenv("FUZZ_OPS_SO"), *space = getenv("FUZZ_SPACE_SO");
    const char *name = getenv("FUZZ_SPACE");
    if (!reg || !ops || !space || !name || cnas_registry_load_path(reg, ops, &err) ||
        cnas_registry_load_file(reg, space, &err)) {
        fprintf(stderr, "fuzz_space: set FUZZ_OPS_SO, FUZZ_SPACE_SO, FUZZ_SPACE (%s)\n",
                reg ? err.msg : "");
        exit(1);
    }
    const cnas_component *c = cnas_registry_find(reg, CNAS_KIND_SPACE, name, NULL, &err);
    if (!c) {
        fprintf(stderr, "fuzz_space: %s\n", err.msg);
        exit(1);
    }
    vt = c->vtable;
    const char *small[] = {"init_channels=4", "layers=3"};
    int n_small = strcmp(name, "darts_cell") == 0 || strcmp(name, "gold_cell") == 0 ? 2 : 0;
    cnas_params *p = fz_params(c, n_small, small);
    static cnas_op_factory factory;
    static cnas_rng rng;
    factory = cnas_registry_op_factory(reg);
    cnas_rng_init(&rng, 0, "parse");
    cnas_space_create_args a = {sizeof a, p, 3, 16, 16, 10, &factory, &rng, CNAS_SPACE_SUPERNET,
                                NULL};
    if (vt->create(&a, &sup, &err)) {
        fprintf(stderr, "fuzz_space: %s\n", err.msg);
        exit(1);
    }
    const cnas_choice_point *pts;
    n_points = vt->choice_points(sup, &pts);
    /* reg and p live as long as the process: the supernet borrows from them. */
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    cnas_error err;
    cnas_arch *arch = cnas_arch_new(n_points, &err);
    if (arch && vt->parse(sup, text, arch, &err) == CNAS_OK && CNAS_VT_HAS(vt, format)) {
        char buf[8192];
        vt->format(sup, arch, buf, sizeof buf, &err);
    }
    cnas_arch_free(arch);
    free(text);
    return 0;
}
