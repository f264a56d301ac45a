/* make bench: training throughput of a 784-500 RBM (batch 100, float32,
 * one BLAS thread per rank) for CD-1 and PCD-1, as a fraction of this
 * machine's own SGEMM rate on the same matrix shapes, measured in the same
 * run; then samples/s and parallel efficiency with every rank of the job.
 * Run under mpirun -np 2 (rank 0 alone does the 1-rank part first). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <mpi.h>

#include "ebm/cd.h"
#include "ebm/kernels.h"
#include "ebm/trainer.h"

enum { V = 784, H = 500, B = 100 };
static const double MIN_SECONDS = 1.5;
enum { ROUNDS = 5 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* GEMMs in one CD-k step: data v->h, the chain's k h->v and k (CD: k-1,
 * the first reuses the data's) v->h, a final v->h, and two outer-product
 * sums; each is 2*B*V*H flops. */
static int gemms_per_step(int k, int persistent)
{
    return 1 + k + (persistent ? k : k - 1) + 1 + 2;
}

/* SGEMM on exactly the step's shapes and mix, same thread count. */
static double sgemm_rate(int k, int persistent)
{
    float *v = calloc((size_t)B * V, sizeof *v), *h = calloc((size_t)B * H, sizeof *h),
          *W = calloc((size_t)V * H, sizeof *W), *G = calloc((size_t)V * H, sizeof *G);
    for (size_t i = 0; i < (size_t)V * H; i++) W[i] = 0.001f * (float)(i % 7);
    for (size_t i = 0; i < (size_t)B * V; i++) v[i] = (float)(i % 2);
    long reps = 0;
    double t0 = now(), t;
    do {
        int fwd = 1 + (persistent ? k : k - 1) + 1, back = k;
        for (int i = 0; i < fwd; i++) ebm_gemm(false, false, B, H, V, 1, v, V, W, H, 0, h, H);
        for (int i = 0; i < back; i++) ebm_gemm(false, true, B, V, H, 1, h, H, W, H, 0, v, V);
        ebm_gemm(true, false, V, H, B, 1, v, V, h, H, 0, G, H);
        ebm_gemm(true, false, V, H, B, -1, v, V, h, H, 1, G, H);
        reps++;
        t = now() - t0;
    } while (t < MIN_SECONDS);
    free(v); free(h); free(W); free(G);
    return (double)reps * gemms_per_step(k, persistent) * 2.0 * B * V * H / t;
}

struct step_time {
    double seconds;         /* per step */
    double allreduce_share; /* fraction of it in the gradient allreduce */
};

/* Time per training step, after a short warm-up. */
static struct step_time step_seconds(const struct ebm_config *cfg, const struct ebm_par *par)
{
    struct ebm_trainer tr;
    if (ebm_trainer_init(&tr, cfg, par) != EBM_OK) {
        fprintf(stderr, "bench: %s\n", ebm_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    long steps = 0;
    double t0 = 0, t = 0, reduce0 = 0;
    for (long s = 0;; s++) {
        if (tr.step % tr.steps_per_epoch == 0) ebm_trainer_begin_epoch(&tr);
        ebm_trainer_step(&tr);
        if (s == 4) { /* warm-up done */
            t0 = now();
            reduce0 = tr.time.allreduce;
        }
        if (s > 4) {
            steps++;
            t = now() - t0;
            /* every rank must agree when to stop: rank 0 decides */
            int done = t >= MIN_SECONDS;
            MPI_Bcast(&done, 1, MPI_INT, 0, par->world);
            if (done) break;
        }
    }
    struct step_time out = { t / (double)steps, (tr.time.allreduce - reduce0) / t };
    ebm_trainer_free(&tr);
    return out;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, by_value);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

static void config_for(struct ebm_config *cfg, int persistent)
{
    ebm_config_defaults(cfg);
    snprintf(cfg->data.path, sizeof cfg->data.path, "data/mnist.h5");
    cfg->data.max_examples = 20000;
    cfg->data.valid_split[0] = '\0';
    cfg->model.hidden = H;
    cfg->train.batch_size = B;
    cfg->train.chains = B;
    cfg->train.k = 1;
    cfg->train.persistent = persistent;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    openblas_set_num_threads(1);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    struct ebm_par solo, all;
    ebm_par_init(&all, MPI_COMM_WORLD);
    if (rank == 0) ebm_par_init(&solo, MPI_COMM_SELF);
    const char *names[2] = { "CD-1 ", "PCD-1" };
    if (rank == 0) {
        char *openblas_get_corename(void);
        printf("784-%d RBM, batch %d per rank, float32, 1 BLAS thread per rank, OpenBLAS "
               "'%s' kernels; median of %d interleaved rounds\n", H, B, openblas_get_corename(),
               ROUNDS);
    }
    for (int p = 0; p < 2; p++) {
        struct ebm_config cfg;
        config_for(&cfg, p);
        /* Rounds interleave SGEMM, the 1-rank run (rank 0 alone) and the
         * all-rank run, so slow drift of a shared machine hits all three
         * alike; each round gives one fraction and one efficiency. */
        double fraction[ROUNDS], efficiency[ROUNDS], rate1[ROUNDS], rateP[ROUNDS],
               peak[ROUNDS], share[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            if (rank == 0) {
                peak[r] = sgemm_rate(1, p);
                double sec = step_seconds(&cfg, &solo).seconds;
                rate1[r] = B / sec;
                fraction[r] = gemms_per_step(1, p) * 2.0 * B * V * H / sec / peak[r];
            }
            MPI_Barrier(MPI_COMM_WORLD);
            if (size > 1) {
                struct step_time st = step_seconds(&cfg, &all);
                rateP[r] = (double)B * size / st.seconds;
                share[r] = st.allreduce_share;
                efficiency[r] = rank == 0 ? rateP[r] / (size * rate1[r]) : 0;
            }
        }
        if (rank != 0) continue;
        double r1 = median(rate1, ROUNDS), f = median(fraction, ROUNDS), g = median(peak, ROUNDS);
        printf("%s 1 rank : %8.0f samples/s  %6.1f GFLOP/s  = %3.0f%% of SGEMM "
               "(%.1f GFLOP/s on the same shapes; target 70%%)\n",
               names[p], r1, r1 / B * gemms_per_step(1, p) * 2.0 * B * V * H * 1e-9, 100 * f,
               g * 1e-9);
        if (size > 1)
            printf("%s %d ranks: %8.0f samples/s  efficiency %3.0f%% of %d x 1-rank (target "
                   "85%%), %.0f%% of step time in the allreduce\n", names[p], size,
                   median(rateP, ROUNDS), 100 * median(efficiency, ROUNDS), size,
                   100 * median(share, ROUNDS));
        fflush(stdout);
    }
    if (rank == 0) ebm_par_free(&solo);
    ebm_par_free(&all);
    MPI_Finalize();
    return 0;
}
