/* cnas/params.h — a component's declared keys and the validated values it receives.
 *
 * A component declares its keys as a static array of cnas_param_spec. Before
 * anything runs, the host checks the INI section against that schema (unknown
 * keys, types, ranges, choices, required keys) and hands the component a
 * cnas_params holding exactly its declared keys, each with a value of the declared
 * type (the INI's or the default). Reading a value therefore cannot fail for a
 * declared key; asking for an undeclared key returns the zero value. Keys match
 * case-insensitively, as INI keys do. */
#ifndef CNAS_PARAMS_H
#define CNAS_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Append only. */
typedef enum cnas_param_type {
    CNAS_PARAM_INT = 1,
    CNAS_PARAM_FLOAT,
    CNAS_PARAM_BOOL,      /* true/false, yes/no, on/off, 1/0 */
    CNAS_PARAM_STRING,
    CNAS_PARAM_CHOICE,    /* one of `choices`, "a|b|c" */
    CNAS_PARAM_PATH,      /* a string naming a file or directory */
    CNAS_PARAM_INT_LIST,  /* comma-separated integers */
} cnas_param_type;

typedef struct cnas_param_spec {
    uint32_t size;            /* sizeof(cnas_param_spec) as the plugin was built */
    const char *key;
    cnas_param_type type;
    const char *default_value; /* text form; NULL = required */
    bool has_range;            /* INT / FLOAT: min <= value <= max */
    double min, max;
    const char *choices;       /* CHOICE: "a|b|c" */
    const char *help;
} cnas_param_spec;

/* Spec literal helpers for plugin authors. */
#define CNAS_PARAM_SPEC_INT(k, def, lo, hi, h) \
    {sizeof(cnas_param_spec), (k), CNAS_PARAM_INT, (def), true, (lo), (hi), NULL, (h)}
#define CNAS_PARAM_SPEC_FLOAT(k, def, lo, hi, h) \
    {sizeof(cnas_param_spec), (k), CNAS_PARAM_FLOAT, (def), true, (lo), (hi), NULL, (h)}
#define CNAS_PARAM_SPEC_BOOL(k, def, h) \
    {sizeof(cnas_param_spec), (k), CNAS_PARAM_BOOL, (def), false, 0, 0, NULL, (h)}
#define CNAS_PARAM_SPEC_STRING(k, def, h) \
    {sizeof(cnas_param_spec), (k), CNAS_PARAM_STRING, (def), false, 0, 0, NULL, (h)}
#define CNAS_PARAM_SPEC_PATH(k, def, h) \
    {sizeof(cnas_param_spec), (k), CNAS_PARAM_PATH, (def), false, 0, 0, NULL, (h)}
#define CNAS_PARAM_SPEC_CHOICE(k, def, ch, h) \
    {sizeof(cnas_param_spec), (k), CNAS_PARAM_CHOICE, (def), false, 0, 0, (ch), (h)}
#define CNAS_PARAM_SPEC_INT_LIST(k, def, h) \
    {sizeof(cnas_param_spec), (k), CNAS_PARAM_INT_LIST, (def), false, 0, 0, NULL, (h)}

typedef struct cnas_params cnas_params;

/* Validate `n_raw` key/value text pairs (from one INI section) against a schema.
 * `where` names the origin for messages ("examples/x.ini [dataset]"). Errors name
 * the key, the value and what was expected; an unknown key gets a did-you-mean
 * suggestion. On success *out owns a copy of everything. */
cnas_status cnas_params_resolve(const cnas_param_spec *spec, int n_spec, const char *where,
                                const char *const *keys, const char *const *values, int n_raw,
                                cnas_params **out, cnas_error *err);
void cnas_params_free(cnas_params *p);

int64_t cnas_params_int(const cnas_params *p, const char *key);
double cnas_params_float(const cnas_params *p, const char *key);
bool cnas_params_bool(const cnas_params *p, const char *key);
/* STRING, CHOICE and PATH values; "" for an undeclared key. Borrowed from p. */
const char *cnas_params_str(const cnas_params *p, const char *key);
/* INT_LIST: element count, and up to max elements copied into out. */
int cnas_params_int_list(const cnas_params *p, const char *key, int64_t *out, int max);
/* True when the value came from the configuration rather than the default. */
bool cnas_params_is_set(const cnas_params *p, const char *key);
/* Iterate resolved values in schema order as text (for the resolved INI). */
int cnas_params_count(const cnas_params *p);
const char *cnas_params_key_at(const cnas_params *p, int i);
const char *cnas_params_text_at(const cnas_params *p, int i);

#ifdef __cplusplus
}
#endif
#endif
