/*
 * names.c - the names of a checkpoint's directories and files (ckpt-<seq>,
 * .tmp-ckpt-<seq>, part-NNNNN.h5), joined paths, and the CRC32C of a whole
 * file.  Directories, fsync and removal are the io layer's (io/fs.h).
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
