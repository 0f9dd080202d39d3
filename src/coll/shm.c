/*
 * shm.c - intra-node allreduce through an MPI-3 shared-memory window.
 *
 * When every rank of the communicator is on one node, the ranks can read
 * each other's data directly instead of sending messages.  On first use
 * each rank allocates a slot in a shared window (MPI_Win_allocate_shared on
 * the context's private communicator, cached in the context and freed with
 * it):
 *
 *   slot of rank q:  | seq, tiny[2] (one cache line) | stamped[2] | small[2] | chunk[2] |
 *
 * Synchronisation is one counter per rank, `seq`, written only by its owner
 * (release store) and read by everyone (acquire load).  A "round" is: bump
 * my counter to n, wait until every counter is >= n.  All ranks run the
 * same sequence of rounds (same arguments), so counters move in lockstep and
 * a round number names the same moment on every rank.  Waits spin a little,
 * then call sched_yield() on every pass: with more ranks than cores a pure
 * spin would starve the rank being waited for (so the spin is short then,
 * and long when every rank can have a core).
 *
 * Tiny vectors (<= SHM_TINY_MAX bytes of elements of <= 8 bytes, one round):
 *     as small vectors below, in tiny[n % 2], which shares the cache line
 *     of the counter: a peer's counter and data reach a reader in one
 *     cache-line transfer instead of two, which is most of the cost of a
 *     4-byte allreduce.
 *
 * Stamped vectors (up to SHM_STAMP_LINES x 56 bytes of elements of <= 8
 * bytes, one round; the sizes just above tiny): each cache line of
 * stamped[n % 2] carries 56 bytes of data and the round that wrote it,
 * stored (release) after the data.  Every rank fills its lines, then waits
 * for each peer's line to carry round n and reduces it, line by line in rank
 * order.  A line's data reaches a reader in the transfer that brings its
 * flag, and the lines of one vector travel independently (the counter would
 * add a transfer before them).  The counter `seq` is not stored: every wait
 * is for `>= n`, so the next round that stores it covers the skipped value,
 * and the double-buffer argument below holds with "finished reading round
 * n" shown by having announced round n + 1 (a stamp or the counter).
 *
 * Small vectors (<= SHM_SMALL_MAX bytes, one round):
 *     every rank copies its vector into small[n % 2] of its slot, round n,
 *     every rank reduces all p vectors, in rank order, into its result.
 *   Alternating the two buffers makes a trailing round unnecessary: a rank
 *   can only write small[n % 2] again in round n + 2, after every rank has
 *   announced round n + 1, i.e. after every rank finished reading round n.
 *
 * Large vectors (chunks of segment_bytes, two rounds per chunk; the chunk
 * is split into p slices, slice r reduced by rank r, blocks.c):
 *     copy the slices the peers reduce into chunk[c % 2] of my slot   round
 *     reduce slice r: my own input straight from the send buffer, the
 *     peers' from their slots, in rank order, into slice r of my slot
 *     (which I did not fill), then copy it into the result             round
 *     copy every slice q from slot q into the result.
 *   Leaving my own slice out of the copy-in saves 1/p of it; reducing into
 *   the slot rather than the result keeps sources and destination apart even
 *   in place (send buffer = receive buffer).  The chunk buffers alternate
 *   for the same reason as above (a slow rank may still copy out chunk c
 *   while a fast one fills chunk c + 1).  Chunks of 256 KiB (the default
 *   segment) stay in the 2-core development machine's L2; there 256 KiB and
 *   512 KiB measured fastest of 32 KiB-512 KiB at 1-16 MiB messages.
 *
 * Reduction order: every element is ((x0 (+) x1) (+) x2) ... (+) x_p-1,
 * computed once (large: by the slice's owner) or identically by every rank
 * (small: same code, same inputs, same order), so all ranks hold the same
 * bits, run to run.
 *
 * Cost: no messages; per chunk, 2 synchronisation rounds (a cache-line
 * transfer per peer each) and per rank about (p-1)/p n bytes copied in,
 * n read and 2n/p written by the reduction, (p-1)/p n copied out; the small
 * path reads p n bytes.
 *
 * Alignment: Open MPI's segments start 8 bytes past a line boundary (a
 * header), which is too little for long double (16) and splits `seq` over
 * two lines, so each slot starts at the first 64-byte boundary of its
 * segment (the window is one line larger than a slot for that).
 *
 * Limits: ranks on one node only (the dispatcher refuses otherwise); a
 * shared window of ~2 MiB per rank lives as long as the communicator;
 * the memory ordering relies on the MPI unified memory model (the window is
 * kept in a passive-target epoch with MPI_Win_lock_all) plus C11 atomics.
 */
#include "coll/coll_internal.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHM_LINE 64
#define SHM_SMALL_MAX ((size_t)8 << 10)
#define SHM_CHUNK_MAX ((size_t)1 << 20)
/* Spins before each sched_yield: long when every rank can have a core of its
 * own (a yield costs a system call and delays noticing the flag), short when
 * ranks outnumber cores (the rank being waited for may need this core). */
#define SHM_SPINS_DEDICATED 4096
#define SHM_SPINS_SHARED 64

#define SHM_TINY_MAX 24

typedef struct {
    _Atomic uint64_t seq;
    _Alignas(8) char tiny[2][SHM_TINY_MAX];
    char pad[SHM_LINE - sizeof(_Atomic uint64_t) - 2 * SHM_TINY_MAX];
} shm_header_t;
_Static_assert(sizeof(shm_header_t) == SHM_LINE, "the counter and the tiny buffers fill one cache line");

/* A line of a stamped vector: the round that wrote it, then its data. */
#define SHM_STAMP_DATA (SHM_LINE - sizeof(uint64_t))
#define SHM_STAMP_LINES 8
typedef struct {
    _Atomic uint64_t round;
    char data[SHM_STAMP_DATA];
} shm_stamped_t;
_Static_assert(sizeof(shm_stamped_t) == SHM_LINE, "a stamped line is one cache line");

#define SLOT_STAMP_OFF SHM_LINE
#define SLOT_SMALL_OFF (SLOT_STAMP_OFF + 2 * SHM_STAMP_LINES * SHM_LINE)
#define SLOT_CHUNK_OFF (SLOT_SMALL_OFF + 2 * SHM_SMALL_MAX)
#define SLOT_BYTES (SLOT_CHUNK_OFF + 2 * SHM_CHUNK_MAX)

struct trib_shm_state {
    MPI_Win win;
    int p, me;       /* ranks of the window's communicator, and mine */
    char **slot;     /* slot[q]: rank q's slot, mapped in this process */
    char **src;      /* scratch: p pointers to the inputs of one reduction */
    uint64_t seq;    /* my counter's value (the last round I announced) */
    uint64_t chunks; /* chunks processed so far (selects chunk[c % 2]) */
    int spins;       /* spins before each sched_yield in a wait */
};

static shm_header_t *header(const struct trib_shm_state *s, int q) { return (shm_header_t *)s->slot[q]; }

/* Line `line` of rank q's stamped vector of round `round`. */
static shm_stamped_t *stamped(const struct trib_shm_state *s, int q, uint64_t round, size_t line)
{
    return (shm_stamped_t *)(s->slot[q] + SLOT_STAMP_OFF) + (round % 2) * SHM_STAMP_LINES + line;
}

static char *small_buf(const struct trib_shm_state *s, int q, uint64_t round)
{
    return s->slot[q] + SLOT_SMALL_OFF + (round % 2) * SHM_SMALL_MAX;
}

static char *chunk_buf(const struct trib_shm_state *s, int q, uint64_t chunk)
{
    return s->slot[q] + SLOT_CHUNK_OFF + (chunk % 2) * SHM_CHUNK_MAX;
}

/* Waits until a peer's counter or stamp reaches n (acquire): spins, then yields on every pass. */
static void wait_until(const _Atomic uint64_t *v, uint64_t n, int spins)
{
    for (int i = 0; atomic_load_explicit(v, memory_order_acquire) < n;)
        if (++i > spins)
            sched_yield();
}

/* Announces the next round and waits until every rank has announced it. */
static void round_sync(struct trib_shm_state *s, int me)
{
    uint64_t n = ++s->seq;
    atomic_store_explicit(&header(s, me)->seq, n, memory_order_release);
    for (int q = 0; q < s->p; q++) {
        if (q == me)
            continue;
        wait_until(&header(s, q)->seq, n, s->spins);
    }
}

/* ---------------------------------------------------------- create, free */

int trib_coll_shm_create(MPI_Comm comm, int rank, int size, struct trib_shm_state **out)
{
    int rc = TRIB_OK;
    struct trib_shm_state *s = calloc(1, sizeof *s);
    if (!s)
        return trib_errorf(TRIB_ERR_NOMEM, "shm allreduce: out of memory");
    s->win = MPI_WIN_NULL;
    s->p = size;
    s->me = rank;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->spins = cpus > 0 && size <= cpus ? SHM_SPINS_DEDICATED : SHM_SPINS_SHARED;
    int locked = 0;
    s->slot = calloc((size_t)size, sizeof *s->slot);
    s->src = calloc((size_t)size, sizeof *s->src);
    if (!s->slot || !s->src) {
        rc = trib_errorf(TRIB_ERR_NOMEM, "shm allreduce: out of memory");
        goto error;
    }
    MPI_Info info;
    TRIB_MPI_TRY(MPI_Info_create(&info));
    MPI_Info_set(info, "alloc_shared_noncontig", "true"); /* each slot on its owner's NUMA node */
    char *base = NULL;
    /* One line more than a slot: each slot starts at the first line boundary of its segment. */
    int mpi_rc = MPI_Win_allocate_shared((MPI_Aint)(SLOT_BYTES + SHM_LINE), 1, info, comm, &base, &s->win);
    MPI_Info_free(&info);
    if (mpi_rc != MPI_SUCCESS) {
        rc = trib_coll_mpi_error(mpi_rc, "MPI_Win_allocate_shared");
        goto error;
    }
    TRIB_MPI_TRY(MPI_Win_set_errhandler(s->win, MPI_ERRORS_RETURN));
    for (int q = 0; q < size; q++) {
        MPI_Aint seg_size;
        int disp;
        char *seg = NULL;
        TRIB_MPI_TRY(MPI_Win_shared_query(s->win, q, &seg_size, &disp, &seg));
        s->slot[q] = seg + (SHM_LINE - (uintptr_t)seg % SHM_LINE) % SHM_LINE;
    }
    TRIB_MPI_TRY(MPI_Win_lock_all(MPI_MODE_NOCHECK, s->win));
    locked = 1;
    atomic_store_explicit(&header(s, rank)->seq, 0, memory_order_release);
    for (size_t line = 0; line < 2 * SHM_STAMP_LINES; line++) /* no line carries a round yet (rounds start at 1) */
        atomic_store_explicit(&stamped(s, rank, line / SHM_STAMP_LINES, line % SHM_STAMP_LINES)->round, 0,
                              memory_order_release);
    TRIB_MPI_TRY(MPI_Win_sync(s->win));
    TRIB_MPI_TRY(MPI_Barrier(comm));
    TRIB_MPI_TRY(MPI_Win_sync(s->win));
    *out = s;
    return TRIB_OK;
error:
    if (locked)
        MPI_Win_unlock_all(s->win);
    if (s->win != MPI_WIN_NULL)
        MPI_Win_free(&s->win);
    free(s->slot);
    free(s->src);
    free(s);
    return rc;
}

void trib_coll_shm_free(struct trib_shm_state *s)
{
    if (!s)
        return;
    MPI_Win_unlock_all(s->win);
    MPI_Win_free(&s->win);
    free(s->slot);
    free(s->src);
    free(s);
}

/* ------------------------------------------------------------ the paths */

/* dst = x_0 (+) x_1 (+) ... (+) x_p-1, left to right; src(q) gives x_q. */
static void reduce_in_rank_order(const trib_coll_args_t *a, int p, char *dst, char *const *src, size_t n)
{
    if (p == 1) {
        memcpy(dst, src[0], n * a->elem_size);
        return;
    }
    trib_coll_combine(a, dst, src[0], src[1], n);
    for (int q = 2; q < p; q++)
        trib_coll_combine(a, dst, dst, src[q], n);
}

/* Vectors just above tiny: native kernels, whose elements need at most 8-byte alignment. */
static int stamped_fits(const trib_coll_args_t *a, size_t bytes)
{
    return bytes > SHM_TINY_MAX && bytes <= SHM_STAMP_LINES * SHM_STAMP_DATA && a->elem_size <= 8 && a->kernel;
}

static void stamped_path(const trib_coll_args_t *a, struct trib_shm_state *s)
{
    size_t es = a->elem_size, per_line = SHM_STAMP_DATA / es; /* 56 is a multiple of 1, 2, 4 and 8 */
    size_t nlines = (a->count + per_line - 1) / per_line;
    uint64_t round = ++s->seq;
    const char *send = a->sendbuf;
    for (size_t l = 0; l < nlines; l++) {
        size_t n = l + 1 < nlines ? per_line : a->count - l * per_line;
        shm_stamped_t *mine = stamped(s, s->me, round, l);
        memcpy(mine->data, send + l * per_line * es, n * es);
        atomic_store_explicit(&mine->round, round, memory_order_release);
    }
    char **src = s->src;
    char *recv = a->recvbuf;
    for (size_t l = 0; l < nlines; l++) {
        size_t n = l + 1 < nlines ? per_line : a->count - l * per_line;
        for (int q = 0; q < s->p; q++) {
            shm_stamped_t *line = stamped(s, q, round, l);
            wait_until(&line->round, round, s->spins);
            src[q] = line->data;
        }
        reduce_in_rank_order(a, s->p, recv + l * per_line * es, src, n);
    }
}

static void small_path(const trib_coll_args_t *a, struct trib_shm_state *s)
{
    size_t bytes = a->count * a->elem_size;
    uint64_t round = s->seq + 1;
    /* Native kernels only: their elements need at most 8-byte alignment (the tiny buffers have it). */
    int tiny = bytes <= SHM_TINY_MAX && a->elem_size <= 8 && a->kernel;
    memcpy(tiny ? header(s, s->me)->tiny[round % 2] : small_buf(s, s->me, round), a->sendbuf, bytes);
    round_sync(s, s->me);
    char **src = s->src;
    for (int q = 0; q < s->p; q++)
        src[q] = tiny ? header(s, q)->tiny[round % 2] : small_buf(s, q, round);
    reduce_in_rank_order(a, s->p, a->recvbuf, src, a->count);
}

/*
 * The large path, with the chunk cut into nslices slices (slice q reduced
 * by rank q; ranks >= nslices reduce nothing) and done() applied to each
 * reduced slice before the others copy it (hier.c).
 */
int trib_coll_shm_slices(const trib_coll_args_t *a, struct trib_shm_state *s, int nslices, trib_coll_slice_fn done,
                         void *arg)
{
    int rc = TRIB_OK, me = s->me;
    size_t es = a->elem_size;
    size_t seg_bytes = a->segment_bytes < SHM_CHUNK_MAX ? a->segment_bytes : SHM_CHUNK_MAX;
    size_t seg = trib_segment_elems(seg_bytes, es);
    size_t nchunks = trib_segment_count(a->count, seg);
    const char *send = a->sendbuf;
    char *recv = a->recvbuf;
    char **src = s->src;
    for (size_t c = 0; c < nchunks; c++) {
        size_t off, len;
        trib_segment(a->count, seg, c, &off, &len);
        uint64_t chunk = s->chunks++;
        char *mine = chunk_buf(s, me, chunk);
        trib_blocks_t b;
        trib_blocks_init(&b, len, nslices);
        /* Copy in the slices the peers reduce; my own slice is read in place. */
        for (int q = 0; q < nslices; q++) {
            size_t qo = trib_block_offset(&b, q), ql = trib_block_count(&b, q);
            if (q != me)
                memcpy(mine + qo * es, send + (off + qo) * es, ql * es);
        }
        round_sync(s, me);

        /* Reduce my slice into my (unused) slot slice, then into the result. */
        size_t my_off = me < nslices ? trib_block_offset(&b, me) : 0;
        size_t my_len = me < nslices ? trib_block_count(&b, me) : 0;
        for (int q = 0; q < s->p; q++)
            src[q] = q == me ? (char *)send + (off + my_off) * es : chunk_buf(s, q, chunk) + my_off * es;
        if (my_len > 0) {
            reduce_in_rank_order(a, s->p, mine + my_off * es, src, my_len);
            if (done && rc == TRIB_OK)
                rc = done(arg, mine + my_off * es, off + my_off, my_len);
            memcpy(recv + (off + my_off) * es, mine + my_off * es, my_len * es);
        }
        round_sync(s, me);

        for (int q = 0; q < nslices; q++) {
            if (q == me)
                continue;
            size_t qo = trib_block_offset(&b, q), ql = trib_block_count(&b, q);
            memcpy(recv + (off + qo) * es, chunk_buf(s, q, chunk) + qo * es, ql * es);
        }
    }
    return rc;
}

int trib_coll_shm(const trib_coll_args_t *a)
{
    trib_coll_ctx_t *ctx = a->ctx;
    if (!ctx->single_node)
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "shm allreduce: the ranks span several nodes");
    if (!ctx->shm) {
        int rc = trib_coll_shm_create(ctx->comm, ctx->rank, ctx->size, &ctx->shm);
        if (rc != TRIB_OK)
            return rc;
    }
    size_t bytes = a->count * a->elem_size;
    if (stamped_fits(a, bytes)) {
        stamped_path(a, ctx->shm);
        return TRIB_OK;
    }
    if (bytes <= SHM_SMALL_MAX && bytes <= a->segment_bytes) {
        small_path(a, ctx->shm);
        return TRIB_OK;
    }
    return trib_coll_shm_slices(a, ctx->shm, a->size, NULL, NULL);
}

/*
 * Built-in rule: on one node, shm at every size.  Measured on the 2-core
 * development machine (Open MPI 4.1.4, vader; benchmarks/RESULTS.md,
 * "Collectives"): shm was the fastest of ring, tree, rd, shm and
 * MPI_Allreduce at every size from 8 B to 16 MiB at 2 ranks (1.10-2.35x
 * MPI_Allreduce's speed) and at 4 oversubscribed ranks, and `trib-bench tune` chose it everywhere (benchmarks/tuning/shm.tuning).
 * A tuning file overrides this where measurements say otherwise.
 */
int trib_coll_shm_preferred(size_t bytes, int p)
{
    (void)bytes;
    return p > 1;
}
