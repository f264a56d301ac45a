/* What `ebm eval` reports about a DBM on a dataset: the variational lower
 * bound on the average log-probability (Salakhutdinov & Hinton 2009),
 *   log p(v) >= -E(v, mu) + H(mu) - log Z,  mu the mean-field posterior,
 * with log Z exact (small models) or by AIS over the even layers
 * (dbm_ais.h), whose interval carries over to the bound. Collective over
 * a communicator; each rank holds a shard of the rows. */
#ifndef EBM_DBM_EVAL_H
#define EBM_DBM_EVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <mpi.h>

#include "ebm/dbm.h"

struct ebm_dbm_eval_opts {
    bool exact;                 /* enumerate instead of AIS */
    bool reverse;               /* with AIS: reverse AIS from the first ais_runs rows too */
    int ais_runs, ais_betas;
    int ais_kept;               /* the parity of the layers AIS moves over (dbm_ais.h) */
    bool hidden_base_rates;     /* AIS's base: hidden units at their mean-field rates over
                                 * the rows (ebm eval's default), not uniform (the paper's) */
    uint64_t seed;
    int mf_steps;               /* mean-field cap and tolerance */
    double mf_tol;
};

struct ebm_dbm_eval_result {
    int64_t n_examples;
    double mean_bound_plus_log_z, se;    /* over examples */
    double log_z, log_z_lo, log_z_hi, log_w_sd;
    double bound, bound_lo, bound_hi;    /* the average bound and its interval */
    double mf_sweeps;                    /* mean-field sweeps per 256-row block, mean */
    double ais_seconds;
    /* log Z is at least every row's bound plus log Z (log p(v) <= 0): an
     * estimate below this floor has not converged. */
    double log_z_floor;
    bool below_floor;                    /* log_z < log_z_floor: AIS has not converged */
    bool have_reverse;
    int reverse_runs;
    double reverse_log_z, reverse_log_z_lo, reverse_log_z_hi;
    double reverse_bound;                /* the bound with reverse AIS's log Z */
    double reverse_seconds;
};

/* x: this rank's rows (binary), n_local of them, the first of them row
 * `first` of the split. */
ebm_status ebm_dbm_evaluate(const struct dbm *m, const float *x, int64_t n_local, int64_t first,
                            const struct ebm_dbm_eval_opts *o, MPI_Comm comm,
                            struct ebm_dbm_eval_result *out);

#endif
