/* Parameter validation: every type, range, choice, required key, unknown key with a
 * suggestion, and the schema checks that catch a plugin author's mistakes. */
#include <string.h>

#include "testutil.h"

static const cnas_param_spec spec[] = {
    CNAS_PARAM_SPEC_INT("epochs", "50", 1, 100000, "training epochs"),
    CNAS_PARAM_SPEC_FLOAT("learning_rate", "0.025", 0, 10, "weight learning rate"),
    CNAS_PARAM_SPEC_BOOL("nesterov", "false", "Nesterov momentum"),
    CNAS_PARAM_SPEC_STRING("label", "plain", "free text"),
    CNAS_PARAM_SPEC_CHOICE("schedule", "cosine", "cosine|linear|constant", "schedule"),
    CNAS_PARAM_SPEC_PATH("root", "/data", "data directory"),
    CNAS_PARAM_SPEC_INT_LIST("sizes", "1,2", "sizes"),
};
#define N_SPEC ((int)(sizeof spec / sizeof spec[0]))

/* Resolve "key=value" pairs against spec; returns the status, err filled. */
static cnas_status resolve_kv(const cnas_param_spec *s, int ns, int n, const char *const *kv,
                              cnas_params **out, cnas_error *err)
{
    const char *keys[16] = {0}, *values[16] = {0};
    char buf[16][128];
    ck_assert_int_le(n, 16);
    for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof buf[i], "%s", kv[i]);
        char *eq = strchr(buf[i], '=');
        ck_assert_ptr_nonnull(eq);
        *eq = '\0';
        keys[i] = buf[i];
        values[i] = eq + 1;
    }
    memset(err, 0, sizeof *err);
    return cnas_params_resolve(s, ns, "x.ini [train]", keys, values, n, out, err);
}

static cnas_params *ok(int n, const char *const *kv)
{
    cnas_params *p = NULL;
    cnas_error err;
    ck_assert_msg(resolve_kv(spec, N_SPEC, n, kv, &p, &err) == CNAS_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Resolve one pair that must fail; the message must contain every fragment. */
static void fails(const char *kv, const char *fragment1, const char *fragment2)
{
    cnas_params *p = (cnas_params *)1;
    cnas_error err;
    ck_assert_int_eq(resolve_kv(spec, N_SPEC, 1, (const char *[]){kv}, &p, &err), CNAS_ERR_CONFIG);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(err.msg, fragment1), "'%s' not in: %s", fragment1, err.msg);
    if (fragment2)
        ck_assert_msg(strstr(err.msg, fragment2), "'%s' not in: %s", fragment2, err.msg);
}

START_TEST(test_defaults_fill_every_key_left_out_and_are_marked_as_not_set)
{
    cnas_params *p = ok(0, NULL);
    ck_assert_int_eq(cnas_params_int(p, "epochs"), 50);
    ck_assert_double_eq_tol(cnas_params_float(p, "learning_rate"), 0.025, 1e-12);
    ck_assert(!cnas_params_bool(p, "nesterov"));
    ck_assert_str_eq(cnas_params_str(p, "schedule"), "cosine");
    ck_assert_str_eq(cnas_params_str(p, "root"), "/data");
    ck_assert(!cnas_params_is_set(p, "epochs"));
    ck_assert_int_eq(cnas_params_count(p), N_SPEC);
    for (int i = 0; i < N_SPEC; i++)
        ck_assert_str_eq(cnas_params_key_at(p, i), spec[i].key);
    cnas_params_free(p);
}
END_TEST

START_TEST(test_given_values_are_parsed_by_type_and_kept_as_text)
{
    cnas_params *p = ok(7, (const char *[]){"epochs=7", "learning_rate=3e-4", "nesterov=yes",
                                            "label=a b c", "schedule=linear", "root=rel/dir",
                                            "sizes=4, 8,16"});
    ck_assert_int_eq(cnas_params_int(p, "epochs"), 7);
    ck_assert_double_eq_tol(cnas_params_float(p, "learning_rate"), 3e-4, 1e-15);
    ck_assert(cnas_params_bool(p, "nesterov"));
    ck_assert_str_eq(cnas_params_str(p, "label"), "a b c");
    ck_assert_str_eq(cnas_params_str(p, "schedule"), "linear");
    ck_assert_str_eq(cnas_params_str(p, "root"), "rel/dir");
    int64_t sizes[4] = {0};
    ck_assert_int_eq(cnas_params_int_list(p, "sizes", sizes, 4), 3);
    ck_assert_int_eq(sizes[0], 4);
    ck_assert_int_eq(sizes[1], 8);
    ck_assert_int_eq(sizes[2], 16);
    ck_assert(cnas_params_is_set(p, "epochs"));
    ck_assert_str_eq(cnas_params_text_at(p, 1), "3e-4");
    cnas_params_free(p);
}
END_TEST

START_TEST(test_every_bool_spelling_is_accepted_in_any_case)
{
    static const char *const yes[] = {"nesterov=true", "nesterov=YES", "nesterov=On", "nesterov=1"};
    static const char *const no[] = {"nesterov=false", "nesterov=No", "nesterov=OFF", "nesterov=0"};
    for (int i = 0; i < 4; i++) {
        cnas_params *p = ok(1, &yes[i]);
        ck_assert_msg(cnas_params_bool(p, "nesterov"), "%s", yes[i]);
        cnas_params_free(p);
        p = ok(1, &no[i]);
        ck_assert_msg(!cnas_params_bool(p, "nesterov"), "%s", no[i]);
        cnas_params_free(p);
    }
}
END_TEST

START_TEST(test_a_word_for_an_integer_names_file_section_key_value_and_range)
{
    fails("epochs=ten", "x.ini [train] key 'epochs' = 'ten': expected an integer between 1 and 100000",
          NULL);
}
END_TEST

START_TEST(test_integers_out_of_range_fractional_overflowing_or_empty_are_rejected)
{
    fails("epochs=0", "'0': expected an integer between 1 and 100000", NULL);
    fails("epochs=100001", "'100001'", "between 1 and 100000");
    fails("epochs=2.5", "'2.5': expected an integer", NULL);
    fails("epochs=99999999999999999999999", "expected an integer", NULL);
    fails("epochs=", "'': expected an integer", NULL);
}
END_TEST

START_TEST(test_numbers_out_of_range_or_not_finite_are_rejected)
{
    fails("learning_rate=11", "'11': expected a number between 0 and 10", NULL);
    fails("learning_rate=-0.1", "expected a number between 0 and 10", NULL);
    fails("learning_rate=nan", "'nan': expected a number", NULL);
    fails("learning_rate=inf", "'inf': expected a number", NULL);
    fails("learning_rate=0.1x", "'0.1x'", NULL);
}
END_TEST

START_TEST(test_a_bool_that_is_not_one_of_the_spellings_is_rejected)
{
    fails("nesterov=maybe", "'maybe': expected true or false", NULL);
}
END_TEST

START_TEST(test_a_choice_must_match_one_option_exactly)
{
    fails("schedule=cos", "'cos': expected one of cosine|linear|constant", NULL);
    fails("schedule=Cosine", "expected one of", NULL);
    fails("schedule=cosine|linear", "expected one of", NULL);
}
END_TEST

START_TEST(test_an_int_list_with_a_non_integer_is_rejected)
{
    fails("sizes=1,x,3", "'1,x,3': expected comma-separated integers", NULL);
}
END_TEST

START_TEST(test_an_unknown_key_gets_a_did_you_mean_suggestion)
{
    fails("lerning_rate=0.1", "x.ini [train] key 'lerning_rate': unknown key; did you mean "
          "'learning_rate'?", NULL);
    fails("epoch=3", "did you mean 'epochs'?", NULL);
}
END_TEST

START_TEST(test_an_unknown_key_far_from_every_key_lists_the_known_keys)
{
    fails("zzzzzz=1", "key 'zzzzzz': unknown key (known keys: epochs, learning_rate,", NULL);
}
END_TEST

START_TEST(test_a_key_for_a_component_without_keys_says_it_takes_none)
{
    cnas_params *p = NULL;
    cnas_error err;
    ck_assert_int_eq(resolve_kv(NULL, 0, 1, (const char *[]){"depth=3"}, &p, &err), CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "'depth': unknown key (it takes no keys)"), "%s", err.msg);
}
END_TEST

START_TEST(test_a_missing_required_key_is_reported_with_its_type_and_help)
{
    static const cnas_param_spec req[] = {
        CNAS_PARAM_SPEC_PATH("path", NULL, "directory with the files"),
        CNAS_PARAM_SPEC_INT("n", NULL, 1, 9, "how many"),
    };
    cnas_params *p = NULL;
    cnas_error err;
    ck_assert_int_eq(resolve_kv(req, 2, 1, (const char *[]){"n=3"}, &p, &err), CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "x.ini [train] key 'path' is required: a path — directory with "
                             "the files"), "%s", err.msg);
    ck_assert_int_eq(resolve_kv(req, 2, 1, (const char *[]){"path=/d"}, &p, &err), CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "key 'n' is required: an integer between 1 and 9"), "%s", err.msg);
    ck_assert_int_eq(resolve_kv(req, 2, 2, (const char *[]){"path=/d", "n=2"}, &p, &err), CNAS_OK);
    ck_assert_str_eq(cnas_params_str(p, "path"), "/d");
    cnas_params_free(p);
}
END_TEST

START_TEST(test_a_key_given_twice_is_an_error)
{
    cnas_params *p = NULL;
    cnas_error err;
    ck_assert_int_eq(resolve_kv(spec, N_SPEC, 2, (const char *[]){"epochs=1", "epochs=2"}, &p, &err),
                     CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "key 'epochs' is given twice"), "%s", err.msg);
}
END_TEST

START_TEST(test_every_error_of_a_section_is_reported_one_per_line)
{
    cnas_params *p = NULL;
    cnas_error err;
    ck_assert_int_eq(resolve_kv(spec, N_SPEC, 3, (const char *[]){"epochs=ten", "lerning_rate=1",
                                                                  "schedule=step"}, &p, &err),
                     CNAS_ERR_CONFIG);
    ck_assert_ptr_null(p);
    const char *l1 = strstr(err.msg, "'lerning_rate': unknown key");
    const char *l2 = strstr(err.msg, "'epochs' = 'ten'");
    const char *l3 = strstr(err.msg, "'schedule' = 'step'");
    ck_assert_msg(l1 && l2 && l3, "%s", err.msg);
    int lines = 1;
    for (const char *c = err.msg; *c; c++)
        lines += *c == '\n';
    ck_assert_int_eq(lines, 3);
}
END_TEST

START_TEST(test_keys_match_whatever_their_case_as_ini_keys_do)
{
    static const cnas_param_spec upper[] = {CNAS_PARAM_SPEC_INT("M", "2", 1, 9, "models")};
    cnas_params *p = NULL;
    cnas_error err;
    /* iniparser hands over "m" for "M = 4". */
    ck_assert_msg(resolve_kv(upper, 1, 1, (const char *[]){"m=4"}, &p, &err) == CNAS_OK, "%s", err.msg);
    ck_assert_int_eq(cnas_params_int(p, "M"), 4);
    ck_assert_int_eq(cnas_params_int(p, "m"), 4);
    cnas_params_free(p);
    ck_assert_int_eq(resolve_kv(spec, N_SPEC, 2, (const char *[]){"Epochs=1", "epochs=2"}, &p, &err),
                     CNAS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "key 'epochs' is given twice"), "%s", err.msg);
}
END_TEST

START_TEST(test_undeclared_keys_read_as_zero_values)
{
    cnas_params *p = ok(0, NULL);
    ck_assert_int_eq(cnas_params_int(p, "nope"), 0);
    ck_assert_double_eq(cnas_params_float(p, "nope"), 0.0);
    ck_assert(!cnas_params_bool(p, "nope"));
    ck_assert_str_eq(cnas_params_str(p, "nope"), "");
    ck_assert_int_eq(cnas_params_int_list(p, "nope", NULL, 0), 0);
    ck_assert(!cnas_params_is_set(p, "nope"));
    ck_assert_ptr_null(cnas_params_key_at(p, N_SPEC));
    cnas_params_free(p);
    cnas_params_free(NULL);
}
END_TEST

/* A schema mistake is the plugin's fault, not the user's: CNAS_ERR_PLUGIN. */
static void schema_fails(const cnas_param_spec *s, int n, const char *fragment)
{
    cnas_params *p = NULL;
    cnas_error err;
    ck_assert_int_eq(resolve_kv(s, n, 0, NULL, &p, &err), CNAS_ERR_PLUGIN);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(err.msg, fragment), "'%s' not in: %s", fragment, err.msg);
}

START_TEST(test_a_default_that_does_not_fit_its_own_schema_is_a_plugin_error)
{
    static const cnas_param_spec s1[] = {CNAS_PARAM_SPEC_INT("epochs", "ten", 1, 9, "")};
    schema_fails(s1, 1, "the default of key 'epochs' is 'ten': expected an integer between 1 and 9");
    static const cnas_param_spec s2[] = {CNAS_PARAM_SPEC_CHOICE("mode", "c", "a|b", "")};
    schema_fails(s2, 1, "the default of key 'mode' is 'c': expected one of a|b");
    static const cnas_param_spec s3[] = {CNAS_PARAM_SPEC_FLOAT("lr", "5", 0, 1, "")};
    schema_fails(s3, 1, "the default of key 'lr'");
}
END_TEST

START_TEST(test_malformed_schemas_are_plugin_errors)
{
    static const cnas_param_spec dash[] = {CNAS_PARAM_SPEC_INT("max-epochs", "1", 1, 9, "")};
    schema_fails(dash, 1, "key 'max-epochs' is not [A-Za-z0-9_]+");
    static const cnas_param_spec cased[] = {CNAS_PARAM_SPEC_INT("m", "1", 1, 9, ""),
                                            CNAS_PARAM_SPEC_INT("M", "1", 1, 9, "")};
    schema_fails(cased, 2, "key 'M' is declared twice");
    static const cnas_param_spec twice[] = {CNAS_PARAM_SPEC_INT("n", "1", 1, 9, ""),
                                            CNAS_PARAM_SPEC_INT("n", "1", 1, 9, "")};
    schema_fails(twice, 2, "key 'n' is declared twice");
    static const cnas_param_spec nochoice[] = {CNAS_PARAM_SPEC_CHOICE("m", "a", NULL, "")};
    schema_fails(nochoice, 1, "choice key 'm' lists no choices");
    static const cnas_param_spec reserved[] = {CNAS_PARAM_SPEC_STRING("use", "", "")};
    schema_fails(reserved, 1, "key 'use' is reserved");
    static const cnas_param_spec empty[] = {CNAS_PARAM_SPEC_INT("n", "1", 5, 1, "")};
    schema_fails(empty, 1, "key 'n' has the empty range");
    static const cnas_param_spec badtype[] = {
        {sizeof(cnas_param_spec), "n", (cnas_param_type)42, "1", false, 0, 0, NULL, ""}};
    schema_fails(badtype, 1, "key 'n' has unknown type 42");
    static const cnas_param_spec small[] = {{8, "n", CNAS_PARAM_INT, "1", false, 0, 0, NULL, ""}};
    schema_fails(small, 1, "key 0 has size 8");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("params");
    TCase *t = tcase_create("values");
    tcase_add_test(t, test_defaults_fill_every_key_left_out_and_are_marked_as_not_set);
    tcase_add_test(t, test_given_values_are_parsed_by_type_and_kept_as_text);
    tcase_add_test(t, test_every_bool_spelling_is_accepted_in_any_case);
    tcase_add_test(t, test_keys_match_whatever_their_case_as_ini_keys_do);
    tcase_add_test(t, test_undeclared_keys_read_as_zero_values);
    suite_add_tcase(s, t);
    t = tcase_create("errors");
    tcase_add_test(t, test_a_word_for_an_integer_names_file_section_key_value_and_range);
    tcase_add_test(t, test_integers_out_of_range_fractional_overflowing_or_empty_are_rejected);
    tcase_add_test(t, test_numbers_out_of_range_or_not_finite_are_rejected);
    tcase_add_test(t, test_a_bool_that_is_not_one_of_the_spellings_is_rejected);
    tcase_add_test(t, test_a_choice_must_match_one_option_exactly);
    tcase_add_test(t, test_an_int_list_with_a_non_integer_is_rejected);
    tcase_add_test(t, test_an_unknown_key_gets_a_did_you_mean_suggestion);
    tcase_add_test(t, test_an_unknown_key_far_from_every_key_lists_the_known_keys);
    tcase_add_test(t, test_a_key_for_a_component_without_keys_says_it_takes_none);
    tcase_add_test(t, test_a_missing_required_key_is_reported_with_its_type_and_help);
    tcase_add_test(t, test_a_key_given_twice_is_an_error);
    tcase_add_test(t, test_every_error_of_a_section_is_reported_one_per_line);
    suite_add_tcase(s, t);
    t = tcase_create("schemas");
    tcase_add_test(t, test_a_default_that_does_not_fit_its_own_schema_is_a_plugin_error);
    tcase_add_test(t, test_malformed_schemas_are_plugin_errors);
    suite_add_tcase(s, t);
    return s;
}

CNAS_TEST_MAIN(make_suite)
