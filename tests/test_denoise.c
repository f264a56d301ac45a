/* Denoising: the corruption's rates, shape and row-keyed streams; clamped
 * pixels that never move; no corruption in, the data out; and the restored
 * posterior means against exact enumeration on tiny RBMs (Gibbs within
 * five standard errors measured over independent chains, mean field
 * within its proven bound or against a double-precision reference). */
#include "testutil.h"

#include <stdbool.h>

#include "enum.h"
#include "ebm/denoise.h"

static const struct ebm_corruption MASK_RANDOM_0 = { EBM_CORRUPT_MASK_RANDOM, 0.0, 0, 0 };

static void random_binary(float *x, size_t n, uint64_t seed)
{
    struct ebm_rng rng;
    ebm_rng_init(&rng, seed, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&rng, x, n);
    for (size_t k = 0; k < n; k++) x[k] = x[k] < 0.5f ? 0.0f : 1.0f;
}

static void restore(const struct rbm *m, const struct ebm_corruption *c, int method, int steps,
                    const float *y, const uint8_t *mask, int B, int64_t first, float *out)
{
    struct ebm_denoiser d;
    assert_int_equal(ebm_denoiser_init(&d, m, c, method, steps, 3, B), EBM_OK);
    ebm_denoise_rows(&d, y, mask, B, first, out);
    ebm_denoiser_free(&d);
}

/* E[x_i | what was seen] by enumerating x over all 2^V states:
 * weight exp(-F(x)) * prod_i lik_i(x_i), where lik_i(x_i) is 1 for a missing
 * pixel, [x_i == y_i] for an observed one, and for salt-and-pepper noise of
 * rate p, p(y_i | x_i) = 1 - p/2 when y_i == x_i and p/2 otherwise
 * (written out here, independently of ebm_denoise_evidence). */
static void exact_posterior(const struct rbm *m, const float *y, const uint8_t *mask,
                            const struct ebm_corruption *c, double *mean)
{
    int V = m->n_visible;
    float x[32];
    double logw[1 << 12], mx = -INFINITY;
    bool sp = c->kind == EBM_CORRUPT_SALTPEPPER;
    for (unsigned s = 0; s < (1u << V); s++) {
        enum_state(s, V, x);
        double lw = enum_neg_free_energy(m, x);
        for (int i = 0; i < V; i++) {
            if (sp) lw += log(x[i] == y[i] ? 1.0 - c->p / 2 : c->p / 2);
            else if (!mask[i] && x[i] != y[i]) lw = -INFINITY;
        }
        logw[s] = lw;
        if (lw > mx) mx = lw;
    }
    double z = 0.0;
    for (int i = 0; i < V; i++) mean[i] = 0.0;
    for (unsigned s = 0; s < (1u << V); s++) {
        double w = exp(logw[s] - mx);
        z += w;
        for (int i = 0; i < V; i++) mean[i] += w * ((s >> i) & 1u);
    }
    for (int i = 0; i < V; i++) mean[i] /= z;
}

static void test_denoise_corruption_parse(void **state)
{
    (void)state;
    struct ebm_corruption c;
    assert_int_equal(ebm_corruption_parse("saltpepper:0.2", &c), EBM_OK);
    assert_true(c.kind == EBM_CORRUPT_SALTPEPPER && c.p == 0.2);
    assert_int_equal(ebm_corruption_parse("mask:random:1", &c), EBM_OK);
    assert_true(c.kind == EBM_CORRUPT_MASK_RANDOM && c.p == 1.0);
    assert_int_equal(ebm_corruption_parse("mask:bottom-half", &c), EBM_OK);
    assert_true(c.kind == EBM_CORRUPT_MASK_BOTTOM);
    const char *bad[] = { "saltpepper:", "saltpepper:1.01", "saltpepper:-0.1", "saltpepper:nan",
                          "mask:random:0.5x", "mask:random", "mask:top-half", "blur", "" };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        assert_int_equal(ebm_corruption_parse(bad[k], &c), EBM_ERR_INPUT);
        assert_non_null(strstr(ebm_error_message(), "--corrupt"));
        ebm_error_clear();
    }
}

static void test_denoise_corrupt_rates_and_shape(void **state)
{
    (void)state;
    enum { B = 200, V = 100 };
    static float x[B * V], y[B * V];
    static uint8_t mask[B * V];
    random_binary(x, B * V, 1);
    /* Hits are Binomial(n, p) and zeros among hits Binomial(hits, 1/2):
     * five standard deviations allow a false failure once in ~2 million. */
    struct ebm_corruption sp = { EBM_CORRUPT_SALTPEPPER, 0.3, 0, 0 };
    ebm_denoise_corrupt(&sp, x, B, V, 0, 7, y, mask);
    double hits = 0, zeros = 0, n = B * V;
    for (int k = 0; k < B * V; k++) {
        hits += mask[k];
        zeros += mask[k] && y[k] == 0.0f;
        assert_true(y[k] == 0.0f || y[k] == 1.0f);
        if (!mask[k]) assert_true(y[k] == x[k]);
    }
    assert_close_d(hits / n, 0.3, 5 * sqrt(0.3 * 0.7 / n), "salt-and-pepper hit rate");
    assert_close_d(zeros / hits, 0.5, 5 * sqrt(0.25 / hits), "share of hits set to 0");

    struct ebm_corruption mr = { EBM_CORRUPT_MASK_RANDOM, 0.4, 0, 0 };
    ebm_denoise_corrupt(&mr, x, B, V, 0, 7, y, mask);
    double missing = 0;
    for (int k = 0; k < B * V; k++) {
        missing += mask[k];
        assert_true(y[k] == (mask[k] ? 0.0f : x[k]));
    }
    assert_close_d(missing / n, 0.4, 5 * sqrt(0.4 * 0.6 / n), "mask:random missing rate");

    /* A 5 x 4 image: the bottom floor(5 / 2) = 2 rows, pixels 12..19. */
    struct ebm_corruption bh = { EBM_CORRUPT_MASK_BOTTOM, 0.0, 5, 4 };
    ebm_denoise_corrupt(&bh, x, 3, 20, 0, 7, y, mask);
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < 20; i++) assert_int_equal(mask[r * 20 + i], i >= 12);
    /* Without an image shape, a V = 7 vector is a 7 x 1 image: pixels 4..6. */
    struct ebm_corruption bv = { EBM_CORRUPT_MASK_BOTTOM, 0.0, 0, 0 };
    ebm_denoise_corrupt(&bv, x, 1, 7, 0, 7, y, mask);
    for (int i = 0; i < 7; i++) assert_int_equal(mask[i], i >= 4);
}

/* Rows corrupted and restored in one piece or in pieces at their global
 * indices are the same bytes, as they are over 1 or N ranks. */
static void test_denoise_streams_do_not_depend_on_the_split(void **state)
{
    (void)state;
    enum { B = 37, V = 16, H = 8 };
    static const int cuts[] = { 0, 10, 11, 37 };
    float x[B * V], y1[B * V], y2[B * V], y3[B * V], o1[B * V], o2[B * V];
    uint8_t m1[B * V], m2[B * V];
    struct rbm m;
    enum_random_rbm(&m, V, H, 1.0f, 11);
    random_binary(x, B * V, 2);
    const struct ebm_corruption kinds[] = { { EBM_CORRUPT_SALTPEPPER, 0.25, 0, 0 },
                                            { EBM_CORRUPT_MASK_RANDOM, 0.5, 0, 0 } };
    for (int k = 0; k < 2; k++) {
        ebm_denoise_corrupt(&kinds[k], x, B, V, 0, 5, y1, m1);
        for (int p = 0; p < 3; p++) {
            int a = cuts[p], b = cuts[p + 1];
            ebm_denoise_corrupt(&kinds[k], x + a * V, b - a, V, a, 5, y2 + a * V, m2 + a * V);
        }
        assert_memory_equal(y1, y2, sizeof y1);
        assert_memory_equal(m1, m2, sizeof m1);
        ebm_denoise_corrupt(&kinds[k], x, B, V, 0, 6, y3, m2);
        assert_memory_not_equal(y1, y3, sizeof y1); /* and the seed matters */

        /* Batches of 8 rows: the pieces start and end inside batches. */
        struct ebm_denoiser d;
        assert_int_equal(ebm_denoiser_init(&d, &m, &kinds[k], EBM_DENOISE_GIBBS, 9, 3, 8),
                         EBM_OK);
        ebm_denoise_shard(&d, y1, m1, B, 0, o1);
        for (int p = 0; p < 3; p++) {
            int a = cuts[p], b = cuts[p + 1];
            ebm_denoise_shard(&d, y1 + a * V, m1 + a * V, b - a, a, o2 + a * V);
        }
        ebm_denoiser_free(&d);
        assert_memory_equal(o1, o2, sizeof o1);
    }
    rbm_free(&m);
}

static void test_denoise_clamped_pixels_never_change(void **state)
{
    (void)state;
    enum { B = 20, V = 16, H = 8 };
    float x[B * V], y[B * V], out[B * V];
    uint8_t mask[B * V];
    struct rbm m;
    enum_random_rbm(&m, V, H, 1.0f, 12);
    random_binary(x, B * V, 3);
    const struct ebm_corruption kinds[] = { { EBM_CORRUPT_MASK_BOTTOM, 0.0, 4, 4 },
                                            { EBM_CORRUPT_MASK_RANDOM, 0.5, 0, 0 } };
    for (int k = 0; k < 2; k++)
        for (int method = 0; method < 2; method++) {
            ebm_denoise_corrupt(&kinds[k], x, B, V, 0, 9, y, mask);
            restore(&m, &kinds[k], method, 7, y, mask, B, 0, out);
            int inferred_on = 0;
            for (int i = 0; i < B * V; i++) {
                if (!mask[i]) {
                    assert_true(out[i] == x[i]); /* bit for bit */
                } else {
                    assert_true(out[i] >= 0.0f && out[i] <= 1.0f);
                    inferred_on += out[i] > 0.0f;
                }
            }
            assert_true(inferred_on > 0); /* the missing pixels were inferred, not left 0 */
        }
    rbm_free(&m);
}

/* Nothing missing or noiseless: the data come back exactly. Nearly
 * noiseless (p = 1e-4): every p(v_i = 1 | h, y) that is averaged lies within
 * sigmoid(-(L - A_i)) of x_i, where L = log((2 - p) / p) is the channel's
 * pull and A_i = |b_i| + sum_j |W_ij| bounds the model's, so out does too. */
static void test_denoise_no_corruption_returns_the_data(void **state)
{
    (void)state;
    enum { B = 30, V = 16, H = 8 };
    float x[B * V], y[B * V], out[B * V];
    uint8_t mask[B * V];
    struct rbm m;
    enum_random_rbm(&m, V, H, 0.3f, 13);
    random_binary(x, B * V, 4);
    const struct ebm_corruption none[] = { MASK_RANDOM_0, { EBM_CORRUPT_SALTPEPPER, 0.0, 0, 0 } };
    for (int k = 0; k < 2; k++)
        for (int method = 0; method < 2; method++) {
            ebm_denoise_corrupt(&none[k], x, B, V, 0, 1, y, mask);
            restore(&m, &none[k], method, 5, y, mask, B, 0, out);
            assert_memory_equal(out, x, sizeof x);
        }
    struct ebm_corruption tiny = { EBM_CORRUPT_SALTPEPPER, 1e-4, 0, 0 };
    double L = log((2.0 - tiny.p) / tiny.p), worst_a = 0.0;
    for (int i = 0; i < V; i++) {
        double a = fabs(m.vbias[i]);
        for (int j = 0; j < H; j++) a += fabs(m.W[i * H + j]);
        if (a > worst_a) worst_a = a;
    }
    double tol = 1.0 / (1.0 + exp(L - worst_a)) + 1e-6;
    assert_true(tol < 0.01);
    for (int method = 0; method < 2; method++) {
        memcpy(y, x, sizeof x); /* no pixel hit: y = x */
        restore(&m, &tiny, method, 50, y, mask, B, 0, out);
        assert_close_f(out, x, B * V, tol, "nearly noiseless: restored vs data");
    }
    rbm_free(&m);
}

/* R copies of one corrupted row are R independent chains (their streams
 * are keyed by row), so their spread gives the standard error of the
 * mean; Gibbs must land within 5 of them of the exact posterior mean. */
static void check_gibbs(const struct rbm *m, const struct ebm_corruption *c, const float *y1,
                        const uint8_t *mask1, const char *what)
{
    enum { R = 128, STEPS = 1000, VMAX = 8 };
    int V = m->n_visible;
    static float y[R * VMAX], out[R * VMAX];
    static uint8_t mask[R * VMAX];
    for (int r = 0; r < R; r++) {
        memcpy(y + r * V, y1, sizeof *y * V);
        memcpy(mask + r * V, mask1, V);
    }
    double exact[VMAX], worst = 0.0;
    exact_posterior(m, y1, mask1, c, exact);
    restore(m, c, EBM_DENOISE_GIBBS, STEPS, y, mask, R, 0, out);
    for (int i = 0; i < V; i++) {
        double s = 0, ss = 0;
        for (int r = 0; r < R; r++) {
            s += out[r * V + i];
            ss += (double)out[r * V + i] * out[r * V + i];
        }
        double mean = s / R, sd = sqrt(fmax(ss / R - mean * mean, 0.0) * R / (R - 1));
        double se = sd / sqrt(R);
        assert_true(se < 0.01); /* enough samples for the check to mean something */
        if (fabs(mean - exact[i]) > worst) worst = fabs(mean - exact[i]);
        assert_close_d(mean, exact[i], 5 * se + 1e-5, what);
    }
    print_message("%s: largest difference %.3g\n", what, worst);
}

static void test_denoise_mask_gibbs_matches_enumeration(void **state)
{
    (void)state;
    enum { V = 6, H = 3 };
    struct rbm m;
    enum_random_rbm(&m, V, H, 1.0f, 21);
    const float y[3][V] = { { 1, 0, 1, 0, 0, 1 }, { 0, 0, 1, 0, 1, 1 }, { 0 } };
    const uint8_t mask[3][V] = { { 0, 1, 0, 0, 1, 0 }, { 1, 0, 1, 1, 0, 1 },
                                 { 1, 1, 1, 1, 1, 1 } }; /* the last: p(v) itself */
    for (int k = 0; k < 3; k++) {
        /* observed pixels keep y; missing ones are 0 as the corruption writes them */
        float yk[V];
        for (int i = 0; i < V; i++) yk[i] = mask[k][i] ? 0.0f : y[k][i];
        check_gibbs(&m, &MASK_RANDOM_0, yk, mask[k], "mask: Gibbs vs exact p(v_i | observed)");
    }
    rbm_free(&m);
}

static void test_denoise_saltpepper_gibbs_matches_enumeration(void **state)
{
    (void)state;
    enum { V = 6, H = 3 };
    struct rbm m;
    enum_random_rbm(&m, V, H, 1.0f, 22);
    const float y[2][V] = { { 1, 0, 1, 1, 0, 0 }, { 0, 1, 1, 0, 0, 1 } };
    const uint8_t unused[V] = { 0 };
    const double rates[] = { 0.2, 0.6 };
    for (int k = 0; k < 2; k++) {
        struct ebm_corruption c = { EBM_CORRUPT_SALTPEPPER, rates[k], 0, 0 };
        check_gibbs(&m, &c, y[k], unused, "salt and pepper: Gibbs vs exact E[x_i | y]");
    }
    rbm_free(&m);
}

/* One missing pixel m, the rest observed: hidden inputs z_j. Exact:
 * logit p(v_m = 1 | obs) = b_m + sum_j softplus(z_j + w_j) - softplus(z_j)
 *                        = b_m + sum_j w_j int_0^1 sigmoid(z_j + t w_j) dt;
 * the mean-field fixed point mu: b_m + sum_j w_j sigmoid(z_j + mu w_j).
 * With |sigmoid'| <= 1/4 and int_0^1 |t - mu| dt <= 1/2 the logits differ by
 * at most sum_j w_j^2 / 8, so the probabilities by sum_j w_j^2 / 32. */
static void test_denoise_meanfield_one_missing_pixel_within_bound(void **state)
{
    (void)state;
    enum { V = 6, H = 3 };
    struct rbm m;
    enum_random_rbm(&m, V, H, 1.0f, 23);
    for (int k = 0; k < V * H; k++) m.W[k] *= 0.3f; /* weak weights, ordinary biases */
    float x[V], y[V], out[V];
    uint8_t mask[V];
    double exact[V], worst = 0.0;
    for (int pattern = 0; pattern < 8; pattern++)
        for (int i = 0; i < V; i++) {
            random_binary(x, V, 100 + (uint64_t)pattern);
            memset(mask, 0, sizeof mask);
            mask[i] = 1;
            memcpy(y, x, sizeof y);
            y[i] = 0.0f;
            double bound = 0.0;
            for (int j = 0; j < H; j++) bound += (double)m.W[i * H + j] * m.W[i * H + j] / 32;
            exact_posterior(&m, y, mask, &MASK_RANDOM_0, exact);
            restore(&m, &MASK_RANDOM_0, EBM_DENOISE_MEANFIELD, 50, y, mask, 1, 0, out);
            if (fabs(out[i] - exact[i]) > worst) worst = fabs(out[i] - exact[i]);
            assert_close_d(out[i], exact[i], bound + 1e-5, "mean field vs exact, one pixel");
        }
    print_message("mean field, one missing pixel: largest difference %.3g\n", worst);
    rbm_free(&m);
}

/* The mean-field iteration against the same iteration in double scalar
 * loops, for several missing pixels and for salt and pepper; 1e-4 allows
 * float rounding carried through 30 contracting iterations. */
static void test_denoise_meanfield_matches_reference(void **state)
{
    (void)state;
    enum { V = 6, H = 3, STEPS = 30 };
    struct rbm m;
    enum_random_rbm(&m, V, H, 0.5f, 24);
    const float y0[V] = { 1, 0, 0, 1, 1, 0 };
    const uint8_t mask[V] = { 1, 1, 0, 0, 1, 0 };
    const struct ebm_corruption cs[] = { MASK_RANDOM_0, { EBM_CORRUPT_SALTPEPPER, 0.3, 0, 0 } };
    for (int k = 0; k < 2; k++) {
        bool sp = cs[k].kind == EBM_CORRUPT_SALTPEPPER;
        double e = sp ? log((2.0 - cs[k].p) / cs[k].p) : 0.0, v[V], ph[H];
        float y[V], out[V], want[V];
        for (int i = 0; i < V; i++) {
            y[i] = !sp && mask[i] ? 0.0f : y0[i];
            v[i] = !sp && mask[i] ? 0.5 : y[i];
        }
        for (int t = 0; t < STEPS; t++) {
            for (int j = 0; j < H; j++) {
                double a = m.hbias[j];
                for (int i = 0; i < V; i++) a += v[i] * m.W[i * H + j];
                ph[j] = 1.0 / (1.0 + exp(-a));
            }
            for (int i = 0; i < V; i++) {
                if (!sp && !mask[i]) continue;
                double a = m.vbias[i] + (sp ? (2.0 * y[i] - 1.0) * e : 0.0);
                for (int j = 0; j < H; j++) a += ph[j] * m.W[i * H + j];
                v[i] = 1.0 / (1.0 + exp(-a));
            }
        }
        for (int i = 0; i < V; i++) want[i] = (float)v[i];
        restore(&m, &cs[k], EBM_DENOISE_MEANFIELD, STEPS, y, mask, 1, 0, out);
        assert_close_f(out, want, V, 1e-4, sp ? "mean field, salt and pepper, vs reference"
                                             : "mean field, mask, vs reference");
    }
    rbm_free(&m);
}

static void test_denoise_errors_and_psnr(void **state)
{
    (void)state;
    const float x[] = { 0, 1, 1, 0, 1, 1, 1, 1 }, z[] = { 0.2f, 0.6f, 0.4f, 0, 1, 1, 1, 1 };
    double mse[2], wrong[2];
    ebm_denoise_errors(x, z, 2, 4, mse, wrong);
    /* Row 0: (0.04 + 0.16 + 0.36 + 0) / 4; only 0.4 against 1 is wrong. */
    assert_close_d(mse[0], 0.14, 1e-7, "mse of row 0");
    assert_close_d(wrong[0], 0.25, 0.0, "wrong pixels of row 0");
    assert_close_d(mse[1], 0.0, 0.0, "mse of an exact row");
    assert_close_d(ebm_psnr(0.01), 20.0, 1e-12, "PSNR of mse 0.01");
    assert_true(isinf(ebm_psnr(0.0)));
    assert_close_d(ebm_denoise_evidence(0.2), log(9.0), 1e-12, "log((1 - 0.1) / 0.1)");
    assert_close_d(ebm_denoise_evidence(1.0), 0.0, 0.0, "pure noise carries nothing");
    assert_int_equal(ebm_denoise_burn_in(100), 25);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_denoise_corruption_parse),
    cmocka_unit_test(test_denoise_corrupt_rates_and_shape),
    cmocka_unit_test(test_denoise_streams_do_not_depend_on_the_split),
    cmocka_unit_test(test_denoise_clamped_pixels_never_change),
    cmocka_unit_test(test_denoise_no_corruption_returns_the_data),
    cmocka_unit_test(test_denoise_mask_gibbs_matches_enumeration),
    cmocka_unit_test(test_denoise_saltpepper_gibbs_matches_enumeration),
    cmocka_unit_test(test_denoise_meanfield_one_missing_pixel_within_bound),
    cmocka_unit_test(test_denoise_meanfield_matches_reference),
    cmocka_unit_test(test_denoise_errors_and_psnr),
};

EBM_TEST_MAIN(tests)
