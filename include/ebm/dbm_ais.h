/* Annealed importance sampling for a DBM's log Z (Salakhutdinov & Hinton
 * 2009, sec. 4.2). The path runs from a base in which every unit of layer
 * k is an independent Bernoulli(sigmoid(b_Ak)) (beta = 0) to the model
 * (beta = 1), each intermediate having the biases beta b_k + (1 - beta)
 * b_Ak and the weights beta W_k. The layers of one parity are summed out
 * analytically and the runs move over the others, the kept layers x_K:
 *   p_beta*(x_K) = exp(sum_{k kept} (beta b_k + (1 - beta) b_Ak)'x_k)
 *                  prod_{k summed} prod_j (1 + exp(beta a_kj(x_K) + (1 - beta) b_Akj)),
 *   a_kj = b_kj + (x_{k-1} W_{k-1})_j + (x_{k+1} W_k')_j.
 * kept = 0 keeps the even layers (v, x_2[, ...]) and sums out the odd ones,
 * the paper's choice; kept = 1 the converse. Each transition is a Gibbs
 * sweep of the summed-out layers given the kept ones and back, at beta.
 * The paper's base has b_A from the data's pixel rates for v and 0
 * (uniform) for the hidden layers. Each run draws from its own stream
 * keyed by its global index. */
#ifndef EBM_DBM_AIS_H
#define EBM_DBM_AIS_H

#include <stdint.h>
#include <mpi.h>

#include "ebm/ais.h"
#include "ebm/dbm.h"

/* Forward AIS, `runs` runs split over the ranks of comm, with the schedule
 * betas[0..n] (ebm_ais_schedule), the base biases b_A of every layer one
 * after the other (n_0 + n_1 + ... + n_L values) and the parity of the
 * kept layers. Collective. */
ebm_status dbm_ais(const struct dbm *m, const float *base, const double *betas, int n,
                   int runs, int kept, uint64_t seed, MPI_Comm comm,
                   struct ebm_ais_result *out);

/* Reverse AIS, from the model down to the base: this rank's local_runs
 * runs start at the rows v_start (binary, local_runs x n_0), each kept
 * hidden layer drawn from the rows' mean-field posterior (tolerance mf_tol,
 * at most mf_steps sweeps); runs are numbered from first_run globally.
 * Its log Z errs high where forward AIS errs low, so the two bracket it
 * (the pessimistic side for the bound). Collective. */
ebm_status dbm_reverse_ais(const struct dbm *m, const float *base, const double *betas,
                           int n, const float *v_start, int local_runs, int64_t first_run,
                           int kept, uint64_t seed, double mf_tol, int mf_steps, MPI_Comm comm,
                           struct ebm_ais_result *out);

#endif
