/* Data-parallel training invariants. Run with 1, 2 and 4 ranks:
 *   mpirun --oversubscribe -np 4 build/tests/mpi/test_trainer_mpi
 * - the same global batch split over P ranks gives the same summed gradient;
 * - all ranks hold identical parameters after N steps;
 * - 2 epochs + resume for 2 more equals 4 epochs, bit for bit;
 * - a stop requested on one rank stops every rank after the same step, with
 *   a checkpoint that resumes bit for bit;
 * - an elastic resume (P ranks -> P/2 and back) keeps the parameters exactly. */
#include "mpiutil.h"

#include "ebm/cd.h"
#include "ebm/stop.h"
#include "ebm/trainer.h"

enum { N_ROWS = 203, DIM = 16 }; /* N not divisible by 2 or 4 on purpose */

/* Noisy horizontal and vertical bars on a 4x4 grid, written by rank 0. */
static void write_bars(const char *path)
{
    int st = EBM_OK;
    if (mpi_rank == 0) {
        uint8_t x[N_ROWS * DIM];
        struct ebm_rng r;
        ebm_rng_init(&r, 77, 0, EBM_RNG_TEST);
        for (int n = 0; n < N_ROWS; n++) {
            int line = (int)ebm_rng_below(&r, 4), vertical = (int)ebm_rng_below(&r, 2);
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    int on = vertical ? j == line : i == line;
                    x[n * DIM + i * 4 + j] = (uint8_t)(on ? 230 : 20);
                }
        }
        remove(path);
        st = ebm_dataset_write_u8(path, "train", x, N_ROWS, DIM, NULL, 4, 4);
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    assert_all(st == EBM_OK);
}

static void small_config(struct ebm_config *cfg, const char *data, const char *dir)
{
    ebm_config_defaults(cfg);
    snprintf(cfg->data.path, sizeof cfg->data.path, "%s", data);
    cfg->data.valid_split[0] = '\0';
    cfg->model.hidden = 7;
    cfg->train.batch_size = 8;
    cfg->train.chains = 6;
    cfg->train.epochs = 4;
    cfg->train.lr = 0.1;
    cfg->train.momentum = 0.5;
    cfg->train.monitor = 40;
    cfg->train.seed = 5;
    snprintf(cfg->output.dir, sizeof cfg->output.dir, "%s", dir);
}

static void test_trainer_mpi_gradient_sum_is_rank_invariant(void **state)
{
    (void)state;
    /* A global batch of 24 rows and 12 chains, split evenly over P ranks
     * (P in 1, 2, 4): summing the ranks' parts must give the 1-rank result. */
    enum { V = 10, H = 6, GB = 24, GC = 12 };
    struct rbm m, g_local, g_all;
    rbm_init(&m, V, H);
    struct ebm_rng r;
    ebm_rng_init(&r, 61, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, m.block, rbm_block_size(V, H));
    float vd[GB * V], vn[GC * V], phd[GB * H], phn[GC * H], hm_local[H], hm_all[H];
    ebm_rng_uniform(&r, vd, GB * V);
    ebm_rng_uniform(&r, vn, GC * V);
    for (int i = 0; i < GB * V; i++) vd[i] = vd[i] < 0.4f;
    for (int i = 0; i < GC * V; i++) vn[i] = vn[i] < 0.6f;
    rbm_hidden_probs(&m, vd, GB, phd);
    rbm_hidden_probs(&m, vn, GC, phn);
    rbm_init(&g_local, V, H);
    rbm_init(&g_all, V, H);
    cd_statistics(vd, phd, GB, vn, phn, GC, 1.0f / GB, 1.0f / GC, &g_all, hm_all);

    int b = GB / mpi_size, c = GC / mpi_size;
    cd_statistics(vd + mpi_rank * b * V, phd + mpi_rank * b * H, b, vn + mpi_rank * c * V,
                  phn + mpi_rank * c * H, c, 1.0f / GB, 1.0f / GC, &g_local, hm_local);
    size_t n = rbm_block_size(V, H);
    MPI_Allreduce(MPI_IN_PLACE, g_local.block, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    /* Only the order of float additions differs: |terms| <= 1, 24 of them. */
    double worst = 0;
    for (size_t k = 0; k < n; k++) worst = fmax(worst, fabs(g_local.block[k] - g_all.block[k]));
    if (mpi_rank == 0 && worst > 1e-6) print_error("largest difference %.3g\n", worst);
    assert_all(worst <= 1e-6);
    rbm_free(&m);
    rbm_free(&g_local);
    rbm_free(&g_all);
}

static void test_trainer_mpi_ranks_hold_identical_parameters(void **state)
{
    (void)state;
    char data[512], dir[512];
    snprintf(data, sizeof data, "%s/bars.h5", mpi_dir);
    snprintf(dir, sizeof dir, "%s/identical", mpi_dir);
    write_bars(data);
    struct ebm_config cfg;
    small_config(&cfg, data, dir);
    cfg.train.centering = true;
    struct ebm_par par;
    assert_all(ebm_par_init(&par, MPI_COMM_WORLD) == EBM_OK);
    struct ebm_trainer tr;
    assert_all(ebm_trainer_init(&tr, &cfg, &par) == EBM_OK);
    ebm_trainer_begin_epoch(&tr);
    for (int s = 0; s < (int)tr.steps_per_epoch; s++) assert_all(ebm_trainer_step(&tr) == EBM_OK);
    size_t n = rbm_block_size(tr.V, tr.H);
    float *mine = tr.model.block, *root = malloc(n * sizeof *root);
    memcpy(root, mine, n * sizeof *root);
    MPI_Bcast(root, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
    assert_all(memcmp(root, mine, n * sizeof *root) == 0);
    /* ...and training moved them. */
    assert_all(tr.step == tr.steps_per_epoch && tr.step > 0);
    free(root);
    ebm_trainer_free(&tr);
    ebm_par_free(&par);
}

static void train_epochs(const struct ebm_config *cfg, const char *resume, float *out_w)
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
    memcpy(out_w, tr.model.block, rbm_block_size(tr.V, tr.H) * sizeof *out_w);
    ebm_trainer_free(&tr);
    ebm_par_free(&par);
}

static void resume_case(int persistent, int centering, const char *tag)
{
    char data[512], dir_a[512], dir_b[512], ckpt[1100];
    snprintf(data, sizeof data, "%s/bars.h5", mpi_dir);
    snprintf(dir_a, sizeof dir_a, "%s/%s-straight", mpi_dir, tag);
    snprintf(dir_b, sizeof dir_b, "%s/%s-resumed", mpi_dir, tag);
    write_bars(data);
    struct ebm_config cfg;
    small_config(&cfg, data, dir_a);
    cfg.train.persistent = persistent;
    cfg.train.centering = centering;
    size_t n = rbm_block_size(DIM, cfg.model.hidden);
    float *straight = malloc(n * sizeof *straight), *resumed = malloc(n * sizeof *resumed);
    train_epochs(&cfg, NULL, straight);

    snprintf(cfg.output.dir, sizeof cfg.output.dir, "%s", dir_b);
    cfg.train.epochs = 2;
    train_epochs(&cfg, NULL, resumed);
    cfg.train.epochs = 4;
    snprintf(ckpt, sizeof ckpt, "%s/ckpt-e000002.h5", dir_b);
    train_epochs(&cfg, ckpt, resumed);
    assert_all(memcmp(straight, resumed, n * sizeof *straight) == 0);
    /* Guard against a vacuous pass: training changed the weights. */
    assert_all(straight[0] != 0.0f);
    free(straight);
    free(resumed);
}

static void test_trainer_mpi_resume_is_bit_exact_pcd(void **state)
{
    (void)state;
    resume_case(1, 1, "pcd");
}

static void test_trainer_mpi_resume_is_bit_exact_cd(void **state)
{
    (void)state;
    resume_case(0, 0, "cd");
}

static void test_trainer_mpi_stop_on_one_rank_stops_all(void **state)
{
    (void)state;
    char data[512], dir_a[512], dir_b[512];
    snprintf(data, sizeof data, "%s/bars.h5", mpi_dir);
    snprintf(dir_a, sizeof dir_a, "%s/stop-straight", mpi_dir);
    snprintf(dir_b, sizeof dir_b, "%s/stop-resumed", mpi_dir);
    write_bars(data);
    struct ebm_config cfg;
    small_config(&cfg, data, dir_a);
    cfg.train.epochs = 3;
    cfg.train.centering = true;
    size_t n = rbm_block_size(DIM, cfg.model.hidden);
    float *straight = malloc(n * sizeof *straight), *resumed = malloc(n * sizeof *resumed);
    train_epochs(&cfg, NULL, straight);

    snprintf(cfg.output.dir, sizeof cfg.output.dir, "%s", dir_b);
    struct ebm_par par;
    assert_all(ebm_par_init(&par, MPI_COMM_WORLD) == EBM_OK);
    struct ebm_trainer tr;
    assert_all(ebm_trainer_init(&tr, &cfg, &par) == EBM_OK);
    tr.quiet = 1;
    if (mpi_rank == 0) mkdir(dir_b, 0777);
    MPI_Barrier(MPI_COMM_WORLD);
    /* Some steps into epoch 1, the last rank alone is asked to stop. */
    ebm_trainer_begin_epoch(&tr);
    int64_t before = tr.steps_per_epoch / 2;
    for (int64_t s = 0; s < before; s++) assert_all(ebm_trainer_step(&tr) == EBM_OK);
    if (mpi_rank == mpi_size - 1) ebm_stop_request();
    ebm_status st = ebm_trainer_run(&tr);
    ebm_stop_reset();
    ebm_error_clear();
    assert_all(st == EBM_ERR_STOPPED);
    int64_t lo = tr.step, hi = tr.step;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    assert_all(lo == hi && hi == before + 1); /* every rank finished the same step */
    char ckpt[1100];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt-e000000-s%09lld.h5", dir_b, (long long)(before + 1));
    assert_all(strcmp(tr.checkpoint_path, ckpt) == 0);
    ebm_trainer_free(&tr);
    ebm_par_free(&par);

    train_epochs(&cfg, ckpt, resumed);
    assert_all(memcmp(straight, resumed, n * sizeof *straight) == 0);
    free(straight);
    free(resumed);
}

/* Trains 2 epochs on the first `from` ranks, resumes on the first `to`
 * ranks (the others idle): the loaded parameters must equal the saved ones
 * bit for bit, and training must go on. */
static void elastic_case(int from, int to, const char *tag)
{
    char data[512], dir[512], ckpt[1100];
    snprintf(data, sizeof data, "%s/bars.h5", mpi_dir);
    snprintf(dir, sizeof dir, "%s/elastic-%s", mpi_dir, tag);
    write_bars(data);
    struct ebm_config cfg;
    small_config(&cfg, data, dir);
    cfg.train.epochs = 2;
    cfg.train.centering = true;
    size_t n = rbm_block_size(DIM, cfg.model.hidden);
    float *saved = calloc(n, sizeof *saved);
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, mpi_rank < from ? 0 : MPI_UNDEFINED, mpi_rank, &sub);
    if (sub != MPI_COMM_NULL) {
        struct ebm_par par;
        struct ebm_trainer tr = { 0 };
        int ok = ebm_par_init(&par, sub) == EBM_OK && ebm_trainer_init(&tr, &cfg, &par) == EBM_OK;
        tr.quiet = 1;
        if (mpi_rank == 0) mkdir(dir, 0777);
        MPI_Barrier(sub);
        ok = ok && ebm_trainer_run(&tr) == EBM_OK;
        if (ok) memcpy(saved, tr.model.block, n * sizeof *saved);
        ebm_trainer_free(&tr);
        ebm_par_free(&par);
        MPI_Comm_free(&sub);
        assert_true(ok);
    }
    MPI_Bcast(saved, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
    snprintf(ckpt, sizeof ckpt, "%s/ckpt-e000002.h5", dir);
    MPI_Comm_split(MPI_COMM_WORLD, mpi_rank < to ? 0 : MPI_UNDEFINED, mpi_rank, &sub);
    int ok = 1;
    if (sub != MPI_COMM_NULL) {
        struct ebm_par par;
        struct ebm_trainer tr = { 0 };
        cfg.train.epochs = 3;
        ok = ebm_par_init(&par, sub) == EBM_OK && ebm_trainer_init(&tr, &cfg, &par) == EBM_OK &&
             ebm_trainer_load(&tr, ckpt) == EBM_OK;
        tr.quiet = 1;
        ok = ok && memcmp(saved, tr.model.block, n * sizeof *saved) == 0;
        ok = ok && tr.epoch == 2 && (from == to || strstr(tr.resume_note, "elastic resume"));
        ok = ok && ebm_trainer_run(&tr) == EBM_OK && tr.epoch == 3;
        ebm_trainer_free(&tr);
        ebm_par_free(&par);
        MPI_Comm_free(&sub);
    }
    assert_all(ok);
    free(saved);
}

static void test_trainer_mpi_elastic_resume_to_fewer_ranks(void **state)
{
    (void)state;
    elastic_case(mpi_size, mpi_size > 1 ? mpi_size / 2 : 1, "shrink");
}

static void test_trainer_mpi_elastic_resume_to_more_ranks(void **state)
{
    (void)state;
    elastic_case(mpi_size > 1 ? mpi_size / 2 : 1, mpi_size, "grow");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_trainer_mpi_stop_on_one_rank_stops_all),
    cmocka_unit_test(test_trainer_mpi_elastic_resume_to_fewer_ranks),
    cmocka_unit_test(test_trainer_mpi_elastic_resume_to_more_ranks),
    cmocka_unit_test(test_trainer_mpi_gradient_sum_is_rank_invariant),
    cmocka_unit_test(test_trainer_mpi_ranks_hold_identical_parameters),
    cmocka_unit_test(test_trainer_mpi_resume_is_bit_exact_pcd),
    cmocka_unit_test(test_trainer_mpi_resume_is_bit_exact_cd),
};

EBM_MPI_TEST_MAIN(tests)
