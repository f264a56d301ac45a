/* CD-k for a Bernoulli RBM whose weights are spread over a process grid
 * (docs/model-parallel.md): W [V, H], its gradient and its velocity are
 * 2D block-cyclic over each replica's Pr x Pc grid, the batch matrices
 * v [B, V] and h [B, H] use matching blocks, and the three products go
 * through PSGEMM. The biases (V + H floats) are replicated on every rank.
 *
 * Randomness is keyed by position, never by rank: the uniform that
 * samples unit j of example e in sampling pass d of step s (pass 0 h_0,
 * 2t - 1 v_t, 2t h_t) is unit j of ebm_rng_keyed_uniform(seed,
 * EBM_RNG_GRID_SAMPLE, e, s·256 + d, ...), so the same seed draws the same
 * samples whatever the grid shape or replica count; layouts then differ
 * only in the order floats are summed. ebm_grid_rbm_cd_ref is the same step on full matrices, one
 * rank, plain loops: the reference the tests hold the grid step to. */
#ifndef EBM_GRID_RBM_H
#define EBM_GRID_RBM_H

#include <stdint.h>

#include "ebm/dmatrix.h"
#include "ebm/grid.h"

struct ebm_grid_rbm {
    const struct ebm_grid *grid;
    int V, H, B;                    /* B: batch rows per replica */
    struct ebm_dmatrix W, grad, velocity;   /* [V, H] */
    struct ebm_dmatrix v0, ph0, v, ph, h;   /* [B, V], [B, H], [B, V], [B, H], [B, H] */
    float *bias;                    /* b (V) | c (H), the same on every rank */
    float *bias_grad, *bias_velocity; /* (V + H) */
    float *uniforms;                /* (block) one run of keyed uniforms */
};

/* Collective over the grid's communicator. W in block x block blocks;
 * after a failure, ebm_grid_rbm_free releases what was allocated. */
ebm_status ebm_grid_rbm_init(struct ebm_grid_rbm *m, const struct ebm_grid *g, int V, int H,
                             int B, int block);
void ebm_grid_rbm_free(struct ebm_grid_rbm *m); /* NULL is fine */

/* Parameters from a full copy every rank holds: W (V, H) row-major, b, c. */
void ebm_grid_rbm_set(struct ebm_grid_rbm *m, const float *W, const float *b, const float *c);
/* Collective over the replica: the full W into W (V, H) row-major. */
ebm_status ebm_grid_rbm_get_weights(const struct ebm_grid_rbm *m, float *W);

/* The optimizer settings of a step. */
struct ebm_grid_cd_opts {
    int k;              /* Gibbs steps */
    float lr, momentum, weight_decay;
    uint64_t seed;
    uint32_t step;      /* the keyed draws' step index */
};

/* Collective. One CD-k step: x (B, V) row-major holds this replica's batch
 * rows (every rank of the replica passes the same rows), example[r] the
 * global index of row r (the key of its random numbers), and the update
 * follows the mean gradient over all replicas' rows: one allreduce of the
 * local gradient blocks across replicas and one of the bias gradient. */
ebm_status ebm_grid_rbm_cd(struct ebm_grid_rbm *m, const float *x, const uint32_t *example,
                           const struct ebm_grid_cd_opts *o);

/* The reference: the same step on one rank for all R·B rows of every
 * replica at once (x (n, V), example (n)), with W (V, H) row-major, b, c
 * and their velocities updated in place. */
void ebm_grid_rbm_cd_ref(int V, int H, int n, float *W, float *b, float *c, float *vW,
                         float *vb, float *vc, const float *x, const uint32_t *example,
                         const struct ebm_grid_cd_opts *o);

#endif
