/* The DBN stack: one parameter block, RBM views into it, and the two
 * passes every DBN command needs. Where the time goes: one GEMM per layer
 * per pass (B x n_k x n_{k+1}, in rbm_hidden_probs / rbm_visible_probs);
 * the per-row Bernoulli draws of the down pass are O(B n_k). */
#include "ebm/dbn.h"

#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"

ebm_status dbn_init(struct dbn *d, int n_layers, const int *sizes)
{
    memset(d, 0, sizeof *d);
    if (n_layers < 1 || n_layers > EBM_DBN_MAX_LAYERS)
        return EBM_FAIL(EBM_ERR_INPUT, "a DBN needs 1 to %d RBMs, got %d", EBM_DBN_MAX_LAYERS,
                        n_layers);
    size_t total = 0;
    for (int k = 0; k <= n_layers; k++) {
        if (sizes[k] <= 0)
            return EBM_FAIL(EBM_ERR_INPUT, "DBN layer %d has %d units; sizes must be positive",
                            k, sizes[k]);
        if (k < n_layers) total += rbm_block_size(sizes[k], sizes[k + 1]);
    }
    d->sizes = calloc((size_t)n_layers + 1, sizeof *d->sizes);
    d->rbm = calloc((size_t)n_layers, sizeof *d->rbm);
    d->block = calloc(total, sizeof *d->block);
    if (!d->sizes || !d->rbm || !d->block) {
        dbn_free(d);
        return EBM_FAIL(EBM_ERR_NOMEM, "out of memory for a DBN of %zu parameters", total);
    }
    d->n_layers = n_layers;
    memcpy(d->sizes, sizes, sizeof *sizes * ((size_t)n_layers + 1));
    float *p = d->block;
    for (int k = 0; k < n_layers; k++) {
        rbm_view(&d->rbm[k], sizes[k], sizes[k + 1], p);
        p += rbm_block_size(sizes[k], sizes[k + 1]);
    }
    return EBM_OK;
}

void dbn_free(struct dbn *d)
{
    if (!d) return;
    free(d->sizes);
    free(d->rbm);
    free(d->block);
    memset(d, 0, sizeof *d);
}

size_t dbn_parameter_count(const struct dbn *d)
{
    size_t n = 0;
    for (int k = 0; k < d->n_layers; k++) n += rbm_block_size(d->sizes[k], d->sizes[k + 1]);
    return n;
}

/* The widest intermediate layer, n_1 .. n_{L-1}. */
static size_t inner_width(const struct dbn *d)
{
    int w = 1;
    for (int k = 1; k < d->n_layers; k++)
        if (d->sizes[k] > w) w = d->sizes[k];
    return (size_t)w;
}

size_t dbn_scratch_floats(const struct dbn *d, int B)
{
    return 3 * (size_t)(B > 0 ? B : 1) * inner_width(d);
}

void dbn_up_probs(const struct dbn *d, const float *v, int B, int k, float *out,
                  float *scratch)
{
    EBM_ASSERT(k >= 0 && k <= d->n_layers);
    if (k == 0) {
        memcpy(out, v, sizeof *out * (size_t)B * d->sizes[0]);
        return;
    }
    if (B == 0) return;
    /* Layers 1 .. k-1 alternate between two scratch halves; layer k lands
     * in out directly. */
    float *buf[2] = { scratch, scratch + (size_t)B * inner_width(d) };
    const float *in = v;
    for (int j = 0; j < k; j++) {
        float *dst = j == k - 1 ? out : buf[j % 2];
        rbm_hidden_probs(&d->rbm[j], in, B, dst);
        in = dst;
    }
}

void dbn_down_sample(const struct dbn *d, int j, const float *h_j, int B, struct ebm_rng *rng,
                     float *pv, float *scratch)
{
    EBM_ASSERT(j >= 1 && j <= d->n_layers - 1);
    if (B == 0) return;
    size_t stride = (size_t)B * inner_width(d);
    float *prob = scratch, *buf[2] = { scratch + stride, scratch + 2 * stride };
    const float *h = h_j;
    for (int i = j; i >= 2; i--) {
        /* h_{i-1} ~ p(h_{i-1} | h_i): RBM i-1's visible conditional. */
        const struct rbm *m = &d->rbm[i - 1];
        float *dst = buf[i % 2];
        size_t n = (size_t)m->n_visible;
        rbm_visible_probs(m, h, B, prob);
        for (int r = 0; r < B; r++) ebm_bernoulli(prob + r * n, dst + r * n, n, &rng[r]);
        h = dst;
    }
    rbm_visible_probs(&d->rbm[0], h, B, pv);
}
