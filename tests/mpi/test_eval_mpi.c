/* Evaluation does not depend on the rank count. Run with 1, 2 and 4 ranks:
 *   mpirun --oversubscribe -np 4 build/tests/mpi/test_eval_mpi
 * Each result over all ranks is compared with the same computation done by
 * every rank alone (MPI_COMM_SELF). AIS runs draw from streams keyed by the
 * run's global index and rank 0 sums the weights in run order, so only the
 * batching of the float GEMMs differs: results agree to float rounding,
 * relative 1e-6 (single precision carries ~6e-8; the log weights add up a
 * few hundred such terms per step). */
#include "mpiutil.h"
#include "enum.h"

#include "ebm/ais.h"
#include "ebm/dataset.h"
#include "ebm/evaluate.h"
#include "ebm/logz.h"

static int same(double a, double b)
{
    return fabs(a - b) <= 1e-6 * fmax(1.0, fabs(b));
}

static void test_eval_mpi_exact_log_z_is_rank_invariant(void **state)
{
    (void)state;
    struct rbm m;
    enum_random_rbm(&m, 14, 9, 0.6f, 600);
    double all, alone;
    assert_all(rbm_exact_log_z(&m, MPI_COMM_WORLD, &all) == EBM_OK);
    assert_all(rbm_exact_log_z(&m, MPI_COMM_SELF, &alone) == EBM_OK);
    assert_all(fabs(all - alone) <= 1e-10 * fabs(alone));
    rbm_free(&m);
}

static void test_eval_mpi_ais_is_rank_invariant(void **state)
{
    (void)state;
    enum { V = 30, H = 20, RUNS = 37, BETAS = 400 };
    struct rbm m;
    enum_random_rbm(&m, V, H, 0.3f, 601);
    float base[V];
    for (int i = 0; i < V; i++) base[i] = 0.1f * (float)(i % 5) - 0.2f;
    double *betas = ebm_ais_schedule(BETAS);
    struct ebm_ais_result all, alone;
    assert_all(rbm_ais(&m, base, betas, BETAS, RUNS, 5, MPI_COMM_WORLD, &all) == EBM_OK);
    assert_all(rbm_ais(&m, base, betas, BETAS, RUNS, 5, MPI_COMM_SELF, &alone) == EBM_OK);
    if (mpi_rank == 0 && !same(all.log_z, alone.log_z))
        print_error("AIS log Z %.12f on %d ranks vs %.12f on one\n", all.log_z, mpi_size,
                    alone.log_z);
    assert_all(same(all.log_z, alone.log_z));
    assert_all(same(all.log_z_hi, alone.log_z_hi));

    /* Reverse AIS: rows 0..RUNS-1 split the same way as ebm_shard_range. */
    float *v0 = malloc(sizeof(float) * RUNS * V);
    for (int i = 0; i < RUNS * V; i++) v0[i] = (float)((i * 7 + i / V) % 3 == 0);
    int64_t first, count;
    ebm_shard_range(RUNS, mpi_rank, mpi_size, &first, &count);
    assert_all(rbm_reverse_ais(&m, base, betas, BETAS, v0 + first * V, (int)count, first, 5,
                               MPI_COMM_WORLD, &all) == EBM_OK);
    assert_all(rbm_reverse_ais(&m, base, betas, BETAS, v0, RUNS, 0, 5, MPI_COMM_SELF, &alone) ==
               EBM_OK);
    assert_all(same(all.log_z, alone.log_z));
    free(v0);
    free(betas);
    rbm_free(&m);
}

static void test_eval_mpi_metrics_are_rank_invariant(void **state)
{
    (void)state;
    enum { V = 16, H = 6, N = 45 };
    struct rbm m;
    enum_random_rbm(&m, V, H, 0.8f, 602);
    float *x = malloc(sizeof(float) * N * V);
    for (int i = 0; i < N * V; i++) x[i] = (float)((i * 13) % 11) / 10.0f;
    assert_all(ebm_eval_binarize(x, N, V, 0, 9, 0) == EBM_OK);
    int64_t first, count;
    ebm_shard_range(N, mpi_rank, mpi_size, &first, &count);
    struct ebm_eval_opts o = { .exact = true, .pseudo_likelihood = true };
    struct ebm_eval_result all, alone;
    assert_all(ebm_evaluate(&m, x + first * V, count, first, &o, MPI_COMM_WORLD, &all) == EBM_OK);
    assert_all(ebm_evaluate(&m, x, N, 0, &o, MPI_COMM_SELF, &alone) == EBM_OK);
    assert_all(all.n_examples == N);
    assert_all(same(all.avg_log_prob, alone.avg_log_prob));
    assert_all(same(all.pseudo_ll_per_unit, alone.pseudo_ll_per_unit));
    assert_all(same(all.recon_error, alone.recon_error));
    free(x);
    rbm_free(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_eval_mpi_exact_log_z_is_rank_invariant),
    cmocka_unit_test(test_eval_mpi_ais_is_rank_invariant),
    cmocka_unit_test(test_eval_mpi_metrics_are_rank_invariant),
};

EBM_MPI_TEST_MAIN(tests)
