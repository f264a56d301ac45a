/* Block Gibbs sampling of an RBM (v -> h -> v) for a block of chains, each
 * with its own random stream keyed by the chain's global index, so that
 * the samples do not depend on how the chains are split across ranks.
 * No MPI and no I/O: the caller owns the chains and gathers the results. */
#ifndef EBM_GIBBS_H
#define EBM_GIBBS_H

#include <stdint.h>

#include "ebm/rbm.h"
#include "ebm/rng.h"

/* Scratch and streams for up to `rows` chains, allocated once by
 * ebm_gibbs_init so that sampling itself never allocates. */
struct ebm_gibbs {
    int rows;              /* B: chains held */
    int n_visible;         /* V */
    int n_hidden;          /* H */
    int64_t first_chain;   /* global index of chain 0 of this block */
    struct ebm_rng *rng;   /* (B) one stream per chain */
    float *ph;             /* (B, H) p(h = 1 | v) */
    float *h;              /* (B, H) hidden sample */
    float *pv;             /* (B, V) p(v = 1 | h) before sampling v */
};

/* Chains first_chain .. first_chain + rows - 1 (global indices below
 * 2^32, the width of a stream's substream word) of a V x H RBM, streams
 * keyed by (seed, chain index, EBM_RNG_GIBBS). rows may be 0 (a
 * rank without chains). ebm_gibbs_free(g) releases it; free(NULL)-safe. */
ebm_status ebm_gibbs_init(struct ebm_gibbs *g, int n_visible, int n_hidden, int rows,
                          int64_t first_chain, uint64_t seed);
void ebm_gibbs_free(struct ebm_gibbs *g);

/* v (B, V) <- Bernoulli(0.5) per unit, from each chain's own stream. */
void ebm_gibbs_random_init(struct ebm_gibbs *g, float *v);
/* The same for m's visible type: uniform {0,1} or {-1,+1} states, or
 * N(b, sigma^2) for Gaussian units. */
void ebm_gibbs_random_init_for(struct ebm_gibbs *g, const struct rbm *m, float *v);

/* `steps` sweeps on the chains v (B, V), in place: h ~ p(h | v), then
 * v ~ p(v | h), for any unit types (each draw as ebm_units_sample does, per
 * chain). pv_out (B, V), when not NULL, receives the last sweep's visible
 * means E[v | h], which show a sample with less noise than v.
 * steps = 0 leaves v alone and pv_out untouched. The streams continue
 * across calls: two calls of k steps equal one call of 2k. */
void ebm_gibbs_run(struct ebm_gibbs *g, const struct rbm *m, float *v, int steps,
                   float *pv_out);

#endif
