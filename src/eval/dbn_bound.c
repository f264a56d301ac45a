/* Where the time goes: per chunk of R rows and S samples each (M = R S
 * matrix rows), one R x n_0 x n_1 GEMM up from the data, then per layer
 * one M-row GEMM up (sample the next layer) and one down (score the layer
 * below), the top RBM's free energy, and a double-precision softplus per
 * unit and sample for the log-probabilities. The per-row Bernoulli draws
 * come from each row's own stream in a fixed order (layer by layer, sample
 * by sample), so a row's estimate does not depend on the chunking or on
 * which rank holds it. */
#include "ebm/dbn_bound.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/ais.h"
#include "ebm/dataset.h"
#include "ebm/kernels.h"
#include "ebm/logz.h"
#include "ebm/par.h"
#include "ebm/rng.h"

enum { TARGET_M = 512 }; /* matrix rows per chunk */

struct work {
    int R, S, M;          /* rows per chunk, samples per row, M = R S */
    float *logit;         /* (M, max(n_0 .. n_{L-1})) pre-sigmoid inputs */
    float *prob;          /* (M, inner) */
    float *h[2];          /* (M, inner) samples of h_j and h_{j+1} */
    float *fe_scratch;    /* (M, n_L) */
    double *fe;           /* (M) */
    double *lw;           /* (M) log integrand of each sample */
    struct ebm_rng *rng;  /* (R) one stream per row */
};

/* Optional by-products of a pass, for the collective estimate. */
struct hooks {
    double *top_sum;      /* (n_{L-1}) += every sample of h_{L-1}; NULL: skip */
    float *rev;           /* first sample of h_{L-1} of local rows with global index < rev_limit */
    int64_t rev_limit;
};

static void work_free(struct work *w)
{
    free(w->logit); free(w->prob); free(w->h[0]); free(w->h[1]); free(w->fe_scratch);
    free(w->fe); free(w->lw); free(w->rng);
    memset(w, 0, sizeof *w);
}

static ebm_status work_init(struct work *w, const struct dbn *d, int samples)
{
    memset(w, 0, sizeof *w);
    int L = d->n_layers;
    w->S = L == 1 ? 1 : samples;
    w->R = TARGET_M / w->S > 0 ? TARGET_M / w->S : 1;
    w->M = w->R * w->S;
    size_t wide = 1, inner = 1, M = (size_t)w->M;
    for (int k = 0; k < L; k++) if ((size_t)d->sizes[k] > wide) wide = (size_t)d->sizes[k];
    for (int k = 1; k < L; k++) if ((size_t)d->sizes[k] > inner) inner = (size_t)d->sizes[k];
    w->logit = malloc(sizeof *w->logit * M * wide);
    w->prob = malloc(sizeof *w->prob * M * inner);
    w->h[0] = malloc(sizeof *w->h[0] * M * inner);
    w->h[1] = malloc(sizeof *w->h[1] * M * inner);
    w->fe_scratch = malloc(sizeof *w->fe_scratch * M * (size_t)d->sizes[L]);
    w->fe = malloc(sizeof *w->fe * M);
    w->lw = malloc(sizeof *w->lw * M);
    w->rng = malloc(sizeof *w->rng * (size_t)w->R);
    if (!w->logit || !w->prob || !w->h[0] || !w->h[1] || !w->fe_scratch || !w->fe || !w->lw ||
        !w->rng) {
        work_free(w);
        return EBM_FAIL(EBM_ERR_NOMEM, "out of memory for the DBN bound's scratch (%zu rows "
                        "of %zu)", M, wide);
    }
    return EBM_OK;
}

/* log Bernoulli(x; sigmoid(a)) summed over n units, in double. */
static double log_bernoulli(const float *x, const float *a, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) s -= ebm_softplus(x[i] != 0.0f ? -(double)a[i] : (double)a[i]);
    return s;
}

/* logit (B, n) = in (B, k) op(W) + bias, op = transpose for the down pass. */
static void affine(const float *in, int B, const struct rbm *m, int down, float *logit)
{
    int V = m->n_visible, H = m->n_hidden, n = down ? V : H;
    const float *bias = down ? m->vbias : m->hbias;
    if (down) ebm_gemm(false, true, B, V, H, 1.0f, in, H, m->W, H, 0.0f, logit, V);
    else ebm_gemm(false, false, B, H, V, 1.0f, in, V, m->W, H, 0.0f, logit, H);
    for (int r = 0; r < B; r++)
        for (int i = 0; i < n; i++) logit[(size_t)r * n + i] += bias[i];
}

/* rows (<= w->R) data rows v, global index g0..: w->lw[i S + s] for each. */
static void chunk(const struct dbn *d, struct work *w, const float *v, int rows, int64_t g0,
                  uint64_t seed, const struct hooks *hk, int64_t first)
{
    int L = d->n_layers, S = w->S, M = rows * S;
    const int *n = d->sizes;
    const float *top_v = v; /* h_{L-1} for every sample: v itself when L = 1 */
    if (L == 1) {
        for (int m = 0; m < M; m++) w->lw[m] = 0.0;
    } else {
        for (int i = 0; i < rows; i++)
            ebm_rng_init(&w->rng[i], seed, (uint32_t)(g0 + i), EBM_RNG_DBN_BOUND);
        /* h_1 ~ q(h_1 | v): the logits are shared by a row's S samples. */
        affine(v, rows, &d->rbm[0], 0, w->logit);
        ebm_sigmoid_scaled(w->logit, w->prob, (size_t)rows * n[1], 1.0f);
        for (int i = 0; i < rows; i++)
            for (int s = 0; s < S; s++) {
                float *h = w->h[0] + (size_t)(i * S + s) * n[1];
                const float *a = w->logit + (size_t)i * n[1];
                ebm_bernoulli(w->prob + (size_t)i * n[1], h, (size_t)n[1], &w->rng[i]);
                w->lw[i * S + s] = -log_bernoulli(h, a, n[1]);
            }
        /* + log p(v | h_1) */
        affine(w->h[0], M, &d->rbm[0], 1, w->logit);
        for (int m = 0; m < M; m++)
            w->lw[m] += log_bernoulli(v + (size_t)(m / S) * n[0], w->logit + (size_t)m * n[0],
                                      n[0]);
        for (int j = 1; j <= L - 2; j++) {
            const float *cur = w->h[(j - 1) % 2];
            float *next = w->h[j % 2];
            /* h_{j+1} ~ q(h_{j+1} | h_j), - log q */
            affine(cur, M, &d->rbm[j], 0, w->logit);
            ebm_sigmoid_scaled(w->logit, w->prob, (size_t)M * n[j + 1], 1.0f);
            for (int i = 0; i < rows; i++)
                for (int s = 0; s < S; s++) {
                    size_t at = (size_t)(i * S + s) * n[j + 1];
                    ebm_bernoulli(w->prob + at, next + at, (size_t)n[j + 1], &w->rng[i]);
                    w->lw[i * S + s] -= log_bernoulli(next + at, w->logit + at, n[j + 1]);
                }
            /* + log p(h_j | h_{j+1}) */
            affine(next, M, &d->rbm[j], 1, w->logit);
            for (int m = 0; m < M; m++)
                w->lw[m] += log_bernoulli(cur + (size_t)m * n[j], w->logit + (size_t)m * n[j],
                                          n[j]);
        }
        top_v = w->h[(L - 2) % 2];
    }
    /* + log p*_top(h_{L-1}) = -F_top(h_{L-1}) */
    const struct rbm *top = &d->rbm[L - 1];
    rbm_free_energy(top, top_v, M, w->fe_scratch, w->fe);
    for (int m = 0; m < M; m++) w->lw[m] -= w->fe[m];

    size_t nt = (size_t)n[L - 1];
    if (hk && hk->top_sum)
        for (int m = 0; m < M; m++)
            for (size_t u = 0; u < nt; u++) hk->top_sum[u] += top_v[(size_t)m * nt + u];
    if (hk && hk->rev)
        for (int i = 0; i < rows && g0 + i < hk->rev_limit; i++)
            memcpy(hk->rev + (size_t)(g0 + i - first) * nt, top_v + (size_t)i * S * nt,
                   sizeof(float) * nt);
}

static ebm_status bound_rows(const struct dbn *d, const float *x, int64_t n, int64_t first,
                             int samples, uint64_t seed, double *mean, double *var,
                             const struct hooks *hk)
{
    if (samples < 1)
        return EBM_FAIL(EBM_ERR_INPUT, "the DBN bound needs at least 1 sample per row, got %d",
                        samples);
    if (first < 0 || first + n > ((int64_t)1 << 32))
        return EBM_FAIL(EBM_ERR_INPUT, "DBN bound: rows %lld..%lld are outside 0..2^32-1 "
                        "(one random stream per row)", (long long)first,
                        (long long)(first + n - 1));
    struct work w;
    EBM_TRY(work_init(&w, d, samples));
    int V = d->sizes[0], S = w.S;
    for (int64_t r0 = 0; r0 < n; r0 += w.R) {
        int rows = (int)(n - r0 < w.R ? n - r0 : w.R);
        chunk(d, &w, x + (size_t)r0 * V, rows, first + r0, seed, hk, first);
        for (int i = 0; i < rows; i++) {
            const double *lw = w.lw + (size_t)i * S;
            double mu = 0.0, ss = 0.0;
            for (int s = 0; s < S; s++) mu += lw[s];
            mu /= S;
            for (int s = 0; s < S; s++) ss += (lw[s] - mu) * (lw[s] - mu);
            mean[r0 + i] = mu;
            if (var) var[r0 + i] = S > 1 ? ss / (S - 1) : 0.0;
        }
    }
    work_free(&w);
    return EBM_OK;
}

ebm_status ebm_dbn_bound_rows(const struct dbn *d, const float *x, int64_t n, int64_t first,
                              int samples, uint64_t seed, double *mean, double *var)
{
    return bound_rows(d, x, n, first, samples, seed, mean, var, NULL);
}

/* log Z_top by AIS (forward, and reverse from the upward samples). */
static ebm_status top_log_z_by_ais(const struct rbm *top, const double *top_sum, double count,
                                   const float *rev, int64_t rev_local, int64_t rev_first,
                                   int64_t rev_runs, const struct ebm_dbn_bound_opts *o,
                                   MPI_Comm comm, struct ebm_dbn_bound_result *out)
{
    int V = top->n_visible;
    float *p = malloc(sizeof *p * (size_t)V), *base = malloc(sizeof *base * (size_t)V);
    double *betas = ebm_ais_schedule(o->ais_betas);
    ebm_status st = p && base ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
    if (st == EBM_OK && !betas)
        st = o->ais_betas < 3 ? EBM_FAIL(EBM_ERR_INPUT, "AIS needs at least 3 betas, got %d",
                                         o->ais_betas)
                              : EBM_FAIL(EBM_ERR_NOMEM, "out of memory for %d betas", o->ais_betas);
    st = ebm_comm_agree(comm, st);
    if (st == EBM_OK) {
        /* Base rate: the marginals of the sampled h_{L-1}, the states the
         * top RBM is scored on (any base is correct; a close one needs
         * fewer betas). */
        for (int i = 0; i < V; i++) p[i] = (float)(top_sum[i] / count);
        ebm_ais_base_biases(p, V, base);
        struct ebm_ais_result fwd;
        double t0 = MPI_Wtime();
        st = rbm_ais(top, base, betas, o->ais_betas, o->ais_runs, o->seed, comm, &fwd);
        out->ais_seconds = MPI_Wtime() - t0;
        if (st == EBM_OK) {
            out->log_z = fwd.log_z;
            out->log_z_lo = fwd.log_z_lo;
            out->log_z_hi = fwd.log_z_hi;
            out->ais_log_w_sd = fwd.log_w_sd;
        }
    }
    if (st == EBM_OK && o->reverse && rev_runs >= 2) {
        struct ebm_ais_result rev_r;
        double t0 = MPI_Wtime();
        st = rbm_reverse_ais(top, base, betas, o->ais_betas, rev, (int)rev_local, rev_first,
                             o->seed, comm, &rev_r);
        out->reverse_seconds = MPI_Wtime() - t0;
        if (st == EBM_OK) {
            out->have_reverse = true;
            out->reverse_runs = (int)rev_runs;
            out->reverse_log_z = rev_r.log_z;
            out->reverse_log_z_lo = rev_r.log_z_lo;
            out->reverse_log_z_hi = rev_r.log_z_hi;
        }
    }
    free(p); free(base); free(betas);
    return st;
}

ebm_status ebm_dbn_bound(const struct dbn *d, const float *x, int64_t n_local, int64_t first,
                         const struct ebm_dbn_bound_opts *o, MPI_Comm comm,
                         struct ebm_dbn_bound_result *out)
{
    memset(out, 0, sizeof *out);
    const struct rbm *top = &d->rbm[d->n_layers - 1];
    int64_t n_total = n_local;
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &n_total, 1, MPI_INT64_T, MPI_SUM, comm));
    if (n_total < 1) return EBM_FAIL(EBM_ERR_INPUT, "no examples to evaluate");
    if (o->exact && (top->n_visible < top->n_hidden ? top->n_visible : top->n_hidden) >
                        EBM_EXACT_MAX_UNITS)
        return EBM_FAIL(EBM_ERR_INPUT, "exact log Z of the top RBM enumerates its smaller "
                        "layer, at most %d units; it is %d x %d (leave out --exact for AIS)",
                        EBM_EXACT_MAX_UNITS, top->n_visible, top->n_hidden);
    /* Reverse runs start from the first min(ais_runs, N) rows, as for an RBM. */
    int64_t rev_runs = o->exact || !o->reverse ? 0
                       : (o->ais_runs < n_total ? o->ais_runs : n_total);
    int64_t rev_hi = first + n_local < rev_runs ? first + n_local : rev_runs;
    int64_t rev_local = rev_hi > first ? rev_hi - first : 0;
    size_t nt = (size_t)top->n_visible;
    double *mean = malloc(sizeof *mean * (size_t)(n_local > 0 ? n_local : 1));
    double *top_sum = calloc(nt, sizeof *top_sum);
    float *rev = malloc(sizeof *rev * nt * (size_t)(rev_local > 0 ? rev_local : 1));
    ebm_status st = mean && top_sum && rev ? EBM_OK
                                           : EBM_FAIL(EBM_ERR_NOMEM, "out of memory for the "
                                                      "DBN bound of %lld rows",
                                                      (long long)n_local);
    if (st == EBM_OK) {
        struct hooks hk = { .top_sum = top_sum, .rev = rev, .rev_limit = rev_runs };
        st = bound_rows(d, x, n_local, first, o->samples, o->seed, mean, NULL, &hk);
    }
    st = ebm_comm_agree(comm, st);
    double sums[2] = { 0, 0 };
    if (st == EBM_OK) {
        for (int64_t r = 0; r < n_local; r++) {
            sums[0] += mean[r];
            sums[1] += mean[r] * mean[r];
        }
        int rc = MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, comm);
        if (rc == MPI_SUCCESS)
            rc = MPI_Allreduce(MPI_IN_PLACE, top_sum, (int)nt, MPI_DOUBLE, MPI_SUM, comm);
        if (rc != MPI_SUCCESS) st = ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "sums");
    }
    if (st == EBM_OK) {
        double N = (double)n_total;
        out->n_examples = n_total;
        out->samples = d->n_layers == 1 ? 1 : o->samples;
        out->mean_log_integrand = sums[0] / N;
        double var = n_total > 1 ? (sums[1] - N * out->mean_log_integrand *
                                                  out->mean_log_integrand) / (N - 1) : 0;
        out->bound_se = sqrt(var > 0 ? var : 0) / sqrt(N);
        if (o->exact) {
            st = rbm_exact_log_z(top, comm, &out->log_z);
            out->log_z_lo = out->log_z_hi = out->log_z;
        } else {
            st = top_log_z_by_ais(top, top_sum, N * out->samples, rev, rev_local, first,
                                  rev_runs, o, comm, out);
        }
    }
    if (st == EBM_OK) {
        double e = out->mean_log_integrand;
        out->bound = e - out->log_z;
        out->bound_lo = e - out->log_z_hi;
        out->bound_hi = e - out->log_z_lo;
        if (out->have_reverse) out->reverse_bound = e - out->reverse_log_z;
    }
    free(mean); free(top_sum); free(rev);
    return st;
}
