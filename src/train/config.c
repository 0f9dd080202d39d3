/*
 * config.c - the training configuration: defaults, the one validation
 * function, the printed form (rank 0 prints it at start and the model file
 * stores it), and the names of modes, synchronisation methods and allreduce
 * algorithms used by the command line.
 *
 * Validation here covers everything that needs no data.  What needs the
 * datasets (missing directory, id spaces, more ranks than users) is checked
 * by trib_trainer_create on rank 0 (trainer.c).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "train/internal.h"

void trib_train_config_init(trib_train_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->mode = TRIB_TRAIN_MODE_SYNC;
    c->k = TRIB_TRAIN_DEFAULT_K;
    c->epochs = TRIB_TRAIN_DEFAULT_EPOCHS;
    trib_mf_hparams_default(&c->hp);
    c->order = TRIB_MF_DEFAULT_ORDER;
    c->seed = TRIB_TRAIN_DEFAULT_SEED;
    c->sync_every = TRIB_TRAIN_DEFAULT_SYNC_EVERY;
    c->sync_method = TRIB_TRAIN_DEFAULT_SYNC_METHOD;
    c->algo = TRIB_ALGO_AUTO;
    c->sync_precision = TRIB_WIRE_NATIVE;
    c->sync_overlap = 0;
    c->sync_rows = TRIB_SYNC_ROWS_AUTO;
    c->bands = TRIB_TRAIN_BANDS_AUTO;
    c->check_sync = 0;
    c->eval_train = 1;
    c->early_stop = 0;
    c->time_limit = 0;
    c->ps_servers = 0;
    c->ps_consistency = TRIB_PS_SSP;
    c->ps_staleness = 2;
    c->ps_clock_every = 1;
    c->ps_balance = TRIB_PS_BALANCE_AUTO;
    c->ps_straggler_rank = -1;
    c->ps_straggler_factor = 0;
    c->ps_straggler_hold = 0;
    c->ps_check_staleness = 0;
}

/* The parameter-server fields (what needs the rank count, S < P, is checked by trib_trainer_create). */
static int validate_ps(const trib_train_config_t *c)
{
    if (c->mode != TRIB_TRAIN_MODE_PS) {
        if (c->ps_servers)
            return trib_errorf(TRIB_ERR_INVALID_ARG, "--servers: only --mode ps has servers");
        if (c->ps_straggler_rank >= 0)
            return trib_errorf(TRIB_ERR_INVALID_ARG, "--straggler: only --mode ps simulates stragglers");
        if (c->ps_raise_epoch)
            return trib_errorf(TRIB_ERR_INVALID_ARG, "ps_raise_epoch: only in --mode ps");
        if (c->ps_balance != TRIB_PS_BALANCE_AUTO)
            return trib_errorf(TRIB_ERR_INVALID_ARG, "--ps-balance: only --mode ps has workers to balance");
        return TRIB_OK;
    }
    if (c->ps_servers < 1)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--mode ps (the parameter-server mode) needs --servers S with S >= 1");
    if (c->ps_consistency != TRIB_PS_ASYNC && c->ps_consistency != TRIB_PS_BSP && c->ps_consistency != TRIB_PS_SSP)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--consistency: unknown model %d", (int)c->ps_consistency);
    if (c->ps_staleness < 0)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--staleness: %d (must be >= 0)", c->ps_staleness);
    if (c->ps_clock_every < 1)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--clock-every: must be at least 1 mini-batch");
    if (!trib_ps_balance_name(c->ps_balance))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--ps-balance: unknown value %d", (int)c->ps_balance);
    if (c->ps_balance == TRIB_PS_BALANCE_DYNAMIC && c->ps_consistency == TRIB_PS_BSP)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--ps-balance dynamic needs --consistency async or ssp (bsp "
                           "holds every worker to its own clock, which makes its runs deterministic)");
    if (trib_ps_balance_effective(c) == TRIB_PS_BALANCE_DYNAMIC) {
        if (c->ps_clock_every != 1)
            return trib_errorf(TRIB_ERR_INVALID_ARG, "--clock-every needs --ps-balance static (with dynamic "
                               "balance every chunk is one clock)");
    }
    if (c->ps_straggler_rank >= 0 && !(c->ps_straggler_factor >= 0 && c->ps_straggler_factor <= 1000))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--straggler: factor %g (must be in 0..1000)",
                           c->ps_straggler_factor);
    if (c->ps_straggler_hold && c->ps_straggler_rank < 0)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "ps_straggler_hold: needs a straggler rank");
    if (c->ps_straggler_hold && c->ps_consistency == TRIB_PS_ASYNC && !c->ps_check_staleness &&
        trib_ps_balance_effective(c) != TRIB_PS_BALANCE_DYNAMIC)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "ps_straggler_hold with async: needs the staleness check (no pull "
                           "ever waits in async, so only a checked bound can release the straggler)");
    if (c->ps_raise_epoch && (c->ps_raise_batch < 1 || c->ps_raise_signal <= 0))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "ps_raise_epoch: needs ps_raise_batch >= 1 and a signal");
    return TRIB_OK;
}

int trib_train_config_validate(const trib_train_config_t *c)
{
    if (!c)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "NULL configuration");
    if (!c->train_dir || !*c->train_dir)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--train: a training dataset is required");
    if (c->test_dir && !*c->test_dir)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--test: empty path");
    if (c->mode != TRIB_TRAIN_MODE_SYNC && c->mode != TRIB_TRAIN_MODE_PS)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--mode: unknown mode %d", (int)c->mode);
    if (c->k < 1 || c->k > 4096)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--k: %zu factors (must be in 1..4096)", c->k);
    if (c->epochs < 1 || c->epochs > 1000000)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--epochs: %u (must be in 1..1000000)", c->epochs);
    if (c->order != TRIB_MF_ORDER_SHUFFLE && c->order != TRIB_MF_ORDER_BLOCKED)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--order: unknown visiting order %d", (int)c->order);
    if (c->sync_method != TRIB_SYNC_AVERAGE && c->sync_method != TRIB_SYNC_DELTA_SUM &&
        c->sync_method != TRIB_SYNC_STRATA)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--sync-method: unknown method %d", (int)c->sync_method);
    if (c->sync_method == TRIB_SYNC_STRATA) {
        if (c->mode != TRIB_TRAIN_MODE_SYNC)
            return trib_errorf(TRIB_ERR_INVALID_ARG, "--sync-method strata applies to --mode sync only");
        if (c->order != TRIB_MF_ORDER_BLOCKED)
            return trib_errorf(TRIB_ERR_INVALID_ARG, "--sync-method strata needs --order blocked (its rounds are "
                               "groups of item bands)");
        if (c->bands != TRIB_TRAIN_BANDS_AUTO && c->bands != TRIB_TRAIN_BANDS_ITEMS)
            return trib_errorf(TRIB_ERR_INVALID_ARG, "--sync-method strata needs item bands, not --bands %s",
                               trib_train_bands_name(c->bands));
        if (c->algo != TRIB_ALGO_AUTO && trib_train_algo_name(c->algo)) /* unknown: below */
            return trib_errorf(TRIB_ERR_INVALID_ARG, "--allreduce %s does not apply to --sync-method strata (a "
                               "round's rows are exchanged with an allgather, not reduced)",
                               trib_train_algo_name(c->algo));
        if (c->sync_rows != TRIB_SYNC_ROWS_AUTO && trib_sync_rows_name(c->sync_rows)) /* unknown: below */
            return trib_errorf(TRIB_ERR_INVALID_ARG, "--sync-rows %s does not apply to --sync-method strata (a "
                               "round sends the rows of its item groups)", trib_sync_rows_name(c->sync_rows));
    }
    if (!trib_train_algo_name(c->algo))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--allreduce: unknown algorithm %d", (int)c->algo);
    if (!trib_wire_name(c->sync_precision))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--sync-precision: unknown precision %d", (int)c->sync_precision);
    if (c->sync_overlap != 0 && c->sync_overlap != 1)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--overlap: %d is not 0 (off) or 1 (on)", c->sync_overlap);
    if (!trib_train_bands_name(c->bands))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--bands: unknown value %d", (int)c->bands);
    if (c->bands != TRIB_TRAIN_BANDS_AUTO && c->order != TRIB_MF_ORDER_BLOCKED)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--bands %s needs --order blocked (the %s order has no bands)",
                           trib_train_bands_name(c->bands), trib_mf_order_name(c->order));
    if (!trib_sync_rows_name(c->sync_rows))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--sync-rows: unknown value %d", (int)c->sync_rows);
    if (c->sync_rows != TRIB_SYNC_ROWS_AUTO && c->mode != TRIB_TRAIN_MODE_SYNC)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--sync-rows %s applies to --mode sync only",
                           trib_sync_rows_name(c->sync_rows));
    if (c->sync_rows == TRIB_SYNC_ROWS_TOUCHED && c->sync_overlap)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--sync-rows touched needs --overlap off (the overlapped "
                           "allreduce sends the whole block)");
    if (c->sync_overlap && c->mode != TRIB_TRAIN_MODE_SYNC)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--overlap on applies to --mode sync only");
    if (c->sync_precision != TRIB_WIRE_NATIVE && c->mode != TRIB_TRAIN_MODE_SYNC)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--sync-precision %s applies to --mode sync only",
                           trib_wire_name(c->sync_precision));
    if (!(c->time_limit >= 0) || !isfinite(c->time_limit))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--time-limit: %g is not a number of seconds >= 0", c->time_limit);
    if (c->early_stop && !c->test_dir)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--early-stop watches the test RMSE: it needs --test DIR");
    if (c->model_out && !*c->model_out)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--model-out: empty path");
    if (c->metrics_json && !*c->metrics_json)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--metrics-json: empty path");
    if (c->model_out && c->metrics_json && !strcmp(c->model_out, c->metrics_json))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--model-out and --metrics-json name the same file");
    int rc = validate_ps(c);
    return rc != TRIB_OK ? rc : trib_mf_hparams_validate(&c->hp);
}

/* snprintf into buf at *len, tracking truncation. */
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...) TRIB_PRINTF(4, 5);
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*len < cap ? buf + *len : NULL, *len < cap ? cap - *len : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n;
}

int trib_train_config_format(const trib_train_config_t *c, char *buf, size_t cap)
{
    if (!c || (!buf && cap))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "config format: NULL argument");
    size_t len = 0;
    put(buf, cap, &len, "train          %s\n", c->train_dir ? c->train_dir : "(none)");
    put(buf, cap, &len, "test           %s\n", c->test_dir ? c->test_dir : "(none)");
    put(buf, cap, &len, "model-out      %s\n", c->model_out ? c->model_out : "(none)");
    put(buf, cap, &len, "metrics-json   %s\n", c->metrics_json ? c->metrics_json : "(none)");
    put(buf, cap, &len, "mode           %s\n", trib_train_mode_name(c->mode));
    put(buf, cap, &len, "k              %zu\n", c->k);
    put(buf, cap, &len, "epochs         %u\n", c->epochs);
    put(buf, cap, &len, "schedule       %s\n", trib_mf_schedule_name(c->hp.schedule));
    put(buf, cap, &len, "lr             %g\n", (double)c->hp.lr);
    put(buf, cap, &len, "lr-decay       %g\n", (double)c->hp.lr_decay);
    put(buf, cap, &len, "reg            %g\n", (double)c->hp.reg_factors);
    put(buf, cap, &len, "reg-bias       %g\n", (double)c->hp.reg_bias);
    put(buf, cap, &len, "init-std       %g\n", (double)c->hp.init_std);
    put(buf, cap, &len, "seed           %llu\n", (unsigned long long)c->seed);
    put(buf, cap, &len, "order          %s\n", trib_mf_order_name(c->order));
    put(buf, cap, &len, "bands          %s\n", trib_train_bands_name(c->bands));
    if (c->sync_every == 0)
        put(buf, cap, &len, "sync-every     auto (%d rounds per epoch per rank)\n", TRIB_TRAIN_AUTO_ROUNDS_PER_RANK);
    else
        put(buf, cap, &len, "sync-every     %llu\n", (unsigned long long)c->sync_every);
    put(buf, cap, &len, "sync-method    %s\n", trib_sync_method_name(c->sync_method));
    put(buf, cap, &len, "allreduce      %s\n", trib_train_algo_name(c->algo));
    put(buf, cap, &len, "sync-precision %s\n", trib_wire_name(c->sync_precision));
    put(buf, cap, &len, "overlap        %s\n", c->sync_overlap ? "on" : "off");
    put(buf, cap, &len, "sync-rows      %s\n", trib_sync_rows_name(c->sync_rows));
    put(buf, cap, &len, "check-sync     %s\n", c->check_sync ? "on" : "off");
    put(buf, cap, &len, "eval-train     %s\n", c->eval_train ? "on" : "off");
    if (c->early_stop)
        put(buf, cap, &len, "early-stop     %u epochs\n", c->early_stop);
    else
        put(buf, cap, &len, "early-stop     off\n");
    if (c->time_limit > 0)
        put(buf, cap, &len, "time-limit     %g s\n", c->time_limit);
    else
        put(buf, cap, &len, "time-limit     none\n");
    if (c->mode == TRIB_TRAIN_MODE_PS) {
        put(buf, cap, &len, "servers        %u (the last ranks)\n", c->ps_servers);
        put(buf, cap, &len, "consistency    %s\n", trib_ps_consistency_name(c->ps_consistency));
        put(buf, cap, &len, "staleness      %d\n", c->ps_consistency == TRIB_PS_SSP ? c->ps_staleness
                                                      : c->ps_consistency == TRIB_PS_BSP ? 0 : -1);
        put(buf, cap, &len, "clock-every    %llu\n", (unsigned long long)c->ps_clock_every);
        put(buf, cap, &len, "ps-balance     %s\n", trib_ps_balance_name(trib_ps_balance_effective(c)));
        if (c->ps_straggler_rank >= 0)
            put(buf, cap, &len, "straggler      rank %d %s%g\n", c->ps_straggler_rank,
                c->ps_straggler_hold ? "holds until the bound is reached, then x" : "x", c->ps_straggler_factor);
        put(buf, cap, &len, "check-stale    %s\n", c->ps_check_staleness ? "on" : "off");
    }
    return len < cap ? (int)len : trib_errorf(TRIB_ERR_RANGE, "config text longer than %zu bytes", cap);
}

/* ------------------------------------------------------------------ names */

const char *trib_train_mode_name(trib_train_mode_t m)
{
    return m == TRIB_TRAIN_MODE_SYNC ? "sync" : m == TRIB_TRAIN_MODE_PS ? "ps" : "unknown";
}

int trib_train_mode_parse(const char *name, trib_train_mode_t *out)
{
    if (name && !strcmp(name, "sync"))
        *out = TRIB_TRAIN_MODE_SYNC;
    else if (name && !strcmp(name, "ps"))
        *out = TRIB_TRAIN_MODE_PS;
    else
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--mode: '%s' is not sync or ps", name ? name : "");
    return TRIB_OK;
}

const char *trib_sync_method_name(trib_sync_method_t m)
{
    switch (m) {
    case TRIB_SYNC_AVERAGE: return "average";
    case TRIB_SYNC_DELTA_SUM: return "delta-sum";
    case TRIB_SYNC_STRATA: return "strata";
    }
    return "unknown";
}

int trib_sync_method_parse(const char *name, trib_sync_method_t *out)
{
    if (name && !strcmp(name, "average"))
        *out = TRIB_SYNC_AVERAGE;
    else if (name && !strcmp(name, "delta-sum"))
        *out = TRIB_SYNC_DELTA_SUM;
    else if (name && !strcmp(name, "strata"))
        *out = TRIB_SYNC_STRATA;
    else
        return trib_errorf(TRIB_ERR_INVALID_ARG, "--sync-method: '%s' is not average, delta-sum or strata",
                           name ? name : "");
    return TRIB_OK;
}

static const char *const bands_names[] = {"auto", "users", "items", "larger"};

const char *trib_train_bands_name(trib_train_bands_t b)
{
    return (unsigned)b < sizeof bands_names / sizeof bands_names[0] ? bands_names[b] : NULL;
}

int trib_train_bands_parse(const char *name, trib_train_bands_t *out)
{
    for (unsigned b = 0; b < sizeof bands_names / sizeof bands_names[0]; b++)
        if (name && !strcmp(name, bands_names[b])) {
            *out = (trib_train_bands_t)b;
            return TRIB_OK;
        }
    return trib_errorf(TRIB_ERR_INVALID_ARG, "--bands: '%s' is not auto, users, items or larger", name ? name : "");
}

const char *trib_ps_balance_name(trib_ps_balance_t b)
{
    return b == TRIB_PS_BALANCE_AUTO      ? "auto"
           : b == TRIB_PS_BALANCE_STATIC  ? "static"
           : b == TRIB_PS_BALANCE_DYNAMIC ? "dynamic"
                                          : NULL;
}

int trib_ps_balance_parse(const char *name, trib_ps_balance_t *out)
{
    for (int b = TRIB_PS_BALANCE_AUTO; b <= TRIB_PS_BALANCE_DYNAMIC; b++)
        if (name && !strcmp(name, trib_ps_balance_name((trib_ps_balance_t)b))) {
            *out = (trib_ps_balance_t)b;
            return TRIB_OK;
        }
    return trib_errorf(TRIB_ERR_INVALID_ARG, "--ps-balance: '%s' is not auto, static or dynamic", name ? name : "");
}

trib_ps_balance_t trib_ps_balance_effective(const trib_train_config_t *c)
{
    if (c->ps_balance != TRIB_PS_BALANCE_AUTO)
        return c->ps_balance;
    return c->ps_consistency == TRIB_PS_BSP ? TRIB_PS_BALANCE_STATIC : TRIB_PS_BALANCE_DYNAMIC;
}

const char *trib_sync_rows_name(trib_sync_rows_t r)
{
    return r == TRIB_SYNC_ROWS_AUTO ? "auto" : r == TRIB_SYNC_ROWS_ALL ? "all" : r == TRIB_SYNC_ROWS_TOUCHED ? "touched"
                                                                                                           : NULL;
}

int trib_sync_rows_parse(const char *name, trib_sync_rows_t *out)
{
    for (int r = TRIB_SYNC_ROWS_AUTO; r <= TRIB_SYNC_ROWS_TOUCHED; r++)
        if (name && !strcmp(name, trib_sync_rows_name((trib_sync_rows_t)r))) {
            *out = (trib_sync_rows_t)r;
            return TRIB_OK;
        }
    return trib_errorf(TRIB_ERR_INVALID_ARG, "--sync-rows: '%s' is not auto, all or touched", name ? name : "");
}

/* The allreduce library owns the algorithm names; these wrappers give the option's message. */
const char *trib_train_algo_name(trib_algo_t a) { return trib_algo_name(a); }

int trib_train_algo_parse(const char *name, trib_algo_t *out)
{
    int rc = trib_algo_parse(name, out); /* its message names the algorithms */
    return rc == TRIB_OK ? TRIB_OK : trib_errorf(rc, "--allreduce: %s", trib_last_error(rc));
}
