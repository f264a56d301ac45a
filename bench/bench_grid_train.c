/* Training throughput of `ebm train`'s two layouts for a V x H RBM (CD-1,
 * float32, one BLAS thread per rank) at a global batch of B rows on the P
 * ranks of the run (docs/model-parallel.md):
 *
 *   data  [parallel] grid = 1x1: every rank W and B/P rows, one allreduce;
 *   grid  [parallel] grid = PrxPc: R = P/(Pr·Pc) replicas of B/R rows, W in
 *         64 x 64 blocks over each replica.
 *
 * Both run the trainer's own step (batch loading, binarisation, sampling,
 * the update) on a synthetic dataset rank 0 writes first; after two
 * warm-up steps, each of STEPS steps is timed (the slowest rank's time)
 * and the median is printed. The rate is printed as
 * samples/s, as GFLOP/s (a CD-1 step is five products of 2·B·V·H flops)
 * and as a fraction of the machine's SGEMM rate measured in the same run:
 * every rank's five SGEMMs of the data layout's own shapes at once, summed.
 * Memory per rank is the trainer's plan (what `ebm train` prints).
 *   mpirun -np P bench_grid_train [GRID (1xP)] [V (4096)] [H (4096)] [B (256)] [STEPS (10)] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>

#include "ebm/grid.h"
#include "ebm/kernels.h"
#include "ebm/trainer.h"

static const char *DATA = "bench_grid_train.h5";
enum { MAX_STEPS = 200 };

static void die(const char *what)
{
    fprintf(stderr, "bench_grid_train: %s: %s\n", what, ebm_error_message());
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static void *need(size_t bytes)
{
    void *p = calloc(bytes, 1);
    if (!p) die("out of memory");
    return p;
}

/* n rows of V intensities, a fixed smooth pattern per row. */
static void write_data(int64_t n, int V)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int st = EBM_OK;
    if (rank == 0) {
        uint8_t *x = need((size_t)n * V);
        for (int64_t r = 0; r < n; r++)
            for (int i = 0; i < V; i++) x[r * V + i] = (uint8_t)((r * 37 + i * (r % 7 + 1)) % 256);
        remove(DATA);
        st = ebm_dataset_write_u8(DATA, "train", x, n, V, NULL, 0, 0);
        free(x);
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (st != EBM_OK) die(DATA);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median seconds of `steps` trainer steps on `grid` (each the slowest
 * rank's), and the plan's bytes. */
static double train_rate(const char *grid, int H, int B, int steps, double *bytes)
{
    struct ebm_config cfg;
    ebm_config_defaults(&cfg);
    snprintf(cfg.data.path, sizeof cfg.data.path, "%s", DATA);
    cfg.data.valid_split[0] = '\0';
    cfg.model.hidden = H;
    cfg.train.persistent = 0;
    cfg.train.monitor = 0;
    snprintf(cfg.parallel.grid, sizeof cfg.parallel.grid, "%s", grid);
    int P, pr, pc;
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    if (ebm_grid_parse(grid, &pr, &pc) != EBM_OK) die(grid);
    cfg.train.batch_size = B / (P / (pr * pc));
    struct ebm_par par;
    struct ebm_trainer tr;
    if (ebm_par_init(&par, MPI_COMM_WORLD) != EBM_OK) die("par");
    if (ebm_trainer_init(&tr, &cfg, &par) != EBM_OK) die("trainer");
    ebm_trainer_begin_epoch(&tr);
    double t[MAX_STEPS];
    for (int s = -2; s < steps; s++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        if (ebm_trainer_step(&tr) != EBM_OK) die("step");
        double dt = MPI_Wtime() - t0;
        MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (s >= 0) t[s] = dt;
    }
    qsort(t, (size_t)steps, sizeof *t, cmp_double);
    *bytes = ebm_memory_plan_total(&tr.memory);
    MPI_Allreduce(MPI_IN_PLACE, bytes, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    ebm_trainer_free(&tr);
    ebm_par_free(&par);
    return t[steps / 2];
}

/* Every rank's five SGEMMs of a CD-1 step on `rows` rows at once. */
static double sgemm_seconds(int rows, int V, int H)
{
    float *W = need(sizeof(float) * (size_t)V * H), *G = need(sizeof(float) * (size_t)V * H);
    float *v = need(sizeof(float) * (size_t)rows * V), *h = need(sizeof(float) * (size_t)rows * H);
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        ebm_gemm(false, false, rows, H, V, 1.0f, v, V, W, H, 0.0f, h, H);
        ebm_gemm(false, true, rows, V, H, 1.0f, h, H, W, H, 0.0f, v, V);
        ebm_gemm(false, false, rows, H, V, 1.0f, v, V, W, H, 0.0f, h, H);
        ebm_gemm(true, false, V, H, rows, 1.0f, v, V, h, H, 0.0f, G, H);
        ebm_gemm(true, false, V, H, rows, -1.0f, v, V, h, H, 1.0f, G, H);
        double t = MPI_Wtime() - t0;
        MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (r > 0 && t < best) best = t; /* the first warms BLAS up */
    }
    free(W);
    free(G);
    free(v);
    free(h);
    return best;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    openblas_set_num_threads(1); /* one BLAS thread a rank, as measured */
    int rank, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    char grid[32];
    snprintf(grid, sizeof grid, "1x%d", P);
    if (argc > 1) snprintf(grid, sizeof grid, "%s", argv[1]);
    int V = argc > 2 ? atoi(argv[2]) : 4096, H = argc > 3 ? atoi(argv[3]) : 4096;
    int B = argc > 4 ? atoi(argv[4]) : 256, steps = argc > 5 ? atoi(argv[5]) : 10;
    int pr, pc;
    if (ebm_grid_parse(grid, &pr, &pc) != EBM_OK || P % (pr * pc) || V < 1 || H < 1 ||
        B % P || steps < 1 || steps > MAX_STEPS) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -np P bench_grid_train [PrxPc dividing P] [V] [H] "
                    "[B, a multiple of P] [STEPS <= %d]\n", MAX_STEPS);
        MPI_Finalize();
        return 2;
    }
    write_data(4 * (int64_t)B, V);
    double flops = 5 * 2.0 * B * (double)V * H;
    double peak = flops / sgemm_seconds(B / P, V, H);
    double data_bytes, grid_bytes;
    double data = train_rate("1x1", H, B, steps, &data_bytes);
    double on_grid = train_rate(grid, H, B, steps, &grid_bytes);
    if (rank == 0) {
        printf("# ebm train, %dx%d rbm, CD-1, global batch %d, %d ranks, %d steps; SGEMM rate "
               "of the ranks together %.1f GFLOP/s\n", V, H, B, P, steps, peak / 1e9);
        printf("data %-5s %8.4f s/step %8.0f samples/s %7.1f GFLOP/s %4.0f%% of SGEMM "
               "%8.1f MiB/rank\n", "1x1", data, B / data, flops / data / 1e9,
               100 * flops / data / peak, data_bytes / 1048576.0);
        printf("grid %-5s %8.4f s/step %8.0f samples/s %7.1f GFLOP/s %4.0f%% of SGEMM "
               "%8.1f MiB/rank\n", grid, on_grid, B / on_grid, flops / on_grid / 1e9,
               100 * flops / on_grid / peak, grid_bytes / 1048576.0);
        remove(DATA);
    }
    ebm_grid_finalize();
    MPI_Finalize();
    return 0;
}
