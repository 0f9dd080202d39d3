/*
 * visibility.h - TRIB_HIDDEN marks a function shared between the files of the
 * libraries but not part of their API: the shared objects do not export it
 * (the public API is TRIB_API, include/tributary/status.h).
 */
#ifndef TRIB_CORE_VISIBILITY_H
#define TRIB_CORE_VISIBILITY_H

#if defined(__GNUC__)
#define TRIB_HIDDEN __attribute__((visibility("hidden")))
#else
#define TRIB_HIDDEN
#endif

/*
 * TRIB_FAST_TLS on the small thread-local variables that every allreduce
 * touches: the initial-exec model reaches them at a fixed offset from the
 * thread pointer instead of calling __tls_get_addr (8% of a 1-rank call's
 * time).  It takes a few bytes of the static TLS block, which glibc keeps
 * spare even for libraries loaded later with dlopen.
 */
#if defined(__GNUC__)
#define TRIB_FAST_TLS __attribute__((tls_model("initial-exec")))
#else
#define TRIB_FAST_TLS
#endif

#endif
