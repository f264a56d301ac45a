/* The hybrid layout of model parallelism (docs/model-parallel.md): the P
 * ranks of a communicator split into R = P / (Pr Pc) data-parallel
 * replicas of Pr x Pc ranks each. Replica r is ranks r·Pr·Pc .. (r+1)·Pr·Pc - 1,
 * laid out row by row as a BLACS process grid; the ranks at the same grid
 * position of every replica hold the same blocks of every distributed
 * matrix, so one allreduce over them sums a gradient across replicas. */
#ifndef EBM_GRID_H
#define EBM_GRID_H

#include <mpi.h>

#include "ebm/error.h"

struct ebm_grid {
    int rows, cols;         /* Pr, Pc */
    int replicas, replica;  /* R, and this rank's replica */
    int row, col;           /* this rank's place in its replica's grid */
    int context;            /* the replica's BLACS context */
    MPI_Comm replica_comm;  /* the Pr·Pc ranks of this replica, in grid order */
    MPI_Comm across_comm;   /* the R ranks at this grid position, one per replica */
    MPI_Comm comm;          /* the communicator the grid was built on (not owned) */
};

/* "PrxPc" (e.g. "2x2") into its two factors, each in [1, 4096];
 * EBM_ERR_INPUT quoting the text otherwise. */
ebm_status ebm_grid_parse(const char *text, int *rows, int *cols);

/* Collective over comm. EBM_ERR_INPUT when rows·cols does not divide the
 * communicator's size, naming both. */
ebm_status ebm_grid_init(struct ebm_grid *g, MPI_Comm comm, int rows, int cols);
/* Collective. Releases the BLACS grid and the communicators; NULL is fine. */
void ebm_grid_free(struct ebm_grid *g);

/* BLACS keeps process-wide state: call once, after every grid is freed and
 * before MPI_Finalize. */
void ebm_grid_finalize(void);

#endif
