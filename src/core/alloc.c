/* alloc.c - see alloc.h. */
#include "core/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *trib_aligned_alloc(size_t alignment, size_t size)
{
    void *p = NULL;
    if (alignment < sizeof(void *))
        alignment = sizeof(void *);
    if (posix_memalign(&p, alignment, size ? size : 1) != 0)
        return NULL;
    return p;
}

void *trib_aligned_calloc(size_t alignment, size_t size)
{
    void *p = trib_aligned_alloc(alignment, size);
    if (p)
        memset(p, 0, size ? size : 1);
    return p;
}

void trib_aligned_free(void *p) { free(p); }

int trib_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return TRIB_ERR_RANGE;
    *out = a * b;
    return TRIB_OK;
}
