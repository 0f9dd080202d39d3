/*
 * alloc.h - aligned allocation and overflow-checked size arithmetic (internal).
 *
 * Model rows are allocated 64-byte aligned so SIMD loads never split cache
 * lines.  trib_size_mul() is used wherever a count is multiplied by an element
 * size that came from user input.
 */
#ifndef TRIB_CORE_ALLOC_H
#define TRIB_CORE_ALLOC_H

#include <stddef.h>
#include "tributary/status.h"

#define TRIB_ALIGN 64

/* Returns NULL on failure (or when size is 0 it returns a valid unique pointer). */
void *trib_aligned_alloc(size_t alignment, size_t size);
/* Like trib_aligned_alloc, zero-filled. */
void *trib_aligned_calloc(size_t alignment, size_t size);
void trib_aligned_free(void *p);

/* *out = a * b; returns TRIB_ERR_RANGE on overflow. */
int trib_size_mul(size_t a, size_t b, size_t *out);

/* Rounds n up to a multiple of `to` (to > 0). */
static inline size_t trib_round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

#endif
