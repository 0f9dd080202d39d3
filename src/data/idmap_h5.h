/*
 * data/idmap_h5.h - what the data layer offers the layers above it beyond the
 * public tributary/data.h: id maps stored in and read from an HDF5 group, so
 * that the model file (src/train/model_file.c) keeps the original user and
 * item ids next to the factors in the same format as datasets do.
 */
#ifndef TRIB_DATA_IDMAP_H5_H
#define TRIB_DATA_IDMAP_H5_H

#include <stdint.h>

#include "io/h5.h"
#include "tributary/data.h"

/* Writes m as dataset `name` of loc: int64 keys, or UTF-8 variable-length strings. */
int trib_idmap_h5_write(trib_hid_t loc, const char *file, const char *name, const trib_idmap_t *m);
/* Reads dataset `name` (n keys) into a new frozen map. */
int trib_idmap_h5_read(trib_hid_t loc, const char *file, const char *name, uint64_t n, trib_idmap_t **out);
void trib_idmap_free(trib_idmap_t *m);

#endif
