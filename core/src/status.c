#include <cnas/status.h>

#include <stdio.h>
#include <string.h>

const char *cnas_status_str(cnas_status s)
{
    switch (s) {
    case CNAS_OK: return "ok";
    case CNAS_ERR_INVALID: return "invalid argument";
    case CNAS_ERR_SHAPE: return "shape error";
    case CNAS_ERR_NOMEM: return "out of memory";
    case CNAS_ERR_IO: return "i/o error";
    case CNAS_ERR_FORMAT: return "format error";
    case CNAS_ERR_CONFIG: return "configuration error";
    case CNAS_ERR_PLUGIN: return "plugin error";
    case CNAS_ERR_UNSUPPORTED: return "unsupported";
    case CNAS_ERR_INTERRUPTED: return "interrupted";
    case CNAS_ERR_NOT_FOUND: return "not found";
    case CNAS_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

cnas_status cnas_error_vset(cnas_error *err, cnas_status code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

cnas_status cnas_error_set(cnas_error *err, cnas_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cnas_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

cnas_status cnas_error_prefix(cnas_error *err, const char *fmt, ...)
{
    if (!err)
        return CNAS_ERR_INTERNAL;
    char prefix[CNAS_ERROR_MSG_MAX / 2];
    char old[CNAS_ERROR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(old, sizeof old, "%s", err->msg);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return err->code;
}

void cnas_error_clear(cnas_error *err)
{
    if (err) {
        err->code = CNAS_OK;
        err->msg[0] = '\0';
    }
}

#include <cnas/version.h>

const char *cnas_version(void)
{
    return CNAS_VERSION_STRING;
}
