/* RNG streams: known answers, reproducibility, independence, save / restore. */
#include "testutil.h"

#include <math.h>
#include <string.h>

START_TEST(test_philox_matches_the_published_known_answers)
{
    /* Random123 kat_vectors for philox4x32_10. */
    uint32_t out[4];
    cnas_philox4x32((uint32_t[]){0, 0}, (uint32_t[]){0, 0, 0, 0}, out);
    ck_assert_uint_eq(out[0], 0x6627e8d5u);
    ck_assert_uint_eq(out[1], 0xe169c58du);
    ck_assert_uint_eq(out[2], 0xbc57ac4cu);
    ck_assert_uint_eq(out[3], 0x9b00dbd8u);
    cnas_philox4x32((uint32_t[]){0xffffffffu, 0xffffffffu},
                    (uint32_t[]){0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, out);
    ck_assert_uint_eq(out[0], 0x408f276du);
    ck_assert_uint_eq(out[1], 0x41c83b0eu);
    ck_assert_uint_eq(out[2], 0xa20bc7c6u);
    ck_assert_uint_eq(out[3], 0x6d5451fdu);
    cnas_philox4x32((uint32_t[]){0xa4093822u, 0x299f31d0u},
                    (uint32_t[]){0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, out);
    ck_assert_uint_eq(out[0], 0xd16cfe09u);
    ck_assert_uint_eq(out[1], 0x94fdccebu);
    ck_assert_uint_eq(out[2], 0x5001e420u);
    ck_assert_uint_eq(out[3], 0x24126ea1u);
}
END_TEST

START_TEST(test_same_seed_and_purpose_give_the_same_numbers)
{
    cnas_rng a, b;
    cnas_rng_init(&a, 42, "data");
    cnas_rng_init(&b, 42, "data");
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(cnas_rng_u32(&a), cnas_rng_u32(&b));
}
END_TEST

START_TEST(test_purposes_and_seeds_give_different_streams)
{
    cnas_rng a, b, c;
    cnas_rng_init(&a, 42, "data");
    cnas_rng_init(&b, 42, "init");
    cnas_rng_init(&c, 43, "data");
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = cnas_rng_u32(&a);
        same_ab += x == cnas_rng_u32(&b);
        same_ac += x == cnas_rng_u32(&c);
    }
    ck_assert_int_lt(same_ab, 2);
    ck_assert_int_lt(same_ac, 2);
}
END_TEST

START_TEST(test_saved_state_resumes_the_stream_exactly)
{
    cnas_rng a;
    cnas_rng_init(&a, 7, "sample");
    for (int i = 0; i < 13; i++) /* leave the block half read */
        cnas_rng_u32(&a);
    cnas_rng saved;
    memcpy(&saved, &a, sizeof saved);
    float ref[50];
    for (int i = 0; i < 50; i++)
        ref[i] = cnas_rng_normal(&a);
    for (int i = 0; i < 50; i++)
        ck_assert_float_eq(cnas_rng_normal(&saved), ref[i]);
}
END_TEST

START_TEST(test_uniform_and_normal_have_the_right_moments)
{
    cnas_rng r;
    cnas_rng_init(&r, 1, "moments");
    const int n = 200000;
    double su = 0, su2 = 0, sn = 0, sn2 = 0;
    float umin = 1, umax = 0;
    for (int i = 0; i < n; i++) {
        float u = cnas_rng_uniform(&r);
        float z = cnas_rng_normal(&r);
        su += u; su2 += (double)u * u; sn += z; sn2 += (double)z * z;
        if (u < umin) umin = u;
        if (u > umax) umax = u;
    }
    ck_assert(umin >= 0.0f && umax < 1.0f);
    ck_assert_double_eq_tol(su / n, 0.5, 0.005);
    ck_assert_double_eq_tol(su2 / n - (su / n) * (su / n), 1.0 / 12, 0.002);
    ck_assert_double_eq_tol(sn / n, 0.0, 0.01);
    ck_assert_double_eq_tol(sn2 / n, 1.0, 0.02);
}
END_TEST

START_TEST(test_below_is_unbiased_and_in_range)
{
    cnas_rng r;
    cnas_rng_init(&r, 3, "below");
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint32_t k = cnas_rng_below(&r, 7);
        ck_assert_uint_lt(k, 7);
        counts[k]++;
    }
    for (int k = 0; k < 7; k++)
        ck_assert_int_lt(abs(counts[k] - 10000), 400);
}
END_TEST

START_TEST(test_shuffle_is_a_permutation)
{
    cnas_rng r;
    cnas_rng_init(&r, 4, "shuffle");
    int64_t idx[100];
    for (int i = 0; i < 100; i++)
        idx[i] = i;
    cnas_rng_shuffle(&r, idx, 100);
    int seen[100] = {0}, moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert_int_gt(moved, 80);
}
END_TEST

START_TEST(test_categorical_follows_the_weights)
{
    cnas_rng r;
    cnas_rng_init(&r, 5, "cat");
    float w[3] = {1.0f, 0.0f, 3.0f};
    int counts[3] = {0};
    for (int i = 0; i < 40000; i++)
        counts[cnas_rng_categorical(&r, w, 3)]++;
    ck_assert_int_eq(counts[1], 0);
    ck_assert_int_lt(abs(counts[0] - 10000), 400);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_philox_matches_the_published_known_answers);
    tcase_add_test(tc, test_same_seed_and_purpose_give_the_same_numbers);
    tcase_add_test(tc, test_purposes_and_seeds_give_different_streams);
    tcase_add_test(tc, test_saved_state_resumes_the_stream_exactly);
    tcase_add_test(tc, test_uniform_and_normal_have_the_right_moments);
    tcase_add_test(tc, test_below_is_unbiased_and_in_range);
    tcase_add_test(tc, test_shuffle_is_a_permutation);
    tcase_add_test(tc, test_categorical_follows_the_weights);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
