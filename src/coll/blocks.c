/*
 * blocks.c - how a vector is cut into per-rank blocks and into segments.
 *
 * Every algorithm cuts through these helpers, so an off-by-one here shows up
 * in every algorithm's test at once (and the unit test checks that every
 * element is covered exactly once for p = 1..64 and many counts).
 *
 *   count = 10, p = 4:   base = 2, extra = 2
 *   | b0: 3 | b1: 3 | b2: 2 | b3: 2 |     early blocks (i < extra) are one larger
 *   offset(i) = i * base + min(i, extra)
 *
 * A block (or a whole vector) of n elements is sent as ceil(n / seg)
 * segments of seg elements, the last one shorter.  Segment sizes are capped
 * at TRIB_MAX_MSG_BYTES, which is how counts above INT_MAX reach MPI only in
 * int-sized pieces.
 */
#include "coll/coll_internal.h"

void trib_blocks_init(trib_blocks_t *b, size_t count, int p)
{
    b->count = count;
    b->p = p;
    b->base = count / (size_t)p;
    b->extra = count % (size_t)p;
}

size_t trib_block_offset(const trib_blocks_t *b, int i)
{
    size_t ii = (size_t)i;
    return ii * b->base + (ii < b->extra ? ii : b->extra);
}

size_t trib_block_count(const trib_blocks_t *b, int i) { return b->base + ((size_t)i < b->extra ? 1 : 0); }

size_t trib_segment_count(size_t n, size_t seg_elems) { return n / seg_elems + (n % seg_elems != 0); }

void trib_segment(size_t n, size_t seg_elems, size_t s, size_t *off, size_t *len)
{
    *off = s * seg_elems;
    *len = n - *off < seg_elems ? n - *off : seg_elems;
}

size_t trib_segment_elems(size_t segment_bytes, size_t elem_size)
{
    size_t max_elems = TRIB_MAX_MSG_BYTES / elem_size;
    size_t e = segment_bytes / elem_size;
    if (e < 1)
        e = 1;
    if (e > max_elems)
        e = max_elems;
    return e;
}

size_t trib_coll_default_segment(trib_algo_t algo)
{
    switch (algo) {
    case TRIB_ALGO_RING: return TRIB_RING_SEGMENT_DEFAULT;
    case TRIB_ALGO_TREE: return TRIB_TREE_SEGMENT_DEFAULT;
    case TRIB_ALGO_RD: return TRIB_RD_SEGMENT_DEFAULT;
    case TRIB_ALGO_SHM: return TRIB_SHM_SEGMENT_DEFAULT;
    case TRIB_ALGO_HIER: return TRIB_HIER_SEGMENT_DEFAULT;
    case TRIB_ALGO_MPI:
    default: return TRIB_MPI_SEGMENT_DEFAULT;
    }
}
