/* CD-k and PCD-k with W spread over a process grid (ebm/grid_rbm.h). A
 * step: 2 + 2k PSGEMM products for the phases and two for the statistics,
 * sigmoid and sampling on the local blocks, one allreduce of the local
 * gradient blocks across replicas and one of the V + H bias gradient,
 * then the same momentum update on every copy of a block. */
#include "ebm/grid_rbm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/cd.h"
#include "ebm/kernels.h"
#include "ebm/par.h"
#include "ebm/rbm.h"
#include "ebm/rng.h"

static ebm_status alloc_local(struct ebm_grid_rbm *m, const struct ebm_grid *g, int block)
{
    int V = m->V, H = m->H, B = m->B, N = m->C > 0 ? m->C : m->B;
    size_t n = (size_t)V + (size_t)H;
    EBM_TRY(ebm_dmatrix_init(&m->W, g, V, H, block, block));
    EBM_TRY(ebm_dmatrix_init(&m->v0, g, B, V, block, block));
    EBM_TRY(ebm_dmatrix_init(&m->ph0, g, B, H, block, block));
    EBM_TRY(ebm_dmatrix_init(&m->pv, g, B, V, block, block));
    EBM_ALLOC(m->bias, n);
    if (!m->model_only) {
        EBM_TRY(ebm_dmatrix_init(&m->grad, g, V, H, block, block));
        EBM_TRY(ebm_dmatrix_init(&m->velocity, g, V, H, block, block));
        EBM_TRY(ebm_dmatrix_init(&m->v, g, N, V, block, block));
        EBM_TRY(ebm_dmatrix_init(&m->ph, g, N, H, block, block));
        EBM_TRY(ebm_dmatrix_init(&m->h, g, N, H, block, block));
        EBM_ALLOC(m->bias_grad, n + 1);
        EBM_ALLOC(m->bias_velocity, n);
    }
    EBM_ALLOC(m->uniforms, (size_t)block);
    int rows = m->v0.local_rows > m->v.local_rows ? m->v0.local_rows : m->v.local_rows;
    EBM_ALLOC(m->shift, (size_t)(rows > 0 ? rows : 1));
    m->row_sums = calloc((size_t)B + 1, sizeof *m->row_sums);
    if (!m->row_sums) return EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
    return EBM_OK;
}

static ebm_status init(struct ebm_grid_rbm *m, const struct ebm_grid *g, int V, int H, int B,
                       int chains, int block, int model_only)
{
    memset(m, 0, sizeof *m);
    m->grid = g;
    m->V = V;
    m->H = H;
    m->B = B;
    m->C = chains;
    m->model_only = model_only;
    return ebm_comm_agree(g->comm, alloc_local(m, g, block));
}

ebm_status ebm_grid_rbm_init(struct ebm_grid_rbm *m, const struct ebm_grid *g, int V, int H,
                             int B, int chains, int block)
{
    return init(m, g, V, H, B, chains, block, 0);
}

ebm_status ebm_grid_rbm_init_model(struct ebm_grid_rbm *m, const struct ebm_grid *g, int V,
                                   int H, int B, int block)
{
    return init(m, g, V, H, B, 0, block, 1);
}

void ebm_grid_rbm_free(struct ebm_grid_rbm *m)
{
    if (!m) return;
    struct ebm_dmatrix *all[] = { &m->W, &m->grad, &m->velocity, &m->v0, &m->ph0, &m->pv,
                                  &m->v, &m->ph, &m->h };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ebm_dmatrix_free(all[i]);
    free(m->bias);
    free(m->bias_grad);
    free(m->bias_velocity);
    free(m->uniforms);
    free(m->shift);
    free(m->row_sums);
    memset(m, 0, sizeof *m);
}

void ebm_grid_rbm_set(struct ebm_grid_rbm *m, const float *W, const float *b, const float *c)
{
    ebm_dmatrix_from_global(&m->W, W, m->H);
    memcpy(m->bias, b, sizeof(float) * (size_t)m->V);
    memcpy(m->bias + m->V, c, sizeof(float) * (size_t)m->H);
}

ebm_status ebm_grid_rbm_get_weights(const struct ebm_grid_rbm *m, float *W)
{
    return ebm_dmatrix_to_global(&m->W, m->grid, W, m->H);
}

/* Local columns come in runs of at most nb that are consecutive globally:
 * the length of the run starting at local column lc. */
static int run_length(const struct ebm_dmatrix *a, int lc)
{
    int left = a->local_cols - lc;
    return left < a->nb ? left : a->nb;
}

void ebm_grid_rbm_init_params(struct ebm_grid_rbm *m, uint64_t seed, float sigma, const float *p)
{
    struct ebm_dmatrix *W = &m->W;
    for (int lr = 0; lr < W->local_rows; lr++) {
        int64_t i = ebm_dmatrix_global_row(W, lr);
        for (int lc = 0; lc < W->local_cols; lc += W->nb) {
            int len = run_length(W, lc);
            int64_t j = ebm_dmatrix_global_col(W, lc);
            ebm_rng_normal_at(seed, 0, EBM_RNG_INIT, i * m->H + j, (size_t)len, m->uniforms);
            for (int t = 0; t < len; t++) {
                /* the data-parallel start multiplies after drawing, likewise */
                float w = m->uniforms[t];
                w *= sigma;
                W->data[(size_t)(lc + t) * W->lld + lr] = w;
            }
        }
    }
    for (int i = 0; i < m->V; i++) m->bias[i] = (float)rbm_marginal_logit(p ? p[i] : 0.5);
    memset(m->bias + m->V, 0, sizeof(float) * (size_t)m->H);
    memset(m->velocity.data, 0,
           sizeof(float) * (size_t)m->velocity.lld * (size_t)m->velocity.local_cols);
    memset(m->bias_velocity, 0, sizeof(float) * (size_t)(m->V + m->H));
}

void ebm_grid_rbm_fresh_chains(struct ebm_grid_rbm *m, uint64_t seed)
{
    struct ebm_dmatrix *v = &m->v;
    for (int lr = 0; lr < v->local_rows; lr++) {
        uint32_t e = (uint32_t)((int64_t)m->grid->replica * m->C + ebm_dmatrix_global_row(v, lr));
        for (int lc = 0; lc < v->local_cols; lc += v->nb) {
            int len = run_length(v, lc);
            ebm_rng_keyed_uniform(seed, EBM_RNG_FRESH_CHAINS, e, 0,
                                  ebm_dmatrix_global_col(v, lc), (size_t)len, m->uniforms);
            for (int t = 0; t < len; t++)
                v->data[(size_t)(lc + t) * v->lld + lr] = m->uniforms[t] < 0.5f ? 1.0f : 0.0f;
        }
    }
}

/* p <- sigmoid(p + bias[global column]) on the local blocks, with the
 * data-parallel kernel (one column of a block is a run of rows with one
 * bias); with s, also s <- (u < p) with u keyed by (first_row + global
 * row, global unit) in pass `pass` of step `step`. s may be p. */
static void sigmoid_sample(struct ebm_grid_rbm *m, struct ebm_dmatrix *p, struct ebm_dmatrix *s,
                           const float *bias, int64_t first_row, uint64_t seed, int64_t step,
                           int pass)
{
    for (int lc = 0; lc < p->local_cols; lc++) {
        float bj = bias[ebm_dmatrix_global_col(p, lc)];
        for (int lr = 0; lr < p->local_rows; lr++) m->shift[lr] = bj;
        ebm_sigmoid_bias(p->data + (size_t)lc * p->lld, m->shift, 1, p->local_rows);
    }
    if (!s) return;
    struct ebm_rng_rows keys = cd_keys(seed, step, first_row, pass);
    for (int lr = 0; lr < p->local_rows; lr++) {
        uint32_t e = keys.first_row + (uint32_t)ebm_dmatrix_global_row(p, lr);
        for (int lc0 = 0; lc0 < p->local_cols; lc0 += p->nb) {
            int len = run_length(p, lc0);
            ebm_rng_keyed_uniform(seed, keys.purpose, e, keys.draw,
                                  ebm_dmatrix_global_col(p, lc0), (size_t)len, m->uniforms);
            for (int t = 0; t < len; t++) {
                size_t at = (size_t)(lc0 + t) * p->lld + (size_t)lr;
                s->data[at] = m->uniforms[t] < p->data[at] ? 1.0f : 0.0f;
            }
        }
    }
}

/* bias_grad[global column] += a_scale * (sum over local rows of a) +
 * b_scale * (the same of b), the sums in double. */
static void column_sums(const struct ebm_dmatrix *a, float a_scale, const struct ebm_dmatrix *b,
                        float b_scale, float *out)
{
    for (int lc = 0; lc < a->local_cols; lc++) {
        const float *x = a->data + (size_t)lc * a->lld;
        double s = 0.0;
        for (int lr = 0; lr < a->local_rows; lr++) s += x[lr];
        out[ebm_dmatrix_global_col(a, lc)] += (float)(a_scale * s);
    }
    for (int lc = 0; lc < b->local_cols; lc++) {
        const float *y = b->data + (size_t)lc * b->lld;
        double s = 0.0;
        for (int lr = 0; lr < b->local_rows; lr++) s += y[lr];
        out[ebm_dmatrix_global_col(b, lc)] += (float)(b_scale * s);
    }
}

ebm_status ebm_grid_rbm_cd(struct ebm_grid_rbm *m, const float *x,
                           const struct ebm_grid_cd_opts *o)
{
    EBM_ASSERT(!m->model_only);
    if (o->k < 1 || o->k >= (1 << 22))
        return EBM_FAIL(EBM_ERR_INPUT, "grid CD: k = %d (1 to %d)", o->k, (1 << 22) - 1);
    const struct ebm_grid *g = m->grid;
    float *b = m->bias, *c = m->bias + m->V;
    int64_t first = (int64_t)g->replica * (m->C > 0 ? m->C : m->B);
    ebm_dmatrix_from_global(&m->v0, x, m->V);
    EBM_TRY(ebm_pgemm(false, false, 1.0f, &m->v0, &m->W, 0.0f, &m->ph0));
    /* CD starts its chain at the data, with h_0 drawn from p(h | v_0). */
    sigmoid_sample(m, &m->ph0, m->C > 0 ? NULL : &m->h, c, first, o->seed, o->step, 0);
    for (int t = 0; t < o->k; t++) {
        if (t > 0 || m->C > 0) {
            EBM_TRY(ebm_pgemm(false, false, 1.0f, &m->v, &m->W, 0.0f, &m->ph));
            sigmoid_sample(m, &m->ph, &m->h, c, first, o->seed, o->step, 2 * t);
        }
        EBM_TRY(ebm_pgemm(false, true, 1.0f, &m->h, &m->W, 0.0f, &m->v));
        sigmoid_sample(m, &m->v, &m->v, b, first, o->seed, o->step, 2 * t + 1);
    }
    EBM_TRY(ebm_pgemm(false, false, 1.0f, &m->v, &m->W, 0.0f, &m->ph));
    sigmoid_sample(m, &m->ph, NULL, c, first, o->seed, o->step, 0);

    int N = m->C > 0 ? m->C : m->B;
    float inv_nd = 1.0f / (float)((double)m->B * g->replicas);
    float inv_nm = 1.0f / (float)((double)N * g->replicas);
    EBM_TRY(ebm_pgemm(true, false, inv_nd, &m->v0, &m->ph0, 0.0f, &m->grad));
    EBM_TRY(ebm_pgemm(true, false, -inv_nm, &m->v, &m->ph, 1.0f, &m->grad));
    int nb = m->V + m->H;
    memset(m->bias_grad, 0, sizeof(float) * (size_t)nb);
    column_sums(&m->v0, inv_nd, &m->v, -inv_nm, m->bias_grad);
    column_sums(&m->ph0, inv_nd, &m->ph, -inv_nm, m->bias_grad + m->V);
    /* Every rank adds its own stop flag; the two sums make it the world's. */
    m->bias_grad[nb] = o->stop_request ? 1.0f : 0.0f;
    /* Each bias entry's partial sums are spread over the replica's grid
     * rows and over the replicas; each W block's over the replicas only. */
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, m->bias_grad, nb + 1, MPI_FLOAT, MPI_SUM,
                              g->replica_comm));
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, m->bias_grad, nb + 1, MPI_FLOAT, MPI_SUM,
                              g->across_comm));
    m->stop_agreed = m->bias_grad[nb] > 0.5f;
    size_t local = (size_t)m->grad.local_rows * (size_t)m->grad.local_cols;
    if (g->replicas > 1 && local > 0)
        EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, m->grad.data, (int)local, MPI_FLOAT, MPI_SUM,
                                  g->across_comm));
    ebm_momentum_update(m->W.data, m->velocity.data, m->grad.data, local, o->momentum, o->lr,
                        o->weight_decay);
    ebm_momentum_update(m->bias, m->bias_velocity, m->bias_grad, (size_t)nb, o->momentum,
                        o->lr, 0.0f);
    return EBM_OK;
}

ebm_status ebm_grid_rbm_monitor(struct ebm_grid_rbm *m, const float *x, int n, double sums[3])
{
    const float *b = m->bias, *c = m->bias + m->V;
    double *row = m->row_sums; /* per row: F's partial sums; last: the squared error */
    memset(row, 0, sizeof(double) * ((size_t)m->B + 1));
    ebm_dmatrix_from_global(&m->v0, x, m->V); /* rows past n: whatever x holds, unused */
    EBM_TRY(ebm_pgemm(false, false, 1.0f, &m->v0, &m->W, 0.0f, &m->ph0));
    /* F(v) = -b.v - sum_j softplus(vW + c)_j, each entry on one rank. */
    for (int lc = 0; lc < m->ph0.local_cols; lc++) {
        float cj = c[ebm_dmatrix_global_col(&m->ph0, lc)];
        const float *in = m->ph0.data + (size_t)lc * m->ph0.lld;
        for (int lr = 0; lr < m->ph0.local_rows; lr++)
            row[ebm_dmatrix_global_row(&m->ph0, lr)] -= ebm_softplus((double)in[lr] + cj);
    }
    for (int lc = 0; lc < m->v0.local_cols; lc++) {
        float bi = b[ebm_dmatrix_global_col(&m->v0, lc)];
        const float *v = m->v0.data + (size_t)lc * m->v0.lld;
        for (int lr = 0; lr < m->v0.local_rows; lr++)
            row[ebm_dmatrix_global_row(&m->v0, lr)] -= (double)bi * v[lr];
    }
    sigmoid_sample(m, &m->ph0, NULL, c, 0, 0, 0, 0);
    EBM_TRY(ebm_pgemm(false, true, 1.0f, &m->ph0, &m->W, 0.0f, &m->pv));
    sigmoid_sample(m, &m->pv, NULL, b, 0, 0, 0, 0);
    for (int lc = 0; lc < m->pv.local_cols; lc++) {
        const float *p = m->pv.data + (size_t)lc * m->pv.lld;
        const float *v = m->v0.data + (size_t)lc * m->v0.lld;
        for (int lr = 0; lr < m->pv.local_rows; lr++) {
            if (ebm_dmatrix_global_row(&m->pv, lr) >= n) continue;
            double d = (double)v[lr] - p[lr];
            row[m->B] += d * d;
        }
    }
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, row, m->B + 1, MPI_DOUBLE, MPI_SUM,
                              m->grid->replica_comm));
    for (int r = 0; r < n; r++) {
        sums[1] += row[r];
        sums[2] += row[r] * row[r];
    }
    sums[0] += row[m->B];
    return EBM_OK;
}

/* out (n, cols) <- sigmoid(in · M + bias) with M (inner, cols) row-major,
 * or M' when M is (cols, inner); sums in double. */
static void ref_layer(int n, int inner, int cols, const float *in, const float *M, bool transposed,
                      const float *bias, float *out)
{
    for (int r = 0; r < n; r++)
        for (int j = 0; j < cols; j++) {
            double s = 0.0;
            for (int i = 0; i < inner; i++)
                s += (double)in[(size_t)r * inner + i] *
                     (transposed ? M[(size_t)j * inner + i] : M[(size_t)i * cols + j]);
            out[(size_t)r * cols + j] = 1.0f / (1.0f + expf(-((float)s + bias[j])));
        }
}

static void ref_sample(int n, int cols, const float *p, float *s, uint64_t seed, int64_t step,
                       int pass)
{
    struct ebm_rng_rows keys = cd_keys(seed, step, 0, pass);
    for (int r = 0; r < n; r++)
        for (int j = 0; j < cols; j++) {
            float u;
            ebm_rng_keyed_uniform(seed, keys.purpose, (uint32_t)r, keys.draw, j, 1, &u);
            s[(size_t)r * cols + j] = u < p[(size_t)r * cols + j] ? 1.0f : 0.0f;
        }
}

/* g (rows, cols) += scale * a' b for a (n, rows), b (n, cols); gb, gc the
 * column sums likewise. */
static void ref_statistics(int n, int V, int H, const float *a, const float *b, double scale,
                           double *gW, double *gb, double *gc)
{
    for (int r = 0; r < n; r++)
        for (int i = 0; i < V; i++) {
            double x = a[(size_t)r * V + i];
            gb[i] += scale * x;
            for (int j = 0; j < H; j++) gW[(size_t)i * H + j] += scale * x * b[(size_t)r * H + j];
        }
    for (int r = 0; r < n; r++)
        for (int j = 0; j < H; j++) gc[j] += scale * b[(size_t)r * H + j];
}

void ebm_grid_rbm_cd_ref(int V, int H, int n, float *W, float *b, float *c, float *vW,
                         float *vb, float *vc, const float *x, float *chains, int n_chains,
                         const struct ebm_grid_cd_opts *o)
{
    int N = chains ? n_chains : n;
    float *ph0 = calloc((size_t)n * H, sizeof(float)), *h = calloc((size_t)N * H, sizeof(float));
    float *v = chains ? chains : calloc((size_t)N * V, sizeof(float));
    float *ph = calloc((size_t)N * H, sizeof(float));
    double *gW = calloc((size_t)V * H, sizeof(double)), *gb = calloc((size_t)V, sizeof(double));
    double *gc = calloc((size_t)H, sizeof(double));
    float *f = calloc((size_t)V * H + V + H, sizeof(float));
    EBM_ASSERT(ph0 && h && v && ph && gW && gb && gc && f);
    ref_layer(n, V, H, x, W, false, c, ph0);
    if (!chains) ref_sample(n, H, ph0, h, o->seed, o->step, 0);
    for (int t = 0; t < o->k; t++) {
        if (t > 0 || chains) {
            ref_layer(N, V, H, v, W, false, c, ph);
            ref_sample(N, H, ph, h, o->seed, o->step, 2 * t);
        }
        ref_layer(N, H, V, h, W, true, b, v);
        ref_sample(N, V, v, v, o->seed, o->step, 2 * t + 1);
    }
    ref_layer(N, V, H, v, W, false, c, ph);
    ref_statistics(n, V, H, x, ph0, 1.0 / n, gW, gb, gc);
    ref_statistics(N, V, H, v, ph, -1.0 / N, gW, gb, gc);
    float *fW = f, *fb = f + (size_t)V * H, *fc = fb + V;
    for (size_t i = 0; i < (size_t)V * H; i++) fW[i] = (float)gW[i];
    for (int i = 0; i < V; i++) fb[i] = (float)gb[i];
    for (int j = 0; j < H; j++) fc[j] = (float)gc[j];
    ebm_momentum_update_ref(W, vW, fW, (size_t)V * H, o->momentum, o->lr, o->weight_decay);
    ebm_momentum_update_ref(b, vb, fb, (size_t)V, o->momentum, o->lr, 0.0f);
    ebm_momentum_update_ref(c, vc, fc, (size_t)H, o->momentum, o->lr, 0.0f);
    free(ph0);
    free(h);
    if (!chains) free(v);
    free(ph);
    free(gW);
    free(gb);
    free(gc);
    free(f);
}
