/*
 * crc32c.c - CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78).
 *
 * Every dataset and every file of a checkpoint is protected by a CRC32C.  The
 * implementation is "slicing-by-8": eight 256-entry tables let the loop
 * consume eight bytes per iteration with independent table lookups, several
 * times faster than the classic byte-at-a-time loop and portable C (no
 * SSE4.2 instruction needed).  Table t[k][b] is the CRC of byte b followed by
 * k zero bytes, so the CRC of an 8-byte word is the XOR of eight lookups.
 * The tables are built once, on first use, under pthread_once.
 *
 * Conventions as in iSCSI/ext4: initial value ~0, final XOR ~0; the function
 * takes and returns the finished value, so calls chain:
 * crc = trib_crc32c(trib_crc32c(0, a, n), b, m) == CRC of a||b.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "tributary/ckpt.h"

#define CRC32C_POLY_REFLECTED 0x82F63B78u

static uint32_t crc_tables[8][256];
static pthread_once_t crc_tables_once = PTHREAD_ONCE_INIT;

static void build_crc_tables(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int bit = 0; bit < 8; bit++)
            c = (c & 1u) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
        crc_tables[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++)
            crc_tables[k][b] = (crc_tables[k - 1][b] >> 8) ^ crc_tables[0][crc_tables[k - 1][b] & 0xFFu];
}

/* Little-endian load of 8 bytes without alignment assumptions. */
static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint32_t trib_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_tables_once, build_crc_tables);
    const unsigned char *p = data;
    uint32_t c = ~crc;
    while (len >= 8) {
        uint64_t w = load_le64(p) ^ c;
        c = crc_tables[7][w & 0xFF] ^ crc_tables[6][(w >> 8) & 0xFF] ^
            crc_tables[5][(w >> 16) & 0xFF] ^ crc_tables[4][(w >> 24) & 0xFF] ^
            crc_tables[3][(w >> 32) & 0xFF] ^ crc_tables[2][(w >> 40) & 0xFF] ^
            crc_tables[1][(w >> 48) & 0xFF] ^ crc_tables[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ crc_tables[0][(c ^ *p++) & 0xFF];
    return ~c;
}
