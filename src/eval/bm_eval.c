#include "ebm/bm_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"
#include "ebm/par.h"

enum { CHUNK_ROWS = 256 };

/* Sums over this rank's rows: E, E^2, and sum_j log p(x_j | x_-j), where
 * the conditional of the observed state is p for an "on" unit and 1 - p
 * for an "off" one (bm_conditionals gives p(on | rest)). */
static ebm_status local_sums(const struct bm *m, const float *x, int64_t n, double sums[3])
{
    int D = m->n_units;
    double *e = malloc(sizeof *e * CHUNK_ROWS);
    float *p = malloc(sizeof *p * CHUNK_ROWS * (size_t)D);
    if (!e || !p) {
        free(e);
        free(p);
        return EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
    }
    for (int64_t r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
        int rows = (int)(n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS);
        const float *xr = x + r0 * D;
        bm_energy(m, xr, rows, e);
        bm_conditionals(m, xr, rows, p);
        for (int r = 0; r < rows; r++) {
            sums[0] += e[r];
            sums[1] += e[r] * e[r];
            for (int j = 0; j < D; j++) {
                double q = p[(size_t)r * D + j];
                int on = xr[(size_t)r * D + j] > 0.5f;
                /* floats round p to 0 or 1 only beyond |input| ~ 17 */
                sums[2] += log(fmax(on ? q : 1.0 - q, 1e-300));
            }
        }
    }
    free(e);
    free(p);
    return EBM_OK;
}

ebm_status ebm_bm_evaluate(const struct bm *m, const float *x, int64_t n_local, MPI_Comm comm,
                           struct ebm_bm_eval_result *out)
{
    memset(out, 0, sizeof *out);
    double sums[4] = { 0, 0, 0, (double)n_local };
    EBM_TRY(ebm_comm_agree(comm, local_sums(m, x, n_local, sums)));
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, sums, 4, MPI_DOUBLE, MPI_SUM, comm));
    int64_t n = (int64_t)sums[3];
    if (n < 1) return EBM_FAIL(EBM_ERR_INPUT, "no examples to evaluate");
    out->n_examples = n;
    out->mean_energy = sums[0] / (double)n;
    double var = n > 1 ? (sums[1] - (double)n * out->mean_energy * out->mean_energy) / (double)(n - 1)
                       : 0.0;
    out->energy_se = sqrt(var > 0 ? var : 0.0) / sqrt((double)n);
    out->pseudo_ll_per_example = sums[2] / (double)n;
    out->pseudo_ll_per_unit = out->pseudo_ll_per_example / m->n_units;
    if (m->n_units <= BM_EXACT_MAX_UNITS) {
        EBM_TRY(ebm_comm_agree(comm, bm_exact_log_z(m, &out->log_z)));
        out->exact = 1;
        out->avg_log_prob = -out->mean_energy - out->log_z;
    }
    return EBM_OK;
}
