#include "ebm/dbm_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/ais.h"
#include "ebm/dbm_ais.h"
#include "ebm/par.h"

enum { CHUNK_ROWS = 256 };

/* Sums over this rank's rows of the bound (plus log Z) and its square, and
 * the mean-field sweeps and blocks; *top gains the rows' largest bound,
 * and marg (all layers' units, one after the other) the rows and their
 * mean-field means. */
static ebm_status local_sums(const struct dbm *m, const float *x, int64_t n,
                             const struct ebm_dbm_eval_opts *o, double sums[4], double *top,
                             double *marg)
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
        double *mk = marg;
        for (int k = 0; k <= L; mk += m->sizes[k], k++)
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < m->sizes[k]; i++)
                    mk[i] += s.x[k][(size_t)r * m->sizes[k] + i];
    }
    free(in);
    free(b);
    for (int k = 1; k <= L; k++) free(s.x[k]);
    return ok ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
}

/* Collective: the ranks' sums and marginals summed, their top maximised. */
static ebm_status reduce(MPI_Comm comm, double sums[5], double *top, double *marg, int T)
{
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, sums, 5, MPI_DOUBLE, MPI_SUM, comm));
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, top, 1, MPI_DOUBLE, MPI_MAX, comm));
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, marg, T, MPI_DOUBLE, MPI_SUM, comm));
    return EBM_OK;
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
    int T = 0; /* units of all layers */
    for (int k = 0; k <= m->n_hidden_layers; k++) T += m->sizes[k];
    double sums[5] = { 0, 0, 0, 0, (double)n_local }, top = -INFINITY;
    double *marg = calloc((size_t)T, sizeof *marg);
    ebm_status st = marg ? local_sums(m, x, n_local, o, sums, &top, marg)
                         : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
    st = ebm_comm_agree(comm, st);
    if (st == EBM_OK) st = reduce(comm, sums, &top, marg, T);
    if (st != EBM_OK) {
        free(marg);
        return st;
    }
    out->log_z_floor = top;
    int64_t n = (int64_t)sums[4];
    if (n < 1) {
        free(marg);
        return EBM_FAIL(EBM_ERR_INPUT, "no examples to evaluate");
    }
    out->n_examples = n;
    out->mean_bound_plus_log_z = sums[0] / (double)n;
    double var = n > 1 ? (sums[1] - (double)n * out->mean_bound_plus_log_z *
                                         out->mean_bound_plus_log_z) / (double)(n - 1)
                       : 0.0;
    out->se = sqrt(var > 0 ? var : 0.0) / sqrt((double)n);
    out->mf_sweeps = sums[3] > 0 ? sums[2] / sums[3] : 0.0;
    if (o->exact) {
        st = ebm_comm_agree(comm, dbm_exact_log_z(m, &out->log_z));
        out->log_z_lo = out->log_z_hi = out->log_z;
    } else {
        /* The base: v at the rows' own pixel rates, which any base may be;
         * each hidden layer uniform (the paper's) or at its mean-field rates. */
        float *base = malloc(sizeof *base * (size_t)T), *p = base;
        double *betas = ebm_ais_schedule(o->ais_betas);
        st = base && betas ? EBM_OK
                           : EBM_FAIL(EBM_ERR_NOMEM, "out of memory for AIS (%d betas)",
                                      o->ais_betas);
        st = ebm_comm_agree(comm, st);
        struct ebm_ais_result a;
        if (st == EBM_OK) {
            int rated = o->hidden_base_rates ? T : m->sizes[0];
            for (int i = 0; i < T; i++) p[i] = i < rated ? (float)(marg[i] / (double)n) : 0.5f;
            ebm_ais_base_biases(p, T, base); /* in place; 0.5 gives 0 */
            double t0 = MPI_Wtime();
            st = dbm_ais(m, base, betas, o->ais_betas, o->ais_runs, o->ais_kept, o->seed, comm,
                         &a);
            out->ais_seconds = MPI_Wtime() - t0;
        }
        if (st == EBM_OK && o->reverse)
            st = reverse(m, x, n_local, first, n, base, betas, o, comm, out);
        free(base);
        free(betas);
        if (st == EBM_OK) {
            out->log_z = a.log_z;
            out->log_z_lo = a.log_z_lo;
            out->log_z_hi = a.log_z_hi;
            out->log_w_sd = a.log_w_sd;
        }
    }
    free(marg);
    EBM_TRY(st);
    out->bound = out->mean_bound_plus_log_z - out->log_z;
    out->bound_lo = out->mean_bound_plus_log_z - out->log_z_hi;
    out->bound_hi = out->mean_bound_plus_log_z - out->log_z_lo;
    out->below_floor = out->log_z < out->log_z_floor;
    if (out->have_reverse) out->reverse_bound = out->mean_bound_plus_log_z - out->reverse_log_z;
    return EBM_OK;
}
