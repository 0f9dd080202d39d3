/*
 * outdir.c - never a half-written dataset: every writer fills a fresh
 * temporary directory next to the destination ("DIR.tmp-PID-N"), fsyncs each
 * file and the directory, then moves it into place with one rename (the
 * steps are the io layer's, io/fs.h; what is here is the dataset policy).  When a
 * dataset is being replaced (--force) the two directories are swapped
 * atomically (renameat2 RENAME_EXCHANGE) and the old one is deleted, so a
 * reader sees either the old or the new dataset, never a mixture.
 *
 * A destination that exists and holds something other than a dataset (or an
 * empty directory) is never touched, with or without force.  "A dataset"
 * means entirely one: a manifest.h5 that opens as a Tributary manifest (its
 * format marker attribute) and, besides it, only the shard files it lists
 * (shard-NNNNN.h5, NNNNN < n_shards).  A directory holding a file named
 * manifest.h5 next to anything else (work.c, a subdirectory) is refused even
 * with --force, because replacing it would delete what is not ours.
 *
 * Without --force the commit is a plain rename, which cannot replace a
 * non-empty directory: of two writers started at once for one destination,
 * exactly one wins and the other fails with "OUT appeared while writing" and
 * removes its own output.
 *
 * Several outputs of one command (split's train and test) are committed
 * together, all or none: if moving the second fails, the first is moved back
 * (an old dataset swapped back into place), and old datasets are deleted
 * only after every output is in place.
 *
 * Temporary directories are named "DIR.tmp-HOST-PID-N".  A writer killed
 * before its commit (kill -9, Ctrl-C, a crash) leaves one behind; the next
 * write to DIR removes every such directory whose process, on this host, no
 * longer exists.  Temporaries of live processes and of other hosts (a shared
 * file system) are left alone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "data/internal.h"

static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    return empty;
}

/* Splits PATH into its parent directory and last component. */
static void split_path(const char *path, char *parent, size_t pcap, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(parent, pcap, ".");
        *base = path;
    } else if (slash == path) {
        snprintf(parent, pcap, "/");
        *base = slash + 1;
    } else {
        snprintf(parent, pcap, "%.*s", (int)(slash - path), path);
        *base = slash + 1;
    }
}

static void host_name(char *buf, size_t cap)
{
    if (gethostname(buf, cap) != 0 || !buf[0])
        snprintf(buf, cap, "localhost");
    buf[cap - 1] = '\0';
    for (char *c = buf; *c; c++) /* keep names one path component */
        if (*c == '/')
            *c = '_';
}

/* Removes "BASE.tmp-HOST-PID-N" entries next to outdir whose process is gone. */
static void remove_stale_temporaries(const char *outdir)
{
    char parent[PATH_MAX], host[256], prefix[PATH_MAX];
    const char *base;
    split_path(outdir, parent, sizeof parent, &base);
    host_name(host, sizeof host);
    if (snprintf(prefix, sizeof prefix, "%s.tmp-%s-", base, host) >= (int)sizeof prefix)
        return;
    size_t plen = strlen(prefix);
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + plen, &end, 10);
        if (pid <= 0 || *end != '-' || end[1] < '0' || end[1] > '9')
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive (or not ours to judge) */
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", parent, e->d_name) >= (int)sizeof path)
            continue;
        trib_log(TRIB_LOG_WARN, "removing %s, left by process %ld that ended before finishing its write", path, pid);
        if (trib_io_rmtree(path) != TRIB_OK)
            trib_log(TRIB_LOG_WARN, "%s", trib_last_error(TRIB_ERR_IO));
    }
    closedir(d);
}

/*
 * TRIB_OK when `dir` is entirely a Tributary dataset (see the top comment);
 * otherwise TRIB_ERR_EXISTS naming the first entry that is not one of its files.
 */
static int entirely_a_dataset(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return trib_errorf(TRIB_ERR_IO, "cannot read %s: %s", dir, strerror(errno));
    int rc = TRIB_OK;
    long max_shard = -1;
    struct dirent *e;
    while (rc == TRIB_OK && (e = readdir(d)) != NULL) {
        unsigned s = 0;
        char tail[4] = "";
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, TRIB_MANIFEST_NAME))
            continue;
        if (strlen(e->d_name) == strlen("shard-00000.h5") && sscanf(e->d_name, "shard-%5u.%3s", &s, tail) == 2 &&
            strcmp(tail, "h5") == 0) {
            max_shard = (long)s > max_shard ? (long)s : max_shard;
            continue;
        }
        rc = trib_errorf(TRIB_ERR_EXISTS,
                         "%s holds '%s', which is not a file of the dataset there: not replacing it, even with "
                         "--force (only a directory that is entirely a Tributary dataset is replaced)", dir,
                         e->d_name);
    }
    closedir(d);
    if (rc != TRIB_OK)
        return rc;
    trib_dataset_t *ds = NULL;
    if (trib_dataset_open(dir, &ds) != TRIB_OK)
        return trib_errorf(TRIB_ERR_EXISTS,
                           "%s holds a file named %s that is not a readable Tributary manifest: not replacing it, "
                           "even with --force", dir, TRIB_MANIFEST_NAME);
    uint32_t n_shards = trib_dataset_info(ds)->n_shards;
    trib_dataset_close(ds);
    if (max_shard >= (long)n_shards)
        return trib_errorf(TRIB_ERR_EXISTS,
                           "%s holds shard-%05ld.h5, which its manifest (%u shards) does not list: not replacing it, "
                           "even with --force", dir, max_shard, n_shards);
    return TRIB_OK;
}

int trib_outdir_begin(const char *outdir, int force, char **tmpdir)
{
    struct stat st;
    if (stat(outdir, &st) == 0) {
        char manifest[PATH_MAX];
        snprintf(manifest, sizeof manifest, "%s/%s", outdir, TRIB_MANIFEST_NAME);
        if (!S_ISDIR(st.st_mode))
            return trib_errorf(TRIB_ERR_EXISTS, "%s exists and is not a directory", outdir);
        if (access(manifest, F_OK) == 0) {
            if (!force)
                return trib_errorf(TRIB_ERR_EXISTS, "%s already holds a dataset (use --force to replace it)",
                                   outdir);
            int rc = entirely_a_dataset(outdir);
            if (rc != TRIB_OK)
                return rc;
        } else if (!dir_is_empty(outdir)) {
            return trib_errorf(TRIB_ERR_EXISTS, "%s exists, is not empty and holds no dataset: not overwriting",
                               outdir);
        }
    }
    remove_stale_temporaries(outdir);
    static unsigned counter;
    char host[256];
    host_name(host, sizeof host);
    size_t cap = strlen(outdir) + strlen(host) + 64;
    char *tmp = malloc(cap);
    if (!tmp)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory");
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, cap, "%s.tmp-%s-%ld-%u", outdir, host, (long)getpid(), counter++);
        if (mkdir(tmp, 0755) == 0) {
            *tmpdir = tmp;
            return TRIB_OK;
        }
        if (errno != EEXIST)
            break;
    }
    int rc = trib_errorf(TRIB_ERR_IO, "cannot create a temporary directory next to %s: %s", outdir,
                         strerror(errno));
    free(tmp);
    return rc;
}

void trib_outdir_abort(char *tmpdir)
{
    if (tmpdir && trib_io_rmtree(tmpdir) != TRIB_OK)
        trib_log(TRIB_LOG_WARN, "%s", trib_last_error(TRIB_ERR_IO));
    free(tmpdir);
}

/*
 * Without --force: a plain rename, which replaces at most an empty directory; a dataset that another
 * writer put at path since trib_outdir_begin makes it fail (ENOTEMPTY/EEXIST) and is left alone.
 */
static int move_noreplace(const char *tmp, const char *path, int *how)
{
    struct stat st;
    int existed = stat(path, &st) == 0;
    if (rename(tmp, path) == 0) {
        *how = existed ? TRIB_IO_MOVED_RENAMED_OVER_EMPTY : TRIB_IO_MOVED_RENAMED;
        return TRIB_OK;
    }
    if (errno == ENOTEMPTY || errno == EEXIST || errno == ENOTDIR || errno == EISDIR)
        return trib_errorf(TRIB_ERR_EXISTS, "%s appeared while writing (another writer?): not replacing it "
                           "without --force; this output is removed", path);
    return trib_errorf(TRIB_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
}

int trib_outdir_commit_all(char **tmpdirs, const char *const *outdirs, size_t n, int force)
{
    int rc = TRIB_OK;
    int how[TRIB_OUTDIR_MAX] = {0};
    if (n > TRIB_OUTDIR_MAX)
        rc = trib_errorf(TRIB_ERR_INTERNAL, "commit of %zu output directories (at most %d)", n, TRIB_OUTDIR_MAX);
    for (size_t i = 0; rc == TRIB_OK && i < n; i++)
        rc = trib_io_fsync_dir(tmpdirs[i]);
    size_t moved = 0;
    for (; rc == TRIB_OK && moved < n; moved++) {
        rc = force ? trib_io_move_dir(tmpdirs[moved], outdirs[moved], &how[moved])
                   : move_noreplace(tmpdirs[moved], outdirs[moved], &how[moved]);
        if (rc != TRIB_OK)
            break;
    }
    if (rc != TRIB_OK) {
        while (moved-- > 0)
            trib_io_undo_move(tmpdirs[moved], outdirs[moved], how[moved]);
        for (size_t i = 0; i < n; i++) {
            trib_outdir_abort(tmpdirs[i]);
            tmpdirs[i] = NULL;
        }
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (how[i] == TRIB_IO_MOVED_EXCHANGED && trib_io_rmtree(tmpdirs[i]) != TRIB_OK) /* the old dataset */
            trib_log(TRIB_LOG_WARN, "%s", trib_last_error(TRIB_ERR_IO));
        free(tmpdirs[i]);
        tmpdirs[i] = NULL;
    }
    for (size_t i = 0; rc == TRIB_OK && i < n; i++)
        rc = trib_io_fsync_parent(outdirs[i]);
    return rc;
}

int trib_outdir_commit(char *tmpdir, const char *outdir, int force)
{
    return trib_outdir_commit_all(&tmpdir, &outdir, 1, force);
}
