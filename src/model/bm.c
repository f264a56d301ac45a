/* The fully visible Boltzmann machine: parameters, conditionals, sequential
 * Gibbs chains, gradient statistics and the exact reference.
 * Where the time goes in training: the sweep, O(C D) conditionals plus O(D)
 * per flipped unit (the input vector is updated, not recomputed), and the
 * two statistics GEMMs, (D x B) (B x D) and (D x C) (C x D). The exact
 * reference is O(2^D D^2), one DGEMM per block of 256 states. */
#include "ebm/bm.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"

size_t bm_block_size(int n_units)
{
    return (size_t)n_units * n_units + (size_t)n_units;
}

void bm_view(struct bm *m, int n_units, int spin, float *block)
{
    m->n_units = n_units;
    m->spin = spin ? 1 : 0;
    m->block = block;
    m->W = block;
    m->bias = block + (size_t)n_units * n_units;
    m->owns_block = 0;
}

ebm_status bm_init(struct bm *m, int n_units, int spin)
{
    memset(m, 0, sizeof *m);
    if (n_units <= 0)
        return EBM_FAIL(EBM_ERR_INPUT, "BM size must be positive, got %d units", n_units);
    float *block;
    EBM_ALLOC(block, bm_block_size(n_units));
    bm_view(m, n_units, spin, block);
    m->owns_block = 1;
    return EBM_OK;
}

void bm_free(struct bm *m)
{
    if (!m) return;
    if (m->owns_block) free(m->block);
    memset(m, 0, sizeof *m);
}

/* The value of a unit that is "off": 0, or -1 for spins. */
static inline float off_value(int spin) { return spin ? -1.0f : 0.0f; }
/* E(on) - E(off) = -scale * a_j, so p(on | rest) = sigmoid(scale * a_j). */
static inline double input_scale(int spin) { return spin ? 2.0 : 1.0; }

void bm_init_params(struct bm *m, float sigma, const float *marginals, struct ebm_rng *rng)
{
    int D = m->n_units;
    ebm_rng_normal(rng, m->W, (size_t)D * D);
    /* Copy the upper triangle down rather than average (which would shrink
     * the variance to sigma^2 / 2). */
    for (int i = 0; i < D; i++) {
        m->W[(size_t)i * D + i] = 0.0f;
        for (int j = i + 1; j < D; j++) {
            m->W[(size_t)i * D + j] *= sigma;
            m->W[(size_t)j * D + i] = m->W[(size_t)i * D + j];
        }
    }
    for (int i = 0; i < D; i++) {
        double p = marginals ? marginals[i] : 0.5;
        p = p < 1e-3 ? 1e-3 : (p > 1.0 - 1e-3 ? 1.0 - 1e-3 : p);
        m->bias[i] = (float)(log(p / (1.0 - p)) / input_scale(m->spin));
    }
}

void bm_symmetrize(struct bm *m)
{
    int D = m->n_units;
    for (int i = 0; i < D; i++) {
        m->W[(size_t)i * D + i] = 0.0f;
        for (int j = i + 1; j < D; j++) {
            float s = 0.5f * (m->W[(size_t)i * D + j] + m->W[(size_t)j * D + i]);
            m->W[(size_t)i * D + j] = s;
            m->W[(size_t)j * D + i] = s;
        }
    }
}

ebm_status bm_validate(const struct bm *m)
{
    int D = m->n_units;
    for (size_t i = 0; i < bm_block_size(D); i++)
        if (!isfinite(m->block[i]))
            return EBM_FAIL(EBM_ERR_INPUT, "BM parameters: non-finite value at block index %zu",
                            i);
    for (int i = 0; i < D; i++) {
        if (m->W[(size_t)i * D + i] != 0.0f)
            return EBM_FAIL(EBM_ERR_INPUT, "BM parameters: W[%d][%d] = %g, the diagonal must be "
                            "zero", i, i, (double)m->W[(size_t)i * D + i]);
        for (int j = i + 1; j < D; j++)
            if (m->W[(size_t)i * D + j] != m->W[(size_t)j * D + i])
                return EBM_FAIL(EBM_ERR_INPUT, "BM parameters: W is not symmetric, W[%d][%d] = "
                                "%.9g but W[%d][%d] = %.9g", i, j,
                                (double)m->W[(size_t)i * D + j], j, i,
                                (double)m->W[(size_t)j * D + i]);
    }
    return EBM_OK;
}

/* The sweep's update a_k += delta W_jk reads row j for column j: only
 * equal when W is symmetric, and a_j must not see x_j. */
static void assert_coupling_invariant(const struct bm *m)
{
    int D = m->n_units;
    for (int i = 0; i < D; i++) {
        EBM_ASSERT(m->W[(size_t)i * D + i] == 0.0f);
        for (int j = i + 1; j < D; j++)
            EBM_ASSERT(m->W[(size_t)i * D + j] == m->W[(size_t)j * D + i]);
    }
}

void bm_energy(const struct bm *m, const float *x, int B, double *out)
{
    int D = m->n_units;
    for (int r = 0; r < B; r++) {
        const float *xr = x + (size_t)r * D;
        double e = 0.0;
        /* -1/2 x'Wx = -sum_{i<k} W_ik x_i x_k for symmetric, zero-diagonal W. */
        for (int i = 0; i < D; i++) {
            if (xr[i] == 0.0f) continue;
            const float *Wi = m->W + (size_t)i * D;
            double row = m->bias[i];
            for (int k = i + 1; k < D; k++) row += (double)Wi[k] * xr[k];
            e -= xr[i] * row;
        }
        out[r] = e;
    }
}

/* a_j = b_j + sum_{k != j} W_jk x_k, summed in double in the order k = 0..D-1.
 * The incremental sweep reproduces exactly this sum (see bm.h). */
static inline double unit_input(const struct bm *m, const float *xr, int j)
{
    int D = m->n_units;
    const float *Wj = m->W + (size_t)j * D;
    double a = m->bias[j];
    for (int k = 0; k < D; k++)
        if (k != j) a += (double)Wj[k] * xr[k];
    return a;
}

void bm_conditional(const struct bm *m, const float *x, int B, int j, float *p)
{
    EBM_ASSERT(j >= 0 && j < m->n_units);
    double s = input_scale(m->spin);
    for (int r = 0; r < B; r++) {
        double a = unit_input(m, x + (size_t)r * m->n_units, j);
        p[r] = (float)(1.0 / (1.0 + exp(-s * a)));
    }
}

void bm_conditionals(const struct bm *m, const float *x, int B, float *p)
{
    int D = m->n_units;
    if (B == 0) return;
    /* Row j of xW is sum_k x_k W_kj = a_j - b_j, W being symmetric. */
    ebm_gemm(false, false, B, D, D, 1.0f, x, D, m->W, D, 0.0f, p, D);
    float s = (float)input_scale(m->spin);
    for (int r = 0; r < B; r++) {
        float *pr = p + (size_t)r * D;
        for (int j = 0; j < D; j++) pr[j] = 1.0f / (1.0f + expf(-s * (pr[j] + m->bias[j])));
    }
}

ebm_status bm_chains_init(struct bm_chains *g, int n_units, int rows, int64_t first_chain,
                          uint64_t seed, uint32_t purpose)
{
    memset(g, 0, sizeof *g);
    if (n_units <= 0 || rows < 0)
        return EBM_FAIL(EBM_ERR_INPUT, "BM chains: sizes must be positive, got D = %d, "
                        "%d chains", n_units, rows);
    /* The chain index becomes the stream's 32-bit substream word. */
    if (first_chain < 0 || first_chain + rows > ((int64_t)1 << 32))
        return EBM_FAIL(EBM_ERR_INPUT, "BM chains: chains %lld..%lld are outside 0..2^32-1",
                        (long long)first_chain, (long long)(first_chain + rows - 1));
    g->rows = rows;
    g->n_units = n_units;
    g->first_chain = first_chain;
    g->rng = calloc((size_t)rows + 1, sizeof *g->rng);
    g->field = calloc((size_t)rows * n_units + 1, sizeof *g->field);
    g->u = calloc((size_t)n_units, sizeof *g->u);
    if (!g->rng || !g->field || !g->u) {
        bm_chains_free(g);
        return EBM_FAIL(EBM_ERR_NOMEM, "BM chains: out of memory for %d chains of %d units",
                        rows, n_units);
    }
    for (int r = 0; r < rows; r++)
        ebm_rng_init(&g->rng[r], seed, (uint32_t)(first_chain + r), purpose);
    return EBM_OK;
}

void bm_chains_free(struct bm_chains *g)
{
    if (!g) return;
    free(g->rng);
    free(g->field);
    free(g->u);
    memset(g, 0, sizeof *g);
}

void bm_chains_random_init(struct bm_chains *g, int spin, float *x)
{
    size_t D = (size_t)g->n_units;
    for (size_t i = 0; i < D; i++) g->u[i] = 0.5f;
    for (int r = 0; r < g->rows; r++) {
        float *xr = x + (size_t)r * D;
        ebm_bernoulli(g->u, xr, D, &g->rng[r]);
        if (spin)
            for (size_t i = 0; i < D; i++) xr[i] = 2.0f * xr[i] - 1.0f;
    }
}

void bm_gibbs_sweep(const struct bm *m, struct bm_chains *g, float *x, int sweeps)
{
    EBM_ASSERT(m->n_units == g->n_units);
    assert_coupling_invariant(m);
    int D = m->n_units;
    double s = input_scale(m->spin);
    float off = off_value(m->spin);
    /* Chains are independent: each runs all its sweeps while its input
     * vector stays in cache. */
    for (int r = 0; r < g->rows; r++) {
        float *xr = x + (size_t)r * D;
        double *restrict a = g->field + (size_t)r * D;
        for (int j = 0; j < D; j++) a[j] = unit_input(m, xr, j);
        for (int t = 0; t < sweeps; t++) {
            ebm_rng_uniform(&g->rng[r], g->u, (size_t)D);
            for (int j = 0; j < D; j++) {
                double p = 1.0 / (1.0 + exp(-s * a[j]));
                float v = (double)g->u[j] < p ? 1.0f : off;
                if (v == xr[j]) continue;
                /* delta is +-1 or +-2, so delta * W_jk is exact in double. */
                double delta = (double)v - xr[j];
                xr[j] = v;
                const float *restrict Wj = m->W + (size_t)j * D;
                for (int k = 0; k < D; k++) a[k] += delta * Wj[k];
            }
        }
    }
}

void bm_gibbs_sweep_ref(const struct bm *m, struct bm_chains *g, float *x, int sweeps)
{
    EBM_ASSERT(m->n_units == g->n_units);
    int D = m->n_units;
    double s = input_scale(m->spin);
    for (int r = 0; r < g->rows; r++) {
        float *xr = x + (size_t)r * D;
        for (int t = 0; t < sweeps; t++) {
            ebm_rng_uniform(&g->rng[r], g->u, (size_t)D);
            for (int j = 0; j < D; j++) {
                double p = 1.0 / (1.0 + exp(-s * unit_input(m, xr, j)));
                xr[j] = (double)g->u[j] < p ? 1.0f : off_value(m->spin);
            }
        }
    }
}

typedef void gemm_fn(bool, bool, int, int, int, float, const float *, int, const float *,
                     int, float, float *, int);
typedef void colsum_fn(const float *, int, int, float, float *);

static void moments(gemm_fn *gemm, colsum_fn *colsum, const float *x, int rows, float scale,
                    float beta, struct bm *acc)
{
    int D = acc->n_units;
    /* The one product of the phase: x' x, (D x rows) (rows x D). */
    gemm(true, false, D, D, rows, scale, x, D, x, D, beta, acc->W, D);
    if (beta == 0.0f)
        memset(acc->bias, 0, sizeof(float) * (size_t)D);
    else if (beta != 1.0f)
        for (int i = 0; i < D; i++) acc->bias[i] *= beta;
    colsum(x, rows, D, scale, acc->bias);
}

void bm_moments(const float *x, int rows, float scale, float beta, struct bm *acc)
{
    moments(ebm_gemm, ebm_add_column_sums, x, rows, scale, beta, acc);
}

void bm_statistics(const float *x_data, int B, const float *x_neg, int C, float inv_nd,
                   float inv_nm, struct bm *grad)
{
    moments(ebm_gemm, ebm_add_column_sums, x_data, B, inv_nd, 0.0f, grad);
    moments(ebm_gemm, ebm_add_column_sums, x_neg, C, -inv_nm, 1.0f, grad);
    /* BLAS need not round (i, j) and (j, i) alike; the diagonal holds
     * <x_i^2>, which is no parameter. */
    bm_symmetrize(grad);
}

void bm_statistics_ref(const float *x_data, int B, const float *x_neg, int C, float inv_nd,
                       float inv_nm, struct bm *grad)
{
    moments(ebm_gemm_ref, ebm_add_column_sums_ref, x_data, B, inv_nd, 0.0f, grad);
    moments(ebm_gemm_ref, ebm_add_column_sums_ref, x_neg, C, -inv_nm, 1.0f, grad);
    bm_symmetrize(grad);
}

void bm_statistics_exact(const float *x_data, int B, float inv_nd, const double *xx_model,
                         const double *mean_model, double model_scale, struct bm *grad)
{
    int D = grad->n_units;
    moments(ebm_gemm, ebm_add_column_sums, x_data, B, inv_nd, 0.0f, grad);
    for (size_t i = 0; i < (size_t)D * D; i++)
        grad->W[i] = (float)((double)grad->W[i] - model_scale * xx_model[i]);
    for (int i = 0; i < D; i++)
        grad->bias[i] = (float)((double)grad->bias[i] - model_scale * mean_model[i]);
    bm_symmetrize(grad);
}

void bm_data_moments(const float *x, int N, int D, double *xx, double *mean)
{
    memset(xx, 0, sizeof(double) * (size_t)D * D);
    memset(mean, 0, sizeof(double) * (size_t)D);
    /* Products of {0, +-1} values sum exactly in double: these moments are
     * exact, which float GEMM is not beyond 2^24 rows. */
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * D;
        for (int i = 0; i < D; i++) {
            if (xr[i] == 0.0f) continue;
            mean[i] += xr[i];
            for (int j = i; j < D; j++) xx[(size_t)i * D + j] += (double)xr[i] * xr[j];
        }
    }
    double inv = N > 0 ? 1.0 / N : 0.0;
    for (int i = 0; i < D; i++) {
        mean[i] *= inv;
        for (int j = i; j < D; j++) {
            xx[(size_t)i * D + j] *= inv;
            xx[(size_t)j * D + i] = xx[(size_t)i * D + j];
        }
    }
}

ebm_status bm_exact_init(struct bm_exact *e, int n_units)
{
    memset(e, 0, sizeof *e);
    if (n_units <= 0 || n_units > BM_EXACT_MAX_UNITS)
        return EBM_FAIL(EBM_ERR_INPUT, "exact BM enumeration needs 1..%d units, got %d",
                        BM_EXACT_MAX_UNITS, n_units);
    size_t D = (size_t)n_units;
    e->n_units = n_units;
    e->theta = calloc(bm_block_size(n_units), sizeof *e->theta);
    e->energy = calloc((size_t)1 << D, sizeof *e->energy);
    e->S = calloc(BM_EXACT_ROWS * D, sizeof *e->S);
    e->Sw = calloc(BM_EXACT_ROWS * D, sizeof *e->Sw);
    e->xx = calloc(D * D + D + bm_block_size(n_units), sizeof *e->xx);
    if (!e->theta || !e->energy || !e->S || !e->Sw || !e->xx) {
        bm_exact_free(e);
        return EBM_FAIL(EBM_ERR_NOMEM, "exact BM enumeration: out of memory for %d units",
                        n_units);
    }
    e->mean = e->xx + D * D;
    e->grad = e->mean + D;
    return EBM_OK;
}

void bm_exact_free(struct bm_exact *e)
{
    if (!e) return;
    free(e->theta);
    free(e->energy);
    free(e->S);
    free(e->Sw);
    free(e->xx);
    memset(e, 0, sizeof *e);
}

static void exact_load(struct bm_exact *e, const struct bm *m)
{
    EBM_ASSERT(e->n_units == m->n_units);
    e->spin = m->spin;
    for (size_t i = 0; i < bm_block_size(m->n_units); i++) e->theta[i] = m->block[i];
}

/* State `code`: bit i is unit i. */
static inline void exact_state(const struct bm_exact *e, uint64_t code, double *x)
{
    double off = off_value(e->spin);
    for (int i = 0; i < e->n_units; i++) x[i] = (code >> i) & 1u ? 1.0 : off;
}

/* Fills e->energy from e->theta and returns log Z. */
static double exact_energies(struct bm_exact *e)
{
    int D = e->n_units;
    const double *W = e->theta, *b = e->theta + (size_t)D * D;
    double x[BM_EXACT_MAX_UNITS], max_neg = -INFINITY;
    for (uint64_t c = 0; c < ((uint64_t)1 << D); c++) {
        exact_state(e, c, x);
        double en = 0.0;
        for (int i = 0; i < D; i++) {
            double row = b[i];
            for (int k = i + 1; k < D; k++) row += W[(size_t)i * D + k] * x[k];
            en -= x[i] * row;
        }
        e->energy[c] = en;
        if (-en > max_neg) max_neg = -en;
    }
    double sum = 0.0;
    for (uint64_t c = 0; c < ((uint64_t)1 << D); c++) sum += exp(-e->energy[c] - max_neg);
    return max_neg + log(sum);
}

/* e->xx = <x x'> and e->mean = <x> under exp(-E(x) - log Z), from e->energy:
 * one DGEMM S_w' S per block of states. */
static void exact_moments(struct bm_exact *e, double log_z)
{
    int D = e->n_units;
    uint64_t n = (uint64_t)1 << D;
    double *xx = e->xx, *mean = e->mean;
    memset(xx, 0, sizeof(double) * (size_t)D * D);
    memset(mean, 0, sizeof(double) * (size_t)D);
    for (uint64_t c0 = 0; c0 < n; c0 += BM_EXACT_ROWS) {
        int rows = (int)(n - c0 < BM_EXACT_ROWS ? n - c0 : BM_EXACT_ROWS);
        for (int r = 0; r < rows; r++) {
            double *s = e->S + (size_t)r * D, *sw = e->Sw + (size_t)r * D;
            double w = exp(-e->energy[c0 + r] - log_z);
            exact_state(e, c0 + (uint64_t)r, s);
            for (int i = 0; i < D; i++) {
                sw[i] = w * s[i];
                mean[i] += sw[i];
            }
        }
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, D, rows, 1.0, e->Sw, D, e->S,
                    D, 1.0, xx, D);
    }
    for (int i = 0; i < D; i++)
        for (int j = i + 1; j < D; j++) {
            double s = 0.5 * (xx[(size_t)i * D + j] + xx[(size_t)j * D + i]);
            xx[(size_t)i * D + j] = s;
            xx[(size_t)j * D + i] = s;
        }
}

/* sum_{i<j} W_ij xx_ij + b'mean - log Z, for parameters in double. */
static double log_likelihood(const double *W, const double *b, int D, const double *xx_data,
                             const double *mean_data, double log_z)
{
    double ll = -log_z;
    for (int i = 0; i < D; i++) {
        ll += b[i] * mean_data[i];
        for (int j = i + 1; j < D; j++) ll += W[(size_t)i * D + j] * xx_data[(size_t)i * D + j];
    }
    return ll;
}

/* e->grad <- data - model moments with a zero diagonal (exactly symmetric,
 * as both moment matrices are); returns max |grad|. */
static double exact_grad(struct bm_exact *e, const double *xx_data, const double *mean_data)
{
    int D = e->n_units;
    double gmax = 0.0, *g = e->grad;
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) {
            size_t k = (size_t)i * D + j;
            g[k] = i == j ? 0.0 : xx_data[k] - e->xx[k];
            gmax = fmax(gmax, fabs(g[k]));
        }
    for (int i = 0; i < D; i++) {
        g[(size_t)D * D + i] = mean_data[i] - e->mean[i];
        gmax = fmax(gmax, fabs(g[(size_t)D * D + i]));
    }
    return gmax;
}

double bm_exact_moments(struct bm_exact *e, const struct bm *m)
{
    exact_load(e, m);
    double log_z = exact_energies(e);
    exact_moments(e, log_z);
    return log_z;
}

ebm_status bm_exact_log_z(const struct bm *m, double *log_z)
{
    struct bm_exact e;
    EBM_TRY(bm_exact_init(&e, m->n_units));
    exact_load(&e, m);
    *log_z = exact_energies(&e);
    bm_exact_free(&e);
    return EBM_OK;
}

double bm_log_likelihood(const struct bm *m, const double *xx_data, const double *mean_data,
                         double log_z)
{
    int D = m->n_units;
    double ll = -log_z;
    for (int i = 0; i < D; i++) {
        ll += (double)m->bias[i] * mean_data[i];
        for (int j = i + 1; j < D; j++)
            ll += (double)m->W[(size_t)i * D + j] * xx_data[(size_t)i * D + j];
    }
    return ll;
}

double bm_exact_gradient(struct bm_exact *e, const struct bm *m, const double *xx_data,
                         const double *mean_data, struct bm *grad)
{
    EBM_ASSERT(grad->n_units == m->n_units);
    int D = m->n_units;
    double log_z = bm_exact_moments(e, m);
    exact_grad(e, xx_data, mean_data);
    for (size_t i = 0; i < bm_block_size(D); i++) grad->block[i] = (float)e->grad[i];
    return log_likelihood(e->theta, e->theta + (size_t)D * D, D, xx_data, mean_data, log_z);
}

ebm_status bm_exact_fit(struct bm *m, const double *xx_data, const double *mean_data, double lr,
                        int steps, double *loglik, double *grad_max)
{
    int D = m->n_units;
    size_t n = bm_block_size(D);
    struct bm_exact e;
    EBM_TRY(bm_exact_init(&e, D));
    exact_load(&e, m);
    for (int t = 0; t < steps; t++) {
        exact_moments(&e, exact_energies(&e));
        exact_grad(&e, xx_data, mean_data);
        for (size_t i = 0; i < n; i++) e.theta[i] += lr * e.grad[i];
    }
    for (size_t i = 0; i < n; i++) m->block[i] = (float)e.theta[i];
    /* Report at the float parameters the caller gets, not the double ones. */
    double log_z = bm_exact_moments(&e, m);
    double gmax = exact_grad(&e, xx_data, mean_data);
    if (loglik) *loglik = log_likelihood(e.theta, e.theta + (size_t)D * D, D, xx_data,
                                         mean_data, log_z);
    if (grad_max) *grad_max = gmax;
    bm_exact_free(&e);
    if (!isfinite(log_z) || !isfinite(gmax))
        return EBM_FAIL(EBM_ERR_NUMERIC, "exact BM fit diverged (lr = %g too large?)", lr);
    return EBM_OK;
}

ebm_status bm_exact_sample(const struct bm *m, float *x, int N, struct ebm_rng *rng)
{
    int D = m->n_units;
    if (D > BM_SAMPLE_MAX_UNITS)
        return EBM_FAIL(EBM_ERR_INPUT, "exact BM sampling needs at most %d units, this model "
                        "has %d", BM_SAMPLE_MAX_UNITS, D);
    struct bm_exact e;
    EBM_TRY(bm_exact_init(&e, D));
    exact_load(&e, m);
    uint64_t n = (uint64_t)1 << D;
    double log_z = exact_energies(&e);
    /* energy[] becomes the CDF in place. */
    double total = 0.0;
    for (uint64_t c = 0; c < n; c++) {
        total += exp(-e.energy[c] - log_z);
        e.energy[c] = total;
    }
    float off = off_value(m->spin);
    for (int r = 0; r < N; r++) {
        float u[2];
        ebm_rng_uniform(rng, u, 2);
        /* 48 random bits: a state of probability 2^-40 is still drawn at
         * its rate to within 1%. */
        double target = ((double)u[0] + (double)u[1] / 16777216.0) * total;
        uint64_t lo = 0, hi = n - 1; /* the first c with cdf[c] > target */
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (e.energy[mid] > target) hi = mid;
            else lo = mid + 1;
        }
        for (int i = 0; i < D; i++) x[(size_t)r * D + i] = (lo >> i) & 1u ? 1.0f : off;
    }
    bm_exact_free(&e);
    return EBM_OK;
}
