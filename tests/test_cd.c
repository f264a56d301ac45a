/* CD statistics: the fast path against the reference kernels, and the
 * model term from long Gibbs chains against exact enumeration. */
#include "testutil.h"
#include "enum.h"

#include "ebm/cd.h"

static void test_cd_statistics_match_ref(void **state)
{
    (void)state;
    enum { V = 9, H = 5, B = 7, C = 4 };
    float vd[B * V], phd[B * H], vn[C * V], phn[C * H];
    struct ebm_rng r;
    ebm_rng_init(&r, 31, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&r, vd, B * V);
    ebm_rng_uniform(&r, phd, B * H);
    ebm_rng_uniform(&r, vn, C * V);
    ebm_rng_uniform(&r, phn, C * H);
    struct rbm g1, g2;
    rbm_init(&g1, V, H);
    rbm_init(&g2, V, H);
    float hm1[H], hm2[H];
    cd_statistics(vd, phd, B, vn, phn, C, 1.0f / B, 1.0f / C, &g1, hm1);
    cd_statistics_ref(vd, phd, B, vn, phn, C, 1.0f / B, 1.0f / C, &g2, hm2);
    assert_close_f(g1.block, g2.block, rbm_block_size(V, H), 1e-6, "statistics vs ref");
    assert_close_f(hm1, hm2, H, 1e-6, "hidden data mean vs ref");
    /* Spot-check one entry against its definition. */
    double w = 0;
    for (int b = 0; b < B; b++) w += (double)vd[b * V + 2] * phd[b * H + 3] / B;
    for (int c = 0; c < C; c++) w -= (double)vn[c * V + 2] * phn[c * H + 3] / C;
    assert_close_d(g1.W[2 * H + 3], w, 1e-6, "dW[2][3] by definition");
    rbm_free(&g1);
    rbm_free(&g2);
}

/* <v_i p(h_j | v)>, <v_i>, <p(h_j | v)> under the model, with their
 * per-chain variances, by summing p(v) over all visible states. */
static void exact_model_moments(const struct rbm *m, double *mean, double *var)
{
    int V = m->n_visible, H = m->n_hidden, n = V * H + V + H;
    double log_z = enum_log_z(m), *second = calloc((size_t)n, sizeof *second);
    memset(mean, 0, sizeof(double) * (size_t)n);
    float v[16], ph[16];
    for (unsigned c = 0; c < (1u << V); c++) {
        enum_state(c, V, v);
        double p = exp(enum_neg_free_energy(m, v) - log_z);
        rbm_hidden_probs(m, v, 1, ph);
        double x[16 * 16 + 32];
        for (int i = 0; i < V; i++)
            for (int j = 0; j < H; j++) x[i * H + j] = v[i] * ph[j];
        for (int i = 0; i < V; i++) x[V * H + i] = v[i];
        for (int j = 0; j < H; j++) x[V * H + V + j] = ph[j];
        for (int k = 0; k < n; k++) {
            mean[k] += p * x[k];
            second[k] += p * x[k] * x[k];
        }
    }
    for (int k = 0; k < n; k++) var[k] = second[k] - mean[k] * mean[k];
    free(second);
}

static void test_cd_model_term_matches_enumeration(void **state)
{
    (void)state;
    enum { V = 6, H = 4, C = 20000, BURN_IN = 300 };
    struct rbm m;
    enum_random_rbm(&m, V, H, 0.8f, 32);
    double mean[V * H + V + H], var[V * H + V + H];
    exact_model_moments(&m, mean, var);

    float *v = malloc(sizeof(float) * C * V), *ph = malloc(sizeof(float) * C * H),
          *h = malloc(sizeof(float) * C * H), *pv = malloc(sizeof(float) * C * V);
    struct ebm_rng r;
    ebm_rng_init(&r, 33, 0, EBM_RNG_SAMPLE);
    ebm_rng_uniform(&r, v, (size_t)C * V);
    for (int i = 0; i < C * V; i++) v[i] = v[i] < 0.5f ? 1.0f : 0.0f;
    cd_negative_phase(&m, v, C, BURN_IN, NULL, ph, h, pv, &r);

    /* Model term alone: a zero-weight data row, then negate. */
    float zero_v[V] = { 0 }, zero_h[H] = { 0 }, hmean[H];
    struct rbm g;
    rbm_init(&g, V, H);
    cd_statistics(zero_v, zero_h, 1, v, ph, C, 0.0f, 1.0f / C, &g, hmean);
    /* Independent chains after burn-in: each estimate is a mean of C
     * draws, sd = sqrt(var / C). 4.5 sd per entry keeps the chance of any
     * of the 34 entries failing by luck below 3e-4. */
    for (int k = 0; k < V * H + V + H; k++) {
        double sd = sqrt(var[k] / C);
        assert_close_d(-(double)g.block[k], mean[k], 4.5 * sd + 1e-7, "model moment");
    }
    free(v);
    free(ph);
    free(h);
    free(pv);
    rbm_free(&g);
    rbm_free(&m);
}

static void test_cd_reuses_positive_phase(void **state)
{
    (void)state;
    /* CD-k from the data with ph_start must equal recomputing it. */
    enum { V = 8, H = 6, C = 5 };
    struct rbm m;
    enum_random_rbm(&m, V, H, 1.0f, 34);
    float v1[C * V], v2[C * V], ph0[C * H], ph1[C * H], ph2[C * H], h[C * H], pv[C * V];
    for (int i = 0; i < C * V; i++) v1[i] = v2[i] = (float)((i * 7) % 3 == 0);
    rbm_hidden_probs(&m, v1, C, ph0);
    struct ebm_rng a, b;
    ebm_rng_init(&a, 35, 0, EBM_RNG_SAMPLE);
    ebm_rng_init(&b, 35, 0, EBM_RNG_SAMPLE);
    cd_negative_phase(&m, v1, C, 2, ph0, ph1, h, pv, &a);
    cd_negative_phase(&m, v2, C, 2, NULL, ph2, h, pv, &b);
    assert_memory_equal(v1, v2, sizeof v1);
    assert_close_f(ph1, ph2, C * H, 1e-6, "ph after CD-2");
    rbm_free(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_cd_statistics_match_ref),
    cmocka_unit_test(test_cd_model_term_matches_enumeration),
    cmocka_unit_test(test_cd_reuses_positive_phase),
};

EBM_TEST_MAIN(tests)
