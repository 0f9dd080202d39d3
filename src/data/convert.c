/*
 * convert.c - text file -> dataset.
 *
 *   map the file (mmap; read() for pipes), parse it (text_parse.c) into
 *   provisional ids, give ids their dense numbers (sorted original ids, or the
 *   maps of --ids-from), sort by (user, item) keeping input order among equal
 *   pairs, reject or drop duplicate pairs, then write a temporary directory
 *   and rename it into place (writer.c, outdir.c).
 *
 * Progress is reported as one overall fraction: parsing 0-70%, ids and
 * sorting 70-80%, writing 80-100%.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/timer.h"
#include "data/internal.h"

TRIB_HIDDEN int trib_text_parse_progress(const char *buf, size_t len, const trib_text_opts_t *opts,
                                         trib_text_result_t *out, trib_data_progress_fn fn, void *arg);
TRIB_HIDDEN uint64_t trib_text_record_line(const char *buf, size_t len, const trib_text_opts_t *opts,
                                           uint64_t record);

typedef struct {
    const char *buf;
    size_t len;
    int mapped;
} input_t;

static int input_open(const char *path, input_t *in)
{
    memset(in, 0, sizeof *in);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return trib_errorf(errno == ENOENT ? TRIB_ERR_NOT_FOUND : TRIB_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = TRIB_OK;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if (st.st_size == 0) {
            rc = trib_errorf(TRIB_ERR_FORMAT, "%s: no ratings found (empty input)", path);
        } else {
            void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
            if (p == MAP_FAILED) {
                rc = trib_errorf(TRIB_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
            } else {
                madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
                in->buf = p;
                in->len = (size_t)st.st_size;
                in->mapped = 1;
            }
        }
    } else { /* pipe or device: read it all */
        size_t cap = 1 << 20, len = 0;
        char *b = malloc(cap);
        for (ssize_t got; b; len += (size_t)got) {
            if (len == cap) {
                char *nb = realloc(b, cap *= 2);
                if (!nb) {
                    free(b);
                    b = NULL;
                    break;
                }
                b = nb;
            }
            got = read(fd, b + len, cap - len);
            if (got <= 0) {
                if (got < 0)
                    rc = trib_errorf(TRIB_ERR_IO, "%s: read failed: %s", path, strerror(errno));
                break;
            }
        }
        if (!b)
            rc = trib_errorf(TRIB_ERR_NOMEM, "%s: out of memory reading input", path);
        in->buf = b;
        in->len = len;
    }
    close(fd);
    return rc;
}

static void input_close(input_t *in)
{
    if (in->mapped)
        munmap((void *)in->buf, in->len);
    else
        free((void *)in->buf);
}

typedef struct {
    trib_data_progress_fn fn;
    void *arg;
    double base, span;
} progress_t;

static void scaled_progress(void *arg, const char *phase, double f)
{
    progress_t *p = arg;
    if (p->fn)
        p->fn(p->arg, phase, p->base + p->span * f);
}

/* Maps provisional ids to the dense ids of an existing map; unknown -> UINT32_MAX. */
static int map_onto(const trib_idmap_t *prov, const trib_idmap_t *target, uint32_t **dense_of, uint64_t *unknown)
{
    uint32_t *d = malloc((prov->n ? prov->n : 1) * sizeof *d);
    if (!d)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory mapping ids");
    *unknown = 0;
    for (size_t i = 0; i < prov->n; i++) {
        char text[4200];
        int len = trib_idmap_format(prov, (uint32_t)i, text, sizeof text);
        if (len < 0 || trib_idmap_lookup_text(target, text, (size_t)len, &d[i]) != TRIB_OK) {
            d[i] = UINT32_MAX;
            (*unknown)++;
        }
    }
    *dense_of = d;
    return TRIB_OK;
}

/* Applies id remaps and drops ratings whose user or item is unknown (UINT32_MAX). */
static uint64_t remap_and_drop(trib_ratings_t *r, const uint32_t *user_of, const uint32_t *item_of)
{
    size_t w = 0;
    for (size_t i = 0; i < r->n; i++) {
        uint32_t u = user_of[r->user[i]], it = item_of[r->item[i]];
        if (u == UINT32_MAX || it == UINT32_MAX)
            continue;
        r->user[w] = u;
        r->item[w] = it;
        r->rating[w] = r->rating[i];
        if (r->timestamp)
            r->timestamp[w] = r->timestamp[i];
        w++;
    }
    uint64_t dropped = r->n - w;
    r->n = w;
    return dropped;
}

/*
 * Sorts by (user, item) and handles duplicates: an error naming both lines, or
 * (skip_bad) keep the first occurrence in file order and count the rest.
 * `record_of` maps a sorted position back to the parse order (for line numbers);
 * it is only meaningful when no rating was dropped before sorting.
 */
static int sort_and_dedupe(trib_ratings_t *r, uint64_t n_users, uint64_t n_items, const input_t *in,
                           const trib_text_opts_t *topts, int can_name_lines, uint64_t *dups)
{
    *dups = 0;
    uint32_t *perm = NULL;
    int rc = TRIB_OK;
    if (!trib_ratings_is_sorted(r)) {
        perm = malloc((r->n ? r->n : 1) * sizeof *perm);
        if (!perm)
            return trib_errorf(TRIB_ERR_NOMEM, "out of memory sorting %zu ratings", r->n);
        rc = trib_sort_perm_user_item(r->user, r->item, r->n, n_users, n_items, perm);
        if (rc == TRIB_OK)
            rc = trib_ratings_permute(r, perm);
    }
    size_t w = r->n ? 1 : 0;
    for (size_t i = 1; rc == TRIB_OK && i < r->n; i++) {
        if (r->user[i] == r->user[w - 1] && r->item[i] == r->item[w - 1]) {
            if (!topts->skip_bad) {
                uint64_t a = perm ? perm[i - 1] : i - 1, b = perm ? perm[i] : i;
                const char *file = topts->file_name ? topts->file_name : "<buffer>";
                if (can_name_lines)
                    rc = trib_errorf(TRIB_ERR_FORMAT,
                                     "%s:%" PRIu64 ": duplicate rating for the same (user, item) as line %" PRIu64
                                     " (use --skip-bad to keep the first)",
                                     file, trib_text_record_line(in->buf, in->len, topts, b),
                                     trib_text_record_line(in->buf, in->len, topts, a));
                else
                    rc = trib_errorf(TRIB_ERR_FORMAT, "%s: duplicate rating for the same (user, item) pair", file);
                break;
            }
            (*dups)++;
            continue;
        }
        r->user[w] = r->user[i];
        r->item[w] = r->item[i];
        r->rating[w] = r->rating[i];
        if (r->timestamp)
            r->timestamp[w] = r->timestamp[i];
        w++;
    }
    if (rc == TRIB_OK)
        r->n = w;
    free(perm);
    return rc;
}

static int assign_dense_ids(trib_text_result_t *t, const trib_dataset_t *from, trib_convert_report_t *rep)
{
    uint32_t *user_of = NULL, *item_of = NULL;
    int rc;
    if (from) {
        rc = map_onto(t->users, from->users, &user_of, &rep->unknown_users);
        if (rc == TRIB_OK)
            rc = map_onto(t->items, from->items, &item_of, &rep->unknown_items);
    } else {
        rc = trib_idmap_sort(t->users, &user_of);
        if (rc == TRIB_OK)
            rc = trib_idmap_sort(t->items, &item_of);
    }
    if (rc == TRIB_OK)
        rep->dropped_unknown = remap_and_drop(&t->ratings, user_of, item_of);
    free(user_of);
    free(item_of);
    return rc;
}

int trib_data_convert(const char *input, const char *outdir, const trib_convert_opts_t *opts,
                      trib_convert_report_t *report)
{
    if (!input || !outdir || !opts)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_data_convert: NULL argument");
    double t0 = trib_now();
    trib_convert_report_t rep;
    memset(&rep, 0, sizeof rep);
    trib_text_opts_t topts = opts->text;
    if (!topts.file_name)
        topts.file_name = input;
    const trib_data_write_opts_t *w = &opts->write;
    progress_t prog = {w->progress, w->progress_arg, 0, 0.7};

    trib_dataset_t *from = NULL;
    char *tmp = NULL;
    input_t in;
    memset(&in, 0, sizeof in);
    trib_text_result_t t;
    memset(&t, 0, sizeof t);
    /* Refuse an existing output before doing any work. */
    int rc = trib_outdir_begin(outdir, w->force, &tmp);
    if (rc == TRIB_OK && opts->ids_from)
        rc = trib_dataset_open(opts->ids_from, &from);
    if (rc == TRIB_OK)
        rc = input_open(input, &in);
    if (rc == TRIB_OK)
        rc = trib_text_parse_progress(in.buf, in.len, &topts, &t, scaled_progress, &prog);
    if (rc == TRIB_OK) {
        rep.input_bytes = in.len;
        rep.lines = t.lines;
        rep.skipped_bad = t.skipped;
        rc = assign_dense_ids(&t, from, &rep);
    }
    uint64_t n_users = from ? from->info.n_users : trib_idmap_size(t.users);
    uint64_t n_items = from ? from->info.n_items : trib_idmap_size(t.items);
    if (rc == TRIB_OK && t.ratings.n == 0)
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: no ratings left (%" PRIu64 " dropped as unknown to %s)", input,
                         rep.dropped_unknown, opts->ids_from ? opts->ids_from : "the id maps");
    if (rc == TRIB_OK)
        rc = sort_and_dedupe(&t.ratings, n_users, n_items, &in, &topts, rep.dropped_unknown == 0, &rep.duplicates);
    if (rc == TRIB_OK && w->progress)
        w->progress(w->progress_arg, "sort", 0.8);
    if (rc == TRIB_OK) {
        char source[64];
        snprintf(source, sizeof source, "convert:%s", trib_text_format_name(topts.format));
        trib_write_meta_t meta = {source, 0, NAN, NAN, 0, 0};
        progress_t wprog = {w->progress, w->progress_arg, 0.8, 0.2};
        trib_data_write_opts_t wo = *w;
        wo.progress = scaled_progress;
        wo.progress_arg = &wprog;
        rc = trib_write_dataset_dir(tmp, &t.ratings, n_users, n_items, from ? from->users : t.users,
                                    from ? from->items : t.items, &meta, &wo, w->n_shards, w->partition);
    }
    if (rc == TRIB_OK) {
        rc = trib_outdir_commit(tmp, outdir, w->force);
        tmp = NULL;
    }
    trib_outdir_abort(tmp);
    rep.ratings = t.ratings.n;
    rep.n_users = n_users;
    rep.n_items = n_items;
    rep.seconds = trib_now() - t0;
    if (report)
        *report = rep;
    trib_text_result_free(&t);
    if (in.buf)
        input_close(&in);
    trib_dataset_close(from);
    return rc;
}
