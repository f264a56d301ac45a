/* Where the time goes: per beta and run block, the inputs of every layer
 * (two GEMMs a layer) and one softplus difference per odd unit. */
#include "ebm/dbm_ais.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/dataset.h"
#include "ebm/kernels.h"
#include "ebm/par.h"
#include "ebm/rng.h"

/* A rank's block of R runs: the layer states, one scratch, streams. */
struct runs {
    int R, widest;
    float *x[EBM_DBM_MAX_HIDDEN + 1], *in, *p;
    double *log_w;
    struct ebm_rng *rng;
};

static ebm_status runs_init(struct runs *c, const struct dbm *m, int R, int64_t first,
                            uint64_t seed, enum ebm_rng_purpose purpose)
{
    memset(c, 0, sizeof *c);
    c->R = R;
    size_t r = R > 0 ? (size_t)R : 1;
    for (int k = 0; k <= m->n_hidden_layers; k++) {
        c->widest = m->sizes[k] > c->widest ? m->sizes[k] : c->widest;
        EBM_ALLOC(c->x[k], r * m->sizes[k]);
    }
    EBM_ALLOC(c->in, r * c->widest);
    EBM_ALLOC(c->p, r * c->widest);
    EBM_ALLOC(c->log_w, r);
    EBM_ALLOC(c->rng, r);
    for (int i = 0; i < R; i++) ebm_rng_init(&c->rng[i], seed, (uint32_t)(first + i), purpose);
    return EBM_OK;
}

static void runs_free(struct runs *c)
{
    for (int k = 0; k <= EBM_DBM_MAX_HIDDEN; k++) free(c->x[k]);
    free(c->in); free(c->p); free(c->log_w); free(c->rng);
    memset(c, 0, sizeof *c);
}

/* Layer k's part of the concatenated base biases. */
static const float *base_of(const struct dbm *m, const float *base, int k)
{
    for (int j = 0; j < k; j++) base += m->sizes[j];
    return base;
}

/* Layer k's units drawn at beta, one stream per run: p = sigmoid of
 * beta (input + b_k) + (1 - beta) b_Ak. */
static void draw_layer(const struct dbm *m, const float *base, struct runs *c, int k, float beta)
{
    int n = m->sizes[k], R = c->R;
    const float *bk = base_of(m, base, k);
    struct dbm_state s;
    for (int j = 0; j <= m->n_hidden_layers; j++) s.x[j] = c->x[j];
    dbm_layer_input(m, &s, k, R, c->in);
    for (int r = 0; r < R; r++) {
        float *in = c->in + (size_t)r * n, *p = c->p + (size_t)r * n;
        for (int i = 0; i < n; i++) {
            double a = beta * ((double)in[i] + m->b[k][i]) + (1.0 - beta) * bk[i];
            p[i] = (float)(1.0 / (1.0 + exp(-a)));
        }
        ebm_bernoulli(p, c->x[k] + (size_t)r * n, (size_t)n, &c->rng[r]);
    }
}

/* log p_b*(x) - log p_a*(x) for every run, from the kept layers (parity
 * `kept`); the other layers are summed out, each with its base term. */
static void add_log_ratio(const struct dbm *m, const float *base, struct runs *c, double a,
                          double b, int kept)
{
    int L = m->n_hidden_layers, R = c->R;
    struct dbm_state s;
    for (int j = 0; j <= L; j++) s.x[j] = c->x[j];
    for (int r = 0; r < R; r++) {
        double lin = 0.0;
        for (int k = kept; k <= L; k += 2) {
            const float *bk = base_of(m, base, k);
            for (int i = 0; i < m->sizes[k]; i++)
                lin += (double)c->x[k][(size_t)r * m->sizes[k] + i] *
                       ((double)m->b[k][i] - bk[i]);
        }
        c->log_w[r] += (b - a) * lin;
    }
    for (int k = 1 - kept; k <= L; k += 2) {
        int n = m->sizes[k];
        const float *bk = base_of(m, base, k);
        dbm_layer_input(m, &s, k, R, c->in);
        for (int r = 0; r < R; r++) {
            double d = 0.0;
            for (int j = 0; j < n; j++) {
                double t = (double)c->in[(size_t)r * n + j] + m->b[k][j], t0 = bk[j];
                d += ebm_softplus(b * t + (1.0 - b) * t0) - ebm_softplus(a * t + (1.0 - a) * t0);
            }
            c->log_w[r] += d;
        }
    }
}

/* One transition at beta: the summed-out layers given the kept ones, then
 * the kept ones. */
static void sweep(const struct dbm *m, const float *base, struct runs *c, float beta, int kept)
{
    for (int k = 1 - kept; k <= m->n_hidden_layers; k += 2) draw_layer(m, base, c, k, beta);
    for (int k = kept; k <= m->n_hidden_layers; k += 2) draw_layer(m, base, c, k, beta);
}

/* log Z of the base, every unit of every layer (summed out or not) an
 * independent Bernoulli(sigmoid(b_A)). */
static double base_log_z(const struct dbm *m, const float *base)
{
    double lz0 = 0.0;
    for (int k = 0; k <= m->n_hidden_layers; k++)
        for (int i = 0; i < m->sizes[k]; i++) lz0 += ebm_softplus(*base++);
    return lz0;
}

ebm_status dbm_ais(const struct dbm *m, const float *base, const double *betas, int n, int runs,
                   int kept, uint64_t seed, MPI_Comm comm, struct ebm_ais_result *out)
{
    if (!betas || n < 3 || betas[0] != 0.0 || betas[n] != 1.0)
        return EBM_FAIL(EBM_ERR_INPUT, "AIS needs at least 3 betas from 0 to 1");
    int rank, size, L = m->n_hidden_layers;
    EBM_MPI_TRY(MPI_Comm_rank(comm, &rank));
    EBM_MPI_TRY(MPI_Comm_size(comm, &size));
    int64_t first, count;
    ebm_shard_range(runs, rank, size, &first, &count);
    struct runs c;
    ebm_status st = ebm_comm_agree(comm, runs_init(&c, m, (int)count, first, seed, EBM_RNG_AIS));
    if (st == EBM_OK) {
        /* the base's kept layers */
        for (int k = kept; k <= L; k += 2) draw_layer(m, base, &c, k, 0.0f);
        for (int t = 1; t <= n; t++) {
            add_log_ratio(m, base, &c, betas[t - 1], betas[t], kept);
            if (t < n) sweep(m, base, &c, (float)betas[t], kept);
        }
        st = ebm_ais_estimate(c.log_w, c.R, runs, base_log_z(m, base), false, comm, out);
    }
    runs_free(&c);
    return st;
}

ebm_status dbm_reverse_ais(const struct dbm *m, const float *base, const double *betas, int n,
                           const float *v_start, int local_runs, int64_t first_run, int kept,
                           uint64_t seed, double mf_tol, int mf_steps, MPI_Comm comm,
                           struct ebm_ais_result *out)
{
    if (!betas || n < 3 || betas[0] != 0.0 || betas[n] != 1.0)
        return EBM_FAIL(EBM_ERR_INPUT, "AIS needs at least 3 betas from 0 to 1");
    int total = local_runs, L = m->n_hidden_layers;
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, comm));
    struct runs c;
    ebm_status st = ebm_comm_agree(comm, runs_init(&c, m, local_runs, first_run, seed,
                                                   EBM_RNG_REVERSE_AIS));
    if (st == EBM_OK && local_runs > 0) {
        /* The start: the rows, each kept hidden layer drawn from its
         * mean-field posterior (the others are summed out below). */
        struct dbm_state s;
        memcpy(c.x[0], v_start, sizeof(float) * (size_t)local_runs * m->sizes[0]);
        for (int k = 0; k <= L; k++) s.x[k] = c.x[k];
        dbm_mean_field(m, &s, local_runs, mf_tol, mf_steps, c.in);
        for (int k = kept ? 1 : 2; k <= L; k += 2)
            for (int r = 0; r < local_runs; r++) {
                float *x = c.x[k] + (size_t)r * m->sizes[k];
                memcpy(c.p, x, sizeof(float) * (size_t)m->sizes[k]);
                ebm_bernoulli(c.p, x, (size_t)m->sizes[k], &c.rng[r]);
            }
    }
    if (st == EBM_OK) {
        /* From the model (beta = 1) down to the base: the weights estimate
         * Z_0 / Z, whose log mean errs low, so log Z errs high. */
        for (int t = n; t >= 1; t--) {
            add_log_ratio(m, base, &c, betas[t], betas[t - 1], kept);
            if (t > 1) sweep(m, base, &c, (float)betas[t - 1], kept);
        }
        st = ebm_ais_estimate(c.log_w, c.R, total, base_log_z(m, base), true, comm, out);
    }
    runs_free(&c);
    return st;
}
