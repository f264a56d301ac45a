/* ESS and split-R-hat against traces whose answers are known: AR(1) chains
 * (ESS / N = (1 - rho) / (1 + rho)), i.i.d. chains, a chain shifted away from
 * the others, hand-worked values, and a direct O(N^2) twin of the FFT
 * estimator. The MPI version runs here on the 1-rank world. */
#include "testutil.h"

#include "ebm/diagnostics.h"
#include "ebm/rng.h"

/* M stationary AR(1) chains x_{t+1} = rho x_t + sqrt(1 - rho^2) e_t, unit
 * variance, chain m from its own stream. */
static double *ar1(int M, int N, double rho, uint64_t seed)
{
    double *x = malloc(sizeof *x * (size_t)M * N);
    float *e = malloc(sizeof *e * (size_t)N);
    assert_non_null(x);
    assert_non_null(e);
    double s = sqrt(1.0 - rho * rho);
    for (int m = 0; m < M; m++) {
        struct ebm_rng r;
        ebm_rng_init(&r, seed, (uint32_t)m, EBM_RNG_TEST);
        ebm_rng_normal(&r, e, (size_t)N);
        double *c = x + (size_t)m * N;
        c[0] = e[0];
        for (int t = 1; t < N; t++) c[t] = rho * c[t - 1] + s * e[t];
    }
    free(e);
    return x;
}

/* ESS / (M N) against (1 - rho) / (1 + rho) = 1 / tau. The tolerance is 4
 * standard deviations of a window estimator of tau over S draws,
 * var(tau^) / tau^2 ~ 2 (2 W + 1) / S (Madras & Sokal 1988, J. Stat. Phys.
 * 50, 109), with a generous window W = 5 tau for where Geyer's sequence is
 * truncated (rho^t falls below the noise sd(rho^_t) ~ sqrt(tau / S) well
 * before: near t = 45 for rho = 0.9). */
static void check_ar1(double rho, uint64_t seed)
{
    enum { M = 8, N = 50000 };
    double *x = ar1(M, N, rho, seed);
    struct ebm_trace_diag d;
    double per_chain[M];
    assert_int_equal(ebm_diagnose(x, M, N, &d, per_chain), EBM_OK);
    double tau = (1.0 + rho) / (1.0 - rho), W = 5.0 * tau, S = (double)M * N;
    double tol_pooled = 4.0 * sqrt(2.0 * (2.0 * W + 1.0) / S);
    /* The mean of M per-chain estimates, each over N draws. */
    double tol_chain = 4.0 * sqrt(2.0 * (2.0 * W + 1.0) / N) / sqrt((double)M);
    double raw;
    assert_int_equal(ebm_ess(x, M, N, &raw), EBM_OK);
    print_message("AR(1) rho %.2f: ESS/S pooled (split) %.4f, pooled %.4f, mean per chain %.4f, "
                  "expected %.4f (tolerances %.3f, %.3f relative); split-R-hat %.5f\n",
                  rho, d.ess / S, raw / S, d.ess_chain_mean / N, 1.0 / tau, tol_pooled,
                  tol_chain, d.rhat);
    assert_close_d(d.ess / S * tau, 1.0, tol_pooled, "split pooled ESS / S, relative to 1 / tau");
    assert_close_d(raw / S * tau, 1.0, tol_pooled, "pooled ESS / S, relative to 1 / tau");
    assert_close_d(d.ess_chain_mean / N * tau, 1.0, tol_chain,
                   "mean per-chain ESS / N, relative to 1 / tau");
    assert_true(d.ess_chain_min <= d.ess_chain_mean);
    for (int m = 0; m < M; m++) assert_true(per_chain[m] >= d.ess_chain_min);
    free(x);
}

static void test_diagnostics_ess_of_ar1_matches_theory(void **state)
{
    (void)state;
    check_ar1(0.5, 11);
    check_ar1(0.9, 12);
}

/* i.i.d. draws: tau = 1, so ESS / S = 1 within 4 sd at W = 5. */
static void test_diagnostics_ess_of_iid_is_n(void **state)
{
    (void)state;
    check_ar1(0.0, 13);
}

/* Split-R-hat of chains from one distribution: with halves of n draws and
 * n_eff = n / tau each, B / n ~ var / n_eff chi2_{2M-1} / (2M - 1), so
 * R - 1 ~ chi2_7 / 7 / (2 n_eff) <= 29.9 / 7 / (2 * 526) = 0.0041 at the
 * 1e-4 point of chi2_7, for M = 4, N = 20000, rho = 0.9: below 1.01. */
static void test_diagnostics_rhat_near_one_for_mixed_chains(void **state)
{
    (void)state;
    enum { M = 4, N = 20000 };
    double *x = ar1(M, N, 0.9, 14), r;
    assert_int_equal(ebm_split_rhat(x, M, N, &r), EBM_OK);
    print_message("split-R-hat of 4 AR(1) chains (rho 0.9, N %d): %.5f\n", N, r);
    assert_true(r < 1.01);
    assert_true(r > 0.99);
    free(x);
}

/* One of four i.i.d. N(0, 1) chains shifted by +2: the 8 half means are
 * 2, 2 and six 0, var = 6/7, so R = sqrt((n - 1) / n + 6/7) = 1.363 up to
 * sampling noise of the means (sd ~ 1 / sqrt(n) = 0.01). */
static void test_diagnostics_rhat_flags_a_shifted_chain(void **state)
{
    (void)state;
    enum { M = 4, N = 20000 };
    double *x = ar1(M, N, 0.0, 15), r;
    for (int i = 0; i < N; i++) x[3 * N + i] += 2.0;
    assert_int_equal(ebm_split_rhat(x, M, N, &r), EBM_OK);
    print_message("split-R-hat with one chain shifted by 2 sd: %.4f (expected 1.363)\n", r);
    assert_true(r > 1.1);
    assert_close_d(r, sqrt(1.0 - 2.0 / N + 6.0 / 7.0), 0.03, "split-R-hat, one chain shifted");
    /* A trend inside every chain is what splitting catches: each chain
     * drifts from 0 to 4 over its draws, and all chains agree. The halves'
     * means are about 1 and 3, W = 1 + 2^2 / 12, var(means) = 8/7, so
     * R = sqrt(1 + (8/7) / W) = 1.36. */
    for (int m = 0; m < M; m++)
        for (int i = 0; i < N; i++)
            x[(size_t)m * N + i] = (m == 3 ? x[(size_t)m * N + i] - 2.0 : x[(size_t)m * N + i]) +
                                   4.0 * i / N;
    assert_int_equal(ebm_split_rhat(x, M, N, &r), EBM_OK);
    print_message("split-R-hat with a drift inside each chain: %.4f (expected 1.36)\n", r);
    assert_true(r > 1.2);
    free(x);
}

/* By hand: halves [1 2] [3 4] [2 4] [6 8], n = 2; means 1.5 3.5 3 7,
 * variances .5 .5 2 2; W = 1.25, B = 2 var(means) = 65/6;
 * R = sqrt((1/2 W + B/2) / W) = sqrt(29/6). An odd N drops the middle draw. */
static void test_diagnostics_rhat_matches_hand_computation(void **state)
{
    (void)state;
    const double x[8] = { 1, 2, 3, 4, 2, 4, 6, 8 };
    const double odd[10] = { 1, 2, 100, 3, 4, 2, 4, -100, 6, 8 };
    double r;
    assert_int_equal(ebm_split_rhat(x, 2, 4, &r), EBM_OK);
    assert_close_d(r, sqrt(29.0 / 6.0), 1e-12, "split-R-hat by hand");
    assert_int_equal(ebm_split_rhat(odd, 2, 5, &r), EBM_OK);
    assert_close_d(r, sqrt(29.0 / 6.0), 1e-12, "split-R-hat, odd N");
}

/* The same estimator with direct O(N^2) autocovariances, for the FFT. */
static double ess_ref(const double *x, int M, int N)
{
    double *acov = calloc((size_t)N, sizeof *acov), *rho = calloc((size_t)N, sizeof *rho);
    double *means = calloc((size_t)M, sizeof *means);
    for (int m = 0; m < M; m++) {
        const double *c = x + (size_t)m * N;
        for (int i = 0; i < N; i++) means[m] += c[i] / N;
        for (int t = 0; t < N; t++) {
            double s = 0;
            for (int i = 0; i + t < N; i++) s += (c[i] - means[m]) * (c[i + t] - means[m]);
            acov[t] += s / N / M;
        }
    }
    double W = acov[0] * N / (N - 1.0), vp = W * (N - 1.0) / N, mu = 0, b = 0;
    for (int m = 0; m < M; m++) mu += means[m] / M;
    for (int m = 0; m < M; m++) b += (means[m] - mu) * (means[m] - mu);
    if (M > 1) vp += b / (M - 1);
    double even = 1, odd = 1 - (W - acov[1]) / vp;
    rho[0] = 1;
    rho[1] = odd;
    int t = 0;
    while (t < N - 5 && even + odd > 0) {
        t += 2;
        even = 1 - (W - acov[t]) / vp;
        odd = 1 - (W - acov[t + 1]) / vp;
        if (even + odd >= 0) { rho[t] = even; rho[t + 1] = odd; }
    }
    int mt = t;
    if (even > 0) rho[mt] = even;
    for (t = 2; t <= mt - 2; t += 2)
        if (rho[t] + rho[t + 1] > rho[t - 2] + rho[t - 1]) rho[t] = rho[t + 1] = (rho[t - 2] + rho[t - 1]) / 2;
    double tau = -1 + rho[mt];
    for (int i = 0; i < mt; i++) tau += 2 * rho[i];
    double S = (double)M * N;
    if (tau < 1 / log10(S)) tau = 1 / log10(S);
    free(acov); free(rho); free(means);
    return S / tau;
}

static void test_diagnostics_ess_fft_matches_direct_sums(void **state)
{
    (void)state;
    /* Lengths around powers of two, where the padding changes. */
    const int lengths[] = { 4, 5, 31, 64, 65, 1000 };
    for (size_t k = 0; k < sizeof lengths / sizeof *lengths; k++) {
        int N = lengths[k];
        for (int M = 1; M <= 3; M++) {
            double *x = ar1(M, N, 0.7, 16 + k), e;
            assert_int_equal(ebm_ess(x, M, N, &e), EBM_OK);
            double ref = ess_ref(x, M, N);
            assert_close_d(e / ref, 1.0, 1e-9, "ESS (FFT) / ESS (direct sums)");
            free(x);
        }
    }
}

/* Antithetic and constant traces: the cap S log10(S), and NaN. */
static void test_diagnostics_edge_cases(void **state)
{
    (void)state;
    enum { N = 100 };
    double x[2 * N];
    for (int i = 0; i < 2 * N; i++) x[i] = (i % 2) ? 1.0 : -1.0;
    double e, r;
    assert_int_equal(ebm_ess(x, 2, N, &e), EBM_OK);
    assert_true(e <= 2.0 * N * log10(2.0 * N) * (1 + 1e-12));
    assert_true(e > 2.0 * N); /* antithetic: better than independent */
    for (int i = 0; i < 2 * N; i++) x[i] = 3.0;
    assert_int_equal(ebm_ess(x, 2, N, &e), EBM_OK);
    assert_true(isnan(e));
    assert_int_equal(ebm_split_rhat(x, 2, N, &r), EBM_OK);
    assert_true(isnan(r));
}

static void test_diagnostics_rejects_bad_traces(void **state)
{
    (void)state;
    double x[16] = { 0 }, e, r;
    struct ebm_trace_diag d;
    assert_int_equal(ebm_ess(x, 1, 3, &e), EBM_ERR_INPUT);
    ebm_error_clear();
    assert_int_equal(ebm_ess(x, 0, 8, &e), EBM_ERR_INPUT);
    ebm_error_clear();
    assert_int_equal(ebm_diagnose(x, 2, 7, &d, NULL), EBM_ERR_INPUT);
    ebm_error_clear();
    x[9] = NAN;
    assert_int_equal(ebm_split_rhat(x, 2, 8, &r), EBM_ERR_INPUT);
    ebm_error_clear();
}

static void test_diagnostics_comm_equals_plain_on_one_rank(void **state)
{
    (void)state;
    enum { M = 6, N = 3001 };
    double *x = ar1(M, N, 0.8, 20);
    struct ebm_trace_diag a, b;
    assert_int_equal(ebm_diagnose(x, M, N, &a, NULL), EBM_OK);
    assert_int_equal(ebm_diagnose_comm(x, M, N, MPI_COMM_WORLD, &b), EBM_OK);
    assert_int_equal(b.chains, M);
    assert_int_equal(b.draws, N);
    assert_memory_equal(&a, &b, sizeof a);
    /* A rank without chains is an error only when no rank has any. */
    assert_int_equal(ebm_diagnose_comm(x, 0, N, MPI_COMM_WORLD, &b), EBM_ERR_INPUT);
    ebm_error_clear();
    free(x);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_diagnostics_ess_of_ar1_matches_theory),
    cmocka_unit_test(test_diagnostics_ess_of_iid_is_n),
    cmocka_unit_test(test_diagnostics_rhat_near_one_for_mixed_chains),
    cmocka_unit_test(test_diagnostics_rhat_flags_a_shifted_chain),
    cmocka_unit_test(test_diagnostics_rhat_matches_hand_computation),
    cmocka_unit_test(test_diagnostics_ess_fft_matches_direct_sums),
    cmocka_unit_test(test_diagnostics_edge_cases),
    cmocka_unit_test(test_diagnostics_rejects_bad_traces),
    cmocka_unit_test(test_diagnostics_comm_equals_plain_on_one_rank),
};

EBM_TEST_MAIN(tests)
