/*
 * text_parse.c - MovieLens and delimited-text rating parser.
 *
 * Works on a byte buffer with an explicit length (no NUL needed: the file is
 * mmap'ed, the fuzzer passes arbitrary bytes).  Per line: memchr finds the end
 * of line, the line is split at the delimiter ("\t", "::", "," or --delimiter),
 * and each field is parsed by a strict hand-written routine (integers with
 * overflow checks; decimals as mantissa * 10^e with one exact double operation
 * when the mantissa has <= 19 digits and |e| <= 22, strtod on a bounded copy
 * otherwise).  Any problem becomes "FILE:LINE: field: what was wrong"; with
 * skip_bad the line is counted and skipped instead.
 *
 * Ids go straight into two id maps (order of first appearance); consecutive
 * lines of the same user (the usual file order) skip the user lookup.  In the
 * csv format, the first id that is not an integer switches that column to
 * string ids; integer-looking ids are then keyed by their canonical decimal
 * text, so "007" and "7" are the same id in both modes.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/internal.h"

enum { F_USER, F_ITEM, F_RATING, F_TIME };
static const char *field_names[] = {"user", "item", "rating", "timestamp"};

typedef struct {
    const trib_text_opts_t *o;
    const char *file;
    char delim[3];
    size_t dlen;
    int min_fields, max_fields, n_fields; /* n_fields: fixed by the first data line */
    int string_ids[2];                    /* per id column: switched to strings */
    uint32_t *direct[2];                  /* per id column: small non-negative id -> index + 1 */
    size_t direct_cap[2];
    trib_text_result_t *out;
    size_t cap;
    uint64_t line;
    int have_last_user;
    int64_t last_user;
    uint32_t last_user_idx;
    uint64_t stop_record; /* re-parse mode: stop when this record is reached */
    uint64_t stop_line;
    trib_data_progress_fn progress;
    void *progress_arg;
} parser_t;

/* ---------------------------------------------------------------- field parsers */

typedef enum { NUM_OK, NUM_SYNTAX, NUM_OVERFLOW } num_rc_t;

static num_rc_t parse_i64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == n)
        return NUM_SYNTAX;
    uint64_t v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9)
            return NUM_SYNTAX;
        if (v > (UINT64_MAX - d) / 10)
            v = UINT64_MAX; /* keep scanning: a later non-digit is a syntax error */
        else
            v = v * 10 + d;
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return NUM_OVERFLOW;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return NUM_OK;
}

static const double pow10_tab[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_nonfinite_word(const char *s, size_t n)
{
    size_t i = (n && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    const char *words[] = {"nan", "inf", "infinity"};
    for (int w = 0; w < 3; w++)
        if (n - i == strlen(words[w]) && strncasecmp(s + i, words[w], n - i) == 0)
            return 1;
    return 0;
}

/* Decimal number -> double.  NUM_SYNTAX for anything strtod would not fully accept as a finite decimal. */
static num_rc_t parse_decimal(const char *s, size_t n, double *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    uint64_t m = 0;
    int digits = 0, frac = 0, sig = 0;
    for (; i < n && (unsigned)(s[i] - '0') <= 9; i++, digits++) {
        if (sig < 19) {
            m = m * 10 + (unsigned)(s[i] - '0');
            sig += m != 0;
        } else {
            frac--; /* dropped integer digit: scale up */
        }
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && (unsigned)(s[i] - '0') <= 9; i++, digits++) {
            if (sig < 19) {
                m = m * 10 + (unsigned)(s[i] - '0');
                sig += m != 0;
                frac++;
            }
        }
    }
    if (digits == 0)
        return NUM_SYNTAX;
    int e = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            eneg = s[i++] == '-';
        if (i == n)
            return NUM_SYNTAX;
        for (; i < n && (unsigned)(s[i] - '0') <= 9; i++)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        e = eneg ? -e : e;
    }
    if (i != n)
        return NUM_SYNTAX;
    int e10 = e - frac;
    double v;
    if (m < (UINT64_C(1) << 53) && e10 >= -22 && e10 <= 22) {
        v = e10 < 0 ? (double)m / pow10_tab[-e10] : (double)m * pow10_tab[e10];
    } else { /* rare: long mantissa or large exponent */
        char tmp[128];
        if (n >= sizeof tmp)
            return NUM_SYNTAX;
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        v = fabs(strtod(tmp, NULL));
    }
    *out = neg ? -v : v;
    if (!isfinite(*out) || fabs(*out) > FLT_MAX)
        return NUM_OVERFLOW;
    return NUM_OK;
}

/* ---------------------------------------------------------------- errors */

/*
 * The first `max` bytes of tok with control bytes and DEL shown as \r, \t, \n or \xNN, so a
 * message about "3.5\r" does not print an invisible character.
 */
static void escape_token(char *out, size_t cap, const char *tok, size_t len, size_t max)
{
    size_t o = 0;
    for (size_t i = 0; i < len && i < max && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)tok[i];
        if (c == '\r' || c == '\t' || c == '\n')
            o += (size_t)snprintf(out + o, cap - o, "\\%c", c == '\r' ? 'r' : c == '\t' ? 't' : 'n');
        else if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

static int bad_line(parser_t *p, int field, const char *what, const char *tok, size_t toklen, int code)
{
    char msg[320], shown[168];
    if (field >= 0) {
        escape_token(shown, sizeof shown, tok, toklen, 40);
        snprintf(msg, sizeof msg, "%s:%" PRIu64 ": %s: %s '%s'", p->file, p->line, field_names[field], what, shown);
    } else
        snprintf(msg, sizeof msg, "%s:%" PRIu64 ": %s", p->file, p->line, what);
    if (p->o->skip_bad) {
        if (p->out->skipped++ == 0)
            snprintf(p->out->first_skipped, sizeof p->out->first_skipped, "%.*s",
                     (int)sizeof p->out->first_skipped - 1, msg);
        return TRIB_OK;
    }
    return trib_errorf(code, "%s", msg);
}

/* ---------------------------------------------------------------- storage */

static int grow_cap(parser_t *p, int with_ts, size_t cap);
static int grow_to(parser_t *p, size_t cap)
{
    p->cap = 0;
    return grow_cap(p, p->o->format != TRIB_TEXT_CSV, cap);
}

static int grow(parser_t *p, int with_ts)
{
    return grow_cap(p, with_ts, p->cap ? p->cap * 2 : 4096);
}

static int grow_cap(parser_t *p, int with_ts, size_t cap)
{
    trib_ratings_t *r = &p->out->ratings;
    uint32_t *u = realloc(r->user, cap * sizeof *u);
    if (u)
        r->user = u;
    uint32_t *it = realloc(r->item, cap * sizeof *it);
    if (it)
        r->item = it;
    float *v = realloc(r->rating, cap * sizeof *v);
    if (v)
        r->rating = v;
    int64_t *t = with_ts ? realloc(r->timestamp, cap * sizeof *t) : NULL;
    if (t)
        r->timestamp = t;
    if (!u || !it || !v || (with_ts && !t))
        return trib_errorf(TRIB_ERR_NOMEM, "%s: out of memory after %zu ratings", p->file, r->n);
    p->cap = cap;
    return TRIB_OK;
}

/*
 * Ids in [0, 2^24) (most real data sets) skip the hash table: a plain array
 * indexed by the id, grown on demand, remembers its index.
 */
#define DIRECT_LIMIT ((int64_t)1 << 24)
static uint32_t *direct_slot(parser_t *p, int c, int64_t v)
{
    if (v < 0 || v >= DIRECT_LIMIT)
        return NULL;
    if ((size_t)v >= p->direct_cap[c]) {
        size_t cap = p->direct_cap[c] ? p->direct_cap[c] : 4096;
        while (cap <= (size_t)v)
            cap *= 2;
        uint32_t *d = realloc(p->direct[c], cap * sizeof *d);
        if (!d)
            return NULL; /* fall back to the hash table */
        memset(d + p->direct_cap[c], 0, (cap - p->direct_cap[c]) * sizeof *d);
        p->direct[c] = d;
        p->direct_cap[c] = cap;
    }
    return &p->direct[c][v];
}

/* Interns one id token of column c (0 user, 1 item). TRIB_ERR_FORMAT/RANGE = bad token (reported by caller). */
static int intern_id(parser_t *p, int c, const char *tok, size_t len, uint32_t *idx, const char **why)
{
    trib_idmap_t *m = c == 0 ? p->out->users : p->out->items;
    int64_t v;
    num_rc_t nr = parse_i64(tok, len, &v);
    if (nr == NUM_OVERFLOW && !p->string_ids[c]) {
        *why = "id overflows a 64-bit signed integer";
        return TRIB_ERR_RANGE;
    }
    if (nr == NUM_SYNTAX && !p->string_ids[c]) {
        if (p->o->format != TRIB_TEXT_CSV || len == 0) {
            *why = len == 0 ? "empty id" : "id is not an integer";
            return TRIB_ERR_FORMAT;
        }
        int rc = trib_idmap_to_strings(m);
        if (rc != TRIB_OK)
            return rc;
        p->string_ids[c] = 1;
        p->have_last_user = 0;
    }
    if (!p->string_ids[c]) {
        if (c == 0 && p->have_last_user && v == p->last_user) {
            *idx = p->last_user_idx;
            return TRIB_OK;
        }
        uint32_t *slot = direct_slot(p, c, v);
        if (slot && *slot) {
            *idx = *slot - 1;
            goto found;
        }
        int rc = trib_idmap_put_int(m, v, idx);
        if (rc != TRIB_OK)
            return rc;
        if (slot)
            *slot = *idx + 1;
    found:
        if (c == 0) {
            p->have_last_user = 1;
            p->last_user = v;
            p->last_user_idx = *idx;
        }
        return TRIB_OK;
    }
    if (len == 0) {
        *why = "empty id";
        return TRIB_ERR_FORMAT;
    }
    if (nr == NUM_OK) { /* canonical text of an integer-looking id */
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%" PRId64, v);
        return trib_idmap_put_str(m, buf, (size_t)n, idx);
    }
    return trib_idmap_put_str(m, tok, len, idx);
}

/* ---------------------------------------------------------------- lines */

static void trim(const char **s, const char **e, char delim)
{
    while (*s < *e && (**s == ' ' || (**s == '\t' && delim != '\t')))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || ((*e)[-1] == '\t' && delim != '\t')))
        (*e)--;
}

static const char *find_delim(const parser_t *p, const char *s, const char *e)
{
    if (p->dlen == 1)
        return memchr(s, p->delim[0], (size_t)(e - s));
    for (const char *q = s; q + 1 < e; q++) {
        q = memchr(q, p->delim[0], (size_t)(e - q));
        if (!q || q + 1 >= e)
            return NULL;
        if (q[1] == p->delim[1])
            return q;
    }
    return NULL;
}

/* One data line [s, e) without its newline.  TRIB_OK when stored or skipped. */
static int parse_line(parser_t *p, const char *s, const char *e)
{
    const char *tok[5], *tend[5];
    int nf = 0;
    if (p->dlen == 1) { /* one pass over the bytes: fields are short, a loop beats memchr calls */
        const char d = p->delim[0];
        tok[0] = s;
        for (const char *q = s; q < e; q++) {
            if (*q != d)
                continue;
            if (nf == 3)
                return bad_line(p, -1, "too many fields (at most 4: user, item, rating, timestamp)", NULL, 0,
                                TRIB_ERR_FORMAT);
            tend[nf++] = q;
            tok[nf] = q + 1;
        }
        tend[nf++] = e;
        for (int f = 0; f < nf; f++)
            trim(&tok[f], &tend[f], d);
    } else {
        for (const char *q = s;;) {
            const char *d = find_delim(p, q, e);
            if (nf == 4)
                return bad_line(p, -1, "too many fields (at most 4: user, item, rating, timestamp)", NULL, 0,
                                TRIB_ERR_FORMAT);
            tok[nf] = q;
            tend[nf] = d ? d : e;
            trim(&tok[nf], &tend[nf], p->delim[0]);
            nf++;
            if (!d)
                break;
            q = d + p->dlen;
        }
    }
    if (nf < p->min_fields || nf > p->max_fields || (p->n_fields && nf != p->n_fields)) {
        char what[96];
        int want = p->n_fields ? p->n_fields : p->min_fields;
        snprintf(what, sizeof what, "expected %d fields separated by '%s', found %d", want,
                 p->delim[0] == '\t' ? "\\t" : p->delim, nf);
        return bad_line(p, -1, what, NULL, 0, TRIB_ERR_FORMAT);
    }
    int with_ts = nf == 4;
    uint32_t uid, iid;
    const char *why = NULL;
    double rating;
    int64_t ts = 0;
    num_rc_t nr = parse_decimal(tok[F_RATING], (size_t)(tend[F_RATING] - tok[F_RATING]), &rating);
    if (nr != NUM_OK) {
        size_t n = (size_t)(tend[F_RATING] - tok[F_RATING]);
        int nonfinite = nr == NUM_OVERFLOW || is_nonfinite_word(tok[F_RATING], n);
        return bad_line(p, F_RATING, nonfinite ? "not a finite number" : "not a number", tok[F_RATING], n,
                        nonfinite ? TRIB_ERR_RANGE : TRIB_ERR_FORMAT);
    }
    if (with_ts) {
        size_t n = (size_t)(tend[F_TIME] - tok[F_TIME]);
        nr = parse_i64(tok[F_TIME], n, &ts);
        if (nr != NUM_OK)
            return bad_line(p, F_TIME, nr == NUM_OVERFLOW ? "overflows a 64-bit integer" : "not an integer",
                            tok[F_TIME], n, nr == NUM_OVERFLOW ? TRIB_ERR_RANGE : TRIB_ERR_FORMAT);
    }
    for (int c = 0; c < 2; c++) {
        size_t n = (size_t)(tend[c] - tok[c]);
        int rc = intern_id(p, c, tok[c], n, c == 0 ? &uid : &iid, &why);
        if (rc == TRIB_ERR_FORMAT || (rc == TRIB_ERR_RANGE && why))
            return bad_line(p, c, why, tok[c], n, rc);
        if (rc != TRIB_OK)
            return trib_errorf(rc, "%s:%" PRIu64 ": %s", p->file, p->line, trib_last_error(rc));
    }
    if (!p->n_fields)
        p->n_fields = nf;
    trib_ratings_t *r = &p->out->ratings;
    if (r->n == p->cap) {
        int rc = grow(p, with_ts);
        if (rc != TRIB_OK)
            return rc;
    }
    if (with_ts && !r->timestamp && !(r->timestamp = malloc(p->cap * sizeof *r->timestamp)))
        return trib_errorf(TRIB_ERR_NOMEM, "%s: out of memory", p->file);
    r->user[r->n] = uid;
    r->item[r->n] = iid;
    r->rating[r->n] = (float)rating;
    if (with_ts)
        r->timestamp[r->n] = ts;
    r->n++;
    return TRIB_OK;
}

static int setup(parser_t *p, const trib_text_opts_t *o, trib_text_result_t *out)
{
    memset(p, 0, sizeof *p);
    p->o = o;
    p->file = o->file_name ? o->file_name : "<buffer>";
    p->out = out;
    p->stop_record = UINT64_MAX;
    p->min_fields = p->max_fields = 4;
    switch (o->format) {
    case TRIB_TEXT_MOVIELENS_100K: strcpy(p->delim, "\t"); break;
    case TRIB_TEXT_MOVIELENS_DAT: strcpy(p->delim, "::"); break;
    case TRIB_TEXT_MOVIELENS_CSV: strcpy(p->delim, ","); break;
    case TRIB_TEXT_CSV:
        p->delim[0] = o->delimiter ? o->delimiter : ',';
        p->min_fields = 3;
        break;
    default: return trib_errorf(TRIB_ERR_INVALID_ARG, "unknown text format %d", (int)o->format);
    }
    if (p->delim[0] == '\n' || p->delim[0] == '\r' || p->delim[0] == '\0' || p->delim[0] == '"')
        return trib_errorf(TRIB_ERR_INVALID_ARG, "delimiter cannot be a newline, NUL or quote");
    p->dlen = strlen(p->delim);
    memset(out, 0, sizeof *out);
    out->users = trib_idmap_new(TRIB_IDS_INT64);
    out->items = trib_idmap_new(TRIB_IDS_INT64);
    if (!out->users || !out->items)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory");
    return TRIB_OK;
}

static int run(parser_t *p, const char *buf, size_t len)
{
    const char *s = buf, *end = buf + len, *next_report = buf + ((size_t)16 << 20);
    int skip_header = p->o->format == TRIB_TEXT_MOVIELENS_CSV || (p->o->format == TRIB_TEXT_CSV && p->o->header);
    int rc = TRIB_OK;
    if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) /* a UTF-8 byte-order mark is not part of the first field */
        s += 3;
    if (len > 65536 && p->stop_record == UINT64_MAX) { /* size the arrays from the first 64 KiB's line length */
        const char *q = buf;
        size_t nl = 0;
        while ((q = memchr(q, '\n', (size_t)(buf + 65536 - q))) != NULL && ++q < buf + 65536)
            nl++;
        p->cap = nl ? (size_t)((double)len / (65536.0 / (double)nl) * 1.05) + 1024 : 0;
        if (p->cap && (rc = grow_to(p, p->cap)) != TRIB_OK)
            return rc;
    }
    while (s < end && rc == TRIB_OK) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        p->line++;
        if (e > s && e[-1] == '\r')
            e--;
        if (memchr(s, '\0', (size_t)(e - s)))
            rc = bad_line(p, -1, "NUL byte in line (binary file?)", NULL, 0, TRIB_ERR_FORMAT);
        else if (skip_header && p->line == 1)
            ; /* header line */
        else if (e > s) {
            if (p->out->ratings.n == p->stop_record) {
                p->stop_line = p->line;
                return TRIB_OK;
            }
            rc = parse_line(p, s, e);
        }
        s = nl ? nl + 1 : end;
        if (p->progress && s >= next_report) {
            p->progress(p->progress_arg, "parse", (double)(s - buf) / (double)len);
            next_report = s + ((size_t)16 << 20);
        }
    }
    p->out->lines = p->line;
    if (rc == TRIB_OK && p->out->ratings.n == 0 && p->stop_record == UINT64_MAX)
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: no ratings found (empty input%s)", p->file,
                         p->out->skipped ? " after skipping bad lines" : "");
    return rc;
}

/* Internal entry point with progress reporting (convert.c). */
TRIB_HIDDEN int trib_text_parse_progress(const char *buf, size_t len, const trib_text_opts_t *opts,
                                         trib_text_result_t *out, trib_data_progress_fn fn, void *arg);
int trib_text_parse_progress(const char *buf, size_t len, const trib_text_opts_t *opts, trib_text_result_t *out,
                             trib_data_progress_fn fn, void *arg)
{
    if (!opts || !out || (!buf && len))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_text_parse: NULL argument");
    parser_t p;
    int rc = setup(&p, opts, out);
    p.progress = fn;
    p.progress_arg = arg;
    if (rc == TRIB_OK)
        rc = run(&p, buf, len);
    free(p.direct[0]);
    free(p.direct[1]);
    if (rc != TRIB_OK)
        trib_text_result_free(out);
    return rc;
}

int trib_text_parse(const char *buf, size_t len, const trib_text_opts_t *opts, trib_text_result_t *out)
{
    return trib_text_parse_progress(buf, len, opts, out, NULL, NULL);
}

/* Line number of the record with index `record` (re-parses; used for duplicate messages). */
TRIB_HIDDEN uint64_t trib_text_record_line(const char *buf, size_t len, const trib_text_opts_t *opts,
                                           uint64_t record);
uint64_t trib_text_record_line(const char *buf, size_t len, const trib_text_opts_t *opts, uint64_t record)
{
    trib_text_result_t out;
    parser_t p;
    uint64_t line = 0;
    trib_text_opts_t o = *opts;
    o.skip_bad = 1; /* the first pass succeeded, so skipped lines were skipped there too */
    if (setup(&p, &o, &out) == TRIB_OK) {
        p.stop_record = record;
        if (run(&p, buf, len) == TRIB_OK)
            line = p.stop_line;
    }
    free(p.direct[0]);
    free(p.direct[1]);
    trib_text_result_free(&out);
    return line;
}

void trib_text_result_free(trib_text_result_t *r)
{
    if (!r)
        return;
    trib_ratings_free(&r->ratings);
    trib_idmap_free(r->users);
    trib_idmap_free(r->items);
    r->users = r->items = NULL;
}

int trib_text_format_parse(const char *name, trib_text_format_t *out)
{
    static const char *names[] = {"movielens-100k", "movielens-dat", "movielens-csv", "csv"};
    for (int i = 0; i < 4; i++) {
        if (name && strcmp(name, names[i]) == 0) {
            *out = (trib_text_format_t)i;
            return TRIB_OK;
        }
    }
    return trib_errorf(TRIB_ERR_INVALID_ARG, "unknown format '%s' (movielens-100k|movielens-dat|movielens-csv|csv)",
                       name ? name : "");
}

const char *trib_text_format_name(trib_text_format_t f)
{
    static const char *names[] = {"movielens-100k", "movielens-dat", "movielens-csv", "csv"};
    return (unsigned)f < 4 ? names[f] : "unknown";
}
