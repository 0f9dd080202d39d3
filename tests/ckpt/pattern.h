/*
 * pattern.h - the deterministic checkpoint content the ckpt tests write and verify.
 *
 * A "model" of ng global rows of K columns: part p of a checkpoint written by
 * nparts ranks holds the rows whose global id g satisfies g % nparts == p, in
 * ascending order, as arrays ids (u32), factors (f32, rows x K), sums (f32,
 * rows x K), bias (f64), counter (u64) and offset (i64, negative values).
 * Every value is a pure function of (seq, g, column), so a reader with any
 * rank count can recompute what each row must contain and compare bit for bit.
 * Rank 0 adds globals: epoch, position, learning rate, configuration text,
 * config k/mode, item_factors (ni x K) and rng (4 u64).
 */
#ifndef TRIB_TESTS_CKPT_PATTERN_H
#define TRIB_TESTS_CKPT_PATTERN_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "tributary/ckpt.h"

#define PAT_K 8
#define PAT_NI 37
#define PAT_FINGERPRINT "fp-test-1"

static inline float pat_f32(uint64_t seq, uint64_t g, uint64_t c, uint64_t tag)
{
    return (float)(trib_hash64(trib_hash64(seq, tag), g * 1000 + c) >> 40) * 0x1.0p-24f - 0.5f;
}
static inline double pat_f64(uint64_t seq, uint64_t g, uint64_t tag)
{
    return (double)(trib_hash64(trib_hash64(seq, tag), g) >> 11) * 0x1.0p-53 * 100.0 - 50.0;
}
static inline uint64_t pat_u64(uint64_t seq, uint64_t g) { return trib_hash64(seq ^ 0x55, g); }
static inline int64_t pat_i64(uint64_t seq, uint64_t g) { return -(int64_t)(g * 7 + seq); }

static inline size_t pat_rows_of(size_t ng, int nparts, int part)
{
    return ng / (size_t)nparts + ((size_t)part < ng % (size_t)nparts ? 1 : 0);
}

/* Writes this rank's part (and rank 0's globals) of the pattern; returns the first failure. */
static inline int pat_write(trib_ckpt_writer_t *w, uint64_t seq, size_t ng, int rank, int nranks)
{
    size_t n = pat_rows_of(ng, nranks, rank);
    uint32_t *ids = malloc((n + 1) * sizeof *ids);
    float *fac = malloc((n * PAT_K + 1) * sizeof *fac), *sums = malloc((n * PAT_K + 1) * sizeof *sums);
    double *bias = malloc((n + 1) * sizeof *bias);
    uint64_t *cnt = malloc((n + 1) * sizeof *cnt);
    int64_t *off = malloc((n + 1) * sizeof *off);
    if (!ids || !fac || !sums || !bias || !cnt || !off)
        return TRIB_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        uint64_t g = (uint64_t)rank + i * (uint64_t)nranks;
        ids[i] = (uint32_t)g;
        bias[i] = pat_f64(seq, g, 1);
        cnt[i] = pat_u64(seq, g);
        off[i] = pat_i64(seq, g);
        for (int c = 0; c < PAT_K; c++) {
            fac[i * PAT_K + c] = pat_f32(seq, g, (uint64_t)c, 2);
            sums[i * PAT_K + c] = pat_f32(seq, g, (uint64_t)c, 3);
        }
    }
    int rc = TRIB_OK, r;
#define PAT_TRY(call) do { r = (call); if (rc == TRIB_OK) rc = r; } while (0)
    PAT_TRY(trib_ckpt_write_array(w, "ids", TRIB_CKPT_U32, n, 0, ids));
    PAT_TRY(trib_ckpt_write_array(w, "factors", TRIB_CKPT_F32, n, PAT_K, fac));
    PAT_TRY(trib_ckpt_write_array(w, "sums", TRIB_CKPT_F32, n, PAT_K, sums));
    PAT_TRY(trib_ckpt_write_array(w, "bias", TRIB_CKPT_F64, n, 0, bias));
    PAT_TRY(trib_ckpt_write_array(w, "counter", TRIB_CKPT_U64, n, 0, cnt));
    PAT_TRY(trib_ckpt_write_array(w, "offset", TRIB_CKPT_I64, n, 0, off));
    if (rank == 0) {
        float item[PAT_NI * PAT_K];
        uint64_t rng[4];
        char text[128];
        for (size_t g = 0; g < PAT_NI; g++)
            for (int c = 0; c < PAT_K; c++)
                item[g * PAT_K + c] = pat_f32(seq, g, (uint64_t)c, 4);
        for (int i = 0; i < 4; i++)
            rng[i] = pat_u64(seq, 1000000 + (uint64_t)i);
        snprintf(text, sizeof text, "k=%d\nmode=sync\nseq=%" PRIu64 "\n", PAT_K, seq);
        PAT_TRY(trib_ckpt_set_int(w, "epoch", (int64_t)seq * 3));
        PAT_TRY(trib_ckpt_set_int(w, "position", -(int64_t)seq));
        PAT_TRY(trib_ckpt_set_int(w, "rows", (int64_t)ng));
        PAT_TRY(trib_ckpt_set_double(w, "lr", 0.01 * (double)seq));
        PAT_TRY(trib_ckpt_set_string(w, "config_text", text));
        PAT_TRY(trib_ckpt_set_config(w, "k", "8"));
        PAT_TRY(trib_ckpt_set_config(w, "mode", "sync"));
        PAT_TRY(trib_ckpt_write_global_array(w, "item_factors", TRIB_CKPT_F32, PAT_NI, PAT_K, item));
        PAT_TRY(trib_ckpt_write_global_array(w, "rng", TRIB_CKPT_U64, 4, 0, rng));
    }
#undef PAT_TRY
    free(ids); free(fac); free(sums); free(bias); free(cnt); free(off);
    return rc;
}

/* Complete write of checkpoint `seq`: begin, pattern, commit. */
static inline int pat_checkpoint(MPI_Comm comm, const char *dir, uint64_t seq, size_t ng, unsigned keep)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    trib_ckpt_write_opts_t o = TRIB_CKPT_WRITE_OPTS_INIT;
    o.fingerprint = PAT_FINGERPRINT;
    o.keep = keep;
    trib_ckpt_writer_t *w;
    int rc = trib_ckpt_begin(comm, dir, seq, &o, &w);
    if (rc != TRIB_OK)
        return rc;
    pat_write(w, seq, ng, rank, size); /* a failure is reported by commit */
    return trib_ckpt_commit(w, NULL, 0);
}

/*
 * Checks every array of part `part` bit for bit.  With `own` (new rank count
 * `nnew`, this rank `me`), counts the rows this rank would own after
 * re-partitioning (g % nnew == me) in *owned.  Returns a description of the
 * first difference or NULL.
 */
static inline const char *pat_verify_part(trib_ckpt_reader_t *r, int part, uint64_t seq, size_t ng, int nnew,
                                          int me, size_t *owned)
{
    static char why[256];
    int nparts = trib_ckpt_nparts(r);
    size_t n = pat_rows_of(ng, nparts, part);
    trib_ckpt_array_info_t info;
    if (trib_ckpt_array_info(r, part, "factors", &info) != TRIB_OK || info.dtype != TRIB_CKPT_F32 ||
        info.ndim != 2 || info.rows != n || info.cols != PAT_K) {
        snprintf(why, sizeof why, "part %d: factors info wrong: %s", part, trib_last_error(TRIB_ERR_INTERNAL));
        return why;
    }
    uint32_t *ids = malloc((n + 1) * sizeof *ids);
    float *fac = malloc((n * PAT_K + 1) * sizeof *fac), *sums = malloc((n * PAT_K + 1) * sizeof *sums);
    double *bias = malloc((n + 1) * sizeof *bias);
    uint64_t *cnt = malloc((n + 1) * sizeof *cnt);
    int64_t *off = malloc((n + 1) * sizeof *off);
    const char *bad = NULL;
    if (!ids || !fac || !sums || !bias || !cnt || !off) {
        bad = "out of memory";
    } else if (trib_ckpt_read_array(r, part, "ids", TRIB_CKPT_U32, ids, n) != TRIB_OK ||
               trib_ckpt_read_array(r, part, "factors", TRIB_CKPT_F32, fac, n * PAT_K) != TRIB_OK ||
               trib_ckpt_read_array(r, part, "sums", TRIB_CKPT_F32, sums, n * PAT_K) != TRIB_OK ||
               trib_ckpt_read_array(r, part, "bias", TRIB_CKPT_F64, bias, n) != TRIB_OK ||
               trib_ckpt_read_array(r, part, "counter", TRIB_CKPT_U64, cnt, n) != TRIB_OK ||
               trib_ckpt_read_array(r, part, "offset", TRIB_CKPT_I64, off, n) != TRIB_OK) {
        snprintf(why, sizeof why, "part %d: read failed: %s", part, trib_last_error(TRIB_ERR_INTERNAL));
        bad = why;
    }
    for (size_t i = 0; !bad && i < n; i++) {
        uint64_t g = ids[i];
        double b = pat_f64(seq, g, 1);
        uint64_t u = pat_u64(seq, g);
        int64_t o = pat_i64(seq, g);
        int ok = g == (uint64_t)part + i * (uint64_t)nparts && memcmp(&b, &bias[i], sizeof b) == 0 &&
                 cnt[i] == u && off[i] == o;
        for (int c = 0; ok && c < PAT_K; c++) {
            float f = pat_f32(seq, g, (uint64_t)c, 2), s = pat_f32(seq, g, (uint64_t)c, 3);
            ok = memcmp(&f, &fac[i * PAT_K + c], sizeof f) == 0 && memcmp(&s, &sums[i * PAT_K + c], sizeof s) == 0;
        }
        if (!ok) {
            snprintf(why, sizeof why, "part %d row %zu (id %" PRIu64 ") differs", part, i, g);
            bad = why;
        }
        if (owned && g % (uint64_t)nnew == (uint64_t)me)
            (*owned)++;
    }
    free(ids); free(fac); free(sums); free(bias); free(cnt); free(off);
    return bad;
}

/* Checks the globals written by rank 0. */
static inline const char *pat_verify_globals(trib_ckpt_reader_t *r, uint64_t seq)
{
    static char why[256];
    int64_t epoch = 0, pos = 0;
    double lr = 0;
    char *text = NULL, *k = NULL;
    float item[PAT_NI * PAT_K];
    uint64_t rng[4];
    if (trib_ckpt_get_int(r, "epoch", &epoch) != TRIB_OK || trib_ckpt_get_int(r, "position", &pos) != TRIB_OK ||
        trib_ckpt_get_double(r, "lr", &lr) != TRIB_OK || trib_ckpt_get_string(r, "config_text", &text) != TRIB_OK ||
        trib_ckpt_get_config(r, "k", &k) != TRIB_OK ||
        trib_ckpt_read_array(r, TRIB_CKPT_GLOBAL, "item_factors", TRIB_CKPT_F32, item, PAT_NI * PAT_K) != TRIB_OK ||
        trib_ckpt_read_array(r, TRIB_CKPT_GLOBAL, "rng", TRIB_CKPT_U64, rng, 4) != TRIB_OK) {
        snprintf(why, sizeof why, "globals unreadable: %s", trib_last_error(TRIB_ERR_INTERNAL));
        free(text);
        free(k);
        return why;
    }
    char want[128];
    snprintf(want, sizeof want, "k=%d\nmode=sync\nseq=%" PRIu64 "\n", PAT_K, seq);
    const char *bad = NULL;
    double lr_want = 0.01 * (double)seq;
    if (epoch != (int64_t)seq * 3 || pos != -(int64_t)seq || memcmp(&lr, &lr_want, sizeof lr) != 0 ||
        strcmp(text, want) != 0 || strcmp(k, "8") != 0 || strcmp(trib_ckpt_fingerprint(r), PAT_FINGERPRINT) != 0)
        bad = "a global value differs";
    for (size_t g = 0; !bad && g < PAT_NI; g++)
        for (int c = 0; c < PAT_K; c++) {
            float f = pat_f32(seq, g, (uint64_t)c, 4);
            if (memcmp(&f, &item[g * PAT_K + c], sizeof f) != 0)
                bad = "item_factors differ";
        }
    for (int i = 0; !bad && i < 4; i++)
        if (rng[i] != pat_u64(seq, 1000000 + (uint64_t)i))
            bad = "rng differs";
    free(text);
    free(k);
    return bad;
}

#endif
