#include "ebm/cd.h"

#include <string.h>

#include "ebm/kernels.h"

struct ebm_rng_rows cd_keys(uint64_t seed, int64_t step, int64_t first_row, int pass)
{
    return (struct ebm_rng_rows){ .seed = seed, .purpose = EBM_RNG_CD | (uint32_t)pass << 8,
                                  .first_row = (uint32_t)first_row, .draw = (uint32_t)step };
}

/* h_neg from ph_start = p(h | v_neg): a spin with mean mu is +1 with
 * probability (1 + mu) / 2, so ph_neg holds those probabilities first
 * (it is free until the phase's last line). */
static void sample_start(const struct rbm *m, const float *ph_start, int C, float *ph_neg,
                         float *h_neg, struct ebm_rng *rng, const struct ebm_rng_rows *keys)
{
    int H = m->n_hidden;
    const float *p = ph_start;
    if (m->hid.type == EBM_UNIT_SPIN) {
        for (size_t e = 0; e < (size_t)C * H; e++) ph_neg[e] = 0.5f * (1.0f + ph_start[e]);
        p = ph_neg;
    }
    if (!keys) {
        ebm_bernoulli(p, h_neg, (size_t)C * H, rng);
    } else {
        for (int r = 0; r < C; r++) {
            struct ebm_rng row;
            ebm_rng_row(keys, r, &row);
            ebm_bernoulli(p + (size_t)r * H, h_neg + (size_t)r * H, (size_t)H, &row);
        }
    }
    if (m->hid.type == EBM_UNIT_SPIN)
        for (size_t e = 0; e < (size_t)C * H; e++) h_neg[e] = 2.0f * h_neg[e] - 1.0f;
}

/* The phase's draws: from each row's keyed stream when key is given (pass
 * 2t the hidden layer of Gibbs step t, 2t + 1 the visible), else from rng
 * in sequence. */
static void negative_phase(const struct rbm *m, float *v_neg, int C, int k, const float *ph_start,
                           float *ph_neg, float *h_neg, float *pv_neg, struct ebm_rng *rng,
                           const struct cd_key *key)
{
    for (int t = 0; t < k; t++) {
        struct ebm_rng_rows hk, vk;
        if (key) {
            hk = cd_keys(key->seed, key->step, key->first_row, 2 * t);
            vk = cd_keys(key->seed, key->step, key->first_row, 2 * t + 1);
        }
        if (t == 0 && ph_start)
            sample_start(m, ph_start, C, ph_neg, h_neg, rng, key ? &hk : NULL);
        else if (key)
            rbm_hidden_sample_rows(m, v_neg, C, ph_neg, h_neg, &hk);
        else
            rbm_hidden_sample(m, v_neg, C, ph_neg, h_neg, rng);
        if (key) rbm_visible_sample_rows(m, h_neg, C, pv_neg, v_neg, &vk);
        else rbm_visible_sample(m, h_neg, C, pv_neg, v_neg, rng);
    }
    rbm_hidden_probs(m, v_neg, C, ph_neg);
}

void cd_negative_phase(const struct rbm *m, float *v_neg, int C, int k, const float *ph_start,
                       float *ph_neg, float *h_neg, float *pv_neg, struct ebm_rng *rng)
{
    negative_phase(m, v_neg, C, k, ph_start, ph_neg, h_neg, pv_neg, rng, NULL);
}

void cd_negative_phase_keyed(const struct rbm *m, float *v_neg, int C, int k,
                             const float *ph_start, float *ph_neg, float *h_neg, float *pv_neg,
                             const struct cd_key *key)
{
    negative_phase(m, v_neg, C, k, ph_start, ph_neg, h_neg, pv_neg, NULL, key);
}

typedef void gemm_fn(bool, bool, int, int, int, float, const float *, int, const float *,
                     int, float, float *, int);

static void statistics(gemm_fn *gemm, const float *v_data, const float *ph_data, int B,
                       const float *v_neg, const float *ph_neg, int C, float inv_nd,
                       float inv_nm, struct rbm *grad, float *hmean)
{
    int V = grad->n_visible, H = grad->n_hidden;
    /* The two outer-product sums are the other two GEMMs of a step. */
    gemm(true, false, V, H, B, inv_nd, v_data, V, ph_data, H, 0.0f, grad->W, H);
    gemm(true, false, V, H, C, -inv_nm, v_neg, V, ph_neg, H, 1.0f, grad->W, H);
    memset(grad->vbias, 0, sizeof(float) * (size_t)V);
    memset(grad->hbias, 0, sizeof(float) * (size_t)H);
    memset(hmean, 0, sizeof(float) * (size_t)H);
    ebm_add_column_sums(v_data, B, V, inv_nd, grad->vbias);
    ebm_add_column_sums(v_neg, C, V, -inv_nm, grad->vbias);
    ebm_add_column_sums(ph_data, B, H, inv_nd, hmean);
    for (int j = 0; j < H; j++) grad->hbias[j] = hmean[j];
    ebm_add_column_sums(ph_neg, C, H, -inv_nm, grad->hbias);
}

void cd_statistics(const float *v_data, const float *ph_data, int B,
                   const float *v_neg, const float *ph_neg, int C,
                   float inv_nd, float inv_nm, struct rbm *grad, float *hmean)
{
    statistics(ebm_gemm, v_data, ph_data, B, v_neg, ph_neg, C, inv_nd, inv_nm, grad, hmean);
}

void cd_statistics_ref(const float *v_data, const float *ph_data, int B,
                       const float *v_neg, const float *ph_neg, int C,
                       float inv_nd, float inv_nm, struct rbm *grad, float *hmean)
{
    statistics(ebm_gemm_ref, v_data, ph_data, B, v_neg, ph_neg, C, inv_nd, inv_nm, grad,
               hmean);
}

void cd_log_sigma_statistics(const struct rbm *m, const float *v_data, int B,
                             const float *v_neg, int C, float inv_nd, float inv_nm,
                             struct rbm *grad)
{
    int V = m->n_visible, H = m->n_hidden;
    EBM_ASSERT(m->log_sigma && grad->log_sigma);
    memset(grad->log_sigma, 0, sizeof(float) * (size_t)V);
    /* The log-likelihood gradient is -<dE/dlog sigma>_data + <...>_model. */
    ebm_units_dlogsigma(&m->vis, v_data, m->vbias, NULL, B, -inv_nd, grad->log_sigma);
    ebm_units_dlogsigma(&m->vis, v_neg, m->vbias, NULL, C, inv_nm, grad->log_sigma);
    /* The coupling term 2 x_i (Wh)_i / sigma_i^2, summed over rows, is
     * 2 sum_j W_ij G_ij with G = s(x)'h the weight statistic; grad->W holds
     * inv_nd G_data - inv_nm G_model, so that phase difference is one dot
     * product per row of W (no (B, V) product needed). */
    for (int i = 0; i < V; i++) {
        double dot = 0.0;
        for (int j = 0; j < H; j++)
            dot += (double)m->W[(size_t)i * H + j] * grad->W[(size_t)i * H + j];
        grad->log_sigma[i] -= (float)(2.0 * dot);
    }
}
