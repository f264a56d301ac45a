/* Fully visible Boltzmann machine (Ackley, Hinton & Sejnowski 1985),
 *   E(x) = -1/2 x'Wx - b'x,   W symmetric with a zero diagonal,
 * over x in {0,1}^D, or {-1,+1}^D when the model is a spin model.
 * Parameters, conditionals, sequential Gibbs chains, gradient statistics,
 * and the exact (enumerated) reference for D <= BM_EXACT_MAX_UNITS.
 * Dimension letters: B = data rows, C = chains, D = units.
 * No MPI and no I/O here: the model is parameters plus math. */
#ifndef EBM_BM_H
#define EBM_BM_H

#include <stddef.h>
#include <stdint.h>

#include "ebm/error.h"
#include "ebm/rng.h"

/* Views into one contiguous block laid out W | bias. The same layout serves
 * parameters, gradients and optimizer state, so a training step reduces one
 * block with one MPI_Allreduce. W is stored in full (both triangles); every
 * function that writes it keeps it exactly symmetric with a zero diagonal. */
struct bm {
    int n_units;     /* D */
    int spin;        /* 0: x in {0,1}; 1: x in {-1,+1} */
    float *W;        /* (D, D) row-major, symmetric, zero diagonal */
    float *bias;     /* (D) b */
    float *block;    /* start of the block, W */
    int owns_block;  /* 1 when bm_free must free block */
};

size_t bm_block_size(int n_units);
/* Allocates a zeroed block. */
ebm_status bm_init(struct bm *m, int n_units, int spin);
/* Views over a block the caller owns (bm_free leaves it alone). */
void bm_view(struct bm *m, int n_units, int spin, float *block);
void bm_free(struct bm *m);

/* W_ij = W_ji ~ N(0, sigma^2) for i < j, zero diagonal; bias is the MLE of
 * the independent model with P(x_i = on) = p_i (clipped to [1e-3, 1 - 1e-3]):
 * log(p / (1 - p)), halved for spins; 0 when marginals is NULL. */
void bm_init_params(struct bm *m, float sigma, const float *marginals, struct ebm_rng *rng);
/* W <- (W + W') / 2 with a zero diagonal (exactly symmetric afterwards). */
void bm_symmetrize(struct bm *m);
/* EBM_ERR_INPUT unless every value is finite and W is exactly symmetric with
 * a zero diagonal: the check for parameters read from a file. */
ebm_status bm_validate(const struct bm *m);

/* E(x) for B rows of x (B, D) into out (B), in double. */
void bm_energy(const struct bm *m, const float *x, int B, double *out);
/* p (B) = p(x_j = on | x_-j) for unit j of each row: sigmoid(a_j) for {0,1}
 * and sigmoid(2 a_j) for spins, a_j = b_j + sum_k W_jk x_k. */
void bm_conditional(const struct bm *m, const float *x, int B, int j, float *p);
/* p (B, D): the conditional of every unit of every row, with one GEMM (the
 * units' own states do not enter since diag(W) = 0). For pseudo-likelihood. */
void bm_conditionals(const struct bm *m, const float *x, int B, float *p);

/* C persistent chains for systematic-scan sequential Gibbs, with one stream
 * per chain keyed by the chain's global index, so that a chain's path does
 * not depend on how the chains are split across ranks. Scratch is
 * allocated once by bm_chains_init; sweeping never allocates. */
struct bm_chains {
    int rows;              /* C: chains held */
    int n_units;           /* D */
    int64_t first_chain;   /* global index of chain 0 of this block */
    struct ebm_rng *rng;   /* (C) one stream per chain */
    double *field;         /* (C, D) a = b + Wx, kept current during a sweep */
    float *u;              /* (D) one row's uniforms for one sweep */
};

/* Chains first_chain .. first_chain + rows - 1 (global indices below 2^32),
 * streams keyed by (seed, chain index, purpose). rows may be 0. */
ebm_status bm_chains_init(struct bm_chains *g, int n_units, int rows, int64_t first_chain,
                          uint64_t seed, uint32_t purpose);
void bm_chains_free(struct bm_chains *g);
/* x (C, D) <- on/off with probability 1/2 each, from each chain's stream. */
void bm_chains_random_init(struct bm_chains *g, int spin, float *x);

/* `sweeps` systematic scans over the chains x (C, D), in place: units
 * 0 .. D-1 in turn, x_j ~ p(x_j | x_-j) given the units already updated.
 * Chain r takes D uniforms per sweep from its own stream (ceil(D / 4)
 * blocks), so two calls of k sweeps equal one call of 2k. The input a is
 * updated by a_k += (x_j' - x_j) W_jk on a flip (O(D)); the _ref twin
 * recomputes a_j from scratch for every unit (O(D^2) per sweep). Both sum
 * in double, so they agree bit for bit whenever those sums are exact, i.e.
 * the nonzero |W_jk| and |b_j| span less than 2^(29 - log2 D). */
void bm_gibbs_sweep(const struct bm *m, struct bm_chains *g, float *x, int sweeps);
void bm_gibbs_sweep_ref(const struct bm *m, struct bm_chains *g, float *x, int sweeps);

/* acc <- scale * (sum_rows x x', sum_rows x) + beta * acc over x (rows, D):
 * one GEMM for the outer products, column sums for the means. */
void bm_moments(const float *x, int rows, float scale, float beta, struct bm *acc);
/* grad <- inv_nd * sum_data - inv_nm * sum_chains of (x x', x), then made
 * symmetric with a zero diagonal: the gradient of the mean log-likelihood
 * for the couplings w_ij = W_ij = W_ji (i < j) and the biases,
 *   dw_ij = <x_i x_j>_data - <x_i x_j>_model,  db_i = <x_i>_data - <x_i>_model.
 * With inv_nd = 1/(P B) and inv_nm = 1/(P C), summing every rank's grad
 * gives the global mean. */
void bm_statistics(const float *x_data, int B, const float *x_neg, int C, float inv_nd,
                   float inv_nm, struct bm *grad);
void bm_statistics_ref(const float *x_data, int B, const float *x_neg, int C, float inv_nd,
                       float inv_nm, struct bm *grad);
/* The same with the model term taken from exact moments (e->xx, e->mean
 * after bm_exact_moments):
 * grad <- inv_nd * sum_data - model_scale * (xx_model, mean_model). With
 * model_scale = 1/P the ranks' sum is the exact gradient of the batch. */
void bm_statistics_exact(const float *x_data, int B, float inv_nd, const double *xx_model,
                         const double *mean_model, double model_scale, struct bm *grad);

/* Exact references by enumeration of all 2^D states, in double. */
#define BM_EXACT_MAX_UNITS 20
#define BM_SAMPLE_MAX_UNITS 16
#define BM_EXACT_ROWS 256 /* states per DGEMM */

/* Data moments in double: xx (D, D) = mean x x' (diagonal included), mean (D). */
void bm_data_moments(const float *x, int N, int D, double *xx, double *mean);

/* Enumeration workspace, allocated once so that an exact-gradient training
 * step does not allocate: 2^D energies are 8 MiB at D = 20. */
struct bm_exact {
    int n_units;    /* D */
    int spin;       /* of the model last enumerated */
    double *theta;  /* W (D, D) | b (D): that model, in double */
    double *energy; /* (2^D) E(x); bit i of the index is unit i */
    double *S, *Sw; /* (BM_EXACT_ROWS, D) a block of states, and each times p(x) */
    double *xx;     /* (D, D) <x x'> under the model (diagonal included) */
    double *mean;   /* (D) <x> under the model */
    double *grad;   /* block layout: the last exact gradient, in double */
};
/* EBM_ERR_INPUT unless 1 <= n_units <= BM_EXACT_MAX_UNITS. */
ebm_status bm_exact_init(struct bm_exact *e, int n_units);
void bm_exact_free(struct bm_exact *e);
/* Enumerates m: fills e->xx and e->mean, returns log Z. O(2^D D^2). */
double bm_exact_moments(struct bm_exact *e, const struct bm *m);
/* log Z = log sum_x exp(-E(x)) alone (allocates a workspace). */
ebm_status bm_exact_log_z(const struct bm *m, double *log_z);
/* Mean log-likelihood of data with moments (xx, mean):
 *   sum_{i<j} W_ij xx_ij + b'mean - log Z  (it depends on the data only
 * through them). */
double bm_log_likelihood(const struct bm *m, const double *xx_data, const double *mean_data,
                         double log_z);
/* grad (same layout as m) <- data moments - exact model moments, symmetric
 * with a zero diagonal; returns the mean log-likelihood at m. */
double bm_exact_gradient(struct bm_exact *e, const struct bm *m, const double *xx_data,
                         const double *mean_data, struct bm *grad);
/* `steps` steps of plain gradient ascent, theta += lr * grad, on the exact
 * mean log-likelihood, from the parameters in m (in double internally);
 * m holds the fit afterwards. *loglik and *grad_max (either may be NULL)
 * receive the log-likelihood and largest |gradient| at the fit. The
 * objective is concave with Hessian -Cov(x_i x_j, x_i), so lr below
 * 2 / (its largest eigenvalue) converges; the trace bounds that eigenvalue,
 * which makes lr = 8 / (D (D + 1)) safe for {0,1} units, 2 / (D (D + 1))
 * for spins. EBM_ERR_NUMERIC (m then holds the diverged values) when the
 * fit is not finite. Allocates its workspace. */
ebm_status bm_exact_fit(struct bm *m, const double *xx_data, const double *mean_data, double lr,
                        int steps, double *loglik, double *grad_max);
/* N exact samples x (N, D) by inverse CDF over the 2^D states, one 48-bit
 * uniform (one rng block) per sample. EBM_ERR_INPUT for D > BM_SAMPLE_MAX_UNITS. */
ebm_status bm_exact_sample(const struct bm *m, float *x, int N, struct ebm_rng *rng);

#endif
