/* Collective dataset reads. Run with 1, 2 and 4 ranks:
 *   OMPI_MCA_mpi_yield_when_idle=1 mpirun --oversubscribe --allow-run-as-root -np 4 ./test_dataset_mpi
 * Every rank runs every test; each assertion is first agreed over all ranks
 * (assert_all), so a failure fails the test on every rank together and no
 * rank is left behind in a collective call. Only rank 0's cmocka output is
 * shown; other ranks print their own diagnostics, prefixed with the rank. */
#include "testutil.h"

#include <hdf5.h>

#include "ebm/dataset.h"

static int rank, size;
static char dir[256];
static FILE *diag;  /* this rank's diagnostics, also on ranks whose stdio is muted */

static void assert_all_at(int ok, const char *what, const char *file, int line)
{
    int all = 0;
    if (!ok) fprintf(diag, "[rank %d] %s:%d: %s\n", rank, file, line, what);
    fflush(diag);
    assert_int_equal(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), MPI_SUCCESS);
    if (!all) {
        print_error("%s failed on at least one rank\n", what);
        fail();
    }
}
#define assert_all(cond) assert_all_at(!!(cond), #cond, __FILE__, __LINE__)

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* N = 10 rows of D = 3 with x[i][j] = i * 3 + j, y[i] = 100 + i; written by
 * rank 0, visible to all once the status broadcast returns. */
static void write_grid(const char *path, int64_t n)
{
    int st = EBM_OK;
    if (rank == 0) {
        uint8_t x[30];
        int32_t y[10];
        for (int i = 0; i < 30; i++) x[i] = (uint8_t)i;
        for (int i = 0; i < 10; i++) y[i] = 100 + i;
        remove(path);
        st = ebm_dataset_write_u8(path, "train", x, n, 3, y, 0, 0);
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    assert_all(st == EBM_OK);
}

/* Float32 [10, 3] of zeros with a NaN at (row, 1); rank 0 writes it. */
static void write_nan(const char *path, int64_t row)
{
    int ok = 1;
    if (rank == 0) {
        float x[30] = { 0 };
        x[row * 3 + 1] = NAN;
        hsize_t dims[2] = { 10, 3 };
        hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        hid_t group = file >= 0 ? H5Gcreate2(file, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
        hid_t space = H5Screate_simple(2, dims, NULL);
        hid_t dset = group >= 0 ? H5Dcreate2(group, "x", H5T_IEEE_F32LE, space, H5P_DEFAULT,
                                              H5P_DEFAULT, H5P_DEFAULT) : -1;
        ok = dset >= 0 && H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0;
        if (dset >= 0) H5Dclose(dset);
        H5Sclose(space);
        if (group >= 0) H5Gclose(group);
        if (file >= 0 && H5Fclose(file) < 0) ok = 0;
    }
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    assert_all(ok);
}

/* Checks this rank holds exactly global rows [first, first + count) of the
 * grid in write_grid, as ebm_shard_range assigns them. */
static void check_shard(const struct ebm_dataset *ds, int64_t n_total)
{
    int64_t first, count;
    ebm_shard_range(n_total, rank, size, &first, &count);
    assert_all(ds->n_total == n_total);
    assert_all(ds->first == first && ds->n == count && ds->dim == 3);
    int ok = ds->y != NULL;
    for (int64_t i = 0; ok && i < ds->n; i++) {
        int64_t g = ds->first + i;
        ok = ds->y[i] == 100 + g;
        for (int j = 0; j < 3; j++)
            if (ds->x[i * 3 + j] != (float)(g * 3 + j) / 255.0f) ok = 0;
        if (!ok) fprintf(diag, "[rank %d] local row %lld (global %lld) differs\n", rank,
                         (long long)i, (long long)g);
    }
    assert_all(ok);
    /* Independent of ebm_shard_range: shards are contiguous in rank order
     * (first = rows held by lower ranks), cover every row once, and differ
     * in size by at most one, larger ones first. */
    int64_t before = 0, total = 0, prev_n = 0;
    MPI_Exscan(&ds->n, &before, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) before = 0;  /* Exscan leaves rank 0's result undefined */
    MPI_Allreduce(&ds->n, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Sendrecv(&ds->n, 1, MPI_INT64_T, (rank + 1) % size, 0, &prev_n, 1, MPI_INT64_T,
                 (rank + size - 1) % size, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    assert_all(ds->first == before);
    assert_all(total == n_total);
    assert_all(ds->n == n_total / size || ds->n == n_total / size + 1);
    assert_all(rank == 0 || prev_n >= ds->n);
}

static void test_dataset_mpi_shards_are_global_rows(void **state)
{
    (void)state;
    char path[512];
    path_of(path, sizeof path, "grid.h5");
    write_grid(path, 10);
    struct ebm_dataset ds;
    ebm_error_clear();
    ebm_status st = ebm_dataset_read_shard(path, "train", 0, MPI_COMM_WORLD, &ds);
    if (st != EBM_OK) fprintf(diag, "[rank %d] %s\n", rank, ebm_error_message());
    assert_all(st == EBM_OK);
    check_shard(&ds, 10);
    ebm_dataset_free(&ds);
}

static void test_dataset_mpi_limit_shards_first_rows(void **state)
{
    (void)state;
    char path[512];
    path_of(path, sizeof path, "grid-limit.h5");
    write_grid(path, 10);
    struct ebm_dataset ds;
    ebm_error_clear();
    assert_all(ebm_dataset_read_shard(path, "train", 7, MPI_COMM_WORLD, &ds) == EBM_OK);
    check_shard(&ds, 7);
    ebm_dataset_free(&ds);
}

/* With 4 ranks and 3 rows the last rank selects nothing but must still take
 * part in the collective reads. */
static void test_dataset_mpi_fewer_rows_than_ranks(void **state)
{
    (void)state;
    char path[512];
    path_of(path, sizeof path, "grid-3.h5");
    write_grid(path, 3);
    struct ebm_dataset ds;
    ebm_error_clear();
    assert_all(ebm_dataset_read_shard(path, "train", 0, MPI_COMM_WORLD, &ds) == EBM_OK);
    check_shard(&ds, 3);
    ebm_dataset_free(&ds);
}

static void test_dataset_mpi_nan_on_last_rank_fails_everywhere(void **state)
{
    (void)state;
    char path[512], row_text[64];
    path_of(path, sizeof path, "nan.h5");
    int64_t first, count;
    ebm_shard_range(10, size - 1, size, &first, &count);
    int64_t bad = first + count - 1;  /* the last rank's last row */
    write_nan(path, bad);
    snprintf(row_text, sizeof row_text, "/train/x row %lld, column 1 is NaN", (long long)bad);

    struct ebm_dataset ds;
    ebm_error_clear();
    ebm_status st = ebm_dataset_read_shard(path, "train", 0, MPI_COMM_WORLD, &ds);
    const char *msg = ebm_error_message();
    assert_all(st == EBM_ERR_INPUT);
    assert_all(ds.x == NULL && ds.n == 0);
    /* Every rank can report the cause: the failing rank's own message, or
     * the same one relayed from it. */
    if (!strstr(msg, row_text) || !strstr(msg, path))
        fprintf(diag, "[rank %d] message '%s'\n", rank, msg);
    assert_all(strstr(msg, row_text) && strstr(msg, path));
    if (rank != size - 1) assert_all(strstr(msg, "reported by rank") != NULL);
    else assert_all(1);

    /* The communicator is still usable: a good read afterwards works. */
    path_of(path, sizeof path, "grid-after.h5");
    write_grid(path, 10);
    ebm_error_clear();
    assert_all(ebm_dataset_read_shard(path, "train", 0, MPI_COMM_WORLD, &ds) == EBM_OK);
    check_shard(&ds, 10);
    ebm_dataset_free(&ds);
}

static void test_dataset_mpi_missing_split_fails_everywhere(void **state)
{
    (void)state;
    char path[512];
    path_of(path, sizeof path, "grid-split.h5");
    write_grid(path, 10);
    struct ebm_dataset ds;
    ebm_error_clear();
    ebm_status st = ebm_dataset_read_shard(path, "valid", 0, MPI_COMM_WORLD, &ds);
    assert_all(st == EBM_ERR_INPUT);
    assert_all(strstr(ebm_error_message(), "no split 'valid'") != NULL);
}

/* [data] include_labels: rows with labels 101, 104, 105 and 108 of the
 * grid, in global order, wherever they sat; the counts agree over ranks. */
static void test_dataset_mpi_keep_labels_selects_global_rows(void **state)
{
    (void)state;
    char path[512];
    path_of(path, sizeof path, "labels.h5");
    write_grid(path, 10);
    struct ebm_dataset ds;
    assert_all(ebm_dataset_read_shard(path, "train", 0, MPI_COMM_WORLD, &ds) == EBM_OK);
    const int labels[] = { 108, 101, 104, 105 }, rows[] = { 1, 4, 5, 8 };
    assert_all(ebm_dataset_keep_labels(&ds, labels, 4, MPI_COMM_WORLD, path, "train") == EBM_OK);
    assert_all(ds.n_total == 4);
    int ok = 1;
    for (int64_t r = 0; r < ds.n; r++) {
        int g = rows[ds.first + r];
        ok &= ds.y[r] == 100 + g && ds.x[r * 3] == (float)(g * 3) / 255.0f;
    }
    assert_all(ok);
    int64_t sum = ds.n;
    MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    assert_all(sum == 4);
    ebm_dataset_free(&ds);

    /* A selection of nothing, and a split without labels, say so. */
    assert_all(ebm_dataset_read_shard(path, "train", 0, MPI_COMM_WORLD, &ds) == EBM_OK);
    const int none[] = { 7 };
    assert_all(ebm_dataset_keep_labels(&ds, none, 1, MPI_COMM_WORLD, path, "train") ==
               EBM_ERR_INPUT);
    assert_all(strstr(ebm_error_message(), "no row of /train has a label") != NULL);
    ebm_error_clear();
    ebm_dataset_free(&ds);
    path_of(path, sizeof path, "nolabels.h5");
    int st = EBM_OK;
    if (rank == 0) {
        uint8_t x[6] = { 1, 2, 3, 4, 5, 6 };
        remove(path);
        st = ebm_dataset_write_u8(path, "train", x, 2, 3, NULL, 0, 0);
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    assert_all(st == EBM_OK);
    assert_all(ebm_dataset_read_shard(path, "train", 0, MPI_COMM_WORLD, &ds) == EBM_OK);
    assert_all(ebm_dataset_keep_labels(&ds, labels, 1, MPI_COMM_WORLD, path, "train") ==
               EBM_ERR_INPUT);
    assert_all(strstr(ebm_error_message(), "has no labels") != NULL);
    ebm_error_clear();
    ebm_dataset_free(&ds);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dataset_mpi_keep_labels_selects_global_rows),
    cmocka_unit_test(test_dataset_mpi_shards_are_global_rows),
    cmocka_unit_test(test_dataset_mpi_limit_shards_first_rows),
    cmocka_unit_test(test_dataset_mpi_fewer_rows_than_ranks),
    cmocka_unit_test(test_dataset_mpi_nan_on_last_rank_fails_everywhere),
    cmocka_unit_test(test_dataset_mpi_missing_split_fails_everywhere),
};

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* One temporary directory for all ranks, made by rank 0. */
    if (rank == 0) snprintf(dir, sizeof dir, "%s", test_tmpdir());
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);

    diag = stderr;
    if (rank != 0) {
        int fd = dup(STDERR_FILENO);
        diag = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!diag) diag = stderr;
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) {
            perror("freopen");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    MPI_Finalize();
    return failed;
}
