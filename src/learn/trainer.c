#include "ebm/trainer.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ebm/bm_learn.h"
#include "ebm/dbm_learn.h"
#include "ebm/cd.h"
#include "ebm/evaluate.h"
#include "ebm/grid_train.h"
#include "ebm/kernels.h"
#include "ebm/memory_plan.h"
#include "ebm/metrics.h"
#include "ebm/optim.h"
#include "ebm/stop.h"
#include "ebm/png.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ebm_status alloc_buffers(struct ebm_trainer *tr)
{
    int V = tr->V, H = tr->H, B = tr->B, C = tr->C;
    if (ebm_trainer_is_bm(tr)) return ebm_bm_alloc(tr);
    if (ebm_trainer_is_dbm(tr)) return ebm_dbm_alloc(tr);
    if (ebm_trainer_is_grid(tr)) return ebm_grid_train_alloc(tr);
    EBM_TRY(rbm_init_typed(&tr->model, V, H, (enum ebm_unit_type)tr->cfg.model.visible,
                           (enum ebm_unit_type)tr->cfg.model.hidden_type));
    rbm_set_log_sigma_min(&tr->model, (float)log(tr->cfg.model.sigma_min));
    if (tr->cfg.model.labels > 0) EBM_TRY(rbm_set_labels(&tr->model, tr->cfg.model.labels));
    size_t block = tr->model.block_len;
    tr->grad_len = block + (size_t)H + 1;
    EBM_ALLOC(tr->grad_block, tr->grad_len);
    rbm_view_like(&tr->grad, &tr->model, tr->grad_block);
    tr->hmean = tr->grad_block + block;
    EBM_ALLOC(tr->velocity_block, block);
    rbm_view_like(&tr->velocity, &tr->model, tr->velocity_block);
    if (tr->cfg.data.standardize) {
        EBM_ALLOC(tr->input_mean, V);
        EBM_ALLOC(tr->input_std, V);
    }
    if (tr->model.vis.type == EBM_UNIT_GAUSSIAN) {
        EBM_ALLOC(tr->sv_batch, (size_t)B * V);
        EBM_ALLOC(tr->sv_neg, (size_t)C * V);
    }
    if (tr->cfg.train.centering) {
        EBM_ALLOC(tr->mu, V);
        EBM_ALLOC(tr->lambda, H);
    }
    EBM_ALLOC(tr->v_batch, (size_t)B * V);
    EBM_ALLOC(tr->ph_data, (size_t)B * H);
    EBM_ALLOC(tr->pv_monitor, (size_t)B * V);
    EBM_ALLOC(tr->fe_monitor, B);
    EBM_ALLOC(tr->v_neg, (size_t)C * V);
    EBM_ALLOC(tr->ph_neg, (size_t)C * H);
    EBM_ALLOC(tr->h_neg, (size_t)C * H);
    EBM_ALLOC(tr->pv_neg, (size_t)C * V);
    EBM_ALLOC(tr->order, tr->data.n > 0 ? tr->data.n : 1);
    if (tr->cfg.train.eval_every > 0) EBM_ALLOC(tr->eval_x, (size_t)tr->valid.n * V);
    /* PCD chains live in v_neg between steps. */
    tr->chains = tr->cfg.train.persistent ? tr->v_neg : NULL;
    return EBM_OK;
}

/* Marginals of the whole training set (for the visible-bias start and the
 * centering offset), summed over ranks in double. */
/* Columns of a data row: the visible units less the label units. */
static int data_dim(const struct ebm_trainer *tr)
{
    return tr->V - tr->model.n_labels;
}

static ebm_status data_marginals(struct ebm_trainer *tr, float *p)
{
    int V = tr->V, X = data_dim(tr);
    double *sum = calloc((size_t)V + 1, sizeof *sum);
    ebm_status st = sum ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
    EBM_TRY(ebm_par_agree(tr->par, st)); /* before the collective below */
    for (int64_t r = 0; r < tr->data.n; r++) {
        for (int i = 0; i < X; i++) sum[i] += tr->data.x[r * X + i];
        if (X < V) sum[X + tr->data.y[r]] += 1.0; /* label frequencies */
    }
    sum[V] = (double)tr->data.n;
    st = ebm_par_allreduce_sum_d(tr->dpar, sum, (size_t)V + 1);
    for (int i = 0; st == EBM_OK && i < V; i++) p[i] = (float)(sum[i] / sum[V]);
    free(sum);
    return st;
}

/* model.labels: the split has labels, all in [0, K). */
static ebm_status check_labels(const struct ebm_trainer *tr, const struct ebm_dataset *ds,
                               const char *split)
{
    int K = tr->cfg.model.labels;
    if (!ds->y)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: [model] labels = %d trains on the data's labels, "
                        "but %s has no /%s/y", tr->cfg.source, K, tr->cfg.data.path, split);
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->y[i] < 0 || ds->y[i] >= K)
            return EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/y row %lld holds the label %d, outside "
                            "0..%d for [model] labels = %d", tr->cfg.data.path, split,
                            (long long)(ds->first + i), ds->y[i], K - 1, K);
    return EBM_OK;
}

/* An RBM's per-rank memory, before it is allocated, held to
 * [parallel] max_rank_memory (ebm/memory_plan.h). */
static ebm_status plan_memory(struct ebm_trainer *tr)
{
    const struct ebm_config *cfg = &tr->cfg;
    struct ebm_rbm_shape s = {
        .V = tr->V, .H = tr->H, .B = tr->B, .C = tr->C, .rows = tr->data.n,
        .valid_rows = tr->valid.n, .gaussian = cfg->model.visible == EBM_UNIT_GAUSSIAN,
        .centering = cfg->train.centering, .standardize = cfg->data.standardize,
        .eval_every = cfg->train.eval_every > 0, .persistent = cfg->train.persistent,
    };
    if (ebm_trainer_is_grid(tr)) ebm_grid_train_memory(tr, &tr->memory);
    else ebm_memory_plan_data(&tr->memory, &s);
    double cap = 0, need = ebm_memory_plan_total(&tr->memory);
    EBM_TRY(ebm_parse_bytes(cfg->parallel.max_rank_memory, &cap));
    if (cap <= 0 || need <= cap) return EBM_OK;
    char need_s[32], weights_s[32], grid_s[32];
    ebm_format_bytes(need, need_s, sizeof need_s);
    ebm_format_bytes(tr->memory.parameters + tr->memory.gradients + tr->memory.optimizer,
                     weights_s, sizeof weights_s);
    int pr, pc, P = tr->par->size, block = cfg->parallel.block;
    const char *layout = ebm_trainer_is_grid(tr) ? "on this grid " : "";
    if (!ebm_memory_plan_suggest(&s, tr->data.n_total, P, block, cap, &pr, &pc))
        return EBM_FAIL(EBM_ERR_INPUT, "%s: [parallel] max_rank_memory = %s, but this %dx%d rbm "
                        "needs %s per rank %s(%s of it the weights, their gradient and "
                        "velocity), and no process grid of %d ranks fits: run on more ranks",
                        cfg->source, cfg->parallel.max_rank_memory, tr->V, tr->H, need_s,
                        layout, weights_s, P);
    struct ebm_memory_plan grid;
    struct ebm_rbm_shape g = s;
    g.rows = (tr->data.n_total + P / (pr * pc) - 1) / (P / (pr * pc));
    if (pr * pc == 1) ebm_memory_plan_data(&grid, &g);
    else ebm_memory_plan_grid(&grid, &g, pr, pc, block);
    ebm_format_bytes(ebm_memory_plan_total(&grid), grid_s, sizeof grid_s);
    return EBM_FAIL(EBM_ERR_INPUT, "%s: [parallel] max_rank_memory = %s, but this %dx%d rbm "
                    "needs %s per rank %s(%s of it the weights, their gradient and velocity); "
                    "[parallel] grid = %dx%d needs %s per rank: set it (--set "
                    "parallel.grid=%dx%d)", cfg->source, cfg->parallel.max_rank_memory, tr->V,
                    tr->H, need_s, layout, weights_s, pr, pc, grid_s, pr, pc);
}

static ebm_status init_local(struct ebm_trainer *tr, const struct ebm_config *cfg,
                             const struct ebm_par *par)
{
    memset(tr, 0, sizeof *tr);
    tr->cfg = *cfg;
    tr->par = par;
    if (strcmp(cfg->model.type, "rbm") != 0 && strcmp(cfg->model.type, "bm") != 0 &&
        strcmp(cfg->model.type, "dbm") != 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: [model] type: '%s' is not trained by this version "
                        "(supported: rbm, bm, dbm; a dbn trains as a pipeline)", cfg->source,
                        cfg->model.type);
    EBM_TRY(ebm_grid_train_layout(tr));
    EBM_TRY(ebm_dataset_read_shard(cfg->data.path, cfg->data.split, cfg->data.max_examples,
                                   tr->dpar->world, &tr->data));
    if (cfg->train.monitor > 0 && cfg->data.valid_split[0] &&
        ebm_dataset_has_split(cfg->data.path, cfg->data.valid_split))
        EBM_TRY(ebm_dataset_read_shard(cfg->data.path, cfg->data.valid_split,
                                       cfg->train.monitor, tr->dpar->world, &tr->valid));
    if (tr->valid.n_total > 0 && tr->valid.dim != tr->data.dim)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/x has %d columns but /%s/x has %d; [data] "
                        "valid_split must match the training data (or set it to \"\")",
                        cfg->data.path, cfg->data.valid_split, tr->valid.dim, cfg->data.split,
                        tr->data.dim);
    if (cfg->train.eval_every > 0 && cfg->data.binarize == EBM_BINARIZE_NONE)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: [train] eval_every estimates log p(v) of binary "
                        "data; it needs [data] binarize = stochastic or threshold", cfg->source);
    if (cfg->train.eval_every > 0 && tr->valid.n_total == 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: [train] eval_every needs held-out rows: [data] "
                        "valid_split ('%s') and [train] monitor > 0", cfg->source,
                        cfg->data.valid_split);
    tr->V = tr->data.dim + cfg->model.labels;
    tr->H = strcmp(cfg->model.type, "bm") == 0 ? 0 : cfg->model.hidden;
    if (cfg->model.labels > 0) EBM_TRY(check_labels(tr, &tr->data, cfg->data.split));
    if (cfg->model.labels > 0 && tr->valid.n_total > 0)
        EBM_TRY(check_labels(tr, &tr->valid, cfg->data.valid_split));
    if (cfg->train.negative == EBM_NEGATIVE_EXACT && tr->V > BM_EXACT_MAX_UNITS)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: [train] negative = exact enumerates all 2^D states "
                        "of a bm: at most %d units, but %s has %d columns", cfg->source,
                        BM_EXACT_MAX_UNITS, cfg->data.path, tr->V);
    tr->B = cfg->train.batch_size;
    tr->C = cfg->train.persistent ? cfg->train.chains : cfg->train.batch_size;
    int64_t first, count;
    ebm_shard_range(cfg->train.monitor, tr->dpar->rank, tr->dpar->size, &first, &count);
    tr->n_monitor = count < tr->data.n ? count : tr->data.n;
    if (!strcmp(cfg->model.type, "rbm")) EBM_TRY(plan_memory(tr));
    return alloc_buffers(tr);
}

/* Collective: [data] standardize. Each column's mean and standard deviation
 * over the whole training split (sums over ranks in double), then both
 * shards shifted and scaled in place (near-constant columns only centred,
 * ebm/dataset.h). */
static ebm_status standardize(struct ebm_trainer *tr)
{
    int V = tr->V;
    double *sum = calloc(2 * (size_t)V + 1, sizeof *sum);
    ebm_status st = sum ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
    EBM_TRY(ebm_par_agree(tr->par, st));
    for (int64_t r = 0; r < tr->data.n; r++)
        for (int i = 0; i < V; i++) {
            double x = tr->data.x[r * V + i];
            sum[i] += x;
            sum[V + i] += x * x;
        }
    sum[2 * V] = (double)tr->data.n;
    st = ebm_par_allreduce_sum_d(tr->dpar, sum, 2 * (size_t)V + 1);
    for (int i = 0; st == EBM_OK && i < V; i++) {
        double n = sum[2 * V], mean = sum[i] / n;
        double var = sum[V + i] / n - mean * mean;
        tr->input_mean[i] = (float)mean;
        tr->input_std[i] = var > 0 ? (float)sqrt(var) : 0.0f;
    }
    free(sum);
    EBM_TRY(st);
    ebm_standardize_std(tr->input_std, V);
    ebm_standardize_rows(tr->data.x, tr->data.n, V, tr->input_mean, tr->input_std);
    ebm_standardize_rows(tr->valid.x, tr->valid.n, V, tr->input_mean, tr->input_std);
    return EBM_OK;
}

/* Parameters from the seed (identical on all ranks), the visible biases
 * and centring offset from the data marginals p (V), and this rank's
 * streams and PCD chains (uniform noise, each rank its own). */
static void start_state(struct ebm_trainer *tr, const float *p)
{
    const struct ebm_config *cfg = &tr->cfg;
    if (ebm_trainer_is_bm(tr) || ebm_trainer_is_dbm(tr)) {
        ebm_rng_init(&tr->rng_sample, cfg->train.seed, (uint32_t)tr->par->rank, EBM_RNG_SAMPLE);
        ebm_rng_init(&tr->rng_binarize, cfg->train.seed, (uint32_t)tr->par->rank,
                     EBM_RNG_BINARIZE);
        if (ebm_trainer_is_bm(tr)) ebm_bm_start(tr, p);
        else ebm_dbm_start(tr, p);
        return;
    }
    /* The RBM's sampling is keyed by global row (ebm/cd.h); its stream
     * stays in the checkpoint's schema unused. */
    ebm_rng_init(&tr->rng_sample, cfg->train.seed, (uint32_t)tr->dpar->rank, EBM_RNG_SAMPLE);
    ebm_rng_init(&tr->rng_binarize, cfg->train.seed, (uint32_t)tr->dpar->rank,
                 EBM_RNG_BINARIZE);
    if (ebm_trainer_is_grid(tr)) {
        ebm_grid_train_start(tr, p);
        return;
    }
    struct ebm_rng init;
    ebm_rng_init(&init, cfg->train.seed, 0, EBM_RNG_INIT);
    rbm_init_params(&tr->model, 0.01f, p, &init);
    if (tr->mu) {
        memcpy(tr->mu, p, sizeof(float) * (size_t)tr->V);
        for (int j = 0; j < tr->H; j++) tr->lambda[j] = 0.5f;
    }
    if (tr->chains) ebm_trainer_keyed_chains(tr, tr->chains, (int64_t)tr->dpar->rank * tr->C, 0,
                                             tr->C);
}

void ebm_trainer_keyed_chains(const struct ebm_trainer *tr, float *rows, int64_t first_chain,
                              int64_t from, int64_t to)
{
    for (int64_t r = from; r < to; r++) {
        struct ebm_rng rng;
        ebm_rng_init(&rng, tr->cfg.train.seed, (uint32_t)(first_chain + r), EBM_RNG_FRESH_CHAINS);
        ebm_trainer_fresh_chains(tr, rows + r * tr->V, 1, &rng);
    }
}

/* Whether visible values are spins: {0,1} data become {-1,+1}. */
static int spin_visible(const struct ebm_trainer *tr)
{
    return ebm_trainer_is_bm(tr) ? tr->bm.model.spin : tr->model.vis.type == EBM_UNIT_SPIN;
}

void ebm_trainer_fresh_chains(const struct ebm_trainer *tr, float *rows, int64_t n,
                              struct ebm_rng *rng)
{
    size_t len = (size_t)n * tr->V;
    if (!ebm_trainer_is_bm(tr) && tr->model.vis.type == EBM_UNIT_GAUSSIAN) {
        /* N(b, 1): the visible layer's own distribution at W = 0, sigma = 1. */
        ebm_rng_normal(rng, rows, len);
        for (size_t i = 0; i < len; i++) rows[i] += tr->model.vbias[i % (size_t)tr->V];
        return;
    }
    float off = spin_visible(tr) ? -1.0f : 0.0f;
    int V = tr->V, K = ebm_trainer_is_bm(tr) ? 0 : tr->model.n_labels;
    ebm_rng_uniform(rng, rows, len);
    for (int64_t r = 0; r < n; r++) {
        float *row = rows + r * V;
        /* the label group's first uniform picks its one class */
        int k = K ? (int)(row[V - K] * (float)K) : 0;
        for (int i = 0; i < V; i++) row[i] = row[i] < 0.5f ? 1.0f : off;
        for (int i = 0; i < K; i++) row[V - K + i] = i == (k < K ? k : K - 1) ? 1.0f : 0.0f;
    }
}

/* Collective: [data] include_labels applied to both shards, after every
 * rank has read its own (the selection counts rows over the ranks). */
static ebm_status select_labels(struct ebm_trainer *tr)
{
    const struct ebm_config *cfg = &tr->cfg;
    int labels[EBM_MAX_LABELS], n;
    char why[384];
    if (!ebm_parse_int_range_list(cfg->data.include_labels, 0, INT_MAX, labels, EBM_MAX_LABELS,
                                  &n, why, sizeof why))
        return EBM_FAIL(EBM_ERR_INPUT, "%s: [data] include_labels: %s", cfg->source, why);
    EBM_TRY(ebm_dataset_keep_labels(&tr->data, labels, n, tr->dpar->world, cfg->data.path,
                                    cfg->data.split));
    if (tr->valid.n_total > 0)
        EBM_TRY(ebm_dataset_keep_labels(&tr->valid, labels, n, tr->dpar->world, cfg->data.path,
                                        cfg->data.valid_split));
    if (tr->n_monitor > tr->data.n) tr->n_monitor = tr->data.n;
    return EBM_OK;
}

ebm_status ebm_trainer_init(struct ebm_trainer *tr, const struct ebm_config *cfg,
                            const struct ebm_par *par)
{
    /* Data errors may hit one rank only; everyone must hear of them
     * before the next collective. */
    EBM_TRY(ebm_par_agree(par, init_local(tr, cfg, par)));
    if (cfg->data.include_labels[0]) EBM_TRY(ebm_par_agree(par, select_labels(tr)));
    int64_t fewest = tr->data.n;
    MPI_Allreduce(MPI_IN_PLACE, &fewest, 1, MPI_INT64_T, MPI_MIN, par->world);
    /* Every rank takes the same number of full batches per epoch; the few
     * rows past that on larger shards sit out a given epoch (shuffling
     * changes which). */
    tr->steps_per_epoch = fewest / tr->B;
    ebm_status st = EBM_OK;
    if (tr->steps_per_epoch < 1)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: [train] batch_size: %d rows per %s exceed the "
                      "smallest shard (%lld rows over %d %s)", cfg->source, tr->B,
                      tr->grid.on ? "replica" : "rank", (long long)fewest, tr->dpar->size,
                      tr->grid.on ? "replicas" : "ranks");
    EBM_TRY(ebm_par_agree(par, st));

    if (cfg->data.standardize) EBM_TRY(standardize(tr));
    /* pv_monitor (B x V) is free until the first epoch ends. */
    float *p = tr->pv_monitor;
    EBM_TRY(data_marginals(tr, p));
    start_state(tr, p);
    return EBM_OK;
}

static ebm_status init_fed_local(struct ebm_trainer *tr, const struct ebm_config *cfg,
                                 const struct ebm_par *par, int V, int64_t steps_per_epoch)
{
    memset(tr, 0, sizeof *tr);
    tr->cfg = *cfg;
    tr->par = par;
    tr->dpar = par;
    tr->fed = 1;
    tr->V = V;
    tr->H = cfg->model.hidden;
    tr->B = cfg->train.batch_size;
    tr->C = cfg->train.persistent ? cfg->train.chains : cfg->train.batch_size;
    tr->steps_per_epoch = steps_per_epoch;
    /* The monitor rows are the first rows that arrive in each epoch. */
    int64_t first, count, per_epoch = steps_per_epoch * tr->B;
    ebm_shard_range(cfg->train.monitor, par->rank, par->size, &first, &count);
    tr->n_monitor = count < per_epoch ? count : per_epoch;
    tr->data.dim = V;
    tr->data.n = tr->n_monitor;
    tr->data.n_total = steps_per_epoch * tr->B * par->size;
    EBM_ALLOC(tr->data.x, (size_t)(tr->n_monitor > 0 ? tr->n_monitor : 1) * V);
    return alloc_buffers(tr);
}

ebm_status ebm_trainer_init_fed(struct ebm_trainer *tr, const struct ebm_config *cfg,
                                const struct ebm_par *par, int V, int64_t steps_per_epoch,
                                const float *visible_marginals)
{
    EBM_TRY(ebm_par_agree(par, init_fed_local(tr, cfg, par, V, steps_per_epoch)));
    start_state(tr, visible_marginals);
    return EBM_OK;
}

void ebm_trainer_free(struct ebm_trainer *tr)
{
    if (!tr) return;
    ebm_grid_train_free(tr);
    rbm_free(&tr->model);
    ebm_bm_free(tr);
    ebm_dbm_free(tr);
    free(tr->grad_block);
    free(tr->velocity_block);
    free(tr->mu);
    free(tr->lambda);
    free(tr->input_mean);
    free(tr->input_std);
    free(tr->sv_batch);
    free(tr->sv_neg);
    free(tr->v_batch);
    free(tr->ph_data);
    free(tr->pv_monitor);
    free(tr->fe_monitor);
    free(tr->eval_x);
    free(tr->v_neg);
    free(tr->ph_neg);
    free(tr->h_neg);
    free(tr->pv_neg);
    free(tr->order);
    ebm_dataset_free(&tr->data);
    ebm_dataset_free(&tr->valid);
    memset(tr, 0, sizeof *tr);
}

void ebm_trainer_shuffle(struct ebm_trainer *tr, int64_t epoch_key)
{
    /* Each epoch's order has its own stream, so a resumed run shuffles
     * exactly as an uninterrupted one without storing the order. */
    struct ebm_rng shuffle;
    ebm_rng_init(&shuffle, tr->cfg.train.seed, (uint32_t)tr->dpar->rank, EBM_RNG_SHUFFLE);
    shuffle.block = (uint64_t)epoch_key << 40;
    for (int64_t i = 0; i < tr->data.n; i++) tr->order[i] = i;
    ebm_rng_shuffle(&shuffle, tr->order, tr->data.n);
}

void ebm_trainer_begin_epoch(struct ebm_trainer *tr)
{
    tr->dbm.mf_sweeps = tr->dbm.mf_batches = 0; /* this epoch's mean-field count */
    ebm_trainer_shuffle(tr, tr->epoch);
}

/* A data row as visible units: binarised per [data] binarize (monitor
 * rows always by threshold, so epoch metrics see fixed data), then {0,1}
 * mapped to {-1,+1} for spin units, then the row's label one-hot in the
 * label units, if any. */
static void visible_row(struct ebm_trainer *tr, const float *x, int label, float *v,
                        int monitor)
{
    int V = data_dim(tr), K = tr->model.n_labels;
    for (int k = 0; k < K; k++) v[V + k] = k == label ? 1.0f : 0.0f;
    enum ebm_binarize mode = tr->cfg.data.binarize;
    if (monitor && mode == EBM_BINARIZE_STOCHASTIC) mode = EBM_BINARIZE_THRESHOLD;
    switch (mode) {
    case EBM_BINARIZE_STOCHASTIC: ebm_bernoulli(x, v, (size_t)V, &tr->rng_binarize); break;
    case EBM_BINARIZE_THRESHOLD:
        for (int i = 0; i < V; i++) v[i] = x[i] > 0.5f ? 1.0f : 0.0f;
        break;
    case EBM_BINARIZE_NONE: memcpy(v, x, sizeof(float) * (size_t)V); break;
    }
    if (spin_visible(tr))
        for (int i = 0; i < V; i++) v[i] = 2.0f * v[i] - 1.0f;
}

void ebm_trainer_load_batch(struct ebm_trainer *tr, int64_t index_in_epoch)
{
    const int64_t *rows = tr->order + index_in_epoch * tr->B;
    for (int r = 0; r < tr->B; r++)
        visible_row(tr, tr->data.x + rows[r] * data_dim(tr), tr->data.y ? tr->data.y[rows[r]] : -1,
                    tr->v_batch + (size_t)r * tr->V, 0);
}

void ebm_trainer_load_rows(struct ebm_trainer *tr, const float *x)
{
    int V = tr->V;
    for (int r = 0; r < tr->B; r++) visible_row(tr, x + (size_t)r * V, -1, tr->v_batch + (size_t)r * V, 0);
    if (!tr->fed) return;
    int64_t at = tr->step % tr->steps_per_epoch * tr->B;
    int64_t keep = tr->n_monitor - at < tr->B ? tr->n_monitor - at : tr->B;
    if (keep > 0) memcpy(tr->data.x + at * V, x, sizeof(float) * (size_t)(keep * V));
}

ebm_status ebm_trainer_step(struct ebm_trainer *tr)
{
    double t0 = now();
    ebm_trainer_load_batch(tr, tr->step % tr->steps_per_epoch);
    tr->time.compute += now() - t0;
    return ebm_trainer_update(tr);
}

static void rbm_statistics(struct ebm_trainer *tr, float inv_nd, float inv_nm);

ebm_status ebm_trainer_update(struct ebm_trainer *tr)
{
    const struct ebm_config *cfg = &tr->cfg;
    int B = tr->B, C = tr->C, P = tr->dpar->size;
    double t0 = now();
    if (ebm_trainer_is_grid(tr)) {
        /* the statistics, their allreduces and the update are one step */
        EBM_TRY(ebm_grid_train_update(tr, optim_lr(cfg, tr->step,
                                                   tr->steps_per_epoch * cfg->train.epochs)));
        tr->step++;
        tr->time.compute += now() - t0;
        return EBM_OK;
    }
    float inv_nd = 1.0f / (float)((double)P * B), inv_nm = 1.0f / (float)((double)P * C);
    if (ebm_trainer_is_bm(tr)) ebm_bm_statistics(tr, inv_nd, inv_nm);
    else if (ebm_trainer_is_dbm(tr)) ebm_dbm_statistics(tr, inv_nd, inv_nm);
    else rbm_statistics(tr, inv_nd, inv_nm);
    /* A stop request rides on the gradient's allreduce: no extra message,
     * and every rank learns of it after the same step. */
    tr->grad_block[tr->grad_len - 1] = ebm_stop_requested() ? 1.0f : 0.0f;
    double t1 = now();
    EBM_TRY(ebm_par_allreduce_sum(tr->par, tr->grad_block, tr->grad_len));
    double t2 = now();
    tr->stop_agreed = tr->grad_block[tr->grad_len - 1] > 0.5f;
    int64_t total = tr->steps_per_epoch * cfg->train.epochs;
    double lr = optim_lr(cfg, tr->step, total);
    if (ebm_trainer_is_bm(tr)) {
        ebm_bm_update(tr, lr);
    } else if (ebm_trainer_is_dbm(tr)) {
        ebm_dbm_update(tr, lr);
    } else {
        optim_step(&tr->model, &tr->grad, &tr->velocity, lr, cfg->train.momentum,
                   cfg->train.weight_decay, tr->mu, tr->lambda);
        if (tr->lambda) {
            float rate = (float)cfg->train.center_rate;
            for (int j = 0; j < tr->H; j++)
                tr->lambda[j] = (1.0f - rate) * tr->lambda[j] + rate * tr->hmean[j];
        }
    }
    tr->step++;
    double t3 = now();
    tr->time.compute += (t1 - t0) + (t3 - t2);
    tr->time.allreduce += t2 - t1;
    return EBM_OK;
}

/* The RBM's positive and negative phases into the gradient block. */
static void rbm_statistics(struct ebm_trainer *tr, float inv_nd, float inv_nm)
{
    const struct ebm_config *cfg = &tr->cfg;
    int B = tr->B, C = tr->C;
    rbm_hidden_probs(&tr->model, tr->v_batch, B, tr->ph_data);
    /* Keyed by this rank's rows' global indices, as a grid keys them. */
    struct cd_key key = { .seed = cfg->train.seed, .step = tr->step,
                          .first_row = (int64_t)tr->dpar->rank * C };
    if (cfg->train.persistent) {
        cd_negative_phase_keyed(&tr->model, tr->v_neg, C, cfg->train.k, NULL, tr->ph_neg,
                                tr->h_neg, tr->pv_neg, &key);
    } else {
        memcpy(tr->v_neg, tr->v_batch, sizeof(float) * (size_t)B * tr->V);
        cd_negative_phase_keyed(&tr->model, tr->v_neg, C, cfg->train.k, tr->ph_data, tr->ph_neg,
                                tr->h_neg, tr->pv_neg, &key);
    }
    /* Gaussian units enter the statistics as s(v) = v / sigma^2 (cd.h). */
    const struct ebm_units *vis = &tr->model.vis;
    cd_statistics(ebm_units_coupling(vis, tr->v_batch, B, tr->sv_batch), tr->ph_data, B,
                  ebm_units_coupling(vis, tr->v_neg, C, tr->sv_neg), tr->ph_neg, C, inv_nd,
                  inv_nm, &tr->grad, tr->hmean);
    if (tr->model.log_sigma && cfg->model.learn_sigma)
        cd_log_sigma_statistics(&tr->model, tr->v_batch, B, tr->v_neg, C, inv_nd, inv_nm,
                                &tr->grad);
    else if (tr->model.log_sigma)
        memset(tr->grad.log_sigma, 0, sizeof(float) * (size_t)tr->V);
}

/* Sums over this rank's rows of reconstruction error and free energy. */
static ebm_status monitor_sums(struct ebm_trainer *tr, const struct ebm_dataset *ds, int64_t n,
                               double sums[3])
{
    int V = tr->V, B = tr->B;
    double *fe = tr->fe_monitor;
    for (int64_t r0 = 0; r0 < n; r0 += B) {
        int rows = (int)(n - r0 < B ? n - r0 : B);
        for (int r = 0; r < rows; r++)
            visible_row(tr, ds->x + (r0 + r) * data_dim(tr), ds->y ? ds->y[r0 + r] : -1,
                        tr->v_batch + (size_t)r * V, 1);
        if (ebm_trainer_is_bm(tr) || ebm_trainer_is_dbm(tr) || ebm_trainer_is_grid(tr)) {
            if (ebm_trainer_is_bm(tr)) ebm_bm_monitor(tr, tr->v_batch, rows, sums);
            else if (ebm_trainer_is_dbm(tr)) ebm_dbm_monitor(tr, tr->v_batch, rows, sums);
            else EBM_TRY(ebm_grid_train_monitor(tr, tr->v_batch, rows, sums));
            sums[2] += rows;
            continue;
        }
        rbm_free_energy(&tr->model, tr->v_batch, rows, tr->ph_data, fe);
        rbm_hidden_probs(&tr->model, tr->v_batch, rows, tr->ph_data);
        rbm_visible_probs(&tr->model, tr->ph_data, rows, tr->pv_monitor);
        for (int r = 0; r < rows; r++) {
            double err = 0.0;
            for (int i = 0; i < V; i++) {
                double d = (double)tr->v_batch[(size_t)r * V + i] - tr->pv_monitor[(size_t)r * V + i];
                err += d * d;
            }
            sums[0] += err;
            sums[1] += fe[r];
        }
        sums[2] += rows;
    }
    return EBM_OK;
}

ebm_status ebm_trainer_evaluate(struct ebm_trainer *tr, struct ebm_epoch_metrics *out)
{
    double s[6] = { 0 };
    EBM_TRY(monitor_sums(tr, &tr->data, tr->n_monitor, s));
    EBM_TRY(monitor_sums(tr, &tr->valid, tr->valid.n, s + 3));
    /* over replicas: a grid's replica already holds its rows' sums */
    EBM_TRY(ebm_par_allreduce_sum_d(tr->dpar, s, 6));
    out->recon_train = s[2] > 0 ? s[0] / s[2] : NAN;
    out->fe_train = s[2] > 0 ? s[1] / s[2] : NAN;
    out->recon_valid = s[5] > 0 ? s[3] / s[5] : NAN;
    out->fe_valid = s[5] > 0 ? s[4] / s[5] : NAN;
    /* Positive and growing when the model starts to prefer its training data
     * (Hinton, A Practical Guide to Training RBMs, 2010, sec. 6). */
    out->fe_gap = out->fe_valid - out->fe_train;
    out->avg_log_prob_valid = out->ais_log_z = out->ais_log_z_lo = out->ais_log_z_hi = NAN;
    return EBM_OK;
}

ebm_status ebm_trainer_estimate_log_prob(struct ebm_trainer *tr, struct ebm_epoch_metrics *out)
{
    const struct ebm_config *cfg = &tr->cfg;
    memcpy(tr->eval_x, tr->valid.x, sizeof(float) * (size_t)tr->valid.n * tr->V);
    /* The same seed every time: successive estimates share their random
     * numbers, so the curve shows the model changing, not AIS noise. */
    int mode = cfg->data.binarize == EBM_BINARIZE_STOCHASTIC ? 0
             : cfg->data.binarize == EBM_BINARIZE_THRESHOLD ? 1 : 2;
    EBM_TRY(ebm_par_agree(tr->par, ebm_eval_binarize(tr->eval_x, tr->valid.n, tr->V,
                                                     tr->valid.first, cfg->train.seed, mode)));
    struct ebm_eval_opts o = { .ais_runs = cfg->train.eval_ais_runs,
                               .ais_betas = cfg->train.eval_ais_betas,
                               .seed = cfg->train.seed };
    struct ebm_eval_result r;
    EBM_TRY(ebm_par_agree(tr->par, ebm_evaluate(&tr->model, tr->eval_x, tr->valid.n,
                                                tr->valid.first, &o, tr->par->world, &r)));
    out->avg_log_prob_valid = r.avg_log_prob;
    out->ais_log_z = r.log_z;
    out->ais_log_z_lo = r.log_z_lo;
    out->ais_log_z_hi = r.log_z_hi;
    return EBM_OK;
}
