/*
 * ps_proto.c - the parameter server's vocabulary: consistency names, roles,
 * the row partition (tributary/ps.h) and the message header check (train/ps_wire.h).
 *
 * Everything here is a pure function; the server (ps_server.c) and the client
 * (ps_client.c) build and check their messages with it, so both sides agree
 * on sizes by construction.
 */
#include <string.h>

#include "train/ps_wire.h"

const char *trib_ps_consistency_name(trib_ps_consistency_t c)
{
    switch (c) {
    case TRIB_PS_ASYNC: return "async";
    case TRIB_PS_BSP: return "bsp";
    case TRIB_PS_SSP: return "ssp";
    }
    return "unknown";
}

int trib_ps_consistency_parse(const char *name, trib_ps_consistency_t *out)
{
    if (name && !strcmp(name, "async"))
        *out = TRIB_PS_ASYNC;
    else if (name && !strcmp(name, "bsp"))
        *out = TRIB_PS_BSP;
    else if (name && !strcmp(name, "ssp"))
        *out = TRIB_PS_SSP;
    else
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--consistency: '%s' is not async, bsp or ssp", name ? name : "");
    return TRIB_OK;
}

int trib_ps_effective_staleness(const trib_ps_options_t *o)
{
    return o->consistency == TRIB_PS_SSP ? o->staleness : o->consistency == TRIB_PS_BSP ? 0 : -1;
}

int trib_ps_is_server(int rank, int n_ranks, int n_servers) { return rank >= n_ranks - n_servers; }

void trib_ps_server_rows(uint64_t n_rows, int n_servers, int j, uint64_t *first, uint64_t *end)
{
    __extension__ typedef unsigned __int128 u128_t;
    *first = (uint64_t)((u128_t)n_rows * (unsigned)j / (unsigned)n_servers);
    *end = (uint64_t)((u128_t)n_rows * (unsigned)(j + 1) / (unsigned)n_servers);
}

int trib_ps_server_of(uint64_t n_rows, int n_servers, uint64_t row)
{
    /* The inverse of the ranges above: the largest j with first(j) <= row. */
    __extension__ typedef unsigned __int128 u128_t;
    int j = (int)(((u128_t)row * (unsigned)n_servers + (unsigned)n_servers - 1) / (n_rows ? n_rows : 1));
    if (j >= n_servers)
        j = n_servers - 1;
    uint64_t first, end;
    for (;;) {
        trib_ps_server_rows(n_rows, n_servers, j, &first, &end);
        if (row < first && j > 0)
            j--;
        else if (row >= end && j + 1 < n_servers)
            j++;
        else
            return j;
    }
}

size_t trib_ps_payload_bytes(trib_ps_msg_type_t type, uint64_t count, size_t k)
{
    size_t row = TRIB_PS_ROW_FLOATS(k) * sizeof(float);
    switch (type) {
    case TRIB_PS_MSG_PULL: return (size_t)count * sizeof(uint32_t);
    case TRIB_PS_MSG_REPLY: return (size_t)count * row;
    case TRIB_PS_MSG_PUSH: return (size_t)count * (sizeof(uint32_t) + row);
    case TRIB_PS_MSG_DONE:
    case TRIB_PS_MSG_PAUSE:
    case TRIB_PS_MSG_NOTICE:
    case TRIB_PS_MSG_CLAIM:
    case TRIB_PS_MSG_GRANT: return 0;
    }
    return 0;
}

int trib_ps_header_check(const void *msg, size_t len, int sender, size_t k, trib_ps_header_t *out)
{
    trib_ps_header_t h;
    if (!msg || len < sizeof h)
        return trib_errorf(TRIB_ERR_PROTOCOL, "parameter server: message of %zu bytes from rank %d is shorter than "
                           "the %zu-byte header", len, sender, sizeof h);
    memcpy(&h, msg, sizeof h);
    if (h.magic != TRIB_PS_MAGIC)
        return trib_errorf(TRIB_ERR_PROTOCOL, "parameter server: message from rank %d has bad magic 0x%08x",
                           sender, (unsigned)h.magic);
    if (h.version != TRIB_PS_PROTOCOL_VERSION)
        return trib_errorf(TRIB_ERR_PROTOCOL, "parameter server: message from rank %d speaks protocol version %u "
                           "(this build speaks %d)", sender, (unsigned)h.version, TRIB_PS_PROTOCOL_VERSION);
    if (h.type < TRIB_PS_MSG_PULL || h.type > TRIB_PS_MSG_GRANT)
        return trib_errorf(TRIB_ERR_PROTOCOL, "parameter server: message from rank %d has unknown type %u",
                           sender, (unsigned)h.type);
    uint64_t max_rows = (len - sizeof h) / sizeof(uint32_t);
    if (h.count > max_rows ||
        trib_ps_payload_bytes((trib_ps_msg_type_t)h.type, h.count, k) != len - sizeof h)
        return trib_errorf(TRIB_ERR_PROTOCOL, "parameter server: message from rank %d (type %u, %llu rows) has "
                           "%zu payload bytes, expected %zu", sender, (unsigned)h.type,
                           (unsigned long long)h.count, len - sizeof h,
                           h.count > max_rows ? (size_t)0
                                              : trib_ps_payload_bytes((trib_ps_msg_type_t)h.type, h.count, k));
    if (out)
        *out = h;
    return TRIB_OK;
}
