/*
 * trib-recommend - top-K items per user from a trained model, and ranking
 * metrics on a held-out set.
 *
 *   trib-recommend --model model.h5 --users 1,2,3 --top 10 [--exclude-rated DIR] [--output FILE]
 *   mpirun -np 4 trib-recommend --model model.h5 --all-users --top 10 --output recs.tsv
 *   mpirun -np 4 trib-recommend --model model.h5 --eval TEST --top 10 [--exclude-rated TRAIN]
 *
 * Users and items are named by their original ids.  Scores are the model's
 * unclipped predicted ratings, computed by trib_mf_topk (blocks of users x all
 * items with sgemm, a bounded heap per user).  With several ranks, users are
 * split into contiguous ranges (rank r takes [r*n/P, (r+1)*n/P)); rank 0
 * collects the text of every range in rank order, so the output is in user
 * order, and writes it to --output atomically (temporary name, fsync,
 * rename) or to standard output.  Output: one line per recommendation,
 * "user<TAB>rank<TAB>item<TAB>score", after a "# user rank item score" header.
 *
 * --eval: for every user with held-out ratings, the top K (training items
 * excluded with --exclude-rated) against the held-out items (binary
 * relevance); precision@K, recall@K and NDCG@K are averaged over those users
 * (sums combined across ranks).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"
#include "tributary/tributary.h"
#include "tributary/train.h"

#define USER_BLOCK 2048 /* users scored per trib_mf_topk call */
#define SEND_TAG 7501

static int g_rank, g_size;

static const char usage_text[] =
    "Usage: trib-recommend --model FILE (--users ID,ID,... | --all-users | --eval DIR) [options]\n"
    "Top-K recommendations from a model written by trib-train (original user and item ids).\n\n";
static const char epilogue_text[] =
    "Output lines: user<TAB>rank<TAB>item<TAB>score (rank 1 = best).  Exit status: 0, 1 error, 2 bad usage.\n";

typedef struct {
    const char *model, *users, *exclude, *output, *eval;
    int all_users;
    size_t top;
    int help, version;
} options_t;

/* The options, one table; parsed on every rank, reported by rank 0. */
static int parse_options(int argc, char **argv, options_t *o)
{
    const trib_cli_opt_t opts[] = {
        {.name = "model", .kind = TRIB_CLI_STRING, .dst = &o->model, .arg = "FILE",
         .help = "model file (model.h5), required"},
        {.name = "users", .kind = TRIB_CLI_STRING, .dst = &o->users, .arg = "LIST",
         .help = "comma-separated original user ids"},
        {.name = "all-users", .kind = TRIB_CLI_FLAG, .dst = &o->all_users,
         .help = "every user of the model (split across MPI ranks, output in user order)"},
        {.name = "top", .kind = TRIB_CLI_SIZE, .dst = &o->top, .min = 1, .max = 100000, .arg = "K",
         .help = "items per user"},
        {.name = "exclude-rated", .kind = TRIB_CLI_STRING, .dst = &o->exclude, .arg = "DIR",
         .help = "leave out items the user rated in dataset DIR (e.g. the training set)"},
        {.name = "output", .kind = TRIB_CLI_STRING, .dst = &o->output, .arg = "FILE",
         .help = "write recommendations to FILE (atomically) instead of standard output"},
        {.name = "eval", .kind = TRIB_CLI_STRING, .dst = &o->eval, .arg = "DIR",
         .help = "report precision@K, recall@K and NDCG@K against held-out dataset DIR"},
        {0}};
    trib_cli_t cli = {.usage = usage_text, .opts = opts, .epilogue = epilogue_text};
    o->top = 10;
    int rc = trib_cli_parse(&cli, argc, argv);
    o->help = cli.help;
    o->version = cli.version;
    if (!rc && o->help && trib_cli_reporting())
        trib_cli_print_help(&cli);
    trib_cli_free(&cli);
    if (rc || o->help || o->version)
        return rc;
    if (!o->model)
        return trib_cli_usage("--model FILE is required (see --help)");
    int modes = !!o->users + o->all_users + !!o->eval;
    if (modes != 1)
        return trib_cli_usage("give exactly one of --users LIST, --all-users or --eval DIR");
    if (o->eval && o->output)
        return trib_cli_usage("--output applies to recommendations, not to --eval");
    return 0;
}

/* Every rank returns OK, or the status and message of the lowest failing rank (printed by rank 0). */
static int agree(int rc)
{
    return trib_agree(MPI_COMM_WORLD, rc);
}

/* ------------------------------------------------------------------ rated items (CSR by user row) */

typedef struct {
    size_t *offsets;  /* n_users + 1 */
    uint32_t *items;  /* sorted per user */
} csr_t;

static void csr_free(csr_t *c)
{
    free(c->offsets);
    free(c->items);
    c->offsets = NULL;
    c->items = NULL;
}

/* Reads dataset DIR (must share the model's id space) into per-user sorted item lists. */
static int load_csr(const char *opt, const char *dir, const trib_model_file_t *m, csr_t *out)
{
    memset(out, 0, sizeof *out);
    trib_dataset_t *ds;
    int rc = trib_dataset_open(dir, &ds);
    if (rc != TRIB_OK)
        return trib_errorf(rc, "%s %s: %s", opt, dir, trib_last_error(rc));
    const trib_dataset_info_t *in = trib_dataset_info(ds);
    int same = in->idmap_fingerprint == m->idmap_fingerprint && in->n_users == m->model.users.n_rows &&
               in->n_items == m->model.items.n_rows;
    trib_dataset_close(ds);
    if (!same)
        return trib_errorf(TRIB_ERR_INCOMPATIBLE, "%s %s is from another id space than the model", opt, dir);
    trib_ratings_t r;
    trib_ratings_init(&r);
    rc = trib_data_read_all(dir, &r);
    if (rc == TRIB_OK)
        rc = trib_ratings_sort(&r, m->model.users.n_rows, m->model.items.n_rows);
    size_t nu = m->model.users.n_rows;
    if (rc == TRIB_OK) {
        out->offsets = calloc(nu + 1, sizeof *out->offsets);
        out->items = malloc((r.n ? r.n : 1) * sizeof *out->items);
        if (!out->offsets || !out->items)
            rc = trib_errorf(TRIB_ERR_NOMEM, "%s %s: out of memory", opt, dir);
    }
    if (rc == TRIB_OK) {
        for (size_t i = 0; i < r.n; i++) {
            out->offsets[r.user[i] + 1]++;
            out->items[i] = r.item[i];
        }
        for (size_t u = 0; u < nu; u++)
            out->offsets[u + 1] += out->offsets[u];
    }
    trib_ratings_free(&r);
    if (rc != TRIB_OK)
        csr_free(out);
    return rc;
}

/* ------------------------------------------------------------------ text output */

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} text_t;

static void text_printf(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(text_t *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0 || t->failed)
            return;
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 65536) + (size_t)n;
        char *nb = realloc(t->buf, cap);
        if (!nb) {
            t->failed = 1;
            return;
        }
        t->buf = nb;
        t->cap = cap;
    }
}

/* Recommendations for user rows users[0..n) appended to `out` as text. */
static int recommend_rows(const trib_model_file_t *m, const uint32_t *users, size_t n, size_t K,
                          const csr_t *excl, text_t *out)
{
    trib_mf_exclusion_t ex = {excl->offsets, excl->items};
    uint32_t *items = malloc(USER_BLOCK * K * sizeof *items);
    float *scores = malloc(USER_BLOCK * K * sizeof *scores);
    int rc = items && scores ? TRIB_OK : trib_errorf(TRIB_ERR_NOMEM, "out of memory for top-K results");
    for (size_t b = 0; rc == TRIB_OK && b < n; b += USER_BLOCK) {
        size_t nb = n - b < USER_BLOCK ? n - b : USER_BLOCK;
        rc = trib_mf_topk(&m->model, users + b, nb, K, excl->offsets ? &ex : NULL, items, scores);
        for (size_t u = 0; rc == TRIB_OK && u < nb; u++) {
            char uid[256], iid[256];
            trib_idmap_format(m->user_ids, users[b + u], uid, sizeof uid);
            for (size_t j = 0; j < K; j++) {
                uint32_t it = items[u * K + j];
                if (it == TRIB_MF_NO_ITEM)
                    break;
                trib_idmap_format(m->item_ids, it, iid, sizeof iid);
                text_printf(out, "%s\t%zu\t%s\t%.6f\n", uid, j + 1, iid, (double)scores[u * K + j]);
            }
        }
    }
    if (rc == TRIB_OK && out->failed)
        rc = trib_errorf(TRIB_ERR_NOMEM, "out of memory formatting recommendations");
    free(items);
    free(scores);
    return rc;
}

/* Rank 0 receives every other rank's text in rank order and appends it to its own. */
static int gather_text(text_t *t)
{
    if (g_rank != 0) {
        unsigned long long len = t->failed ? ULLONG_MAX : t->len;
        MPI_Send(&len, 1, MPI_UNSIGNED_LONG_LONG, 0, SEND_TAG, MPI_COMM_WORLD);
        for (size_t off = 0; !t->failed && off < t->len; off += INT_MAX / 2) {
            size_t c = t->len - off < INT_MAX / 2 ? t->len - off : INT_MAX / 2;
            MPI_Send(t->buf + off, (int)c, MPI_CHAR, 0, SEND_TAG, MPI_COMM_WORLD);
        }
        return TRIB_OK;
    }
    int rc = TRIB_OK;
    for (int r = 1; r < g_size; r++) {
        unsigned long long len;
        MPI_Recv(&len, 1, MPI_UNSIGNED_LONG_LONG, r, SEND_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (len == ULLONG_MAX) {
            rc = trib_errorf(TRIB_ERR_NOMEM, "rank %d ran out of memory", r);
            continue;
        }
        if (t->len + len + 1 > t->cap) {
            char *nb = realloc(t->buf, t->len + len + 1);
            if (!nb)
                return trib_errorf(TRIB_ERR_NOMEM, "out of memory collecting recommendations");
            t->buf = nb;
            t->cap = t->len + len + 1;
        }
        for (size_t off = 0; off < len; off += INT_MAX / 2) {
            size_t c = len - off < INT_MAX / 2 ? len - off : INT_MAX / 2;
            MPI_Recv(t->buf + t->len + off, (int)c, MPI_CHAR, r, SEND_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        }
        t->len += len;
    }
    return rc;
}

/* Writes the text to stdout or, atomically, to path. */
static int write_output(const char *path, const text_t *t)
{
    if (!path) {
        fwrite(t->buf, 1, t->len, stdout);
        return fflush(stdout) == 0 ? TRIB_OK : trib_errorf(TRIB_ERR_IO, "cannot write standard output");
    }
    int rc = trib_file_write_atomic(path, t->buf, t->len);
    return rc == TRIB_OK ? rc : trib_errorf(rc, "--output %s: %s", path, trib_last_error(rc));
}

/* ------------------------------------------------------------------ modes */

/* --users LIST: rank 0 looks every id up (an unknown id is an error naming it). */
static int parse_user_list(const char *list, const trib_model_file_t *m, uint32_t **rows, size_t *n)
{
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    *rows = malloc(cap * sizeof **rows);
    if (!*rows)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory");
    *n = 0;
    for (const char *p = list;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0)
            return trib_errorf(TRIB_ERR_INVALID_ARG, "--users: empty id in '%s'", list);
        if (trib_idmap_lookup_text(m->user_ids, p, len, &(*rows)[*n]) != TRIB_OK)
            return trib_errorf(TRIB_ERR_NOT_FOUND, "--users: user '%.*s' is not in the model", (int)len, p);
        (*n)++;
        if (!e)
            break;
        p = e + 1;
    }
    return TRIB_OK;
}

static int run_recommend(const options_t *o, const trib_model_file_t *m, const csr_t *excl)
{
    uint32_t *rows = NULL;
    size_t n = 0;
    int rc = TRIB_OK;
    if (o->users) {
        if (g_rank == 0)
            rc = parse_user_list(o->users, m, &rows, &n);
    } else {
        size_t nu = m->model.users.n_rows;
        size_t first = nu * (size_t)g_rank / (size_t)g_size, end = nu * (size_t)(g_rank + 1) / (size_t)g_size;
        rows = malloc((end - first + 1) * sizeof *rows);
        if (!rows)
            rc = trib_errorf(TRIB_ERR_NOMEM, "out of memory");
        for (size_t u = first; rc == TRIB_OK && u < end; u++)
            rows[n++] = (uint32_t)u;
    }
    text_t text = {0};
    if (g_rank == 0)
        text_printf(&text, "# user\trank\titem\tscore\n");
    if (rc == TRIB_OK)
        rc = recommend_rows(m, rows, n, o->top, excl, &text);
    free(rows);
    rc = agree(rc);
    if (rc == TRIB_OK)
        rc = gather_text(&text);
    if (rc == TRIB_OK && g_rank == 0)
        rc = write_output(o->output, &text);
    free(text.buf);
    return agree(rc);
}

static int run_eval(const options_t *o, const trib_model_file_t *m, const csr_t *excl)
{
    csr_t held;
    int rc = agree(load_csr("--eval", o->eval, m, &held));
    if (rc != TRIB_OK)
        return rc;
    size_t nu = m->model.users.n_rows, K = o->top;
    size_t first = nu * (size_t)g_rank / (size_t)g_size, end = nu * (size_t)(g_rank + 1) / (size_t)g_size;
    uint32_t *rows = malloc((end - first + 1) * sizeof *rows);
    uint32_t *top = malloc(USER_BLOCK * K * sizeof *top);
    size_t n = 0;
    if (!rows || !top)
        rc = trib_errorf(TRIB_ERR_NOMEM, "out of memory");
    for (size_t u = first; rc == TRIB_OK && u < end; u++)
        if (held.offsets[u + 1] > held.offsets[u])
            rows[n++] = (uint32_t)u;
    trib_mf_rank_sums_t sums = {0, 0, 0, 0};
    trib_mf_exclusion_t ex = {excl->offsets, excl->items};
    for (size_t b = 0; rc == TRIB_OK && b < n; b += USER_BLOCK) {
        size_t nb = n - b < USER_BLOCK ? n - b : USER_BLOCK;
        rc = trib_mf_topk(&m->model, rows + b, nb, K, excl->offsets ? &ex : NULL, top, NULL);
        for (size_t i = 0; rc == TRIB_OK && i < nb; i++) {
            uint32_t u = rows[b + i];
            trib_mf_rank_metrics_add(&sums, top + i * K, K, held.items + held.offsets[u],
                                     held.offsets[u + 1] - held.offsets[u]);
        }
    }
    free(rows);
    free(top);
    csr_free(&held);
    rc = agree(rc);
    if (rc != TRIB_OK)
        return rc;
    double v[4] = {sums.precision, sums.recall, sums.ndcg, sums.users}, g[4];
    MPI_Allreduce(v, g, 4, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (g_rank == 0) {
        double users = g[3] > 0 ? g[3] : NAN;
        printf("eval: %.0f users with held-out items, K %zu%s\n", g[3], K,
               excl->offsets ? ", rated training items excluded" : "");
        printf("precision@%zu %.6f\nrecall@%zu %.6f\nndcg@%zu %.6f\n", K, g[0] / users, K, g[1] / users, K,
               g[2] / users);
        fflush(stdout);
    }
    return TRIB_OK;
}

static int run(const options_t *o)
{
    trib_model_file_t m;
    int rc = agree(trib_model_file_read(o->model, &m));
    if (rc != TRIB_OK)
        return rc;
    csr_t excl = {0};
    if (o->exclude)
        rc = agree(load_csr("--exclude-rated", o->exclude, &m, &excl));
    if (rc == TRIB_OK && o->output && g_rank == 0) {
        /* fail before any work when the output cannot be created */
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", o->output, (long)getpid());
        FILE *f = fopen(tmp, "w");
        if (!f)
            rc = trib_errorf(TRIB_ERR_IO, "--output %s: cannot create: %s", o->output, strerror(errno));
        else {
            fclose(f);
            unlink(tmp);
        }
    }
    if (o->output)
        rc = agree(rc);
    if (rc == TRIB_OK)
        rc = o->eval ? run_eval(o, &m, &excl) : run_recommend(o, &m, &excl);
    csr_free(&excl);
    trib_model_file_free(&m);
    return rc;
}

int main(int argc, char **argv)
{
    trib_cli_prog = "trib-recommend";
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        trib_cli_error(trib_cli_prog, "MPI_Init failed");
        return 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    trib_cli_report_rank0(MPI_COMM_WORLD);
    options_t o;
    memset(&o, 0, sizeof o);
    int code = parse_options(argc, argv, &o);
    if (code == 0 && (o.help || o.version)) {
        if (g_rank == 0 && o.version)
            printf("trib-recommend %s (%s)\n", trib_version_string(), trib_build_info());
    } else if (code == 0) {
        int rc = run(&o);
        if (rc != TRIB_OK && g_rank == 0)
            trib_cli_error(trib_cli_prog, "%s", trib_last_error(rc));
        code = rc == TRIB_OK ? 0 : 1;
    }
    MPI_Finalize();
    return code;
}
