/* Where the time goes: a mean or sample pass touches each of the B*n units
 * once, against the B*n*(other layer) multiply-adds of the GEMM that made
 * `in`; it stays small only if the transcendental per unit is vectorised.
 * Bernoulli and spin (the usual hidden types) therefore go through the
 * polynomial sigmoid of kernels.c; softmax (label groups) and Gaussian
 * (visible units, whose normals cost a log and a cos per pair anyway) are
 * plain loops. The Gaussian coupling x / sigma^2, which is on every training
 * step, takes its exp per column block, not per element.
 * Formulas and their sources: include/ebm/units.h and docs/units.md. */
#include "ebm/units.h"

#include <math.h>
#include <string.h>

#include "ebm/kernels.h"

static const struct {
    const char *name;
    int discrete; /* a finite set of states: log-partition by summation */
} unit_info[EBM_UNIT_TYPE_COUNT] = {
    [EBM_UNIT_BERNOULLI] = { "bernoulli", 1 },
    [EBM_UNIT_SPIN] = { "spin", 1 },
    [EBM_UNIT_GAUSSIAN] = { "gaussian", 0 },
    [EBM_UNIT_SOFTMAX] = { "softmax", 1 },
};

static int type_valid(enum ebm_unit_type type)
{
    return (unsigned)type < EBM_UNIT_TYPE_COUNT;
}

const char *ebm_unit_type_name(enum ebm_unit_type type)
{
    return type_valid(type) ? unit_info[type].name : NULL;
}

ebm_status ebm_unit_type_parse(const char *name, enum ebm_unit_type *type)
{
    for (int t = 0; t < EBM_UNIT_TYPE_COUNT; t++)
        if (name && strcmp(name, unit_info[t].name) == 0) {
            *type = (enum ebm_unit_type)t;
            return EBM_OK;
        }
    return EBM_FAIL(EBM_ERR_INPUT,
                    "unknown unit type '%s' (expected bernoulli, spin, gaussian or softmax)",
                    name ? name : "(null)");
}

int ebm_unit_type_is_discrete(enum ebm_unit_type type)
{
    return type_valid(type) && unit_info[type].discrete;
}

ebm_status ebm_units_init(struct ebm_units *l, enum ebm_unit_type type, int n, int group,
                          float *log_sigma, float log_sigma_min)
{
    memset(l, 0, sizeof *l);
    if (!type_valid(type))
        return EBM_FAIL(EBM_ERR_INPUT, "invalid unit type %d", (int)type);
    const char *name = unit_info[type].name;
    if (n <= 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s layer needs a positive unit count, got %d", name, n);
    if (type == EBM_UNIT_SOFTMAX) {
        if (group < 1 || n % group != 0)
            return EBM_FAIL(EBM_ERR_INPUT,
                            "softmax group size %d must be positive and divide the %d units",
                            group, n);
    } else if (group != 1) {
        return EBM_FAIL(EBM_ERR_INPUT, "%s units have group size 1, got %d", name, group);
    }
    if (type == EBM_UNIT_GAUSSIAN) {
        if (!log_sigma)
            return EBM_FAIL(EBM_ERR_INPUT, "gaussian layer needs its log sigma array");
        if (!isfinite(log_sigma_min))
            return EBM_FAIL(EBM_ERR_INPUT, "gaussian log sigma bound must be finite");
    } else if (log_sigma) {
        return EBM_FAIL(EBM_ERR_INPUT, "%s units have no sigma", name);
    }
    l->type = type;
    l->n = n;
    l->group = group;
    l->log_sigma = log_sigma;
    l->log_sigma_min = log_sigma_min;
    return EBM_OK;
}

/* ---- randomness ------------------------------------------------------- */

/* A stream's next `total` uniforms (or normals) one at a time through a small
 * buffer. Refills are whole multiples of 4 values (2 for normals) except the
 * last, so both the values and the blocks consumed are exactly those of one
 * ebm_rng_uniform (ebm_rng_normal) call for `total` values. */
enum { DRAW_BUF = 64 };
struct draws {
    struct ebm_rng *rng;
    size_t left;
    int pos, len, normal;
    float buf[DRAW_BUF];
};

static void draws_init(struct draws *d, struct ebm_rng *rng, size_t total, int normal)
{
    d->rng = rng;
    d->left = total;
    d->pos = d->len = 0;
    d->normal = normal;
}

static inline float draws_next(struct draws *d)
{
    if (d->pos == d->len) {
        EBM_ASSERT(d->left > 0);
        d->len = d->left < DRAW_BUF ? (int)d->left : DRAW_BUF;
        if (d->normal)
            ebm_rng_normal(d->rng, d->buf, (size_t)d->len);
        else
            ebm_rng_uniform(d->rng, d->buf, (size_t)d->len);
        d->left -= (size_t)d->len;
        d->pos = 0;
    }
    return d->buf[d->pos++];
}

/* ---- conditional means ------------------------------------------------ */

/* Softmax over each group of K (the normalised exp of Bridle 1990), in
 * double with the group maximum subtracted so exp never overflows. */
static void softmax_mean(const struct ebm_units *l, float *a, const float *bias, int B)
{
    int n = l->n, K = l->group;
    for (int r = 0; r < B; r++)
        for (int g = 0; g < n; g += K) {
            float *ag = a + (size_t)r * n + g;
            const float *bg = bias + g;
            double mx = -INFINITY, sum = 0.0;
            for (int k = 0; k < K; k++) mx = fmax(mx, (double)ag[k] + bg[k]);
            for (int k = 0; k < K; k++) sum += exp((double)ag[k] + bg[k] - mx);
            for (int k = 0; k < K; k++) ag[k] = (float)(exp((double)ag[k] + bg[k] - mx) / sum);
        }
}

/* N(b + in, sigma^2) has mean a = in + b (Cho et al. 2011). */
static void gaussian_mean(const struct ebm_units *l, float *a, const float *bias, int B)
{
    int n = l->n;
    for (int r = 0; r < B; r++)
        for (int i = 0; i < n; i++) a[(size_t)r * n + i] += bias[i];
}

/* E[x] over {-1, +1} with p(+1) = e^a / (e^a + e^-a) = sigmoid(2a) is
 * tanh(a) = 2 sigmoid(2a) - 1, here through the vectorised sigmoid, one
 * stack chunk at a time (the kernel wants distinct input and output). */
static void spin_mean_fast(const struct ebm_units *l, float *a, const float *bias, int B)
{
    int n = l->n;
    float t[DRAW_BUF];
    for (int r = 0; r < B; r++)
        for (int j0 = 0; j0 < n; j0 += DRAW_BUF) {
            int m = n - j0 < DRAW_BUF ? n - j0 : DRAW_BUF;
            float *ar = a + (size_t)r * n + j0;
            for (int k = 0; k < m; k++) t[k] = ar[k] + bias[j0 + k];
            ebm_sigmoid_scaled(t, ar, (size_t)m, 2.0f);
            for (int k = 0; k < m; k++) ar[k] = 2.0f * ar[k] - 1.0f;
        }
}

void ebm_units_mean(const struct ebm_units *l, float *a, const float *bias, int B)
{
    switch (l->type) {
    case EBM_UNIT_BERNOULLI: ebm_sigmoid_bias(a, bias, B, l->n); return;
    case EBM_UNIT_SPIN: spin_mean_fast(l, a, bias, B); return;
    case EBM_UNIT_GAUSSIAN: gaussian_mean(l, a, bias, B); return;
    case EBM_UNIT_SOFTMAX: softmax_mean(l, a, bias, B); return;
    }
    EBM_ASSERT(!"unit type");
}

void ebm_units_mean_ref(const struct ebm_units *l, float *a, const float *bias, int B)
{
    int n = l->n;
    switch (l->type) {
    case EBM_UNIT_BERNOULLI:
    case EBM_UNIT_SPIN:
        for (int r = 0; r < B; r++)
            for (int i = 0; i < n; i++) {
                float *v = &a[(size_t)r * n + i];
                double y = (double)*v + bias[i];
                *v = (float)(l->type == EBM_UNIT_SPIN ? tanh(y) : 1.0 / (1.0 + exp(-y)));
            }
        return;
    case EBM_UNIT_GAUSSIAN: gaussian_mean(l, a, bias, B); return;
    case EBM_UNIT_SOFTMAX: softmax_mean(l, a, bias, B); return;
    }
    EBM_ASSERT(!"unit type");
}

/* ---- sampling ----------------------------------------------------------- */

/* Inverse CDF per group with one uniform: the first k whose running sum of
 * exp(y_k - max) exceeds u * sum. The running sum repeats the normaliser's
 * additions in the same order, so it ends at exactly `sum` > u * sum and a
 * state is always chosen; a zero-probability state never is. */
static void softmax_sample(const struct ebm_units *l, float *a, const float *bias, int B,
                           float *x, struct ebm_rng *rng)
{
    int n = l->n, K = l->group;
    struct draws d;
    draws_init(&d, rng, (size_t)B * (size_t)(n / K), 0);
    for (int r = 0; r < B; r++)
        for (int g = 0; g < n; g += K) {
            float *ag = a + (size_t)r * n + g, *xg = x + (size_t)r * n + g;
            const float *bg = bias + g;
            double mx = -INFINITY, sum = 0.0, cum = 0.0;
            int argmax = 0, pick = -1;
            for (int k = 0; k < K; k++) {
                double y = (double)ag[k] + bg[k];
                if (y > mx) { mx = y; argmax = k; }
            }
            for (int k = 0; k < K; k++) sum += exp((double)ag[k] + bg[k] - mx);
            double target = (double)draws_next(&d) * sum;
            for (int k = 0; k < K; k++) {
                double e = exp((double)ag[k] + bg[k] - mx);
                cum += e;
                if (pick < 0 && target < cum) pick = k;
                ag[k] = (float)(e / sum);
                xg[k] = 0.0f;
            }
            xg[pick < 0 ? argmax : pick] = 1.0f;
        }
}

/* x = (b + in) + sigma z, z ~ N(0, 1): the Gaussian conditional. */
static void gaussian_sample(const struct ebm_units *l, float *a, const float *bias, int B,
                            float *x, struct ebm_rng *rng)
{
    int n = l->n;
    struct draws d;
    draws_init(&d, rng, (size_t)B * n, 1);
    for (int r = 0; r < B; r++)
        for (int i = 0; i < n; i++) {
            size_t e = (size_t)r * n + i;
            a[e] += bias[i];
            x[e] = (float)((double)a[e] + exp((double)l->log_sigma[i]) * draws_next(&d));
        }
}

/* p(+1) = sigmoid(2a) through the vectorised sigmoid, 64 elements of the
 * flat row-major stream at a time, so the uniforms line up with the ref's. */
static void spin_sample_fast(const struct ebm_units *l, float *a, const float *bias, int B,
                             float *x, struct ebm_rng *rng)
{
    int n = l->n;
    size_t total = (size_t)B * n;
    float t[DRAW_BUF], p[DRAW_BUF], u[DRAW_BUF];
    int col = 0;
    for (size_t e0 = 0; e0 < total; e0 += DRAW_BUF) {
        int m = total - e0 < DRAW_BUF ? (int)(total - e0) : DRAW_BUF;
        for (int k = 0; k < m; k++) {
            t[k] = a[e0 + k] + bias[col];
            if (++col == n) col = 0;
        }
        ebm_sigmoid_scaled(t, p, (size_t)m, 2.0f);
        ebm_rng_uniform(rng, u, (size_t)m);
        for (int k = 0; k < m; k++) {
            x[e0 + k] = u[k] < p[k] ? 1.0f : -1.0f;
            a[e0 + k] = 2.0f * p[k] - 1.0f;
        }
    }
}

void ebm_units_sample(const struct ebm_units *l, float *a, const float *bias, int B,
                      float *x, struct ebm_rng *rng)
{
    EBM_ASSERT(a != x);
    switch (l->type) {
    case EBM_UNIT_BERNOULLI: ebm_sigmoid_bias_sample(a, x, bias, B, l->n, rng); return;
    case EBM_UNIT_SPIN: spin_sample_fast(l, a, bias, B, x, rng); return;
    case EBM_UNIT_GAUSSIAN: gaussian_sample(l, a, bias, B, x, rng); return;
    case EBM_UNIT_SOFTMAX: softmax_sample(l, a, bias, B, x, rng); return;
    }
    EBM_ASSERT(!"unit type");
}

void ebm_units_sample_ref(const struct ebm_units *l, float *a, const float *bias, int B,
                          float *x, struct ebm_rng *rng)
{
    EBM_ASSERT(a != x);
    int n = l->n;
    struct draws d;
    switch (l->type) {
    case EBM_UNIT_BERNOULLI:
    case EBM_UNIT_SPIN:
        draws_init(&d, rng, (size_t)B * n, 0);
        for (int r = 0; r < B; r++)
            for (int i = 0; i < n; i++) {
                size_t e = (size_t)r * n + i;
                double y = (double)a[e] + bias[i];
                float u = draws_next(&d);
                if (l->type == EBM_UNIT_BERNOULLI) {
                    a[e] = (float)(1.0 / (1.0 + exp(-y)));
                    x[e] = u < a[e] ? 1.0f : 0.0f;
                } else {
                    x[e] = u < 1.0 / (1.0 + exp(-2.0 * y)) ? 1.0f : -1.0f;
                    a[e] = (float)tanh(y);
                }
            }
        return;
    case EBM_UNIT_GAUSSIAN: gaussian_sample(l, a, bias, B, x, rng); return;
    case EBM_UNIT_SOFTMAX: softmax_sample(l, a, bias, B, x, rng); return;
    }
    EBM_ASSERT(!"unit type");
}

/* ---- energies and log-partitions --------------------------------------- */

/* sum_x exp(-E(x) + s(x) . in) for one row, in double:
 *   bernoulli  log(1 + e^a) = softplus(a)
 *   spin       log(e^a + e^-a) = |a| + log1p(e^{-2|a|}), no overflow at any a
 *   softmax    log sum_k e^{a_k} = max + log sum_k e^{a_k - max}
 *   gaussian   log int exp(-(x - b)^2 / (2 sigma^2) + x in / sigma^2) dx
 *              = ((b + in)^2 - b^2) / (2 sigma^2) + log(2 pi sigma^2) / 2
 *              (completing the square), with (b + in)^2 - b^2 = in (in + 2b)
 *              so large equal biases do not cancel. */
static double row_log_partition(const struct ebm_units *l, const float *in, const float *bias)
{
    int n = l->n;
    double s = 0.0;
    switch (l->type) {
    case EBM_UNIT_BERNOULLI:
        for (int i = 0; i < n; i++) s += ebm_softplus((double)in[i] + bias[i]);
        return s;
    case EBM_UNIT_SPIN:
        for (int i = 0; i < n; i++) {
            double y = fabs((double)in[i] + bias[i]);
            s += y + log1p(exp(-2.0 * y));
        }
        return s;
    case EBM_UNIT_SOFTMAX:
        for (int g = 0; g < n; g += l->group) {
            double mx = -INFINITY, sum = 0.0;
            for (int k = g; k < g + l->group; k++) mx = fmax(mx, (double)in[k] + bias[k]);
            for (int k = g; k < g + l->group; k++) sum += exp((double)in[k] + bias[k] - mx);
            s += mx + log(sum);
        }
        return s;
    case EBM_UNIT_GAUSSIAN: {
        const double half_log_2pi = 0.91893853320467274178;
        for (int i = 0; i < n; i++) {
            double t = in[i], ls = l->log_sigma[i];
            s += t * (t + 2.0 * bias[i]) * 0.5 * exp(-2.0 * ls) + half_log_2pi + ls;
        }
        return s;
    }
    }
    EBM_ASSERT(!"unit type");
    return 0.0;
}

/* E_t(x) for one row: -b'x, or sum_i (x_i - b_i)^2 / (2 sigma_i^2). */
static double row_energy(const struct ebm_units *l, const float *x, const float *bias)
{
    int n = l->n;
    double e = 0.0;
    if (l->type == EBM_UNIT_GAUSSIAN) {
        for (int i = 0; i < n; i++) {
            double d = (double)x[i] - bias[i];
            e += 0.5 * d * d * exp(-2.0 * (double)l->log_sigma[i]);
        }
    } else {
        for (int i = 0; i < n; i++) e -= (double)bias[i] * x[i];
    }
    return e;
}

void ebm_units_log_partition(const struct ebm_units *l, const float *in, const float *bias,
                             int B, double *out)
{
    for (int r = 0; r < B; r++) out[r] = row_log_partition(l, in + (size_t)r * l->n, bias);
}

void ebm_units_energy(const struct ebm_units *l, const float *x, const float *bias, int B,
                      double *out)
{
    for (int r = 0; r < B; r++) out[r] = row_energy(l, x + (size_t)r * l->n, bias);
}

/* F(x) = -log sum_y exp(-E(x, y)) = E_x(x) - log_partition_y(s(x) W): the
 * y-sum factorises over y's units (groups) because E is linear in s(y)
 * apart from E_y's own per-unit terms. */
void ebm_units_free_energy(const struct ebm_units *xl, const float *x, const float *x_bias,
                           const struct ebm_units *yl, const float *y_in, const float *y_bias,
                           int B, double *out)
{
    for (int r = 0; r < B; r++)
        out[r] = row_energy(xl, x + (size_t)r * xl->n, x_bias) -
                 row_log_partition(yl, y_in + (size_t)r * yl->n, y_bias);
}

/* ---- Gaussian parameters ----------------------------------------------- */

const float *ebm_units_coupling(const struct ebm_units *l, const float *x, int B,
                                float *scratch)
{
    if (l->type != EBM_UNIT_GAUSSIAN) return x;
    int n = l->n;
    float f[DRAW_BUF]; /* 1 / sigma^2 for one block of columns */
    for (int i0 = 0; i0 < n; i0 += DRAW_BUF) {
        int m = n - i0 < DRAW_BUF ? n - i0 : DRAW_BUF;
        for (int k = 0; k < m; k++) f[k] = (float)exp(-2.0 * (double)l->log_sigma[i0 + k]);
        for (int r = 0; r < B; r++) {
            const float *xr = x + (size_t)r * n + i0;
            float *sr = scratch + (size_t)r * n + i0;
            for (int k = 0; k < m; k++) sr[k] = xr[k] * f[k];
        }
    }
    return scratch;
}

/* E's sigma-dependent terms, with s = log sigma_i and sigma^-2 = e^{-2s}:
 *   (x_i - b_i)^2 e^{-2s} / 2 - x_i e^{-2s} in_i
 * so dE/ds = -(x_i - b_i)^2 e^{-2s} + 2 x_i in_i e^{-2s}. Columns in blocks,
 * double accumulators per column. */
void ebm_units_dlogsigma(const struct ebm_units *l, const float *x, const float *bias,
                         const float *in, int B, float scale, float *acc)
{
    EBM_ASSERT(l->type == EBM_UNIT_GAUSSIAN);
    int n = l->n;
    double sum[DRAW_BUF];
    for (int i0 = 0; i0 < n; i0 += DRAW_BUF) {
        int m = n - i0 < DRAW_BUF ? n - i0 : DRAW_BUF;
        for (int k = 0; k < m; k++) sum[k] = 0.0;
        for (int r = 0; r < B; r++) {
            const float *xr = x + (size_t)r * n + i0;
            const float *tr = in ? in + (size_t)r * n + i0 : NULL;
            for (int k = 0; k < m; k++) {
                double d = (double)xr[k] - bias[i0 + k];
                sum[k] -= d * d;
                if (tr) sum[k] += 2.0 * (double)xr[k] * tr[k];
            }
        }
        for (int k = 0; k < m; k++)
            acc[i0 + k] += (float)(scale * sum[k] * exp(-2.0 * (double)l->log_sigma[i0 + k]));
    }
}

int ebm_units_clamp_log_sigma(const struct ebm_units *l)
{
    if (l->type != EBM_UNIT_GAUSSIAN) return 0;
    int raised = 0;
    for (int i = 0; i < l->n; i++)
        if (l->log_sigma[i] < l->log_sigma_min) { /* false for NaN: left to be seen */
            l->log_sigma[i] = l->log_sigma_min;
            raised++;
        }
    return raised;
}
