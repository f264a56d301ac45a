/* What `ebm eval` reports about a fully visible BM on a dataset: the mean
 * energy, the exact average log-probability (log Z by enumeration, at most
 * BM_EXACT_MAX_UNITS units) and the pseudo-likelihood. Collective over a
 * communicator; each rank holds a shard of the rows. */
#ifndef EBM_BM_EVAL_H
#define EBM_BM_EVAL_H

#include <stdint.h>
#include <mpi.h>

#include "ebm/bm.h"

struct ebm_bm_eval_result {
    int64_t n_examples;
    double mean_energy, energy_se;  /* over examples */
    int exact;                      /* log Z and avg_log_prob are set */
    double log_z, avg_log_prob;     /* avg_log_prob = -mean_energy - log Z */
    double pseudo_ll_per_unit;      /* mean of log p(x_j | x_-j) over examples and units */
    double pseudo_ll_per_example;
};

/* x: this rank's n_local rows of the model's states ({0,1}, or {-1,+1}
 * for a spin model). log Z is computed when the model has at most
 * BM_EXACT_MAX_UNITS units (every rank enumerates it; 0.5 s at 20). */
ebm_status ebm_bm_evaluate(const struct bm *m, const float *x, int64_t n_local, MPI_Comm comm,
                           struct ebm_bm_eval_result *out);

#endif
