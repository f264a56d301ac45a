/* The RBM trainer on a process grid (ebm/grid_train.h). */
#include "ebm/grid_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/stop.h"

int ebm_trainer_is_grid(const struct ebm_trainer *tr)
{
    return tr->grid.on;
}

ebm_status ebm_grid_train_layout(struct ebm_trainer *tr)
{
    const struct ebm_config *cfg = &tr->cfg;
    int pr, pc;
    tr->dpar = tr->par;
    EBM_TRY(ebm_grid_parse(cfg->parallel.grid, &pr, &pc));
    if (pr * pc == 1) return EBM_OK;
    ebm_status st = ebm_grid_init(&tr->grid.layout, tr->par->world, pr, pc);
    if (st != EBM_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", ebm_error_message());
        ebm_error_clear();
        return EBM_FAIL(EBM_ERR_INPUT, "%s: [parallel] grid = %s: %s", cfg->source,
                        cfg->parallel.grid, why);
    }
    tr->grid.on = 1;
    EBM_TRY(ebm_par_init(&tr->grid.data_par, tr->grid.layout.across_comm));
    tr->dpar = &tr->grid.data_par;
    return EBM_OK;
}

ebm_status ebm_grid_train_alloc(struct ebm_trainer *tr)
{
    int V = tr->V, B = tr->B;
    EBM_TRY(ebm_grid_rbm_init(&tr->grid.rbm, &tr->grid.layout, V, tr->H, B,
                              tr->cfg.train.persistent ? tr->C : 0, tr->cfg.parallel.block));
    EBM_ALLOC(tr->v_batch, (size_t)B * V);
    EBM_ALLOC(tr->pv_monitor, V); /* the visible marginals at the start */
    EBM_ALLOC(tr->order, tr->data.n > 0 ? tr->data.n : 1);
    /* PCD chains: full rows only when a checkpoint gathers or loads them */
    if (tr->cfg.train.persistent) EBM_ALLOC(tr->chains, (size_t)tr->C * V);
    return EBM_OK;
}

void ebm_grid_train_free(struct ebm_trainer *tr)
{
    if (!tr->grid.on) return;
    ebm_grid_rbm_free(&tr->grid.rbm);
    free(tr->chains);
    tr->chains = NULL;
    ebm_par_free(&tr->grid.data_par);
    ebm_grid_free(&tr->grid.layout);
    tr->grid.on = 0;
}

void ebm_grid_train_memory(const struct ebm_trainer *tr, struct ebm_memory_plan *plan)
{
    const struct ebm_config *cfg = &tr->cfg;
    struct ebm_rbm_shape s = { .V = tr->V, .H = tr->H, .B = tr->B, .C = tr->C,
                               .rows = tr->data.n, .valid_rows = tr->valid.n,
                               .persistent = cfg->train.persistent };
    ebm_memory_plan_grid(plan, &s, tr->grid.layout.rows, tr->grid.layout.cols,
                         cfg->parallel.block);
}

void ebm_grid_train_start(struct ebm_trainer *tr, const float *p)
{
    struct ebm_grid_rbm *m = &tr->grid.rbm;
    ebm_grid_rbm_init_params(m, tr->cfg.train.seed, 0.01f, p);
    if (m->C > 0) ebm_grid_rbm_fresh_chains(m, tr->cfg.train.seed);
}

ebm_status ebm_grid_train_update(struct ebm_trainer *tr, double lr)
{
    const struct ebm_config *cfg = &tr->cfg;
    struct ebm_grid_cd_opts o = {
        .k = cfg->train.k, .lr = (float)lr, .momentum = (float)cfg->train.momentum,
        .weight_decay = (float)cfg->train.weight_decay, .seed = cfg->train.seed,
        .step = tr->step, .stop_request = ebm_stop_requested(),
    };
    EBM_TRY(ebm_grid_rbm_cd(&tr->grid.rbm, tr->v_batch, &o));
    tr->stop_agreed = tr->grid.rbm.stop_agreed;
    return EBM_OK;
}

ebm_status ebm_grid_train_monitor(struct ebm_trainer *tr, const float *v, int rows,
                                  double sums[2])
{
    double s[3] = { 0 };
    EBM_TRY(ebm_grid_rbm_monitor(&tr->grid.rbm, v, rows, s));
    sums[0] += s[0];
    sums[1] += s[1];
    return EBM_OK;
}

int ebm_grid_train_params_finite(const struct ebm_trainer *tr)
{
    const struct ebm_grid_rbm *m = &tr->grid.rbm;
    double s = 0.0;
    for (size_t i = 0; i < (size_t)m->W.lld * (size_t)m->W.local_cols; i++) s += m->W.data[i];
    for (int i = 0; i < m->V + m->H; i++) s += m->bias[i];
    int finite = isfinite(s), all = finite;
    MPI_Allreduce(&finite, &all, 1, MPI_INT, MPI_MIN, tr->par->world);
    return all;
}

int ebm_grid_train_writes_rows(const struct ebm_trainer *tr)
{
    return !tr->grid.on || (tr->grid.layout.row == 0 && tr->grid.layout.col == 0);
}

/* One group's W (block-cyclic, replica 0 writes its blocks) and biases
 * (rank 0 writes; every rank holds them). */
static ebm_status save_group(struct ebm_trainer *tr, struct ebm_ckpt *ck, const char *group,
                             const struct ebm_dmatrix *W, const float *bias)
{
    char name[256];
    int64_t vd = tr->V, hd = tr->H;
    snprintf(name, sizeof name, "%s/W", group);
    EBM_TRY(ebm_ckpt_write_dmatrix(ck, name, W, tr->grid.layout.replica == 0));
    snprintf(name, sizeof name, "%s/vbias", group);
    EBM_TRY(ebm_ckpt_write_f32(ck, name, bias, 1, &vd));
    snprintf(name, sizeof name, "%s/hbias", group);
    return ebm_ckpt_write_f32(ck, name, bias + tr->V, 1, &hd);
}

static ebm_status load_group(struct ebm_trainer *tr, struct ebm_ckpt *ck, const char *group,
                             struct ebm_dmatrix *W, float *bias)
{
    char name[256];
    int64_t vd = tr->V, hd = tr->H;
    snprintf(name, sizeof name, "%s/W", group);
    EBM_TRY(ebm_ckpt_read_dmatrix(ck, name, W));
    snprintf(name, sizeof name, "%s/vbias", group);
    EBM_TRY(ebm_ckpt_read_f32(ck, name, bias, 1, &vd));
    snprintf(name, sizeof name, "%s/hbias", group);
    return ebm_ckpt_read_f32(ck, name, bias + tr->V, 1, &hd);
}

ebm_status ebm_grid_train_save(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    struct ebm_grid_rbm *m = &tr->grid.rbm;
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "type", "rbm"));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "n_visible", tr->V));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "n_hidden", tr->H));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "visible_units", "bernoulli"));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "hidden_units", "bernoulli"));
    EBM_TRY(save_group(tr, ck, "/model", &m->W, m->bias));
    EBM_TRY(save_group(tr, ck, "/optim/velocity", &m->velocity, m->bias_velocity));
    if (m->C > 0) EBM_TRY(ebm_dmatrix_to_global(&m->v, &tr->grid.layout, tr->chains, tr->V));
    return EBM_OK;
}

ebm_status ebm_grid_train_load(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    struct ebm_grid_rbm *m = &tr->grid.rbm;
    EBM_TRY(load_group(tr, ck, "/model", &m->W, m->bias));
    return load_group(tr, ck, "/optim/velocity", &m->velocity, m->bias_velocity);
}

void ebm_grid_train_chains_loaded(struct ebm_trainer *tr)
{
    if (tr->grid.rbm.C > 0) ebm_dmatrix_from_global(&tr->grid.rbm.v, tr->chains, tr->V);
}
