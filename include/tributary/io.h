/*
 * tributary/io.h - the file helpers of libtributary that programs use too:
 * writing a small file (a report, a list of recommendations) atomically and
 * durably, under the same rule as datasets, checkpoints and model files
 * (write a temporary file next to the target, fsync it, rename it into place,
 * fsync the directory), and the CRC32C that checkpoints are protected by.
 */
#ifndef TRIBUTARY_IO_H
#define TRIBUTARY_IO_H

#include <stddef.h>
#include <stdint.h>

#include "tributary/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Writes len bytes to path so that a reader sees either the old file or the
 * whole new one, and the new one survives a crash once this returns TRIB_OK.
 * TRIB_ERR_IO (with the path and the reason) on failure; the temporary file is
 * then removed.
 */
TRIB_API int trib_file_write_atomic(const char *path, const void *data, size_t len);

/*
 * CRC32C (Castagnoli, reflected, as in iSCSI/ext4): crc32c("123456789") ==
 * 0xE3069283.  Start with crc = 0; chain calls to checksum data in pieces.
 * Every checkpoint dataset and file is protected by it.
 */
TRIB_API uint32_t trib_crc32c(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
