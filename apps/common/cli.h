/*
 * cli.h - what the trib-* programs share on the command line: one declarative
 * option table (name, kind, destination, range, help) that drives getopt_long,
 * the --help text and uniform error messages; strict number parsing with
 * decimal size suffixes; one-line errors; progress lines on a terminal.
 *
 * An error names the option, the bad value and what is accepted, e.g.
 *   trib-train: --lr: '1e9' is out of range (0 .. 1000000)
 *   trib-train: --allreduce: 'foo' is not auto, ring, tree, rd, mpi, shm or hier
 * MPI programs parse on every rank (every rank reaches the same verdict, as
 * they see the same arguments) and only rank 0 prints: trib_cli_report_rank0.
 */
#ifndef TRIB_APPS_CLI_H
#define TRIB_APPS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "tributary/tributary.h"

#define TRIB_CLI_EXIT_USAGE 2

/* Unsigned integer with an optional decimal suffix: k (1e3), M (1e6), G (1e9), T (1e12).
 * Returns 0 on success, -1 when s is not such a number or overflows. */
int trib_cli_parse_u64(const char *s, uint64_t *out);
/* A finite floating-point number; 0 or -1. */
int trib_cli_parse_double(const char *s, double *out);
/* Prints "PROG: message" on stderr (on every rank: for errors every rank may have). */
void trib_cli_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A usage error: "PROG: message" on the reporting rank only; returns TRIB_CLI_EXIT_USAGE. */
int trib_cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Program name for messages (set once from argv[0] or a subcommand name). */
extern const char *trib_cli_prog;
/* MPI programs: only rank 0 of comm reports usage errors (call after MPI_Init). */
void trib_cli_report_rank0(MPI_Comm comm);
/* 1 on the rank that reports (every rank in a program that has not called trib_cli_report_rank0). */
int trib_cli_reporting(void);

/* ------------------------------------------------------------------ enums */

/* A library enum's name/parse pair, seen through one signature. */
typedef struct {
    int count;                                 /* values 0 .. count-1 */
    const char *(*name)(int value);            /* the library's name of a value */
    int (*parse)(const char *text, void *dst); /* the library's parse; 0 on success, dst typed as the enum */
} trib_cli_enum_t;

extern const trib_cli_enum_t trib_cli_enum_algo;        /* trib_algo_name / trib_algo_parse */
extern const trib_cli_enum_t trib_cli_enum_onoff;       /* off | on into an int 0 | 1 */
extern const trib_cli_enum_t trib_cli_enum_wire;        /* trib_wire_name / trib_wire_parse */
extern const trib_cli_enum_t trib_cli_enum_train_mode;  /* trib_train_mode_name / _parse */
extern const trib_cli_enum_t trib_cli_enum_sync_method; /* trib_sync_method_name / _parse */
extern const trib_cli_enum_t trib_cli_enum_bands;       /* trib_train_bands_name / _parse */
extern const trib_cli_enum_t trib_cli_enum_sync_rows;   /* trib_sync_rows_name / _parse */
extern const trib_cli_enum_t trib_cli_enum_consistency; /* trib_ps_consistency_name / _parse */
extern const trib_cli_enum_t trib_cli_enum_ps_balance;   /* trib_ps_balance_name / _parse */
extern const trib_cli_enum_t trib_cli_enum_schedule;    /* trib_mf_schedule_name / _parse */
extern const trib_cli_enum_t trib_cli_enum_order;       /* trib_mf_order_name / _parse */
extern const trib_cli_enum_t trib_cli_enum_partition;   /* trib_partition_name / _parse */
extern const trib_cli_enum_t trib_cli_enum_text_format; /* trib_text_format_name / _parse */
extern const trib_cli_enum_t trib_cli_enum_split_by;    /* trib_split_by_name / _parse */

/* "a, b or c" into buf. */
void trib_cli_enum_names(const trib_cli_enum_t *e, char *buf, size_t cap);

/* ------------------------------------------------------------------ option table */

typedef enum {
    TRIB_CLI_END = 0, /* terminates a table */
    TRIB_CLI_SECTION, /* a heading in --help (name is the heading) */
    TRIB_CLI_FLAG,    /* int = 1 */
    TRIB_CLI_CLEAR,   /* int = 0 (e.g. --no-train-eval) */
    TRIB_CLI_INT,     /* int, may be negative; k/M/G/T suffixes */
    TRIB_CLI_UINT,    /* unsigned */
    TRIB_CLI_SIZE,    /* size_t */
    TRIB_CLI_U64,     /* uint64_t */
    TRIB_CLI_U32,     /* uint32_t */
    TRIB_CLI_DOUBLE,  /* double, finite */
    TRIB_CLI_FLOAT,   /* float, finite */
    TRIB_CLI_STRING,  /* const char * (points into argv) */
    TRIB_CLI_ENUM,    /* a library enum through `choices` */
    TRIB_CLI_CUSTOM   /* `parse` decides */
} trib_cli_kind_t;

/* Custom parser: 0 on success; otherwise writes what is wrong into why (e.g. "is not RANK:FACTOR"),
 * printed as "--name: 'value' WHY". */
typedef int (*trib_cli_parse_fn)(const char *arg, void *dst, char *why, size_t cap);

typedef struct {
    const char *name; /* long name without "--"; the heading for TRIB_CLI_SECTION */
    trib_cli_kind_t kind;
    void *dst;
    double min, max;                 /* numeric kinds: accepted range, inclusive; both 0: the type's range */
    const char *arg;                 /* the value's placeholder in --help ("N", "DIR"); NULL: none */
    const char *help;                /* may hold '\n' for continuation lines */
    const trib_cli_enum_t *choices;  /* TRIB_CLI_ENUM */
    trib_cli_parse_fn parse;         /* TRIB_CLI_CUSTOM */
    int *seen;                       /* optional: set to 1 when the option is given */
    int no_default;                  /* 1: --help shows no "(default ...)" */
    char short_name;                 /* optional one-letter alias ('o' for -o) */
} trib_cli_opt_t;

typedef struct {
    const char *usage;       /* first lines of --help, printed as they are */
    const trib_cli_opt_t *opts;
    const char *epilogue;    /* last lines of --help, or NULL */
    int positional;          /* how many arguments may follow the options */
    /* Filled by trib_cli_parse: */
    int help, version;       /* --help (-h), --version were given (always accepted) */
    int first_positional;    /* argv index of the first non-option argument */
    char (*defaults)[48];    /* the values before parsing, for --help */
} trib_cli_t;

/*
 * Parses argv against cli->opts (getopt_long from argv[optind_start]).  Returns 0, or
 * TRIB_CLI_EXIT_USAGE after one message (on the reporting rank).  With --help or
 * --version, stops checking positional arguments and returns 0 with the flag set.
 */
int trib_cli_parse(trib_cli_t *cli, int argc, char **argv);
/* The --help text on stdout: usage, the table (with ranges, choices and defaults), epilogue. */
void trib_cli_print_help(const trib_cli_t *cli);
/* Releases what trib_cli_parse allocated. */
void trib_cli_free(trib_cli_t *cli);

/* ------------------------------------------------------------------ progress */

/* Progress callback printing "PROG: phase NN%" lines at each 10% when stderr is a terminal.
 * arg: a trib_cli_progress_t initialised with trib_cli_progress_init. */
typedef struct {
    int enabled;
    int last_decile;
} trib_cli_progress_t;
void trib_cli_progress_init(trib_cli_progress_t *p);
void trib_cli_progress(void *arg, const char *phase, double fraction);

#endif
