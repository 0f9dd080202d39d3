/*
 * select.c - the one place that decides which algorithm runs.
 *
 * Precedence (first that applies):
 *   1. opts->algo when it is not AUTO (the caller asked for it);
 *   2. env TRIB_ALLREDUCE_ALGO (an operator's override of AUTO; a bad value
 *      is an error, not silently ignored);
 *   3. a tuning file (opts->tuning_file, else env TRIB_TUNING_FILE): the
 *      measured rule for this communicator size and message size;
 *   4. the built-in rules below.
 * The decision and the reason are logged at debug level.
 *
 * Built-in rules, from the alpha-beta-gamma model (alpha: per-message
 * latency, beta: per-byte transfer time, gamma: per-byte reduction time) of
 * the two algorithms that matter for AUTO on a network:
 *
 *   rd   (L rounds, L = log2 p, + 2 for the fold-in/out when p is not a
 *        power of two):           L alpha + L n beta + L n gamma
 *   ring:                         2(p-1) alpha + 2(p-1)/p n beta + (p-1)/p n gamma
 *
 * rd wins while n is small (fewer rounds), ring from the size where its
 * lower bandwidth term pays for its 2(p-1) rounds.  These rules only serve
 * ranks on several nodes (one node takes shm, several nodes of several
 * ranks take hier, which runs these rules across the nodes), so the constants
 * describe a network: alpha/beta = 32 KiB (a round over TCP costs 100 us of
 * wire delay plus the stack's tens of microseconds: ~250 us at 1 Gbit/s,
 * 8 ns per byte) and gamma = beta / 2 (a memory-bound reduction reads two
 * streams and writes one).  That puts the crossover at ~128 KiB for p = 2,
 * ~116 KiB for p = 4, ~156 KiB for p = 8 and 11-70 KiB for p = 3, 5, 6, 7,
 * where rd pays two extra full-vector rounds.  alpha/beta = 8 KiB (this
 * file's earlier value, a shared-memory figure) put the p = 4 crossover at
 * 29 KiB, so on the emulated cluster (4 nodes x 1 rank, 1 Gbit/s, 100 us)
 * auto ran ring, 6 latency-bound rounds, at 32 KiB, where rd needs 2 and the
 * tree 4 (tbf's 128 KB burst lets such messages through at memory speed, so
 * the rounds dominate).
 * The pipelined binomial tree is never cheaper than rd in this model (twice
 * the rounds and, at the root, log2 p times the bandwidth), so AUTO uses it
 * only when a measured tuning file says so.  When every rank shares one
 * node, the shared-memory algorithm replaces both (the measurements are in
 * shm.c, trib_coll_shm_preferred); on several nodes of more than one rank
 * each, hier does (trib_coll_builtin_rule_topo): from the model, it moves
 * 2(N-1)/N n bytes per node link in 2(N-1) rounds at most where a flat ring
 * moves 2(NM-1)/(NM) n in 2(NM-1) rounds, so it is never the slower one
 * there; not yet measured against the flat algorithms on such a layout.
 *
 * Non-commutative operations (a user op created with commute = 0) must be
 * applied in rank order, x0 (+) x1 (+) ... (+) x_p-1.  Tree, rd, shm and mpi
 * do that (each file documents its order); ring does not (block b is
 * reduced starting at rank b), nor hier (node by node, then across nodes).
 * So for such an op, wherever the rules above or a tuning file say ring or
 * hier, AUTO takes tree instead (pipelined like the ring, so the best of the
 * order-preserving ones for large vectors), and a forced ring or hier
 * (opts->algo or TRIB_ALLREDUCE_ALGO) is refused with
 * TRIB_ERR_UNSUPPORTED naming the algorithms that would serve the call
 * (on p > 1 ranks; one rank combines nothing).
 */
#include "coll/coll_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coll/tuning.h"
#include "core/log.h"

/* ------------------------------------------------------------------ environment */

static const char *const env_names[TRIB_COLL_ENV_N] = {"TRIB_ALLREDUCE_ALGO", "TRIB_TUNING_FILE", "TRIB_CHECK"};
static int env_frozen;
static char *env_copy[TRIB_COLL_ENV_N];

const char *trib_coll_getenv(trib_coll_env_t which)
{
    return env_frozen ? env_copy[which] : getenv(env_names[which]);
}

void trib_coll_env_freeze(void)
{
    if (env_frozen)
        return;
    for (int i = 0; i < TRIB_COLL_ENV_N; i++) {
        const char *v = getenv(env_names[i]);
        env_copy[i] = v ? strdup(v) : NULL; /* a failed copy reads as unset */
    }
    env_frozen = 1;
}

#define MODEL_ALPHA_OVER_BETA 32768.0 /* bytes */
#define MODEL_GAMMA_OVER_BETA 0.5

static int ceil_log2(int p)
{
    int l = 0;
    while ((1 << l) < p)
        l++;
    return l;
}

/* Model cost in units of beta (seconds per byte). */
static double cost_rd(double n, int p)
{
    int pof2 = 1;
    while (pof2 * 2 <= p)
        pof2 *= 2;
    double rounds = ceil_log2(pof2) + (pof2 != p ? 2 : 0);
    return rounds * (MODEL_ALPHA_OVER_BETA + n + MODEL_GAMMA_OVER_BETA * n);
}

static double cost_ring(double n, int p)
{
    double f = (double)(p - 1) / p;
    return 2.0 * (p - 1) * MODEL_ALPHA_OVER_BETA + 2.0 * f * n + f * MODEL_GAMMA_OVER_BETA * n;
}

trib_algo_t trib_coll_builtin_rule(size_t bytes, int p, int single_node, size_t *segment_bytes)
{
    *segment_bytes = 0;
    if (single_node && trib_coll_shm_preferred(bytes, p))
        return TRIB_ALGO_SHM;
    if (p <= 1)
        return TRIB_ALGO_RD;
    return cost_rd((double)bytes, p) <= cost_ring((double)bytes, p) ? TRIB_ALGO_RD : TRIB_ALGO_RING;
}

trib_algo_t trib_coll_builtin_rule_topo(size_t bytes, int p, const trib_coll_topo_t *topo, size_t *segment_bytes)
{
    *segment_bytes = 0;
    if (topo->nodes > 1 && topo->max_per_node > 1 && p > 1)
        return TRIB_ALGO_HIER;
    return trib_coll_builtin_rule(bytes, p, topo->nodes == 1, segment_bytes);
}

int trib_coll_order_preserving(trib_algo_t algo) { return algo != TRIB_ALGO_RING && algo != TRIB_ALGO_HIER; }

/* A forced algorithm that cannot keep rank order for a non-commutative op. */
static int refuse_unordered(trib_algo_t algo, const char *how)
{
    return trib_errorf(TRIB_ERR_UNSUPPORTED,
                       "allreduce: algorithm %s (%s) cannot serve a non-commutative operation: it does not combine "
                       "in rank order; tree, rd, shm (ranks on one node) or mpi would, and auto picks one",
                       trib_algo_name(algo), how);
}

static int select_any(size_t bytes, int p, const trib_coll_topo_t *topo, const trib_allreduce_opts_t *opts,
                      trib_algo_t *algo, size_t *segment_bytes);

int trib_coll_select(size_t bytes, int p, int single_node, int commutative, const trib_allreduce_opts_t *opts,
                     trib_algo_t *algo, size_t *segment_bytes)
{
    /* Layout unknown beyond "one node or not": never hier, no layout check of tuning files. */
    trib_coll_topo_t topo = {single_node ? 1 : 0, p, p};
    return trib_coll_select_topo(bytes, p, &topo, commutative, opts, algo, segment_bytes);
}

int trib_coll_select_topo(size_t bytes, int p, const trib_coll_topo_t *topo, int commutative,
                          const trib_allreduce_opts_t *opts, trib_algo_t *algo, size_t *segment_bytes)
{
    int rc = select_any(bytes, p, topo, opts, algo, segment_bytes);
    if (rc != TRIB_OK || commutative || p <= 1 || trib_coll_order_preserving(*algo))
        return rc;
    if (opts->algo != TRIB_ALGO_AUTO)
        return refuse_unordered(*algo, "requested");
    const char *env = trib_coll_getenv(TRIB_COLL_ENV_ALGO);
    if (env && *env && strcmp(env, "auto") != 0)
        return refuse_unordered(*algo, "TRIB_ALLREDUCE_ALGO");
    *algo = TRIB_ALGO_TREE;
    *segment_bytes = 0;
    trib_log(TRIB_LOG_DEBUG, "allreduce select: %zu bytes on %d ranks: tree (the operation is not commutative)",
             bytes, p);
    return TRIB_OK;
}

/* The choice for a commutative operation (the precedence at the top). */
/* "2 nodes x 4 ranks", "3 nodes of 1-4 ranks", "one node" into buf. */
static const char *layout_text(int nodes, int min_per_node, int max_per_node, char *buf, size_t cap)
{
    if (nodes == 1)
        snprintf(buf, cap, "one node");
    else if (min_per_node == max_per_node)
        snprintf(buf, cap, "%d nodes x %d rank%s", nodes, max_per_node, max_per_node == 1 ? "" : "s");
    else
        snprintf(buf, cap, "%d nodes of %d-%d ranks", nodes, min_per_node, max_per_node);
    return buf;
}

/*
 * A group measured on another layout is refused: one node against several,
 * or other ranks per node (the node count follows the communicator size,
 * which picks the group).  Unknown layouts (old files, topo->nodes == 0)
 * pass.
 */
static int check_layout(const char *path, const trib_tuning_rule_t *r, int p, const trib_coll_topo_t *topo)
{
    if (!r->layout_line || topo->nodes == 0)
        return TRIB_OK;
    int here_rpn = trib_coll_topo_uniform(topo);
    int same = (r->layout_nodes == 1) == (topo->nodes == 1) &&
               (topo->nodes == 1 || r->layout_ranks_per_node == here_rpn);
    if (same)
        return TRIB_OK;
    char file_l[64], here_l[64];
    int rpn = r->layout_ranks_per_node;
    return trib_errorf(TRIB_ERR_UNSUPPORTED,
                       "%s:%d: the rules for %d ranks were measured on %s; this communicator of %d ranks runs on %s: "
                       "measure a tuning file on this layout (trib-bench tune) or use the built-in rules (no tuning "
                       "file)",
                       path, r->layout_line, r->ranks,
                       layout_text(r->layout_nodes, rpn ? rpn : 1, rpn ? rpn : 2, file_l, sizeof file_l), p,
                       layout_text(topo->nodes, topo->min_per_node, topo->max_per_node, here_l, sizeof here_l));
}

static int select_any(size_t bytes, int p, const trib_coll_topo_t *topo, const trib_allreduce_opts_t *opts,
                      trib_algo_t *algo, size_t *segment_bytes)
{
    int single_node = topo->nodes == 1;
    *segment_bytes = 0;
    if (opts->algo != TRIB_ALGO_AUTO) {
        *algo = opts->algo;
        return TRIB_OK;
    }
    const char *env = trib_coll_getenv(TRIB_COLL_ENV_ALGO);
    if (env && *env) {
        trib_algo_t a;
        char list[96];
        if (trib_algo_parse(env, &a) != TRIB_OK)
            return trib_errorf(TRIB_ERR_INVALID_ARG, "TRIB_ALLREDUCE_ALGO=%s is not an algorithm (use %s)", env,
                               trib_coll_algo_list(0, list, sizeof list));
        if (a != TRIB_ALGO_AUTO) {
            *algo = a;
            trib_log(TRIB_LOG_DEBUG, "allreduce select: %s (env TRIB_ALLREDUCE_ALGO)", trib_algo_name(a));
            return TRIB_OK;
        }
    }
    const char *path = opts->tuning_file;
    if (!path || !*path)
        path = trib_coll_getenv(TRIB_COLL_ENV_TUNING_FILE);
    if (path && *path) {
        const trib_tuning_t *t;
        int rc = trib_tuning_get(path, &t);
        if (rc != TRIB_OK)
            return rc;
        const trib_tuning_rule_t *r = trib_tuning_lookup(t, p, bytes);
        if ((rc = check_layout(path, r, p, topo)) != TRIB_OK)
            return rc;
        *algo = r->algo;
        *segment_bytes = r->segment_bytes;
        if (*algo == TRIB_ALGO_SHM && !single_node) {
            /* A file measured on one node, used across nodes: shm cannot run here. */
            *algo = trib_coll_builtin_rule(bytes, p, 0, segment_bytes);
            trib_log(TRIB_LOG_DEBUG, "allreduce select: %zu bytes on %d ranks: %s:%d says shm, but the ranks "
                     "span several nodes; built-in rule: %s", bytes, p, path, r->line, trib_algo_name(*algo));
            return TRIB_OK;
        }
        trib_log(TRIB_LOG_DEBUG, "allreduce select: %zu bytes on %d ranks: %s (segment %zu) by %s:%d", bytes, p,
                 trib_algo_name(*algo), *segment_bytes, path, r->line);
        return TRIB_OK;
    }
    *algo = topo->nodes > 0 ? trib_coll_builtin_rule_topo(bytes, p, topo, segment_bytes)
                            : trib_coll_builtin_rule(bytes, p, 0, segment_bytes);
    if (trib_log_enabled(TRIB_LOG_DEBUG)) /* every call comes here: not even the call when not logging */
        trib_log(TRIB_LOG_DEBUG, "allreduce select: %zu bytes on %d ranks on %d node(s) of %d-%d: %s (built-in rule)",
                 bytes, p, topo->nodes, topo->min_per_node, topo->max_per_node, trib_algo_name(*algo));
    return TRIB_OK;
}
