/* A DBN pipeline checkpoint (schema: docs/checkpoint.md, docs/dbn.md): the
 * stack as /model/layers/<k>, and every started stage's training state
 * under /stages/<k>. Every rank makes every call (the HDF5 calls are
 * collective); a stage's shared tensors come from its first rank, its
 * per-rank rows (chains, RNG counters) from each of its ranks. */
#include "ebm/dbn_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebm/checkpoint.h"

enum { RNG_FIELDS = 4 }; /* seed, world rank, sample block, binarize block */

/* What fixes the schedule: a resume must plan the same pipeline. */
static void plan_text(const struct ebm_dbn_trainer *d, char *buf, size_t len)
{
    const struct ebm_pipeline_plan *p = &d->plan;
    const struct ebm_config *c = &d->cfg;
    size_t used = (size_t)snprintf(buf, len, "layers %s; groups", c->model.layers);
    for (int l = 0; l < p->n_stages && used < len; l++)
        used += (size_t)snprintf(buf + used, len - used, "%s%d", l ? "," : " ", p->group_size[l]);
    if (used < len)
        snprintf(buf + used, len - used, "; mode %s; epochs %d; warmup %d; finish %d; refresh %d; "
                 "feed %s; batch %d", c->pipeline.mode == EBM_PIPELINE_GREEDY ? "greedy"
                 : "overlapped", c->train.epochs, c->pipeline.warmup_epochs,
                 c->pipeline.finish_epochs, c->pipeline.refresh_steps,
                 c->pipeline.feed == EBM_FEED_SAMPLES ? "samples" : "probabilities",
                 c->train.batch_size);
}

/* Started stages have state: the ones whose first tick has been reached. */
static int stage_started(const struct ebm_dbn_trainer *d, int l)
{
    return d->tick >= d->plan.start_tick[l];
}

static int epochs_trained(const struct ebm_dbn_trainer *d, int l)
{
    int done = d->tick - d->plan.start_tick[l];
    done = done < 0 ? 0 : done;
    return done < d->plan.train_epochs[l] ? done : d->plan.train_epochs[l];
}

/* Shared tensors of stage l, written by its first rank: from its trainer,
 * or zeros for a stage that has not started. */
static ebm_status write_shared(struct ebm_dbn_trainer *d, struct ebm_ckpt *ck, int l,
                               const char *name, const float *mine, int ndim, const int64_t *dims)
{
    int writer = d->plan.group_first[l];
    size_t n = (size_t)dims[0] * (ndim == 2 ? (size_t)dims[1] : 1);
    float *zeros = NULL;
    ebm_status st = EBM_OK;
    if (d->world->rank == writer && !mine) {
        zeros = calloc(n ? n : 1, sizeof *zeros);
        if (!zeros) st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory writing %s", name);
    }
    EBM_TRY(ebm_par_agree(d->world, st));
    st = ebm_ckpt_write_f32_from(ck, name, mine ? mine : zeros, ndim, dims, writer);
    free(zeros);
    return st;
}

static ebm_status write_rbm(struct ebm_dbn_trainer *d, struct ebm_ckpt *ck, int l,
                            const char *group, const struct rbm *m)
{
    char name[256];
    int64_t wd[2] = { d->plan.sizes[l], d->plan.sizes[l + 1] }, vd = wd[0], hd = wd[1];
    snprintf(name, sizeof name, "%s/W", group);
    EBM_TRY(write_shared(d, ck, l, name, m ? m->W : NULL, 2, wd));
    snprintf(name, sizeof name, "%s/vbias", group);
    EBM_TRY(write_shared(d, ck, l, name, m ? m->vbias : NULL, 1, &vd));
    snprintf(name, sizeof name, "%s/hbias", group);
    return write_shared(d, ck, l, name, m ? m->hbias : NULL, 1, &hd);
}

static ebm_status save_stage(struct ebm_dbn_trainer *d, struct ebm_ckpt *ck, int l)
{
    int mine = d->stage == l && d->started;
    const struct ebm_trainer *tr = mine ? &d->tr : NULL;
    char group[64], name[128];
    snprintf(group, sizeof group, "/model/layers/%d", l);
    EBM_TRY(write_rbm(d, ck, l, group, tr ? &tr->model : NULL));
    EBM_TRY(ebm_ckpt_attr_i64(ck, group, "epochs", epochs_trained(d, l)));
    if (!stage_started(d, l)) return EBM_OK;

    int64_t V = d->plan.sizes[l], H = d->plan.sizes[l + 1];
    snprintf(group, sizeof group, "/stages/%d", l);
    snprintf(name, sizeof name, "%s/velocity", group);
    EBM_TRY(write_rbm(d, ck, l, name, tr ? &tr->velocity : NULL));
    if (d->cfg.train.centering) {
        snprintf(name, sizeof name, "%s/visible_offset", group);
        EBM_TRY(write_shared(d, ck, l, name, tr ? tr->mu : NULL, 1, &V));
        snprintf(name, sizeof name, "%s/hidden_offset", group);
        EBM_TRY(write_shared(d, ck, l, name, tr ? tr->lambda : NULL, 1, &H));
    }
    snprintf(name, sizeof name, "%s/hidden_mean", group);
    EBM_TRY(write_shared(d, ck, l, name, mine ? d->hmean_last : NULL, 1, &H));
    if (d->cfg.train.persistent) {
        snprintf(name, sizeof name, "%s/chains", group);
        EBM_TRY(ebm_ckpt_write_rows_f32(ck, name, tr ? tr->chains : NULL, tr ? tr->C : 0, V));
    }
    uint64_t rng[RNG_FIELDS] = { 0 };
    if (tr) {
        rng[0] = tr->cfg.train.seed;
        rng[1] = (uint64_t)d->world->rank;
        rng[2] = tr->rng_sample.block;
        rng[3] = tr->rng_binarize.block;
    }
    snprintf(name, sizeof name, "%s/rng", group);
    EBM_TRY(ebm_ckpt_write_rows_u64(ck, name, rng, tr ? 1 : 0, RNG_FIELDS));
    /* Every rank writes the same attribute values: the stage root's. */
    int64_t counts[2] = { tr ? tr->step : 0, tr ? tr->epoch : 0 };
    EBM_MPI_TRY(MPI_Bcast(counts, 2, MPI_INT64_T, d->plan.group_first[l], d->world->world));
    EBM_TRY(ebm_ckpt_attr_i64(ck, group, "step", counts[0]));
    EBM_TRY(ebm_ckpt_attr_i64(ck, group, "epoch", counts[1]));
    return ebm_ckpt_attr_i64(ck, group, "ranks", d->plan.group_size[l]);
}

static const char *binarize_name(enum ebm_binarize b)
{
    return b == EBM_BINARIZE_STOCHASTIC ? "stochastic"
         : b == EBM_BINARIZE_THRESHOLD ? "threshold" : "none";
}

static ebm_status save_contents(struct ebm_dbn_trainer *d, struct ebm_ckpt *ck)
{
    const struct ebm_config *c = &d->cfg;
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "type", "dbn"));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "n_layers", d->plan.n_stages));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "layers", c->model.layers));
    for (int l = 0; l < d->plan.n_stages; l++) EBM_TRY(save_stage(d, ck, l));
    char text[8192];
    ebm_config_format(c, text, sizeof text);
    EBM_TRY(ebm_ckpt_attr_str(ck, "/train", "config", text));
    plan_text(d, text, sizeof text);
    EBM_TRY(ebm_ckpt_attr_str(ck, "/train", "plan", text));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "tick", d->tick));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "epoch", d->tick));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "ranks", d->world->size));
    /* The data attributes as an RBM checkpoint has them (rank 0 is stage 0). */
    int64_t shape[3] = { d->tr.data.dim, d->tr.data.image_h, d->tr.data.image_w };
    EBM_MPI_TRY(MPI_Bcast(shape, 3, MPI_INT64_T, 0, d->world->world));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/data", "path", c->data.path));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/data", "split", c->data.split));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/data", "binarize", binarize_name(c->data.binarize)));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/data", "n_rows", d->n_rows));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/data", "dim", shape[0]));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/data", "image_h", shape[1]));
    return ebm_ckpt_attr_i64(ck, "/data", "image_w", shape[2]);
}

ebm_status ebm_dbn_save(struct ebm_dbn_trainer *d, const char *path)
{
    struct ebm_ckpt ck;
    ebm_status st = ebm_ckpt_create(&ck, path, d->world->world);
    if (st == EBM_OK) st = save_contents(d, &ck);
    /* Fault injection for the crash tests, as for RBM checkpoints. */
    const char *delay = getenv("EBM_FAULT_CHECKPOINT_DELAY");
    if (st == EBM_OK && delay) sleep((unsigned)atoi(delay));
    st = ebm_par_agree(d->world, st); /* commit only what every rank wrote */
    if (st != EBM_OK) {
        ebm_ckpt_abort(&ck);
        return st;
    }
    return ebm_ckpt_commit(&ck);
}

static ebm_status read_rbm(struct ebm_dbn_trainer *d, struct ebm_ckpt *ck, int l,
                           const char *group, struct rbm *m)
{
    char name[256];
    int64_t wd[2] = { d->plan.sizes[l], d->plan.sizes[l + 1] }, vd = wd[0], hd = wd[1];
    int mine = m != NULL;
    snprintf(name, sizeof name, "%s/W", group);
    EBM_TRY(ebm_ckpt_read_f32_part(ck, name, mine ? m->W : NULL, 2, wd, mine));
    snprintf(name, sizeof name, "%s/vbias", group);
    EBM_TRY(ebm_ckpt_read_f32_part(ck, name, mine ? m->vbias : NULL, 1, &vd, mine));
    snprintf(name, sizeof name, "%s/hbias", group);
    return ebm_ckpt_read_f32_part(ck, name, mine ? m->hbias : NULL, 1, &hd, mine);
}

static ebm_status load_stage(struct ebm_dbn_trainer *d, struct ebm_ckpt *ck, int l)
{
    if (!stage_started(d, l)) return EBM_OK;
    int mine = d->stage == l;
    struct ebm_trainer *tr = mine ? &d->tr : NULL;
    int64_t V = d->plan.sizes[l], H = d->plan.sizes[l + 1];
    char group[64], name[128];
    snprintf(group, sizeof group, "/model/layers/%d", l);
    EBM_TRY(read_rbm(d, ck, l, group, tr ? &tr->model : NULL));
    snprintf(group, sizeof group, "/stages/%d", l);
    snprintf(name, sizeof name, "%s/velocity", group);
    EBM_TRY(read_rbm(d, ck, l, name, tr ? &tr->velocity : NULL));
    if (d->cfg.train.centering) {
        snprintf(name, sizeof name, "%s/visible_offset", group);
        EBM_TRY(ebm_ckpt_read_f32_part(ck, name, tr ? tr->mu : NULL, 1, &V, mine));
        snprintf(name, sizeof name, "%s/hidden_offset", group);
        EBM_TRY(ebm_ckpt_read_f32_part(ck, name, tr ? tr->lambda : NULL, 1, &H, mine));
    }
    snprintf(name, sizeof name, "%s/hidden_mean", group);
    EBM_TRY(ebm_ckpt_read_f32_part(ck, name, mine ? d->hmean_last : NULL, 1, &H, mine));
    int64_t first = mine ? d->group.rank : 0;
    if (d->cfg.train.persistent) {
        snprintf(name, sizeof name, "%s/chains", group);
        int64_t C = mine ? tr->C : 0;
        EBM_TRY(ebm_ckpt_read_rows_f32(ck, name, tr ? tr->chains : NULL, first * C, C, V));
    }
    uint64_t rng[RNG_FIELDS] = { 0 };
    snprintf(name, sizeof name, "%s/rng", group);
    EBM_TRY(ebm_ckpt_read_rows_u64(ck, name, rng, first, mine ? 1 : 0, RNG_FIELDS));
    int64_t step, epoch;
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, group, "step", &step));
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, group, "epoch", &epoch));
    if (!mine) return EBM_OK;
    if (rng[0] != tr->cfg.train.seed)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: stage %d was trained with seed %llu, this run has "
                        "%llu ([train] seed + stage); a resume keeps the seed", ck->path, l,
                        (unsigned long long)rng[0], (unsigned long long)tr->cfg.train.seed);
    int want = epochs_trained(d, l);
    if (epoch != want || step != (int64_t)want * tr->steps_per_epoch)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: stage %d is at epoch %lld, step %lld; the plan "
                        "expects epoch %d at pipeline epoch %d (damaged checkpoint?)", ck->path,
                        l, (long long)epoch, (long long)step, want, d->tick);
    tr->rng_sample.block = rng[2];
    tr->rng_binarize.block = rng[3];
    tr->step = step;
    tr->epoch = (int)epoch;
    return EBM_OK;
}

static ebm_status expect_str(struct ebm_ckpt *ck, const char *object, const char *attr,
                             const char *want, const char *what)
{
    char *have = NULL;
    EBM_TRY(ebm_ckpt_read_attr_str(ck, object, attr, &have));
    ebm_status st = EBM_OK;
    if (strcmp(have, want) != 0)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint has %s '%s', but this run has '%s'",
                      ck->path, what, have, want);
    free(have);
    return st;
}

static ebm_status load_contents(struct ebm_dbn_trainer *d, struct ebm_ckpt *ck)
{
    EBM_TRY(expect_str(ck, "/model", "type", "dbn", "model type"));
    char plan[1024];
    plan_text(d, plan, sizeof plan);
    EBM_TRY(expect_str(ck, "/train", "plan", plan, "the pipeline plan"));
    EBM_TRY(expect_str(ck, "/data", "split", d->cfg.data.split, "[data] split"));
    EBM_TRY(expect_str(ck, "/data", "binarize", binarize_name(d->cfg.data.binarize),
                       "[data] binarize"));
    int64_t n_rows, tick;
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/data", "n_rows", &n_rows));
    if (n_rows != d->n_rows)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint was trained on %lld rows, this run has "
                        "%lld ([data] path, split, max_examples)", ck->path, (long long)n_rows,
                        (long long)d->n_rows);
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/train", "tick", &tick));
    if (tick < 0 || tick > d->plan.ticks)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: pipeline epoch %lld is outside this plan's 0..%d",
                        ck->path, (long long)tick, d->plan.ticks);
    d->tick = (int)tick;
    return EBM_OK;
}

ebm_status ebm_dbn_load(struct ebm_dbn_trainer *d, const char *path)
{
    struct ebm_ckpt ck;
    ebm_status st = ebm_ckpt_open(&ck, path, d->world->world);
    if (st == EBM_OK) st = load_contents(d, &ck);
    st = ebm_par_agree(d->world, st);
    /* Stages already under way get a trainer to load into; its fresh start
     * is overwritten entirely. */
    if (st == EBM_OK && d->stage > 0 && stage_started(d, d->stage) && !d->started) {
        float *half = malloc(sizeof(float) * (size_t)d->plan.sizes[d->stage]);
        st = half ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
        for (int i = 0; st == EBM_OK && i < d->plan.sizes[d->stage]; i++) half[i] = 0.5f;
        if (st == EBM_OK) st = ebm_dbn_start_stage(d, half);
        free(half);
    }
    st = ebm_par_agree(d->world, st);
    for (int l = 0; st == EBM_OK && l < d->plan.n_stages; l++) st = load_stage(d, &ck, l);
    ebm_ckpt_close(&ck);
    return ebm_par_agree(d->world, st);
}
