/* Metropolis-Hastings, unadjusted Langevin (ULA) and MALA for any model that
 * exposes its (free) energy F(x), p(x) ∝ exp(-F(x)), through a small target
 * interface. Batched over a block of chains, each drawing only from its own
 * stream keyed by its global chain index, so that a chain's path does not
 * depend on how chains are split across ranks. No MPI and no I/O.
 * Dimension letters: B = chains (rows) in this block, D = units of a state. */
#ifndef EBM_MCMC_H
#define EBM_MCMC_H

#include <stddef.h>
#include <stdint.h>

#include "ebm/bm.h"
#include "ebm/error.h"
#include "ebm/rbm.h"
#include "ebm/rng.h"

/* ---- Targets ------------------------------------------------------------ */

enum ebm_state_kind {
    EBM_STATE_BINARY = 1, /* x in {0, 1}^D, stored as 0.0f / 1.0f */
    EBM_STATE_REAL = 2,   /* x in R^D */
    EBM_STATE_SPIN = 3,   /* x in {-1, +1}^D */
};

/* A distribution p(x) ∝ exp(-F(x)) as callbacks on a borrowed context (a
 * model the target never owns or changes). `scratch` is the sampler's, sized
 * B * scratch_per_row floats at init, so no callback allocates. */
struct ebm_target {
    int dim;                    /* D */
    enum ebm_state_kind kind;
    const void *ctx;            /* the model, borrowed */
    size_t scratch_per_row;     /* floats of scratch each callback may use per row */

    /* Required: F of B rows x (B, D) into F (B). */
    void (*energy)(const void *ctx, const float *x, int B, float *scratch, double *F);

    /* Real states (Langevin, MALA): F (B) and grad_x F (B, D) of B rows. */
    void (*energy_grad)(const void *ctx, const float *x, int B, float *scratch, double *F,
                        float *grad);

    /* Binary states, optional: single-unit flips in O(cache_dim) instead of
     * one energy evaluation per flip. cache (B, cache_dim) is a per-row
     * summary of x (for an RBM: the hidden inputs c + xW). */
    int cache_dim;
    /* cache of B rows from scratch (one GEMM for an RBM). */
    void (*cache_init)(const void *ctx, const float *x, int B, float *cache);
    /* F(x with unit j flipped) - F(x), for one row. */
    double (*flip_delta)(const void *ctx, const float *x, const float *cache, int j);
    /* After unit j of the row x was flipped: bring its cache up to date. */
    void (*flip_update)(const void *ctx, const float *x, float *cache, int j);
};

/* An RBM over its visible units, hidden units summed out: p(v) ∝ exp(-F(v))
 * with F = rbm_free_energy, for every pair of unit types (ebm/rbm.h):
 *   - Bernoulli-Bernoulli: binary states with the O(H) flip form
 *     dF = -b_i d - sum_j [softplus(y_j + d W_ij) - softplus(y_j)],
 *     d = 1 - 2 v_i, y = c + vW;
 *   - spin visible units: spin states; other discrete pairs: binary states,
 *     each flip scored by a fresh F;
 *   - Gaussian visible units: real states with
 *     grad F = (v - b) / sigma^2 - (W E[h | v]) / sigma^2 (Langevin, MALA).
 * m is borrowed (a model from rbm_init*, not a view); its values may change
 * between runs (each run re-evaluates the target at its start). */
ebm_status ebm_target_rbm(const struct rbm *m, struct ebm_target *out);

/* A fully visible BM: p(x) ∝ exp(-E(x)) over binary or spin states, each
 * flip scored by a fresh E (bm_energy). m is borrowed. */
ebm_status ebm_target_bm(const struct bm *m, struct ebm_target *out);

/* ---- Samplers ----------------------------------------------------------- */

enum ebm_mcmc_kind {
    /* Metropolis-Hastings: single-unit flips on binary states, a Gaussian
     * random walk x' = x + step * eps on real ones. */
    EBM_MCMC_MH = 1,
    /* Unadjusted Langevin: x' = x - step grad F(x) + sqrt(2 step) eps, always
     * kept (biased by O(step)); real states only. */
    EBM_MCMC_LANGEVIN = 2,
    /* MALA: the Langevin move as a proposal, corrected by an MH step; real
     * states only. */
    EBM_MCMC_MALA = 3,
};

enum ebm_mcmc_scan {
    EBM_SCAN_RANDOM = 0,     /* each proposal flips a uniformly drawn unit */
    EBM_SCAN_SYSTEMATIC = 1, /* a sweep proposes units 0, 1, ..., D - 1 in order */
};

struct ebm_mcmc_opts {
    enum ebm_mcmc_kind kind;
    enum ebm_mcmc_scan scan; /* MH on binary states */
    double step;             /* random-walk sd (MH, real); lambda (Langevin, MALA) */
};

/* What a run did, summed over the block's chains. acceptance = accepted /
 * proposed; mean_alpha = sum_alpha / proposed is the mean acceptance
 * probability min(1, a), a lower-variance estimate of the same rate. For
 * Langevin nothing is rejected (accepted = proposed) and sum_alpha is what
 * MALA would have accepted from the same moves: how far ULA is from exact. */
struct ebm_mcmc_counts {
    int64_t proposed;
    int64_t accepted;
    double sum_alpha;
};

/* Scratch, state caches and streams for a block of chains, allocated once at
 * init so that running never allocates. */
struct ebm_mcmc {
    struct ebm_target target;  /* a copy; target.ctx is still borrowed */
    struct ebm_mcmc_opts opts;
    int rows;                  /* B */
    int64_t first_chain;       /* global index of row 0 */
    int64_t sweep;             /* steps run so far (systematic scan position) */
    struct ebm_rng *rng;       /* (B) one stream per chain */
    double *energy;            /* (B) F of each chain's current state */
    double *F_prop;            /* (B) F of the proposals */
    float *grad;               /* (B, D) grad F at the current states (Langevin, MALA) */
    float *prop;               /* (B, D) proposals (real states) */
    float *grad_prop;          /* (B, D) grad F at the proposals */
    float *eps;                /* (D) one row's normals */
    float *cache;              /* (B, cache_dim) flip caches (binary) */
    float *scratch;            /* (B, target.scratch_per_row) */
    float *block;              /* the one allocation behind the float views above */
    int *unit;                 /* (B) the unit each row proposes to flip */
    int64_t *accepted;         /* (B) accepted proposals per chain, since init */
    int64_t proposed;          /* proposals per chain, since init */
};

/* Checks that the sampler applies to the target (Langevin and MALA need real
 * states and energy_grad; a positive finite step for real states) and that
 * chains first_chain .. first_chain + rows - 1 fit the streams' 32-bit
 * substream word; streams keyed (seed, chain index, EBM_RNG_MCMC).
 * rows may be 0 (a rank without chains). ebm_mcmc_free(s) releases it;
 * free(NULL)-safe. */
ebm_status ebm_mcmc_init(struct ebm_mcmc *s, const struct ebm_target *t,
                         const struct ebm_mcmc_opts *opts, int rows, int64_t first_chain,
                         uint64_t seed);
void ebm_mcmc_free(struct ebm_mcmc *s);

/* x (B, D) <- a start from each chain's own stream: Bernoulli(0.5) per unit
 * for binary states, N(0, 1) per unit for real ones. */
void ebm_mcmc_random_init(struct ebm_mcmc *s, float *x);

/* `steps` steps on the chains x (B, D), in place. A step is one proposal per
 * chain for real states and one sweep of D single-unit proposals for binary
 * ones. Each call first evaluates the target at x (so x, or the model, may
 * change between calls); afterwards s->energy holds every chain's F(x).
 * counts, when not NULL, receives this call's totals. The streams continue
 * across calls: two calls of k steps equal one call of 2k. */
void ebm_mcmc_run(struct ebm_mcmc *s, float *x, int steps, struct ebm_mcmc_counts *counts);

/* The same, recording every chain's F after every thin-th step into trace,
 * row r at trace + r * ld, steps / thin values (ld >= steps / thin). The
 * traces are what ebm_diagnose takes (include/ebm/diagnostics.h). */
void ebm_mcmc_run_trace(struct ebm_mcmc *s, float *x, int steps, int thin, double *trace,
                        int ld, struct ebm_mcmc_counts *counts);

/* Parses "mh", "langevin" (or "ula") and "mala"; fails with EBM_ERR_INPUT
 * naming the choices. ebm_mcmc_kind_name gives the canonical name. */
ebm_status ebm_mcmc_kind_parse(const char *name, enum ebm_mcmc_kind *out);
const char *ebm_mcmc_kind_name(enum ebm_mcmc_kind kind);

#endif
