/*
 * tributary/tributary.h - umbrella header: includes every public Tributary header.
 * Link with Tributary::tributary (CMake) or `pkg-config --libs tributary`.
 */
#ifndef TRIBUTARY_H
#define TRIBUTARY_H

#include "tributary/status.h"
#include "tributary/version.h"
#include "tributary/allreduce.h"
#include "tributary/ckpt.h"
#include "tributary/data.h"
#include "tributary/io.h"
#include "tributary/mf.h"
#include "tributary/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version and build flavour of libtributary, e.g. "tributary 0.1.0 (optimised)". */
TRIB_API const char *trib_build_info(void);

#ifdef __cplusplus
}
#endif
#endif
