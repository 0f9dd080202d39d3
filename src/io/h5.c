/*
 * h5.c - the library's only direct contact with the HDF5 C API (see io/h5.h
 * for the parts and their rules).
 *
 * Checksummed datasets are written in one H5Dwrite from the caller's buffer
 * (contiguous layout, no chunking or filters: they are read back whole) and
 * get two small attributes: "crc32c", the CRC32C of their bytes as they are in
 * memory (little-endian hosts: the same bytes as in the file), and "kind", a
 * tag of the caller's (checkpoints tell a global value from an array by it).
 * Reading recomputes the CRC32C over what was read, so a flipped bit anywhere
 * in the data is reported as TRIB_ERR_CORRUPT with the file and dataset named.
 *
 * Typed 1-D datasets (the rating columns) may be chunked and compressed and
 * are read by row range; they are opened without a chunk cache, so whole
 * chunks are read straight into the caller's buffer (one copy, like read()).
 */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/alloc.h"
#include "io/crc32c.h"
#include "io/h5.h"

_Static_assert(sizeof(hid_t) == sizeof(trib_hid_t), "hid_t is 64-bit since HDF5 1.10");

void trib_h5_quiet(void)
{
    /* Idempotent and cheap: called at every entry point that touches HDF5. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* ": <reason>" when errno holds one (HDF5 leaves the errno of its failed write()), else "". */
static const char *os_reason(int err, char *buf, size_t cap)
{
    if (err == 0)
        return "";
    snprintf(buf, cap, ": %s", strerror(err));
    return buf;
}

int trib_h5_deflate_available(void)
{
    return H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0;
}

/* ------------------------------------------------------------------ types */

/* Memory and (little-endian) file types of an element type; 0 for an unknown one. */
static int types_of(trib_h5_type_t t, hid_t *mem, hid_t *filet)
{
    switch (t) {
    case TRIB_H5_F32: *mem = H5T_NATIVE_FLOAT; *filet = H5T_IEEE_F32LE; return 1;
    case TRIB_H5_F64: *mem = H5T_NATIVE_DOUBLE; *filet = H5T_IEEE_F64LE; return 1;
    case TRIB_H5_U32: *mem = H5T_NATIVE_UINT32; *filet = H5T_STD_U32LE; return 1;
    case TRIB_H5_U64: *mem = H5T_NATIVE_UINT64; *filet = H5T_STD_U64LE; return 1;
    case TRIB_H5_I64: *mem = H5T_NATIVE_INT64; *filet = H5T_STD_I64LE; return 1;
    case TRIB_H5_U8: *mem = H5T_NATIVE_UINT8; *filet = H5T_STD_U8LE; return 1;
    }
    return 0;
}

size_t trib_h5_type_size(trib_h5_type_t t)
{
    switch (t) {
    case TRIB_H5_U8: return 1;
    case TRIB_H5_F32: case TRIB_H5_U32: return 4;
    case TRIB_H5_F64: case TRIB_H5_U64: case TRIB_H5_I64: return 8;
    }
    return 0;
}

const char *trib_h5_type_name(trib_h5_type_t t)
{
    switch (t) {
    case TRIB_H5_F32: return "float32";
    case TRIB_H5_F64: return "float64";
    case TRIB_H5_U32: return "uint32";
    case TRIB_H5_U64: return "uint64";
    case TRIB_H5_I64: return "int64";
    case TRIB_H5_U8: return "bytes";
    }
    return "unknown";
}

/* Element type of a stored dataset type, 0 when it is none of ours. */
static int type_of_h5(hid_t t)
{
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    if (cls == H5T_FLOAT)
        return size == 4 ? TRIB_H5_F32 : size == 8 ? TRIB_H5_F64 : 0;
    if (cls != H5T_INTEGER)
        return 0;
    H5T_sign_t sign = H5Tget_sign(t);
    if (sign == H5T_SGN_NONE)
        return size == 1 ? TRIB_H5_U8 : size == 4 ? TRIB_H5_U32 : size == 8 ? TRIB_H5_U64 : 0;
    return (sign == H5T_SGN_2 && size == 8) ? TRIB_H5_I64 : 0;
}

/* ------------------------------------------------------------------ files */

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

int trib_h5_create_file(const char *path, trib_hid_t *f)
{
    trib_h5_quiet();
    hid_t fapl = make_fapl();
    if (fapl < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot set up HDF5 file access", path);
    hid_t h = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (h < 0)
        return trib_errorf(TRIB_ERR_IO, "%s: cannot create HDF5 file", path);
    *f = h;
    return TRIB_OK;
}

int trib_h5_open_file(const char *path, trib_hid_t *f)
{
    trib_h5_quiet();
    if (access(path, R_OK) != 0)
        return trib_errorf(errno == ENOENT ? TRIB_ERR_NOT_FOUND : TRIB_ERR_IO, "%s: %s", path, strerror(errno));
    hid_t fapl = make_fapl();
    if (fapl < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot set up HDF5 file access", path);
    hid_t h = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (h < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: not a readable HDF5 file (truncated or damaged?)", path);
    *f = h;
    return TRIB_OK;
}

int trib_h5_close_file(trib_hid_t f, const char *path)
{
    if (f < 0)
        return TRIB_OK;
    char why[160];
    errno = 0;
    if (H5Fclose(f) < 0)
        return trib_errorf(TRIB_ERR_IO, "%s: cannot close HDF5 file%s", path,
                           errno ? os_reason(errno, why, sizeof why) : " (disk full?)");
    return TRIB_OK;
}

/*
 * Staged files.  HDF5 (1.10) cannot recover from a failed write of its cached metadata: the flush at
 * H5Fclose fails on a full disk ("slist already enabled" on any retry), the file stays half destroyed in
 * HDF5's id table, and HDF5's exit handler closing it again crashed the process (H5F__close_cb from
 * H5F_term_package) after the error had been reported.  So a staged file is built by HDF5 in memory (an
 * unlinked file in /dev/shm) and only copied to its path, with plain checked writes, once HDF5 has closed
 * it: a full disk is then an ordinary write error that HDF5 never sees.  The path is claimed (O_EXCL)
 * when the file is created, as trib_h5_create_file does.  Costs the file's size in memory while it is
 * written, and one copy; without /dev/shm, or when it has less than twice the expected size free, HDF5
 * writes the file in place as before.
 */
int trib_h5_create_file_staged(const char *path, uint64_t size_hint, trib_hid_t *f, trib_h5_stage_t *st)
{
    st->mem_fd = st->out_fd = -1;
    struct statvfs vs; /* a small /dev/shm (containers: 64 MiB) must not fail a write the disk can take */
    if (statvfs("/dev/shm", &vs) != 0 || (double)vs.f_bavail * (double)vs.f_frsize < 2.0 * (double)size_hint)
        return trib_h5_create_file(path, f);
    int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0)
        return trib_errorf(TRIB_ERR_IO, "%s: cannot create HDF5 file: %s", path, strerror(errno));
    /* HDF5 needs a real path (it resolves symbolic links, so no /proc/self/fd/N of a memfd): a file in
     * /dev/shm, unlinked as soon as HDF5 has opened it; this process keeps a descriptor to copy it from. */
    char proc[64] = "/dev/shm/trib-h5-stage-XXXXXX";
    int mem = mkostemp(proc, O_CLOEXEC);
    if (mem < 0) { /* no /dev/shm: HDF5 writes the file itself */
        close(out);
        unlink(path);
        return trib_h5_create_file(path, f);
    }
    trib_h5_quiet();
    hid_t fapl = make_fapl();
    hid_t h = fapl < 0 ? -1 : H5Fcreate(proc, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fapl >= 0)
        H5Pclose(fapl);
    unlink(proc);
    if (h < 0) {
        close(mem);
        close(out);
        unlink(path);
        return trib_errorf(TRIB_ERR_IO, "%s: cannot create HDF5 file (staged in /dev/shm)", path);
    }
    st->mem_fd = mem;
    st->out_fd = out;
    *f = h;
    return TRIB_OK;
}

/* Copies the finished image to its file and fsyncs it. */
static int copy_stage(int mem, int out, const char *path)
{
    enum { BUF = 1 << 20 };
    char *buf = malloc(BUF);
    if (!buf)
        return trib_errorf(TRIB_ERR_NOMEM, "%s: no memory to write the file", path);
    int rc = TRIB_OK;
    for (off_t off = 0;;) {
        ssize_t n = pread(mem, buf, BUF, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = trib_errorf(TRIB_ERR_IO, "%s: cannot read the staged file: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = trib_errorf(TRIB_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
                break;
            }
            done += w;
        }
        if (rc != TRIB_OK)
            break;
        off += n;
    }
    free(buf);
    if (rc == TRIB_OK && fsync(out) != 0)
        rc = trib_errorf(TRIB_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    return rc;
}

int trib_h5_close_file_staged(trib_hid_t f, const char *path, trib_h5_stage_t *st)
{
    if (st->mem_fd < 0) { /* not staged: written in place; made durable here as a staged one is */
        int rc = trib_h5_close_file(f, path);
        int fd = rc == TRIB_OK ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (rc == TRIB_OK && (fd < 0 || fsync(fd) != 0))
            rc = trib_errorf(TRIB_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    int rc = TRIB_OK;
    if (f >= 0 && H5Fclose(f) < 0)
        rc = trib_errorf(TRIB_ERR_IO, "%s: cannot close HDF5 file (staged in /dev/shm)", path);
    if (rc == TRIB_OK)
        rc = copy_stage(st->mem_fd, st->out_fd, path);
    close(st->mem_fd);
    if (close(st->out_fd) != 0 && rc == TRIB_OK)
        rc = trib_errorf(TRIB_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (rc != TRIB_OK)
        unlink(path);
    st->mem_fd = st->out_fd = -1;
    return rc;
}

/* ----------------------------------------------------------------- groups */

int trib_h5_create_group(trib_hid_t loc, const char *file, const char *name, trib_hid_t *group)
{
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot create group '%s'", file, name);
    *group = g;
    return TRIB_OK;
}

int trib_h5_open_group(trib_hid_t loc, const char *file, const char *name, trib_hid_t *group)
{
    hid_t g = H5Gopen2(loc, name, H5P_DEFAULT);
    if (g < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: group '%s' missing or unreadable", file, name);
    *group = g;
    return TRIB_OK;
}

void trib_h5_close_group(trib_hid_t group)
{
    if (group >= 0)
        H5Gclose(group);
}

int trib_h5_exists(trib_hid_t loc, const char *name)
{
    return H5Lexists(loc, name, H5P_DEFAULT) > 0;
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

int trib_h5_list(trib_hid_t loc, const char *file, char ***names, size_t *count)
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

/* ------------------------------------------------------------- attributes */

static int attr_write(hid_t loc, const char *file, const char *name, hid_t ftype, hid_t mtype, const void *v)
{
    hid_t space = H5Screate(H5S_SCALAR);
    if (space < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot create a dataspace for attribute '%s'", file, name);
    if (H5Aexists(loc, name) > 0 && H5Adelete(loc, name) < 0) {
        H5Sclose(space);
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot replace attribute '%s'", file, name);
    }
    hid_t a = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = TRIB_OK;
    if (a < 0 || H5Awrite(a, mtype, v) < 0)
        rc = trib_errorf(TRIB_ERR_HDF5, "%s: cannot write attribute '%s'", file, name);
    if (a >= 0 && H5Aclose(a) < 0 && rc == TRIB_OK)
        rc = trib_errorf(TRIB_ERR_HDF5, "%s: cannot close attribute '%s'", file, name);
    H5Sclose(space);
    return rc;
}

int trib_h5_attr_write_u64(trib_hid_t loc, const char *file, const char *name, uint64_t v)
{
    return attr_write(loc, file, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

int trib_h5_attr_write_i64(trib_hid_t loc, const char *file, const char *name, int64_t v)
{
    return attr_write(loc, file, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

int trib_h5_attr_write_f64(trib_hid_t loc, const char *file, const char *name, double v)
{
    return attr_write(loc, file, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

int trib_h5_attr_write_str(trib_hid_t loc, const char *file, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0 || H5Tset_size(t, strlen(v) + 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0) {
        if (t >= 0)
            H5Tclose(t);
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot make a string type for attribute '%s'", file, name);
    }
    int rc = attr_write(loc, file, name, t, t, v);
    H5Tclose(t);
    return rc;
}

static int attr_open(hid_t loc, const char *file, const char *name, hid_t *a)
{
    if (H5Aexists(loc, name) <= 0)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: attribute '%s' is missing", file, name);
    *a = H5Aopen(loc, name, H5P_DEFAULT);
    if (*a < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: attribute '%s' is unreadable", file, name);
    return TRIB_OK;
}

static int attr_read(hid_t loc, const char *file, const char *name, hid_t mtype, void *v)
{
    hid_t a = -1;
    int rc = attr_open(loc, file, name, &a);
    if (rc != TRIB_OK)
        return rc;
    if (H5Aread(a, mtype, v) < 0)
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: attribute '%s' is unreadable or of the wrong type", file, name);
    H5Aclose(a);
    return rc;
}

int trib_h5_attr_read_u64(trib_hid_t loc, const char *file, const char *name, uint64_t *v)
{
    return attr_read(loc, file, name, H5T_NATIVE_UINT64, v);
}

int trib_h5_attr_read_i64(trib_hid_t loc, const char *file, const char *name, int64_t *v)
{
    return attr_read(loc, file, name, H5T_NATIVE_INT64, v);
}

int trib_h5_attr_read_f64(trib_hid_t loc, const char *file, const char *name, double *v)
{
    return attr_read(loc, file, name, H5T_NATIVE_DOUBLE, v);
}

int trib_h5_attr_read_str_alloc(trib_hid_t loc, const char *file, const char *name, char **v)
{
    hid_t a = -1;
    int rc = attr_open(loc, file, name, &a);
    if (rc != TRIB_OK)
        return rc;
    hid_t ft = H5Aget_type(a);
    size_t size = ft >= 0 && H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) == 0 ? H5Tget_size(ft) : 0;
    hid_t mt = size ? H5Tcopy(H5T_C_S1) : -1;
    char *buf = size ? calloc(size + 2, 1) : NULL;
    if (size == 0)
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: attribute '%s' is not a fixed-length string", file, name);
    else if (!buf)
        rc = trib_errorf(TRIB_ERR_NOMEM, "%s: no memory for attribute '%s'", file, name);
    else if (mt < 0 || H5Tset_size(mt, size + 1) < 0 || H5Tset_strpad(mt, H5T_STR_NULLTERM) < 0)
        rc = trib_errorf(TRIB_ERR_HDF5, "%s: cannot make a string type for attribute '%s'", file, name);
    else if (H5Aread(a, mt, buf) < 0)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: attribute '%s' is unreadable", file, name);
    if (mt >= 0)
        H5Tclose(mt);
    if (ft >= 0)
        H5Tclose(ft);
    H5Aclose(a);
    if (rc != TRIB_OK) {
        free(buf);
        return rc;
    }
    *v = buf;
    return TRIB_OK;
}

int trib_h5_attr_read_str(trib_hid_t loc, const char *file, const char *name, char *buf, size_t cap)
{
    char *s = NULL;
    int rc = trib_h5_attr_read_str_alloc(loc, file, name, &s);
    if (rc == TRIB_OK)
        snprintf(buf, cap, "%s", s);
    free(s);
    return rc;
}

/* -------------------------------------------------------- typed 1-D data */

/*
 * Creates dataset `name` (file type ftype over space, creation properties
 * dcpl), writes data from memory type mtype unless it is empty, and closes it.
 * A failed write is write_err (what it most likely means differs by caller).
 */
static int write_whole(hid_t loc, const char *file, const char *name, hid_t ftype, hid_t mtype, hid_t space,
                       hid_t dcpl, const void *data, int empty, int write_err)
{
    hid_t d = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: cannot create dataset '%s'", file, name);
    int rc = TRIB_OK;
    char why[160];
    errno = 0;
    if (!empty && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = trib_errorf(write_err, "%s: cannot write dataset '%s'%s", file, name, os_reason(errno, why, sizeof why));
    errno = 0;
    if (H5Dclose(d) < 0 && rc == TRIB_OK)
        rc = trib_errorf(write_err, "%s: cannot write dataset '%s'%s", file, name, os_reason(errno, why, sizeof why));
    return rc;
}

int trib_h5_write_1d(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, const void *data,
                     uint64_t n, uint64_t chunk, int compress)
{
    hid_t mem, filet;
    if (!types_of(t, &mem, &filet))
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "%s: dataset '%s': unknown element type %d", file, name, (int)t);
    hsize_t dims[1] = {n};
    hsize_t maxdims[1] = {chunk ? H5S_UNLIMITED : n};
    hid_t space = H5Screate_simple(1, dims, maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int rc = TRIB_OK;
    if (space < 0 || dcpl < 0) {
        rc = trib_errorf(TRIB_ERR_HDF5, "%s: cannot create dataset '%s'", file, name);
    } else if (chunk) {
        hsize_t c[1] = {n < chunk ? (n ? n : 1) : chunk};
        if (H5Pset_chunk(dcpl, 1, c) < 0 ||
            (compress > 0 && (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, (unsigned)compress) < 0)))
            rc = trib_errorf(TRIB_ERR_HDF5, "%s: cannot set chunking/compression of '%s'", file, name);
    }
    if (rc == TRIB_OK)
        rc = write_whole(loc, file, name, filet, mem, space, dcpl, data, n == 0, TRIB_ERR_IO);
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
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl >= 0 && H5Pset_chunk_cache(dapl, 0, 0, H5D_CHUNK_CACHE_W0_DEFAULT) < 0) {
        H5Pclose(dapl);
        dapl = -1;
    }
    *d = H5Dopen2(loc, name, dapl >= 0 ? dapl : H5P_DEFAULT);
    if (dapl >= 0)
        H5Pclose(dapl);
    if (*d < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: cannot open dataset '%s' (corrupt file?)", file, name);
    hid_t ft = H5Dget_type(*d);
    hid_t sp = H5Dget_space(*d);
    int rc = TRIB_OK;
    H5T_class_t want = (t == TRIB_H5_F32 || t == TRIB_H5_F64) ? H5T_FLOAT : H5T_INTEGER;
    hsize_t dims[1];
    if (ft < 0 || sp < 0) {
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: cannot read the type of dataset '%s'", file, name);
    } else if (H5Tget_class(ft) != want || H5Tget_size(ft) != trib_h5_type_size(t)) {
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: dataset '%s' is not %s (wrong schema)", file, name,
                         trib_h5_type_name(t));
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
    hid_t mem, filet;
    if (!types_of(t, &mem, &filet))
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "%s: dataset '%s': unknown element type %d", file, name, (int)t);
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
        H5Dread(d, mem, ms, fs, H5P_DEFAULT, data) < 0)
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

/* -------------------------------------------------------- typed 2-D data */

int trib_h5_write_2d(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, const void *data,
                     size_t rows, size_t cols)
{
    hid_t mem, filet;
    if (!types_of(t, &mem, &filet))
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "%s: dataset '%s': unknown element type %d", file, name, (int)t);
    hsize_t dims[2] = {rows, cols};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    if (sp < 0)
        return trib_errorf(TRIB_ERR_HDF5, "%s: dataset '%s' [%zu x %zu]: cannot create dataspace", file, name, rows,
                           cols);
    int rc = write_whole(loc, file, name, filet, mem, sp, H5P_DEFAULT, data, rows * cols == 0, TRIB_ERR_HDF5);
    H5Sclose(sp);
    return rc;
}

int trib_h5_read_2d(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, size_t rows, size_t cols,
                    void *data)
{
    hid_t mem, filet;
    if (!types_of(t, &mem, &filet))
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "%s: dataset '%s': unknown element type %d", file, name, (int)t);
    if (!trib_h5_exists(loc, name))
        return trib_errorf(TRIB_ERR_FORMAT, "%s: no dataset '%s'", file, name);
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s' is unreadable", file, name);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    int rc = TRIB_OK;
    if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 2 || H5Sget_simple_extent_dims(sp, dims, NULL) != 2 ||
        dims[0] != rows || dims[1] != cols)
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: '%s' is not a %zu x %zu matrix", file, name, rows, cols);
    else if (rows * cols > 0 && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: cannot read '%s'", file, name);
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

/* ---------------------------------------------------------------- strings */

static hid_t utf8_vlen_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

int trib_h5_write_strings(trib_hid_t loc, const char *file, const char *name, const char *const *s, uint64_t n)
{
    hsize_t dims[1] = {n};
    hid_t t = utf8_vlen_type();
    hid_t sp = H5Screate_simple(1, dims, NULL);
    int rc = t < 0 || sp < 0 ? trib_errorf(TRIB_ERR_HDF5, "%s: cannot make the string type of '%s'", file, name)
                             : write_whole(loc, file, name, t, t, sp, H5P_DEFAULT, s, n == 0, TRIB_ERR_HDF5);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    return rc;
}

int trib_h5_read_strings(trib_hid_t loc, const char *file, const char *name, uint64_t n, trib_h5_string_fn fn,
                         void *arg)
{
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: cannot open dataset '%s'", file, name);
    char **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    hid_t t = utf8_vlen_type();
    int rc = TRIB_OK;
    if (!ptrs)
        rc = trib_errorf(TRIB_ERR_NOMEM, "%s: out of memory reading '%s'", file, name);
    else if (t < 0)
        rc = trib_errorf(TRIB_ERR_HDF5, "%s: cannot make a string type for '%s'", file, name);
    else if (n > 0 && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs) < 0)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: cannot read strings '%s'", file, name);
    else {
        for (uint64_t i = 0; i < n && rc == TRIB_OK; i++)
            rc = fn(arg, i, ptrs[i] ? ptrs[i] : "");
        if (n > 0) {
            hsize_t dims[1] = {n};
            hid_t sp = H5Screate_simple(1, dims, NULL);
            if (sp < 0 || H5Dvlen_reclaim(t, sp, H5P_DEFAULT, ptrs) < 0)
                rc = rc != TRIB_OK ? rc : trib_errorf(TRIB_ERR_HDF5, "%s: cannot free strings '%s'", file, name);
            if (sp >= 0)
                H5Sclose(sp);
        }
    }
    if (t >= 0)
        H5Tclose(t);
    free(ptrs);
    H5Dclose(d);
    return rc;
}

int trib_h5_is_strings_1d(trib_hid_t loc, const char *file, const char *name, uint64_t n, int *is_strings)
{
    if (!trib_h5_exists(loc, name))
        return trib_errorf(TRIB_ERR_FORMAT, "%s: dataset '%s' is missing", file, name);
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: cannot open dataset '%s'", file, name);
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
    hsize_t dims[1] = {0};
    int rc = TRIB_OK;
    if (ft < 0 || sp < 0 || H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0 ||
        dims[0] != n)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: '%s' does not hold %llu elements", file, name, (unsigned long long)n);
    else if (H5Tget_class(ft) == H5T_STRING)
        *is_strings = 1;
    else if (H5Tget_class(ft) == H5T_INTEGER && H5Tget_size(ft) == 8)
        *is_strings = 0;
    else
        rc = trib_errorf(TRIB_ERR_FORMAT, "%s: '%s' is neither int64 nor string (wrong schema)", file, name);
    if (ft >= 0)
        H5Tclose(ft);
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

/* ----------------------------------------------------- checksummed data */

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
    if (H5Aclose(a) < 0)
        e = -1;
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

int trib_h5_write_checked(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, size_t rows,
                          size_t cols, const void *data, int kind)
{
    hid_t mem, filet;
    if (!types_of(t, &mem, &filet))
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "%s: dataset '%s': unknown element type %d", file, name, (int)t);
    size_t count, bytes;
    if (trib_size_mul(rows, cols ? cols : 1, &count) != TRIB_OK ||
        trib_size_mul(count, trib_h5_type_size(t), &bytes) != TRIB_OK)
        return trib_errorf(TRIB_ERR_RANGE, "%s: dataset '%s': %zu x %zu is too large", file, name, rows, cols);
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
static int describe(hid_t d, const char *file, const char *name, trib_h5_type_t *t, unsigned *ndim, size_t *rows,
                    size_t *cols)
{
    hid_t ht = H5Dget_type(d);
    if (ht < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s': unreadable type", file, name);
    int have = type_of_h5(ht);
    H5Tclose(ht);
    if (have == 0)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: dataset '%s' has an element type we do not write", file, name);
    *t = (trib_h5_type_t)have;
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

static int open_checked(hid_t loc, const char *file, const char *name, hid_t *d)
{
    if (!trib_h5_exists(loc, name))
        return trib_errorf(TRIB_ERR_NOT_FOUND, "%s: no dataset '%s'", file, name);
    *d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (*d < 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s' is unreadable", file, name);
    return TRIB_OK;
}

int trib_h5_checked_info(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t *t, unsigned *ndim,
                         size_t *rows, size_t *cols, int *kind)
{
    hid_t d = -1;
    int rc = open_checked(loc, file, name, &d);
    if (rc != TRIB_OK)
        return rc;
    rc = describe(d, file, name, t, ndim, rows, cols);
    uint32_t k = 0;
    if (rc == TRIB_OK && kind) {
        if (read_u32_attr(d, "kind", &k) < 0)
            rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s' lacks its 'kind' attribute", file, name);
        *kind = (int)k;
    }
    H5Dclose(d);
    return rc;
}

int trib_h5_read_checked(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, void *buf,
                         size_t count)
{
    hid_t d = -1, mem, filet;
    if (!types_of(t, &mem, &filet))
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "%s: dataset '%s': unknown element type %d", file, name, (int)t);
    int rc = open_checked(loc, file, name, &d);
    if (rc != TRIB_OK)
        return rc;
    trib_h5_type_t have = t;
    unsigned ndim;
    size_t rows, cols, n = 0;
    uint32_t want_crc = 0;
    rc = describe(d, file, name, &have, &ndim, &rows, &cols);
    if (rc == TRIB_OK && have != t)
        rc = trib_errorf(TRIB_ERR_INCOMPATIBLE, "%s: dataset '%s' holds %s, %s was asked for", file, name,
                         trib_h5_type_name(have), trib_h5_type_name(t));
    if (rc == TRIB_OK && (trib_size_mul(rows, cols ? cols : 1, &n) != TRIB_OK || n != count))
        rc = trib_errorf(TRIB_ERR_RANGE, "%s: dataset '%s' has %zu x %zu elements, buffer holds %zu", file, name,
                         rows, cols, count);
    if (rc == TRIB_OK && read_u32_attr(d, "crc32c", &want_crc) < 0)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s' lacks its crc32c attribute", file, name);
    if (rc == TRIB_OK && n > 0 && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: reading dataset '%s' failed (truncated file?)", file, name);
    if (rc == TRIB_OK) {
        uint32_t got = n > 0 ? trib_crc32c(0, buf, n * trib_h5_type_size(t)) : 0;
        if (got != want_crc)
            rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset '%s': CRC32C %08x differs from stored %08x", file, name,
                             (unsigned)got, (unsigned)want_crc);
    }
    H5Dclose(d);
    return rc;
}
