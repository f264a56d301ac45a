/* The Deep Boltzmann Machine inside the one trainer (model.type = dbm):
 * the positive phase by mean field, the negative phase by persistent
 * alternating Gibbs chains, one allreduce per step (Salakhutdinov &
 * Hinton, AISTATS 2009). The trainer keeps the loop and calls these where
 * the RBM's calls would go, as for the fully visible BM (bm_learn.h). */
#ifndef EBM_DBM_LEARN_H
#define EBM_DBM_LEARN_H

#include "ebm/checkpoint.h"
#include "ebm/trainer.h"

int ebm_trainer_is_dbm(const struct ebm_trainer *tr);
/* The sizes of model.layers into sizes (n_0 .. n_L); returns L. */
int ebm_dbm_layers(const struct ebm_config *cfg, int *sizes);

ebm_status ebm_dbm_alloc(struct ebm_trainer *tr);
void ebm_dbm_free(struct ebm_trainer *tr);
/* Weights N(0, 0.01^2), the visible biases from the data marginals p, the
 * hidden biases 0; the chains uniform random from the rank's stream. */
void ebm_dbm_start(struct ebm_trainer *tr, const float *p);
/* Mean field on v_batch, k Gibbs sweeps of the chains, the statistics. */
void ebm_dbm_statistics(struct ebm_trainer *tr, float inv_nd, float inv_nm);
void ebm_dbm_update(struct ebm_trainer *tr, double lr);
/* Epoch metrics of rows v (rows <= B): sums[0] += the squared error of v
 * against p(v | mu_1), sums[1] += the variational free energy
 * E(v, mu) - H(mu) (the bound on -log p(v) without log Z). */
void ebm_dbm_monitor(struct ebm_trainer *tr, const float *v, int rows, double sums[2]);
int ebm_dbm_params_finite(const struct ebm_trainer *tr);
/* /model type "dbm", layers, /model/layers/<k>/W, /model/biases/<k>, the
 * velocities under /optim/velocity, the hidden chains /train/dbm_chains/<k>. */
ebm_status ebm_dbm_save(struct ebm_trainer *tr, struct ebm_ckpt *ck);
ebm_status ebm_dbm_load(struct ebm_trainer *tr, struct ebm_ckpt *ck);

#endif
