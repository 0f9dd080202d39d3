/*
 * log.h - rank-tagged logging to stderr (internal to Tributary).
 *
 * Lines look like "[tributary r3 warn] message".  The threshold comes from
 * the environment variable TRIB_LOG_LEVEL (error|warn|info|debug, default
 * warn) or trib_log_set_level().  The rank tag is set once by whoever knows
 * it (the allreduce library on first use, the apps after MPI_Init).
 * Library code logs only to stderr, never to stdout.
 */
#ifndef TRIB_CORE_LOG_H
#define TRIB_CORE_LOG_H

#include "tributary/status.h"

typedef enum {
    TRIB_LOG_ERROR = 0,
    TRIB_LOG_WARN = 1,
    TRIB_LOG_INFO = 2,
    TRIB_LOG_DEBUG = 3
} trib_log_level_t;

void trib_log_set_rank(int rank);
void trib_log_set_level(trib_log_level_t level);
/* Current threshold (reads TRIB_LOG_LEVEL on first call). */
trib_log_level_t trib_log_level(void);
/* Parses "error|warn|info|debug"; returns TRIB_ERR_INVALID_ARG otherwise. */
int trib_log_level_parse(const char *name, trib_log_level_t *out);
void trib_log(trib_log_level_t level, const char *fmt, ...) TRIB_PRINTF(2, 3);

#define trib_log_enabled(lvl) (trib_log_level() >= (lvl))

#endif
