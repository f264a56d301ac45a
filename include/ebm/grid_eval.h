/* `ebm eval` for a Bernoulli RBM whose W lies on a process grid (ebm eval
 * --grid PrxPc, docs/model-parallel.md): free energies and reconstruction
 * error of the rows, and log Z by forward and reverse AIS, with every
 * product through PSGEMM and no rank holding W. Each AIS run draws exactly
 * the numbers its data-parallel twin draws (ebm/ais.h: the run's own
 * stream, addressed by position here), so both layouts give the same
 * estimate up to float summation order. The replicas split the runs and
 * the rows; the ranks of a replica hold the same rows. */
#ifndef EBM_GRID_EVAL_H
#define EBM_GRID_EVAL_H

#include "ebm/ais.h"
#include "ebm/evaluate.h"
#include "ebm/grid_rbm.h"

/* Forward AIS with `runs` runs split over the replicas. Collective. */
ebm_status ebm_grid_ais(const struct ebm_grid_rbm *m, const float *base_vbias,
                        const double *betas, int n, int runs, uint64_t seed,
                        struct ebm_ais_result *out);
/* Reverse AIS: this replica's runs start at v_start (local_runs rows of V,
 * binary, held by every rank of the replica), numbered from first_run.
 * Collective. */
ebm_status ebm_grid_reverse_ais(const struct ebm_grid_rbm *m, const float *base_vbias,
                                const double *betas, int n, const float *v_start,
                                int local_runs, int64_t first_run, uint64_t seed,
                                struct ebm_ais_result *out);

/* ebm_evaluate's report (ebm/evaluate.h) with W on the grid: x holds this
 * replica's rows (n_local, global rows first..), binary. AIS only (opts
 * exact is refused) and no pseudo-likelihood (NaN). Collective; m's batch
 * matrices (B rows) carry the rows in chunks. */
ebm_status ebm_grid_evaluate(struct ebm_grid_rbm *m, const float *x, int64_t n_local,
                             int64_t first, const struct ebm_eval_opts *opts,
                             struct ebm_eval_result *out);

#endif
