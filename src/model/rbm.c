#include "ebm/rbm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"

size_t rbm_block_size(int n_visible, int n_hidden)
{
    return (size_t)n_visible * n_hidden + (size_t)n_visible + (size_t)n_hidden;
}

void rbm_view(struct rbm *m, int n_visible, int n_hidden, float *block)
{
    m->n_visible = n_visible;
    m->n_hidden = n_hidden;
    m->block = block;
    m->W = block;
    m->vbias = block + (size_t)n_visible * n_hidden;
    m->hbias = m->vbias + n_visible;
    m->owns_block = 0;
}

ebm_status rbm_init(struct rbm *m, int n_visible, int n_hidden)
{
    memset(m, 0, sizeof *m);
    if (n_visible <= 0 || n_hidden <= 0)
        return EBM_FAIL(EBM_ERR_INPUT, "RBM sizes must be positive, got %d x %d",
                        n_visible, n_hidden);
    float *block;
    EBM_ALLOC(block, rbm_block_size(n_visible, n_hidden));
    rbm_view(m, n_visible, n_hidden, block);
    m->owns_block = 1;
    return EBM_OK;
}

void rbm_free(struct rbm *m)
{
    if (!m) return;
    if (m->owns_block) free(m->block);
    memset(m, 0, sizeof *m);
}

void rbm_init_params(struct rbm *m, float sigma, const float *visible_marginals,
                     struct ebm_rng *rng)
{
    size_t nw = (size_t)m->n_visible * m->n_hidden;
    ebm_rng_normal(rng, m->W, nw);
    for (size_t i = 0; i < nw; i++) m->W[i] *= sigma;
    for (int i = 0; i < m->n_visible; i++) {
        double p = visible_marginals ? visible_marginals[i] : 0.5;
        p = p < 1e-3 ? 1e-3 : (p > 1.0 - 1e-3 ? 1.0 - 1e-3 : p);
        m->vbias[i] = (float)log(p / (1.0 - p));
    }
    memset(m->hbias, 0, sizeof(float) * (size_t)m->n_hidden);
}

void rbm_hidden_probs(const struct rbm *m, const float *v, int B, float *ph)
{
    int V = m->n_visible, H = m->n_hidden;
    ebm_gemm(false, false, B, H, V, 1.0f, v, V, m->W, H, 0.0f, ph, H);
    ebm_sigmoid_bias(ph, m->hbias, B, H);
}

void rbm_hidden_sample(const struct rbm *m, const float *v, int B, float *ph, float *h,
                       struct ebm_rng *rng)
{
    int V = m->n_visible, H = m->n_hidden;
    ebm_gemm(false, false, B, H, V, 1.0f, v, V, m->W, H, 0.0f, ph, H);
    ebm_sigmoid_bias_sample(ph, h, m->hbias, B, H, rng);
}

void rbm_visible_probs(const struct rbm *m, const float *h, int B, float *pv)
{
    int V = m->n_visible, H = m->n_hidden;
    ebm_gemm(false, true, B, V, H, 1.0f, h, H, m->W, H, 0.0f, pv, V);
    ebm_sigmoid_bias(pv, m->vbias, B, V);
}

void rbm_visible_sample(const struct rbm *m, const float *h, int B, float *pv, float *v,
                        struct ebm_rng *rng)
{
    int V = m->n_visible, H = m->n_hidden;
    ebm_gemm(false, true, B, V, H, 1.0f, h, H, m->W, H, 0.0f, pv, V);
    ebm_sigmoid_bias_sample(pv, v, m->vbias, B, V, rng);
}

void rbm_free_energy(const struct rbm *m, const float *v, int B, float *scratch, double *out)
{
    int V = m->n_visible, H = m->n_hidden;
    ebm_gemm(false, false, B, H, V, 1.0f, v, V, m->W, H, 0.0f, scratch, H);
    for (int r = 0; r < B; r++) {
        const float *vr = v + (size_t)r * V;
        const float *xr = scratch + (size_t)r * H;
        double f = 0.0;
        for (int i = 0; i < V; i++) f -= (double)m->vbias[i] * vr[i];
        for (int j = 0; j < H; j++) f -= ebm_softplus((double)xr[j] + m->hbias[j]);
        out[r] = f;
    }
}

double rbm_energy(const struct rbm *m, const float *v, const float *h)
{
    int V = m->n_visible, H = m->n_hidden;
    double e = 0.0;
    for (int i = 0; i < V; i++) {
        if (v[i] == 0.0f) continue;
        double row = 0.0;
        for (int j = 0; j < H; j++) row += (double)m->W[(size_t)i * H + j] * h[j];
        e -= v[i] * row + (double)m->vbias[i] * v[i];
    }
    for (int j = 0; j < H; j++) e -= (double)m->hbias[j] * h[j];
    return e;
}
