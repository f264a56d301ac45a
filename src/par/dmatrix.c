/* 2D block-cyclic matrices and their product (ebm/dmatrix.h). */
#include "ebm/dmatrix.h"

#include <stdlib.h>
#include <string.h>

#include "ebm/par.h"
#include "scalapack.h"

ebm_status ebm_dmatrix_init(struct ebm_dmatrix *a, const struct ebm_grid *g, int m, int n,
                            int mb, int nb)
{
    memset(a, 0, sizeof *a);
    if (m < 1 || n < 1 || mb < 1 || nb < 1)
        return EBM_FAIL(EBM_ERR_INPUT, "a %d x %d matrix in %d x %d blocks: every size must be "
                        "at least 1", m, n, mb, nb);
    const int zero = 0;
    a->m = m;
    a->n = n;
    a->mb = mb;
    a->nb = nb;
    a->grid_row = g->row;
    a->grid_col = g->col;
    a->grid_rows = g->rows;
    a->grid_cols = g->cols;
    a->local_rows = numroc_(&m, &mb, &g->row, &zero, &g->rows);
    a->local_cols = numroc_(&n, &nb, &g->col, &zero, &g->cols);
    a->lld = a->local_rows > 1 ? a->local_rows : 1;
    int info = 0;
    descinit_(a->desc, &m, &n, &mb, &nb, &zero, &zero, &g->context, &a->lld, &info);
    if (info != 0)
        return EBM_FAIL(EBM_ERR_INPUT, "descinit of a %d x %d matrix in %d x %d blocks on a "
                        "%dx%d grid: argument %d is invalid", m, n, mb, nb, g->rows, g->cols,
                        -info);
    size_t len = (size_t)a->lld * (size_t)(a->local_cols > 0 ? a->local_cols : 1);
    a->data = calloc(len, sizeof(float));
    if (!a->data) return EBM_FAIL(EBM_ERR_NOMEM, "out of memory: %zu floats of a %d x %d "
                                  "matrix share", len, m, n);
    return EBM_OK;
}

void ebm_dmatrix_free(struct ebm_dmatrix *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* Block-cyclic arithmetic of one dimension (source process 0): global
 * index i in blocks of b over p processes. */
static void locate_1d(int i, int b, int p, int *owner, int *local)
{
    int block = i / b;
    *owner = block % p;
    *local = (block / p) * b + i % b;
}

static int global_1d(int l, int b, int p, int me)
{
    return ((l / b) * p + me) * b + l % b;
}

void ebm_dmatrix_locate(const struct ebm_dmatrix *a, int i, int j, int *owner_row,
                        int *owner_col, int *local_row, int *local_col)
{
    locate_1d(i, a->mb, a->grid_rows, owner_row, local_row);
    locate_1d(j, a->nb, a->grid_cols, owner_col, local_col);
}

int ebm_dmatrix_global_row(const struct ebm_dmatrix *a, int lr)
{
    return global_1d(lr, a->mb, a->grid_rows, a->grid_row);
}

int ebm_dmatrix_global_col(const struct ebm_dmatrix *a, int lc)
{
    return global_1d(lc, a->nb, a->grid_cols, a->grid_col);
}

void ebm_dmatrix_from_global(struct ebm_dmatrix *a, const float *G, int ld)
{
    for (int lc = 0; lc < a->local_cols; lc++) {
        int j = ebm_dmatrix_global_col(a, lc);
        float *col = a->data + (size_t)lc * a->lld;
        for (int lr = 0; lr < a->local_rows; lr++)
            col[lr] = G[(size_t)ebm_dmatrix_global_row(a, lr) * ld + j];
    }
}

ebm_status ebm_dmatrix_to_global(const struct ebm_dmatrix *a, const struct ebm_grid *g, float *G,
                                 int ld)
{
    /* Each entry has one owner in the replica and zeros elsewhere, so a sum
     * over the replica assembles the matrix. */
    for (int i = 0; i < a->m; i++) memset(G + (size_t)i * ld, 0, sizeof(float) * (size_t)a->n);
    for (int lc = 0; lc < a->local_cols; lc++) {
        int j = ebm_dmatrix_global_col(a, lc);
        const float *col = a->data + (size_t)lc * a->lld;
        for (int lr = 0; lr < a->local_rows; lr++)
            G[(size_t)ebm_dmatrix_global_row(a, lr) * ld + j] = col[lr];
    }
    for (int i = 0; i < a->m; i++)
        EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, G + (size_t)i * ld, a->n, MPI_FLOAT, MPI_SUM,
                                  g->replica_comm));
    return EBM_OK;
}

ebm_status ebm_pgemm(bool ta, bool tb, float alpha, const struct ebm_dmatrix *A,
                     const struct ebm_dmatrix *B, float beta, struct ebm_dmatrix *C)
{
    int am = ta ? A->n : A->m, ak = ta ? A->m : A->n;
    int bk = tb ? B->n : B->m, bn = tb ? B->m : B->n;
    if (am != C->m || bn != C->n || ak != bk)
        return EBM_FAIL(EBM_ERR_INPUT, "pgemm: op(A) is %d x %d, op(B) %d x %d, C %d x %d", am,
                        ak, bk, bn, C->m, C->n);
    const int one = 1;
    const char tra = ta ? 'T' : 'N', trb = tb ? 'T' : 'N';
    psgemm_(&tra, &trb, &C->m, &C->n, &ak, &alpha, A->data, &one, &one, A->desc, B->data, &one,
            &one, B->desc, &beta, C->data, &one, &one, C->desc);
    return EBM_OK;
}
