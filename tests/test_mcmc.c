/* The MH, Langevin and MALA samplers against exact answers: the enumerated
 * p(v) of a tiny Bernoulli RBM (chi-square and total variation), the
 * closed-form moments of a Gaussian-Bernoulli RBM (a mixture of 2^H
 * Gaussians), ULA's step-size bias, and the streams keyed by global chain
 * index. */
#include "testutil.h"
#include "enum.h"
#include "typed.h"

#include "ebm/diagnostics.h"
#include "ebm/mcmc.h"

/* ---- chi-square helpers -------------------------------------------------- */

/* Regularised lower incomplete gamma P(a, x): the series for x < a + 1, else
 * the continued fraction for Q = 1 - P (Numerical Recipes, 3rd ed., 6.2). */
static double gamma_p(double a, double x)
{
    if (x <= 0) return 0;
    double front = exp(-x + a * log(x) - lgamma(a));
    if (x < a + 1) {
        double ap = a, del = 1.0 / a, sum = del;
        for (int n = 0; n < 100000 && fabs(del) > fabs(sum) * 1e-16; n++) {
            ap += 1;
            del *= x / ap;
            sum += del;
        }
        return sum * front;
    }
    double b = x + 1 - a, c = 1e300, d = 1 / b, h = d;
    for (int i = 1; i < 100000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < 1e-300) d = 1e-300;
        c = b + an / c;
        if (fabs(c) < 1e-300) c = 1e-300;
        d = 1 / d;
        h *= d * c;
        if (fabs(d * c - 1) < 1e-16) break;
    }
    return 1 - front * h;
}

/* The chi-square critical value x with P(chi2_df > x) = p, by bisection. */
static double chi2_critical(int df, double p)
{
    double lo = 0, hi = df + 40 * sqrt(2.0 * df) + 100;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (1 - gamma_p(0.5 * df, 0.5 * mid) > p) lo = mid; else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* The quantile function against printed tables, so the test's own yardstick
 * is checked (Abramowitz & Stegun, table 26.8). */
static void test_mcmc_chi2_critical_values_match_tables(void **state)
{
    (void)state;
    assert_close_d(chi2_critical(1, 1e-3), 10.828, 1e-3, "chi2(1) at p = 0.001");
    assert_close_d(chi2_critical(10, 1e-3), 29.588, 1e-3, "chi2(10) at p = 0.001");
    assert_close_d(chi2_critical(100, 1e-3), 149.449, 1e-3, "chi2(100) at p = 0.001");
    assert_close_d(chi2_critical(15, 1e-4), 44.263, 1e-3, "chi2(15) at p = 0.0001");
}

/* Pearson's chi-square of counts against N p over n cells, cells merged
 * (smallest expected first) until each merged cell expects at least 5.
 * Returns the statistic; *df receives (merged cells - 1). */
static double chi_square(const double *count, const double *p, int n, double N, int *df)
{
    int *order = malloc(sizeof *order * n);
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort by expected count */
        for (int j = i; j > 0 && p[order[j]] < p[order[j - 1]]; j--) {
            int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
        }
    double chi2 = 0, o = 0, e = 0, last_o = 0, last_e = 0;
    int bins = 0;
    for (int k = 0; k < n; k++) {
        o += count[order[k]];
        e += N * p[order[k]];
        if (e >= 5.0) {
            chi2 += (o - e) * (o - e) / e;
            last_o = o; last_e = e;
            bins++;
            o = e = 0;
        }
    }
    if (e > 0) { /* a small remainder joins the last closed bin */
        chi2 -= (last_o - last_e) * (last_o - last_e) / last_e;
        chi2 += (last_o + o - last_e - e) * (last_o + o - last_e - e) / (last_e + e);
    }
    free(order);
    *df = bins - 1;
    return chi2;
}

/* ---- a tiny Bernoulli RBM, enumerated ------------------------------------ */

enum { TV = 8, TH = 4, NS = 1 << TV }; /* 256 visible states */

static unsigned code_of(const float *v, int n)
{
    unsigned c = 0;
    for (int i = 0; i < n; i++) c |= (v[i] > 0.5f ? 1u : 0u) << i; /* on: 1, off: 0 or -1 */
    return c;
}

/* p(v) and F(v) over all states (of any discrete unit types). */
static void exact_p(const struct rbm *m, double *p, double *F)
{
    double logz = typed_log_z(m);
    float v[TV];
    for (unsigned c = 0; c < NS; c++) {
        typed_state(c, TV, m->vis.type, v);
        F[c] = -typed_neg_free_energy(m, v);
        p[c] = exp(-F[c] - logz);
    }
}

/* C = A B for NS x NS matrices. */
static void matmul(const double *A, const double *B, double *C)
{
    for (int i = 0; i < NS; i++) {
        double *c = C + (size_t)i * NS;
        for (int j = 0; j < NS; j++) c[j] = 0;
        for (int k = 0; k < NS; k++) {
            double a = A[(size_t)i * NS + k];
            if (a == 0) continue;
            const double *b = B + (size_t)k * NS;
            for (int j = 0; j < NS; j++) c[j] += a * b[j];
        }
    }
}

/* The exact transition matrix of one sweep of the MH sampler. The single
 * proposal that flips unit j from a accepts with min(1, exp(F(a) - F(a^j)));
 * random scan averages that kernel over j and applies it D times,
 * systematic scan applies j = 0 .. D - 1 in order. */
static void sweep_matrix(const double *F, enum ebm_mcmc_scan scan, double *T)
{
    double *K = calloc((size_t)NS * NS, sizeof *K), *tmp = calloc((size_t)NS * NS, sizeof *tmp);
    for (int i = 0; i < NS * NS; i++) T[i] = (i / NS == i % NS);
    for (int j = 0; j < TV; j++) {
        double w = scan == EBM_SCAN_RANDOM ? 1.0 / TV : 1.0;
        if (scan == EBM_SCAN_SYSTEMATIC || j == 0) memset(K, 0, sizeof *K * NS * NS);
        for (int a = 0; a < NS; a++) {
            int b = a ^ (1 << j);
            double acc = fmin(1.0, exp(F[a] - F[b]));
            K[(size_t)a * NS + b] += w * acc;
            K[(size_t)a * NS + a] += w * (1 - acc);
        }
        if (scan == EBM_SCAN_SYSTEMATIC) {
            matmul(T, K, tmp);
            memcpy(T, tmp, sizeof *T * NS * NS);
        }
    }
    if (scan == EBM_SCAN_RANDOM)
        for (int j = 0; j < TV; j++) {
            matmul(T, K, tmp);
            memcpy(T, tmp, sizeof *T * NS * NS);
        }
    free(K);
    free(tmp);
}

/* max over starting states a of TV(T(a, .), p). */
static double worst_tv(const double *T, const double *p)
{
    double worst = 0;
    for (int a = 0; a < NS; a++) {
        double tv = 0;
        for (int b = 0; b < NS; b++) tv += 0.5 * fabs(T[(size_t)a * NS + b] - p[b]);
        worst = fmax(worst, tv);
    }
    return worst;
}

/* ---- MH on binary states against the exact p(v) -------------------------- */

enum { MH_C = 4000 };

/* MH_C chains of a V = 8, H = 4 RBM with weights and biases of scale sigma
 * (Bernoulli, or spin-spin: states in {-1,+1}, a flip is x -> -x); S
 * samples per chain, thin sweeps apart (a power of 2; also the burn-in). */
static void mh_matches_exact(enum ebm_mcmc_scan scan, int flip_form, float sigma, int thin,
                             int S, uint64_t seed, int spin)
{
    const char *name = scan == EBM_SCAN_RANDOM ? "random scan" : "systematic scan";
    const char *form = spin ? "spins, energy differences"
                     : flip_form ? "O(H) flips" : "energy differences";
    struct rbm m;
    if (spin) typed_random_rbm(&m, TV, TH, EBM_UNIT_SPIN, EBM_UNIT_SPIN, sigma, 100);
    else enum_random_rbm(&m, TV, TH, sigma, 100);
    static double p[NS], F[NS];
    exact_p(&m, p, F);

    /* Preconditions, so that a failure below is the sampler's. T^thin from
     * any start is within eps of p in total variation; so, after a burn-in
     * of thin sweeps from the uniform start, each chain's S samples, thin
     * sweeps apart, are jointly within S eps of i.i.d. draws from p, and all
     * C S samples within C S eps (a coupling argument). C S eps < 1e-4 adds
     * at most 1e-4 to the false-failure rates of the tests below, which then
     * see i.i.d. draws. (Systematic scan mixes more slowly here: where p is
     * nearly flat it flips almost every unit every sweep, an almost periodic
     * chain.) */
    double *T = malloc(sizeof *T * NS * NS), *T2 = malloc(sizeof *T2 * NS * NS);
    sweep_matrix(F, scan, T);
    for (int k = 1; k < thin; k *= 2) { /* T^thin by squaring */
        matmul(T, T, T2);
        memcpy(T, T2, sizeof *T * NS * NS);
    }
    double eps = worst_tv(T, p);
    assert_true((double)MH_C * S * eps < 1e-4);
    free(T);
    free(T2);

    struct ebm_target t;
    assert_int_equal(ebm_target_rbm(&m, &t), EBM_OK);
    if (!flip_form) {
        t.cache_dim = 0;
        t.cache_init = NULL;
        t.flip_delta = NULL;
        t.flip_update = NULL;
    }
    struct ebm_mcmc_opts o = { .kind = EBM_MCMC_MH, .scan = scan };
    struct ebm_mcmc s;
    assert_int_equal(ebm_mcmc_init(&s, &t, &o, MH_C, 0, seed), EBM_OK);
    float *x = malloc(sizeof *x * MH_C * TV);
    ebm_mcmc_random_init(&s, x);
    ebm_mcmc_run(&s, x, thin, NULL);
    double count[NS] = { 0 };
    struct ebm_mcmc_counts c, total = { 0, 0, 0 };
    for (int k = 0; k < S; k++) {
        ebm_mcmc_run(&s, x, thin, &c);
        total.proposed += c.proposed;
        total.accepted += c.accepted;
        total.sum_alpha += c.sum_alpha;
        for (int r = 0; r < MH_C; r++) count[code_of(x + r * TV, TV)] += 1;
    }
    double N = (double)MH_C * S;

    int df;
    double chi2 = chi_square(count, p, NS, N, &df);
    double crit = chi2_critical(df, 1e-3);
    /* Total variation: E[TV] <= 1/2 sum_c sqrt(p_c / N) <= 1/2 sqrt(K / N)
     * by Cauchy-Schwarz over K = 256 cells; one draw moves TV by at most
     * 1/N, so McDiarmid gives P(TV > E[TV] + t) <= exp(-2 N t^2) = 1e-3 at
     * t = sqrt(ln(1e3) / (2N)). For N = 40000: 0.040 + 0.0093; for N =
     * 20000: 0.057 + 0.013. */
    double tv = 0;
    for (int i = 0; i < NS; i++) tv += 0.5 * fabs(count[i] / N - p[i]);
    double bound = 0.5 * sqrt(NS / N) + sqrt(log(1e3) / (2 * N));
    /* The exact stationary acceptance rate of a single-flip proposal. Chains
     * are independent and each one's rate is in [0, 1]: SE <= 0.5 / sqrt(C),
     * 4 SE = 0.032. */
    double acc_exact = 0;
    for (int a = 0; a < NS; a++)
        for (int j = 0; j < TV; j++)
            acc_exact += p[a] / TV * fmin(1.0, exp(F[a] - F[a ^ (1 << j)]));
    double acc = (double)total.accepted / total.proposed;
    print_message("MH %s, %s, sigma %.1f: %.0f samples, chi-square %.1f, df %d, critical %.1f (p = 0.001); "
                  "TV %.4f (bound %.4f); acceptance %.4f, mean alpha %.4f, exact %.4f; "
                  "mixing eps %.2g\n", name, form, sigma, N, chi2, df, crit, tv, bound, acc,
                  total.sum_alpha / total.proposed, acc_exact, eps);
    if (!(chi2 < crit)) {
        print_error("chi-square %.2f with %d dof exceeds %.2f (p = 0.001)\n", chi2, df, crit);
        fail();
    }
    assert_close_d(tv, 0.0, bound, "TV(empirical, exact p(v))");
    assert_close_d(acc, acc_exact, 4 * 0.5 / sqrt(MH_C), "acceptance rate");
    assert_close_d(total.sum_alpha / total.proposed, acc_exact, 4 * 0.5 / sqrt(MH_C),
                   "mean acceptance probability");
    assert_int_equal(total.proposed, (int64_t)MH_C * S * thin * TV);

    /* The test has power: the same counts against the p(v) of a model whose
     * first visible bias moved by 0.25 fail it. */
    m.vbias[0] += 0.25f;
    static double p_alt[NS], F_alt[NS];
    exact_p(&m, p_alt, F_alt);
    int df_alt;
    double chi2_alt = chi_square(count, p_alt, NS, N, &df_alt);
    print_message("  against a model with b_0 + 0.25: chi-square %.1f, critical %.1f\n", chi2_alt,
                  chi2_critical(df_alt, 1e-3));
    assert_true(chi2_alt > chi2_critical(df_alt, 1e-3));

    free(x);
    ebm_mcmc_free(&s);
    rbm_free(&m);
}

static void test_mcmc_mh_random_scan_matches_exact_distribution(void **state)
{
    (void)state;
    mh_matches_exact(EBM_SCAN_RANDOM, 1, 1.0f, 32, 10, 101, 0);
}

static void test_mcmc_mh_systematic_scan_matches_exact_distribution(void **state)
{
    (void)state;
    mh_matches_exact(EBM_SCAN_SYSTEMATIC, 1, 1.5f, 64, 5, 102, 0);
}

/* The generic path a target without the flip form takes: one batched energy
 * evaluation per proposal. */
static void test_mcmc_mh_energy_only_target_matches_exact_distribution(void **state)
{
    (void)state;
    mh_matches_exact(EBM_SCAN_RANDOM, 0, 1.0f, 32, 5, 103, 0);
}

/* The RBM target's flip form against enumerated free energies, for every
 * state and unit. */
static void test_mcmc_mh_spin_target_matches_exact_distribution(void **state)
{
    (void)state;
    mh_matches_exact(EBM_SCAN_RANDOM, 0, 0.5f, 32, 5, 104, 1);
}

static void test_mcmc_rbm_target_flip_delta_is_exact(void **state)
{
    (void)state;
    struct rbm m;
    enum_random_rbm(&m, TV, TH, 1.5f, 104);
    static double p[NS], F[NS];
    exact_p(&m, p, F);
    struct ebm_target t;
    assert_int_equal(ebm_target_rbm(&m, &t), EBM_OK);
    float x[NS * TV], cache[NS * TH], scratch[NS * TH];
    double Fx[NS];
    for (unsigned c = 0; c < NS; c++) enum_state(c, TV, x + c * TV);
    t.energy(t.ctx, x, NS, scratch, Fx);
    t.cache_init(t.ctx, x, NS, cache);
    double worst = 0;
    for (unsigned c = 0; c < NS; c++) {
        worst = fmax(worst, fabs(Fx[c] - F[c]));
        for (int j = 0; j < TV; j++) {
            double d = t.flip_delta(t.ctx, x + c * TV, cache + c * TH, j);
            worst = fmax(worst, fabs(d - (F[c ^ (1u << j)] - F[c])));
        }
    }
    /* float inputs c + vW (|.| < 10) and float softplus: ~1e-6 each */
    print_message("largest error of F and dF: %.3g\n", worst);
    assert_true(worst < 1e-4);
    /* flip_update keeps the cache equal to a fresh one. */
    float y[TV], cy[TH], fresh[TH];
    enum_state(0x5a, TV, y);
    t.cache_init(t.ctx, y, 1, cy);
    for (int k = 0; k < 100; k++) {
        int j = (k * 5) % TV;
        y[j] = 1.0f - y[j];
        t.flip_update(t.ctx, y, cy, j);
    }
    t.cache_init(t.ctx, y, 1, fresh);
    assert_close_f(cy, fresh, TH, 1e-5, "cache after 100 flips vs a fresh one");
    rbm_free(&m);
}

/* With systematic scan each unit is proposed once per sweep, so a sweep's
 * accepted count is the Hamming distance it moved. */
static void test_mcmc_mh_counts_are_state_changes(void **state)
{
    (void)state;
    enum { C = 50 };
    struct rbm m;
    enum_random_rbm(&m, TV, TH, 1.0f, 105);
    struct ebm_target t;
    assert_int_equal(ebm_target_rbm(&m, &t), EBM_OK);
    struct ebm_mcmc_opts o = { .kind = EBM_MCMC_MH, .scan = EBM_SCAN_SYSTEMATIC };
    struct ebm_mcmc s;
    assert_int_equal(ebm_mcmc_init(&s, &t, &o, C, 0, 106), EBM_OK);
    float x[C * TV], before[C * TV];
    ebm_mcmc_random_init(&s, x);
    int64_t prev[C] = { 0 };
    for (int k = 0; k < 20; k++) {
        memcpy(before, x, sizeof x);
        struct ebm_mcmc_counts c;
        ebm_mcmc_run(&s, x, 1, &c);
        int64_t moved = 0;
        for (int r = 0; r < C; r++) {
            int64_t d = 0;
            for (int i = 0; i < TV; i++) d += x[r * TV + i] != before[r * TV + i];
            assert_int_equal(s.accepted[r] - prev[r], d);
            prev[r] = s.accepted[r];
            moved += d;
        }
        assert_int_equal(c.accepted, moved);
        assert_int_equal(c.proposed, C * TV);
    }
    assert_int_equal(s.proposed, 20 * TV);
    ebm_mcmc_free(&s);
    rbm_free(&m);
}

/* ---- a Gaussian-Bernoulli RBM with V = 2, H = 2 --------------------------- */

enum { GV = 2, GH = 2 };
static const float g_W[GV * GH] = { 1.2f, -0.8f, 0.5f, 1.0f };
static const float g_b[GV] = { 0.2f, -0.1f };
static const float g_c[GH] = { -0.5f, 0.3f };
static const float g_s[GV] = { 1.0f, 0.7f };

static float g_Wc[GV * GH]; /* the model's weights, s_i W_ij (filled by grbm) */

/* g_W, g_s are in Hinton's v / s coupling (the form the mixture below was
 * first derived in); the RBM couples v / s^2 (Cho et al. 2011, ebm/units.h),
 * whose weights are s_i W_ij for the same distribution. */
static void grbm(struct rbm *m)
{
    assert_int_equal(rbm_init_typed(m, GV, GH, EBM_UNIT_GAUSSIAN, EBM_UNIT_BERNOULLI), EBM_OK);
    for (int i = 0; i < GV; i++) {
        for (int j = 0; j < GH; j++) g_Wc[i * GH + j] = g_s[i] * g_W[i * GH + j];
        m->vbias[i] = g_b[i];
        m->log_sigma[i] = logf(g_s[i]);
    }
    memcpy(m->W, g_Wc, sizeof g_Wc);
    memcpy(m->hbias, g_c, sizeof g_c);
}

/* Given h, v ~ N(mu_h, diag(s^2)) with mu_h = b + Wc h; summing v out,
 * log p(h) = c'h + sum_i [b_i (Wc h)_i + (Wc h)_i^2 / 2] / s_i^2 + const.
 * Component weights w (2^H) and means mu (2^H, V). */
static void mixture(double *w, double mu[][GV])
{
    double lw[1 << GH], mx = -INFINITY, z = 0;
    for (unsigned k = 0; k < (1u << GH); k++) {
        lw[k] = 0;
        for (int j = 0; j < GH; j++) lw[k] += ((k >> j) & 1u) * (double)g_c[j];
        for (int i = 0; i < GV; i++) {
            double wh = 0;
            for (int j = 0; j < GH; j++) wh += (double)g_Wc[i * GH + j] * ((k >> j) & 1u);
            lw[k] += ((double)g_b[i] * wh + 0.5 * wh * wh) / ((double)g_s[i] * g_s[i]);
            mu[k][i] = g_b[i] + wh;
        }
        mx = fmax(mx, lw[k]);
    }
    for (unsigned k = 0; k < (1u << GH); k++) z += exp(lw[k] - mx);
    for (unsigned k = 0; k < (1u << GH); k++) w[k] = exp(lw[k] - mx) / z;
}

/* Exact mean (V) and covariance (V, V): diag(s^2) + sum_k w_k mu_k mu_k' - mean mean'. */
static void exact_moments(double mean[GV], double cov[GV][GV])
{
    double w[1 << GH], mu[1 << GH][GV];
    mixture(w, mu);
    for (int i = 0; i < GV; i++) {
        mean[i] = 0;
        for (unsigned k = 0; k < (1u << GH); k++) mean[i] += w[k] * mu[k][i];
    }
    for (int i = 0; i < GV; i++)
        for (int j = 0; j < GV; j++) {
            cov[i][j] = i == j ? (double)g_s[i] * g_s[i] : 0.0;
            for (unsigned k = 0; k < (1u << GH); k++) cov[i][j] += w[k] * mu[k][i] * mu[k][j];
            cov[i][j] -= mean[i] * mean[j];
        }
}

/* log p(v) + const and its gradient, from the mixture. */
static double exact_log_p(const double v[GV], double grad[GV])
{
    double w[1 << GH], mu[1 << GH][GV], lc[1 << GH], mx = -INFINITY;
    mixture(w, mu);
    for (unsigned k = 0; k < (1u << GH); k++) {
        lc[k] = log(w[k]);
        for (int i = 0; i < GV; i++) {
            double d = (v[i] - mu[k][i]) / g_s[i];
            lc[k] -= 0.5 * d * d;
        }
        mx = fmax(mx, lc[k]);
    }
    double z = 0;
    for (unsigned k = 0; k < (1u << GH); k++) z += exp(lc[k] - mx);
    for (int i = 0; i < GV; i++) {
        grad[i] = 0;
        for (unsigned k = 0; k < (1u << GH); k++)
            grad[i] -= exp(lc[k] - mx) / z * (v[i] - mu[k][i]) / ((double)g_s[i] * g_s[i]);
    }
    return mx + log(z);
}

/* F(v) = -log p(v) + const and grad F = -grad log p, at scattered points. */
static void test_mcmc_grbm_target_matches_mixture_density(void **state)
{
    (void)state;
    struct rbm m;
    grbm(&m);
    struct ebm_target t;
    assert_int_equal(ebm_target_rbm(&m, &t), EBM_OK);
    enum { P = 50 };
    float x[P * GV], g[P * GV], scratch[P * (GV + GH)];
    double F[P];
    struct ebm_rng r;
    ebm_rng_init(&r, 107, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, x, P * GV);
    for (int i = 0; i < P * GV; i++) x[i] *= 2.0f;
    t.energy_grad(t.ctx, x, P, scratch, F, g);
    double worst_f = 0, worst_g = 0, off = 0;
    for (int k = 0; k < P; k++) {
        double v[GV] = { x[k * GV], x[k * GV + 1] }, gl[GV];
        double lp = exact_log_p(v, gl);
        if (k == 0) off = F[k] + lp;
        worst_f = fmax(worst_f, fabs(F[k] + lp - off));
        for (int i = 0; i < GV; i++) worst_g = fmax(worst_g, fabs(g[k * GV + i] + gl[i]));
    }
    double F2[P];
    t.energy(t.ctx, x, P, scratch, F2);
    for (int k = 0; k < P; k++) assert_true(F2[k] == F[k]);
    print_message("GRBM target: largest error of F + log p (up to a constant) %.3g, of grad %.3g\n",
                  worst_f, worst_g);
    assert_true(worst_f < 1e-5); /* float GEMM inputs of size ~10: ~1e-6 */
    assert_true(worst_g < 1e-5);
    rbm_free(&m);
}

/* Runs C chains of a sampler on the GRBM: burn-in, then N records THIN
 * steps apart. Fills the pooled mean and covariance, the largest error of
 * the 5 moments against the exact ones, each error in units of its
 * standard error sd / sqrt(ESS) (ESS by ebm_ess over the C chains), the
 * excess of tr(cov) over the exact one, and the acceptance rate. */
struct moment_run {
    double err;        /* max |estimate - exact| over mean_1, mean_2, cov_11, cov_12, cov_22 */
    double z;          /* max |estimate - exact| / SE over the same */
    double se_max;     /* the largest of the 5 SEs */
    double excess_tr;  /* tr(cov estimate) - tr(cov exact) */
    double acceptance, mean_alpha;
    double ess_min;    /* the smallest of the 5 ESSs */
};

enum { G_C = 100, G_BURN = 1000, G_N = 2500, G_THIN = 8 };

static void moment_run(enum ebm_mcmc_kind kind, double step, uint64_t seed,
                       struct moment_run *out)
{
    struct rbm m;
    grbm(&m);
    struct ebm_target t;
    assert_int_equal(ebm_target_rbm(&m, &t), EBM_OK);
    struct ebm_mcmc_opts o = { .kind = kind, .step = step };
    struct ebm_mcmc s;
    assert_int_equal(ebm_mcmc_init(&s, &t, &o, G_C, 0, seed), EBM_OK);
    float x[G_C * GV];
    ebm_mcmc_random_init(&s, x);
    ebm_mcmc_run(&s, x, G_BURN, NULL);
    double mean[GV], cov[GV][GV];
    exact_moments(mean, cov);
    /* Traces of the 5 statistics, each (C, N), centred on the exact means
     * so that their averages estimate the covariance directly. */
    double *tr = malloc(sizeof *tr * 5 * G_C * G_N);
    assert_non_null(tr);
    int64_t prop = 0, acc = 0;
    double alpha = 0;
    for (int n = 0; n < G_N; n++) {
        struct ebm_mcmc_counts c;
        ebm_mcmc_run(&s, x, G_THIN, &c);
        prop += c.proposed;
        acc += c.accepted;
        alpha += c.sum_alpha;
        for (int r = 0; r < G_C; r++) {
            double d0 = x[r * GV] - mean[0], d1 = x[r * GV + 1] - mean[1];
            double st[5] = { x[r * GV], x[r * GV + 1], d0 * d0, d0 * d1, d1 * d1 };
            for (int q = 0; q < 5; q++) tr[((size_t)q * G_C + r) * G_N + n] = st[q];
        }
    }
    const double exact[5] = { mean[0], mean[1], cov[0][0], cov[0][1], cov[1][1] };
    double est[5];
    memset(out, 0, sizeof *out);
    out->ess_min = INFINITY;
    for (int q = 0; q < 5; q++) {
        const double *y = tr + (size_t)q * G_C * G_N;
        double mu = 0, var = 0, ess;
        size_t S = (size_t)G_C * G_N;
        for (size_t i = 0; i < S; i++) mu += y[i];
        mu /= (double)S;
        for (size_t i = 0; i < S; i++) var += (y[i] - mu) * (y[i] - mu);
        var /= (double)S - 1;
        assert_int_equal(ebm_ess(y, G_C, G_N, &ess), EBM_OK);
        est[q] = mu;
        double se = sqrt(var / ess);
        out->err = fmax(out->err, fabs(mu - exact[q]));
        out->z = fmax(out->z, fabs(mu - exact[q]) / se);
        out->se_max = fmax(out->se_max, se);
        out->ess_min = fmin(out->ess_min, ess);
    }
    /* est[2], est[4] are centred on the exact means: the excess of the
     * second moments, which is what ULA's bias inflates. */
    out->excess_tr = est[2] + est[4] - cov[0][0] - cov[1][1];
    out->acceptance = (double)acc / prop;
    out->mean_alpha = alpha / prop;
    free(tr);
    ebm_mcmc_free(&s);
    rbm_free(&m);
}

/* MALA at a small and a large step (x8) matches the exact moments within
 * 4.5 standard errors each (10 comparisons: a false failure has probability
 * below 10 * 6.8e-6). ULA's bias is O(lambda) (Roberts & Tweedie 1996,
 * Bernoulli 2(4); for a Gaussian of variance s^2 ULA's stationary variance
 * is s^2 / (1 - lambda / (2 s^2)), an excess lambda / 2 + O(lambda^2)). So:
 * at the large step ULA's error exceeds 10 standard errors and 3 times
 * MALA's; ULA's excess of tr(cov) is positive and grows from the small step
 * to the large one by a factor within [8/3, 3 * 8] around the first-order 8
 * (the Gaussians of variance 1 and 0.49 above alone give 9.8 and 12.8).
 * MALA's acceptance falls as the step grows, and so does what MALA would
 * have accepted of ULA's moves. */
static void test_mcmc_langevin_and_mala_match_grbm_moments(void **state)
{
    (void)state;
    const double small = 0.05, large = 0.4;
    struct moment_run mala_s, mala_l, ula_s, ula_l;
    moment_run(EBM_MCMC_MALA, small, 110, &mala_s);
    moment_run(EBM_MCMC_MALA, large, 111, &mala_l);
    moment_run(EBM_MCMC_LANGEVIN, small, 112, &ula_s);
    moment_run(EBM_MCMC_LANGEVIN, large, 113, &ula_l);
    const struct { const char *name; double step; struct moment_run *r; } runs[] = {
        { "MALA", small, &mala_s }, { "MALA", large, &mala_l },
        { "ULA ", small, &ula_s }, { "ULA ", large, &ula_l },
    };
    for (int k = 0; k < 4; k++)
        print_message("%s step %.2f: max moment error %.4f (%.1f SE, SE <= %.4f, ESS >= %.0f), "
                      "tr(cov) excess %+.4f, acceptance %.4f, mean alpha %.4f\n",
                      runs[k].name, runs[k].step, runs[k].r->err, runs[k].r->z,
                      runs[k].r->se_max, runs[k].r->ess_min, runs[k].r->excess_tr,
                      runs[k].r->acceptance, runs[k].r->mean_alpha);
    assert_true(mala_s.z < 4.5);
    assert_true(mala_l.z < 4.5);
    assert_true(mala_l.acceptance < mala_s.acceptance);
    assert_true(ula_s.acceptance == 1.0 && ula_l.acceptance == 1.0);
    assert_true(ula_l.mean_alpha < ula_s.mean_alpha);
    assert_true(ula_l.err > 10 * ula_l.se_max);
    assert_true(ula_l.err > 3 * mala_l.err);
    double growth = ula_l.excess_tr / ula_s.excess_tr, ratio = large / small;
    print_message("ULA tr(cov) excess grows x%.2f for a x%.0f step (first order: x%.0f)\n", growth,
                  ratio, ratio);
    assert_true(ula_s.excess_tr > 0);
    assert_true(growth > ratio / 3 && growth < 3 * ratio);
}

/* Gaussian random-walk MH on the same target. */
static void test_mcmc_mh_random_walk_matches_grbm_moments(void **state)
{
    (void)state;
    struct moment_run rw;
    moment_run(EBM_MCMC_MH, 1.0, 114, &rw);
    print_message("RW-MH step 1.0: max moment error %.4f (%.1f SE, ESS >= %.0f), acceptance %.4f\n",
                  rw.err, rw.z, rw.ess_min, rw.acceptance);
    assert_true(rw.z < 4.5);
    assert_true(rw.acceptance > 0.2 && rw.acceptance < 0.9);
}

/* ---- streams, splits and traces ------------------------------------------ */

enum { BC = 300 };

static void run_block(const struct ebm_target *t, const struct ebm_mcmc_opts *o, int rows,
                      int64_t first, int steps, uint64_t seed, float *x, double *energy)
{
    struct ebm_mcmc s;
    assert_int_equal(ebm_mcmc_init(&s, t, o, rows, first, seed), EBM_OK);
    ebm_mcmc_random_init(&s, x);
    ebm_mcmc_run(&s, x, steps, NULL);
    memcpy(energy, s.energy, sizeof *energy * rows);
    ebm_mcmc_free(&s);
}

/* Chains [0, cut) and [cut, BC) as separate blocks (two ranks) follow the
 * same paths as one block. Binary states must match exactly (a float
 * rounding difference in the block's GEMM flips a decision only when u
 * lands within ~1e-7 of the acceptance probability); real states to 1e-5. */
static void split_matches(const struct ebm_target *t, const struct ebm_mcmc_opts *o, int steps)
{
    size_t D = (size_t)t->dim;
    float *a = malloc(sizeof *a * BC * D), *b = malloc(sizeof *b * BC * D);
    double ea[BC], eb[BC];
    run_block(t, o, BC, 0, steps, 120, a, ea);
    const int cuts[] = { 1, 137, BC / 2 };
    for (int k = 0; k < 3; k++) {
        int cut = cuts[k];
        run_block(t, o, cut, 0, steps, 120, b, eb);
        run_block(t, o, BC - cut, cut, steps, 120, b + cut * D, eb + cut);
        if (t->kind == EBM_STATE_BINARY)
            assert_memory_equal(a, b, sizeof *a * BC * D);
        else
            assert_close_f(a, b, BC * D, 1e-5, "split vs one block");
        for (int r = 0; r < BC; r++) assert_close_d(ea[r], eb[r], 1e-4, "energy, split vs one");
    }
    free(a);
    free(b);
}

static void test_mcmc_split_chains_match_one_block(void **state)
{
    (void)state;
    struct rbm m;
    enum_random_rbm(&m, 37, 23, 0.5f, 121);
    struct ebm_target t;
    assert_int_equal(ebm_target_rbm(&m, &t), EBM_OK);
    struct ebm_mcmc_opts o = { .kind = EBM_MCMC_MH, .scan = EBM_SCAN_RANDOM };
    split_matches(&t, &o, 5);
    struct rbm g;
    grbm(&g);
    assert_int_equal(ebm_target_rbm(&g, &t), EBM_OK);
    struct ebm_mcmc_opts om = { .kind = EBM_MCMC_MALA, .step = 0.2 };
    split_matches(&t, &om, 50);
    om.kind = EBM_MCMC_MH;
    split_matches(&t, &om, 50);
    rbm_free(&m);
    rbm_free(&g);
}

/* k + k steps equal 2k steps, bit for bit. */
static void continue_matches(const struct ebm_target *t, const struct ebm_mcmc_opts *o, int k)
{
    size_t D = (size_t)t->dim;
    float *a = malloc(sizeof *a * BC * D), *b = malloc(sizeof *b * BC * D);
    double ea[BC];
    run_block(t, o, BC, 0, 2 * k, 130, a, ea);
    struct ebm_mcmc s;
    assert_int_equal(ebm_mcmc_init(&s, t, o, BC, 0, 130), EBM_OK);
    ebm_mcmc_random_init(&s, b);
    struct ebm_mcmc_counts c1, c2;
    ebm_mcmc_run(&s, b, k, &c1);
    ebm_mcmc_run(&s, b, k, &c2);
    assert_memory_equal(a, b, sizeof *a * BC * D);
    int64_t acc = 0;
    for (int r = 0; r < BC; r++) acc += s.accepted[r];
    assert_int_equal(acc, c1.accepted + c2.accepted);
    assert_int_equal(s.sweep, 2 * k);
    ebm_mcmc_free(&s);
    free(a);
    free(b);
}

static void test_mcmc_streams_continue_across_calls(void **state)
{
    (void)state;
    struct rbm m;
    enum_random_rbm(&m, 37, 23, 0.5f, 131);
    struct ebm_target t;
    assert_int_equal(ebm_target_rbm(&m, &t), EBM_OK);
    struct ebm_mcmc_opts o = { .kind = EBM_MCMC_MH, .scan = EBM_SCAN_SYSTEMATIC };
    continue_matches(&t, &o, 4);
    struct rbm g;
    grbm(&g);
    assert_int_equal(ebm_target_rbm(&g, &t), EBM_OK);
    const enum ebm_mcmc_kind kinds[] = { EBM_MCMC_MH, EBM_MCMC_LANGEVIN, EBM_MCMC_MALA };
    for (int k = 0; k < 3; k++) {
        struct ebm_mcmc_opts ok = { .kind = kinds[k], .step = 0.3 };
        continue_matches(&t, &ok, 40);
    }
    rbm_free(&m);
    rbm_free(&g);
}

/* The trace holds F of the state after every thin-th step. */
static void test_mcmc_trace_records_energies(void **state)
{
    (void)state;
    enum { C = 7, STEPS = 30, THIN = 3, LD = 12 };
    struct rbm g;
    grbm(&g);
    struct ebm_target t;
    assert_int_equal(ebm_target_rbm(&g, &t), EBM_OK);
    struct ebm_mcmc_opts o = { .kind = EBM_MCMC_MALA, .step = 0.3 };
    struct ebm_mcmc s, s2;
    assert_int_equal(ebm_mcmc_init(&s, &t, &o, C, 0, 140), EBM_OK);
    assert_int_equal(ebm_mcmc_init(&s2, &t, &o, C, 0, 140), EBM_OK);
    float x[C * GV], y[C * GV], scratch[C * (GV + GH)];
    double trace[C * LD], F[C];
    for (int i = 0; i < C * LD; i++) trace[i] = -1234.5;
    ebm_mcmc_random_init(&s, x);
    ebm_mcmc_random_init(&s2, y);
    ebm_mcmc_run_trace(&s, x, STEPS, THIN, trace, LD, NULL);
    for (int k = 0; k < STEPS / THIN; k++) {
        ebm_mcmc_run(&s2, y, THIN, NULL);
        t.energy(t.ctx, y, C, scratch, F);
        for (int r = 0; r < C; r++) assert_true(trace[r * LD + k] == F[r]);
    }
    for (int r = 0; r < C; r++) /* untouched past steps / thin */
        for (int k = STEPS / THIN; k < LD; k++) assert_true(trace[r * LD + k] == -1234.5);
    assert_memory_equal(x, y, sizeof x);
    ebm_mcmc_free(&s);
    ebm_mcmc_free(&s2);
    rbm_free(&g);
}

/* A rank without chains takes part with an empty block. */
static void test_mcmc_empty_block_is_a_no_op(void **state)
{
    (void)state;
    struct rbm g;
    grbm(&g);
    struct ebm_target t;
    assert_int_equal(ebm_target_rbm(&g, &t), EBM_OK);
    struct ebm_mcmc_opts o = { .kind = EBM_MCMC_MALA, .step = 0.1 };
    struct ebm_mcmc s;
    assert_int_equal(ebm_mcmc_init(&s, &t, &o, 0, 5, 1), EBM_OK);
    float x[1] = { 7.0f };
    struct ebm_mcmc_counts c = { 9, 9, 9 };
    ebm_mcmc_random_init(&s, x);
    ebm_mcmc_run(&s, x, 3, &c);
    assert_true(x[0] == 7.0f);
    assert_true(c.proposed == 0 && c.accepted == 0 && c.sum_alpha == 0);
    ebm_mcmc_free(&s);
    ebm_mcmc_free(&s); /* free twice, and free(NULL), are safe */
    ebm_mcmc_free(NULL);
    rbm_free(&g);
}

static void test_mcmc_rejects_what_does_not_apply(void **state)
{
    (void)state;
    struct rbm m;
    enum_random_rbm(&m, 4, 3, 1.0f, 150);
    struct ebm_target bin, real;
    assert_int_equal(ebm_target_rbm(&m, &bin), EBM_OK);
    struct rbm g;
    grbm(&g);
    assert_int_equal(ebm_target_rbm(&g, &real), EBM_OK);
    struct ebm_mcmc s;
    struct ebm_mcmc_opts o = { .kind = EBM_MCMC_LANGEVIN, .step = 0.1 };
    assert_int_equal(ebm_mcmc_init(&s, &bin, &o, 2, 0, 1), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "real"));
    ebm_error_clear();
    o.kind = EBM_MCMC_MALA;
    o.step = 0.0;
    assert_int_equal(ebm_mcmc_init(&s, &real, &o, 2, 0, 1), EBM_ERR_INPUT);
    ebm_error_clear();
    o.step = NAN;
    assert_int_equal(ebm_mcmc_init(&s, &real, &o, 2, 0, 1), EBM_ERR_INPUT);
    ebm_error_clear();
    o.step = 0.1;
    assert_int_equal(ebm_mcmc_init(&s, &real, &o, 2, ((int64_t)1 << 32) - 1, 1), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "2^32"));
    ebm_error_clear();
    struct ebm_target half = bin;
    half.flip_update = NULL;
    o.kind = EBM_MCMC_MH;
    assert_int_equal(ebm_mcmc_init(&s, &half, &o, 2, 0, 1), EBM_ERR_INPUT);
    ebm_error_clear();
    struct rbm view;
    rbm_view_like(&view, &g, g.block); /* numbers only: no coupling scratch */
    assert_int_equal(ebm_target_rbm(&view, &real), EBM_ERR_INPUT);
    ebm_error_clear();
    rbm_free(&g);

    enum ebm_mcmc_kind k;
    assert_int_equal(ebm_mcmc_kind_parse("mala", &k), EBM_OK);
    assert_int_equal(k, EBM_MCMC_MALA);
    assert_int_equal(ebm_mcmc_kind_parse("ula", &k), EBM_OK);
    assert_int_equal(k, EBM_MCMC_LANGEVIN);
    assert_string_equal(ebm_mcmc_kind_name(k), "langevin");
    assert_int_equal(ebm_mcmc_kind_parse("mh", &k), EBM_OK);
    assert_int_equal(ebm_mcmc_kind_parse("hmc", &k), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "mh, langevin, mala"));
    ebm_error_clear();
    rbm_free(&m);
}

/* The energy traces of MALA chains, through the diagnostics: well-mixed
 * chains from dispersed starts give split-R-hat below 1.01 and an ESS per
 * chain of a fair share of the draws. */
static void test_mcmc_energy_traces_pass_diagnostics(void **state)
{
    (void)state;
    enum { C = 16, N = 4000 };
    struct rbm g;
    grbm(&g);
    struct ebm_target t;
    assert_int_equal(ebm_target_rbm(&g, &t), EBM_OK);
    struct ebm_mcmc_opts o = { .kind = EBM_MCMC_MALA, .step = 0.3 };
    struct ebm_mcmc s;
    assert_int_equal(ebm_mcmc_init(&s, &t, &o, C, 0, 160), EBM_OK);
    float x[C * GV];
    ebm_mcmc_random_init(&s, x);
    for (int i = 0; i < C * GV; i++) x[i] *= 3.0f; /* overdispersed starts */
    ebm_mcmc_run(&s, x, 500, NULL);
    double *trace = malloc(sizeof *trace * C * N);
    ebm_mcmc_run_trace(&s, x, N, 1, trace, N, NULL);
    struct ebm_trace_diag d;
    assert_int_equal(ebm_diagnose(trace, C, N, &d, NULL), EBM_OK);
    print_message("MALA energy traces: mean %.3f sd %.3f, ESS %.0f of %d, per chain min %.0f, "
                  "split-R-hat %.4f\n", d.mean, d.sd, d.ess, C * N, d.ess_chain_min, d.rhat);
    assert_true(d.rhat < 1.01);
    assert_true(d.ess > 0.05 * C * N);
    free(trace);
    ebm_mcmc_free(&s);
    rbm_free(&g);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mcmc_chi2_critical_values_match_tables),
    cmocka_unit_test(test_mcmc_rbm_target_flip_delta_is_exact),
    cmocka_unit_test(test_mcmc_mh_random_scan_matches_exact_distribution),
    cmocka_unit_test(test_mcmc_mh_systematic_scan_matches_exact_distribution),
    cmocka_unit_test(test_mcmc_mh_energy_only_target_matches_exact_distribution),
    cmocka_unit_test(test_mcmc_mh_spin_target_matches_exact_distribution),
    cmocka_unit_test(test_mcmc_mh_counts_are_state_changes),
    cmocka_unit_test(test_mcmc_grbm_target_matches_mixture_density),
    cmocka_unit_test(test_mcmc_langevin_and_mala_match_grbm_moments),
    cmocka_unit_test(test_mcmc_mh_random_walk_matches_grbm_moments),
    cmocka_unit_test(test_mcmc_split_chains_match_one_block),
    cmocka_unit_test(test_mcmc_streams_continue_across_calls),
    cmocka_unit_test(test_mcmc_trace_records_energies),
    cmocka_unit_test(test_mcmc_empty_block_is_a_no_op),
    cmocka_unit_test(test_mcmc_rejects_what_does_not_apply),
    cmocka_unit_test(test_mcmc_energy_traces_pass_diagnostics),
};

EBM_TEST_MAIN(tests)
