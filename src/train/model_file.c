/*
 * model_file.c - the trained model as one HDF5 file (model.h5): gather,
 * atomic write on rank 0, and reading it back (trib-recommend).
 *
 * Layout (format "tributary-mf-model", version 1; readable with h5py/h5dump;
 * docs/MODEL.md shows an h5py example):
 *
 *   /                       attributes:
 *       format              "tributary-mf-model"
 *       format_version      1
 *       k, n_users, n_items
 *       mean                global mean rating (float64)
 *       rating_min/max      range predictions are clipped to for evaluation
 *       train_fingerprint   fingerprint of the training dataset
 *       idmap_fingerprint   fingerprint of its id maps (test/eval sets must match)
 *       config              the training configuration, "name value" lines
 *       ranks               number of ranks that trained the model
 *       checksums           1: every factors and bias dataset carries the
 *                           CRC32C of its bytes (attribute "crc32c", the io
 *                           layer's checksummed datasets), verified on load;
 *                           files without it (older writers) are read unchecked
 *   /users/factors          float32 [n_users, k]   row u = dense user id u
 *   /users/bias             float32 [n_users]
 *   /users/ids              original user ids: int64 [n_users], or UTF-8
 *                           variable-length strings when the input had string ids
 *   /items/factors          float32 [n_items, k]   row i = dense item id i
 *   /items/bias             float32 [n_items]
 *   /items/ids              original item ids (as /users/ids)
 *
 * prediction(u, i) = mean + users/bias[u] + items/bias[i] + users/factors[u] . items/factors[i]
 *
 * Writing: user rows live on their owner ranks (contiguous ranges of dense
 * ids, see the owner map), so rank 0 receives each rank's range in rank order
 * (point-to-point, in chunks whose int counts cannot overflow) and writes the
 * file under a temporary name next to the target, closes it, fsyncs it,
 * renames it into place and fsyncs the directory.  A failure leaves no file at
 * the target path and removes the temporary one.  Every rank returns rank 0's
 * status.
 *
 * Reading verifies the checksums and refuses a model holding a non-finite
 * factor or bias, naming the user or item (its original id): such a model
 * would give nonsense scores, or silently drop that user from the output.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/idmap_h5.h"
#include "io/fs.h"
#include "io/h5.h"
#include "train/internal.h"

#define MODEL_FORMAT "tributary-mf-model"
#define MODEL_FORMAT_VERSION 1
#define GATHER_TAG 7401
#define CHUNK_FLOATS ((size_t)1 << 26)

/* ------------------------------------------------------------------ gather */

static int send_floats(const float *v, size_t n, MPI_Comm comm)
{
    for (size_t off = 0; off < n; off += CHUNK_FLOATS) {
        size_t c = n - off < CHUNK_FLOATS ? n - off : CHUNK_FLOATS;
        if (MPI_Send(v + off, (int)c, MPI_FLOAT, 0, GATHER_TAG, comm) != MPI_SUCCESS)
            return trib_errorf(TRIB_ERR_MPI, "model gather: MPI_Send failed");
    }
    return TRIB_OK;
}

static int recv_floats(float *v, size_t n, int from, MPI_Comm comm)
{
    for (size_t off = 0; off < n; off += CHUNK_FLOATS) {
        size_t c = n - off < CHUNK_FLOATS ? n - off : CHUNK_FLOATS;
        if (MPI_Recv(v + off, (int)c, MPI_FLOAT, from, GATHER_TAG, comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return trib_errorf(TRIB_ERR_MPI, "model gather: MPI_Recv from rank %d failed", from);
    }
    return TRIB_OK;
}

/* This rank's user factors without row padding (rows x k). */
static float *pack_rows(const trib_mf_block_t *b)
{
    float *p = malloc((b->n_rows * b->k + 1) * sizeof *p);
    if (p)
        for (size_t r = 0; r < b->n_rows; r++)
            memcpy(p + r * b->k, trib_mf_row(b, r), b->k * sizeof *p);
    return p;
}

/*
 * Rank 0: fills factors[n_users * k] and bias[n_users] from every rank.
 * Others: send.  Memory failures are announced with one int first, so rank 0
 * never waits for data that will not come.
 */
static int gather_users(trib_trainer_t *t, float *factors, float *bias)
{
    const trib_mf_block_t *u = &t->model.users;
    size_t k = u->k;
    if (t->rank >= t->data_size) /* a ps server: no users */
        return TRIB_OK;
    float *mine = pack_rows(u);
    int ok = mine != NULL, rc = TRIB_OK;
    if (t->rank != 0) {
        if (MPI_Send(&ok, 1, MPI_INT, 0, GATHER_TAG, t->comm) != MPI_SUCCESS)
            rc = trib_errorf(TRIB_ERR_MPI, "model gather: MPI_Send failed");
        if (rc == TRIB_OK && ok)
            rc = send_floats(mine, u->n_rows * k, t->comm);
        if (rc == TRIB_OK && ok)
            rc = send_floats(u->bias, u->n_rows, t->comm);
        free(mine);
        return rc != TRIB_OK ? rc : ok ? TRIB_OK : trib_errorf(TRIB_ERR_NOMEM, "model gather: out of memory");
    }
    if (!ok)
        rc = trib_errorf(TRIB_ERR_NOMEM, "model gather: out of memory");
    else {
        memcpy(factors + (size_t)t->user_first * k, mine, u->n_rows * k * sizeof(float));
        memcpy(bias + t->user_first, u->bias, u->n_rows * sizeof(float));
    }
    for (int r = 1; r < t->data_size; r++) {
        uint32_t first, end;
        trib_data_owner_range(t->owners, r, &first, &end);
        int peer_ok = 0;
        if (MPI_Recv(&peer_ok, 1, MPI_INT, r, GATHER_TAG, t->comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return trib_errorf(TRIB_ERR_MPI, "model gather: MPI_Recv from rank %d failed", r);
        if (!peer_ok) {
            if (rc == TRIB_OK)
                rc = trib_errorf(TRIB_ERR_NOMEM, "model gather: rank %d is out of memory", r);
            continue;
        }
        int rr = recv_floats(factors + (size_t)first * k, (size_t)(end - first) * k, r, t->comm);
        if (rr == TRIB_OK)
            rr = recv_floats(bias + first, end - first, r, t->comm);
        if (rr != TRIB_OK)
            return rr;
    }
    free(mine);
    return rc;
}

/* ------------------------------------------------------------------ HDF5 writing */

/* One group (users or items): factors, bias, original ids. */
static int write_rows(trib_hid_t f, const char *file, const char *group, const float *factors, const float *bias,
                      size_t rows, size_t k, const trib_idmap_t *ids)
{
    trib_hid_t g;
    int rc = trib_h5_create_group(f, file, group, &g);
    if (rc != TRIB_OK)
        return rc;
    rc = trib_h5_write_checked(g, file, "factors", TRIB_H5_F32, rows, k, factors, 0);
    if (rc == TRIB_OK)
        rc = trib_h5_write_checked(g, file, "bias", TRIB_H5_F32, rows, 0, bias, 0);
    if (rc == TRIB_OK)
        rc = trib_idmap_h5_write(g, file, "ids", ids);
    trib_h5_close_group(g);
    return rc;
}

static int write_root_attrs(trib_trainer_t *t, trib_hid_t f, const char *path)
{
    char config[4096];
    int n = trib_train_config_format(&t->cfg, config, sizeof config);
    if (n < 0)
        return n;
    const trib_mf_model_t *m = &t->model;
    int rc = trib_h5_attr_write_str(f, path, "format", MODEL_FORMAT);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "format_version", MODEL_FORMAT_VERSION);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "k", m->items.k);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "n_users", t->train_info.n_users);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "n_items", t->train_info.n_items);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_f64(f, path, "mean", (double)m->mean);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_f64(f, path, "rating_min", (double)m->rating_min);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_f64(f, path, "rating_max", (double)m->rating_max);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "train_fingerprint", t->train_info.fingerprint);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "idmap_fingerprint", t->train_info.idmap_fingerprint);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "ranks", (uint64_t)t->size);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "checksums", 1);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_str(f, path, "config", config);
    return rc;
}

/* Rank 0: writes the whole file under a temporary name, then renames it into place. */
int trib_model_file_write_root(trib_trainer_t *t, const char *path, const float *user_factors,
                               const float *user_bias)
{
    trib_dataset_t *ds = NULL; /* the train set's id maps */
    int rc = trib_dataset_open(t->cfg.train_dir, &ds);
    if (rc != TRIB_OK)
        return rc;
    char tmp[PATH_MAX];
    if ((rc = trib_io_temp_name(tmp, sizeof tmp, path)) != TRIB_OK) {
        trib_dataset_close(ds);
        return rc;
    }
    unlink(tmp);
    const trib_mf_block_t *it = &t->model.items;
    float *items = pack_rows(it);
    trib_hid_t f = -1;
    if (!items)
        rc = trib_errorf(TRIB_ERR_NOMEM, "%s: out of memory", path);
    if (rc == TRIB_OK)
        rc = trib_h5_create_file(tmp, &f);
    if (rc == TRIB_OK)
        rc = write_root_attrs(t, f, tmp);
    if (rc == TRIB_OK)
        rc = write_rows(f, path, "users", user_factors, user_bias, t->train_info.n_users, it->k,
                        trib_dataset_users(ds));
    if (rc == TRIB_OK)
        rc = write_rows(f, path, "items", items, it->bias, it->n_rows, it->k, trib_dataset_items(ds));
    if (f >= 0) {
        int cr = trib_h5_close_file(f, tmp);
        if (rc == TRIB_OK)
            rc = cr;
    }
    if (rc == TRIB_OK)
        rc = trib_io_publish_file(tmp, path);
    else
        unlink(tmp);
    free(items);
    trib_dataset_close(ds);
    return rc;
}

int trib_trainer_write_model(trib_trainer_t *t, const char *path)
{
    if (!t || !path || !*path)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "write model: no path");
    int rc = trib_train_agree(t->strategy->settle(t, t->strategy_state), t->comm);
    if (rc != TRIB_OK)
        return rc;
    float *factors = NULL, *bias = NULL;
    if (t->rank == 0) {
        size_t n = (size_t)t->train_info.n_users, k = t->model.users.k;
        factors = malloc((n * k + 1) * sizeof *factors);
        bias = malloc((n ? n : 1) * sizeof *bias);
        if (!factors || !bias)
            rc = trib_errorf(TRIB_ERR_NOMEM, "%s: out of memory for %zu user rows", path, n);
    }
    rc = trib_train_agree(rc, t->comm); /* nobody sends unless rank 0 can receive */
    if (rc == TRIB_OK)
        rc = gather_users(t, factors, bias);
    if (rc == TRIB_OK && t->rank == 0)
        rc = trib_model_file_write_root(t, path, factors, bias);
    free(factors);
    free(bias);
    return trib_train_agree(rc, t->comm);
}

/* ------------------------------------------------------------------ reading */

static int read_matrix(trib_hid_t loc, const char *file, const char *name, trib_mf_block_t *b, int checked)
{
    float *tmp = malloc((b->n_rows * b->k + 1) * sizeof *tmp);
    if (!tmp)
        return trib_errorf(TRIB_ERR_NOMEM, "%s: out of memory reading '%s'", file, name);
    int rc = checked ? trib_h5_read_checked(loc, file, name, TRIB_H5_F32, tmp, b->n_rows * b->k)
                     : trib_h5_read_2d(loc, file, name, TRIB_H5_F32, b->n_rows, b->k, tmp);
    for (size_t r = 0; rc == TRIB_OK && r < b->n_rows; r++)
        memcpy(trib_mf_row(b, r), tmp + r * b->k, b->k * sizeof(float));
    free(tmp);
    return rc;
}

/* Every factor and bias is finite; otherwise the error names the user or item by its original id. */
static int check_finite(const char *file, const char *group, const trib_mf_block_t *b, const trib_idmap_t *ids)
{
    for (size_t r = 0; r < b->n_rows; r++) {
        const float *row = trib_mf_row(b, r);
        int ok = isfinite(b->bias[r]);
        for (size_t j = 0; ok && j < b->k; j++)
            ok = isfinite(row[j]);
        if (ok)
            continue;
        char id[128] = "?";
        if (!ids || trib_idmap_format(ids, (uint32_t)r, id, sizeof id) < 0)
            snprintf(id, sizeof id, "?");
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: %s %s (row %zu) has a non-finite factor or bias: the model is "
                           "unusable (diverged training or a damaged file)", file,
                           strcmp(group, "users") == 0 ? "user" : "item", id, r);
    }
    return TRIB_OK;
}

static int read_rows(trib_hid_t f, const char *file, const char *group, trib_mf_block_t *b, trib_idmap_t **ids,
                     int checked)
{
    trib_hid_t g;
    if (trib_h5_open_group(f, file, group, &g) != TRIB_OK)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: no group '%s' (not a model file?)", file, group);
    int rc = read_matrix(g, file, "factors", b, checked);
    if (rc == TRIB_OK)
        rc = checked ? trib_h5_read_checked(g, file, "bias", TRIB_H5_F32, b->bias, b->n_rows)
                     : trib_h5_read_all_1d(g, file, "bias", TRIB_H5_F32, b->n_rows, b->bias);
    if (rc == TRIB_OK)
        rc = trib_idmap_h5_read(g, file, "ids", b->n_rows, ids);
    trib_h5_close_group(g);
    if (rc == TRIB_OK)
        rc = check_finite(file, group, b, *ids);
    return rc;
}

int trib_model_file_read(const char *path, trib_model_file_t *out)
{
    if (!path || !out)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "model read: NULL argument");
    memset(out, 0, sizeof *out);
    trib_hid_t f;
    int rc = trib_h5_open_file(path, &f);
    if (rc != TRIB_OK)
        return rc;
    char format[64] = "";
    uint64_t version = 0, k = 0, nu = 0, ni = 0;
    double mean = 0, lo = 0, hi = 0;
    int checked = 0;
    if (trib_h5_attr_read_str(f, path, "format", format, sizeof format) != TRIB_OK || strcmp(format, MODEL_FORMAT))
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: not a Tributary model file (format '%s')", path, format);
    else if (trib_h5_attr_read_u64(f, path, "format_version", &version) != TRIB_OK || version != MODEL_FORMAT_VERSION)
        rc = trib_errorf(TRIB_ERR_INCOMPATIBLE, "%s: model format version %" PRIu64 " (this build reads %d)", path,
                         version, MODEL_FORMAT_VERSION);
    else if (trib_h5_attr_read_u64(f, path, "k", &k) != TRIB_OK || trib_h5_attr_read_u64(f, path, "n_users", &nu) != TRIB_OK ||
             trib_h5_attr_read_u64(f, path, "n_items", &ni) != TRIB_OK || trib_h5_attr_read_f64(f, path, "mean", &mean) ||
             trib_h5_attr_read_f64(f, path, "rating_min", &lo) || trib_h5_attr_read_f64(f, path, "rating_max", &hi) ||
             trib_h5_attr_read_u64(f, path, "idmap_fingerprint", &out->idmap_fingerprint) ||
             trib_h5_attr_read_u64(f, path, "train_fingerprint", &out->train_fingerprint))
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: a required model attribute is missing", path);
    else if (k < 1 || k > 4096 || nu >= UINT32_MAX || ni >= UINT32_MAX)
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: implausible model shape (k %" PRIu64 ", %" PRIu64 " users, %" PRIu64
                         " items)", path, k, nu, ni);
    if (rc == TRIB_OK)
        rc = trib_mf_model_create(&out->model, (size_t)k, (size_t)nu, (size_t)ni);
    if (rc == TRIB_OK) {
        out->model.mean = (float)mean;
        out->model.rating_min = (float)lo;
        out->model.rating_max = (float)hi;
        if (trib_h5_attr_read_str(f, path, "config", out->config, sizeof out->config) != TRIB_OK)
            out->config[0] = '\0';
        uint64_t sums = 0;
        if (trib_h5_attr_read_u64(f, path, "checksums", &sums) != TRIB_OK) {
            trib_clear_error();
            sums = 0; /* written before checksums: read unchecked */
        }
        checked = sums != 0;
        if (!isfinite(mean) || !isfinite(lo) || !isfinite(hi))
            rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: the mean or rating range is not finite", path);
        if (rc == TRIB_OK)
            rc = read_rows(f, path, "users", &out->model.users, &out->user_ids, checked);
    }
    if (rc == TRIB_OK)
        rc = read_rows(f, path, "items", &out->model.items, &out->item_ids, checked);
    trib_h5_close_file(f, path);
    if (rc != TRIB_OK)
        trib_model_file_free(out);
    return rc;
}

void trib_model_file_free(trib_model_file_t *m)
{
    if (!m)
        return;
    trib_mf_model_destroy(&m->model);
    trib_idmap_free(m->user_ids);
    trib_idmap_free(m->item_ids);
    m->user_ids = m->item_ids = NULL;
}
