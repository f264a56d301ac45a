/* model.type = dbm in the one trainer (docs/dbm.md). Where the time goes:
 * the mean-field sweeps of the positive phase (two GEMMs a layer a sweep)
 * and the Gibbs sweeps of the chains (the same shapes at C rows). */
#include "ebm/dbm_learn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"

int ebm_trainer_is_dbm(const struct ebm_trainer *tr)
{
    return strcmp(tr->cfg.model.type, "dbm") == 0;
}

int ebm_dbm_layers(const struct ebm_config *cfg, int *sizes)
{
    int n = 0;
    char why[256];
    if (!ebm_parse_int_list(cfg->model.layers, sizes, EBM_DBM_MAX_HIDDEN + 1, &n, why, sizeof why))
        return 0;
    return n - 1;
}

static int widest(const struct dbm *m)
{
    int w = 0;
    for (int k = 0; k <= m->n_hidden_layers; k++) w = m->sizes[k] > w ? m->sizes[k] : w;
    return w;
}

ebm_status ebm_dbm_alloc(struct ebm_trainer *tr)
{
    int sizes[EBM_DBM_MAX_HIDDEN + 1], B = tr->B, C = tr->C;
    int L = ebm_dbm_layers(&tr->cfg, sizes);
    if (L < 2 || sizes[0] != tr->V)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: [model] layers = '%s' starts with %d units, but %s "
                        "/%s has %d columns", tr->cfg.source, tr->cfg.model.layers, sizes[0],
                        tr->cfg.data.path, tr->cfg.data.split, tr->V);
    struct dbm *m = &tr->dbm.model;
    EBM_TRY(dbm_init(m, L, sizes));
    tr->grad_len = m->block_len + 1; /* the gradient, then the stop flag */
    EBM_ALLOC(tr->grad_block, tr->grad_len);
    dbm_view_like(&tr->dbm.grad, m, tr->grad_block);
    tr->hmean = tr->grad_block + m->block_len;
    EBM_ALLOC(tr->velocity_block, m->block_len);
    dbm_view_like(&tr->dbm.velocity, m, tr->velocity_block);
    EBM_ALLOC(tr->v_batch, (size_t)B * tr->V);
    EBM_ALLOC(tr->pv_monitor, (size_t)B * tr->V);
    EBM_ALLOC(tr->fe_monitor, B);
    EBM_ALLOC(tr->v_neg, (size_t)C * tr->V);
    EBM_ALLOC(tr->order, tr->data.n > 0 ? tr->data.n : 1);
    tr->dbm.data.x[0] = tr->v_batch;
    tr->dbm.chains.x[0] = tr->v_neg;
    for (int k = 1; k <= L; k++) {
        EBM_ALLOC(tr->dbm.data.x[k], (size_t)B * sizes[k]);
        EBM_ALLOC(tr->dbm.chains.x[k], (size_t)C * sizes[k]);
    }
    EBM_ALLOC(tr->dbm.in, (size_t)(B > C ? B : C) * widest(m));
    tr->chains = tr->v_neg;
    tr->H = sizes[1];
    return EBM_OK;
}

void ebm_dbm_free(struct ebm_trainer *tr)
{
    for (int k = 1; k <= EBM_DBM_MAX_HIDDEN; k++) {
        free(tr->dbm.data.x[k]);
        free(tr->dbm.chains.x[k]);
    }
    free(tr->dbm.in);
    dbm_free(&tr->dbm.model);
    memset(&tr->dbm, 0, sizeof tr->dbm);
}

/* Random binary states for rows [0, n) of every layer's chains. */
static void random_chains(struct ebm_trainer *tr, int64_t first_row, int64_t n,
                          struct ebm_rng *rng)
{
    const struct dbm *m = &tr->dbm.model;
    for (int k = 0; k <= m->n_hidden_layers; k++) {
        float *x = tr->dbm.chains.x[k] + first_row * m->sizes[k];
        size_t len = (size_t)n * m->sizes[k];
        ebm_rng_uniform(rng, x, len);
        for (size_t i = 0; i < len; i++) x[i] = x[i] < 0.5f ? 1.0f : 0.0f;
    }
}

void ebm_dbm_start(struct ebm_trainer *tr, const float *p)
{
    struct dbm *m = &tr->dbm.model;
    struct ebm_rng init;
    ebm_rng_init(&init, tr->cfg.train.seed, 0, EBM_RNG_INIT);
    ebm_rng_normal(&init, m->block, m->block_len);
    for (size_t i = 0; i < m->block_len; i++) m->block[i] *= 0.01f;
    for (int k = 0; k <= m->n_hidden_layers; k++)
        for (int i = 0; i < m->sizes[k]; i++) {
            double q = k == 0 && p ? p[i] : 0.5;
            q = q < 1e-3 ? 1e-3 : (q > 1.0 - 1e-3 ? 1.0 - 1e-3 : q);
            m->b[k][i] = k == 0 ? (float)log(q / (1.0 - q)) : 0.0f;
        }
    random_chains(tr, 0, tr->C, &tr->rng_sample);
}

void ebm_dbm_statistics(struct ebm_trainer *tr, float inv_nd, float inv_nm)
{
    const struct ebm_config *cfg = &tr->cfg;
    const struct dbm *m = &tr->dbm.model;
    tr->dbm.mf_sweeps += dbm_mean_field(m, &tr->dbm.data, tr->B, cfg->train.mean_field_tol,
                                        cfg->train.mean_field_steps, tr->dbm.in);
    tr->dbm.mf_batches++;
    dbm_gibbs(m, &tr->dbm.chains, tr->C, cfg->train.k, tr->dbm.in, &tr->rng_sample);
    dbm_statistics(&tr->dbm.data, tr->B, &tr->dbm.chains, tr->C, inv_nd, inv_nm, &tr->dbm.grad);
    if (cfg->train.sparsity_cost > 0) /* this rank's share of the target term: 1/P */
        dbm_sparsity(&tr->dbm.data, tr->B, inv_nd, 1.0f / (float)tr->par->size,
                     (float)cfg->train.sparsity_target, (float)cfg->train.sparsity_cost,
                     &tr->dbm.grad);
}

void ebm_dbm_update(struct ebm_trainer *tr, double lr)
{
    const struct ebm_config *cfg = &tr->cfg;
    struct dbm *m = &tr->dbm.model, *g = &tr->dbm.grad, *v = &tr->dbm.velocity;
    float mom = (float)cfg->train.momentum, a = (float)lr, wd = (float)cfg->train.weight_decay;
    for (int k = 0; k < m->n_hidden_layers; k++)
        ebm_momentum_update(m->W[k], v->W[k], g->W[k],
                            (size_t)m->sizes[k] * m->sizes[k + 1], mom, a, wd);
    for (int k = 0; k <= m->n_hidden_layers; k++)
        ebm_momentum_update(m->b[k], v->b[k], g->b[k], (size_t)m->sizes[k], mom, a, 0.0f);
}

void ebm_dbm_monitor(struct ebm_trainer *tr, const float *v, int rows, double sums[2])
{
    const struct dbm *m = &tr->dbm.model;
    const struct ebm_config *cfg = &tr->cfg;
    struct dbm_state s = tr->dbm.data;
    s.x[0] = (float *)v; /* v is v_batch: the data state's own first layer */
    dbm_mean_field(m, &s, rows, cfg->train.mean_field_tol, cfg->train.mean_field_steps,
                   tr->dbm.in);
    dbm_bound_plus_log_z(m, &s, rows, tr->fe_monitor);
    /* p(v | mu_1): the visible layer's input from the first hidden layer */
    dbm_layer_input(m, &s, 0, rows, tr->pv_monitor);
    ebm_sigmoid_bias(tr->pv_monitor, m->b[0], rows, m->sizes[0]);
    for (int r = 0; r < rows; r++) {
        double err = 0.0;
        for (int i = 0; i < m->sizes[0]; i++) {
            double d = (double)v[(size_t)r * m->sizes[0] + i] -
                       tr->pv_monitor[(size_t)r * m->sizes[0] + i];
            err += d * d;
        }
        sums[0] += err;
        sums[1] -= tr->fe_monitor[r];
    }
}

int ebm_dbm_params_finite(const struct ebm_trainer *tr)
{
    double s = 0.0;
    for (size_t i = 0; i < tr->dbm.model.block_len; i++) s += tr->dbm.model.block[i];
    return isfinite(s);
}

static ebm_status write_dbm(struct ebm_ckpt *ck, const char *group, const struct dbm *m)
{
    char name[256];
    for (int k = 0; k < m->n_hidden_layers; k++) {
        int64_t wd[2] = { m->sizes[k], m->sizes[k + 1] };
        snprintf(name, sizeof name, "%s/layers/%d/W", group, k);
        EBM_TRY(ebm_ckpt_write_f32(ck, name, m->W[k], 2, wd));
    }
    for (int k = 0; k <= m->n_hidden_layers; k++) {
        int64_t bd = m->sizes[k];
        snprintf(name, sizeof name, "%s/biases/%d", group, k);
        EBM_TRY(ebm_ckpt_write_f32(ck, name, m->b[k], 1, &bd));
    }
    return EBM_OK;
}

static ebm_status read_dbm(struct ebm_ckpt *ck, const char *group, struct dbm *m)
{
    char name[256];
    for (int k = 0; k < m->n_hidden_layers; k++) {
        int64_t wd[2] = { m->sizes[k], m->sizes[k + 1] };
        snprintf(name, sizeof name, "%s/layers/%d/W", group, k);
        EBM_TRY(ebm_ckpt_read_f32(ck, name, m->W[k], 2, wd));
    }
    for (int k = 0; k <= m->n_hidden_layers; k++) {
        int64_t bd = m->sizes[k];
        snprintf(name, sizeof name, "%s/biases/%d", group, k);
        EBM_TRY(ebm_ckpt_read_f32(ck, name, m->b[k], 1, &bd));
    }
    return EBM_OK;
}

ebm_status ebm_dbm_save(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    const struct dbm *m = &tr->dbm.model;
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "type", "dbm"));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "layers", tr->cfg.model.layers));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "n_hidden_layers", m->n_hidden_layers));
    EBM_TRY(write_dbm(ck, "/model", m));
    EBM_TRY(write_dbm(ck, "/optim/velocity", &tr->dbm.velocity));
    char name[64];
    for (int k = 1; k <= m->n_hidden_layers; k++) {
        snprintf(name, sizeof name, "/train/dbm_chains/%d", k);
        EBM_TRY(ebm_ckpt_write_rows_f32(ck, name, tr->dbm.chains.x[k], tr->C, m->sizes[k]));
    }
    return EBM_OK;
}

ebm_status ebm_dbm_load(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    struct dbm *m = &tr->dbm.model;
    char *layers = NULL;
    EBM_TRY(ebm_ckpt_read_attr_str(ck, "/model", "layers", &layers));
    int same = strcmp(layers, tr->cfg.model.layers) == 0;
    ebm_status st = same ? EBM_OK
                         : EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint has model.layers = '%s', but "
                                    "this run has '%s'", ck->path, layers, tr->cfg.model.layers);
    free(layers);
    EBM_TRY(st);
    EBM_TRY(read_dbm(ck, "/model", m));
    EBM_TRY(read_dbm(ck, "/optim/velocity", &tr->dbm.velocity));
    /* Every rank reads its rows of the saved chains; rows the checkpoint
     * lacks (a resume on more ranks) start random from the elastic stream. */
    int ndim;
    int64_t dims[8];
    EBM_TRY(ebm_ckpt_shape(ck, "/train/dbm_chains/1", &ndim, dims));
    int64_t first = (int64_t)tr->par->rank * tr->C, have = dims[0] - first;
    have = have < 0 ? 0 : (have > tr->C ? tr->C : have);
    char name[64];
    for (int k = 1; k <= m->n_hidden_layers; k++) {
        snprintf(name, sizeof name, "/train/dbm_chains/%d", k);
        EBM_TRY(ebm_ckpt_read_rows_f32(ck, name, tr->dbm.chains.x[k], have > 0 ? first : 0, have,
                                       m->sizes[k]));
    }
    if (have < tr->C) {
        struct ebm_rng rng;
        ebm_rng_init(&rng, tr->cfg.train.seed, (uint32_t)tr->par->rank, EBM_RNG_FRESH_CHAINS);
        rng.block = (uint64_t)1 << 40; /* clear of the visible rows' draws */
        random_chains(tr, have, tr->C - have, &rng);
    }
    return EBM_OK;
}
