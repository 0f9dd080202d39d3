/*
 * tributary.c - build information of libtributary (the full toolkit).
 *
 * The library's real content lives in the layer folders (data/, mf/, ckpt/,
 * train/); this file only anchors the library and reports how it was built.
 */
#include "tributary/tributary.h"

const char *trib_build_info(void)
{
    return "tributary " TRIB_VERSION_STRING
#if defined(__OPTIMIZE__)
           " (optimised)"
#endif
#if defined(__SANITIZE_ADDRESS__)
           " (asan)"
#endif
        ;
}
