/* Exact enumeration over every state of a tiny RBM, for tests. */
#ifndef EBM_TEST_ENUM_H
#define EBM_TEST_ENUM_H

#include <math.h>

#include "ebm/rbm.h"
#include "ebm/rng.h"

/* Bits of `code` as a {0,1} vector. */
static inline void enum_state(unsigned code, int n, float *x)
{
    for (int i = 0; i < n; i++) x[i] = (float)((code >> i) & 1u);
}

/* log sum_h exp(-E(v, h)) = -F(v), by summing over h. */
static inline double enum_neg_free_energy(const struct rbm *m, const float *v)
{
    float h[32];
    double mx = -INFINITY, terms[1 << 12];
    int H = m->n_hidden;
    for (unsigned c = 0; c < (1u << H); c++) {
        enum_state(c, H, h);
        terms[c] = -rbm_energy(m, v, h);
        if (terms[c] > mx) mx = terms[c];
    }
    double s = 0;
    for (unsigned c = 0; c < (1u << H); c++) s += exp(terms[c] - mx);
    return mx + log(s);
}

/* log Z over both layers. */
static inline double enum_log_z(const struct rbm *m)
{
    float v[32];
    double mx = -INFINITY, acc = 0;
    int V = m->n_visible;
    for (unsigned c = 0; c < (1u << V); c++) {
        enum_state(c, V, v);
        double t = enum_neg_free_energy(m, v);
        if (t > mx) {
            acc = acc * exp(mx - t) + 1.0;
            mx = t;
        } else {
            acc += exp(t - mx);
        }
    }
    return mx + log(acc);
}

/* A random tiny RBM with weights of scale sigma. */
static inline void enum_random_rbm(struct rbm *m, int V, int H, float sigma, uint64_t seed)
{
    rbm_init(m, V, H);
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, m->block, rbm_block_size(V, H));
    for (size_t i = 0; i < rbm_block_size(V, H); i++) m->block[i] *= sigma;
}

#endif
