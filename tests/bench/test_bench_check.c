/*
 * test_bench_check.c - unit tests of trib-bench's checker, parsers and statistics.
 *
 * The checker is exercised the way a broken algorithm would fail: results
 * are built by a local simulation of an allreduce over p ranks (reducing the
 * very inputs trib-bench feeds the library), then deliberately damaged (one
 * rank's contribution dropped, one element off by one ulp, one element
 * skipped, a sum that saturates instead of wrapping); each damage must be
 * reported with the right element.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "trib_cunit.h"

/* Simulates an allreduce over nranks in rank order; `skip_rank` >= 0 leaves that rank out (a broken algorithm). */
static void simulate(void *out, size_t count, bench_type_t type, bench_op_t op, int nranks, int skip_rank)
{
    size_t ts = bench_type_size(type);
    unsigned char *in = malloc(count * ts + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    int first = skip_rank == 0 ? 1 : 0;
    bench_fill_input(out, count, type, op, first);
    for (int r = first + 1; r < nranks; r++) {
        if (r == skip_rank)
            continue;
        bench_fill_input(in, count, type, op, r);
        for (size_t i = 0; i < count; i++) {
            switch (type) {
            case BENCH_FLOAT: {
                float *o = out, *x = (float *)in;
                o[i] = op == BENCH_SUM || op == BENCH_AVG || op == BENCH_USER ? o[i] + x[i]
                       : op == BENCH_PROD                 ? o[i] * x[i]
                       : op == BENCH_MIN                  ? fminf(o[i], x[i])
                                                          : fmaxf(o[i], x[i]);
                break;
            }
            case BENCH_INT32: {
                int32_t *o = out, *x = (int32_t *)in;
                uint32_t a = (uint32_t)o[i], b = (uint32_t)x[i];
                o[i] = op == BENCH_SUM || op == BENCH_USER ? (int32_t)(a + b)
                       : op == BENCH_BOR  ? (int32_t)(a | b)
                       : op == BENCH_PROD ? (int32_t)(a * b)
                       : op == BENCH_MIN  ? (o[i] < x[i] ? o[i] : x[i])
                                          : (o[i] > x[i] ? o[i] : x[i]);
                break;
            }
            case BENCH_UINT8: {
                uint8_t *o = out, *x = (uint8_t *)in;
                o[i] = op == BENCH_SUM || op == BENCH_USER ? (uint8_t)(o[i] + x[i])
                       : op == BENCH_BOR  ? (uint8_t)(o[i] | x[i])
                       : op == BENCH_PROD ? (uint8_t)(o[i] * x[i])
                       : op == BENCH_MIN  ? (o[i] < x[i] ? o[i] : x[i])
                                          : (o[i] > x[i] ? o[i] : x[i]);
                break;
            }
            default: CU_FAIL("type not simulated"); break;
            }
        }
    }
    if (op == BENCH_AVG && type == BENCH_FLOAT)
        for (size_t i = 0; i < count; i++)
            ((float *)out)[i] /= (float)nranks;
    free(in);
}

static void test_correct_results_pass(void)
{
    static const bench_type_t types[] = {BENCH_FLOAT, BENCH_INT32, BENCH_UINT8};
    for (size_t t = 0; t < 3; t++) {
        for (int op = 0; op < BENCH_OP_COUNT; op++) {
            if (!bench_op_valid(types[t], (bench_op_t)op))
                continue;
            for (int p = 1; p <= 9; p += 2) {
                size_t count = 1000;
                void *res = malloc(count * 8);
                simulate(res, count, types[t], (bench_op_t)op, p, -1);
                bench_check_t rep;
                CU_ASSERT_EQUAL(bench_check_result(res, count, types[t], (bench_op_t)op, p, &rep), 0);
                free(res);
            }
        }
    }
}

static void test_dropped_rank_is_caught(void)
{
    size_t count = 257;
    float res[257];
    simulate(res, count, BENCH_FLOAT, BENCH_SUM, 5, 3); /* forgets rank 3 */
    bench_check_t rep;
    size_t wrong = bench_check_result(res, count, BENCH_FLOAT, BENCH_SUM, 5, &rep);
    CU_ASSERT(wrong > 0);
    CU_ASSERT_EQUAL(rep.wrong, wrong);
    CU_ASSERT_EQUAL(rep.got, res[rep.first]);
    CU_ASSERT_NOT_EQUAL(rep.got, rep.expected);
}

static void test_single_ulp_is_caught(void)
{
    size_t count = 100;
    float res[100];
    simulate(res, count, BENCH_FLOAT, BENCH_SUM, 4, -1);
    res[77] = nextafterf(res[77], INFINITY);
    bench_check_t rep;
    CU_ASSERT_EQUAL(bench_check_result(res, count, BENCH_FLOAT, BENCH_SUM, 4, &rep), 1);
    CU_ASSERT_EQUAL(rep.first, 77);
}

static void test_nan_is_caught(void)
{
    float res[10];
    simulate(res, 10, BENCH_FLOAT, BENCH_MAX, 3, -1);
    res[0] = NAN;
    CU_ASSERT_EQUAL(bench_check_result(res, 10, BENCH_FLOAT, BENCH_MAX, 3, NULL), 1);
}

static void test_saturating_byte_sum_is_caught(void)
{
    /* A byte sum must wrap modulo 256; an implementation that saturates at 255 is wrong. */
    size_t count = 64;
    uint8_t res[64], in[64];
    int p = 3;
    memset(res, 0, sizeof res);
    for (int r = 0; r < p; r++) {
        bench_fill_input(in, count, BENCH_UINT8, BENCH_SUM, r);
        for (size_t i = 0; i < count; i++)
            res[i] = res[i] + in[i] > 255 ? 255 : (uint8_t)(res[i] + in[i]);
    }
    bench_check_t rep;
    CU_ASSERT(bench_check_result(res, count, BENCH_UINT8, BENCH_SUM, p, &rep) > 0);
    CU_ASSERT_EQUAL(rep.got, 255);
}

static void test_average_tolerance(void)
{
    float res[50];
    simulate(res, 50, BENCH_FLOAT, BENCH_AVG, 3, -1);
    res[10] *= 1.0f + 1e-7f; /* rounding-level difference: accepted */
    CU_ASSERT_EQUAL(bench_check_result(res, 50, BENCH_FLOAT, BENCH_AVG, 3, NULL), 0);
    res[11] += 0.01f; /* a real error */
    CU_ASSERT_EQUAL(bench_check_result(res, 50, BENCH_FLOAT, BENCH_AVG, 3, NULL), 1);
}

static void test_send_buffer_check(void)
{
    int32_t buf[32];
    bench_fill_input(buf, 32, BENCH_INT32, BENCH_MIN, 2);
    CU_ASSERT_EQUAL(bench_check_input(buf, 32, BENCH_INT32, BENCH_MIN, 2), 0);
    buf[5]++;
    CU_ASSERT_EQUAL(bench_check_input(buf, 32, BENCH_INT32, BENCH_MIN, 2), 1);
}

static void test_int64_wraps(void)
{
    /* Products of +-2 over 70 ranks overflow int64: the reference must wrap like two's complement. */
    int p = 70;
    size_t count = 8;
    int64_t res[8], in[8];
    uint64_t acc[8];
    for (size_t i = 0; i < count; i++)
        acc[i] = 1;
    for (int r = 0; r < p; r++) {
        bench_fill_input(in, count, BENCH_INT64, BENCH_PROD, r);
        for (size_t i = 0; i < count; i++)
            acc[i] *= (uint64_t)in[i];
    }
    memcpy(res, acc, sizeof res);
    CU_ASSERT_EQUAL(bench_check_result(res, count, BENCH_INT64, BENCH_PROD, p, NULL), 0);
    res[3] ^= 1;
    CU_ASSERT_EQUAL(bench_check_result(res, count, BENCH_INT64, BENCH_PROD, p, NULL), 1);
}

static void test_parse_bytes(void)
{
    size_t b;
    CU_ASSERT(bench_parse_bytes("8", &b) == 0 && b == 8);
    CU_ASSERT(bench_parse_bytes("64K", &b) == 0 && b == 65536);
    CU_ASSERT(bench_parse_bytes("16M", &b) == 0 && b == 16u << 20);
    CU_ASSERT(bench_parse_bytes("1G", &b) == 0 && b == 1u << 30);
    CU_ASSERT(bench_parse_bytes("256m", &b) == 0 && b == 256u << 20);
    CU_ASSERT(bench_parse_bytes("0.5K", &b) == 0 && b == 512);
    CU_ASSERT_EQUAL(bench_parse_bytes("12X", &b), -1);
    CU_ASSERT_EQUAL(bench_parse_bytes("", &b), -1);
    CU_ASSERT_EQUAL(bench_parse_bytes("-1", &b), -1);
    CU_ASSERT_EQUAL(bench_parse_bytes("0.3", &b), -1);
    char s[32];
    bench_format_bytes(4u << 20, s, sizeof s);
    CU_ASSERT_STRING_EQUAL(s, "4M");
    bench_format_bytes(1000, s, sizeof s);
    CU_ASSERT_STRING_EQUAL(s, "1000");
}

static void test_parse_rate_delay(void)
{
    double v;
    CU_ASSERT(bench_parse_rate("1G", &v) == 0 && v == 1e9);
    CU_ASSERT(bench_parse_rate("1gbit", &v) == 0 && v == 1e9);
    CU_ASSERT(bench_parse_rate("100mbit", &v) == 0 && v == 1e8);
    CU_ASSERT_EQUAL(bench_parse_rate("fast", &v), -1);
    CU_ASSERT_EQUAL(bench_parse_rate("0", &v), -1);
    CU_ASSERT(bench_parse_delay("100us", &v) == 0 && fabs(v - 1e-4) < 1e-15);
    CU_ASSERT(bench_parse_delay("1ms", &v) == 0 && fabs(v - 1e-3) < 1e-15);
    CU_ASSERT(bench_parse_delay("0", &v) == 0 && v == 0);
    CU_ASSERT_EQUAL(bench_parse_delay("5", &v), -1); /* a delay needs a unit */
}

static void test_parse_algo_list(void)
{
    bench_algo_t a[BENCH_MAX_ALGOS];
    char err[128];
    CU_ASSERT_EQUAL(bench_parse_algo_list("ring,tree:64K,mpi", a, BENCH_MAX_ALGOS, err, sizeof err), 3);
    CU_ASSERT_EQUAL(a[0].algo, TRIB_ALGO_RING);
    CU_ASSERT_EQUAL(a[1].algo, TRIB_ALGO_TREE);
    CU_ASSERT_EQUAL(a[1].segment_bytes, 65536);
    CU_ASSERT_EQUAL(bench_parse_algo_list("all", a, BENCH_MAX_ALGOS, err, sizeof err), 7); /* ring .. hier, auto, mpi */
    CU_ASSERT_EQUAL(bench_parse_algo_list("ring,bogus", a, BENCH_MAX_ALGOS, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bogus"));
    CU_ASSERT_EQUAL(bench_parse_algo_list("ring,ring", a, BENCH_MAX_ALGOS, err, sizeof err), -1);
    CU_ASSERT_EQUAL(bench_parse_algo_list("", a, BENCH_MAX_ALGOS, err, sizeof err), -1);
    /* plain: the benchmark's own MPI_Allreduce call, distinct from the library's mpi algorithm */
    CU_ASSERT_EQUAL(bench_parse_algo_list("plain,mpi", a, BENCH_MAX_ALGOS, err, sizeof err), 2);
    CU_ASSERT_TRUE(a[0].plain);
    CU_ASSERT_FALSE(a[1].plain);
    char label[32];
    bench_algo_label(&a[0], label, sizeof label);
    CU_ASSERT_STRING_EQUAL(label, "plain");
    CU_ASSERT_EQUAL(bench_parse_algo_list("plain:64K", a, BENCH_MAX_ALGOS, err, sizeof err), -1);
    CU_ASSERT_EQUAL(bench_parse_algo_list("plain,plain", a, BENCH_MAX_ALGOS, err, sizeof err), -1);
}

static void test_stats_and_bound(void)
{
    double v[10] = {10, 1, 9, 2, 8, 3, 7, 4, 6, 5};
    CU_ASSERT_DOUBLE_EQUAL(bench_mean(v, 10), 5.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(bench_quantile(v, 10, 0.5), 5, 0);
    CU_ASSERT_DOUBLE_EQUAL(bench_quantile(v, 10, 0.9), 9, 0);
    CU_ASSERT_DOUBLE_EQUAL(bench_quantile(v, 10, 1.0), 10, 0);
    /* 4 ranks, 16 MB at 1 Gbit/s: 2*3/4 * 16e6 * 8 / 1e9 = 0.192 s. */
    CU_ASSERT_DOUBLE_EQUAL(bench_bound_seconds(16000000, 4, 1e9, 100e-6), 0.192, 1e-12);
    /* 8 bytes: latency term ceil(log2 4) * 100 us. */
    CU_ASSERT_DOUBLE_EQUAL(bench_bound_seconds(8, 4, 1e9, 100e-6), 200e-6, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(bench_bound_seconds(8, 5, 1e9, 1e-3), 3e-3, 1e-12);
    CU_ASSERT_EQUAL(bench_bound_seconds(1000, 1, 1e9, 1e-3), 0);
    CU_ASSERT_EQUAL(bench_bound_seconds(1000, 4, 0, 1e-3), 0);
}

int main(void)
{
    static CU_TestInfo checker[] = {
        {"correct results pass", test_correct_results_pass},
        {"dropped rank is caught", test_dropped_rank_is_caught},
        {"one ulp off is caught", test_single_ulp_is_caught},
        {"NaN is caught", test_nan_is_caught},
        {"saturating byte sum is caught", test_saturating_byte_sum_is_caught},
        {"average tolerance", test_average_tolerance},
        {"send buffer check", test_send_buffer_check},
        {"int64 wraps", test_int64_wraps},
        CU_TEST_INFO_NULL,
    };
    static CU_TestInfo parsing[] = {
        {"bytes", test_parse_bytes},
        {"rate and delay", test_parse_rate_delay},
        {"algorithm list", test_parse_algo_list},
        {"stats and bound", test_stats_and_bound},
        CU_TEST_INFO_NULL,
    };
    static CU_SuiteInfo suites[] = {
        {"bench checker", NULL, NULL, NULL, NULL, checker},
        {"bench parsing", NULL, NULL, NULL, NULL, parsing},
        CU_SUITE_INFO_NULL,
    };
    return trib_cunit_run(suites);
}
