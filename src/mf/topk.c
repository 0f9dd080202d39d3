/*
 * topk.c - the K best items per user, and ranking metrics (precision, recall, NDCG @ K).
 *
 * Scoring: users are taken in blocks; their factor rows are gathered into a
 * contiguous matrix U (b x stride) and one sgemm computes S = U * Q^T against
 * the whole item block Q (n_items x stride, used in place: its padded rows
 * are exactly sgemm's leading dimension).  The block size keeps S at most
 * SCORE_BUDGET floats.  Each user's row of S then gets mean + b_u + b_i added
 * and is scanned once: a bounded min-heap of K (score, item) pairs keeps the
 * best so far, while a cursor walks the user's sorted exclusion list in step
 * with the ascending item index.  The heap is finally emptied worst-first
 * into the output row from the back, giving best-first order.
 *
 * Order: higher score first; equal scores by smaller item row.  NaN scores
 * are never selected.
 */
#include "tributary/mf.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"

#define SCORE_BUDGET ((size_t)4 << 20) /* floats of the score block (16 MiB) */
#define MAX_BLOCK_USERS 256

typedef struct {
    float score;
    uint32_t item;
} cand_t;

/* a ranks below b: lower score, or equal score and larger item row. */
static int worse(cand_t a, cand_t b) { return a.score < b.score || (a.score == b.score && a.item > b.item); }

/* Min-heap on `worse`: h[0] is the worst kept candidate. */
static void heap_sift_down(cand_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, w = i;
        if (l < n && worse(h[l], h[w]))
            w = l;
        if (l + 1 < n && worse(h[l + 1], h[w]))
            w = l + 1;
        if (w == i)
            return;
        cand_t t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void heap_sift_up(cand_t *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!worse(h[i], h[parent]))
            return;
        cand_t t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

/* Offers c to a heap of capacity K holding *n candidates. */
static void heap_offer(cand_t *h, size_t *n, size_t K, cand_t c)
{
    if (*n < K) {
        h[*n] = c;
        heap_sift_up(h, (*n)++);
    } else if (worse(h[0], c)) {
        h[0] = c;
        heap_sift_down(h, K, 0);
    }
}

/* Selects the K best of one user's scores (item biases and base already added). */
static void select_user(const float *scores, size_t n_items, size_t K, const uint32_t *excl, size_t n_excl,
                        cand_t *heap, uint32_t *out_items, float *out_scores)
{
    size_t n = 0, x = 0;
    for (size_t j = 0; j < n_items; j++) {
        while (x < n_excl && excl[x] < j)
            x++;
        if (x < n_excl && excl[x] == j)
            continue;
        if (isnan(scores[j]))
            continue;
        heap_offer(heap, &n, K, (cand_t){scores[j], (uint32_t)j});
    }
    for (size_t j = n; j < K; j++) {
        out_items[j] = TRIB_MF_NO_ITEM;
        if (out_scores)
            out_scores[j] = -INFINITY;
    }
    while (n > 0) {
        n--;
        out_items[n] = heap[0].item;
        if (out_scores)
            out_scores[n] = heap[0].score;
        heap[0] = heap[n];
        heap_sift_down(heap, n, 0);
    }
}

static int check_topk_args(const trib_mf_model_t *m, const uint32_t *users, size_t n_users, size_t K,
                           const trib_mf_exclusion_t *exclude, const uint32_t *out_items)
{
    if (!m || !m->users.values || !m->items.values)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf top-K: model not created");
    if (m->users.k != m->items.k || m->items.n_rows > UINT32_MAX)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf top-K: user and item k differ or too many items");
    if (n_users > 0 && K > 0 && (!users || !out_items))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf top-K: NULL users or output");
    if (exclude && (!exclude->offsets || (!exclude->items && exclude->offsets[m->users.n_rows] > 0)))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf top-K: incomplete exclusion lists");
    size_t total;
    if (trib_size_mul(n_users, K, &total) != TRIB_OK || m->users.k > (size_t)INT32_MAX ||
        m->items.n_rows > (size_t)INT32_MAX)
        return trib_errorf(TRIB_ERR_RANGE, "mf top-K: problem too large");
    for (size_t u = 0; u < n_users; u++)
        if (users[u] >= m->users.n_rows)
            return trib_errorf(TRIB_ERR_RANGE, "mf top-K: user row %u out of range (%zu users)", users[u],
                               m->users.n_rows);
    return TRIB_OK;
}

/* Scores users[0..b) against all items into S (b x n_items), biases and mean included. */
static void score_block(const trib_mf_model_t *m, const uint32_t *users, size_t b, float *U, float *S)
{
    const trib_mf_block_t *ub = &m->users, *ib = &m->items;
    size_t ni = ib->n_rows;
    for (size_t u = 0; u < b; u++)
        memcpy(U + u * ub->stride, trib_mf_row(ub, users[u]), ub->stride * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)ni, (int)ub->k, 1.0f, U, (int)ub->stride,
                ib->factors, (int)ib->stride, 0.0f, S, (int)ni);
    for (size_t u = 0; u < b; u++) {
        float base = m->mean + ub->bias[users[u]];
        float *row = S + u * ni;
        for (size_t j = 0; j < ni; j++)
            row[j] += base + ib->bias[j];
    }
}

int trib_mf_topk(const trib_mf_model_t *m, const uint32_t *users, size_t n_users, size_t K,
                 const trib_mf_exclusion_t *exclude, uint32_t *out_items, float *out_scores)
{
    int rc = check_topk_args(m, users, n_users, K, exclude, out_items);
    if (rc != TRIB_OK || n_users == 0 || K == 0)
        return rc;
    size_t ni = m->items.n_rows;
    size_t block = ni > 0 ? SCORE_BUDGET / ni : MAX_BLOCK_USERS;
    block = block < 1 ? 1 : (block > MAX_BLOCK_USERS ? MAX_BLOCK_USERS : block);
    block = block > n_users ? n_users : block;

    float *U = trib_aligned_alloc(TRIB_ALIGN, block * m->users.stride * sizeof(float));
    float *S = trib_aligned_alloc(TRIB_ALIGN, (block * ni + 1) * sizeof(float));
    cand_t *heap = trib_aligned_alloc(TRIB_ALIGN, K * sizeof(cand_t));
    if (!U || !S || !heap) {
        rc = trib_errorf(TRIB_ERR_NOMEM, "mf top-K: cannot allocate scores for %zu users x %zu items", block, ni);
        goto done;
    }
    for (size_t u0 = 0; u0 < n_users; u0 += block) {
        size_t b = n_users - u0 < block ? n_users - u0 : block;
        if (ni > 0)
            score_block(m, users + u0, b, U, S);
        for (size_t u = 0; u < b; u++) {
            uint32_t row = users[u0 + u];
            const uint32_t *excl = NULL;
            size_t n_excl = 0;
            if (exclude) {
                excl = exclude->items + exclude->offsets[row];
                n_excl = exclude->offsets[row + 1] - exclude->offsets[row];
            }
            select_user(S + u * ni, ni, K, excl, n_excl, heap, out_items + (u0 + u) * K,
                        out_scores ? out_scores + (u0 + u) * K : NULL);
        }
    }
done:
    trib_aligned_free(U);
    trib_aligned_free(S);
    trib_aligned_free(heap);
    return rc;
}

/* ------------------------------------------------------------------ ranking metrics */

/* Whether item is in the ascending list a[0..n) (binary search). */
static int contains(const uint32_t *a, size_t n, uint32_t item)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < item)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == item;
}

void trib_mf_rank_metrics_add(trib_mf_rank_sums_t *s, const uint32_t *top, size_t K, const uint32_t *relevant,
                              size_t n_relevant)
{
    if (!s || n_relevant == 0 || K == 0)
        return;
    size_t hits = 0;
    double dcg = 0.0, ideal = 0.0;
    for (size_t j = 0; j < K; j++) {
        double gain = 1.0 / log2((double)j + 2.0);
        if (top[j] != TRIB_MF_NO_ITEM && contains(relevant, n_relevant, top[j])) {
            hits++;
            dcg += gain;
        }
        if (j < n_relevant)
            ideal += gain;
    }
    s->precision += (double)hits / (double)K;
    s->recall += (double)hits / (double)n_relevant;
    s->ndcg += dcg / ideal;
    s->users += 1.0;
}
