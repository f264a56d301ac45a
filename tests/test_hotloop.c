/* The training step allocates nothing: malloc, calloc and realloc calls
 * from ebm's own code are counted through the linker's --wrap (see the
 * Makefile rule for this test), around steps of CD-1, PCD-2 and centered
 * PCD-1. */
#include "testutil.h"

#include "ebm/trainer.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static long allocations;

void *__wrap_malloc(size_t n)
{
    allocations++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    allocations++;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    allocations++;
    return __real_realloc(p, n);
}

static void steps_allocate_nothing(bool persistent, int k, bool centering)
{
    char data[600];
    snprintf(data, sizeof data, "%s/rows.h5", test_tmpdir());
    if (access(data, R_OK) != 0) {
        enum { N = 64, D = 12 };
        uint8_t x[N * D];
        for (int i = 0; i < N * D; i++) x[i] = (uint8_t)((i * 37) % 256);
        assert_int_equal(ebm_dataset_write_u8(data, "train", x, N, D, NULL, 3, 4), EBM_OK);
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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_hotloop_cd1_allocates_nothing),
    cmocka_unit_test(test_hotloop_pcd2_allocates_nothing),
    cmocka_unit_test(test_hotloop_centered_pcd_allocates_nothing),
};

EBM_TEST_MAIN(tests)
