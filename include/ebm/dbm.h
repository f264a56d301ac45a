/* Deep Boltzmann Machine (Salakhutdinov & Hinton, AISTATS 2009): an
 * undirected stack of Bernoulli layers x_0 = v, x_1 .. x_L (L = 2 or 3),
 *   E(x) = -sum_k x_k' W_k x_{k+1} - sum_k b_k' x_k,
 * so each layer's conditional depends on the layers above and below:
 *   p(x_k = 1 | rest) = sigmoid(b_k + x_{k-1} W_{k-1} + x_{k+1} W_k').
 * The model and its math, no MPI and no I/O: mean-field inference (the
 * data-dependent statistics), alternating odd/even block Gibbs (the
 * persistent chains), the gradient statistics, and exact references for
 * tiny models (log Z with the odd layers summed out analytically, and the
 * variational lower bound on log p(v)). Dimension letters: B rows, n_k
 * units of layer k. */
#ifndef EBM_DBM_H
#define EBM_DBM_H

#include <stddef.h>

#include "ebm/error.h"
#include "ebm/rng.h"

#define EBM_DBM_MAX_HIDDEN 3

/* Views into one block W_0 | .. | W_{L-1} | b_0 | .. | b_L; gradients and
 * optimizer state use the same layout, so a step is one allreduce. */
struct dbm {
    int n_hidden_layers;               /* L */
    int sizes[EBM_DBM_MAX_HIDDEN + 1]; /* n_0 .. n_L */
    float *W[EBM_DBM_MAX_HIDDEN];      /* (n_k, n_{k+1}) row-major */
    float *b[EBM_DBM_MAX_HIDDEN + 1];  /* (n_k) */
    float *block;
    size_t block_len;
    int owns_block;
};

/* A zeroed DBM of sizes n_0 .. n_L, L = 2 or 3 (EBM_ERR_INPUT otherwise). */
ebm_status dbm_init(struct dbm *m, int n_hidden_layers, const int *sizes);
/* Views of a block the caller owns, with the layout of `like`. */
void dbm_view_like(struct dbm *m, const struct dbm *like, float *block);
void dbm_free(struct dbm *m);

/* Layer states or means for B rows: x[k] (B, n_k), k = 0 .. L. */
struct dbm_state {
    float *x[EBM_DBM_MAX_HIDDEN + 1];
};

/* in (B, n_k) <- x_{k-1} W_{k-1} + x_{k+1} W_k' (the neighbours that
 * exist), the input of layer k without its bias b_k: at most two GEMMs. */
void dbm_layer_input(const struct dbm *m, const struct dbm_state *s, int k, int B, float *in);

/* Mean-field q(h | v) for B rows: s->x[0] holds v; s->x[1..L] are
 * initialised by one upward pass with doubled input from below (the layers
 * above are not known yet; Salakhutdinov & Hinton 2009, sec. 4) and then
 * updated in place, layer by layer, mu_k <- sigmoid(input of layer k),
 * until the largest change of a sweep is below tol or max_iter sweeps have
 * run. Returns the sweeps used. `in` is scratch of B * max(n_k) floats. */
int dbm_mean_field(const struct dbm *m, struct dbm_state *s, int B, double tol, int max_iter,
                   float *in);

/* `steps` sweeps of alternating block Gibbs on B chains: the odd layers
 * given the even ones (v included, which is sampled too), then the even
 * layers given the odd ones. s->x holds binary states; `in` as above. */
void dbm_gibbs(const struct dbm *m, struct dbm_state *s, int B, int steps, float *in,
               struct ebm_rng *rng);

/* grad <- inv_nd * sum_data(x_k' x_{k+1}, x_k) - inv_nm * sum_chains(...)
 * over the layer pairs and layers: the data term from mean-field means,
 * the model term from the chains' states. With inv_nd = 1/(P B) and
 * inv_nm = 1/(P C), summing every rank's grad gives the global mean. */
void dbm_statistics(const struct dbm_state *data, int B, const struct dbm_state *chains, int C,
                    float inv_nd, float inv_nm, struct dbm *grad);

/* The sparsity pull on the hidden biases: grad->b[k] (k >= 1) gains
 * cost * (share * target - inv_nd * sum over the B rows of data->x[k]),
 * data->x[k] the mean-field means. With share = 1/P and inv_nd = 1/(P B)
 * the ranks' terms sum to cost * (target - the global batch's mean
 * activation) (Lee, Ekanadham & Ng 2008; Hinton's practical guide, 2010). */
void dbm_sparsity(const struct dbm_state *data, int B, float inv_nd, float share, float target,
                  float cost, struct dbm *grad);

/* E(x) of one configuration, in double. */
double dbm_energy(const struct dbm *m, const float *const *x);

/* Exact log Z, in double: the even layers (v included) are enumerated and
 * the odd ones summed out in closed form. At most DBM_EXACT_MAX_UNITS
 * even units (EBM_ERR_INPUT otherwise). */
#define DBM_EXACT_MAX_UNITS 24
ebm_status dbm_exact_log_z(const struct dbm *m, double *log_z);

/* The variational lower bound on log p(v) + log Z of each of B rows, in
 * double, at the mean-field means in s:
 *   -E(v, mu) + H(mu),  H the factorial Bernoulli entropy
 * (E is linear in each layer, so E_q[E] = E(v, mu)). */
void dbm_bound_plus_log_z(const struct dbm *m, const struct dbm_state *s, int B, double *out);

#endif
