/* CD statistics: the fast path against the reference kernels, and the
 * model term from long Gibbs chains against exact enumeration. */
#include "testutil.h"
#include "enum.h"
#include "typed.h"

#include "ebm/cd.h"
#include "ebm/logz.h"

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

/* Keyed sampling: what a row draws depends on its global index and the
 * step, not on the other rows of its batch or where the batch starts, so
 * a batch split over ranks or replicas samples as the whole batch does;
 * another step or seed draws otherwise. */
static void test_cd_keyed_rows_are_independent_of_the_batch(void **state)
{
    (void)state;
    enum { V = 9, H = 7, C = 6, K = 2 };
    struct rbm m;
    enum_random_rbm(&m, V, H, 1.0f, 36);
    float v[C * V], part[C * V], ph[C * H], h[C * H], pv[C * V], ph0[C * H];
    float php[C * H], hp[C * H], pvp[C * V];
    for (int i = 0; i < C * V; i++) v[i] = part[i] = (float)((i * 5) % 3 == 0);
    struct cd_key key = { .seed = 4, .step = 17, .first_row = 10 };
    cd_negative_phase_keyed(&m, v, C, K, NULL, ph, h, pv, &key);
    /* rows 2..5 alone, starting at global row 12 */
    struct cd_key tail = { .seed = 4, .step = 17, .first_row = 12 };
    cd_negative_phase_keyed(&m, part + 2 * V, C - 2, K, NULL, php, hp, pvp, &tail);
    assert_memory_equal(part + 2 * V, v + 2 * V, sizeof(float) * (C - 2) * V);
    /* CD from the data's p(h | v) draws h_0 with pass 0's keys too */
    float w[C * V], w2[C * V];
    for (int i = 0; i < C * V; i++) w[i] = w2[i] = (float)((i * 7) % 4 == 0);
    rbm_hidden_probs(&m, w, C, ph0);
    cd_negative_phase_keyed(&m, w, C, 1, ph0, ph, h, pv, &key);
    cd_negative_phase_keyed(&m, w2, C, 1, NULL, php, hp, pvp, &key);
    assert_memory_equal(w, w2, sizeof w);
    /* another step draws other samples */
    for (int i = 0; i < C * V; i++) part[i] = (float)((i * 5) % 3 == 0);
    struct cd_key later = { .seed = 4, .step = 18, .first_row = 10 };
    cd_negative_phase_keyed(&m, part, C, K, NULL, php, hp, pvp, &later);
    assert_true(memcmp(part, v, sizeof v) != 0);
    rbm_free(&m);
}

/* Mean F of B rows (the data term's objective), in double. */
static double mean_free_energy(const struct rbm *m, const float *x, int B)
{
    float in[64 * 8];
    double F[64], s = 0;
    rbm_free_energy(m, x, B, in, F);
    for (int r = 0; r < B; r++) s += F[r];
    return s / B;
}

/* b_i / sigma_i^2 for the block index k of vbias entry i, else 0. */
static double vbias_offset(const struct rbm *m, size_t k)
{
    size_t i = k - (size_t)(m->vbias - m->block);
    if (k < (size_t)(m->vbias - m->block) || i >= (size_t)m->n_visible) return 0.0;
    return m->vbias[i] * exp(-2.0 * (double)m->log_sigma[i]);
}

/* Gaussian visible units (Cho et al. 2011). The data term of
 * cd_statistics on s(v) = v / sigma^2, with cd_log_sigma_statistics, is
 * -d mean F(x) / d theta for every parameter (W, b, c, log sigma), checked
 * by central differences; the model term from exact samples is
 * -d log Z / d theta, checked against central differences of the exact
 * log Z within 5 Monte-Carlo standard errors. */
static void test_cd_gaussian_gradient_matches_finite_differences(void **state)
{
    (void)state;
    enum { V = 3, H = 4, B = 6, N = 1000, BATCHES = 20 };
    struct rbm m, g;
    typed_random_rbm(&m, V, H, EBM_UNIT_GAUSSIAN, EBM_UNIT_BERNOULLI, 0.7f, 500);
    assert_int_equal(rbm_init_typed(&g, V, H, EBM_UNIT_GAUSSIAN, EBM_UNIT_BERNOULLI), EBM_OK);
    size_t n = m.block_len;
    float x[B * V], sx[B * V], ph[B * H], hm[H], dummy[V * H] = { 0 };
    struct ebm_rng r;
    ebm_rng_init(&r, 501, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, x, B * V);
    for (int i = 0; i < B * V; i++) x[i] = 1.3f * x[i] + 0.2f;

    /* Data term only: one zero chain with weight 0. */
    rbm_hidden_probs(&m, x, B, ph);
    cd_statistics(ebm_units_coupling(&m.vis, x, B, sx), ph, B, dummy, dummy, 1, 1.0f / B, 0.0f,
                  &g, hm);
    cd_log_sigma_statistics(&m, x, B, dummy, 1, 1.0f / B, 0.0f, &g);
    /* h = 5e-3: truncation ~h^2 ~ 3e-5; float F (~1e-5) / 2h ~ 1e-3. */
    const float h = 5e-3f;
    double worst = 0;
    for (size_t k = 0; k < n; k++) {
        float keep = m.block[k];
        m.block[k] = keep + h;
        double up = mean_free_energy(&m, x, B);
        m.block[k] = keep - h;
        double down = mean_free_energy(&m, x, B);
        m.block[k] = keep;
        /* The vbias statistic is the column sum of s(v) = v / sigma^2, which
         * lacks -b / sigma^2 of dF/db: that constant cancels between the
         * two phases (cd.h), so each phase alone is off by it. */
        double fd = -(up - down) / (2.0 * h) + vbias_offset(&m, k);
        worst = fmax(worst, fabs(fd - g.block[k]));
        assert_close_d(g.block[k], fd, 5e-3, "data term vs -dF/dtheta");
    }
    print_message("Gaussian data term: largest difference from central differences %.2g\n",
                  worst);

    /* Model term: exact samples. p(h) is proportional to
     * exp(c'h + log_partition_v(Wh)) over the 2^H states, then
     * v | h ~ N(b + Wh, sigma^2). */
    double lw[1 << H], cdf[1 << H], mx = -INFINITY, tot = 0;
    float hs[(1 << H) * H], in[(1 << H) * V];
    for (unsigned c = 0; c < (1u << H); c++) typed_state(c, H, EBM_UNIT_BERNOULLI, hs + c * H);
    for (unsigned c = 0; c < (1u << H); c++) {
        double e;
        for (int i = 0; i < V; i++) {
            double t = 0;
            for (int j = 0; j < H; j++) t += (double)m.W[i * H + j] * hs[c * H + j];
            in[c * V + i] = (float)t;
        }
        ebm_units_log_partition(&m.vis, in + c * V, m.vbias, 1, &lw[c]);
        ebm_units_energy(&m.hid, hs + c * H, m.hbias, 1, &e);
        lw[c] -= e;
        mx = fmax(mx, lw[c]);
    }
    for (unsigned c = 0; c < (1u << H); c++) cdf[c] = (tot += exp(lw[c] - mx));
    double sum[64] = { 0 }, sum2[64] = { 0 };
    float *vn = malloc(sizeof(float) * N * V), *svn = malloc(sizeof(float) * N * V),
          *phn = malloc(sizeof(float) * N * H);
    assert_true(n <= 64 && vn && svn && phn);
    for (int b = 0; b < BATCHES; b++) {
        for (int k = 0; k < N; k++) {
            float u, z[V];
            ebm_rng_uniform(&r, &u, 1);
            unsigned c = 0;
            while (c + 1 < (1u << H) && cdf[c] < u * tot) c++;
            ebm_rng_normal(&r, z, V);
            for (int i = 0; i < V; i++)
                vn[k * V + i] = m.vbias[i] + in[c * V + i] + expf(m.log_sigma[i]) * z[i];
        }
        rbm_hidden_probs(&m, vn, N, phn);
        cd_statistics(dummy, dummy, 1, ebm_units_coupling(&m.vis, vn, N, svn), phn, N, 0.0f,
                      1.0f / N, &g, hm);
        cd_log_sigma_statistics(&m, dummy, 1, vn, N, 0.0f, 1.0f / N, &g);
        for (size_t k = 0; k < n; k++) {
            sum[k] += g.block[k];
            sum2[k] += (double)g.block[k] * g.block[k];
        }
    }
    double log_z, up, down, worst_z = 0;
    assert_int_equal(rbm_exact_log_z(&m, MPI_COMM_WORLD, &log_z), EBM_OK);
    for (size_t k = 0; k < n; k++) {
        float keep = m.block[k];
        m.block[k] = keep + h;
        assert_int_equal(rbm_exact_log_z(&m, MPI_COMM_WORLD, &up), EBM_OK);
        m.block[k] = keep - h;
        assert_int_equal(rbm_exact_log_z(&m, MPI_COMM_WORLD, &down), EBM_OK);
        m.block[k] = keep;
        double fd = -(up - down) / (2.0 * h) - vbias_offset(&m, k), mean = sum[k] / BATCHES;
        double se = sqrt(fmax(sum2[k] / BATCHES - mean * mean, 0) / (BATCHES - 1));
        worst_z = fmax(worst_z, fabs(mean - fd) / se);
        assert_close_d(mean, fd, 5.0 * se + 1e-4, "model term vs -d log Z / d theta");
    }
    print_message("Gaussian model term: largest |difference| / SE %.2f over %zu parameters\n",
                  worst_z, n);
    free(vn);
    free(svn);
    free(phn);
    rbm_free(&g);
    rbm_free(&m);
}

/* CD from the data with spin hidden units draws h_0 from its mean mu as
 * +1 with probability (1 + mu) / 2: the sample mean is mu. */
static void test_cd_spin_start_sample_has_the_mean(void **state)
{
    (void)state;
    enum { V = 4, H = 3, C = 4000 };
    struct rbm m;
    typed_random_rbm(&m, V, H, EBM_UNIT_SPIN, EBM_UNIT_SPIN, 0.8f, 510);
    float *v = malloc(sizeof(float) * C * V), *ph0 = malloc(sizeof(float) * C * H),
          *ph = malloc(sizeof(float) * C * H), *h = malloc(sizeof(float) * C * H),
          *pv = malloc(sizeof(float) * C * V);
    for (int i = 0; i < C * V; i++) v[i] = i % 3 ? 1.0f : -1.0f;
    rbm_hidden_probs(&m, v, C, ph0);
    struct ebm_rng r;
    ebm_rng_init(&r, 511, 0, EBM_RNG_SAMPLE);
    cd_negative_phase(&m, v, C, 1, ph0, ph, h, pv, &r);
    /* Rows repeat with period 3 in the visible pattern; each row's h_0 is
     * a spin with mean ph0: average (h - mu) over all C rows. */
    for (int j = 0; j < H; j++) {
        double d = 0, var = 0;
        for (int c = 0; c < C; c++) {
            double mu = ph0[c * H + j];
            assert_true(h[c * H + j] == 1.0f || h[c * H + j] == -1.0f);
            d += h[c * H + j] - mu;
            var += 1.0 - mu * mu;
        }
        assert_true(fabs(d) <= 5.0 * sqrt(var)); /* 5 sd of a sum of C spins */
    }
    free(v); free(ph0); free(ph); free(h); free(pv);
    rbm_free(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_cd_gaussian_gradient_matches_finite_differences),
    cmocka_unit_test(test_cd_spin_start_sample_has_the_mean),
    cmocka_unit_test(test_cd_statistics_match_ref),
    cmocka_unit_test(test_cd_model_term_matches_enumeration),
    cmocka_unit_test(test_cd_reuses_positive_phase),
    cmocka_unit_test(test_cd_keyed_rows_are_independent_of_the_batch),
};

EBM_TEST_MAIN(tests)
