/* Tiny RBMs with other unit types (spin, Gaussian) and brute-force sums over
 * their states, for tests of the typed paths against definitions. */
#ifndef EBM_TEST_TYPED_H
#define EBM_TEST_TYPED_H

#include <math.h>

#include "ebm/rbm.h"
#include "ebm/rng.h"

/* Bits of code as states of a discrete layer: 1 is on, 0 is off (0 or -1). */
static inline void typed_state(unsigned code, int n, enum ebm_unit_type type, float *x)
{
    float off = type == EBM_UNIT_SPIN ? -1.0f : 0.0f;
    for (int i = 0; i < n; i++) x[i] = (code >> i) & 1u ? 1.0f : off;
}

/* A random typed RBM: weights and biases N(0, sigma^2), log sigma uniform
 * in [-0.4, 0.4] for Gaussian visible units. */
static inline void typed_random_rbm(struct rbm *m, int V, int H, enum ebm_unit_type vis,
                                    enum ebm_unit_type hid, float sigma, uint64_t seed)
{
    rbm_init_typed(m, V, H, vis, hid);
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    size_t n = rbm_block_size(V, H);
    ebm_rng_normal(&r, m->block, n);
    for (size_t i = 0; i < n; i++) m->block[i] *= sigma;
    if (m->log_sigma) {
        ebm_rng_uniform(&r, m->log_sigma, (size_t)V);
        for (int i = 0; i < V; i++) m->log_sigma[i] = 0.8f * m->log_sigma[i] - 0.4f;
    }
}

/* -F(v) = log sum_h exp(-E(v, h)), h over every hidden state (H <= 16). */
static inline double typed_neg_free_energy(const struct rbm *m, const float *v)
{
    float h[32];
    double mx = -INFINITY, s = 0.0;
    int H = m->n_hidden;
    for (unsigned c = 0; c < (1u << H); c++) {
        typed_state(c, H, m->hid.type, h);
        double t = -rbm_energy(m, v, h);
        if (t > mx) {
            s = s * exp(mx - t) + 1.0;
            mx = t;
        } else {
            s += exp(t - mx);
        }
    }
    return mx + log(s);
}

/* log Z over both (discrete) layers, V + H <= 24. */
static inline double typed_log_z(const struct rbm *m)
{
    float v[32];
    double mx = -INFINITY, s = 0.0;
    int V = m->n_visible;
    for (unsigned c = 0; c < (1u << V); c++) {
        typed_state(c, V, m->vis.type, v);
        double t = typed_neg_free_energy(m, v);
        if (t > mx) {
            s = s * exp(mx - t) + 1.0;
            mx = t;
        } else {
            s += exp(t - mx);
        }
    }
    return mx + log(s);
}

/* log Z of a Gaussian-visible RBM with V = 2, by the midpoint rule for
 * the integral of exp(-F(v)) over a grid of n x n cells spanning
 * b_i +- 14 sigma_i + |W_i.| (beyond it exp(-F) < e^-90 of its peak). The
 * integrand is smooth and decays like a Gaussian, so the rule converges
 * faster than any power of the cell size. */
static inline double typed_log_z_gaussian2(const struct rbm *m, int n)
{
    int H = m->n_hidden;
    double lo[2], step[2];
    for (int i = 0; i < 2; i++) {
        double reach = 0.0;
        for (int j = 0; j < H; j++) reach += fabs((double)m->W[i * H + j]);
        double half = 14.0 * exp((double)m->log_sigma[i]) + reach;
        lo[i] = m->vbias[i] - half;
        step[i] = 2.0 * half / n;
    }
    enum { ROWS = 256 };
    float v[ROWS * 2], in[ROWS * 32];
    double F[ROWS], mx = -INFINITY, s = 0.0;
    for (long k0 = 0; k0 < (long)n * n; k0 += ROWS) {
        int rows = (int)((long)n * n - k0 < ROWS ? (long)n * n - k0 : ROWS);
        for (int r = 0; r < rows; r++) {
            long k = k0 + r;
            v[2 * r] = (float)(lo[0] + (k / n + 0.5) * step[0]);
            v[2 * r + 1] = (float)(lo[1] + (k % n + 0.5) * step[1]);
        }
        rbm_free_energy(m, v, rows, in, F);
        for (int r = 0; r < rows; r++) {
            double t = -F[r];
            if (t > mx) {
                s = s * exp(mx - t) + 1.0;
                mx = t;
            } else {
                s += exp(t - mx);
            }
        }
    }
    return mx + log(s) + log(step[0] * step[1]);
}

#endif
