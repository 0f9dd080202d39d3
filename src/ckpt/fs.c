/*
 * fs.c - the file-system steps of a checkpoint: names, directories, fsync,
 * recursive removal, CRC32C of a whole file.
 *
 * Durability needs more than fsync of the files: a new directory entry (a
 * created file, a rename) is persistent only once its parent directory is
 * fsynced, so the writer fsyncs each file, then the temporary directory, and
 * after the rename the checkpoint directory D.  Every failure names the path.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/internal.h"

int trib_ckpt_name_valid(const char *name)
{
    if (!name || !name[0])
        return 0;
    size_t n = strlen(name);
    if (n > TRIB_CKPT_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || c == '.';
        if (!ok)
            return 0;
    }
    return name[0] != '.';
}

int trib_ckpt_join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return trib_errorf(TRIB_ERR_RANGE, "path '%s/%s' is too long", dir, name);
    return TRIB_OK;
}

int trib_ckpt_seq_dirname(char *out, size_t cap, const char *prefix, uint64_t seq)
{
    int n = snprintf(out, cap, "%s%0*" PRIu64, prefix, TRIB_CKPT_SEQ_DIGITS, seq);
    if (n < 0 || (size_t)n >= cap)
        return trib_errorf(TRIB_ERR_RANGE, "checkpoint name for sequence %" PRIu64 " too long", seq);
    return TRIB_OK;
}

int trib_ckpt_parse_dirname(const char *name, const char *prefix, uint64_t *seq)
{
    size_t lp = strlen(prefix);
    if (strncmp(name, prefix, lp) != 0)
        return 0;
    const char *d = name + lp;
    size_t nd = strlen(d);
    if (nd < TRIB_CKPT_SEQ_DIGITS || nd > 20)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < nd; i++) {
        if (d[i] < '0' || d[i] > '9')
            return 0;
        uint64_t digit = (uint64_t)(d[i] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return 0;
        v = v * 10 + digit;
    }
    *seq = v;
    return 1;
}

int trib_ckpt_part_name(char *out, size_t cap, int part)
{
    int n = snprintf(out, cap, "part-%05d.h5", part);
    if (n < 0 || (size_t)n >= cap)
        return trib_errorf(TRIB_ERR_RANGE, "part name for %d too long", part);
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

int trib_ckpt_mkdir_p(const char *dir)
{
    char buf[TRIB_CKPT_PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "bad checkpoint directory '%s'", dir);
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

int trib_ckpt_fsync_path(const char *path, int is_dir)
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

int trib_ckpt_remove_tree(const char *path)
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
        char child[TRIB_CKPT_PATH_MAX];
        rc = trib_ckpt_join(child, sizeof child, path, e->d_name);
        if (rc == TRIB_OK)
            rc = trib_ckpt_remove_tree(child);
    }
    closedir(d);
    if (rc == TRIB_OK && rmdir(path) != 0 && errno != ENOENT)
        rc = trib_errorf(TRIB_ERR_IO, "cannot remove directory '%s': %s", path, strerror(errno));
    return rc;
}

int trib_ckpt_file_crc(const char *path, uint64_t *size, uint32_t *crc)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return trib_errorf(errno == ENOENT ? TRIB_ERR_NOT_FOUND : TRIB_ERR_IO,
                           "cannot open '%s': %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        close(fd);
        return trib_errorf(TRIB_ERR_NOMEM, "no memory to checksum '%s'", path);
    }
    uint64_t total = 0;
    uint32_t c = 0;
    int rc = TRIB_OK;
    for (;;) {
        ssize_t got = read(fd, buf, CHUNK);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            rc = trib_errorf(TRIB_ERR_IO, "read of '%s' failed: %s", path, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        c = trib_crc32c(c, buf, (size_t)got);
        total += (uint64_t)got;
    }
    free(buf);
    close(fd);
    if (rc == TRIB_OK) {
        *size = total;
        *crc = c;
    }
    return rc;
}
