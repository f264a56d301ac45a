/* End to end on a slice of real MNIST (data/mnist.h5, from `make data`):
 * a short training run must lower the reconstruction error. */
#include "testutil.h"

#include "ebm/trainer.h"

static const char *mnist = "data/mnist.h5";

static void slice_config(struct ebm_config *cfg, const char *dir)
{
    ebm_config_defaults(cfg);
    snprintf(cfg->data.path, sizeof cfg->data.path, "%s", mnist);
    cfg->data.max_examples = 5000;
    cfg->model.hidden = 64;
    cfg->train.batch_size = 50;
    cfg->train.chains = 50;
    cfg->train.epochs = 5;
    cfg->train.lr = 0.1;
    cfg->train.monitor = 500;
    snprintf(cfg->output.dir, sizeof cfg->output.dir, "%s/%s", test_tmpdir(), dir);
}

static void train_slice(bool persistent, bool centering, const char *dir)
{
    if (access(mnist, R_OK) != 0) {
        print_error("%s is missing: run `make data` first\n", mnist);
        fail();
    }
    struct ebm_config cfg;
    slice_config(&cfg, dir);
    cfg.train.persistent = persistent;
    cfg.train.centering = centering;
    struct ebm_par par;
    assert_int_equal(ebm_par_init(&par, MPI_COMM_WORLD), EBM_OK);
    struct ebm_trainer tr;
    assert_int_equal(ebm_trainer_init(&tr, &cfg, &par), EBM_OK);
    tr.quiet = 1;
    mkdir(cfg.output.dir, 0777);
    struct ebm_epoch_metrics before, after;
    assert_int_equal(ebm_trainer_evaluate(&tr, &before), EBM_OK);
    assert_int_equal(ebm_trainer_run(&tr), EBM_OK);
    assert_int_equal(ebm_trainer_evaluate(&tr, &after), EBM_OK);
    /* An untrained RBM reconstructs every image as the mean image, so the
     * error starts near sum_i p_i (1 - p_i) (~65 on thresholded MNIST); five epochs
     * on 5000 images must cut it by more than a third on the training rows
     * and on the held-out (test split) rows alike. */
    print_message("recon error %.2f -> %.2f (held-out %.2f -> %.2f)\n", before.recon_train,
                  after.recon_train, before.recon_valid, after.recon_valid);
    assert_true(after.recon_train < 0.66 * before.recon_train);
    assert_true(after.recon_valid < 0.66 * before.recon_valid);
    assert_true(isfinite(after.fe_gap));
    char path[2048];
    snprintf(path, sizeof path, "%s/metrics.jsonl", cfg.output.dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int lines = 0;
    for (int c; (c = fgetc(f)) != EOF;) lines += c == '\n';
    fclose(f);
    assert_int_equal(lines, 5);
    snprintf(path, sizeof path, "%s/ckpt-e000005.h5", cfg.output.dir);
    assert_int_equal(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/filters.png", cfg.output.dir);
    assert_int_equal(access(path, R_OK), 0);
    ebm_trainer_free(&tr);
    ebm_par_free(&par);
}

static void test_trainer_pcd_lowers_reconstruction_error(void **state)
{
    (void)state;
    train_slice(true, false, "pcd");
}

static void test_trainer_centered_cd_lowers_reconstruction_error(void **state)
{
    (void)state;
    train_slice(false, true, "cd-centered");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_trainer_pcd_lowers_reconstruction_error),
    cmocka_unit_test(test_trainer_centered_cd_lowers_reconstruction_error),
};

EBM_TEST_MAIN(tests)
