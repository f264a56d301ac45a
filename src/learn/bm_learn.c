/* model.type = bm in the one trainer: the fully visible Boltzmann machine's
 * blocks, chains, statistics, update, metrics and checkpoint tensors
 * (docs/bm.md). Where the time goes: the k sequential-Gibbs sweeps of the
 * chains (O(C D) exponentials plus O(D) per flip) and the two D x D
 * moment GEMMs of bm_statistics. */
#include "ebm/bm_learn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"
#include "ebm/units.h"

int ebm_trainer_is_bm(const struct ebm_trainer *tr)
{
    return strcmp(tr->cfg.model.type, "bm") == 0;
}

ebm_status ebm_bm_alloc(struct ebm_trainer *tr)
{
    int D = tr->V, B = tr->B, C = tr->C;
    int spin = tr->cfg.model.visible == EBM_UNIT_SPIN;
    EBM_TRY(bm_init(&tr->bm.model, D, spin));
    size_t block = bm_block_size(D);
    tr->grad_len = block + 1; /* the gradient, then the stop flag */
    EBM_ALLOC(tr->grad_block, tr->grad_len);
    bm_view(&tr->bm.grad, D, spin, tr->grad_block);
    tr->hmean = tr->grad_block + block; /* no hidden units: an empty slice */
    EBM_ALLOC(tr->velocity_block, block);
    bm_view(&tr->bm.velocity, D, spin, tr->velocity_block);
    EBM_ALLOC(tr->v_batch, (size_t)B * D);
    EBM_ALLOC(tr->pv_monitor, (size_t)B * D);
    EBM_ALLOC(tr->fe_monitor, B);
    EBM_ALLOC(tr->v_neg, (size_t)C * D);
    EBM_ALLOC(tr->order, tr->data.n > 0 ? tr->data.n : 1);
    EBM_TRY(bm_chains_init(&tr->bm.chains, D, C, (int64_t)tr->par->rank * C, tr->cfg.train.seed,
                           EBM_RNG_BM_CHAINS));
    if (tr->cfg.train.negative == EBM_NEGATIVE_EXACT) EBM_TRY(bm_exact_init(&tr->bm.exact, D));
    tr->chains = tr->cfg.train.persistent ? tr->v_neg : NULL;
    return EBM_OK;
}

void ebm_bm_free(struct ebm_trainer *tr)
{
    bm_free(&tr->bm.model);
    bm_chains_free(&tr->bm.chains);
    bm_exact_free(&tr->bm.exact);
}

void ebm_bm_start(struct ebm_trainer *tr, const float *p)
{
    struct ebm_rng init;
    ebm_rng_init(&init, tr->cfg.train.seed, 0, EBM_RNG_INIT);
    bm_init_params(&tr->bm.model, 0.01f, p, &init);
    if (tr->chains) bm_chains_random_init(&tr->bm.chains, tr->bm.model.spin, tr->chains);
}

void ebm_bm_statistics(struct ebm_trainer *tr, float inv_nd, float inv_nm)
{
    struct bm *m = &tr->bm.model;
    int B = tr->B, C = tr->C;
    if (tr->cfg.train.negative == EBM_NEGATIVE_EXACT) {
        /* Every rank enumerates the same model; 1/P each sums to one
         * exact model term. */
        bm_exact_moments(&tr->bm.exact, m);
        bm_statistics_exact(tr->v_batch, B, inv_nd, tr->bm.exact.xx, tr->bm.exact.mean,
                            1.0 / tr->par->size, &tr->bm.grad);
        return;
    }
    /* CD restarts the chains at the batch (C = B); PCD keeps them. */
    if (!tr->cfg.train.persistent)
        memcpy(tr->v_neg, tr->v_batch, sizeof(float) * (size_t)B * tr->V);
    bm_gibbs_sweep(m, &tr->bm.chains, tr->v_neg, tr->cfg.train.k);
    bm_statistics(tr->v_batch, B, tr->v_neg, C, inv_nd, inv_nm, &tr->bm.grad);
}

void ebm_bm_update(struct ebm_trainer *tr, double lr)
{
    const struct ebm_config *cfg = &tr->cfg;
    size_t D = (size_t)tr->V;
    float mom = (float)cfg->train.momentum, a = (float)lr;
    /* Each rank's gradient was symmetric, but an allreduce need not add
     * (i, j) and (j, i) in the same order (a ring over 3+ ranks starts
     * each chunk at another rank): make the sum symmetric again. */
    bm_symmetrize(&tr->bm.grad);
    /* Elementwise on the full matrix: equal (i, j) and (j, i) inputs give
     * equal outputs, so W stays symmetric with a zero diagonal. */
    ebm_momentum_update(tr->bm.model.W, tr->bm.velocity.W, tr->bm.grad.W, D * D, mom, a,
                        (float)cfg->train.weight_decay);
    ebm_momentum_update(tr->bm.model.bias, tr->bm.velocity.bias, tr->bm.grad.bias, D, mom, a,
                        0.0f);
}

void ebm_bm_monitor(struct ebm_trainer *tr, const float *v, int rows, double sums[2])
{
    const struct bm *m = &tr->bm.model;
    int D = tr->V;
    bm_energy(m, v, rows, tr->fe_monitor);
    bm_conditionals(m, v, rows, tr->pv_monitor);
    for (int r = 0; r < rows; r++) {
        double err = 0.0;
        for (int j = 0; j < D; j++) {
            /* the unit's conditional mean: p, or 2p - 1 for a spin */
            double p = tr->pv_monitor[(size_t)r * D + j];
            double d = (double)v[(size_t)r * D + j] - (m->spin ? 2.0 * p - 1.0 : p);
            err += d * d;
        }
        sums[0] += err;
        sums[1] += tr->fe_monitor[r];
    }
}

int ebm_bm_params_finite(const struct ebm_trainer *tr)
{
    double s = 0.0;
    size_t n = bm_block_size(tr->V);
    for (size_t i = 0; i < n; i++) s += tr->bm.model.block[i];
    return isfinite(s);
}

static ebm_status write_pair(struct ebm_ckpt *ck, const char *group, const struct bm *m)
{
    char name[256];
    int64_t wd[2] = { m->n_units, m->n_units }, bd = m->n_units;
    snprintf(name, sizeof name, "%s/W", group);
    EBM_TRY(ebm_ckpt_write_f32(ck, name, m->W, 2, wd));
    snprintf(name, sizeof name, "%s/bias", group);
    return ebm_ckpt_write_f32(ck, name, m->bias, 1, &bd);
}

static ebm_status read_pair(struct ebm_ckpt *ck, const char *group, struct bm *m)
{
    char name[256];
    int64_t wd[2] = { m->n_units, m->n_units }, bd = m->n_units;
    snprintf(name, sizeof name, "%s/W", group);
    EBM_TRY(ebm_ckpt_read_f32(ck, name, m->W, 2, wd));
    snprintf(name, sizeof name, "%s/bias", group);
    return ebm_ckpt_read_f32(ck, name, m->bias, 1, &bd);
}

ebm_status ebm_bm_save(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "type", "bm"));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "n_units", tr->V));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "spin", tr->bm.model.spin));
    EBM_TRY(write_pair(ck, "/model", &tr->bm.model));
    EBM_TRY(write_pair(ck, "/optim/velocity", &tr->bm.velocity));
    /* One counter per chain, rows by global chain index like the chains. */
    uint64_t *counters = malloc(sizeof *counters * (size_t)(tr->C > 0 ? tr->C : 1));
    /* every rank enters the collective write, or none */
    EBM_TRY(ebm_par_agree(tr->par, counters ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory "
                                                                "saving chain streams")));
    for (int r = 0; r < tr->C; r++) counters[r] = tr->bm.chains.rng[r].block;
    ebm_status st = ebm_ckpt_write_rows_u64(ck, "/train/bm_chain_rng", counters, tr->C, 1);
    free(counters);
    return st;
}

ebm_status ebm_bm_load(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    int64_t D, spin, dims[8];
    int ndim;
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/model", "n_units", &D));
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/model", "spin", &spin));
    if (D != tr->V)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint has n_units = %lld, but the data has %d "
                        "columns", ck->path, (long long)D, tr->V);
    if (spin != tr->bm.model.spin)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint holds a %s bm, but this run has "
                        "model.visible = %s", ck->path, spin ? "spin" : "bernoulli",
                        tr->bm.model.spin ? "spin" : "bernoulli");
    EBM_TRY(read_pair(ck, "/model", &tr->bm.model));
    EBM_TRY(read_pair(ck, "/optim/velocity", &tr->bm.velocity));
    if (bm_validate(&tr->bm.model) != EBM_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", ebm_error_message());
        ebm_error_clear();
        return EBM_FAIL(EBM_ERR_INPUT, "%s: /model: %s", ck->path, why);
    }
    /* This rank's chains are global rows [rank C, rank C + C); those the
     * checkpoint lacks (a resume on more ranks) keep their fresh streams. */
    EBM_TRY(ebm_ckpt_shape(ck, "/train/bm_chain_rng", &ndim, dims));
    if (ndim != 2 || dims[1] != 1)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: /train/bm_chain_rng is not one counter per chain",
                        ck->path);
    int64_t first = (int64_t)tr->par->rank * tr->C, have = dims[0] - first;
    have = have < 0 ? 0 : (have > tr->C ? tr->C : have);
    uint64_t *counters = malloc(sizeof *counters * (size_t)(have > 0 ? have : 1));
    ebm_status st = ebm_par_agree(tr->par, counters ? EBM_OK
                                                    : EBM_FAIL(EBM_ERR_NOMEM, "out of memory"));
    if (st == EBM_OK)
        st = ebm_ckpt_read_rows_u64(ck, "/train/bm_chain_rng", counters, have > 0 ? first : 0,
                                    have, 1);
    for (int64_t r = 0; st == EBM_OK && r < have; r++) tr->bm.chains.rng[r].block = counters[r];
    free(counters);
    return st;
}
