/*
 * io/h5.h - the library's one set of HDF5 helpers (internal to the library),
 * used by the data layer (shards, manifests), the checkpoints and the model
 * file.  Every call is checked and every failure becomes one message naming
 * the file and the object, so callers never see HDF5's own error stack
 * (trib_h5_quiet switches its printing off; the file functions call it).
 *
 *   files        create (exclusive) / open read-only / close
 *   groups       create / open / close, exists, sorted listing
 *   attributes   scalar u64, i64, f64 and fixed-length strings
 *   typed 1-D    datasets of n elements, optionally chunked and compressed,
 *                read whole or by row range (the ratings columns)
 *   typed 2-D    plain row-major matrices (the model file's factors)
 *   strings      1-D variable-length UTF-8 strings (original ids)
 *   checksummed  1-D or 2-D datasets written in one piece, with a "crc32c"
 *                attribute over their bytes verified on every read, and a
 *                "kind" tag the caller chooses (checkpoint arrays and values)
 *
 * File types are little-endian whatever the host, so files read the same
 * everywhere.  Files are opened without HDF5 file locks (NFS, Lustre) and
 * closed with everything in them (H5F_CLOSE_STRONG).
 */
#ifndef TRIB_IO_H5_H
#define TRIB_IO_H5_H

#include <stddef.h>
#include <stdint.h>

#include "tributary/status.h"

/* hid_t is int64_t since HDF5 1.10; kept as int64_t here so no hdf5.h is needed. */
typedef int64_t trib_hid_t;

/* Element types.  The values equal trib_ckpt_dtype_t's, so checkpoint types pass through unchanged. */
typedef enum {
    TRIB_H5_F32 = 1,
    TRIB_H5_F64 = 2,
    TRIB_H5_U32 = 3,
    TRIB_H5_U64 = 4,
    TRIB_H5_I64 = 5,
    TRIB_H5_U8 = 100
} trib_h5_type_t;

/* Bytes per element (0 for an unknown type) and a name ("float32", ...). */
size_t trib_h5_type_size(trib_h5_type_t t);
const char *trib_h5_type_name(trib_h5_type_t t);

void trib_h5_quiet(void);
/* 1 when this HDF5 library can compress (deflate filter present). */
int trib_h5_deflate_available(void);

/* ------------------------------------------------------------------ files */
/* Creates path (fails if it exists: TRIB_ERR_IO). */
int trib_h5_create_file(const char *path, trib_hid_t *f);
/* Opens path read-only: TRIB_ERR_NOT_FOUND when missing, TRIB_ERR_CORRUPT when not readable as HDF5. */
int trib_h5_open_file(const char *path, trib_hid_t *f);
/* Closes f (nothing to do when f < 0); a failure here can mean the data did not reach the disk. */
int trib_h5_close_file(trib_hid_t f, const char *path);
/*
 * A file built in memory and written to path only when it is closed (h5.c: a full disk is then a clean
 * write error, which HDF5 1.10 cannot recover from itself).  Create claims path (fails if it exists);
 * close_staged closes f (which must be a staged file, or one the fallback created in place), writes and
 * fsyncs path, or removes it on a failure.  size_hint: the expected file size in bytes (written in place
 * when /dev/shm has less than twice that free).  Used by the dataset writer (shards, manifests).
 */
typedef struct {
    int mem_fd, out_fd;
} trib_h5_stage_t;
int trib_h5_create_file_staged(const char *path, uint64_t size_hint, trib_hid_t *f, trib_h5_stage_t *st);
int trib_h5_close_file_staged(trib_hid_t f, const char *path, trib_h5_stage_t *st);

/* ----------------------------------------------------------------- groups */
int trib_h5_create_group(trib_hid_t loc, const char *file, const char *name, trib_hid_t *group);
int trib_h5_open_group(trib_hid_t loc, const char *file, const char *name, trib_hid_t *group);
void trib_h5_close_group(trib_hid_t group);
/* 1 when loc has a link called name, else 0. */
int trib_h5_exists(trib_hid_t loc, const char *name);
/* Names of the links in group loc, sorted; *names and each entry malloc'd. */
int trib_h5_list(trib_hid_t loc, const char *file, char ***names, size_t *count);

/* ------------------------------------------------------------- attributes */
/* Writing replaces an attribute of the same name.  Reading a missing one is TRIB_ERR_FORMAT. */
int trib_h5_attr_write_u64(trib_hid_t loc, const char *file, const char *name, uint64_t v);
int trib_h5_attr_write_i64(trib_hid_t loc, const char *file, const char *name, int64_t v);
int trib_h5_attr_write_f64(trib_hid_t loc, const char *file, const char *name, double v);
int trib_h5_attr_write_str(trib_hid_t loc, const char *file, const char *name, const char *v);
int trib_h5_attr_read_u64(trib_hid_t loc, const char *file, const char *name, uint64_t *v);
int trib_h5_attr_read_i64(trib_hid_t loc, const char *file, const char *name, int64_t *v);
int trib_h5_attr_read_f64(trib_hid_t loc, const char *file, const char *name, double *v);
/* Into buf (truncated to cap), or into a malloc'd string. */
int trib_h5_attr_read_str(trib_hid_t loc, const char *file, const char *name, char *buf, size_t cap);
int trib_h5_attr_read_str_alloc(trib_hid_t loc, const char *file, const char *name, char **v);

/* -------------------------------------------------------- typed 1-D data */
/* A 1-D dataset of n elements; chunk > 0 makes it chunked (unlimited max size) with optional deflate+shuffle. */
int trib_h5_write_1d(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, const void *data,
                     uint64_t n, uint64_t chunk, int compress);
/* Size of a 1-D dataset; checks its class and size match t. */
int trib_h5_size_1d(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, uint64_t *n);
/* Reads elements [first, first+count) into data (converted to t). */
int trib_h5_read_1d(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, uint64_t first,
                    uint64_t count, void *data);
/* Reads a whole 1-D dataset of exactly n elements. */
int trib_h5_read_all_1d(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, uint64_t n,
                        void *data);

/* A 2-D dataset rows x cols (row-major, contiguous), and reading one whose shape must be exactly rows x cols. */
int trib_h5_write_2d(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, const void *data,
                     size_t rows, size_t cols);
int trib_h5_read_2d(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, size_t rows, size_t cols,
                    void *data);

/* 1-D datasets of UTF-8 variable-length strings (the string id maps). */
int trib_h5_write_strings(trib_hid_t loc, const char *file, const char *name, const char *const *s, uint64_t n);
/* Calls fn(arg, i, s_i) for i = 0..n-1 in order (stopping at the first status that is not TRIB_OK). */
typedef int (*trib_h5_string_fn)(void *arg, uint64_t i, const char *s);
int trib_h5_read_strings(trib_hid_t loc, const char *file, const char *name, uint64_t n, trib_h5_string_fn fn,
                         void *arg);
/* What a 1-D dataset of exactly n elements holds: 1 strings, 0 8-byte integers; TRIB_ERR_FORMAT otherwise. */
int trib_h5_is_strings_1d(trib_hid_t loc, const char *file, const char *name, uint64_t n, int *is_strings);

/* ----------------------------------------------------- checksummed data */
/* rows x cols elements (cols == 0: a 1-D dataset of rows elements), contiguous, with "crc32c" and "kind". */
int trib_h5_write_checked(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, size_t rows,
                          size_t cols, const void *data, int kind);
/* Type, shape and kind of a checksummed dataset; *kind may be NULL. */
int trib_h5_checked_info(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t *t, unsigned *ndim,
                         size_t *rows, size_t *cols, int *kind);
/* Reads all count elements and verifies the CRC32C (TRIB_ERR_CORRUPT naming file and dataset). */
int trib_h5_read_checked(trib_hid_t loc, const char *file, const char *name, trib_h5_type_t t, void *buf,
                         size_t count);

#endif
