/*
 * outdir.c - never a half-written dataset: every writer fills a fresh
 * temporary directory next to the destination ("DIR.tmp-PID-N"), fsyncs each
 * file and the directory, then moves it into place with one rename.  When a
 * dataset is being replaced (--force) the two directories are swapped
 * atomically (renameat2 RENAME_EXCHANGE) and the old one is deleted, so a
 * reader sees either the old or the new dataset, never a mixture.
 *
 * A destination that exists and holds something other than a dataset (or an
 * empty directory) is never touched, with or without force.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
        } else if (!dir_is_empty(outdir)) {
            return trib_errorf(TRIB_ERR_EXISTS, "%s exists, is not empty and holds no dataset: not overwriting",
                               outdir);
        }
    }
    static unsigned counter;
    size_t cap = strlen(outdir) + 64;
    char *tmp = malloc(cap);
    if (!tmp)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory");
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, cap, "%s.tmp-%ld-%u", outdir, (long)getpid(), counter++);
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

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[PATH_MAX];
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

void trib_outdir_abort(char *tmpdir)
{
    if (tmpdir)
        remove_tree(tmpdir);
    free(tmpdir);
}

static int fsync_parent(const char *path)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    return trib_fsync_path(parent);
}

int trib_outdir_commit(char *tmpdir, const char *outdir)
{
    int rc = trib_fsync_path(tmpdir);
    if (rc != TRIB_OK) {
        trib_outdir_abort(tmpdir);
        return rc;
    }
    if (rename(tmpdir, outdir) != 0) {
        /* outdir is a non-empty dataset directory: swap atomically, then delete the old one. */
        if ((errno == ENOTEMPTY || errno == EEXIST) &&
            renameat2(AT_FDCWD, tmpdir, AT_FDCWD, outdir, RENAME_EXCHANGE) == 0) {
            remove_tree(tmpdir); /* now holds the old dataset */
        } else {
            rc = trib_errorf(TRIB_ERR_IO, "cannot move %s to %s: %s", tmpdir, outdir, strerror(errno));
            trib_outdir_abort(tmpdir);
            return rc;
        }
    }
    free(tmpdir);
    return fsync_parent(outdir);
}
