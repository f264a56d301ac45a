/* A matrix distributed 2D block-cyclically over one replica's process grid
 * (ebm/grid.h), as ScaLAPACK lays it out: the global m x n matrix is cut
 * into mb x nb blocks, block (I, J) lives on grid position
 * (I mod Pr, J mod Pc), and each rank keeps its blocks as one column-major
 * local array. Entries are addressed by their global (i, j), so callers
 * think in the matrix, not in the layout; only this module and PSGEMM know
 * where an entry lives. */
#ifndef EBM_DMATRIX_H
#define EBM_DMATRIX_H

#include <stdbool.h>
#include <stddef.h>

#include "ebm/error.h"
#include "ebm/grid.h"

struct ebm_dmatrix {
    int m, n;                   /* global rows, columns */
    int mb, nb;                 /* block rows, block columns */
    int local_rows, local_cols; /* this rank's share */
    int lld;                    /* leading dimension of data, >= 1 */
    int desc[9];                /* the ScaLAPACK descriptor */
    int grid_row, grid_col, grid_rows, grid_cols;
    float *data;                /* (lld, local_cols) column-major; zeroed by init */
};

/* Allocates this rank's share of an m x n matrix in mb x nb blocks. */
ebm_status ebm_dmatrix_init(struct ebm_dmatrix *a, const struct ebm_grid *g, int m, int n,
                            int mb, int nb);
void ebm_dmatrix_free(struct ebm_dmatrix *a); /* NULL is fine */

/* Where global entry (i, j) is stored: the owner's grid coordinates, and
 * the local (row, column) there. */
void ebm_dmatrix_locate(const struct ebm_dmatrix *a, int i, int j, int *owner_row,
                        int *owner_col, int *local_row, int *local_col);
/* The global row (column) of local row lr (column lc) on this rank. */
int ebm_dmatrix_global_row(const struct ebm_dmatrix *a, int lr);
int ebm_dmatrix_global_col(const struct ebm_dmatrix *a, int lc);

/* This rank's entries from a full row-major copy G (m, ld) that every rank
 * holds (initialisation from a replicated state, and tests). */
void ebm_dmatrix_from_global(struct ebm_dmatrix *a, const float *G, int ld);
/* Collective over the replica: the full matrix into G (m, ld) row-major on
 * every rank of the replica (tests and checks; not for hot loops). */
ebm_status ebm_dmatrix_to_global(const struct ebm_dmatrix *a, const struct ebm_grid *g, float *G,
                                 int ld);

/* Collective over the replica: C = alpha op(A) op(B) + beta C through
 * PSGEMM, op a transpose when t* is set; op(A) is C.m x k and op(B) k x C.n.
 * EBM_ERR_INPUT naming the shapes when they do not fit. */
ebm_status ebm_pgemm(bool ta, bool tb, float alpha, const struct ebm_dmatrix *A,
                     const struct ebm_dmatrix *B, float beta, struct ebm_dmatrix *C);

#endif
