/* test_crc32c.c - CRC32C against published vectors and a bit-at-a-time reference. */
#include "trib_cunit.h"

#include <stdint.h>
#include <string.h>

#include "core/rng.h"
#include "io/crc32c.h"
#include "tributary/ckpt.h"

/* The definition, one bit at a time: reflected polynomial 0x82F63B78. */
static uint32_t crc32c_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++)
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static void known_vectors(crc_fn crc)
{
    CU_ASSERT_EQUAL(crc(0, "123456789", 9), 0xE3069283u);
    CU_ASSERT_EQUAL(crc(0, "", 0), 0u);
    unsigned char buf[32];
    memset(buf, 0, sizeof buf);
    CU_ASSERT_EQUAL(crc(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    CU_ASSERT_EQUAL(crc(0, buf, 32), 0x62A8AB43u);
}

static void test_portable_path(void)
{
    known_vectors(trib_crc32c_portable);
    unsigned char data[300];
    trib_rng_t r;
    trib_rng_init(&r, 7, 8);
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)trib_rng_u64(&r);
    int bad = 0;
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof data; n++)
            bad += trib_crc32c_portable(0, data + off, n) != crc32c_bitwise(data + off, n);
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_known_vectors(void)
{
    CU_ASSERT_EQUAL(trib_crc32c(0, "123456789", 9), 0xE3069283u);
    CU_ASSERT_EQUAL(trib_crc32c(0, "", 0), 0u);
    /* RFC 3720 (iSCSI) appendix B.4. */
    unsigned char buf[32];
    memset(buf, 0, sizeof buf);
    CU_ASSERT_EQUAL(trib_crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    CU_ASSERT_EQUAL(trib_crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    CU_ASSERT_EQUAL(trib_crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)(31 - i);
    CU_ASSERT_EQUAL(trib_crc32c(0, buf, 32), 0x113FDB5Cu);
}

static void test_matches_reference_all_lengths_and_offsets(void)
{
    unsigned char data[300];
    trib_rng_t r;
    trib_rng_init(&r, 5, 6);
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)trib_rng_u64(&r);
    int bad = 0;
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof data; n++)
            bad += trib_crc32c(0, data + off, n) != crc32c_bitwise(data + off, n);
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_chaining(void)
{
    const char *s = "The quick brown fox jumps over the lazy dog";
    size_t n = strlen(s);
    uint32_t whole = trib_crc32c(0, s, n);
    for (size_t cut = 0; cut <= n; cut++)
        CU_ASSERT_EQUAL(trib_crc32c(trib_crc32c(0, s, cut), s + cut, n - cut), whole);
    /* A single flipped bit changes the checksum. */
    char copy[64];
    memcpy(copy, s, n);
    copy[10] ^= 0x04;
    CU_ASSERT_NOT_EQUAL(trib_crc32c(0, copy, n), whole);
}

static CU_TestInfo tests[] = {
    {"known vectors", test_known_vectors},
    {"trib_crc32c equals the bitwise definition", test_matches_reference_all_lengths_and_offsets},
    {"chained calls", test_chaining},
    {"table path (when the processor has a CRC32C instruction)", test_portable_path},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"crc32c", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(void) { return trib_cunit_run(suites); }
