/* Sampler diagnostics across ranks. Run with 1, 2 and 4 ranks: 13 chains
 * of AR(1) traces, split unevenly over the ranks, give bit for bit the
 * answer of ebm_diagnose on all chains at once. */
#include "mpiutil.h"

#include "ebm/dataset.h"
#include "ebm/diagnostics.h"
#include "ebm/rng.h"

enum { M = 13, N = 400 };

/* Chain c's trace: AR(1) with rho 0.6 from its own stream, chain 3 shifted
 * so that R-hat is clearly above 1. */
static void traces(double *x)
{
    for (int c = 0; c < M; c++) {
        struct ebm_rng r;
        ebm_rng_init(&r, 21, (uint32_t)c, EBM_RNG_TEST);
        float z[N];
        ebm_rng_normal(&r, z, N);
        double prev = 0.0;
        for (int n = 0; n < N; n++) {
            prev = 0.6 * prev + z[n];
            x[c * N + n] = prev + (c == 3 ? 2.0 : 0.0);
        }
    }
}

static void test_diagnostics_mpi_match_one_rank(void **state)
{
    (void)state;
    static double all[M * N];
    traces(all);
    struct ebm_trace_diag want, got;
    assert_all(ebm_diagnose(all, M, N, &want, NULL) == EBM_OK);
    int64_t first, count;
    ebm_shard_range(M, mpi_rank, mpi_size, &first, &count);
    assert_all(ebm_diagnose_comm(all + first * N, (int)count, N, MPI_COMM_WORLD, &got) ==
               EBM_OK);
    assert_all(got.chains == M && got.draws == N);
    assert_all(memcmp(&got.ess, &want.ess, sizeof got.ess) == 0);
    assert_all(memcmp(&got.rhat, &want.rhat, sizeof got.rhat) == 0);
    assert_all(got.ess_chain_min == want.ess_chain_min && got.mean == want.mean);
    assert_all(want.rhat > 1.05 && want.ess > 0); /* the shifted chain shows */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_diagnostics_mpi_match_one_rank),
};

EBM_MPI_TEST_MAIN(tests)
