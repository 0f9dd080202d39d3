/*
 * test_outdir.c - the output-directory protocol of the data layer
 * (src/data/outdir.c, compiled into this program because it is internal):
 * several outputs committed all or none, an old dataset swapped back when a
 * later output cannot be moved, and the removal of temporaries left by
 * writers that died (only theirs: not a live process's, not another host's).
 */
#include "trib_cunit.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/internal.h"

static char g_tmp[256];

static const char *path_of(const char *name)
{
    static char buf[8][PATH_MAX];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_tmp, name);
    return buf[k];
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void put_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static int file_says(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX], buf[64] = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strcmp(buf, text) == 0;
}

/* Entries of g_tmp whose name starts with prefix. */
static int count_prefixed(const char *prefix)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "ls -1 '%s' | grep -c '^%s'", g_tmp, prefix);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

/* A fresh dataset-looking temporary for outdir, holding marker=text. */
static char *prepared(const char *outdir, const char *text)
{
    char *tmp = NULL;
    CU_ASSERT_EQUAL_FATAL(trib_outdir_begin(outdir, 1, &tmp), TRIB_OK);
    put_file(tmp, TRIB_MANIFEST_NAME, text);
    return tmp;
}

static void test_commit_all_fresh(void)
{
    const char *a = path_of("fresh-a"), *b = path_of("fresh-b");
    char *tmps[2] = {prepared(a, "new a"), prepared(b, "new b")};
    const char *outs[2] = {a, b};
    CU_ASSERT_EQUAL(trib_outdir_commit_all(tmps, outs, 2, 1), TRIB_OK);
    CU_ASSERT(file_says(a, TRIB_MANIFEST_NAME, "new a"));
    CU_ASSERT(file_says(b, TRIB_MANIFEST_NAME, "new b"));
    CU_ASSERT_EQUAL(count_prefixed("fresh-a.tmp-"), 0);
    CU_ASSERT_EQUAL(count_prefixed("fresh-b.tmp-"), 0);
}

/* A temporary made by hand for an output that cannot be moved into place (its parent is missing). */
static char *unmovable(const char *name)
{
    char *tmp = malloc(PATH_MAX);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tmp);
    snprintf(tmp, PATH_MAX, "%s/%s", g_tmp, name);
    CU_ASSERT_EQUAL_FATAL(mkdir(tmp, 0755), 0);
    put_file(tmp, TRIB_MANIFEST_NAME, "new b");
    return tmp;
}

/* The second output cannot be moved: the first, already in place, is moved back. */
static void test_commit_all_rolls_back_a_new_output(void)
{
    const char *a = path_of("rb-a"), *b = path_of("rb-missing/b");
    char *tmps[2] = {prepared(a, "new a"), unmovable("rb-b.tmp-x")};
    const char *outs[2] = {a, b};
    CU_ASSERT_EQUAL(trib_outdir_commit_all(tmps, outs, 2, 1), TRIB_ERR_IO);
    CU_ASSERT(!exists(a));
    CU_ASSERT_EQUAL(count_prefixed("rb-a"), 0);
    CU_ASSERT_EQUAL(count_prefixed("rb-b"), 0);
    CU_ASSERT_PTR_NULL(tmps[0]);
    CU_ASSERT_PTR_NULL(tmps[1]);
}

/* The same into an empty directory: the empty directory is back afterwards. */
static void test_commit_all_rolls_back_over_an_empty_dir(void)
{
    const char *a = path_of("em-a"), *b = path_of("em-missing/b");
    CU_ASSERT_EQUAL_FATAL(mkdir(a, 0755), 0);
    char *tmps[2] = {prepared(a, "new a"), unmovable("em-b.tmp-x")};
    const char *outs[2] = {a, b};
    CU_ASSERT_EQUAL(trib_outdir_commit_all(tmps, outs, 2, 1), TRIB_ERR_IO);
    CU_ASSERT(exists(a));
    CU_ASSERT(!file_says(a, TRIB_MANIFEST_NAME, "new a"));
    CU_ASSERT_EQUAL(count_prefixed("em-a.tmp-"), 0);
}

/* The same with an old dataset in the first place: it is swapped back, intact. */
static void test_commit_all_restores_an_old_dataset(void)
{
    const char *a = path_of("old-a"), *b = path_of("old-missing/b");
    CU_ASSERT_EQUAL_FATAL(mkdir(a, 0755), 0);
    char *tmps[2] = {prepared(a, "new a"), unmovable("old-b.tmp-x")}; /* begin checks a real dataset: before */
    put_file(a, TRIB_MANIFEST_NAME, "old a");
    put_file(a, "shard-00000.h5", "old shard");
    const char *outs[2] = {a, b};
    CU_ASSERT_EQUAL(trib_outdir_commit_all(tmps, outs, 2, 1), TRIB_ERR_IO);
    CU_ASSERT(file_says(a, TRIB_MANIFEST_NAME, "old a"));
    CU_ASSERT(file_says(a, "shard-00000.h5", "old shard"));
    CU_ASSERT_EQUAL(count_prefixed("old-a.tmp-"), 0);
    CU_ASSERT_EQUAL(count_prefixed("old-b.tmp-"), 0);
}

/* Replacing two old datasets: both new, the old ones deleted. */
static void test_commit_all_replaces(void)
{
    const char *a = path_of("rep-a"), *b = path_of("rep-b");
    CU_ASSERT_EQUAL_FATAL(mkdir(a, 0755), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(b, 0755), 0);
    char *tmps[2] = {prepared(a, "new a"), prepared(b, "new b")}; /* begin checks a real dataset: before */
    put_file(a, TRIB_MANIFEST_NAME, "old a");
    put_file(b, TRIB_MANIFEST_NAME, "old b");
    const char *outs[2] = {a, b};
    CU_ASSERT_EQUAL(trib_outdir_commit_all(tmps, outs, 2, 1), TRIB_OK);
    CU_ASSERT(file_says(a, TRIB_MANIFEST_NAME, "new a"));
    CU_ASSERT(file_says(b, TRIB_MANIFEST_NAME, "new b"));
    CU_ASSERT_EQUAL(count_prefixed("rep-a.tmp-"), 0);
    CU_ASSERT_EQUAL(count_prefixed("rep-b.tmp-"), 0);
}

static pid_t dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    CU_ASSERT_FATAL(pid > 0);
    waitpid(pid, NULL, 0);
    return pid;
}

static void make_temp(const char *name)
{
    const char *p = path_of(name);
    CU_ASSERT_EQUAL_FATAL(mkdir(p, 0755), 0);
    put_file(p, "shard-00000.h5", "partial");
}

static void test_stale_temporaries_removed(void)
{
    char host[256] = "localhost", name[PATH_MAX];
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    long dead = (long)dead_pid(), me = (long)getpid();
    snprintf(name, sizeof name, "st.tmp-%s-%ld-0", host, dead);
    make_temp(name);
    snprintf(name, sizeof name, "st.tmp-%s-%ld-7", host, me);
    make_temp(name); /* a live writer's */
    snprintf(name, sizeof name, "st.tmp-elsewhere-%ld-0", dead);
    make_temp(name); /* another host's */
    make_temp("st.tmp-notes"); /* not a temporary of ours */
    char *tmp = NULL;
    CU_ASSERT_EQUAL_FATAL(trib_outdir_begin(path_of("st"), 0, &tmp), TRIB_OK);
    snprintf(name, sizeof name, "st.tmp-%s-%ld-0", host, dead);
    CU_ASSERT(!exists(path_of(name)));
    snprintf(name, sizeof name, "st.tmp-%s-%ld-7", host, me);
    CU_ASSERT(exists(path_of(name)));
    snprintf(name, sizeof name, "st.tmp-elsewhere-%ld-0", dead);
    CU_ASSERT(exists(path_of(name)));
    CU_ASSERT(exists(path_of("st.tmp-notes")));
    CU_ASSERT(exists(tmp));
    trib_outdir_abort(tmp);
}

static int setup(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/trib-outdir-XXXXXX");
    return mkdtemp(g_tmp) ? 0 : 1;
}

static int teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    return system(cmd) == 0 ? 0 : 1;
}

static CU_TestInfo tests[] = {
    {"commit_all_fresh", test_commit_all_fresh},
    {"commit_all_rolls_back_a_new_output", test_commit_all_rolls_back_a_new_output},
    {"commit_all_rolls_back_over_an_empty_dir", test_commit_all_rolls_back_over_an_empty_dir},
    {"commit_all_restores_an_old_dataset", test_commit_all_restores_an_old_dataset},
    {"commit_all_replaces", test_commit_all_replaces},
    {"stale_temporaries_removed", test_stale_temporaries_removed},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"outdir", setup, teardown, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(void) { return trib_cunit_run(suites); }
