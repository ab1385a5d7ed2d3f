/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Samples and their order statistics. The machines benchmarks run on are
 * shared and noisy, so results are quoted as medians and percentiles, never
 * means.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

typedef struct bench_samples {
        double *values;
        size_t n;
        size_t size;
        int sorted; /* values[] is in ascending order */
} bench_samples;

/* Return: 0; -ENOMEM. */
int bench_samples_add(bench_samples *s, double value);

/**
 * bench_samples_percentile - the @p-th percentile, linearly interpolated
 * @p: 0..100 (50 is the median)
 * Sorts @s in place on first use.
 * Return: the value; NaN when @s is empty.
 */
double bench_samples_percentile(bench_samples *s, double p);

double bench_samples_min(bench_samples *s);
double bench_samples_max(bench_samples *s);

void bench_samples_clear(bench_samples *s);

/* Return: CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_nsec(void);

/**
 * bench_cpu_clock - the CPU-time clock of process @pid (0: the calling thread)
 * CPU time is what a process spent itself, whatever else ran on the machine:
 * much steadier than wall time on a shared host.
 * Return: 0; -errno from clock_getcpuclockid().
 */
int bench_cpu_clock(pid_t pid, clockid_t *ret);

/* Return: @clock in nanoseconds; 0 if it cannot be read (the process is gone). */
uint64_t bench_clock_nsec(clockid_t clock);
