/*
 * status.c - status code table lookups and the per-thread detail message.
 *
 * The detail message lives in thread-local storage so concurrent callers
 * (e.g. a progress thread) never see each other's messages.
 */
#include "tributary/status.h"
#include "tributary/version.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[1024];
static _Thread_local int last_set;

const char *trib_strerror(int status)
{
    switch (status) {
#define TRIB_STATUS_STR_(name, value, msg) case value: return msg;
        TRIB_STATUS_TABLE(TRIB_STATUS_STR_)
#undef TRIB_STATUS_STR_
    default: return "unknown status";
    }
}

const char *trib_err_name(int status)
{
    switch (status) {
#define TRIB_STATUS_NAME_(name, value, msg) case value: return "TRIB_" #name;
        TRIB_STATUS_TABLE(TRIB_STATUS_NAME_)
#undef TRIB_STATUS_NAME_
    default: return "TRIB_ERR_UNKNOWN";
    }
}

/*
 * Formats into a local buffer first: callers add context to a lower error with
 * trib_errorf(rc, "%s: %s", where, trib_last_error(rc)), whose argument is the
 * very buffer being written (formatting in place would read what it overwrites).
 */
int trib_verrorf(int status, const char *fmt, va_list ap)
{
    char msg[sizeof last_msg];
    vsnprintf(msg, sizeof msg, fmt, ap);
    memcpy(last_msg, msg, sizeof msg);
    last_set = 1;
    return status;
}

int trib_errorf(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    trib_verrorf(status, fmt, ap);
    va_end(ap);
    return status;
}

const char *trib_last_error(int status)
{
    return last_set ? last_msg : trib_strerror(status);
}

void trib_clear_error(void)
{
    last_set = 0;
    last_msg[0] = '\0';
}

const char *trib_version_string(void) { return TRIB_VERSION_STRING; }
unsigned trib_version_hex(void) { return (unsigned)TRIB_VERSION_HEX; }
