/* Score files: rank 0's serial write of the gathered scores. Every HDF5
 * call is checked, and the first failure stops the file. */
#include "ebm/score_file.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <hdf5.h>

#include "ebm/h5util.h"

static ebm_status write_vector(hid_t file, const char *path, const char *name, hid_t ftype,
                               hid_t mtype, int64_t n, const void *data)
{
    ebm_status st = EBM_OK;
    hsize_t dims[1] = { (hsize_t)n };
    hid_t space = H5Screate_simple(1, dims, NULL), dset = -1;
    EBM_H5_OR(st, space, path, "H5Screate_simple");
    EBM_H5_OR(st, dset = H5Dcreate2(file, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT,
                                    H5P_DEFAULT), path, "H5Dcreate2");
    EBM_H5_OR(st, H5Dwrite(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), path, "H5Dwrite");
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    return st;
}

static ebm_status write_contents(hid_t f, const char *p, const struct ebm_score_file *s)
{
    const hid_t F64 = H5T_IEEE_F64LE, DBL = H5T_NATIVE_DOUBLE, I64 = H5T_STD_I64LE;
    int64_t n = s->n;
    EBM_TRY(write_vector(f, p, "free_energy", F64, DBL, n, s->free_energy));
    EBM_TRY(write_vector(f, p, "recon_error", F64, DBL, n, s->recon_error));
    if (s->labels)
        EBM_TRY(write_vector(f, p, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, n, s->labels));
    if (s->percentile) EBM_TRY(write_vector(f, p, "percentile", F64, DBL, n, s->percentile));
    EBM_TRY(ebm_h5_attr_str(f, p, "checkpoint", s->checkpoint));
    EBM_TRY(ebm_h5_attr_str(f, p, "data", s->data));
    EBM_TRY(ebm_h5_attr_str(f, p, "split", s->split));
    EBM_TRY(ebm_h5_attr_str(f, p, "binarize", s->binarize));
    EBM_TRY(ebm_h5_attr(f, p, "seed", I64, H5T_NATIVE_INT64, &s->seed));
    if (s->reference) {
        EBM_TRY(ebm_h5_attr_str(f, p, "reference", s->reference));
        EBM_TRY(ebm_h5_attr(f, p, "reference_rows", I64, H5T_NATIVE_INT64, &s->reference_rows));
    }
    if (s->anomaly_labels) {
        EBM_TRY(ebm_h5_attr_str(f, p, "anomaly_labels", s->anomaly_labels));
        EBM_TRY(ebm_h5_attr(f, p, "auroc_free_energy", F64, DBL, &s->auroc_free_energy));
        EBM_TRY(ebm_h5_attr(f, p, "auroc_recon_error", F64, DBL, &s->auroc_recon_error));
    }
    return EBM_OK;
}

ebm_status ebm_score_file_write(const char *path, const struct ebm_score_file *s)
{
    char tmp[4200];
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    snprintf(tmp, sizeof tmp, "%.*s.%s.tmp", dir_len, path, slash ? slash + 1 : path);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return EBM_H5_FAIL(EBM_ERR_IO, tmp, "H5Fcreate");
    ebm_status st = write_contents(f, path, s);
    if (H5Fclose(f) < 0 && st == EBM_OK) st = EBM_H5_FAIL(EBM_ERR_IO, tmp, "H5Fclose");
    if (st == EBM_OK) {
        int err = ebm_h5_publish(tmp, path);
        if (err) st = EBM_FAIL(EBM_ERR_IO, "%s: cannot complete the file: %s", path, strerror(err));
    }
    if (st != EBM_OK) unlink(tmp);
    return st;
}
