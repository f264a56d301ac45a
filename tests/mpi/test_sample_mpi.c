/* Block Gibbs chains sharded over ranks, as `ebm sample` runs them, against
 * one block of all chains on one rank. Run with 1, 2 and 4 ranks:
 *   mpirun --oversubscribe --allow-run-as-root -np 4 build/tests/mpi/test_sample_mpi
 * The chain counts are chosen to split unevenly, and fewer chains than
 * ranks leaves some ranks with none. */
#include "mpiutil.h"
#include "enum.h"

#include "ebm/dataset.h"
#include "ebm/gibbs.h"

enum { V = 21, H = 11, STEPS = 15 };

/* Chains [first, first + count) from random starts, final v and means pv. */
static int run_block(const struct rbm *m, int64_t first, int count, float *v, float *pv)
{
    struct ebm_gibbs g;
    if (ebm_gibbs_init(&g, V, H, count, first, 51) != EBM_OK) return 0;
    ebm_gibbs_random_init(&g, v);
    ebm_gibbs_run(&g, m, v, STEPS, pv);
    ebm_gibbs_free(&g);
    return 1;
}

static void shards_match_one_block(int n)
{
    struct rbm m;
    enum_random_rbm(&m, V, H, 0.7f, 50); /* the same model on every rank */
    int64_t first, count;
    ebm_shard_range(n, mpi_rank, mpi_size, &first, &count);
    size_t all = (size_t)n * V;
    size_t mine = (size_t)count * V + 1; /* + 1: a rank without chains */
    float *v = calloc(mine, sizeof *v), *pv = calloc(mine, sizeof *pv);
    float *v_all = calloc(all, sizeof *v_all), *pv_all = calloc(all, sizeof *pv_all);
    float *v_ref = calloc(all, sizeof *v_ref), *pv_ref = calloc(all, sizeof *pv_ref);
    int *counts = calloc((size_t)mpi_size, sizeof *counts);
    int *displs = calloc((size_t)mpi_size, sizeof *displs);
    assert_all(v && pv && v_all && pv_all && v_ref && pv_ref && counts && displs);
    assert_all(run_block(&m, first, (int)count, v, pv));
    for (int r = 0; r < mpi_size; r++) {
        int64_t f, c;
        ebm_shard_range(n, r, mpi_size, &f, &c);
        counts[r] = (int)c * V;
        displs[r] = (int)f * V;
    }
    assert_all(MPI_Allgatherv(v, (int)count * V, MPI_FLOAT, v_all, counts, displs, MPI_FLOAT,
                              MPI_COMM_WORLD) == MPI_SUCCESS);
    assert_all(MPI_Allgatherv(pv, (int)count * V, MPI_FLOAT, pv_all, counts, displs, MPI_FLOAT,
                              MPI_COMM_WORLD) == MPI_SUCCESS);
    assert_all(run_block(&m, 0, n, v_ref, pv_ref));
    /* States exactly; means up to BLAS rounding that depends on the block's
     * row count (~1 ulp; tolerance 1e-6). */
    assert_all(memcmp(v_all, v_ref, all * sizeof *v_all) == 0);
    double worst = 0;
    for (size_t i = 0; i < all; i++) {
        double d = fabs((double)pv_all[i] - pv_ref[i]);
        if (!(d <= worst)) worst = d;
    }
    if (!(worst <= 1e-6))
        fprintf(stderr, "[rank %d] largest p(v | h) difference %.3g\n", mpi_rank, worst);
    assert_all(worst <= 1e-6);
    free(v);
    free(pv);
    free(v_all);
    free(pv_all);
    free(v_ref);
    free(pv_ref);
    free(counts);
    free(displs);
    rbm_free(&m);
}

static void test_sample_mpi_shards_match_one_block(void **state)
{
    (void)state;
    shards_match_one_block(103); /* 103 = 52 + 51 = 26 + 26 + 26 + 25 */
}

static void test_sample_mpi_fewer_chains_than_ranks(void **state)
{
    (void)state;
    shards_match_one_block(3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sample_mpi_shards_match_one_block),
    cmocka_unit_test(test_sample_mpi_fewer_chains_than_ranks),
};

EBM_MPI_TEST_MAIN(tests)
