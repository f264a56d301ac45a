/* The RBM's free energy and both conditionals against exact enumeration. */
#include "testutil.h"
#include "enum.h"

static void test_rbm_free_energy_matches_enumeration(void **state)
{
    (void)state;
    struct rbm m;
    enum_random_rbm(&m, 6, 5, 1.0f, 21);
    float v[64 * 6], scratch[64 * 5];
    double fe[64];
    for (unsigned c = 0; c < 64; c++) enum_state(c, 6, v + c * 6);
    rbm_free_energy(&m, v, 64, scratch, fe);
    for (unsigned c = 0; c < 64; c++)
        assert_close_d(fe[c], -enum_neg_free_energy(&m, v + c * 6), 1e-5, "F(v)");
    rbm_free(&m);
}

static void test_rbm_hidden_conditional_matches_enumeration(void **state)
{
    (void)state;
    enum { V = 5, H = 4 };
    struct rbm m;
    enum_random_rbm(&m, V, H, 1.5f, 22);
    float v[V], h[H], ph[H];
    for (unsigned cv = 0; cv < (1u << V); cv++) {
        enum_state(cv, V, v);
        rbm_hidden_probs(&m, v, 1, ph);
        double z = 0, on[H] = { 0 };
        for (unsigned ch = 0; ch < (1u << H); ch++) {
            enum_state(ch, H, h);
            double w = exp(-rbm_energy(&m, v, h));
            z += w;
            for (int j = 0; j < H; j++) on[j] += h[j] * w;
        }
        for (int j = 0; j < H; j++) assert_close_d(ph[j], on[j] / z, 1e-6, "p(h_j = 1 | v)");
    }
    rbm_free(&m);
}

static void test_rbm_visible_conditional_matches_enumeration(void **state)
{
    (void)state;
    enum { V = 4, H = 5 };
    struct rbm m;
    enum_random_rbm(&m, V, H, 1.5f, 23);
    float v[V], h[H], pv[V];
    for (unsigned ch = 0; ch < (1u << H); ch++) {
        enum_state(ch, H, h);
        rbm_visible_probs(&m, h, 1, pv);
        double z = 0, on[V] = { 0 };
        for (unsigned cv = 0; cv < (1u << V); cv++) {
            enum_state(cv, V, v);
            double w = exp(-rbm_energy(&m, v, h));
            z += w;
            for (int i = 0; i < V; i++) on[i] += v[i] * w;
        }
        for (int i = 0; i < V; i++) assert_close_d(pv[i], on[i] / z, 1e-6, "p(v_i = 1 | h)");
    }
    rbm_free(&m);
}

static void test_rbm_samples_follow_conditional(void **state)
{
    (void)state;
    enum { V = 3, H = 2, N = 200000 };
    struct rbm m;
    enum_random_rbm(&m, V, H, 1.0f, 24);
    float *v = calloc((size_t)N * V, sizeof *v), *ph = malloc(sizeof(float) * N * H),
          *h = malloc(sizeof(float) * N * H);
    for (int r = 0; r < N; r++) enum_state(5, V, v + r * V);
    struct ebm_rng rng;
    ebm_rng_init(&rng, 25, 0, EBM_RNG_TEST);
    rbm_hidden_sample(&m, v, N, ph, h, &rng);
    for (int j = 0; j < H; j++) {
        double ones = 0, p = ph[j];
        for (int r = 0; r < N; r++) ones += h[r * H + j];
        assert_close_d(ones / N, p, 5.0 * sqrt(p * (1 - p) / N), "sampled h frequency");
    }
    free(v);
    free(ph);
    free(h);
    rbm_free(&m);
}

static void test_rbm_init_params_uses_marginals(void **state)
{
    (void)state;
    struct rbm m;
    rbm_init(&m, 3, 1000);
    float p[3] = { 0.25f, 0.0f, 1.0f };
    struct ebm_rng r;
    ebm_rng_init(&r, 26, 0, EBM_RNG_INIT);
    rbm_init_params(&m, 0.01f, p, &r);
    assert_close_d(m.vbias[0], log(0.25 / 0.75), 1e-6, "vbias from marginal");
    assert_close_d(m.vbias[1], log(1e-3 / (1 - 1e-3)), 1e-5, "clipped low marginal");
    assert_close_d(m.vbias[2], -log(1e-3 / (1 - 1e-3)), 1e-5, "clipped high marginal");
    double s2 = 0;
    for (int i = 0; i < 3000; i++) s2 += (double)m.W[i] * m.W[i];
    /* sd of the sample variance of 3000 normals: sigma^2 sqrt(2/3000) */
    assert_close_d(s2 / 3000, 1e-4, 5.0 * 1e-4 * sqrt(2.0 / 3000), "W variance");
    for (int j = 0; j < 1000; j++) assert_true(m.hbias[j] == 0.0f);
    rbm_free(&m);
}

static void test_rbm_view_does_not_own(void **state)
{
    (void)state;
    float block[2 * 3 + 2 + 3];
    struct rbm v;
    rbm_view(&v, 2, 3, block);
    assert_ptr_equal(v.vbias, block + 6);
    assert_ptr_equal(v.hbias, block + 8);
    rbm_free(&v); /* must not free the caller's block */
    rbm_free(NULL);
    assert_int_equal(rbm_init(&v, 0, 3), EBM_ERR_INPUT);
    ebm_error_clear();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rbm_free_energy_matches_enumeration),
    cmocka_unit_test(test_rbm_hidden_conditional_matches_enumeration),
    cmocka_unit_test(test_rbm_visible_conditional_matches_enumeration),
    cmocka_unit_test(test_rbm_samples_follow_conditional),
    cmocka_unit_test(test_rbm_init_params_uses_marginals),
    cmocka_unit_test(test_rbm_view_does_not_own),
};

EBM_TEST_MAIN(tests)
