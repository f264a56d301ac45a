/* Anomaly scores of an RBM (`ebm score`, docs/anomaly.md): per-row free
 * energy and reconstruction error, and the two summaries of a score, the
 * AUROC against known anomalies and the percentile among reference rows.
 * No MPI and no I/O here. Dimension letters: B = rows, V = visible, H = hidden. */
#ifndef EBM_ANOMALY_H
#define EBM_ANOMALY_H

#include <stddef.h>
#include <stdint.h>

#include "ebm/error.h"
#include "ebm/rbm.h"

/* Floats of scratch ebm_anomaly_scores needs for B rows: B * (H + V). */
size_t ebm_anomaly_scratch_floats(const struct rbm *m, int B);

/* For B rows v (B, V): fe[r] = F(v_r), which is -log p(v_r) - log Z, so a
 * higher F is a less probable row; recon[r] = sum_i (v_ri - pv_ri)^2 with
 * pv = p(v = 1 | p(h | v_r)), the mean-field reconstruction that `ebm
 * eval` averages. scratch: ebm_anomaly_scratch_floats(m, B). */
void ebm_anomaly_scores(const struct rbm *m, const float *v, int B, double *fe, double *recon,
                        float *scratch);

/* The area under the ROC curve of score for separating the rows with
 * positive[i] != 0 (anomalies) from the others, where a higher score
 * means "more anomalous": the probability that a random positive scores
 * above a random negative, ties counting 1/2. Computed by the rank-sum
 * (Mann-Whitney U) formula with mid-ranks for ties, exactly up to one
 * final rounding: O(n log n), allocates n pairs. Fails with
 * EBM_ERR_INPUT when there is no positive or no negative row (the AUROC
 * is undefined) or a score is NaN; EBM_ERR_NOMEM. */
ebm_status ebm_anomaly_auroc(const double *score, const int *positive, int64_t n,
                             double *auroc);
/* The same by the definition, over all positive-negative pairs: O(n^2). */
ebm_status ebm_anomaly_auroc_ref(const double *score, const int *positive, int64_t n,
                                 double *auroc);

/* out[i] = 100 * #{k : ref[k] < x[i]} / n_ref: the percentage of the
 * reference scores strictly below x[i]. A tie does not count as below, so
 * a row equal to every reference score gets 0 and only a row above all of
 * them gets 100. Sorts a copy of ref: O((n_ref + n) log n_ref). Fails
 * with EBM_ERR_INPUT when n_ref is 0 or a value is NaN; EBM_ERR_NOMEM. */
ebm_status ebm_anomaly_percentile(const double *ref, int64_t n_ref, const double *x, int64_t n,
                                  double *out);
/* The same by counting, O(n_ref * n). */
ebm_status ebm_anomaly_percentile_ref(const double *ref, int64_t n_ref, const double *x,
                                      int64_t n, double *out);

#endif
