/* Contrastive-divergence statistics for the RBM (Hinton 2002; persistent
 * chains: Tieleman 2008). The gradient of the mean log-likelihood is
 *   dW = <v h'>_data - <v h'>_model,  db = <v>_data - <v>_model,
 *   dc = <h>_data - <h>_model,
 * with h replaced by p(h | v) in both terms (lower variance, same mean). */
#ifndef EBM_CD_H
#define EBM_CD_H

#include "ebm/rbm.h"
#include "ebm/rng.h"

/* Advances C chains (v_neg, (C, V)) by k block-Gibbs steps, then leaves
 * ph_neg = p(h | v_neg). When ph_start is given it must equal
 * p(h | v_neg) under the current parameters, and saves one product
 * (CD-k starting at the data reuses the positive phase). h_neg and pv_neg
 * are scratch, (C, H) and (C, V). */
void cd_negative_phase(const struct rbm *m, float *v_neg, int C, int k, const float *ph_start,
                       float *ph_neg, float *h_neg, float *pv_neg, struct ebm_rng *rng);

/* Training's keyed sampling: pass d of the step `step` (pass 2t samples
 * the hidden layer of Gibbs step t, pass 2t + 1 the visible layer; d below
 * 2^24) draws for row r of a batch from the keyed stream of
 * global row first_row + r (ebm_rng_row) of purpose EBM_RNG_CD | d << 8
 * and draw `step` (mod 2^32). A batch row's global index is
 * replica · B + r, a chain's replica · C + c, so any layout (data-parallel
 * ranks or process grids, ebm/grid_rbm.h) draws the same numbers for the
 * same unit of the same row. */
struct cd_key {
    uint64_t seed;
    int64_t step, first_row;
};
struct ebm_rng_rows cd_keys(uint64_t seed, int64_t step, int64_t first_row, int pass);
/* cd_negative_phase with the keyed numbers above instead of a stream. */
void cd_negative_phase_keyed(const struct rbm *m, float *v_neg, int C, int k,
                             const float *ph_start, float *ph_neg, float *h_neg, float *pv_neg,
                             const struct cd_key *key);

/* grad <- inv_nd * sum_data(v ph') - inv_nm * sum_chains(v ph') (and the
 * bias terms likewise); hmean <- inv_nd * sum_data ph. With inv_nd = 1/(P B)
 * and inv_nm = 1/(P C), summing every rank's grad gives the global mean. */
void cd_statistics(const float *v_data, const float *ph_data, int B,
                   const float *v_neg, const float *ph_neg, int C,
                   float inv_nd, float inv_nm, struct rbm *grad, float *hmean);
/* The same with reference kernels, for tests. */
void cd_statistics_ref(const float *v_data, const float *ph_data, int B,
                       const float *v_neg, const float *ph_neg, int C,
                       float inv_nd, float inv_nm, struct rbm *grad, float *hmean);

/* Gaussian visible units (Cho, Ilin & Raiko 2011): call cd_statistics with
 * the coupled rows s(v) = v / sigma^2 (ebm_units_coupling) in place of v,
 * which gives the W and vbias gradients (the b / sigma^2 part of the column
 * sums cancels between the phases), then this for log sigma, with v the
 * plain rows and grad->W already filled:
 *   grad->log_sigma <- -inv_nd sum_data dF/dlog sigma + inv_nm sum_chains dE/dlog sigma. */
void cd_log_sigma_statistics(const struct rbm *m, const float *v_data, int B,
                             const float *v_neg, int C, float inv_nd, float inv_nm,
                             struct rbm *grad);

#endif
