/* Private parts of parameter validation shared by config.c and registry.c; not installed. */
#ifndef CNAS_PARAMS_INTERNAL_H
#define CNAS_PARAMS_INTERNAL_H

#include <stdarg.h>

#include <cnas/params.h>

/* An error record that collects several messages, one per line, so a user sees every
 * mistake of a file at once. The first message's code is the record's code. */
typedef struct cnas__errs {
    cnas_error *err; /* may be NULL */
    int n;
    bool full;       /* a message did not fit: "..." was appended */
} cnas__errs;

void cnas__errs_add(cnas__errs *e, cnas_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Append the message of a single-error record (err2) as one more line. */
void cnas__errs_add_error(cnas__errs *e, const cnas_error *err2);

/* cnas_params_resolve with more context: `what` ("strategy 'darts'") names the
 * component in unknown-key messages; `wheres[r]`, when not NULL, is the origin of
 * raw key r ("base.ini [train]", "--set [train]") and replaces `where` in its
 * messages. Every error of the section is reported, one per line. */
cnas_status cnas__params_resolve(const cnas_param_spec *spec, int n_spec, const char *where,
                                 const char *what, const char *const *keys,
                                 const char *const *values, const char *const *wheres, int n_raw,
                                 cnas_params **out, cnas_error *err);

/* Check a schema itself (a plugin author's mistakes): sizes, key names, types,
 * choices, ranges, duplicate keys and that every default is a valid value. */
cnas_status cnas__params_check_schema(const cnas_param_spec *spec, int n_spec, const char *where,
                                      cnas_error *err);

/* Edit distance, case-insensitive; large for strings over 64 characters. */
size_t cnas__edit_distance(const char *a, const char *b);

/* The closest of n names to `s`, when it is close enough to be a likely typo. */
const char *cnas__did_you_mean(const char *s, const char *const *names, int n);

#endif
