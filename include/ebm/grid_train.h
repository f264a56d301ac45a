/* The RBM trainer in grid mode ([parallel] grid = PrxPc, docs/model-parallel.md):
 * the ranks form R replicas of a Pr x Pc process grid; each replica reads
 * one data shard and trains like one data-parallel rank, with W, its
 * gradient and velocity block-cyclic over the replica (ebm/grid_rbm.h).
 * The trainer keeps its loop (batches, metrics, stop requests,
 * checkpoints) and calls these where the RBM's own calls would go. A grid
 * run on R replicas follows a data-parallel run on R ranks up to float
 * summation order, and their checkpoints are one schema. */
#ifndef EBM_GRID_TRAIN_H
#define EBM_GRID_TRAIN_H

#include "ebm/checkpoint.h"
#include "ebm/trainer.h"

/* Whether the trainer trains on a process grid. */
int ebm_trainer_is_grid(const struct ebm_trainer *tr);

/* Collective: the grid and the data-parallel layout tr->dpar, from
 * [parallel] grid (1x1: tr->dpar = tr->par, nothing else). Before the data
 * is read, since shards are per replica. */
ebm_status ebm_grid_train_layout(struct ebm_trainer *tr);
/* Collective: the distributed RBM and the trainer buffers grid mode uses. */
ebm_status ebm_grid_train_alloc(struct ebm_trainer *tr);
void ebm_grid_train_free(struct ebm_trainer *tr);
/* This rank's bytes by purpose, the plan of ebm/memory_plan.h. */
void ebm_grid_train_memory(const struct ebm_trainer *tr, struct ebm_memory_plan *plan);
/* Parameters and chains as the data-parallel trainer starts them (p: the
 * visible marginals). */
void ebm_grid_train_start(struct ebm_trainer *tr, const float *p);
/* Collective: one step on v_batch at learning rate lr; sets stop_agreed. */
ebm_status ebm_grid_train_update(struct ebm_trainer *tr, double lr);
/* Collective over the replica: epoch-metric sums of rows v (rows <= B):
 * sums[0] += squared reconstruction error, sums[1] += free energy. */
ebm_status ebm_grid_train_monitor(struct ebm_trainer *tr, const float *v, int rows,
                                  double sums[2]);
/* Collective: whether every parameter on every rank is finite. */
int ebm_grid_train_params_finite(const struct ebm_trainer *tr);
/* The RBM's tensors (the data-parallel names and shapes) and the chains,
 * gathered per replica into tr->chains for the checkpoint's rows. */
ebm_status ebm_grid_train_save(struct ebm_trainer *tr, struct ebm_ckpt *ck);
ebm_status ebm_grid_train_load(struct ebm_trainer *tr, struct ebm_ckpt *ck);
/* After tr->chains was filled from a checkpoint: into the grid's chains. */
void ebm_grid_train_chains_loaded(struct ebm_trainer *tr);
/* Whether this rank writes its replica's per-replica checkpoint rows
 * (chains, stream counters): grid position (0, 0), or every rank in data mode. */
int ebm_grid_train_writes_rows(const struct ebm_trainer *tr);

#endif
