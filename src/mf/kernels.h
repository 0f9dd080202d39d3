/*
 * kernels.h - the vectorised inner loops of src/mf, behind one dispatch (internal to src/mf).
 *
 * kernels.c compiles the loops of kernel_impl.inc once per x86-64 ISA level
 * (x86-64-v4 with 16-float vectors, x86-64-v3 with 8, the baseline with 4)
 * and picks the best level the CPU has at run time; sgd.c and eval.c validate
 * their arguments and call these.  The declarations are hidden: they are not
 * part of the library's exported interface.
 */
#ifndef TRIB_MF_KERNELS_H
#define TRIB_MF_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "tributary/mf.h"

#include "core/visibility.h"

/* Everything one SGD step needs besides the two rows, resolved once per batch. */
typedef struct {
    float mean;
    float lr;     /* plain: the epoch's rate; AdaGrad: the base rate */
    float lr_i;   /* the same for item rows (lr x the item rate scale) */
    float reg_f;
    float reg_b;
    float inv_k1; /* 1 / (k + 1): AdaGrad averages the squared gradient over the row */
} trib_mf_step_params_t;

/* What an SGD batch reads and writes. */
typedef struct {
    trib_mf_block_t *users;
    trib_mf_block_t *items;
    const trib_mf_rating_t *ratings;
    const uint32_t *order; /* NULL: ratings in array order */
    trib_mf_step_params_t sp;
} trib_mf_batch_t;

/*
 * SGD over ratings order[begin..end).  Returns end, or the position of the
 * first rating whose row index is out of range (nothing from there on is
 * updated).  Order entries must already be checked against n_ratings.
 */
TRIB_HIDDEN size_t trib_mf_kernel_sgd(const trib_mf_batch_t *bt, size_t begin, size_t end, int adagrad);

/* Adds squared and absolute errors of clipped predictions; returns n or the first bad rating's index. */
TRIB_HIDDEN size_t trib_mf_kernel_error_sums(const trib_mf_model_t *m, const trib_mf_rating_t *ratings, size_t n,
                                               double *sq, double *ab);

/* Clipped prediction for one (user row, item row), rounded exactly as in trib_mf_kernel_error_sums. */
TRIB_HIDDEN float trib_mf_kernel_predict(const trib_mf_model_t *m, uint32_t user, uint32_t item);

#endif
