/* Feature files: every call is collective, and every HDF5 failure is agreed
 * over the communicator before the next collective call, so a rank that
 * fails never leaves the others waiting in it. */
#include "ebm/feature_file.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ebm/h5util.h"
#include "ebm/par.h"

/* Runs expr only while st is still EBM_OK; a negative result records the
 * HDF5 failure, so a sequence of calls stops at its first failure. */
#define H5_OR(st, expr, path, call)                                            \
    do {                                                                       \
        if ((st) == EBM_OK && (expr) < 0)                                      \
            (st) = EBM_H5_FAIL(EBM_ERR_IO, (path), (call));                    \
    } while (0)

static ebm_status write_attr_str(hid_t obj, const char *path, const char *name,
                                 const char *value)
{
    ebm_status st = EBM_OK;
    hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR), attr = -1;
    H5_OR(st, type, path, "H5Tcopy");
    H5_OR(st, space, path, "H5Screate");
    H5_OR(st, H5Tset_size(type, strlen(value) + 1), path, "H5Tset_size");
    H5_OR(st, attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), path,
          "H5Acreate2");
    H5_OR(st, H5Awrite(attr, type, value), path, "H5Awrite");
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return st;
}

static ebm_status write_attr_i64(hid_t obj, const char *path, const char *name, int64_t value)
{
    ebm_status st = EBM_OK;
    hid_t space = H5Screate(H5S_SCALAR), attr = -1;
    H5_OR(st, space, path, "H5Screate");
    H5_OR(st, attr = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT),
          path, "H5Acreate2");
    H5_OR(st, H5Awrite(attr, H5T_NATIVE_INT64, &value), path, "H5Awrite");
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    return st;
}

static ebm_status write_source(const struct ebm_feature_file *f,
                               const struct ebm_feature_source *src)
{
    ebm_status st = write_attr_str(f->file, f->path, "checkpoint", src->checkpoint);
    if (st == EBM_OK) st = write_attr_str(f->file, f->path, "data", src->data);
    if (st == EBM_OK) st = write_attr_str(f->file, f->path, "layers", src->layers);
    if (st == EBM_OK) st = write_attr_i64(f->file, f->path, "layer", src->layer);
    return st;
}

/* Collective close; rank 0 then publishes the temporary (keep = 1), or
 * removes it (keep = 0, or any failure). Every rank learns the outcome. */
static ebm_status finish(struct ebm_feature_file *f, int keep)
{
    ebm_feature_file_split_end(f);
    int ok = keep;
    if (f->file >= 0 && H5Fclose(f->file) < 0) ok = 0;
    f->file = -1;
    if (f->dxpl >= 0) H5Pclose(f->dxpl);
    f->dxpl = -1;
    int rank = 0, all_ok = 0, err = 0;
    MPI_Comm_rank(f->comm, &rank);
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, f->comm);
    if (rank == 0) {
        if (all_ok) {
            err = ebm_h5_publish(f->tmp, f->path);
            if (err) all_ok = 0;
        }
        if (!all_ok) unlink(f->tmp);
    }
    int flags[2] = { all_ok, err };
    MPI_Bcast(flags, 2, MPI_INT, 0, f->comm);
    if (keep && !flags[0])
        return EBM_FAIL(EBM_ERR_IO, "%s: cannot complete the file: %s", f->path,
                        flags[1] ? strerror(flags[1]) : "HDF5 close failed");
    return EBM_OK;
}

ebm_status ebm_feature_file_create(struct ebm_feature_file *f, const char *path, MPI_Comm comm,
                                   const struct ebm_feature_source *src)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    f->comm = comm;
    f->file = f->dxpl = f->group = f->x = f->y = -1;
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    snprintf(f->tmp, sizeof f->tmp, "%.*s.%s.tmp", dir_len, path, slash ? slash + 1 : path);
    const char *failed = NULL;
    hid_t fapl = ebm_h5_mpio_fapl(comm, &failed);
    ebm_status st = fapl < 0 ? EBM_H5_FAIL(EBM_ERR_IO, path, failed) : EBM_OK;
    H5_OR(st, f->dxpl = H5Pcreate(H5P_DATASET_XFER), path, "H5Pcreate(dxpl)");
    H5_OR(st, H5Pset_dxpl_mpio(f->dxpl, H5FD_MPIO_COLLECTIVE), path, "H5Pset_dxpl_mpio");
    st = ebm_comm_agree(comm, st);
    if (st == EBM_OK) {
        f->file = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        if (f->file < 0) st = EBM_H5_FAIL(EBM_ERR_IO, f->tmp, "H5Fcreate");
    }
    if (fapl >= 0) H5Pclose(fapl);
    st = ebm_comm_agree(comm, st);
    if (st != EBM_OK) {
        if (f->dxpl >= 0) H5Pclose(f->dxpl);
        f->dxpl = -1;
        return st;
    }
    st = ebm_comm_agree(comm, write_source(f, src));
    if (st != EBM_OK) finish(f, 0);
    return st;
}

static ebm_status create_dataset(const struct ebm_feature_file *f, const char *name, hid_t type,
                                 int ndim, const hsize_t *dims, hid_t *dset)
{
    ebm_status st = EBM_OK;
    hid_t space = H5Screate_simple(ndim, dims, NULL);
    H5_OR(st, space, f->path, "H5Screate_simple");
    H5_OR(st, *dset = H5Dcreate2(f->group, name, type, space, H5P_DEFAULT, H5P_DEFAULT,
                                 H5P_DEFAULT), f->path, "H5Dcreate2");
    if (space >= 0) H5Sclose(space);
    return st;
}

ebm_status ebm_feature_file_split_begin(struct ebm_feature_file *f, const char *split,
                                        int64_t n_total, int64_t cols, int has_labels)
{
    char gname[256];
    EBM_ASSERT(f->group < 0 && strlen(split) + 1 < sizeof gname);
    snprintf(gname, sizeof gname, "/%s", split);
    f->cols = cols;
    hsize_t xdims[2] = { (hsize_t)n_total, (hsize_t)cols }, ydims[1] = { (hsize_t)n_total };
    ebm_status st = EBM_OK;
    H5_OR(st, f->group = H5Gcreate2(f->file, gname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
          f->path, "H5Gcreate2");
    if (st == EBM_OK) st = create_dataset(f, "x", H5T_IEEE_F32LE, 2, xdims, &f->x);
    if (st == EBM_OK && has_labels) st = create_dataset(f, "y", H5T_STD_I32LE, 1, ydims, &f->y);
    return ebm_comm_agree(f->comm, st);
}

/* One collective write of rows [first, first + count) of a 1-D or 2-D
 * dataset; a rank with no rows selects nothing but takes part. */
static ebm_status write_rows(const struct ebm_feature_file *f, hid_t dset, hid_t memtype,
                             int ndim, hsize_t cols, int64_t first, int64_t count,
                             const void *buf)
{
    ebm_status st = EBM_OK;
    hsize_t start[2] = { (hsize_t)first, 0 }, cnt[2] = { (hsize_t)count, cols };
    hsize_t mdims[2] = { count > 0 ? (hsize_t)count : 1, cols };
    hid_t fspace = H5Dget_space(dset), mspace = H5Screate_simple(ndim, mdims, NULL);
    H5_OR(st, fspace, f->path, "H5Dget_space");
    H5_OR(st, mspace, f->path, "H5Screate_simple");
    if (count > 0) {
        H5_OR(st, H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, cnt, NULL), f->path,
              "H5Sselect_hyperslab");
    } else {
        H5_OR(st, H5Sselect_none(fspace), f->path, "H5Sselect_none");
        H5_OR(st, H5Sselect_none(mspace), f->path, "H5Sselect_none");
    }
    H5_OR(st, H5Dwrite(dset, memtype, mspace, fspace, f->dxpl, buf), f->path, "H5Dwrite");
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    return st;
}

ebm_status ebm_feature_file_write_x(struct ebm_feature_file *f, int64_t first, int64_t count,
                                    const float *rows)
{
    EBM_ASSERT(f->x >= 0);
    return ebm_comm_agree(f->comm, write_rows(f, f->x, H5T_NATIVE_FLOAT, 2, (hsize_t)f->cols,
                                              first, count, rows));
}

ebm_status ebm_feature_file_write_y(struct ebm_feature_file *f, int64_t first, int64_t count,
                                    const int32_t *labels)
{
    EBM_ASSERT(f->y >= 0);
    return ebm_comm_agree(f->comm, write_rows(f, f->y, H5T_NATIVE_INT32, 1, 1, first, count,
                                              labels));
}

void ebm_feature_file_split_end(struct ebm_feature_file *f)
{
    if (f->y >= 0) H5Dclose(f->y);
    if (f->x >= 0) H5Dclose(f->x);
    if (f->group >= 0) H5Gclose(f->group);
    f->group = f->x = f->y = -1;
}

ebm_status ebm_feature_file_commit(struct ebm_feature_file *f)
{
    return finish(f, 1);
}

void ebm_feature_file_abort(struct ebm_feature_file *f)
{
    finish(f, 0);
}
