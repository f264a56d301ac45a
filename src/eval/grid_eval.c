/* RBM evaluation with W on a process grid (ebm/grid_eval.h). AIS keeps a
 * replica's runs as block-cyclic [M, V] and [M, H] matrices; per beta: one
 * PSGEMM v -> x, each rank's share of every run's log-weight increment,
 * one allreduce of M doubles over the replica, and for the transition a
 * sigmoid and Bernoulli draws on the local blocks and one PSGEMM h -> v. */
#include "ebm/grid_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/dataset.h"
#include "ebm/kernels.h"
#include "ebm/par.h"
#include "ebm/rng.h"

/* A replica's M runs. */
struct runs {
    const struct ebm_grid_rbm *m;
    struct ebm_dmatrix v, x, h, pv;   /* [M, V], [M, H], [M, H], [M, V] */
    int M;
    int64_t first;                    /* the global index of run 0 */
    uint64_t seed;
    uint32_t purpose;
    double *log_w, *part;             /* (M) the same on every rank of the replica */
    float *buf;                       /* (largest local column count) */
    float *bias;                      /* (V) the visible biases of p_beta* */
    float *shift;                     /* (local rows) one bias, repeated */
};

static ebm_status runs_alloc(struct runs *c, const struct ebm_grid_rbm *m, int M)
{
    const struct ebm_grid *g = m->grid;
    int block = m->W.mb;
    EBM_TRY(ebm_dmatrix_init(&c->v, g, M, m->V, block, block));
    EBM_TRY(ebm_dmatrix_init(&c->x, g, M, m->H, block, block));
    EBM_TRY(ebm_dmatrix_init(&c->h, g, M, m->H, block, block));
    EBM_TRY(ebm_dmatrix_init(&c->pv, g, M, m->V, block, block));
    c->log_w = calloc((size_t)M, sizeof *c->log_w);
    c->part = calloc((size_t)M, sizeof *c->part);
    if (!c->log_w || !c->part) return EBM_FAIL(EBM_ERR_NOMEM, "out of memory for AIS runs");
    int cols = c->v.local_cols > c->x.local_cols ? c->v.local_cols : c->x.local_cols;
    EBM_ALLOC(c->buf, (size_t)(cols > 0 ? cols : 1));
    EBM_ALLOC(c->bias, (size_t)m->V);
    EBM_ALLOC(c->shift, (size_t)(c->v.local_rows > 0 ? c->v.local_rows : 1));
    return EBM_OK;
}

static void runs_free(struct runs *c)
{
    ebm_dmatrix_free(&c->v);
    ebm_dmatrix_free(&c->x);
    ebm_dmatrix_free(&c->h);
    ebm_dmatrix_free(&c->pv);
    free(c->log_w);
    free(c->part);
    free(c->buf);
    free(c->bias);
    free(c->shift);
}

/* Blocks a run's stream spends on one Bernoulli draw of n units (ebm_bernoulli). */
static uint64_t blocks_of(int n)
{
    return ((uint64_t)n + 3) / 4;
}

/* s <- (u < p) on the local blocks, u the run's uniforms from block0 on
 * (unit j of run r is uniform j of its sequence there). */
static void draw(struct runs *c, const struct ebm_dmatrix *p, struct ebm_dmatrix *s,
                 uint64_t block0)
{
    for (int lr = 0; lr < p->local_rows; lr++) {
        uint32_t run = (uint32_t)(c->first + ebm_dmatrix_global_row(p, lr));
        for (int lc0 = 0; lc0 < p->local_cols; lc0 += p->nb) {
            int len = p->local_cols - lc0 < p->nb ? p->local_cols - lc0 : p->nb;
            ebm_rng_uniform_at(c->seed, run, c->purpose, block0, ebm_dmatrix_global_col(p, lc0),
                               (size_t)len, c->buf);
            for (int t = 0; t < len; t++) {
                size_t at = (size_t)(lc0 + t) * p->lld + (size_t)lr;
                s->data[at] = c->buf[t] < p->data[at] ? 1.0f : 0.0f;
            }
        }
    }
}

/* v_0 ~ p_0*: each unit on its own, 1 with probability sigmoid(b_A). */
static void base_sample(struct runs *c, const float *base)
{
    ebm_sigmoid_scaled(base, c->bias, (size_t)c->m->V, 1.0f);
    for (int lc = 0; lc < c->pv.local_cols; lc++) {
        float p = c->bias[ebm_dmatrix_global_col(&c->pv, lc)];
        for (int lr = 0; lr < c->pv.local_rows; lr++) c->pv.data[(size_t)lc * c->pv.lld + lr] = p;
    }
    draw(c, &c->pv, &c->v, 0);
}

/* x = vW + c. */
static ebm_status hidden_input(struct runs *c)
{
    EBM_TRY(ebm_pgemm(false, false, 1.0f, &c->v, &c->m->W, 0.0f, &c->x));
    const float *hb = c->m->bias + c->m->V;
    for (int lc = 0; lc < c->x.local_cols; lc++) {
        float cj = hb[ebm_dmatrix_global_col(&c->x, lc)];
        float *col = c->x.data + (size_t)lc * c->x.lld;
        for (int lr = 0; lr < c->x.local_rows; lr++) col[lr] += cj;
    }
    return EBM_OK;
}

/* log_w += sign (log p_b*(v) - log p_a*(v)) for every run: each rank's
 * share of the visible term (b - a) v.(b - b_A) and of the hidden
 * softplus differences, summed over the replica. */
static ebm_status add_log_ratio(struct runs *c, const float *base, float a, float b, double sign)
{
    const float *vb = c->m->bias;
    memset(c->part, 0, sizeof(double) * (size_t)c->M);
    for (int lc = 0; lc < c->v.local_cols; lc++) {
        int i = ebm_dmatrix_global_col(&c->v, lc);
        double d = ((double)b - (double)a) * ((double)vb[i] - base[i]);
        const float *col = c->v.data + (size_t)lc * c->v.lld;
        for (int lr = 0; lr < c->v.local_rows; lr++)
            c->part[ebm_dmatrix_global_row(&c->v, lr)] += d * col[lr];
    }
    for (int lr = 0; lr < c->x.local_rows; lr++) {
        for (int lc = 0; lc < c->x.local_cols; lc++)
            c->buf[lc] = c->x.data[(size_t)lc * c->x.lld + lr];
        c->part[ebm_dmatrix_global_row(&c->x, lr)] +=
            ebm_softplus_diff_sum(c->buf, c->x.local_cols, a, b);
    }
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, c->part, c->M, MPI_DOUBLE, MPI_SUM,
                              c->m->grid->replica_comm));
    for (int r = 0; r < c->M; r++) c->log_w[r] += sign * c->part[r];
    return EBM_OK;
}

/* One Gibbs sweep v -> h -> v leaving p_beta* invariant, drawing from
 * block0 of each run's stream; x holds vW + c on entry. */
static ebm_status transition(struct runs *c, const float *base, float beta, uint64_t block0)
{
    const struct ebm_grid_rbm *m = c->m;
    ebm_sigmoid_scaled(c->x.data, c->h.data, (size_t)c->x.lld * c->x.local_cols, beta);
    draw(c, &c->h, &c->h, block0);
    EBM_TRY(ebm_pgemm(false, true, beta, &c->h, &m->W, 0.0f, &c->pv));
    for (int i = 0; i < m->V; i++) c->bias[i] = (1.0f - beta) * base[i] + beta * m->bias[i];
    for (int lc = 0; lc < c->pv.local_cols; lc++) {
        float bi = c->bias[ebm_dmatrix_global_col(&c->pv, lc)];
        for (int lr = 0; lr < c->pv.local_rows; lr++) c->shift[lr] = bi;
        ebm_sigmoid_bias(c->pv.data + (size_t)lc * c->pv.lld, c->shift, 1, c->pv.local_rows);
    }
    draw(c, &c->pv, &c->v, block0 + blocks_of(m->H));
    return EBM_OK;
}

/* log Z of p_0*: 2^H hidden states times the independent visible units. */
static double base_log_z(const struct ebm_grid_rbm *m, const float *base)
{
    double z = m->H * log(2.0);
    for (int i = 0; i < m->V; i++) z += ebm_softplus((double)base[i]);
    return z;
}

static ebm_status check_schedule(const double *betas, int n)
{
    if (!betas || n < 3 || betas[0] != 0.0 || betas[n] != 1.0)
        return EBM_FAIL(EBM_ERR_INPUT, "AIS needs at least 3 betas from 0 to 1");
    return EBM_OK;
}

/* Anneals this replica's M runs (forward from the base, or reverse from
 * v_start), then every replica's weights make the estimate. */
static ebm_status anneal(const struct ebm_grid_rbm *m, const float *base, const double *betas,
                         int n, int M, int64_t first, int total, const float *v_start,
                         uint64_t seed, struct ebm_ais_result *out)
{
    const struct ebm_grid *g = m->grid;
    bool reverse = v_start != NULL;
    struct runs c = { .m = m, .M = M, .first = first, .seed = seed,
                      .purpose = reverse ? EBM_RNG_REVERSE_AIS : EBM_RNG_AIS };
    ebm_status st = M > 0 ? runs_alloc(&c, m, M) : EBM_OK;
    st = ebm_comm_agree(g->comm, st);
    uint64_t sweep = blocks_of(m->H) + blocks_of(m->V); /* a transition's blocks */
    if (st == EBM_OK && M > 0 && !reverse) {
        base_sample(&c, base);
        for (int k = 1; st == EBM_OK && k <= n; k++) {
            st = hidden_input(&c);
            if (st == EBM_OK)
                st = add_log_ratio(&c, base, (float)betas[k - 1], (float)betas[k], 1.0);
            if (st == EBM_OK && k < n)
                st = transition(&c, base, (float)betas[k],
                                blocks_of(m->V) + (uint64_t)(k - 1) * sweep);
        }
    } else if (st == EBM_OK && M > 0) {
        ebm_dmatrix_from_global(&c.v, v_start, m->V);
        for (int k = n; st == EBM_OK && k >= 1; k--) {
            st = hidden_input(&c);
            if (st == EBM_OK)
                st = add_log_ratio(&c, base, (float)betas[k - 1], (float)betas[k], -1.0);
            if (st == EBM_OK && k > 1)
                st = transition(&c, base, (float)betas[k - 1], (uint64_t)(n - k) * sweep);
        }
    }
    st = ebm_comm_agree(g->comm, st);
    /* One rank of each replica brings its runs, in replica (= run) order. */
    int writer = g->row == 0 && g->col == 0;
    if (st == EBM_OK)
        st = ebm_ais_estimate(c.log_w, writer ? M : 0, total, base_log_z(m, base), reverse,
                              g->comm, out);
    if (M > 0) runs_free(&c);
    return st;
}

ebm_status ebm_grid_ais(const struct ebm_grid_rbm *m, const float *base, const double *betas,
                        int n, int runs, uint64_t seed, struct ebm_ais_result *out)
{
    EBM_TRY(check_schedule(betas, n));
    int64_t first, count;
    ebm_shard_range(runs, m->grid->replica, m->grid->replicas, &first, &count);
    return anneal(m, base, betas, n, (int)count, first, runs, NULL, seed, out);
}

ebm_status ebm_grid_reverse_ais(const struct ebm_grid_rbm *m, const float *base,
                                const double *betas, int n, const float *v_start,
                                int local_runs, int64_t first_run, uint64_t seed,
                                struct ebm_ais_result *out)
{
    EBM_TRY(check_schedule(betas, n));
    int total = local_runs;
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, m->grid->across_comm));
    return anneal(m, base, betas, n, local_runs, first_run, total, v_start, seed, out);
}

static ebm_status grid_forward(const void *model, const float *base, const double *betas, int n,
                               int runs, uint64_t seed, struct ebm_ais_result *out)
{
    return ebm_grid_ais(model, base, betas, n, runs, seed, out);
}

static ebm_status grid_reverse(const void *model, const float *base, const double *betas, int n,
                               const float *v_start, int local_runs, int64_t first_run,
                               uint64_t seed, struct ebm_ais_result *out)
{
    return ebm_grid_reverse_ais(model, base, betas, n, v_start, local_runs, first_run, seed, out);
}

/* The rows' sums in chunks of B: reconstruction error, F and F^2. */
static ebm_status row_sums(struct ebm_grid_rbm *m, const float *x, int64_t n, double sums[3])
{
    float *chunk = calloc((size_t)m->B * m->V, sizeof *chunk);
    ebm_status st = chunk ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
    EBM_TRY(ebm_comm_agree(m->grid->comm, st));
    /* every replica makes as many (collective) chunks as the largest */
    int64_t chunks = (n + m->B - 1) / m->B;
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &chunks, 1, MPI_INT64_T, MPI_MAX, m->grid->comm));
    for (int64_t k = 0; st == EBM_OK && k < chunks; k++) {
        int64_t r0 = k * m->B, rows = n - r0 < m->B ? n - r0 : m->B;
        rows = rows > 0 ? rows : 0;
        memset(chunk, 0, sizeof(float) * (size_t)m->B * m->V);
        if (rows > 0) memcpy(chunk, x + r0 * m->V, sizeof(float) * (size_t)(rows * m->V));
        st = ebm_grid_rbm_monitor(m, chunk, (int)rows, sums);
    }
    free(chunk);
    return st;
}

ebm_status ebm_grid_evaluate(struct ebm_grid_rbm *m, const float *x, int64_t n_local,
                             int64_t first, const struct ebm_eval_opts *o,
                             struct ebm_eval_result *out)
{
    memset(out, 0, sizeof *out);
    const struct ebm_grid *g = m->grid;
    if (o->exact)
        return EBM_FAIL(EBM_ERR_INPUT, "exact log Z enumerates a layer of at most 32 units, "
                        "which needs no grid: leave out --grid, or --exact for AIS");
    double sums[4] = { 0, 0, 0, 0 };
    EBM_TRY(row_sums(m, x, n_local, sums));
    sums[3] = (double)n_local;
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, sums, 4, MPI_DOUBLE, MPI_SUM, g->across_comm));
    int64_t n = (int64_t)sums[3];
    if (n < 1) return EBM_FAIL(EBM_ERR_INPUT, "no examples to evaluate");
    out->n_examples = n;
    out->mean_free_energy = sums[1] / n;
    double var = n > 1 ? (sums[2] - n * out->mean_free_energy * out->mean_free_energy) / (n - 1)
                       : 0;
    out->free_energy_se = sqrt(var > 0 ? var : 0) / sqrt((double)n);
    out->recon_error = sums[0] / n;
    out->pseudo_ll_per_example = out->pseudo_ll_per_unit = NAN;

    struct ebm_ais_layout l = { .model = m, .visible = EBM_UNIT_BERNOULLI, .all = g->comm,
                                .rows = g->across_comm, .forward = grid_forward,
                                .reverse = grid_reverse };
    EBM_TRY(ebm_eval_log_z_by_ais(&l, m->V, x, n_local, first, n, o, out));
    ebm_eval_log_probs(out);
    return EBM_OK;
}
