/* MPI_Allreduce latency/bandwidth probe for scripts/scaling.sh: float, SUM,
 * MPI_IN_PLACE (exactly the call of the gradient allreduce), message sizes
 * 4 B, 8 B, ... MAX_BYTES (powers of 2). For each size: 3 warm-up calls,
 * then REPS timed calls, each after a barrier; a call's time is the slowest
 * rank's, and rank 0 prints the median over the calls:
 *
 *   bytes seconds reps
 *
 * REPS adapts to the size so that each size takes about SECONDS_PER_SIZE
 * (between 10 and 1000 calls).
 *   mpirun -np P bench_allreduce [MAX_BYTES (16777216)] [SECONDS_PER_SIZE (0.25)] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>

enum { WARMUP = 3, MIN_REPS = 10, MAX_REPS = 1000 };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One timed call: barrier, allreduce; the slowest rank's time is left to the caller. */
static double timed_call(float *buf, int count)
{
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    return MPI_Wtime() - t0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long max_bytes = argc > 1 ? atol(argv[1]) : 16L << 20;
    double per_size = argc > 2 ? atof(argv[2]) : 0.25;
    if (max_bytes < 4 || max_bytes > (1L << 30) || !(per_size > 0.0)) {
        if (rank == 0) fprintf(stderr, "usage: bench_allreduce [MAX_BYTES] [SECONDS_PER_SIZE]\n");
        MPI_Finalize();
        return 2;
    }
    /* Zeros stay zeros under repeated in-place sums: no overflow, no denormals. */
    float *buf = calloc((size_t)max_bytes / sizeof(float), sizeof(float));
    double *t = malloc(MAX_REPS * sizeof *t);
    if (!buf || !t) {
        fprintf(stderr, "bench_allreduce: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (rank == 0) printf("# MPI_Allreduce float SUM in place, %d ranks; bytes median_seconds reps\n", size);
    for (long bytes = 4; bytes <= max_bytes; bytes *= 2) {
        int count = (int)(bytes / (long)sizeof(float));
        double warm = 0.0;
        for (int i = 0; i < WARMUP; i++) warm = timed_call(buf, count);
        /* Every rank must make the same number of calls: agree on the estimate. */
        MPI_Allreduce(MPI_IN_PLACE, &warm, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        double want = ceil(per_size / (warm > 1e-7 ? warm : 1e-7));
        int reps = want < MIN_REPS ? MIN_REPS : want > MAX_REPS ? MAX_REPS : (int)want;
        for (int i = 0; i < reps; i++) t[i] = timed_call(buf, count);
        MPI_Reduce(rank == 0 ? MPI_IN_PLACE : t, t, reps, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        if (rank == 0) {
            qsort(t, (size_t)reps, sizeof *t, cmp_double);
            double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
            printf("%ld %.9e %d\n", bytes, med, reps);
            fflush(stdout);
        }
    }
    free(buf);
    free(t);
    MPI_Finalize();
    return 0;
}
