#include "ebm/cd.h"

#include <string.h>

#include "ebm/kernels.h"

void cd_negative_phase(const struct rbm *m, float *v_neg, int C, int k, const float *ph_start,
                       float *ph_neg, float *h_neg, float *pv_neg, struct ebm_rng *rng)
{
    for (int t = 0; t < k; t++) {
        if (t == 0 && ph_start)
            ebm_bernoulli(ph_start, h_neg, (size_t)C * m->n_hidden, rng);
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
