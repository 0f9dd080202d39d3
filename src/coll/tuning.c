/*
 * tuning.c - parser, cache and lookup of tuning files (format in tuning.h).
 *
 * The parser reads a line at a time and validates each rule against the one
 * before it, so every error names the line where the file goes wrong:
 * "FILE:LINE: what is wrong".  Checks: the header line, four fields per rule,
 * numeric fields, a known algorithm, max_bytes strictly ascending within a
 * group, a group ending with `inf` before the next group starts (and at end
 * of file), a group's ranks not reappearing later, at least one rule, layout
 * lines between groups and matching the next group's ranks.
 *
 * Parsed files are cached in a small list keyed by path, so AUTO reads a
 * file once per process however many calls it serves.
 */
#include "coll/tuning.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define TUNING_MAGIC "tributary-tuning"
#define TUNING_VERSION 1
#define TUNING_LINE_MAX 1024

/* ------------------------------------------------------------- parsing */

typedef struct {
    const char *path;
    int line;
} cursor_t;

static int parse_size(const char *tok, size_t *out)
{
    if (!tok[0])
        return -1;
    for (const char *c = tok; *c; c++)
        if (*c < '0' || *c > '9')
            return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(tok, &end, 10);
    if (errno || *end || v >= (unsigned long long)SIZE_MAX)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* Strips a trailing newline; reports lines that did not fit. */
static int read_line(FILE *f, char *buf, size_t cap, cursor_t *cur, int *eof)
{
    *eof = 0;
    if (!fgets(buf, (int)cap, f)) {
        *eof = 1;
        return ferror(f) ? trib_errorf(TRIB_ERR_IO, "%s: read error", cur->path) : TRIB_OK;
    }
    cur->line++;
    size_t len = strlen(buf);
    if (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    else if (!feof(f))
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: line longer than %d characters", cur->path, cur->line,
                           TUNING_LINE_MAX - 2);
    if (len > 0 && buf[len - 1] == '\r')
        buf[--len] = '\0';
    return TRIB_OK;
}

static int is_blank_or_comment(const char *s)
{
    s += strspn(s, " \t");
    return *s == '\0' || *s == '#';
}

static int parse_header(const char *s, const cursor_t *cur)
{
    char magic[32], extra[8];
    int version = 0;
    if (sscanf(s, "%31s %d %7s", magic, &version, extra) != 2 || strcmp(magic, TUNING_MAGIC) != 0)
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: expected the header '%s %d'", cur->path, cur->line,
                           TUNING_MAGIC, TUNING_VERSION);
    if (version != TUNING_VERSION)
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: tuning file version %d is not supported (expected %d)",
                           cur->path, cur->line, version, TUNING_VERSION);
    return TRIB_OK;
}

/* The layout line in force while parsing. */
typedef struct {
    int nodes, ranks_per_node, line;
} layout_t;

static int is_layout_line(const char *s)
{
    s += strspn(s, " \t");
    return strncmp(s, "layout", 6) == 0 && (s[6] == ' ' || s[6] == '\t' || s[6] == '\0');
}

static int parse_layout(const char *s, const cursor_t *cur, const trib_tuning_t *t, layout_t *l)
{
    char nodes_s[32], rpn_s[32], extra[8];
    size_t nodes, rpn = 0;
    if (sscanf(s, " layout %31s %31s %7s", nodes_s, rpn_s, extra) != 2 || parse_size(nodes_s, &nodes) != 0 ||
        nodes < 1 || nodes > INT_MAX ||
        (strcmp(rpn_s, "mixed") != 0 && (parse_size(rpn_s, &rpn) != 0 || rpn < 1 || rpn > INT_MAX)))
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: expected 'layout NODES RANKS_PER_NODE' (positive numbers; "
                           "RANKS_PER_NODE may be 'mixed')", cur->path, cur->line);
    if (t->nrules > 0 && t->rules[t->nrules - 1].max_bytes != TRIB_TUNING_INF)
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: layout line inside the group of ranks %d (line %d)", cur->path,
                           cur->line, t->rules[t->nrules - 1].ranks, t->rules[t->nrules - 1].line);
    l->nodes = (int)nodes;
    l->ranks_per_node = (int)rpn;
    l->line = cur->line;
    return TRIB_OK;
}

/* A group's first rule against the layout line in force. */
static int check_layout(const trib_tuning_t *t, const trib_tuning_rule_t *r, const layout_t *l, const cursor_t *cur)
{
    int first = t->nrules == 0 || t->rules[t->nrules - 1].ranks != r->ranks;
    if (!first || !l->line || !l->ranks_per_node)
        return TRIB_OK;
    if ((long long)l->nodes * l->ranks_per_node != r->ranks)
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: %d ranks, but the layout (line %d) is %d nodes x %d ranks",
                           cur->path, cur->line, r->ranks, l->line, l->nodes, l->ranks_per_node);
    return TRIB_OK;
}

static int parse_rule(char *s, const cursor_t *cur, trib_tuning_rule_t *r)
{
    char *save = NULL, *tok[5];
    int n = 0;
    for (char *t = strtok_r(s, " \t", &save); t && n < 5; t = strtok_r(NULL, " \t", &save))
        tok[n++] = t;
    if (n != 4)
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: expected 4 fields (ranks max_bytes algo segment_bytes), got %d%s",
                           cur->path, cur->line, n, n == 5 ? " or more" : "");
    size_t ranks;
    if (parse_size(tok[0], &ranks) != 0 || ranks < 1 || ranks > INT_MAX)
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: ranks '%s' is not a positive integer", cur->path, cur->line,
                           tok[0]);
    r->ranks = (int)ranks;
    if (strcmp(tok[1], "inf") == 0)
        r->max_bytes = TRIB_TUNING_INF;
    else if (parse_size(tok[1], &r->max_bytes) != 0)
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: max_bytes '%s' is not a byte count or 'inf'", cur->path,
                           cur->line, tok[1]);
    char list[96];
    if (trib_algo_parse(tok[2], &r->algo) != TRIB_OK || r->algo == TRIB_ALGO_AUTO)
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: unknown algorithm '%s' (use %s)", cur->path, cur->line, tok[2],
                           trib_coll_algo_list(1, list, sizeof list));
    if (parse_size(tok[3], &r->segment_bytes) != 0)
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: segment_bytes '%s' is not a byte count", cur->path,
                           cur->line, tok[3]);
    r->line = cur->line;
    return TRIB_OK;
}

/* Checks rule r against the rules already accepted (group structure). */
static int check_order(const trib_tuning_t *t, const trib_tuning_rule_t *r, const cursor_t *cur)
{
    if (t->nrules == 0)
        return TRIB_OK;
    const trib_tuning_rule_t *prev = &t->rules[t->nrules - 1];
    if (prev->ranks == r->ranks) {
        if (prev->max_bytes == TRIB_TUNING_INF)
            return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: rule after the 'inf' rule of ranks %d (line %d)", cur->path,
                               cur->line, r->ranks, prev->line);
        if (r->max_bytes <= prev->max_bytes)
            return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: max_bytes %zu is not above the previous rule's %zu",
                               cur->path, cur->line, r->max_bytes, prev->max_bytes);
        return TRIB_OK;
    }
    if (prev->max_bytes != TRIB_TUNING_INF)
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: the group of ranks %d (line %d) does not end with an 'inf' rule",
                           cur->path, cur->line, prev->ranks, prev->line);
    for (size_t i = 0; i < t->nrules; i++)
        if (t->rules[i].ranks == r->ranks)
            return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: ranks %d already has a group (line %d)", cur->path,
                               cur->line, r->ranks, t->rules[i].line);
    return TRIB_OK;
}

static int append_rule(trib_tuning_t *t, size_t *cap, const trib_tuning_rule_t *r)
{
    if (t->nrules == *cap) {
        size_t ncap = *cap ? 2 * *cap : 16;
        trib_tuning_rule_t *nr = realloc(t->rules, ncap * sizeof *nr);
        if (!nr)
            return trib_errorf(TRIB_ERR_NOMEM, "tuning file: out of memory");
        t->rules = nr;
        *cap = ncap;
    }
    t->rules[t->nrules++] = *r;
    return TRIB_OK;
}

static int parse_stream(FILE *f, cursor_t *cur, trib_tuning_t *t)
{
    char buf[TUNING_LINE_MAX];
    size_t cap = 0;
    int eof, rc, have_header = 0;
    layout_t layout = {0, 0, 0};
    for (;;) {
        if ((rc = read_line(f, buf, sizeof buf, cur, &eof)) != TRIB_OK)
            return rc;
        if (eof)
            break;
        if (!have_header) {
            if ((rc = parse_header(buf, cur)) != TRIB_OK)
                return rc;
            have_header = 1;
            continue;
        }
        if (is_blank_or_comment(buf))
            continue;
        if (is_layout_line(buf)) {
            if ((rc = parse_layout(buf, cur, t, &layout)) != TRIB_OK)
                return rc;
            continue;
        }
        trib_tuning_rule_t r;
        if ((rc = parse_rule(buf, cur, &r)) != TRIB_OK || (rc = check_order(t, &r, cur)) != TRIB_OK ||
            (rc = check_layout(t, &r, &layout, cur)) != TRIB_OK)
            return rc;
        r.layout_nodes = layout.nodes;
        r.layout_ranks_per_node = layout.ranks_per_node;
        r.layout_line = layout.line;
        if ((rc = append_rule(t, &cap, &r)) != TRIB_OK)
            return rc;
    }
    if (!have_header)
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: empty file (expected the header '%s %d')", cur->path,
                           cur->line, TUNING_MAGIC, TUNING_VERSION);
    if (t->nrules == 0)
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: no rules", cur->path, cur->line);
    const trib_tuning_rule_t *last = &t->rules[t->nrules - 1];
    if (last->max_bytes != TRIB_TUNING_INF)
        return trib_errorf(TRIB_ERR_FORMAT, "%s:%d: the group of ranks %d (line %d) does not end with an 'inf' rule",
                           cur->path, cur->line, last->ranks, last->line);
    return TRIB_OK;
}

int trib_tuning_load(const char *path, trib_tuning_t **out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return trib_errorf(TRIB_ERR_IO, "%s: cannot open tuning file: %s", path, strerror(errno));
    trib_tuning_t *t = calloc(1, sizeof *t);
    if (!t) {
        fclose(f);
        return trib_errorf(TRIB_ERR_NOMEM, "tuning file: out of memory");
    }
    cursor_t cur = {path, 0};
    int rc = parse_stream(f, &cur, t);
    fclose(f);
    if (rc != TRIB_OK) {
        trib_tuning_free(t);
        return rc;
    }
    *out = t;
    return TRIB_OK;
}

void trib_tuning_free(trib_tuning_t *t)
{
    if (t) {
        free(t->rules);
        free(t);
    }
}

/* --------------------------------------------------------------- lookup */

const trib_tuning_rule_t *trib_tuning_lookup(const trib_tuning_t *t, int p, size_t bytes)
{
    /* The group: largest ranks <= p, else the smallest ranks in the file. */
    int best = -1, smallest = INT_MAX;
    for (size_t i = 0; i < t->nrules; i++) {
        int r = t->rules[i].ranks;
        if (r <= p && r > best)
            best = r;
        if (r < smallest)
            smallest = r;
    }
    int group = best >= 0 ? best : smallest;
    const trib_tuning_rule_t *last = NULL;
    for (size_t i = 0; i < t->nrules; i++) {
        if (t->rules[i].ranks != group)
            continue;
        last = &t->rules[i];
        if (t->rules[i].max_bytes >= bytes)
            return last;
    }
    return last; /* unreachable for a validated file: each group ends with inf */
}

/* ---------------------------------------------------------------- cache */

typedef struct cache_entry {
    char *path;
    trib_tuning_t *tuning;
    struct cache_entry *next;
} cache_entry_t;

static cache_entry_t *cache_head;

int trib_tuning_get(const char *path, const trib_tuning_t **out)
{
    for (cache_entry_t *e = cache_head; e; e = e->next) {
        if (strcmp(e->path, path) == 0) {
            *out = e->tuning;
            return TRIB_OK;
        }
    }
    trib_tuning_t *t;
    int rc = trib_tuning_load(path, &t);
    if (rc != TRIB_OK)
        return rc;
    cache_entry_t *e = calloc(1, sizeof *e);
    char *copy = strdup(path);
    if (!e || !copy) {
        free(e);
        free(copy);
        trib_tuning_free(t);
        return trib_errorf(TRIB_ERR_NOMEM, "tuning file: out of memory");
    }
    e->path = copy;
    e->tuning = t;
    e->next = cache_head;
    cache_head = e;
    trib_log(TRIB_LOG_DEBUG, "allreduce: loaded tuning file %s (%zu rules)", path, t->nrules);
    *out = t;
    return TRIB_OK;
}
