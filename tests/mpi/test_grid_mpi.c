/* Replicas and process grids (ebm/grid.h) and block-cyclic matrices with
 * their PSGEMM product (ebm/dmatrix.h), on every grid the rank count
 * allows: 1x1 at 1 rank; 1x2, 2x1 (and two 1x1 replicas) at 2; 2x2, 1x4,
 * 4x1, 1x2 and 2x1 as two replicas at 4. The product is held to the plain
 * triple loop (ebm_gemm_ref) and to a serial cblas_sgemm (ebm_gemm) for
 * shapes no block size divides, and the
 * checkpoint holds the whole matrix whatever grid wrote or reads it. */
#include "gridutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/checkpoint.h"
#include "ebm/dmatrix.h"
#include "ebm/grid.h"
#include "ebm/kernels.h"
#include "ebm/rng.h"

static void test_grid_parse(void **state)
{
    (void)state;
    int r, c;
    assert_int_equal(ebm_grid_parse("2x3", &r, &c), EBM_OK);
    assert_true(r == 2 && c == 3);
    assert_int_equal(ebm_grid_parse("1x1", &r, &c), EBM_OK);
    static const char *bad[] = { "", "2", "2x", "x2", "0x2", "2x0", "2x2x", "2X2", "-1x2",
                                 "2x 2", "5000x1" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(ebm_grid_parse(bad[i], &r, &c), EBM_ERR_INPUT);
        assert_non_null(strstr(ebm_error_message(), "expected PrxPc"));
        ebm_error_clear();
    }
}

static void test_grid_layout(void **state)
{
    (void)state;
    int rows[16], cols[16], n = grids_of(mpi_size, rows, cols);
    for (int t = 0; t < n; t++) {
        struct ebm_grid g;
        assert_all(ebm_grid_init(&g, MPI_COMM_WORLD, rows[t], cols[t]) == EBM_OK);
        int per = rows[t] * cols[t], rs, as;
        MPI_Comm_size(g.replica_comm, &rs);
        MPI_Comm_size(g.across_comm, &as);
        assert_all(g.replicas == mpi_size / per && g.replica == mpi_rank / per);
        assert_all(g.row == mpi_rank % per / cols[t] && g.col == mpi_rank % per % cols[t]);
        assert_all(rs == per && as == g.replicas);
        ebm_grid_free(&g);
    }
    struct ebm_grid g;
    assert_all(ebm_grid_init(&g, MPI_COMM_WORLD, 3, 1) == EBM_ERR_INPUT);
    assert_all(strstr(ebm_error_message(), "do not divide") != NULL);
    ebm_error_clear();
}

/* Every local entry maps to a global one that maps back to it, and the
 * replica's shares cover the matrix once. */
static void test_dmatrix_layout(void **state)
{
    (void)state;
    int rows[16], cols[16], n = grids_of(mpi_size, rows, cols);
    for (int t = 0; t < n; t++) {
        struct ebm_grid g;
        assert_all(ebm_grid_init(&g, MPI_COMM_WORLD, rows[t], cols[t]) == EBM_OK);
        struct ebm_dmatrix a;
        assert_all(ebm_dmatrix_init(&a, &g, 37, 23, 4, 5) == EBM_OK);
        int ok = 1;
        for (int lc = 0; lc < a.local_cols; lc++)
            for (int lr = 0; lr < a.local_rows; lr++) {
                int i = ebm_dmatrix_global_row(&a, lr), j = ebm_dmatrix_global_col(&a, lc);
                int orow, ocol, r2, c2;
                ebm_dmatrix_locate(&a, i, j, &orow, &ocol, &r2, &c2);
                ok &= i >= 0 && i < 37 && j >= 0 && j < 23;
                ok &= orow == g.row && ocol == g.col && r2 == lr && c2 == lc;
            }
        assert_all(ok);
        long long mine = (long long)a.local_rows * a.local_cols, all = 0;
        MPI_Allreduce(&mine, &all, 1, MPI_LONG_LONG, MPI_SUM, g.replica_comm);
        assert_all(all == 37 * 23);
        ebm_dmatrix_free(&a);
        ebm_grid_free(&g);
    }
}

static void fill(float *x, size_t n, uint64_t seed)
{
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST); /* the same numbers on every rank */
    ebm_rng_normal(&r, x, n);
}

/* One product on grid g against the triple loop and against one serial
 * cblas_sgemm (ebm_gemm): each entry within the float error bound of a
 * k-term dot product, (k + 2) u sum |a_il b_lj| (plus the beta term),
 * u = 2^-24, for each of the two sides compared. */
static int check_product(const struct ebm_grid *g, bool ta, bool tb, int m, int n, int k, int nb)
{
    int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    float *A = malloc(sizeof(float) * (size_t)ar * ac);
    float *B = malloc(sizeof(float) * (size_t)br * bc);
    float *C = malloc(sizeof(float) * (size_t)m * n), *ref = malloc(sizeof(float) * (size_t)m * n);
    float *got = malloc(sizeof(float) * (size_t)m * n), *blas = malloc(sizeof(float) * (size_t)m * n);
    fill(A, (size_t)ar * ac, 1 + (uint64_t)m);
    fill(B, (size_t)br * bc, 2 + (uint64_t)n);
    fill(C, (size_t)m * n, 3 + (uint64_t)k);
    const float alpha = 0.75f, beta = -0.5f;
    memcpy(ref, C, sizeof(float) * (size_t)m * n);
    ebm_gemm_ref(ta, tb, m, n, k, alpha, A, ac, B, bc, beta, ref, n);
    memcpy(blas, C, sizeof(float) * (size_t)m * n);
    ebm_gemm(ta, tb, m, n, k, alpha, A, ac, B, bc, beta, blas, n);
    struct ebm_dmatrix dA = { 0 }, dB = { 0 }, dC = { 0 };
    int ok = ebm_dmatrix_init(&dA, g, ar, ac, nb, nb) == EBM_OK &&
             ebm_dmatrix_init(&dB, g, br, bc, nb, nb) == EBM_OK &&
             ebm_dmatrix_init(&dC, g, m, n, nb, nb) == EBM_OK;
    if (ok) {
        ebm_dmatrix_from_global(&dA, A, ac);
        ebm_dmatrix_from_global(&dB, B, bc);
        ebm_dmatrix_from_global(&dC, C, n);
        ok = ebm_pgemm(ta, tb, alpha, &dA, &dB, beta, &dC) == EBM_OK &&
             ebm_dmatrix_to_global(&dC, g, got, n) == EBM_OK;
    }
    for (int i = 0; ok && i < m; i++)
        for (int j = 0; j < n; j++) {
            double mag = fabs((double)beta * C[(size_t)i * n + j]);
            for (int l = 0; l < k; l++) {
                double a = ta ? A[(size_t)l * ac + i] : A[(size_t)i * ac + l];
                double b = tb ? B[(size_t)j * bc + l] : B[(size_t)l * bc + j];
                mag += fabs((double)alpha * a * b);
            }
            double tol = (k + 2) * ldexp(1.0, -24) * mag * 2; /* ours and the reference's */
            size_t e = (size_t)i * n + j;
            if (fabs((double)got[e] - ref[e]) > tol || fabs((double)got[e] - blas[e]) > tol) {
                fprintf(stderr, "grid %dx%d, %c%c %dx%dx%d nb %d: (%d, %d) %g vs %g (loop), "
                        "%g (sgemm)\n", g->rows, g->cols, ta ? 'T' : 'N', tb ? 'T' : 'N', m, n,
                        k, nb, i, j, got[e], ref[e], blas[e]);
                ok = 0;
                break;
            }
        }
    ebm_dmatrix_free(&dA);
    ebm_dmatrix_free(&dB);
    ebm_dmatrix_free(&dC);
    free(A);
    free(B);
    free(C);
    free(ref);
    free(got);
    free(blas);
    return ok;
}

static void test_dmatrix_pgemm_matches_sgemm_and_the_triple_loop(void **state)
{
    (void)state;
    /* m, n, k: none a multiple of the blocks below, one degenerate, and the
     * RBM's three shapes (vW, hW', v'h) in miniature. */
    static const int shapes[][3] = { { 37, 23, 19 }, { 1, 1, 1 }, { 5, 70, 130 },
                                     { 50, 33, 29 }, { 29, 33, 50 }, { 33, 29, 50 } };
    static const int blocks[] = { 3, 8, 64 };
    int rows[16], cols[16], n = grids_of(mpi_size, rows, cols);
    for (int t = 0; t < n; t++) {
        struct ebm_grid g;
        assert_all(ebm_grid_init(&g, MPI_COMM_WORLD, rows[t], cols[t]) == EBM_OK);
        int ok = 1;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++)
                for (int tr = 0; tr < 4; tr++)
                    ok &= check_product(&g, tr & 1, tr >> 1, shapes[s][0], shapes[s][1],
                                        shapes[s][2], blocks[b]);
        assert_all(ok);
        ebm_grid_free(&g);
    }
}

static void test_dmatrix_pgemm_refuses_mismatched_shapes(void **state)
{
    (void)state;
    struct ebm_grid g;
    assert_all(ebm_grid_init(&g, MPI_COMM_WORLD, 1, 1) == EBM_OK);
    struct ebm_dmatrix a, b, c;
    assert_all(ebm_dmatrix_init(&a, &g, 4, 5, 2, 2) == EBM_OK);
    assert_all(ebm_dmatrix_init(&b, &g, 6, 3, 2, 2) == EBM_OK);
    assert_all(ebm_dmatrix_init(&c, &g, 4, 3, 2, 2) == EBM_OK);
    assert_all(ebm_pgemm(false, false, 1.0f, &a, &b, 0.0f, &c) == EBM_ERR_INPUT);
    assert_all(strstr(ebm_error_message(), "op(A) is 4 x 5, op(B) 6 x 3") != NULL);
    ebm_error_clear();
    ebm_dmatrix_free(&a);
    assert_all(ebm_dmatrix_init(&a, &g, 0, 5, 2, 2) == EBM_ERR_INPUT);
    ebm_error_clear();
    ebm_dmatrix_free(&b);
    ebm_dmatrix_free(&c);
    ebm_grid_free(&g);
}

/* Every grid writes a 37 x 23 matrix (blocks 4 x 5: partial last blocks
 * both ways) as the full tensor, which a plain read, a read on the 1x1
 * grid (data mode) and a read on the grid itself all give back whole. */
static void test_dmatrix_checkpoint_round_trip(void **state)
{
    (void)state;
    enum { M = 37, N = 23 };
    float G[M * N], full[M * N], back[M * N];
    for (int i = 0; i < M * N; i++) G[i] = (float)(i / N) * 100.0f + (float)(i % N);
    int rows[16], cols[16], n = grids_of(mpi_size, rows, cols);
    char path[512];
    snprintf(path, sizeof path, "%s/blocks.h5", mpi_dir);
    for (int t = 0; t < n; t++) {
        struct ebm_grid g, one;
        struct ebm_dmatrix a, b, c;
        assert_all(ebm_grid_init(&g, MPI_COMM_WORLD, rows[t], cols[t]) == EBM_OK);
        assert_all(ebm_grid_init(&one, MPI_COMM_WORLD, 1, 1) == EBM_OK);
        assert_all(ebm_dmatrix_init(&a, &g, M, N, 4, 5) == EBM_OK);
        ebm_dmatrix_from_global(&a, G, N);
        struct ebm_ckpt ck;
        assert_all(ebm_ckpt_create(&ck, path, MPI_COMM_WORLD) == EBM_OK);
        assert_all(ebm_ckpt_write_dmatrix(&ck, "/model/W", &a, g.replica == 0) == EBM_OK);
        assert_all(ebm_ckpt_commit(&ck) == EBM_OK);
        int64_t dims[2] = { M, N };
        assert_all(ebm_ckpt_open(&ck, path, MPI_COMM_WORLD) == EBM_OK);
        assert_all(ebm_ckpt_read_f32(&ck, "/model/W", full, 2, dims) == EBM_OK);
        assert_all(memcmp(full, G, sizeof G) == 0);
        assert_all(ebm_dmatrix_init(&b, &one, M, N, 64, 64) == EBM_OK);
        assert_all(ebm_ckpt_read_dmatrix(&ck, "/model/W", &b) == EBM_OK);
        assert_all(ebm_dmatrix_to_global(&b, &one, back, N) == EBM_OK);
        assert_all(memcmp(back, G, sizeof G) == 0);
        assert_all(ebm_dmatrix_init(&c, &g, M, N, 3, 7) == EBM_OK); /* other blocks */
        assert_all(ebm_ckpt_read_dmatrix(&ck, "/model/W", &c) == EBM_OK);
        assert_all(ebm_dmatrix_to_global(&c, &g, back, N) == EBM_OK);
        assert_all(memcmp(back, G, sizeof G) == 0);
        struct ebm_dmatrix wrong;
        assert_all(ebm_dmatrix_init(&wrong, &g, N, M, 4, 5) == EBM_OK);
        assert_all(ebm_ckpt_read_dmatrix(&ck, "/model/W", &wrong) == EBM_ERR_INPUT);
        assert_all(strstr(ebm_error_message(), "has shape [37, 23], expected [23, 37]") != NULL);
        ebm_error_clear();
        ebm_ckpt_close(&ck);
        ebm_dmatrix_free(&wrong);
        ebm_dmatrix_free(&a);
        ebm_dmatrix_free(&b);
        ebm_dmatrix_free(&c);
        ebm_grid_free(&one);
        ebm_grid_free(&g);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_grid_parse),
    cmocka_unit_test(test_grid_layout),
    cmocka_unit_test(test_dmatrix_layout),
    cmocka_unit_test(test_dmatrix_pgemm_matches_sgemm_and_the_triple_loop),
    cmocka_unit_test(test_dmatrix_pgemm_refuses_mismatched_shapes),
    cmocka_unit_test(test_dmatrix_checkpoint_round_trip),
};

EBM_MPI_TEST_MAIN_WITH(tests, NULL, finish_blacs)
