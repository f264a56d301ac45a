/* Helpers for multi-rank cmocka tests. Every rank runs every test; each
 * assertion is agreed over all ranks first (assert_all), so a failure
 * fails everywhere together and no rank is left waiting in a collective.
 * Only rank 0's cmocka output is shown. */
#ifndef EBM_TEST_MPIUTIL_H
#define EBM_TEST_MPIUTIL_H

#include "testutil.h"

static int mpi_rank, mpi_size;
static char mpi_dir[256]; /* one temporary directory shared by all ranks */

static inline void assert_all_at(int ok, const char *what, const char *file, int line)
{
    int all = 0;
    if (!ok) fprintf(stderr, "[rank %d] %s:%d: %s\n", mpi_rank, file, line, what);
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all) {
        print_error("%s:%d: %s failed on at least one rank\n", file, line, what);
        fail();
    }
}
#define assert_all(cond) assert_all_at(!!(cond), #cond, __FILE__, __LINE__)

#define EBM_MPI_TEST_MAIN(tests) EBM_MPI_TEST_MAIN_WITH(tests, NULL, NULL)
/* The same with cmocka group setup and teardown functions (or NULL). */
#define EBM_MPI_TEST_MAIN_WITH(tests, setup, teardown)                               \
    int main(int argc, char **argv)                                                  \
    {                                                                                \
        MPI_Init(&argc, &argv);                                                      \
        MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);                                    \
        MPI_Comm_size(MPI_COMM_WORLD, &mpi_size);                                    \
        if (mpi_rank == 0) snprintf(mpi_dir, sizeof mpi_dir, "%s", test_tmpdir());   \
        MPI_Bcast(mpi_dir, sizeof mpi_dir, MPI_CHAR, 0, MPI_COMM_WORLD);             \
        /* Other ranks keep stderr for their own diagnostics. */                     \
        if (mpi_rank != 0 && !freopen("/dev/null", "w", stdout)) MPI_Abort(MPI_COMM_WORLD, 1); \
        int failed = cmocka_run_group_tests(tests, setup, teardown);                  \
        MPI_Finalize();                                                              \
        return failed;                                                               \
    }

#endif
