/* The DBM in the one trainer (model.type = dbm), at 1, 2 and 4 ranks:
 *   mpirun --oversubscribe -np 4 build/tests/mpi/test_dbm_train_mpi
 * - the statistics of a global batch and chain set split over P ranks sum
 *   to the one-rank statistics;
 * - every rank holds the same parameters after training;
 * - 2 epochs + resume for 2 more equals 4 epochs, bit for bit (parameters
 *   and every layer's chains). */
#include "mpiutil.h"

#include "ebm/dbm.h"
#include "ebm/trainer.h"

enum { N = 96, D = 16 };

static void write_rows(const char *path)
{
    int st = EBM_OK;
    if (mpi_rank == 0) {
        uint8_t x[N * D];
        for (int n = 0; n < N; n++)
            for (int i = 0; i < D; i++) x[n * D + i] = (uint8_t)(i / 4 == n % 4 ? 230 : 20);
        remove(path);
        st = ebm_dataset_write_u8(path, "train", x, N, D, NULL, 4, 4);
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    assert_all(st == EBM_OK);
}

static void test_dbm_train_mpi_statistics_sum_over_ranks(void **state)
{
    (void)state;
    enum { GB = 24, GC = 12 };
    static const int sizes[] = { 10, 6, 4 };
    struct dbm g_all, g_local;
    assert_all(dbm_init(&g_all, 2, sizes) == EBM_OK && dbm_init(&g_local, 2, sizes) == EBM_OK);
    float *d[3], *c[3];
    struct ebm_rng r;
    ebm_rng_init(&r, 71, 0, EBM_RNG_TEST);
    for (int k = 0; k < 3; k++) {
        d[k] = malloc(sizeof(float) * GB * sizes[k]);
        c[k] = malloc(sizeof(float) * GC * sizes[k]);
        ebm_rng_uniform(&r, d[k], (size_t)GB * sizes[k]);
        ebm_rng_uniform(&r, c[k], (size_t)GC * sizes[k]);
    }
    struct dbm_state da = { { d[0], d[1], d[2] } }, ca = { { c[0], c[1], c[2] } };
    dbm_statistics(&da, GB, &ca, GC, 1.0f / GB, 1.0f / GC, &g_all);
    int b = GB / mpi_size, cc = GC / mpi_size;
    struct dbm_state dl, cl;
    for (int k = 0; k < 3; k++) {
        dl.x[k] = d[k] + (size_t)mpi_rank * b * sizes[k];
        cl.x[k] = c[k] + (size_t)mpi_rank * cc * sizes[k];
    }
    dbm_statistics(&dl, b, &cl, cc, 1.0f / GB, 1.0f / GC, &g_local);
    MPI_Allreduce(MPI_IN_PLACE, g_local.block, (int)g_local.block_len, MPI_FLOAT, MPI_SUM,
                  MPI_COMM_WORLD);
    double worst = 0;
    for (size_t i = 0; i < g_all.block_len; i++)
        worst = fmax(worst, fabs((double)g_local.block[i] - g_all.block[i]));
    assert_all(worst <= 1e-6); /* 24 terms of at most 1 in another order */
    for (int k = 0; k < 3; k++) {
        free(d[k]);
        free(c[k]);
    }
    dbm_free(&g_all);
    dbm_free(&g_local);
}

static void config(struct ebm_config *cfg, const char *data, const char *dir)
{
    ebm_config_defaults(cfg);
    snprintf(cfg->model.type, sizeof cfg->model.type, "dbm");
    snprintf(cfg->model.layers, sizeof cfg->model.layers, "16,8,6");
    snprintf(cfg->data.path, sizeof cfg->data.path, "%s", data);
    cfg->data.valid_split[0] = '\0';
    cfg->train.batch_size = 8;
    cfg->train.chains = 6;
    cfg->train.lr = 0.05;
    cfg->train.monitor = 16;
    cfg->train.seed = 3;
    snprintf(cfg->output.dir, sizeof cfg->output.dir, "%s", dir);
}

static void train_run(const struct ebm_config *cfg, const char *resume, float *out, float *top)
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
    memcpy(out, tr.dbm.model.block, sizeof *out * tr.dbm.model.block_len);
    memcpy(top, tr.dbm.chains.x[2], sizeof *top * (size_t)tr.C * 6);
    /* every rank holds the same parameters */
    float *root = malloc(sizeof *root * tr.dbm.model.block_len);
    memcpy(root, out, sizeof *root * tr.dbm.model.block_len);
    MPI_Bcast(root, (int)tr.dbm.model.block_len, MPI_FLOAT, 0, MPI_COMM_WORLD);
    assert_all(memcmp(root, out, sizeof *root * tr.dbm.model.block_len) == 0);
    free(root);
    ebm_trainer_free(&tr);
    ebm_par_free(&par);
}

static void test_dbm_train_mpi_resume_is_bit_exact(void **state)
{
    (void)state;
    char data[512], a_dir[512], b_dir[512], ckpt[1100];
    snprintf(data, sizeof data, "%s/rows.h5", mpi_dir);
    snprintf(a_dir, sizeof a_dir, "%s/dbm-straight", mpi_dir);
    snprintf(b_dir, sizeof b_dir, "%s/dbm-resumed", mpi_dir);
    write_rows(data);
    struct ebm_config cfg;
    config(&cfg, data, a_dir);
    cfg.train.epochs = 4;
    enum { NP = 16 * 8 + 8 * 6 + 16 + 8 + 6 };
    float a[NP], b[NP], ta[6 * 6], tb[6 * 6];
    train_run(&cfg, NULL, a, ta);
    snprintf(cfg.output.dir, sizeof cfg.output.dir, "%s", b_dir);
    cfg.train.epochs = 2;
    train_run(&cfg, NULL, b, tb);
    cfg.train.epochs = 4;
    snprintf(ckpt, sizeof ckpt, "%s/ckpt-e000002.h5", b_dir);
    train_run(&cfg, ckpt, b, tb);
    assert_all(memcmp(a, b, sizeof a) == 0);
    assert_all(memcmp(ta, tb, sizeof ta) == 0);
    assert_all(a[0] != 0.0f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dbm_train_mpi_statistics_sum_over_ranks),
    cmocka_unit_test(test_dbm_train_mpi_resume_is_bit_exact),
};

EBM_MPI_TEST_MAIN(tests)
