/* Annealed importance sampling for an RBM's log Z (Salakhutdinov & Murray,
 * ICML 2008): runs anneal from a "base-rate" RBM (W = 0, hidden biases 0,
 * visible biases b_A) to the model along the geometric path
 *   p_k*(v) = exp((1 - beta_k) b_A'v + beta_k b'v) prod_j (1 + exp(beta_k (c_j + (vW)_j))),
 * with the hidden layer summed out. Reverse AIS (started from data, after
 * Burda, Grosse & Salakhutdinov 2015) anneals the other way and errs on
 * the high side of log Z, so the two bracket it. Each run's randomness is
 * keyed by its global index: the result does not depend on the rank count
 * beyond float rounding. */
#ifndef EBM_AIS_H
#define EBM_AIS_H

#include <stdbool.h>
#include <stdint.h>
#include <mpi.h>

#include "ebm/rbm.h"

struct ebm_ais_result {
    double log_z;              /* log of the estimate Z^ */
    double log_z_lo, log_z_hi; /* log(Z^ -/+ 3 sd(Z^)); lo is -inf when Z^ - 3 sd <= 0 */
    double log_z_base;         /* exact log Z of the base-rate model */
    int runs;
    double log_w_sd;           /* spread of the runs' log weights (diagnostic) */
};

/* Betas 0 = beta_0 < ... < beta_n = 1 (n + 1 values, malloc'ed), spaced
 * evenly in three segments holding n/15, 4n/15 and 10n/15 steps, up to 0.5,
 * 0.9 and 1 (the 1,000 / 4,000 / 10,000 split for n = 15,000). Values are
 * rounded to float, the precision the annealing runs in. */
double *ebm_ais_schedule(int n);

/* The base-rate visible biases log(p / (1 - p)) from data marginals p
 * (clipped to [1e-3, 1 - 1e-3]). */
void ebm_ais_base_biases(const float *marginals, int V, float *base_vbias);

/* Gathers every run's log weight (local_runs here, total_runs in all) on
 * rank 0 in run order, so the estimate is summed in the same order
 * whatever the rank count, and forms log mean exp(sign * log_w) with its
 * interval log(mean -/+ 3 se) and the log weights' sd. Collective; every
 * rank gets the results. For any model's AIS. */
ebm_status ebm_ais_combine(const double *log_w, int local_runs, int total_runs, double sign,
                           MPI_Comm comm, double *log_mean, double *log_lo, double *log_hi,
                           double *sd_out);

/* Collective: every run's log weight into *out, with lz0 the base's log Z.
 * Forward AIS: log Z = lz0 + log mean(w). Reverse AIS (reverse set), whose
 * weights estimate Z_0 / Z: log Z = lz0 - log mean(w), the interval
 * flipped. */
ebm_status ebm_ais_estimate(const double *log_w, int local_runs, int total_runs, double lz0,
                            bool reverse, MPI_Comm comm, struct ebm_ais_result *out);

/* Forward AIS with `runs` runs split over the ranks of comm. Collective. */
ebm_status rbm_ais(const struct rbm *m, const float *base_vbias, const double *betas, int n,
                   int runs, uint64_t seed, MPI_Comm comm, struct ebm_ais_result *out);

/* Reverse AIS: this rank's runs start at v_start (local_runs rows of V,
 * binary), runs numbered from first_run globally. Collective. */
ebm_status rbm_reverse_ais(const struct rbm *m, const float *base_vbias, const double *betas,
                           int n, const float *v_start, int local_runs, int64_t first_run,
                           uint64_t seed, MPI_Comm comm, struct ebm_ais_result *out);

#endif
