/* Replicas and their BLACS process grids (ebm/grid.h). */
#include "ebm/grid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/par.h"
#include "scalapack.h"

/* Whether BLACS has process state for ebm_grid_finalize to release. */
static int blacs_started;

enum { GRID_MAX_SIDE = 4096 };

static int parse_side(const char *s, char **end, int *out)
{
    if (*s < '0' || *s > '9') return 0;
    errno = 0;
    long v = strtol(s, end, 10);
    if (errno || v < 1 || v > GRID_MAX_SIDE) return 0;
    *out = (int)v;
    return 1;
}

ebm_status ebm_grid_parse(const char *text, int *rows, int *cols)
{
    char *end;
    if (!parse_side(text, &end, rows) || *end != 'x' || !parse_side(end + 1, &end, cols) || *end)
        return EBM_FAIL(EBM_ERR_INPUT, "grid '%s': expected PrxPc, two whole numbers in [1, %d] "
                        "joined by 'x' (e.g. 2x2)", text, GRID_MAX_SIDE);
    return EBM_OK;
}

ebm_status ebm_grid_init(struct ebm_grid *g, MPI_Comm comm, int rows, int cols)
{
    memset(g, 0, sizeof *g);
    g->replica_comm = g->across_comm = MPI_COMM_NULL;
    int rank, size;
    EBM_MPI_TRY(MPI_Comm_rank(comm, &rank));
    EBM_MPI_TRY(MPI_Comm_size(comm, &size));
    int per = rows * cols;
    if (rows < 1 || cols < 1 || size % per != 0)
        return EBM_FAIL(EBM_ERR_INPUT, "grid %dx%d: its %d ranks do not divide the %d ranks of "
                        "the run into replicas", rows, cols, per, size);
    g->comm = comm;
    g->rows = rows;
    g->cols = cols;
    g->replicas = size / per;
    g->replica = rank / per;
    int at = rank % per;
    g->row = at / cols;
    g->col = at % cols;
    EBM_MPI_TRY(MPI_Comm_split(comm, g->replica, at, &g->replica_comm));
    EBM_MPI_TRY(MPI_Comm_split(comm, at, g->replica, &g->across_comm));
    int handle = Csys2blacs_handle(g->replica_comm);
    g->context = handle;
    Cblacs_gridinit(&g->context, "Row", rows, cols);
    blacs_started = 1;
    Cfree_blacs_system_handle(handle);
    int pr, pc, r, c;
    Cblacs_gridinfo(g->context, &pr, &pc, &r, &c);
    /* BLACS numbers a "Row" grid as we do; a mismatch would misplace every block. */
    ebm_status st = EBM_OK;
    if (pr != rows || pc != cols || r != g->row || c != g->col)
        st = EBM_FAIL(EBM_ERR_MPI, "BLACS placed rank %d at (%d, %d) of %dx%d, expected "
                      "(%d, %d) of %dx%d", rank, r, c, pr, pc, g->row, g->col, rows, cols);
    return ebm_comm_agree(comm, st);
}

void ebm_grid_free(struct ebm_grid *g)
{
    if (!g) return;
    if (g->rows > 0) Cblacs_gridexit(g->context);
    if (g->replica_comm != MPI_COMM_NULL) MPI_Comm_free(&g->replica_comm);
    if (g->across_comm != MPI_COMM_NULL) MPI_Comm_free(&g->across_comm);
    memset(g, 0, sizeof *g);
    g->replica_comm = g->across_comm = MPI_COMM_NULL;
}

void ebm_grid_finalize(void)
{
    if (blacs_started) Cblacs_exit(1); /* 1: MPI stays up for the caller to finalize */
    blacs_started = 0;
}
