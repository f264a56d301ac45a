/* End to end on a slice of real MNIST (data/mnist.h5, from `make data`):
 * a short training run must lower the reconstruction error; the memory
 * plan of the start-up report is what the trainer really allocates. */
#include "testutil.h"

#include <malloc.h>

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

/* Bytes the heap has handed out, small and mmap'ed blocks alike. */
static double heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return (double)m.uordblks + (double)m.hblkhd;
}

/* The data-parallel plan (ebm/memory_plan.h) against what ebm_trainer_init
 * allocates for a 784-500 PCD RBM on 5,000 rows: about 23 MiB. The plan
 * counts only the trainer's own buffers, so the tolerance is what the
 * HDF5 library keeps for itself after reading (measured under 0.1 MiB)
 * plus 1 %; leaving out a term such as the chains (0.5 MiB) fails. */
static void test_trainer_memory_plan_matches_its_allocations(void **state)
{
    (void)state;
#ifdef __SANITIZE_ADDRESS__
    skip(); /* AddressSanitizer's allocator does not report through mallinfo2 */
#endif
    if (access(mnist, R_OK) != 0) {
        print_error("%s is missing: run `make data` first\n", mnist);
        fail();
    }
    struct ebm_config cfg;
    slice_config(&cfg, "memory");
    cfg.model.hidden = 500;
    struct ebm_par par;
    assert_int_equal(ebm_par_init(&par, MPI_COMM_WORLD), EBM_OK);
    struct ebm_trainer tr;
    double before = heap_in_use();
    assert_int_equal(ebm_trainer_init(&tr, &cfg, &par), EBM_OK);
    double used = heap_in_use() - before, planned = ebm_memory_plan_total(&tr.memory);
    print_message("allocated %.0f bytes, planned %.0f (%+.3f %%)\n", used, planned,
                  100.0 * (used - planned) / planned);
    assert_true(fabs(used - planned) < 0.01 * planned + 131072.0);
    ebm_trainer_free(&tr);
    ebm_par_free(&par);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_trainer_pcd_lowers_reconstruction_error),
    cmocka_unit_test(test_trainer_centered_cd_lowers_reconstruction_error),
    cmocka_unit_test(test_trainer_memory_plan_matches_its_allocations),
};

EBM_TEST_MAIN(tests)
