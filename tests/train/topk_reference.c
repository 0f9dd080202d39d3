/*
 * topk_reference.c - checks trib-recommend output against a brute-force ranking.
 *
 *   topk_reference MODEL EXCLUDE_DIR|- K RECS.tsv
 *
 * For every user in RECS.tsv (lines "user rank item score", original ids) it
 * scores every item in double precision straight from the model file
 * (mean + b_u + b_i + p_u . q_i), leaves out the items the user rated in
 * EXCLUDE_DIR, sorts, and checks: the user got min(K, candidates) items,
 * ranks are 1..n in order, items are distinct and not excluded, each printed
 * score matches the reference score of its item, and the item at rank j has
 * the reference's j-th best score (so ties may be ordered either way).
 * Prints the number of users checked; exit status 1 on the first mismatch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tributary/train.h"

static const trib_model_file_t *g_m;
static double *g_scores;

static int by_score_desc(const void *a, const void *b)
{
    double x = g_scores[*(const uint32_t *)a], y = g_scores[*(const uint32_t *)b];
    return x > y ? -1 : x < y ? 1 : 0;
}

static int fail(const char *user, const char *msg)
{
    fprintf(stderr, "topk_reference: user %s: %s\n", user, msg);
    return 1;
}

/* Checks the n recommendations of one user (items/scores in printed order). */
static int check_user(const char *uid, const uint32_t *items, const double *printed, size_t n, size_t K,
                      const uint8_t *excluded)
{
    uint32_t u;
    if (trib_idmap_lookup_text(g_m->user_ids, uid, strlen(uid), &u) != TRIB_OK)
        return fail(uid, "not in the model");
    const trib_mf_model_t *m = &g_m->model;
    size_t ni = m->items.n_rows, k = m->items.k, cand = 0;
    uint32_t *order = malloc(ni * sizeof *order);
    for (size_t i = 0; i < ni; i++) {
        double s = (double)m->mean + m->users.bias[u] + m->items.bias[i];
        for (size_t f = 0; f < k; f++)
            s += (double)trib_mf_row(&m->users, u)[f] * (double)trib_mf_row(&m->items, i)[f];
        g_scores[i] = s;
        if (!excluded[i])
            order[cand++] = (uint32_t)i;
    }
    qsort(order, cand, sizeof *order, by_score_desc);
    int bad = 0;
    if (n != (K < cand ? K : cand))
        bad = fail(uid, "wrong number of recommendations");
    for (size_t j = 0; !bad && j < n; j++) {
        double ref = g_scores[order[j]], got = g_scores[items[j]];
        double tol = 1e-4 * (1.0 + fabs(ref));
        if (excluded[items[j]])
            bad = fail(uid, "recommends an excluded (already rated) item");
        else if (fabs(got - ref) > tol)
            bad = fail(uid, "item at this rank does not have the reference score of this rank");
        else if (fabs(printed[j] - got) > tol)
            bad = fail(uid, "printed score differs from the reference score of the item");
        for (size_t i = 0; !bad && i < j; i++)
            if (items[i] == items[j])
                bad = fail(uid, "item recommended twice");
    }
    free(order);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: topk_reference MODEL EXCLUDE_DIR|- K RECS.tsv\n");
        return 2;
    }
    MPI_Init(&argc, &argv);
    static trib_model_file_t m;
    int rc = trib_model_file_read(argv[1], &m);
    if (rc != TRIB_OK) {
        fprintf(stderr, "topk_reference: %s\n", trib_last_error(rc));
        return 1;
    }
    g_m = &m;
    size_t nu = m.model.users.n_rows, ni = m.model.items.n_rows, K = (size_t)atol(argv[3]);
    trib_ratings_t r;
    trib_ratings_init(&r);
    if (strcmp(argv[2], "-") && (rc = trib_data_read_all(argv[2], &r)) != TRIB_OK) {
        fprintf(stderr, "topk_reference: %s\n", trib_last_error(rc));
        return 1;
    }
    g_scores = malloc(ni * sizeof *g_scores);
    uint8_t *excluded = malloc(ni);
    uint32_t *items = malloc((K + 1) * sizeof *items);
    double *printed = malloc((K + 1) * sizeof *printed);
    FILE *f = fopen(argv[4], "r");
    if (!f || !g_scores || !excluded || !items || !printed) {
        fprintf(stderr, "topk_reference: cannot open %s\n", argv[4]);
        return 1;
    }
    char line[1024], cur[256] = "", uid[256], iid[256];
    size_t n = 0, users = 0, rank;
    double score;
    int bad = 0;
    for (;;) {
        int eof = !fgets(line, sizeof line, f);
        if (!eof && line[0] == '#')
            continue;
        if (!eof && sscanf(line, "%255s %zu %255s %lf", uid, &rank, iid, &score) != 4) {
            bad = fail("?", "malformed line");
            break;
        }
        if ((eof || strcmp(uid, cur)) && cur[0]) {
            uint32_t u;
            memset(excluded, 0, ni);
            if (trib_idmap_lookup_text(m.user_ids, cur, strlen(cur), &u) == TRIB_OK)
                for (size_t i = 0; i < r.n; i++)
                    if (r.user[i] == u)
                        excluded[r.item[i]] = 1;
            if ((bad = check_user(cur, items, printed, n, K, excluded)))
                break;
            users++;
            n = 0;
        }
        if (eof)
            break;
        snprintf(cur, sizeof cur, "%s", uid);
        if (rank != n + 1 || n >= K) {
            bad = fail(uid, "ranks are not 1, 2, ... K in order");
            break;
        }
        if (trib_idmap_lookup_text(m.item_ids, iid, strlen(iid), &items[n]) != TRIB_OK) {
            bad = fail(uid, "unknown item id");
            break;
        }
        printed[n++] = score;
    }
    fclose(f);
    (void)nu;
    if (!bad)
        printf("topk_reference: %zu users match the brute-force ranking\n", users);
    trib_ratings_free(&r);
    free(g_scores);
    free(excluded);
    free(items);
    free(printed);
    trib_model_file_free(&m);
    MPI_Finalize();
    return bad || users == 0;
}
