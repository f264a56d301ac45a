#include "ebm/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/dataset.h"
#include "ebm/kernels.h"
#include "ebm/logz.h"
#include "ebm/par.h"
#include "ebm/rng.h"

enum { CHUNK_ROWS = 256 };

ebm_status ebm_eval_binarize(float *x, int64_t rows, int dim, int64_t first, uint64_t seed,
                             int mode)
{
    float *sample;
    EBM_ALLOC(sample, dim);
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + r * dim;
        if (mode == 0) {
            struct ebm_rng rng;
            ebm_rng_init(&rng, seed, (uint32_t)(first + r), EBM_RNG_EVAL_BINARIZE);
            ebm_bernoulli(row, sample, (size_t)dim, &rng);
            memcpy(row, sample, sizeof(float) * (size_t)dim);
        } else if (mode == 1) {
            for (int i = 0; i < dim; i++) row[i] = row[i] > 0.5f ? 1.0f : 0.0f;
        }
    }
    free(sample);
    return EBM_OK;
}

double ebm_pseudo_log_likelihood(const struct rbm *m, const float *v, float *y)
{
    /* log p(v_i | v_-i) = -softplus(F(v) - F(v with unit i flipped)), and
     * F(flip) - F(v) = -d b_i - sum_j [softplus(y_j + d W_ij) - softplus(y_j)]
     * with d = 1 - 2 v_i and y = vW + c. */
    int V = m->n_visible, H = m->n_hidden;
    ebm_gemm(false, false, 1, H, V, 1.0f, v, V, m->W, H, 0.0f, y, H);
    for (int j = 0; j < H; j++) y[j] += m->hbias[j];
    double total = 0.0;
    for (int i = 0; i < V; i++) {
        float d = 1.0f - 2.0f * v[i];
        double flip_minus_v = -(double)d * m->vbias[i] -
                              ebm_softplus_shift_diff(y, m->W + (size_t)i * H, d, H);
        total -= ebm_softplus(-flip_minus_v);
    }
    return total;
}

/* Sums over this rank's rows: F, F^2, reconstruction error, pseudo-LL. */
static ebm_status local_sums(const struct rbm *m, const float *x, int64_t n, bool pl,
                             double sums[4])
{
    int V = m->n_visible, H = m->n_hidden;
    float *ph = malloc(sizeof *ph * CHUNK_ROWS * (size_t)H),
          *pv = malloc(sizeof *pv * CHUNK_ROWS * (size_t)V);
    double *fe = malloc(sizeof *fe * CHUNK_ROWS);
    if (!ph || !pv || !fe) {
        free(ph); free(pv); free(fe);
        return EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
    }
    for (int64_t r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
        int rows = (int)(n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS);
        const float *v = x + r0 * V;
        rbm_free_energy(m, v, rows, ph, fe);
        rbm_hidden_probs(m, v, rows, ph);
        rbm_visible_probs(m, ph, rows, pv);
        for (int r = 0; r < rows; r++) {
            sums[0] += fe[r];
            sums[1] += fe[r] * fe[r];
            double err = 0.0;
            for (int i = 0; i < V; i++) {
                double d = (double)v[(size_t)r * V + i] - pv[(size_t)r * V + i];
                err += d * d;
            }
            sums[2] += err;
            if (pl) sums[3] += ebm_pseudo_log_likelihood(m, v + (size_t)r * V, ph);
        }
    }
    free(ph); free(pv); free(fe);
    return EBM_OK;
}

ebm_status ebm_eval_log_z_by_ais(const struct ebm_ais_layout *l, int V, const float *x,
                                 int64_t n_local, int64_t first, int64_t n_total,
                                 const struct ebm_eval_opts *o, struct ebm_eval_result *out)
{
    /* Base rate: the evaluated rows' marginals (any base is correct; a
     * close one needs fewer betas). */
    double *marg = calloc((size_t)V, sizeof *marg);
    float *p = malloc(sizeof *p * (size_t)V), *base = malloc(sizeof *base * (size_t)V);
    double *betas = ebm_ais_schedule(o->ais_betas);
    ebm_status st = marg && p && base ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
    if (st == EBM_OK && !betas)
        st = o->ais_betas < 3 ? EBM_FAIL(EBM_ERR_INPUT, "AIS needs at least 3 betas, got %d",
                                         o->ais_betas)
                              : EBM_FAIL(EBM_ERR_NOMEM, "out of memory for %d betas", o->ais_betas);
    st = ebm_comm_agree(l->all, st);
    if (st == EBM_OK) {
        for (int64_t r = 0; r < n_local; r++)
            for (int i = 0; i < V; i++) marg[i] += x[r * V + i];
        int rc = MPI_Allreduce(MPI_IN_PLACE, marg, V, MPI_DOUBLE, MPI_SUM, l->rows);
        if (rc != MPI_SUCCESS) st = ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "marginals");
    }
    struct ebm_ais_result fwd;
    if (st == EBM_OK) {
        for (int i = 0; i < V; i++) p[i] = (float)(marg[i] / (double)n_total);
        /* Spins: mean m means p(+1) = (1 + m) / 2, and b_A is half the
         * log-odds. Gaussian units anneal from their own b and sigma
         * (ais.c), so their base biases go unused. */
        if (l->visible == EBM_UNIT_SPIN)
            for (int i = 0; i < V; i++) p[i] = 0.5f * (1.0f + p[i]);
        ebm_ais_base_biases(p, V, base);
        if (l->visible == EBM_UNIT_SPIN)
            for (int i = 0; i < V; i++) base[i] *= 0.5f;
        double t0 = MPI_Wtime();
        st = l->forward(l->model, base, betas, o->ais_betas, o->ais_runs, o->seed, &fwd);
        out->ais_seconds = MPI_Wtime() - t0;
    }
    if (st == EBM_OK) {
        out->log_z = fwd.log_z;
        out->log_z_lo = fwd.log_z_lo;
        out->log_z_hi = fwd.log_z_hi;
        out->ais_log_w_sd = fwd.log_w_sd;
    }
    /* Reverse runs start from the first ais_runs rows of the data; an
     * interval needs at least two. */
    int64_t runs = o->ais_runs < n_total ? o->ais_runs : n_total;
    if (st == EBM_OK && o->reverse && runs >= 2) {
        int64_t lo = first < runs ? first : runs, hi = first + n_local < runs ? first + n_local : runs;
        struct ebm_ais_result rev;
        double t0 = MPI_Wtime();
        st = l->reverse(l->model, base, betas, o->ais_betas, x, (int)(hi - lo), lo, o->seed,
                        &rev);
        out->reverse_seconds = MPI_Wtime() - t0;
        if (st == EBM_OK) {
            out->have_reverse = true;
            out->reverse_runs = (int)runs;
            out->reverse_log_z = rev.log_z;
            out->reverse_log_z_lo = rev.log_z_lo;
            out->reverse_log_z_hi = rev.log_z_hi;
        }
    }
    free(marg); free(p); free(base); free(betas);
    return st;
}

void ebm_eval_log_probs(struct ebm_eval_result *out)
{
    /* log p(v) = -F(v) - log Z: a higher log Z means a lower likelihood. */
    out->avg_log_prob = -out->mean_free_energy - out->log_z;
    out->avg_log_prob_lo = -out->mean_free_energy - out->log_z_hi;
    out->avg_log_prob_hi = -out->mean_free_energy - out->log_z_lo;
    if (out->have_reverse) out->reverse_avg_log_prob = -out->mean_free_energy - out->reverse_log_z;
}

/* AIS on one rank's full RBM, the runs split over the ranks of comm. */
struct full_model {
    const struct rbm *m;
    MPI_Comm comm;
};

static ebm_status full_forward(const void *model, const float *base, const double *betas, int n,
                               int runs, uint64_t seed, struct ebm_ais_result *out)
{
    const struct full_model *f = model;
    return rbm_ais(f->m, base, betas, n, runs, seed, f->comm, out);
}

static ebm_status full_reverse(const void *model, const float *base, const double *betas, int n,
                               const float *v_start, int local_runs, int64_t first_run,
                               uint64_t seed, struct ebm_ais_result *out)
{
    const struct full_model *f = model;
    return rbm_reverse_ais(f->m, base, betas, n, v_start, local_runs, first_run, seed, f->comm,
                           out);
}

ebm_status ebm_evaluate(const struct rbm *m, const float *x, int64_t n_local, int64_t first,
                        const struct ebm_eval_opts *o, MPI_Comm comm,
                        struct ebm_eval_result *out)
{
    memset(out, 0, sizeof *out);
    double sums[5] = { 0, 0, 0, 0, (double)n_local };
    /* The pseudo-likelihood's flips are of {0,1} units. */
    ebm_status st = local_sums(m, x, n_local, o->pseudo_likelihood && rbm_is_binary(m), sums);
    int bad = st != EBM_OK, any = 0;
    EBM_MPI_TRY(MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm));
    if (any) return st != EBM_OK ? st : EBM_FAIL(EBM_ERR_NOMEM, "another rank ran out of memory");
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, sums, 5, MPI_DOUBLE, MPI_SUM, comm));
    int64_t n = (int64_t)sums[4];
    if (n < 1) return EBM_FAIL(EBM_ERR_INPUT, "no examples to evaluate");
    out->n_examples = n;
    out->mean_free_energy = sums[0] / n;
    double var = n > 1 ? (sums[1] - n * out->mean_free_energy * out->mean_free_energy) / (n - 1) : 0;
    out->free_energy_se = sqrt(var > 0 ? var : 0) / sqrt((double)n);
    out->recon_error = sums[2] / n;
    out->pseudo_ll_per_example = o->pseudo_likelihood ? sums[3] / n : NAN;
    out->pseudo_ll_per_unit = out->pseudo_ll_per_example / m->n_visible;
    if (o->exact) {
        EBM_TRY(rbm_exact_log_z(m, comm, &out->log_z));
        out->log_z_lo = out->log_z_hi = out->log_z;
    } else {
        struct full_model f = { m, comm };
        struct ebm_ais_layout l = { .model = &f, .visible = m->vis.type, .all = comm,
                                    .rows = comm, .forward = full_forward,
                                    .reverse = full_reverse };
        EBM_TRY(ebm_eval_log_z_by_ais(&l, m->n_visible, x, n_local, first, n, o, out));
    }
    ebm_eval_log_probs(out);
    return EBM_OK;
}
