/* Block Gibbs sampling with one stream per chain.
 * Where the time goes: per sweep two GEMMs over the whole block (B x V x H
 * each, in rbm_hidden_probs / rbm_visible_probs); the per-row Bernoulli
 * draws are O(B (V + H)). Drawing row by row from the row's own stream,
 * rather than one stream for the block, is what makes a chain's path a
 * function of (seed, global chain index) alone. */
#include "ebm/gibbs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"

ebm_status ebm_gibbs_init(struct ebm_gibbs *g, int n_visible, int n_hidden, int rows,
                          int64_t first_chain, uint64_t seed)
{
    memset(g, 0, sizeof *g);
    if (n_visible <= 0 || n_hidden <= 0 || rows < 0)
        return EBM_FAIL(EBM_ERR_INPUT, "Gibbs sampler: sizes must be positive, got V = %d, "
                        "H = %d, %d chains", n_visible, n_hidden, rows);
    /* The chain index becomes the stream's 32-bit substream word; beyond it
     * two chains would share a stream. */
    if (first_chain < 0 || first_chain + rows > ((int64_t)1 << 32))
        return EBM_FAIL(EBM_ERR_INPUT, "Gibbs sampler: chains %lld..%lld are outside "
                        "0..2^32-1", (long long)first_chain,
                        (long long)(first_chain + rows - 1));
    g->rows = rows;
    g->n_visible = n_visible;
    g->n_hidden = n_hidden;
    g->first_chain = first_chain;
    size_t B = (size_t)rows, V = (size_t)n_visible, H = (size_t)n_hidden;
    /* ph | h | pv in one block, like the model's parameters. */
    g->ph = calloc(B * (2 * H + V) + 1, sizeof *g->ph);
    g->rng = calloc(B + 1, sizeof *g->rng);
    if (!g->ph || !g->rng) {
        ebm_gibbs_free(g);
        return EBM_FAIL(EBM_ERR_NOMEM, "Gibbs sampler: out of memory for %d chains of "
                        "%d x %d", rows, n_visible, n_hidden);
    }
    g->h = g->ph + B * H;
    g->pv = g->h + B * H;
    for (int r = 0; r < rows; r++)
        ebm_rng_init(&g->rng[r], seed, (uint32_t)(first_chain + r), EBM_RNG_GIBBS);
    return EBM_OK;
}

void ebm_gibbs_free(struct ebm_gibbs *g)
{
    if (!g) return;
    free(g->ph);
    free(g->rng);
    memset(g, 0, sizeof *g);
}

void ebm_gibbs_random_init(struct ebm_gibbs *g, float *v)
{
    if (g->rows == 0) return;
    size_t V = (size_t)g->n_visible;
    /* pv (B * V floats) is unused before the first sweep; its first row
     * holds the probabilities, 0.5 for every unit. */
    float *half = g->pv;
    for (size_t i = 0; i < V; i++) half[i] = 0.5f;
    for (int r = 0; r < g->rows; r++)
        ebm_bernoulli(half, v + (size_t)r * V, V, &g->rng[r]);
}

void ebm_gibbs_random_init_for(struct ebm_gibbs *g, const struct rbm *m, float *v)
{
    size_t V = (size_t)g->n_visible;
    if (m->vis.type != EBM_UNIT_GAUSSIAN) {
        ebm_gibbs_random_init(g, v);
        if (m->vis.type == EBM_UNIT_SPIN)
            for (size_t e = 0; e < (size_t)g->rows * V; e++) v[e] = 2.0f * v[e] - 1.0f;
        return;
    }
    /* N(b, sigma^2): the visible layer's own distribution at W = 0. */
    for (int r = 0; r < g->rows; r++) {
        float *row = v + (size_t)r * V;
        ebm_rng_normal(&g->rng[r], row, V);
        for (size_t i = 0; i < V; i++)
            row[i] = m->vbias[i] + expf(m->log_sigma[i]) * row[i];
    }
}

/* Any unit types: the layers' inputs, then each chain's draws from its own
 * stream through the unit types (ebm/units.h). */
static void run_typed(struct ebm_gibbs *g, const struct rbm *m, float *v, int steps,
                      float *pv_out)
{
    int B = g->rows, V = g->n_visible, H = g->n_hidden;
    for (int s = 0; s < steps; s++) {
        rbm_hidden_input(m, v, B, g->ph);
        for (int r = 0; r < B; r++)
            ebm_units_sample(&m->hid, g->ph + (size_t)r * H, m->hbias, 1, g->h + (size_t)r * H,
                             &g->rng[r]);
        float *pv = (s == steps - 1 && pv_out) ? pv_out : g->pv;
        ebm_gemm(false, true, B, V, H, 1.0f, g->h, H, m->W, H, 0.0f, pv, V);
        for (int r = 0; r < B; r++)
            ebm_units_sample(&m->vis, pv + (size_t)r * V, m->vbias, 1, v + (size_t)r * V,
                             &g->rng[r]);
    }
}

void ebm_gibbs_run(struct ebm_gibbs *g, const struct rbm *m, float *v, int steps,
                   float *pv_out)
{
    EBM_ASSERT(m->n_visible == g->n_visible && m->n_hidden == g->n_hidden);
    int B = g->rows;
    size_t V = (size_t)g->n_visible, H = (size_t)g->n_hidden;
    if (B == 0) return; /* a rank without chains; BLAS wants lda >= 1 rows anyway */
    if (!rbm_is_binary(m)) {
        run_typed(g, m, v, steps, pv_out);
        return;
    }
    for (int s = 0; s < steps; s++) {
        rbm_hidden_probs(m, v, B, g->ph);
        for (int r = 0; r < B; r++)
            ebm_bernoulli(g->ph + r * H, g->h + r * H, H, &g->rng[r]);
        /* The last sweep's means go straight to the caller's buffer. */
        float *pv = (s == steps - 1 && pv_out) ? pv_out : g->pv;
        rbm_visible_probs(m, g->h, B, pv);
        for (int r = 0; r < B; r++)
            ebm_bernoulli(pv + r * V, v + r * V, V, &g->rng[r]);
    }
}
