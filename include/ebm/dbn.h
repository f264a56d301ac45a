/* Deep Belief Network (Hinton, Osindero & Teh 2006) as a stack of RBMs.
 * Layer sizes n_0 (visible) .. n_L; RBM k has n_k visible and n_{k+1}
 * hidden units. The top RBM (k = L-1) is an undirected joint over
 * (h_{L-1}, h_L); below it the layers are directed sigmoid belief nets,
 *   p(h_k = 1 | h_{k+1}) = sigmoid(W_k h_{k+1} + b_k),   h_0 = v,
 * and recognition runs upward, q(h_{k+1} = 1 | h_k) = sigmoid(h_k W_k + c_k).
 * Dimension letters: B = batch rows. No MPI and no I/O here. */
#ifndef EBM_DBN_H
#define EBM_DBN_H

#include <stddef.h>

#include "ebm/error.h"
#include "ebm/rbm.h"
#include "ebm/rng.h"

#define EBM_DBN_MAX_LAYERS 64

struct dbn {
    int n_layers;     /* L: RBMs in the stack (1 = a plain RBM) */
    int *sizes;       /* (L + 1) n_0 .. n_L */
    struct rbm *rbm;  /* (L) RBM k: views into block */
    float *block;     /* every RBM's W | vbias | hbias, RBM 0 first */
};

/* Allocates a zeroed stack with sizes n_0 .. n_L (n_layers + 1 values). */
ebm_status dbn_init(struct dbn *d, int n_layers, const int *sizes);
void dbn_free(struct dbn *d);  /* NULL- and zero-safe */

/* Floats of scratch that dbn_up_probs and dbn_down_sample need for B rows:
 * 3 B max(n_1 .. n_{L-1}) (at least 1). */
size_t dbn_scratch_floats(const struct dbn *d, int B);

/* The deterministic upward mean pass: out (B, n_k) = the mean activations
 * of layer k, each layer's probabilities fed to the next RBM as inputs
 *   mu_0 = v,  mu_{j+1} = sigmoid(mu_j W_j + c_j),
 * for 0 <= k <= L (k = 0 copies v). v may hold any values in [0, 1]. */
void dbn_up_probs(const struct dbn *d, const float *v, int B, int k, float *out,
                  float *scratch);

/* The top-down generative pass from a binary h_j (B, n_j), 1 <= j <= L - 1:
 * h_{i-1} ~ p(h_{i-1} | h_i) for i = j .. 2, row r drawing from rng[r]
 * alone, then pv (B, n_0) = p(v = 1 | h_1), the means (no draw). */
void dbn_down_sample(const struct dbn *d, int j, const float *h_j, int B, struct ebm_rng *rng,
                     float *pv, float *scratch);

/* Parameters in the whole stack. */
size_t dbn_parameter_count(const struct dbn *d);

#endif
