/* cnas/status.h — status codes and the error record every fallible call fills.
 *
 * Convention: a fallible function returns a cnas_status and, on failure, writes a
 * message into a caller-supplied cnas_error. Messages name the thing at fault (file,
 * section, key, op, shape), the value found and what was expected. A layer that adds
 * context prefixes it once with cnas_error_prefix(). Nothing in libcnas or a plugin
 * exits or aborts on bad input: the host decides what to do. */
#ifndef CNAS_STATUS_H
#define CNAS_STATUS_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Append new codes at the end only: plugins compare against these values. */
typedef enum cnas_status {
    CNAS_OK = 0,
    CNAS_ERR_INVALID,      /* bad argument or value */
    CNAS_ERR_SHAPE,        /* tensor shapes do not fit the op */
    CNAS_ERR_NOMEM,        /* allocation failed */
    CNAS_ERR_IO,           /* a file could not be opened, read or written */
    CNAS_ERR_FORMAT,       /* a file's content is malformed or truncated */
    CNAS_ERR_CONFIG,       /* configuration error: unknown key, wrong type, out of range */
    CNAS_ERR_PLUGIN,       /* a plugin could not be loaded or is incompatible */
    CNAS_ERR_UNSUPPORTED,  /* a valid request this build or component cannot serve */
    CNAS_ERR_INTERRUPTED,  /* stopped on request (Ctrl-C) */
    CNAS_ERR_NOT_FOUND,    /* a named thing does not exist */
    CNAS_ERR_INTERNAL      /* a broken invariant: a bug in cnas */
} cnas_status;

#define CNAS_ERROR_MSG_MAX 1024

typedef struct cnas_error {
    cnas_status code;
    char msg[CNAS_ERROR_MSG_MAX];
} cnas_error;

/* Short lowercase name of a status ("shape error"). Never NULL. */
const char *cnas_status_str(cnas_status s);

/* Record an error (printf-style) and return `code`, so a caller can write
 * `return cnas_error_set(err, CNAS_ERR_IO, "%s: %s", path, strerror(errno));`.
 * `err` may be NULL, in which case only the code is returned. */
cnas_status cnas_error_set(cnas_error *err, cnas_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
cnas_status cnas_error_vset(cnas_error *err, cnas_status code, const char *fmt, va_list ap);

/* Prefix the current message with context ("loading plugin x.so: ...") and
 * return the stored code. */
cnas_status cnas_error_prefix(cnas_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void cnas_error_clear(cnas_error *err);

#ifdef __cplusplus
}
#endif
#endif
