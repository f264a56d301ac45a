#include "ebm/cd.h"

#include <string.h>

#include "ebm/kernels.h"

void cd_negative_phase(const struct rbm *m, float *v_neg, int C, int k, const float *ph_start,
                       float *ph_neg, float *h_neg, float *pv_neg, struct ebm_rng *rng)
{
    size_t nh = (size_t)C * m->n_hidden;
    for (int t = 0; t < k; t++) {
        if (t == 0 && ph_start && m->hid.type == EBM_UNIT_SPIN) {
            /* A spin with mean mu is +1 with probability (1 + mu) / 2;
             * ph_neg is free until the last line. */
            for (size_t e = 0; e < nh; e++) ph_neg[e] = 0.5f * (1.0f + ph_start[e]);
            ebm_bernoulli(ph_neg, h_neg, nh, rng);
            for (size_t e = 0; e < nh; e++) h_neg[e] = 2.0f * h_neg[e] - 1.0f;
        } else if (t == 0 && ph_start)
            ebm_bernoulli(ph_start, h_neg, nh, rng);
        else
            rbm_hidden_sample(m, v_neg, C, ph_neg, h_neg, rng);
        rbm_visible_sample(m, h_neg, C, pv_neg, v_neg, rng);
    }
    rbm_hidden_probs(m, v_neg, C, ph_neg);
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
