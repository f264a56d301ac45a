/* Shared helpers for the cmocka tests. */
#ifndef EBM_TESTUTIL_H
#define EBM_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <mpi.h>

/* Fails with the index and size of the largest difference, so a failing
 * comparison says by how much it missed. */
static inline void assert_close_f(const float *a, const float *b, size_t n,
                                  double tol, const char *what)
{
    double worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst)) { worst = d; at = i; }
    }
    if (!(worst <= tol)) {
        print_error("%s: largest difference %.3g at [%zu] (%.9g vs %.9g), tolerance %.3g\n",
                    what, worst, at, (double)a[at], (double)b[at], tol);
        fail();
    }
}

static inline void assert_close_d(double a, double b, double tol, const char *what)
{
    if (!(fabs(a - b) <= tol)) {
        print_error("%s: %.12g vs %.12g differ by %.3g, tolerance %.3g\n",
                    what, a, b, fabs(a - b), tol);
        fail();
    }
}

/* A fresh temporary directory per test binary. */
static inline const char *test_tmpdir(void)
{
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/ebm-test-XXXXXX");
        if (!mkdtemp(dir)) { perror("mkdtemp"); abort(); }
    }
    return dir;
}

/* Serial test binaries still call MPI_Init: the library's collective
 * readers and writers run on a 1-rank world. */
#define EBM_TEST_MAIN(tests)                                               \
    int main(int argc, char **argv)                                        \
    {                                                                      \
        MPI_Init(&argc, &argv);                                            \
        int failed = cmocka_run_group_tests(tests, NULL, NULL);            \
        MPI_Finalize();                                                    \
        return failed;                                                     \
    }

#endif
