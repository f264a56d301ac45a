#include "ebm/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

ebm_status ebm_h5_attr(hid_t obj, const char *path, const char *name, hid_t ftype, hid_t mtype,
                       const void *value)
{
    ebm_status st = EBM_OK;
    hid_t space = H5Screate(H5S_SCALAR), attr = -1;
    EBM_H5_OR(st, space, path, "H5Screate");
    EBM_H5_OR(st, attr = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT), path,
              "H5Acreate2");
    EBM_H5_OR(st, H5Awrite(attr, mtype, value), path, "H5Awrite");
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    return st;
}

ebm_status ebm_h5_attr_str(hid_t obj, const char *path, const char *name, const char *value)
{
    ebm_status st = EBM_OK;
    hid_t type = H5Tcopy(H5T_C_S1);
    EBM_H5_OR(st, type, path, "H5Tcopy");
    EBM_H5_OR(st, H5Tset_size(type, strlen(value) + 1), path, "H5Tset_size");
    if (st == EBM_OK) st = ebm_h5_attr(obj, path, name, type, type, value);
    if (type >= 0) H5Tclose(type);
    return st;
}

hid_t ebm_h5_mpio_fapl(MPI_Comm comm, const char **failed)
{
    const char *call;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) call = "H5Pcreate(fapl)";
    else if (H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0) call = "H5Pset_fapl_mpio";
    else if (H5Pset_all_coll_metadata_ops(fapl, 1) < 0) call = "H5Pset_all_coll_metadata_ops";
    else if (H5Pset_coll_metadata_write(fapl, 1) < 0) call = "H5Pset_coll_metadata_write";
    else return fapl;
    if (fapl >= 0) H5Pclose(fapl);
    if (failed) *failed = call;
    return -1;
}

int ebm_h5_publish(const char *tmp, const char *path)
{
    int fd = open(tmp, O_RDONLY);
    int err = fd < 0 || fsync(fd) != 0 || rename(tmp, path) != 0 ? (errno ? errno : EIO) : 0;
    if (fd >= 0) close(fd);
    return err;
}
