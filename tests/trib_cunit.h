/*
 * trib_cunit.h - small glue for CUnit test programs.
 *
 *   static CU_TestInfo tests[] = { {"name", fn}, CU_TEST_INFO_NULL };
 *   static CU_SuiteInfo suites[] = { {"suite", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL };
 *   int main(void) { return trib_cunit_run(suites); }
 *
 * trib_cunit_run() runs every suite verbosely and returns non-zero when any
 * assertion failed, so ctest sees the failure.
 *
 * A failed comparison of numbers says what was compared: CU_ASSERT_DOUBLE_EQUAL is
 * redefined here to print both values and the tolerance, and TRIB_ASSERT_LE(a, b) /
 * TRIB_ASSERT_LT(a, b) (for bounds such as "rmse <= 1.1 * noise") print both sides.
 */
#ifndef TRIB_TESTS_CUNIT_H
#define TRIB_TESTS_CUNIT_H

#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>

/* Records a CUnit assertion whose message holds the expression and the values compared. */
static inline void trib_cu_compare(int ok, const char *expr, double a, double b, double tol, int line,
                                   const char *file)
{
    char msg[512];
    if (tol >= 0)
        snprintf(msg, sizeof msg, "%s: %.17g vs %.17g (tolerance %.3g)", expr, a, b, tol);
    else
        snprintf(msg, sizeof msg, "%s: %.17g vs %.17g", expr, a, b);
    CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned)line, msg, file, "", CU_FALSE);
}

#undef CU_ASSERT_DOUBLE_EQUAL
#define CU_ASSERT_DOUBLE_EQUAL(actual, expected, granularity)                                              \
    trib_cu_compare(fabs((double)(actual) - (double)(expected)) <= fabs((double)(granularity)),           \
                    "CU_ASSERT_DOUBLE_EQUAL(" #actual ", " #expected ", " #granularity ")", (double)(actual), \
                    (double)(expected), fabs((double)(granularity)), __LINE__, __FILE__)
#define TRIB_ASSERT_LE(a, b) \
    trib_cu_compare((double)(a) <= (double)(b), #a " <= " #b, (double)(a), (double)(b), -1, __LINE__, __FILE__)
#define TRIB_ASSERT_LT(a, b) \
    trib_cu_compare((double)(a) < (double)(b), #a " < " #b, (double)(a), (double)(b), -1, __LINE__, __FILE__)

static inline int trib_cunit_run(CU_SuiteInfo *suites)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (ran == 0) {
        fprintf(stderr, "CUnit: no test ran\n");
        return 3;
    }
    return failed ? 1 : 0;
}

#endif
