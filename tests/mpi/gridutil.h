/* Helpers for the tests on process grids (ebm/grid.h). */
#ifndef EBM_TEST_GRIDUTIL_H
#define EBM_TEST_GRIDUTIL_H

#include "mpiutil.h"

#include "ebm/grid.h"

/* The grids of this rank count: every Pr x Pc with Pr·Pc dividing it
 * (1x1; 1x2, 2x1 and two 1x1 replicas at 2; 2x2, 1x4, 4x1 at 4, ...). */
static int grids_of(int size, int rows[16], int cols[16])
{
    int n = 0;
    for (int per = 1; per <= size; per++) {
        if (size % per) continue;
        for (int r = 1; r <= per && n < 16; r++)
            if (per % r == 0) {
                rows[n] = r;
                cols[n] = per / r;
                n++;
            }
    }
    return n;
}

/* cmocka group teardown: BLACS's process-wide state goes before MPI_Finalize. */
static int finish_blacs(void **state)
{
    (void)state;
    ebm_grid_finalize();
    return 0;
}

#endif
