/* Anomaly scores: the AUROC on hand-worked cases and against its O(n^2)
 * definition, the percentile's tie rule and edges, the per-row scores
 * against their formulas, and a planted out-of-distribution row ranked
 * last by the free energy of a tiny trained RBM. */
#include "testutil.h"

#include "ebm/anomaly.h"
#include "ebm/cd.h"

/* Both implementations must give want exactly (hand-worked values are
 * exact rationals; 1e-15 allows the final division's rounding). */
static void assert_auroc(const double *s, const int *pos, int64_t n, double want,
                         const char *what)
{
    double fast = -1.0, ref = -1.0;
    assert_int_equal(ebm_anomaly_auroc(s, pos, n, &fast), EBM_OK);
    assert_int_equal(ebm_anomaly_auroc_ref(s, pos, n, &ref), EBM_OK);
    assert_close_d(fast, want, 1e-15, what);
    assert_close_d(ref, want, 1e-15, what);
}

static void test_anomaly_auroc_hand_worked(void **state)
{
    (void)state;
    const double s[] = { 1, 2, 3, 4, 5 };
    const int up[] = { 0, 0, 0, 1, 1 }, down[] = { 1, 1, 0, 0, 0 };
    assert_auroc(s, up, 5, 1.0, "anomalies scored highest: perfect separation");
    assert_auroc(s, down, 5, 0.0, "anomalies scored lowest: reversed");
    const double flat[] = { 7, 7, 7, 7 };
    const int mixed[] = { 1, 0, 0, 1 };
    assert_auroc(flat, mixed, 4, 0.5, "all scores tied");
    /* Positives {3, 2, 2}, negatives {2, 1, 1, 3}: the 3 beats 2, 1, 1
     * and ties 3 (3.5); each 2 beats 1, 1 and ties 2 (2.5 each), so
     * AUROC = 8.5 / (3 * 4) = 17/24. */
    const double t[] = { 3, 2, 2, 2, 1, 1, 3 };
    const int tp[] = { 1, 1, 1, 0, 0, 0, 0 };
    assert_auroc(t, tp, 7, 17.0 / 24.0, "small example with ties, by hand");
    /* The order of the rows does not matter. */
    const double t2[] = { 1, 2, 3, 1, 2, 3, 2 };
    const int tp2[] = { 0, 1, 0, 0, 0, 1, 1 };
    assert_auroc(t2, tp2, 7, 17.0 / 24.0, "the same rows shuffled");
}

static void test_anomaly_auroc_undefined_is_an_error(void **state)
{
    (void)state;
    const double s[] = { 1, 2, 3 };
    const int none[] = { 0, 0, 0 }, all[] = { 1, 1, 1 }, some[] = { 0, 1, 0 };
    double a = -1.0;
    assert_int_equal(ebm_anomaly_auroc(s, none, 3, &a), EBM_ERR_INPUT);
    assert_int_equal(ebm_anomaly_auroc_ref(s, none, 3, &a), EBM_ERR_INPUT);
    assert_int_equal(ebm_anomaly_auroc(s, all, 3, &a), EBM_ERR_INPUT);
    assert_int_equal(ebm_anomaly_auroc_ref(s, all, 3, &a), EBM_ERR_INPUT);
    const double nan_s[] = { 1, NAN, 3 };
    assert_int_equal(ebm_anomaly_auroc(nan_s, some, 3, &a), EBM_ERR_INPUT);
    assert_true(a == -1.0);
    ebm_error_clear();
}

/* Random scores, continuous and coarse (many ties), random positives. */
static void test_anomaly_auroc_matches_reference(void **state)
{
    (void)state;
    enum { N = 701 };
    static double s[N];
    static int pos[N];
    static float u[2 * N];
    struct ebm_rng rng;
    ebm_rng_init(&rng, 8, 0, EBM_RNG_TEST);
    double worst = 0.0;
    for (int trial = 0; trial < 12; trial++) {
        int n = trial < 6 ? N : 1 + trial * 7;
        ebm_rng_uniform(&rng, u, 2 * (size_t)n);
        int levels = trial % 3 == 0 ? 0 : (trial % 3 == 1 ? 5 : 40);
        for (int i = 0; i < n; i++) {
            s[i] = levels ? floor(u[i] * levels) : (double)u[i] - 0.5;
            pos[i] = u[n + i] < 0.3f;
        }
        pos[0] = 1; /* both classes present */
        pos[1] = 0;
        double fast, ref;
        assert_int_equal(ebm_anomaly_auroc(s, pos, n, &fast), EBM_OK);
        assert_int_equal(ebm_anomaly_auroc_ref(s, pos, n, &ref), EBM_OK);
        assert_true(fast >= 0.0 && fast <= 1.0);
        if (fabs(fast - ref) > worst) worst = fabs(fast - ref);
        assert_close_d(fast, ref, 1e-12, "sort-based AUROC vs O(n^2) reference");
    }
    print_message("largest AUROC difference %.3g\n", worst);
}

static void test_anomaly_percentile_edges(void **state)
{
    (void)state;
    const double ref[] = { 3, 2, 1, 2 };
    const double x[] = { 0.5, 1, 2, 2.5, 3, 4, -INFINITY, INFINITY };
    const double want[] = { 0, 0, 25, 75, 75, 100, 0, 100 };
    double fast[8], slow[8];
    assert_int_equal(ebm_anomaly_percentile(ref, 4, x, 8, fast), EBM_OK);
    assert_int_equal(ebm_anomaly_percentile_ref(ref, 4, x, 8, slow), EBM_OK);
    for (int i = 0; i < 8; i++) {
        assert_close_d(fast[i], want[i], 0.0, "percentile: strictly below, ties not counted");
        assert_close_d(slow[i], want[i], 0.0, "percentile reference");
    }
    /* Equal to every reference row: none is strictly below. */
    const double same[] = { 5, 5, 5 }, five = 5;
    assert_int_equal(ebm_anomaly_percentile(same, 3, &five, 1, fast), EBM_OK);
    assert_close_d(fast[0], 0.0, 0.0, "a row tied with every reference row");
    /* One reference row: 0 or 100. */
    const double one = 1, xs[] = { 1, 1.5 };
    assert_int_equal(ebm_anomaly_percentile(&one, 1, xs, 2, fast), EBM_OK);
    assert_close_d(fast[0], 0.0, 0.0, "tied with the only reference row");
    assert_close_d(fast[1], 100.0, 0.0, "above the only reference row");
    assert_int_equal(ebm_anomaly_percentile(ref, 0, x, 1, fast), EBM_ERR_INPUT);
    const double nan_x = NAN;
    assert_int_equal(ebm_anomaly_percentile(ref, 4, &nan_x, 1, fast), EBM_ERR_INPUT);
    ebm_error_clear();
}

static void test_anomaly_percentile_matches_reference(void **state)
{
    (void)state;
    enum { NR = 333, NX = 201 };
    double ref[NR], x[NX], fast[NX], slow[NX];
    float u[NR + NX];
    struct ebm_rng rng;
    ebm_rng_init(&rng, 9, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&rng, u, NR + NX);
    for (int k = 0; k < NR; k++) ref[k] = floor(u[k] * 20);   /* many ties */
    for (int i = 0; i < NX; i++) x[i] = floor(u[NR + i] * 22) - 1;
    assert_int_equal(ebm_anomaly_percentile(ref, NR, x, NX, fast), EBM_OK);
    assert_int_equal(ebm_anomaly_percentile_ref(ref, NR, x, NX, slow), EBM_OK);
    for (int i = 0; i < NX; i++) assert_close_d(fast[i], slow[i], 0.0, "percentile vs reference");
}

/* F and the reconstruction error of each row by their formulas, in double. */
static void test_anomaly_scores_match_definition(void **state)
{
    (void)state;
    enum { V = 7, H = 5, B = 6 };
    struct rbm m;
    struct ebm_rng rng;
    assert_int_equal(rbm_init(&m, V, H), EBM_OK);
    ebm_rng_init(&rng, 4, 0, EBM_RNG_TEST);
    rbm_init_params(&m, 1.0f, NULL, &rng);
    ebm_rng_normal(&rng, m.vbias, V);
    ebm_rng_normal(&rng, m.hbias, H);
    float v[B * V], scratch[B * (V + H)];
    ebm_rng_uniform(&rng, v, B * V);
    for (int i = 0; i < B * V; i++) v[i] = v[i] < 0.5f ? 0.0f : 1.0f;
    assert_int_equal(ebm_anomaly_scratch_floats(&m, B), (size_t)B * (V + H));
    double fe[B], recon[B];
    ebm_anomaly_scores(&m, v, B, fe, recon, scratch);
    for (int r = 0; r < B; r++) {
        const float *x = v + r * V;
        double f = 0.0, ph[H], err = 0.0;
        for (int i = 0; i < V; i++) f -= (double)m.vbias[i] * x[i];
        for (int j = 0; j < H; j++) {
            double a = m.hbias[j];
            for (int i = 0; i < V; i++) a += (double)x[i] * m.W[i * H + j];
            f -= log1p(exp(a));
            ph[j] = 1.0 / (1.0 + exp(-a));
        }
        for (int i = 0; i < V; i++) {
            double a = m.vbias[i];
            for (int j = 0; j < H; j++) a += ph[j] * m.W[i * H + j];
            double d = x[i] - 1.0 / (1.0 + exp(-a));
            err += d * d;
        }
        assert_close_d(fe[r], f, 1e-4, "free energy by its formula");
        assert_close_d(recon[r], err, 1e-5, "reconstruction error by its formula");
    }
    rbm_free(&m);
}

/* A V = 8 RBM trained by CD-1 on two patterns: their one-bit neighbours
 * stay cheap, while a row 7 bits from both is the batch's most anomalous
 * by free energy, and by reconstruction error. */
static void test_anomaly_planted_example_ranks_last(void **state)
{
    (void)state;
    enum { V = 8, H = 4, B = 2, N = 9 };
    static const float pat[B * V] = { 1, 1, 1, 0, 0, 0, 0, 0,
                                      1, 1, 0, 0, 0, 0, 0, 1 };
    struct rbm m, g;
    struct ebm_rng rng;
    assert_int_equal(rbm_init(&m, V, H), EBM_OK);
    assert_int_equal(rbm_init(&g, V, H), EBM_OK);
    ebm_rng_init(&rng, 5, 0, EBM_RNG_TEST);
    rbm_init_params(&m, 0.01f, NULL, &rng);
    float ph[B * H], vn[B * V], phn[B * H], hn[B * H], pvn[B * V], hmean[H];
    size_t np = rbm_block_size(V, H);
    for (int step = 0; step < 600; step++) {
        rbm_hidden_probs(&m, pat, B, ph);
        memcpy(vn, pat, sizeof vn);
        cd_negative_phase(&m, vn, B, 1, ph, phn, hn, pvn, &rng);
        cd_statistics(pat, ph, B, vn, phn, B, 1.0f / B, 1.0f / B, &g, hmean);
        for (size_t k = 0; k < np; k++) m.block[k] += 0.1f * g.block[k];
    }
    /* The batch: both patterns, three one-bit neighbours of each, and the
     * planted row (differs from each pattern in 7 of 8 bits) in the middle. */
    float x[N * V];
    int planted = 4;
    for (int r = 0, k = 0; r < N; r++) {
        float *row = x + r * V;
        if (r == planted) {
            static const float far[V] = { 0, 0, 0, 1, 1, 1, 1, 0 };
            memcpy(row, far, sizeof far);
            continue;
        }
        memcpy(row, pat + (k % 2) * V, sizeof(float) * V);
        if (k >= 2) row[(k * 3) % V] = 1.0f - row[(k * 3) % V];
        k++;
    }
    double fe[N], recon[N];
    float scratch[N * (V + H)];
    ebm_anomaly_scores(&m, x, N, fe, recon, scratch);
    for (int r = 0; r < N; r++)
        if (r != planted && !(fe[r] < fe[planted])) {
            print_error("row %d has F = %.4f, not below the planted row's %.4f\n", r, fe[r],
                        fe[planted]);
            fail();
        }
    /* As an AUROC: the planted row alone positive separates perfectly. */
    int pos[N] = { 0 };
    pos[planted] = 1;
    double a;
    assert_int_equal(ebm_anomaly_auroc(fe, pos, N, &a), EBM_OK);
    assert_close_d(a, 1.0, 0.0, "AUROC of F with the planted row as the anomaly");
    assert_int_equal(ebm_anomaly_auroc(recon, pos, N, &a), EBM_OK);
    assert_close_d(a, 1.0, 0.0, "AUROC of the reconstruction error, likewise");
    rbm_free(&g);
    rbm_free(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_anomaly_auroc_hand_worked),
    cmocka_unit_test(test_anomaly_auroc_undefined_is_an_error),
    cmocka_unit_test(test_anomaly_auroc_matches_reference),
    cmocka_unit_test(test_anomaly_percentile_edges),
    cmocka_unit_test(test_anomaly_percentile_matches_reference),
    cmocka_unit_test(test_anomaly_scores_match_definition),
    cmocka_unit_test(test_anomaly_planted_example_ranks_last),
};

EBM_TEST_MAIN(tests)
