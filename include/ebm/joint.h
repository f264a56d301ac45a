/* Classification by a joint RBM over [x, y], y one softmax group of K label
 * units (rbm_set_labels): p(y | x) is exact, because the hidden units sum
 * out in closed form for each of the K labels (Larochelle & Bengio 2008):
 *   log p(y = k | x) = -F(x, e_k) - log sum_k' exp(-F(x, e_k')),
 *   -F(x, e_k) = b'x + b_y[k] + sum_j softplus(c_j + (xW_x)_j + W_y[k, j])
 * (log 2cosh in place of softplus for spin hidden units).
 * Dimension letters: B rows, V visible units of which K labels, H hidden. */
#ifndef EBM_JOINT_H
#define EBM_JOINT_H

#include <stdint.h>

#include "ebm/rbm.h"

/* logp (B, K) <- log p(y = k | x) for B rows x (B, V - K); scratch holds
 * B * H floats. One GEMM for x's hidden input, then K * H softplus per row. */
void rbm_label_log_probs(const struct rbm *m, const float *x, int B, float *scratch,
                         double *logp);
/* pred (B) <- argmax_k p(y = k | x), the lowest k on a tie. */
void rbm_label_predict(const struct rbm *m, const float *x, int B, float *scratch,
                       double *logp, int32_t *pred);

#endif
