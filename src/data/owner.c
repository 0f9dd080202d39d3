/*
 * owner.c - which rank owns which user.
 *
 * Choice: contiguous user ranges cut at equal cumulative rating counts of the
 * TRAIN set (trib_range_cuts(), the same rule as range sharding), rather than
 * a hash of the user id.  Reasons:
 *   - balance of the work that matters: SGD time is proportional to ratings,
 *     not users; with power-law activity a hash balances users but leaves rank
 *     loads as uneven as the heaviest users happen to collide.  Cuts at equal
 *     cumulative counts are off by at most one user's count per rank;
 *   - a rank's users are one block [first, end), so its user factors are one
 *     contiguous array indexed by (u - first), and the owner of a user is a
 *     binary search over P+1 numbers;
 *   - the map is a pure function of (per-user counts, P): every rank computes
 *     the same map, and a test set read with the train set's map gives every
 *     rank the same users.
 * The imbalance (max load / mean load) is reported by trib-data inspect and
 * by trib_data_owner_imbalance().
 */
#include <stdlib.h>
#include <string.h>

#include "data/internal.h"

struct trib_owner_map {
    int nparts;
    uint64_t n_users;
    uint64_t idmap_fp;
    uint32_t *first; /* nparts + 1 */
    uint64_t *load;  /* nparts */
};

int trib_data_owner_map_create(const uint64_t *user_counts, uint64_t n_users, int nparts, uint64_t idmap_fp,
                               trib_owner_map_t **out)
{
    if (!out || (!user_counts && n_users))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "owner map: NULL argument");
    if (nparts < 1)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "owner map: %d parts (need >= 1)", nparts);
    if (n_users >= UINT32_MAX)
        return trib_errorf(TRIB_ERR_RANGE, "owner map: %llu users beyond the uint32 id space",
                           (unsigned long long)n_users);
    trib_owner_map_t *m = calloc(1, sizeof *m);
    if (m) {
        m->first = malloc(((size_t)nparts + 1) * sizeof *m->first);
        m->load = calloc((size_t)nparts, sizeof *m->load);
    }
    if (!m || !m->first || !m->load) {
        trib_data_owner_map_destroy(m);
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory building an owner map");
    }
    m->nparts = nparts;
    m->n_users = n_users;
    m->idmap_fp = idmap_fp;
    trib_range_cuts(user_counts, n_users, (uint32_t)nparts, m->first);
    for (int r = 0; r < nparts; r++)
        for (uint64_t u = m->first[r]; u < m->first[r + 1]; u++)
            m->load[r] += user_counts[u];
    *out = m;
    return TRIB_OK;
}

int trib_data_owner_map_from_dataset(const trib_dataset_t *train, int nparts, trib_owner_map_t **out)
{
    if (!train)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "owner map: NULL dataset");
    return trib_data_owner_map_create(train->user_counts, train->info.n_users, nparts,
                                      train->info.idmap_fingerprint, out);
}

void trib_data_owner_map_destroy(trib_owner_map_t *m)
{
    if (!m)
        return;
    free(m->first);
    free(m->load);
    free(m);
}

int trib_data_owner(const trib_owner_map_t *m, uint32_t user)
{
    /* largest r with first[r] <= user (empty ranges skipped by taking the last) */
    int lo = 0, hi = m->nparts - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (m->first[mid] <= user)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

void trib_data_owner_range(const trib_owner_map_t *m, int rank, uint32_t *first, uint32_t *end)
{
    if (rank < 0 || rank >= m->nparts) {
        *first = *end = 0;
        return;
    }
    *first = m->first[rank];
    *end = m->first[rank + 1];
}

int trib_data_owner_map_nparts(const trib_owner_map_t *m) { return m->nparts; }
uint64_t trib_data_owner_map_n_users(const trib_owner_map_t *m) { return m->n_users; }

uint64_t trib_data_owner_load(const trib_owner_map_t *m, int rank)
{
    return rank >= 0 && rank < m->nparts ? m->load[rank] : 0;
}

double trib_data_owner_imbalance(const trib_owner_map_t *m)
{
    uint64_t total = 0, max = 0;
    for (int r = 0; r < m->nparts; r++) {
        total += m->load[r];
        max = m->load[r] > max ? m->load[r] : max;
    }
    return total ? (double)max * m->nparts / (double)total : 0.0;
}

uint64_t trib_owner_map_idmap_fp(const trib_owner_map_t *m) { return m->idmap_fp; }
