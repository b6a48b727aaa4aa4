/* cnas/registry.h — loading plugins and finding their components.
 *
 * The registry dlopens plugin files (RTLD_NOW | RTLD_LOCAL), checks each
 * descriptor against the ABI rules of plugin.h, and indexes the components by
 * "plugin/component" and, while unique, by their short name. Plugins stay loaded
 * until the registry is freed. A file that is not a loadable object for this
 * machine, lacks the entry symbol, has another ABI major or a newer minor, a
 * malformed descriptor, a duplicate component name or a failing init is rejected
 * with a message naming the file and the reason.
 *
 * Each load call is one entry of a search path: a plugin whose name was already
 * loaded by an earlier call is skipped (the earlier entry shadows it, as PATH does
 * for commands), while two plugins of the same name found by one call are an error.
 *
 *     cnas_registry *r = cnas_registry_new(&err);
 *     cnas_registry_load_path(r, getenv("CNAS_PLUGIN_PATH"), &err);
 *     const cnas_component *c = cnas_registry_find(r, CNAS_KIND_OP, "sep_conv_3x3", NULL, &err);
 *     ...
 *     cnas_registry_free(r);   // unloads: no component pointer survives this */
#ifndef CNAS_REGISTRY_H
#define CNAS_REGISTRY_H

#include <cnas/op.h>
#include <cnas/plugin.h>
#include <cnas/status.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnas_registry cnas_registry;

cnas_registry *cnas_registry_new(cnas_error *err);
void cnas_registry_free(cnas_registry *r);

/* Load one plugin file. */
cnas_status cnas_registry_load_file(cnas_registry *r, const char *path, cnas_error *err);
/* Load every *.so in a directory and, one level down, in its subdirectories (a
 * build tree keeps plugins/<kind>/<name>/<name>.so). A missing directory is not an
 * error; a bad plugin is. */
cnas_status cnas_registry_load_dir(cnas_registry *r, const char *dir, cnas_error *err);
/* Load the directories of a colon-separated list, in order. */
cnas_status cnas_registry_load_path(cnas_registry *r, const char *path_list, cnas_error *err);

int cnas_registry_plugin_count(const cnas_registry *r);
const cnas_plugin_desc *cnas_registry_plugin(const cnas_registry *r, int i, const char **path);

/* A component of `kind` by "plugin/name" or a unique short name; NULL with err set
 * (not found, naming what is loaded; or ambiguous, naming the candidates). */
const cnas_component *cnas_registry_find(const cnas_registry *r, cnas_kind kind, const char *name,
                                         const cnas_plugin_desc **plugin, cnas_error *err);

/* An op factory over every op component of the registry (valid while r lives). */
cnas_op_factory cnas_registry_op_factory(cnas_registry *r);

/* "name version\n" for every plugin, sorted: stored in checkpoints so a resume
 * can refuse other plugin versions. Caller frees. */
char *cnas_registry_fingerprint(const cnas_registry *r);

#ifdef __cplusplus
}
#endif
#endif
