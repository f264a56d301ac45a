/* Unit types as data: one layer of Bernoulli, spin, Gaussian or softmax units,
 * with its conditional mean, sampling, energy term and log-partition, so that
 * one RBM/trainer serves every combination of visible and hidden types.
 * Pure math: no MPI, no I/O, no allocation. docs/units.md has the derivations.
 *
 * Dimension letters: B = batch rows, n = units in the layer, K = softmax
 * group size. Every batch array is (B, n) row-major.
 *
 * One energy for every pair of layer types (x visible, y hidden):
 *   E(x, y) = E_x(x) + E_y(y) - s_x(x)' W s_y(y)
 * with per-type unit energy E_t and coupling s_t:
 *   bernoulli  x in {0,1}        E = -b'x                     s(x) = x
 *   spin       x in {-1,+1}      E = -b'x                     s(x) = x
 *   softmax    one-hot per group E = -b'x                     s(x) = x
 *   gaussian   x real            E = sum_i (x_i - b_i)^2 / (2 sigma_i^2)
 *                                                             s(x)_i = x_i / sigma_i^2
 * For a Gaussian visible layer and any hidden layer this is the
 * parametrisation of Cho, Ilin & Raiko, "Improved learning of
 * Gaussian-Bernoulli RBMs" (ICANN 2011):
 *   E(v, h) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_ij (v_i / sigma_i^2) W_ij h_j - c'h,
 * chosen over Hinton's (2010, sec. 13.2) v_i / sigma_i coupling because here
 *   - the visible mean given h is b + Wh, the activation itself, with no sigma;
 *   - one scaled copy s(v) = v / sigma^2 is the left operand of both the hidden
 *     input W's(v) and the weight statistic s(v)'h, and its column sums give
 *     the visible-bias gradient (the constant b / sigma^2 cancels between the
 *     positive and negative phase), so the trainer's statistics keep their shape.
 *
 * Conventions of the batched calls: `in` (B, n) is what reaches the layer
 * from the other one (a GEMM, without bias), `bias` (n) is the layer's own
 * bias, and the activation is a = in + bias. For a discrete layer
 * p(x | in) is proportional to exp(x . a); for a Gaussian one it is
 * N(a, sigma^2). Biases are required (pass zeros for none).
 *
 * Why a switch and not a table of function pointers: the set of types is
 * closed (config and checkpoints name them), each call switches once and then
 * runs a plain loop the compiler can inline and vectorise, and the four
 * types' formulas sit side by side in units.c where they can be checked
 * against each other. The per-type data that is a table (names, whether a
 * type is discrete) is one. */
#ifndef EBM_UNITS_H
#define EBM_UNITS_H

#include <stddef.h>

#include "ebm/error.h"
#include "ebm/rng.h"

enum ebm_unit_type {
    EBM_UNIT_BERNOULLI = 0, /* {0, 1} */
    EBM_UNIT_SPIN = 1,      /* {-1, +1} */
    EBM_UNIT_GAUSSIAN = 2,  /* real, per-unit sigma (visible layers) */
    EBM_UNIT_SOFTMAX = 3,   /* one-hot groups of K units (labels) */
};
enum { EBM_UNIT_TYPE_COUNT = 4 };

/* sigma >= 0.1 for data standardised to unit variance: Cho's advice for
 * learned sigmas (kyunghyuncho/deepmat#7, bounds 0.1 and 1.1). Below the
 * bound the likelihood rewards collapsing sigma onto near-constant inputs
 * and 1 / sigma^2 scales every gradient of that unit (docs/units.md). */
#define EBM_UNITS_LOG_SIGMA_MIN_DEFAULT (-2.30258509f) /* log(0.1) */

/* "bernoulli", "spin", "gaussian", "softmax"; NULL for an invalid type. */
const char *ebm_unit_type_name(enum ebm_unit_type type);
/* The inverse of ebm_unit_type_name (exact, lower case); EBM_ERR_INPUT
 * naming the accepted values otherwise. */
ebm_status ebm_unit_type_parse(const char *name, enum ebm_unit_type *type);
/* 1 for bernoulli, spin and softmax (states to enumerate), 0 for gaussian. */
int ebm_unit_type_is_discrete(enum ebm_unit_type type);

/* A layer's description; the numbers it points to belong to the model. */
struct ebm_units {
    enum ebm_unit_type type;
    int n;               /* units */
    int group;           /* K: softmax group size, n % K == 0; 1 for the other types */
    float *log_sigma;    /* (n) gaussian: log sigma_i, a view into the model's
                          * parameters (learned) or the caller's array (fixed);
                          * NULL for the other types */
    float log_sigma_min; /* gaussian: the bound ebm_units_clamp_log_sigma keeps */
};

/* Fills and validates l: n > 0; group 1 except for softmax (K >= 1 dividing
 * n); log_sigma non-NULL exactly for gaussian, log_sigma_min finite.
 * EBM_ERR_INPUT with a message otherwise (config mistakes land here). */
ebm_status ebm_units_init(struct ebm_units *l, enum ebm_unit_type type, int n, int group,
                          float *log_sigma, float log_sigma_min);

/* a (B, n) <- E[x | a + bias] in place:
 *   bernoulli sigmoid(a), spin tanh(a), softmax exp(a_k) / sum_group exp,
 *   gaussian a + bias (sigma does not enter, see above).
 * Bernoulli and spin go through the vectorised sigmoid of kernels.h (spin
 * as 2 sigmoid(2a) - 1, absolute error ~1e-7); the _ref twin is plain double
 * math for every type. */
void ebm_units_mean(const struct ebm_units *l, float *a, const float *bias, int B);
void ebm_units_mean_ref(const struct ebm_units *l, float *a, const float *bias, int B);

/* a (B, n) <- the mean as above, x (B, n) <- a sample of p(x | a + bias).
 * Randomness, in row-major element order, so that a stream's position is a
 * function of the shapes only (checkpoints store it):
 *   bernoulli  x = u < p ? 1 : 0            B*n uniforms, exactly as
 *              ebm_sigmoid_bias_sample (bit-identical for the same stream)
 *   spin       x = u < sigmoid(2a) ? +1 : -1  B*n uniforms
 *   softmax    one uniform per group (B*n/K), inverse CDF over the group
 *   gaussian   x = mean + sigma * z         B*n normals (ebm_rng_normal)
 * x must not alias a. */
void ebm_units_sample(const struct ebm_units *l, float *a, const float *bias, int B,
                      float *x, struct ebm_rng *rng);
void ebm_units_sample_ref(const struct ebm_units *l, float *a, const float *bias, int B,
                          float *x, struct ebm_rng *rng);

/* out (B) <- sum over the row's units (groups) of the log-partition
 *   log sum_x exp(-E(x) + s(x) . in), in double:
 *   bernoulli softplus(a), spin log(2 cosh a) = |a| + log1p(exp(-2|a|)),
 *   softmax logsumexp of each group's a,
 *   gaussian in (in + 2b) / (2 sigma^2) + log(2 pi sigma^2) / 2
 *     (the integral over x, Cho et al. 2011; the form avoids the
 *     cancellation of (a^2 - b^2)).
 * This is the summed-out layer's share of a free energy:
 *   F(v) = E_v(v) - log_partition_h(W's_v(v)), and likewise F(h) with the
 *   roles swapped, which gives log Z in closed form over a Gaussian v. */
void ebm_units_log_partition(const struct ebm_units *l, const float *in, const float *bias,
                             int B, double *out);

/* out (B) <- E_t(x) summed over the row: -b'x (discrete), or
 * sum_i (x_i - b_i)^2 / (2 sigma_i^2) (gaussian): the visible term of F(v). */
void ebm_units_energy(const struct ebm_units *l, const float *x, const float *bias, int B,
                      double *out);

/* out (B) <- F(x) = E_x(x) - log_partition_y(y_in) with y_in (B, y->n) the
 * input the other layer y receives from x (y_in = s(x) W, no bias). */
void ebm_units_free_energy(const struct ebm_units *xl, const float *x, const float *x_bias,
                           const struct ebm_units *yl, const float *y_in, const float *y_bias,
                           int B, double *out);

/* s(x): x itself for the discrete types (scratch untouched), else
 * scratch (B, n) <- x / sigma^2 and returned. The left operand of the GEMM
 * that feeds the other layer and of the weight statistic. */
const float *ebm_units_coupling(const struct ebm_units *l, const float *x, int B,
                                float *scratch);

/* Gaussian only. acc (n) += scale * sum_rows dE/dlog(sigma_i) at (x, y), where
 * in (B, n) = W s_y(y) is the input from the other layer:
 *   dE/dlog sigma_i = -(x_i - b_i)^2 / sigma_i^2 + 2 x_i in_i / sigma_i^2
 * (d/ds of e^{-2s} terms of E above). With y replaced by E[y | x] it is
 * dF/dlog sigma_i, the positive-phase statistic. in may be NULL for the first
 * term only: the second equals 2 sum_j W_ij G_ij with G = s(x)'y the weight
 * statistic, so a trainer that has G need not form in. */
void ebm_units_dlogsigma(const struct ebm_units *l, const float *x, const float *bias,
                         const float *in, int B, float scale, float *acc);

/* log_sigma_i <- max(log_sigma_i, log_sigma_min); NaN stays NaN so the
 * trainer's finiteness check still sees it. Returns the count raised (0 for
 * the other types). Call after every update of learned sigmas. */
int ebm_units_clamp_log_sigma(const struct ebm_units *l);

#endif
