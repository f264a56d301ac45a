/* Block-cyclic matrices in checkpoints (ebm/checkpoint.h): the file holds
 * the full [m, n] row-major tensor, exactly as a data-parallel run writes
 * it, and each rank writes or reads only its own blocks.
 *
 * A rank's blocks are the product of its block rows and block columns, so
 * its part of the file is at most four regular hyperslabs (full blocks,
 * and the partial last block row and column where it holds them), and the
 * file's row-major order over them is its local entries in (row, column)
 * order: one packed buffer, one collective transfer. */
#include "ebm/checkpoint.h"

#include <stdlib.h>
#include <string.h>

#include "ebm/h5util.h"
#include "ebm/par.h"

/* One dimension of a rank's share: `full` whole blocks from `first` every
 * `stride`, and a partial last block [tail_start, tail_start + tail_len)
 * when tail_len > 0. */
struct runs {
    hsize_t first, stride, full, size, tail_start, tail_len;
};

static struct runs runs_of(int n, int b, int procs, int me)
{
    int blocks = n / b; /* whole blocks in the matrix */
    struct runs r = { .first = (hsize_t)me * b, .stride = (hsize_t)procs * b, .size = (hsize_t)b };
    r.full = blocks > me ? (hsize_t)((blocks - 1 - me) / procs + 1) : 0;
    if (n % b && blocks % procs == me) {
        r.tail_start = (hsize_t)blocks * b;
        r.tail_len = (hsize_t)(n % b);
    }
    return r;
}

/* One dimension of a regular hyperslab. */
struct slab {
    hsize_t start, stride, count, block;
};

/* Selects this rank's entries of the [m, n] file space; returns how many. */
static herr_t select_blocks(hid_t space, const struct ebm_dmatrix *a, hsize_t *selected)
{
    struct runs rows = runs_of(a->m, a->mb, a->grid_rows, a->grid_row);
    struct runs cols = runs_of(a->n, a->nb, a->grid_cols, a->grid_col);
    /* (start, stride, count, block) per dimension for full x full, full x
     * tail, tail x full and tail x tail. */
    struct slab r[2], c[2];
    int nr = 0, nc = 0;
    if (rows.full) r[nr++] = (struct slab){ rows.first, rows.stride, rows.full, rows.size };
    if (rows.tail_len) r[nr++] = (struct slab){ rows.tail_start, 1, 1, rows.tail_len };
    if (cols.full) c[nc++] = (struct slab){ cols.first, cols.stride, cols.full, cols.size };
    if (cols.tail_len) c[nc++] = (struct slab){ cols.tail_start, 1, 1, cols.tail_len };
    herr_t rc = H5Sselect_none(space);
    *selected = 0;
    for (int i = 0; rc >= 0 && i < nr; i++)
        for (int j = 0; rc >= 0 && j < nc; j++) {
            hsize_t start[2] = { r[i].start, c[j].start }, stride[2] = { r[i].stride, c[j].stride };
            hsize_t count[2] = { r[i].count, c[j].count }, block[2] = { r[i].block, c[j].block };
            rc = H5Sselect_hyperslab(space, H5S_SELECT_OR, start, stride, count, block);
            *selected += count[0] * block[0] * count[1] * block[1];
        }
    return rc;
}

/* packed (local_rows, local_cols) row-major <-> the column-major blocks. */
static void pack(const struct ebm_dmatrix *a, float *packed)
{
    for (int lr = 0; lr < a->local_rows; lr++)
        for (int lc = 0; lc < a->local_cols; lc++)
            packed[(size_t)lr * a->local_cols + lc] = a->data[(size_t)lc * a->lld + lr];
}

static void unpack(const float *packed, struct ebm_dmatrix *a)
{
    for (int lr = 0; lr < a->local_rows; lr++)
        for (int lc = 0; lc < a->local_cols; lc++)
            a->data[(size_t)lc * a->lld + lr] = packed[(size_t)lr * a->local_cols + lc];
}

/* One collective transfer of this rank's blocks (none when !mine). */
static ebm_status transfer(struct ebm_ckpt *ck, hid_t dset, const struct ebm_dmatrix *a,
                           float *packed, int mine, int writing)
{
    hid_t space = H5Dget_space(dset);
    EBM_TRY(ebm_comm_agree(ck->comm, space < 0 ? EBM_H5_FAIL(EBM_ERR_HDF5, ck->path,
                                                             "H5Dget_space") : EBM_OK));
    hsize_t n = (hsize_t)a->local_rows * (hsize_t)a->local_cols, selected = 0;
    herr_t rc = mine ? select_blocks(space, a, &selected) : H5Sselect_none(space);
    EBM_ASSERT(!mine || rc < 0 || selected == n);
    hsize_t mem_n = n > 0 ? n : 1;
    hid_t mem = H5Screate_simple(1, &mem_n, NULL);
    if (rc >= 0 && mem >= 0 && (!mine || n == 0)) rc = H5Sselect_none(mem);
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (rc >= 0) rc = mem < 0 || dxpl < 0 ? -1 : H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    /* Agreed before the collective transfer, which no rank may skip. */
    ebm_status st = ebm_comm_agree(ck->comm, rc < 0 ? EBM_H5_FAIL(EBM_ERR_HDF5, ck->path,
                                                               "selecting the blocks") : EBM_OK);
    if (st == EBM_OK) {
        rc = writing ? H5Dwrite(dset, H5T_NATIVE_FLOAT, mem, space, dxpl, packed)
                     : H5Dread(dset, H5T_NATIVE_FLOAT, mem, space, dxpl, packed);
        if (rc < 0) st = EBM_H5_FAIL(EBM_ERR_IO, ck->path, writing ? "H5Dwrite" : "H5Dread");
    }
    if (dxpl >= 0) H5Pclose(dxpl);
    if (mem >= 0) H5Sclose(mem);
    H5Sclose(space);
    return st;
}

static ebm_status write_local(struct ebm_ckpt *ck, const char *name,
                              const struct ebm_dmatrix *a, int mine, float *packed)
{
    hsize_t dims[2] = { (hsize_t)a->m, (hsize_t)a->n };
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t lcpl = space < 0 ? -1 : H5Pcreate(H5P_LINK_CREATE);
    if (lcpl >= 0) H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dset = lcpl < 0 ? -1 : H5Dcreate2(ck->file, name, H5T_NATIVE_FLOAT, space, lcpl,
                                             H5P_DEFAULT, H5P_DEFAULT);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (space >= 0) H5Sclose(space);
    ebm_status st = ebm_comm_agree(ck->comm, dset < 0 ? EBM_H5_FAIL(EBM_ERR_HDF5, ck->path,
                                                                   "H5Dcreate") : EBM_OK);
    if (st == EBM_OK) {
        if (mine) pack(a, packed);
        st = transfer(ck, dset, a, packed, mine, 1);
    }
    if (dset >= 0) H5Dclose(dset);
    return st;
}

ebm_status ebm_ckpt_write_dmatrix(struct ebm_ckpt *ck, const char *name,
                                  const struct ebm_dmatrix *a, int mine)
{
    size_t n = (size_t)a->local_rows * (size_t)a->local_cols;
    float *packed = malloc(sizeof(float) * (n > 0 ? n : 1));
    ebm_status st = ebm_comm_agree(ck->comm, packed ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM,
                                   "out of memory packing %s", name));
    if (st == EBM_OK) st = ebm_comm_agree(ck->comm, write_local(ck, name, a, mine, packed));
    free(packed);
    return st;
}

ebm_status ebm_ckpt_read_dmatrix(struct ebm_ckpt *ck, const char *name, struct ebm_dmatrix *a)
{
    int ndim;
    int64_t have[8] = { 0 };
    EBM_TRY(ebm_ckpt_shape(ck, name, &ndim, have));
    if (ndim != 2 || have[0] != a->m || have[1] != a->n) {
        char shape[96] = "";
        for (int i = 0, at = 0; i < ndim && i < 8 && at < (int)sizeof shape; i++)
            at += snprintf(shape + at, sizeof shape - (size_t)at, "%s%lld", i ? ", " : "",
                           (long long)have[i]);
        return EBM_FAIL(EBM_ERR_INPUT, "%s: %s has shape [%s], expected [%d, %d]", ck->path,
                        name, shape, a->m, a->n);
    }
    size_t n = (size_t)a->local_rows * (size_t)a->local_cols;
    float *packed = malloc(sizeof(float) * (n > 0 ? n : 1));
    hid_t dset = H5Dopen2(ck->file, name, H5P_DEFAULT);
    ebm_status st = !packed ? EBM_FAIL(EBM_ERR_NOMEM, "out of memory reading %s", name)
                    : dset < 0 ? EBM_H5_FAIL(EBM_ERR_HDF5, ck->path, "H5Dopen") : EBM_OK;
    st = ebm_comm_agree(ck->comm, st);
    if (st == EBM_OK) st = transfer(ck, dset, a, packed, 1, 0);
    if (st == EBM_OK) unpack(packed, a);
    if (dset >= 0) H5Dclose(dset);
    free(packed);
    return st;
}
