/*
 * idmap.c - maps between original ids (int64 or strings) and dense ids.
 *
 * Keys live in insertion order (ints[] or arena + offsets); an open-addressing
 * table of key indices (slots, linear probing, load <= 1/2) finds a key.  The
 * converter inserts keys in order of first appearance, then trib_idmap_sort()
 * orders them ascending and returns old -> new indices, so dense ids do not
 * depend on the order of the input file.
 *
 * In HDF5 an int64 map is an int64 dataset, a string map a dataset of
 * variable-length UTF-8 strings (both readable by h5dump and h5py).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "core/rng.h"
#include "data/internal.h"

static uint64_t hash_int(int64_t k)
{
    return trib_mix64((uint64_t)k + UINT64_C(0x9e3779b97f4a7c15));
}

static uint64_t hash_str(const char *s, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * UINT64_C(0x100000001b3);
    return trib_mix64(h);
}

trib_idmap_t *trib_idmap_new(trib_id_kind_t kind)
{
    trib_idmap_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->kind = kind;
    m->n_slots = 1024;
    m->slots = calloc(m->n_slots, sizeof *m->slots);
    m->slot_keys = calloc(m->n_slots, sizeof *m->slot_keys);
    if (!m->slots || !m->slot_keys) {
        free(m->slots);
        free(m->slot_keys);
        free(m);
        return NULL;
    }
    return m;
}

void trib_idmap_free(trib_idmap_t *m)
{
    if (!m)
        return;
    free(m->ints);
    free(m->arena);
    free(m->str_off);
    free(m->str_len);
    free(m->slots);
    free(m->slot_keys);
    free(m);
}

static const char *key_str(const trib_idmap_t *m, size_t i, size_t *len)
{
    *len = m->str_len[i];
    return m->arena + m->str_off[i];
}

static uint64_t key_hash(const trib_idmap_t *m, size_t i)
{
    if (m->kind == TRIB_IDS_INT64)
        return hash_int(m->ints[i]);
    size_t len;
    const char *s = key_str(m, i, &len);
    return hash_str(s, len);
}

static int rebuild_index(trib_idmap_t *m, size_t n_slots)
{
    uint32_t *slots = calloc(n_slots, sizeof *slots);
    int64_t *keys = calloc(n_slots, sizeof *keys);
    if (!slots || !keys) {
        free(slots);
        free(keys);
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory growing an id map");
    }
    for (size_t i = 0; i < m->n; i++) {
        size_t s = key_hash(m, i) & (n_slots - 1);
        while (slots[s])
            s = (s + 1) & (n_slots - 1);
        slots[s] = (uint32_t)(i + 1);
        if (m->kind == TRIB_IDS_INT64)
            keys[s] = m->ints[i];
    }
    free(m->slots);
    free(m->slot_keys);
    m->slots = slots;
    m->slot_keys = keys;
    m->n_slots = n_slots;
    return TRIB_OK;
}

static int grow_keys(trib_idmap_t *m)
{
    if (m->n + 1 >= UINT32_MAX)
        return trib_errorf(TRIB_ERR_RANGE, "more than 2^32-2 distinct ids");
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        if (m->kind == TRIB_IDS_INT64) {
            int64_t *p = realloc(m->ints, cap * sizeof *p);
            if (!p)
                return trib_errorf(TRIB_ERR_NOMEM, "out of memory growing an id map");
            m->ints = p;
        } else {
            uint64_t *o = realloc(m->str_off, cap * sizeof *o);
            if (o)
                m->str_off = o;
            uint32_t *l = realloc(m->str_len, cap * sizeof *l);
            if (l)
                m->str_len = l;
            if (!o || !l)
                return trib_errorf(TRIB_ERR_NOMEM, "out of memory growing an id map");
        }
        m->cap = cap;
    }
    if ((m->n + 1) * 2 > m->n_slots)
        return rebuild_index(m, m->n_slots * 2);
    return TRIB_OK;
}

int trib_idmap_put_int(trib_idmap_t *m, int64_t key, uint32_t *idx)
{
    size_t mask = m->n_slots - 1, s = hash_int(key) & mask;
    for (uint32_t v; (v = m->slots[s]) != 0; s = (s + 1) & mask) {
        if (m->slot_keys[s] == key) {
            *idx = v - 1;
            return TRIB_OK;
        }
    }
    if (m->frozen)
        return TRIB_ERR_NOT_FOUND;
    int rc = grow_keys(m);
    if (rc != TRIB_OK)
        return rc;
    if (m->n_slots - 1 != mask) { /* index rebuilt: find the free slot again */
        mask = m->n_slots - 1;
        for (s = hash_int(key) & mask; m->slots[s]; s = (s + 1) & mask) {
        }
    }
    m->ints[m->n] = key;
    m->slots[s] = (uint32_t)(m->n + 1);
    m->slot_keys[s] = key;
    *idx = (uint32_t)m->n++;
    return TRIB_OK;
}

int trib_idmap_find_str(const trib_idmap_t *m, const char *s, size_t len, uint32_t *idx)
{
    size_t mask = m->n_slots - 1, p = hash_str(s, len) & mask;
    for (uint32_t v; (v = m->slots[p]) != 0; p = (p + 1) & mask) {
        size_t kl;
        const char *k = key_str(m, v - 1, &kl);
        if (kl == len && memcmp(k, s, len) == 0) {
            *idx = v - 1;
            return TRIB_OK;
        }
    }
    return TRIB_ERR_NOT_FOUND;
}

int trib_idmap_put_str(trib_idmap_t *m, const char *s, size_t len, uint32_t *idx)
{
    if (trib_idmap_find_str(m, s, len, idx) == TRIB_OK)
        return TRIB_OK;
    if (m->frozen)
        return TRIB_ERR_NOT_FOUND;
    if (len > 4096)
        return trib_errorf(TRIB_ERR_RANGE, "id longer than 4096 bytes");
    int rc = grow_keys(m);
    if (rc != TRIB_OK)
        return rc;
    if (m->arena_len + len + 1 > m->arena_cap) {
        size_t cap = (m->arena_cap ? m->arena_cap * 2 : 4096) + len + 1;
        char *a = realloc(m->arena, cap);
        if (!a)
            return trib_errorf(TRIB_ERR_NOMEM, "out of memory growing an id map");
        m->arena = a;
        m->arena_cap = cap;
    }
    memcpy(m->arena + m->arena_len, s, len);
    m->arena[m->arena_len + len] = '\0';
    m->str_off[m->n] = m->arena_len;
    m->str_len[m->n] = (uint32_t)len;
    m->arena_len += len + 1;
    size_t mask = m->n_slots - 1, p = hash_str(s, len) & mask;
    while (m->slots[p])
        p = (p + 1) & mask;
    m->slots[p] = (uint32_t)(m->n + 1);
    *idx = (uint32_t)m->n++;
    return TRIB_OK;
}

int trib_idmap_to_strings(trib_idmap_t *m)
{
    if (m->kind == TRIB_IDS_STRING)
        return TRIB_OK;
    trib_idmap_t *s = trib_idmap_new(TRIB_IDS_STRING);
    if (!s)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory converting an id map");
    for (size_t i = 0; i < m->n; i++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%" PRId64, m->ints[i]);
        uint32_t idx;
        int rc = trib_idmap_put_str(s, buf, (size_t)len, &idx);
        if (rc != TRIB_OK) {
            trib_idmap_free(s);
            return rc;
        }
    }
    /* Distinct ints have distinct decimal forms, so indices are unchanged. */
    trib_idmap_t tmp = *m;
    *m = *s;
    *s = tmp;
    trib_idmap_free(s);
    return TRIB_OK;
}

/* Sorting: qsort_r (GNU) of an index array with a comparator that sees the map. */
static int cmp_key(const void *a, const void *b, void *ctx)
{
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    const trib_idmap_t *m = ctx;
    if (m->kind == TRIB_IDS_INT64)
        return (m->ints[i] > m->ints[j]) - (m->ints[i] < m->ints[j]);
    size_t li, lj;
    const char *si = key_str(m, i, &li), *sj = key_str(m, j, &lj);
    int c = memcmp(si, sj, li < lj ? li : lj);
    return c ? c : (li > lj) - (li < lj);
}

int trib_idmap_sort(trib_idmap_t *m, uint32_t **new_of_old)
{
    size_t n = m->n;
    uint32_t *order = malloc((n ? n : 1) * sizeof *order);
    uint32_t *inv = malloc((n ? n : 1) * sizeof *inv);
    if (!order || !inv) {
        free(order);
        free(inv);
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory sorting ids");
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    qsort_r(order, n, sizeof *order, cmp_key, m);
    for (size_t j = 0; j < n; j++)
        inv[order[j]] = (uint32_t)j;
    int rc = TRIB_OK;
    if (m->kind == TRIB_IDS_INT64) {
        int64_t *k = malloc((n ? n : 1) * sizeof *k);
        if (!k) {
            rc = trib_errorf(TRIB_ERR_NOMEM, "out of memory sorting ids");
        } else {
            for (size_t j = 0; j < n; j++)
                k[j] = m->ints[order[j]];
            free(m->ints);
            m->ints = k;
        }
    } else {
        uint64_t *o = malloc((n ? n : 1) * sizeof *o);
        uint32_t *l = malloc((n ? n : 1) * sizeof *l);
        if (!o || !l) {
            free(o);
            free(l);
            rc = trib_errorf(TRIB_ERR_NOMEM, "out of memory sorting ids");
        } else {
            for (size_t j = 0; j < n; j++) {
                o[j] = m->str_off[order[j]];
                l[j] = m->str_len[order[j]];
            }
            free(m->str_off);
            free(m->str_len);
            m->str_off = o;
            m->str_len = l;
        }
    }
    free(order);
    if (rc == TRIB_OK)
        rc = rebuild_index(m, m->n_slots);
    if (rc != TRIB_OK) {
        free(inv);
        return rc;
    }
    *new_of_old = inv;
    return TRIB_OK;
}

trib_idmap_t *trib_idmap_identity(uint64_t n)
{
    trib_idmap_t *m = trib_idmap_new(TRIB_IDS_INT64);
    if (!m)
        return NULL;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t idx;
        if (trib_idmap_put_int(m, (int64_t)i, &idx) != TRIB_OK) {
            trib_idmap_free(m);
            return NULL;
        }
    }
    return m;
}

int trib_idmap_copy(const trib_idmap_t *m, trib_idmap_t **out)
{
    trib_idmap_t *c = trib_idmap_new(m->kind);
    if (!c)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory copying an id map");
    for (size_t i = 0; i < m->n; i++) {
        uint32_t idx;
        int rc;
        if (m->kind == TRIB_IDS_INT64) {
            rc = trib_idmap_put_int(c, m->ints[i], &idx);
        } else {
            size_t len;
            const char *s = key_str(m, i, &len);
            rc = trib_idmap_put_str(c, s, len, &idx);
        }
        if (rc != TRIB_OK) {
            trib_idmap_free(c);
            return rc;
        }
    }
    *out = c;
    return TRIB_OK;
}

uint64_t trib_idmap_fingerprint(const trib_idmap_t *m)
{
    uint64_t h = trib_hash64(m->kind, m->n);
    for (size_t i = 0; i < m->n; i++)
        h = trib_hash64(h, key_hash(m, i));
    return h;
}

/* ---------------------------------------------------------------- public accessors */

size_t trib_idmap_size(const trib_idmap_t *m)
{
    return m ? m->n : 0;
}

trib_id_kind_t trib_idmap_kind(const trib_idmap_t *m)
{
    return m->kind;
}

int64_t trib_idmap_int(const trib_idmap_t *m, uint32_t dense)
{
    if (m->kind != TRIB_IDS_INT64 || dense >= m->n)
        return INT64_MIN;
    return m->ints[dense];
}

int trib_idmap_format(const trib_idmap_t *m, uint32_t dense, char *buf, size_t cap)
{
    if (dense >= m->n)
        return trib_errorf(TRIB_ERR_RANGE, "dense id %u out of range (%zu ids)", dense, m->n);
    if (m->kind == TRIB_IDS_INT64)
        return snprintf(buf, cap, "%" PRId64, m->ints[dense]);
    size_t len;
    const char *s = key_str(m, dense, &len);
    return snprintf(buf, cap, "%.*s", (int)len, s);
}

int trib_idmap_lookup_int(const trib_idmap_t *m, int64_t original, uint32_t *dense)
{
    if (m->kind != TRIB_IDS_INT64) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%" PRId64, original);
        return trib_idmap_find_str(m, buf, (size_t)len, dense);
    }
    size_t mask = m->n_slots - 1, s = hash_int(original) & mask;
    for (uint32_t v; (v = m->slots[s]) != 0; s = (s + 1) & mask) {
        if (m->slot_keys[s] == original) {
            *dense = v - 1;
            return TRIB_OK;
        }
    }
    return TRIB_ERR_NOT_FOUND;
}

int trib_idmap_lookup_text(const trib_idmap_t *m, const char *text, size_t len, uint32_t *dense)
{
    if (m->kind == TRIB_IDS_STRING)
        return trib_idmap_find_str(m, text, len, dense);
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return TRIB_ERR_NOT_FOUND;
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (*end || errno)
        return TRIB_ERR_NOT_FOUND;
    return trib_idmap_lookup_int(m, (int64_t)v, dense);
}

/* ---------------------------------------------------------------- HDF5 */

int trib_idmap_h5_write(trib_hid_t loc, const char *file, const char *name, const trib_idmap_t *m)
{
    if (m->kind == TRIB_IDS_INT64)
        return trib_h5_write_1d(loc, file, name, TRIB_H5_I64, m->ints, m->n, 0, 0);
    const char **ptrs = malloc((m->n ? m->n : 1) * sizeof *ptrs);
    if (!ptrs)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory writing ids");
    for (size_t i = 0; i < m->n; i++)
        ptrs[i] = m->arena + m->str_off[i];
    int rc = trib_h5_write_strings(loc, file, name, ptrs, m->n);
    free(ptrs);
    return rc;
}

typedef struct {
    trib_idmap_t *m;
    const char *file, *name;
} string_reader_t;

static int put_read_string(void *arg, uint64_t i, const char *s)
{
    string_reader_t *r = arg;
    uint32_t idx;
    int rc = trib_idmap_put_str(r->m, s, strlen(s), &idx);
    if (rc == TRIB_OK && idx != i)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: id map '%s' repeats id '%s'", r->file, r->name, s);
    return rc;
}

int trib_idmap_h5_read(trib_hid_t loc, const char *file, const char *name, uint64_t n, trib_idmap_t **out)
{
    int is_strings = 0;
    int rc = trib_h5_is_strings_1d(loc, file, name, n, &is_strings);
    if (rc != TRIB_OK)
        return rc;
    trib_idmap_t *m = trib_idmap_new(is_strings ? TRIB_IDS_STRING : TRIB_IDS_INT64);
    int64_t *keys = is_strings ? NULL : malloc((n ? n : 1) * sizeof *keys);
    if (!m || (!is_strings && !keys)) {
        rc = trib_errorf(TRIB_ERR_NOMEM, "out of memory reading ids");
    } else if (is_strings) {
        string_reader_t r = {m, file, name};
        rc = trib_h5_read_strings(loc, file, name, n, put_read_string, &r);
    } else {
        rc = trib_h5_read_all_1d(loc, file, name, TRIB_H5_I64, n, keys);
        for (uint64_t i = 0; i < n && rc == TRIB_OK; i++) {
            uint32_t idx;
            rc = trib_idmap_put_int(m, keys[i], &idx);
            if (rc == TRIB_OK && idx != i)
                rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: id map '%s' repeats id %" PRId64, file, name, keys[i]);
        }
    }
    free(keys);
    if (rc != TRIB_OK) {
        trib_idmap_free(m);
        return rc;
    }
    *out = m;
    return TRIB_OK;
}
