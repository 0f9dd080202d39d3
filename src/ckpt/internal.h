/*
 * internal.h - pieces shared by the checkpoint files (not installed).
 *
 *   names.c   directory and file names, CRC32C of a whole file
 *   sums.c    the SUMS file: size and CRC32C of every file of a checkpoint
 *   writer.c / reader.c / discover.c   the public API of tributary/ckpt.h
 *
 * Files, directories, fsync and HDF5 (checksummed datasets, attributes) are
 * the io layer's: io/fs.h and io/h5.h.
 *
 * Functions here carry the trib_ckpt_ prefix but are not part of the public
 * API: like everything not marked TRIB_API, they are hidden in the shared
 * libraries (tests reach them through tributary_internal).
 */
#ifndef TRIB_CKPT_INTERNAL_H
#define TRIB_CKPT_INTERNAL_H

#include <stdint.h>
#include <stddef.h>

#include "io/fs.h"
#include "io/h5.h"
#include "tributary/ckpt.h"

#define TRIB_CKPT_PATH_MAX 4096
#define TRIB_CKPT_PREFIX "ckpt-"
#define TRIB_CKPT_TMP_PREFIX ".tmp-ckpt-"
#define TRIB_CKPT_TRASH_PREFIX ".trash-ckpt-"
#define TRIB_CKPT_MANIFEST "manifest.h5"
#define TRIB_CKPT_SUMS "SUMS"
#define TRIB_CKPT_LOCK "LOCK"
#define TRIB_CKPT_SEQ_DIGITS 12
#define TRIB_CKPT_MAX_PARTS 1000000

/* Checkpoint element types pass to the io layer unchanged (string values are TRIB_H5_U8). */
_Static_assert((int)TRIB_CKPT_F32 == (int)TRIB_H5_F32 && (int)TRIB_CKPT_F64 == (int)TRIB_H5_F64 &&
                   (int)TRIB_CKPT_U32 == (int)TRIB_H5_U32 && (int)TRIB_CKPT_U64 == (int)TRIB_H5_U64 &&
                   (int)TRIB_CKPT_I64 == (int)TRIB_H5_I64,
               "trib_ckpt_dtype_t and trib_h5_type_t agree");

/* Kinds of a global value dataset (attribute "kind"). */
#define TRIB_CKPT_KIND_ARRAY 0
#define TRIB_CKPT_KIND_INT 1
#define TRIB_CKPT_KIND_DOUBLE 2
#define TRIB_CKPT_KIND_STRING 3

/* ---------------------------------------------------------------- names.c */
int trib_ckpt_name_valid(const char *name);
/* "<dir>/ckpt-<seq>" etc.; TRIB_ERR_RANGE when it does not fit. */
int trib_ckpt_join(char *out, size_t cap, const char *dir, const char *name);
int trib_ckpt_seq_dirname(char *out, size_t cap, const char *prefix, uint64_t seq);
/* Parses "ckpt-<12 digits>"; returns 1 and *seq on a match, 0 otherwise. */
int trib_ckpt_parse_dirname(const char *name, const char *prefix, uint64_t *seq);
int trib_ckpt_part_name(char *out, size_t cap, int part);
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

/* -------------------------------------------------------------- trigger.c */
#include <signal.h>
/* The flag the stop-signal handlers set (for trib_train_hooks_t.stop_flag). */
volatile sig_atomic_t *trib_ckpt_stop_flag(void);

/* ------------------------------------------------------------- discover.c */
/* Keeps the newest `keep` checkpoints among those with seq <= upto; newer ones are not touched. */
int trib_ckpt_retain_upto(const char *dir, uint64_t upto, unsigned keep);

#endif
