/* RBM evaluation with W on a process grid (ebm/grid_eval.h) against the
 * data-parallel evaluation (ebm/evaluate.h, ebm/ais.h), at 1, 2 and 4
 * ranks, on every grid the rank count allows:
 *   mpirun --oversubscribe -np 4 build/tests/mpi/test_grid_eval_mpi
 * - forward and reverse AIS give the data-parallel estimates (each run
 *   draws the same numbers) up to float summation order, and the forward
 *   interval holds the exact log Z;
 * - the free energies, their spread and the reconstruction error of the
 *   rows agree with ebm_evaluate's. */
#include "gridutil.h"

#include <math.h>

#include "ebm/dataset.h"
#include "ebm/grid_eval.h"
#include "ebm/logz.h"

enum { V = 13, H = 11, N = 40, RUNS = 24, BETAS = 400, BLOCK = 3 };

/* A model with structure (W ~ N(0, 0.7^2), biases ~ N(0, 0.5^2)), the same on every rank. */
static void model(struct rbm *m)
{
    assert_all(rbm_init(m, V, H) == EBM_OK);
    struct ebm_rng r;
    ebm_rng_init(&r, 5, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, m->W, (size_t)V * H);
    for (int i = 0; i < V * H; i++) m->W[i] *= 0.7f;
    ebm_rng_normal(&r, m->vbias, V);
    ebm_rng_normal(&r, m->hbias, H);
    for (int i = 0; i < V; i++) m->vbias[i] *= 0.5f;
    for (int j = 0; j < H; j++) m->hbias[j] *= 0.5f;
}

/* N binary rows (all ranks hold them). */
static void rows(float *x)
{
    struct ebm_rng r;
    ebm_rng_init(&r, 6, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&r, x, (size_t)N * V);
    for (int i = 0; i < N * V; i++) x[i] = x[i] < 0.4f ? 1.0f : 0.0f;
}

static void test_grid_evaluation_matches_data_parallel(void **state)
{
    (void)state;
    struct rbm m;
    model(&m);
    float *x = malloc(sizeof(float) * N * V);
    rows(x);
    double exact;
    assert_all(rbm_exact_log_z(&m, MPI_COMM_WORLD, &exact) == EBM_OK);
    /* The data-parallel report, every rank holding its shard of the rows. */
    int64_t first, count;
    ebm_shard_range(N, mpi_rank, mpi_size, &first, &count);
    struct ebm_eval_opts o = { .ais_runs = RUNS, .ais_betas = BETAS, .seed = 3, .reverse = true };
    struct ebm_eval_result want;
    assert_all(ebm_evaluate(&m, x + first * V, count, first, &o, MPI_COMM_WORLD, &want) == EBM_OK);

    int gr[16], gc[16], n = grids_of(mpi_size, gr, gc);
    for (int t = 0; t < n; t++) {
        struct ebm_grid g;
        assert_all(ebm_grid_init(&g, MPI_COMM_WORLD, gr[t], gc[t]) == EBM_OK);
        struct ebm_grid_rbm gm;
        assert_all(ebm_grid_rbm_init_model(&gm, &g, V, H, 7, BLOCK) == EBM_OK);
        ebm_grid_rbm_set(&gm, m.W, m.vbias, m.hbias);
        ebm_shard_range(N, g.replica, g.replicas, &first, &count);
        struct ebm_eval_result got;
        assert_all(ebm_grid_evaluate(&gm, x + first * V, count, first, &o, &got) == EBM_OK);
        double d = fmax(fabs(got.log_z - want.log_z), fabs(got.reverse_log_z - want.reverse_log_z));
        d = fmax(d, fmax(fabs(got.log_z_lo - want.log_z_lo), fabs(got.log_z_hi - want.log_z_hi)));
        double f = fmax(fabs(got.mean_free_energy - want.mean_free_energy),
                        fabs(got.free_energy_se - want.free_energy_se));
        f = fmax(f, fabs(got.recon_error - want.recon_error));
        if (mpi_rank == 0)
            printf("grid %dx%d (%d replicas): log Z %.6f [%.6f, %.6f] (data-parallel %.6f, "
                   "exact %.6f), reverse %.6f; largest difference %.2e (AIS), %.2e (rows)\n",
                   gr[t], gc[t], g.replicas, got.log_z, got.log_z_lo, got.log_z_hi, want.log_z,
                   exact, got.reverse_log_z, d, f);
        /* The runs' log weights sum BETAS increments of about H softplus
         * terms each in another order: a few 1e-6 relative at most; a run
         * that drew one different sample would move log Z by ~1e-2. */
        assert_all(d < 1e-4 && f < 1e-5);
        assert_all(got.log_z_lo <= exact && exact <= got.log_z_hi);
        assert_all(got.n_examples == N && got.have_reverse && got.reverse_runs == RUNS);
        ebm_grid_rbm_free(&gm);
        ebm_grid_free(&g);
    }
    free(x);
    rbm_free(&m);
}

static void test_grid_evaluation_refuses_exact(void **state)
{
    (void)state;
    struct ebm_grid g;
    assert_all(ebm_grid_init(&g, MPI_COMM_WORLD, 1, 1) == EBM_OK);
    struct ebm_grid_rbm gm;
    assert_all(ebm_grid_rbm_init_model(&gm, &g, 4, 3, 2, 2) == EBM_OK);
    float x[8] = { 0 };
    struct ebm_eval_opts o = { .exact = true, .ais_runs = 4, .ais_betas = 20 };
    struct ebm_eval_result r;
    assert_all(ebm_grid_evaluate(&gm, x, 2, 0, &o, &r) == EBM_ERR_INPUT);
    assert_all(strstr(ebm_error_message(), "--grid") != NULL);
    ebm_error_clear();
    ebm_grid_rbm_free(&gm);
    ebm_grid_free(&g);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_grid_evaluation_matches_data_parallel),
    cmocka_unit_test(test_grid_evaluation_refuses_exact),
};

EBM_MPI_TEST_MAIN_WITH(tests, NULL, finish_blacs)
