/*
 * h5io.c - the HDF5 side of checkpoints: files, groups, checksummed datasets,
 * attributes and listings, each call checked and turned into one message
 * naming the file and the object.
 *
 * A dataset is written in one H5Dwrite from the caller's buffer (contiguous
 * layout, no chunking or filters: checkpoint arrays are read back whole), and
 * gets two small attributes: "crc32c", the CRC32C of its bytes as they are in
 * memory (little-endian hosts: the same bytes as in the file), and "kind",
 * which tells a global value (int, double, string) from an array.  Reading
 * recomputes the CRC32C over what was read, so a flipped bit anywhere in the
 * data is reported as TRIB_ERR_CORRUPT with the file and dataset named.
 *
 * HDF5 prints its error stack by default; trib_ckpt_h5_quiet() turns that off
 * (every public entry point calls it) because our messages replace it.
 */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/internal.h"
#include "core/alloc.h"

_Static_assert(sizeof(hid_t) == sizeof(trib_ckpt_hid_t), "hid_t is expected to be 64-bit");

void trib_ckpt_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* File access: close everything with the file, no file locks (NFS/Lustre). */
static hid_t make_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return -1;
    if (H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        H5Pclose(fapl);
        return -1;
    }
#if H5_VERSION_GE(1, 10, 7)
    if (H5Pset_file_locking(fapl, 0, 1) < 0) {
        H5Pclose(fapl);
        return -1;
    }
#endif
    return fapl;
}

int trib_ckpt_h5_create(const char *path, trib_ckpt_hid_t *file)
{
    trib_ckpt_h5_quiet();
    hid_t fapl = make_fapl();
    if (fapl < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot set up HDF5 file access", path);
    hid_t f = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot create HDF5 file", path);
    *file = f;
    return TRIB_OK;
}

int trib_ckpt_h5_open(const char *path, trib_ckpt_hid_t *file)
{
    trib_ckpt_h5_quiet();
    hid_t fapl = make_fapl();
    if (fapl < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot set up HDF5 file access", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: cannot open as HDF5 (missing, truncated or damaged)",
                           path);
    *file = f;
    return TRIB_OK;
}

int trib_ckpt_h5_close_file(trib_ckpt_hid_t file, const char *path)
{
    if (file < 0)
        return TRIB_OK;
    if (H5Fclose(file) < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: closing the HDF5 file failed", path);
    return TRIB_OK;
}

int trib_ckpt_h5_create_group(trib_ckpt_hid_t loc, const char *file, const char *name,
                              trib_ckpt_hid_t *group)
{
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot create group '%s'", file, name);
    *group = g;
    return TRIB_OK;
}

int trib_ckpt_h5_open_group(trib_ckpt_hid_t loc, const char *file, const char *name,
                            trib_ckpt_hid_t *group)
{
    hid_t g = H5Gopen2(loc, name, H5P_DEFAULT);
    if (g < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: group '%s' missing or unreadable", file, name);
    *group = g;
    return TRIB_OK;
}

void trib_ckpt_h5_close_group(trib_ckpt_hid_t group)
{
    if (group >= 0)
        H5Gclose(group);
}

int trib_ckpt_h5_exists(trib_ckpt_hid_t loc, const char *name)
{
    return H5Lexists(loc, name, H5P_DEFAULT) > 0;
}

/* Memory and file types of an element type; file types are little-endian. */
static int types_of(int dtype, hid_t *mem, hid_t *filet)
{
    switch (dtype) {
    case TRIB_CKPT_F32: *mem = H5T_NATIVE_FLOAT; *filet = H5T_IEEE_F32LE; return 1;
    case TRIB_CKPT_F64: *mem = H5T_NATIVE_DOUBLE; *filet = H5T_IEEE_F64LE; return 1;
    case TRIB_CKPT_U32: *mem = H5T_NATIVE_UINT32; *filet = H5T_STD_U32LE; return 1;
    case TRIB_CKPT_U64: *mem = H5T_NATIVE_UINT64; *filet = H5T_STD_U64LE; return 1;
    case TRIB_CKPT_I64: *mem = H5T_NATIVE_INT64; *filet = H5T_STD_I64LE; return 1;
    case TRIB_CKPT_U8_INTERNAL: *mem = H5T_NATIVE_UINT8; *filet = H5T_STD_U8LE; return 1;
    default: return 0;
    }
}

static size_t elem_size(int dtype)
{
    return dtype == TRIB_CKPT_U8_INTERNAL ? 1 : trib_ckpt_dtype_size((trib_ckpt_dtype_t)dtype);
}

/* Element type of a stored dataset type, 0 when it is none of ours. */
static int dtype_of_h5(hid_t t)
{
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    if (cls == H5T_FLOAT)
        return size == 4 ? TRIB_CKPT_F32 : size == 8 ? TRIB_CKPT_F64 : 0;
    if (cls != H5T_INTEGER)
        return 0;
    H5T_sign_t sign = H5Tget_sign(t);
    if (sign == H5T_SGN_NONE)
        return size == 1 ? TRIB_CKPT_U8_INTERNAL : size == 4 ? TRIB_CKPT_U32 : size == 8 ? TRIB_CKPT_U64 : 0;
    return (sign == H5T_SGN_2 && size == 8) ? TRIB_CKPT_I64 : 0;
}

static int write_u32_attr(hid_t obj, const char *name, uint32_t v)
{
    hid_t space = H5Screate(H5S_SCALAR);
    if (space < 0)
        return -1;
    hid_t a = H5Acreate2(obj, name, H5T_STD_U32LE, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(space);
    if (a < 0)
        return -1;
    herr_t e = H5Awrite(a, H5T_NATIVE_UINT32, &v);
    H5Aclose(a);
    return e < 0 ? -1 : 0;
}

static int read_u32_attr(hid_t obj, const char *name, uint32_t *v)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return -1;
    herr_t e = H5Aread(a, H5T_NATIVE_UINT32, v);
    H5Aclose(a);
    return e < 0 ? -1 : 0;
}

int trib_ckpt_h5_write_dataset(trib_ckpt_hid_t loc, const char *file, const char *name, int dtype,
                               size_t rows, size_t cols, const void *data, int kind)
{
    hid_t mem, filet;
    if (!types_of(dtype, &mem, &filet))
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "%s: dataset '%s': unknown element type %d", file,
                           name, dtype);
    size_t count, bytes;
    if (trib_size_mul(rows, cols ? cols : 1, &count) != TRIB_OK ||
        trib_size_mul(count, elem_size(dtype), &bytes) != TRIB_OK)
        return trib_errorf(TRIB_ERR_RANGE, "%s: dataset '%s': %zu x %zu is too large", file, name,
                           rows, cols);
    if (count > 0 && !data)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "%s: dataset '%s': no data", file, name);
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
    hid_t space = H5Screate_simple(cols ? 2 : 1, dims, NULL);
    if (space < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: dataset '%s': cannot create dataspace", file, name);
    hid_t d = H5Dcreate2(loc, name, filet, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(space);
    if (d < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot create dataset '%s' (duplicate name?)", file, name);
    int rc = TRIB_OK;
    if (count > 0 && H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = trib_errorf(TRIB_ERR_HDF5, "%s: writing dataset '%s' (%zu bytes) failed", file, name, bytes);
    uint32_t crc = count > 0 ? trib_crc32c(0, data, bytes) : 0;
    if (rc == TRIB_OK && (write_u32_attr(d, "crc32c", crc) < 0 || write_u32_attr(d, "kind", (uint32_t)kind) < 0))
        rc = trib_errorf(TRIB_ERR_HDF5, "%s: writing the attributes of dataset '%s' failed", file, name);
    if (H5Dclose(d) < 0 && rc == TRIB_OK)
        rc = trib_errorf(TRIB_ERR_HDF5, "%s: closing dataset '%s' failed", file, name);
    return rc;
}

/* Shape and type of an open dataset. */
static int describe(hid_t d, const char *file, const char *name, int *dtype, unsigned *ndim,
                    size_t *rows, size_t *cols)
{
    hid_t t = H5Dget_type(d);
    if (t < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s': unreadable type", file, name);
    *dtype = dtype_of_h5(t);
    H5Tclose(t);
    if (*dtype == 0)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: dataset '%s' has an element type we do not write", file, name);
    hid_t s = H5Dget_space(d);
    if (s < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s': unreadable dataspace", file, name);
    hsize_t dims[2] = {0, 0};
    int nd = H5Sget_simple_extent_ndims(s);
    int ok = (nd == 1 || nd == 2) && H5Sget_simple_extent_dims(s, dims, NULL) == nd;
    H5Sclose(s);
    if (!ok)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: dataset '%s' is not 1-D or 2-D", file, name);
    *ndim = (unsigned)nd;
    *rows = (size_t)dims[0];
    *cols = nd == 2 ? (size_t)dims[1] : 0;
    if (nd == 2 && *cols == 0)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: dataset '%s' has zero columns", file, name);
    return TRIB_OK;
}

static int open_dataset(hid_t loc, const char *file, const char *name, hid_t *d)
{
    if (!trib_ckpt_h5_exists(loc, name))
        return trib_errorf(TRIB_ERR_NOT_FOUND, "%s: no dataset '%s'", file, name);
    *d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (*d < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s' is unreadable", file, name);
    return TRIB_OK;
}

int trib_ckpt_h5_dataset_info(trib_ckpt_hid_t loc, const char *file, const char *name, int *dtype,
                              unsigned *ndim, size_t *rows, size_t *cols, int *kind)
{
    hid_t d = -1;
    int rc = open_dataset(loc, file, name, &d);
    if (rc != TRIB_OK)
        return rc;
    rc = describe(d, file, name, dtype, ndim, rows, cols);
    uint32_t k = 0;
    if (rc == TRIB_OK && kind) {
        if (read_u32_attr(d, "kind", &k) < 0)
            rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s' lacks its 'kind' attribute", file, name);
        *kind = (int)k;
    }
    H5Dclose(d);
    return rc;
}

int trib_ckpt_h5_read_dataset(trib_ckpt_hid_t loc, const char *file, const char *name, int dtype,
                              void *buf, size_t count)
{
    hid_t d = -1, mem, filet;
    if (!types_of(dtype, &mem, &filet))
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "%s: dataset '%s': unknown element type %d", file,
                           name, dtype);
    int rc = open_dataset(loc, file, name, &d);
    if (rc != TRIB_OK)
        return rc;
    int have;
    unsigned ndim;
    size_t rows, cols, n = 0;
    uint32_t want_crc = 0;
    rc = describe(d, file, name, &have, &ndim, &rows, &cols);
    if (rc == TRIB_OK && have != dtype)
        rc = trib_errorf(TRIB_ERR_INCOMPATIBLE, "%s: dataset '%s' holds %s, %s was asked for", file, name,
                         have == TRIB_CKPT_U8_INTERNAL ? "bytes" : trib_ckpt_dtype_name((trib_ckpt_dtype_t)have),
                         dtype == TRIB_CKPT_U8_INTERNAL ? "bytes" : trib_ckpt_dtype_name((trib_ckpt_dtype_t)dtype));
    if (rc == TRIB_OK && (trib_size_mul(rows, cols ? cols : 1, &n) != TRIB_OK || n != count))
        rc = trib_errorf(TRIB_ERR_RANGE, "%s: dataset '%s' has %zu x %zu elements, buffer holds %zu", file,
                         name, rows, cols, count);
    if (rc == TRIB_OK && read_u32_attr(d, "crc32c", &want_crc) < 0)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s' lacks its crc32c attribute", file, name);
    if (rc == TRIB_OK && n > 0 && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: reading dataset '%s' failed (truncated file?)", file, name);
    if (rc == TRIB_OK) {
        uint32_t got = n > 0 ? trib_crc32c(0, buf, n * elem_size(dtype)) : 0;
        if (got != want_crc)
            rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s': CRC32C %08x differs from stored %08x",
                             file, name, (unsigned)got, (unsigned)want_crc);
    }
    H5Dclose(d);
    return rc;
}

int trib_ckpt_h5_set_attr_i64(trib_ckpt_hid_t loc, const char *file, const char *name, int64_t v)
{
    hid_t space = H5Screate(H5S_SCALAR);
    if (space < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot create dataspace for attribute '%s'", file, name);
    hid_t a = H5Acreate2(loc, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(space);
    if (a < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot create attribute '%s'", file, name);
    herr_t e = H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    if (e < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot write attribute '%s'", file, name);
    return TRIB_OK;
}

int trib_ckpt_h5_get_attr_i64(trib_ckpt_hid_t loc, const char *file, const char *name, int64_t *v)
{
    if (H5Aexists(loc, name) <= 0)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: attribute '%s' is missing", file, name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: attribute '%s' is unreadable", file, name);
    herr_t e = H5Aread(a, H5T_NATIVE_INT64, v);
    H5Aclose(a);
    if (e < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: attribute '%s' is unreadable", file, name);
    return TRIB_OK;
}

int trib_ckpt_h5_set_attr_str(trib_ckpt_hid_t loc, const char *file, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0 || H5Tset_size(t, strlen(v) + 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0) {
        if (t >= 0)
            H5Tclose(t);
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot make a string type for attribute '%s'", file, name);
    }
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = space < 0 ? -1 : H5Acreate2(loc, name, t, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, t, v);
    if (a >= 0)
        H5Aclose(a);
    if (space >= 0)
        H5Sclose(space);
    H5Tclose(t);
    if (e < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot write string attribute '%s'", file, name);
    return TRIB_OK;
}

int trib_ckpt_h5_get_attr_str(trib_ckpt_hid_t loc, const char *file, const char *name, char **v)
{
    if (H5Aexists(loc, name) <= 0)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: attribute '%s' is missing", file, name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: attribute '%s' is unreadable", file, name);
    int rc = TRIB_OK;
    hid_t t = H5Aget_type(a);
    size_t size = t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) == 0 ? H5Tget_size(t) : 0;
    char *buf = size ? malloc(size + 1) : NULL;
    if (size == 0)
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: attribute '%s' is not a fixed-length string", file, name);
    else if (!buf)
        rc = trib_errorf(TRIB_ERR_NOMEM, "%s: no memory for attribute '%s'", file, name);
    else if (H5Aread(a, t, buf) < 0)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: attribute '%s' is unreadable", file, name);
    if (t >= 0)
        H5Tclose(t);
    H5Aclose(a);
    if (rc != TRIB_OK) {
        free(buf);
        return rc;
    }
    buf[size] = '\0';
    *v = buf;
    return TRIB_OK;
}

typedef struct {
    char **names;
    size_t n, cap;
    int failed;
} name_list_t;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *op)
{
    (void)g;
    (void)info;
    name_list_t *l = op;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        char **nn = realloc(l->names, ncap * sizeof *nn);
        if (!nn) {
            l->failed = 1;
            return -1;
        }
        l->names = nn;
        l->cap = ncap;
    }
    char *copy = strdup(name);
    if (!copy) {
        l->failed = 1;
        return -1;
    }
    l->names[l->n++] = copy;
    return 0;
}

int trib_ckpt_h5_list(trib_ckpt_hid_t loc, const char *file, char ***names, size_t *count)
{
    name_list_t l = {NULL, 0, 0, 0};
    hsize_t idx = 0;
    herr_t e = H5Literate(loc, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, &l);
    if (e < 0 || l.failed) {
        for (size_t i = 0; i < l.n; i++)
            free(l.names[i]);
        free(l.names);
        return l.failed ? trib_errorf(TRIB_ERR_NOMEM, "%s: no memory to list datasets", file)
                        : trib_errorf(TRIB_ERR_CORRUPT, "%s: cannot list datasets", file);
    }
    *names = l.names;
    *count = l.n;
    return TRIB_OK;
}
