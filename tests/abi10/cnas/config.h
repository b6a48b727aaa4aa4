/* cnas/config.h — run configurations: INI files composed with includes and
 * command-line overrides, validated section by section against schemas.
 *
 *   [run] [plugins] [dataset] [data] [space] [network] [strategy] [train]
 *   [retrain] [checkpoint]
 *
 * A file may say `include = other.ini` (at the top or in any section): the included
 * file is read first and the including file's keys override it; includes nest.
 * `--set section.key=value` overrides both. [dataset], [space] and [strategy] name
 * their component with `use`; their other keys are the component's. [network] and
 * [retrain] hold overrides of [space] and [train] for `cnas train`. Keys are
 * case-insensitive (iniparser lowercases them); values are kept as written. */
#ifndef CNAS_CONFIG_H
#define CNAS_CONFIG_H

#include <stdio.h>

#include <cnas/params.h>
#include <cnas/status.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnas_ini cnas_ini;

/* Read a file and its includes. Errors name the file. */
cnas_ini *cnas_ini_load(const char *path, cnas_error *err);
/* A config from INI text (for a run directory's stored config and tests). */
cnas_ini *cnas_ini_parse_text(const char *text, const char *name, cnas_error *err);
void cnas_ini_free(cnas_ini *ini);
/* Apply "section.key=value". */
cnas_status cnas_ini_override(cnas_ini *ini, const char *assignment, cnas_error *err);

const char *cnas_ini_name(const cnas_ini *ini);
const char *cnas_ini_get(const cnas_ini *ini, const char *section, const char *key);
/* Where a key's value came from: a file name or "--set"; NULL when absent. */
const char *cnas_ini_origin(const cnas_ini *ini, const char *section, const char *key);
bool cnas_ini_has_section(const cnas_ini *ini, const char *section);

/* Check that every section is known (with a did-you-mean for typos). Every unknown
 * section is reported, one per line of err->msg. */
cnas_status cnas_ini_check_sections(const cnas_ini *ini, cnas_error *err);

/* Validate `section` (plus, when overlay is not NULL, that section's keys on top)
 * against a schema; `use` is skipped when skip_use. Errors name the file a key came
 * from, the section, key, value and expectation; every error of the section is
 * reported, one per line of err->msg:
 *   x.ini [train] key 'epochs' = 'ten': expected an integer between 1 and 100000 */
cnas_status cnas_ini_resolve(const cnas_ini *ini, const char *section, const char *overlay,
                             const cnas_param_spec *spec, int n_spec, bool skip_use,
                             cnas_params **out, cnas_error *err);
/* The same, with `what` naming the component in unknown-key messages:
 *   x.ini [strategy] key 'lerning_rate': unknown key for strategy 'darts'; did you mean ...? */
cnas_status cnas_ini_resolve_for(const cnas_ini *ini, const char *section, const char *overlay,
                                 const char *what, const cnas_param_spec *spec, int n_spec,
                                 bool skip_use, cnas_params **out, cnas_error *err);

/* The schemas of the core sections. */
extern const cnas_param_spec cnas_run_keys[];
extern const int cnas_run_n_keys;
extern const cnas_param_spec cnas_plugins_keys[];
extern const int cnas_plugins_n_keys;
extern const cnas_param_spec cnas_data_keys[];
extern const int cnas_data_n_keys;
extern const cnas_param_spec cnas_train_keys[];
extern const int cnas_train_n_keys;
extern const cnas_param_spec cnas_checkpoint_keys[];
extern const int cnas_checkpoint_n_keys;

/* "[section]\nkey = value\n" for resolved params, into f; with annotate, keys that took
 * their default say so in a comment. */
void cnas_params_write_ini(FILE *f, const char *section, const char *use, const cnas_params *p,
                           bool annotate);
/* "key = value, ..." of the keys that took their default (for the log); "" when none. */
void cnas_params_defaults_line(const cnas_params *p, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
