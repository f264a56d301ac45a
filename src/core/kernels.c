/* Where the time goes: a training step is ~5 GEMMs (cblas) plus one
 * sigmoid + Bernoulli pass over every unit; the latter is vectorised here
 * (one clone per x86-64 level, picked at load time) so it stays a small
 * fraction of the GEMM time. */
#include "ebm/kernels.h"

#include "ebm/error.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

void ebm_gemm(bool ta, bool tb, int m, int n, int k, float alpha,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda, B, ldb,
                beta, C, ldc);
}

void ebm_gemm_ref(bool ta, bool tb, int m, int n, int k, float alpha,
                  const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int l = 0; l < k; l++) {
                float a = ta ? A[(size_t)l * lda + i] : A[(size_t)i * lda + l];
                float b = tb ? B[(size_t)j * ldb + l] : B[(size_t)l * ldb + j];
                acc += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}

/* exp(x) for x in [-80, 80]: 2^n * e^r with |r| <= ln2/2 and a degree-7
 * Taylor polynomial (relative error ~1e-8, below float resolution).
 * Branch-free so that the loops around it vectorise. */
static inline float exp_clamped(float x)
{
    x = x < -80.0f ? -80.0f : (x > 80.0f ? 80.0f : x);
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to int */
    float n = (x * 1.44269504f + shifter) - shifter;
    float r = x - n * 0.693145752f - n * 1.42860677e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union { uint32_t u; float f; } scale = { .u = (uint32_t)((int32_t)n + 127) << 23 };
    return p * scale.f;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EBM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define EBM_CLONES /* other targets: the compiler's baseline vector width */
#endif

EBM_CLONES
void ebm_sigmoid_bias(float *restrict x, const float *restrict bias, int rows, int cols)
{
    for (int i = 0; i < rows; i++) {
        float *restrict row = x + (size_t)i * cols;
        for (int j = 0; j < cols; j++)
            row[j] = 1.0f / (1.0f + exp_clamped(-(row[j] + bias[j])));
    }
}

void ebm_sigmoid_bias_ref(float *x, const float *bias, int rows, int cols)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float *v = &x[(size_t)i * cols + j];
            *v = (float)(1.0 / (1.0 + exp(-((double)*v + bias[j]))));
        }
}

/* Uniforms for CHUNK consecutive elements starting at element `first`
 * (a multiple of 4): Philox for CHUNK/4 counters side by side, written so
 * the compiler vectorises across counters. */
#define CHUNK 64
static inline void chunk_uniforms(const struct ebm_rng *rng, uint64_t block,
                                  float u[CHUNK])
{
    /* 64-bit lanes holding 32-bit words: masked products vectorise as
     * widening multiplies (vpmuludq), which Philox's mulhi needs. */
    enum { NB = CHUNK / 4 };
    const uint64_t lo = 0xffffffffull;
    uint64_t c0[NB], c1[NB], c2[NB], c3[NB];
    for (int b = 0; b < NB; b++) {
        c0[b] = (block + (uint64_t)b) & lo;
        c1[b] = (block + (uint64_t)b) >> 32;
        c2[b] = rng->stream[0];
        c3[b] = rng->stream[1];
    }
    uint64_t k0 = rng->key[0], k1 = rng->key[1];
    for (int round = 0; round < 10; round++) {
        for (int b = 0; b < NB; b++) {
            uint64_t p0 = 0xD2511F53ull * (c0[b] & lo);
            uint64_t p1 = 0xCD9E8D57ull * (c2[b] & lo);
            uint64_t n0 = ((p1 >> 32) ^ c1[b] ^ k0) & lo;
            uint64_t n2 = ((p0 >> 32) ^ c3[b] ^ k1) & lo;
            c1[b] = p1 & lo;
            c3[b] = p0 & lo;
            c0[b] = n0;
            c2[b] = n2;
        }
        k0 = (k0 + 0x9E3779B9u) & lo;
        k1 = (k1 + 0xBB67AE85u) & lo;
    }
    const float scale = 1.0f / 16777216.0f;
    for (int b = 0; b < NB; b++) {
        u[4 * b + 0] = (float)(int32_t)(c0[b] >> 8) * scale;
        u[4 * b + 1] = (float)(int32_t)(c1[b] >> 8) * scale;
        u[4 * b + 2] = (float)(int32_t)(c2[b] >> 8) * scale;
        u[4 * b + 3] = (float)(int32_t)(c3[b] >> 8) * scale;
    }
}

EBM_CLONES
void ebm_bernoulli(const float *restrict p, float *restrict s, size_t n, struct ebm_rng *rng)
{
    float u[CHUNK];
    uint64_t block = rng->block;
    for (size_t i = 0; i < n; i += CHUNK, block += CHUNK / 4) {
        chunk_uniforms(rng, block, u);
        size_t m = n - i < CHUNK ? n - i : CHUNK;
        for (size_t j = 0; j < m; j++)
            s[i + j] = u[j] < p[i + j] ? 1.0f : 0.0f;
    }
    rng->block += (n + 3) / 4;
}

EBM_CLONES
void ebm_sigmoid_bias_sample(float *restrict p, float *restrict s, const float *restrict bias,
                             int rows, int cols, struct ebm_rng *rng)
{
    /* Row by row, then the flat element stream is cut into CHUNKs. */
    size_t n = (size_t)rows * cols;
    float u[CHUNK];
    uint64_t block = rng->block;
    size_t col = 0;
    for (size_t i = 0; i < n; i += CHUNK, block += CHUNK / 4) {
        chunk_uniforms(rng, block, u);
        size_t m = n - i < CHUNK ? n - i : CHUNK;
        if (col + m <= (size_t)cols) {
            const float *restrict bj = bias + col;
            for (size_t j = 0; j < m; j++) {
                float q = 1.0f / (1.0f + exp_clamped(-(p[i + j] + bj[j])));
                p[i + j] = q;
                s[i + j] = u[j] < q ? 1.0f : 0.0f;
            }
            col += m;
            if (col == (size_t)cols) col = 0;
        } else {
            for (size_t j = 0; j < m; j++) {
                float q = 1.0f / (1.0f + exp_clamped(-(p[i + j] + bias[col])));
                p[i + j] = q;
                s[i + j] = u[j] < q ? 1.0f : 0.0f;
                if (++col == (size_t)cols) col = 0;
            }
        }
    }
    rng->block += (n + 3) / 4;
}

void ebm_sigmoid_bias_sample_ref(float *p, float *s, const float *bias, int rows, int cols,
                                 struct ebm_rng *rng)
{
    ebm_sigmoid_bias_ref(p, bias, rows, cols);
    size_t n = (size_t)rows * cols;
    for (size_t i = 0; i < n; i += 4) {
        float u[4];
        ebm_rng_uniform(rng, u, 4);
        for (size_t j = 0; j < 4 && i + j < n; j++)
            s[i + j] = u[j] < p[i + j] ? 1.0f : 0.0f;
    }
}

/* Columns in blocks of SUM_BLOCK with double accumulators on the stack: a
 * float running sum over a few thousand rows drifts by ~1e-5 relative
 * (the bias gradients of a large batch), a double one does not, and the
 * O(rows x cols) adds cost little beside the batch's GEMMs. */
enum { SUM_BLOCK = 256 };

EBM_CLONES
void ebm_add_column_sums(const float *restrict x, int rows, int cols, float scale,
                         float *restrict acc)
{
    double sum[SUM_BLOCK];
    for (int j0 = 0; j0 < cols; j0 += SUM_BLOCK) {
        int m = cols - j0 < SUM_BLOCK ? cols - j0 : SUM_BLOCK;
        for (int j = 0; j < m; j++) sum[j] = 0.0;
        for (int r = 0; r < rows; r++) {
            const float *restrict row = x + (size_t)r * cols + j0;
            for (int j = 0; j < m; j++) sum[j] += row[j];
        }
        for (int j = 0; j < m; j++) acc[j0 + j] += (float)(scale * sum[j]);
    }
}

void ebm_add_column_sums_ref(const float *x, int rows, int cols, float scale, float *acc)
{
    for (int j = 0; j < cols; j++) {
        double s = 0.0;
        for (int r = 0; r < rows; r++) s += x[(size_t)r * cols + j];
        acc[j] += (float)(scale * s);
    }
}

EBM_CLONES
void ebm_momentum_update(float *restrict w, float *restrict vel, const float *restrict g,
                         size_t n, float momentum, float lr, float decay)
{
    for (size_t i = 0; i < n; i++) {
        vel[i] = momentum * vel[i] + lr * (g[i] - decay * w[i]);
        w[i] += vel[i];
    }
}

void ebm_momentum_update_ref(float *w, float *vel, const float *g, size_t n, float momentum,
                             float lr, float decay)
{
    for (size_t i = 0; i < n; i++) {
        vel[i] = (float)((double)momentum * vel[i] + (double)lr * (g[i] - (double)decay * w[i]));
        w[i] += vel[i];
    }
}

/* log(1 + u) for u in [0, 1] as 2 atanh(s), s = u / (2 + u) <= 1/3: the odd
 * series to s^13 leaves a relative error below 1e-8. */
static inline float log1p_unit(float u)
{
    float s = u / (2.0f + u), s2 = s * s;
    float p = 1.0f / 13;
    p = p * s2 + 1.0f / 11;
    p = p * s2 + 1.0f / 9;
    p = p * s2 + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    p = p * s2 + 1.0f;
    return 2.0f * s * p;
}

/* softplus(x) = max(x, 0) + tail(x), tail(x) = log(1 + exp(-|x|)) in (0, log 2].
 * Differences of softplus values are formed part by part (the max parts
 * exactly, the tails small), which keeps them accurate in float. */
static inline float softplus_tail(float x)
{
    float ax = x < 0 ? -x : x;
    return log1p_unit(exp_clamped(-ax));
}

static inline float softplus_inline(float x)
{
    return (x > 0 ? x : 0.0f) + softplus_tail(x);
}

float ebm_softplus_f(float x)
{
    return softplus_inline(x);
}

/* Sums of n terms in LANES float partial sums (so the loop vectorises:
 * a single float accumulator would be a serial dependency) folded into a
 * double at the end. Terms are differences of nearby softplus values, so
 * each partial sum stays small and float keeps ~1e-7 of it. */
enum { LANES = 16 };

EBM_CLONES
double ebm_softplus_diff_sum(const float *restrict x, int n, float a, float b)
{
    /* For a, b >= 0: max(bx, 0) - max(ax, 0) = (b - a) max(x, 0). */
    EBM_ASSERT(a >= 0.0f && b >= 0.0f);
    float tails[LANES] = { 0 }, pos[LANES] = { 0 };
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float v = x[i + l];
            pos[l] += v > 0 ? v : 0.0f;
            tails[l] += softplus_tail(b * v) - softplus_tail(a * v);
        }
    double tail = 0.0, positive = 0.0;
    for (; i < n; i++) {
        positive += x[i] > 0 ? x[i] : 0.0f;
        tail += softplus_tail(b * x[i]) - softplus_tail(a * x[i]);
    }
    for (int l = 0; l < LANES; l++) {
        tail += tails[l];
        positive += pos[l];
    }
    return ((double)b - (double)a) * positive + tail;
}

double ebm_softplus_diff_sum_ref(const float *x, int n, float a, float b)
{
    double total = 0.0;
    for (int i = 0; i < n; i++)
        total += ebm_softplus((double)b * x[i]) - ebm_softplus((double)a * x[i]);
    return total;
}

EBM_CLONES
double ebm_softplus_shift_diff(const float *restrict y, const float *restrict w, float delta,
                               int n)
{
    float acc[LANES] = { 0 };
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float d = delta * w[i + l], u = y[i + l], t = u + d;
            float lin = (u > 0 && t > 0) ? d : (t > 0 ? t : 0.0f) - (u > 0 ? u : 0.0f);
            acc[l] += lin + (softplus_tail(t) - softplus_tail(u));
        }
    double total = 0.0;
    for (; i < n; i++) {
        float d = delta * w[i], u = y[i], t = u + d;
        float lin = (u > 0 && t > 0) ? d : (t > 0 ? t : 0.0f) - (u > 0 ? u : 0.0f);
        total += lin + (softplus_tail(t) - softplus_tail(u));
    }
    for (int l = 0; l < LANES; l++) total += acc[l];
    return total;
}

double ebm_softplus_shift_diff_ref(const float *y, const float *w, float delta, int n)
{
    double total = 0.0;
    for (int i = 0; i < n; i++)
        total += ebm_softplus((double)y[i] + (double)delta * w[i]) - ebm_softplus(y[i]);
    return total;
}

EBM_CLONES
void ebm_sigmoid_scaled(const float *restrict x, float *restrict p, size_t n, float beta)
{
    for (size_t i = 0; i < n; i++) p[i] = 1.0f / (1.0f + exp_clamped(-beta * x[i]));
}

double ebm_softplus(double x)
{
    return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x)));
}
