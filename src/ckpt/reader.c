/*
 * reader.c - opening a committed checkpoint and reading it back, from any
 * rank and any number of ranks (no collective calls here).
 *
 * trib_ckpt_open checks SUMS (existence and size of every file; with
 * TRIB_CKPT_OPEN_VERIFY_FILES also every file's CRC32C), then the manifest:
 * format version, sequence number and part count must agree with SUMS.  The
 * compatibility check (dataset fingerprint, declared configuration keys)
 * refuses with a message that names both values.  The manifest stays open
 * while the reader lives; a part file is opened for each call that needs it
 * and closed again, so a job can walk all parts of a checkpoint written by
 * any number of ranks without holding hundreds of files open.  Array names
 * of a part are listed once and cached.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/internal.h"

typedef struct {
    int loaded;
    char **names;
    size_t n;
} name_cache_t;

struct trib_ckpt_reader {
    char path[TRIB_CKPT_PATH_MAX];
    char manifest_path[TRIB_CKPT_PATH_MAX];
    uint64_t seq;
    int nparts;
    char *fingerprint;
    trib_hid_t manifest, arrays, values, config;
    name_cache_t *names; /* [0] global arrays, [p + 1] part p */
};

static int manifest_header(trib_ckpt_reader_t *r, uint64_t sums_seq, int sums_nparts)
{
    const char *p = r->manifest_path;
    int64_t version, seq, nparts;
    int rc = trib_h5_attr_read_i64(r->manifest, p, "format_version", &version);
    if (rc == TRIB_OK && version != TRIB_CKPT_FORMAT_VERSION)
        return trib_errorf(TRIB_ERR_INCOMPATIBLE, "%s: checkpoint format version %" PRId64 ", this build reads version %d",
                           p, version, TRIB_CKPT_FORMAT_VERSION);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_read_i64(r->manifest, p, "seq", &seq);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_read_i64(r->manifest, p, "nparts", &nparts);
    if (rc == TRIB_OK && ((uint64_t)seq != sums_seq || nparts != sums_nparts))
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: sequence/parts %" PRId64 "/%" PRId64 " differ from SUMS (%" PRIu64 "/%d)",
                         p, seq, nparts, sums_seq, sums_nparts);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_read_str_alloc(r->manifest, p, "fingerprint", &r->fingerprint);
    if (rc == TRIB_OK)
        rc = trib_h5_open_group(r->manifest, p, "arrays", &r->arrays);
    if (rc == TRIB_OK)
        rc = trib_h5_open_group(r->manifest, p, "values", &r->values);
    if (rc == TRIB_OK)
        rc = trib_h5_open_group(r->manifest, p, "config", &r->config);
    return rc;
}

int trib_ckpt_open(const char *path, const trib_ckpt_expect_t *expect, unsigned flags, trib_ckpt_reader_t **out)
{
    if (!path || !out)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_ckpt_open: NULL path or output");
    *out = NULL;
    trib_h5_quiet();
    trib_ckpt_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return trib_errorf(TRIB_ERR_NOMEM, "no memory for a checkpoint reader");
    r->manifest = r->arrays = r->values = r->config = -1;
    int rc = TRIB_OK;
    if (snprintf(r->path, sizeof r->path, "%s", path) >= (int)sizeof r->path)
        rc = trib_errorf(TRIB_ERR_RANGE, "checkpoint path '%s' too long", path);
    if (rc == TRIB_OK)
        rc = trib_ckpt_join(r->manifest_path, sizeof r->manifest_path, r->path, TRIB_CKPT_MANIFEST);
    uint64_t seq = 0;
    int nparts = 0;
    if (rc == TRIB_OK)
        rc = trib_ckpt_sums_verify(r->path, (flags & TRIB_CKPT_OPEN_VERIFY_FILES) != 0, &seq, &nparts);
    if (rc == TRIB_OK)
        rc = trib_h5_open_file(r->manifest_path, &r->manifest);
    if (rc == TRIB_OK)
        rc = manifest_header(r, seq, nparts);
    if (rc == TRIB_OK) {
        r->seq = seq;
        r->nparts = nparts;
        if (!(r->names = calloc((size_t)nparts + 1, sizeof *r->names)))
            rc = trib_errorf(TRIB_ERR_NOMEM, "no memory for the part list of '%s'", path);
    }
    if (rc == TRIB_OK && expect)
        rc = trib_ckpt_check(r, expect);
    if (rc != TRIB_OK) {
        trib_ckpt_close(r);
        return rc;
    }
    *out = r;
    return TRIB_OK;
}

void trib_ckpt_close(trib_ckpt_reader_t *r)
{
    if (!r)
        return;
    trib_h5_close_group(r->arrays);
    trib_h5_close_group(r->values);
    trib_h5_close_group(r->config);
    trib_h5_close_file(r->manifest, r->manifest_path);
    if (r->names) {
        for (int p = 0; p <= r->nparts; p++) {
            for (size_t i = 0; i < r->names[p].n; i++)
                free(r->names[p].names[i]);
            free(r->names[p].names);
        }
        free(r->names);
    }
    free(r->fingerprint);
    free(r);
}

uint64_t trib_ckpt_seq(const trib_ckpt_reader_t *r) { return r ? r->seq : 0; }
int trib_ckpt_nparts(const trib_ckpt_reader_t *r) { return r ? r->nparts : 0; }
const char *trib_ckpt_path(const trib_ckpt_reader_t *r) { return r ? r->path : ""; }
const char *trib_ckpt_fingerprint(const trib_ckpt_reader_t *r) { return r && r->fingerprint ? r->fingerprint : ""; }

/* ---------------------------------------------------------- values */

static int read_string(trib_ckpt_reader_t *r, trib_hid_t group, const char *name, const char *what,
                       char **value)
{
    trib_h5_type_t dtype;
    int kind;
    unsigned ndim;
    size_t rows, cols;
    int rc = trib_h5_checked_info(group, r->manifest_path, name, &dtype, &ndim, &rows, &cols, &kind);
    if (rc == TRIB_ERR_NOT_FOUND)
        return trib_errorf(rc, "%s: no %s '%s'", r->manifest_path, what, name);
    if (rc != TRIB_OK)
        return rc;
    if (kind != TRIB_CKPT_KIND_STRING || dtype != TRIB_H5_U8 || ndim != 1)
        return trib_errorf(TRIB_ERR_INCOMPATIBLE, "%s: %s '%s' is not a string", r->manifest_path, what, name);
    char *buf = malloc(rows + 1);
    if (!buf)
        return trib_errorf(TRIB_ERR_NOMEM, "no memory for %s '%s'", what, name);
    rc = trib_h5_read_checked(group, r->manifest_path, name, TRIB_H5_U8, buf, rows);
    if (rc != TRIB_OK) {
        free(buf);
        return rc;
    }
    buf[rows] = '\0';
    *value = buf;
    return TRIB_OK;
}

static int read_scalar(trib_ckpt_reader_t *r, const char *name, int want_kind, trib_h5_type_t dtype, void *value)
{
    if (!r || !name || !value)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "checkpoint: NULL reader, name or output");
    trib_h5_type_t have_dtype;
    int kind;
    unsigned ndim;
    size_t rows, cols;
    int rc = trib_h5_checked_info(r->values, r->manifest_path, name, &have_dtype, &ndim, &rows, &cols, &kind);
    if (rc == TRIB_ERR_NOT_FOUND)
        return trib_errorf(rc, "%s: no value '%s'", r->manifest_path, name);
    if (rc != TRIB_OK)
        return rc;
    if (kind != want_kind || have_dtype != dtype || rows != 1 || ndim != 1)
        return trib_errorf(TRIB_ERR_INCOMPATIBLE, "%s: value '%s' is not %s", r->manifest_path, name,
                           want_kind == TRIB_CKPT_KIND_INT ? "an integer" : "a double");
    return trib_h5_read_checked(r->values, r->manifest_path, name, dtype, value, 1);
}

int trib_ckpt_get_int(trib_ckpt_reader_t *r, const char *name, int64_t *value)
{
    return read_scalar(r, name, TRIB_CKPT_KIND_INT, TRIB_H5_I64, value);
}

int trib_ckpt_get_double(trib_ckpt_reader_t *r, const char *name, double *value)
{
    return read_scalar(r, name, TRIB_CKPT_KIND_DOUBLE, TRIB_H5_F64, value);
}

int trib_ckpt_get_string(trib_ckpt_reader_t *r, const char *name, char **value)
{
    if (!r || !name || !value)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "checkpoint: NULL reader, name or output");
    return read_string(r, r->values, name, "value", value);
}

int trib_ckpt_get_config(trib_ckpt_reader_t *r, const char *key, char **value)
{
    if (!r || !key || !value)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "checkpoint: NULL reader, key or output");
    return read_string(r, r->config, key, "configuration key", value);
}

int trib_ckpt_check(const trib_ckpt_reader_t *rc_reader, const trib_ckpt_expect_t *expect)
{
    trib_ckpt_reader_t *r = (trib_ckpt_reader_t *)rc_reader; /* reads only */
    if (!r || !expect)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_ckpt_check: NULL reader or expectation");
    if (expect->fingerprint && strcmp(expect->fingerprint, trib_ckpt_fingerprint(r)) != 0)
        return trib_errorf(TRIB_ERR_INCOMPATIBLE,
                           "checkpoint %s belongs to another dataset: fingerprint '%s', this run's data has '%s'",
                           r->path, trib_ckpt_fingerprint(r), expect->fingerprint);
    for (size_t i = 0; i < expect->nconfig; i++) {
        const char *key = expect->config_keys[i], *want = expect->config_values[i];
        char *have = NULL;
        int rc = trib_ckpt_get_config(r, key, &have);
        if (rc == TRIB_ERR_NOT_FOUND)
            return trib_errorf(TRIB_ERR_INCOMPATIBLE, "checkpoint %s does not record configuration '%s' (this run: %s=%s)",
                               r->path, key, key, want);
        if (rc != TRIB_OK)
            return rc;
        int same = strcmp(have, want) == 0;
        if (!same)
            rc = trib_errorf(TRIB_ERR_INCOMPATIBLE, "checkpoint %s has %s=%s, this run has %s=%s: refusing to resume",
                             r->path, key, have, key, want);
        free(have);
        if (!same)
            return rc;
    }
    return TRIB_OK;
}

/* ---------------------------------------------------------- arrays */

/* Opens the file and its "arrays" group for part `part` (or the manifest's). */
typedef struct {
    trib_hid_t file, group;
    char path[TRIB_CKPT_PATH_MAX];
} part_handle_t;

static int open_part(trib_ckpt_reader_t *r, int part, part_handle_t *h)
{
    h->file = h->group = -1;
    if (!r)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "checkpoint: NULL reader");
    if (part == TRIB_CKPT_GLOBAL) {
        h->group = r->arrays;
        snprintf(h->path, sizeof h->path, "%s", r->manifest_path);
        return TRIB_OK;
    }
    if (part < 0 || part >= r->nparts)
        return trib_errorf(TRIB_ERR_RANGE, "checkpoint %s has parts 0..%d, not %d", r->path, r->nparts - 1, part);
    char name[64];
    int rc = trib_ckpt_part_name(name, sizeof name, part);
    if (rc == TRIB_OK)
        rc = trib_ckpt_join(h->path, sizeof h->path, r->path, name);
    if (rc == TRIB_OK)
        rc = trib_h5_open_file(h->path, &h->file);
    int64_t seq = -1, rank = -1;
    if (rc == TRIB_OK)
        rc = trib_h5_attr_read_i64(h->file, h->path, "seq", &seq);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_read_i64(h->file, h->path, "rank", &rank);
    if (rc == TRIB_OK && ((uint64_t)seq != r->seq || rank != part))
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: holds sequence %" PRId64 " rank %" PRId64 ", expected %" PRIu64 " rank %d",
                         h->path, seq, rank, r->seq, part);
    if (rc == TRIB_OK)
        rc = trib_h5_open_group(h->file, h->path, "arrays", &h->group);
    if (rc != TRIB_OK) {
        trib_h5_close_group(h->group);
        trib_h5_close_file(h->file, h->path);
        h->file = h->group = -1;
    }
    return rc;
}

static void close_part(part_handle_t *h)
{
    if (h->file < 0)
        return; /* the manifest's group stays open with the reader */
    trib_h5_close_group(h->group);
    trib_h5_close_file(h->file, h->path);
}

static int load_names(trib_ckpt_reader_t *r, int part, name_cache_t **cache)
{
    part_handle_t h;
    int rc = open_part(r, part, &h);
    if (rc != TRIB_OK)
        return rc;
    name_cache_t *c = &r->names[part + 1];
    if (!c->loaded) {
        rc = trib_h5_list(h.group, h.path, &c->names, &c->n);
        c->loaded = rc == TRIB_OK;
    }
    close_part(&h);
    *cache = c;
    return rc;
}

int trib_ckpt_array_count(trib_ckpt_reader_t *r, int part, size_t *count)
{
    name_cache_t *c;
    int rc = load_names(r, part, &c);
    if (rc == TRIB_OK)
        *count = c->n;
    return rc;
}

int trib_ckpt_array_name(trib_ckpt_reader_t *r, int part, size_t index, const char **name)
{
    name_cache_t *c;
    int rc = load_names(r, part, &c);
    if (rc != TRIB_OK)
        return rc;
    if (index >= c->n)
        return trib_errorf(TRIB_ERR_RANGE, "checkpoint %s part %d has %zu arrays, not %zu", r->path, part, c->n,
                           index + 1);
    *name = c->names[index];
    return TRIB_OK;
}

int trib_ckpt_array_info(trib_ckpt_reader_t *r, int part, const char *name, trib_ckpt_array_info_t *info)
{
    if (!name || !info)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_ckpt_array_info: NULL name or output");
    part_handle_t h;
    int rc = open_part(r, part, &h);
    if (rc != TRIB_OK)
        return rc;
    trib_h5_type_t dtype;
    int kind;
    rc = trib_h5_checked_info(h.group, h.path, name, &dtype, &info->ndim, &info->rows, &info->cols, &kind);
    if (rc == TRIB_OK && (kind != TRIB_CKPT_KIND_ARRAY || dtype == TRIB_H5_U8))
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: '%s' is not an array", h.path, name);
    info->dtype = (trib_ckpt_dtype_t)dtype;
    close_part(&h);
    return rc;
}

int trib_ckpt_read_array(trib_ckpt_reader_t *r, int part, const char *name, trib_ckpt_dtype_t t, void *buf,
                         size_t count)
{
    if (!name || (count > 0 && !buf))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_ckpt_read_array: NULL name or buffer");
    if (trib_ckpt_dtype_size(t) == 0)
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "trib_ckpt_read_array: unknown type %d", (int)t);
    part_handle_t h;
    int rc = open_part(r, part, &h);
    if (rc != TRIB_OK)
        return rc;
    rc = trib_h5_read_checked(h.group, h.path, name, (trib_h5_type_t)t, buf, count);
    close_part(&h);
    return rc;
}
