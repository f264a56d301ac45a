/* Convergence diagnostics of MCMC traces (e.g. each chain's energy after
 * every step): effective sample size and split-R-hat, as plain functions on
 * arrays, and a collective version for chains split over the ranks.
 * Traces are (M, N) row-major: M chains, N draws each, chain-major. */
#ifndef EBM_DIAGNOSTICS_H
#define EBM_DIAGNOSTICS_H

#include <mpi.h>

#include "ebm/error.h"

/* Effective sample size of M chains of N draws (N >= 4) taken together, by
 * the multi-chain estimator of the Stan reference manual ("Effective sample
 * size") and Vehtari, Gelman, Simpson, Carpenter & Buerkner (2021,
 * Bayesian Analysis 16(2)), without rank normalisation: autocorrelations
 *   rho_t = 1 - (W - mean_m acov_m(t)) / var+,
 * summed with Geyer's (1992) initial positive sequence, made monotone, so
 * ESS = M N / tau, tau = -1 + 2 sum rho_t, tau >= 1 / log10(M N). With M = 1
 * it is the single chain's ESS. NaN when every draw is the same. Fails with
 * EBM_ERR_INPUT on N < 4, M < 1 or a non-finite draw. */
ebm_status ebm_ess(const double *x, int M, int N, double *ess);

/* Split-R-hat (Gelman et al., Bayesian Data Analysis, 3rd ed., sec. 11.4):
 * each chain is split into halves of n = floor(N / 2) draws (the middle draw
 * of an odd N is dropped), and over those 2M sequences
 *   B = n var(half means), W = mean(half variances),
 *   var+ = (n - 1) / n W + B / n,   R = sqrt(var+ / W).
 * NaN when W = 0. Same input checks as ebm_ess. */
ebm_status ebm_split_rhat(const double *x, int M, int N, double *rhat);

/* Everything `ebm sample --diagnostics` reports about one trace. */
struct ebm_trace_diag {
    int chains;            /* M */
    int draws;             /* N per chain */
    double mean, sd;       /* of all M N draws */
    double ess;            /* ebm_ess of the 2M half chains (posterior's ess_basic) */
    double ess_chain_min;  /* the smallest single-chain ESS */
    double ess_chain_mean; /* the mean single-chain ESS */
    double rhat;           /* ebm_split_rhat */
};

/* The summary of traces x (M, N), N >= 8 (halves of at least 4 draws).
 * ess_chain (M), when not NULL, receives each chain's own ESS. */
ebm_status ebm_diagnose(const double *x, int M, int N, struct ebm_trace_diag *out,
                        double *ess_chain);

/* Collective over comm: this rank holds local_m chains (possibly 0) of N
 * draws, the ranks' chains contiguous and in rank order (as ebm_shard_range
 * splits them). The traces are gathered to rank 0, diagnosed there in
 * global chain order and the result broadcast, so every rank gets the same
 * answer, bit for bit the one ebm_diagnose gives on all chains at once, at
 * any rank count. Errors agree across ranks (ebm_comm_agree). */
ebm_status ebm_diagnose_comm(const double *local, int local_m, int N, MPI_Comm comm,
                             struct ebm_trace_diag *out);

#endif
