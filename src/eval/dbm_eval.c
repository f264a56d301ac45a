#include "ebm/dbm_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/ais.h"
#include "ebm/dbm_ais.h"
#include "ebm/par.h"

enum { CHUNK_ROWS = 256 };

/* Sums over this rank's rows of the bound (plus log Z) and its square, and
 * the mean-field sweeps and blocks; *top gains the rows' largest bound. */
static ebm_status local_sums(const struct dbm *m, const float *x, int64_t n,
                             const struct ebm_dbm_eval_opts *o, double sums[4], double *top)
{
    int L = m->n_hidden_layers, widest = 0;
    struct dbm_state s = { { 0 } };
    for (int k = 0; k <= L; k++) widest = m->sizes[k] > widest ? m->sizes[k] : widest;
    float *in = malloc(sizeof *in * CHUNK_ROWS * (size_t)widest);
    double *b = malloc(sizeof *b * CHUNK_ROWS);
    int ok = in && b;
    for (int k = 1; k <= L; k++) {
        s.x[k] = malloc(sizeof(float) * CHUNK_ROWS * (size_t)m->sizes[k]);
        ok = ok && s.x[k];
    }
    for (int64_t r0 = 0; ok && r0 < n; r0 += CHUNK_ROWS) {
        int rows = (int)(n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS);
        s.x[0] = (float *)x + r0 * m->sizes[0];
        sums[2] += dbm_mean_field(m, &s, rows, o->mf_tol, o->mf_steps, in);
        sums[3] += 1.0;
        dbm_bound_plus_log_z(m, &s, rows, b);
        for (int r = 0; r < rows; r++) {
            sums[0] += b[r];
            sums[1] += b[r] * b[r];
            *top = b[r] > *top ? b[r] : *top;
        }
    }
    free(in);
    free(b);
    for (int k = 1; k <= L; k++) free(s.x[k]);
    return ok ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
}

/* Collective: reverse AIS from the split's first o->ais_runs rows, each
 * rank starting the runs its shard holds. */
static ebm_status reverse(const struct dbm *m, const float *x, int64_t n_local, int64_t first,
                          int64_t n_total, const float *base, const double *betas,
                          const struct ebm_dbm_eval_opts *o, MPI_Comm comm,
                          struct ebm_dbm_eval_result *out)
{
    int64_t runs = o->ais_runs < n_total ? o->ais_runs : n_total;
    if (runs < 2) return EBM_OK;
    int64_t lo = first < runs ? first : runs;
    int64_t hi = first + n_local < runs ? first + n_local : runs;
    struct ebm_ais_result rev;
    double t0 = MPI_Wtime();
    EBM_TRY(dbm_reverse_ais(m, base, betas, o->ais_betas, x, (int)(hi - lo), lo, o->ais_kept,
                            o->seed, o->mf_tol, o->mf_steps, comm, &rev));
    out->reverse_seconds = MPI_Wtime() - t0;
    out->have_reverse = true;
    out->reverse_runs = (int)runs;
    out->reverse_log_z = rev.log_z;
    out->reverse_log_z_lo = rev.log_z_lo;
    out->reverse_log_z_hi = rev.log_z_hi;
    return EBM_OK;
}

ebm_status ebm_dbm_evaluate(const struct dbm *m, const float *x, int64_t n_local, int64_t first,
                            const struct ebm_dbm_eval_opts *o, MPI_Comm comm,
                            struct ebm_dbm_eval_result *out)
{
    memset(out, 0, sizeof *out);
    int V = m->sizes[0];
    double sums[5] = { 0, 0, 0, 0, (double)n_local }, top = -INFINITY;
    EBM_TRY(ebm_comm_agree(comm, local_sums(m, x, n_local, o, sums, &top)));
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, sums, 5, MPI_DOUBLE, MPI_SUM, comm));
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &top, 1, MPI_DOUBLE, MPI_MAX, comm));
    out->log_z_floor = top;
    int64_t n = (int64_t)sums[4];
    if (n < 1) return EBM_FAIL(EBM_ERR_INPUT, "no examples to evaluate");
    out->n_examples = n;
    out->mean_bound_plus_log_z = sums[0] / (double)n;
    double var = n > 1 ? (sums[1] - (double)n * out->mean_bound_plus_log_z *
                                         out->mean_bound_plus_log_z) / (double)(n - 1)
                       : 0.0;
    out->se = sqrt(var > 0 ? var : 0.0) / sqrt((double)n);
    out->mf_sweeps = sums[3] > 0 ? sums[2] / sums[3] : 0.0;
    if (o->exact) {
        EBM_TRY(ebm_comm_agree(comm, dbm_exact_log_z(m, &out->log_z)));
        out->log_z_lo = out->log_z_hi = out->log_z;
    } else {
        /* the base: the rows' own marginals, which any base may be */
        double *marg = calloc((size_t)V, sizeof *marg);
        float *base = malloc(sizeof *base * (size_t)V);
        double *betas = ebm_ais_schedule(o->ais_betas);
        ebm_status st = marg && base && betas
                            ? EBM_OK
                            : EBM_FAIL(EBM_ERR_NOMEM, "out of memory for AIS (%d betas)",
                                       o->ais_betas);
        st = ebm_comm_agree(comm, st);
        for (int64_t r = 0; st == EBM_OK && r < n_local; r++)
            for (int i = 0; i < V; i++) marg[i] += x[r * V + i];
        if (st == EBM_OK) {
            int rc = MPI_Allreduce(MPI_IN_PLACE, marg, V, MPI_DOUBLE, MPI_SUM, comm);
            if (rc != MPI_SUCCESS) st = ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "marginals");
        }
        struct ebm_ais_result a;
        if (st == EBM_OK) {
            float *p = base; /* the marginals, then the biases in place */
            for (int i = 0; i < V; i++) p[i] = (float)(marg[i] / (double)n);
            ebm_ais_base_biases(p, V, base);
            double t0 = MPI_Wtime();
            st = dbm_ais(m, base, betas, o->ais_betas, o->ais_runs, o->ais_kept, o->seed, comm,
                         &a);
            out->ais_seconds = MPI_Wtime() - t0;
        }
        if (st == EBM_OK && o->reverse)
            st = reverse(m, x, n_local, first, n, base, betas, o, comm, out);
        free(marg);
        free(base);
        free(betas);
        EBM_TRY(st);
        out->log_z = a.log_z;
        out->log_z_lo = a.log_z_lo;
        out->log_z_hi = a.log_z_hi;
        out->log_w_sd = a.log_w_sd;
    }
    out->bound = out->mean_bound_plus_log_z - out->log_z;
    out->bound_lo = out->mean_bound_plus_log_z - out->log_z_hi;
    out->bound_hi = out->mean_bound_plus_log_z - out->log_z_lo;
    out->below_floor = out->log_z < out->log_z_floor;
    if (out->have_reverse) out->reverse_bound = out->mean_bound_plus_log_z - out->reverse_log_z;
    return EBM_OK;
}
