/* Greedy layer-wise pre-training of a DBM (Salakhutdinov & Hinton, AISTATS
 * 2009, sec. 3.1), before joint training starts (train.pretrain_epochs).
 *
 * In the DBM every hidden layer hears from both neighbours, while an RBM
 * in a stack hears from one. So each layer pair k, k+1 is first trained as
 * an RBM whose missing half of the input is stood in for by doubling the
 * half it has:
 *   bottom (k = 0):      p(h1 | v) = sigmoid(2 vW + c),   p(v | h1) = sigmoid(h1 W' + b)
 *   top (k = L - 1):     p(h_L | h_{L-1}) as usual,       p(h_{L-1} | h_L) = sigmoid(2 h_L W' + b)
 *   middle (L = 3, k = 1): a plain RBM.
 * Each is trained with CD-1 by the one trainer, all ranks data-parallel,
 * on p(h_k | below) of the layers already trained (probabilities, not
 * samples). The DBM then takes the weights as they are, except a middle
 * RBM's, which are halved because both of its layers now get input from
 * the other side as well; a hidden layer's bias is the mean of the two
 * biases its RBMs gave it. Layer pair k trains with seed + 1 + k. */
#ifndef EBM_DBM_PRETRAIN_H
#define EBM_DBM_PRETRAIN_H

#include "ebm/trainer.h"

/* Collective. Pre-trains tr's DBM (model.type = dbm, train.pretrain_epochs
 * > 0) in place of its initial weights and biases; the chains, optimizer
 * state and step count are untouched. Rank 0 prints a line per epoch
 * unless tr->quiet. */
ebm_status ebm_dbm_pretrain(struct ebm_trainer *tr);

/* The weight multiplier the DBM applies to layer pair k's pre-trained
 * weights (1, or 0.5 for a middle pair), and the modified RBM's up and
 * down input scales. */
float ebm_dbm_pretrain_weight_factor(int n_hidden_layers, int k);
void ebm_dbm_pretrain_scales(int n_hidden_layers, int k, float *up, float *down);
/* m's weights and biases from pairs[0 .. L-1] (pair k of sizes n_k x
 * n_{k+1}) by the rule above. */
void ebm_dbm_from_pairs(struct dbm *m, const struct rbm *pairs);

#endif
