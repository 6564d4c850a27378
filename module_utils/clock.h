/*
 * clock: elapsed time, pauses and deadlines on CLOCK_MONOTONIC (never the wall clock, which
 * may jump while a task waits).
 */
#ifndef ETCD_ANSIBLE_CLOCK_H
#define ETCD_ANSIBLE_CLOCK_H

#include <stdbool.h>
#include <time.h>

/* Seconds elapsed since start (taken with clock_gettime(CLOCK_MONOTONIC)). */
double seconds_since(const struct timespec *start);

/* Sleeps ms milliseconds (a signal may end it early: callers loop on a deadline). */
void sleep_ms(long ms);

/* *deadline = now + seconds. */
void deadline_in(struct timespec *deadline, long seconds);

/* true once the deadline has come. */
bool deadline_past(const struct timespec *deadline);

#endif
