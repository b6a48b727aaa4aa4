/* Checkpoints: exact round trip, atomic replacement, and every corruption caught. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/cnas-ckpt-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void path_of(char *out, const char *name)
{
    snprintf(out, 300, "%s/%s", dir, name);
}

static void write_sample(const char *path, cnas_tensor *t)
{
    cnas_error err;
    cnas_ckpt *ck = cnas_ckpt_new(&err);
    cnas_rng r;
    cnas_rng_init(&r, 9, "data");
    cnas_rng_u32(&r);
    ck_assert_int_eq(cnas_ckpt_put_tensor(ck, "w", t, &err), CNAS_OK);
    ck_assert_int_eq(cnas_ckpt_put_blob(ck, "rng", &r, sizeof r, &err), CNAS_OK);
    ck_assert_int_eq(cnas_ckpt_put_i64(ck, "step", 1234567890123ll, &err), CNAS_OK);
    ck_assert_int_eq(cnas_ckpt_put_str(ck, "config", "[run]\nseed = 2\n", &err), CNAS_OK);
    ck_assert_int_eq(cnas_ckpt_save(ck, path, &err), CNAS_OK);
    cnas_ckpt_free(ck);
}

START_TEST(test_round_trip_restores_every_record_exactly)
{
    char path[300];
    path_of(path, "a.ckpt");
    cnas_tensor *t = tu_rand(CNAS_SHAPE(3, 2, 5), 1, -1, 1);
    write_sample(path, t);
    cnas_error err;
    cnas_ckpt *ck = cnas_ckpt_load(path, &err);
    ck_assert_msg(ck != NULL, "%s", err.msg);
    cnas_tensor *u = cnas_tensor_new(CNAS_SHAPE(3, 2, 5), &err);
    ck_assert_int_eq(cnas_ckpt_get_tensor(ck, "w", u, &err), CNAS_OK);
    ck_assert_int_eq(memcmp(t->data, u->data, cnas_tensor_bytes(t)), 0);
    cnas_rng r, want;
    cnas_rng_init(&want, 9, "data");
    cnas_rng_u32(&want);
    ck_assert_int_eq(cnas_ckpt_get_blob(ck, "rng", &r, sizeof r, &err), CNAS_OK);
    ck_assert_uint_eq(cnas_rng_u32(&r), cnas_rng_u32(&want));
    int64_t step;
    ck_assert_int_eq(cnas_ckpt_get_i64(ck, "step", &step, &err), CNAS_OK);
    ck_assert_int_eq(step, 1234567890123ll);
    ck_assert_str_eq(cnas_ckpt_get_str(ck, "config", &err), "[run]\nseed = 2\n");
    cnas_ckpt_free(ck);
    cnas_tensor_free(t);
    cnas_tensor_free(u);
}
END_TEST

START_TEST(test_saving_replaces_the_old_file_and_leaves_no_temporary)
{
    char path[300], tmp[310];
    path_of(path, "b.ckpt");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cnas_tensor *t = tu_rand(CNAS_SHAPE(4), 2, -1, 1);
    write_sample(path, t);
    t->data[0] = 42.0f;
    write_sample(path, t);
    struct stat st;
    ck_assert_int_ne(stat(tmp, &st), 0);
    cnas_error err;
    cnas_ckpt *ck = cnas_ckpt_load(path, &err);
    ck_assert_ptr_nonnull(ck);
    cnas_tensor *u = cnas_tensor_new(CNAS_SHAPE(4), &err);
    cnas_ckpt_get_tensor(ck, "w", u, &err);
    ck_assert_float_eq(u->data[0], 42.0f);
    cnas_ckpt_free(ck);
    cnas_tensor_free(t);
    cnas_tensor_free(u);
}
END_TEST

static void corrupt_at(const char *path, long off, unsigned char xor_mask)
{
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, off, off < 0 ? SEEK_END : SEEK_SET);
    int c = fgetc(f);
    fseek(f, -1, SEEK_CUR);
    fputc(c ^ xor_mask, f);
    fclose(f);
}

START_TEST(test_a_flipped_byte_is_a_checksum_error)
{
    char path[300];
    path_of(path, "c.ckpt");
    cnas_tensor *t = tu_rand(CNAS_SHAPE(16), 3, -1, 1);
    write_sample(path, t);
    corrupt_at(path, 60, 0x01);
    cnas_error err;
    ck_assert_ptr_null(cnas_ckpt_load(path, &err));
    ck_assert_int_eq(err.code, CNAS_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "checksum"));
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    cnas_tensor_free(t);
}
END_TEST

START_TEST(test_truncation_bad_magic_and_missing_file_are_named_errors)
{
    char path[300];
    path_of(path, "d.ckpt");
    cnas_tensor *t = tu_rand(CNAS_SHAPE(16), 4, -1, 1);
    write_sample(path, t);
    cnas_error err;
    ck_assert_int_eq(truncate(path, 40), 0);
    ck_assert_ptr_null(cnas_ckpt_load(path, &err));
    ck_assert_int_eq(err.code, CNAS_ERR_FORMAT);
    write_sample(path, t);
    corrupt_at(path, 0, 0x20);
    ck_assert_ptr_null(cnas_ckpt_load(path, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "bad magic"));
    path_of(path, "missing.ckpt");
    ck_assert_ptr_null(cnas_ckpt_load(path, &err));
    ck_assert_int_eq(err.code, CNAS_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "missing.ckpt"));
    cnas_tensor_free(t);
}
END_TEST

START_TEST(test_shape_mismatch_and_absent_records_are_reported)
{
    char path[300];
    path_of(path, "e.ckpt");
    cnas_tensor *t = tu_rand(CNAS_SHAPE(3, 2, 5), 5, -1, 1);
    write_sample(path, t);
    cnas_error err;
    cnas_ckpt *ck = cnas_ckpt_load(path, &err);
    cnas_tensor *u = cnas_tensor_new(CNAS_SHAPE(3, 10), &err);
    ck_assert_int_eq(cnas_ckpt_get_tensor(ck, "w", u, &err), CNAS_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "[3, 2, 5]"));
    ck_assert_ptr_nonnull(strstr(err.msg, "[3, 10]"));
    ck_assert_int_eq(cnas_ckpt_get_tensor(ck, "nope", u, &err), CNAS_ERR_NOT_FOUND);
    /* The stored shape, to allocate a tensor that takes the record. */
    int nd = 0;
    int64_t shape[CNAS_MAX_DIMS];
    ck_assert_int_eq(cnas_ckpt_tensor_shape(ck, "w", &nd, shape, &err), CNAS_OK);
    ck_assert_int_eq(nd, 3);
    ck_assert(shape[0] == 3 && shape[1] == 2 && shape[2] == 5 && shape[3] == 1);
    cnas_tensor *back = cnas_tensor_new(nd, shape, &err);
    ck_assert_int_eq(cnas_ckpt_get_tensor(ck, "w", back, &err), CNAS_OK);
    ck_assert_mem_eq(back->data, t->data, cnas_tensor_bytes(t));
    cnas_tensor_free(back);
    ck_assert_int_eq(cnas_ckpt_tensor_shape(ck, "nope", &nd, shape, &err), CNAS_ERR_NOT_FOUND);
    int64_t v;
    ck_assert_int_eq(cnas_ckpt_get_i64(ck, "w", &v, &err), CNAS_ERR_FORMAT);
    cnas_ckpt *dup = cnas_ckpt_new(&err);
    ck_assert_int_eq(cnas_ckpt_put_i64(dup, "x", 1, &err), CNAS_OK);
    ck_assert_int_eq(cnas_ckpt_put_i64(dup, "x", 2, &err), CNAS_ERR_INVALID);
    cnas_ckpt_free(dup);
    cnas_ckpt_free(ck);
    cnas_tensor_free(t);
    cnas_tensor_free(u);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_round_trip_restores_every_record_exactly);
    tcase_add_test(tc, test_saving_replaces_the_old_file_and_leaves_no_temporary);
    tcase_add_test(tc, test_a_flipped_byte_is_a_checksum_error);
    tcase_add_test(tc, test_truncation_bad_magic_and_missing_file_are_named_errors);
    tcase_add_test(tc, test_shape_mismatch_and_absent_records_are_reported);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
