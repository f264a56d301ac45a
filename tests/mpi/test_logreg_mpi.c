/* The classifier's data-parallel training. Run with 1, 2 and 4 ranks:
 *   mpirun --oversubscribe -np 4 build/tests/mpi/test_logreg_mpi
 * - full-batch training on data split over P ranks gives the parameters of
 *   one rank on all the data, up to float summation order;
 * - every rank holds bit-identical parameters after mini-batch steps. */
#include <float.h>

#include "mpiutil.h"

#include "ebm/logreg.h"
#include "ebm/rng.h"

enum { N = 53, D = 5, K = 4 }; /* N divisible by neither 2 nor 4 */

/* The same global rows on every rank: four overlapping clusters. */
static void make_data(float *x, int32_t *y)
{
    struct ebm_rng r;
    ebm_rng_init(&r, 5, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&r, x, (size_t)N * D);
    for (int i = 0; i < N; i++) {
        y[i] = (int32_t)ebm_rng_below(&r, K);
        for (int d = 0; d < D; d++) x[i * D + d] = 2 * x[i * D + d] - 1 + (d == y[i] ? 0.7f : 0);
    }
}

static void train(MPI_Comm comm, const float *x, const int32_t *y, const struct ebm_logreg_opts *o,
                  struct ebm_logreg *m)
{
    struct ebm_par par;
    assert_int_equal(ebm_par_init(&par, comm), EBM_OK);
    int64_t first, count;
    ebm_shard_range(N, par.rank, par.size, &first, &count);
    struct ebm_dataset ds = { .n_total = N, .first = first, .n = count, .dim = D,
                              .x = (float *)x + first * D, .y = (int32_t *)y + first };
    struct ebm_logreg_trainer tr;
    assert_int_equal(ebm_logreg_init(m, D, K), EBM_OK);
    assert_int_equal(ebm_logreg_trainer_init(&tr, m, &par, &ds, o), EBM_OK);
    struct ebm_logreg_epoch ep;
    for (int e = 0; e < o->epochs; e++)
        assert_int_equal(ebm_logreg_train_epoch(&tr, m, e, &ep), EBM_OK);
    ebm_logreg_trainer_free(&tr);
    ebm_par_free(&par);
}

static void test_logreg_mpi_full_batch_is_invariant_to_rank_count(void **state)
{
    (void)state;
    float x[N * D];
    int32_t y[N];
    make_data(x, y);
    struct ebm_logreg_opts o = { .epochs = 300, .batch = 0, .lr = 0.5f, .l2 = 0.1f, .seed = 1 };
    struct ebm_logreg split, whole;
    train(MPI_COMM_WORLD, x, y, &o, &split);
    train(MPI_COMM_SELF, x, y, &o, &whole);
    /* Only the order of the float sums differs (P partial GEMMs, then the
     * allreduce). The mean gradient's summation error is at most
     * N eps_f sum|terms| <= N eps_f max|x| (each term <= max|x| / N, |x| < 2),
     * about 1.3e-5 per step; gradient descent on an objective that is
     * mu-strongly convex (mu >= l2 = 0.1 on W) contracts earlier errors, so
     * the parameters differ by at most that over mu: 1.3e-4. */
    double tol = (double)N * FLT_EPSILON * 2 / 0.1;
    double worst = 0;
    for (size_t i = 0; i < whole.n_params; i++)
        worst = fmax(worst, fabs((double)split.params[i] - whole.params[i]));
    if (mpi_rank == 0) printf("# %d ranks vs 1: largest difference %.3g (tolerance %.3g)\n",
                              mpi_size, worst, tol);
    assert_all(worst <= tol);
    double biggest = 0;
    for (size_t i = 0; i < whole.n_params; i++) biggest = fmax(biggest, fabs(whole.params[i]));
    assert_all(biggest > 0.1); /* it learned something */
    ebm_logreg_free(&split);
    ebm_logreg_free(&whole);
}

static void test_logreg_mpi_ranks_hold_identical_parameters(void **state)
{
    (void)state;
    float x[N * D];
    int32_t y[N];
    make_data(x, y);
    struct ebm_logreg_opts o = { .epochs = 5, .batch = 3, .lr = 0.2f, .l2 = 1e-3f, .seed = 9 };
    struct ebm_logreg m;
    train(MPI_COMM_WORLD, x, y, &o, &m);
    float *root = malloc(sizeof *root * m.n_params);
    assert_non_null(root);
    memcpy(root, m.params, sizeof *root * m.n_params);
    MPI_Bcast(root, (int)m.n_params, MPI_FLOAT, 0, MPI_COMM_WORLD);
    assert_all(memcmp(root, m.params, sizeof *root * m.n_params) == 0);
    free(root);
    ebm_logreg_free(&m);
}

static void test_logreg_mpi_batch_larger_than_a_shard_fails_everywhere(void **state)
{
    (void)state;
    float x[N * D];
    int32_t y[N];
    make_data(x, y);
    struct ebm_par par;
    assert_int_equal(ebm_par_init(&par, MPI_COMM_WORLD), EBM_OK);
    int64_t first, count;
    ebm_shard_range(N, par.rank, par.size, &first, &count);
    struct ebm_dataset ds = { .n_total = N, .first = first, .n = count, .dim = D,
                              .x = x + first * D, .y = y + first };
    struct ebm_logreg m;
    struct ebm_logreg_trainer tr;
    struct ebm_logreg_opts o = { .epochs = 1, .batch = N / mpi_size + 1, .lr = 0.1f };
    assert_int_equal(ebm_logreg_init(&m, D, K), EBM_OK);
    ebm_status st = ebm_logreg_trainer_init(&tr, &m, &par, &ds, &o);
    assert_all(st == EBM_ERR_INPUT);
    assert_all(strstr(ebm_error_message(), "--batch-size") != NULL);
    ebm_error_clear();
    ebm_logreg_free(&m);
    ebm_par_free(&par);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_logreg_mpi_full_batch_is_invariant_to_rank_count),
    cmocka_unit_test(test_logreg_mpi_ranks_hold_identical_parameters),
    cmocka_unit_test(test_logreg_mpi_batch_larger_than_a_shard_fails_everywhere),
};

EBM_MPI_TEST_MAIN(tests)
