/* The one training loop: next batch -> statistics -> one allreduce ->
 * identical update on every rank, with epoch metrics and checkpoints.
 * Dimension letters: B = batch rows per rank, C = chains per rank (per
 * replica on a process grid), V = visible units, H = hidden units, P = ranks. */
#ifndef EBM_TRAINER_H
#define EBM_TRAINER_H

#include <stdint.h>

#include "ebm/bm.h"
#include "ebm/config.h"
#include "ebm/dbm.h"
#include "ebm/dataset.h"
#include "ebm/grid.h"
#include "ebm/grid_rbm.h"
#include "ebm/memory_plan.h"
#include "ebm/par.h"
#include "ebm/rbm.h"
#include "ebm/rng.h"

struct ebm_timing {
    double compute;    /* statistics + update */
    double allreduce;
    double io;         /* metrics, logs, pictures */
    double checkpoint;
};

struct ebm_trainer {
    struct ebm_config cfg;
    const struct ebm_par *par;
    const struct ebm_par *dpar; /* the data-parallel layout, one member per replica:
                                   par itself, or one rank of each replica on a grid */
    struct ebm_dataset data;    /* this rank's training shard */
    struct ebm_dataset valid;   /* this rank's held-out monitor rows (n may be 0) */
    int64_t n_monitor;          /* first rows of the shard used for epoch metrics */
    int V, H, B, C;
    struct rbm model;           /* owns the parameter block */
    struct rbm grad, velocity;  /* views into grad_block / velocity block */
    float *grad_block;          /* grad | hmean (H) | stop (1): the one allreduced block */
    size_t grad_len;
    float *hmean;               /* data mean of p(h | v), for the centering offset */
    float *velocity_block;
    float *mu, *lambda;         /* centering offsets (V), (H); NULL when off */
    float *input_mean, *input_std; /* (V) [data] standardize: x <- (x - mean) / std; NULL when off */
    float *chains;              /* (C, V) persistent chains */
    float *v_batch, *ph_data;   /* (B, V), (B, H) */
    float *v_neg, *ph_neg, *h_neg, *pv_neg; /* (C, V), (C, H), (C, H), (C, V) */
    float *sv_batch, *sv_neg;   /* (B, V), (C, V): s(v) = v / sigma^2 of Gaussian units, else NULL */
    float *pv_monitor;          /* (B, V) epoch-metric scratch */
    double *fe_monitor;         /* (B) */
    float *eval_x;              /* held-out rows binarised for AIS estimates, or NULL */
    int64_t *order;             /* this epoch's shuffled shard rows */
    struct ebm_rng rng_sample, rng_binarize;
    int64_t step;               /* updates done */
    int epoch;                  /* epochs done */
    int64_t steps_per_epoch;
    struct ebm_memory_plan memory; /* rbm: this rank's bytes by purpose (ebm/memory_plan.h) */
    struct ebm_timing time;     /* this epoch's */
    int quiet;                  /* no progress lines on stdout (tests) */
    int stop_agreed;            /* some rank was asked to stop: all stop after this step */
    struct ebm_timing total;    /* summed over the epochs of this run */
    char checkpoint_path[2048]; /* the newest checkpoint this run wrote */
    char resume_note[2048];     /* set by ebm_trainer_load when worth telling */
    int fed;                    /* batches arrive through ebm_trainer_load_rows (a DBN
                                   stage); data.x then holds the epoch's monitor rows */
    struct {                    /* model.type = bm (src/learn/bm_learn.c); model, grad
                                   and velocity above then stay empty */
        struct bm model, grad, velocity; /* views of grad_block / velocity_block */
        struct bm_chains chains;    /* (C) streams of the chains v_neg, by global index */
        struct bm_exact exact;      /* train.negative = exact */
    } bm;
    struct {                    /* [parallel] grid other than 1x1 (src/learn/grid_train.c):
                                   model, grad and velocity above then stay empty */
        int on;
        struct ebm_grid layout;
        struct ebm_par data_par;    /* the ranks at this grid position, one per replica */
        struct ebm_grid_rbm rbm;    /* W, its gradient and velocity, batch, chains */
    } grid;
    struct {                    /* model.type = dbm (src/learn/dbm_learn.c) */
        struct dbm model, grad, velocity; /* views of grad_block / velocity_block */
        struct dbm_state data;      /* (B, n_k): v_batch, then mean-field means */
        struct dbm_state chains;    /* (C, n_k): v_neg, then the hidden layers' states */
        float *in;                  /* (max(B, C), max n_k) layer-input scratch */
        int64_t mf_sweeps, mf_batches; /* mean-field sweeps used this epoch, over batches */
    } dbm;
};

/* Collective. Reads this rank's shard and allocates everything the loop
 * needs; the parameters are initialised from the seed (identical on all
 * ranks). */
ebm_status ebm_trainer_init(struct ebm_trainer *tr, const struct ebm_config *cfg,
                            const struct ebm_par *par);
void ebm_trainer_free(struct ebm_trainer *tr);
/* Collective. A trainer whose batches come from elsewhere (a DBN stage fed
 * by the stage below): V inputs per row, steps_per_epoch batches per epoch,
 * and the inputs' marginals (V) for the visible biases and centring offset.
 * The first rows of each epoch are kept for the epoch metrics. */
ebm_status ebm_trainer_init_fed(struct ebm_trainer *tr, const struct ebm_config *cfg,
                                const struct ebm_par *par, int V, int64_t steps_per_epoch,
                                const float *visible_marginals);

/* One update on the next batch of the current epoch's order (step index
 * within the epoch = step % steps_per_epoch): load_batch, then update. */
ebm_status ebm_trainer_step(struct ebm_trainer *tr);
/* n chains (n, V) started from rng: uniform random states for discrete
 * visible units, N(b, 1) for Gaussian ones. */
void ebm_trainer_fresh_chains(const struct ebm_trainer *tr, float *rows, int64_t n,
                              struct ebm_rng *rng);
/* Rows [from, to) of `rows` as fresh chains, row r keyed by global chain
 * first_chain + r (stream (seed, chain, EBM_RNG_FRESH_CHAINS)): the same
 * chain starts alike in every layout. */
void ebm_trainer_keyed_chains(const struct ebm_trainer *tr, float *rows, int64_t first_chain,
                              int64_t from, int64_t to);
/* Starts a new epoch: shuffles this rank's shard with the epoch's stream. */
void ebm_trainer_begin_epoch(struct ebm_trainer *tr);
/* The shard order for the epoch numbered epoch_key (begin_epoch uses
 * tr->epoch; a DBN stage feeding the next keeps counting past its own). */
void ebm_trainer_shuffle(struct ebm_trainer *tr, int64_t epoch_key);
/* v_batch from batch `index` of the current order, binarised per [data]
 * binarize with this rank's stream. */
void ebm_trainer_load_batch(struct ebm_trainer *tr, int64_t index);
/* v_batch from B rows x (B, V) in [0, 1], binarised the same way. */
void ebm_trainer_load_rows(struct ebm_trainer *tr, const float *x);
/* Statistics on v_batch, the one allreduce, the update: step += 1. */
ebm_status ebm_trainer_update(struct ebm_trainer *tr);
/* Trains until cfg.train.epochs, with metrics and checkpoints. When a rank
 * is asked to stop (ebm/stop.h), every rank finishes the same step, a
 * checkpoint is written and EBM_ERR_STOPPED is returned. */
ebm_status ebm_trainer_run(struct ebm_trainer *tr);
/* Collective: a checkpoint of the current state in [output] dir, named by
 * (epoch, step), older ones rotated out, and the pictures redrawn. */
ebm_status ebm_trainer_checkpoint(struct ebm_trainer *tr);

/* Collective: this run's seconds in compute, allreduce, io and checkpoint
 * (in that order), as the mean over ranks and the slowest rank's. */
ebm_status ebm_trainer_total_timing(const struct ebm_trainer *tr, double mean[4], double max[4]);

/* Epoch metrics on the monitor rows, reduced over ranks. */
struct ebm_epoch_metrics {
    double recon_train, recon_valid; /* mean squared reconstruction error per example */
    double fe_train, fe_valid;       /* mean free energy */
    double fe_gap;                   /* fe_valid - fe_train; NaN without held-out data */
    /* AIS on the held-out rows, every train.eval_every epochs; NaN otherwise */
    double avg_log_prob_valid, ais_log_z, ais_log_z_lo, ais_log_z_hi;
};
ebm_status ebm_trainer_evaluate(struct ebm_trainer *tr, struct ebm_epoch_metrics *out);
/* Adds an AIS estimate of the held-out average log-probability to out. */
ebm_status ebm_trainer_estimate_log_prob(struct ebm_trainer *tr, struct ebm_epoch_metrics *out);

/* Checkpoint I/O (src/learn/snapshot.c): the full training state. */
ebm_status ebm_trainer_save(struct ebm_trainer *tr, const char *path);
ebm_status ebm_trainer_load(struct ebm_trainer *tr, const char *path);
/* Checkpoint file names: "ckpt-eNNNNNN.h5" after epoch N, and
 * "ckpt-eNNNNNN-sNNNNNNNNN.h5" for a stop at step S during epoch N + 1.
 * The name of the checkpoint at (epoch, step), given the steps per epoch. */
void ebm_checkpoint_name(char *buf, size_t len, int epoch, int64_t step, int64_t steps_per_epoch);
/* An order key of a checkpoint name (larger is newer), or -1 when the name
 * is not a checkpoint's. */
int64_t ebm_checkpoint_key(const char *name);
/* Rank 0: removes all but the newest `keep` checkpoints up to key `newest`,
 * and any past it. */
void ebm_checkpoint_rotate(const char *dir, int keep, int64_t newest);
/* The newest complete checkpoint in dir into path, or "" when none. */
ebm_status ebm_trainer_latest_checkpoint(const char *dir, char *path, size_t len);

#endif
