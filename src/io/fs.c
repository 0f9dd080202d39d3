/*
 * fs.c - directory trees, fsync and atomic publishing: the one implementation
 * of the durability rule stated in io/fs.h, used by the dataset writer, the
 * checkpoint writer, the model file, trib-recommend and trib-bench.
 *
 * Replacing a non-empty directory uses renameat2(RENAME_EXCHANGE), so a
 * reader sees either the old or the new content, never a mixture; on a file
 * system without it the old directory is first moved aside under a hidden
 * name (".<name>.old-<pid>") and removed after the new one is in place.
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

#include "core/log.h"
#include "io/fs.h"
#include "tributary/io.h"

/* Splits path into its parent directory and last component. */
static int split_path(const char *path, char *parent, size_t cap, const char **base)
{
    const char *slash = strrchr(path, '/');
    int n;
    if (!slash) {
        n = snprintf(parent, cap, ".");
        *base = path;
    } else if (slash == path) {
        n = snprintf(parent, cap, "/");
        *base = slash + 1;
    } else {
        n = snprintf(parent, cap, "%.*s", (int)(slash - path), path);
        *base = slash + 1;
    }
    if (n < 0 || (size_t)n >= cap)
        return trib_errorf(TRIB_ERR_RANGE, "path '%s' is too long", path);
    return TRIB_OK;
}

static int make_one_dir(const char *path)
{
    if (mkdir(path, 0777) == 0)
        return TRIB_OK;
    int e = errno;
    struct stat st;
    if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return TRIB_OK;
    return trib_errorf(TRIB_ERR_IO, "cannot create directory '%s': %s", path, strerror(e));
}

int trib_io_mkdir_p(const char *dir)
{
    char buf[PATH_MAX];
    size_t n = dir ? strlen(dir) : 0;
    if (n == 0 || n >= sizeof buf)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "bad directory name '%s'", dir ? dir : "(null)");
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (buf[i] != '/')
            continue;
        buf[i] = '\0';
        int rc = make_one_dir(buf);
        buf[i] = '/';
        if (rc != TRIB_OK)
            return rc;
    }
    return make_one_dir(buf);
}

int trib_io_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return TRIB_OK;
        return trib_errorf(TRIB_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT)
            return trib_errorf(TRIB_ERR_IO, "cannot remove '%s': %s", path, strerror(errno));
        return TRIB_OK;
    }
    DIR *d = opendir(path);
    if (!d)
        return trib_errorf(TRIB_ERR_IO, "cannot open directory '%s': %s", path, strerror(errno));
    int rc = TRIB_OK;
    struct dirent *e;
    while (rc == TRIB_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[PATH_MAX];
        int n = snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        if (n < 0 || (size_t)n >= sizeof child)
            rc = trib_errorf(TRIB_ERR_RANGE, "path '%s/%s' is too long", path, e->d_name);
        else
            rc = trib_io_rmtree(child);
    }
    closedir(d);
    if (rc == TRIB_OK && rmdir(path) != 0 && errno != ENOENT)
        rc = trib_errorf(TRIB_ERR_IO, "cannot remove directory '%s': %s", path, strerror(errno));
    return rc;
}

static int fsync_path(const char *path, int is_dir)
{
    int fd = open(path, O_RDONLY | (is_dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return trib_errorf(TRIB_ERR_IO, "cannot open '%s' to fsync: %s", path, strerror(errno));
    int rc = TRIB_OK;
    if (fsync(fd) != 0)
        rc = trib_errorf(TRIB_ERR_IO, "fsync of '%s' failed: %s", path, strerror(errno));
    if (close(fd) != 0 && rc == TRIB_OK)
        rc = trib_errorf(TRIB_ERR_IO, "close of '%s' failed: %s", path, strerror(errno));
    return rc;
}

int trib_io_fsync_file(const char *path) { return fsync_path(path, 0); }

int trib_io_fsync_dir(const char *path) { return fsync_path(path, 1); }

int trib_io_fsync_parent(const char *path)
{
    char parent[PATH_MAX];
    const char *base;
    int rc = split_path(path, parent, sizeof parent, &base);
    return rc == TRIB_OK ? trib_io_fsync_dir(parent) : rc;
}

int trib_io_temp_name(char *out, size_t cap, const char *path)
{
    int n = snprintf(out, cap, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= cap)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "%s: path too long", path);
    return TRIB_OK;
}

int trib_io_publish_file(const char *tmp, const char *path)
{
    int rc = trib_io_fsync_file(tmp);
    if (rc == TRIB_OK && rename(tmp, path) != 0)
        rc = trib_errorf(TRIB_ERR_IO, "%s: cannot rename '%s' into place: %s", path, tmp, strerror(errno));
    if (rc != TRIB_OK) {
        unlink(tmp);
        return rc;
    }
    return trib_io_fsync_parent(path);
}

int trib_io_write_file_atomic(const char *path, const void *data, size_t len)
{
    char tmp[PATH_MAX];
    int rc = trib_io_temp_name(tmp, sizeof tmp, path);
    if (rc != TRIB_OK)
        return rc;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return trib_errorf(TRIB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    size_t off = 0;
    while (rc == TRIB_OK && off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = trib_errorf(TRIB_ERR_IO, "%s: cannot write: %s", tmp, w < 0 ? strerror(errno) : "no progress");
        else
            off += (size_t)w;
    }
    if (close(fd) != 0 && rc == TRIB_OK)
        rc = trib_errorf(TRIB_ERR_IO, "%s: cannot close: %s", tmp, strerror(errno));
    if (rc != TRIB_OK) {
        unlink(tmp);
        return rc;
    }
    return trib_io_publish_file(tmp, path);
}

int trib_file_write_atomic(const char *path, const void *data, size_t len)
{
    if (!path || !*path || (len > 0 && !data))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_file_write_atomic: no path or no data");
    return trib_io_write_file_atomic(path, data, len);
}

int trib_io_move_dir(const char *tmp, const char *path, int *how)
{
    struct stat st;
    int existed = stat(path, &st) == 0;
    *how = TRIB_IO_MOVED_NONE;
    if (rename(tmp, path) == 0) {
        *how = existed ? TRIB_IO_MOVED_RENAMED_OVER_EMPTY : TRIB_IO_MOVED_RENAMED;
        return TRIB_OK;
    }
    /* path is a non-empty directory: swap atomically (tmp then holds the old one). */
    if ((errno == ENOTEMPTY || errno == EEXIST) && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) == 0) {
        *how = TRIB_IO_MOVED_EXCHANGED;
        return TRIB_OK;
    }
    int e = errno;
    int rc = trib_errorf(TRIB_ERR_IO, "cannot move '%s' to '%s': %s", tmp, path, strerror(e));
    errno = e; /* trib_io_publish_dir looks at why */
    return rc;
}

void trib_io_undo_move(const char *tmp, const char *path, int how)
{
    if (how == TRIB_IO_MOVED_EXCHANGED) {
        renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE);
    } else if (how == TRIB_IO_MOVED_RENAMED || how == TRIB_IO_MOVED_RENAMED_OVER_EMPTY) {
        if (rename(path, tmp) == 0 && how == TRIB_IO_MOVED_RENAMED_OVER_EMPTY)
            mkdir(path, 0755);
    }
}

/* No RENAME_EXCHANGE on this file system: move the old directory aside, then the new one in. */
static int replace_via_aside(const char *tmp, const char *path, const char *aside_name)
{
    char parent[PATH_MAX], aside[PATH_MAX];
    const char *base;
    int rc = split_path(path, parent, sizeof parent, &base);
    if (rc != TRIB_OK)
        return rc;
    int n = aside_name ? snprintf(aside, sizeof aside, "%s/%s", parent, aside_name)
                       : snprintf(aside, sizeof aside, "%s/.%s.old-%ld", parent, base, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof aside)
        return trib_errorf(TRIB_ERR_RANGE, "path '%s' is too long", path);
    rc = trib_io_rmtree(aside);
    if (rc != TRIB_OK)
        return rc;
    if (rename(path, aside) != 0 || rename(tmp, path) != 0)
        return trib_errorf(TRIB_ERR_IO, "cannot replace '%s': %s", path, strerror(errno));
    if (trib_io_rmtree(aside) != TRIB_OK)
        trib_log(TRIB_LOG_WARN, "replaced '%s' but could not remove the old copy: %s", path,
                 trib_last_error(TRIB_ERR_IO));
    return TRIB_OK;
}

int trib_io_replace_dir(const char *tmp, const char *path, const char *aside_name)
{
    int how = TRIB_IO_MOVED_NONE;
    int rc = trib_io_move_dir(tmp, path, &how);
    if (rc != TRIB_OK && (errno == EINVAL || errno == ENOSYS))
        return replace_via_aside(tmp, path, aside_name);
    if (rc == TRIB_OK && how == TRIB_IO_MOVED_EXCHANGED && trib_io_rmtree(tmp) != TRIB_OK)
        trib_log(TRIB_LOG_WARN, "replaced '%s' but could not remove the old copy: %s", path,
                 trib_last_error(TRIB_ERR_IO));
    return rc;
}

int trib_io_publish_dir(const char *tmp, const char *path, const char *aside_name)
{
    int rc = trib_io_fsync_dir(tmp);
    if (rc == TRIB_OK)
        rc = trib_io_replace_dir(tmp, path, aside_name);
    if (rc == TRIB_OK)
        rc = trib_io_fsync_parent(path);
    return rc;
}
