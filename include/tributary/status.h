/*
 * tributary/status.h - status codes shared by every Tributary library call.
 *
 * Every function that can fail returns an int: TRIB_OK (0) on success or one
 * of the negative TRIB_ERR_* codes below.  The codes come from one table (an
 * X-macro) so the enum, trib_strerror() and trib_err_name() cannot drift apart.
 *
 * A failing call may also record a detail message (which file, which line,
 * which field) for the calling thread; trib_last_error() returns it.  Library
 * code never prints to stdout and never exits: applications decide what to do.
 */
#ifndef TRIBUTARY_STATUS_H
#define TRIBUTARY_STATUS_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TRIB_API __attribute__((visibility("default")))
#define TRIB_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define TRIB_API
#define TRIB_PRINTF(fmt, args)
#endif

/* X(name, value, message) */
#define TRIB_STATUS_TABLE(X)                                                   \
    X(OK, 0, "success")                                                        \
    X(ERR_INVALID_ARG, -1, "invalid argument")                                 \
    X(ERR_NOMEM, -2, "out of memory")                                          \
    X(ERR_MPI, -3, "MPI call failed")                                          \
    X(ERR_UNSUPPORTED, -4, "unsupported datatype, operation or feature")       \
    X(ERR_MISMATCH, -5, "arguments differ between ranks")                      \
    X(ERR_IO, -6, "input/output error")                                        \
    X(ERR_FORMAT, -7, "malformed input or file format")                        \
    X(ERR_HDF5, -8, "HDF5 call failed")                                        \
    X(ERR_NOT_FOUND, -9, "not found")                                          \
    X(ERR_EXISTS, -10, "already exists")                                       \
    X(ERR_CORRUPT, -11, "data corrupt (checksum or size mismatch)")            \
    X(ERR_RANGE, -12, "value out of range")                                    \
    X(ERR_STATE, -13, "invalid state")                                         \
    X(ERR_INTERRUPTED, -14, "interrupted by a signal")                         \
    X(ERR_INCOMPATIBLE, -15, "incompatible data or configuration")             \
    X(ERR_PROTOCOL, -16, "protocol error in a received message")              \
    X(ERR_INTERNAL, -17, "internal error")

typedef enum {
#define TRIB_STATUS_ENUM_(name, value, msg) TRIB_##name = (value),
    TRIB_STATUS_TABLE(TRIB_STATUS_ENUM_)
#undef TRIB_STATUS_ENUM_
} trib_status_t;

/* Human-readable description of a status code ("unknown status" otherwise). */
TRIB_API const char *trib_strerror(int status);

/* Symbolic name of a status code, e.g. "TRIB_ERR_NOMEM". */
TRIB_API const char *trib_err_name(int status);

/*
 * Records a detail message for the calling thread and returns `status`, so a
 * failing path can be written `return trib_errorf(TRIB_ERR_FORMAT, "%s:%zu: ...", ...)`.
 */
TRIB_API int trib_errorf(int status, const char *fmt, ...) TRIB_PRINTF(2, 3);
TRIB_API int trib_verrorf(int status, const char *fmt, va_list ap);

/*
 * The detail message of the calling thread's most recent failure, or the
 * trib_strerror() text of `status` when no detail was recorded since the last
 * trib_clear_error().  Never NULL.
 */
TRIB_API const char *trib_last_error(int status);
TRIB_API void trib_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif /* TRIBUTARY_STATUS_H */
