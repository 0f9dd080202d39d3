/*
 * io/crc32c.h - CRC32C of byte ranges (internal declarations of the io layer;
 * trib_crc32c itself is public, declared in tributary/ckpt.h).
 */
#ifndef TRIB_IO_CRC32C_H
#define TRIB_IO_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#include "tributary/io.h"

/* The table (slicing-by-8) path of trib_crc32c, whatever the processor offers. */
uint32_t trib_crc32c_portable(uint32_t crc, const void *data, size_t len);

#endif
