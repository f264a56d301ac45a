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
                            uint64_t seed)
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
    for (int i = 0; i < R; i++) ebm_rng_init(&c->rng[i], seed, (uint32_t)(first + i), EBM_RNG_AIS);
    return EBM_OK;
}

static void runs_free(struct runs *c)
{
    for (int k = 0; k <= EBM_DBM_MAX_HIDDEN; k++) free(c->x[k]);
    free(c->in); free(c->p); free(c->log_w); free(c->rng);
    memset(c, 0, sizeof *c);
}

/* Layer k's units drawn at beta, one stream per run: p = sigmoid of
 * beta (input + b_k), plus (1 - beta) b_A for the visible layer. */
static void draw_layer(const struct dbm *m, const float *base, struct runs *c, int k, float beta)
{
    int n = m->sizes[k], R = c->R;
    struct dbm_state s;
    for (int j = 0; j <= m->n_hidden_layers; j++) s.x[j] = c->x[j];
    dbm_layer_input(m, &s, k, R, c->in);
    for (int r = 0; r < R; r++) {
        float *in = c->in + (size_t)r * n, *p = c->p + (size_t)r * n;
        for (int i = 0; i < n; i++) {
            double a = beta * ((double)in[i] + m->b[k][i]) + (k == 0 ? (1.0 - beta) * base[i] : 0.0);
            p[i] = (float)(1.0 / (1.0 + exp(-a)));
        }
        ebm_bernoulli(p, c->x[k] + (size_t)r * n, (size_t)n, &c->rng[r]);
    }
}

/* log p_b*(x_e) - log p_a*(x_e) for every run, from the even layers. */
static void add_log_ratio(const struct dbm *m, const float *base, struct runs *c, double a,
                          double b)
{
    int L = m->n_hidden_layers, R = c->R;
    struct dbm_state s;
    for (int j = 0; j <= L; j++) s.x[j] = c->x[j];
    for (int r = 0; r < R; r++) {
        double lin = 0.0;
        for (int i = 0; i < m->sizes[0]; i++)
            lin += (double)c->x[0][(size_t)r * m->sizes[0] + i] * ((double)m->b[0][i] - base[i]);
        for (int k = 2; k <= L; k += 2)
            for (int i = 0; i < m->sizes[k]; i++)
                lin += (double)c->x[k][(size_t)r * m->sizes[k] + i] * m->b[k][i];
        c->log_w[r] += (b - a) * lin;
    }
    for (int k = 1; k <= L; k += 2) {
        int n = m->sizes[k];
        dbm_layer_input(m, &s, k, R, c->in);
        for (int r = 0; r < R; r++) {
            double d = 0.0;
            for (int j = 0; j < n; j++) {
                double t = (double)c->in[(size_t)r * n + j] + m->b[k][j];
                d += ebm_softplus(b * t) - ebm_softplus(a * t);
            }
            c->log_w[r] += d;
        }
    }
}

ebm_status dbm_ais(const struct dbm *m, const float *base, const double *betas, int n, int runs,
                   uint64_t seed, MPI_Comm comm, struct ebm_ais_result *out)
{
    if (!betas || n < 3 || betas[0] != 0.0 || betas[n] != 1.0)
        return EBM_FAIL(EBM_ERR_INPUT, "AIS needs at least 3 betas from 0 to 1");
    int rank, size, L = m->n_hidden_layers;
    EBM_MPI_TRY(MPI_Comm_rank(comm, &rank));
    EBM_MPI_TRY(MPI_Comm_size(comm, &size));
    int64_t first, count;
    ebm_shard_range(runs, rank, size, &first, &count);
    struct runs c;
    ebm_status st = ebm_comm_agree(comm, runs_init(&c, m, (int)count, first, seed));
    if (st == EBM_OK) {
        /* the base: v from b_A, the other even layers uniform */
        for (int k = 0; k <= L; k += 2) draw_layer(m, base, &c, k, 0.0f);
        for (int t = 1; t <= n; t++) {
            add_log_ratio(m, base, &c, betas[t - 1], betas[t]);
            if (t == n) break;
            for (int k = 1; k <= L; k += 2) draw_layer(m, base, &c, k, (float)betas[t]);
            for (int k = 0; k <= L; k += 2) draw_layer(m, base, &c, k, (float)betas[t]);
        }
        double lz0 = 0.0;
        for (int i = 0; i < m->sizes[0]; i++) lz0 += ebm_softplus(base[i]);
        for (int k = 1; k <= L; k++) lz0 += m->sizes[k] * log(2.0);
        double lm, lo, hi, sd;
        st = ebm_ais_combine(c.log_w, c.R, runs, 1.0, comm, &lm, &lo, &hi, &sd);
        if (st == EBM_OK) {
            out->log_z = lz0 + lm;
            out->log_z_lo = lz0 + lo;
            out->log_z_hi = lz0 + hi;
            out->log_z_base = lz0;
            out->runs = runs;
            out->log_w_sd = sd;
        }
    }
    runs_free(&c);
    return st;
}
