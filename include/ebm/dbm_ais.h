/* Annealed importance sampling for a DBM's log Z (Salakhutdinov & Hinton
 * 2009, sec. 4.2). The layers of one parity are summed out analytically
 * and the runs move over the others, the kept layers x_K: with the odd
 * layers summed out (kept = 0, the paper's choice) over x_K = (v, x_2[, ...]),
 *   p_beta*(x_K) = exp((1 - beta) b_A'v + beta sum_{k even} b_k'x_k)
 *                  prod_{k odd} prod_j (1 + exp(beta a_kj(x_K))),
 *   a_kj = b_kj + (x_{k-1} W_{k-1})_j + (x_{k+1} W_k')_j;
 * with the even layers summed out (kept = 1) over x_K = (x_1[, x_3]), v's
 * factor being 1 + exp((1 - beta) b_Aj + beta a_0j(x_K)). The path runs
 * from the base (beta = 0: v ~ Bernoulli(sigmoid(b_A)), every other unit
 * uniform) to the model (beta = 1), each transition a Gibbs sweep of the
 * summed-out layers given the kept ones and back, at beta. Each run draws
 * from its own stream keyed by its global index. */
#ifndef EBM_DBM_AIS_H
#define EBM_DBM_AIS_H

#include <stdint.h>
#include <mpi.h>

#include "ebm/ais.h"
#include "ebm/dbm.h"

/* Forward AIS, `runs` runs split over the ranks of comm, with the schedule
 * betas[0..n] (ebm_ais_schedule), base visible biases b_A (n_0) and the
 * parity of the kept layers. Collective. */
ebm_status dbm_ais(const struct dbm *m, const float *base_vbias, const double *betas, int n,
                   int runs, int kept, uint64_t seed, MPI_Comm comm,
                   struct ebm_ais_result *out);

/* Reverse AIS, from the model down to the base: this rank's local_runs
 * runs start at the rows v_start (binary, local_runs x n_0), each kept
 * hidden layer drawn from the rows' mean-field posterior (tolerance mf_tol,
 * at most mf_steps sweeps); runs are numbered from first_run globally.
 * Its log Z errs high where forward AIS errs low, so the two bracket it
 * (the pessimistic side for the bound). Collective. */
ebm_status dbm_reverse_ais(const struct dbm *m, const float *base_vbias, const double *betas,
                           int n, const float *v_start, int local_runs, int64_t first_run,
                           int kept, uint64_t seed, double mf_tol, int mf_steps, MPI_Comm comm,
                           struct ebm_ais_result *out);

#endif
