/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "bench-stats.h"

int bench_samples_add(bench_samples *s, double value) {
        if (s->n == s->size) {
                size_t size = s->size ? s->size * 2 : 1024;
                double *values = realloc(s->values, size * sizeof(*values));

                if (!values)
                        return -ENOMEM;
                s->values = values;
                s->size = size;
        }
        s->values[s->n++] = value;
        s->sorted = 0;
        return 0;
}

static int compare_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

static void samples_sort(bench_samples *s) {
        if (s->sorted)
                return;
        qsort(s->values, s->n, sizeof(*s->values), compare_double);
        s->sorted = 1;
}

double bench_samples_percentile(bench_samples *s, double p) {
        double rank, frac;
        size_t i;

        if (s->n == 0)
                return NAN;
        samples_sort(s);
        rank = p / 100.0 * (double)(s->n - 1);
        i = (size_t)rank;
        if (i + 1 >= s->n)
                return s->values[s->n - 1];
        frac = rank - (double)i;
        return s->values[i] + frac * (s->values[i + 1] - s->values[i]);
}

double bench_samples_min(bench_samples *s) {
        return bench_samples_percentile(s, 0);
}

double bench_samples_max(bench_samples *s) {
        return bench_samples_percentile(s, 100);
}

void bench_samples_clear(bench_samples *s) {
        free(s->values);
        *s = (bench_samples){ 0 };
}

uint64_t bench_now_nsec(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

int bench_cpu_clock(pid_t pid, clockid_t *ret) {
        int r;

        if (pid == 0) {
                *ret = CLOCK_THREAD_CPUTIME_ID;
                return 0;
        }
        r = clock_getcpuclockid(pid, ret);
        return -r;
}

uint64_t bench_clock_nsec(clockid_t clock) {
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}
