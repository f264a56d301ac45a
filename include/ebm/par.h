/* The parallel layout as one context object: the world communicator, this
 * rank's place in it and on its node. Model code never calls MPI; the
 * trainer asks this module to reduce its gradient block. */
#ifndef EBM_PAR_H
#define EBM_PAR_H

#include <stddef.h>
#include <mpi.h>

#include "ebm/error.h"

struct ebm_par {
    MPI_Comm world;    /* duplicated, with MPI_ERRORS_RETURN */
    int rank, size;
    int node_rank, node_size; /* ranks sharing this node */
};

ebm_status ebm_par_init(struct ebm_par *par, MPI_Comm comm);
void ebm_par_free(struct ebm_par *par);

/* Sum buf over all ranks in place (chunked past INT_MAX elements). */
ebm_status ebm_par_allreduce_sum(const struct ebm_par *par, float *buf, size_t n);
ebm_status ebm_par_allreduce_sum_d(const struct ebm_par *par, double *buf, size_t n);
ebm_status ebm_par_max_d(const struct ebm_par *par, double *buf, size_t n);

/* Collective: every rank learns whether any rank failed. Every rank adopts
 * the lowest failing rank's message and returns its status, so that rank 0
 * alone prints it. Returns EBM_OK when all succeeded. */
ebm_status ebm_par_agree(const struct ebm_par *par, ebm_status local);
/* The same over any communicator (library code that is handed one). */
ebm_status ebm_comm_agree(MPI_Comm comm, ebm_status local);

/* Waits for one request, sleeping briefly between tests once it has not
 * completed at once, so that a long wait leaves its core to the ranks that
 * compute (ranks may share cores). */
ebm_status ebm_par_wait(MPI_Request *req);
/* A barrier that waits the same way (before a collective that some ranks
 * would otherwise reach long before the others). */
ebm_status ebm_par_barrier_idle(MPI_Comm comm);

/* Turns an MPI return code into a status whose message names the rank. */
ebm_status ebm_mpi_error(int code, const char *file, int line, const char *func,
                         const char *call);
#define EBM_MPI_TRY(call)                                                          \
    do {                                                                           \
        int ebm_rc_ = (call);                                                      \
        if (ebm_rc_ != MPI_SUCCESS)                                                \
            return ebm_mpi_error(ebm_rc_, __FILE__, __LINE__, __func__, #call);    \
    } while (0)

#endif
