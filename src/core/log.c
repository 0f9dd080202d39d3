/* log.c - rank-tagged stderr logging; see log.h. */
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int log_rank = -1;
static int log_level = -1; /* -1: not yet read from the environment */

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void trib_log_set_rank(int rank) { log_rank = rank; }

void trib_log_set_level(trib_log_level_t level) { log_level = (int)level; }

int trib_log_level_parse(const char *name, trib_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (name && strcmp(name, level_names[i]) == 0) {
            *out = (trib_log_level_t)i;
            return TRIB_OK;
        }
    }
    return trib_errorf(TRIB_ERR_INVALID_ARG, "unknown log level '%s' (use error, warn, info or debug)",
                       name ? name : "(null)");
}

trib_log_level_t trib_log_level(void)
{
    if (log_level < 0) {
        trib_log_level_t lvl = TRIB_LOG_WARN;
        const char *env = getenv("TRIB_LOG_LEVEL");
        if (env && *env && trib_log_level_parse(env, &lvl) != TRIB_OK) {
            fprintf(stderr, "[tributary] ignoring TRIB_LOG_LEVEL=%s (use error, warn, info or debug)\n", env);
            lvl = TRIB_LOG_WARN;
        }
        log_level = (int)lvl;
    }
    return (trib_log_level_t)log_level;
}

void trib_log(trib_log_level_t level, const char *fmt, ...)
{
    if (trib_log_level() < level)
        return;
    char line[2048];
    int n;
    if (log_rank >= 0)
        n = snprintf(line, sizeof line, "[tributary r%d %s] ", log_rank, level_names[level]);
    else
        n = snprintf(line, sizeof line, "[tributary %s] ", level_names[level]);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fputs per line so lines from different ranks interleave whole. */
    size_t len = strlen(line);
    if (len + 1 < sizeof line) {
        line[len] = '\n';
        line[len + 1] = '\0';
    }
    fputs(line, stderr);
}
