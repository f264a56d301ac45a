/* Datasets in HDF5 (layout in docs/data.md): /<split>/x [N, D] uint8 or
 * float32, /<split>/y [N] int32, and an image_shape attribute on the root.
 * Reading is collective: each rank reads its own rows as a hyperslab. */
#ifndef EBM_DATASET_H
#define EBM_DATASET_H

#include <stdbool.h>
#include <stdint.h>
#include <mpi.h>

#include "ebm/error.h"
#include "ebm/units.h"

struct ebm_dataset {
    int64_t n_total;   /* rows in the split */
    int64_t first;     /* global index of this rank's first row */
    int64_t n;         /* rows held here */
    int dim;           /* D */
    float *x;          /* (n, D) row-major; uint8 data is scaled to [0, 1] */
    int32_t *y;        /* (n) labels, or NULL when the split has none */
    int image_h, image_w; /* 0 when the file has no image_shape */
};

/* Rows [first, first + count) of a contiguous split of n_total rows over
 * `size` ranks: the first n_total % size ranks hold one extra row. */
void ebm_shard_range(int64_t n_total, int rank, int size, int64_t *first, int64_t *count);

/* Collective over comm: each rank reads its shard of the split's first
 * `limit` rows (limit <= 0: all rows). Missing files or splits, a
 * non-2D x, label count mismatches and NaN/Inf values fail with
 * EBM_ERR_INPUT, naming the file and dataset. */
ebm_status ebm_dataset_read_shard(const char *path, const char *split, int64_t limit,
                                  MPI_Comm comm, struct ebm_dataset *out);
/* Collective over comm: keeps only this rank's rows whose label is one of
 * labels (in their order), and recounts first and n_total over the ranks.
 * The kept rows are global rows [first, first + n) of the selection. A
 * split without labels, or a selection of no row, fails with
 * EBM_ERR_INPUT naming the file and split. */
ebm_status ebm_dataset_keep_labels(struct ebm_dataset *ds, const int *labels, int n_labels,
                                   MPI_Comm comm, const char *path, const char *split);
/* True when the file has /<split>/x (collective-safe: every rank opens read-only). */
bool ebm_dataset_has_split(const char *path, const char *split);
void ebm_dataset_free(struct ebm_dataset *ds);

/* Serial writer used by `ebm convert`: creates the file if needed and
 * writes (replacing) one split. x is uint8 (n, dim); y may be NULL. */
ebm_status ebm_dataset_write_u8(const char *path, const char *split, const uint8_t *x,
                                int64_t n, int dim, const int32_t *y,
                                int image_h, int image_w);

/* [data] standardize: column i of n rows becomes (x - mean_i) / std_i,
 * and back. A column whose standard deviation is below
 * EBM_STANDARDIZE_REL_MIN times the largest column's (constant border
 * pixels) gets std_i = 1, so it is only centred: dividing by ~0 would turn
 * rounding into large values. ebm_standardize_std applies that rule to raw
 * deviations in place. */
#define EBM_STANDARDIZE_REL_MIN 1e-2
void ebm_standardize_std(float *std, int dim);
void ebm_standardize_rows(float *x, int64_t n, int dim, const float *mean, const float *std);
void ebm_unstandardize_rows(float *x, int64_t n, int dim, const float *mean, const float *std);
/* Visible values back to the data's [0, 1] intensities, for pictures:
 * spins (x + 1) / 2, Gaussian values un-standardised when mean is given. */
void ebm_units_to_intensity(enum ebm_unit_type type, float *x, int64_t n, int dim,
                            const float *mean, const float *std);

#endif
