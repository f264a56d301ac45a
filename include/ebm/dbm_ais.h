/* Annealed importance sampling for a DBM's log Z (Salakhutdinov & Hinton
 * 2009, sec. 4.2): the odd layers are summed out analytically, so the
 * runs move over the even layers x_e = (v, x_2[, ...]) along
 *   p_beta*(x_e) = exp((1 - beta) b_A'v + beta sum_{k even} b_k'x_k)
 *                  prod_{k odd} prod_j (1 + exp(beta a_kj(x_e))),
 *   a_kj = b_kj + (x_{k-1} W_{k-1})_j + (x_{k+1} W_k')_j,
 * from the base (beta = 0: v ~ Bernoulli(sigmoid(b_A)), every other unit
 * uniform) to the model (beta = 1), each transition a Gibbs sweep of the
 * odd layers given the even ones and back, at beta. Each run draws from
 * its own stream keyed by its global index. */
#ifndef EBM_DBM_AIS_H
#define EBM_DBM_AIS_H

#include <stdint.h>
#include <mpi.h>

#include "ebm/ais.h"
#include "ebm/dbm.h"

/* Forward AIS, `runs` runs split over the ranks of comm, with the schedule
 * betas[0..n] (ebm_ais_schedule) and base visible biases b_A (n_0).
 * Collective. */
ebm_status dbm_ais(const struct dbm *m, const float *base_vbias, const double *betas, int n,
                   int runs, uint64_t seed, MPI_Comm comm, struct ebm_ais_result *out);

#endif
