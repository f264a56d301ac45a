/* Training a Deep Belief Network as a pipeline (docs/dbn.md): one group of
 * ranks per layer, each group an ordinary data-parallel RBM trainer
 * (ebm/trainer.h) on its own communicator, fed the hidden activations of
 * the group below through a bounded queue (ebm/feature_link.h). The stages
 * meet once per pipeline epoch ("tick") for metrics, stop requests and
 * checkpoints; ebm/pipeline.h says what each stage does on each tick. */
#ifndef EBM_DBN_TRAIN_H
#define EBM_DBN_TRAIN_H

#include <stdint.h>

#include "ebm/config.h"
#include "ebm/feature_link.h"
#include "ebm/par.h"
#include "ebm/pipeline.h"
#include "ebm/trainer.h"

/* Seconds a stage spent, per rank: training or computing features, waiting
 * for input from the stage below, blocked on output to the stage above
 * (back-pressure), and at the tick meetings (metrics, checkpoints). */
enum { DBN_BUSY, DBN_WAITING, DBN_BLOCKED, DBN_SYNC, DBN_TIMES };

struct ebm_dbn_trainer {
    struct ebm_config cfg;         /* the dbn config */
    const struct ebm_par *world;
    struct ebm_pipeline_plan plan;
    int stage;                     /* this rank's */
    struct ebm_par group;          /* the ranks of this stage */
    struct ebm_config stage_cfg;   /* the RBM this stage trains */
    struct ebm_trainer tr;         /* set up once the stage starts */
    int started;
    int has_in, has_out;           /* links to the stages below / above */
    struct ebm_link_in in;
    struct ebm_link_out out;
    float *features;               /* (B, H) refresh_steps > 1: p(h | v) under snapshot */
    struct rbm snapshot;           /* the weights features come from, when refreshed */
    double *hmean_sum;             /* (H) this epoch's sum of the data's mean p(h | v) */
    float *hmean_last;             /* (H) its mean over the last trained epoch */
    int tick;                      /* ticks done */
    int64_t n_rows;                /* training rows */
    double times[DBN_TIMES];       /* this run, this rank */
    double epoch_times[DBN_TIMES]; /* the current tick */
    int quiet;                     /* no progress lines (tests) */
    double run_start;              /* clock at this run's first tick */
    char checkpoint_path[2048];    /* the newest checkpoint this run wrote */
};

/* Collective over world: plans the pipeline, splits the ranks into stage
 * groups and starts stage 0 (which reads its data shards). */
ebm_status ebm_dbn_init(struct ebm_dbn_trainer *d, const struct ebm_config *cfg,
                        const struct ebm_par *world);
void ebm_dbn_free(struct ebm_dbn_trainer *d);
/* Runs the remaining ticks, with metrics and checkpoints; EBM_ERR_STOPPED
 * after a stop request, once the current tick's checkpoint is written. */
ebm_status ebm_dbn_run(struct ebm_dbn_trainer *d);
/* Runs one tick (no checkpoint): for tests that stop half-way. */
ebm_status ebm_dbn_tick(struct ebm_dbn_trainer *d);

/* Checkpoint I/O (src/learn/dbn_snapshot.c), collective over world. */
ebm_status ebm_dbn_save(struct ebm_dbn_trainer *d, const char *path);
ebm_status ebm_dbn_load(struct ebm_dbn_trainer *d, const char *path);

/* Collective: layer l's parameters (an rbm of the right size, from
 * rbm_init) on every rank. */
ebm_status ebm_dbn_layer(const struct ebm_dbn_trainer *d, int l, struct rbm *out);
/* Collective: each stage's run totals (DBN_TIMES per stage, mean over its
 * ranks) into out[n_stages][DBN_TIMES] on every rank. */
ebm_status ebm_dbn_stage_times(const struct ebm_dbn_trainer *d, double out[][DBN_TIMES]);

/* Internal to the two files: starts stage l's trainer on its ranks. */
ebm_status ebm_dbn_start_stage(struct ebm_dbn_trainer *d, const float *marginals);

#endif
