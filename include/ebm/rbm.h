/* Bernoulli-Bernoulli Restricted Boltzmann Machine,
 *   E(v, h) = -v'Wh - b'v - c'h,   F(v) = -b'v - sum_j softplus(c_j + (v'W)_j).
 * Dimension letters: B = batch rows, V = visible units, H = hidden units.
 * No MPI and no I/O here: the model is parameters plus math. */
#ifndef EBM_RBM_H
#define EBM_RBM_H

#include <stddef.h>

#include "ebm/error.h"
#include "ebm/rng.h"

/* Views into one contiguous block laid out W | vbias | hbias. The same
 * layout serves parameters, gradients and optimizer state, so a training
 * step reduces one block with one MPI_Allreduce. */
struct rbm {
    int n_visible;   /* V */
    int n_hidden;    /* H */
    float *W;        /* (V, H) row-major */
    float *vbias;    /* (V) b */
    float *hbias;    /* (H) c */
    float *block;    /* start of the block, W */
    int owns_block;  /* 1 when rbm_free must free block */
};

size_t rbm_block_size(int n_visible, int n_hidden);
/* Allocates a zeroed block. */
ebm_status rbm_init(struct rbm *m, int n_visible, int n_hidden);
/* Views over a block the caller owns (rbm_free leaves it alone). */
void rbm_view(struct rbm *m, int n_visible, int n_hidden, float *block);
void rbm_free(struct rbm *m);

/* W ~ N(0, sigma^2), hbias = 0, vbias = log(p / (1 - p)) of the visible
 * marginals p (clipped to [1e-3, 1 - 1e-3]), or 0 when p is NULL. */
void rbm_init_params(struct rbm *m, float sigma, const float *visible_marginals,
                     struct ebm_rng *rng);

/* ph (B, H) = p(h = 1 | v) = sigmoid(vW + c). */
void rbm_hidden_probs(const struct rbm *m, const float *v, int B, float *ph);
/* ph as above, and h (B, H) a sample from it. */
void rbm_hidden_sample(const struct rbm *m, const float *v, int B, float *ph, float *h,
                       struct ebm_rng *rng);
/* pv (B, V) = p(v = 1 | h) = sigmoid(hW' + b). */
void rbm_visible_probs(const struct rbm *m, const float *h, int B, float *pv);
void rbm_visible_sample(const struct rbm *m, const float *h, int B, float *pv, float *v,
                        struct ebm_rng *rng);

/* F(v) for B rows into out (B); scratch needs B * H floats. */
void rbm_free_energy(const struct rbm *m, const float *v, int B, float *scratch, double *out);
/* E(v, h) for one configuration, in double (tests and exact enumeration). */
double rbm_energy(const struct rbm *m, const float *v, const float *h);

#endif
