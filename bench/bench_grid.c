/* The products and communication of one RBM step of a V x H layer at a
 * global batch of B rows, laid out two ways over the P ranks of the run
 * (docs/model-parallel.md):
 *
 *   data  every rank holds W and B/P rows: three local SGEMMs
 *         (h = vW, v = hW', G = v'h), then the allreduce of G (V·H floats);
 *   grid  one Pr x Pc grid holds W in blocks and the B rows in matching
 *         blocks: the same three products through PSGEMM, no allreduce.
 *
 * Each layout runs REPS steps after warm-up; a step's time is the
 * slowest rank's, and the median is printed with its GFLOP/s (6·B·V·H
 * flops a step) and that rate as a fraction of the machine's SGEMM rate,
 * measured in the same run as the P ranks' summed rate of local SGEMMs of
 * the data layout's own shapes.
 *   mpirun -np P bench_grid [GRID (1xP)] [V (4096)] [H (4096)] [B (256)] [REPS (5)] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>

#include "ebm/dmatrix.h"
#include "ebm/grid.h"
#include "ebm/kernels.h"
#include "ebm/rng.h"

enum { MAX_REPS = 100 };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double slowest(double t)
{
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return t;
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return t[n / 2];
}

static void *need(size_t bytes)
{
    void *p = calloc(bytes, 1);
    if (!p) {
        fprintf(stderr, "bench_grid: out of memory (%zu bytes)\n", bytes);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return p;
}

/* The data layout's step on `rows` local rows; with reduce, the allreduce too. */
static double data_step(int rows, int V, int H, const float *W, float *v, float *h, float *G,
                        int reduce)
{
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    ebm_gemm(false, false, rows, H, V, 1.0f, v, V, W, H, 0.0f, h, H);
    ebm_gemm(false, true, rows, V, H, 1.0f, h, H, W, H, 0.0f, v, V);
    ebm_gemm(true, false, V, H, rows, 1.0f, v, V, h, H, 0.0f, G, H);
    if (reduce) MPI_Allreduce(MPI_IN_PLACE, G, V * H, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    return slowest(MPI_Wtime() - t0);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    char grid_text[32];
    snprintf(grid_text, sizeof grid_text, "1x%d", P);
    if (argc > 1) snprintf(grid_text, sizeof grid_text, "%s", argv[1]);
    int V = argc > 2 ? atoi(argv[2]) : 4096, H = argc > 3 ? atoi(argv[3]) : 4096;
    int B = argc > 4 ? atoi(argv[4]) : 256, reps = argc > 5 ? atoi(argv[5]) : 5;
    int pr, pc;
    if (ebm_grid_parse(grid_text, &pr, &pc) != EBM_OK || pr * pc != P || V < 1 || H < 1 ||
        B < P || B % P || reps < 1 || reps > MAX_REPS) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -np P bench_grid [PrxPc with Pr·Pc = P] [V] [H] "
                    "[B, a multiple of P] [REPS <= %d]\n", MAX_REPS);
        MPI_Finalize();
        return 2;
    }
    double flops = 6.0 * B * (double)V * H, t[MAX_REPS];

    /* Data layout: every rank W, B / P rows. */
    int rows = B / P;
    float *W = need(sizeof(float) * (size_t)V * H), *G = need(sizeof(float) * (size_t)V * H);
    float *v = need(sizeof(float) * (size_t)rows * V), *h = need(sizeof(float) * (size_t)rows * H);
    struct ebm_rng rng;
    ebm_rng_init(&rng, 1, 0, EBM_RNG_TEST);
    ebm_rng_normal(&rng, W, (size_t)V * H);
    for (size_t i = 0; i < (size_t)V * H; i++) W[i] *= 0.01f;
    ebm_rng_uniform(&rng, v, (size_t)rows * V);
    for (int r = 0; r < 2; r++) data_step(rows, V, H, W, v, h, G, 0); /* BLAS threads up */
    for (int r = 0; r < reps; r++) t[r] = data_step(rows, V, H, W, v, h, G, 0);
    double sgemm = median(t, reps); /* the machine's rate: every rank's SGEMMs at once */
    double peak = flops / sgemm;
    data_step(rows, V, H, W, v, h, G, 1);
    for (int r = 0; r < reps; r++) t[r] = data_step(rows, V, H, W, v, h, G, 1);
    double data = median(t, reps);
    free(v);
    free(h);
    free(G);

    /* Grid layout: W in 64 x 64 blocks, the batch in matching blocks. */
    struct ebm_grid g;
    struct ebm_dmatrix dW, dv, dh, dG;
    if (ebm_grid_init(&g, MPI_COMM_WORLD, pr, pc) != EBM_OK ||
        ebm_dmatrix_init(&dW, &g, V, H, 64, 64) != EBM_OK ||
        ebm_dmatrix_init(&dv, &g, B, V, 64, 64) != EBM_OK ||
        ebm_dmatrix_init(&dh, &g, B, H, 64, 64) != EBM_OK ||
        ebm_dmatrix_init(&dG, &g, V, H, 64, 64) != EBM_OK) {
        fprintf(stderr, "bench_grid: %s\n", ebm_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    ebm_dmatrix_from_global(&dW, W, H);
    free(W);
    float *x = need(sizeof(float) * (size_t)B * V); /* the batch, as in the data layout */
    ebm_rng_uniform(&rng, x, (size_t)B * V);
    ebm_dmatrix_from_global(&dv, x, V);
    free(x);
    for (int r = -1; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        if (ebm_pgemm(false, false, 1.0f, &dv, &dW, 0.0f, &dh) != EBM_OK ||
            ebm_pgemm(false, true, 1.0f, &dh, &dW, 0.0f, &dv) != EBM_OK ||
            ebm_pgemm(true, false, 1.0f, &dv, &dh, 0.0f, &dG) != EBM_OK) {
            fprintf(stderr, "bench_grid: %s\n", ebm_error_message());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        double s = slowest(MPI_Wtime() - t0);
        if (r >= 0) t[r] = s;
    }
    double grid = median(t, reps);
    size_t data_bytes = sizeof(float) * ((size_t)V * H * 2 + (size_t)rows * (V + H));
    size_t grid_bytes = sizeof(float) * ((size_t)dW.lld * dW.local_cols * 2 +
                                         (size_t)dv.lld * dv.local_cols +
                                         (size_t)dh.lld * dh.local_cols);
    size_t most = grid_bytes;
    MPI_Allreduce(MPI_IN_PLACE, &most, 1, MPI_UNSIGNED_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("# one RBM step's products, %dx%d layer, global batch %d, %d ranks; "
               "SGEMM rate of the ranks together %.1f GFLOP/s\n", V, H, B, P, peak / 1e9);
        printf("data %-5s %8.4f s/step %7.1f GFLOP/s %4.0f%% of SGEMM  %7.1f MiB/rank "
               "(W, G, rows)\n", "", data, flops / data / 1e9, 100 * flops / data / peak,
               data_bytes / 1048576.0);
        printf("grid %-5s %8.4f s/step %7.1f GFLOP/s %4.0f%% of SGEMM  %7.1f MiB/rank "
               "(blocks of W, G, rows)\n", grid_text, grid, flops / grid / 1e9,
               100 * flops / grid / peak, most / 1048576.0);
    }
    ebm_dmatrix_free(&dW);
    ebm_dmatrix_free(&dv);
    ebm_dmatrix_free(&dh);
    ebm_dmatrix_free(&dG);
    ebm_grid_free(&g);
    ebm_grid_finalize();
    MPI_Finalize();
    return 0;
}
