/* CD-k and PCD-k with W on a process grid (ebm/grid_rbm.h) against the
 * one-rank reference step, on every grid the rank count allows (1x1; 1x2, 2x1 and
 * two 1x1 replicas; 2x2, 1x4, 4x1 and 1x2 / 2x1 as two replicas): the same
 * seed draws the same samples whatever the layout, so after several steps
 * the parameters agree up to float summation order. */
#include "gridutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/grid.h"
#include "ebm/grid_rbm.h"
#include "ebm/rng.h"

enum { V = 37, H = 23, B = 10, C = 7, BLOCK = 4, STEPS = 4 };

static void normals(float *x, size_t n, float sigma, uint64_t seed)
{
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, x, n);
    for (size_t i = 0; i < n; i++) x[i] *= sigma;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* STEPS steps of CD-k (PCD-k with persistent) on grid rows x cols;
 * returns the largest parameter (and chain) difference from the reference. */
static double run(int rows, int cols, int k, int persistent)
{
    struct ebm_grid g;
    assert_all(ebm_grid_init(&g, MPI_COMM_WORLD, rows, cols) == EBM_OK);
    int R = g.replicas, n = R * B, nc = R * C;
    /* The data: STEPS global batches of n binary rows. */
    float *x = malloc(sizeof(float) * (size_t)STEPS * n * V);
    struct ebm_rng r;
    ebm_rng_init(&r, 3, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&r, x, (size_t)STEPS * n * V);
    for (size_t i = 0; i < (size_t)STEPS * n * V; i++) x[i] = x[i] < 0.3f ? 1.0f : 0.0f;
    float *W = malloc(sizeof(float) * V * H), *b = malloc(sizeof(float) * V);
    float *c = malloc(sizeof(float) * H), *got = malloc(sizeof(float) * V * H);
    float *vW = calloc((size_t)V * H, sizeof(float)), *vb = calloc(V, sizeof(float));
    float *vc = calloc(H, sizeof(float));
    normals(W, (size_t)V * H, 0.3f, 10);
    normals(b, V, 0.5f, 11);
    normals(c, H, 0.5f, 12);

    struct ebm_grid_rbm m;
    assert_all(ebm_grid_rbm_init(&m, &g, V, H, B, persistent ? C : 0, BLOCK) == EBM_OK);
    ebm_grid_rbm_set(&m, W, b, c);
    /* Chains: every replica's, the grid keeps its own rows of them. */
    float *chains = malloc(sizeof(float) * (size_t)nc * V), *mine = malloc(sizeof(float) * C * V);
    ebm_rng_init(&r, 4, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&r, chains, (size_t)nc * V);
    for (size_t i = 0; i < (size_t)nc * V; i++) chains[i] = chains[i] < 0.5f ? 1.0f : 0.0f;
    if (persistent) ebm_dmatrix_from_global(&m.v, chains + (size_t)g.replica * C * V, V);
    struct ebm_grid_cd_opts o = { .k = k, .lr = 0.1f, .momentum = 0.5f, .weight_decay = 1e-3f,
                                  .seed = 42 };
    for (int s = 0; s < STEPS; s++) {
        o.step = s;
        size_t rows_of = (size_t)s * n + (size_t)g.replica * B; /* this replica's rows */
        assert_all(ebm_grid_rbm_cd(&m, x + rows_of * V, &o) == EBM_OK);
        ebm_grid_rbm_cd_ref(V, H, n, W, b, c, vW, vb, vc, x + (size_t)s * n * V,
                            persistent ? chains : NULL, nc, &o);
    }
    assert_all(ebm_grid_rbm_get_weights(&m, got) == EBM_OK);
    double d = max_diff(got, W, (size_t)V * H);
    d = fmax(d, max_diff(m.bias, b, V));
    d = fmax(d, max_diff(m.bias + V, c, H));
    if (persistent) {
        assert_all(ebm_dmatrix_to_global(&m.v, &g, mine, V) == EBM_OK);
        d = fmax(d, max_diff(mine, chains + (size_t)g.replica * C * V, (size_t)C * V));
    }
    ebm_grid_rbm_free(&m);
    ebm_grid_free(&g);
    free(x);
    free(chains);
    free(mine);
    free(W);
    free(b);
    free(c);
    free(got);
    free(vW);
    free(vb);
    free(vc);
    return d;
}

/* The two sides sum up to R·B = 40 products of numbers at most 1 in
 * different orders, about 40·2^-24 = 2.4e-6 apart per gradient entry and
 * lr times that per step; four steps with momentum stay under 1e-5. One
 * sample that came out differently would move an entry by about
 * lr/(R·B) = 2.5e-3, far outside. */
#define TOLERANCE 1e-5

static void test_grid_rbm_cd_matches_the_reference(void **state)
{
    (void)state;
    int rows[16], cols[16], n = grids_of(mpi_size, rows, cols);
    for (int t = 0; t < n; t++)
        for (int k = 1; k <= 2; k++)
            for (int persistent = 0; persistent <= 1; persistent++) {
                double d = run(rows[t], cols[t], k, persistent);
                if (mpi_rank == 0)
                    printf("grid %dx%d (%d replicas), %s-%d: largest difference %.2e\n",
                           rows[t], cols[t], mpi_size / (rows[t] * cols[t]),
                           persistent ? "PCD" : "CD", k, d);
                assert_all(d < TOLERANCE);
            }
}

static void test_grid_rbm_cd_refuses_bad_options(void **state)
{
    (void)state;
    struct ebm_grid g;
    assert_all(ebm_grid_init(&g, MPI_COMM_WORLD, 1, 1) == EBM_OK);
    struct ebm_grid_rbm m;
    assert_all(ebm_grid_rbm_init(&m, &g, 4, 3, 2, 0, 2) == EBM_OK);
    float x[8] = { 0 };
    struct ebm_grid_cd_opts o = { .k = 0, .lr = 0.1f };
    assert_all(ebm_grid_rbm_cd(&m, x, &o) == EBM_ERR_INPUT);
    assert_all(strstr(ebm_error_message(), "k = 0") != NULL);
    ebm_error_clear();
    ebm_grid_rbm_free(&m);
    ebm_grid_free(&g);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_grid_rbm_cd_matches_the_reference),
    cmocka_unit_test(test_grid_rbm_cd_refuses_bad_options),
};

EBM_MPI_TEST_MAIN_WITH(tests, NULL, finish_blacs)
