/* Each fast kernel against its plain reference. */
#include "testutil.h"

#include "ebm/kernels.h"

static void fill(float *x, size_t n, float scale, uint64_t seed)
{
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, x, n);
    for (size_t i = 0; i < n; i++) x[i] *= scale;
}

static void test_kernels_gemm_matches_ref(void **state)
{
    (void)state;
    /* Awkward sizes, every transpose combination, beta 0 and not. */
    const int m = 13, n = 7, k = 29;
    float A[29 * 13], B[29 * 7], C1[13 * 7], C2[13 * 7];
    fill(A, sizeof A / sizeof *A, 1.0f, 1);
    fill(B, sizeof B / sizeof *B, 1.0f, 2);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int b = 0; b < 2; b++) {
                fill(C1, sizeof C1 / sizeof *C1, 1.0f, 3);
                memcpy(C2, C1, sizeof C1);
                int lda = ta ? m : k, ldb = tb ? k : n;
                float beta = b ? 0.5f : 0.0f;
                ebm_gemm(ta, tb, m, n, k, 0.75f, A, lda, B, ldb, beta, C1, n);
                ebm_gemm_ref(ta, tb, m, n, k, 0.75f, A, lda, B, ldb, beta, C2, n);
                /* float accumulation of 29 terms of size ~1: a few ulps of ~5 */
                assert_close_f(C1, C2, (size_t)m * n, 1e-5, "gemm vs gemm_ref");
            }
}

static void test_kernels_sigmoid_matches_ref(void **state)
{
    (void)state;
    enum { R = 7, C = 301 };
    float x[R * C], y[R * C], bias[C];
    for (int i = 0; i < R * C; i++) x[i] = -100.0f + 200.0f * (float)i / (R * C);
    fill(bias, C, 2.0f, 4);
    memcpy(y, x, sizeof x);
    ebm_sigmoid_bias(x, bias, R, C);
    ebm_sigmoid_bias_ref(y, bias, R, C);
    /* The polynomial exp is within ~1e-7 relative: sigmoid within 2 ulps of 1. */
    assert_close_f(x, y, (size_t)R * C, 2.5e-7, "sigmoid vs sigmoid_ref");
}

static void test_kernels_fused_sample_matches_ref(void **state)
{
    (void)state;
    /* Odd column count so chunks straddle rows. */
    enum { R = 101, C = 77 };
    static float p1[R * C], p2[R * C], s1[R * C], s2[R * C], bias[C];
    fill(p1, (size_t)R * C, 3.0f, 5);
    fill(bias, C, 1.0f, 6);
    memcpy(p2, p1, sizeof p1);
    struct ebm_rng a, b;
    ebm_rng_init(&a, 9, 2, EBM_RNG_SAMPLE);
    ebm_rng_init(&b, 9, 2, EBM_RNG_SAMPLE);
    ebm_sigmoid_bias_sample(p1, s1, bias, R, C, &a);
    ebm_sigmoid_bias_sample_ref(p2, s2, bias, R, C, &b);
    assert_close_f(p1, p2, (size_t)R * C, 2.5e-7, "fused probabilities vs ref");
    /* Same uniforms: a sample can only differ where u falls between the two
     * probabilities (chance ~1e-7 per unit); with this seed none does. */
    assert_memory_equal(s1, s2, sizeof s1);
    assert_int_equal(a.block, b.block);
}

static void test_kernels_bernoulli_uses_uniform_stream(void **state)
{
    (void)state;
    enum { N = 1003 };
    float p[N], s[N], u[N];
    for (int i = 0; i < N; i++) p[i] = (float)i / N;
    struct ebm_rng a, b;
    ebm_rng_init(&a, 11, 0, EBM_RNG_TEST);
    ebm_rng_init(&b, 11, 0, EBM_RNG_TEST);
    ebm_bernoulli(p, s, N, &a);
    ebm_rng_uniform(&b, u, N);
    for (int i = 0; i < N; i++) assert_true(s[i] == (u[i] < p[i] ? 1.0f : 0.0f));
    assert_int_equal(a.block, b.block);
}

static void test_kernels_bernoulli_frequency(void **state)
{
    (void)state;
    enum { N = 1 << 20 };
    float *p = malloc(N * sizeof *p), *s = malloc(N * sizeof *s);
    for (int i = 0; i < N; i++) p[i] = 0.3f;
    struct ebm_rng r;
    ebm_rng_init(&r, 12, 0, EBM_RNG_TEST);
    ebm_bernoulli(p, s, N, &r);
    double ones = 0;
    for (int i = 0; i < N; i++) ones += s[i];
    assert_close_d(ones / N, 0.3, 5.0 * sqrt(0.3 * 0.7 / N), "Bernoulli(0.3) frequency");
    free(p);
    free(s);
}

static void test_kernels_softplus_stable(void **state)
{
    (void)state;
    assert_close_d(ebm_softplus(0.0), log(2.0), 1e-15, "softplus(0)");
    assert_close_d(ebm_softplus(800.0), 800.0, 1e-12, "softplus(800)");
    assert_close_d(ebm_softplus(-800.0), 0.0, 1e-300, "softplus(-800)");
    assert_close_d(ebm_softplus(3.0), log1p(exp(3.0)), 1e-15, "softplus(3)");
}

static void test_kernels_column_sums_match_ref(void **state)
{
    (void)state;
    enum { R = 37, C = 83 };
    static float x[R * C];
    float a[C], b[C];
    fill(x, (size_t)R * C, 1.0f, 7);
    fill(a, C, 1.0f, 8);
    memcpy(b, a, sizeof a);
    ebm_add_column_sums(x, R, C, -0.25f, a);
    ebm_add_column_sums_ref(x, R, C, -0.25f, b);
    assert_close_f(a, b, C, 1e-5, "column sums vs ref");
}

static void test_kernels_momentum_update_matches_ref(void **state)
{
    (void)state;
    enum { N = 1001 };
    static float w1[N], w2[N], v1[N], v2[N], g[N];
    fill(w1, N, 1.0f, 9);
    fill(v1, N, 0.1f, 10);
    fill(g, N, 1.0f, 11);
    memcpy(w2, w1, sizeof w1);
    memcpy(v2, v1, sizeof v1);
    ebm_momentum_update(w1, v1, g, N, 0.9f, 0.05f, 0.001f);
    ebm_momentum_update_ref(w2, v2, g, N, 0.9f, 0.05f, 0.001f);
    assert_close_f(v1, v2, N, 1e-7, "velocity vs ref");
    assert_close_f(w1, w2, N, 1e-6, "weights vs ref");
}

static void test_kernels_softplus_sums_match_ref(void **state)
{
    (void)state;
    enum { N = 517 };
    static float x[N], w[N];
    fill(x, N, 8.0f, 13);
    fill(w, N, 0.5f, 14);
    /* An AIS step: betas 1e-4 apart. The float kernel forms each difference
     * part by part; its error is a few float ulps of the tails, not of x. */
    assert_close_d(ebm_softplus_diff_sum(x, N, 0.4999f, 0.5f),
                   ebm_softplus_diff_sum_ref(x, N, 0.4999f, 0.5f), 2e-6, "AIS step sum");
    assert_close_d(ebm_softplus_diff_sum(x, N, 0.0f, 1.0f),
                   ebm_softplus_diff_sum_ref(x, N, 0.0f, 1.0f), 1e-4, "whole-path sum");
    for (int d = -1; d <= 1; d += 2)
        assert_close_d(ebm_softplus_shift_diff(x, w, (float)d, N),
                       ebm_softplus_shift_diff_ref(x, w, (float)d, N), 1e-4, "flip sum");
    /* Relative 3e-7, except that exp's argument is clamped at -80: below
     * that the value is exp(-80) ~ 1.8e-35 instead of smaller still. */
    for (float t = -90.0f; t < 90.0f; t += 0.37f)
        assert_close_d(ebm_softplus_f(t), ebm_softplus(t), 3e-7 * ebm_softplus(t) + 2e-35,
                       "softplus_f");
}

static void test_kernels_sigmoid_scaled_matches_ref(void **state)
{
    (void)state;
    enum { N = 333 };
    float x[N], p[N], q[N], zero[N];
    fill(x, N, 5.0f, 15);
    memset(zero, 0, sizeof zero);
    ebm_sigmoid_scaled(x, p, N, 0.7f);
    for (int i = 0; i < N; i++) q[i] = 0.7f * x[i];
    ebm_sigmoid_bias_ref(q, zero, 1, N);
    assert_close_f(p, q, N, 2.5e-7, "sigmoid(beta x) vs ref");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_kernels_softplus_sums_match_ref),
    cmocka_unit_test(test_kernels_sigmoid_scaled_matches_ref),
    cmocka_unit_test(test_kernels_column_sums_match_ref),
    cmocka_unit_test(test_kernels_momentum_update_matches_ref),
    cmocka_unit_test(test_kernels_gemm_matches_ref),
    cmocka_unit_test(test_kernels_sigmoid_matches_ref),
    cmocka_unit_test(test_kernels_fused_sample_matches_ref),
    cmocka_unit_test(test_kernels_bernoulli_uses_uniform_stream),
    cmocka_unit_test(test_kernels_bernoulli_frequency),
    cmocka_unit_test(test_kernels_softplus_stable),
};

EBM_TEST_MAIN(tests)
