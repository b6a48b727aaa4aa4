/* Metrics files: the CSV's columns are fixed by the first record with a value, a resumed
 * run keeps its file's columns, and a name that reaches the .jsonl only is warned about. */
#include "testutil.h"

#include <cnas/log.h>
#include <cnas/metrics.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/cnas-metrics-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    cnas_log_close_file();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The whole file dir/name, NUL-terminated (static buffer). */
static const char *slurp(const char *name)
{
    static char buf[4096];
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return buf;
}

START_TEST(test_columns_come_from_the_first_record_with_a_value)
{
    cnas_error err;
    char log[300];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    ck_assert_int_eq(cnas_log_open_file(log, &err), CNAS_OK);
    cnas_log_set_level(0); /* the file gets every level; keep the terminal quiet */
    cnas_metrics *m = cnas_metrics_open(dir, "steps", &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(cnas_metrics_write(m, 0, 0, &err), CNAS_OK); /* nothing set: no header */
    cnas_metrics_set(m, "loss", 2.5);
    cnas_metrics_set(m, "later", NAN); /* no value yet, but a column */
    ck_assert_int_eq(cnas_metrics_write(m, 0, 1, &err), CNAS_OK);
    cnas_metrics_set(m, "loss", 2.0);
    cnas_metrics_set(m, "later", 7.0);
    cnas_metrics_set(m, "extra", 1.0); /* too late for the CSV */
    ck_assert_int_eq(cnas_metrics_write(m, 0, 2, &err), CNAS_OK);
    cnas_metrics_set(m, "extra", 2.0);
    ck_assert_int_eq(cnas_metrics_write(m, 0, 3, &err), CNAS_OK);
    cnas_metrics_close(m);
    ck_assert_str_eq(slurp("steps.csv"), "epoch,step,loss,later\n0,1,2.5,\n0,2,2,7\n0,3,,\n");
    ck_assert_ptr_nonnull(strstr(slurp("steps.jsonl"), "{\"epoch\": 0, \"step\": 3, \"extra\": 2}"));
    /* Said once, naming the metric and both files. */
    const char *l = slurp("log.txt");
    const char *w = strstr(l, "'extra' was first set after the columns of steps.csv were fixed; "
                              "it is written to steps.jsonl only");
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_null(strstr(w + 1, "'extra'"));

    /* Resumed: the file's columns stay, a name it lacks is warned about again. */
    m = cnas_metrics_open(dir, "steps", &err);
    ck_assert_ptr_nonnull(m);
    cnas_metrics_set(m, "later", 8.0);
    cnas_metrics_set(m, "extra", 3.0);
    cnas_metrics_set(m, "loss", 1.5);
    ck_assert_int_eq(cnas_metrics_write(m, 1, 4, &err), CNAS_OK);
    cnas_metrics_close(m);
    ck_assert_str_eq(slurp("steps.csv"),
                     "epoch,step,loss,later\n0,1,2.5,\n0,2,2,7\n0,3,,\n1,4,1.5,8\n");
    l = slurp("log.txt");
    w = strstr(l, "'extra' was first set");
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_nonnull(strstr(w + 1, "'extra' was first set"));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_columns_come_from_the_first_record_with_a_value);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
