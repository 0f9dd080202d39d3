/*
 * test_ps_unit.c - the parameter server's pure parts: the message header
 * check (every kind of malformed message is TRIB_ERR_PROTOCOL naming the
 * sender), payload sizes, the row partition and its inverse, roles, names.
 */
#include <string.h>

#include "train/ps_wire.h" /* internal: the wire format */
#include "trib_cunit.h"

enum { K = 5 };

/* A valid PUSH of 3 rows into buf; returns its length. */
static size_t make_push(unsigned char *buf)
{
    trib_ps_header_t h = {TRIB_PS_MAGIC, TRIB_PS_PROTOCOL_VERSION, TRIB_PS_MSG_PUSH, 1, 0, 4, 3, 0, 0};
    memcpy(buf, &h, sizeof h);
    size_t len = sizeof h + trib_ps_payload_bytes(TRIB_PS_MSG_PUSH, 3, K);
    memset(buf + sizeof h, 0, len - sizeof h);
    return len;
}

static void test_header_valid(void)
{
    unsigned char buf[1024];
    size_t len = make_push(buf);
    trib_ps_header_t out;
    CU_ASSERT_EQUAL(trib_ps_header_check(buf, len, 1, K, &out), TRIB_OK);
    CU_ASSERT_EQUAL(out.count, 3);
    CU_ASSERT_EQUAL(out.clock, 4);
    CU_ASSERT_EQUAL(len, sizeof out + 3 * (4 + (K + 2) * 4));
}

static void expect_protocol(const unsigned char *buf, size_t len, const char *needle)
{
    int rc = trib_ps_header_check(buf, len, 7, K, NULL);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_PROTOCOL);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "rank 7"));
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), needle));
}

static void test_header_malformed(void)
{
    unsigned char buf[1024];
    size_t len = make_push(buf);
    expect_protocol(buf, 10, "shorter than");
    buf[0] ^= 0xff;
    expect_protocol(buf, len, "magic");
    len = make_push(buf);
    buf[4] = 9; /* version */
    expect_protocol(buf, len, "version");
    len = make_push(buf);
    buf[6] = 42; /* type */
    expect_protocol(buf, len, "type");
    len = make_push(buf);
    expect_protocol(buf, len - 1, "payload"); /* truncated */
    expect_protocol(buf, len + 4, "payload"); /* trailing bytes */
    trib_ps_header_t h;
    memcpy(&h, buf, sizeof h);
    h.count = UINT64_MAX / 2; /* a count that would overflow a size computation */
    memcpy(buf, &h, sizeof h);
    expect_protocol(buf, len, "payload");
}

static void test_payload_sizes(void)
{
    CU_ASSERT_EQUAL(trib_ps_payload_bytes(TRIB_PS_MSG_PULL, 10, K), 40);
    CU_ASSERT_EQUAL(trib_ps_payload_bytes(TRIB_PS_MSG_REPLY, 10, K), 10 * (K + 2) * 4);
    CU_ASSERT_EQUAL(trib_ps_payload_bytes(TRIB_PS_MSG_DONE, 0, K), 0);
    CU_ASSERT_EQUAL(trib_ps_payload_bytes(TRIB_PS_MSG_PAUSE, 0, K), 0);
    CU_ASSERT_EQUAL(trib_ps_payload_bytes(TRIB_PS_MSG_NOTICE, 0, K), 0);
    /* a NOTICE is a bare header; one with rows is malformed */
    trib_ps_header_t h = {TRIB_PS_MAGIC, TRIB_PS_PROTOCOL_VERSION, TRIB_PS_MSG_NOTICE, 0, 0, 3, 0, 1, 0}, out;
    CU_ASSERT_EQUAL(trib_ps_header_check(&h, sizeof h, 2, K, &out), TRIB_OK);
    CU_ASSERT_EQUAL(out.type, TRIB_PS_MSG_NOTICE);
    h.count = 1;
    CU_ASSERT_EQUAL(trib_ps_header_check(&h, sizeof h, 2, K, &out), TRIB_ERR_PROTOCOL);
}

static void test_partition(void)
{
    static const uint64_t rows[] = {0, 1, 2, 7, 100, 3706};
    for (size_t a = 0; a < sizeof rows / sizeof rows[0]; a++)
        for (int S = 1; S <= 7; S++) {
            uint64_t next = 0;
            for (int j = 0; j < S; j++) {
                uint64_t f, e;
                trib_ps_server_rows(rows[a], S, j, &f, &e);
                CU_ASSERT_EQUAL(f, next); /* contiguous, covering, in order */
                CU_ASSERT(e >= f && e - f <= rows[a] / S + 1);
                for (uint64_t r = f; r < e; r++)
                    CU_ASSERT_EQUAL(trib_ps_server_of(rows[a], S, r), j);
                next = e;
            }
            CU_ASSERT_EQUAL(next, rows[a]);
        }
}

static void test_roles_and_names(void)
{
    CU_ASSERT(!trib_ps_is_server(0, 4, 1));
    CU_ASSERT(!trib_ps_is_server(2, 4, 1));
    CU_ASSERT(trib_ps_is_server(3, 4, 1));
    CU_ASSERT(trib_ps_is_server(2, 4, 2));
    trib_ps_consistency_t c;
    CU_ASSERT_EQUAL(trib_ps_consistency_parse("ssp", &c), TRIB_OK);
    CU_ASSERT_EQUAL(c, TRIB_PS_SSP);
    CU_ASSERT_STRING_EQUAL(trib_ps_consistency_name(TRIB_PS_BSP), "bsp");
    CU_ASSERT_EQUAL(trib_ps_consistency_parse("eventual", &c), TRIB_ERR_INVALID_ARG);
    trib_ps_options_t o;
    memset(&o, 0, sizeof o);
    o.consistency = TRIB_PS_BSP;
    o.staleness = 3;
    CU_ASSERT_EQUAL(trib_ps_effective_staleness(&o), 0);
    o.consistency = TRIB_PS_SSP;
    CU_ASSERT_EQUAL(trib_ps_effective_staleness(&o), 3);
    o.consistency = TRIB_PS_ASYNC;
    CU_ASSERT_EQUAL(trib_ps_effective_staleness(&o), -1);
}

static CU_TestInfo tests[] = {{"header_valid", test_header_valid},
                              {"header_malformed", test_header_malformed},
                              {"payload_sizes", test_payload_sizes},
                              {"partition", test_partition},
                              {"roles_and_names", test_roles_and_names},
                              CU_TEST_INFO_NULL};
static CU_SuiteInfo suites[] = {{"ps", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(void) { return trib_cunit_run(suites); }
