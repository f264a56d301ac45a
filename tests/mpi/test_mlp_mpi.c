/* Fine-tuning is data-parallel: with the full batch split over P ranks
 * (P in 1, 2, 4), the same steps as one rank, up to summation order; and it
 * learns a separable toy problem.
 *   mpirun --oversubscribe -np 4 build/tests/mpi/test_mlp_mpi */
#include "mpiutil.h"

#include "ebm/mlp.h"

enum { N = 240, D = 6, H = 5, K = 3, EPOCHS = 60 };

/* Rows of uniform pixels whose class is the largest of three fixed sums. */
static void write_toy(const char *path)
{
    int st = EBM_OK;
    if (mpi_rank == 0) {
        uint8_t x[N * D];
        int32_t y[N];
        struct ebm_rng r;
        ebm_rng_init(&r, 91, 0, EBM_RNG_TEST);
        for (int n = 0; n < N; n++) {
            float u[D];
            ebm_rng_uniform(&r, u, D);
            double s[K] = { u[0] + u[1], u[2] + u[3], u[4] + u[5] };
            y[n] = s[0] > s[1] ? (s[0] > s[2] ? 0 : 2) : (s[1] > s[2] ? 1 : 2);
            for (int i = 0; i < D; i++) x[n * D + i] = (uint8_t)(u[i] * 255.0f);
        }
        remove(path);
        st = ebm_dataset_write_u8(path, "train", x, N, D, y, 0, 0);
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    assert_all(st == EBM_OK);
}

/* EPOCHS full-batch epochs on comm from a fixed random DBN layer; the
 * parameters into out, the last epoch's error into *err. */
static void train(const char *path, MPI_Comm comm, float *out, double *err)
{
    struct ebm_par par;
    assert_true(ebm_par_init(&par, comm) == EBM_OK);
    struct ebm_dataset ds;
    assert_true(ebm_dataset_read_shard(path, "train", 0, comm, &ds) == EBM_OK);
    const int sizes[] = { D, H };
    struct dbn d;
    assert_true(dbn_init(&d, 1, sizes) == EBM_OK);
    struct ebm_rng r;
    ebm_rng_init(&r, 92, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, d.rbm[0].block, rbm_block_size(D, H));
    struct ebm_mlp m;
    assert_true(ebm_mlp_from_dbn(&m, &d, K) == EBM_OK);
    /* every rank's whole shard per step: one step an epoch, the full gradient */
    int64_t rows = ds.n, fewest = ds.n;
    MPI_Allreduce(&rows, &fewest, 1, MPI_INT64_T, MPI_MIN, comm);
    struct ebm_mlp_opts o = { .epochs = EPOCHS, .batch = (int)fewest, .lr = 0.5f, .lr_end = 0.5f,
                              .momentum = 0.9f, .l2 = 0.0f, .seed = 1 };
    struct ebm_mlp_trainer tr;
    assert_true(ebm_mlp_trainer_init(&tr, &m, &par, &ds, &o) == EBM_OK);
    double loss = 0;
    for (int e = 0; e < EPOCHS; e++) assert_true(ebm_mlp_train_epoch(&tr, &m, e, &loss, err) == EBM_OK);
    memcpy(out, m.params, sizeof *out * m.n_params);
    ebm_mlp_trainer_free(&tr);
    ebm_mlp_free(&m);
    dbn_free(&d);
    ebm_dataset_free(&ds);
    ebm_par_free(&par);
}

static void test_mlp_mpi_full_batch_is_rank_invariant_and_learns(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/toy.h5", mpi_dir);
    write_toy(path);
    /* N is divisible by 1, 2 and 4: every rank's shard is its full batch. */
    enum { NP = D * H + H + H * K + K };
    float here[NP], alone[NP];
    double err_here, err_alone = 0;
    train(path, MPI_COMM_WORLD, here, &err_here);
    if (mpi_rank == 0) train(path, MPI_COMM_SELF, alone, &err_alone);
    MPI_Bcast(alone, NP, MPI_FLOAT, 0, MPI_COMM_WORLD);
    double worst = 0;
    for (int i = 0; i < NP; i++) worst = fmax(worst, fabs((double)here[i] - alone[i]));
    if (mpi_rank == 0)
        print_message("%d ranks vs 1: largest parameter difference %.2g; training error %.3f\n",
                      mpi_size, worst, err_here);
    /* float sums of 240 rows in another order, through 60 momentum steps: */
    assert_all(worst < 1e-5); /* measured 7e-7 at 2 and 4 ranks */
    assert_all(err_here < 0.1); /* a random start is at 2/3 */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mlp_mpi_full_batch_is_rank_invariant_and_learns),
};

EBM_MPI_TEST_MAIN(tests)
