/* ebm's own allocations, counted through the linker's --wrap: a test that
 * includes this (once) is linked with -Wl,--wrap=malloc,--wrap=calloc,
 * --wrap=realloc (the Makefile's rule for it), which redirects the calls
 * in libebm.a and the test; shared libraries (MPI, HDF5, ScaLAPACK) keep
 * their own. */
#ifndef EBM_TEST_ALLOCWRAP_H
#define EBM_TEST_ALLOCWRAP_H

#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static long allocations;

void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
    allocations++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size)
{
    allocations++;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n)
{
    allocations++;
    return __real_realloc(p, n);
}

#endif
