/*
 * shm.c - intra-node shared-memory allreduce (not yet implemented: selecting
 * it returns TRIB_ERR_UNSUPPORTED and AUTO never picks it).
 */
#include "coll/coll_internal.h"

int trib_coll_shm(const trib_coll_args_t *a)
{
    (void)a;
    return trib_errorf(TRIB_ERR_UNSUPPORTED, "allreduce: algorithm shm is not available in this build");
}

int trib_coll_shm_preferred(size_t bytes, int p)
{
    (void)bytes;
    (void)p;
    return 0;
}

void trib_coll_shm_free(struct trib_shm_state *s) { (void)s; }
