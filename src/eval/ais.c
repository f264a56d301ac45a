/* Where the time goes: per beta and run, one v -> h and one h -> v product
 * (batched over a rank's runs as GEMMs), a sigmoid and a Bernoulli draw per
 * unit, and one softplus difference per hidden unit for the weight. */
#include "ebm/ais.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/dataset.h"
#include "ebm/kernels.h"
#include "ebm/par.h"
#include "ebm/rng.h"

double *ebm_ais_schedule(int n)
{
    if (n < 3) return NULL;
    double *b = malloc(sizeof *b * ((size_t)n + 1));
    if (!b) return NULL;
    int n1 = n / 15 > 0 ? n / 15 : 1, n2 = 4 * n / 15 > 0 ? 4 * n / 15 : 1, n3 = n - n1 - n2;
    int k = 0;
    b[k++] = 0.0;
    for (int i = 1; i <= n1; i++) b[k++] = 0.5 * i / n1;
    for (int i = 1; i <= n2; i++) b[k++] = 0.5 + 0.4 * i / n2;
    for (int i = 1; i <= n3; i++) b[k++] = 0.9 + 0.1 * i / n3;
    for (int i = 0; i <= n; i++) b[i] = (float)b[i];
    b[n] = 1.0;
    return b;
}

void ebm_ais_base_biases(const float *marginals, int V, float *base_vbias)
{
    for (int i = 0; i < V; i++) {
        double p = marginals[i];
        p = p < 1e-3 ? 1e-3 : (p > 1 - 1e-3 ? 1 - 1e-3 : p);
        base_vbias[i] = (float)log(p / (1 - p));
    }
}

/* Scratch for a rank's block of R runs. */
struct chains {
    int R, V, H;
    float *v, *x, *ph, *h, *pv, *bias;
    double *log_w;
    struct ebm_rng *rng;
};

static ebm_status chains_init(struct chains *c, int R, int V, int H, int64_t first_run,
                              uint64_t seed, uint32_t purpose)
{
    memset(c, 0, sizeof *c);
    c->R = R; c->V = V; c->H = H;
    size_t r = R > 0 ? (size_t)R : 1;
    EBM_ALLOC(c->v, r * V);
    EBM_ALLOC(c->x, r * H);
    EBM_ALLOC(c->ph, r * H);
    EBM_ALLOC(c->h, r * H);
    EBM_ALLOC(c->pv, r * V);
    EBM_ALLOC(c->bias, (size_t)V + H); /* V biases, then H zeros */
    memset(c->bias, 0, sizeof(float) * ((size_t)V + H));
    EBM_ALLOC(c->log_w, r);
    EBM_ALLOC(c->rng, r);
    for (int i = 0; i < R; i++) ebm_rng_init(&c->rng[i], seed, (uint32_t)(first_run + i), purpose);
    return EBM_OK;
}

static void chains_free(struct chains *c)
{
    free(c->v); free(c->x); free(c->ph); free(c->h); free(c->pv); free(c->bias);
    free(c->log_w); free(c->rng);
    memset(c, 0, sizeof *c);
}

/* x = s(v)W + c for the current states. */
static void hidden_input(const struct rbm *m, struct chains *c)
{
    rbm_hidden_input(m, c->v, c->R, c->x);
    for (int r = 0; r < c->R; r++)
        for (int j = 0; j < c->H; j++) c->x[(size_t)r * c->H + j] += m->hbias[j];
}

/* sum_j [log_partition_h(b x_j) - log_partition_h(a x_j)]: softplus for
 * Bernoulli hidden units, log 2cosh for spins (|y| + log1p(e^{-2|y|})). */
static double hidden_log_ratio(const struct rbm *m, const float *x, float a, float b)
{
    if (m->hid.type == EBM_UNIT_BERNOULLI) return ebm_softplus_diff_sum(x, m->n_hidden, a, b);
    double d = 0.0;
    for (int j = 0; j < m->n_hidden; j++) {
        double yb = fabs((double)b * x[j]), ya = fabs((double)a * x[j]);
        d += (yb + log1p(exp(-2.0 * yb))) - (ya + log1p(exp(-2.0 * ya)));
    }
    return d;
}

/* log p_b*(v) - log p_a*(v) for every run, from x = s(v)W + c. Discrete
 * visible units anneal their biases from the base's to the model's (a
 * linear term); Gaussian ones keep the model's b and sigma all along, so
 * only the hidden term moves. */
static void add_log_ratio(const struct rbm *m, const float *base, struct chains *c, float a,
                          float b, double sign)
{
    int discrete = m->vis.type != EBM_UNIT_GAUSSIAN;
    for (int r = 0; r < c->R; r++) {
        const float *v = c->v + (size_t)r * c->V;
        double lin = 0.0;
        for (int i = 0; discrete && i < c->V; i++)
            lin += (double)v[i] * ((double)m->vbias[i] - base[i]);
        double d = ((double)b - (double)a) * lin + hidden_log_ratio(m, c->x + (size_t)r * c->H, a, b);
        c->log_w[r] += sign * d;
    }
}

/* The visible biases of p_beta*: (1 - beta) b_A + beta b, or b itself for
 * Gaussian units. */
static void visible_bias(const struct rbm *m, const float *base, float beta, float *bias)
{
    for (int i = 0; i < m->n_visible; i++)
        bias[i] = m->vis.type == EBM_UNIT_GAUSSIAN ? m->vbias[i]
                                                   : (1.0f - beta) * base[i] + beta * m->vbias[i];
}

/* One Gibbs sweep v -> h -> v that leaves p_beta* invariant; x must hold
 * s(v)W + c on entry. */
static void transition(const struct rbm *m, const float *base, struct chains *c, float beta)
{
    int R = c->R, V = c->V, H = c->H;
    if (rbm_is_binary(m)) {
        ebm_sigmoid_scaled(c->x, c->ph, (size_t)R * H, beta);
        for (int r = 0; r < R; r++)
            ebm_bernoulli(c->ph + (size_t)r * H, c->h + (size_t)r * H, (size_t)H, &c->rng[r]);
        ebm_gemm(false, true, R, V, H, beta, c->h, H, m->W, H, 0.0f, c->pv, V);
        visible_bias(m, base, beta, c->bias);
        ebm_sigmoid_bias(c->pv, c->bias, R, V);
        for (int r = 0; r < R; r++)
            ebm_bernoulli(c->pv + (size_t)r * V, c->v + (size_t)r * V, (size_t)V, &c->rng[r]);
        return;
    }
    /* Any unit types: the activations beta x with no further bias, then
     * one draw per run from the run's own stream. zero (H) is c->bias's
     * tail, zeroed at init. */
    const float *zero = c->bias + V;
    for (size_t e = 0; e < (size_t)R * H; e++) c->ph[e] = beta * c->x[e];
    for (int r = 0; r < R; r++)
        ebm_units_sample(&m->hid, c->ph + (size_t)r * H, zero, 1, c->h + (size_t)r * H,
                         &c->rng[r]);
    ebm_gemm(false, true, R, V, H, beta, c->h, H, m->W, H, 0.0f, c->pv, V);
    visible_bias(m, base, beta, c->bias);
    for (int r = 0; r < R; r++)
        ebm_units_sample(&m->vis, c->pv + (size_t)r * V, c->bias, 1, c->v + (size_t)r * V,
                         &c->rng[r]);
}

/* log Z of p_0*: the visible layer on its own (log_partition at zero
 * input, with b_A or, for Gaussian units, the model's b and sigma) times
 * 2^H hidden states (Bernoulli: 1 + e^0, spin: 2 cosh 0). */
static double base_log_z(const struct rbm *m, const float *base)
{
    const float zero = 0.0f;
    double z = m->n_hidden * log(2.0), part;
    const float *bias = m->vis.type == EBM_UNIT_GAUSSIAN ? m->vbias : base;
    struct ebm_units one = m->vis;
    one.n = 1;
    for (int i = 0; i < m->n_visible; i++) {
        if (one.log_sigma) one.log_sigma = m->log_sigma + i;
        ebm_units_log_partition(&one, &zero, bias + i, 1, &part);
        z += part;
    }
    return z;
}

/* v_0 ~ p_0* for every run: independent visible units. */
static void base_sample(const struct rbm *m, const float *base, struct chains *c)
{
    if (rbm_is_binary(m)) {
        ebm_sigmoid_scaled(base, c->bias, (size_t)c->V, 1.0f);
        for (int r = 0; r < c->R; r++)
            ebm_bernoulli(c->bias, c->v + (size_t)r * c->V, (size_t)c->V, &c->rng[r]);
        return;
    }
    visible_bias(m, base, 0.0f, c->bias);
    memset(c->pv, 0, sizeof(float) * (size_t)c->R * c->V);
    for (int r = 0; r < c->R; r++)
        ebm_units_sample(&m->vis, c->pv + (size_t)r * c->V, c->bias, 1, c->v + (size_t)r * c->V,
                         &c->rng[r]);
}

ebm_status ebm_ais_combine(const double *log_w, int local_runs, int total_runs, double sign,
                           MPI_Comm comm, double *log_mean, double *log_lo, double *log_hi,
                           double *sd_out)
{
    int rank, size;
    EBM_MPI_TRY(MPI_Comm_rank(comm, &rank));
    EBM_MPI_TRY(MPI_Comm_size(comm, &size));
    int *counts = calloc((size_t)size, sizeof *counts), *displs = calloc((size_t)size, sizeof *displs);
    double *all = rank == 0 ? malloc(sizeof *all * (size_t)(total_runs > 0 ? total_runs : 1))
                            : NULL;
    ebm_status st = counts && displs && (all || rank != 0)
                        ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory gathering AIS weights");
    st = ebm_comm_agree(comm, st); /* before the gather that every rank must enter */
    if (st != EBM_OK) {
        free(counts); free(displs); free(all);
        return st;
    }
    int mine = local_runs;
    int rc = MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm);
    for (int i = 1; i < size; i++) displs[i] = displs[i - 1] + counts[i - 1];
    if (rc == MPI_SUCCESS)
        rc = MPI_Gatherv(log_w, mine, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, comm);
    double out[4] = { 0 };
    if (rc == MPI_SUCCESS && rank == 0) {
        double mx = -INFINITY, mean_lw = 0, m2 = 0;
        for (int i = 0; i < total_runs; i++) mx = fmax(mx, sign * all[i]);
        double s = 0, s2 = 0;
        for (int i = 0; i < total_runs; i++) {
            double w = exp(sign * all[i] - mx);
            s += w;
            s2 += w * w;
            mean_lw += all[i];
        }
        mean_lw /= total_runs;
        for (int i = 0; i < total_runs; i++) m2 += (all[i] - mean_lw) * (all[i] - mean_lw);
        double mean = s / total_runs;
        double var = total_runs > 1 ? (s2 - total_runs * mean * mean) / (total_runs - 1) : 0;
        double se = sqrt(var > 0 ? var : 0) / sqrt((double)total_runs);
        out[0] = mx + log(mean);
        out[1] = mean - 3 * se > 0 ? mx + log(mean - 3 * se) : -INFINITY;
        out[2] = mx + log(mean + 3 * se);
        out[3] = total_runs > 1 ? sqrt(m2 / (total_runs - 1)) : 0;
    }
    if (rc == MPI_SUCCESS) rc = MPI_Bcast(out, 4, MPI_DOUBLE, 0, comm);
    free(counts); free(displs); free(all);
    if (rc != MPI_SUCCESS) return ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "gather");
    *log_mean = out[0]; *log_lo = out[1]; *log_hi = out[2]; *sd_out = out[3];
    return EBM_OK;
}

ebm_status ebm_ais_estimate(const double *log_w, int local_runs, int total_runs, double lz0,
                            bool reverse, MPI_Comm comm, struct ebm_ais_result *out)
{
    double lm, lo, hi, sd;
    EBM_TRY(ebm_ais_combine(log_w, local_runs, total_runs, 1.0, comm, &lm, &lo, &hi, &sd));
    out->log_z = reverse ? lz0 - lm : lz0 + lm;
    out->log_z_lo = reverse ? lz0 - hi : lz0 + lo;
    out->log_z_hi = reverse ? (isfinite(lo) ? lz0 - lo : INFINITY) : lz0 + hi;
    out->log_z_base = lz0;
    out->runs = total_runs;
    out->log_w_sd = sd;
    return EBM_OK;
}

static ebm_status check_schedule(const double *betas, int n)
{
    if (!betas || n < 3 || betas[0] != 0.0 || betas[n] != 1.0)
        return EBM_FAIL(EBM_ERR_INPUT, "AIS needs at least 3 betas from 0 to 1");
    return EBM_OK;
}

ebm_status rbm_ais(const struct rbm *m, const float *base, const double *betas, int n,
                   int runs, uint64_t seed, MPI_Comm comm, struct ebm_ais_result *out)
{
    EBM_TRY(check_schedule(betas, n));
    int rank, size;
    EBM_MPI_TRY(MPI_Comm_rank(comm, &rank));
    EBM_MPI_TRY(MPI_Comm_size(comm, &size));
    int64_t first, count;
    ebm_shard_range(runs, rank, size, &first, &count);
    struct chains c;
    ebm_status st = chains_init(&c, (int)count, m->n_visible, m->n_hidden, first, seed,
                                EBM_RNG_AIS);
    st = ebm_comm_agree(comm, st); /* every rank reaches the gather, or none */
    if (st == EBM_OK) {
        base_sample(m, base, &c);
        for (int k = 1; k <= n; k++) {
            hidden_input(m, &c);
            add_log_ratio(m, base, &c, (float)betas[k - 1], (float)betas[k], 1.0);
            if (k < n) transition(m, base, &c, (float)betas[k]);
        }
        st = ebm_ais_estimate(c.log_w, c.R, runs, base_log_z(m, base), false, comm, out);
    }
    chains_free(&c);
    return st;
}

ebm_status rbm_reverse_ais(const struct rbm *m, const float *base, const double *betas, int n,
                           const float *v_start, int local_runs, int64_t first_run,
                           uint64_t seed, MPI_Comm comm, struct ebm_ais_result *out)
{
    EBM_TRY(check_schedule(betas, n));
    int total = local_runs;
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, comm));
    struct chains c;
    ebm_status st = chains_init(&c, local_runs, m->n_visible, m->n_hidden, first_run, seed,
                                EBM_RNG_REVERSE_AIS);
    st = ebm_comm_agree(comm, st);
    if (st == EBM_OK) {
        memcpy(c.v, v_start, sizeof(float) * (size_t)local_runs * c.V);
        /* From the model (beta = 1) down to the base: the weights estimate
         * Z_0 / Z, whose log mean errs low, so log Z errs high. */
        for (int k = n; k >= 1; k--) {
            hidden_input(m, &c);
            add_log_ratio(m, base, &c, (float)betas[k - 1], (float)betas[k], -1.0);
            if (k > 1) {
                transition(m, base, &c, (float)betas[k - 1]);
            }
        }
        st = ebm_ais_estimate(c.log_w, c.R, total, base_log_z(m, base), true, comm, out);
    }
    chains_free(&c);
    return st;
}
