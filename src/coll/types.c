/*
 * types.c - which code combines a (datatype, op) pair.
 *
 * Three outcomes, decided here and nowhere else:
 *
 *   native    a predefined datatype with a predefined op that the MPI
 *             standard defines on it: a kernel of kernels.c.  Open MPI's
 *             handles are pointers (not constants), so the datatype is
 *             found by comparing handles with the table below, which maps
 *             each MPI type to the kernel family of its size and kind
 *             (MPI_LONG, MPI_AINT, MPI_INT64_T -> int64 on LP64 ...).
 *   generic   a user-defined op (any datatype), or a predefined op on a
 *             datatype without a native kernel that MPI nevertheless accepts
 *             (Open MPI takes e.g. MPI_SUM on MPI_CHAR and MPI_BYTE):
 *             MPI_Reduce_local combines (reduce_local.c).
 *   rejected  what MPI_Allreduce itself would reject: TRIB_ERR_INVALID_ARG
 *             with MPI's message.  For a predefined op outside the standard's
 *             table, MPI is asked with MPI_Reduce_local on zero elements
 *             (with MPI_COMM_WORLD's error handler set to MPI_ERRORS_RETURN
 *             for that call, so a refusal comes back as a code instead of
 *             ending the job).
 *
 * The standard's table (MPI-3.1, 5.9.2), by class of datatype:
 *   MIN MAX                C integer, multi-language (MPI_AINT, MPI_OFFSET,
 *                          MPI_COUNT), floating point
 *   SUM PROD               the same plus complex
 *   LAND LOR LXOR          C integer, logical (MPI_C_BOOL)
 *   BAND BOR BXOR          C integer, multi-language, byte (MPI_BYTE)
 *   MINLOC MAXLOC          the pair types (MPI_2INT, MPI_FLOAT_INT, ...)
 * plus Tributary's TRIB_OP_AVG on MPI_FLOAT and MPI_DOUBLE.
 */
#include "coll/coll_internal.h"

#include <stdbool.h>
#include <string.h>

#include "core/log.h"

typedef enum { CL_INT, CL_MULTI, CL_BYTE, CL_BOOL, CL_FLOAT, CL_COMPLEX, CL_PAIR } type_class_t;

typedef struct {
    MPI_Datatype handle;
    trib_coll_type_t type;
    type_class_t cls;
} type_entry_t;

/* The integer kernel family of a C integer type of `size` bytes (a constant expression: the table is static). */
#define INT_FAMILY(size, s)                                                                                         \
    ((size) == 1   ? ((s) ? TRIB_TYPE_INT8 : TRIB_TYPE_UINT8)                                                      \
     : (size) == 2 ? ((s) ? TRIB_TYPE_INT16 : TRIB_TYPE_UINT16)                                                    \
     : (size) == 4 ? ((s) ? TRIB_TYPE_INT32 : TRIB_TYPE_UINT32)                                                    \
     : (size) == 8 ? ((s) ? TRIB_TYPE_INT64 : TRIB_TYPE_UINT64)                                                    \
                   : TRIB_TYPE_GENERIC)
#define SINT(T) INT_FAMILY(sizeof(T), 1)
#define UINT(T) INT_FAMILY(sizeof(T), 0)

/*
 * Looks the handle up; 0 when it is not in the table.  The most common
 * types come first (the scan stops at the first match).
 */
static int lookup(MPI_Datatype t, type_entry_t *out)
{
    static const type_entry_t table[] = {
        {MPI_FLOAT, TRIB_TYPE_FLOAT, CL_FLOAT},
        {MPI_DOUBLE, TRIB_TYPE_DOUBLE, CL_FLOAT},
        {MPI_INT, SINT(int), CL_INT},
        {MPI_INT32_T, TRIB_TYPE_INT32, CL_INT},
        {MPI_INT64_T, TRIB_TYPE_INT64, CL_INT},
        {MPI_UINT8_T, TRIB_TYPE_UINT8, CL_INT},
        {MPI_LONG, SINT(long), CL_INT},
        {MPI_UNSIGNED, UINT(unsigned), CL_INT},
        {MPI_UNSIGNED_LONG, UINT(unsigned long), CL_INT},
        {MPI_LONG_LONG_INT, SINT(long long), CL_INT},
        {MPI_LONG_LONG, SINT(long long), CL_INT},
        {MPI_UNSIGNED_LONG_LONG, UINT(unsigned long long), CL_INT},
        {MPI_SHORT, SINT(short), CL_INT},
        {MPI_UNSIGNED_SHORT, UINT(unsigned short), CL_INT},
        {MPI_SIGNED_CHAR, SINT(signed char), CL_INT},
        {MPI_UNSIGNED_CHAR, UINT(unsigned char), CL_INT},
        {MPI_INT8_T, TRIB_TYPE_INT8, CL_INT},
        {MPI_INT16_T, TRIB_TYPE_INT16, CL_INT},
        {MPI_UINT16_T, TRIB_TYPE_UINT16, CL_INT},
        {MPI_UINT32_T, TRIB_TYPE_UINT32, CL_INT},
        {MPI_UINT64_T, TRIB_TYPE_UINT64, CL_INT},
        {MPI_AINT, SINT(MPI_Aint), CL_MULTI},
        {MPI_OFFSET, SINT(MPI_Offset), CL_MULTI},
        {MPI_COUNT, SINT(MPI_Count), CL_MULTI},
        {MPI_BYTE, TRIB_TYPE_UINT8, CL_BYTE},
        {MPI_C_BOOL, sizeof(_Bool) == 1 ? TRIB_TYPE_BOOL : TRIB_TYPE_GENERIC, CL_BOOL},
        {MPI_LONG_DOUBLE, TRIB_TYPE_LDOUBLE, CL_FLOAT},
        {MPI_C_COMPLEX, TRIB_TYPE_CFLOAT, CL_COMPLEX},
        {MPI_C_FLOAT_COMPLEX, TRIB_TYPE_CFLOAT, CL_COMPLEX},
        {MPI_C_DOUBLE_COMPLEX, TRIB_TYPE_CDOUBLE, CL_COMPLEX},
        {MPI_C_LONG_DOUBLE_COMPLEX, TRIB_TYPE_CLDOUBLE, CL_COMPLEX},
        {MPI_2INT, TRIB_TYPE_2INT, CL_PAIR},
        {MPI_FLOAT_INT, TRIB_TYPE_FLOAT_INT, CL_PAIR},
        {MPI_DOUBLE_INT, TRIB_TYPE_DOUBLE_INT, CL_PAIR},
        {MPI_LONG_INT, TRIB_TYPE_LONG_INT, CL_PAIR},
        {MPI_SHORT_INT, TRIB_TYPE_SHORT_INT, CL_PAIR},
        {MPI_LONG_DOUBLE_INT, TRIB_TYPE_LDOUBLE_INT, CL_PAIR},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].handle == t) {
            *out = table[i];
            return out->type != TRIB_TYPE_GENERIC;
        }
    }
    return 0;
}

/*
 * The pair types are MPI structs {value, int}: their layout must be the C
 * struct's (lb 0, extent = sizeof) for the kernels to address them.  True
 * on every ABI we know; checked rather than assumed (one MPI call).
 */
static int layout_matches(MPI_Datatype t, trib_coll_type_t kind, type_class_t cls)
{
    if (cls != CL_PAIR)
        return 1;
    MPI_Aint lb = 0, extent = 0;
    if (MPI_Type_get_extent(t, &lb, &extent) != MPI_SUCCESS)
        return 0;
    return lb == 0 && (size_t)extent == trib_coll_type_size(kind);
}

/* Whether the standard defines `op` on this class (see the table above). */
static int standard_allows(type_class_t cls, trib_coll_op_t op)
{
    switch (op) {
    case TRIB_OPK_MIN:
    case TRIB_OPK_MAX: return cls == CL_INT || cls == CL_MULTI || cls == CL_FLOAT;
    case TRIB_OPK_SUM:
    case TRIB_OPK_PROD: return cls == CL_INT || cls == CL_MULTI || cls == CL_FLOAT || cls == CL_COMPLEX;
    case TRIB_OPK_LAND:
    case TRIB_OPK_LOR:
    case TRIB_OPK_LXOR: return cls == CL_INT || cls == CL_BOOL;
    case TRIB_OPK_BAND:
    case TRIB_OPK_BOR:
    case TRIB_OPK_BXOR: return cls == CL_INT || cls == CL_MULTI || cls == CL_BYTE;
    case TRIB_OPK_MINLOC:
    case TRIB_OPK_MAXLOC: return cls == CL_PAIR;
    default: return 0;
    }
}

int trib_coll_type_from_mpi(MPI_Datatype type, trib_coll_type_t *out)
{
    type_entry_t e = {MPI_DATATYPE_NULL, TRIB_TYPE_GENERIC, CL_INT};
    if (!lookup(type, &e) || !layout_matches(type, e.type, e.cls))
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "allreduce: no native kernel for this datatype");
    *out = e.type;
    return TRIB_OK;
}

/* The predefined reduction ops and AVG; 0 for anything else (no error recorded). */
static int find_op(MPI_Op op, trib_coll_op_t *out)
{
    static const struct {
        MPI_Op handle;
        trib_coll_op_t op;
    } table[] = {
        {MPI_SUM, TRIB_OPK_SUM},   {MPI_MAX, TRIB_OPK_MAX},       {MPI_MIN, TRIB_OPK_MIN},
        {MPI_PROD, TRIB_OPK_PROD}, {MPI_BOR, TRIB_OPK_BOR},       {MPI_BAND, TRIB_OPK_BAND},
        {MPI_BXOR, TRIB_OPK_BXOR}, {MPI_LAND, TRIB_OPK_LAND},     {MPI_LOR, TRIB_OPK_LOR},
        {MPI_LXOR, TRIB_OPK_LXOR}, {MPI_MINLOC, TRIB_OPK_MINLOC}, {MPI_MAXLOC, TRIB_OPK_MAXLOC},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].handle == op) {
            *out = table[i].op;
            return 1;
        }
    }
    if (op != MPI_OP_NULL && op == trib_op_avg()) {
        *out = TRIB_OPK_AVG;
        return 1;
    }
    return 0;
}

int trib_coll_op_from_mpi(MPI_Op op, trib_coll_op_t *out)
{
    if (!find_op(op, out))
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "allreduce: not a predefined reduction operation");
    return TRIB_OK;
}

static const char *const type_names[TRIB_TYPE_COUNT] = {
    "float",  "double", "int32",   "int64",    "uint8",    "int8",      "int16",     "uint16",
    "uint32", "uint64", "ldouble", "cfloat",   "cdouble",  "cldouble",  "bool",      "2int",
    "float_int", "double_int", "long_int", "short_int", "ldouble_int", "generic"};

static const char *const op_names[TRIB_OPK_COUNT] = {"sum",  "prod", "min",  "max",    "avg",    "land", "lor",
                                                     "lxor", "band", "bor",  "bxor",   "minloc", "maxloc", "user"};

const char *trib_coll_type_name(trib_coll_type_t t)
{
    return (unsigned)t < TRIB_TYPE_COUNT ? type_names[t] : "?";
}

const char *trib_coll_op_name(trib_coll_op_t op) { return (unsigned)op < TRIB_OPK_COUNT ? op_names[op] : "?"; }

int trib_coll_pair_supported(trib_coll_type_t t, trib_coll_op_t op)
{
    if ((unsigned)t >= TRIB_TYPE_COUNT || (unsigned)op >= TRIB_OPK_COUNT)
        return 0;
    if (op == TRIB_OPK_AVG)
        return t == TRIB_TYPE_FLOAT || t == TRIB_TYPE_DOUBLE;
    return trib_coll_kernel(t, op) != NULL;
}

/*
 * Asks MPI whether it defines a predefined `op` on `type`: MPI_Reduce_local
 * on zero elements checks the pair and touches no memory.  A refusal would
 * go to MPI_COMM_WORLD's error handler (fatal by default), so that handler
 * is MPI_ERRORS_RETURN for this one call.  (Not safe against another
 * thread changing MPI_COMM_WORLD's error handler at the same moment.)
 */
static int mpi_accepts(MPI_Datatype type, MPI_Op op)
{
    MPI_Errhandler saved;
    int rc = MPI_Comm_get_errhandler(MPI_COMM_WORLD, &saved);
    if (rc != MPI_SUCCESS)
        return trib_coll_mpi_error(rc, "MPI_Comm_get_errhandler");
    rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (rc != MPI_SUCCESS) {
        MPI_Errhandler_free(&saved);
        return trib_coll_mpi_error(rc, "MPI_Comm_set_errhandler");
    }
    char dummy[1];
    int probe = MPI_Reduce_local(dummy, dummy, 0, type, op);
    rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, saved);
    MPI_Errhandler_free(&saved);
    if (rc != MPI_SUCCESS)
        return trib_coll_mpi_error(rc, "MPI_Comm_set_errhandler");
    if (probe != MPI_SUCCESS) {
        char msg[MPI_MAX_ERROR_STRING];
        int len = 0;
        if (MPI_Error_string(probe, msg, &len) != MPI_SUCCESS)
            strcpy(msg, "refused");
        return trib_errorf(TRIB_ERR_INVALID_ARG, "allreduce: MPI does not define this operation on this datatype (%s)",
                           msg);
    }
    return TRIB_OK;
}

int trib_coll_classify(MPI_Datatype type, MPI_Op op, trib_coll_class_t *out)
{
    if (type == MPI_DATATYPE_NULL)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "allreduce: datatype is MPI_DATATYPE_NULL");
    if (op == MPI_OP_NULL)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "allreduce: operation is MPI_OP_NULL");
    if (op == MPI_REPLACE || op == MPI_NO_OP)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "allreduce: MPI_REPLACE and MPI_NO_OP are not reduction operations");
    out->commutative = 1;
    type_entry_t e = {MPI_DATATYPE_NULL, TRIB_TYPE_GENERIC, CL_INT};
    int known = lookup(type, &e) && layout_matches(type, e.type, e.cls);
    trib_coll_op_t kop;
    if (!find_op(op, &kop)) {
        /* A user-defined operation: MPI_Reduce_local applies it, in rank order when it must. */
        int commute = 1;
        int rc = MPI_Op_commutative(op, &commute);
        if (rc != MPI_SUCCESS)
            return trib_errorf(TRIB_ERR_INVALID_ARG, "allreduce: invalid operation handle");
        out->type = TRIB_TYPE_GENERIC;
        out->op = TRIB_OPK_USER;
        out->commutative = commute != 0;
        return TRIB_OK;
    }
    out->op = kop;
    if (kop == TRIB_OPK_AVG) {
        if (!known || !trib_coll_pair_supported(e.type, kop))
            return trib_errorf(TRIB_ERR_UNSUPPORTED, "allreduce: TRIB_OP_AVG is defined on MPI_FLOAT and MPI_DOUBLE only");
        out->type = e.type;
        return TRIB_OK;
    }
    if (known && standard_allows(e.cls, kop) && trib_coll_kernel(e.type, kop)) {
        out->type = e.type;
        return TRIB_OK;
    }
    /* Outside the standard's table, or a derived type: MPI decides. */
    int rc = mpi_accepts(type, op);
    if (rc != TRIB_OK)
        return rc;
    out->type = TRIB_TYPE_GENERIC;
    out->op = TRIB_OPK_USER;
    return TRIB_OK;
}
