/* The training step allocates nothing: malloc, calloc and realloc calls
 * from ebm's own code are counted through the linker's --wrap (see the
 * Makefile rule for this test), around steps of CD-1, PCD-2 and centered
 * PCD-1, Gaussian, spin and labelled RBMs, the fully visible BM (PCD and
 * exact), the DBM, a DBN stage's steps with its feature link, fine-tuning epochs and
 * the MCMC samplers. */
#include "testutil.h"

#include "allocwrap.h"

#include "ebm/feature_link.h"
#include "ebm/mcmc.h"
#include "ebm/mlp.h"
#include "ebm/trainer.h"

/* A variant of the model beyond the Bernoulli RBM's keys. */
enum variant { PLAIN, GAUSSIAN, SPIN, BM, BM_EXACT, LABELS, DBM };

static void variant_steps_allocate_nothing(bool persistent, int k, bool centering,
                                           enum variant var)
{
    char data[600];
    snprintf(data, sizeof data, "%s/rows.h5", test_tmpdir());
    if (access(data, R_OK) != 0) {
        enum { N = 64, D = 12 };
        uint8_t x[N * D];
        int32_t y[N];
        for (int i = 0; i < N * D; i++) x[i] = (uint8_t)((i * 37) % 256);
        for (int i = 0; i < N; i++) y[i] = i % 3;
        assert_int_equal(ebm_dataset_write_u8(data, "train", x, N, D, y, 3, 4), EBM_OK);
    }
    struct ebm_config cfg;
    ebm_config_defaults(&cfg);
    snprintf(cfg.data.path, sizeof cfg.data.path, "%s", data);
    cfg.data.valid_split[0] = '\0';
    cfg.model.hidden = 5;
    cfg.train.batch_size = 8;
    cfg.train.chains = 4;
    cfg.train.k = k;
    cfg.train.persistent = persistent;
    cfg.train.centering = centering;
    if (var == GAUSSIAN) {
        cfg.model.visible = EBM_UNIT_GAUSSIAN;
        cfg.data.binarize = EBM_BINARIZE_NONE;
        cfg.data.standardize = true;
    }
    if (var == SPIN) cfg.model.visible = cfg.model.hidden_type = EBM_UNIT_SPIN;
    if (var == BM || var == BM_EXACT) snprintf(cfg.model.type, sizeof cfg.model.type, "bm");
    if (var == BM_EXACT) cfg.train.negative = EBM_NEGATIVE_EXACT;
    if (var == LABELS) cfg.model.labels = 3;
    if (var == DBM) {
        snprintf(cfg.model.type, sizeof cfg.model.type, "dbm");
        snprintf(cfg.model.layers, sizeof cfg.model.layers, "12,5,4");
    }
    assert_int_equal(ebm_config_validate(&cfg), EBM_OK);
    struct ebm_par par;
    assert_int_equal(ebm_par_init(&par, MPI_COMM_WORLD), EBM_OK);
    struct ebm_trainer tr;
    assert_int_equal(ebm_trainer_init(&tr, &cfg, &par), EBM_OK);
    ebm_trainer_begin_epoch(&tr);
    long before = allocations;
    for (int s = 0; s < (int)tr.steps_per_epoch; s++)
        assert_int_equal(ebm_trainer_step(&tr), EBM_OK);
    assert_int_equal(allocations - before, 0);
    /* The counter does see ebm's allocations: */
    ebm_trainer_free(&tr);
    before = allocations;
    assert_int_equal(ebm_trainer_init(&tr, &cfg, &par), EBM_OK);
    assert_true(allocations > before);
    ebm_trainer_free(&tr);
    ebm_par_free(&par);
}

static void steps_allocate_nothing(bool persistent, int k, bool centering)
{
    variant_steps_allocate_nothing(persistent, k, centering, PLAIN);
}

/* Gaussian (learned sigma), spin-spin, label units, the fully visible BM by
 * PCD and by the exact gradient, and the DBM (mean field and chains). */
static void test_hotloop_model_variants_allocate_nothing(void **state)
{
    (void)state;
    const enum variant vars[] = { GAUSSIAN, SPIN, LABELS, BM, BM_EXACT, DBM };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        variant_steps_allocate_nothing(true, 1, false, vars[i]);
}

/* A fine-tuning epoch: forward, backprop, the allreduce and the update. */
static void test_hotloop_finetune_epoch_allocates_nothing(void **state)
{
    (void)state;
    enum { N = 40, D = 6, H = 4 };
    float x[N * D];
    int32_t y[N];
    for (int i = 0; i < N * D; i++) x[i] = (float)((i * 37) % 256) / 255.0f;
    for (int i = 0; i < N; i++) y[i] = i % 3;
    struct ebm_dataset ds = { .n_total = N, .n = N, .dim = D, .x = x, .y = y };
    const int sizes[] = { D, H };
    struct dbn d;
    assert_int_equal(dbn_init(&d, 1, sizes), EBM_OK);
    struct ebm_mlp m;
    assert_int_equal(ebm_mlp_from_dbn(&m, &d, 3), EBM_OK);
    struct ebm_par par;
    assert_int_equal(ebm_par_init(&par, MPI_COMM_SELF), EBM_OK);
    struct ebm_mlp_opts o = { .epochs = 2, .batch = 8, .lr = 0.1f, .lr_end = 0.1f,
                              .momentum = 0.9f, .seed = 1 };
    struct ebm_mlp_trainer tr;
    assert_int_equal(ebm_mlp_trainer_init(&tr, &m, &par, &ds, &o), EBM_OK);
    double loss, err;
    long before = allocations;
    for (int e = 0; e < 2; e++) assert_int_equal(ebm_mlp_train_epoch(&tr, &m, e, &loss, &err), EBM_OK);
    assert_int_equal(allocations - before, 0);
    ebm_mlp_trainer_free(&tr);
    ebm_mlp_free(&m);
    dbn_free(&d);
    ebm_par_free(&par);
}

static void test_hotloop_cd1_allocates_nothing(void **state)
{
    (void)state;
    steps_allocate_nothing(false, 1, false);
}

static void test_hotloop_pcd2_allocates_nothing(void **state)
{
    (void)state;
    steps_allocate_nothing(true, 2, false);
}

static void test_hotloop_centered_pcd_allocates_nothing(void **state)
{
    (void)state;
    steps_allocate_nothing(true, 1, true);
}

/* A DBN stage: batches from ebm_trainer_load_rows, features sent up and
 * taken back through a link from this rank to itself. */
static void test_hotloop_pipeline_stage_allocates_nothing(void **state)
{
    (void)state;
    enum { V = 6, H = 4, B = 5, S = 12 };
    struct ebm_config cfg;
    ebm_config_defaults(&cfg);
    cfg.model.hidden = H;
    cfg.train.batch_size = B;
    cfg.train.chains = 3;
    cfg.train.centering = true;
    cfg.train.monitor = 4;
    cfg.data.binarize = EBM_BINARIZE_STOCHASTIC;
    struct ebm_par par;
    assert_int_equal(ebm_par_init(&par, MPI_COMM_WORLD), EBM_OK);
    float marginals[V] = { 0.2f, 0.4f, 0.5f, 0.6f, 0.7f, 0.9f }, x[B * V];
    for (int i = 0; i < B * V; i++) x[i] = (float)(i % 7) / 7.0f;
    struct ebm_trainer tr;
    assert_int_equal(ebm_trainer_init_fed(&tr, &cfg, &par, V, S, marginals), EBM_OK);
    struct ebm_link_ends e = { .comm = MPI_COMM_SELF, .tag = 3, .up_first = 0, .up_size = 1,
                               .down_first = 0, .down_size = 1, .down_steps = S, .depth = 2,
                               .batch_len = (size_t)B * H };
    struct ebm_link_out out;
    struct ebm_link_in in;
    assert_int_equal(ebm_link_out_init(&out, &e, 0), EBM_OK);
    assert_int_equal(ebm_link_in_init(&in, &e, 0), EBM_OK);
    long before = allocations;
    assert_int_equal(ebm_link_in_begin_epoch(&in), EBM_OK);
    for (int k = 0; k < S; k++) {
        ebm_trainer_load_rows(&tr, x);
        assert_int_equal(ebm_trainer_update(&tr), EBM_OK);
        assert_int_equal(ebm_link_out_put(&out, k, tr.ph_data), EBM_OK);
        const float *got;
        assert_int_equal(ebm_link_in_take(&in, k, &got), EBM_OK);
    }
    assert_int_equal(ebm_link_out_end_epoch(&out), EBM_OK);
    assert_int_equal(allocations - before, 0);
    ebm_link_out_free(&out);
    ebm_link_in_free(&in);
    ebm_trainer_free(&tr);
    ebm_par_free(&par);
}

/* Metropolis-Hastings on an RBM, MALA on a Gaussian-Bernoulli RBM. */
static void test_hotloop_mcmc_allocates_nothing(void **state)
{
    (void)state;
    enum { V = 5, H = 3, C = 4, STEPS = 20 };
    struct rbm m;
    assert_int_equal(rbm_init(&m, V, H), EBM_OK);
    struct ebm_rng r;
    ebm_rng_init(&r, 5, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, m.block, rbm_block_size(V, H));
    float x[C * V];
    struct rbm g;
    assert_int_equal(rbm_init_typed(&g, V, H, EBM_UNIT_GAUSSIAN, EBM_UNIT_BERNOULLI), EBM_OK);
    memcpy(g.block, m.block, sizeof(float) * rbm_block_size(V, H)); /* log sigma stays 0 */
    struct ebm_target t[2];
    assert_int_equal(ebm_target_rbm(&m, &t[0]), EBM_OK);
    assert_int_equal(ebm_target_rbm(&g, &t[1]), EBM_OK);
    struct ebm_mcmc_opts o[2] = { { .kind = EBM_MCMC_MH, .scan = EBM_SCAN_RANDOM },
                                  { .kind = EBM_MCMC_MALA, .step = 0.1 } };
    double trace[C * STEPS];
    for (int i = 0; i < 2; i++) {
        struct ebm_mcmc s;
        assert_int_equal(ebm_mcmc_init(&s, &t[i], &o[i], C, 0, 1), EBM_OK);
        ebm_mcmc_random_init(&s, x);
        struct ebm_mcmc_counts c = { 0 };
        long before = allocations;
        ebm_mcmc_run(&s, x, STEPS, &c);
        ebm_mcmc_run_trace(&s, x, STEPS, 1, trace, STEPS, &c);
        assert_int_equal(allocations - before, 0);
        assert_true(c.proposed > 0);
        ebm_mcmc_free(&s);
    }
    rbm_free(&g);
    rbm_free(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_hotloop_model_variants_allocate_nothing),
    cmocka_unit_test(test_hotloop_finetune_epoch_allocates_nothing),
    cmocka_unit_test(test_hotloop_pipeline_stage_allocates_nothing),
    cmocka_unit_test(test_hotloop_mcmc_allocates_nothing),
    cmocka_unit_test(test_hotloop_cd1_allocates_nothing),
    cmocka_unit_test(test_hotloop_pcd2_allocates_nothing),
    cmocka_unit_test(test_hotloop_centered_pcd_allocates_nothing),
};

EBM_TEST_MAIN(tests)
