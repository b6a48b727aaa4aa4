#include <cnas/log.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int g_level = 2;
static FILE *g_file;
static volatile sig_atomic_t g_stop;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void cnas_log_set_level(int level) { g_level = level; }

int cnas_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcasecmp(name, level_names[i]) == 0)
            return i;
    return 2;
}

cnas_status cnas_log_open_file(const char *path, cnas_error *err)
{
    cnas_log_close_file();
    g_file = fopen(path, "a");
    if (!g_file)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    return CNAS_OK;
}

void cnas_log_close_file(void)
{
    if (g_file)
        fclose(g_file);
    g_file = NULL;
}

static void emit(int level, const char *msg)
{
    if (level < 0)
        level = 0;
    if (level > 3)
        level = 3;
    if (level <= g_level) {
        if (level <= 1)
            fprintf(stderr, "%s: %s\n", level_names[level], msg);
        else
            fprintf(stderr, "%s\n", msg);
    }
    if (g_file) {
        char stamp[32];
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(g_file, "%s %-5s %s\n", stamp, level_names[level], msg);
        fflush(g_file);
    }
}

void cnas_log(int level, const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(level, msg);
}

void cnas_log_sink_fn(void *ctx, int level, const char *msg)
{
    (void)ctx;
    emit(level, msg);
}

void cnas_stop_request(void) { g_stop = 1; }
bool cnas_stop_requested(void) { return g_stop != 0; }
