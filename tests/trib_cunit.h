/*
 * trib_cunit.h - small glue for CUnit test programs.
 *
 *   static CU_TestInfo tests[] = { {"name", fn}, CU_TEST_INFO_NULL };
 *   static CU_SuiteInfo suites[] = { {"suite", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL };
 *   int main(void) { return trib_cunit_run(suites); }
 *
 * trib_cunit_run() runs every suite verbosely and returns non-zero when any
 * assertion failed, so ctest sees the failure.
 */
#ifndef TRIB_TESTS_CUNIT_H
#define TRIB_TESTS_CUNIT_H

#include <CUnit/Basic.h>
#include <stdio.h>

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
