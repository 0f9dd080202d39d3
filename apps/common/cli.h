/*
 * cli.h - small helpers shared by the trib-* programs: strict number parsing
 * with decimal size suffixes, one-line errors, progress lines on a terminal.
 */
#ifndef TRIB_APPS_CLI_H
#define TRIB_APPS_CLI_H

#include <stdint.h>

/* Unsigned integer with an optional decimal suffix: k (1e3), M (1e6), G (1e9), T (1e12).
 * Returns 0 on success, -1 when s is not such a number or overflows. */
int trib_cli_parse_u64(const char *s, uint64_t *out);
/* A finite floating-point number; 0 or -1. */
int trib_cli_parse_double(const char *s, double *out);
/* Prints "PROG: message" on stderr. */
void trib_cli_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Program name for messages (set once from argv[0] or a subcommand name). */
extern const char *trib_cli_prog;

/* Progress callback printing "PROG: phase NN%" lines at each 10% when stderr is a terminal.
 * arg: a trib_cli_progress_t initialised with trib_cli_progress_init. */
typedef struct {
    int enabled;
    int last_decile;
} trib_cli_progress_t;
void trib_cli_progress_init(trib_cli_progress_t *p);
void trib_cli_progress(void *arg, const char *phase, double fraction);

#endif
