/* The fully visible BM in the one trainer (model.type = bm), at 1, 2 and 4
 * ranks:
 *   mpirun --oversubscribe -np 4 build/tests/mpi/test_bm_train_mpi
 * - exact-gradient training (train.negative = exact) on exact samples of a
 *   known d = 6 model follows bm_exact_fit's gradient ascent in double, and
 *   does so alike at every rank count;
 * - PCD training with sequential-Gibbs chains approaches the same fit;
 * - 2 epochs + resume for 2 more equals 4 epochs, bit for bit (chains and
 *   their per-chain streams included). */
#include "mpiutil.h"

#include "ebm/bm.h"
#include "ebm/trainer.h"

enum { D = 6, N = 2400 };

/* A known model (couplings and biases N(0, 0.5^2)), N exact samples of it
 * written as a 2x3-pixel dataset by rank 0, and their exact moments. */
static void write_samples(const char *path, double *xx, double *mean)
{
    struct bm truth;
    assert_all(bm_init(&truth, D, 0) == EBM_OK);
    struct ebm_rng r;
    ebm_rng_init(&r, 901, 0, EBM_RNG_TEST);
    bm_init_params(&truth, 0.5f, NULL, &r);
    ebm_rng_normal(&r, truth.bias, D);
    for (int i = 0; i < D; i++) truth.bias[i] *= 0.5f;
    float *x = malloc(sizeof *x * N * D);
    uint8_t *u = malloc(N * D);
    assert_all(x && u && bm_exact_sample(&truth, x, N, &r) == EBM_OK);
    for (int i = 0; i < N * D; i++) u[i] = x[i] > 0.5f ? 255 : 0;
    bm_data_moments(x, N, D, xx, mean);
    int st = EBM_OK;
    if (mpi_rank == 0) {
        remove(path);
        st = ebm_dataset_write_u8(path, "train", u, N, D, NULL, 2, 3);
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    assert_all(st == EBM_OK);
    free(x);
    free(u);
    bm_free(&truth);
}

static void bm_config(struct ebm_config *cfg, const char *data, const char *dir)
{
    ebm_config_defaults(cfg);
    snprintf(cfg->model.type, sizeof cfg->model.type, "bm");
    snprintf(cfg->data.path, sizeof cfg->data.path, "%s", data);
    cfg->data.valid_split[0] = '\0';
    cfg->data.binarize = EBM_BINARIZE_THRESHOLD;
    cfg->train.monitor = 0;
    cfg->train.weight_decay = 0.0;
    cfg->train.seed = 9;
    snprintf(cfg->output.dir, sizeof cfg->output.dir, "%s", dir);
}

/* `steps` trainer steps on comm; the parameter block into out. */
static void run_steps(const struct ebm_config *cfg, MPI_Comm comm, int steps, float *out)
{
    struct ebm_par par;
    assert_true(ebm_par_init(&par, comm) == EBM_OK);
    struct ebm_trainer tr;
    assert_true(ebm_trainer_init(&tr, cfg, &par) == EBM_OK);
    for (int s = 0; s < steps; s++) {
        if (s % tr.steps_per_epoch == 0) ebm_trainer_shuffle(&tr, s / tr.steps_per_epoch);
        assert_true(ebm_trainer_step(&tr) == EBM_OK);
    }
    memcpy(out, tr.bm.model.block, sizeof *out * bm_block_size(D));
    ebm_trainer_free(&tr);
    ebm_par_free(&par);
}

/* steps of plain gradient ascent on the exact log-likelihood, in double,
 * from `from` (the trainer's start, or zero when NULL) into out. */
static void exact_fit(const double *xx, const double *mean, const float *from, int steps,
                      float *out)
{
    struct bm fit;
    assert_all(bm_init(&fit, D, 0) == EBM_OK);
    if (from) memcpy(fit.block, from, sizeof *from * bm_block_size(D));
    double ll, gmax;
    assert_all(bm_exact_fit(&fit, xx, mean, 8.0 / (D * (D + 1)), steps, &ll, &gmax) == EBM_OK);
    memcpy(out, fit.block, sizeof *out * bm_block_size(D));
    bm_free(&fit);
}

static double distance(const float *a, const float *b)
{
    double s = 0;
    for (size_t k = 0; k < bm_block_size(D); k++) s += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
    return sqrt(s);
}

/* With the full batch, no momentum and no decay, a step is one step of
 * gradient ascent on the exact log-likelihood: the trainer follows the
 * double-precision path of bm_exact_fit from the same start. */
static void test_bm_train_mpi_exact_negative_follows_gradient_ascent(void **state)
{
    (void)state;
    enum { STEPS = 1500 };
    char data[512];
    snprintf(data, sizeof data, "%s/bm6.h5", mpi_dir);
    double xx[D * D], mean[D];
    write_samples(data, xx, mean);
    float start[D * D + D], path[D * D + D], here[D * D + D], alone[D * D + D];
    struct ebm_config cfg;
    bm_config(&cfg, data, mpi_dir);
    cfg.train.negative = EBM_NEGATIVE_EXACT;
    cfg.train.batch_size = N / mpi_size; /* the full batch */
    cfg.train.lr = 8.0 / (D * (D + 1));  /* below 2 / lambda_max (docs/bm.md) */
    cfg.train.momentum = 0.0;
    run_steps(&cfg, MPI_COMM_WORLD, 0, start);
    run_steps(&cfg, MPI_COMM_WORLD, STEPS, here);
    exact_fit(xx, mean, start, STEPS, path);
    double d = distance(here, path), moved = distance(start, path);
    print_message("exact-negative trainer vs gradient ascent in double: %.3g after moving "
                  "%.3g (%d ranks)\n", d, moved, mpi_size);
    /* Each step rounds the parameters (|theta| < 1.3) to float: 1500
     * roundings of 6e-8 bound the drift by 1.2e-4 along a contracting
     * path; measured 4e-6. */
    assert_all(d < 1e-4 && moved > 1.0);
    /* The same run on one rank: the ranks' sum differs only in rounding. */
    if (mpi_rank == 0) {
        cfg.train.batch_size = N;
        run_steps(&cfg, MPI_COMM_SELF, STEPS, alone);
    }
    MPI_Bcast(alone, D * D + D, MPI_FLOAT, 0, MPI_COMM_WORLD);
    assert_all(distance(here, alone) < 1e-5);
}

static void test_bm_train_mpi_pcd_approaches_the_mle(void **state)
{
    (void)state;
    char data[512];
    snprintf(data, sizeof data, "%s/bm6.h5", mpi_dir);
    double xx[D * D], mean[D];
    write_samples(data, xx, mean);
    float theta[D * D + D], here[D * D + D], start[D * D + D];
    exact_fit(xx, mean, NULL, 20000, theta); /* the MLE: |grad| ~ 1e-9 (docs/bm.md) */
    struct ebm_config cfg;
    bm_config(&cfg, data, mpi_dir);
    cfg.train.batch_size = 200 / mpi_size;
    cfg.train.chains = 1000 / mpi_size;
    cfg.train.lr = 0.2;
    cfg.train.lr_schedule = EBM_LR_LINEAR;
    cfg.train.lr_min = 0.005;
    cfg.train.momentum = 0.5;
    cfg.train.epochs = 167; /* 12 steps per epoch: 2004 steps */
    run_steps(&cfg, MPI_COMM_WORLD, 0, start);
    run_steps(&cfg, MPI_COMM_WORLD, 2004, here);
    double d0 = distance(start, theta), d = distance(here, theta);
    print_message("PCD trainer: distance to the MLE %.3g, from %.3g at the start (%d ranks)\n",
                  d, d0, mpi_size);
    /* 5% of the start, and half the MLE's own expected error sqrt(tr I^-1 / N)
     * = 0.166 (docs/bm.md): PCD's noise is small beside the data's. */
    assert_all(d < 0.05 * d0 && d < 0.166);
}

static void train_run(const struct ebm_config *cfg, const char *resume, float *out, float *chains)
{
    struct ebm_par par;
    assert_all(ebm_par_init(&par, MPI_COMM_WORLD) == EBM_OK);
    struct ebm_trainer tr;
    assert_all(ebm_trainer_init(&tr, cfg, &par) == EBM_OK);
    tr.quiet = 1;
    if (mpi_rank == 0) mkdir(cfg->output.dir, 0777);
    MPI_Barrier(MPI_COMM_WORLD);
    if (resume) assert_all(ebm_trainer_load(&tr, resume) == EBM_OK);
    assert_all(ebm_trainer_run(&tr) == EBM_OK);
    memcpy(out, tr.bm.model.block, sizeof *out * bm_block_size(D));
    memcpy(chains, tr.v_neg, sizeof *chains * (size_t)tr.C * D);
    ebm_trainer_free(&tr);
    ebm_par_free(&par);
}

static void resume_case(int persistent, int spin, const char *tag)
{
    char data[512], dir_a[512], dir_b[512], ckpt[1100];
    snprintf(data, sizeof data, "%s/bm6.h5", mpi_dir);
    snprintf(dir_a, sizeof dir_a, "%s/%s-straight", mpi_dir, tag);
    snprintf(dir_b, sizeof dir_b, "%s/%s-resumed", mpi_dir, tag);
    double xx[D * D], mean[D];
    write_samples(data, xx, mean);
    struct ebm_config cfg;
    bm_config(&cfg, data, dir_a);
    cfg.model.visible = spin ? EBM_UNIT_SPIN : EBM_UNIT_BERNOULLI;
    cfg.train.persistent = persistent;
    cfg.train.batch_size = 50;
    cfg.train.chains = 20;
    cfg.train.k = 2;
    cfg.train.lr = 0.05;
    cfg.train.epochs = 4;
    float a[D * D + D], b[D * D + D], ca[50 * D], cb[50 * D];
    train_run(&cfg, NULL, a, ca);
    snprintf(cfg.output.dir, sizeof cfg.output.dir, "%s", dir_b);
    cfg.train.epochs = 2;
    train_run(&cfg, NULL, b, cb);
    cfg.train.epochs = 4;
    snprintf(ckpt, sizeof ckpt, "%s/ckpt-e000002.h5", dir_b);
    train_run(&cfg, ckpt, b, cb);
    int C = persistent ? 20 : 50;
    assert_all(memcmp(a, b, sizeof a) == 0);
    assert_all(memcmp(ca, cb, sizeof(float) * C * D) == 0);
    assert_all(a[1] != 0.0f); /* training moved the couplings */
    struct bm check;
    bm_view(&check, D, spin, a);
    assert_all(bm_validate(&check) == EBM_OK); /* still symmetric, zero diagonal */
}

static void test_bm_train_mpi_resume_is_bit_exact(void **state)
{
    (void)state;
    resume_case(1, 0, "bm-pcd");
    resume_case(0, 0, "bm-cd");
    resume_case(1, 1, "bm-spin");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_bm_train_mpi_exact_negative_follows_gradient_ascent),
    cmocka_unit_test(test_bm_train_mpi_pcd_approaches_the_mle),
    cmocka_unit_test(test_bm_train_mpi_resume_is_bit_exact),
};

EBM_MPI_TEST_MAIN(tests)
