/* DBN commands and the bound do not depend on the rank count. Run with 1,
 * 2 and 4 ranks:
 *   mpirun --oversubscribe --allow-run-as-root -np 4 build/tests/mpi/test_dbn_eval_mpi
 * Each result over all ranks is compared with the same computation done
 * by one rank alone on every row or chain. Rows and chains draw from
 * streams keyed by their global index, so only the batching of the float
 * GEMMs differs: values agree to float rounding (tolerances below). Row
 * and chain counts split unevenly, 3 rows leave ranks empty at 4 ranks,
 * and 2049 rows make ranks write different numbers of 1024-row chunks. */
#include "mpiutil.h"
#include "dbnutil.h"
#include "enum.h"

#include <hdf5.h>

#include "ebm/cmd.h"
#include "ebm/dataset.h"
#include "ebm/dbn.h"
#include "ebm/dbn_bound.h"
#include "ebm/evaluate.h"
#include "ebm/gibbs.h"

static const int sizes[] = { 12, 8, 6, 4 };

static void random_dbn(struct dbn *d, float sigma, uint64_t seed)
{
    assert_all(dbn_init(d, 3, sizes) == EBM_OK);
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    size_t n = dbn_parameter_count(d);
    ebm_rng_normal(&r, d->block, n);
    for (size_t i = 0; i < n; i++) d->block[i] *= sigma;
}

/* Rank 0 writes /train (n rows, labels i % 7); everyone waits for it. */
static void write_data(const char *path, int n)
{
    int ok = 1;
    if (mpi_rank == 0) {
        uint8_t *x = malloc((size_t)n * sizes[0]);
        int32_t *y = malloc(sizeof *y * (size_t)n);
        for (int i = 0; i < n * sizes[0]; i++) x[i] = (uint8_t)((i * 97 + i / 13) % 256);
        for (int i = 0; i < n; i++) y[i] = i % 7;
        unlink(path);
        ok = ebm_dataset_write_u8(path, "train", x, n, sizes[0], y, 0, 0) == EBM_OK;
        free(x);
        free(y);
    }
    assert_all(ok);
}

static int close_rel(double a, double b, double tol)
{
    return fabs(a - b) <= tol * fmax(1.0, fabs(b));
}

static void test_dbn_eval_mpi_bound_is_rank_invariant(void **state)
{
    (void)state;
    enum { N = 45, V = 12 };
    struct dbn d;
    random_dbn(&d, 0.8f, 900);
    float *x = malloc(sizeof(float) * N * V);
    for (int i = 0; i < N * V; i++) x[i] = (float)((i * 13) % 11) / 10.0f;
    assert_all(ebm_eval_binarize(x, N, V, 0, 9, 0) == EBM_OK);
    int64_t first, count;
    ebm_shard_range(N, mpi_rank, mpi_size, &first, &count);
    struct ebm_dbn_bound_opts o = { .samples = 7, .ais_runs = 37, .ais_betas = 300,
                                    .reverse = true, .seed = 4 };
    struct ebm_dbn_bound_result all, alone;
    assert_all(ebm_dbn_bound(&d, x + first * V, count, first, &o, MPI_COMM_WORLD, &all) ==
               EBM_OK);
    assert_all(ebm_dbn_bound(&d, x, N, 0, &o, MPI_COMM_SELF, &alone) == EBM_OK);
    if (mpi_rank == 0 && !close_rel(all.bound, alone.bound, 1e-6))
        print_error("bound %.12f on %d ranks vs %.12f on one\n", all.bound, mpi_size,
                    alone.bound);
    /* Relative 1e-6: float GEMMs over differently sized row blocks. */
    assert_all(all.n_examples == N);
    assert_all(close_rel(all.mean_log_integrand, alone.mean_log_integrand, 1e-6));
    assert_all(close_rel(all.bound_se, alone.bound_se, 1e-5));
    assert_all(close_rel(all.log_z, alone.log_z, 1e-6));
    assert_all(close_rel(all.bound, alone.bound, 1e-6));
    assert_all(all.have_reverse && alone.have_reverse && all.reverse_runs == 37);
    assert_all(close_rel(all.reverse_log_z, alone.reverse_log_z, 1e-6));
    /* Exact log Z_top splits its enumeration over the ranks too. */
    o.exact = true;
    assert_all(ebm_dbn_bound(&d, x + first * V, count, first, &o, MPI_COMM_WORLD, &all) ==
               EBM_OK);
    assert_all(ebm_dbn_bound(&d, x, N, 0, &o, MPI_COMM_SELF, &alone) == EBM_OK);
    assert_all(close_rel(all.log_z, alone.log_z, 1e-10));
    assert_all(close_rel(all.bound, alone.bound, 1e-6));
    free(x);
    dbn_free(&d);
}

/* `ebm transform` at this rank count against the pass on every row. */
static void transform_matches(int n, int layer)
{
    char ckpt[512], data[512], out[512], layer_s[8];
    snprintf(ckpt, sizeof ckpt, "%s/tm-dbn.h5", mpi_dir);
    snprintf(data, sizeof data, "%s/tm-data.h5", mpi_dir);
    snprintf(out, sizeof out, "%s/tm-out.h5", mpi_dir);
    snprintf(layer_s, sizeof layer_s, "%d", layer);
    struct dbn d;
    random_dbn(&d, 1.0f, 901);
    assert_all(write_dbn_ckpt(ckpt, &d, no_flaws, 0, 0) == EBM_OK);
    write_data(data, n);
    const char *argv[] = { "transform", ckpt, "--data", data, "--layer", layer_s, "--out", out };
    int rc = ebm_cmd_transform(8, (char **)argv);
    ebm_error_clear();
    assert_all(rc == 0);
    /* Every rank reads the whole of both files on its own. */
    struct ebm_dataset in, f;
    assert_all(ebm_dataset_read_shard(data, "train", 0, MPI_COMM_SELF, &in) == EBM_OK);
    assert_all(ebm_dataset_read_shard(out, "train", 0, MPI_COMM_SELF, &f) == EBM_OK);
    assert_all(f.n_total == n && f.dim == sizes[layer] && f.y != NULL);
    float *want = malloc(sizeof *want * (size_t)n * sizes[layer]);
    float *scratch = malloc(sizeof *scratch * dbn_scratch_floats(&d, n));
    dbn_up_probs(&d, in.x, n, layer, want, scratch);
    double worst = 0;
    for (size_t i = 0; i < (size_t)n * sizes[layer]; i++)
        worst = fmax(worst, fabs((double)f.x[i] - want[i]));
    if (!(worst <= 1e-6))
        fprintf(stderr, "[rank %d] largest feature difference %.3g\n", mpi_rank, worst);
    assert_all(worst <= 1e-6);
    assert_all(memcmp(f.y, in.y, sizeof *f.y * (size_t)n) == 0);
    free(want);
    free(scratch);
    ebm_dataset_free(&in);
    ebm_dataset_free(&f);
    dbn_free(&d);
}

static void test_dbn_eval_mpi_transform_is_rank_invariant(void **state)
{
    (void)state;
    transform_matches(45, 2);
    transform_matches(3, 3);     /* ranks without rows */
    transform_matches(2049, 1);  /* ranks with different numbers of chunks */
}

/* A whole float dataset (rank 0 only). */
static float *read_samples(const char *path, hsize_t dims[2])
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t dset = file < 0 ? -1 : H5Dopen2(file, "/samples", H5P_DEFAULT);
    hid_t space = dset < 0 ? -1 : H5Dget_space(dset);
    float *x = NULL;
    if (space >= 0 && H5Sget_simple_extent_ndims(space) == 2) {
        H5Sget_simple_extent_dims(space, dims, NULL);
        x = malloc(sizeof *x * dims[0] * dims[1]);
        if (H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0) {
            free(x);
            x = NULL;
        }
    }
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    if (file >= 0) H5Fclose(file);
    return x;
}

/* `ebm sample` at this rank count against all chains in one block. */
static void sample_matches(int n, int init_data)
{
    enum { STEPS = 6 };
    char ckpt[512], data[512], out[512], n_s[16];
    snprintf(ckpt, sizeof ckpt, "%s/sm-dbn.h5", mpi_dir);
    snprintf(data, sizeof data, "%s/sm-data.h5", mpi_dir);
    snprintf(out, sizeof out, "%s/sm-out.h5", mpi_dir);
    snprintf(n_s, sizeof n_s, "%d", n);
    struct dbn d;
    random_dbn(&d, 1.0f, 902);
    assert_all(write_dbn_ckpt(ckpt, &d, no_flaws, 0, 0) == EBM_OK);
    write_data(data, n);
    const char *argv[] = { "sample", ckpt, "--n", n_s, "--steps", "6", "--seed", "8", "--out",
                           out, "--init", "data", "--data", data, "--split", "train" };
    int rc = ebm_cmd_sample(init_data ? 16 : 10, (char **)argv);
    ebm_error_clear();
    assert_all(rc == 0);

    /* The reference: the chains of every rank in one block. */
    int T = sizes[2], V = sizes[0];
    float *h = calloc((size_t)n * T, sizeof *h), *pv = calloc((size_t)n * V, sizeof *pv);
    float *scratch = calloc(dbn_scratch_floats(&d, n), sizeof *scratch);
    struct ebm_rng *rng = calloc((size_t)n, sizeof *rng);
    struct ebm_gibbs g;
    assert_all(ebm_gibbs_init(&g, T, sizes[3], n, 0, 8) == EBM_OK);
    if (init_data) {
        struct ebm_dataset ds;
        assert_all(ebm_dataset_read_shard(data, "train", n, MPI_COMM_SELF, &ds) == EBM_OK);
        dbn_up_probs(&d, ds.x, n, 2, h, scratch);
        for (size_t i = 0; i < (size_t)n * T; i++) h[i] = h[i] > 0.5f ? 1.0f : 0.0f;
        ebm_dataset_free(&ds);
    } else {
        ebm_gibbs_random_init(&g, h);
    }
    ebm_gibbs_run(&g, &d.rbm[2], h, STEPS, NULL);
    for (int i = 0; i < n; i++) ebm_rng_init(&rng[i], 8, (uint32_t)i, EBM_RNG_DBN_SAMPLE);
    dbn_down_sample(&d, 2, h, n, rng, pv, scratch);
    int ok = 1;
    if (mpi_rank == 0) {
        hsize_t dims[2] = { 0, 0 };
        float *got = read_samples(out, dims);
        ok = got && dims[0] == (hsize_t)n && dims[1] == (hsize_t)V;
        double worst = 0;
        for (size_t i = 0; ok && i < (size_t)n * V; i++)
            worst = fmax(worst, fabs((double)got[i] - pv[i]));
        /* Means after binary draws: 1e-5 covers GEMM rounding by block size. */
        if (ok && !(worst <= 1e-5)) {
            fprintf(stderr, "largest sample difference %.3g\n", worst);
            ok = 0;
        }
        free(got);
    }
    assert_all(ok);
    ebm_gibbs_free(&g);
    free(h);
    free(pv);
    free(scratch);
    free(rng);
    dbn_free(&d);
}

static void test_dbn_eval_mpi_sample_is_rank_invariant(void **state)
{
    (void)state;
    sample_matches(13, 0);
    sample_matches(13, 1);
    sample_matches(3, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dbn_eval_mpi_bound_is_rank_invariant),
    cmocka_unit_test(test_dbn_eval_mpi_transform_is_rank_invariant),
    cmocka_unit_test(test_dbn_eval_mpi_sample_is_rank_invariant),
};

EBM_MPI_TEST_MAIN(tests)
