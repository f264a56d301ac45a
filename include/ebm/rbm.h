/* Restricted Boltzmann Machine over any pair of unit types (ebm/units.h):
 *   E(v, h) = E_v(v) + E_h(h) - s_v(v)'W h,   F(v) = E_v(v) - log_partition_h(s_v(v)W),
 * which for the default Bernoulli-Bernoulli RBM is
 *   E(v, h) = -v'Wh - b'v - c'h,   F(v) = -b'v - sum_j softplus(c_j + (v'W)_j).
 * Visible units are bernoulli, spin or gaussian; hidden units bernoulli or
 * spin. Dimension letters: B = batch rows, V = visible units, H = hidden
 * units. No MPI and no I/O here: the model is parameters plus math. */
#ifndef EBM_RBM_H
#define EBM_RBM_H

#include <stddef.h>

#include "ebm/error.h"
#include "ebm/rng.h"
#include "ebm/units.h"

/* Rows of s(v) = v / sigma^2 a Gaussian-visible model forms at a time:
 * the products below run in chunks of this many rows over the model's own
 * scratch, so no call needs an extra argument or allocates. */
#define RBM_COUPLING_ROWS 128

/* Views into one contiguous block laid out W | vbias | hbias [| log_sigma].
 * The same layout serves parameters, gradients and optimizer state, so a
 * training step reduces one block with one MPI_Allreduce. */
struct rbm {
    int n_visible;       /* V */
    int n_hidden;        /* H */
    float *W;            /* (V, H) row-major */
    float *vbias;        /* (V) b */
    float *hbias;        /* (H) c */
    float *log_sigma;    /* (V) log sigma_i of Gaussian visible units; NULL otherwise */
    struct ebm_units vis, hid; /* unit types; vis.log_sigma is log_sigma */
    int n_labels;        /* K: the last K visible units are one softmax group (labels); 0 = none */
    struct ebm_units lab; /* that group (softmax, n = group = K) */
    float *block;        /* start of the block, W */
    size_t block_len;    /* floats in the block */
    float *coupling;     /* (RBM_COUPLING_ROWS, V) scratch for s(v); Gaussian models only */
    int owns_block;      /* 1 when rbm_free must free block (and coupling) */
    /* The modified RBMs of DBM pre-training (ebm/dbm_pretrain.h) double one
     * direction's input: E[h | v] uses up_scale * s(v)W and E[v | h]
     * down_scale * hW'. 1 in every plain RBM (rbm_init*, rbm_view*). */
    float up_scale, down_scale;
};

/* Floats in the block of a Bernoulli-Bernoulli RBM, and of one with the given
 * visible type (a Gaussian layer adds its V log sigmas). */
size_t rbm_block_size(int n_visible, int n_hidden);
size_t rbm_block_size_typed(int n_visible, int n_hidden, enum ebm_unit_type visible);
/* Allocates a zeroed Bernoulli-Bernoulli block. */
ebm_status rbm_init(struct rbm *m, int n_visible, int n_hidden);
/* The same with unit types: visible bernoulli, spin or gaussian (log sigma
 * starts at 0, bounded below by EBM_UNITS_LOG_SIGMA_MIN_DEFAULT until
 * rbm_set_log_sigma_min), hidden bernoulli or spin. EBM_ERR_INPUT naming
 * the type otherwise. */
ebm_status rbm_init_typed(struct rbm *m, int n_visible, int n_hidden,
                          enum ebm_unit_type visible, enum ebm_unit_type hidden);
/* Views over a block the caller owns (rbm_free leaves it alone): a
 * Bernoulli-Bernoulli RBM, or the shape and types of `like` (gradients and
 * optimizer state of a typed model). A view has no coupling scratch, so it
 * holds numbers; only an rbm_init* model computes with Gaussian units. */
void rbm_view(struct rbm *m, int n_visible, int n_hidden, float *block);
void rbm_view_like(struct rbm *m, const struct rbm *like, float *block);
void rbm_free(struct rbm *m);
/* Label units (Larochelle & Bengio 2008's joint RBM): the last K of the
 * visible units become one softmax group y, so v = [x, y] with y one-hot.
 * The energy keeps its form (-b'v - c'h - v'Wh over all V units), so the
 * free energy, the hidden conditionals and the statistics are unchanged;
 * only E[v | h] and its samples treat y as one K-way choice. For Bernoulli
 * visible units, 2 <= K <= RBM_MAX_LABELS, K < V; EBM_ERR_INPUT otherwise.
 * Views made by rbm_view_like inherit it. */
#define RBM_MAX_LABELS 256
ebm_status rbm_set_labels(struct rbm *m, int n_labels);
/* Whether the model is the default Bernoulli-Bernoulli RBM (labels or not). */
int rbm_is_binary(const struct rbm *m);
/* The lower bound learned log sigmas are clamped to (Gaussian visible). */
void rbm_set_log_sigma_min(struct rbm *m, float log_sigma_min);

/* W ~ N(0, sigma^2), hbias = 0, and the visible biases from the visible
 * marginals p, the means of the [0, 1] (or standardised) training data:
 *   bernoulli log(p / (1 - p)), spin atanh(2p - 1) (p clipped to
 *   [1e-3, 1 - 1e-3]; 0 when p is NULL), gaussian p itself with log sigma 0;
 *   label units log p (the class frequencies, floored at 1e-3). */
void rbm_init_params(struct rbm *m, float sigma, const float *visible_marginals,
                     struct ebm_rng *rng);
/* log(p / (1 - p)) of p clipped to [1e-3, 1 - 1e-3]: a Bernoulli unit's
 * starting bias from its marginal (rbm_init_params). */
double rbm_marginal_logit(double p);
/* The input h receives from v without the bias, in (B, H) = s(v) W. */
void rbm_hidden_input(const struct rbm *m, const float *v, int B, float *in);

/* ph (B, H) = E[h | v]: sigmoid(s(v)W + c) for Bernoulli units, tanh for spins. */
void rbm_hidden_probs(const struct rbm *m, const float *v, int B, float *ph);
/* ph as above, and h (B, H) a sample from it. */
void rbm_hidden_sample(const struct rbm *m, const float *v, int B, float *ph, float *h,
                       struct ebm_rng *rng);
/* The same, row r's numbers from its keyed stream (ebm_rng_row): what a
 * row draws does not depend on the other rows or on the rank. */
void rbm_hidden_sample_rows(const struct rbm *m, const float *v, int B, float *ph, float *h,
                            const struct ebm_rng_rows *keys);
/* pv (B, V) = E[v | h]: sigmoid(hW' + b), tanh(hW' + b) for spins, or
 * b + hW' for Gaussian units. */
void rbm_visible_probs(const struct rbm *m, const float *h, int B, float *pv);
void rbm_visible_sample(const struct rbm *m, const float *h, int B, float *pv, float *v,
                        struct ebm_rng *rng);

void rbm_visible_sample_rows(const struct rbm *m, const float *h, int B, float *pv, float *v,
                             const struct ebm_rng_rows *keys);

/* F(v) for B rows into out (B); scratch needs B * H floats. */
void rbm_free_energy(const struct rbm *m, const float *v, int B, float *scratch, double *out);
/* E(v, h) for one configuration, in double (tests and exact enumeration). */
double rbm_energy(const struct rbm *m, const float *v, const float *h);

#endif
