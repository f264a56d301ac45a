/* The RBM's free energy and both conditionals against exact enumeration,
 * for Bernoulli units and for every other pair of unit types. */
#include "testutil.h"
#include "enum.h"
#include "typed.h"

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


/* The visible/hidden type pairs an RBM takes besides Bernoulli-Bernoulli. */
static const enum ebm_unit_type typed_pairs[][2] = {
    { EBM_UNIT_SPIN, EBM_UNIT_SPIN },         { EBM_UNIT_BERNOULLI, EBM_UNIT_SPIN },
    { EBM_UNIT_SPIN, EBM_UNIT_BERNOULLI },    { EBM_UNIT_GAUSSIAN, EBM_UNIT_BERNOULLI },
    { EBM_UNIT_GAUSSIAN, EBM_UNIT_SPIN },
};
enum { N_PAIRS = sizeof typed_pairs / sizeof typed_pairs[0] };

/* Visible rows for a typed model: every state of a discrete layer (V = 5),
 * or 32 N(0, 1.5^2) rows for a Gaussian one. */
static int typed_rows(const struct rbm *m, float *v, uint64_t seed)
{
    int V = m->n_visible;
    if (m->vis.type != EBM_UNIT_GAUSSIAN) {
        for (unsigned c = 0; c < (1u << V); c++) typed_state(c, V, m->vis.type, v + c * V);
        return 1 << V;
    }
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, v, (size_t)32 * V);
    for (int i = 0; i < 32 * V; i++) v[i] *= 1.5f;
    return 32;
}

static void test_rbm_typed_free_energy_matches_enumeration(void **state)
{
    (void)state;
    enum { V = 5, H = 4 };
    for (int p = 0; p < N_PAIRS; p++) {
        struct rbm m;
        typed_random_rbm(&m, V, H, typed_pairs[p][0], typed_pairs[p][1], 0.8f, 40 + p);
        float v[32 * V], in[32 * H];
        double fe[32];
        int n = typed_rows(&m, v, 60 + p);
        rbm_free_energy(&m, v, n, in, fe);
        for (int r = 0; r < n; r++)
            /* float GEMM inputs of size ~5: ~1e-6 relative */
            assert_close_d(fe[r], -typed_neg_free_energy(&m, v + r * V), 2e-5,
                           "typed F(v) vs sum over h of exp(-E(v, h))");
        rbm_free(&m);
    }
}

/* E[h_j | v] and, for discrete visible units, E[v_i | h], against
 * p(h | v) = exp(-E(v, h)) / sum_h' exp(-E(v, h')) enumerated. */
static void test_rbm_typed_conditionals_match_enumeration(void **state)
{
    (void)state;
    enum { V = 5, H = 4 };
    for (int p = 0; p < N_PAIRS; p++) {
        struct rbm m;
        typed_random_rbm(&m, V, H, typed_pairs[p][0], typed_pairs[p][1], 0.8f, 70 + p);
        float v[32 * V], ph[32 * H], h[H];
        int n = typed_rows(&m, v, 80 + p);
        rbm_hidden_probs(&m, v, n, ph);
        for (int r = 0; r < n; r++) {
            double mean[H] = { 0 }, z = 0;
            double f = typed_neg_free_energy(&m, v + r * V);
            for (unsigned c = 0; c < (1u << H); c++) {
                typed_state(c, H, m.hid.type, h);
                double w = exp(-rbm_energy(&m, v + r * V, h) - f);
                z += w;
                for (int j = 0; j < H; j++) mean[j] += w * h[j];
            }
            assert_close_d(z, 1.0, 1e-9, "p(h | v) sums to 1");
            for (int j = 0; j < H; j++)
                assert_close_d(ph[r * H + j], mean[j], 2e-6, "E[h_j | v]");
        }
        if (m.vis.type != EBM_UNIT_GAUSSIAN) {
            /* E[v | h] for every hidden state, enumerating v. */
            float hs[16 * H], pv[16 * V], vv[V];
            for (unsigned c = 0; c < (1u << H); c++) typed_state(c, H, m.hid.type, hs + c * H);
            rbm_visible_probs(&m, hs, 1 << H, pv);
            for (unsigned c = 0; c < (1u << H); c++) {
                double mean[V] = { 0 }, z = 0;
                for (unsigned k = 0; k < (1u << V); k++) {
                    typed_state(k, V, m.vis.type, vv);
                    double w = exp(-rbm_energy(&m, vv, hs + c * H));
                    z += w;
                    for (int i = 0; i < V; i++) mean[i] += w * vv[i];
                }
                for (int i = 0; i < V; i++)
                    assert_close_d(pv[c * V + i], mean[i] / z, 2e-6, "E[v_i | h]");
            }
        } else {
            /* E[v | h] = b + Wh (Cho et al. 2011): sigma does not enter. */
            float hs[H] = { 1, 0, 1, 1 }, pv[V];
            if (m.hid.type == EBM_UNIT_SPIN) hs[1] = -1.0f;
            rbm_visible_probs(&m, hs, 1, pv);
            for (int i = 0; i < V; i++) {
                double e = m.vbias[i];
                for (int j = 0; j < H; j++) e += (double)m.W[i * H + j] * hs[j];
                assert_close_d(pv[i], e, 1e-6, "Gaussian E[v_i | h]");
            }
        }
        rbm_free(&m);
    }
}

/* Gaussian units: the block gains V log sigmas after the biases, views of
 * the same shape and types see the same layout, and the types that are no
 * RBM's are refused. */
static void test_rbm_typed_layout(void **state)
{
    (void)state;
    struct rbm m, g;
    assert_int_equal(rbm_init_typed(&m, 3, 2, EBM_UNIT_GAUSSIAN, EBM_UNIT_SPIN), EBM_OK);
    assert_int_equal(m.block_len, rbm_block_size(3, 2) + 3);
    assert_int_equal(rbm_block_size_typed(3, 2, EBM_UNIT_GAUSSIAN), m.block_len);
    assert_ptr_equal(m.log_sigma, m.hbias + 2);
    assert_ptr_equal(m.vis.log_sigma, m.log_sigma);
    assert_non_null(m.coupling);
    assert_false(rbm_is_binary(&m));
    float block[6 + 3 + 2 + 3];
    rbm_view_like(&g, &m, block);
    assert_ptr_equal(g.log_sigma, block + 11);
    assert_int_equal(g.vis.type, EBM_UNIT_GAUSSIAN);
    assert_int_equal(g.hid.type, EBM_UNIT_SPIN);
    assert_null(g.coupling);
    rbm_free(&g);
    rbm_free(&m);
    assert_int_equal(rbm_init_typed(&m, 3, 2, EBM_UNIT_BERNOULLI, EBM_UNIT_GAUSSIAN),
                     EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "hidden units must be bernoulli or spin"));
    ebm_error_clear();
    assert_int_equal(rbm_init_typed(&m, 3, 2, EBM_UNIT_SOFTMAX, EBM_UNIT_BERNOULLI),
                     EBM_ERR_INPUT);
    ebm_error_clear();
    /* Spin biases start at half the log-odds of the marginals: p(+1) = sigmoid(2b). */
    assert_int_equal(rbm_init_typed(&m, 2, 2, EBM_UNIT_SPIN, EBM_UNIT_BERNOULLI), EBM_OK);
    struct ebm_rng r;
    ebm_rng_init(&r, 1, 0, EBM_RNG_TEST);
    const float p[2] = { 0.8f, 0.3f };
    rbm_init_params(&m, 0.01f, p, &r);
    for (int i = 0; i < 2; i++)
        assert_close_d(1.0 / (1.0 + exp(-2.0 * m.vbias[i])), p[i], 1e-6, "spin bias start");
    rbm_free(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rbm_typed_free_energy_matches_enumeration),
    cmocka_unit_test(test_rbm_typed_conditionals_match_enumeration),
    cmocka_unit_test(test_rbm_typed_layout),
    cmocka_unit_test(test_rbm_free_energy_matches_enumeration),
    cmocka_unit_test(test_rbm_hidden_conditional_matches_enumeration),
    cmocka_unit_test(test_rbm_visible_conditional_matches_enumeration),
    cmocka_unit_test(test_rbm_samples_follow_conditional),
    cmocka_unit_test(test_rbm_init_params_uses_marginals),
    cmocka_unit_test(test_rbm_view_does_not_own),
};

EBM_TEST_MAIN(tests)
