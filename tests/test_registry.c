/* The plugin loader: every kind of bad file is rejected with the file and the
 * reason, and nothing crashes; good plugins are found by full and short name. */
#include "testutil.h"

#include <elf.h>
#include <unistd.h>

static const char *dir(void)
{
    const char *d = getenv("BROKEN_PLUGIN_DIR");
    ck_assert_msg(d != NULL, "BROKEN_PLUGIN_DIR is not set");
    return d;
}

static void expect_rejected(const char *file, const char *reason)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir(), file);
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    ck_assert_int_eq(cnas_registry_load_file(r, path, &err), CNAS_ERR_PLUGIN);
    ck_assert_msg(strstr(err.msg, file) && strstr(err.msg, reason), "message '%s' lacks '%s' or '%s'",
                  err.msg, file, reason);
    ck_assert_int_eq(cnas_registry_plugin_count(r), 0);
    cnas_registry_free(r);
}

START_TEST(test_a_good_plugin_loads_and_its_components_are_found)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/broken_good.so", dir());
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    ck_assert_msg(cnas_registry_load_file(r, path, &err) == CNAS_OK, "%s", err.msg);
    ck_assert_int_eq(cnas_registry_load_file(r, path, &err), CNAS_OK); /* twice: once */
    ck_assert_int_eq(cnas_registry_plugin_count(r), 1);
    const cnas_plugin_desc *p;
    ck_assert_ptr_nonnull(cnas_registry_find(r, CNAS_KIND_DATASET, "broken_data", &p, &err));
    ck_assert_str_eq(p->name, "broken_good");
    ck_assert_ptr_nonnull(cnas_registry_find(r, CNAS_KIND_DATASET, "broken_good/broken_data", &p, &err));
    ck_assert_ptr_null(cnas_registry_find(r, CNAS_KIND_STRATEGY, "broken_data", &p, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "no strategy component named 'broken_data'"));
    ck_assert_ptr_null(cnas_registry_find(r, CNAS_KIND_DATASET, "other/broken_data", &p, &err));
    cnas_registry_free(r);
}
END_TEST

START_TEST(test_a_text_file_is_not_a_shared_object)
{
    char path[] = "/tmp/cnas-notelf-XXXXXX.so";
    int fd = mkstemps(path, 3);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "hello\n", 6), 6);
    close(fd);
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    ck_assert_int_eq(cnas_registry_load_file(r, path, &err), CNAS_ERR_PLUGIN);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a shared object"));
    ck_assert_ptr_nonnull(strstr(err.msg, "cnas-notelf-"));
    cnas_registry_free(r);
    unlink(path);
}
END_TEST

START_TEST(test_an_executable_and_a_foreign_architecture_are_rejected)
{
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    ck_assert_int_eq(cnas_registry_load_file(r, "/bin/true", &err), CNAS_ERR_PLUGIN);
    ck_assert_ptr_nonnull(strstr(err.msg, "true"));
    /* An ELF header claiming another machine. */
    char path[] = "/tmp/cnas-arm-XXXXXX.so";
    int fd = mkstemps(path, 3);
    Elf64_Ehdr h;
    memset(&h, 0, sizeof h);
    memcpy(h.e_ident, ELFMAG, SELFMAG);
    h.e_ident[EI_CLASS] = ELFCLASS64;
    h.e_ident[EI_DATA] = ELFDATA2LSB;
    h.e_type = ET_DYN;
#ifdef __x86_64__
    h.e_machine = EM_AARCH64;
#else
    h.e_machine = EM_X86_64;
#endif
    ck_assert_int_eq(write(fd, &h, sizeof h), (ssize_t)sizeof h);
    close(fd);
    ck_assert_int_eq(cnas_registry_load_file(r, path, &err), CNAS_ERR_PLUGIN);
    ck_assert_ptr_nonnull(strstr(err.msg, "another architecture"));
    unlink(path);
    cnas_registry_free(r);
}
END_TEST

START_TEST(test_a_missing_entry_symbol_is_named)
{
    expect_rejected("broken_no_entry.so", "no entry symbol 'cnas_plugin_entry'");
}
END_TEST

START_TEST(test_another_abi_major_is_rejected)
{
    expect_rejected("broken_abi_major.so", "majors must match");
}
END_TEST

START_TEST(test_a_newer_abi_minor_is_rejected)
{
    expect_rejected("broken_abi_minor.so", "newer than this cnas");
}
END_TEST

START_TEST(test_a_descriptor_with_a_bad_size_is_rejected)
{
    expect_rejected("broken_bad_size.so", "descriptor size 4");
}
END_TEST

START_TEST(test_missing_mandatory_fields_are_rejected)
{
    expect_rejected("broken_no_name.so", "invalid plugin name");
    expect_rejected("broken_no_version.so", "has no version");
}
END_TEST

START_TEST(test_a_duplicate_component_name_is_rejected)
{
    expect_rejected("broken_duplicate.so", "component name 'broken_data' is used twice");
}
END_TEST

START_TEST(test_a_failing_initialisation_is_reported_with_its_message)
{
    expect_rejected("broken_init_fails.so", "initialisation failed: this machine lacks the frobnicator");
}
END_TEST

START_TEST(test_loading_a_directory_stops_at_the_first_bad_plugin_with_its_name)
{
    cnas_error err;
    cnas_registry *r = cnas_registry_new(&err);
    ck_assert_int_eq(cnas_registry_load_dir(r, dir(), &err), CNAS_ERR_PLUGIN);
    ck_assert_ptr_nonnull(strstr(err.msg, "broken_"));
    cnas_registry_free(r);
    r = cnas_registry_new(&err);
    ck_assert_int_eq(cnas_registry_load_dir(r, "/nonexistent/cnas", &err), CNAS_OK);
    cnas_registry_free(r);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("loader");
    tcase_add_test(tc, test_a_good_plugin_loads_and_its_components_are_found);
    tcase_add_test(tc, test_a_text_file_is_not_a_shared_object);
    tcase_add_test(tc, test_an_executable_and_a_foreign_architecture_are_rejected);
    tcase_add_test(tc, test_a_missing_entry_symbol_is_named);
    tcase_add_test(tc, test_another_abi_major_is_rejected);
    tcase_add_test(tc, test_a_newer_abi_minor_is_rejected);
    tcase_add_test(tc, test_a_descriptor_with_a_bad_size_is_rejected);
    tcase_add_test(tc, test_missing_mandatory_fields_are_rejected);
    tcase_add_test(tc, test_a_duplicate_component_name_is_rejected);
    tcase_add_test(tc, test_a_failing_initialisation_is_reported_with_its_message);
    tcase_add_test(tc, test_loading_a_directory_stops_at_the_first_bad_plugin_with_its_name);
    suite_add_tcase(s, tc);
    return s;
}

CNAS_TEST_MAIN(make_suite)
