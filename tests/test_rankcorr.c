/* Rank correlations against hand-counted pairs and hand-computed ranks. */
#include "testutil.h"

#include <math.h>

START_TEST(test_identical_and_reversed_rankings_give_plus_and_minus_one)
{
    double x[] = {0.1, 0.5, 0.3, 0.9, 0.7}, y[] = {1, 5, 3, 9, 7}, r[] = {-1, -5, -3, -9, -7};
    ck_assert_double_eq_tol(cnas_kendall_tau(x, y, 5), 1.0, 1e-12);
    ck_assert_double_eq_tol(cnas_spearman_rho(x, y, 5), 1.0, 1e-12);
    ck_assert_double_eq_tol(cnas_kendall_tau(x, r, 5), -1.0, 1e-12);
    ck_assert_double_eq_tol(cnas_spearman_rho(x, r, 5), -1.0, 1e-12);
}
END_TEST

/* Pairs of (1..5) against (3,4,1,2,5): 6 concordant, 4 discordant, tau = 0.2; rank
 * differences (-2,-2,2,2,0): rho = 1 - 6*16/(5*24) = 0.2. */
START_TEST(test_a_mixed_ranking_matches_the_hand_count)
{
    double x[] = {1, 2, 3, 4, 5}, y[] = {3, 4, 1, 2, 5};
    ck_assert_double_eq_tol(cnas_kendall_tau(x, y, 5), 0.2, 1e-12);
    ck_assert_double_eq_tol(cnas_spearman_rho(x, y, 5), 0.2, 1e-12);
}
END_TEST

/* x = (1,2,2,3), y = (1,2,3,3): 4 concordant, 0 discordant, one pair tied in each of x
 * and y out of 6: tau-b = 4/sqrt(5*5) = 0.8. Average ranks (1,2.5,2.5,4) and
 * (1,2,3.5,3.5): rho = 3.75/4.5. */
START_TEST(test_ties_use_tau_b_and_average_ranks)
{
    double x[] = {1, 2, 2, 3}, y[] = {1, 2, 3, 3}, r[4];
    ck_assert_double_eq_tol(cnas_kendall_tau(x, y, 4), 0.8, 1e-12);
    ck_assert_double_eq_tol(cnas_spearman_rho(x, y, 4), 3.75 / 4.5, 1e-12);
    ck_assert_int_eq(cnas_average_ranks(y, 4, r), 0);
    ck_assert_double_eq(r[0], 1.0);
    ck_assert_double_eq(r[1], 2.0);
    ck_assert_double_eq(r[2], 3.5);
    ck_assert_double_eq(r[3], 3.5);
}
END_TEST

START_TEST(test_undefined_cases_are_nan)
{
    double x[] = {1, 2, 3}, c[] = {4, 4, 4};
    ck_assert(isnan(cnas_kendall_tau(x, c, 3)));
    ck_assert(isnan(cnas_spearman_rho(x, c, 3)));
    ck_assert(isnan(cnas_kendall_tau(x, x, 1)));
    ck_assert(isnan(cnas_spearman_rho(x, x, 0)));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("rankcorr");
    TCase *tc = tcase_create("rankings");
    tcase_add_test(tc, test_identical_and_reversed_rankings_give_plus_and_minus_one);
    tcase_add_test(tc, test_a_mixed_ranking_matches_the_hand_count);
    tcase_add_test(tc, test_ties_use_tau_b_and_average_ranks);
    tcase_add_test(tc, test_undefined_cases_are_nan);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
