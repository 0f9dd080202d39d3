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
 * On x86-64 processors with SSE4.2 the CRC32 instruction computes exactly
 * this CRC (it was added for iSCSI), 8 bytes per instruction; it is chosen at
 * run time (__builtin_cpu_supports) when the tables are built, so the library
 * still runs on any x86-64.  Both paths are tested against the bit-by-bit
 * definition (trib_crc32c_portable is the table path, always available).
 *
 * Conventions as in iSCSI/ext4: initial value ~0, final XOR ~0; the function
 * takes and returns the finished value, so calls chain:
 * crc = trib_crc32c(trib_crc32c(0, a, n), b, m) == CRC of a||b.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "io/crc32c.h"

#define CRC32C_POLY_REFLECTED 0x82F63B78u

static uint32_t crc_tables[8][256];
static pthread_once_t crc_tables_once = PTHREAD_ONCE_INIT;

/* Updates the raw (not inverted) CRC register over p[0..len). */
typedef uint32_t (*crc_update_fn)(uint32_t c, const unsigned char *p, size_t len);
static uint32_t crc_update_tables(uint32_t c, const unsigned char *p, size_t len);
static crc_update_fn crc_update = crc_update_tables;

#if defined(__x86_64__) && defined(__GNUC__)
#define TRIB_CRC32C_HW 1
__attribute__((target("sse4.2"))) static uint32_t crc_update_sse42(uint32_t c, const unsigned char *p, size_t len)
{
    while (len > 0 && ((uintptr_t)p & 7u) != 0) {
        c = __builtin_ia32_crc32qi(c, *p++);
        len--;
    }
    uint64_t c64 = c;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, sizeof w);
        c64 = __builtin_ia32_crc32di(c64, w);
    }
    c = (uint32_t)c64;
    while (len--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

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
#ifdef TRIB_CRC32C_HW
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))
        crc_update = crc_update_sse42;
#endif
}

/* Little-endian load of 8 bytes without alignment assumptions. */
static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t crc_update_tables(uint32_t c, const unsigned char *p, size_t len)
{
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
    return c;
}

uint32_t trib_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_tables_once, build_crc_tables);
    return ~crc_update(~crc, data, len);
}

uint32_t trib_crc32c_portable(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_tables_once, build_crc_tables);
    return ~crc_update_tables(~crc, data, len);
}
