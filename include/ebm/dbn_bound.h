/* The variational lower bound on a DBN's log-probability (Salakhutdinov &
 * Murray, ICML 2008, sec. 5). With q(h_1 | v) q(h_2 | h_1) ... the upward
 * recognition distribution and p*_top(x) = exp(-F_top(x)) the top RBM's
 * unnormalised marginal of its visible layer h_{L-1},
 *   log p(v) >= E_q[ log p(v | h_1) + sum_{k=1}^{L-2} log p(h_k | h_{k+1})
 *                    + log p*_top(h_{L-1}) - sum_{k=0}^{L-2} log q(h_{k+1} | h_k) ]
 *               - log Z_top.
 * The expectation is estimated with S samples per row, row r drawing from
 * the stream (seed, r, EBM_RNG_DBN_BOUND); log Z_top is exact or by AIS.
 * With L = 1 there is nothing to sample and the bound is log p(v) itself. */
#ifndef EBM_DBN_BOUND_H
#define EBM_DBN_BOUND_H

#include <stdbool.h>
#include <stdint.h>
#include <mpi.h>

#include "ebm/dbn.h"

struct ebm_dbn_bound_opts {
    int samples;       /* S, samples of q per row */
    bool exact;        /* log Z_top by enumeration instead of AIS */
    int ais_runs;      /* forward runs; reverse runs start from as many rows */
    int ais_betas;
    bool reverse;      /* also reverse AIS, from upward samples of the data */
    uint64_t seed;     /* of the q samples and of AIS */
};

struct ebm_dbn_bound_result {
    int64_t n_examples;
    int samples;                       /* S used (1 when L = 1) */
    double mean_log_integrand;         /* mean over rows of the S-sample average, before log Z */
    double bound, bound_se;            /* mean_log_integrand - log_z; se over rows */
    double bound_lo, bound_hi;         /* from the log Z interval */
    double log_z, log_z_lo, log_z_hi;  /* of the top RBM; exact: all three equal */
    double ais_log_w_sd, ais_seconds;
    bool have_reverse;
    int reverse_runs;
    double reverse_log_z, reverse_log_z_lo, reverse_log_z_hi, reverse_bound, reverse_seconds;
};

/* No MPI: for rows x (n of them, binary, global indices first ..),
 * mean[r] = the S-sample average of the log integrand above (log Z_top
 * not subtracted) and var[r] (may be NULL) the sample variance of its S
 * terms (0 when S = 1 or L = 1). */
ebm_status ebm_dbn_bound_rows(const struct dbn *d, const float *x, int64_t n, int64_t first,
                              int samples, uint64_t seed, double *mean, double *var);

/* Collective over comm; each rank holds n_local binary rows starting at
 * global row first. AIS for log Z_top starts from a base rate fitted to
 * the marginals of the sampled h_{L-1}; reverse AIS starts from the first
 * sample of h_{L-1} of each of the first ais_runs rows. */
ebm_status ebm_dbn_bound(const struct dbn *d, const float *x, int64_t n_local, int64_t first,
                         const struct ebm_dbn_bound_opts *opts, MPI_Comm comm,
                         struct ebm_dbn_bound_result *out);

#endif
