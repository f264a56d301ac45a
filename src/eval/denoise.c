#include "ebm/denoise.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"

static ebm_status parse_rate(const char *spec, const char *text, double *p)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= 0.0 && v <= 1.0)) /* !(..) also refuses NaN */
        return EBM_FAIL(EBM_ERR_INPUT, "--corrupt '%s': P must be a number in [0, 1]", spec);
    *p = v;
    return EBM_OK;
}

ebm_status ebm_corruption_parse(const char *text, struct ebm_corruption *c)
{
    static const char sp[] = "saltpepper:", mr[] = "mask:random:";
    memset(c, 0, sizeof *c);
    if (!strncmp(text, sp, sizeof sp - 1)) {
        c->kind = EBM_CORRUPT_SALTPEPPER;
        return parse_rate(text, text + sizeof sp - 1, &c->p);
    }
    if (!strncmp(text, mr, sizeof mr - 1)) {
        c->kind = EBM_CORRUPT_MASK_RANDOM;
        return parse_rate(text, text + sizeof mr - 1, &c->p);
    }
    if (!strcmp(text, "mask:bottom-half")) {
        c->kind = EBM_CORRUPT_MASK_BOTTOM;
        return EBM_OK;
    }
    return EBM_FAIL(EBM_ERR_INPUT, "--corrupt '%s': expected saltpepper:P, mask:bottom-half or "
                    "mask:random:P", text);
}

void ebm_denoise_corrupt(const struct ebm_corruption *c, const float *x, int B, int V,
                         int64_t first, uint64_t seed, float *y, uint8_t *mask)
{
    int h = c->image_h > 0 ? c->image_h : V, w = c->image_h > 0 ? c->image_w : 1;
    int bottom = (h - h / 2) * w; /* first pixel of the bottom floor(h / 2) rows */
    for (int r = 0; r < B; r++) {
        const float *xr = x + (size_t)r * V;
        float *yr = y + (size_t)r * V;
        uint8_t *mr = mask + (size_t)r * V;
        if (c->kind == EBM_CORRUPT_MASK_BOTTOM) {
            for (int i = 0; i < V; i++) {
                mr[i] = i >= bottom;
                yr[i] = mr[i] ? 0.0f : xr[i];
            }
            continue;
        }
        struct ebm_rng rng;
        ebm_rng_init(&rng, seed, (uint32_t)(first + r), EBM_RNG_DENOISE_CORRUPT);
        /* One uniform u per pixel, drawn into y and replaced as it is read:
         * hit when u < p; a salt-and-pepper hit is 0 when u < p/2, so 0
         * and 1 each have probability p/2. */
        ebm_rng_uniform(&rng, yr, (size_t)V);
        for (int i = 0; i < V; i++) {
            double u = yr[i];
            int hit = u < c->p;
            mr[i] = (uint8_t)hit;
            if (c->kind == EBM_CORRUPT_SALTPEPPER)
                yr[i] = hit ? (u < 0.5 * c->p ? 0.0f : 1.0f) : xr[i];
            else
                yr[i] = hit ? 0.0f : xr[i];
        }
    }
}

double ebm_denoise_evidence(double p)
{
    /* p(y_i = x_i | x_i) = (1 - p) + p/2 (not hit, or hit and set to its
     * own value) and p(y_i != x_i | x_i) = p/2, so
     * log p(y_i | x_i = 1) / p(y_i | x_i = 0) = +-log((1 - p/2) / (p/2)). */
    return log((2.0 - p) / p);
}

int ebm_denoise_burn_in(int steps)
{
    return steps / 4;
}

ebm_status ebm_denoiser_init(struct ebm_denoiser *d, const struct rbm *m,
                             const struct ebm_corruption *c, enum ebm_denoise_method method,
                             int steps, uint64_t seed, int max_rows)
{
    memset(d, 0, sizeof *d);
    EBM_ASSERT(steps >= 1 && max_rows >= 1);
    size_t bv = (size_t)max_rows * m->n_visible, bh = (size_t)max_rows * m->n_hidden;
    d->m = m;
    d->c = *c;
    d->method = method;
    d->steps = steps;
    d->burn_in = method == EBM_DENOISE_GIBBS ? ebm_denoise_burn_in(steps) : 0;
    d->max_rows = max_rows;
    d->seed = seed;
    d->evidence = c->kind == EBM_CORRUPT_SALTPEPPER && c->p > 0.0
                      ? (float)ebm_denoise_evidence(c->p) : 0.0f;
    d->block = calloc(6 * bv + 2 * bh, sizeof *d->block);
    d->acc = calloc(bv, sizeof *d->acc);
    d->rng = calloc((size_t)max_rows, sizeof *d->rng);
    d->stage_mask = calloc(bv, 1);
    if (!d->block || !d->acc || !d->rng || !d->stage_mask) {
        ebm_denoiser_free(d);
        return EBM_FAIL(EBM_ERR_NOMEM, "out of memory for denoising %d rows of %d x %d",
                        max_rows, m->n_visible, m->n_hidden);
    }
    d->v = d->block;
    d->act = d->v + bv;
    d->ebias = d->act + bv;
    d->infer = d->ebias + bv;
    d->ph = d->infer + bv;
    d->h = d->ph + bh;
    d->stage_y = d->h + bh;
    d->stage_out = d->stage_y + bv;
    return EBM_OK;
}

void ebm_denoiser_free(struct ebm_denoiser *d)
{
    if (!d) return;
    free(d->block);
    free(d->acc);
    free(d->rng);
    free(d->stage_mask);
    memset(d, 0, sizeof *d);
}

/* The inferred pixels, their channel bias and their start. */
static void setup_rows(struct ebm_denoiser *d, const float *y, const uint8_t *mask, size_t n)
{
    bool sp = d->c.kind == EBM_CORRUPT_SALTPEPPER;
    for (size_t k = 0; k < n; k++) {
        bool infer = sp || mask[k];
        d->infer[k] = infer ? 1.0f : 0.0f;
        /* p(x | y) is the RBM with b + e, e_i = log p(y_i | 1) / p(y_i | 0). */
        d->ebias[k] = sp ? (2.0f * y[k] - 1.0f) * d->evidence : 0.0f;
        /* A missing pixel is unknown: 1/2 in the first up pass, so that it
         * pulls the hidden units neither way. */
        d->v[k] = infer && !sp ? 0.5f : y[k];
        d->acc[k] = 0.0;
    }
}

void ebm_denoise_rows(struct ebm_denoiser *d, const float *y, const uint8_t *mask, int B,
                      int64_t first, float *out)
{
    EBM_ASSERT(B >= 0 && B <= d->max_rows);
    const struct rbm *m = d->m;
    int V = m->n_visible, H = m->n_hidden;
    size_t n = (size_t)B * V;
    if (B == 0) return;
    if (d->c.kind == EBM_CORRUPT_SALTPEPPER && d->c.p == 0.0) {
        memcpy(out, y, sizeof *out * n); /* noiseless: y is x */
        return;
    }
    bool gibbs = d->method == EBM_DENOISE_GIBBS;
    setup_rows(d, y, mask, n);
    for (int r = 0; gibbs && r < B; r++)
        ebm_rng_init(&d->rng[r], d->seed, (uint32_t)(first + r), EBM_RNG_DENOISE_GIBBS);

    float *restrict v = d->v, *restrict act = d->act;
    const float *restrict infer = d->infer;
    for (int t = 1; t <= d->steps; t++) {
        /* The two GEMMs, B x V x H each, are the time; the rest is O(B V). */
        rbm_hidden_probs(m, v, B, d->ph);
        const float *h = d->ph;
        if (gibbs) {
            for (int r = 0; r < B; r++)
                ebm_bernoulli(d->ph + (size_t)r * H, d->h + (size_t)r * H, (size_t)H,
                              &d->rng[r]);
            h = d->h;
        }
        /* act = sigmoid(h W' + b + e): the channel bias rides in as the
         * GEMM's C (beta = 1), so it costs no extra pass. */
        memcpy(act, d->ebias, sizeof *act * n);
        ebm_gemm(false, true, B, V, H, 1.0f, h, H, m->W, H, 1.0f, act, V);
        ebm_sigmoid_bias(act, m->vbias, B, V);
        if (!gibbs) {
            for (size_t k = 0; k < n; k++) v[k] = infer[k] != 0.0f ? act[k] : v[k];
            continue;
        }
        /* Rao-Blackwell: average p(v_i = 1 | h, y), not the 0/1 samples. */
        if (t > d->burn_in)
            for (size_t k = 0; k < n; k++) d->acc[k] += act[k];
        for (int r = 0; r < B; r++)
            ebm_bernoulli(act + (size_t)r * V, v + (size_t)r * V, (size_t)V, &d->rng[r]);
        for (size_t k = 0; k < n; k++) v[k] = infer[k] != 0.0f ? v[k] : y[k];
    }
    double scale = 1.0 / (double)(d->steps - d->burn_in);
    for (size_t k = 0; k < n; k++)
        out[k] = infer[k] == 0.0f ? y[k] : gibbs ? (float)(d->acc[k] * scale) : v[k];
}

void ebm_denoise_shard(struct ebm_denoiser *d, const float *y, const uint8_t *mask, int64_t n,
                       int64_t first, float *out)
{
    int B = d->max_rows, V = d->m->n_visible;
    size_t row = sizeof(float) * (size_t)V;
    for (int64_t g0 = first / B * B; g0 < first + n; g0 += B) {
        /* Global rows [lo, hi) of batch [g0, g0 + B) are this shard's. */
        int64_t lo = g0 > first ? g0 : first, hi = g0 + B < first + n ? g0 + B : first + n;
        int at = (int)(lo - g0), rows = (int)(hi - lo);
        memset(d->stage_y, 0, row * (size_t)B);
        memset(d->stage_mask, 0, (size_t)V * B);
        memcpy(d->stage_y + (size_t)at * V, y + (size_t)(lo - first) * V, row * (size_t)rows);
        memcpy(d->stage_mask + (size_t)at * V, mask + (size_t)(lo - first) * V,
               (size_t)V * rows);
        ebm_denoise_rows(d, d->stage_y, d->stage_mask, B, g0, d->stage_out);
        memcpy(out + (size_t)(lo - first) * V, d->stage_out + (size_t)at * V,
               row * (size_t)rows);
    }
}

void ebm_denoise_errors(const float *x, const float *z, int64_t B, int V, double *mse,
                        double *wrong)
{
    for (int64_t r = 0; r < B; r++) {
        const float *xr = x + (size_t)r * V, *zr = z + (size_t)r * V;
        double se = 0.0;
        int64_t bad = 0;
        for (int i = 0; i < V; i++) {
            double dz = (double)zr[i] - xr[i];
            se += dz * dz;
            bad += (zr[i] > 0.5f) != (xr[i] > 0.5f);
        }
        mse[r] = se / V;
        wrong[r] = (double)bad / V;
    }
}

double ebm_psnr(double mse)
{
    return mse > 0.0 ? -10.0 * log10(mse) : INFINITY;
}
