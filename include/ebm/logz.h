/* Exact log partition function of a small RBM: the states of its smaller
 * layer are enumerated (split over the ranks of a communicator) and the
 * other layer is summed out analytically, all in double precision. */
#ifndef EBM_LOGZ_H
#define EBM_LOGZ_H

#include <mpi.h>

#include "ebm/rbm.h"

#define EBM_EXACT_MAX_UNITS 32

/* Collective over comm. Fails with EBM_ERR_INPUT when both layers have
 * more than EBM_EXACT_MAX_UNITS units. */
ebm_status rbm_exact_log_z(const struct rbm *m, MPI_Comm comm, double *log_z);

/* A numerically safe running log-sum-exp. */
struct ebm_lse { double max, sum; };
void ebm_lse_init(struct ebm_lse *a);
void ebm_lse_add(struct ebm_lse *a, double x);
double ebm_lse_value(const struct ebm_lse *a);
/* Collective: combines every rank's accumulator into the global value. */
ebm_status ebm_lse_allreduce(struct ebm_lse *a, MPI_Comm comm, double *out);

#endif
