#include "ebm/par.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

ebm_status ebm_mpi_error(int code, const char *file, int line, const char *func,
                         const char *call)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0, rank = -1;
    MPI_Error_string(code, text, &len);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return ebm_error_set(EBM_ERR_MPI, file, line, func, "rank %d: %s failed: %s", rank,
                         call, text);
}

ebm_status ebm_par_init(struct ebm_par *par, MPI_Comm comm)
{
    memset(par, 0, sizeof *par);
    EBM_MPI_TRY(MPI_Comm_dup(comm, &par->world));
    EBM_MPI_TRY(MPI_Comm_set_errhandler(par->world, MPI_ERRORS_RETURN));
    EBM_MPI_TRY(MPI_Comm_rank(par->world, &par->rank));
    EBM_MPI_TRY(MPI_Comm_size(par->world, &par->size));
    MPI_Comm node;
    EBM_MPI_TRY(MPI_Comm_split_type(par->world, MPI_COMM_TYPE_SHARED, par->rank,
                                    MPI_INFO_NULL, &node));
    EBM_MPI_TRY(MPI_Comm_rank(node, &par->node_rank));
    EBM_MPI_TRY(MPI_Comm_size(node, &par->node_size));
    EBM_MPI_TRY(MPI_Comm_free(&node));
    return EBM_OK;
}

void ebm_par_free(struct ebm_par *par)
{
    if (par && par->world != MPI_COMM_NULL && par->world != 0)
        MPI_Comm_free(&par->world);
}

static ebm_status allreduce(const struct ebm_par *par, void *buf, size_t n, size_t width,
                            MPI_Datatype type, MPI_Op op)
{
    char *p = buf;
    while (n > 0) {
        int count = n > INT_MAX ? INT_MAX : (int)n;
        EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, p, count, type, op, par->world));
        p += (size_t)count * width;
        n -= (size_t)count;
    }
    return EBM_OK;
}

ebm_status ebm_par_allreduce_sum(const struct ebm_par *par, float *buf, size_t n)
{
    return allreduce(par, buf, n, sizeof *buf, MPI_FLOAT, MPI_SUM);
}

ebm_status ebm_par_allreduce_sum_d(const struct ebm_par *par, double *buf, size_t n)
{
    return allreduce(par, buf, n, sizeof *buf, MPI_DOUBLE, MPI_SUM);
}

ebm_status ebm_par_max_d(const struct ebm_par *par, double *buf, size_t n)
{
    return allreduce(par, buf, n, sizeof *buf, MPI_DOUBLE, MPI_MAX);
}

ebm_status ebm_comm_agree(MPI_Comm comm, ebm_status local)
{
    /* The lowest failing rank's message becomes everyone's, so rank 0 can
     * print it once. */
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int mine = local != EBM_OK ? rank : size, first = size;
    int rc = MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (rc != MPI_SUCCESS)
        return ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "MPI_Allreduce");
    if (first == size) return EBM_OK;
    int status = (int)local;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ebm_error_message());
    rc = MPI_Bcast(&status, 1, MPI_INT, first, comm);
    if (rc == MPI_SUCCESS) rc = MPI_Bcast(msg, sizeof msg, MPI_CHAR, first, comm);
    if (rc != MPI_SUCCESS)
        return ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "MPI_Bcast");
    ebm_error_adopt(msg);
    return (ebm_status)status;
}

ebm_status ebm_par_agree(const struct ebm_par *par, ebm_status local)
{
    return ebm_comm_agree(par->world, local);
}

ebm_status ebm_par_wait(MPI_Request *req)
{
    /* MPI_Wait polls the network at full speed. A rank that waits long
     * (a pipeline stage whose neighbour is slower) would take a core from
     * the ranks that compute when ranks share cores; a short sleep between
     * tests gives it back, for at most this much added latency. */
    const struct timespec nap = { 0, 50 * 1000 };
    for (int polls = 0;; polls++) {
        int done = 0;
        EBM_MPI_TRY(MPI_Test(req, &done, MPI_STATUS_IGNORE));
        if (done) return EBM_OK;
        if (polls >= 64) nanosleep(&nap, NULL);
    }
}

ebm_status ebm_par_barrier_idle(MPI_Comm comm)
{
    MPI_Request req;
    EBM_MPI_TRY(MPI_Ibarrier(comm, &req));
    return ebm_par_wait(&req);
}
