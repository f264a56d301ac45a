/* The DBN unrolled into a classifier, and its data-parallel fine-tuning.
 * Where the time goes: per layer, one GEMM forward and two backward (the
 * weight gradient and the delta below), as for the RBM's three products. */
#include "ebm/mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"
#include "ebm/rng.h"

static size_t layout(const struct ebm_mlp *m, float *block, float **W, float **b)
{
    size_t off = 0;
    for (int k = 0; k <= m->n_hidden_layers; k++) {
        size_t in = (size_t)m->sizes[k], out = (size_t)m->sizes[k + 1];
        if (W) W[k] = block + off;
        off += in * out;
        if (b) b[k] = block + off;
        off += out;
    }
    return off;
}

ebm_status ebm_mlp_init(struct ebm_mlp *m, int n_hidden_layers, const int *sizes)
{
    memset(m, 0, sizeof *m);
    if (n_hidden_layers < 1 || n_hidden_layers > EBM_MLP_MAX_LAYERS)
        return EBM_FAIL(EBM_ERR_INPUT, "an mlp takes 1 to %d hidden layers, not %d",
                        EBM_MLP_MAX_LAYERS, n_hidden_layers);
    for (int k = 0; k <= n_hidden_layers + 1; k++)
        if (sizes[k] < 1 || sizes[k] > 100000000)
            return EBM_FAIL(EBM_ERR_INPUT, "mlp layer %d has %d units", k, sizes[k]);
    if (sizes[n_hidden_layers + 1] < 2)
        return EBM_FAIL(EBM_ERR_INPUT, "an mlp classifier needs at least 2 classes");
    m->n_hidden_layers = n_hidden_layers;
    memcpy(m->sizes, sizes, sizeof(int) * (size_t)(n_hidden_layers + 2));
    m->n_params = layout(m, NULL, NULL, NULL);
    EBM_ALLOC(m->params, m->n_params);
    layout(m, m->params, m->W, m->b);
    return EBM_OK;
}

void ebm_mlp_free(struct ebm_mlp *m)
{
    if (!m) return;
    free(m->params);
    memset(m, 0, sizeof *m);
}

void ebm_mlp_views(const struct ebm_mlp *m, float *block, float **W, float **b)
{
    layout(m, block, W, b);
}

ebm_status ebm_mlp_from_dbn(struct ebm_mlp *m, const struct dbn *d, int classes)
{
    int sizes[EBM_MLP_MAX_LAYERS + 2];
    if (d->n_layers > EBM_MLP_MAX_LAYERS)
        return EBM_FAIL(EBM_ERR_INPUT, "a dbn of %d layers: an mlp takes at most %d",
                        d->n_layers, EBM_MLP_MAX_LAYERS);
    for (int k = 0; k <= d->n_layers; k++) sizes[k] = d->sizes[k];
    sizes[d->n_layers + 1] = classes;
    EBM_TRY(ebm_mlp_init(m, d->n_layers, sizes));
    for (int k = 0; k < d->n_layers; k++) {
        const struct rbm *r = &d->rbm[k];
        memcpy(m->W[k], r->W, sizeof(float) * (size_t)r->n_visible * r->n_hidden);
        memcpy(m->b[k], r->hbias, sizeof(float) * (size_t)r->n_hidden);
    }
    return EBM_OK; /* the softmax layer starts at zero: a convex start for it */
}

static int widest(const struct ebm_mlp *m)
{
    int w = 1;
    for (int k = 0; k <= m->n_hidden_layers + 1; k++) w = m->sizes[k] > w ? m->sizes[k] : w;
    return w;
}

ebm_status ebm_mlp_scratch_init(struct ebm_mlp_scratch *s, const struct ebm_mlp *m, int max_rows)
{
    memset(s, 0, sizeof *s);
    s->max_rows = max_rows;
    for (int k = 1; k <= m->n_hidden_layers + 1; k++)
        EBM_ALLOC(s->act[k], (size_t)max_rows * m->sizes[k]);
    for (int i = 0; i < 2; i++) EBM_ALLOC(s->delta[i], (size_t)max_rows * widest(m));
    return EBM_OK;
}

void ebm_mlp_scratch_free(struct ebm_mlp_scratch *s)
{
    if (!s) return;
    for (int k = 0; k < EBM_MLP_MAX_LAYERS + 2; k++) free(s->act[k]);
    for (int i = 0; i < 2; i++) free(s->delta[i]);
    memset(s, 0, sizeof *s);
}

/* act[1..L] and the logits act[L+1] of n rows. */
static void forward(const struct ebm_mlp *m, const float *x, int n, struct ebm_mlp_scratch *s)
{
    int L = m->n_hidden_layers;
    const float *in = x;
    for (int k = 0; k <= L; k++) {
        int a = m->sizes[k], c = m->sizes[k + 1];
        ebm_gemm(false, false, n, c, a, 1.0f, in, a, m->W[k], c, 0.0f, s->act[k + 1], c);
        if (k < L) {
            ebm_sigmoid_bias(s->act[k + 1], m->b[k], n, c);
        } else {
            for (int r = 0; r < n; r++)
                for (int j = 0; j < c; j++) s->act[k + 1][(size_t)r * c + j] += m->b[k][j];
        }
        in = s->act[k + 1];
    }
}

double ebm_mlp_loss_grad(const struct ebm_mlp *m, const float *x, const int32_t *y, int n,
                         float scale, float *grad, int64_t *errors, struct ebm_mlp_scratch *s)
{
    EBM_ASSERT(n <= s->max_rows);
    int L = m->n_hidden_layers, K = m->sizes[L + 1];
    forward(m, x, n, s);
    /* softmax in double; the output delta scale * (p - onehot) in place */
    double loss = 0.0;
    float *out = s->act[L + 1];
    for (int r = 0; r < n; r++) {
        float *o = out + (size_t)r * K;
        double mx = o[0], z = 0.0;
        int best = 0;
        for (int k = 1; k < K; k++) {
            if (o[k] > o[best]) best = k;
            mx = fmax(mx, o[k]);
        }
        for (int k = 0; k < K; k++) z += exp((double)o[k] - mx);
        loss -= (double)o[y[r]] - mx - log(z);
        if (errors && best != y[r]) (*errors)++;
        for (int k = 0; k < K; k++)
            o[k] = (float)(scale * (exp((double)o[k] - mx) / z - (k == y[r] ? 1.0 : 0.0)));
    }
    float *gW[EBM_MLP_MAX_LAYERS + 1], *gb[EBM_MLP_MAX_LAYERS + 1];
    layout(m, grad, gW, gb);
    const float *delta = out;
    for (int k = L; k >= 0; k--) {
        int a = m->sizes[k], c = m->sizes[k + 1];
        const float *below = k > 0 ? s->act[k] : x;
        ebm_gemm(true, false, a, c, n, 1.0f, below, a, delta, c, 0.0f, gW[k], c);
        memset(gb[k], 0, sizeof(float) * (size_t)c);
        ebm_add_column_sums(delta, n, c, 1.0f, gb[k]);
        if (k == 0) break;
        /* the delta of layer k: (delta W_k') * a (1 - a), sigmoid's derivative */
        float *next = s->delta[k % 2];
        ebm_gemm(false, true, n, a, c, 1.0f, delta, c, m->W[k], c, 0.0f, next, a);
        const float *act = s->act[k];
        for (size_t e = 0; e < (size_t)n * a; e++) next[e] *= act[e] * (1.0f - act[e]);
        delta = next;
    }
    return loss;
}

double ebm_mlp_loss_grad_ref(const struct ebm_mlp *m, const float *x, const int32_t *y, int n,
                             double scale, double *grad)
{
    int L = m->n_hidden_layers, K = m->sizes[L + 1], w = widest(m);
    double *act = malloc(sizeof *act * (size_t)(L + 2) * w), *dl = malloc(sizeof *dl * 2 * w);
    EBM_ASSERT(act && dl);
    memset(grad, 0, sizeof *grad * m->n_params);
    size_t off[EBM_MLP_MAX_LAYERS + 1];
    size_t o = 0;
    for (int k = 0; k <= L; k++) {
        off[k] = o;
        o += (size_t)m->sizes[k] * m->sizes[k + 1] + m->sizes[k + 1];
    }
    double loss = 0.0;
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < m->sizes[0]; i++) act[i] = x[(size_t)r * m->sizes[0] + i];
        for (int k = 0; k <= L; k++) {
            int a = m->sizes[k], c = m->sizes[k + 1];
            for (int j = 0; j < c; j++) {
                double t = m->b[k][j];
                for (int i = 0; i < a; i++) t += act[(size_t)k * w + i] * m->W[k][(size_t)i * c + j];
                act[(size_t)(k + 1) * w + j] = k < L ? 1.0 / (1.0 + exp(-t)) : t;
            }
        }
        double *lo = act + (size_t)(L + 1) * w, mx = lo[0], z = 0.0;
        for (int k = 1; k < K; k++) mx = fmax(mx, lo[k]);
        for (int k = 0; k < K; k++) z += exp(lo[k] - mx);
        loss -= lo[y[r]] - mx - log(z);
        double *d = dl;
        for (int k = 0; k < K; k++) d[k] = scale * (exp(lo[k] - mx) / z - (k == y[r]));
        for (int k = L; k >= 0; k--) {
            int a = m->sizes[k], c = m->sizes[k + 1];
            double *gw = grad + off[k], *gbk = gw + (size_t)a * c, *nd = d == dl ? dl + w : dl;
            for (int i = 0; i < a; i++)
                for (int j = 0; j < c; j++) gw[(size_t)i * c + j] += act[(size_t)k * w + i] * d[j];
            for (int j = 0; j < c; j++) gbk[j] += d[j];
            if (k == 0) break;
            for (int i = 0; i < a; i++) {
                double t = 0.0, h = act[(size_t)k * w + i];
                for (int j = 0; j < c; j++) t += d[j] * m->W[k][(size_t)i * c + j];
                nd[i] = t * h * (1.0 - h);
            }
            d = nd;
        }
    }
    free(act);
    free(dl);
    return loss;
}

void ebm_mlp_predict(const struct ebm_mlp *m, const float *x, int n, int32_t *pred,
                     struct ebm_mlp_scratch *s)
{
    int L = m->n_hidden_layers, K = m->sizes[L + 1];
    forward(m, x, n, s);
    for (int r = 0; r < n; r++) {
        const float *o = s->act[L + 1] + (size_t)r * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (o[k] > o[best]) best = k;
        pred[r] = best;
    }
}

/* ---- data-parallel fine-tuning ------------------------------------------------ */

ebm_status ebm_mlp_trainer_init(struct ebm_mlp_trainer *tr, const struct ebm_mlp *m,
                                const struct ebm_par *par, const struct ebm_dataset *data,
                                const struct ebm_mlp_opts *opts)
{
    memset(tr, 0, sizeof *tr);
    tr->par = par;
    tr->data = data;
    tr->opts = *opts;
    int64_t fewest = data->n;
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &fewest, 1, MPI_INT64_T, MPI_MIN, par->world));
    /* Every rank takes the same number of full batches (as the RBM trainer). */
    tr->steps_per_epoch = fewest / opts->batch;
    if (tr->steps_per_epoch < 1)
        return EBM_FAIL(EBM_ERR_INPUT, "--batch-size %d per rank exceeds the smallest shard "
                        "(%lld rows over %d ranks)", opts->batch, (long long)fewest, par->size);
    tr->scale = 1.0f / (float)((double)par->size * opts->batch);
    ebm_status st = ebm_mlp_scratch_init(&tr->s, m, opts->batch);
    if (st == EBM_OK) {
        tr->block = calloc(m->n_params + 2, sizeof *tr->block);
        tr->velocity = calloc(m->n_params, sizeof *tr->velocity);
        tr->xb = malloc(sizeof *tr->xb * (size_t)opts->batch * m->sizes[0]);
        tr->yb = malloc(sizeof *tr->yb * (size_t)opts->batch);
        tr->order = malloc(sizeof *tr->order * (size_t)(data->n > 0 ? data->n : 1));
        if (!tr->block || !tr->velocity || !tr->xb || !tr->yb || !tr->order)
            st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory for fine-tuning on rank %d", par->rank);
    }
    return ebm_par_agree(par, st);
}

void ebm_mlp_trainer_free(struct ebm_mlp_trainer *tr)
{
    if (!tr) return;
    ebm_mlp_scratch_free(&tr->s);
    free(tr->block);
    free(tr->velocity);
    free(tr->xb);
    free(tr->yb);
    free(tr->order);
    memset(tr, 0, sizeof *tr);
}

ebm_status ebm_mlp_train_epoch(struct ebm_mlp_trainer *tr, struct ebm_mlp *m, int epoch,
                               double *loss_out, double *error_out)
{
    const struct ebm_dataset *ds = tr->data;
    size_t np = m->n_params, D = (size_t)m->sizes[0];
    int B = tr->opts.batch, L = m->n_hidden_layers;
    struct ebm_rng shuffle;
    ebm_rng_init(&shuffle, tr->opts.seed, (uint32_t)tr->par->rank, EBM_RNG_SHUFFLE);
    shuffle.block = (uint64_t)epoch << 40; /* a stream per epoch: nothing to keep */
    for (int64_t i = 0; i < ds->n; i++) tr->order[i] = i;
    ebm_rng_shuffle(&shuffle, tr->order, ds->n);
    float *gW[EBM_MLP_MAX_LAYERS + 1], *gb[EBM_MLP_MAX_LAYERS + 1];
    float *vW[EBM_MLP_MAX_LAYERS + 1], *vb[EBM_MLP_MAX_LAYERS + 1];
    layout(m, tr->block, gW, gb);
    layout(m, tr->velocity, vW, vb);
    double loss_sum = 0.0, wrong = 0.0;
    double total = (double)tr->opts.epochs * (double)tr->steps_per_epoch;
    for (int64_t step = 0; step < tr->steps_per_epoch; step++) {
        double t = ((double)epoch * (double)tr->steps_per_epoch + (double)step) / total;
        float lr = (float)(tr->opts.lr + (tr->opts.lr_end - tr->opts.lr) * (t < 1.0 ? t : 1.0));
        for (int r = 0; r < B; r++) {
            int64_t i = tr->order[step * B + r];
            memcpy(tr->xb + (size_t)r * D, ds->x + (size_t)i * D, sizeof *tr->xb * D);
            tr->yb[r] = ds->y[i];
        }
        int64_t errors = 0;
        double loss = ebm_mlp_loss_grad(m, tr->xb, tr->yb, B, tr->scale, tr->block, &errors,
                                        &tr->s);
        tr->block[np] = (float)(loss * tr->scale);
        tr->block[np + 1] = (float)errors;
        EBM_TRY(ebm_par_allreduce_sum(tr->par, tr->block, np + 2));
        double penalty = 0.0;
        for (int k = 0; k <= L; k++)
            for (size_t e = 0; e < (size_t)m->sizes[k] * m->sizes[k + 1]; e++)
                penalty += 0.5 * tr->opts.l2 * (double)m->W[k][e] * m->W[k][e];
        double step_loss = tr->block[np] + penalty;
        if (!isfinite(step_loss))
            return EBM_FAIL(EBM_ERR_NUMERIC, "fine-tuning loss is %g at epoch %d step %lld; "
                            "lower --lr", step_loss, epoch + 1, (long long)step + 1);
        loss_sum += step_loss;
        wrong += tr->block[np + 1];
        /* descent: the momentum step takes -grad, and decays the weights only */
        for (size_t e = 0; e < np; e++) tr->block[e] = -tr->block[e];
        for (int k = 0; k <= L; k++) {
            size_t nw = (size_t)m->sizes[k] * m->sizes[k + 1], nb = (size_t)m->sizes[k + 1];
            ebm_momentum_update(m->W[k], vW[k], gW[k], nw, tr->opts.momentum, lr, tr->opts.l2);
            ebm_momentum_update(m->b[k], vb[k], gb[k], nb, tr->opts.momentum, lr, 0.0f);
        }
    }
    double rows = (double)tr->steps_per_epoch * tr->par->size * B;
    *loss_out = loss_sum / (double)tr->steps_per_epoch;
    *error_out = wrong / rows;
    return EBM_OK;
}
