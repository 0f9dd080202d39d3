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
 * stored (release) after the data.  Every rank fills its lines, waits for
 * each peer's last line to carry round n (the stamps are stored in line
 * order, so then every line does), copies every rank's lines end to end and
 * reduces the vector in rank order in one pass.  The last line's data
 * arrives with its flag and the other lines are read in parallel (the
 * counter would add a transfer before them all).  Waiting and reducing
 * line by line cost a transfer and a kernel call per line, one after the
 * other (benchmarks/RESULTS.md, "Collectives", section 4).  The counter
 * `seq` is not stored: every wait
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
 * Large vectors, single copy (native types, >= SHM_CMA_MIN bytes, when the
 * ranks may read and write each other's memory: Linux cross-memory attach,
 * process_vm_readv / process_vm_writev, probed once when the window is made;
 * TRIB_SHM_CMA=0 turns it off; TRIB_SHM_CMA_FAIL=R, a testing aid, makes
 * the first single-copy call of the window's rank R fail).  Each rank
 * publishes the addresses of its send and receive buffers in its slot, then
 *     round: everyone's buffers are published
 *     slice r, chunk by chunk (SHM_CMA_CHUNK): each peer's part read from its
 *       send buffer into a private chunk, my own straight from my send
 *       buffer, x_0 (+) ... (+) x_p-1 written into my receive buffer, and
 *       that chunk, still in cache, written into every peer's receive buffer
 *     round: every slice has reached every rank; no buffer is read or
 *       written by a peer any more, so the call may return
 *   Nothing is staged in the window: no copy-in, no copy-out through a slot,
 *   and two rounds per call instead of two per chunk.  Per rank about
 *   (p-1)/p n bytes are read from the peers and (p-1)/p n written to them.
 *   Measured at 2 ranks and 4 MiB before this path: the staged path spent
 *   155 us copying in, 280 us reducing, 86 us copying its slice out of the
 *   slot and 172 us copying the peer's slice (720 us in all; a concurrent
 *   memcpy of the buffers took 304 us).  In place is safe: only the owner of
 *   slice r reads or writes slice r of a peer's buffers, and it writes a
 *   chunk only after reading it.  A failure on any rank (a refused copy, no
 *   memory for the chunks) fails the call on every rank: an error word in
 *   each slot, read after the last round.
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
 * shared window of ~2 MiB per rank lives as long as the communicator (and,
 * once the single-copy path has run, 768 KiB of private chunks); the
 * single-copy path needs the ranks in one PID namespace and allowed to
 * ptrace each other (the probe falls back to the staged path otherwise:
 * containers without CAP_SYS_PTRACE, Yama ptrace_scope >= 1); the memory ordering relies on the MPI unified memory model (the window is
 * kept in a passive-target epoch with MPI_Win_lock_all) plus C11 atomics.
 */
#include "coll/coll_internal.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/uio.h>
#define SHM_HAVE_CMA 1
#else
#define SHM_HAVE_CMA 0
#endif

#define SHM_LINE 64
#define SHM_SMALL_MAX ((size_t)8 << 10)
#define SHM_CHUNK_MAX ((size_t)1 << 20)
#define SHM_PIECE_SLOTS 16 /* most pieces of a slice in flight (cma_pipeline) */
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
#define SHM_STAMP_BYTES (SHM_STAMP_LINES * SHM_STAMP_DATA)
typedef struct {
    _Atomic uint64_t round;
    char data[SHM_STAMP_DATA];
} shm_stamped_t;
_Static_assert(sizeof(shm_stamped_t) == SHM_LINE, "a stamped line is one cache line");

/* What a rank publishes for the single-copy path: its process, and per call its buffers. */
typedef struct {
    int64_t pid;
    uint64_t send, recv; /* this call's buffer addresses, in the owner's address space */
    uint64_t probe;      /* address of `pid`, for the probe read at creation */
    _Atomic uint64_t failed; /* last round in which a read of this rank failed */
    char pad[SHM_LINE - 5 * sizeof(uint64_t)];
} shm_cma_t;
_Static_assert(sizeof(shm_cma_t) == SHM_LINE, "the single-copy line is one cache line");
/* Smallest vector for the single-copy path: at 2 ranks it was faster than the staged path at 64-256 KiB
 * (8.0-9.2 against 9.3-10.7 us at 64 KiB) and the two are one path below (benchmarks/RESULTS.md,
 * "Collectives", shared memory at memory speed). */
#define SHM_CMA_MIN ((size_t)64 << 10)
/* Bytes of each private chunk the peers' inputs are read into. */
#define SHM_CMA_CHUNK ((size_t)256 << 10)

#define SLOT_CMA_OFF SHM_LINE
#define SLOT_STAMP_OFF (SLOT_CMA_OFF + SHM_LINE)
#define SLOT_SMALL_OFF (SLOT_STAMP_OFF + 2 * SHM_STAMP_LINES * SHM_LINE)
#define SLOT_CHUNK_OFF (SLOT_SMALL_OFF + 2 * SHM_SMALL_MAX)
#define SLOT_BYTES (SLOT_CHUNK_OFF + 2 * SHM_CHUNK_MAX)

struct trib_shm_state {
    MPI_Win win;
    int p, me;       /* ranks of the window's communicator, and mine */
    char **slot;     /* slot[q]: rank q's slot, mapped in this process */
    char **src;      /* scratch: p pointers to the inputs of one reduction */
    char *gathered;  /* scratch: p stamped vectors laid end to end (p x SHM_STAMP_BYTES) */
    uint64_t seq;    /* my counter's value (the last round I announced) */
    uint64_t chunks; /* chunks processed so far (selects chunk[c % 2]) */
    int spins;       /* spins before each sched_yield in a wait */
    int cma;         /* 1: every rank can read every other's memory (process_vm_readv) */
    int cma_fail;    /* testing aid (TRIB_SHM_CMA_FAIL): this rank's next single-copy call fails; -1: none */
    char *cma_buf;   /* 3 private chunks of SHM_CMA_CHUNK bytes (single-copy path), NULL before first use */
};

static shm_header_t *header(const struct trib_shm_state *s, int q) { return (shm_header_t *)s->slot[q]; }

/* Line `line` of rank q's stamped vector of round `round`. */
static shm_stamped_t *stamped(const struct trib_shm_state *s, int q, uint64_t round, size_t line)
{
    return (shm_stamped_t *)(s->slot[q] + SLOT_STAMP_OFF) + (round % 2) * SHM_STAMP_LINES + line;
}

static shm_cma_t *cma_line(const struct trib_shm_state *s, int q) { return (shm_cma_t *)(s->slot[q] + SLOT_CMA_OFF); }

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

/*
 * Copies n bytes between `local` in this process and `addr` in process pid:
 * a read (process_vm_readv) or, with write set, a write (process_vm_writev).
 * 0 or an errno value.  Partial transfers are continued.
 */
static int cma_copy(int64_t pid, uint64_t addr, void *local, size_t n, int write)
{
#if SHM_HAVE_CMA
    char *d = local;
    while (n > 0) {
        size_t part = n < ((size_t)1 << 30) ? n : (size_t)1 << 30;
        struct iovec l = {d, part}, r = {(void *)(uintptr_t)addr, part};
        ssize_t got = write ? process_vm_writev((pid_t)pid, &l, 1, &r, 1, 0)
                            : process_vm_readv((pid_t)pid, &l, 1, &r, 1, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return errno ? errno : EIO;
        }
        if (got == 0)
            return EIO;
        d += got;
        addr += (uint64_t)got;
        n -= (size_t)got;
    }
    return 0;
#else
    (void)pid, (void)addr, (void)local, (void)n, (void)write;
    return ENOSYS;
#endif
}

static int cma_read(int64_t pid, uint64_t addr, void *dst, size_t n) { return cma_copy(pid, addr, dst, n, 0); }

/* Whether this rank can read and write every peer's memory: each peer's pid, read from the peer itself and
 * written back unchanged. */
static int cma_probe(const struct trib_shm_state *s)
{
    const char *env = getenv("TRIB_SHM_CMA");
    if (!SHM_HAVE_CMA || (env && strcmp(env, "0") == 0))
        return 0;
    for (int q = 0; q < s->p; q++) {
        if (q == s->me)
            continue;
        const shm_cma_t *cl = cma_line(s, q);
        int64_t got = -1;
        if (cma_read(cl->pid, cl->probe, &got, sizeof got) != 0 || got != cl->pid ||
            cma_copy(cl->pid, cl->probe, &got, sizeof got, 1) != 0) /* writes back the same value */
            return 0;
    }
    return 1;
}

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
    s->gathered = malloc((size_t)size * SHM_STAMP_BYTES);
    if (!s->slot || !s->src || !s->gathered) {
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
    shm_cma_t *cl = cma_line(s, rank);
    cl->pid = (int64_t)getpid();
    cl->probe = (uint64_t)(uintptr_t)&cl->pid;
    atomic_store_explicit(&cl->failed, 0, memory_order_release);
    TRIB_MPI_TRY(MPI_Win_sync(s->win));
    TRIB_MPI_TRY(MPI_Barrier(comm));
    TRIB_MPI_TRY(MPI_Win_sync(s->win));
    int cma_ok = cma_probe(s);
    TRIB_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &cma_ok, 1, MPI_INT, MPI_MIN, comm));
    s->cma = cma_ok;
    const char *fail = getenv("TRIB_SHM_CMA_FAIL");
    s->cma_fail = fail && *fail && atoi(fail) == rank ? rank : -1;
    *out = s;
    return TRIB_OK;
error:
    if (locked)
        MPI_Win_unlock_all(s->win);
    if (s->win != MPI_WIN_NULL)
        MPI_Win_free(&s->win);
    free(s->slot);
    free(s->src);
    free(s->gathered);
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
    free(s->gathered);
    free(s->cma_buf);
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
    return bytes > SHM_TINY_MAX && bytes <= SHM_STAMP_BYTES && a->elem_size <= 8 && a->kernel;
}

/*
 * Waits until every peer's vector of `round` is complete.  Each line's stamp
 * is stored (release) after its data and after every earlier line's stamp,
 * so a peer's last line carrying the round shows all its lines do: only that
 * line is polled, and the others are read once, after it.
 */
static void wait_stamps(const struct trib_shm_state *s, uint64_t round, size_t nlines)
{
    for (int q = 0; q < s->p; q++)
        if (q != s->me)
            wait_until(&stamped(s, q, round, nlines - 1)->round, round, s->spins);
}

static void stamped_path(const trib_coll_args_t *a, struct trib_shm_state *s)
{
    size_t es = a->elem_size, per_line = SHM_STAMP_DATA / es; /* 56 is a multiple of 1, 2, 4 and 8 */
    size_t nlines = (a->count + per_line - 1) / per_line, bytes = a->count * es;
    uint64_t round = ++s->seq;
    const char *send = a->sendbuf;
    for (size_t l = 0; l < nlines; l++) {
        shm_stamped_t *mine = stamped(s, s->me, round, l);
        if (l + 1 < nlines)
            memcpy(mine->data, send + l * SHM_STAMP_DATA, SHM_STAMP_DATA);
        else
            memcpy(mine->data, send + l * SHM_STAMP_DATA, bytes - l * SHM_STAMP_DATA);
        atomic_store_explicit(&mine->round, round, memory_order_release);
    }
    wait_stamps(s, round, nlines);
    /* Every rank's lines laid end to end (whole lines: the copies have a constant size), then one
     * reduction over the vector instead of one per line. */
    char **src = s->src;
    for (int q = 0; q < s->p; q++) {
        src[q] = s->gathered + (size_t)q * SHM_STAMP_BYTES;
        for (size_t l = 0; l < nlines; l++)
            memcpy(src[q] + l * SHM_STAMP_DATA, stamped(s, q, round, l)->data, SHM_STAMP_DATA);
    }
    reduce_in_rank_order(a, s->p, a->recvbuf, src, a->count);
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
 * by rank q; ranks >= nslices reduce nothing) and ops applied to each
 * reduced slice before the others copy it (hier.c).
 */
static int cma_path(const trib_coll_args_t *a, struct trib_shm_state *s, int nslices,
                    const trib_coll_slice_ops_t *ops);
static int cma_takes(const trib_coll_args_t *a, const struct trib_shm_state *s);

/* ops over one piece in slot 0, waited for (the staged path: one piece per chunk's slice). */
static int ops_wait(const trib_coll_slice_ops_t *ops, char *piece, size_t len)
{
    int done = 0, rc = ops->start(ops->arg, 0, piece, len);
    while (rc == TRIB_OK && (rc = ops->test(ops->arg, 0, &done)) == TRIB_OK && !done)
        sched_yield();
    return rc;
}

int trib_coll_shm_slices(const trib_coll_args_t *a, struct trib_shm_state *s, int nslices,
                         const trib_coll_slice_ops_t *ops)
{
    if (cma_takes(a, s)) /* whole slices, their pieces overlapping (see cma_pipeline) */
        return cma_path(a, s, nslices, ops);
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
            if (ops && rc == TRIB_OK)
                rc = ops_wait(ops, mine + my_off * es, my_len);
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

/* Writes bytes [at, at + n) of my receive buffer into the same place of every peer's receive buffer. */
static int cma_push(const struct trib_shm_state *s, const char *recv, size_t at, size_t n)
{
    int err = 0;
    for (int q = 0; q < s->p && !err; q++)
        if (q != s->me)
            err = cma_copy(cma_line(s, q)->pid, cma_line(s, q)->recv + at, (char *)recv + at, n, 1);
    return err;
}

/*
 * Elements [off, off + len) of the result, chunk by chunk: x_0 (+) ... (+)
 * x_p-1 in rank order, the peers' parts read into private chunks, the last
 * step written straight into the receive buffer and, with push, each chunk
 * then written into every peer's receive buffer.  Returns 0 or the errno of
 * a failed copy.
 */
static int cma_reduce_slice(const trib_coll_args_t *a, struct trib_shm_state *s, size_t off, size_t len, int push)
{
    size_t es = a->elem_size, step = SHM_CMA_CHUNK / es;
    int p = s->p, me = s->me, err = 0;
    char *in = s->cma_buf, *acc = s->cma_buf + SHM_CMA_CHUNK, *own = s->cma_buf + 2 * SHM_CMA_CHUNK;
    const char *send = a->sendbuf;
    char *recv = a->recvbuf;
    for (size_t c = 0; c < len && !err; c += step) {
        size_t n = len - c < step ? len - c : step, at = (off + c) * es;
        const char *mine = send + at;
        if (a->sendbuf == a->recvbuf) { /* in place: the last step writes over my input */
            memcpy(own, mine, n * es);
            mine = own;
        }
        const char *sofar = NULL;
        for (int q = 0; q < p && !err; q++) {
            const char *x = mine;
            if (q != me) { /* x_0 goes where the sums will be, so the next peer's read does not overwrite it */
                const shm_cma_t *cl = cma_line(s, q);
                char *into = q == 0 ? acc : in;
                err = cma_read(cl->pid, cl->send + at, into, n * es);
                x = into;
            }
            if (err)
                break;
            if (q == 0) {
                sofar = x;
                continue;
            }
            char *dst = q == p - 1 ? recv + at : acc;
            trib_coll_combine(a, dst, sofar, x, n);
            sofar = dst;
        }
        if (!err && push) /* the chunk's result, still in cache, into every peer's buffer */
            err = cma_push(s, recv, at, n * es);
    }
    return err;
}

/* Elements in piece k of a slice of len elements cut into pieces of `piece` (the last one shorter). */
static size_t piece_len(size_t k, size_t piece, size_t len)
{
    return len - k * piece < piece ? len - k * piece : piece;
}

/*
 * My slice, elements [off, off + len), through ops piece by piece: piece k
 * is reduced over the node into my receive buffer and started across the
 * nodes; while at most ops->slots pieces travel, the next ones are reduced,
 * and each piece that has arrived is written into the peers' receive
 * buffers.  The network then carries one piece while the node's memory
 * work on the others runs beside it, where one whole slice after another
 * left the link idle during the reduction and the copy out (hier on 2
 * nodes of 2 ranks, 1 Gbit/s: benchmarks/RESULTS.md, "Collectives").
 * After a failed copy the pieces still cross the nodes (the peers there
 * wait for them), without the copies.  err: a failure before (an errno,
 * or 0); returns it or the errno of the first failed copy; *rc gets the
 * first failure of ops, after which no piece starts.
 */
static int cma_pipeline(const trib_coll_args_t *a, struct trib_shm_state *s, size_t off, size_t len,
                        const trib_coll_slice_ops_t *ops, int err, int *rc)
{
    size_t es = a->elem_size, piece = ops->piece_bytes / es > 0 ? ops->piece_bytes / es : 1;
    size_t npieces = (len + piece - 1) / piece, next = 0;
    size_t busy[SHM_PIECE_SLOTS] = {0}; /* 1 + the piece in the slot, 0 = free */
    int slots = ops->slots < 1 ? 1 : ops->slots > SHM_PIECE_SLOTS ? SHM_PIECE_SLOTS : ops->slots;
    char *recv = a->recvbuf;
    for (;;) {
        int pending = 0, moved = 0;
        for (int i = 0; i < slots; i++) {
            if (!busy[i])
                continue;
            int done = 0, r = ops->test(ops->arg, i, &done);
            if (r != TRIB_OK && *rc == TRIB_OK)
                *rc = r;
            if (!done && r == TRIB_OK) {
                pending++;
                continue;
            }
            size_t k = busy[i] - 1, at = (off + k * piece) * es, n = piece_len(k, piece, len);
            if (!err && r == TRIB_OK)
                err = cma_push(s, recv, at, n * es);
            busy[i] = 0;
            moved = 1;
        }
        /* Piece k always takes slot k % slots, on every rank: the slot names the piece's messages. */
        if (next < npieces && *rc == TRIB_OK && !busy[next % (size_t)slots]) {
            size_t k = next++, o = off + k * piece, n = piece_len(k, piece, len);
            int slot = (int)(k % (size_t)slots);
            if (!err)
                err = cma_reduce_slice(a, s, o, n, 0);
            if ((*rc = ops->start(ops->arg, slot, recv + o * es, n)) == TRIB_OK)
                busy[slot] = k + 1;
            continue;
        }
        if (!pending)
            return err;
        if (!moved)
            sched_yield();
    }
}

/*
 * The single-copy large path (see the top of the file), with the vector cut
 * into nslices slices (slice q reduced by rank q) and ops applied to each
 * reduced slice before it goes to the others (hier.c: the allreduce across
 * nodes, cma_pipeline); without ops each chunk is pushed as soon as it is
 * reduced.  Every rank runs both rounds, even after a failure, so that no
 * rank is left waiting; an ops failure is returned after them, as on the
 * staged path.
 */
static int cma_path(const trib_coll_args_t *a, struct trib_shm_state *s, int nslices,
                    const trib_coll_slice_ops_t *ops)
{
    int p = s->p, me = s->me, err = 0, rc = TRIB_OK;
    if (!s->cma_buf && !(s->cma_buf = malloc(3 * SHM_CMA_CHUNK)))
        err = ENOMEM;
    if (s->cma_fail == me) { /* testing aid: as if a copy had been refused, once */
        err = EIO;
        s->cma_fail = -1;
    }
    shm_cma_t *mine = cma_line(s, me);
    mine->send = (uint64_t)(uintptr_t)a->sendbuf;
    mine->recv = (uint64_t)(uintptr_t)a->recvbuf;
    round_sync(s, me); /* publishes the addresses (release), sees everyone's */
    uint64_t call = s->seq;
    trib_blocks_t b;
    trib_blocks_init(&b, a->count, nslices);
    size_t off = me < nslices ? trib_block_offset(&b, me) : 0, len = me < nslices ? trib_block_count(&b, me) : 0;
    if (ops && len > 0)
        err = cma_pipeline(a, s, off, len, ops, err, &rc);
    else if (!err && len > 0)
        err = cma_reduce_slice(a, s, off, len, 1);
    if (err)
        atomic_store_explicit(&mine->failed, call, memory_order_release);
    round_sync(s, me);
    for (int q = 0; q < p; q++)
        if (atomic_load_explicit(&cma_line(s, q)->failed, memory_order_acquire) == call)
            return trib_errorf(q == me && err == ENOMEM ? TRIB_ERR_NOMEM : TRIB_ERR_MPI,
                               "shm allreduce: the single-copy path failed on rank %d%s%s", q,
                               q == me ? ": " : " (reading its buffers or out of memory)",
                               q == me ? strerror(err) : "");
    return rc;
}

/* Whether the single-copy path takes this call. */
static int cma_takes(const trib_coll_args_t *a, const struct trib_shm_state *s)
{
    return s->cma && a->kernel && a->count * a->elem_size >= SHM_CMA_MIN;
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
    return trib_coll_shm_slices(a, ctx->shm, a->size, NULL);
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
