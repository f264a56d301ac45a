/* The fully visible Boltzmann machine inside the one trainer
 * (model.type = bm): its parameter blocks, chains, statistics, update,
 * epoch metrics and checkpoint tensors. The trainer keeps the loop (batches,
 * the one allreduce, stop requests, metrics, checkpoints) and calls these
 * where the RBM's own calls would go. */
#ifndef EBM_BM_LEARN_H
#define EBM_BM_LEARN_H

#include "ebm/checkpoint.h"
#include "ebm/trainer.h"

/* Whether the trainer trains a fully visible BM. */
int ebm_trainer_is_bm(const struct ebm_trainer *tr);

/* Parameters, gradient and velocity blocks (the gradient block followed by
 * the stop flag), the chains' streams keyed by global chain index, and the
 * exact-gradient workspace for train.negative = exact. */
ebm_status ebm_bm_alloc(struct ebm_trainer *tr);
void ebm_bm_free(struct ebm_trainer *tr);
/* Parameters from the seed and the data marginals p (V) in [0, 1]; random
 * chain states from the chains' own streams. */
void ebm_bm_start(struct ebm_trainer *tr, const float *p);
/* Negative phase and statistics of v_batch into the gradient block:
 * k sequential-Gibbs sweeps of the chains (PCD) or of copies of the batch
 * (CD), or the exact model moments (train.negative = exact). */
void ebm_bm_statistics(struct ebm_trainer *tr, float inv_nd, float inv_nm);
/* The momentum step on the allreduced gradient (decay on W only). */
void ebm_bm_update(struct ebm_trainer *tr, double lr);
/* Epoch metrics of rows v (rows <= B, D): sums[0] += the squared error of
 * each row against its units' conditional means E[v_j | v_-j] (the BM's
 * reconstruction), sums[1] += its energy E(v) (a BM's free energy). */
void ebm_bm_monitor(struct ebm_trainer *tr, const float *v, int rows, double sums[2]);
/* Whether every parameter is finite. */
int ebm_bm_params_finite(const struct ebm_trainer *tr);
/* Checkpoint tensors: /model (type "bm", n_units, spin), /model/W,
 * /model/bias, /optim/velocity/{W,bias}, and /train/bm_chain_rng (one
 * stream counter per global chain, also for CD's per-step chains). Load
 * checks the shape and the state type, and refuses a W that is not
 * symmetric with a zero diagonal. */
ebm_status ebm_bm_save(struct ebm_trainer *tr, struct ebm_ckpt *ck);
ebm_status ebm_bm_load(struct ebm_trainer *tr, struct ebm_ckpt *ck);

#endif
