#include "ebm/h5util.h"

#include <stdio.h>
#include <hdf5.h>
#include <mpi.h>

/* The innermost HDF5 error description is usually the specific one ("file
 * doesn't exist", "no space available") rather than the API summary. */
static herr_t innermost(unsigned n, const H5E_error2_t *err, void *data)
{
    (void)n;
    if (err->desc && err->desc[0]) snprintf((char *)data, 256, "%s", err->desc);
    return 0;
}

ebm_status ebm_h5_fail(ebm_status code, const char *file, int line, const char *func,
                       const char *path, const char *call)
{
    char desc[256] = "unknown HDF5 error";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, innermost, desc);
    int rank = 0, init = 0;
    MPI_Initialized(&init);
    if (init) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return ebm_error_set(code, file, line, func, "%s: HDF5 %s failed on rank %d: %s", path,
                         call, rank, desc);
}
