/* test_core.c - units of the core layer: status table, RNG, allocation, logging. */
#include "trib_cunit.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/rng.h"
#include "tributary/status.h"
#include "tributary/version.h"

static void test_status_strings(void)
{
    CU_ASSERT_STRING_EQUAL(trib_strerror(TRIB_OK), "success");
    CU_ASSERT_STRING_EQUAL(trib_err_name(TRIB_ERR_NOMEM), "TRIB_ERR_NOMEM");
    CU_ASSERT_STRING_EQUAL(trib_strerror(12345), "unknown status");
    /* Every code in the table has a distinct, non-empty message. */
    int codes[] = {
#define C_(name, value, msg) value,
        TRIB_STATUS_TABLE(C_)
#undef C_
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT(codes[i] <= 0);
        CU_ASSERT(strlen(trib_strerror(codes[i])) > 0);
        for (size_t j = i + 1; j < n; j++) {
            CU_ASSERT(codes[i] != codes[j]);
            CU_ASSERT(strcmp(trib_strerror(codes[i]), trib_strerror(codes[j])) != 0);
        }
    }
}

static void test_error_detail(void)
{
    trib_clear_error();
    CU_ASSERT_STRING_EQUAL(trib_last_error(TRIB_ERR_IO), trib_strerror(TRIB_ERR_IO));
    int rc = trib_errorf(TRIB_ERR_FORMAT, "%s:%d: bad rating '%s'", "u.data", 17, "x");
    CU_ASSERT_EQUAL(rc, TRIB_ERR_FORMAT);
    CU_ASSERT_STRING_EQUAL(trib_last_error(rc), "u.data:17: bad rating 'x'");
    trib_clear_error();
    CU_ASSERT_STRING_EQUAL(trib_last_error(rc), trib_strerror(TRIB_ERR_FORMAT));
}

/* Context added to a lower error from the detail buffer itself: "where: <lower message>", once. */
static void test_error_wrap_own_message(void)
{
    int rc = trib_errorf(TRIB_ERR_FORMAT, "%s", "96 bytes");
    rc = trib_errorf(rc, "%s:%d: %s", "longline4.csv", 2, trib_last_error(rc));
    CU_ASSERT_STRING_EQUAL(trib_last_error(rc), "longline4.csv:2: 96 bytes");
    rc = trib_errorf(rc, "--exclude-rated %s: %s", "X", trib_last_error(rc));
    CU_ASSERT_STRING_EQUAL(trib_last_error(rc), "--exclude-rated X: longline4.csv:2: 96 bytes");
    trib_clear_error();
}

static void test_version(void)
{
    CU_ASSERT_STRING_EQUAL(trib_version_string(), TRIB_VERSION_STRING);
    CU_ASSERT_EQUAL(trib_version_hex(), (unsigned)TRIB_VERSION_HEX);
}

static void test_rng_determinism(void)
{
    trib_rng_t a, b, c;
    trib_rng_init(&a, 42, 7);
    trib_rng_init(&b, 42, 7);
    trib_rng_init(&c, 42, 8);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = trib_rng_u64(&a), y = trib_rng_u64(&b), z = trib_rng_u64(&c);
        CU_ASSERT_EQUAL(x, y);
        differ += (x != z);
    }
    CU_ASSERT(differ > 990);
    /* Stateless access agrees with the stream. */
    trib_rng_init(&a, 9, 3);
    uint64_t first = trib_rng_u64(&a), second = trib_rng_u64(&a);
    CU_ASSERT_EQUAL(trib_rng_at(a.key, 0), first);
    CU_ASSERT_EQUAL(trib_rng_at(a.key, 1), second);
}

static void test_rng_distributions(void)
{
    trib_rng_t r;
    trib_rng_init(&r, 1, 2);
    const int n = 200000;
    double sum = 0, sum2 = 0, usum = 0;
    uint64_t hist[10] = {0};
    for (int i = 0; i < n; i++) {
        double g = trib_rng_normal(&r);
        sum += g;
        sum2 += g * g;
        double u = trib_rng_uniform(&r);
        CU_ASSERT(u >= 0.0 && u < 1.0);
        usum += u;
        uint64_t k = trib_rng_below(&r, 10);
        CU_ASSERT(k < 10);
        hist[k < 10 ? k : 0]++;
    }
    CU_ASSERT(fabs(sum / n) < 0.01);
    CU_ASSERT(fabs(sum2 / n - 1.0) < 0.02);
    CU_ASSERT(fabs(usum / n - 0.5) < 0.005);
    for (int k = 0; k < 10; k++)
        CU_ASSERT(fabs((double)hist[k] / n - 0.1) < 0.005);
}

static void test_shuffle_is_permutation(void)
{
    uint32_t a[1000];
    for (uint32_t i = 0; i < 1000; i++)
        a[i] = i;
    trib_rng_t r;
    trib_rng_init(&r, 5, 5);
    trib_rng_shuffle_u32(&r, a, 1000);
    int seen[1000] = {0}, moved = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        CU_ASSERT_FATAL(a[i] < 1000);
        seen[a[i]]++;
        moved += (a[i] != i);
    }
    for (int i = 0; i < 1000; i++)
        CU_ASSERT_EQUAL(seen[i], 1);
    CU_ASSERT(moved > 900);
}

static void test_alloc(void)
{
    void *p = trib_aligned_alloc(TRIB_ALIGN, 1000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL((uintptr_t)p % TRIB_ALIGN, 0);
    trib_aligned_free(p);
    unsigned char *z = trib_aligned_calloc(TRIB_ALIGN, 333);
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    for (int i = 0; i < 333; i++)
        CU_ASSERT_EQUAL(z[i], 0);
    trib_aligned_free(z);
    size_t out = 0;
    CU_ASSERT_EQUAL(trib_size_mul(SIZE_MAX / 2 + 1, 2, &out), TRIB_ERR_RANGE);
    CU_ASSERT_EQUAL(trib_size_mul(1000, 1000, &out), TRIB_OK);
    CU_ASSERT_EQUAL(out, 1000000);
    CU_ASSERT_EQUAL(trib_round_up(13, 8), 16);
    CU_ASSERT_EQUAL(trib_round_up(16, 8), 16);
}

static void test_log_levels(void)
{
    trib_log_level_t l;
    CU_ASSERT_EQUAL(trib_log_level_parse("debug", &l), TRIB_OK);
    CU_ASSERT_EQUAL(l, TRIB_LOG_DEBUG);
    CU_ASSERT_EQUAL(trib_log_level_parse("loud", &l), TRIB_ERR_INVALID_ARG);
    trib_log_set_level(TRIB_LOG_ERROR);
    CU_ASSERT(!trib_log_enabled(TRIB_LOG_INFO));
    trib_log_set_level(TRIB_LOG_INFO);
    CU_ASSERT(trib_log_enabled(TRIB_LOG_INFO));
}

static CU_TestInfo core_tests[] = {
    {"error message wrapping its own text", test_error_wrap_own_message},
    {"status strings", test_status_strings},
    {"error detail", test_error_detail},
    {"version", test_version},
    {"rng determinism", test_rng_determinism},
    {"rng distributions", test_rng_distributions},
    {"shuffle is a permutation", test_shuffle_is_permutation},
    {"aligned alloc and size arithmetic", test_alloc},
    {"log levels", test_log_levels},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"core", NULL, NULL, NULL, NULL, core_tests},
    CU_SUITE_INFO_NULL,
};

int main(void) { return trib_cunit_run(suites); }
