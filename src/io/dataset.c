/* HDF5 datasets (layout in docs/data.md). Reading is collective and split in
 * phases with an agreement (MPI_Allreduce) between them, so a rank that
 * fails never leaves the others waiting in a later collective call:
 *   1. local checks with a serial open (file, split and x exist) and the
 *      property lists;
 *   2. collective open, shapes and types (every rank sees the same file);
 *   3. allocate; 4. collective hyperslab reads; 5. NaN/Inf check. */
#include "ebm/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <hdf5.h>

#include "ebm/h5util.h"

#define X_NAME_LEN 256

/* HDF5 check for functions that clean up: a negative hid_t/herr_t records
 * the library's text, sets st and jumps to label. */
#define H5_CHECK(st, expr, path, what, label)                                   \
    do {                                                                        \
        if ((expr) < 0) {                                                       \
            (st) = ebm_h5_fail(EBM_ERR_HDF5, __FILE__, __LINE__, __func__, (path), (what)); \
            goto label;                                                         \
        }                                                                       \
    } while (0)

/* HDF5 prints its whole error stack by default; the user should see only
 * our one-line message, so printing is off while our functions run. */
struct h5_quiet { H5E_auto2_t func; void *data; };

static void h5_quiet_begin(struct h5_quiet *q)
{
    if (H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) < 0) { q->func = NULL; q->data = NULL; }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void h5_quiet_end(const struct h5_quiet *q)
{
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

static void h5_close(hid_t *id, herr_t (*closer)(hid_t))
{
    if (*id >= 0) closer(*id);
    *id = -1;
}

void ebm_shard_range(int64_t n_total, int rank, int size, int64_t *first, int64_t *count)
{
    EBM_ASSERT(n_total >= 0 && size > 0 && rank >= 0 && rank < size);
    int64_t base = n_total / size, extra = n_total % size;
    *count = base + (rank < extra ? 1 : 0);
    *first = rank * base + (rank < extra ? rank : extra);
}

/* Every rank learns whether any rank failed. The failing rank keeps its own
 * message; the others adopt the message of the lowest failing rank (sent by
 * broadcast), so rank 0, which usually prints, names the real cause. All
 * ranks return the same status. */
static ebm_status agree(MPI_Comm comm, ebm_status st, const char *path)
{
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    struct { int code; int rank; } mine = { (int)st, -rank }, worst;
    /* MAXLOC on (code, -rank) picks the worst code and, among equals, the
     * lowest rank. */
    int rc = MPI_Allreduce(&mine, &worst, 1, MPI_2INT, MPI_MAXLOC, comm);
    if (rc != MPI_SUCCESS) {
        char text[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, text, &len);
        return EBM_FAIL(EBM_ERR_MPI, "%s: MPI_Allreduce failed on rank %d: %s", path, rank, text);
    }
    if (worst.code == EBM_OK) return EBM_OK;
    int root = -worst.rank;
    char msg[1024] = "";
    if (rank == root) snprintf(msg, sizeof msg, "%s", ebm_error_message());
    rc = MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, root, comm);
    if (st == EBM_OK) {
        if (rc == MPI_SUCCESS && msg[0]) {
            char full[1100];
            snprintf(full, sizeof full, "%s (reported by rank %d)", msg, root);
            ebm_error_adopt(full);
        } else {
            snprintf(msg, sizeof msg, "another rank failed reading %s", path);
            ebm_error_adopt(msg);
        }
        ebm_error_trace(__FILE__, __LINE__, __func__);
    }
    return (ebm_status)worst.code;
}

/* Phase 1, local: plain checks that need no collective call. */
static ebm_status check_exists(const char *path, const char *split)
{
    if (!split[0] || strchr(split, '/') || strlen(split) > X_NAME_LEN - 8)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: invalid split name '%s'", path, split);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) return EBM_FAIL(EBM_ERR_INPUT, "%s: no such file", path);
        return EBM_FAIL(EBM_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    }
    if (H5Fis_hdf5(path) <= 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: not an HDF5 file", path);
    if (!ebm_dataset_has_split(path, split))
        return EBM_FAIL(EBM_ERR_INPUT, "%s: no split '%s' (expected dataset /%s/x)",
                        path, split, split);
    return EBM_OK;
}

/* What phase 2 learns about the split. */
struct split_info {
    int64_t n_file;   /* rows in the file */
    int dim;
    bool is_u8;       /* else float32 */
    bool has_y;
    int image_h, image_w;
};

static ebm_status check_x_type(hid_t dset, const char *path, const char *xname, bool *is_u8)
{
    ebm_status st = EBM_OK;
    hid_t type = -1;
    H5_CHECK(st, type = H5Dget_type(dset), path, "H5Dget_type", done);
    H5T_class_t cls = H5Tget_class(type);
    size_t size = H5Tget_size(type);
    if (cls == H5T_INTEGER && size == 1 && H5Tget_sign(type) == H5T_SGN_NONE) {
        *is_u8 = true;
    } else if (cls == H5T_FLOAT && size == 4) {
        *is_u8 = false;
    } else {
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: %s must be uint8 or float32, found %s of %zu bytes",
                      path, xname, cls == H5T_INTEGER ? "an integer" :
                      cls == H5T_FLOAT ? "a float" : "a non-numeric type", size);
    }
done:
    h5_close(&type, H5Tclose);
    return st;
}

/* Phase 2, collective metadata reads: all ranks make the same calls. */
static ebm_status read_info(hid_t file, const char *path, const char *split,
                            struct split_info *info)
{
    ebm_status st = EBM_OK;
    hid_t dset = -1, space = -1, ydset = -1, yspace = -1, attr = -1, aspace = -1;
    char xname[X_NAME_LEN], yname[X_NAME_LEN];
    snprintf(xname, sizeof xname, "/%s/x", split);
    snprintf(yname, sizeof yname, "/%s/y", split);

    H5_CHECK(st, dset = H5Dopen2(file, xname, H5P_DEFAULT), path, "H5Dopen2(x)", done);
    H5_CHECK(st, space = H5Dget_space(dset), path, "H5Dget_space(x)", done);
    int nd = H5Sget_simple_extent_ndims(space);
    H5_CHECK(st, nd, path, "H5Sget_simple_extent_ndims(x)", done);
    if (nd != 2) {
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: %s must be 2-D [N, D], found %d-D", path, xname, nd);
        goto done;
    }
    hsize_t dims[2];
    H5_CHECK(st, H5Sget_simple_extent_dims(space, dims, NULL), path, "H5Sget_simple_extent_dims(x)", done);
    if (dims[0] == 0 || dims[1] == 0 || dims[0] > INT64_MAX || dims[1] > (1u << 30)) {
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: %s has unusable shape [%llu, %llu]", path, xname,
                      (unsigned long long)dims[0], (unsigned long long)dims[1]);
        goto done;
    }
    info->n_file = (int64_t)dims[0];
    info->dim = (int)dims[1];
    EBM_TRY_GOTO(st, check_x_type(dset, path, xname, &info->is_u8), done);

    htri_t has_y = H5Lexists(file, yname, H5P_DEFAULT);
    H5_CHECK(st, has_y, path, "H5Lexists(y)", done);
    info->has_y = has_y > 0;
    if (info->has_y) {
        H5_CHECK(st, ydset = H5Dopen2(file, yname, H5P_DEFAULT), path, "H5Dopen2(y)", done);
        H5_CHECK(st, yspace = H5Dget_space(ydset), path, "H5Dget_space(y)", done);
        hsize_t ylen = 0;
        int ynd = H5Sget_simple_extent_ndims(yspace);
        H5_CHECK(st, ynd, path, "H5Sget_simple_extent_ndims(y)", done);
        if (ynd == 1) H5_CHECK(st, H5Sget_simple_extent_dims(yspace, &ylen, NULL), path,
                               "H5Sget_simple_extent_dims(y)", done);
        if (ynd != 1 || ylen != dims[0]) {
            st = EBM_FAIL(EBM_ERR_INPUT, "%s: %s must be 1-D with %llu labels (one per row of %s), "
                          "found %d-D with %llu", path, yname, (unsigned long long)dims[0],
                          xname, ynd, (unsigned long long)ylen);
            goto done;
        }
        hid_t ytype = H5Dget_type(ydset);
        H5_CHECK(st, ytype, path, "H5Dget_type(y)", done);
        H5T_class_t ycls = H5Tget_class(ytype);
        H5Tclose(ytype);
        if (ycls != H5T_INTEGER) {
            st = EBM_FAIL(EBM_ERR_INPUT, "%s: %s must hold integer labels", path, yname);
            goto done;
        }
    }

    htri_t has_shape = H5Aexists(file, "image_shape");
    H5_CHECK(st, has_shape, path, "H5Aexists(image_shape)", done);
    if (has_shape > 0) {
        H5_CHECK(st, attr = H5Aopen(file, "image_shape", H5P_DEFAULT), path, "H5Aopen(image_shape)", done);
        H5_CHECK(st, aspace = H5Aget_space(attr), path, "H5Aget_space(image_shape)", done);
        hssize_t npts = H5Sget_simple_extent_npoints(aspace);
        if (npts != 2) {
            st = EBM_FAIL(EBM_ERR_INPUT, "%s: attribute image_shape must hold 2 values (h, w), found %lld",
                          path, (long long)npts);
            goto done;
        }
        int32_t hw[2];
        H5_CHECK(st, H5Aread(attr, H5T_NATIVE_INT32, hw), path, "H5Aread(image_shape)", done);
        if (hw[0] <= 0 || hw[1] <= 0 || (int64_t)hw[0] * hw[1] != info->dim) {
            st = EBM_FAIL(EBM_ERR_INPUT, "%s: image_shape %dx%d does not match D = %d of %s",
                          path, (int)hw[0], (int)hw[1], info->dim, xname);
            goto done;
        }
        info->image_h = hw[0];
        info->image_w = hw[1];
    }
done:
    h5_close(&aspace, H5Sclose);
    h5_close(&attr, H5Aclose);
    h5_close(&yspace, H5Sclose);
    h5_close(&ydset, H5Dclose);
    h5_close(&space, H5Sclose);
    h5_close(&dset, H5Dclose);
    return st;
}

/* Phase 4: one collective read of rows [first, first + count) of a 1-D or
 * 2-D dataset. A rank with no rows selects nothing but still takes part. */
static ebm_status read_rows(hid_t file, const char *path, const char *name, hid_t memtype,
                            int ndim, hsize_t cols, int64_t first, int64_t count,
                            hid_t dxpl, void *buf)
{
    ebm_status st = EBM_OK;
    hid_t dset = -1, fspace = -1, mspace = -1;
    hsize_t start[2] = { (hsize_t)first, 0 }, cnt[2] = { (hsize_t)count, cols };
    hsize_t mdims[2] = { count > 0 ? (hsize_t)count : 1, cols };

    H5_CHECK(st, dset = H5Dopen2(file, name, H5P_DEFAULT), path, "H5Dopen2", done);
    H5_CHECK(st, fspace = H5Dget_space(dset), path, "H5Dget_space", done);
    H5_CHECK(st, mspace = H5Screate_simple(ndim, mdims, NULL), path, "H5Screate_simple", done);
    if (count > 0) {
        H5_CHECK(st, H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, cnt, NULL),
                 path, "H5Sselect_hyperslab", done);
    } else {
        H5_CHECK(st, H5Sselect_none(fspace), path, "H5Sselect_none", done);
        H5_CHECK(st, H5Sselect_none(mspace), path, "H5Sselect_none", done);
    }
    H5_CHECK(st, H5Dread(dset, memtype, mspace, fspace, dxpl, buf), path, "H5Dread", done);
done:
    h5_close(&mspace, H5Sclose);
    h5_close(&fspace, H5Sclose);
    h5_close(&dset, H5Dclose);
    return st;
}

/* uint8 was read into the front of the float buffer; widen it in place,
 * back to front (float i occupies bytes 4i..4i+3, which are never bytes
 * still to be read), which saves a second shard-sized buffer. Division
 * rather than multiplying by 1/255 keeps 255 -> exactly 1.0f. */
static void widen_u8(float *x, size_t count)
{
    float table[256];
    for (int i = 0; i < 256; i++) table[i] = (float)i / 255.0f;
    const unsigned char *bytes = (const unsigned char *)x;
    for (size_t i = count; i-- > 0;) x[i] = table[bytes[i]];
}

static ebm_status check_finite(const struct ebm_dataset *ds, const char *path, const char *split)
{
    size_t total = (size_t)ds->n * (size_t)ds->dim;
    for (size_t i = 0; i < total; i++) {
        if (!isfinite(ds->x[i]))
            return EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/x row %lld, column %d is %s", path, split,
                            (long long)(ds->first + (int64_t)(i / (size_t)ds->dim)),
                            (int)(i % (size_t)ds->dim), isnan(ds->x[i]) ? "NaN" : "Inf");
    }
    return EBM_OK;
}

ebm_status ebm_dataset_read_shard(const char *path, const char *split, int64_t limit,
                                  MPI_Comm comm, struct ebm_dataset *out)
{
    EBM_ASSERT(path && split && out);
    memset(out, 0, sizeof *out);
    struct h5_quiet quiet;
    h5_quiet_begin(&quiet);
    ebm_status st;
    hid_t fapl = -1, file = -1, dxpl = -1;
    struct split_info info = { 0 };
    char name[X_NAME_LEN];
    size_t cells = 0;
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);

    /* Phase 1, local; the property lists are made here too, so a failure
     * in them is agreed on before the collective H5Fopen. */
    st = check_exists(path, split);
    if (st != EBM_OK) goto phase1;
    H5_CHECK(st, fapl = H5Pcreate(H5P_FILE_ACCESS), path, "H5Pcreate(fapl)", phase1);
    H5_CHECK(st, H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL), path, "H5Pset_fapl_mpio", phase1);
    H5_CHECK(st, H5Pset_all_coll_metadata_ops(fapl, true), path, "H5Pset_all_coll_metadata_ops", phase1);
    H5_CHECK(st, dxpl = H5Pcreate(H5P_DATASET_XFER), path, "H5Pcreate(dxpl)", phase1);
    H5_CHECK(st, H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), path, "H5Pset_dxpl_mpio", phase1);
phase1:
    st = agree(comm, st, path);
    if (st != EBM_OK) goto done;

    /* Phase 2. */
    H5_CHECK(st, file = H5Fopen(path, H5F_ACC_RDONLY, fapl), path, "H5Fopen", phase2);
    st = read_info(file, path, split, &info);
phase2:
    st = agree(comm, st, path);
    if (st != EBM_OK) goto done;

    /* Phase 3: sizes and buffers. */
    out->n_total = limit > 0 && limit < info.n_file ? limit : info.n_file;
    ebm_shard_range(out->n_total, rank, size, &out->first, &out->n);
    out->dim = info.dim;
    out->image_h = info.image_h;
    out->image_w = info.image_w;
    cells = (size_t)out->n * (size_t)out->dim;
    if (out->n > 0 && cells / (size_t)out->n != (size_t)out->dim) {
        st = EBM_FAIL(EBM_ERR_NOMEM, "%s: shard of %lld x %d values is too large", path,
                      (long long)out->n, out->dim);
    } else {
        out->x = malloc((cells ? cells : 1) * sizeof *out->x);
        if (info.has_y) out->y = malloc((out->n ? (size_t)out->n : 1) * sizeof *out->y);
        if (!out->x || (info.has_y && !out->y))
            st = EBM_FAIL(EBM_ERR_NOMEM, "%s: out of memory for a shard of %lld x %d values "
                          "on rank %d", path, (long long)out->n, out->dim, rank);
    }
    st = agree(comm, st, path);
    if (st != EBM_OK) goto done;

    /* Phase 4: every rank makes the same collective calls, even after a
     * local failure in the first, so none is left waiting. */
    snprintf(name, sizeof name, "/%s/x", split);
    st = read_rows(file, path, name, info.is_u8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT, 2,
                   (hsize_t)out->dim, out->first, out->n, dxpl, out->x);
    if (info.has_y) {
        snprintf(name, sizeof name, "/%s/y", split);
        ebm_status yst = read_rows(file, path, name, H5T_NATIVE_INT32, 1, 1, out->first,
                                   out->n, dxpl, out->y);
        if (st == EBM_OK) st = yst;
    }

    /* Phase 5. */
    if (st == EBM_OK) {
        if (info.is_u8) widen_u8(out->x, cells);
        else st = check_finite(out, path, split);
    }
    /* Closing is collective as well, so its outcome joins the last agreement. */
    if (H5Fclose(file) < 0 && st == EBM_OK)
        st = ebm_h5_fail(EBM_ERR_HDF5, __FILE__, __LINE__, __func__, path, "H5Fclose");
    file = -1;
    st = agree(comm, st, path);

done:
    /* On earlier failures every rank got here from the same agreement, so
     * all of them close the file together. */
    h5_close(&file, H5Fclose);
    h5_close(&dxpl, H5Pclose);
    h5_close(&fapl, H5Pclose);
    h5_quiet_end(&quiet);
    if (st != EBM_OK) {
        ebm_dataset_free(out);
        ebm_error_trace(__FILE__, __LINE__, __func__);
    }
    return st;
}

bool ebm_dataset_has_split(const char *path, const char *split)
{
    struct h5_quiet quiet;
    h5_quiet_begin(&quiet);
    bool found = false;
    char name[X_NAME_LEN];
    int len = snprintf(name, sizeof name, "/%s/x", split);
    hid_t file = -1, dset = -1;
    if (len < 0 || (size_t)len >= sizeof name || access(path, R_OK) != 0) goto done;
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) goto done;
    /* H5Lexists fails on a path whose group is missing, so test each link. */
    name[len - 2] = '\0';
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) goto done;
    name[len - 2] = '/';
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) goto done;
    dset = H5Dopen2(file, name, H5P_DEFAULT);
    found = dset >= 0;
done:
    h5_close(&dset, H5Dclose);
    h5_close(&file, H5Fclose);
    h5_quiet_end(&quiet);
    return found;
}

void ebm_dataset_free(struct ebm_dataset *ds)
{
    if (!ds) return;
    free(ds->x);
    free(ds->y);
    memset(ds, 0, sizeof *ds);
}

/* Writes one 1-D or 2-D dataset in one call. */
static ebm_status write_array(hid_t group, const char *path, const char *name, hid_t filetype,
                              hid_t memtype, int ndim, const hsize_t *dims, const void *buf)
{
    ebm_status st = EBM_OK;
    hid_t space = -1, dset = -1;
    H5_CHECK(st, space = H5Screate_simple(ndim, dims, NULL), path, "H5Screate_simple", done);
    H5_CHECK(st, dset = H5Dcreate2(group, name, filetype, space, H5P_DEFAULT, H5P_DEFAULT,
                                   H5P_DEFAULT), path, "H5Dcreate2", done);
    H5_CHECK(st, H5Dwrite(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), path, "H5Dwrite", done);
done:
    h5_close(&dset, H5Dclose);
    h5_close(&space, H5Sclose);
    return st;
}

static ebm_status write_image_shape(hid_t file, const char *path, int h, int w)
{
    ebm_status st = EBM_OK;
    hid_t space = -1, attr = -1;
    hsize_t two = 2;
    int32_t hw[2] = { h, w };
    htri_t exists = H5Aexists(file, "image_shape");
    H5_CHECK(st, exists, path, "H5Aexists(image_shape)", done);
    if (exists > 0) H5_CHECK(st, H5Adelete(file, "image_shape"), path, "H5Adelete", done);
    H5_CHECK(st, space = H5Screate_simple(1, &two, NULL), path, "H5Screate_simple", done);
    H5_CHECK(st, attr = H5Acreate2(file, "image_shape", H5T_STD_I32LE, space, H5P_DEFAULT,
                                   H5P_DEFAULT), path, "H5Acreate2(image_shape)", done);
    H5_CHECK(st, H5Awrite(attr, H5T_NATIVE_INT32, hw), path, "H5Awrite(image_shape)", done);
done:
    h5_close(&attr, H5Aclose);
    h5_close(&space, H5Sclose);
    return st;
}

ebm_status ebm_dataset_write_u8(const char *path, const char *split, const uint8_t *x,
                                int64_t n, int dim, const int32_t *y,
                                int image_h, int image_w)
{
    EBM_ASSERT(path && split && x);
    if (n <= 0 || dim <= 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: cannot write an empty split (%lld x %d)", path,
                        (long long)n, dim);
    if (!split[0] || strchr(split, '/') || strlen(split) > X_NAME_LEN - 8)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: invalid split name '%s'", path, split);
    if (image_h > 0 && (image_w <= 0 || (int64_t)image_h * image_w != dim))
        return EBM_FAIL(EBM_ERR_INPUT, "%s: image shape %dx%d does not match D = %d", path,
                        image_h, image_w, dim);

    struct h5_quiet quiet;
    h5_quiet_begin(&quiet);
    ebm_status st = EBM_OK;
    hid_t file = -1, group = -1;
    bool group_made = false;
    char gname[X_NAME_LEN];
    snprintf(gname, sizeof gname, "/%s", split);

    if (access(path, F_OK) == 0) {
        /* Never overwrite something that is not ours. */
        if (H5Fis_hdf5(path) <= 0) {
            st = EBM_FAIL(EBM_ERR_IO, "%s: exists and is not an HDF5 file; not overwriting", path);
            goto done;
        }
        H5_CHECK(st, file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), path, "H5Fopen", done);
        htri_t exists = H5Lexists(file, gname, H5P_DEFAULT);
        H5_CHECK(st, exists, path, "H5Lexists", done);
        /* Unlinking does not reclaim the space in HDF5; a rewrite into a
         * fresh file (as fetch-mnist.sh does) stays compact. */
        if (exists > 0) H5_CHECK(st, H5Ldelete(file, gname, H5P_DEFAULT), path, "H5Ldelete", done);
    } else {
        H5_CHECK(st, file = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), path,
                 "H5Fcreate", done);
    }
    H5_CHECK(st, group = H5Gcreate2(file, gname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             path, "H5Gcreate2", done);
    group_made = true;

    /* Contiguous and uncompressed: collective reads of contiguous data are
     * the simplest fast path in parallel HDF5, and MNIST is only 55 MB. */
    hsize_t xdims[2] = { (hsize_t)n, (hsize_t)dim };
    EBM_TRY_GOTO(st, write_array(group, path, "x", H5T_STD_U8LE, H5T_NATIVE_UINT8, 2, xdims, x), done);
    if (y) {
        hsize_t ydims[1] = { (hsize_t)n };
        EBM_TRY_GOTO(st, write_array(group, path, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, ydims, y), done);
    }
    if (image_h > 0) EBM_TRY_GOTO(st, write_image_shape(file, path, image_h, image_w), done);
    H5_CHECK(st, H5Fflush(file, H5F_SCOPE_GLOBAL), path, "H5Fflush", done);

done:
    h5_close(&group, H5Gclose);
    /* A split that failed half way is removed, so it never looks complete. */
    if (st != EBM_OK && group_made && file >= 0) H5Ldelete(file, gname, H5P_DEFAULT);
    if (file >= 0 && H5Fclose(file) < 0 && st == EBM_OK)
        st = ebm_h5_fail(EBM_ERR_IO, __FILE__, __LINE__, __func__, path, "H5Fclose");
    h5_quiet_end(&quiet);
    if (st != EBM_OK) {
        if (st == EBM_ERR_HDF5) st = EBM_ERR_IO;  /* documented: write failures are I/O */
        ebm_error_trace(__FILE__, __LINE__, __func__);
    }
    return st;
}

ebm_status ebm_dataset_keep_labels(struct ebm_dataset *ds, const int *labels, int n_labels,
                                   MPI_Comm comm, const char *path, const char *split)
{
    /* The same on every rank (the file has labels or not): no agreement needed. */
    if (!ds->y && ds->n_total > 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: /%s has no labels (/%s/y), so [data] "
                        "include_labels cannot select rows", path, split, split);
    int64_t kept = 0;
    for (int64_t r = 0; r < ds->n; r++) {
        int keep = 0;
        for (int k = 0; k < n_labels && !keep; k++) keep = ds->y[r] == labels[k];
        if (!keep) continue;
        if (kept != r) {
            memmove(ds->x + kept * ds->dim, ds->x + r * ds->dim, sizeof(float) * (size_t)ds->dim);
            ds->y[kept] = ds->y[r];
        }
        kept++;
    }
    int64_t first = 0, total = kept;
    int rc = MPI_Exscan(&kept, &first, 1, MPI_INT64_T, MPI_SUM, comm);
    if (rc == MPI_SUCCESS) rc = MPI_Allreduce(&kept, &total, 1, MPI_INT64_T, MPI_SUM, comm);
    if (rc != MPI_SUCCESS)
        return EBM_FAIL(EBM_ERR_MPI, "%s: MPI error while counting the selected rows", path);
    int rank;
    MPI_Comm_rank(comm, &rank);
    ds->first = rank == 0 ? 0 : first;
    ds->n = kept;
    ds->n_total = total;
    if (total == 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: no row of /%s has a label in [data] include_labels",
                        path, split);
    return EBM_OK;
}

void ebm_standardize_std(float *std, int dim)
{
    float largest = 0.0f;
    for (int i = 0; i < dim; i++) largest = std[i] > largest ? std[i] : largest;
    for (int i = 0; i < dim; i++)
        if (!(std[i] >= (float)EBM_STANDARDIZE_REL_MIN * largest) || std[i] == 0.0f) std[i] = 1.0f;
}

void ebm_standardize_rows(float *x, int64_t n, int dim, const float *mean, const float *std)
{
    for (int64_t r = 0; r < n; r++)
        for (int i = 0; i < dim; i++) x[r * dim + i] = (x[r * dim + i] - mean[i]) / std[i];
}

void ebm_unstandardize_rows(float *x, int64_t n, int dim, const float *mean, const float *std)
{
    for (int64_t r = 0; r < n; r++)
        for (int i = 0; i < dim; i++) x[r * dim + i] = x[r * dim + i] * std[i] + mean[i];
}

void ebm_units_to_intensity(enum ebm_unit_type type, float *x, int64_t n, int dim,
                            const float *mean, const float *std)
{
    if (type == EBM_UNIT_SPIN)
        for (int64_t e = 0; e < n * dim; e++) x[e] = 0.5f * (x[e] + 1.0f);
    if (type == EBM_UNIT_GAUSSIAN && mean) ebm_unstandardize_rows(x, n, dim, mean, std);
}
