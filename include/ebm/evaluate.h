/* Everything `ebm eval` reports about an RBM on a dataset: the average
 * log-probability (exact or by AIS, with reverse AIS as the pessimistic
 * side), pseudo-likelihood, reconstruction error and free energies.
 * Collective over a communicator; each rank holds a shard of the rows. */
#ifndef EBM_EVALUATE_H
#define EBM_EVALUATE_H

#include <stdbool.h>
#include <stdint.h>
#include <mpi.h>

#include "ebm/ais.h"
#include "ebm/rbm.h"

struct ebm_eval_opts {
    bool exact;            /* enumerate instead of AIS */
    int ais_runs;          /* forward runs; reverse runs start from as many data rows */
    int ais_betas;         /* intermediate distributions */
    uint64_t seed;
    bool reverse;          /* also run reverse AIS */
    bool pseudo_likelihood;
};

struct ebm_eval_result {
    int64_t n_examples;
    double mean_free_energy, free_energy_se; /* over examples */
    double log_z, log_z_lo, log_z_hi;        /* exact: all three equal */
    double avg_log_prob, avg_log_prob_lo, avg_log_prob_hi;
    bool have_reverse;
    int reverse_runs;                        /* min(ais_runs, examples) */
    double reverse_log_z, reverse_log_z_lo, reverse_log_z_hi, reverse_avg_log_prob;
    double ais_log_w_sd;
    double ais_seconds, reverse_seconds;     /* wall time of each annealing */
    double pseudo_ll_per_unit;   /* mean of log p(v_i | v_-i) over examples and units; NaN if off */
    double pseudo_ll_per_example; /* the same summed over the units: per_unit * V */
    double recon_error;          /* mean over examples of sum_i (v_i - p(v_i | p(h | v)))^2 */
};

/* Binary rows for evaluation from intensities in [0, 1]: row r (global
 * index first + r) is drawn with its own stream, so every rank count sees
 * the same binary data. mode: 0 stochastic, 1 threshold at 0.5, 2 none. */
ebm_status ebm_eval_binarize(float *x, int64_t rows, int dim, int64_t first, uint64_t seed,
                             int mode);

/* x: this rank's rows (n_local of them, global rows first..), binary unless
 * pseudo_likelihood is off. */
ebm_status ebm_evaluate(const struct rbm *m, const float *x, int64_t n_local, int64_t first,
                        const struct ebm_eval_opts *opts, MPI_Comm comm,
                        struct ebm_eval_result *out);

/* How AIS reaches a model in its layout: one rank's full RBM
 * (ebm_evaluate), or W on a process grid (ebm/grid_eval.h). forward and
 * reverse are rbm_ais and rbm_reverse_ais (ebm/ais.h) for that layout. */
struct ebm_ais_layout {
    const void *model;
    enum ebm_unit_type visible;   /* spins' base biases are half the log-odds */
    MPI_Comm all;                 /* every rank of the evaluation */
    MPI_Comm rows;                /* one rank per shard of the rows */
    ebm_status (*forward)(const void *model, const float *base_vbias, const double *betas,
                          int n, int runs, uint64_t seed, struct ebm_ais_result *out);
    ebm_status (*reverse)(const void *model, const float *base_vbias, const double *betas,
                          int n, const float *v_start, int local_runs, int64_t first_run,
                          uint64_t seed, struct ebm_ais_result *out);
};

/* Collective: log Z by forward AIS from the base rates of the n_total
 * rows (x: this shard's n_local rows, global rows first..), and by reverse
 * AIS from the first ais_runs rows, into out (log_z*, reverse_*, seconds). */
ebm_status ebm_eval_log_z_by_ais(const struct ebm_ais_layout *l, int V, const float *x,
                                 int64_t n_local, int64_t first, int64_t n_total,
                                 const struct ebm_eval_opts *o, struct ebm_eval_result *out);
/* The average log-probabilities from out's mean free energy and log Zs. */
void ebm_eval_log_probs(struct ebm_eval_result *out);

/* log p(v_i | v_-i) summed over the units of one binary row; scratch holds H floats. */
double ebm_pseudo_log_likelihood(const struct rbm *m, const float *v, float *scratch);

#endif
