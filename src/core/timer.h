/* timer.h - monotonic wall-clock time in seconds (internal). */
#ifndef TRIB_CORE_TIMER_H
#define TRIB_CORE_TIMER_H
#include "tributary/status.h"

/* Seconds since an arbitrary fixed point, from CLOCK_MONOTONIC. */
double trib_now(void);

#endif
