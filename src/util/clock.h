/* clock.h - a monotonic clock in seconds (internal). */
#ifndef SDC_UTIL_CLOCK_H
#define SDC_UTIL_CLOCK_H

/* Seconds on CLOCK_MONOTONIC: only differences mean anything. */
double dc_now_seconds(void);

#endif
