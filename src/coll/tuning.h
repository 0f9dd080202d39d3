/*
 * tuning.h - measured tuning files that drive AUTO (internal to the library).
 *
 * Format (written by `trib-bench tune`, read here):
 *
 *   tributary-tuning 1
 *   # comment lines start with '#'; blank lines ignored
 *   layout 2 2
 *   # ranks  max_bytes  algo  segment_bytes
 *   4  8192     rd    0
 *   4  1048576  tree  65536
 *   4  inf      ring  262144
 *   8  ...
 *
 * Fields are separated by blanks.  ranks >= 1; max_bytes a decimal byte
 * count or `inf`; algo one of ring, tree, rd, mpi, shm, hier (not auto);
 * segment_bytes a decimal byte count, 0 = the algorithm's default.
 * The rules of one communicator size form a group: consecutive lines,
 * max_bytes strictly ascending, the last one `inf`.  A call on p ranks uses
 * the group with the largest ranks <= p (the smallest group when none is
 * <= p); within it the first rule whose max_bytes >= the message's bytes.
 *
 * Layout: a line `layout NODES RANKS_PER_NODE` (RANKS_PER_NODE a number, or
 * `mixed` when nodes held different numbers of ranks) says on which layout
 * the groups after it were measured, up to the next layout line; it stands
 * between groups, and NODES x RANKS_PER_NODE must equal the next group's
 * ranks.  `trib-bench tune` writes one before each group.  The selector
 * refuses a group measured on another layout (select.c).  Groups before any
 * layout line (files of older versions) have no layout and are used as is.
 */
#ifndef TRIB_COLL_TUNING_H
#define TRIB_COLL_TUNING_H

#include <stddef.h>
#include <stdint.h>

#include "coll/coll_internal.h"

#define TRIB_TUNING_INF SIZE_MAX

typedef struct {
    int ranks;
    size_t max_bytes; /* TRIB_TUNING_INF for `inf` */
    trib_algo_t algo;
    size_t segment_bytes; /* 0 = default */
    int line;             /* line number in the file (for logs) */
    int layout_nodes;     /* the layout line in force (0 = none) */
    int layout_ranks_per_node; /* 0 = mixed */
    int layout_line;      /* its line number; 0 = no layout line */
} trib_tuning_rule_t;

typedef struct {
    trib_tuning_rule_t *rules; /* in file order: groups contiguous, each ascending */
    size_t nrules;
} trib_tuning_t;

/*
 * Parses `path`.  Malformed input returns TRIB_ERR_FORMAT with the detail
 * "PATH:LINE: what is wrong"; an unreadable file TRIB_ERR_IO.
 */
TRIB_INTERNAL int trib_tuning_load(const char *path, trib_tuning_t **out);
TRIB_INTERNAL void trib_tuning_free(trib_tuning_t *t);

/*
 * The parsed file for `path`, parsed on the first request and cached for
 * the life of the process (a later change to the file is not seen).  A file
 * that fails to parse is not cached: each call reports the error again.
 */
TRIB_INTERNAL int trib_tuning_get(const char *path, const trib_tuning_t **out);

/* The rule for a call of `bytes` bytes on p ranks (never NULL for a loaded file). */
TRIB_INTERNAL const trib_tuning_rule_t *trib_tuning_lookup(const trib_tuning_t *t, int p, size_t bytes);

#endif
