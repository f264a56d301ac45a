/* HDF5 failures as one-line statuses that keep the library's own reason
 * ("No space left on device") and name the rank; scalar attributes; and the
 * two steps every collective writer shares: the parallel file access list,
 * and publishing a file written under a hidden temporary name. */
#ifndef EBM_H5UTIL_H
#define EBM_H5UTIL_H

#include <hdf5.h>
#include <mpi.h>

#include "ebm/error.h"

/* Records "PATH: HDF5 CALL failed on rank R: <innermost HDF5 message>". */
ebm_status ebm_h5_fail(ebm_status code, const char *file, int line, const char *func,
                       const char *path, const char *call);

#define EBM_H5_FAIL(code, path, call) \
    ebm_h5_fail((code), __FILE__, __LINE__, __func__, (path), (call))

/* Runs expr only while st is still EBM_OK; a negative result records the
 * HDF5 failure, so a sequence of calls stops at its first failure. */
#define EBM_H5_OR(st, expr, path, call)                                        \
    do {                                                                       \
        if ((st) == EBM_OK && (expr) < 0)                                      \
            (st) = EBM_H5_FAIL(EBM_ERR_IO, (path), (call));                    \
    } while (0)

/* A scalar attribute name on obj, of file type ftype, from *value of memory
 * type mtype; and a string attribute (fixed length, NUL included). path
 * names the file in errors. No MPI here: on a file open for parallel access
 * every rank makes the call, as HDF5 requires of metadata writes. */
ebm_status ebm_h5_attr(hid_t obj, const char *path, const char *name, hid_t ftype, hid_t mtype,
                       const void *value);
ebm_status ebm_h5_attr_str(hid_t obj, const char *path, const char *name, const char *value);

/* A file access list for collective parallel HDF5 over comm, metadata
 * reads and writes collective too. Negative on failure; *failed (when not
 * NULL) then names the HDF5 call that failed. */
hid_t ebm_h5_mpio_fapl(MPI_Comm comm, const char **failed);

/* One rank's last step for a complete file at tmp: fsync it, so the data
 * reaches the disk before the name does, then rename it over path.
 * Returns 0, or the errno of the step that failed. */
int ebm_h5_publish(const char *tmp, const char *path);

#endif
