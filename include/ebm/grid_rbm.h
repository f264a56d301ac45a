/* CD-k and PCD-k for a Bernoulli RBM whose weights are spread over a
 * process grid (docs/model-parallel.md): W [V, H], its gradient and its
 * velocity are 2D block-cyclic over each replica's Pr x Pc grid, the batch
 * matrices v [B, V] and h [B, H] and the chains [C, V] use matching
 * blocks, and the three products go through PSGEMM. The biases (V + H
 * floats) are replicated on every rank.
 *
 * Randomness is keyed by position, never by rank, exactly as the
 * data-parallel trainer keys it (ebm/cd.h, cd_keys): the uniform that
 * samples unit j of global row e (replica · B + row, or replica · C +
 * chain) in sampling pass d of step s is unit j of row e's keyed stream of
 * purpose EBM_RNG_CD | d << 8 and draw s. The same seed draws the same
 * samples whatever the grid shape, and a grid run with R replicas follows
 * a data-parallel run on R ranks; layouts differ only in the order floats
 * are summed. ebm_grid_rbm_cd_ref is the same step on full matrices, one
 * rank, plain loops: the reference the tests hold the grid step to. */
#ifndef EBM_GRID_RBM_H
#define EBM_GRID_RBM_H

#include <stdint.h>

#include "ebm/dmatrix.h"
#include "ebm/grid.h"

struct ebm_grid_rbm {
    const struct ebm_grid *grid;
    int V, H, B, C;                 /* B batch rows, C chains per replica (0: CD) */
    struct ebm_dmatrix W, grad, velocity;   /* [V, H] */
    struct ebm_dmatrix v0, ph0, pv;         /* [B, V], [B, H], [B, V] (pv: monitoring) */
    struct ebm_dmatrix v, ph, h;    /* the negative phase, [N, V], [N, H], [N, H] with
                                       N = C or B; with chains v holds them between steps */
    float *bias;                    /* b (V) | c (H), the same on every rank */
    float *bias_grad;               /* (V + H + 1): the last entry carries stop requests */
    float *bias_velocity;           /* (V + H) */
    float *uniforms;                /* (block) one run of keyed uniforms */
    float *shift;                   /* (largest local row count) one bias, repeated */
    double *row_sums;               /* (B + 1) monitoring partial sums */
    int stop_agreed;                /* set by a step: some rank asked to stop */
    int model_only;                 /* evaluation: W, biases, rows; no optimizer */
};

/* Collective over the grid's communicator. W in block x block blocks;
 * chains = 0 for CD (the negative phase starts at the data). After a
 * failure, ebm_grid_rbm_free releases what was allocated. */
ebm_status ebm_grid_rbm_init(struct ebm_grid_rbm *m, const struct ebm_grid *g, int V, int H,
                             int B, int chains, int block);
/* Collective: the model and B rows' matrices only (W, b, c, v0, ph0, pv),
 * for evaluation (ebm/grid_eval.h): no gradient, velocity or chains. */
ebm_status ebm_grid_rbm_init_model(struct ebm_grid_rbm *m, const struct ebm_grid *g, int V,
                                   int H, int B, int block);
void ebm_grid_rbm_free(struct ebm_grid_rbm *m); /* NULL is fine */

/* Parameters from a full copy every rank holds: W (V, H) row-major, b, c. */
void ebm_grid_rbm_set(struct ebm_grid_rbm *m, const float *W, const float *b, const float *c);
/* Collective over the replica: the full W into W (V, H) row-major. */
ebm_status ebm_grid_rbm_get_weights(const struct ebm_grid_rbm *m, float *W);

/* The data-parallel trainer's start, entry by entry without any rank
 * holding W: W[i][j] = sigma times normal number i·H + j of the stream
 * (seed, 0, EBM_RNG_INIT), b from the visible marginals p (V) as
 * rbm_init_params sets Bernoulli biases, c = 0, velocities 0. */
void ebm_grid_rbm_init_params(struct ebm_grid_rbm *m, uint64_t seed, float sigma, const float *p);
/* Chains as the data-parallel trainer starts them: unit i of global chain
 * e = replica · C + c is 1 when uniform i of stream (seed, e,
 * EBM_RNG_FRESH_CHAINS) is below 1/2. */
void ebm_grid_rbm_fresh_chains(struct ebm_grid_rbm *m, uint64_t seed);

/* The optimizer settings of a step. */
struct ebm_grid_cd_opts {
    int k;              /* Gibbs steps */
    float lr, momentum, weight_decay;
    uint64_t seed;
    int64_t step;       /* the keyed draws' step index */
    int stop_request;   /* this rank was asked to stop (summed into stop_agreed) */
};

/* Collective. One CD-k (or PCD-k) step: x (B, V) row-major holds this
 * replica's batch rows (every rank of the replica passes the same rows),
 * and the update follows the mean gradient over all replicas' rows: one
 * allreduce of the local gradient blocks across replicas and one of the
 * bias gradient (with the stop flags). */
ebm_status ebm_grid_rbm_cd(struct ebm_grid_rbm *m, const float *x,
                           const struct ebm_grid_cd_opts *o);

/* Collective over the replica: for n <= B rows x (n, V) every rank of the
 * replica holds, sums[0] += the squared reconstruction error
 * sum |v - E[v | E[h | v]]|^2, sums[1] += the free energy F(v) and
 * sums[2] += F(v)^2, summed over the rows (what the data-parallel
 * trainer's epoch metrics and ebm eval sum), the same on every rank of the
 * replica. */
ebm_status ebm_grid_rbm_monitor(struct ebm_grid_rbm *m, const float *x, int n, double sums[3]);

/* The reference: the same step on one rank for all R·B rows of every
 * replica at once (x (n, V), row r keyed as global row r), with W (V, H)
 * row-major, b, c and their velocities updated in place; for PCD, chains
 * (n_chains, V) all replicas' chains, else NULL. */
void ebm_grid_rbm_cd_ref(int V, int H, int n, float *W, float *b, float *c, float *vW,
                         float *vb, float *vc, const float *x, float *chains, int n_chains,
                         const struct ebm_grid_cd_opts *o);

#endif
