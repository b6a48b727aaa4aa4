/* cnas/version.h — library version. */
#ifndef CNAS_VERSION_H
#define CNAS_VERSION_H

#define CNAS_VERSION_MAJOR 0
#define CNAS_VERSION_MINOR 1
#define CNAS_VERSION_PATCH 0
#define CNAS_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the libcnas actually loaded (may differ from the header's). */
const char *cnas_version(void);

#ifdef __cplusplus
}
#endif
#endif
