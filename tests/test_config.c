/* Configurations: includes, overrides, and a clear error for every kind of mistake
 * naming the file, section, key, value and what was expected. */
#include "testutil.h"

#include <unistd.h>

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/cnas-cfg-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static const cnas_param_spec schema[] = {
    CNAS_PARAM_SPEC_INT("epochs", "10", 1, 100, "epochs"),
    CNAS_PARAM_SPEC_FLOAT("learning_rate", "0.1", 0, 1, "lr"),
    CNAS_PARAM_SPEC_BOOL("nesterov", "false", "nesterov"),
    CNAS_PARAM_SPEC_CHOICE("schedule", "cosine", "cosine|linear", "schedule"),
    {sizeof(cnas_param_spec), "path", CNAS_PARAM_PATH, NULL, false, 0, 0, NULL, "required path"},
    CNAS_PARAM_SPEC_INT_LIST("sizes", "1,2,3", "sizes"),
};

static cnas_status resolve(const char *text, cnas_params **p, cnas_error *err)
{
    const char *path = write_file("c.ini", text);
    cnas_ini *ini = cnas_ini_load(path, err);
    ck_assert_msg(ini != NULL, "%s", err->msg);
    cnas_status st = cnas_ini_resolve(ini, "train", NULL, schema, 6, false, p, err);
    cnas_ini_free(ini);
    return st;
}

START_TEST(test_values_are_typed_and_defaults_fill_the_rest)
{
    cnas_params *p;
    cnas_error err;
    ck_assert_int_eq(resolve("[train]\nepochs = 7\npath = /x\nnesterov = yes\nsizes = 4, 5\n", &p, &err),
                     CNAS_OK);
    ck_assert_int_eq(cnas_params_int(p, "epochs"), 7);
    ck_assert_double_eq(cnas_params_float(p, "learning_rate"), 0.1);
    ck_assert(cnas_params_bool(p, "nesterov"));
    ck_assert_str_eq(cnas_params_str(p, "schedule"), "cosine");
    int64_t sizes[4];
    ck_assert_int_eq(cnas_params_int_list(p, "sizes", sizes, 4), 2);
    ck_assert_int_eq(sizes[1], 5);
    ck_assert(cnas_params_is_set(p, "epochs"));
    ck_assert(!cnas_params_is_set(p, "learning_rate"));
    cnas_params_free(p);
}
END_TEST

static void expect_error(const char *text, const char *f1, const char *f2, const char *f3)
{
    cnas_params *p = NULL;
    cnas_error err;
    ck_assert_int_eq(resolve(text, &p, &err), CNAS_ERR_CONFIG);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(err.msg, "c.ini") && strstr(err.msg, "[train]") && strstr(err.msg, f1) &&
                  strstr(err.msg, f2) && strstr(err.msg, f3), "message: %s", err.msg);
}

START_TEST(test_an_unknown_key_gets_a_suggestion)
{
    expect_error("[train]\npath = /x\nlerning_rate = 0.2\n", "'lerning_rate'", "unknown key",
                 "did you mean 'learning_rate'?");
}
END_TEST

START_TEST(test_a_wrong_type_names_the_value_and_the_expectation)
{
    expect_error("[train]\npath = /x\nepochs = ten\n", "'epochs'", "'ten'", "expected an integer");
    expect_error("[train]\npath = /x\nnesterov = maybe\n", "'nesterov'", "'maybe'", "true or false");
    expect_error("[train]\npath = /x\nschedule = step\n", "'schedule'", "'step'", "cosine|linear");
}
END_TEST

START_TEST(test_a_value_out_of_range_names_the_range)
{
    expect_error("[train]\npath = /x\nepochs = 1000\n", "'epochs'", "'1000'", "between 1 and 100");
}
END_TEST

START_TEST(test_a_missing_required_key_is_named)
{
    expect_error("[train]\nepochs = 3\n", "'path'", "required", "path");
}
END_TEST

START_TEST(test_includes_are_overridden_by_the_including_file_and_by_set)
{
    write_file("base.ini", "[train]\nepochs = 3\nlearning_rate = 0.5\npath = /base\n");
    const char *top = write_file("top.ini", "include = base.ini\n[train]\nepochs = 9\n");
    cnas_error err;
    cnas_ini *ini = cnas_ini_load(top, &err);
    ck_assert_msg(ini != NULL, "%s", err.msg);
    ck_assert_str_eq(cnas_ini_get(ini, "train", "epochs"), "9");
    ck_assert_str_eq(cnas_ini_get(ini, "train", "learning_rate"), "0.5");
    ck_assert_int_eq(cnas_ini_override(ini, "train.learning_rate=0.25", &err), CNAS_OK);
    ck_assert_str_eq(cnas_ini_get(ini, "train", "learning_rate"), "0.25");
    ck_assert_int_eq(cnas_ini_override(ini, "trainlearning_rate", &err), CNAS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "expected section.key=value"));
    cnas_ini_free(ini);
}
END_TEST

START_TEST(test_an_include_cycle_and_a_missing_file_are_errors)
{
    write_file("a.ini", "include = b.ini\n[train]\nepochs = 1\n");
    write_file("b.ini", "include = a.ini\n");
    char path[256];
    snprintf(path, sizeof path, "%s/a.ini", dir);
    cnas_error err;
    ck_assert_ptr_null(cnas_ini_load(path, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "include cycle"));
    snprintf(path, sizeof path, "%s/none.ini", dir);
    ck_assert_ptr_null(cnas_ini_load(path, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "none.ini"));
}
END_TEST

START_TEST(test_an_unknown_section_gets_a_suggestion)
{
    const char *path = write_file("s.ini", "[trian]\nepochs = 3\n");
    cnas_error err;
    cnas_ini *ini = cnas_ini_load(path, &err);
    ck_assert_int_eq(cnas_ini_check_sections(ini, &err), CNAS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown section [trian]; did you mean [train]?"));
    cnas_ini_free(ini);
}
END_TEST

START_TEST(test_every_error_of_a_section_is_reported_on_its_own_line)
{
    cnas_params *p = NULL;
    cnas_error err;
    ck_assert_int_eq(resolve("[train]\nepochs = ten\nlerning_rate = 1\nschedule = step\n", &p, &err),
                     CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "c.ini [train] key 'epochs' = 'ten': expected an integer between "
                                  "1 and 100\n"), "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "key 'lerning_rate': unknown key; did you mean 'learning_rate'?"),
                  "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "key 'schedule' = 'step'"), "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "key 'path' is required"), "%s", err.msg);
    int lines = 1;
    for (const char *c = err.msg; *c; c++)
        lines += *c == '\n';
    ck_assert_int_eq(lines, 4);
}
END_TEST

START_TEST(test_a_bad_value_is_blamed_on_the_file_or_override_it_came_from)
{
    write_file("base.ini", "[train]\nepochs = 0\npath = /x\n");
    const char *top = write_file("top.ini", "include = base.ini\n[train]\nnesterov = yes\n");
    cnas_error err;
    cnas_ini *ini = cnas_ini_load(top, &err);
    ck_assert_msg(ini != NULL, "%s", err.msg);
    cnas_params *p = NULL;
    ck_assert_int_eq(cnas_ini_resolve(ini, "train", NULL, schema, 6, false, &p, &err), CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "base.ini [train] key 'epochs' = '0'"), "%s", err.msg);
    ck_assert_int_eq(cnas_ini_override(ini, "train.epochs=5", &err), CNAS_OK);
    ck_assert_int_eq(cnas_ini_override(ini, "TRAIN.Schedule= sideways", &err), CNAS_OK);
    ck_assert_int_eq(cnas_ini_resolve(ini, "train", NULL, schema, 6, false, &p, &err), CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "--set [train] key 'schedule' = 'sideways'"), "%s", err.msg);
    ck_assert_str_eq(cnas_ini_origin(ini, "train", "nesterov"), top);
    cnas_ini_free(ini);
}
END_TEST

START_TEST(test_unknown_sections_are_all_reported_even_when_empty)
{
    const char *path = write_file("s.ini", "[trian]\n[zzzz]\n[train]\nepochs = 3\n");
    cnas_error err;
    cnas_ini *ini = cnas_ini_load(path, &err);
    ck_assert_msg(ini != NULL, "%s", err.msg);
    ck_assert(cnas_ini_has_section(ini, "trian"));
    ck_assert_int_eq(cnas_ini_check_sections(ini, &err), CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "unknown section [trian]; did you mean [train]?\n"), "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "unknown section [zzzz] (known: run,"), "%s", err.msg);
    cnas_ini_free(ini);
}
END_TEST

START_TEST(test_a_line_that_is_not_ini_names_the_file_and_line)
{
    const char *path = write_file("g.ini", "[run]\nseed = 1\nthis is not ini\n");
    cnas_error err;
    ck_assert_ptr_null(cnas_ini_load(path, &err));
    ck_assert_int_eq(err.code, CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "g.ini:3: not a valid INI line: 'this is not ini'"), "%s", err.msg);
    path = write_file("o.ini", "seed = 1\n[run]\n");
    ck_assert_ptr_null(cnas_ini_load(path, &err));
    ck_assert_msg(strstr(err.msg, "key 'seed' is outside any section"), "%s", err.msg);
}
END_TEST

START_TEST(test_an_unknown_key_of_a_component_names_the_component)
{
    const char *path = write_file("u.ini", "[strategy]\nuse = darts\nzzzz = 1\nepoch = 2\npath = /p\n");
    cnas_error err;
    cnas_ini *ini = cnas_ini_load(path, &err);
    cnas_params *p = NULL;
    ck_assert_int_eq(cnas_ini_resolve_for(ini, "strategy", NULL, "strategy 'darts'", schema, 6, true,
                                          &p, &err), CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "u.ini [strategy] key 'zzzz': unknown key for strategy 'darts' "
                                  "(known keys: epochs, learning_rate,"), "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "key 'epoch': unknown key; did you mean 'epochs'? (strategy "
                                  "'darts')"), "%s", err.msg);
    cnas_ini_free(ini);
}
END_TEST

START_TEST(test_an_overlay_section_overrides_its_base_key_by_key)
{
    const char *path = write_file("r.ini", "[train]\nepochs = 3\nlearning_rate = 0.5\npath = /t\n"
                                           "[retrain]\nepochs = 9\n");
    cnas_error err;
    cnas_ini *ini = cnas_ini_load(path, &err);
    cnas_params *p = NULL;
    ck_assert_msg(cnas_ini_resolve(ini, "train", "retrain", schema, 6, false, &p, &err) == CNAS_OK,
                  "%s", err.msg);
    ck_assert_int_eq(cnas_params_int(p, "epochs"), 9);
    ck_assert_double_eq(cnas_params_float(p, "learning_rate"), 0.5);
    cnas_params_free(p);
    cnas_ini_free(ini);
}
END_TEST

START_TEST(test_the_resolved_ini_marks_defaults_and_reads_back_to_the_same_values)
{
    cnas_params *p = NULL;
    cnas_error err;
    ck_assert_int_eq(resolve("[train]\nepochs = 7\npath = /x\n", &p, &err), CNAS_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cnas_params_write_ini(f, "train", NULL, p, true);
    fclose(f);
    ck_assert_msg(strstr(text, "[train]\nepochs = 7\nlearning_rate = 0.1  ; default\n"), "%s", text);
    char line[256];
    cnas_params_defaults_line(p, line, sizeof line);
    ck_assert_str_eq(line, "learning_rate = 0.1, nesterov = false, schedule = cosine, sizes = 1,2,3");
    cnas_ini *ini = cnas_ini_parse_text(text, "stored.ini", &err);
    ck_assert_msg(ini != NULL, "%s", err.msg);
    ck_assert_str_eq(cnas_ini_name(ini), "stored.ini");
    cnas_params *q = NULL;
    ck_assert_msg(cnas_ini_resolve(ini, "train", NULL, schema, 6, false, &q, &err) == CNAS_OK, "%s",
                  err.msg);
    for (int i = 0; i < cnas_params_count(p); i++)
        ck_assert_str_eq(cnas_params_text_at(q, i), cnas_params_text_at(p, i));
    cnas_params_free(q);
    cnas_ini_free(ini);
    ck_assert_ptr_null(cnas_ini_parse_text("[train\nx\n", "broken.ini", &err));
    ck_assert_msg(strstr(err.msg, "broken.ini"), "%s", err.msg);
    free(text);
    cnas_params_free(p);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("ini");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_values_are_typed_and_defaults_fill_the_rest);
    tcase_add_test(tc, test_an_unknown_key_gets_a_suggestion);
    tcase_add_test(tc, test_a_wrong_type_names_the_value_and_the_expectation);
    tcase_add_test(tc, test_a_value_out_of_range_names_the_range);
    tcase_add_test(tc, test_a_missing_required_key_is_named);
    tcase_add_test(tc, test_includes_are_overridden_by_the_including_file_and_by_set);
    tcase_add_test(tc, test_an_include_cycle_and_a_missing_file_are_errors);
    tcase_add_test(tc, test_an_unknown_section_gets_a_suggestion);
    tcase_add_test(tc, test_every_error_of_a_section_is_reported_on_its_own_line);
    tcase_add_test(tc, test_a_bad_value_is_blamed_on_the_file_or_override_it_came_from);
    tcase_add_test(tc, test_unknown_sections_are_all_reported_even_when_empty);
    tcase_add_test(tc, test_a_line_that_is_not_ini_names_the_file_and_line);
    tcase_add_test(tc, test_an_unknown_key_of_a_component_names_the_component);
    tcase_add_test(tc, test_an_overlay_section_overrides_its_base_key_by_key);
    tcase_add_test(tc, test_the_resolved_ini_marks_defaults_and_reads_back_to_the_same_values);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
