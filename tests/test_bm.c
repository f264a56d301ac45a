/* The fully visible BM: energy and conditionals against enumeration, the
 * incremental sweep against its reference, sequential Gibbs against the
 * exact distribution (chi-square and total variation), and exact-gradient
 * and PCD training against a known model. Serial (1 rank). */
#include "testutil.h"

#include "ebm/bm.h"
#include "ebm/kernels.h"

enum { MAXD = 12 };

/* Bits of `code` as a state: bit i set means unit i is on. */
static void state_of(unsigned code, int D, int spin, float *x)
{
    for (int i = 0; i < D; i++) x[i] = (code >> i) & 1u ? 1.0f : (spin ? -1.0f : 0.0f);
}

static unsigned code_of(const float *x, int D)
{
    unsigned c = 0;
    for (int i = 0; i < D; i++) c |= (x[i] > 0.0f ? 1u : 0u) << i;
    return c;
}

/* The definition, summed over every (i, j): -1/2 x'Wx - b'x. */
static double energy_loop(const struct bm *m, const float *x)
{
    int D = m->n_units;
    double e = 0.0;
    for (int i = 0; i < D; i++) {
        e -= (double)m->bias[i] * x[i];
        for (int j = 0; j < D; j++) e -= 0.5 * (double)m->W[i * D + j] * x[i] * x[j];
    }
    return e;
}

/* The exact distribution pi (2^D) from energy_loop, independent of bm.c's
 * enumeration. */
static void exact_distribution(const struct bm *m, double *pi)
{
    int D = m->n_units;
    unsigned K = 1u << D;
    float x[MAXD];
    double z = 0.0;
    for (unsigned c = 0; c < K; c++) {
        state_of(c, D, m->spin, x);
        pi[c] = exp(-energy_loop(m, x));
        z += pi[c];
    }
    for (unsigned c = 0; c < K; c++) pi[c] /= z;
}

/* A random model: couplings N(0, sw^2), biases N(0, sb^2). */
static void random_bm(struct bm *m, int D, int spin, float sw, float sb, uint64_t seed)
{
    assert_int_equal(bm_init(m, D, spin), EBM_OK);
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    bm_init_params(m, sw, NULL, &r);
    ebm_rng_normal(&r, m->bias, (size_t)D);
    for (int i = 0; i < D; i++) m->bias[i] *= sb;
}

/* Regularised upper incomplete gamma Q(a, x) (series below a + 1, Lentz's
 * continued fraction above; Numerical Recipes 3rd ed., 6.2). */
static double gamma_q(double a, double x)
{
    if (x <= 0.0) return 1.0;
    double front = exp(-x + a * log(x) - lgamma(a));
    if (x < a + 1.0) {
        double ap = a, del = 1.0 / a, sum = del;
        for (int n = 0; n < 10000 && fabs(del) > fabs(sum) * 1e-16; n++) {
            ap += 1.0;
            del *= x / ap;
            sum += del;
        }
        return 1.0 - sum * front;
    }
    double b = x + 1.0 - a, c = 1e300, d = 1.0 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < 1e-300) d = 1e-300;
        c = b + an / c;
        if (fabs(c) < 1e-300) c = 1e-300;
        d = 1.0 / d;
        h *= d * c;
        if (fabs(d * c - 1.0) < 1e-16) break;
    }
    return front * h;
}

static double chi2_sf(int df, double x) { return gamma_q(0.5 * df, 0.5 * x); }

/* The chi-square quantile with upper tail p, by bisection. */
static double chi2_critical(int df, double p)
{
    double lo = 0.0, hi = df + 50.0 * sqrt(2.0 * df) + 100.0;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (chi2_sf(df, mid) > p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

static int by_expected(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

/* Goodness of fit of counts (K cells, N draws) to pi at p = 0.001, and the
 * total variation distance against a bound.
 * Chi-square: cells sorted by expected count are pooled from the smallest
 * until each pool expects >= 5 (a short last pool joins the one before);
 * df = pools - 1 (pi is given, nothing fitted).
 * TV: E|n_x/N - pi_x| <= sqrt(pi_x (1 - pi_x) / N) (Jensen), so
 * E[TV] <= 1/2 sum_x sqrt(pi_x (1 - pi_x) / N) <= 1/2 sqrt(K / N); TV moves
 * by at most 1/N when one draw changes, so by McDiarmid
 * P(TV > E[TV] + t) <= exp(-2 N t^2), and t = sqrt(ln(1000) / (2N)) makes
 * the bound fail with probability <= 0.001 under the null. */
static void assert_fits(const double *counts, const double *pi, int K, double N, const char *what)
{
    /* (expected, observed) pairs, sorted by expected. */
    double *cell = malloc(sizeof(double) * 2 * (size_t)K);
    assert_non_null(cell);
    double tv = 0.0, e_tv = 0.0;
    for (int c = 0; c < K; c++) {
        cell[2 * c] = N * pi[c];
        cell[2 * c + 1] = counts[c];
        tv += 0.5 * fabs(counts[c] / N - pi[c]);
        e_tv += 0.5 * sqrt(pi[c] * (1.0 - pi[c]) / N);
    }
    qsort(cell, (size_t)K, 2 * sizeof(double), by_expected);
    double chi2 = 0.0, pool_e = 0.0, pool_o = 0.0, last_e = 0.0, last_o = 0.0;
    int pools = 0;
    for (int c = 0; c < K; c++) {
        pool_e += cell[2 * c];
        pool_o += cell[2 * c + 1];
        if (pool_e >= 5.0) {
            chi2 += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
            last_e = pool_e;
            last_o = pool_o;
            pools++;
            pool_e = pool_o = 0.0;
        }
    }
    if (pool_e > 0.0) { /* a short last pool joins the previous one */
        assert_true(pools > 0);
        chi2 -= (last_o - last_e) * (last_o - last_e) / last_e;
        last_e += pool_e;
        last_o += pool_o;
        chi2 += (last_o - last_e) * (last_o - last_e) / last_e;
    }
    free(cell);
    int df = pools - 1;
    double crit = chi2_critical(df, 1e-3), pval = chi2_sf(df, chi2);
    double tv_bound = e_tv + sqrt(log(1000.0) / (2.0 * N));
    printf("  %s: N = %.0f, %d cells -> %d pools, chi2 = %.1f, df = %d, critical(p = 0.001) "
           "= %.1f, p = %.3f; TV = %.4f, bound %.4f (1/2 sqrt(K/N) = %.4f)\n",
           what, N, K, pools, chi2, df, crit, pval, tv, tv_bound, 0.5 * sqrt(K / N));
    assert_true(chi2 < crit);
    assert_true(tv < tv_bound);
}

static void test_bm_chi2_quantiles_match_tables(void **state)
{
    (void)state;
    /* Self-check of the statistic before it judges anything: critical
     * values at p = 0.001 from standard tables. */
    assert_close_d(chi2_critical(1, 1e-3), 10.828, 2e-3, "chi2 df 1");
    assert_close_d(chi2_critical(21, 1e-3), 46.797, 2e-3, "chi2 df 21");
    assert_close_d(chi2_critical(100, 1e-3), 149.449, 2e-3, "chi2 df 100");
    assert_close_d(chi2_sf(10, 18.307), 0.05, 1e-4, "chi2 sf df 10");
}

static void test_bm_energy_matches_double_loop(void **state)
{
    (void)state;
    enum { D = 7, K = 1 << D };
    for (int spin = 0; spin <= 1; spin++) {
        struct bm m;
        random_bm(&m, D, spin, 1.0f, 1.0f, 31 + spin);
        float x[K * D];
        double e[K];
        for (unsigned c = 0; c < K; c++) state_of(c, D, spin, x + c * D);
        bm_energy(&m, x, K, e);
        /* Both sum ~D^2 products of size ~1 in double: 1e-12 is ~1e4 ulps. */
        for (unsigned c = 0; c < K; c++)
            assert_close_d(e[c], energy_loop(&m, x + c * D), 1e-12, "E(x)");
        bm_free(&m);
    }
}

static void test_bm_conditional_matches_enumeration(void **state)
{
    (void)state;
    enum { D = 5, K = 1 << D };
    for (int spin = 0; spin <= 1; spin++) {
        struct bm m;
        random_bm(&m, D, spin, 1.0f, 1.0f, 41 + spin);
        float x[K * D], p1[K], pall[K * D], x_on[D], x_off[D];
        for (unsigned c = 0; c < K; c++) state_of(c, D, spin, x + c * D);
        bm_conditionals(&m, x, K, pall);
        for (int j = 0; j < D; j++) {
            bm_conditional(&m, x, K, j, p1);
            for (unsigned c = 0; c < K; c++) {
                /* p(x_j = on | x_-j) = p(x with j on) / (p(on) + p(off)). */
                state_of(c | (1u << j), D, spin, x_on);
                state_of(c & ~(1u << j), D, spin, x_off);
                double w_on = exp(-energy_loop(&m, x_on)), w_off = exp(-energy_loop(&m, x_off));
                double want = w_on / (w_on + w_off);
                /* Double math rounded to float once: <= 2^-25 < 1e-7. */
                assert_close_d(p1[c], want, 1e-7, "p(x_j = on | x_-j)");
                /* Float GEMM and expf: inputs |a| < 8 carry ~1e-6 of rounding. */
                assert_close_d(pall[c * D + j], want, 1e-5, "all conditionals");
            }
        }
        bm_free(&m);
    }
}

static void test_bm_sweep_matches_ref_bitwise(void **state)
{
    (void)state;
    enum { D = 10, C = 37 };
    for (int spin = 0; spin <= 1; spin++) {
        struct bm m;
        random_bm(&m, D, spin, 0.5f, 0.5f, 51 + spin);
        struct bm_chains fast, ref;
        assert_int_equal(bm_chains_init(&fast, D, C, 100, 52, EBM_RNG_TEST), EBM_OK);
        assert_int_equal(bm_chains_init(&ref, D, C, 100, 52, EBM_RNG_TEST), EBM_OK);
        float x[C * D], y[C * D], start[C * D];
        bm_chains_random_init(&fast, spin, x);
        bm_chains_random_init(&ref, spin, y);
        memcpy(start, x, sizeof x);
        /* Two calls of 7 + 13 against one of 20: the input vector must be
         * rebuilt correctly at a call boundary. */
        bm_gibbs_sweep(&m, &fast, x, 7);
        bm_gibbs_sweep(&m, &fast, x, 13);
        bm_gibbs_sweep_ref(&m, &ref, y, 20);
        assert_memory_equal(x, y, sizeof x);
        for (int r = 0; r < C; r++) assert_true(fast.rng[r].block == ref.rng[r].block);
        /* ceil(10 / 4) = 3 blocks for the start, then 3 per sweep. */
        assert_true(fast.rng[0].block == 3 + 20 * 3);
        assert_memory_not_equal(x, start, sizeof x);
        for (int i = 0; i < C * D; i++) assert_true(x[i] == 1.0f || x[i] == (spin ? -1.0f : 0.0f));
        bm_chains_free(&fast);
        bm_chains_free(&ref);
        bm_free(&m);
    }
}

/* The scan order and the use of the uniforms, pinned by a third, plain
 * implementation: unit j of a sweep takes the sweep's j-th uniform and
 * compares it with bm_conditional given the units already updated. (u is a
 * float, so u < p in double equals u < p rounded to float unless p rounds
 * onto u exactly, a 2^-24 event per draw.) */
static void test_bm_sweep_scans_units_in_order(void **state)
{
    (void)state;
    enum { D = 10, C = 4, SWEEPS = 5 };
    for (int spin = 0; spin <= 1; spin++) {
        struct bm m;
        random_bm(&m, D, spin, 1.0f, 1.0f, 57 + spin);
        struct bm_chains g;
        assert_int_equal(bm_chains_init(&g, D, C, 3, 58, EBM_RNG_TEST), EBM_OK);
        float x[C * D], y[C * D], u[D], p;
        bm_chains_random_init(&g, spin, x);
        memcpy(y, x, sizeof x);
        for (int r = 0; r < C; r++) {
            struct ebm_rng rng = g.rng[r];
            for (int t = 0; t < SWEEPS; t++) {
                ebm_rng_uniform(&rng, u, D);
                for (int j = 0; j < D; j++) {
                    bm_conditional(&m, y + r * D, 1, j, &p);
                    y[r * D + j] = u[j] < p ? 1.0f : (spin ? -1.0f : 0.0f);
                }
            }
        }
        bm_gibbs_sweep(&m, &g, x, SWEEPS);
        assert_memory_equal(x, y, sizeof x);
        bm_chains_free(&g);
        bm_free(&m);
    }
}

static void test_bm_chains_do_not_depend_on_split(void **state)
{
    (void)state;
    enum { D = 9, C = 20, SPLIT = 7 };
    struct bm m;
    random_bm(&m, D, 1, 0.5f, 0.5f, 61);
    struct bm_chains all, lo, hi;
    assert_int_equal(bm_chains_init(&all, D, C, 0, 62, EBM_RNG_TEST), EBM_OK);
    assert_int_equal(bm_chains_init(&lo, D, SPLIT, 0, 62, EBM_RNG_TEST), EBM_OK);
    assert_int_equal(bm_chains_init(&hi, D, C - SPLIT, SPLIT, 62, EBM_RNG_TEST), EBM_OK);
    float x[C * D], y[C * D];
    bm_chains_random_init(&all, 1, x);
    bm_chains_random_init(&lo, 1, y);
    bm_chains_random_init(&hi, 1, y + SPLIT * D);
    bm_gibbs_sweep(&m, &all, x, 5);
    bm_gibbs_sweep(&m, &lo, y, 5);
    bm_gibbs_sweep(&m, &hi, y + SPLIT * D, 5);
    assert_memory_equal(x, y, sizeof x);
    bm_chains_free(&all);
    bm_chains_free(&lo);
    bm_chains_free(&hi);
    bm_chains_free(NULL);
    bm_free(&m);
}

/* dist (2^D) <- dist after one exact systematic sweep: for unit j, the mass
 * of each pair {x_j off, x_j on} is split by p(on | rest) from energies. */
static void sweep_distribution(const double *p_on, int D, double *dist)
{
    unsigned K = 1u << D;
    for (int j = 0; j < D; j++)
        for (unsigned c = 0; c < K; c++) {
            if (c & (1u << j)) continue;
            unsigned c1 = c | (1u << j);
            double mass = dist[c] + dist[c1], p = p_on[(size_t)j * K + c];
            dist[c1] = mass * p;
            dist[c] = mass * (1.0 - p);
        }
}

static double tv_distance(const double *a, const double *b, unsigned K)
{
    double tv = 0.0;
    for (unsigned c = 0; c < K; c++) tv += 0.5 * fabs(a[c] - b[c]);
    return tv;
}

/* Sequential Gibbs on d = 8 against the exact distribution. The chi-square
 * and TV bounds assume N independent draws from pi; the samples are every
 * chain's state at sweeps BURN, BURN + GAP, ..., so the exact sweep kernel
 * P is propagated first. With tv_burn = TV(uniform P^BURN, pi) and
 * rho = sum_x pi(x) TV(P^GAP(x, .), pi), a sequential coupling puts the
 * joint law of all C * TAKES samples within
 *   slack = C (tv_burn + (TAKES - 1) (rho + tv_burn))
 * of iid draws, so each test rejects a correct sampler with probability at
 * most 0.001 + slack; slack < 0.01 is asserted. (Spins need GAP = 40: their
 * couplings act 4x as strongly as on {0,1}, rho(10) = 8e-3 there.) */
static void gibbs_fits_exact(int spin)
{
    enum { D = 8, K = 1 << D, C = 10000, BURN = 50, GAP = 40, TAKES = 10 };
    struct bm m;
    random_bm(&m, D, spin, 0.5f, 0.5f, 71 + spin);
    double *pi = malloc(sizeof(double) * K), *p_on = malloc(sizeof(double) * D * K),
           *dist = malloc(sizeof(double) * K), *counts = calloc(K, sizeof(double));
    assert_non_null(pi); assert_non_null(p_on); assert_non_null(dist); assert_non_null(counts);
    exact_distribution(&m, pi);
    for (int j = 0; j < D; j++)
        for (unsigned c = 0; c < K; c++)
            p_on[(size_t)j * K + c] = pi[c | (1u << j)] / (pi[c | (1u << j)] + pi[c & ~(1u << j)]);

    /* pi is invariant under the sweep kernel (each site kernel preserves it). */
    memcpy(dist, pi, sizeof(double) * K);
    sweep_distribution(p_on, D, dist);
    assert_true(tv_distance(dist, pi, K) < 1e-12);
    /* The start is Bernoulli(1/2) per unit: uniform over the states. */
    for (unsigned c = 0; c < K; c++) dist[c] = 1.0 / K;
    for (int t = 0; t < BURN; t++) sweep_distribution(p_on, D, dist);
    double tv_burn = tv_distance(dist, pi, K), rho = 0.0;
    for (unsigned s = 0; s < K; s++) {
        memset(dist, 0, sizeof(double) * K);
        dist[s] = 1.0;
        for (int t = 0; t < GAP; t++) sweep_distribution(p_on, D, dist);
        rho += pi[s] * tv_distance(dist, pi, K);
    }
    double slack = C * (tv_burn + (TAKES - 1) * (rho + tv_burn));
    printf("  exact mixing (%s): TV after %d sweeps from uniform %.2g, pi-averaged TV after "
           "%d more %.2g; dependence slack %.2g\n", spin ? "spin" : "{0,1}", BURN, tv_burn,
           GAP, rho, slack);
    assert_true(slack < 0.01);

    struct bm_chains g;
    assert_int_equal(bm_chains_init(&g, D, C, 0, 72 + spin, EBM_RNG_TEST), EBM_OK);
    float *x = malloc(sizeof(float) * C * D);
    assert_non_null(x);
    bm_chains_random_init(&g, spin, x);
    bm_gibbs_sweep(&m, &g, x, BURN);
    for (int k = 0; k < TAKES; k++) {
        if (k > 0) bm_gibbs_sweep(&m, &g, x, GAP);
        for (int r = 0; r < C; r++) counts[code_of(x + (size_t)r * D, D)] += 1.0;
    }
    assert_fits(counts, pi, K, (double)C * TAKES, spin ? "Gibbs, spin" : "Gibbs, {0,1}");
    bm_chains_free(&g);
    free(x);
    free(pi);
    free(p_on);
    free(dist);
    free(counts);
    bm_free(&m);
}

static void test_bm_gibbs_matches_exact_distribution_binary(void **state)
{
    (void)state;
    gibbs_fits_exact(0);
}

static void test_bm_gibbs_matches_exact_distribution_spin(void **state)
{
    (void)state;
    gibbs_fits_exact(1);
}

static void test_bm_exact_sample_matches_distribution(void **state)
{
    (void)state;
    enum { D = 8, K = 1 << D, N = 100000 };
    for (int spin = 0; spin <= 1; spin++) {
        struct bm m;
        random_bm(&m, D, spin, 0.5f, 0.5f, 81 + spin);
        double pi[K], counts[K] = { 0 };
        exact_distribution(&m, pi);
        float *x = malloc(sizeof(float) * N * D);
        assert_non_null(x);
        struct ebm_rng r;
        ebm_rng_init(&r, 82 + spin, 0, EBM_RNG_TEST);
        assert_int_equal(bm_exact_sample(&m, x, N, &r), EBM_OK);
        assert_true(r.block == N);
        for (int i = 0; i < N; i++) counts[code_of(x + (size_t)i * D, D)] += 1.0;
        assert_fits(counts, pi, K, N, spin ? "exact sampler, spin" : "exact sampler, {0,1}");
        free(x);
        bm_free(&m);
    }
}

static void test_bm_exact_moments_match_brute_force(void **state)
{
    (void)state;
    enum { D = 7, K = 1 << D };
    for (int spin = 0; spin <= 1; spin++) {
        struct bm m;
        random_bm(&m, D, spin, 1.0f, 1.0f, 91 + spin);
        double pi[K], want_xx[D * D] = { 0 }, want_mean[D] = { 0 }, lz2;
        float x[D];
        double z = 0.0;
        for (unsigned c = 0; c < K; c++) {
            state_of(c, D, spin, x);
            z += exp(-energy_loop(&m, x));
        }
        exact_distribution(&m, pi);
        for (unsigned c = 0; c < K; c++) {
            state_of(c, D, spin, x);
            for (int i = 0; i < D; i++) {
                want_mean[i] += pi[c] * x[i];
                for (int j = 0; j < D; j++) want_xx[i * D + j] += pi[c] * x[i] * x[j];
            }
        }
        struct bm_exact e;
        assert_int_equal(bm_exact_init(&e, D), EBM_OK);
        double lz = bm_exact_moments(&e, &m);
        const double *xx = e.xx, *mean = e.mean;
        assert_int_equal(bm_exact_log_z(&m, &lz2), EBM_OK);
        /* Sums of 128 terms in double, in different orders: 1e-12. */
        assert_close_d(lz, log(z), 1e-12, "log Z");
        assert_close_d(lz2, log(z), 1e-12, "log Z alone");
        for (int i = 0; i < D; i++) {
            assert_close_d(mean[i], want_mean[i], 1e-12, "<x_i>");
            for (int j = 0; j < D; j++)
                assert_close_d(xx[i * D + j], want_xx[i * D + j], 1e-12, "<x_i x_j>");
        }
        bm_exact_free(&e);
        bm_free(&m);
    }
    struct bm big;
    assert_int_equal(bm_init(&big, BM_EXACT_MAX_UNITS + 1, 0), EBM_OK);
    double lz;
    assert_int_equal(bm_exact_log_z(&big, &lz), EBM_ERR_INPUT);
    ebm_error_clear();
    bm_free(&big);
    bm_exact_free(NULL);
}

static void test_bm_statistics_match_ref_and_loops(void **state)
{
    (void)state;
    enum { D = 9, B = 50, C = 30 };
    for (int spin = 0; spin <= 1; spin++) {
        struct bm m, grad, gref;
        random_bm(&m, D, spin, 0.5f, 0.5f, 101 + spin);
        assert_int_equal(bm_init(&grad, D, spin), EBM_OK);
        assert_int_equal(bm_init(&gref, D, spin), EBM_OK);
        struct bm_chains g;
        assert_int_equal(bm_chains_init(&g, D, B + C, 0, 102, EBM_RNG_TEST), EBM_OK);
        float x[(B + C) * D];
        bm_chains_random_init(&g, spin, x);
        bm_gibbs_sweep(&m, &g, x, 3);
        const float *xd = x, *xn = x + B * D;
        /* NaN in the output must not survive: beta = 0 overwrites. */
        for (size_t i = 0; i < bm_block_size(D); i++) grad.block[i] = NAN;
        bm_statistics(xd, B, xn, C, 1.0f / B, 1.0f / C, &grad);
        bm_statistics_ref(xd, B, xn, C, 1.0f / B, 1.0f / C, &gref);
        /* Entries are sums of +-1 / 50 and +-1 / 30 terms of size <= 1:
         * float rounding stays below 1e-6. */
        assert_close_f(grad.block, gref.block, bm_block_size(D), 1e-6, "statistics vs _ref");
        for (int i = 0; i < D; i++) {
            double want_b = 0.0;
            for (int r = 0; r < B; r++) want_b += xd[r * D + i] / (double)B;
            for (int r = 0; r < C; r++) want_b -= xn[r * D + i] / (double)C;
            assert_close_d(grad.bias[i], want_b, 1e-6, "db");
            assert_true(grad.W[i * D + i] == 0.0f);
            for (int j = 0; j < D; j++) {
                assert_true(grad.W[i * D + j] == grad.W[j * D + i]);
                if (i == j) continue;
                double want = 0.0;
                for (int r = 0; r < B; r++) want += (double)xd[r * D + i] * xd[r * D + j] / B;
                for (int r = 0; r < C; r++) want -= (double)xn[r * D + i] * xn[r * D + j] / C;
                assert_close_d(grad.W[i * D + j], want, 1e-6, "dW");
            }
        }
        /* The exact-model variant equals bm_exact_gradient on the same data. */
        double xx_d[D * D], mean_d[D];
        bm_data_moments(xd, B, D, xx_d, mean_d);
        struct bm_exact e;
        assert_int_equal(bm_exact_init(&e, D), EBM_OK);
        double lz = bm_exact_moments(&e, &m);
        bm_statistics_exact(xd, B, 1.0f / B, e.xx, e.mean, 1.0, &grad);
        double ll = bm_exact_gradient(&e, &m, xx_d, mean_d, &gref);
        /* The log-likelihood from moments against its definition, the mean
         * of log p(x_r) = -E(x_r) - log Z over the rows (1e-12: double). */
        double want_ll = -lz;
        for (int r = 0; r < B; r++) want_ll -= energy_loop(&m, xd + r * D) / B;
        assert_close_d(ll, want_ll, 1e-12, "exact_gradient log-likelihood");
        assert_close_d(bm_log_likelihood(&m, xx_d, mean_d, lz), want_ll, 1e-12,
                       "log-likelihood from moments");
        assert_close_f(grad.block, gref.block, bm_block_size(D), 1e-6,
                       "statistics_exact vs exact_gradient");
        assert_int_equal(bm_validate(&grad), EBM_OK);
        bm_exact_free(&e);
        bm_chains_free(&g);
        bm_free(&grad);
        bm_free(&gref);
        bm_free(&m);
    }
}

static void test_bm_view_validate_and_errors(void **state)
{
    (void)state;
    float block[3 * 3 + 3] = { 0 };
    struct bm v;
    bm_view(&v, 3, 1, block);
    assert_ptr_equal(v.bias, block + 9);
    assert_int_equal(v.spin, 1);
    assert_int_equal(bm_validate(&v), EBM_OK);
    block[1] = 0.5f; /* W[0][1] without W[1][0] */
    assert_int_equal(bm_validate(&v), EBM_ERR_INPUT);
    ebm_error_clear();
    bm_symmetrize(&v);
    assert_true(block[1] == 0.25f && block[3] == 0.25f);
    block[4] = 1.0f; /* W[1][1] */
    assert_int_equal(bm_validate(&v), EBM_ERR_INPUT);
    ebm_error_clear();
    block[4] = 0.0f;
    block[10] = NAN;
    assert_int_equal(bm_validate(&v), EBM_ERR_INPUT);
    ebm_error_clear();
    bm_free(&v); /* must not free the caller's block */
    bm_free(NULL);
    assert_int_equal(bm_init(&v, 0, 0), EBM_ERR_INPUT);
    ebm_error_clear();
    struct bm_chains g;
    assert_int_equal(bm_chains_init(&g, 4, 2, ((int64_t)1 << 32) - 1, 1, EBM_RNG_TEST),
                     EBM_ERR_INPUT);
    ebm_error_clear();
    struct bm s;
    assert_int_equal(bm_init(&s, BM_SAMPLE_MAX_UNITS + 1, 0), EBM_OK);
    struct ebm_rng r;
    ebm_rng_init(&r, 1, 0, EBM_RNG_TEST);
    assert_int_equal(bm_exact_sample(&s, block, 1, &r), EBM_ERR_INPUT);
    ebm_error_clear();
    bm_free(&s);
}

/* The recovery experiment shared by the two training tests: a known d = 6
 * model, 20,000 exact samples, and their moments. */
enum { FD = 6, FN = 20000, FP = FD * (FD - 1) / 2 + FD, FIT_STEPS = 20000 };

struct fit_case {
    struct bm truth;
    float *x;                     /* (FN, FD) */
    double xx[FD * FD], mean[FD]; /* data moments */
};

static void fit_case_init(struct fit_case *f)
{
    random_bm(&f->truth, FD, 0, 0.5f, 0.5f, 111);
    f->x = malloc(sizeof(float) * FN * FD);
    assert_non_null(f->x);
    struct ebm_rng r;
    ebm_rng_init(&r, 112, 0, EBM_RNG_TEST);
    assert_int_equal(bm_exact_sample(&f->truth, f->x, FN, &r), EBM_OK);
    bm_data_moments(f->x, FN, FD, f->xx, f->mean);
}

static void fit_case_free(struct fit_case *f)
{
    free(f->x);
    bm_free(&f->truth);
}

/* The free parameters (w_ij for i < j, then b_i). */
static void params_of(const struct bm *m, double *theta)
{
    int D = m->n_units, k = 0;
    for (int i = 0; i < D; i++)
        for (int j = i + 1; j < D; j++) theta[k++] = m->W[i * D + j];
    for (int i = 0; i < D; i++) theta[k++] = m->bias[i];
}

/* Fisher information of one draw, I = Cov(x_i x_j (i < j), x_i), exactly. */
static void fisher_information(const struct bm *m, double *I)
{
    int D = m->n_units;
    unsigned K = 1u << D;
    double pi[1 << FD], t[FP], mu[FP] = { 0 };
    float x[FD];
    exact_distribution(m, pi);
    memset(I, 0, sizeof(double) * FP * FP);
    for (unsigned c = 0; c < K; c++) {
        state_of(c, D, m->spin, x);
        int k = 0;
        for (int i = 0; i < D; i++)
            for (int j = i + 1; j < D; j++) t[k++] = (double)x[i] * x[j];
        for (int i = 0; i < D; i++) t[k++] = x[i];
        for (int a = 0; a < FP; a++) {
            mu[a] += pi[c] * t[a];
            for (int b = 0; b < FP; b++) I[a * FP + b] += pi[c] * t[a] * t[b];
        }
    }
    for (int a = 0; a < FP; a++)
        for (int b = 0; b < FP; b++) I[a * FP + b] -= mu[a] * mu[b];
}

/* In-place Cholesky, A = L L' (lower triangle). */
static void cholesky(double *A, int n)
{
    for (int j = 0; j < n; j++) {
        double d = A[j * n + j];
        for (int k = 0; k < j; k++) d -= A[j * n + k] * A[j * n + k];
        assert_true(d > 0.0);
        A[j * n + j] = sqrt(d);
        for (int i = j + 1; i < n; i++) {
            double s = A[i * n + j];
            for (int k = 0; k < j; k++) s -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = s / A[j * n + j];
        }
    }
}

/* diag(A^-1) from the Cholesky factor: solve L y = e_k, (A^-1)_kk = |y|^2. */
static void inverse_diagonal(const double *L, int n, double *out)
{
    double y[FP];
    for (int k = 0; k < n; k++) {
        double s2 = 0.0;
        for (int i = 0; i < n; i++) {
            double s = i == k ? 1.0 : 0.0;
            for (int j = 0; j < i; j++) s -= L[i * n + j] * y[j];
            y[i] = i < k ? 0.0 : s / L[i * n + i];
            s2 += y[i] * y[i];
        }
        out[k] = s2;
    }
}

static void test_bm_exact_fit_recovers_known_model(void **state)
{
    (void)state;
    struct fit_case f;
    fit_case_init(&f);
    struct bm fit;
    assert_int_equal(bm_init(&fit, FD, 0), EBM_OK);
    double ll_fit, gmax, lz_true;
    /* lr = 8 / (D (D + 1)) is safe (bm.h); the slowest direction shrinks by
     * ~1 - lr lambda_min per step, and 20,000 steps (~0.1 s) take the
     * gradient from ~0.5 to ~1e-10 here. */
    assert_int_equal(bm_exact_fit(&fit, f.xx, f.mean, 8.0 / (FD * (FD + 1)), FIT_STEPS,
                                  &ll_fit, &gmax), EBM_OK);
    assert_int_equal(bm_validate(&fit), EBM_OK);
    assert_int_equal(bm_exact_log_z(&f.truth, &lz_true), EBM_OK);
    double ll_true = bm_log_likelihood(&f.truth, f.xx, f.mean, lz_true);

    /* The MLE is asymptotically N(theta, I^-1 / N), I the Fisher information
     * of one draw (computed exactly at the true parameters). So each
     * parameter should be within 5 sd = 5 sqrt((I^-1)_kk / N) (two-sided
     * 5.7e-7 per parameter), and N (fit - true)' I (fit - true) ~ chi2 with
     * 21 df should stay below its p = 0.001 point, 46.80. */
    double I[FP * FP], L[FP * FP], var[FP], th_fit[FP], th_true[FP];
    fisher_information(&f.truth, I);
    memcpy(L, I, sizeof I);
    cholesky(L, FP);
    inverse_diagonal(L, FP, var);
    params_of(&fit, th_fit);
    params_of(&f.truth, th_true);
    double worst_z = 0.0, maha = 0.0, worst_abs = 0.0, trace_inv = 0.0;
    double var_min = INFINITY, var_max = 0.0;
    for (int a = 0; a < FP; a++) {
        trace_inv += var[a];
        var_min = fmin(var_min, var[a]);
        var_max = fmax(var_max, var[a]);
        double d = th_fit[a] - th_true[a], z = fabs(d) / sqrt(var[a] / FN);
        if (z > worst_z) worst_z = z;
        if (fabs(d) > worst_abs) worst_abs = fabs(d);
        for (int b = 0; b < FP; b++) maha += FN * d * I[a * FP + b] * (th_fit[b] - th_true[b]);
    }
    /* The MLE maximises the sample log-likelihood, so the fit can only beat
     * the truth on it, up to the optimisation gap |g|^2 / (2 lambda_min)
     * with lambda_min >= 1 / trace(I^-1) (I taken at the truth, which the
     * fit is within 0.1 of) and |g|^2 <= 21 max|g|^2. */
    double gap = FP * gmax * gmax * trace_inv / 2.0;
    printf("  exact fit: max |grad| %.2g, max |fit - true| %.4f, worst z %.2f (sd from "
           "sqrt(diag(I^-1) / N) = %.4f..%.4f), N d'Id = %.1f (critical %.2f, df %d), "
           "LL fit %.6f vs true %.6f, optimisation gap <= %.2g\n",
           gmax, worst_abs, worst_z, sqrt(var_min / FN), sqrt(var_max / FN), maha,
           chi2_critical(FP, 1e-3), FP, ll_fit, ll_true, gap);
    assert_true(gap < 1e-9);
    assert_true(worst_z < 5.0);
    assert_true(maha < chi2_critical(FP, 1e-3));
    assert_true(ll_fit >= ll_true - 1e-9);
    bm_free(&fit);
    fit_case_free(&f);
}

static double param_distance(const double *a, const double *b)
{
    double s = 0.0;
    for (int k = 0; k < FP; k++) s += (a[k] - b[k]) * (a[k] - b[k]);
    return sqrt(s);
}

static void test_bm_pcd_approaches_exact_fit(void **state)
{
    (void)state;
    enum { B = 1000, C = 1000, STEPS = 2000 };
    struct fit_case f;
    fit_case_init(&f);
    struct bm mle, m, grad, vel;
    assert_int_equal(bm_init(&mle, FD, 0), EBM_OK);
    assert_int_equal(bm_exact_fit(&mle, f.xx, f.mean, 8.0 / (FD * (FD + 1)), FIT_STEPS, NULL,
                                  NULL), EBM_OK);
    assert_int_equal(bm_init(&m, FD, 0), EBM_OK);
    assert_int_equal(bm_init(&grad, FD, 0), EBM_OK);
    assert_int_equal(bm_init(&vel, FD, 0), EBM_OK);
    struct bm_chains g;
    assert_int_equal(bm_chains_init(&g, FD, C, 0, 121, EBM_RNG_TEST), EBM_OK);
    float *xn = malloc(sizeof(float) * C * FD);
    assert_non_null(xn);
    bm_chains_random_init(&g, 0, xn);
    double th_mle[FP], th[FP], avg[FP] = { 0 }, zero[FP] = { 0 };
    params_of(&mle, th_mle);
    size_t n = bm_block_size(FD);
    /* One sweep per step, constant lr 0.2 with momentum 0.5 (stable below
     * 2 (1 + 0.5) / lambda_max(I), and lambda_max <= trace(I) <= 21 / 4),
     * and the parameters averaged over the second half (Polyak & Juditsky
     * 1992) to average out the noise of the minibatch and the chains. */
    for (int t = 0; t < STEPS; t++) {
        const float *xd = f.x + (size_t)(t % (FN / B)) * B * FD;
        bm_gibbs_sweep(&m, &g, xn, 1);
        bm_statistics(xd, B, xn, C, 1.0f / B, 1.0f / C, &grad);
        ebm_momentum_update(m.block, vel.block, grad.block, n, 0.5f, 0.2f, 0.0f);
        if (t >= STEPS / 2) {
            params_of(&m, th);
            for (int k = 0; k < FP; k++) avg[k] += th[k] / (STEPS - STEPS / 2);
        }
    }
    /* The update is elementwise on an exactly symmetric gradient. */
    assert_int_equal(bm_validate(&m), EBM_OK);
    double d0 = param_distance(zero, th_mle), d_avg = param_distance(avg, th_mle);
    params_of(&m, th);
    double d_last = param_distance(th, th_mle);
    /* The MLE's own error against the truth is ~sqrt(trace(I^-1) / N). */
    double I[FP * FP], var[FP], mle_err = 0.0;
    fisher_information(&f.truth, I);
    cholesky(I, FP);
    inverse_diagonal(I, FP, var);
    for (int k = 0; k < FP; k++) mle_err += var[k] / FN;
    mle_err = sqrt(mle_err);
    printf("  PCD: |theta - mle| from %.3f at init to %.4f averaged (%.4f last iterate); "
           "the MLE's expected error is %.4f\n", d0, d_avg, d_last, mle_err);
    /* Thresholds: 5% of the distance at initialisation ("much smaller"),
     * and half the MLE's own statistical error, i.e. PCD's error is small
     * beside what 20,000 samples allow. The stationary noise of the
     * iterate is ~0.08 here (lr 0.2, B = C = 1000); averaging 1000 steps
     * brings it to ~0.02. A wrong sign, sweep or statistic misses both. */
    assert_true(d_avg < 0.05 * d0);
    assert_true(d_avg < 0.5 * mle_err);
    bm_chains_free(&g);
    free(xn);
    bm_free(&mle);
    bm_free(&m);
    bm_free(&grad);
    bm_free(&vel);
    fit_case_free(&f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_bm_chi2_quantiles_match_tables),
    cmocka_unit_test(test_bm_energy_matches_double_loop),
    cmocka_unit_test(test_bm_conditional_matches_enumeration),
    cmocka_unit_test(test_bm_sweep_matches_ref_bitwise),
    cmocka_unit_test(test_bm_sweep_scans_units_in_order),
    cmocka_unit_test(test_bm_chains_do_not_depend_on_split),
    cmocka_unit_test(test_bm_gibbs_matches_exact_distribution_binary),
    cmocka_unit_test(test_bm_gibbs_matches_exact_distribution_spin),
    cmocka_unit_test(test_bm_exact_sample_matches_distribution),
    cmocka_unit_test(test_bm_exact_moments_match_brute_force),
    cmocka_unit_test(test_bm_statistics_match_ref_and_loops),
    cmocka_unit_test(test_bm_view_validate_and_errors),
    cmocka_unit_test(test_bm_exact_fit_recovers_known_model),
    cmocka_unit_test(test_bm_pcd_approaches_exact_fit),
};

EBM_TEST_MAIN(tests)
