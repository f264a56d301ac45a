/* Multinomial logistic regression: the model's numerics and its
 * data-parallel gradient descent (docs/classify.md). */
#include "ebm/logreg.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"
#include "ebm/rng.h"

ebm_status ebm_logreg_init(struct ebm_logreg *m, int dim, int classes)
{
    memset(m, 0, sizeof *m);
    EBM_ASSERT(dim > 0 && classes > 0);
    m->dim = dim;
    m->classes = classes;
    m->n_params = (size_t)dim * (size_t)classes + (size_t)classes;
    EBM_ALLOC(m->params, m->n_params);
    m->W = m->params;
    m->b = m->params + (size_t)dim * (size_t)classes;
    return EBM_OK;
}

void ebm_logreg_free(struct ebm_logreg *m)
{
    if (!m) return;
    free(m->params);
    memset(m, 0, sizeof *m);
}

ebm_status ebm_logreg_scratch_init(struct ebm_logreg_scratch *s, const struct ebm_logreg *m,
                                   int max_rows)
{
    memset(s, 0, sizeof *s);
    EBM_ASSERT(max_rows > 0);
    s->max_rows = max_rows;
    s->classes = m->classes;
    EBM_ALLOC(s->prob, (size_t)max_rows * (size_t)m->classes);
    return EBM_OK;
}

void ebm_logreg_scratch_free(struct ebm_logreg_scratch *s)
{
    if (!s) return;
    free(s->prob);
    memset(s, 0, sizeof *s);
}

void ebm_logreg_logits(const struct ebm_logreg *m, const float *x, int n, float *logits)
{
    int D = m->dim, K = m->classes;
    /* The time goes here: (n, D) x (D, K). */
    ebm_gemm(false, false, n, K, D, 1.0f, x, D, m->W, K, 0.0f, logits, K);
    for (int r = 0; r < n; r++)
        for (int k = 0; k < K; k++) logits[(size_t)r * K + k] += m->b[k];
}

static int argmax(const float *z, int K)
{
    int best = 0;
    for (int k = 1; k < K; k++)
        if (z[k] > z[best]) best = k;
    return best;
}

double ebm_logreg_loss_grad(const struct ebm_logreg *m, const float *x, const int32_t *y, int n,
                            float scale, float *grad, int64_t *errors,
                            struct ebm_logreg_scratch *s)
{
    EBM_ASSERT(n >= 0 && n <= s->max_rows && s->classes == m->classes);
    int D = m->dim, K = m->classes;
    float *restrict p = s->prob;
    if (n == 0) {
        memset(grad, 0, sizeof *grad * m->n_params);
        return 0.0;
    }
    ebm_logreg_logits(m, x, n, p);
    double loss = 0.0;
    int64_t wrong = 0;
    for (int r = 0; r < n; r++) {
        float *restrict z = p + (size_t)r * K;
        int yr = y[r];
        EBM_ASSERT(yr >= 0 && yr < K);
        int top = argmax(z, K);
        wrong += top != yr;
        /* Shifting by the maximum keeps exp() in (0, 1]: the loss
         * log sum_k exp(z_k - z_max) - (z_y - z_max) cannot overflow, and
         * the sum is at least 1, so the log cannot see 0. */
        float zmax = z[top], zy = z[yr] - zmax, sum = 0.0f;
        for (int k = 0; k < K; k++) {
            z[k] = expf(z[k] - zmax);
            sum += z[k];
        }
        loss += log((double)sum) - (double)zy;
        /* d loss / d z_k = softmax_k - [k == y]. */
        float inv = 1.0f / sum;
        for (int k = 0; k < K; k++) z[k] *= inv * scale;
        z[yr] -= scale;
    }
    /* grad_W (D, K) = x^T (D, n) dlogits (n, K); grad_b = column sums. */
    ebm_gemm(true, false, D, K, n, 1.0f, x, D, p, K, 0.0f, grad, K);
    float *gb = grad + (size_t)D * K;
    memset(gb, 0, sizeof *gb * (size_t)K);
    ebm_add_column_sums(p, n, K, 1.0f, gb);
    if (errors) *errors += wrong;
    return loss;
}

double ebm_logreg_loss_grad_ref(const struct ebm_logreg *m, const float *x, const int32_t *y,
                                int n, double scale, double *grad, int64_t *errors)
{
    int D = m->dim, K = m->classes;
    memset(grad, 0, sizeof *grad * m->n_params);
    double *gb = grad + (size_t)D * K;
    double loss = 0.0;
    double *z = malloc(sizeof *z * (size_t)K);
    EBM_ASSERT(z);
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * D;
        double zmax = -INFINITY, sum = 0.0;
        int top = 0;
        for (int k = 0; k < K; k++) {
            z[k] = m->b[k];
            for (int d = 0; d < D; d++) z[k] += (double)xr[d] * m->W[(size_t)d * K + k];
            if (z[k] > zmax) { zmax = z[k]; top = k; }
        }
        for (int k = 0; k < K; k++) sum += exp(z[k] - zmax);
        loss += log(sum) - (z[y[r]] - zmax);
        if (errors) *errors += top != y[r];
        for (int k = 0; k < K; k++) {
            double delta = (exp(z[k] - zmax) / sum - (k == y[r])) * scale;
            gb[k] += delta;
            for (int d = 0; d < D; d++) grad[(size_t)d * K + k] += (double)xr[d] * delta;
        }
    }
    free(z);
    return loss;
}

void ebm_logreg_add_l2(const struct ebm_logreg *m, float *grad, float l2)
{
    size_t n = (size_t)m->dim * (size_t)m->classes;
    for (size_t i = 0; i < n; i++) grad[i] += l2 * m->W[i];
}

double ebm_logreg_penalty(const struct ebm_logreg *m, double l2)
{
    size_t n = (size_t)m->dim * (size_t)m->classes;
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)m->W[i] * m->W[i];
    return 0.5 * l2 * ss;
}

void ebm_logreg_sgd(struct ebm_logreg *m, const float *grad, float lr)
{
    float *restrict w = m->params;
    for (size_t i = 0; i < m->n_params; i++) w[i] -= lr * grad[i];
}

void ebm_logreg_predict(const struct ebm_logreg *m, const float *x, int n, int32_t *pred,
                        struct ebm_logreg_scratch *s)
{
    EBM_ASSERT(n >= 0 && n <= s->max_rows && s->classes == m->classes);
    if (n == 0) return;
    ebm_logreg_logits(m, x, n, s->prob);
    for (int r = 0; r < n; r++) pred[r] = argmax(s->prob + (size_t)r * m->classes, m->classes);
}

void ebm_logreg_confusion(const int32_t *y, const int32_t *pred, int n, int classes,
                          int64_t *counts)
{
    for (int r = 0; r < n; r++) {
        EBM_ASSERT(y[r] >= 0 && y[r] < classes && pred[r] >= 0 && pred[r] < classes);
        counts[(size_t)y[r] * classes + pred[r]]++;
    }
}

/* ---- data-parallel training ------------------------------------------------------ */

ebm_status ebm_logreg_trainer_init(struct ebm_logreg_trainer *tr, const struct ebm_logreg *m,
                                   const struct ebm_par *par, const struct ebm_dataset *data,
                                   const struct ebm_logreg_opts *opts)
{
    memset(tr, 0, sizeof *tr);
    EBM_ASSERT(data->y && data->dim == m->dim && opts->epochs >= 1 && opts->batch >= 0);
    tr->par = par;
    tr->data = data;
    tr->opts = *opts;
    tr->n_total = data->n_total;
    /* The smallest shard, agreed: -max(-n). */
    double neg_n = -(double)data->n;
    EBM_TRY(ebm_par_max_d(par, &neg_n, 1));
    int64_t min_n = (int64_t)-neg_n;
    ebm_status st = EBM_OK;
    if (opts->batch == 0) {
        if (tr->n_total < 1 || data->n > INT32_MAX)
            st = EBM_FAIL(EBM_ERR_INPUT, "full-batch training needs 1 to %d rows per rank "
                          "(this rank holds %lld)", INT32_MAX, (long long)data->n);
        tr->rows_per_step = (int)data->n;
        tr->steps_per_epoch = 1;
        tr->scale = 1.0f / (float)tr->n_total;
    } else {
        if (min_n < opts->batch)
            st = EBM_FAIL(EBM_ERR_INPUT, "--batch-size %d is larger than the smallest shard "
                          "(%lld rows over %d ranks)", opts->batch, (long long)min_n, par->size);
        tr->rows_per_step = opts->batch;
        tr->steps_per_epoch = min_n / (opts->batch > 0 ? opts->batch : 1);
        /* Each rank's share of the global mean, so lr means the same at any
         * rank count (as the RBM trainer: 1 / (P B)). */
        tr->scale = 1.0f / ((float)par->size * (float)opts->batch);
    }
    EBM_TRY(ebm_par_agree(par, st));
    int rows = tr->rows_per_step > 0 ? tr->rows_per_step : 1;
    st = ebm_logreg_scratch_init(&tr->s, m, rows);
    if (st == EBM_OK) {
        tr->block = calloc(m->n_params + 2, sizeof *tr->block);
        if (opts->batch > 0) {
            tr->xb = malloc(sizeof *tr->xb * (size_t)opts->batch * (size_t)m->dim);
            tr->yb = malloc(sizeof *tr->yb * (size_t)opts->batch);
            tr->order = malloc(sizeof *tr->order * (size_t)data->n);
        }
        if (!tr->block || (opts->batch > 0 && (!tr->xb || !tr->yb || !tr->order)))
            st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory for the classifier's training buffers "
                          "on rank %d", par->rank);
    }
    st = ebm_par_agree(par, st);
    if (st != EBM_OK) ebm_logreg_trainer_free(tr);
    return st;
}

void ebm_logreg_trainer_free(struct ebm_logreg_trainer *tr)
{
    if (!tr) return;
    ebm_logreg_scratch_free(&tr->s);
    free(tr->block);
    free(tr->xb);
    free(tr->yb);
    free(tr->order);
    memset(tr, 0, sizeof *tr);
}

ebm_status ebm_logreg_train_epoch(struct ebm_logreg_trainer *tr, struct ebm_logreg *m, int epoch,
                                  struct ebm_logreg_epoch *out)
{
    const struct ebm_dataset *ds = tr->data;
    size_t np = m->n_params, D = (size_t)m->dim;
    int B = tr->rows_per_step;
    if (tr->order) {
        /* One stream per (seed, rank, epoch): no state to keep (as trainer.c). */
        struct ebm_rng shuffle;
        ebm_rng_init(&shuffle, tr->opts.seed, (uint32_t)tr->par->rank, EBM_RNG_SHUFFLE);
        shuffle.block = (uint64_t)epoch << 40;
        for (int64_t i = 0; i < ds->n; i++) tr->order[i] = i;
        ebm_rng_shuffle(&shuffle, tr->order, ds->n);
    }
    double global_rows = tr->order ? (double)tr->par->size * B : (double)tr->n_total;
    double loss_sum = 0.0, wrong = 0.0;
    for (int64_t step = 0; step < tr->steps_per_epoch; step++) {
        const float *x = ds->x;
        const int32_t *y = ds->y;
        if (tr->order) {
            for (int r = 0; r < B; r++) {
                int64_t i = tr->order[step * B + r];
                memcpy(tr->xb + (size_t)r * D, ds->x + (size_t)i * D, sizeof *tr->xb * D);
                tr->yb[r] = ds->y[i];
            }
            x = tr->xb;
            y = tr->yb;
        }
        int64_t errors = 0;
        double loss = ebm_logreg_loss_grad(m, x, y, B, tr->scale, tr->block, &errors, &tr->s);
        /* The step's loss and error count ride in the same allreduce. */
        tr->block[np] = (float)(loss * tr->scale);
        tr->block[np + 1] = (float)errors;
        EBM_TRY(ebm_par_allreduce_sum(tr->par, tr->block, np + 2));
        double step_loss = tr->block[np] + ebm_logreg_penalty(m, tr->opts.l2);
        if (!isfinite(step_loss))
            return EBM_FAIL(EBM_ERR_NUMERIC, "classifier loss is %g at epoch %d step %lld; "
                            "lower --lr", step_loss, epoch + 1, (long long)step + 1);
        loss_sum += step_loss;
        wrong += tr->block[np + 1];
        ebm_logreg_add_l2(m, tr->block, tr->opts.l2);
        ebm_logreg_sgd(m, tr->block, tr->opts.lr);
    }
    out->steps = tr->steps_per_epoch;
    out->rows = (int64_t)(global_rows * (double)tr->steps_per_epoch);
    out->loss = loss_sum / (double)tr->steps_per_epoch;
    out->error = wrong / ((double)tr->steps_per_epoch * global_rows);
    return EBM_OK;
}
