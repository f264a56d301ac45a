/* CD-k with W spread over a process grid (ebm/grid_rbm.h). A step: 1 + 2k
 * PSGEMM products for the Gibbs chain and two for the statistics, sigmoid
 * and sampling on the local blocks, one allreduce of the local gradient
 * blocks across replicas and one of the V + H bias gradient, then the
 * same momentum update on every copy of a block. */
#include "ebm/grid_rbm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"
#include "ebm/par.h"
#include "ebm/rng.h"

/* The keyed draw of sampling pass `pass` of step `step`: pass 0 samples
 * h_0, pass 2t - 1 samples v_t and pass 2t samples h_t. */
enum { GRID_CD_MAX_K = 127 };
static uint32_t draw_of(uint32_t step, int pass)
{
    return (step << 8) | (uint32_t)pass;
}

static float sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

static ebm_status alloc_local(struct ebm_grid_rbm *m, const struct ebm_grid *g, int block)
{
    int V = m->V, H = m->H, B = m->B;
    EBM_TRY(ebm_dmatrix_init(&m->W, g, V, H, block, block));
    EBM_TRY(ebm_dmatrix_init(&m->grad, g, V, H, block, block));
    EBM_TRY(ebm_dmatrix_init(&m->velocity, g, V, H, block, block));
    EBM_TRY(ebm_dmatrix_init(&m->v0, g, B, V, block, block));
    EBM_TRY(ebm_dmatrix_init(&m->ph0, g, B, H, block, block));
    EBM_TRY(ebm_dmatrix_init(&m->v, g, B, V, block, block));
    EBM_TRY(ebm_dmatrix_init(&m->ph, g, B, H, block, block));
    EBM_TRY(ebm_dmatrix_init(&m->h, g, B, H, block, block));
    size_t n = (size_t)V + (size_t)H;
    EBM_ALLOC(m->bias, n);
    EBM_ALLOC(m->bias_grad, n);
    EBM_ALLOC(m->bias_velocity, n);
    EBM_ALLOC(m->uniforms, (size_t)block);
    return EBM_OK;
}

ebm_status ebm_grid_rbm_init(struct ebm_grid_rbm *m, const struct ebm_grid *g, int V, int H,
                             int B, int block)
{
    memset(m, 0, sizeof *m);
    m->grid = g;
    m->V = V;
    m->H = H;
    m->B = B;
    return ebm_comm_agree(g->comm, alloc_local(m, g, block));
}

void ebm_grid_rbm_free(struct ebm_grid_rbm *m)
{
    if (!m) return;
    struct ebm_dmatrix *all[] = { &m->W, &m->grad, &m->velocity, &m->v0, &m->ph0,
                                  &m->v, &m->ph, &m->h };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ebm_dmatrix_free(all[i]);
    free(m->bias);
    free(m->bias_grad);
    free(m->bias_velocity);
    free(m->uniforms);
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

/* p <- sigmoid(p + bias[global column]) on the local blocks; with s, also
 * s <- (u < p) with u keyed by (example of the row, global unit, draw).
 * Local columns come in runs of nb that are consecutive globally, so each
 * run's uniforms are one keyed call. s may be p. */
static void sigmoid_sample(struct ebm_grid_rbm *m, struct ebm_dmatrix *p, struct ebm_dmatrix *s,
                           const float *bias, const uint32_t *example, uint64_t seed,
                           uint32_t draw)
{
    for (int lc = 0; lc < p->local_cols; lc++) {
        float bj = bias[ebm_dmatrix_global_col(p, lc)];
        float *col = p->data + (size_t)lc * p->lld;
        for (int lr = 0; lr < p->local_rows; lr++) col[lr] = sigmoid(col[lr] + bj);
    }
    if (!s) return;
    for (int lr = 0; lr < p->local_rows; lr++) {
        uint32_t e = example[ebm_dmatrix_global_row(p, lr)];
        for (int lc0 = 0; lc0 < p->local_cols; lc0 += p->nb) {
            int len = p->local_cols - lc0 < p->nb ? p->local_cols - lc0 : p->nb;
            ebm_rng_keyed_uniform(seed, EBM_RNG_GRID_SAMPLE, e, draw,
                                  ebm_dmatrix_global_col(p, lc0), (size_t)len, m->uniforms);
            for (int t = 0; t < len; t++) {
                size_t at = (size_t)(lc0 + t) * p->lld + (size_t)lr;
                s->data[at] = m->uniforms[t] < p->data[at] ? 1.0f : 0.0f;
            }
        }
    }
}

/* bias_grad[offset + global column] += scale * (sum over local rows of a - b). */
static void column_sums(const struct ebm_dmatrix *a, const struct ebm_dmatrix *b, float scale,
                        float *out)
{
    for (int lc = 0; lc < a->local_cols; lc++) {
        const float *x = a->data + (size_t)lc * a->lld, *y = b->data + (size_t)lc * b->lld;
        double s = 0.0;
        for (int lr = 0; lr < a->local_rows; lr++) s += (double)x[lr] - y[lr];
        out[ebm_dmatrix_global_col(a, lc)] += (float)(scale * s);
    }
}

ebm_status ebm_grid_rbm_cd(struct ebm_grid_rbm *m, const float *x, const uint32_t *example,
                           const struct ebm_grid_cd_opts *o)
{
    if (o->k < 1 || o->k > GRID_CD_MAX_K || o->step >= (1u << 24))
        return EBM_FAIL(EBM_ERR_INPUT, "grid CD: k = %d (1 to %d) and step %u (below 2^24)",
                        o->k, GRID_CD_MAX_K, o->step);
    const struct ebm_grid *g = m->grid;
    float *b = m->bias, *c = m->bias + m->V;
    ebm_dmatrix_from_global(&m->v0, x, m->V);
    EBM_TRY(ebm_pgemm(false, false, 1.0f, &m->v0, &m->W, 0.0f, &m->ph0));
    sigmoid_sample(m, &m->ph0, &m->h, c, example, o->seed, draw_of(o->step, 0));
    for (int t = 1; t <= o->k; t++) {
        EBM_TRY(ebm_pgemm(false, true, 1.0f, &m->h, &m->W, 0.0f, &m->v));
        sigmoid_sample(m, &m->v, &m->v, b, example, o->seed, draw_of(o->step, 2 * t - 1));
        EBM_TRY(ebm_pgemm(false, false, 1.0f, &m->v, &m->W, 0.0f, &m->ph));
        sigmoid_sample(m, &m->ph, t < o->k ? &m->h : NULL, c, example, o->seed,
                       draw_of(o->step, 2 * t));
    }
    float inv = 1.0f / (float)((double)m->B * g->replicas);
    EBM_TRY(ebm_pgemm(true, false, inv, &m->v0, &m->ph0, 0.0f, &m->grad));
    EBM_TRY(ebm_pgemm(true, false, -inv, &m->v, &m->ph, 1.0f, &m->grad));
    memset(m->bias_grad, 0, sizeof(float) * (size_t)(m->V + m->H));
    column_sums(&m->v0, &m->v, inv, m->bias_grad);
    column_sums(&m->ph0, &m->ph, inv, m->bias_grad + m->V);
    /* Each bias entry's partial sums are spread over the replica's grid
     * rows and over the replicas; each W block's over the replicas only. */
    int nb = m->V + m->H;
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, m->bias_grad, nb, MPI_FLOAT, MPI_SUM,
                              g->replica_comm));
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, m->bias_grad, nb, MPI_FLOAT, MPI_SUM,
                              g->across_comm));
    size_t local = (size_t)m->grad.local_rows * m->grad.local_cols;
    if (g->replicas > 1 && local > 0)
        EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, m->grad.data, (int)local, MPI_FLOAT, MPI_SUM,
                                  g->across_comm));
    ebm_momentum_update(m->W.data, m->velocity.data, m->grad.data, local, o->momentum, o->lr,
                        o->weight_decay);
    ebm_momentum_update(m->bias, m->bias_velocity, m->bias_grad, (size_t)nb, o->momentum,
                        o->lr, 0.0f);
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
            out[(size_t)r * cols + j] = sigmoid((float)s + bias[j]);
        }
}

static void ref_sample(int n, int cols, const float *p, float *s, const uint32_t *example,
                       uint64_t seed, uint32_t draw)
{
    for (int r = 0; r < n; r++)
        for (int j = 0; j < cols; j++) {
            float u;
            ebm_rng_keyed_uniform(seed, EBM_RNG_GRID_SAMPLE, example[r], draw, j, 1, &u);
            s[(size_t)r * cols + j] = u < p[(size_t)r * cols + j] ? 1.0f : 0.0f;
        }
}

void ebm_grid_rbm_cd_ref(int V, int H, int n, float *W, float *b, float *c, float *vW,
                         float *vb, float *vc, const float *x, const uint32_t *example,
                         const struct ebm_grid_cd_opts *o)
{
    float *ph0 = calloc((size_t)n * H, sizeof(float)), *h = calloc((size_t)n * H, sizeof(float));
    float *v = calloc((size_t)n * V, sizeof(float)), *ph = calloc((size_t)n * H, sizeof(float));
    float *gW = calloc((size_t)V * H, sizeof(float)), *gb = calloc((size_t)V, sizeof(float));
    float *gc = calloc((size_t)H, sizeof(float));
    EBM_ASSERT(ph0 && h && v && ph && gW && gb && gc);
    ref_layer(n, V, H, x, W, false, c, ph0);
    ref_sample(n, H, ph0, h, example, o->seed, draw_of(o->step, 0));
    for (int t = 1; t <= o->k; t++) {
        ref_layer(n, H, V, h, W, true, b, v);
        ref_sample(n, V, v, v, example, o->seed, draw_of(o->step, 2 * t - 1));
        ref_layer(n, V, H, v, W, false, c, ph);
        if (t < o->k) ref_sample(n, H, ph, h, example, o->seed, draw_of(o->step, 2 * t));
    }
    for (int i = 0; i < V; i++) {
        double sb = 0.0;
        for (int r = 0; r < n; r++) sb += (double)x[(size_t)r * V + i] - v[(size_t)r * V + i];
        gb[i] = (float)(sb / n);
        for (int j = 0; j < H; j++) {
            double s = 0.0;
            for (int r = 0; r < n; r++)
                s += (double)x[(size_t)r * V + i] * ph0[(size_t)r * H + j] -
                     (double)v[(size_t)r * V + i] * ph[(size_t)r * H + j];
            gW[(size_t)i * H + j] = (float)(s / n);
        }
    }
    for (int j = 0; j < H; j++) {
        double s = 0.0;
        for (int r = 0; r < n; r++) s += (double)ph0[(size_t)r * H + j] - ph[(size_t)r * H + j];
        gc[j] = (float)(s / n);
    }
    ebm_momentum_update_ref(W, vW, gW, (size_t)V * H, o->momentum, o->lr, o->weight_decay);
    ebm_momentum_update_ref(b, vb, gb, (size_t)V, o->momentum, o->lr, 0.0f);
    ebm_momentum_update_ref(c, vc, gc, (size_t)H, o->momentum, o->lr, 0.0f);
    free(ph0);
    free(h);
    free(v);
    free(ph);
    free(gW);
    free(gb);
    free(gc);
}
