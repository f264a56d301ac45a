#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/cmd.h"

int ebm_cmd_finish(ebm_status st)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (st != EBM_OK && rank == 0) {
        /* A stop on request is an outcome, not a failure: exit status 3. */
        fprintf(stderr, "ebm: %s: %s\n", st == EBM_ERR_STOPPED ? "stopped" : "error",
                ebm_error_message());
        if (getenv("EBM_TRACE")) fputs(ebm_error_backtrace(), stderr);
        fflush(stderr);
    }
    return ebm_status_exit_code(st);
}

bool ebm_cmd_help(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            int rank = 0;
            MPI_Comm_rank(MPI_COMM_WORLD, &rank);
            if (rank == 0) fputs(usage, stdout);
            return true;
        }
    return false;
}
