/*
 * sums.c - the SUMS file of a checkpoint: what a complete checkpoint contains.
 *
 * SUMS is the last file written into the temporary directory, after every
 * part and the manifest are on disk.  It is plain text so that a person can
 * check a checkpoint with `crc32c`-capable tools or just read it:
 *
 *     tributary-checkpoint 1            format version
 *     seq 42
 *     nparts 3
 *     file manifest.h5 18432 9a1c02f3   name, size in bytes, CRC32C (hex)
 *     file part-00000.h5 401920 0b77e1d4
 *     ...
 *     end 5e0c1f22                      CRC32C of every byte before "end"
 *
 * Why whole-file checksums on top of the per-dataset ones: they also cover
 * HDF5's metadata (attributes, the names of datasets), detect a truncated file
 * without parsing it, and a missing file is a missing line's consequence.
 * Verification with verify_crc == 0 only checks existence and sizes (cheap;
 * what every rank does when it opens a checkpoint discovery already checked).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt/internal.h"

#define SUMS_MAX_BYTES (64u << 20)

static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...) TRIB_PRINTF(4, 5);

static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return trib_errorf(TRIB_ERR_INTERNAL, "formatting SUMS failed");
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return TRIB_OK;
        }
        size_t ncap = *cap * 2 + (size_t)n;
        char *nb = realloc(*buf, ncap);
        if (!nb)
            return trib_errorf(TRIB_ERR_NOMEM, "no memory for SUMS");
        *buf = nb;
        *cap = ncap;
    }
}

static int write_file_bytes(const char *path, const char *data, size_t len, int durable)
{
    FILE *f = fopen(path, "wbx");
    if (!f)
        return trib_errorf(TRIB_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    int rc = TRIB_OK;
    if (fwrite(data, 1, len, f) != len)
        rc = trib_errorf(TRIB_ERR_IO, "write of '%s' failed: %s", path, strerror(errno));
    if (fclose(f) != 0 && rc == TRIB_OK)
        rc = trib_errorf(TRIB_ERR_IO, "close of '%s' failed: %s", path, strerror(errno));
    if (rc == TRIB_OK && durable)
        rc = trib_io_fsync_file(path);
    return rc;
}

int trib_ckpt_sums_write(const char *dir, uint64_t seq, int nparts, const trib_ckpt_sum_t *files,
                         size_t nfiles, int durable)
{
    size_t len = 0, cap = 256 + 96 * nfiles;
    char *buf = malloc(cap);
    if (!buf)
        return trib_errorf(TRIB_ERR_NOMEM, "no memory for SUMS");
    int rc = append(&buf, &len, &cap, "tributary-checkpoint %d\nseq %" PRIu64 "\nnparts %d\n",
                    TRIB_CKPT_FORMAT_VERSION, seq, nparts);
    for (size_t i = 0; rc == TRIB_OK && i < nfiles; i++)
        rc = append(&buf, &len, &cap, "file %s %" PRIu64 " %08" PRIx32 "\n", files[i].name,
                    files[i].size, files[i].crc);
    if (rc == TRIB_OK) {
        uint32_t crc = trib_crc32c(0, buf, len);
        rc = append(&buf, &len, &cap, "end %08" PRIx32 "\n", crc);
    }
    char path[TRIB_CKPT_PATH_MAX];
    if (rc == TRIB_OK)
        rc = trib_ckpt_join(path, sizeof path, dir, TRIB_CKPT_SUMS);
    if (rc == TRIB_OK)
        rc = write_file_bytes(path, buf, len, durable);
    free(buf);
    return rc;
}

static int read_small_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return trib_errorf(errno == ENOENT ? TRIB_ERR_NOT_FOUND : TRIB_ERR_IO, "cannot open '%s': %s",
                           path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    int rc = buf ? TRIB_OK : trib_errorf(TRIB_ERR_NOMEM, "no memory to read '%s'", path);
    while (rc == TRIB_OK) {
        if (n == cap) {
            if (cap >= SUMS_MAX_BYTES) {
                rc = trib_errorf(TRIB_ERR_FORMAT, "'%s' is implausibly large", path);
                break;
            }
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                rc = trib_errorf(TRIB_ERR_NOMEM, "no memory to read '%s'", path);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = trib_errorf(TRIB_ERR_IO, "read of '%s' failed", path);
            break;
        }
    }
    fclose(f);
    if (rc != TRIB_OK) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return TRIB_OK;
}

/* Checks the closing "end <crc>" line; returns the offset of the line. */
static int check_sums_crc(const char *path, const char *buf, size_t len, size_t *body_len)
{
    if (len < 2 || buf[len - 1] != '\n' || memchr(buf, '\0', len))
        return trib_errorf(TRIB_ERR_CORRUPT, "'%s' is truncated or not text", path);
    size_t start = len - 1;
    while (start > 0 && buf[start - 1] != '\n')
        start--;
    unsigned long want;
    char extra;
    if (sscanf(buf + start, "end %8lx%c", &want, &extra) != 2 || extra != '\n')
        return trib_errorf(TRIB_ERR_CORRUPT, "'%s' has no closing checksum line (truncated?)", path);
    uint32_t got = trib_crc32c(0, buf, start);
    if (got != (uint32_t)want)
        return trib_errorf(TRIB_ERR_CORRUPT, "'%s': checksum %08" PRIx32 " differs from recorded %08lx",
                           path, got, want);
    *body_len = start;
    return TRIB_OK;
}

static int check_listed_file(const char *dir, const char *name, uint64_t size, uint32_t crc,
                             int verify_crc)
{
    char path[TRIB_CKPT_PATH_MAX];
    int rc = trib_ckpt_join(path, sizeof path, dir, name);
    if (rc != TRIB_OK)
        return rc;
    struct stat st;
    if (stat(path, &st) != 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "'%s' is missing: %s", path, strerror(errno));
    if ((uint64_t)st.st_size != size)
        return trib_errorf(TRIB_ERR_CORRUPT, "'%s' has %" PRIu64 " bytes, SUMS records %" PRIu64 " (truncated?)",
                           path, (uint64_t)st.st_size, size);
    if (!verify_crc)
        return TRIB_OK;
    uint64_t got_size;
    uint32_t got_crc;
    rc = trib_ckpt_file_crc(path, &got_size, &got_crc);
    if (rc != TRIB_OK)
        return rc;
    if (got_size != size || got_crc != crc)
        return trib_errorf(TRIB_ERR_CORRUPT, "'%s': CRC32C %08" PRIx32 " differs from recorded %08" PRIx32,
                           path, got_crc, crc);
    return TRIB_OK;
}

/* Parses the body line by line; checks each file, counts parts and the manifest. */
static int parse_sums_body(const char *dir, const char *path, char *body, int verify_crc,
                           uint64_t *seq, int *nparts)
{
    int version = -1, have_manifest = 0, line_no = 0;
    long long np = -1;
    int have_seq = 0;
    unsigned char *seen = NULL;
    int rc = TRIB_OK;
    char *save = NULL;
    for (char *line = strtok_r(body, "\n", &save); line && rc == TRIB_OK;
         line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        char name[TRIB_CKPT_NAME_MAX + 2];
        unsigned long long size;
        unsigned long crc;
        uint64_t sq;
        if (line_no == 1) {
            if (sscanf(line, "tributary-checkpoint %d", &version) != 1)
                rc = trib_errorf(TRIB_ERR_FORMAT, "'%s' is not a checkpoint SUMS file", path);
            else if (version != TRIB_CKPT_FORMAT_VERSION)
                rc = trib_errorf(TRIB_ERR_INCOMPATIBLE,
                                 "'%s': checkpoint format version %d, this build reads version %d",
                                 path, version, TRIB_CKPT_FORMAT_VERSION);
        } else if (sscanf(line, "seq %" SCNu64, &sq) == 1) {
            *seq = sq;
            have_seq = 1;
        } else if (sscanf(line, "nparts %lld", &np) == 1) {
            if (np < 1 || np > TRIB_CKPT_MAX_PARTS || seen)
                rc = trib_errorf(TRIB_ERR_FORMAT, "'%s': bad or repeated part count %lld", path, np);
            else if (!(seen = calloc((size_t)np, 1)))
                rc = trib_errorf(TRIB_ERR_NOMEM, "no memory to check '%s'", path);
        } else if (sscanf(line, "file %64s %llu %8lx", name, &size, &crc) == 3 &&
                   trib_ckpt_name_valid(name)) {
            int part;
            char tail;
            if (strcmp(name, TRIB_CKPT_MANIFEST) == 0)
                have_manifest = 1;
            else if (seen && sscanf(name, "part-%d.h5%c", &part, &tail) == 1 && part >= 0 && part < np)
                seen[part] = 1;
            rc = check_listed_file(dir, name, size, (uint32_t)crc, verify_crc);
        } else {
            rc = trib_errorf(TRIB_ERR_FORMAT, "'%s' line %d is malformed", path, line_no);
        }
    }
    if (rc == TRIB_OK && (!have_seq || np < 1 || !have_manifest))
        rc = trib_errorf(TRIB_ERR_FORMAT, "'%s' lacks the sequence, part count or manifest", path);
    for (long long p = 0; rc == TRIB_OK && p < np; p++)
        if (!seen[p])
            rc = trib_errorf(TRIB_ERR_CORRUPT, "'%s' does not list part %lld of %lld", path, p, np);
    free(seen);
    if (rc == TRIB_OK)
        *nparts = (int)np;
    return rc;
}

int trib_ckpt_sums_verify(const char *dir, int verify_crc, uint64_t *seq, int *nparts)
{
    char path[TRIB_CKPT_PATH_MAX];
    int rc = trib_ckpt_join(path, sizeof path, dir, TRIB_CKPT_SUMS);
    if (rc != TRIB_OK)
        return rc;
    char *buf = NULL;
    size_t len = 0, body_len = 0;
    rc = read_small_file(path, &buf, &len);
    if (rc == TRIB_ERR_NOT_FOUND)
        return trib_errorf(TRIB_ERR_CORRUPT, "'%s' is missing (incomplete checkpoint)", path);
    if (rc != TRIB_OK)
        return rc;
    rc = check_sums_crc(path, buf, len, &body_len);
    if (rc == TRIB_OK) {
        buf[body_len] = '\0';
        rc = parse_sums_body(dir, path, buf, verify_crc, seq, nparts);
    }
    free(buf);
    return rc;
}
