/*
 * reduce_local.c - the generic path: derived datatypes and user-defined
 * operations, combined by MPI_Reduce_local inside Tributary's algorithms.
 *
 * What the algorithms need from an element: a fixed number of bytes they
 * can copy (memcpy in shm, temporary buffers everywhere) and an MPI datatype
 * to send it with.  A datatype is used as it is when it is dense (true lb 0,
 * true extent = extent = size: every named type, contiguous derived types,
 * structs without padding): elements are its own bytes and messages use the
 * caller's datatype.  Otherwise (gaps: a vector with a stride, a struct with
 * padding, a resized or shifted type) the call's data is packed first,
 *
 *   caller's buffer --MPI_Pack--> work (count x size bytes) --algorithm-->
 *   work --MPI_Unpack--> caller's receive buffer
 *
 * and the algorithm moves packed elements of `size` bytes (a contiguous
 * MPI_BYTE type).  The `mpi` algorithm is the exception: it hands the
 * caller's buffers, datatype and op straight to MPI_Allreduce.
 *
 * The combining step dst = x (+) y (x: the lower ranks, as in every
 * algorithm) runs in chunks of about CHUNK_BYTES:
 *   dense, dst == y:  MPI_Reduce_local(x, dst)            (inout = in op inout)
 *   dense, otherwise: copy y to scratch, MPI_Reduce_local(x, scratch), copy
 *                     scratch to dst (y may be another rank's shared slot,
 *                     which must not change)
 *   packed:           unpack x and y into typed scratch buffers,
 *                     MPI_Reduce_local(sx, sy), pack sy into dst.
 * MPI defines a user function as inoutvec[i] = invec[i] op inoutvec[i], so
 * in both cases the lower ranks' data is the left operand, which is what a
 * non-commutative operation needs (the selector gives such an operation
 * only to algorithms that keep rank order).
 *
 * A combining step cannot return an error to the algorithm (the kernel
 * interface is void, and a rank that stopped half-way would leave the others
 * waiting): the first failure is kept in the state, the algorithm finishes
 * its schedule, and the call returns the failure.  MPI_Reduce_local itself
 * reports failures through MPI_COMM_WORLD's error handler first.
 *
 * Cost: as the chosen algorithm, plus per combined byte one or two copies
 * (dense) or two unpacks and a pack (packed), plus MPI_Reduce_local's call
 * overhead per chunk; and one pack and one unpack of the vector per call.
 *
 * Limits: datatypes with a negative extent are not supported
 * (TRIB_ERR_UNSUPPORTED); the packed form is MPI's "native" one, assumed to
 * be `size` bytes per element (checked on every pack).
 */
#include "coll/coll_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* Bytes of typed data combined per MPI_Reduce_local call (scratch size). */
#define CHUNK_BYTES ((size_t)64 << 10)

struct trib_coll_generic {
    MPI_Datatype type; /* the caller's */
    MPI_Op op;         /* the caller's */
    MPI_Comm comm;     /* for MPI_Pack / MPI_Unpack */
    int packed;        /* 1: the algorithm moves packed elements */
    size_t size;       /* MPI_Type_size: bytes of data per element */
    size_t extent;     /* MPI extent: distance between elements in a typed buffer */
    MPI_Aint true_lb;  /* first byte of an element relative to its address */
    size_t chunk;      /* elements per combining step */
    char *scratch[2];  /* typed scratch, `chunk` elements each (dense: [0] only) */
    int status;        /* first failure of a combining step */
};

typedef struct trib_coll_generic generic_t;

/* Reads the datatype's layout. dense = true lb 0 and no gaps. */
static int type_layout(MPI_Datatype type, size_t *size, size_t *extent, MPI_Aint *true_lb, size_t *true_extent,
                       int *dense)
{
    int rc = TRIB_OK;
    int sz = 0;
    MPI_Aint lb = 0, ext = 0, tlb = 0, text = 0;
    TRIB_MPI_TRY(MPI_Type_size(type, &sz));
    TRIB_MPI_TRY(MPI_Type_get_extent(type, &lb, &ext));
    TRIB_MPI_TRY(MPI_Type_get_true_extent(type, &tlb, &text));
    if (sz < 0 || ext < 0 || text < 0)
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "allreduce: datatypes with a negative extent are not supported");
    *size = (size_t)sz;
    *extent = (size_t)ext;
    *true_lb = tlb;
    *true_extent = (size_t)text;
    *dense = tlb == 0 && lb == 0 && text == ext && (size_t)ext == (size_t)sz;
    return TRIB_OK;
error:
    return rc;
}

int trib_coll_generic_elem_size(MPI_Datatype type, size_t *elem_size)
{
    size_t size = 0, extent = 0, true_extent = 0;
    MPI_Aint true_lb = 0;
    int dense = 0;
    int rc = type_layout(type, &size, &extent, &true_lb, &true_extent, &dense);
    if (rc == TRIB_OK)
        *elem_size = size;
    return rc;
}

/* ------------------------------------------------------------ pack, unpack */

/* Elements per MPI_Pack call: int counts, messages of at most TRIB_MAX_MSG_BYTES. */
static size_t pack_batch(const generic_t *g)
{
    size_t per = TRIB_MAX_MSG_BYTES / g->size;
    return per > 0 ? per : 1;
}

/* typed (n elements in the caller's layout) -> packed (n * size bytes). */
static int pack_elems(generic_t *g, const void *typed, size_t n, void *packed)
{
    size_t per = pack_batch(g);
    for (size_t off = 0; off < n; off += per) {
        size_t k = n - off < per ? n - off : per;
        int pos = 0;
        int rc = MPI_Pack((const char *)typed + off * g->extent, (int)k, g->type, (char *)packed + off * g->size,
                          (int)(k * g->size), &pos, g->comm);
        if (rc != MPI_SUCCESS)
            return trib_coll_mpi_error(rc, "MPI_Pack");
        if ((size_t)pos != k * g->size)
            return trib_errorf(TRIB_ERR_INTERNAL, "allreduce: MPI_Pack wrote %d bytes for %zu elements of %zu bytes",
                               pos, k, g->size);
    }
    return TRIB_OK;
}

/* packed -> typed (only the datatype's bytes are written). */
static int unpack_elems(generic_t *g, const void *packed, size_t n, void *typed)
{
    size_t per = pack_batch(g);
    for (size_t off = 0; off < n; off += per) {
        size_t k = n - off < per ? n - off : per;
        int pos = 0;
        int rc = MPI_Unpack((const char *)packed + off * g->size, (int)(k * g->size), &pos,
                            (char *)typed + off * g->extent, (int)k, g->type, g->comm);
        if (rc != MPI_SUCCESS)
            return trib_coll_mpi_error(rc, "MPI_Unpack");
    }
    return TRIB_OK;
}

/* ------------------------------------------------------------ combining */

static void fail(generic_t *g, int rc)
{
    if (g->status == TRIB_OK)
        g->status = rc;
}

static int reduce_local(generic_t *g, const void *in, void *inout, size_t n)
{
    int rc = MPI_Reduce_local(in, inout, (int)n, g->type, g->op);
    return rc == MPI_SUCCESS ? TRIB_OK : trib_coll_mpi_error(rc, "MPI_Reduce_local");
}

void trib_coll_generic_combine(struct trib_coll_generic *g, void *dst, const void *x, const void *y, size_t n)
{
    size_t es = g->size; /* bytes per element of the working representation */
    for (size_t off = 0; off < n && g->status == TRIB_OK; off += g->chunk) {
        size_t k = n - off < g->chunk ? n - off : g->chunk;
        const char *xs = (const char *)x + off * es, *ys = (const char *)y + off * es;
        char *ds = (char *)dst + off * es;
        int rc;
        if (g->packed) {
            char *sx = g->scratch[0] - g->true_lb, *sy = g->scratch[1] - g->true_lb;
            if ((rc = unpack_elems(g, xs, k, sx)) == TRIB_OK && (rc = unpack_elems(g, ys, k, sy)) == TRIB_OK &&
                (rc = reduce_local(g, sx, sy, k)) == TRIB_OK)
                rc = pack_elems(g, sy, k, ds);
        } else if (dst == y) {
            rc = reduce_local(g, xs, ds, k);
        } else {
            memcpy(g->scratch[0], ys, k * es);
            if ((rc = reduce_local(g, xs, g->scratch[0], k)) == TRIB_OK)
                memcpy(ds, g->scratch[0], k * es);
        }
        if (rc != TRIB_OK)
            fail(g, rc);
    }
}

/* -------------------------------------------------------------- the call */

static int generic_init(generic_t *g, const trib_coll_args_t *a)
{
    memset(g, 0, sizeof *g);
    g->type = a->mpi_type;
    g->op = a->mpi_op;
    g->comm = a->comm;
    g->status = TRIB_OK;
    size_t true_extent = 0;
    int dense = 0;
    int rc = type_layout(a->mpi_type, &g->size, &g->extent, &g->true_lb, &true_extent, &dense);
    if (rc != TRIB_OK)
        return rc;
    g->packed = !dense;
    if (g->size == 0)
        return TRIB_OK;
    size_t span_unit = g->extent > 0 ? g->extent : true_extent;
    g->chunk = span_unit > 0 && CHUNK_BYTES / span_unit > 0 ? CHUNK_BYTES / span_unit : 1;
    if (g->chunk > a->count)
        g->chunk = a->count;
    if (g->chunk > (size_t)INT_MAX)
        g->chunk = (size_t)INT_MAX;
    /* (chunk - 1) elements apart, plus one element's true extent. */
    size_t bytes = (g->chunk - 1) * g->extent + true_extent;
    if (bytes < g->chunk * g->size)
        bytes = g->chunk * g->size;
    for (int i = 0; i < (g->packed ? 2 : 1); i++) {
        /* Zeroed: a user function may read the gaps of its elements. */
        g->scratch[i] = calloc(1, bytes);
        if (!g->scratch[i])
            return trib_errorf(TRIB_ERR_NOMEM, "allreduce: cannot allocate %zu bytes of scratch", bytes);
    }
    return TRIB_OK;
}

static void generic_fini(generic_t *g)
{
    free(g->scratch[0]);
    free(g->scratch[1]);
}

/* Copies count elements in the caller's layout through a packed buffer. */
static int typed_copy(generic_t *g, const void *src, void *dst, size_t count, void *work)
{
    int rc = pack_elems(g, src, count, work);
    return rc == TRIB_OK ? unpack_elems(g, work, count, dst) : rc;
}

/* One call's generic state, from begin to end (lives as long as a non-blocking request). */
struct trib_coll_generic_call {
    generic_t g;
    char *work;              /* packed copy of the vector (packed datatypes) */
    MPI_Datatype bytes_type; /* contiguous MPI_BYTE type of one packed element */
    void *recvbuf;           /* the caller's, for the unpack */
    size_t count;
    int unpack;              /* 1: end unpacks work into recvbuf */
};

int trib_coll_generic_begin(const trib_coll_args_t *a, trib_algo_t algo, struct trib_coll_generic_call **out,
                            trib_coll_args_t *run_args, int *run)
{
    *run = 0;
    struct trib_coll_generic_call *gc = calloc(1, sizeof *gc);
    if (!gc)
        return trib_errorf(TRIB_ERR_NOMEM, "allreduce: out of memory for the generic path");
    *out = gc;
    gc->bytes_type = MPI_DATATYPE_NULL;
    gc->recvbuf = a->recvbuf;
    gc->count = a->count;
    generic_t *g = &gc->g;
    int rc = generic_init(g, a);
    if (rc != TRIB_OK || g->size == 0)
        return rc;
    trib_coll_args_t b = *a;
    b.kernel = NULL;
    b.generic = g;
    int in_place = a->sendbuf == a->recvbuf;
    size_t total;
    if (trib_size_mul(a->count, g->extent > g->size ? g->extent : g->size, &total) != TRIB_OK)
        return trib_errorf(TRIB_ERR_RANGE, "allreduce: count %zu is too large for this datatype", a->count);

    if (!g->packed) {
        /* Dense: the caller's buffers and datatype as they are. */
        b.elem_size = g->size;
        if (a->size == 1) {
            trib_coll_copy_in(&b);
            return TRIB_OK;
        }
    } else if (a->size > 1 && algo == TRIB_ALGO_MPI) {
        b.elem_size = g->extent;
    } else {
        gc->work = malloc(a->count * g->size);
        if (!gc->work)
            return trib_errorf(TRIB_ERR_NOMEM, "allreduce: cannot allocate %zu bytes to pack into",
                               a->count * g->size);
        if (a->size == 1)
            return in_place ? TRIB_OK : typed_copy(g, a->sendbuf, a->recvbuf, a->count, gc->work);
        if ((rc = pack_elems(g, a->sendbuf, a->count, gc->work)) != TRIB_OK)
            return rc;
        int mpi_rc = MPI_Type_contiguous((int)g->size, MPI_BYTE, &gc->bytes_type);
        if (mpi_rc == MPI_SUCCESS)
            mpi_rc = MPI_Type_commit(&gc->bytes_type);
        if (mpi_rc != MPI_SUCCESS)
            return trib_coll_mpi_error(mpi_rc, "MPI_Type_contiguous");
        b.sendbuf = gc->work;
        b.recvbuf = gc->work;
        b.elem_size = g->size;
        b.mpi_type = gc->bytes_type;
        gc->unpack = 1;
    }
    *run_args = b;
    *run = 1;
    return TRIB_OK;
}

int trib_coll_generic_end(struct trib_coll_generic_call *gc, int rc)
{
    if (!gc)
        return rc;
    generic_t *g = &gc->g;
    if (rc == TRIB_OK && g->status != TRIB_OK)
        rc = g->status;
    if (rc == TRIB_OK && gc->unpack)
        rc = unpack_elems(g, gc->work, gc->count, gc->recvbuf);
    if (gc->bytes_type != MPI_DATATYPE_NULL)
        MPI_Type_free(&gc->bytes_type);
    free(gc->work);
    generic_fini(g);
    free(gc);
    return rc;
}
