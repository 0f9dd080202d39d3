/*
 * test_ckpt_faults.c - damaged checkpoints are skipped, incompatible ones refused.
 *
 * Run on one MPI rank (ctest: ckpt_faults_np1) with a scratch directory as
 * argument.  Each test writes a few pattern checkpoints (tests/ckpt/pattern.h),
 * damages the newest one in one way (truncated part, flipped byte in a
 * dataset, missing part, missing manifest, missing or truncated SUMS) and
 * checks that discovery warns and returns the previous one; then retention,
 * leftover temporary directories, and the refusal of another dataset's,
 * configuration's or format version's checkpoint.
 */
#include "trib_cunit.h"

#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/internal.h"
#include "pattern.h"

#define ROWS 50

static const char *base_dir = "ckpt-faults";
static char captured[8192];

static void fresh(char *dir, size_t cap, const char *name)
{
    snprintf(dir, cap, "%s/%s", base_dir, name);
    trib_io_rmtree(dir);
}

static int write_seq(const char *dir, uint64_t seq)
{
    return pat_checkpoint(MPI_COMM_WORLD, dir, seq, ROWS, 0);
}

static void file_in(char *out, size_t cap, const char *dir, uint64_t seq, const char *file)
{
    snprintf(out, cap, "%s/ckpt-%012" PRIu64 "/%s", dir, seq, file);
}

/* find_latest with stderr captured into `captured` (to check the warning). */
static int latest(const char *dir, const trib_ckpt_expect_t *ex, uint64_t *seq)
{
    char path[4096], logf[4096];
    snprintf(logf, sizeof logf, "%s/stderr.txt", base_dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    *seq = UINT64_MAX;
    int rc = trib_ckpt_find_latest(dir, ex, path, sizeof path, seq);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(logf, "r");
    size_t n = f ? fread(captured, 1, sizeof captured - 1, f) : 0;
    captured[n] = '\0';
    if (f)
        fclose(f);
    return rc;
}

static void two_then_damage_newest(char *dir, size_t cap, const char *name)
{
    fresh(dir, cap, name);
    CU_ASSERT_EQUAL_FATAL(write_seq(dir, 1), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(write_seq(dir, 2), TRIB_OK);
    uint64_t seq;
    CU_ASSERT_EQUAL(latest(dir, NULL, &seq), TRIB_OK);
    CU_ASSERT_EQUAL(seq, 2);
}

static void expect_fallback_to_1(const char *dir, const char *in_warning)
{
    uint64_t seq;
    int rc = latest(dir, NULL, &seq);
    CU_ASSERT_EQUAL(rc, TRIB_OK);
    CU_ASSERT_EQUAL(seq, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(captured, "ckpt-000000000002 skipped"));
    CU_ASSERT_PTR_NOT_NULL(strstr(captured, in_warning));
    if (!strstr(captured, in_warning))
        fprintf(stderr, "warning was: %s\n", captured);
}

static void test_truncated_part(void)
{
    char dir[1024], f[4096];
    two_then_damage_newest(dir, sizeof dir, "truncated");
    file_in(f, sizeof f, dir, 2, "part-00000.h5");
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(stat(f, &st), 0);
    CU_ASSERT_EQUAL_FATAL(truncate(f, st.st_size / 2), 0);
    expect_fallback_to_1(dir, "truncated");
}

static long dataset_offset(const char *file, const char *dset)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, dset, H5P_DEFAULT) : -1;
    haddr_t off = d >= 0 ? H5Dget_offset(d) : HADDR_UNDEF;
    if (d >= 0)
        H5Dclose(d);
    if (f >= 0)
        H5Fclose(f);
    return off == HADDR_UNDEF ? -1 : (long)off;
}

static void flip_byte(const char *file, long at)
{
    int fd = open(file, O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    unsigned char b;
    CU_ASSERT_EQUAL(pread(fd, &b, 1, at), 1);
    b ^= 0x10;
    CU_ASSERT_EQUAL(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

static void test_flipped_byte_in_dataset(void)
{
    char dir[1024], f[4096], path[4096];
    two_then_damage_newest(dir, sizeof dir, "flipped");
    file_in(f, sizeof f, dir, 2, "part-00000.h5");
    long off = dataset_offset(f, "/arrays/factors");
    CU_ASSERT_FATAL(off > 0);
    flip_byte(f, off + 13);
    /* Opened without the whole-file check, the dataset's own CRC32C catches it. */
    snprintf(path, sizeof path, "%s/ckpt-%012d", dir, 2);
    trib_ckpt_reader_t *r;
    CU_ASSERT_EQUAL_FATAL(trib_ckpt_open(path, NULL, 0, &r), TRIB_OK);
    float buf[(ROWS) * PAT_K];
    int rc = trib_ckpt_read_array(r, 0, "factors", TRIB_CKPT_F32, buf, (size_t)ROWS * PAT_K);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_CORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "'factors'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "part-00000.h5"));
    /* Other datasets of the part are still fine. */
    uint32_t ids[ROWS];
    CU_ASSERT_EQUAL(trib_ckpt_read_array(r, 0, "ids", TRIB_CKPT_U32, ids, ROWS), TRIB_OK);
    trib_ckpt_close(r);
    CU_ASSERT_EQUAL(trib_ckpt_validate(path), TRIB_ERR_CORRUPT);
    expect_fallback_to_1(dir, "CRC32C");
}

static void test_missing_part(void)
{
    char dir[1024], f[4096];
    two_then_damage_newest(dir, sizeof dir, "missing-part");
    file_in(f, sizeof f, dir, 2, "part-00000.h5");
    CU_ASSERT_EQUAL_FATAL(unlink(f), 0);
    expect_fallback_to_1(dir, "missing");
}

static void test_missing_manifest(void)
{
    char dir[1024], f[4096];
    two_then_damage_newest(dir, sizeof dir, "missing-manifest");
    file_in(f, sizeof f, dir, 2, "manifest.h5");
    CU_ASSERT_EQUAL_FATAL(unlink(f), 0);
    expect_fallback_to_1(dir, "manifest.h5");
}

static void test_missing_or_torn_sums(void)
{
    char dir[1024], f[4096];
    two_then_damage_newest(dir, sizeof dir, "missing-sums");
    file_in(f, sizeof f, dir, 2, "SUMS");
    CU_ASSERT_EQUAL_FATAL(unlink(f), 0);
    expect_fallback_to_1(dir, "SUMS");

    two_then_damage_newest(dir, sizeof dir, "torn-sums");
    file_in(f, sizeof f, dir, 2, "SUMS");
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(stat(f, &st), 0);
    CU_ASSERT_EQUAL_FATAL(truncate(f, st.st_size - 5), 0);
    expect_fallback_to_1(dir, "SUMS");
}

/* Checkpoints present, none valid: an error listing them (issue 14), not "none, start fresh". */
static void test_all_damaged_is_an_error(void)
{
    char dir[1024], f[4096];
    two_then_damage_newest(dir, sizeof dir, "all-damaged");
    file_in(f, sizeof f, dir, 1, "manifest.h5");
    CU_ASSERT_EQUAL(unlink(f), 0);
    file_in(f, sizeof f, dir, 2, "part-00000.h5");
    CU_ASSERT_EQUAL(truncate(f, 100), 0);
    uint64_t seq;
    CU_ASSERT_EQUAL(latest(dir, NULL, &seq), TRIB_ERR_CORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(TRIB_ERR_CORRUPT), "none of the 2 checkpoints"));
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(TRIB_ERR_CORRUPT), "ckpt-000000000002, ckpt-000000000001"));
    file_in(f, sizeof f, dir, 1, "SUMS"); /* kept: discovery deletes nothing */
    struct stat st;
    CU_ASSERT_EQUAL(stat(f, &st), 0);
    CU_ASSERT_EQUAL(latest("/nonexistent/ckpt-dir", NULL, &seq), TRIB_ERR_NOT_FOUND);
}

static void test_leftover_temporaries(void)
{
    char dir[1024], junk[4096];
    two_then_damage_newest(dir, sizeof dir, "leftovers");
    const char *names[] = {".tmp-ckpt-000000000007", ".trash-ckpt-000000000001"};
    for (int i = 0; i < 2; i++) {
        snprintf(junk, sizeof junk, "%s/%s", dir, names[i]);
        CU_ASSERT_EQUAL(mkdir(junk, 0777), 0);
        snprintf(junk, sizeof junk, "%s/%s/part-00000.h5", dir, names[i]);
        FILE *f = fopen(junk, "w");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        fputs("half a part", f);
        fclose(f);
    }
    uint64_t seq;
    CU_ASSERT_EQUAL(latest(dir, NULL, &seq), TRIB_OK);
    CU_ASSERT_EQUAL(seq, 2);
    struct stat st;
    for (int i = 0; i < 2; i++) {
        snprintf(junk, sizeof junk, "%s/%s", dir, names[i]);
        CU_ASSERT_NOT_EQUAL(stat(junk, &st), 0);
    }
}

static void test_retention(void)
{
    char dir[1024], p[4096];
    fresh(dir, sizeof dir, "retention");
    for (uint64_t s = 1; s <= 5; s++)
        CU_ASSERT_EQUAL(pat_checkpoint(MPI_COMM_WORLD, dir, s, ROWS, 2), TRIB_OK);
    struct stat st;
    for (uint64_t s = 1; s <= 5; s++) {
        snprintf(p, sizeof p, "%s/ckpt-%012" PRIu64, dir, s);
        CU_ASSERT_EQUAL(stat(p, &st) == 0, s >= 4);
    }
    /* An older sequence committed later (a resume from 4 repeating step 3...) never removes newer ones. */
    CU_ASSERT_EQUAL(pat_checkpoint(MPI_COMM_WORLD, dir, 3, ROWS, 1), TRIB_OK);
    for (uint64_t s = 3; s <= 5; s++) {
        snprintf(p, sizeof p, "%s/ckpt-%012" PRIu64, dir, s);
        CU_ASSERT_EQUAL(stat(p, &st), 0);
    }
    CU_ASSERT_EQUAL(trib_ckpt_retain(dir, 1), TRIB_OK);
    for (uint64_t s = 3; s <= 5; s++) {
        snprintf(p, sizeof p, "%s/ckpt-%012" PRIu64, dir, s);
        CU_ASSERT_EQUAL(stat(p, &st) == 0, s == 5);
    }
}

static void test_refuses_other_dataset_and_config(void)
{
    char dir[1024];
    fresh(dir, sizeof dir, "refuse");
    CU_ASSERT_EQUAL_FATAL(write_seq(dir, 1), TRIB_OK);
    uint64_t seq;
    trib_ckpt_expect_t ex = TRIB_CKPT_EXPECT_INIT;
    const char *keys[] = {"k", "mode"}, *good[] = {"8", "sync"}, *bad[] = {"16", "sync"}, *missing[] = {"lambda"};
    ex.fingerprint = PAT_FINGERPRINT;
    ex.config_keys = keys;
    ex.config_values = good;
    ex.nconfig = 2;
    CU_ASSERT_EQUAL(latest(dir, &ex, &seq), TRIB_OK);

    ex.fingerprint = "another-dataset";
    int rc = latest(dir, &ex, &seq);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_INCOMPATIBLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "another dataset"));
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "another-dataset"));

    ex.fingerprint = PAT_FINGERPRINT;
    ex.config_values = bad;
    rc = latest(dir, &ex, &seq);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_INCOMPATIBLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "k=8, this run has k=16"));

    ex.config_keys = missing;
    ex.config_values = missing;
    ex.nconfig = 1;
    rc = latest(dir, &ex, &seq);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_INCOMPATIBLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "does not record configuration 'lambda'"));
}

static void set_manifest_version(const char *manifest, int64_t v)
{
    hid_t f = H5Fopen(manifest, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    CU_ASSERT(a >= 0);
    CU_ASSERT(H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Aclose(a);
    H5Fclose(f);
}

static void test_refuses_other_format_version(void)
{
    char dir[1024], f[4096], path[4096];
    two_then_damage_newest(dir, sizeof dir, "version");
    file_in(f, sizeof f, dir, 2, "manifest.h5");
    set_manifest_version(f, TRIB_CKPT_FORMAT_VERSION + 1);
    snprintf(path, sizeof path, "%s/ckpt-%012d", dir, 2);
    /* Without new sums the change is plain damage ... */
    uint64_t seq;
    CU_ASSERT_EQUAL(latest(dir, NULL, &seq), TRIB_OK);
    CU_ASSERT_EQUAL(seq, 1);
    /* ... with consistent sums it is a checkpoint of another format: refused, not skipped. */
    CU_ASSERT_EQUAL_FATAL(trib_ckpt_sums_rebuild(path), TRIB_OK);
    trib_ckpt_reader_t *r;
    int rc = trib_ckpt_open(path, NULL, TRIB_CKPT_OPEN_VERIFY_FILES, &r);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_INCOMPATIBLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "format version 2"));
    rc = latest(dir, NULL, &seq);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_INCOMPATIBLE);
}

static void test_values_and_edge_cases(void)
{
    char dir[1024], path[4096];
    fresh(dir, sizeof dir, "values");
    trib_ckpt_writer_t *w;
    CU_ASSERT_EQUAL_FATAL(trib_ckpt_begin(MPI_COMM_WORLD, dir, 9, NULL, &w), TRIB_OK);
    CU_ASSERT_EQUAL(trib_ckpt_write_array(w, "empty", TRIB_CKPT_F32, 0, 0, NULL), TRIB_OK);
    CU_ASSERT_EQUAL(trib_ckpt_write_array(w, "empty2d", TRIB_CKPT_F64, 0, 64, NULL), TRIB_OK);
    CU_ASSERT_EQUAL(trib_ckpt_set_string(w, "blank", ""), TRIB_OK);
    CU_ASSERT_EQUAL(trib_ckpt_set_double(w, "nan_free", -0.0), TRIB_OK);
    CU_ASSERT_EQUAL(trib_ckpt_set_int(w, "big", INT64_MIN), TRIB_OK);
    CU_ASSERT_EQUAL(trib_ckpt_commit(w, path, sizeof path), TRIB_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(path, "ckpt-000000000009"));
    trib_ckpt_reader_t *r;
    CU_ASSERT_EQUAL_FATAL(trib_ckpt_open(path, NULL, TRIB_CKPT_OPEN_VERIFY_FILES, &r), TRIB_OK);
    trib_ckpt_array_info_t info;
    CU_ASSERT_EQUAL(trib_ckpt_array_info(r, 0, "empty2d", &info), TRIB_OK);
    CU_ASSERT(info.ndim == 2 && info.rows == 0 && info.cols == 64 && info.dtype == TRIB_CKPT_F64);
    CU_ASSERT_EQUAL(trib_ckpt_read_array(r, 0, "empty", TRIB_CKPT_F32, NULL, 0), TRIB_OK);
    char *s = NULL;
    CU_ASSERT_EQUAL(trib_ckpt_get_string(r, "blank", &s), TRIB_OK);
    CU_ASSERT(s && s[0] == '\0');
    free(s);
    int64_t i = 0;
    double d = 1;
    CU_ASSERT_EQUAL(trib_ckpt_get_int(r, "big", &i), TRIB_OK);
    CU_ASSERT_EQUAL(i, INT64_MIN);
    CU_ASSERT_EQUAL(trib_ckpt_get_double(r, "nan_free", &d), TRIB_OK);
    CU_ASSERT(d == 0.0 && signbit(d));
    CU_ASSERT_EQUAL(trib_ckpt_get_int(r, "absent", &i), TRIB_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(trib_ckpt_get_int(r, "nan_free", &i), TRIB_ERR_INCOMPATIBLE);
    CU_ASSERT_EQUAL(trib_ckpt_get_config(r, "k", &s), TRIB_ERR_NOT_FOUND);
    CU_ASSERT_STRING_EQUAL(trib_ckpt_fingerprint(r), "");
    trib_ckpt_close(r);

    /* Bad arguments. */
    CU_ASSERT_EQUAL_FATAL(trib_ckpt_begin(MPI_COMM_WORLD, dir, 10, NULL, &w), TRIB_OK);
    CU_ASSERT_EQUAL(trib_ckpt_write_array(w, "x", (trib_ckpt_dtype_t)42, 1, 0, &i), TRIB_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL(trib_ckpt_commit(w, NULL, 0), TRIB_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL_FATAL(trib_ckpt_begin(MPI_COMM_WORLD, dir, 10, NULL, &w), TRIB_OK);
    CU_ASSERT_EQUAL(trib_ckpt_write_array(w, "dup", TRIB_CKPT_I64, 1, 0, &i), TRIB_OK);
    CU_ASSERT_EQUAL(trib_ckpt_write_array(w, "dup", TRIB_CKPT_I64, 1, 0, &i), TRIB_ERR_HDF5);
    CU_ASSERT_EQUAL(trib_ckpt_commit(w, NULL, 0), TRIB_ERR_HDF5);
    snprintf(path, sizeof path, "%s/ckpt-%012d", dir, 10);
    struct stat st;
    CU_ASSERT_NOT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(trib_ckpt_begin(MPI_COMM_WORLD, "/proc/no-such-place/ckpt", 1, NULL, &w), TRIB_ERR_IO);
    CU_ASSERT_PTR_NULL(w);
}

static int resolve(const char *spec, const char *dir, uint64_t *seq, char *path, size_t cap)
{
    *seq = UINT64_MAX;
    return trib_ckpt_resolve_all(MPI_COMM_WORLD, spec, dir, NULL, path, cap, seq);
}

static void test_resolve_resume_spec(void)
{
    char dir[1024], path[4096], p1[4096], f[4096];
    two_then_damage_newest(dir, sizeof dir, "resolve");
    uint64_t seq;
    CU_ASSERT_EQUAL(resolve("auto", dir, &seq, path, sizeof path), TRIB_OK);
    CU_ASSERT_EQUAL(seq, 2);
    CU_ASSERT_EQUAL(resolve(NULL, dir, &seq, path, sizeof path), TRIB_OK);
    CU_ASSERT_EQUAL(seq, 2);
    /* An explicit older checkpoint is taken as asked. */
    snprintf(p1, sizeof p1, "%s/ckpt-%012d", dir, 1);
    CU_ASSERT_EQUAL(resolve(p1, NULL, &seq, path, sizeof path), TRIB_OK);
    CU_ASSERT_EQUAL(seq, 1);
    CU_ASSERT_STRING_EQUAL(path, p1);
    /* A directory of checkpoints: its newest. */
    CU_ASSERT_EQUAL(resolve(dir, NULL, &seq, path, sizeof path), TRIB_OK);
    CU_ASSERT_EQUAL(seq, 2);
    /* An explicit damaged checkpoint is an error, not a silent fall-back. */
    file_in(f, sizeof f, dir, 1, "part-00000.h5");
    CU_ASSERT_EQUAL(truncate(f, 64), 0);
    int rc = resolve(p1, NULL, &seq, path, sizeof path);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_CORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "part-00000.h5"));
    snprintf(p1, sizeof p1, "%s/ckpt-%012d", dir, 7);
    CU_ASSERT_EQUAL(resolve(p1, NULL, &seq, path, sizeof path), TRIB_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(resolve("auto", "/nonexistent/dir", &seq, path, sizeof path), TRIB_ERR_NOT_FOUND);
}

static void test_commit_removes_leftovers(void)
{
    char dir[1024], junk[4096];
    two_then_damage_newest(dir, sizeof dir, "commit-cleans");
    snprintf(junk, sizeof junk, "%s/.tmp-ckpt-000000000099", dir);
    CU_ASSERT_EQUAL(mkdir(junk, 0777), 0);
    CU_ASSERT_EQUAL(write_seq(dir, 3), TRIB_OK);
    struct stat st;
    CU_ASSERT_NOT_EQUAL(stat(junk, &st), 0);
    /* keep 0 kept everything. */
    snprintf(junk, sizeof junk, "%s/ckpt-%012d", dir, 1);
    CU_ASSERT_EQUAL(stat(junk, &st), 0);
}

static CU_TestInfo tests[] = {
    {"truncated part is skipped", test_truncated_part},
    {"flipped byte in a dataset is detected and skipped", test_flipped_byte_in_dataset},
    {"missing part is skipped", test_missing_part},
    {"missing manifest is skipped", test_missing_manifest},
    {"missing or torn SUMS is skipped", test_missing_or_torn_sums},
    {"nothing valid: an error listing them", test_all_damaged_is_an_error},
    {"leftover temporaries ignored and removed", test_leftover_temporaries},
    {"retention keeps the newest N", test_retention},
    {"refuses another dataset or configuration", test_refuses_other_dataset_and_config},
    {"refuses another format version", test_refuses_other_format_version},
    {"values, empty arrays, bad arguments", test_values_and_edge_cases},
    {"--resume auto | checkpoint | directory", test_resolve_resume_spec},
    {"a commit removes leftovers of interrupted writes", test_commit_removes_leftovers},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"ckpt faults", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS)
        return 2;
    if (argc > 1)
        base_dir = argv[1];
    trib_io_rmtree(base_dir);
    trib_io_mkdir_p(base_dir);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = trib_cunit_run(suites);
    MPI_Finalize();
    return rc;
}
