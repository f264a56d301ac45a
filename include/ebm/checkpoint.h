/* Checkpoints: named tensors plus attributes in one HDF5 file, written
 * collectively (schema in docs/checkpoint.md). Writing goes to a hidden
 * temporary name that is renamed over the final one only once complete,
 * so a crash never replaces a good checkpoint with a broken one. */
#ifndef EBM_CHECKPOINT_H
#define EBM_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <hdf5.h>
#include <mpi.h>

#include "ebm/dmatrix.h"
#include "ebm/error.h"

#define EBM_CKPT_FORMAT "ebm-checkpoint"
#define EBM_CKPT_VERSION 1

struct ebm_ckpt {
    hid_t file;
    MPI_Comm comm;
    int rank, size;
    int writing;
    char path[1024];     /* final name */
    char tmp_path[1024]; /* where a write goes until commit */
};

/* Collective over comm. */
ebm_status ebm_ckpt_create(struct ebm_ckpt *ck, const char *path, MPI_Comm comm);
ebm_status ebm_ckpt_commit(struct ebm_ckpt *ck);  /* close, fsync, rename */
void ebm_ckpt_abort(struct ebm_ckpt *ck);         /* close, remove the temporary */
/* Opens an existing checkpoint read-only and checks its format/version. */
ebm_status ebm_ckpt_open(struct ebm_ckpt *ck, const char *path, MPI_Comm comm);
void ebm_ckpt_close(struct ebm_ckpt *ck);

/* Groups are created on demand for every name ("a/b/c"). */
/* A tensor identical on every rank: rank 0 writes it. dims has ndim entries. */
ebm_status ebm_ckpt_write_f32(struct ebm_ckpt *ck, const char *name, const float *data,
                              int ndim, const int64_t *dims);
/* The same, written by rank `writer` alone (the ranks that hold it may not
 * include rank 0); the others pass any pointer. */
ebm_status ebm_ckpt_write_f32_from(struct ebm_ckpt *ck, const char *name, const float *data,
                                   int ndim, const int64_t *dims, int writer);
/* Rows that each rank holds a slice of, stacked in rank order into
 * [sum of rows, row_len]; uint64 variant for RNG states. */
ebm_status ebm_ckpt_write_rows_f32(struct ebm_ckpt *ck, const char *name, const float *rows,
                                   int64_t n_rows, int64_t row_len);
ebm_status ebm_ckpt_write_rows_u64(struct ebm_ckpt *ck, const char *name,
                                   const uint64_t *rows, int64_t n_rows, int64_t row_len);
ebm_status ebm_ckpt_attr_str(struct ebm_ckpt *ck, const char *object, const char *name,
                             const char *value);
ebm_status ebm_ckpt_attr_i64(struct ebm_ckpt *ck, const char *object, const char *name,
                             int64_t value);

/* A block-cyclic matrix (ebm/dmatrix.h) as the full [m, n] row-major
 * tensor a data-parallel run writes: ranks with mine != 0 write their own
 * blocks (one replica's ranks; the other replicas hold copies), all in
 * one collective write, and no rank ever holds the whole matrix
 * (src/io/checkpoint_blocks.c). */
ebm_status ebm_ckpt_write_dmatrix(struct ebm_ckpt *ck, const char *name,
                                  const struct ebm_dmatrix *a, int mine);
/* Every rank reads its own blocks of an [m, n] tensor, whatever grid
 * wrote it (or a data-parallel run); another shape is EBM_ERR_INPUT
 * naming both. */
ebm_status ebm_ckpt_read_dmatrix(struct ebm_ckpt *ck, const char *name, struct ebm_dmatrix *a);

/* Reads a tensor whose shape must equal dims; a different shape fails with
 * EBM_ERR_INPUT naming the file, tensor and both shapes. */
ebm_status ebm_ckpt_read_f32(struct ebm_ckpt *ck, const char *name, float *data, int ndim,
                             const int64_t *dims);
/* The same, where only ranks with mine != 0 read (the call stays collective). */
ebm_status ebm_ckpt_read_f32_part(struct ebm_ckpt *ck, const char *name, float *data, int ndim,
                                  const int64_t *dims, int mine);
/* Reads rows [first, first + n_rows) of a [N, row_len] tensor. */
ebm_status ebm_ckpt_read_rows_f32(struct ebm_ckpt *ck, const char *name, float *rows,
                                  int64_t first, int64_t n_rows, int64_t row_len);
ebm_status ebm_ckpt_read_rows_u64(struct ebm_ckpt *ck, const char *name, uint64_t *rows,
                                  int64_t first, int64_t n_rows, int64_t row_len);
/* The shape of a tensor (up to 8 dims); missing tensors fail with EBM_ERR_INPUT. */
ebm_status ebm_ckpt_shape(struct ebm_ckpt *ck, const char *name, int *ndim, int64_t dims[8]);
/* A string attribute into buf (malloc'ed, caller frees). */
ebm_status ebm_ckpt_read_attr_str(struct ebm_ckpt *ck, const char *object, const char *name,
                                  char **value);
ebm_status ebm_ckpt_read_attr_i64(struct ebm_ckpt *ck, const char *object, const char *name,
                                  int64_t *value);

#endif
