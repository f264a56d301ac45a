/* BLAS set-up that a run decides once: thread count, and whether this
 * OpenBLAS build recognised the CPU. */
#define _GNU_SOURCE /* sched_getaffinity */
#include "ebm/kernels.h"

#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include <cblas.h>
#include <stdio.h>
#include <string.h>

char *openblas_get_corename(void);

static int name_in(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (strcasecmp(name, *list) == 0) return 1;
    return 0;
}

const char *ebm_blas_core_advice(void)
{
    /* Older OpenBLAS builds fall back to SSE3 kernels ("Prescott") on CPUs
     * newer than they know, several times slower than the AVX2/AVX-512
     * kernels the CPU can run. OPENBLAS_CORETYPE overrides the choice. */
    static const char *const avx512[] = { "SkylakeX", "Cooperlake", "SapphireRapids", NULL };
    static const char *const avx2[] = { "Haswell", "Zen", "SkylakeX", "Cooperlake",
                                        "SapphireRapids", NULL };
    static char advice[256];
    const char *core = openblas_get_corename();
    if (!core) return NULL;
    const char *want = NULL;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && !name_in(core, avx512)) want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && !name_in(core, avx2)) want = "Haswell";
#else
    (void)avx512;
    (void)avx2;
#endif
    if (!want) return NULL;
    snprintf(advice, sizeof advice,
             "OpenBLAS chose its '%s' kernels for this CPU; export OPENBLAS_CORETYPE=%s "
             "for faster GEMMs", core, want);
    return advice;
}

void ebm_blas_set_threads(int ranks_on_node)
{
    /* One BLAS thread per core this rank may run on: mpirun binds a rank
     * to its core(s); an unbound rank shares the node with its peers. */
    if (getenv("OPENBLAS_NUM_THREADS")) return;
    long online = sysconf(_SC_NPROCESSORS_ONLN), threads;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < online)
        threads = CPU_COUNT(&set);
    else
        threads = online / (ranks_on_node > 0 ? ranks_on_node : 1);
    openblas_set_num_threads(threads > 0 ? (int)threads : 1);
}
