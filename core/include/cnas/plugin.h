/* cnas/plugin.h — the plugin ABI.
 *
 * A plugin is a shared object exporting one symbol, CNAS_PLUGIN_ENTRY_SYMBOL, a
 * function returning a static descriptor: ABI version, plugin name, version,
 * description, license and an array of components. A component has a kind, a
 * name, a parameter schema (params.h) and the vtable of its kind (dataset.h, ...).
 *
 * Compatibility: the host accepts a plugin whose ABI major equals its own and whose
 * minor is not newer. A minor release only appends fields to the end of structs
 * and values to the end of enums; every struct that crosses the boundary starts
 * with its own size, so a host reads only what the plugin knows. Anything else is
 * a new major. See docs/abi.md.
 *
 * Vtable members: the loader refuses a component whose vtable lacks a required
 * member (its size too small to hold it, or NULL):
 *     op        create, destroy, forward, tensors
 *     space     create, destroy, forward, tensors
 *     strategy  create, destroy, run, save, load
 *     dataset   open, close, info, get
 *     generator create, destroy, sample, fit, save, load, tensors (1.2)
 * Every other member is optional: it may be NULL, or lie beyond the size of a
 * vtable built against an older minor. Check it with CNAS_VT_HAS before a call.
 *
 * Declaring a plugin:
 *
 *     static const cnas_param_spec my_keys[] = {
 *         CNAS_PARAM_SPEC_PATH("path", "/data", "directory with the files"),
 *     };
 *     static const cnas_dataset_vtable my_vt = {sizeof my_vt, my_open, my_close, my_info, my_get};
 *     static const cnas_component my_components[] = {
 *         CNAS_COMPONENT(CNAS_KIND_DATASET, "mydata", "My data set", my_keys, &my_vt),
 *     };
 *     CNAS_PLUGIN("myplugin", "1.0.0", "What it offers", "MIT", my_components, NULL)
 */
#ifndef CNAS_PLUGIN_H
#define CNAS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <cnas/params.h>
#include <cnas/status.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CNAS_ABI_MAJOR 1
#define CNAS_ABI_MINOR 3

#define CNAS_PLUGIN_ENTRY_SYMBOL "cnas_plugin_entry"

/* Append only. */
typedef enum cnas_kind {
    CNAS_KIND_OP = 1,
    CNAS_KIND_SPACE = 2,
    CNAS_KIND_STRATEGY = 3,
    CNAS_KIND_DATASET = 4,
    CNAS_KIND_GENERATOR = 5,    /* 1.2: generator.h */
} cnas_kind;

const char *cnas_kind_str(cnas_kind k); /* "op", "space", "strategy", "dataset", "generator" */

typedef struct cnas_component {
    uint32_t size;              /* sizeof(cnas_component) as the plugin was built */
    cnas_kind kind;
    const char *name;           /* unique within the plugin: [a-z0-9_]+ */
    const char *description;
    const cnas_param_spec *params;
    uint32_t n_params;
    const void *vtable;         /* the kind's vtable; its first field is its size */
} cnas_component;

typedef struct cnas_plugin_desc {
    uint32_t size;              /* sizeof(cnas_plugin_desc) as the plugin was built */
    uint16_t abi_major, abi_minor;
    const char *name;
    const char *version;
    const char *description;
    const char *license;
    const cnas_component *components;
    uint32_t n_components;
    /* Optional, called once after loading; a failure rejects the plugin. */
    cnas_status (*init)(cnas_error *err);
} cnas_plugin_desc;

typedef const cnas_plugin_desc *(*cnas_plugin_entry_fn)(void);

/* True when the struct *vt (any struct that starts with its uint32_t size: a vtable,
 * the descriptor) was built with `member` and sets it: its size covers the member and
 * the member is not NULL. A struct of an older minor ends before the members a later
 * minor appended, so reading them without this check reads past its end. The offset
 * is taken from the address, so the type need not be named; vt is evaluated more
 * than once. */
#define CNAS_VT_HAS(vt, member)                                                           \
    ((size_t)(vt)->size >= (size_t)((const char *)&(vt)->member - (const char *)(vt)) +    \
                               sizeof((vt)->member) &&                                     \
     (vt)->member != NULL)

#define CNAS_EXPORT __attribute__((visibility("default")))
#define CNAS_COUNT_OF(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

#define CNAS_COMPONENT(kind, name, desc, params, vtable)                                  \
    {sizeof(cnas_component), (kind), (name), (desc), (params),                             \
     (uint32_t)(sizeof(params) / sizeof((params)[0])), (vtable)}
/* For a component with no keys. */
#define CNAS_COMPONENT_NOPARAMS(kind, name, desc, vtable)                                 \
    {sizeof(cnas_component), (kind), (name), (desc), NULL, 0, (vtable)}

#define CNAS_PLUGIN(name, version, desc, license, components, init_fn)                    \
    CNAS_EXPORT const cnas_plugin_desc *cnas_plugin_entry(void);                           \
    CNAS_EXPORT const cnas_plugin_desc *cnas_plugin_entry(void)                            \
    {                                                                                      \
        static const cnas_plugin_desc d = {sizeof(cnas_plugin_desc), CNAS_ABI_MAJOR,       \
                                           CNAS_ABI_MINOR, (name), (version), (desc),      \
                                           (license), (components),                        \
                                           CNAS_COUNT_OF(components), (init_fn)};          \
        return &d;                                                                         \
    }

#ifdef __cplusplus
}
#endif
#endif
