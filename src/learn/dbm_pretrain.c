/* Greedy pre-training of a DBM's layer pairs as modified RBMs
 * (ebm/dbm_pretrain.h). Every pair trains in the one trainer; the pairs
 * above the data are fed, batch by batch, the bottom trainer's batches
 * passed up through the pairs already trained. */
#include "ebm/dbm_pretrain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

float ebm_dbm_pretrain_weight_factor(int n_hidden_layers, int k)
{
    return k > 0 && k < n_hidden_layers - 1 ? 0.5f : 1.0f;
}

void ebm_dbm_pretrain_scales(int n_hidden_layers, int k, float *up, float *down)
{
    *up = k == 0 ? 2.0f : 1.0f;
    *down = k == n_hidden_layers - 1 ? 2.0f : 1.0f;
}

/* Layer pair k as an RBM config: CD-1 at the constant pre-training rate;
 * above the data, the inputs are probabilities taken as they come. */
static void pair_config(const struct ebm_config *base, int k, int n_hidden, struct ebm_config *out)
{
    *out = *base;
    snprintf(out->model.type, sizeof out->model.type, "rbm");
    memset(out->model.layers, 0, sizeof out->model.layers);
    out->model.hidden = n_hidden;
    out->train.seed = base->train.seed + 1 + (uint64_t)k;
    out->train.epochs = base->train.pretrain_epochs;
    out->train.lr = base->train.pretrain_lr;
    out->train.lr_schedule = EBM_LR_CONSTANT;
    out->train.k = 1;
    out->train.persistent = false;
    out->train.centering = false;
    out->train.eval_every = 0;
    out->train.pretrain_epochs = 0;
    if (k > 0) {
        out->data.binarize = EBM_BINARIZE_NONE;
        memset(out->data.valid_split, 0, sizeof out->data.valid_split);
    }
}

struct pretrain {
    const struct ebm_trainer *dbm;
    int L, B;
    struct ebm_trainer pair[EBM_DBM_MAX_HIDDEN];
    int started;                        /* pairs whose trainer exists */
    float *up[EBM_DBM_MAX_HIDDEN];      /* (B, n_{k+1}): p(h_{k+1} | below) of a batch */
};

/* x (rows, n_0) passed up through pairs 0 .. k-1; returns the (rows, n_k) result. */
static const float *pass_up(struct pretrain *p, const float *x, int rows, int k)
{
    for (int j = 0; j < k; j++) {
        rbm_hidden_probs(&p->pair[j].model, x, rows, p->up[j]);
        x = p->up[j];
    }
    return x;
}

/* The mean of p(h_k | below) over every rank's rows (raw intensities of
 * the data, not binarised): the visible marginals pair k starts from.
 * sum (n_k + 1) comes zeroed. Collective. */
static ebm_status input_marginals(struct pretrain *p, int k, double *sum, float *out)
{
    const struct ebm_trainer *t0 = &p->pair[0];
    int n = p->dbm->dbm.model.sizes[k];
    for (int64_t r0 = 0; r0 < t0->data.n; r0 += p->B) {
        int rows = (int)(t0->data.n - r0 < p->B ? t0->data.n - r0 : p->B);
        const float *h = pass_up(p, t0->data.x + r0 * t0->V, rows, k);
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < n; i++) sum[i] += h[(size_t)r * n + i];
    }
    sum[n] = (double)t0->data.n;
    EBM_TRY(ebm_par_allreduce_sum_d(t0->par, sum, (size_t)n + 1));
    for (int i = 0; i < n; i++) out[i] = (float)(sum[i] / (sum[n] > 0 ? sum[n] : 1));
    return EBM_OK;
}

static ebm_status start_pair(struct pretrain *p, int k)
{
    const struct dbm *m = &p->dbm->dbm.model;
    const struct ebm_par *par = p->dbm->par;
    struct ebm_config cfg;
    pair_config(&p->dbm->cfg, k, m->sizes[k + 1], &cfg);
    struct ebm_trainer *t = &p->pair[k];
    p->started = k + 1; /* freed by the caller, however far init gets */
    /* Allocations first, agreed, so that no rank skips a collective below. */
    float *marginals = NULL;
    double *sum = NULL;
    if (k < p->L - 1) p->up[k] = malloc(sizeof(float) * (size_t)p->B * m->sizes[k + 1]);
    if (k > 0) {
        marginals = malloc(sizeof(float) * (size_t)m->sizes[k]);
        sum = calloc((size_t)m->sizes[k] + 1, sizeof(double));
    }
    int missing = (k < p->L - 1 && !p->up[k]) || (k > 0 && (!marginals || !sum));
    ebm_status st = ebm_par_agree(par, missing ? EBM_FAIL(EBM_ERR_NOMEM, "out of memory "
                                  "starting pre-training pair %d", k) : EBM_OK);
    if (st == EBM_OK && k == 0) st = ebm_trainer_init(t, &cfg, par);
    if (st == EBM_OK && k > 0) {
        st = ebm_par_agree(par, input_marginals(p, k, sum, marginals));
        if (st == EBM_OK)
            st = ebm_trainer_init_fed(t, &cfg, par, m->sizes[k], p->pair[0].steps_per_epoch,
                                      marginals);
    }
    free(marginals);
    free(sum);
    EBM_TRY(st);
    t->quiet = 1;
    ebm_dbm_pretrain_scales(p->L, k, &t->model.up_scale, &t->model.down_scale);
    return EBM_OK;
}

/* One epoch of pair k: every batch of the bottom trainer's order for
 * this pass, passed up to layer k, then the pair's update. */
static ebm_status train_epoch(struct pretrain *p, int k, int epoch)
{
    struct ebm_trainer *t0 = &p->pair[0], *t = &p->pair[k];
    ebm_trainer_shuffle(t0, (int64_t)k * p->dbm->cfg.train.pretrain_epochs + epoch);
    for (int64_t s = 0; s < t0->steps_per_epoch; s++) {
        ebm_trainer_load_batch(t0, s);
        if (k > 0) ebm_trainer_load_rows(t, pass_up(p, t0->v_batch, p->B, k));
        EBM_TRY(ebm_trainer_update(t));
        if (t->stop_agreed)
            return EBM_FAIL(EBM_ERR_STOPPED, "stopped on request during pre-training of layer "
                            "pair %d; no checkpoint was written, so a rerun starts over", k);
    }
    t->epoch++;
    return EBM_OK;
}

void ebm_dbm_from_pairs(struct dbm *m, const struct rbm *pairs)
{
    int L = m->n_hidden_layers;
    for (int k = 0; k < L; k++)
        EBM_ASSERT(pairs[k].n_visible == m->sizes[k] && pairs[k].n_hidden == m->sizes[k + 1]);
    for (int k = 0; k < L; k++) {
        float f = ebm_dbm_pretrain_weight_factor(L, k);
        size_t n = (size_t)m->sizes[k] * m->sizes[k + 1];
        for (size_t i = 0; i < n; i++) m->W[k][i] = f * pairs[k].W[i];
    }
    memcpy(m->b[0], pairs[0].vbias, sizeof(float) * (size_t)m->sizes[0]);
    for (int k = 1; k < L; k++)
        for (int i = 0; i < m->sizes[k]; i++)
            m->b[k][i] = 0.5f * (pairs[k - 1].hbias[i] + pairs[k].vbias[i]);
    memcpy(m->b[L], pairs[L - 1].hbias, sizeof(float) * (size_t)m->sizes[L]);
}

static ebm_status pretrain_pairs(struct pretrain *p, struct ebm_trainer *tr)
{
    const struct dbm *m = &tr->dbm.model;
    int E = tr->cfg.train.pretrain_epochs, say = tr->par->rank == 0 && !tr->quiet;
    for (int k = 0; k < p->L; k++) {
        EBM_TRY(start_pair(p, k));
        struct ebm_trainer *t = &p->pair[k];
        if (say)
            printf("pre-training layer pair %d: rbm %dx%d, input x%g up, x%g down, %d epochs, "
                   "lr %g, seed %llu\n", k, m->sizes[k], m->sizes[k + 1], t->model.up_scale,
                   t->model.down_scale, E, t->cfg.train.lr, (unsigned long long)t->cfg.train.seed);
        for (int e = 0; e < E; e++) {
            double t0 = now();
            EBM_TRY(train_epoch(p, k, e));
            struct ebm_epoch_metrics met;
            EBM_TRY(ebm_trainer_evaluate(t, &met));
            if (say) {
                printf("  pair %d epoch %3d/%d  recon %8.3f  %6.1f s\n", k, e + 1, E,
                       met.recon_train, now() - t0);
                fflush(stdout);
            }
        }
    }
    struct rbm pairs[EBM_DBM_MAX_HIDDEN];
    for (int k = 0; k < p->L; k++) pairs[k] = p->pair[k].model;
    ebm_dbm_from_pairs(&tr->dbm.model, pairs);
    return EBM_OK;
}

ebm_status ebm_dbm_pretrain(struct ebm_trainer *tr)
{
    struct pretrain p = { .dbm = tr, .L = tr->dbm.model.n_hidden_layers, .B = tr->B };
    ebm_status st = pretrain_pairs(&p, tr);
    for (int k = 0; k < p.started; k++) {
        ebm_trainer_free(&p.pair[k]);
        free(p.up[k]);
    }
    return st;
}
