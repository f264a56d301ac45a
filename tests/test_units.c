/* Unit types (include/ebm/units.h) against enumeration over every state,
 * quadrature over Gaussian units, sampling statistics and finite
 * differences. Every reference here is computed from the header's formulas
 * in double, independently of units.c. */
#include "testutil.h"

#include "ebm/kernels.h"
#include "ebm/units.h"

/* One float's relative rounding error. */
#define ULP24 (1.0 / 16777216.0)

static struct ebm_units layer(enum ebm_unit_type type, int n, int group, float *log_sigma)
{
    struct ebm_units l;
    assert_int_equal(ebm_units_init(&l, type, n, type == EBM_UNIT_SOFTMAX ? group : 1,
                                     type == EBM_UNIT_GAUSSIAN ? log_sigma : NULL,
                                     EBM_UNITS_LOG_SIGMA_MIN_DEFAULT),
                     EBM_OK);
    return l;
}

static void fill_normal(float *x, size_t n, float scale, float shift, uint64_t seed)
{
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, x, n);
    for (size_t i = 0; i < n; i++) x[i] = shift + scale * x[i];
}

/* ---- enumeration helpers --------------------------------------------------- */

static unsigned n_states(const struct ebm_units *l)
{
    if (l->type == EBM_UNIT_SOFTMAX) {
        unsigned s = 1;
        for (int g = 0; g < l->n / l->group; g++) s *= (unsigned)l->group;
        return s;
    }
    return 1u << l->n;
}

/* State `code` of a discrete layer: bits as {0,1} or {-1,+1}; for softmax,
 * base-K digits, one per group, as one-hot vectors. */
static void state(const struct ebm_units *l, unsigned code, float *x)
{
    if (l->type == EBM_UNIT_SOFTMAX) {
        for (int g = 0; g < l->n; g += l->group) {
            for (int k = 0; k < l->group; k++) x[g + k] = 0.0f;
            x[g + (int)(code % (unsigned)l->group)] = 1.0f;
            code /= (unsigned)l->group;
        }
        return;
    }
    for (int i = 0; i < l->n; i++) {
        int bit = (int)((code >> i) & 1u);
        x[i] = l->type == EBM_UNIT_SPIN ? (bit ? 1.0f : -1.0f) : (float)bit;
    }
}

/* Streaming log-sum-exp. */
struct lse { double mx, acc; };
static void lse_init(struct lse *s) { s->mx = -INFINITY; s->acc = 0.0; }
static void lse_add(struct lse *s, double t)
{
    if (t > s->mx) {
        s->acc = s->acc * exp(s->mx - t) + 1.0;
        s->mx = t;
    } else {
        s->acc += exp(t - s->mx);
    }
}
static double lse_value(const struct lse *s) { return s->mx + log(s->acc); }

/* The header's unit energy and coupling, from scratch. */
static double unit_energy_d(const struct ebm_units *l, const float *x, const float *b)
{
    double e = 0.0;
    for (int i = 0; i < l->n; i++) {
        if (l->type == EBM_UNIT_GAUSSIAN) {
            double sigma = exp((double)l->log_sigma[i]), d = (double)x[i] - b[i];
            e += d * d / (2.0 * sigma * sigma);
        } else {
            e -= (double)b[i] * x[i];
        }
    }
    return e;
}

static double coupling_d(const struct ebm_units *l, const float *x, int i)
{
    if (l->type != EBM_UNIT_GAUSSIAN) return x[i];
    double sigma = exp((double)l->log_sigma[i]);
    return x[i] / (sigma * sigma);
}

/* A tiny two-layer model: E(v, h) = E_v(v) + E_h(h) - s(v)' W s(h). */
enum { MAXV = 8, MAXH = 8 };
struct tiny {
    struct ebm_units vis, hid;
    int V, H;
    float W[MAXV * MAXH], b[MAXV], c[MAXH], ls[MAXV];
};

static void tiny_init(struct tiny *m, enum ebm_unit_type vt, int V, int vk,
                      enum ebm_unit_type ht, int H, int hk, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->V = V;
    m->H = H;
    fill_normal(m->W, (size_t)V * H, 0.8f, 0.0f, seed);
    fill_normal(m->b, (size_t)V, 0.7f, 0.0f, seed + 1);
    fill_normal(m->c, (size_t)H, 0.7f, 0.0f, seed + 2);
    fill_normal(m->ls, (size_t)V, 0.25f, -0.1f, seed + 3); /* sigma in ~[0.6, 1.4] */
    m->vis = layer(vt, V, vk, m->ls);
    m->hid = layer(ht, H, hk, NULL);
}

static double tiny_energy(const struct tiny *m, const float *v, const float *h)
{
    double e = unit_energy_d(&m->vis, v, m->b) + unit_energy_d(&m->hid, h, m->c);
    for (int i = 0; i < m->V; i++)
        for (int j = 0; j < m->H; j++)
            e -= coupling_d(&m->vis, v, i) * m->W[i * m->H + j] * h[j];
    return e;
}

/* -F(v) = log sum_h exp(-E(v, h)) by enumerating h. */
static double tiny_neg_free_energy(const struct tiny *m, const float *v)
{
    float h[MAXH];
    struct lse s;
    lse_init(&s);
    for (unsigned ch = 0; ch < n_states(&m->hid); ch++) {
        state(&m->hid, ch, h);
        lse_add(&s, -tiny_energy(m, v, h));
    }
    return lse_value(&s);
}

/* F(v) for B rows the way a model will assemble it from the module:
 * s(v) (coupling), y_in = s(v) W (one GEMM), then E_v - log_partition_h.
 * tol (B) gets a bound on the float rounding this carries: y_in_j is rounded
 * once by the GEMM (2^-24 |y_in_j|) and inherits the coupling's two
 * roundings (exp and product) of each term, so
 * |error of y_in_j| <= 4 * 2^-24 * sum_i |s_i W_ij|, and dF/dy_in_j is a
 * hidden mean, at most 1 in magnitude. Double rounding adds ~1e-12 |F|. */
static void tiny_module_free_energy(const struct tiny *m, const float *v, int B, float *scratch,
                                    float *yin, double *F, double *tol)
{
    const float *s = ebm_units_coupling(&m->vis, v, B, scratch);
    ebm_gemm_ref(false, false, B, m->H, m->V, 1.0f, s, m->V, m->W, m->H, 0.0f, yin, m->H);
    ebm_units_free_energy(&m->vis, v, m->b, &m->hid, yin, m->c, B, F);
    for (int r = 0; r < B; r++) {
        double bound = 0.0;
        for (int i = 0; i < m->V; i++)
            for (int j = 0; j < m->H; j++)
                bound += fabs(coupling_d(&m->vis, v + (size_t)r * m->V, i) * m->W[i * m->H + j]);
        tol[r] = 4.0 * ULP24 * bound + 1e-12 * (1.0 + fabs(F[r]));
    }
}

/* ---- names and validation --------------------------------------------------- */

static void test_units_type_names_round_trip(void **state_)
{
    (void)state_;
    const char *names[] = { "bernoulli", "spin", "gaussian", "softmax" };
    for (int t = 0; t < EBM_UNIT_TYPE_COUNT; t++) {
        enum ebm_unit_type parsed = EBM_UNIT_GAUSSIAN;
        assert_string_equal(ebm_unit_type_name((enum ebm_unit_type)t), names[t]);
        assert_int_equal(ebm_unit_type_parse(names[t], &parsed), EBM_OK);
        assert_int_equal(parsed, t);
        assert_int_equal(ebm_unit_type_is_discrete((enum ebm_unit_type)t),
                         t != EBM_UNIT_GAUSSIAN);
    }
    enum ebm_unit_type out = EBM_UNIT_SPIN;
    const char *bad[] = { "Bernoulli", "", "gauss", "softmax ", NULL };
    for (int k = 0; k < 5; k++) {
        assert_int_equal(ebm_unit_type_parse(bad[k], &out), EBM_ERR_INPUT);
        assert_int_equal(out, EBM_UNIT_SPIN); /* untouched on error */
        assert_non_null(strstr(ebm_error_message(), "unknown unit type"));
        ebm_error_clear();
    }
    assert_null(ebm_unit_type_name((enum ebm_unit_type)EBM_UNIT_TYPE_COUNT));
}

static void test_units_init_rejects_bad_layers(void **state_)
{
    (void)state_;
    float ls[6] = { 0 };
    struct ebm_units l;
    const float lo = EBM_UNITS_LOG_SIGMA_MIN_DEFAULT;
    struct { enum ebm_unit_type t; int n, group; float *ls; float lo; const char *why; } bad[] = {
        { EBM_UNIT_SOFTMAX, 5, 2, NULL, lo, "divide" },
        { EBM_UNIT_SOFTMAX, 4, 0, NULL, lo, "divide" },
        { EBM_UNIT_BERNOULLI, 4, 2, NULL, lo, "group size 1" },
        { EBM_UNIT_SPIN, 0, 1, NULL, lo, "positive unit count" },
        { EBM_UNIT_GAUSSIAN, 3, 1, NULL, lo, "log sigma array" },
        { EBM_UNIT_GAUSSIAN, 3, 1, ls, NAN, "finite" },
        { EBM_UNIT_SPIN, 3, 1, ls, lo, "no sigma" },
        { (enum ebm_unit_type)7, 3, 1, NULL, lo, "invalid unit type" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        assert_int_equal(ebm_units_init(&l, bad[k].t, bad[k].n, bad[k].group, bad[k].ls, bad[k].lo),
                         EBM_ERR_INPUT);
        if (!strstr(ebm_error_message(), bad[k].why)) {
            print_error("case %zu: message '%s' lacks '%s'\n", k, ebm_error_message(), bad[k].why);
            fail();
        }
        ebm_error_clear();
    }
    assert_int_equal(ebm_units_init(&l, EBM_UNIT_SOFTMAX, 6, 3, NULL, lo), EBM_OK);
    assert_int_equal(l.n, 6);
    assert_int_equal(l.group, 3);
    assert_int_equal(ebm_units_init(&l, EBM_UNIT_GAUSSIAN, 6, 1, ls, -1.0f), EBM_OK);
    assert_ptr_equal(l.log_sigma, ls);
    assert_true(l.log_sigma_min == -1.0f);
}

/* ---- exact references -------------------------------------------------------- */

/* Activations from small to |a| = 500, where exp overflows float (and
 * e^{2a} would overflow double for the spin's cosh done naively). */
static const float activations[] = { 0.0f, 0.5f, -0.5f, 3.0f, -3.0f, 50.0f, -50.0f, 500.0f,
                                     -500.0f, 17.25f, -0.03125f };
enum { NACT = sizeof activations / sizeof *activations };

/* Rows of `in` cycling through the activations with a stride, so that each
 * row mixes large and small, and a small non-zero bias. */
static void activation_rows(int B, int n, float *in, float *bias)
{
    for (int r = 0; r < B; r++)
        for (int i = 0; i < n; i++) in[r * n + i] = activations[(r * 7 + i * 3) % NACT];
    for (int i = 0; i < n; i++) bias[i] = 0.25f * (float)(i % 3) - 0.25f;
}

/* The discrete layers every enumeration test runs over. */
static const struct { enum ebm_unit_type t; int n, group; } discrete_layers[] = {
    { EBM_UNIT_BERNOULLI, 4, 1 },
    { EBM_UNIT_SPIN, 4, 1 },
    { EBM_UNIT_SOFTMAX, 4, 2 },
    { EBM_UNIT_SOFTMAX, 6, 3 },
    { EBM_UNIT_SOFTMAX, 3, 3 },
};

static void test_units_log_partition_matches_enumeration(void **state_)
{
    (void)state_;
    enum { B = 33, NMAX = 6 };
    float in[B * NMAX], bias[NMAX], x[NMAX];
    double out[B];
    for (size_t c = 0; c < sizeof discrete_layers / sizeof *discrete_layers; c++) {
        struct ebm_units l = layer(discrete_layers[c].t, discrete_layers[c].n,
                                   discrete_layers[c].group, NULL);
        activation_rows(B, l.n, in, bias);
        ebm_units_log_partition(&l, in, bias, B, out);
        for (int r = 0; r < B; r++) {
            /* log sum over all states of the row of exp(x . a), a = in + b:
             * the whole row at once, so the factorisation over units/groups
             * is checked too. */
            struct lse s;
            lse_init(&s);
            for (unsigned code = 0; code < n_states(&l); code++) {
                state(&l, code, x);
                double t = 0.0;
                for (int i = 0; i < l.n; i++) t += x[i] * ((double)in[r * l.n + i] + bias[i]);
                lse_add(&s, t);
            }
            double want = lse_value(&s);
            if (!isfinite(out[r])) {
                print_error("%s row %d: log-partition %g\n", ebm_unit_type_name(l.type), r, out[r]);
                fail();
            }
            /* Both sides are double sums of at most 6 terms of size <= 500.5
             * that are exact (float inputs) plus one log of a sum in [1, 16]:
             * a few ulps of |want| <= 3000. */
            assert_close_d(out[r], want, 1e-12 * (1.0 + fabs(want)), ebm_unit_type_name(l.type));
        }
    }
}

/* The Gaussian log-partition, log int exp(-(x - b)^2 / (2 sigma^2) + x in / sigma^2) dx,
 * against a Riemann sum on a grid of step sigma/8 over mean +- 14 sigma. For
 * a Gaussian the sum's relative error is below 2 exp(-2 pi^2 (sigma/step)^2)
 * = 2 e^{-1263} (Poisson summation) plus the truncated tails,
 * erfc(14 / sqrt 2) ~ 1e-44: nothing next to the double rounding of the
 * 225 terms per unit (~1e-13 relative). */
static void test_units_gaussian_log_partition_matches_quadrature(void **state_)
{
    (void)state_;
    enum { N = 3, B = 4 };
    float ls[N] = { -0.7f, 0.0f, 0.45f }, bias[N] = { 0.3f, -40.0f, 2.5f };
    float in[B * N] = { 0.0f, 0.0f, 0.0f, 0.7f, -2.0f, 5.0f, -3.5f, 40.0f, -0.25f,
                        12.0f, 1.0f, -6.0f };
    struct ebm_units l = layer(EBM_UNIT_GAUSSIAN, N, 1, ls);
    double out[B];
    ebm_units_log_partition(&l, in, bias, B, out);
    for (int r = 0; r < B; r++) {
        double want = 0.0;
        for (int i = 0; i < N; i++) {
            double sigma = exp((double)ls[i]), b = bias[i], t = in[r * N + i];
            double mean = b + t, step = sigma / 8.0;
            struct lse s;
            lse_init(&s);
            for (int k = -14 * 8; k <= 14 * 8; k++) {
                double x = mean + k * step;
                lse_add(&s, -(x - b) * (x - b) / (2 * sigma * sigma) + x * t / (sigma * sigma));
            }
            want += lse_value(&s) + log(step);
        }
        assert_true(isfinite(out[r]));
        assert_close_d(out[r], want, 1e-12 * (1.0 + fabs(want)), "gaussian log-partition");
    }
}

static void test_units_mean_matches_enumeration(void **state_)
{
    (void)state_;
    enum { B = 33, NMAX = 6 };
    float in[B * NMAX], fast[B * NMAX], ref[B * NMAX], bias[NMAX], x[NMAX];
    for (size_t c = 0; c < sizeof discrete_layers / sizeof *discrete_layers; c++) {
        struct ebm_units l = layer(discrete_layers[c].t, discrete_layers[c].n,
                                   discrete_layers[c].group, NULL);
        size_t n = (size_t)B * l.n;
        activation_rows(B, l.n, in, bias);
        memcpy(fast, in, n * sizeof *in);
        memcpy(ref, in, n * sizeof *in);
        ebm_units_mean(&l, fast, bias, B);
        ebm_units_mean_ref(&l, ref, bias, B);
        for (int r = 0; r < B; r++) {
            /* E[x | a] = sum_x x exp(x . a) / sum_x exp(x . a), shifted by
             * the largest exponent. */
            double mx = -INFINITY, z = 0.0, ex[NMAX] = { 0 };
            for (unsigned code = 0; code < n_states(&l); code++) {
                state(&l, code, x);
                double t = 0.0;
                for (int i = 0; i < l.n; i++) t += x[i] * ((double)in[r * l.n + i] + bias[i]);
                mx = fmax(mx, t);
            }
            for (unsigned code = 0; code < n_states(&l); code++) {
                state(&l, code, x);
                double t = 0.0;
                for (int i = 0; i < l.n; i++) t += x[i] * ((double)in[r * l.n + i] + bias[i]);
                double w = exp(t - mx);
                z += w;
                for (int i = 0; i < l.n; i++) ex[i] += x[i] * w;
            }
            float want[NMAX];
            for (int i = 0; i < l.n; i++) want[i] = (float)(ex[i] / z);
            /* ref: one float rounding (6e-8). fast: the kernels' polynomial
             * sigmoid is within 2.5e-7 (test_kernels), doubled by the spin's
             * 2p - 1: 1e-6 covers both. */
            assert_close_f(ref + r * l.n, want, (size_t)l.n, 1e-7, "mean_ref vs enumeration");
            assert_close_f(fast + r * l.n, want, (size_t)l.n, 1e-6, "mean vs enumeration");
        }
    }
    /* Gaussian: the mean is the activation, in + b, exactly. */
    float ls[3] = { -1.0f, 0.0f, 1.0f }, gb[3] = { 0.5f, -2.0f, 100.0f };
    float g[6] = { 1.0f, 2.0f, 3.0f, -500.0f, 0.0f, 0.125f }, want[6];
    struct ebm_units l = layer(EBM_UNIT_GAUSSIAN, 3, 1, ls);
    for (int e = 0; e < 6; e++) want[e] = g[e] + gb[e % 3];
    ebm_units_mean(&l, g, gb, 2);
    assert_close_f(g, want, 6, 0.0, "gaussian mean");
}

/* ---- free energies ----------------------------------------------------------- */

static const struct { enum ebm_unit_type t; int group; } hidden_types[] = {
    { EBM_UNIT_BERNOULLI, 1 }, { EBM_UNIT_SPIN, 1 }, { EBM_UNIT_SOFTMAX, 2 },
};

/* F(v) assembled from the module equals -log sum_h exp(-E(v, h)) by
 * enumeration, for every discrete visible state (3 visible units: bernoulli,
 * spin; 4 as two softmax pairs) and for Gaussian visible units at a grid of
 * points; hidden: 4 bernoulli, spin or two softmax pairs. */
static void test_units_free_energy_matches_enumeration(void **state_)
{
    (void)state_;
    static const struct { enum ebm_unit_type t; int n, group; } visible_types[] = {
        { EBM_UNIT_BERNOULLI, 3, 1 }, { EBM_UNIT_SPIN, 3, 1 }, { EBM_UNIT_SOFTMAX, 4, 2 },
        { EBM_UNIT_GAUSSIAN, 3, 1 },
    };
    enum { H = 4, NROWS = 125 };
    float v[NROWS * MAXV], scratch[NROWS * MAXV], yin[NROWS * H];
    double F[NROWS], tol[NROWS];
    for (size_t a = 0; a < sizeof visible_types / sizeof *visible_types; a++)
        for (size_t c = 0; c < sizeof hidden_types / sizeof *hidden_types; c++) {
            struct tiny m;
            tiny_init(&m, visible_types[a].t, visible_types[a].n, visible_types[a].group,
                      hidden_types[c].t, H, hidden_types[c].group, 100 + 10 * a + c);
            int B;
            if (m.vis.type == EBM_UNIT_GAUSSIAN) {
                B = NROWS; /* 5^3 points in [-3, 3]^3 */
                for (int r = 0; r < B; r++)
                    for (int i = 0, q = r; i < m.V; i++, q /= 5)
                        v[r * m.V + i] = -3.0f + 1.5f * (float)(q % 5);
            } else {
                B = (int)n_states(&m.vis);
                for (int r = 0; r < B; r++) state(&m.vis, (unsigned)r, v + r * m.V);
            }
            tiny_module_free_energy(&m, v, B, scratch, yin, F, tol);
            for (int r = 0; r < B; r++) {
                char what[64];
                snprintf(what, sizeof what, "F(v) %s-%s row %d", ebm_unit_type_name(m.vis.type),
                         ebm_unit_type_name(m.hid.type), r);
                assert_close_d(F[r], -tiny_neg_free_energy(&m, v + r * m.V), tol[r], what);
            }
        }
}

/* log Z of a Gaussian-visible model two ways (V = 1 and 2; H = 4 bernoulli,
 * spin or softmax pairs):
 *  - closed form over v, enumeration over h: log Z = log sum_h exp(-E_h(h)
 *    + log_partition_v(W s(h))), the Gaussian integral done analytically;
 *  - numerically over v: log of a Riemann sum of exp(-F(v)) on a grid.
 * exp(-F(v)) = sum_h exp(-E(v, h)) is a mixture of Gaussians in v with means
 * b + Wh and per-axis sd sigma_i. The grid has a power-of-two step
 * <= sigma_i / 4 (so its points are exact floats) and spans every mean
 * +- 12 sigma_i: Poisson summation bounds the sum's relative error by
 * 2 exp(-2 pi^2 16) ~ e^{-315} per axis, the tails by erfc(12 / sqrt 2)
 * ~ 4e-33. What remains is float rounding of the inputs to F, bounded per
 * point by tiny_module_free_energy (log Z moves by at most the
 * e^{-F}-weighted mean of those bounds), of the closed form's W s(h) (its
 * derivative is the conditional mean over sigma^2), and ~1e-12 from summing
 * ~4e4 doubles. */
static void test_units_gaussian_log_z_two_ways(void **state_)
{
    (void)state_;
    enum { H = 4, MAXPTS = 60000 };
    float *v = malloc(sizeof(float) * MAXPTS * 2), *scratch = malloc(sizeof(float) * MAXPTS * 2),
          *yin = malloc(sizeof(float) * MAXPTS * H);
    double *F = malloc(sizeof(double) * MAXPTS), *tol = malloc(sizeof(double) * MAXPTS);
    assert_non_null(v); assert_non_null(scratch); assert_non_null(yin);
    assert_non_null(F); assert_non_null(tol);
    for (int V = 1; V <= 2; V++)
        for (size_t c = 0; c < sizeof hidden_types / sizeof *hidden_types; c++) {
            struct tiny m;
            tiny_init(&m, EBM_UNIT_GAUSSIAN, V, 1, hidden_types[c].t, H, hidden_types[c].group,
                      300 + 10 * V + c);
            /* Closed form. */
            float h[MAXH], vin[MAXV];
            double lp, eh, closed_tol = 0.0;
            struct lse closed;
            lse_init(&closed);
            double lo[2] = { INFINITY, INFINITY }, hi[2] = { -INFINITY, -INFINITY };
            for (unsigned ch = 0; ch < n_states(&m.hid); ch++) {
                state(&m.hid, ch, h);
                ebm_gemm_ref(false, true, 1, V, H, 1.0f, h, H, m.W, H, 0.0f, vin, V);
                ebm_units_log_partition(&m.vis, vin, m.b, 1, &lp);
                ebm_units_energy(&m.hid, h, m.c, 1, &eh);
                lse_add(&closed, lp - eh);
                double row_tol = 0.0;
                for (int i = 0; i < V; i++) {
                    double mean = (double)m.b[i] + vin[i], sigma = exp((double)m.ls[i]);
                    double wsum = 0.0;
                    for (int j = 0; j < H; j++) wsum += fabs((double)m.W[i * H + j] * h[j]);
                    row_tol += ULP24 * wsum * fabs(mean) / (sigma * sigma);
                    lo[i] = fmin(lo[i], mean - 12.0 * sigma);
                    hi[i] = fmax(hi[i], mean + 12.0 * sigma);
                }
                closed_tol = fmax(closed_tol, row_tol);
            }
            double logz_closed = lse_value(&closed);
            /* Grid. */
            double step[2] = { 1.0, 1.0 };
            long k0[2] = { 0, 0 }, count[2] = { 1, 1 };
            for (int i = 0; i < V; i++) {
                step[i] = exp2(floor(log2(exp((double)m.ls[i]) / 4.0)));
                k0[i] = (long)floor(lo[i] / step[i]);
                count[i] = (long)ceil(hi[i] / step[i]) - k0[i] + 1;
            }
            long npts = count[0] * count[1];
            assert_true(npts <= MAXPTS);
            for (long p = 0; p < npts; p++) {
                v[p * V] = (float)((double)(k0[0] + p % count[0]) * step[0]);
                if (V == 2) v[p * V + 1] = (float)((double)(k0[1] + p / count[0]) * step[1]);
            }
            tiny_module_free_energy(&m, v, (int)npts, scratch, yin, F, tol);
            struct lse grid;
            lse_init(&grid);
            double wtol = 0.0, wsum = 0.0, fmin_ = INFINITY;
            for (long p = 0; p < npts; p++) fmin_ = fmin(fmin_, F[p]);
            for (long p = 0; p < npts; p++) {
                lse_add(&grid, -F[p]);
                double w = exp(fmin_ - F[p]);
                wtol += w * tol[p];
                wsum += w;
            }
            double logz_grid = lse_value(&grid) + log(step[0]) + (V == 2 ? log(step[1]) : 0.0);
            char what[64];
            snprintf(what, sizeof what, "log Z gaussian(%d)-%s", V, ebm_unit_type_name(m.hid.type));
            assert_close_d(logz_grid, logz_closed, wtol / wsum + closed_tol + 1e-11, what);
        }
    free(v);
    free(scratch);
    free(yin);
    free(F);
    free(tol);
}

/* ---- sampling ------------------------------------------------------------------ */

/* N rows with the same input per unit; every tolerance is 5 standard errors
 * of the statistic over N independent draws (a false failure has
 * probability ~6e-7 per check):
 *   frequency of a {0,1} or one-hot entry  sqrt(p (1 - p) / N)
 *   mean of a spin                         sqrt((1 - m^2) / N)
 *   mean of a Gaussian                     sigma / sqrt N
 *   mean square deviation from the known mean  sigma^2 sqrt(2 / N). */
static void test_units_samples_match_mean(void **state_)
{
    (void)state_;
    enum { N = 200000, NMAX = 6 };
    float *a = malloc(sizeof(float) * N * NMAX), *x = malloc(sizeof(float) * N * NMAX);
    assert_non_null(a);
    assert_non_null(x);
    float ls[NMAX] = { -1.0f, 0.0f, 0.7f };
    static const struct { enum ebm_unit_type t; int n, group; } cases[] = {
        { EBM_UNIT_BERNOULLI, 4, 1 }, { EBM_UNIT_SPIN, 4, 1 }, { EBM_UNIT_SOFTMAX, 6, 3 },
        { EBM_UNIT_GAUSSIAN, 3, 1 },
    };
    const float in1[NMAX] = { -2.0f, -0.3f, 0.0f, 1.5f, 0.9f, -1.1f };
    const float bias[NMAX] = { 0.1f, -0.2f, 0.3f, 0.0f, 0.4f, 0.2f };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        struct ebm_units l = layer(cases[c].t, cases[c].n, cases[c].group, ls);
        int n = l.n;
        float mean[NMAX];
        memcpy(mean, in1, sizeof mean);
        ebm_units_mean_ref(&l, mean, bias, 1);
        for (int r = 0; r < N; r++) memcpy(a + (size_t)r * n, in1, sizeof(float) * n);
        struct ebm_rng rng;
        ebm_rng_init(&rng, 41 + c, 0, EBM_RNG_TEST);
        ebm_units_sample(&l, a, bias, N, x, &rng);
        assert_close_f(a, mean, (size_t)n, 1e-6, "mean written by sample");
        for (int i = 0; i < n; i++) {
            double s1 = 0.0, s2 = 0.0, m = mean[i];
            for (int r = 0; r < N; r++) {
                double xi = x[(size_t)r * n + i];
                s1 += xi;
                s2 += (xi - m) * (xi - m);
            }
            char what[64];
            snprintf(what, sizeof what, "%s unit %d", ebm_unit_type_name(l.type), i);
            if (l.type == EBM_UNIT_GAUSSIAN) {
                double sigma = exp((double)ls[i]);
                assert_close_d(s1 / N, m, 5.0 * sigma / sqrt(N), what);
                assert_close_d(s2 / N, sigma * sigma, 5.0 * sigma * sigma * sqrt(2.0 / N), what);
            } else if (l.type == EBM_UNIT_SPIN) {
                assert_close_d(s1 / N, m, 5.0 * sqrt((1.0 - m * m) / N), what);
            } else {
                assert_close_d(s1 / N, m, 5.0 * sqrt(m * (1.0 - m) / N), what);
            }
        }
        /* Values: exactly the type's states; softmax groups exactly one-hot. */
        for (int r = 0; r < N; r++)
            for (int g = 0; g < n; g += l.group) {
                float sum = 0.0f;
                for (int k = 0; k < l.group; k++) {
                    float xi = x[(size_t)r * n + g + k];
                    int ok = l.type == EBM_UNIT_SPIN ? (xi == 1.0f || xi == -1.0f)
                           : l.type == EBM_UNIT_GAUSSIAN ? isfinite(xi)
                           : (xi == 0.0f || xi == 1.0f);
                    if (!ok) {
                        print_error("%s row %d unit %d: %g is not a state\n",
                                    ebm_unit_type_name(l.type), r, g + k, (double)xi);
                        fail();
                    }
                    sum += xi;
                }
                if (l.type == EBM_UNIT_SOFTMAX && sum != 1.0f) {
                    print_error("softmax row %d group %d: %g units on\n", r, g / l.group, (double)sum);
                    fail();
                }
            }
    }
    free(a);
    free(x);
}

/* Fast paths against the _ref twins, on a shape whose B * n (37 * 13) is
 * neither a multiple of the 64-element chunks nor of the 4 uniforms per
 * Philox block, and on the same streams. */
static void test_units_fast_matches_ref(void **state_)
{
    (void)state_;
    enum { B = 37, NMAX = 13 };
    static float in[B * NMAX], a1[B * NMAX], a2[B * NMAX], x1[B * NMAX], x2[B * NMAX],
        u[B * NMAX];
    float bias[NMAX], ls[NMAX];
    fill_normal(bias, NMAX, 1.0f, 0.0f, 51);
    fill_normal(ls, NMAX, 0.3f, 0.0f, 52);
    static const struct { enum ebm_unit_type t; int n, group; } cases[] = {
        { EBM_UNIT_BERNOULLI, 13, 1 }, { EBM_UNIT_SPIN, 13, 1 }, { EBM_UNIT_SOFTMAX, 12, 4 },
        { EBM_UNIT_GAUSSIAN, 13, 1 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        struct ebm_units l = layer(cases[c].t, cases[c].n, cases[c].group, ls);
        size_t n = (size_t)B * l.n;
        fill_normal(in, n, 4.0f, 0.0f, 53 + c);
        memcpy(a1, in, sizeof in);
        memcpy(a2, in, sizeof in);
        ebm_units_mean(&l, a1, bias, B);
        ebm_units_mean_ref(&l, a2, bias, B);
        /* as in the enumeration test: the polynomial sigmoid, doubled for spin */
        assert_close_f(a1, a2, n, 1e-6, "mean vs mean_ref");

        struct ebm_rng r1, r2, ru;
        ebm_rng_init(&r1, 54, 3, EBM_RNG_SAMPLE);
        ebm_rng_init(&r2, 54, 3, EBM_RNG_SAMPLE);
        ebm_rng_init(&ru, 54, 3, EBM_RNG_SAMPLE);
        memcpy(a1, in, sizeof in);
        memcpy(a2, in, sizeof in);
        ebm_units_sample(&l, a1, bias, B, x1, &r1);
        ebm_units_sample_ref(&l, a2, bias, B, x2, &r2);
        assert_close_f(a1, a2, n, 1e-6, "sample's mean vs ref");
        assert_int_equal(r1.block, r2.block);
        if (l.type == EBM_UNIT_BERNOULLI || l.type == EBM_UNIT_SPIN) {
            /* Same uniforms; a draw may differ only where u lies within the
             * two paths' probability difference (1e-6) of p. */
            ebm_rng_uniform(&ru, u, n);
            for (size_t e = 0; e < n; e++) {
                double p = l.type == EBM_UNIT_SPIN ? (1.0 + a2[e]) / 2.0 : a2[e];
                if (x1[e] != x2[e] && fabs(u[e] - p) > 1e-6) {
                    print_error("%s element %zu: %g vs %g with u %.9g, p %.9g\n",
                                ebm_unit_type_name(l.type), e, (double)x1[e], (double)x2[e],
                                (double)u[e], p);
                    fail();
                }
            }
        } else {
            /* One shared implementation: identical. */
            assert_memory_equal(x1, x2, n * sizeof *x1);
        }
    }
}

/* Where a stream stands after a sample is a function of the shapes alone
 * (a checkpoint stores it), and bernoulli is bit-identical to the kernel the
 * trainer uses today. */
static void test_units_sample_stream_positions(void **state_)
{
    (void)state_;
    enum { B = 5, NMAX = 7 };
    float a[B * NMAX], x[B * NMAX], p[B * NMAX], s[B * NMAX], bias[NMAX], ls[NMAX];
    fill_normal(bias, NMAX, 1.0f, 0.0f, 61);
    fill_normal(ls, NMAX, 0.3f, 0.0f, 62);
    static const struct { enum ebm_unit_type t; int n, group; uint64_t blocks; } cases[] = {
        { EBM_UNIT_BERNOULLI, 7, 1, (5 * 7 + 3) / 4 }, /* one uniform per unit */
        { EBM_UNIT_SPIN, 7, 1, (5 * 7 + 3) / 4 },
        { EBM_UNIT_SOFTMAX, 6, 3, (5 * 2 + 3) / 4 },   /* one uniform per group */
        { EBM_UNIT_SOFTMAX, 6, 1, (5 * 6 + 3) / 4 },
        { EBM_UNIT_GAUSSIAN, 7, 1, (5 * 7 + 1) / 2 },  /* one normal per unit */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        struct ebm_units l = layer(cases[c].t, cases[c].n, cases[c].group, ls);
        struct ebm_rng r;
        ebm_rng_init(&r, 63, 0, EBM_RNG_TEST);
        r.block = 1000;
        fill_normal(a, (size_t)B * l.n, 2.0f, 0.0f, 64);
        ebm_units_sample(&l, a, bias, B, x, &r);
        assert_int_equal(r.block, 1000 + cases[c].blocks);
    }
    struct ebm_units l = layer(EBM_UNIT_BERNOULLI, NMAX, 1, NULL);
    struct ebm_rng r1, r2;
    ebm_rng_init(&r1, 65, 1, EBM_RNG_SAMPLE);
    ebm_rng_init(&r2, 65, 1, EBM_RNG_SAMPLE);
    fill_normal(a, (size_t)B * NMAX, 2.0f, 0.0f, 66);
    memcpy(p, a, sizeof a);
    ebm_units_sample(&l, a, bias, B, x, &r1);
    ebm_sigmoid_bias_sample(p, s, bias, B, NMAX, &r2);
    assert_memory_equal(a, p, sizeof a);
    assert_memory_equal(x, s, sizeof x);
}

/* ---- Gaussian parameters ------------------------------------------------------ */

static void test_units_coupling_scales_gaussian_only(void **state_)
{
    (void)state_;
    enum { B = 3, N = 70 }; /* N crosses the 64-column block */
    static float x[B * N], scratch[B * N], ls[N];
    fill_normal(x, (size_t)B * N, 2.0f, 0.0f, 71);
    fill_normal(ls, N, 0.5f, 0.0f, 72);
    struct ebm_units g = layer(EBM_UNIT_GAUSSIAN, N, 1, ls);
    const float *s = ebm_units_coupling(&g, x, B, scratch);
    assert_ptr_equal(s, scratch);
    float want[B * N];
    for (int r = 0; r < B; r++)
        for (int i = 0; i < N; i++) want[r * N + i] = (float)coupling_d(&g, x + r * N, i);
    /* two float roundings (1 / sigma^2, the product) of values below ~60 */
    float worst = 0.0f;
    for (int e = 0; e < B * N; e++) worst = fmaxf(worst, fabsf(want[e]));
    assert_close_f(s, want, (size_t)B * N, 2.5 * ULP24 * worst, "x / sigma^2");
    memset(scratch, 0, sizeof scratch);
    struct ebm_units b = layer(EBM_UNIT_SPIN, N, 1, NULL);
    assert_ptr_equal(ebm_units_coupling(&b, x, B, scratch), x);
    for (int e = 0; e < B * N; e++) assert_true(scratch[e] == 0.0f);
}

/* dE/dlog sigma_i from the module against central differences of E(v, h) in
 * double, on a few (v, h) pairs, for each hidden type. The log sigma really
 * stored (float) is what both E evaluations see; the step is their actual
 * difference. For a term A e^{-2s} the central difference errs by
 * step^2 / 6 |f'''| = (4/3) step^2 |A e^{-2s}|, so with step ~2^-9 the
 * bound is 6e-6 times the sum M of the magnitudes of the terms; float
 * accumulation of the module's answer adds 1e-6 relative. */
static void test_units_dlogsigma_matches_finite_difference(void **state_)
{
    (void)state_;
    enum { V = 3, H = 4, B = 5 };
    for (size_t c = 0; c < sizeof hidden_types / sizeof *hidden_types; c++) {
        struct tiny m;
        tiny_init(&m, EBM_UNIT_GAUSSIAN, V, 1, hidden_types[c].t, H, hidden_types[c].group,
                  500 + c);
        float v[B * V], h[B * H], vin[B * V], G[V * H];
        fill_normal(v, B * V, 1.5f, 0.2f, 510 + c);
        for (int r = 0; r < B; r++) state(&m.hid, (unsigned)(r * 5 + 3) % n_states(&m.hid), h + r * H);
        ebm_gemm_ref(false, true, B, V, H, 1.0f, h, H, m.W, H, 0.0f, vin, V);
        float g[V] = { 0 }, g_quad[V] = { 0 };
        ebm_units_dlogsigma(&m.vis, v, m.b, vin, B, 1.0f, g);
        ebm_units_dlogsigma(&m.vis, v, m.b, NULL, B, 1.0f, g_quad);
        for (int i = 0; i < V; i++) {
            float saved = m.ls[i], plus = saved + 0x1p-10f, minus = saved - 0x1p-10f;
            double ep = 0.0, em = 0.0, mag = 0.0;
            for (int r = 0; r < B; r++) {
                m.ls[i] = plus;
                ep += tiny_energy(&m, v + r * V, h + r * H);
                m.ls[i] = minus;
                em += tiny_energy(&m, v + r * V, h + r * H);
                m.ls[i] = saved;
                double d = (double)v[r * V + i] - m.b[i], t = vin[r * V + i];
                mag += (d * d + fabs(2.0 * v[r * V + i] * t)) * exp(-2.0 * (double)saved);
            }
            double fd = (ep - em) / ((double)plus - (double)minus);
            assert_close_d(g[i], fd, 6e-6 * mag + 1e-6 * fabs(fd), "dE/dlog sigma");
        }
        /* in = NULL leaves 2 sum_j W_ij G_ij, G = s(v)' h the weight statistic. */
        float s[B * V];
        ebm_units_coupling(&m.vis, v, B, s);
        ebm_gemm_ref(true, false, V, H, B, 1.0f, s, V, h, H, 0.0f, G, H);
        for (int i = 0; i < V; i++) {
            double wg = 0.0;
            for (int j = 0; j < H; j++) wg += 2.0 * (double)m.W[i * H + j] * G[i * H + j];
            /* float: each side ~1e-7 relative of terms up to ~100 */
            assert_close_d(g_quad[i] + wg, g[i], 1e-5 * (1.0 + fabs(g[i]) + fabs(wg)),
                           "quadratic part + W . G");
        }
    }
}

/* dF/dlog sigma_i, the positive-phase statistic, is dlogsigma evaluated at
 * in = W E[s(h) | v]: checked against a central difference (half-step
 * d = 2^-8) of the module's own F(v) (coupling, GEMM, free energy).
 * F is built from float inputs, so its rounding bounds tol+ and tol-
 * (tiny_module_free_energy) enter the difference as (tol+ + tol-) / (2d).
 * Truncation is d^2 / 6 |F'''|. With s = log sigma_i, q = e^{-2s},
 * F(s) = (v_i - b_i)^2 q / 2 - L(c + q k) with k_j = v_i W_ij and L the
 * hidden log-partition, whose derivatives are bounded by 1 (mean),
 * 1 (variance) and 1 (third cumulant of a unit in [-1, 1]) per unit, so
 * |F'''| <= 4 (v_i - b_i)^2 q + 8 q K1 + 24 q^2 K2 + 8 q^3 K3 with
 * Km = sum_j |k_j|^m. */
static void test_units_dlogsigma_is_free_energy_gradient(void **state_)
{
    (void)state_;
    enum { V = 3, H = 4, B = 6 };
    for (size_t c = 0; c < sizeof hidden_types / sizeof *hidden_types; c++) {
        struct tiny m;
        tiny_init(&m, EBM_UNIT_GAUSSIAN, V, 1, hidden_types[c].t, H, hidden_types[c].group,
                  600 + c);
        float v[B * V], scratch[B * V], yin[B * H], hmean[B * H], vin[B * V];
        double Fp[B], Fm[B], tp[B], tm[B];
        fill_normal(v, B * V, 1.5f, 0.2f, 610 + c);
        const float *s = ebm_units_coupling(&m.vis, v, B, scratch);
        ebm_gemm_ref(false, false, B, H, V, 1.0f, s, V, m.W, H, 0.0f, hmean, H);
        ebm_units_mean_ref(&m.hid, hmean, m.c, B);
        ebm_gemm_ref(false, true, B, V, H, 1.0f, hmean, H, m.W, H, 0.0f, vin, V);
        float g[V] = { 0 };
        ebm_units_dlogsigma(&m.vis, v, m.b, vin, B, 1.0f, g);
        for (int i = 0; i < V; i++) {
            float saved = m.ls[i], plus = saved + 0x1p-8f, minus = saved - 0x1p-8f;
            m.ls[i] = plus;
            tiny_module_free_energy(&m, v, B, scratch, yin, Fp, tp);
            m.ls[i] = minus;
            tiny_module_free_energy(&m, v, B, scratch, yin, Fm, tm);
            m.ls[i] = saved;
            double fd = 0.0, round = 0.0, f3 = 0.0, step = (double)plus - (double)minus;
            double q = exp(-2.0 * (double)saved);
            for (int r = 0; r < B; r++) {
                fd += (Fp[r] - Fm[r]) / step;
                round += (tp[r] + tm[r]) / step;
                double d = (double)v[r * V + i] - m.b[i], k1 = 0.0, k2 = 0.0, k3 = 0.0;
                for (int j = 0; j < H; j++) {
                    double k = fabs((double)v[r * V + i] * m.W[i * H + j]);
                    k1 += k;
                    k2 += k * k;
                    k3 += k * k * k;
                }
                f3 += 4.0 * d * d * q + 8.0 * q * k1 + 24.0 * q * q * k2 + 8.0 * q * q * q * k3;
            }
            double half = step / 2.0, trunc = half * half / 6.0 * f3;
            assert_close_d(g[i], fd, round + trunc + 1e-6 * fabs(fd), "dF/dlog sigma");
        }
    }
}

static void test_units_log_sigma_clamps(void **state_)
{
    (void)state_;
    const float lo = EBM_UNITS_LOG_SIGMA_MIN_DEFAULT;
    float ls[6] = { -5.0f, lo, -2.3f, 0.5f, NAN, -INFINITY };
    struct ebm_units l = layer(EBM_UNIT_GAUSSIAN, 6, 1, ls);
    assert_int_equal(ebm_units_clamp_log_sigma(&l), 2);
    assert_true(ls[0] == lo);
    assert_true(ls[1] == lo);
    assert_true(ls[2] == -2.3f);
    assert_true(ls[3] == 0.5f);
    assert_true(isnan(ls[4])); /* left for the trainer's NaN check */
    assert_true(ls[5] == lo);
    /* The default bound is sigma = 0.1 (to float precision). */
    assert_close_d(exp((double)lo), 0.1, 1e-7, "exp(log_sigma_min)");
    assert_int_equal(ebm_units_clamp_log_sigma(&l), 0); /* idempotent */
    /* Another bound, and a type without sigma. */
    l.log_sigma_min = 0.0f;
    assert_int_equal(ebm_units_clamp_log_sigma(&l), 4);
    for (int i = 0; i < 6; i++)
        if (i != 4) assert_true(ls[i] >= 0.0f);
    assert_true(ls[3] == 0.5f);
    struct ebm_units s = layer(EBM_UNIT_SPIN, 6, 1, NULL);
    assert_int_equal(ebm_units_clamp_log_sigma(&s), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_units_type_names_round_trip),
    cmocka_unit_test(test_units_init_rejects_bad_layers),
    cmocka_unit_test(test_units_log_partition_matches_enumeration),
    cmocka_unit_test(test_units_gaussian_log_partition_matches_quadrature),
    cmocka_unit_test(test_units_mean_matches_enumeration),
    cmocka_unit_test(test_units_free_energy_matches_enumeration),
    cmocka_unit_test(test_units_gaussian_log_z_two_ways),
    cmocka_unit_test(test_units_samples_match_mean),
    cmocka_unit_test(test_units_fast_matches_ref),
    cmocka_unit_test(test_units_sample_stream_positions),
    cmocka_unit_test(test_units_coupling_scales_gaussian_only),
    cmocka_unit_test(test_units_dlogsigma_matches_finite_difference),
    cmocka_unit_test(test_units_dlogsigma_is_free_energy_gradient),
    cmocka_unit_test(test_units_log_sigma_clamps),
};

EBM_TEST_MAIN(tests)
