/*
 * h5util.c - the data layer's only direct contact with the HDF5 C API for
 * small things: switching HDF5's own error printing off, scalar attributes,
 * 1-D datasets (chunked, optionally deflate + shuffle), file open/create/close.
 *
 * Every failure becomes one message naming the file and the object, so
 * callers never see HDF5's multi-line error stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "data/internal.h"

_Static_assert(sizeof(hid_t) == sizeof(trib_hid_t), "hid_t is 64-bit since HDF5 1.10");

void trib_h5_quiet(void)
{
    /* Idempotent and cheap: call at every entry point that touches HDF5. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static hid_t mem_type(trib_h5_type_t t)
{
    switch (t) {
    case TRIB_H5_U32: return H5T_NATIVE_UINT32;
    case TRIB_H5_U64: return H5T_NATIVE_UINT64;
    case TRIB_H5_I64: return H5T_NATIVE_INT64;
    case TRIB_H5_F32: return H5T_NATIVE_FLOAT;
    case TRIB_H5_F64: return H5T_NATIVE_DOUBLE;
    }
    return H5T_NATIVE_UINT8;
}

/* Portable little-endian file types, so files read the same everywhere. */
static hid_t file_type(trib_h5_type_t t)
{
    switch (t) {
    case TRIB_H5_U32: return H5T_STD_U32LE;
    case TRIB_H5_U64: return H5T_STD_U64LE;
    case TRIB_H5_I64: return H5T_STD_I64LE;
    case TRIB_H5_F32: return H5T_IEEE_F32LE;
    case TRIB_H5_F64: return H5T_IEEE_F64LE;
    }
    return H5T_STD_U8LE;
}

static const char *type_name(trib_h5_type_t t)
{
    static const char *names[] = {"uint32", "uint64", "int64", "float32", "float64"};
    return names[t];
}

static int attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v)
{
    hid_t space = H5Screate(H5S_SCALAR);
    if (space < 0)
        return trib_errorf(TRIB_ERR_HDF5, "cannot create a dataspace for attribute '%s'", name);
    if (H5Aexists(loc, name) > 0)
        H5Adelete(loc, name);
    hid_t a = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = TRIB_OK;
    if (a < 0 || H5Awrite(a, mtype, v) < 0)
        rc = trib_errorf(TRIB_ERR_HDF5, "cannot write attribute '%s'", name);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(space);
    return rc;
}

int trib_h5_attr_write_u64(trib_hid_t loc, const char *name, uint64_t v)
{
    return attr_write(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

int trib_h5_attr_write_f64(trib_hid_t loc, const char *name, double v)
{
    return attr_write(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

int trib_h5_attr_write_str(trib_hid_t loc, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return trib_errorf(TRIB_ERR_HDF5, "cannot create a string type for attribute '%s'", name);
    H5Tset_size(t, strlen(v) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    int rc = attr_write(loc, name, t, t, v);
    H5Tclose(t);
    return rc;
}

static int attr_read(hid_t loc, const char *name, hid_t mtype, void *v)
{
    if (H5Aexists(loc, name) <= 0)
        return TRIB_ERR_NOT_FOUND;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return trib_errorf(TRIB_ERR_HDF5, "cannot open attribute '%s'", name);
    int rc = H5Aread(a, mtype, v) < 0 ? trib_errorf(TRIB_ERR_FORMAT, "attribute '%s' has the wrong type", name)
                                      : TRIB_OK;
    H5Aclose(a);
    return rc;
}

int trib_h5_attr_read_u64(trib_hid_t loc, const char *name, uint64_t *v)
{
    return attr_read(loc, name, H5T_NATIVE_UINT64, v);
}

int trib_h5_attr_read_f64(trib_hid_t loc, const char *name, double *v)
{
    return attr_read(loc, name, H5T_NATIVE_DOUBLE, v);
}

int trib_h5_attr_read_str(trib_hid_t loc, const char *name, char *buf, size_t cap)
{
    if (H5Aexists(loc, name) <= 0)
        return TRIB_ERR_NOT_FOUND;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return trib_errorf(TRIB_ERR_HDF5, "cannot open attribute '%s'", name);
    hid_t ft = H5Aget_type(a);
    int rc = TRIB_OK;
    if (ft < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) > 0) {
        rc = trib_errorf(TRIB_ERR_FORMAT, "attribute '%s' is not a fixed-length string", name);
    } else {
        size_t sz = H5Tget_size(ft);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz + 1);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        char *tmp = calloc(sz + 2, 1);
        if (!tmp)
            rc = trib_errorf(TRIB_ERR_NOMEM, "out of memory reading attribute '%s'", name);
        else if (H5Aread(a, mt, tmp) < 0)
            rc = trib_errorf(TRIB_ERR_HDF5, "cannot read attribute '%s'", name);
        else
            snprintf(buf, cap, "%s", tmp);
        free(tmp);
        H5Tclose(mt);
    }
    if (ft >= 0)
        H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

int trib_h5_exists(trib_hid_t loc, const char *name)
{
    return H5Lexists(loc, name, H5P_DEFAULT) > 0;
}

int trib_h5_write_1d(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, const void *data,
                     uint64_t n, uint64_t chunk, int compress)
{
    hsize_t dims[1] = {n};
    hsize_t maxdims[1] = {chunk ? H5S_UNLIMITED : n};
    hid_t space = H5Screate_simple(1, dims, maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = -1;
    int rc = TRIB_OK;
    if (space < 0 || dcpl < 0) {
        rc = trib_errorf(TRIB_ERR_HDF5, "%s: cannot create dataset '%s'", file, name);
        goto done;
    }
    if (chunk) {
        hsize_t c[1] = {n < chunk ? (n ? n : 1) : chunk};
        if (H5Pset_chunk(dcpl, 1, c) < 0 ||
            (compress > 0 && (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, (unsigned)compress) < 0))) {
            rc = trib_errorf(TRIB_ERR_HDF5, "%s: cannot set chunking/compression of '%s'", file, name);
            goto done;
        }
    }
    d = H5Dcreate2(loc, name, file_type(t), space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) {
        rc = trib_errorf(TRIB_ERR_HDF5, "%s: cannot create dataset '%s'", file, name);
        goto done;
    }
    if (n > 0 && H5Dwrite(d, mem_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = trib_errorf(TRIB_ERR_IO, "%s: cannot write dataset '%s'", file, name);
done:
    if (d >= 0)
        H5Dclose(d);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

static int open_1d(hid_t loc, const char *file, const char *name, trib_h5_type_t t, hid_t *d, uint64_t *n)
{
    if (!trib_h5_exists(loc, name))
        return trib_errorf(TRIB_ERR_FORMAT, "%s: dataset '%s' is missing", file, name);
    *d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (*d < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: cannot open dataset '%s' (corrupt file?)", file, name);
    hid_t ft = H5Dget_type(*d);
    hid_t sp = H5Dget_space(*d);
    int rc = TRIB_OK;
    H5T_class_t want = (t == TRIB_H5_F32 || t == TRIB_H5_F64) ? H5T_FLOAT : H5T_INTEGER;
    size_t want_size = (t == TRIB_H5_U32 || t == TRIB_H5_F32) ? 4 : 8;
    hsize_t dims[1];
    if (ft < 0 || sp < 0) {
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: cannot read the type of dataset '%s'", file, name);
    } else if (H5Tget_class(ft) != want || H5Tget_size(ft) != want_size) {
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: dataset '%s' is not %s (wrong schema)", file, name, type_name(t));
    } else if (H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: dataset '%s' is not one-dimensional (wrong schema)", file, name);
    } else {
        *n = dims[0];
    }
    if (ft >= 0)
        H5Tclose(ft);
    if (sp >= 0)
        H5Sclose(sp);
    if (rc != TRIB_OK) {
        H5Dclose(*d);
        *d = -1;
    }
    return rc;
}

int trib_h5_size_1d(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, uint64_t *n)
{
    hid_t d = -1;
    int rc = open_1d(loc, file, name, t, &d, n);
    if (rc == TRIB_OK)
        H5Dclose(d);
    return rc;
}

int trib_h5_read_1d(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, uint64_t first,
                    uint64_t count, void *data)
{
    hid_t d = -1;
    uint64_t n = 0;
    int rc = open_1d(loc, file, name, t, &d, &n);
    if (rc != TRIB_OK)
        return rc;
    if (first > n || count > n - first) {
        H5Dclose(d);
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s' has %llu elements, rows up to %llu needed", file,
                           name, (unsigned long long)n, (unsigned long long)(first + count));
    }
    if (count == 0) {
        H5Dclose(d);
        return TRIB_OK;
    }
    hid_t fs = H5Dget_space(d);
    hsize_t start[1] = {first}, cnt[1] = {count};
    hid_t ms = H5Screate_simple(1, cnt, NULL);
    if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0 ||
        H5Dread(d, mem_type(t), ms, fs, H5P_DEFAULT, data) < 0)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: cannot read dataset '%s' (truncated or corrupt file)", file, name);
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    H5Dclose(d);
    return rc;
}

int trib_h5_read_all_1d(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, uint64_t n,
                        void *data)
{
    uint64_t have = 0;
    int rc = trib_h5_size_1d(loc, file, name, t, &have);
    if (rc != TRIB_OK)
        return rc;
    if (have != n)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s' has %llu elements, expected %llu", file, name,
                           (unsigned long long)have, (unsigned long long)n);
    return trib_h5_read_1d(loc, file, name, t, 0, n, data);
}

int trib_h5_create_file(const char *path, trib_hid_t *out)
{
    trib_h5_quiet();
    hid_t f = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return trib_errorf(TRIB_ERR_IO, "%s: cannot create HDF5 file", path);
    *out = f;
    return TRIB_OK;
}

int trib_h5_open_file(const char *path, trib_hid_t *out)
{
    trib_h5_quiet();
    if (access(path, R_OK) != 0)
        return trib_errorf(errno == ENOENT ? TRIB_ERR_NOT_FOUND : TRIB_ERR_IO, "%s: %s", path, strerror(errno));
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: not a readable HDF5 file (truncated or corrupt?)", path);
    *out = f;
    return TRIB_OK;
}

int trib_h5_close_file(trib_hid_t f, const char *path)
{
    if (H5Fclose(f) < 0)
        return trib_errorf(TRIB_ERR_IO, "%s: cannot close HDF5 file (disk full?)", path);
    return TRIB_OK;
}

int trib_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return trib_errorf(TRIB_ERR_IO, "%s: cannot open for fsync: %s", path, strerror(errno));
    int rc = TRIB_OK;
    if (fsync(fd) != 0)
        rc = trib_errorf(TRIB_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    close(fd);
    return rc;
}
