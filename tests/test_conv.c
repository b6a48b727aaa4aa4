#include "testutil.h"

START_TEST(test_placeholder_until_written)
{
    ck_assert_int_eq(1, 1);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("placeholder");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_placeholder_until_written);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
