/* HDF5 datasets on a 1-rank world: the writer/reader round trip, sharding
 * arithmetic, and the input errors, each naming the file. */
#include "testutil.h"

#include <hdf5.h>

#include "ebm/dataset.h"

static const char *tmp_path(const char *name)
{
    static char paths[16][512];
    static int next;
    char *path = paths[next++ % 16];
    snprintf(path, 512, "%s/%s", test_tmpdir(), name);
    return path;
}

/* Writes /<split>/x of any type and shape (and /<split>/y when y_len > 0)
 * with the raw HDF5 API, for files ebm_dataset_write_u8 would never make. */
static void write_raw(const char *path, const char *split, hid_t memtype, int ndim,
                      const hsize_t *dims, const void *x, const int32_t *y, hsize_t y_len)
{
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(file >= 0);
    hid_t group = H5Gcreate2(file, split, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(group >= 0);
    hid_t space = H5Screate_simple(ndim, dims, NULL);
    assert_true(space >= 0);
    hid_t dset = H5Dcreate2(group, "x", memtype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(dset >= 0);
    assert_true(H5Dwrite(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    H5Dclose(dset);
    H5Sclose(space);
    if (y_len > 0) {
        space = H5Screate_simple(1, &y_len, NULL);
        dset = H5Dcreate2(group, "y", H5T_NATIVE_INT32, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        assert_true(dset >= 0);
        assert_true(H5Dwrite(dset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) >= 0);
        H5Dclose(dset);
        H5Sclose(space);
    }
    H5Gclose(group);
    assert_true(H5Fclose(file) >= 0);
}

/* Expects the read to fail with EBM_ERR_INPUT, leave `ds` zeroed, and give
 * a one-line message naming the file and containing `what`. */
static void expect_read_error(const char *path, const char *split, const char *what)
{
    struct ebm_dataset ds;
    ebm_error_clear();
    assert_int_equal(ebm_dataset_read_shard(path, split, 0, MPI_COMM_WORLD, &ds), EBM_ERR_INPUT);
    const char *msg = ebm_error_message();
    if (!strstr(msg, path) || !strstr(msg, what)) {
        print_error("message '%s' should name '%s' and say '%s'\n", msg, path, what);
        fail();
    }
    assert_null(strchr(msg, '\n'));
    assert_null(ds.x);
    assert_null(ds.y);
    assert_int_equal(ds.n, 0);
}

/* N = 5 rows of D = 6 (2x3 images), x[i][j] = 50 * i + j, y[i] = i % 3. */
static const char *write_small(const char *name)
{
    const char *path = tmp_path(name);
    uint8_t x[5 * 6];
    int32_t y[5];
    for (int i = 0; i < 5; i++) {
        y[i] = i % 3;
        for (int j = 0; j < 6; j++) x[i * 6 + j] = (uint8_t)(50 * i + j);
    }
    x[29] = 255;
    ebm_error_clear();
    assert_int_equal(ebm_dataset_write_u8(path, "train", x, 5, 6, y, 2, 3), EBM_OK);
    return path;
}

static void test_dataset_round_trip_u8(void **state)
{
    (void)state;
    const char *path = write_small("small.h5");
    struct ebm_dataset ds;
    assert_int_equal(ebm_dataset_read_shard(path, "train", 0, MPI_COMM_WORLD, &ds), EBM_OK);
    assert_int_equal(ds.n_total, 5);
    assert_int_equal(ds.first, 0);
    assert_int_equal(ds.n, 5);
    assert_int_equal(ds.dim, 6);
    assert_int_equal(ds.image_h, 2);
    assert_int_equal(ds.image_w, 3);
    float want[30];
    for (int i = 0; i < 30; i++) want[i] = (float)(50 * (i / 6) + i % 6) / 255.0f;
    want[29] = 1.0f;
    assert_close_f(ds.x, want, 30, 0.0, "x scaled by 1/255");
    assert_true(ds.x[29] == 1.0f);  /* 255 maps to exactly 1 */
    assert_non_null(ds.y);
    for (int i = 0; i < 5; i++) assert_int_equal(ds.y[i], i % 3);
    ebm_dataset_free(&ds);
    assert_null(ds.x);
    assert_int_equal(ds.n, 0);
}

static void test_dataset_limit_caps_rows(void **state)
{
    (void)state;
    const char *path = write_small("limit.h5");
    struct ebm_dataset ds;
    assert_int_equal(ebm_dataset_read_shard(path, "train", 3, MPI_COMM_WORLD, &ds), EBM_OK);
    assert_int_equal(ds.n_total, 3);
    assert_int_equal(ds.n, 3);
    assert_true(ds.x[2 * 6 + 1] == 101.0f / 255.0f);
    assert_int_equal(ds.y[2], 2);
    ebm_dataset_free(&ds);
    /* A limit beyond N reads everything. */
    assert_int_equal(ebm_dataset_read_shard(path, "train", 100, MPI_COMM_WORLD, &ds), EBM_OK);
    assert_int_equal(ds.n_total, 5);
    ebm_dataset_free(&ds);
}

static void test_dataset_shard_range_uneven(void **state)
{
    (void)state;
    const int64_t want[4] = { 3, 3, 2, 2 };
    int64_t next = 0;
    for (int r = 0; r < 4; r++) {
        int64_t first, count;
        ebm_shard_range(10, r, 4, &first, &count);
        assert_int_equal(count, want[r]);
        assert_int_equal(first, next);  /* contiguous, in rank order */
        next += count;
    }
    assert_int_equal(next, 10);  /* covers every row once */

    /* Fewer rows than ranks: the last rank holds none. */
    int64_t first, count;
    ebm_shard_range(3, 3, 4, &first, &count);
    assert_int_equal(count, 0);
    assert_int_equal(first, 3);
    ebm_shard_range(7, 0, 1, &first, &count);
    assert_int_equal(first, 0);
    assert_int_equal(count, 7);
}

static void test_dataset_write_replaces_split(void **state)
{
    (void)state;
    const char *path = write_small("replace.h5");
    uint8_t x[2 * 6] = { 7, 7, 7, 7, 7, 7, 9, 9, 9, 9, 9, 9 };
    assert_int_equal(ebm_dataset_write_u8(path, "test", x, 2, 6, NULL, 0, 0), EBM_OK);
    assert_int_equal(ebm_dataset_write_u8(path, "train", x, 2, 6, NULL, 0, 0), EBM_OK);
    assert_true(ebm_dataset_has_split(path, "train"));
    assert_true(ebm_dataset_has_split(path, "test"));
    assert_false(ebm_dataset_has_split(path, "valid"));
    assert_false(ebm_dataset_has_split(tmp_path("absent.h5"), "train"));

    struct ebm_dataset ds;
    assert_int_equal(ebm_dataset_read_shard(path, "train", 0, MPI_COMM_WORLD, &ds), EBM_OK);
    assert_int_equal(ds.n_total, 2);
    assert_null(ds.y);                /* the replaced split had labels; this one has none */
    assert_int_equal(ds.image_h, 2);  /* image_shape is per file and was kept */
    assert_true(ds.x[6] == 9.0f / 255.0f);
    ebm_dataset_free(&ds);
}

static void test_dataset_write_refuses_non_hdf5(void **state)
{
    (void)state;
    const char *path = tmp_path("notes.txt");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not hdf5\n", f);
    fclose(f);
    uint8_t x[2] = { 1, 2 };
    ebm_error_clear();
    assert_int_equal(ebm_dataset_write_u8(path, "train", x, 1, 2, NULL, 0, 0), EBM_ERR_IO);
    assert_non_null(strstr(ebm_error_message(), path));
    expect_read_error(path, "train", "not an HDF5 file");
}

static void test_dataset_float32_reads_exactly(void **state)
{
    (void)state;
    const char *path = tmp_path("float.h5");
    float x[4 * 3];
    for (int i = 0; i < 12; i++) x[i] = -1.5f + 0.25f * (float)i;
    hsize_t dims[2] = { 4, 3 };
    write_raw(path, "train", H5T_NATIVE_FLOAT, 2, dims, x, NULL, 0);
    struct ebm_dataset ds;
    ebm_error_clear();
    assert_int_equal(ebm_dataset_read_shard(path, "train", 0, MPI_COMM_WORLD, &ds), EBM_OK);
    assert_close_f(ds.x, x, 12, 0.0, "float32 x unscaled");
    assert_int_equal(ds.image_h, 0);
    ebm_dataset_free(&ds);
}

static void test_dataset_float32_nan_names_row(void **state)
{
    (void)state;
    float x[4 * 3] = { 0 };
    hsize_t dims[2] = { 4, 3 };
    x[2 * 3 + 1] = NAN;
    const char *path = tmp_path("nan.h5");
    write_raw(path, "train", H5T_NATIVE_FLOAT, 2, dims, x, NULL, 0);
    expect_read_error(path, "train", "/train/x row 2, column 1 is NaN");
    x[2 * 3 + 1] = 0.0f;
    x[3 * 3 + 2] = -INFINITY;
    path = tmp_path("inf.h5");
    write_raw(path, "train", H5T_NATIVE_FLOAT, 2, dims, x, NULL, 0);
    expect_read_error(path, "train", "/train/x row 3, column 2 is Inf");
}

static void test_dataset_missing_file(void **state)
{
    (void)state;
    expect_read_error(tmp_path("nothing-here.h5"), "train", "no such file");
}

static void test_dataset_missing_split(void **state)
{
    (void)state;
    const char *path = write_small("nosplit.h5");
    expect_read_error(path, "valid", "no split 'valid' (expected dataset /valid/x)");
}

static void test_dataset_wrong_rank_x(void **state)
{
    (void)state;
    uint8_t x[2 * 3 * 4] = { 0 };
    hsize_t dims[3] = { 2, 3, 4 };
    const char *path = tmp_path("rank3.h5");
    write_raw(path, "train", H5T_NATIVE_UINT8, 3, dims, x, NULL, 0);
    expect_read_error(path, "train", "/train/x must be 2-D [N, D], found 3-D");
}

static void test_dataset_wrong_type_x(void **state)
{
    (void)state;
    double x[2 * 3] = { 0 };
    hsize_t dims[2] = { 2, 3 };
    const char *path = tmp_path("double.h5");
    write_raw(path, "train", H5T_NATIVE_DOUBLE, 2, dims, x, NULL, 0);
    expect_read_error(path, "train", "/train/x must be uint8 or float32");
}

static void test_dataset_label_length_mismatch(void **state)
{
    (void)state;
    uint8_t x[4 * 3] = { 0 };
    int32_t y[3] = { 1, 2, 3 };
    hsize_t dims[2] = { 4, 3 };
    const char *path = tmp_path("labels.h5");
    write_raw(path, "train", H5T_NATIVE_UINT8, 2, dims, x, y, 3);
    expect_read_error(path, "train", "/train/y must be 1-D with 4 labels");
}

static void test_dataset_free_is_safe_on_zeroed(void **state)
{
    (void)state;
    struct ebm_dataset ds = { 0 };
    ebm_dataset_free(&ds);
    ebm_dataset_free(NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dataset_round_trip_u8),
    cmocka_unit_test(test_dataset_limit_caps_rows),
    cmocka_unit_test(test_dataset_shard_range_uneven),
    cmocka_unit_test(test_dataset_write_replaces_split),
    cmocka_unit_test(test_dataset_write_refuses_non_hdf5),
    cmocka_unit_test(test_dataset_float32_reads_exactly),
    cmocka_unit_test(test_dataset_float32_nan_names_row),
    cmocka_unit_test(test_dataset_missing_file),
    cmocka_unit_test(test_dataset_missing_split),
    cmocka_unit_test(test_dataset_wrong_rank_x),
    cmocka_unit_test(test_dataset_wrong_type_x),
    cmocka_unit_test(test_dataset_label_length_mismatch),
    cmocka_unit_test(test_dataset_free_is_safe_on_zeroed),
};

EBM_TEST_MAIN(tests)
