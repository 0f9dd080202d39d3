/*
 * discover.c - finding the newest valid checkpoint, retention, clean-up.
 *
 * A checkpoint directory D may hold, besides committed ckpt-<seq>
 * directories, the debris of crashes: .tmp-ckpt-<seq> (a write that never
 * committed) and .trash-ckpt-<seq> (an interrupted replacement).  Discovery
 * removes those, then tries the committed ones from the highest sequence
 * number down, fully verified (every file's size and CRC32C against SUMS,
 * the manifest's header).  A damaged one is skipped with a warning and the
 * next older one is tried; an intact one that belongs to another dataset,
 * configuration or format version stops the search with
 * TRIB_ERR_INCOMPATIBLE: silently resuming from an older one, or starting
 * fresh over a directory of someone else's checkpoints, would be worse than
 * a clear refusal.
 *
 * Retention runs after a commit and considers only checkpoints with a
 * sequence number up to the one just committed, so it can never delete the
 * new checkpoint nor anything before it is safely in place; it also removes
 * the debris of earlier interrupted writes (only one job writes into D).
 *
 * The collective variants run the scan on rank 0 only (one reader of every
 * file, not p) and broadcast the result with its message, so every rank
 * resumes from the same checkpoint or fails with the same explanation.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/internal.h"
#include "core/log.h"

typedef struct {
    uint64_t *seqs;
    size_t n, cap;
} seq_list_t;

static int push_seq(seq_list_t *l, uint64_t s)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 16;
        uint64_t *ns = realloc(l->seqs, ncap * sizeof *ns);
        if (!ns)
            return trib_errorf(TRIB_ERR_NOMEM, "no memory to list checkpoints");
        l->seqs = ns;
        l->cap = ncap;
    }
    l->seqs[l->n++] = s;
    return TRIB_OK;
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Committed sequence numbers in `dir`, newest first; removes debris when clean != 0. */
static int scan_dir(const char *dir, int clean, seq_list_t *out)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return trib_errorf(TRIB_ERR_NOT_FOUND, "no checkpoint directory '%s'", dir);
        return trib_errorf(TRIB_ERR_IO, "cannot read checkpoint directory '%s': %s", dir, strerror(errno));
    }
    int rc = TRIB_OK;
    struct dirent *e;
    while (rc == TRIB_OK && (e = readdir(d)) != NULL) {
        uint64_t s;
        if (trib_ckpt_parse_dirname(e->d_name, TRIB_CKPT_PREFIX, &s)) {
            rc = push_seq(out, s);
        } else if (clean && (trib_ckpt_parse_dirname(e->d_name, TRIB_CKPT_TMP_PREFIX, &s) ||
                             trib_ckpt_parse_dirname(e->d_name, TRIB_CKPT_TRASH_PREFIX, &s))) {
            char path[TRIB_CKPT_PATH_MAX];
            if (trib_ckpt_join(path, sizeof path, dir, e->d_name) == TRIB_OK) {
                trib_log(TRIB_LOG_INFO, "checkpoint: removing leftover '%s' of an interrupted write", path);
                if (trib_io_rmtree(path) != TRIB_OK)
                    trib_log(TRIB_LOG_WARN, "checkpoint: %s", trib_last_error(TRIB_ERR_IO));
            }
        }
    }
    closedir(d);
    if (rc == TRIB_OK && out->n > 1)
        qsort(out->seqs, out->n, sizeof *out->seqs, cmp_desc);
    return rc;
}

static int seq_path(char *out, size_t cap, const char *dir, uint64_t seq)
{
    char name[64];
    int rc = trib_ckpt_seq_dirname(name, sizeof name, TRIB_CKPT_PREFIX, seq);
    return rc == TRIB_OK ? trib_ckpt_join(out, cap, dir, name) : rc;
}

int trib_ckpt_validate(const char *path)
{
    trib_ckpt_reader_t *r;
    int rc = trib_ckpt_open(path, NULL, TRIB_CKPT_OPEN_VERIFY_FILES, &r);
    if (rc == TRIB_OK)
        trib_ckpt_close(r);
    return rc;
}

int trib_ckpt_find_latest(const char *dir, const trib_ckpt_expect_t *expect, char *path, size_t path_cap,
                          uint64_t *seq)
{
    if (!dir || !path || path_cap == 0)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_ckpt_find_latest: NULL directory or path buffer");
    path[0] = '\0';
    seq_list_t l = {NULL, 0, 0};
    int rc = scan_dir(dir, 1, &l);
    int found = 0;
    for (size_t i = 0; rc == TRIB_OK && !found && i < l.n; i++) {
        char cand[TRIB_CKPT_PATH_MAX];
        rc = seq_path(cand, sizeof cand, dir, l.seqs[i]);
        if (rc != TRIB_OK)
            break;
        trib_ckpt_reader_t *r;
        int vrc = trib_ckpt_open(cand, expect, TRIB_CKPT_OPEN_VERIFY_FILES, &r);
        if (vrc == TRIB_ERR_INCOMPATIBLE) {
            rc = vrc;
        } else if (vrc != TRIB_OK) {
            trib_log(TRIB_LOG_WARN, "checkpoint %s skipped (damaged or incomplete): %s", cand, trib_last_error(vrc));
        } else {
            trib_ckpt_close(r);
            if (snprintf(path, path_cap, "%s", cand) >= (int)path_cap)
                rc = trib_errorf(TRIB_ERR_RANGE, "checkpoint path '%s' does not fit the buffer", cand);
            else if (seq)
                *seq = l.seqs[i];
            found = 1;
        }
    }
    if (rc == TRIB_OK && !found && l.n > 0) {
        /* Checkpoints exist but none is valid: never a silent fresh start over them. */
        char names[1024] = "";
        size_t used = 0;
        for (size_t i = 0; i < l.n && used < sizeof names; i++) {
            int n = snprintf(names + used, sizeof names - used, "%s" TRIB_CKPT_PREFIX "%0*" PRIu64,
                             i ? ", " : "", TRIB_CKPT_SEQ_DIGITS, l.seqs[i]);
            used = n < 0 ? sizeof names : used + (size_t)n;
        }
        if (used >= sizeof names)
            memcpy(names + sizeof names - 4, "...", 4);
        rc = trib_errorf(TRIB_ERR_CORRUPT,
                         "none of the %zu checkpoints in '%s' is valid (%s); they are kept: remove them, or "
                         "start fresh and replace them with --replace-checkpoints", l.n, dir, names);
    }
    free(l.seqs);
    if (rc == TRIB_OK && !found)
        rc = trib_errorf(TRIB_ERR_NOT_FOUND, "no valid checkpoint in '%s'", dir);
    return rc;
}

/* Rank 0's result (status, message, path, seq) as every rank's result. */
static int share_result(MPI_Comm comm, int rank, int rc0, const char *path0, uint64_t seq0, char *path,
                        size_t path_cap, uint64_t *seq)
{
    struct {
        char path[TRIB_CKPT_PATH_MAX];
        char msg[512];
        uint64_t seq;
        int64_t rc;
    } res;
    memset(&res, 0, sizeof res);
    if (rank == 0) {
        res.rc = rc0;
        res.seq = seq0;
        snprintf(res.path, sizeof res.path, "%s", rc0 == TRIB_OK ? path0 : "");
        snprintf(res.msg, sizeof res.msg, "%s", rc0 == TRIB_OK ? "" : trib_last_error(rc0));
    }
    if (MPI_Bcast(&res, (int)sizeof res, MPI_BYTE, 0, comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "checkpoint: broadcast of the discovery result failed");
    res.path[sizeof res.path - 1] = res.msg[sizeof res.msg - 1] = '\0';
    if (res.rc != TRIB_OK)
        return trib_errorf((int)res.rc, "%s", res.msg);
    if (!path || snprintf(path, path_cap, "%s", res.path) >= (int)path_cap)
        return trib_errorf(TRIB_ERR_RANGE, "checkpoint path '%s' does not fit the buffer", res.path);
    if (seq)
        *seq = res.seq;
    return TRIB_OK;
}

int trib_ckpt_find_latest_all(MPI_Comm comm, const char *dir, const trib_ckpt_expect_t *expect, char *path,
                              size_t path_cap, uint64_t *seq)
{
    int rank;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "checkpoint: MPI_Comm_rank failed");
    char found[TRIB_CKPT_PATH_MAX] = "";
    uint64_t s = 0;
    int rc = rank == 0 ? trib_ckpt_find_latest(dir, expect, found, sizeof found, &s) : TRIB_OK;
    return share_result(comm, rank, rc, found, s, path, path_cap, seq);
}

/* Rank 0's part of trib_ckpt_resolve_all. */
static int resolve_local(const char *resume, const char *dir, const trib_ckpt_expect_t *expect, char *path,
                         size_t cap, uint64_t *seq)
{
    if (!resume || strcmp(resume, "auto") == 0) {
        if (!dir)
            return trib_errorf(TRIB_ERR_INVALID_ARG, "--resume auto needs a checkpoint directory");
        return trib_ckpt_find_latest(dir, expect, path, cap, seq);
    }
    char sums[TRIB_CKPT_PATH_MAX];
    struct stat st;
    int rc = trib_ckpt_join(sums, sizeof sums, resume, TRIB_CKPT_SUMS);
    if (rc != TRIB_OK)
        return rc;
    if (stat(resume, &st) != 0)
        return trib_errorf(TRIB_ERR_NOT_FOUND, "checkpoint '%s' does not exist", resume);
    if (S_ISDIR(st.st_mode) && stat(sums, &st) != 0) {
        /* Not a checkpoint itself: a directory of checkpoints. */
        rc = trib_ckpt_find_latest(resume, expect, path, cap, seq);
        if (rc == TRIB_ERR_NOT_FOUND)
            rc = trib_errorf(TRIB_ERR_NOT_FOUND, "'%s' holds no valid checkpoint", resume);
        return rc;
    }
    trib_ckpt_reader_t *r;
    rc = trib_ckpt_open(resume, expect, TRIB_CKPT_OPEN_VERIFY_FILES, &r);
    if (rc == TRIB_ERR_NOT_FOUND)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "checkpoint '%s' is incomplete: %s", resume, trib_last_error(rc));
    if (rc != TRIB_OK)
        return rc;
    if (seq)
        *seq = trib_ckpt_seq(r);
    trib_ckpt_close(r);
    if (snprintf(path, cap, "%s", resume) >= (int)cap)
        return trib_errorf(TRIB_ERR_RANGE, "checkpoint path '%s' does not fit the buffer", resume);
    return TRIB_OK;
}

int trib_ckpt_resolve_all(MPI_Comm comm, const char *resume, const char *dir, const trib_ckpt_expect_t *expect,
                          char *path, size_t path_cap, uint64_t *seq)
{
    int rank;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "checkpoint: MPI_Comm_rank failed");
    char found[TRIB_CKPT_PATH_MAX] = "";
    uint64_t s = 0;
    int rc = rank == 0 ? resolve_local(resume, dir, expect, found, sizeof found, &s) : TRIB_OK;
    return share_result(comm, rank, rc, found, s, path, path_cap, seq);
}

int trib_ckpt_retain_upto(const char *dir, uint64_t upto, unsigned keep)
{
    seq_list_t l = {NULL, 0, 0};
    int rc = scan_dir(dir, 1, &l);
    if (keep == 0)
        l.n = 0;
    size_t kept = 0;
    for (size_t i = 0; rc == TRIB_OK && i < l.n; i++) {
        if (l.seqs[i] > upto)
            continue;
        if (kept < keep) {
            kept++;
            continue;
        }
        char path[TRIB_CKPT_PATH_MAX];
        rc = seq_path(path, sizeof path, dir, l.seqs[i]);
        if (rc == TRIB_OK) {
            trib_log(TRIB_LOG_DEBUG, "checkpoint: retention removes '%s'", path);
            rc = trib_io_rmtree(path);
        }
    }
    free(l.seqs);
    return rc;
}

int trib_ckpt_remove_all(const char *dir)
{
    if (!dir)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_ckpt_remove_all: NULL directory");
    seq_list_t l = {NULL, 0, 0};
    int rc = scan_dir(dir, 1, &l);
    if (rc == TRIB_ERR_NOT_FOUND)
        rc = TRIB_OK; /* no directory: nothing to remove */
    for (size_t i = 0; rc == TRIB_OK && i < l.n; i++) {
        char path[TRIB_CKPT_PATH_MAX];
        rc = seq_path(path, sizeof path, dir, l.seqs[i]);
        if (rc == TRIB_OK) {
            trib_log(TRIB_LOG_INFO, "checkpoint: replacing: removing '%s'", path);
            rc = trib_io_rmtree(path);
        }
    }
    free(l.seqs);
    return rc;
}

int trib_ckpt_retain(const char *dir, unsigned keep)
{
    if (!dir)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_ckpt_retain: NULL directory");
    return trib_ckpt_retain_upto(dir, UINT64_MAX, keep);
}

/* ------------------------------------------------------- SUMS rebuild */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int trib_ckpt_sums_rebuild(const char *dir)
{
    char man_path[TRIB_CKPT_PATH_MAX], sums_path[TRIB_CKPT_PATH_MAX];
    int rc = trib_ckpt_join(man_path, sizeof man_path, dir, TRIB_CKPT_MANIFEST);
    if (rc == TRIB_OK)
        rc = trib_ckpt_join(sums_path, sizeof sums_path, dir, TRIB_CKPT_SUMS);
    if (rc != TRIB_OK)
        return rc;
    trib_h5_quiet();
    trib_hid_t f;
    int64_t seq = 0, nparts = 0;
    rc = trib_h5_open_file(man_path, &f);
    if (rc != TRIB_OK)
        return rc;
    rc = trib_h5_attr_read_i64(f, man_path, "seq", &seq);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_read_i64(f, man_path, "nparts", &nparts);
    trib_h5_close_file(f, man_path);
    if (rc != TRIB_OK)
        return rc;
    DIR *d = opendir(dir);
    if (!d)
        return trib_errorf(TRIB_ERR_IO, "cannot read '%s': %s", dir, strerror(errno));
    char *names[4096];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 4096)
        if (e->d_name[0] != '.' && strcmp(e->d_name, TRIB_CKPT_SUMS) != 0 && strlen(e->d_name) <= TRIB_CKPT_NAME_MAX)
            if ((names[n] = strdup(e->d_name)) != NULL)
                n++;
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    trib_ckpt_sum_t *files = calloc(n ? n : 1, sizeof *files);
    rc = files ? TRIB_OK : trib_errorf(TRIB_ERR_NOMEM, "no memory to rebuild SUMS");
    for (size_t i = 0; rc == TRIB_OK && i < n; i++) {
        char p[TRIB_CKPT_PATH_MAX];
        snprintf(files[i].name, sizeof files[i].name, "%s", names[i]);
        rc = trib_ckpt_join(p, sizeof p, dir, names[i]);
        if (rc == TRIB_OK)
            rc = trib_ckpt_file_crc(p, &files[i].size, &files[i].crc);
    }
    if (rc == TRIB_OK && unlink(sums_path) != 0 && errno != ENOENT)
        rc = trib_errorf(TRIB_ERR_IO, "cannot replace '%s': %s", sums_path, strerror(errno));
    if (rc == TRIB_OK)
        rc = trib_ckpt_sums_write(dir, (uint64_t)seq, (int)nparts, files, n, 1);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(files);
    return rc;
}
