/* Deliberately broken plugins for the loader tests: one build per -DBREAK_... flag. */
#include <stddef.h>

#include <cnas/cnas.h>

static cnas_status noop_open(const cnas_params *p, void **self, cnas_error *err)
{
    (void)p;
    (void)err;
    *self = NULL;
    return CNAS_OK;
}
static void noop_close(void *self) { (void)self; }
static cnas_status noop_info(void *self, cnas_dataset_info *i, cnas_error *err)
{
    (void)self;
    (void)i;
    (void)err;
    return CNAS_OK;
}
static cnas_status noop_get(void *self, cnas_split s, int64_t k, float *x, int32_t *y, cnas_error *err)
{
    (void)self, (void)s, (void)k, (void)x, (void)y, (void)err;
    return CNAS_OK;
}

static const cnas_dataset_vtable vt = {sizeof vt, noop_open, noop_close, noop_info, noop_get};

#ifdef BREAK_BAD_DEFAULT
/* A schema whose default does not fit its own type. */
static const cnas_param_spec keys[] = {
    CNAS_PARAM_SPEC_INT("epochs", "ten", 1, 100, "a default that is not an integer"),
};
#define KEYS keys, 1
#else
#define KEYS NULL, 0
#endif

#ifdef BREAK_NO_VTABLE
#define VT NULL
#else
#define VT &vt
#endif

#ifdef BREAK_SPACE_NO_FORWARD
/* A space vtable without its required forward. */
static cnas_status noop_space_create(const cnas_space_create_args *a, void **self, cnas_error *err)
{
    (void)a, (void)err;
    *self = NULL;
    return CNAS_OK;
}
static int noop_tensors(void *self, cnas_named_tensor *out, int max)
{
    (void)self, (void)out, (void)max;
    return 0;
}
static const cnas_space_vtable space_vt = {.size = sizeof space_vt, .create = noop_space_create,
                                           .destroy = noop_close, .tensors = noop_tensors};
#endif

#if defined BREAK_STRATEGY_SHORT || defined BREAK_STRATEGY_MEMORY
/* A strategy vtable whose size ends before its required load: everything else is set. */
static cnas_status noop_strategy_create(const cnas_params *p, cnas_search_env *env, void **self,
                                        cnas_error *err)
{
    (void)p, (void)env, (void)err;
    *self = NULL;
    return CNAS_OK;
}
static cnas_status noop_run(void *self, cnas_error *err)
{
    (void)self, (void)err;
    return CNAS_OK;
}
static cnas_status noop_save(void *self, cnas_ckpt *ck, cnas_error *err)
{
    (void)self, (void)ck, (void)err;
    return CNAS_OK;
}
#endif
#ifdef BREAK_STRATEGY_SHORT
static const cnas_strategy_vtable strategy_vt = {
    .size = offsetof(cnas_strategy_vtable, load), .create = noop_strategy_create,
    .destroy = noop_close, .run = noop_run, .save = noop_save};
#endif
#ifdef BREAK_STRATEGY_MEMORY
/* A complete strategy whose memory model says it trains no supernet at all. */
static cnas_status noop_load(void *self, const cnas_ckpt *ck, cnas_error *err)
{
    (void)self, (void)ck, (void)err;
    return CNAS_OK;
}
static cnas_status zero_memory(const cnas_params *p, cnas_strategy_memory *m, cnas_error *err)
{
    (void)p, (void)err;
    m->supernets = 0;
    return CNAS_OK;
}
static const cnas_strategy_vtable strategy_vt = {
    .size = sizeof strategy_vt, .create = noop_strategy_create, .destroy = noop_close,
    .run = noop_run, .save = noop_save, .load = noop_load, .memory = zero_memory};
#endif

#ifdef BREAK_UNRESOLVED
/* Defined nowhere: dlopen(RTLD_NOW) must fail and say why. */
extern int cnas_test_symbol_defined_nowhere(void);
int (*volatile keep_reference)(void) = cnas_test_symbol_defined_nowhere;
#endif

__attribute__((unused)) static const cnas_component components[] = {
    {sizeof(cnas_component), CNAS_KIND_DATASET, "broken_data", "a dataset", KEYS, VT},
#ifdef BREAK_DUPLICATE
    {sizeof(cnas_component), CNAS_KIND_DATASET, "broken_data", "the same name again", NULL, 0, &vt},
#endif
#ifdef BREAK_SPACE_NO_FORWARD
    {sizeof(cnas_component), CNAS_KIND_SPACE, "broken_space", "no forward", NULL, 0, &space_vt},
#endif
#ifdef BREAK_STRATEGY_SHORT
    {sizeof(cnas_component), CNAS_KIND_STRATEGY, "broken_strategy", "a vtable too small", NULL, 0,
     &strategy_vt},
#endif
#ifdef BREAK_STRATEGY_MEMORY
    {sizeof(cnas_component), CNAS_KIND_STRATEGY, "broken_memory", "a memory model of no supernet",
     NULL, 0, &strategy_vt},
#endif
};

#ifdef BREAK_INIT
static cnas_status failing_init(cnas_error *err)
{
    return cnas_error_set(err, CNAS_ERR_UNSUPPORTED, "this machine lacks the frobnicator");
}
#define INIT failing_init
#else
#define INIT NULL
#endif

#ifndef BREAK_NO_ENTRY
CNAS_EXPORT const cnas_plugin_desc *cnas_plugin_entry(void);
CNAS_EXPORT const cnas_plugin_desc *cnas_plugin_entry(void)
{
    static cnas_plugin_desc d = {sizeof(cnas_plugin_desc), CNAS_ABI_MAJOR, CNAS_ABI_MINOR,
                                 PLUGIN_NAME, "1.0.0", "a broken plugin", "MIT", components,
                                 CNAS_COUNT_OF(components), INIT};
#ifdef BREAK_MAJOR
    d.abi_major = CNAS_ABI_MAJOR + 1;
#endif
#ifdef BREAK_MINOR
    d.abi_minor = CNAS_ABI_MINOR + 1;
#endif
#ifdef BREAK_SIZE
    d.size = 4;
#endif
#ifdef BREAK_NO_NAME
    d.name = NULL;
#endif
#ifdef BREAK_NO_VERSION
    d.version = NULL;
#endif
#ifdef BREAK_LARGE_SIZE
    d.size = sizeof(cnas_plugin_desc) + 64;
#endif
#ifdef BREAK_NO_COMPONENTS
    d.n_components = 0;
#endif
#ifdef BREAK_NULL_DESC
    return NULL;
#endif
    return &d;
}
#endif
