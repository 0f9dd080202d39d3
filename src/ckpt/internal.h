/*
 * internal.h - pieces shared by the checkpoint files (not installed).
 *
 *   fs.c      file-system steps: mkdir -p, fsync of files and directories,
 *             recursive removal, CRC32C of a whole file, directory names
 *   sums.c    the SUMS file: size and CRC32C of every file of a checkpoint
 *   h5io.c    HDF5 datasets with a CRC32C attribute, attributes, listing
 *   agree.c   the collective "did every rank succeed?" with the failing
 *             rank's message broadcast to all
 *   writer.c / reader.c / discover.c   the public API of tributary/ckpt.h
 *
 * Functions here carry the trib_ckpt_ prefix (the library exports only
 * trib_ names) but are not part of the public API.
 */
#ifndef TRIB_CKPT_INTERNAL_H
#define TRIB_CKPT_INTERNAL_H

#include <stdint.h>
#include <stddef.h>

#include "tributary/ckpt.h"

#define TRIB_CKPT_PATH_MAX 4096
#define TRIB_CKPT_PREFIX "ckpt-"
#define TRIB_CKPT_TMP_PREFIX ".tmp-ckpt-"
#define TRIB_CKPT_TRASH_PREFIX ".trash-ckpt-"
#define TRIB_CKPT_MANIFEST "manifest.h5"
#define TRIB_CKPT_SUMS "SUMS"
#define TRIB_CKPT_SEQ_DIGITS 12
#define TRIB_CKPT_MAX_PARTS 1000000

/* Internal element type of string values (bytes). */
#define TRIB_CKPT_U8_INTERNAL 100

/* Kinds of a global value dataset (attribute "kind"). */
#define TRIB_CKPT_KIND_ARRAY 0
#define TRIB_CKPT_KIND_INT 1
#define TRIB_CKPT_KIND_DOUBLE 2
#define TRIB_CKPT_KIND_STRING 3

/* --------------------------------------------------------------- crc32c.c */
/* The table (slicing-by-8) path of trib_crc32c, whatever the processor offers. */
uint32_t trib_crc32c_portable(uint32_t crc, const void *data, size_t len);

/* ------------------------------------------------------------------- fs.c */
int trib_ckpt_name_valid(const char *name);
/* "<dir>/ckpt-<seq>" etc.; TRIB_ERR_RANGE when it does not fit. */
int trib_ckpt_join(char *out, size_t cap, const char *dir, const char *name);
int trib_ckpt_seq_dirname(char *out, size_t cap, const char *prefix, uint64_t seq);
/* Parses "ckpt-<12 digits>"; returns 1 and *seq on a match, 0 otherwise. */
int trib_ckpt_parse_dirname(const char *name, const char *prefix, uint64_t *seq);
int trib_ckpt_part_name(char *out, size_t cap, int part);
int trib_ckpt_mkdir_p(const char *dir);
int trib_ckpt_fsync_path(const char *path, int is_dir);
int trib_ckpt_remove_tree(const char *path);
int trib_ckpt_file_crc(const char *path, uint64_t *size, uint32_t *crc);

/* ----------------------------------------------------------------- sums.c */
typedef struct {
    char name[TRIB_CKPT_NAME_MAX + 1];
    uint64_t size;
    uint32_t crc;
} trib_ckpt_sum_t;

/* Writes <dir>/SUMS for the given files (fsynced when durable). */
int trib_ckpt_sums_write(const char *dir, uint64_t seq, int nparts, const trib_ckpt_sum_t *files,
                         size_t nfiles, int durable);
/*
 * Reads <dir>/SUMS, checks its own CRC and that every listed file exists
 * with its size (and CRC32C when verify_crc); *seq and *nparts from it.
 */
int trib_ckpt_sums_verify(const char *dir, int verify_crc, uint64_t *seq, int *nparts);
/* Recomputes SUMS from the files present (tooling and tests). */
int trib_ckpt_sums_rebuild(const char *dir);

/* ----------------------------------------------------------------- h5io.c */
/* hid_t is int64_t in HDF5 >= 1.10; kept as int64_t here so no hdf5.h is needed. */
typedef int64_t trib_ckpt_hid_t;

void trib_ckpt_h5_quiet(void);
int trib_ckpt_h5_create(const char *path, trib_ckpt_hid_t *file);
int trib_ckpt_h5_open(const char *path, trib_ckpt_hid_t *file);
int trib_ckpt_h5_close_file(trib_ckpt_hid_t file, const char *path);
int trib_ckpt_h5_create_group(trib_ckpt_hid_t loc, const char *file, const char *name,
                              trib_ckpt_hid_t *group);
int trib_ckpt_h5_open_group(trib_ckpt_hid_t loc, const char *file, const char *name,
                            trib_ckpt_hid_t *group);
void trib_ckpt_h5_close_group(trib_ckpt_hid_t group);
int trib_ckpt_h5_write_dataset(trib_ckpt_hid_t loc, const char *file, const char *name, int dtype,
                               size_t rows, size_t cols, const void *data, int kind);
/* dtype as int so TRIB_CKPT_U8_INTERNAL fits; *kind may be NULL. */
int trib_ckpt_h5_dataset_info(trib_ckpt_hid_t loc, const char *file, const char *name, int *dtype,
                              unsigned *ndim, size_t *rows, size_t *cols, int *kind);
int trib_ckpt_h5_read_dataset(trib_ckpt_hid_t loc, const char *file, const char *name, int dtype,
                              void *buf, size_t count);
int trib_ckpt_h5_set_attr_i64(trib_ckpt_hid_t loc, const char *file, const char *name, int64_t v);
int trib_ckpt_h5_get_attr_i64(trib_ckpt_hid_t loc, const char *file, const char *name, int64_t *v);
int trib_ckpt_h5_set_attr_str(trib_ckpt_hid_t loc, const char *file, const char *name,
                              const char *v);
/* *v malloc'd. */
int trib_ckpt_h5_get_attr_str(trib_ckpt_hid_t loc, const char *file, const char *name, char **v);
/* Names of the links in group `loc`, sorted; *names and each entry malloc'd. */
int trib_ckpt_h5_list(trib_ckpt_hid_t loc, const char *file, char ***names, size_t *count);
int trib_ckpt_h5_exists(trib_ckpt_hid_t loc, const char *name);

/* ------------------------------------------------------------- discover.c */
/* Keeps the newest `keep` checkpoints among those with seq <= upto; newer ones are not touched. */
int trib_ckpt_retain_upto(const char *dir, uint64_t upto, unsigned keep);

/* ---------------------------------------------------------------- agree.c */
#include <mpi.h>
/*
 * Collective: returns TRIB_OK when local_rc is TRIB_OK on every rank,
 * otherwise the status of a failing rank, whose detail message every rank
 * then also holds (trib_last_error).
 */
int trib_ckpt_agree(MPI_Comm comm, int local_rc);

#endif
