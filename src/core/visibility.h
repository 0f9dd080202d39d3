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

#endif
