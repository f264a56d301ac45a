/* Checkpoint files: round trips, shape checks, and that an unfinished
 * write never replaces a good checkpoint. */
#include "testutil.h"

#include <sys/stat.h>

#include "ebm/checkpoint.h"

static void path_in_tmp(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", test_tmpdir(), name);
}

static ebm_status write_sample(const char *path, float scale)
{
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_create(&ck, path, MPI_COMM_WORLD));
    float w[6], b[3];
    for (int i = 0; i < 6; i++) w[i] = scale * (float)i;
    for (int i = 0; i < 3; i++) b[i] = -scale * (float)i;
    int64_t wd[2] = { 2, 3 }, bd = 3;
    uint64_t rng[4] = { 1, 2, 3, 0xffffffffffffull };
    ebm_status st = ebm_ckpt_write_f32(&ck, "/model/W", w, 2, wd);
    if (st == EBM_OK) st = ebm_ckpt_write_f32(&ck, "/model/hbias", b, 1, &bd);
    if (st == EBM_OK) st = ebm_ckpt_write_rows_f32(&ck, "/train/chains", w, 2, 3);
    if (st == EBM_OK) st = ebm_ckpt_write_rows_u64(&ck, "/train/rng", rng, 1, 4);
    if (st == EBM_OK) st = ebm_ckpt_attr_str(&ck, "/model", "type", "rbm");
    if (st == EBM_OK) st = ebm_ckpt_attr_i64(&ck, "/train", "step", 1234567890123ll);
    if (st != EBM_OK) {
        ebm_ckpt_abort(&ck);
        return st;
    }
    return ebm_ckpt_commit(&ck);
}

static void test_checkpoint_round_trip(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "round.h5");
    assert_int_equal(write_sample(path, 1.5f), EBM_OK);
    struct ebm_ckpt ck;
    assert_int_equal(ebm_ckpt_open(&ck, path, MPI_COMM_WORLD), EBM_OK);
    float w[6], chains[6];
    int64_t wd[2] = { 2, 3 }, step;
    assert_int_equal(ebm_ckpt_read_f32(&ck, "/model/W", w, 2, wd), EBM_OK);
    for (int i = 0; i < 6; i++) assert_true(w[i] == 1.5f * (float)i);
    assert_int_equal(ebm_ckpt_read_rows_f32(&ck, "/train/chains", chains, 1, 1, 3), EBM_OK);
    assert_true(chains[0] == 1.5f * 3);
    uint64_t rng[4];
    assert_int_equal(ebm_ckpt_read_rows_u64(&ck, "/train/rng", rng, 0, 1, 4), EBM_OK);
    assert_true(rng[3] == 0xffffffffffffull);
    char *type = NULL;
    assert_int_equal(ebm_ckpt_read_attr_str(&ck, "/model", "type", &type), EBM_OK);
    assert_string_equal(type, "rbm");
    free(type);
    assert_int_equal(ebm_ckpt_read_attr_i64(&ck, "/train", "step", &step), EBM_OK);
    assert_true(step == 1234567890123ll);
    ebm_ckpt_close(&ck);
}

static void test_checkpoint_shape_mismatch_is_clear(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "shape.h5");
    assert_int_equal(write_sample(path, 1.0f), EBM_OK);
    struct ebm_ckpt ck;
    assert_int_equal(ebm_ckpt_open(&ck, path, MPI_COMM_WORLD), EBM_OK);
    float w[8];
    int64_t wd[2] = { 2, 4 };
    assert_int_equal(ebm_ckpt_read_f32(&ck, "/model/W", w, 2, wd), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "/model/W has shape [2, 3], expected [2, 4]"));
    assert_non_null(strstr(ebm_error_message(), path));
    ebm_error_clear();
    assert_int_equal(ebm_ckpt_read_f32(&ck, "/model/missing", w, 2, wd), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "no tensor /model/missing"));
    ebm_error_clear();
    ebm_ckpt_close(&ck);
}

static void test_checkpoint_rejects_other_files(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "not-hdf5.h5");
    FILE *f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    struct ebm_ckpt ck;
    assert_int_equal(ebm_ckpt_open(&ck, path, MPI_COMM_WORLD), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "not an ebm checkpoint"));
    ebm_error_clear();
    path_in_tmp(path, sizeof path, "does-not-exist.h5");
    assert_int_equal(ebm_ckpt_open(&ck, path, MPI_COMM_WORLD), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "does-not-exist.h5"));
    ebm_error_clear();
}

static void test_checkpoint_unfinished_write_keeps_old_file(void **state)
{
    (void)state;
    char path[512], tmp[1100];
    path_in_tmp(path, sizeof path, "keep.h5");
    assert_int_equal(write_sample(path, 2.0f), EBM_OK);
    /* A write that stops half way (error, crash or kill) never reaches
     * the final name. */
    struct ebm_ckpt ck;
    assert_int_equal(ebm_ckpt_create(&ck, path, MPI_COMM_WORLD), EBM_OK);
    float w[6] = { 0 };
    int64_t wd[2] = { 2, 3 };
    assert_int_equal(ebm_ckpt_write_f32(&ck, "/model/W", w, 2, wd), EBM_OK);
    snprintf(tmp, sizeof tmp, "%s", ck.tmp_path);
    struct stat sb;
    assert_int_equal(stat(tmp, &sb), 0); /* the partial file exists beside it */
    ebm_ckpt_abort(&ck);
    assert_int_not_equal(stat(tmp, &sb), 0);

    struct ebm_ckpt rd;
    assert_int_equal(ebm_ckpt_open(&rd, path, MPI_COMM_WORLD), EBM_OK);
    assert_int_equal(ebm_ckpt_read_f32(&rd, "/model/W", w, 2, wd), EBM_OK);
    assert_true(w[5] == 10.0f); /* still the first file's values */
    ebm_ckpt_close(&rd);
}

static void test_checkpoint_commit_replaces_atomically(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "replace.h5");
    assert_int_equal(write_sample(path, 1.0f), EBM_OK);
    assert_int_equal(write_sample(path, 3.0f), EBM_OK);
    struct ebm_ckpt rd;
    float w[6];
    int64_t wd[2] = { 2, 3 };
    assert_int_equal(ebm_ckpt_open(&rd, path, MPI_COMM_WORLD), EBM_OK);
    assert_int_equal(ebm_ckpt_read_f32(&rd, "/model/W", w, 2, wd), EBM_OK);
    assert_true(w[1] == 3.0f);
    ebm_ckpt_close(&rd);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_checkpoint_round_trip),
    cmocka_unit_test(test_checkpoint_shape_mismatch_is_clear),
    cmocka_unit_test(test_checkpoint_rejects_other_files),
    cmocka_unit_test(test_checkpoint_unfinished_write_keeps_old_file),
    cmocka_unit_test(test_checkpoint_commit_replaces_atomically),
};

EBM_TEST_MAIN(tests)
