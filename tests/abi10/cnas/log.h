/* cnas/log.h — levelled logging to the terminal and a run's log.txt, and the stop
 * flag that Ctrl-C raises. */
#ifndef CNAS_LOG_H
#define CNAS_LOG_H

#include <stdbool.h>

#include <cnas/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Levels as cnas_log_level (strategy.h): 0 error, 1 warn, 2 info, 3 debug. */
void cnas_log_set_level(int level);
int cnas_log_level_parse(const char *name);
/* Also append every line (all levels) to this file; NULL closes it. */
cnas_status cnas_log_open_file(const char *path, cnas_error *err);
void cnas_log_close_file(void);
void cnas_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A cnas_log_sink for cnas_run_spec. */
void cnas_log_sink_fn(void *ctx, int level, const char *msg);

/* The stop flag: raised by the host's signal handler, polled by long work. */
void cnas_stop_request(void);
bool cnas_stop_requested(void);

#ifdef __cplusplus
}
#endif
#endif
