#include "ebm/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ebm/h5util.h"

#define H5_TRY(expr)                                                  \
    do {                                                              \
        if ((expr) < 0) return EBM_H5_FAIL(EBM_ERR_HDF5, ck->path, #expr); \
    } while (0)

/* Every rank leaves a sequence of collective calls at the same point: a
 * failure that only one rank sees (rank 0 writes the shared tensors, so it
 * alone meets a full disk) must fail the others too, or they would wait in
 * the next collective call for ever. */
static ebm_status agree(const struct ebm_ckpt *ck, ebm_status st, const char *what)
{
    int bad = st != EBM_OK, any = 0;
    if (MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, ck->comm) != MPI_SUCCESS && !bad)
        return EBM_FAIL(EBM_ERR_MPI, "%s: MPI_Allreduce failed while writing %s", ck->path, what);
    if (any && !bad)
        return EBM_FAIL(EBM_ERR_IO, "%s: another rank failed writing %s", ck->path, what);
    return st;
}


static void split_tmp_name(const char *path, char *out, size_t len)
{
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s", path);
    snprintf(b, sizeof b, "%s", path);
    snprintf(out, len, "%s/.%s.tmp", dirname(a), basename(b));
}

static void init_handle(struct ebm_ckpt *ck, const char *path, MPI_Comm comm)
{
    memset(ck, 0, sizeof *ck);
    ck->file = -1;
    ck->comm = comm;
    MPI_Comm_rank(comm, &ck->rank);
    MPI_Comm_size(comm, &ck->size);
    snprintf(ck->path, sizeof ck->path, "%s", path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our own one-line errors only */
}

ebm_status ebm_ckpt_create(struct ebm_ckpt *ck, const char *path, MPI_Comm comm)
{
    init_handle(ck, path, comm);
    ck->writing = 1;
    split_tmp_name(path, ck->tmp_path, sizeof ck->tmp_path);
    hid_t fapl = ebm_h5_mpio_fapl(comm, NULL);
    ebm_status st = fapl < 0 ? EBM_H5_FAIL(EBM_ERR_HDF5, ck->path, "H5Pset_fapl_mpio") : EBM_OK;
    EBM_TRY(agree(ck, st, "the file access list"));
    ck->file = H5Fcreate(ck->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    st = ck->file < 0 ? EBM_H5_FAIL(EBM_ERR_IO, ck->tmp_path, "H5Fcreate") : EBM_OK;
    EBM_TRY(agree(ck, st, "the file"));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/", "format", EBM_CKPT_FORMAT));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/", "version", EBM_CKPT_VERSION));
    return EBM_OK;
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

ebm_status ebm_ckpt_commit(struct ebm_ckpt *ck)
{
    herr_t closed = H5Fclose(ck->file);
    ck->file = -1;
    int ok = closed >= 0, all_ok = 0, err = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, ck->comm);
    if (ck->rank == 0 && all_ok) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", ck->path);
        err = ebm_h5_publish(ck->tmp_path, ck->path);
        if (err) {
            all_ok = 0;
        } else {
            /* Makes the new name durable; some file systems cannot sync a
             * directory, and the file is complete either way. */
            fsync_path(dirname(dir), O_RDONLY | O_DIRECTORY);
        }
    }
    int flags[2] = { all_ok, err };
    MPI_Bcast(flags, 2, MPI_INT, 0, ck->comm);
    if (!flags[0]) {
        if (ck->rank == 0) unlink(ck->tmp_path);
        return EBM_FAIL(EBM_ERR_IO, "%s: cannot complete checkpoint: %s", ck->path,
                        flags[1] ? strerror(flags[1]) : "HDF5 close failed");
    }
    return EBM_OK;
}

void ebm_ckpt_abort(struct ebm_ckpt *ck)
{
    if (ck->file >= 0) H5Fclose(ck->file);
    ck->file = -1;
    if (ck->rank == 0 && ck->tmp_path[0]) unlink(ck->tmp_path);
}

ebm_status ebm_ckpt_open(struct ebm_ckpt *ck, const char *path, MPI_Comm comm)
{
    init_handle(ck, path, comm);
    if (access(path, R_OK) != 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: cannot open checkpoint: %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: not an ebm checkpoint (not an HDF5 file)", path);
    hid_t fapl = ebm_h5_mpio_fapl(comm, NULL);
    H5_TRY(fapl);
    ck->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (ck->file < 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: cannot open checkpoint (damaged HDF5 file?)", path);
    char *format = NULL;
    int64_t version = 0;
    if (ebm_ckpt_read_attr_str(ck, "/", "format", &format) != EBM_OK ||
        strcmp(format, EBM_CKPT_FORMAT) != 0) {
        free(format);
        ebm_error_clear();
        ebm_ckpt_close(ck);
        return EBM_FAIL(EBM_ERR_INPUT, "%s: not an ebm checkpoint (no format attribute)", path);
    }
    free(format);
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/", "version", &version));
    if (version > EBM_CKPT_VERSION) {
        ebm_ckpt_close(ck);
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint version %lld is newer than this ebm (%d)",
                        path, (long long)version, EBM_CKPT_VERSION);
    }
    return EBM_OK;
}

void ebm_ckpt_close(struct ebm_ckpt *ck)
{
    if (ck->file >= 0) H5Fclose(ck->file);
    ck->file = -1;
}

/* Creates the groups above `name` (and `name` itself when is_group). */
static ebm_status ensure_groups(struct ebm_ckpt *ck, const char *name, int is_group)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", name);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || (*p == '\0' && is_group)) {
            char saved = *p;
            *p = '\0';
            htri_t exists = H5Lexists(ck->file, buf, H5P_DEFAULT);
            H5_TRY(exists);
            if (!exists) {
                hid_t g = H5Gcreate2(ck->file, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
                H5_TRY(g);
                H5Gclose(g);
            }
            *p = saved;
        }
        if (*p == '\0') break;
    }
    return EBM_OK;
}

/* writer >= 0: that rank alone writes the whole tensor (the others hold the
 * same values or none); writer < 0: every rank writes its rows. */
static ebm_status write_rows_local(struct ebm_ckpt *ck, const char *name, hid_t type,
                             const void *rows, int64_t n_rows, int64_t row_len,
                             int writer)
{
    int replicated = writer >= 0;
    int64_t first = 0, total = n_rows;
    if (!replicated) {
        MPI_Exscan(&n_rows, &first, 1, MPI_INT64_T, MPI_SUM, ck->comm);
        if (ck->rank == 0) first = 0;
        MPI_Allreduce(&n_rows, &total, 1, MPI_INT64_T, MPI_SUM, ck->comm);
    }
    EBM_TRY(ensure_groups(ck, name, 0));
    hsize_t dims[2] = { (hsize_t)total, (hsize_t)row_len };
    hid_t space = H5Screate_simple(2, dims, NULL);
    H5_TRY(space);
    hid_t dset = H5Dcreate2(ck->file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (dset < 0) {
        H5Sclose(space);
        return EBM_H5_FAIL(EBM_ERR_HDF5, ck->path, "H5Dcreate");
    }
    hsize_t start[2] = { (hsize_t)first, 0 }, count[2] = { (hsize_t)n_rows, (hsize_t)row_len };
    int mine = !replicated || ck->rank == writer;
    hid_t mem = H5Screate_simple(2, count, NULL);
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    herr_t rc = mem < 0 || dxpl < 0 ? -1 : H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    if (rc >= 0) {
        if (mine && n_rows > 0) {
            rc = H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
        } else {
            rc = H5Sselect_none(space);
            if (rc >= 0) rc = H5Sselect_none(mem);
        }
    }
    if (rc >= 0) rc = H5Dwrite(dset, type, mem, space, dxpl, rows);
    if (dxpl >= 0) H5Pclose(dxpl);
    if (mem >= 0) H5Sclose(mem);
    H5Sclose(space);
    H5Dclose(dset);
    if (rc < 0) return EBM_H5_FAIL(EBM_ERR_IO, ck->path, "H5Dwrite");
    return EBM_OK;
}

static ebm_status write_f32_local(struct ebm_ckpt *ck, const char *name, const float *data,
                                  int ndim, const int64_t *dims, int writer)
{
    /* Stored with its real rank: written as rows, then the shape is what
     * the reader checks. One- and two-dimensional tensors cover the schema. */
    EBM_ASSERT(ndim == 1 || ndim == 2);
    if (ndim == 2)
        return write_rows_local(ck, name, H5T_NATIVE_FLOAT, data, dims[0], dims[1], writer);
    EBM_TRY(ensure_groups(ck, name, 0));
    hsize_t n = (hsize_t)dims[0];
    hid_t space = H5Screate_simple(1, &n, NULL);
    H5_TRY(space);
    hid_t dset = H5Dcreate2(ck->file, name, H5T_NATIVE_FLOAT, space, H5P_DEFAULT, H5P_DEFAULT,
                            H5P_DEFAULT);
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    herr_t rc = dset < 0 || dxpl < 0 ? -1 : H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    if (rc >= 0 && ck->rank != writer) rc = H5Sselect_none(space);
    if (rc >= 0) rc = H5Dwrite(dset, H5T_NATIVE_FLOAT, space, space, dxpl, data);
    if (dxpl >= 0) H5Pclose(dxpl);
    if (dset >= 0) H5Dclose(dset);
    H5Sclose(space);
    if (rc < 0) return EBM_H5_FAIL(EBM_ERR_IO, ck->path, "H5Dwrite");
    return EBM_OK;
}

static ebm_status write_rows(struct ebm_ckpt *ck, const char *name, hid_t type,
                             const void *rows, int64_t n_rows, int64_t row_len, int writer)
{
    return agree(ck, write_rows_local(ck, name, type, rows, n_rows, row_len, writer), name);
}

ebm_status ebm_ckpt_write_f32(struct ebm_ckpt *ck, const char *name, const float *data,
                              int ndim, const int64_t *dims)
{
    return agree(ck, write_f32_local(ck, name, data, ndim, dims, 0), name);
}

ebm_status ebm_ckpt_write_f32_from(struct ebm_ckpt *ck, const char *name, const float *data,
                                   int ndim, const int64_t *dims, int writer)
{
    return agree(ck, write_f32_local(ck, name, data, ndim, dims, writer), name);
}

ebm_status ebm_ckpt_write_rows_f32(struct ebm_ckpt *ck, const char *name, const float *rows,
                                   int64_t n_rows, int64_t row_len)
{
    return write_rows(ck, name, H5T_NATIVE_FLOAT, rows, n_rows, row_len, -1);
}

ebm_status ebm_ckpt_write_rows_u64(struct ebm_ckpt *ck, const char *name,
                                   const uint64_t *rows, int64_t n_rows, int64_t row_len)
{
    return write_rows(ck, name, H5T_NATIVE_UINT64, rows, n_rows, row_len, -1);
}

static ebm_status write_attr_local(struct ebm_ckpt *ck, const char *object, const char *name,
                                   hid_t type, const void *value)
{
    if (strcmp(object, "/") != 0) EBM_TRY(ensure_groups(ck, object, 1));
    hid_t obj = H5Oopen(ck->file, object, H5P_DEFAULT);
    H5_TRY(obj);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = space < 0 ? -1 : H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : H5Awrite(attr, type, value);
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    H5Oclose(obj);
    if (rc < 0) return EBM_H5_FAIL(EBM_ERR_IO, ck->path, "attribute write");
    return EBM_OK;
}

static ebm_status write_attr(struct ebm_ckpt *ck, const char *object, const char *name,
                             hid_t type, const void *value)
{
    return agree(ck, write_attr_local(ck, object, name, type, value), name);
}

ebm_status ebm_ckpt_attr_str(struct ebm_ckpt *ck, const char *object, const char *name,
                             const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5_TRY(type);
    H5Tset_size(type, strlen(value) + 1);
    H5Tset_strpad(type, H5T_STR_NULLTERM);
    ebm_status st = write_attr(ck, object, name, type, value);
    H5Tclose(type);
    return st;
}

ebm_status ebm_ckpt_attr_i64(struct ebm_ckpt *ck, const char *object, const char *name,
                             int64_t value)
{
    return write_attr(ck, object, name, H5T_NATIVE_INT64, &value);
}

ebm_status ebm_ckpt_shape(struct ebm_ckpt *ck, const char *name, int *ndim, int64_t dims[8])
{
    htri_t exists = H5Lexists(ck->file, name, H5P_DEFAULT);
    if (exists <= 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint has no tensor %s", ck->path, name);
    hid_t dset = H5Dopen2(ck->file, name, H5P_DEFAULT);
    H5_TRY(dset);
    hid_t space = H5Dget_space(dset);
    hsize_t d[8] = { 0 };
    int n = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    if (n > 8) n = -1;
    if (n >= 0) H5Sget_simple_extent_dims(space, d, NULL);
    if (space >= 0) H5Sclose(space);
    H5Dclose(dset);
    if (n < 0) return EBM_FAIL(EBM_ERR_INPUT, "%s: bad shape of %s", ck->path, name);
    *ndim = n;
    for (int i = 0; i < n; i++) dims[i] = (int64_t)d[i];
    return EBM_OK;
}

static void shape_text(char *buf, size_t len, int ndim, const int64_t *dims)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                                 (long long)dims[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
}

static ebm_status read_rows(struct ebm_ckpt *ck, const char *name, hid_t type, void *out,
                            int64_t first, int64_t n_rows, int64_t row_len, int ndim)
{
    hid_t dset = H5Dopen2(ck->file, name, H5P_DEFAULT);
    if (dset < 0) return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint has no tensor %s", ck->path, name);
    hid_t space = H5Dget_space(dset);
    hsize_t start[2] = { (hsize_t)first, 0 }, count[2] = { (hsize_t)n_rows, (hsize_t)row_len };
    /* A rank with nothing to read still takes part, selecting nothing. */
    hsize_t one[2] = { 1, (hsize_t)row_len };
    hid_t mem = H5Screate_simple(ndim, ndim == 1 ? &count[1] : (n_rows > 0 ? count : one), NULL);
    herr_t rc = space < 0 || mem < 0 ? -1 : 0;
    if (rc >= 0 && ndim == 2 && n_rows > 0)
        rc = H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
    if (rc >= 0 && n_rows == 0) {
        rc = H5Sselect_none(space);
        if (rc >= 0) rc = H5Sselect_none(mem);
    }
    if (rc >= 0) rc = H5Dread(dset, type, mem, space, H5P_DEFAULT, out);
    if (mem >= 0) H5Sclose(mem);
    if (space >= 0) H5Sclose(space);
    H5Dclose(dset);
    if (rc < 0) return EBM_FAIL(EBM_ERR_INPUT, "%s: cannot read %s", ck->path, name);
    return EBM_OK;
}

ebm_status ebm_ckpt_read_f32(struct ebm_ckpt *ck, const char *name, float *data, int ndim,
                             const int64_t *dims)
{
    return ebm_ckpt_read_f32_part(ck, name, data, ndim, dims, 1);
}

ebm_status ebm_ckpt_read_f32_part(struct ebm_ckpt *ck, const char *name, float *data, int ndim,
                                  const int64_t *dims, int mine)
{
    int have_ndim;
    int64_t have[8];
    EBM_TRY(ebm_ckpt_shape(ck, name, &have_ndim, have));
    int same = have_ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = have[i] == dims[i];
    if (!same) {
        char want_s[128], have_s[128];
        shape_text(want_s, sizeof want_s, ndim, dims);
        shape_text(have_s, sizeof have_s, have_ndim, have);
        return EBM_FAIL(EBM_ERR_INPUT, "%s: %s has shape %s, expected %s", ck->path, name,
                        have_s, want_s);
    }
    EBM_ASSERT(ndim == 1 || ndim == 2);
    if (!mine) return read_rows(ck, name, H5T_NATIVE_FLOAT, data, 0, 0, ndim == 2 ? dims[1] : dims[0], 2);
    return read_rows(ck, name, H5T_NATIVE_FLOAT, data, 0, ndim == 2 ? dims[0] : 1,
                     ndim == 2 ? dims[1] : dims[0], ndim);
}

static ebm_status check_rows(struct ebm_ckpt *ck, const char *name, int64_t first,
                             int64_t n_rows, int64_t row_len)
{
    int nd;
    int64_t d[8];
    EBM_TRY(ebm_ckpt_shape(ck, name, &nd, d));
    if (nd != 2 || d[1] != row_len || first + n_rows > d[0])
        return EBM_FAIL(EBM_ERR_INPUT, "%s: %s does not hold rows [%lld, %lld) of width %lld",
                        ck->path, name, (long long)first, (long long)(first + n_rows),
                        (long long)row_len);
    return EBM_OK;
}

ebm_status ebm_ckpt_read_rows_f32(struct ebm_ckpt *ck, const char *name, float *rows,
                                  int64_t first, int64_t n_rows, int64_t row_len)
{
    EBM_TRY(check_rows(ck, name, first, n_rows, row_len));
    return read_rows(ck, name, H5T_NATIVE_FLOAT, rows, first, n_rows, row_len, 2);
}

ebm_status ebm_ckpt_read_rows_u64(struct ebm_ckpt *ck, const char *name, uint64_t *rows,
                                  int64_t first, int64_t n_rows, int64_t row_len)
{
    EBM_TRY(check_rows(ck, name, first, n_rows, row_len));
    return read_rows(ck, name, H5T_NATIVE_UINT64, rows, first, n_rows, row_len, 2);
}

static hid_t open_attr(struct ebm_ckpt *ck, const char *object, const char *name)
{
    if (H5Aexists_by_name(ck->file, object, name, H5P_DEFAULT) <= 0) return -1;
    return H5Aopen_by_name(ck->file, object, name, H5P_DEFAULT, H5P_DEFAULT);
}

ebm_status ebm_ckpt_read_attr_str(struct ebm_ckpt *ck, const char *object, const char *name,
                                  char **value)
{
    *value = NULL;
    hid_t attr = open_attr(ck, object, name);
    if (attr < 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint has no attribute %s on %s", ck->path,
                        name, object);
    hid_t ftype = H5Aget_type(attr);
    size_t size = ftype < 0 ? 0 : H5Tget_size(ftype);
    if (ftype < 0 || H5Tget_class(ftype) != H5T_STRING || H5Tis_variable_str(ftype) > 0) {
        if (ftype >= 0) H5Tclose(ftype);
        H5Aclose(attr);
        return EBM_FAIL(EBM_ERR_INPUT, "%s: attribute %s of %s is not a fixed-length string",
                        ck->path, name, object);
    }
    char *buf = calloc(size + 1, 1);
    hid_t mtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(mtype, size);
    herr_t rc = buf ? H5Aread(attr, mtype, buf) : -1;
    H5Tclose(mtype);
    H5Tclose(ftype);
    H5Aclose(attr);
    if (rc < 0) {
        free(buf);
        return EBM_FAIL(EBM_ERR_INPUT, "%s: cannot read attribute %s", ck->path, name);
    }
    *value = buf;
    return EBM_OK;
}

ebm_status ebm_ckpt_read_attr_i64(struct ebm_ckpt *ck, const char *object, const char *name,
                                  int64_t *value)
{
    hid_t attr = open_attr(ck, object, name);
    if (attr < 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint has no attribute %s on %s", ck->path,
                        name, object);
    herr_t rc = H5Aread(attr, H5T_NATIVE_INT64, value);
    H5Aclose(attr);
    if (rc < 0) return EBM_FAIL(EBM_ERR_INPUT, "%s: cannot read attribute %s", ck->path, name);
    return EBM_OK;
}
