/* The DBN pipeline around the one RBM trainer: every stage runs
 * ebm_trainer_update on its own communicator; what differs is only where
 * its batches come from (the data shard, or the stage below) and whether
 * their features go on up. */
#include "ebm/dbn_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ebm/metrics.h"
#include "ebm/stop.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Stage l trains an ordinary RBM: its own size, seed + l (so that it equals
 * `ebm train` of that RBM on the same batches) and, above the data, inputs
 * taken as they come (probabilities) or sampled from (samples). */
static void stage_config(const struct ebm_config *base, const struct ebm_pipeline_plan *p, int l,
                         struct ebm_config *out)
{
    *out = *base;
    snprintf(out->model.type, sizeof out->model.type, "rbm");
    memset(out->model.layers, 0, sizeof out->model.layers);
    out->model.hidden = p->sizes[l + 1];
    out->train.seed = base->train.seed + (uint64_t)l;
    out->train.epochs = p->train_epochs[l];
    out->train.eval_every = 0;
    if (l > 0) {
        out->data.binarize = base->pipeline.feed == EBM_FEED_SAMPLES ? EBM_BINARIZE_STOCHASTIC
                                                                     : EBM_BINARIZE_NONE;
        memset(out->data.valid_split, 0, sizeof out->data.valid_split);
    }
}

static struct ebm_link_ends link_ends(const struct ebm_dbn_trainer *d, int l)
{
    const struct ebm_pipeline_plan *p = &d->plan;
    struct ebm_link_ends e = {
        .comm = d->world->world, .tag = 1000 + l,
        .up_first = p->group_first[l - 1], .up_size = p->group_size[l - 1],
        .down_first = p->group_first[l], .down_size = p->group_size[l],
        .down_steps = p->steps_per_epoch[l], .depth = d->cfg.pipeline.queue_depth,
        .batch_len = (size_t)d->cfg.train.batch_size * (size_t)p->sizes[l],
    };
    return e;
}

/* Links and buffers around a started trainer. */
static ebm_status stage_buffers(struct ebm_dbn_trainer *d)
{
    int l = d->stage, H = d->plan.sizes[l + 1];
    EBM_ALLOC(d->hmean_sum, H);
    EBM_ALLOC(d->hmean_last, H);
    if (d->has_in) {
        struct ebm_link_ends e = link_ends(d, l);
        EBM_TRY(ebm_link_in_init(&d->in, &e, d->group.rank));
    }
    if (d->has_out) {
        struct ebm_link_ends e = link_ends(d, l + 1);
        EBM_TRY(ebm_link_out_init(&d->out, &e, d->group.rank));
        if (d->cfg.pipeline.refresh_steps > 1) {
            EBM_ALLOC(d->features, (size_t)d->tr.B * H);
            EBM_TRY(rbm_init(&d->snapshot, d->tr.V, H));
        }
    }
    d->started = 1;
    return EBM_OK;
}

ebm_status ebm_dbn_start_stage(struct ebm_dbn_trainer *d, const float *marginals)
{
    int l = d->stage;
    EBM_TRY(ebm_trainer_init_fed(&d->tr, &d->stage_cfg, &d->group, d->plan.sizes[l],
                                 d->plan.steps_per_epoch[l], marginals));
    d->tr.quiet = 1;
    return stage_buffers(d);
}

static ebm_status split_groups(struct ebm_dbn_trainer *d, const int *sizes, int n_stages)
{
    int groups[EBM_MAX_STAGES];
    EBM_TRY(ebm_pipeline_groups(sizes, n_stages, d->cfg.pipeline.groups, d->world->size,
                                groups));
    int stage = 0;
    for (int first = 0; d->world->rank >= first + groups[stage]; stage++) first += groups[stage];
    d->stage = stage;
    MPI_Comm comm;
    EBM_MPI_TRY(MPI_Comm_split(d->world->world, stage, d->world->rank, &comm));
    ebm_status st = ebm_par_init(&d->group, comm);
    MPI_Comm_free(&comm);
    return st;
}

ebm_status ebm_dbn_init(struct ebm_dbn_trainer *d, const struct ebm_config *cfg,
                        const struct ebm_par *world)
{
    memset(d, 0, sizeof *d);
    d->cfg = *cfg;
    d->world = world;
    int sizes[EBM_MAX_LAYERS], n;
    char why[384];
    if (!ebm_parse_int_list(cfg->model.layers, sizes, EBM_MAX_LAYERS, &n, why, sizeof why) ||
        n < 3)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: [model] layers: %s", cfg->source,
                        n < 3 ? "needs at least three sizes" : why);
    EBM_TRY(split_groups(d, sizes, n - 1));

    /* Stage 0 reads the data; its row count completes everyone's plan. */
    ebm_status st = EBM_OK;
    struct ebm_pipeline_plan draft = { .n_stages = n - 1 };
    memcpy(draft.sizes, sizes, sizeof sizes);
    draft.train_epochs[0] = cfg->train.epochs;
    if (d->stage == 0) {
        stage_config(cfg, &draft, 0, &d->stage_cfg);
        st = ebm_trainer_init(&d->tr, &d->stage_cfg, &d->group);
        d->tr.quiet = 1;
    }
    EBM_TRY(ebm_par_agree(world, st));
    int64_t shape[3] = { d->tr.data.n_total, d->tr.data.dim, d->tr.steps_per_epoch };
    EBM_MPI_TRY(MPI_Bcast(shape, 3, MPI_INT64_T, 0, world->world));
    d->n_rows = shape[0];
    if (shape[1] != sizes[0])
        return EBM_FAIL(EBM_ERR_INPUT, "%s: [model] layers starts with %d, but %s /%s/x has %lld "
                        "columns", cfg->source, sizes[0], cfg->data.path, cfg->data.split,
                        (long long)shape[1]);
    EBM_TRY(ebm_pipeline_plan(cfg, world->size, d->n_rows, &d->plan));
    EBM_TRY(ebm_pipeline_set_steps(&d->plan, shape[2], cfg));
    stage_config(cfg, &d->plan, d->stage, &d->stage_cfg);
    d->has_in = d->stage > 0;
    d->has_out = d->stage + 1 < d->plan.n_stages;
    st = EBM_OK;
    if (d->stage == 0) {
        EBM_ASSERT(d->tr.steps_per_epoch == d->plan.steps_per_epoch[0]);
        st = stage_buffers(d);
    }
    return ebm_par_agree(world, st);
}

void ebm_dbn_free(struct ebm_dbn_trainer *d)
{
    if (!d) return;
    ebm_trainer_free(&d->tr);
    ebm_link_in_free(&d->in);
    ebm_link_out_free(&d->out);
    free(d->features);
    rbm_free(&d->snapshot);
    free(d->hmean_sum);
    free(d->hmean_last);
    if (d->world) ebm_par_free(&d->group);
    memset(d, 0, sizeof *d);
}

static int params_finite(const struct rbm *m)
{
    double s = 0.0;
    size_t n = rbm_block_size(m->n_visible, m->n_hidden);
    for (size_t i = 0; i < n; i++) s += m->block[i];
    return isfinite(s);
}

/* Errors inside an epoch leave partners waiting on messages that will not
 * come: no agreement can reach them, so the job ends here. */
static void abort_epoch(const struct ebm_dbn_trainer *d)
{
    fprintf(stderr, "ebm: error: rank %d (stage %d): %s\n", d->world->rank, d->stage,
            ebm_error_message());
    fflush(stderr);
    MPI_Abort(d->world->world, 1);
}

/* Epoch e (0-based) of this rank's stage: train and/or feed. */
static ebm_status run_epoch(struct ebm_dbn_trainer *d, int e)
{
    const struct ebm_pipeline_plan *p = &d->plan;
    struct ebm_trainer *tr = &d->tr;
    int l = d->stage, H = tr->H, B = tr->B;
    int training = e < p->train_epochs[l];
    int forwarding = d->has_out && e >= p->forward_from[l];
    int refresh = d->cfg.pipeline.refresh_steps;
    int64_t S = p->steps_per_epoch[l];
    double waited = d->in.waiting_s, blocked = d->out.blocked_s, t0 = now();
    ebm_status st = EBM_OK;
    /* Stage 0 draws a new order every epoch, feeding ones included. */
    if (l == 0) ebm_trainer_shuffle(tr, e);
    else st = ebm_link_in_begin_epoch(&d->in);
    if (training) memset(d->hmean_sum, 0, sizeof(double) * (size_t)H);
    for (int64_t k = 0; st == EBM_OK && k < S; k++) {
        if (l == 0) {
            ebm_trainer_load_batch(tr, k);
        } else {
            const float *x;
            st = ebm_link_in_take(&d->in, k, &x);
            if (st != EBM_OK) break;
            ebm_trainer_load_rows(tr, x);
        }
        const float *up = tr->ph_data; /* p(h | v) under the weights before this update */
        if (training) {
            if (forwarding && refresh > 1 && k % refresh == 0)
                memcpy(d->snapshot.block, tr->model.block,
                       sizeof(float) * rbm_block_size(tr->V, H));
            st = ebm_trainer_update(tr);
            for (int j = 0; j < H; j++) d->hmean_sum[j] += tr->hmean[j];
            if (forwarding && refresh > 1) {
                rbm_hidden_probs(&d->snapshot, tr->v_batch, B, d->features);
                up = d->features;
            }
        } else {
            rbm_hidden_probs(&tr->model, tr->v_batch, B, tr->ph_data);
        }
        if (st == EBM_OK && forwarding) st = ebm_link_out_put(&d->out, k, up);
    }
    if (st == EBM_OK && forwarding) st = ebm_link_out_end_epoch(&d->out);
    if (st != EBM_OK) abort_epoch(d);
    double wall = now() - t0;
    double w = d->in.waiting_s - waited, b = d->out.blocked_s - blocked;
    d->epoch_times[DBN_WAITING] += w;
    d->epoch_times[DBN_BLOCKED] += b;
    d->epoch_times[DBN_BUSY] += wall - w - b;
    if (!training) return EBM_OK;
    tr->epoch++;
    for (int j = 0; j < H; j++) d->hmean_last[j] = (float)(d->hmean_sum[j] / (double)S);
    if (!params_finite(&tr->model))
        return EBM_FAIL(EBM_ERR_NUMERIC, "stage %d diverged in its epoch %d (non-finite "
                        "parameters); lower [train] lr (now %g)", l, tr->epoch, d->cfg.train.lr);
    return EBM_OK;
}

/* One rank's report of a tick, gathered to rank 0. */
enum { R_STAGE, R_EPOCH, R_TRAINED, R_STEP, R_RECON, R_FE, R_RECON_VALID, R_FE_VALID,
       R_BUSY, R_WAITING, R_BLOCKED, R_SYNC, R_SECONDS, R_FIELDS };

static ebm_status log_tick(struct ebm_dbn_trainer *d, const double *all, double elapsed)
{
    const struct ebm_pipeline_plan *p = &d->plan;
    static const char *names[DBN_TIMES] = { "busy", "waiting_for_input", "blocked_on_output",
                                            "sync" };
    char path[2048];
    snprintf(path, sizeof path, "%s/metrics.jsonl", d->cfg.output.dir);
    for (int l = 0; l < p->n_stages; l++) {
        const double *root = all + (size_t)p->group_first[l] * R_FIELDS;
        double t[DBN_TIMES] = { 0 };
        for (int r = 0; r < p->group_size[l]; r++)
            for (int i = 0; i < DBN_TIMES; i++)
                t[i] += all[(size_t)(p->group_first[l] + r) * R_FIELDS + R_BUSY + i] /
                        p->group_size[l];
        int epoch = (int)root[R_EPOCH], trained = (int)root[R_TRAINED];
        const char *mode = epoch == 0 ? "idle" : trained ? "train" : "feed";
        double sum = t[0] + t[1] + t[2] + t[3];
        double util = sum > 0 ? t[DBN_BUSY] / sum : 0.0;
        double rate = root[R_SECONDS] > 0 ? (double)p->steps_per_epoch[l] * d->cfg.train.batch_size *
                                            p->group_size[l] / root[R_SECONDS] : 0.0;
        if (!d->quiet) {
            printf("tick %4d/%d  stage %d  %-5s", d->tick + 1, p->ticks, l, mode);
            /* Training counts to the epochs it trains, feeding to the end. */
            if (epoch > 0)
                printf(" epoch %4d/%-4d", epoch, trained ? p->train_epochs[l] : p->run_epochs[l]);
            else printf("                ");
            if (trained) printf("  recon %8.3f", root[R_RECON]);
            else printf("                ");
            printf("  busy %3.0f%%  wait %3.0f%%  blocked %3.0f%%", 100 * util,
                   sum > 0 ? 100 * t[1] / sum : 0.0, sum > 0 ? 100 * t[2] / sum : 0.0);
            if (epoch > 0) printf("  %8.0f samples/s", rate);
            printf("\n");
        }
        struct ebm_json j;
        ebm_json_begin(&j);
        ebm_json_int(&j, "epoch", d->tick + 1); /* the tick: what resume truncates by */
        ebm_json_int(&j, "stage", l);
        ebm_json_str(&j, "mode", mode);
        ebm_json_int(&j, "stage_epoch", epoch);
        if (trained) {
            ebm_json_int(&j, "step", (int64_t)root[R_STEP]);
            ebm_json_num(&j, "recon_error", root[R_RECON]);
            ebm_json_num(&j, "free_energy_train", root[R_FE]);
            ebm_json_num(&j, "recon_error_valid", root[R_RECON_VALID]);
            ebm_json_num(&j, "free_energy_valid", root[R_FE_VALID]);
        }
        if (epoch > 0) ebm_json_num(&j, "samples_per_s", rate);
        ebm_json_num(&j, "utilisation", util);
        ebm_json_num(&j, "elapsed_s", elapsed);
        ebm_json_int(&j, "ranks", p->group_size[l]);
        ebm_json_begin_object(&j, "seconds");
        for (int i = 0; i < DBN_TIMES; i++) ebm_json_num(&j, names[i], t[i]);
        ebm_json_end_object(&j);
        EBM_TRY(ebm_metrics_append(path, ebm_json_end(&j)));
    }
    fflush(stdout);
    return EBM_OK;
}

/* Rank 0 gathers every rank's report and writes the tick's lines. */
static ebm_status report_tick(struct ebm_dbn_trainer *d, int e, int trained,
                              const struct ebm_epoch_metrics *m, double seconds, double elapsed)
{
    double mine[R_FIELDS] = { 0 };
    mine[R_STAGE] = d->stage;
    mine[R_EPOCH] = e + 1;
    mine[R_TRAINED] = trained;
    mine[R_STEP] = d->started ? (double)d->tr.step : 0;
    mine[R_RECON] = m->recon_train;
    mine[R_FE] = m->fe_train;
    mine[R_RECON_VALID] = m->recon_valid;
    mine[R_FE_VALID] = m->fe_valid;
    for (int i = 0; i < DBN_TIMES; i++) mine[R_BUSY + i] = d->epoch_times[i];
    mine[R_SECONDS] = seconds;
    double *all = NULL;
    ebm_status st = EBM_OK;
    if (d->world->rank == 0) {
        all = malloc(sizeof(double) * R_FIELDS * (size_t)d->world->size);
        if (!all) st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory for the tick report");
    }
    EBM_TRY(ebm_par_agree(d->world, st));
    EBM_MPI_TRY(MPI_Gather(mine, R_FIELDS, MPI_DOUBLE, all, R_FIELDS, MPI_DOUBLE, 0,
                           d->world->world));
    if (d->world->rank == 0) st = log_tick(d, all, elapsed);
    free(all);
    return ebm_par_agree(d->world, st);
}

/* Stages whose first epoch is the next tick start now, from the mean
 * activations of the stage below over its last trained epoch. */
static ebm_status start_due_stages(struct ebm_dbn_trainer *d)
{
    const struct ebm_pipeline_plan *p = &d->plan;
    for (int l = 1; l < p->n_stages; l++) {
        if (p->start_tick[l] != d->tick) continue;
        int V = p->sizes[l];
        float *marginals = malloc(sizeof(float) * (size_t)V);
        ebm_status st = marginals ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
        EBM_TRY(ebm_par_agree(d->world, st));
        if (d->stage == l - 1 && d->group.rank == 0)
            memcpy(marginals, d->hmean_last, sizeof(float) * (size_t)V);
        int rc = MPI_Bcast(marginals, V, MPI_FLOAT, p->group_first[l - 1], d->world->world);
        st = rc == MPI_SUCCESS ? EBM_OK : ebm_mpi_error(rc, __FILE__, __LINE__, __func__,
                                                        "MPI_Bcast");
        if (st == EBM_OK && d->stage == l) st = ebm_dbn_start_stage(d, marginals);
        free(marginals);
        EBM_TRY(ebm_par_agree(d->world, st));
    }
    return EBM_OK;
}

static ebm_status tick_work(struct ebm_dbn_trainer *d, int *stop)
{
    memset(d->epoch_times, 0, sizeof d->epoch_times);
    int e = ebm_pipeline_epoch_at(&d->plan, d->stage, d->tick);
    int trained = e >= 0 && e < d->plan.train_epochs[d->stage];
    double t0 = now();
    ebm_status st = e >= 0 ? run_epoch(d, e) : EBM_OK;
    double t1 = now();
    /* Idle stages have nothing to do until the stages below have fed them. */
    struct ebm_epoch_metrics m = { NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN };
    /* Waiting stages sleep here rather than spin in the next collective. */
    ebm_status met = ebm_par_barrier_idle(d->world->world);
    if (st == EBM_OK) st = met;
    EBM_TRY(ebm_par_agree(d->world, st));
    if (trained) EBM_TRY(ebm_par_agree(d->world, ebm_trainer_evaluate(&d->tr, &m)));
    else EBM_TRY(ebm_par_agree(d->world, EBM_OK)); /* matches the call above */
    double t2 = now();
    d->epoch_times[e >= 0 ? DBN_SYNC : DBN_WAITING] += t2 - t1;
    int any = ebm_stop_requested();
    EBM_MPI_TRY(MPI_Allreduce(&any, stop, 1, MPI_INT, MPI_MAX, d->world->world));
    d->epoch_times[e >= 0 ? DBN_SYNC : DBN_WAITING] += now() - t2;
    if (d->run_start == 0) d->run_start = t0;
    EBM_TRY(report_tick(d, e, trained, &m, t1 - t0, now() - d->run_start));
    for (int i = 0; i < DBN_TIMES; i++) d->times[i] += d->epoch_times[i];
    d->tick++;
    double t3 = now();
    EBM_TRY(start_due_stages(d));
    d->times[DBN_SYNC] += now() - t3;
    return EBM_OK;
}

ebm_status ebm_dbn_tick(struct ebm_dbn_trainer *d)
{
    int stop;
    return tick_work(d, &stop);
}

static ebm_status checkpoint(struct ebm_dbn_trainer *d)
{
    double t0 = now();
    char name[64];
    ebm_checkpoint_name(name, sizeof name, d->tick, d->tick, 1);
    snprintf(d->checkpoint_path, sizeof d->checkpoint_path, "%s/%s", d->cfg.output.dir, name);
    EBM_TRY(ebm_dbn_save(d, d->checkpoint_path));
    if (d->world->rank == 0)
        ebm_checkpoint_rotate(d->cfg.output.dir, d->cfg.train.keep_checkpoints,
                              ebm_checkpoint_key(name));
    d->times[DBN_SYNC] += now() - t0;
    return EBM_OK;
}

ebm_status ebm_dbn_run(struct ebm_dbn_trainer *d)
{
    while (d->tick < d->plan.ticks) {
        int stop = 0;
        EBM_TRY(tick_work(d, &stop));
        int due = d->tick % d->cfg.train.checkpoint_every == 0 || d->tick == d->plan.ticks;
        if (due || stop) EBM_TRY(checkpoint(d));
        if (stop && d->tick < d->plan.ticks)
            return EBM_FAIL(EBM_ERR_STOPPED, "stopped on request at the end of pipeline epoch "
                            "%d; checkpoint %s; continue with --resume auto", d->tick,
                            d->checkpoint_path);
    }
    return EBM_OK;
}

ebm_status ebm_dbn_layer(const struct ebm_dbn_trainer *d, int l, struct rbm *out)
{
    const struct ebm_pipeline_plan *p = &d->plan;
    EBM_ASSERT(out->n_visible == p->sizes[l] && out->n_hidden == p->sizes[l + 1]);
    size_t n = rbm_block_size(p->sizes[l], p->sizes[l + 1]);
    int root = p->group_first[l];
    if (d->world->rank == root) {
        EBM_ASSERT(d->started);
        memcpy(out->block, d->tr.model.block, sizeof(float) * n);
    }
    EBM_ASSERT(n <= INT32_MAX);
    EBM_MPI_TRY(MPI_Bcast(out->block, (int)n, MPI_FLOAT, root, d->world->world));
    return EBM_OK;
}

ebm_status ebm_dbn_stage_times(const struct ebm_dbn_trainer *d, double out[][DBN_TIMES])
{
    int L = d->plan.n_stages;
    double sum[EBM_MAX_STAGES * DBN_TIMES] = { 0 };
    for (int i = 0; i < DBN_TIMES; i++) sum[d->stage * DBN_TIMES + i] = d->times[i];
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, sum, L * DBN_TIMES, MPI_DOUBLE, MPI_SUM,
                              d->world->world));
    for (int l = 0; l < L; l++)
        for (int i = 0; i < DBN_TIMES; i++)
            out[l][i] = sum[l * DBN_TIMES + i] / d->plan.group_size[l];
    return EBM_OK;
}
