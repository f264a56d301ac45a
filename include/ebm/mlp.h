/* A feed-forward classifier unrolled from a DBN (Hinton & Salakhutdinov,
 * Science 2006): the DBN's L layers as sigmoid layers a_{k+1} =
 * sigmoid(a_k W_k + c_k), then a softmax output layer, trained by
 * backpropagation of the cross-entropy ("fine-tuning"). Data-parallel like
 * the other trainers: each rank's share of the mean gradient, one
 * allreduce per step. Letters: N rows, n_k units of layer k (n_0 = D
 * inputs), K classes. */
#ifndef EBM_MLP_H
#define EBM_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "ebm/dataset.h"
#include "ebm/dbn.h"
#include "ebm/error.h"
#include "ebm/par.h"

#define EBM_MLP_MAX_LAYERS 16

/* Parameters in one block, W_0 | c_0 | W_1 | c_1 | ... | W_out | b_out, with
 * views; a gradient or a velocity has the same layout. */
struct ebm_mlp {
    int n_hidden_layers;          /* L */
    int sizes[EBM_MLP_MAX_LAYERS + 2]; /* n_0 .. n_L, then K */
    size_t n_params;
    float *params;
    float *W[EBM_MLP_MAX_LAYERS + 1]; /* (n_k, n_{k+1}) row-major; W[L] is the output's */
    float *b[EBM_MLP_MAX_LAYERS + 1]; /* (n_{k+1}) */
};

/* Sizes n_0 .. n_L and K (L + 2 values), zero parameters. */
ebm_status ebm_mlp_init(struct ebm_mlp *m, int n_hidden_layers, const int *sizes);
void ebm_mlp_free(struct ebm_mlp *m);
/* The DBN's weights and hidden biases as the sigmoid layers, a zero
 * softmax layer of K classes on top. */
ebm_status ebm_mlp_from_dbn(struct ebm_mlp *m, const struct dbn *d, int classes);

/* Views of a block with m's layout (a gradient or a velocity). */
void ebm_mlp_views(const struct ebm_mlp *m, float *block, float **W, float **b);

/* Activations of every layer for up to max_rows rows, allocated once. */
struct ebm_mlp_scratch {
    int max_rows;
    float *act[EBM_MLP_MAX_LAYERS + 2]; /* act[k] (rows, n_k), k = 1 .. L; act[L+1] the
                                         * logits, then probabilities, then deltas */
    float *delta[2];                    /* two (rows, max n_k) ping-pong buffers */
};
ebm_status ebm_mlp_scratch_init(struct ebm_mlp_scratch *s, const struct ebm_mlp *m, int max_rows);
void ebm_mlp_scratch_free(struct ebm_mlp_scratch *s);

/* Cross-entropy of n rows x (n, n_0) with labels y, summed, in double;
 * grad (n_params) <- scale times its gradient (backpropagation: 3 GEMMs a
 * layer); *errors (may be NULL) gains the misclassified rows. No L2 here. */
double ebm_mlp_loss_grad(const struct ebm_mlp *m, const float *x, const int32_t *y, int n,
                         float scale, float *grad, int64_t *errors, struct ebm_mlp_scratch *s);
/* The same by plain loops in double, for tests. */
double ebm_mlp_loss_grad_ref(const struct ebm_mlp *m, const float *x, const int32_t *y, int n,
                             double scale, double *grad);
/* pred (n): the arg-max class of each row (the lowest on ties). */
void ebm_mlp_predict(const struct ebm_mlp *m, const float *x, int n, int32_t *pred,
                     struct ebm_mlp_scratch *s);

/* ---- data-parallel fine-tuning ------------------------------------------------ */

struct ebm_mlp_opts {
    int epochs;
    int batch;          /* rows per rank per step */
    float lr, momentum;
    float lr_end;       /* the step size moves linearly from lr to lr_end over the run */
    float l2;           /* on the weights, not the biases */
    uint64_t seed;      /* per-rank epoch shuffles */
};

struct ebm_mlp_trainer {
    const struct ebm_par *par;         /* borrowed */
    const struct ebm_dataset *data;    /* borrowed: this rank's shard, labels in [0, K) */
    struct ebm_mlp_opts opts;
    int64_t steps_per_epoch;
    float scale;                       /* 1 / global rows of a step */
    struct ebm_mlp_scratch s;
    float *block;                      /* gradient | loss sum | errors: the one allreduce */
    float *velocity;                   /* (n_params) */
    float *xb;                         /* (B, n_0) */
    int32_t *yb;                       /* (B) */
    int64_t *order;                    /* (n) */
};

/* Collective; every rank needs at least `batch` rows. */
ebm_status ebm_mlp_trainer_init(struct ebm_mlp_trainer *tr, const struct ebm_mlp *m,
                                const struct ebm_par *par, const struct ebm_dataset *data,
                                const struct ebm_mlp_opts *opts);
void ebm_mlp_trainer_free(struct ebm_mlp_trainer *tr);
/* Collective: one epoch of momentum SGD. Allocates nothing. loss: the mean
 * cross-entropy over the epoch's steps (plus the L2 penalty), error: the
 * fraction misclassified, each at the parameters of its step. */
ebm_status ebm_mlp_train_epoch(struct ebm_mlp_trainer *tr, struct ebm_mlp *m, int epoch,
                               double *loss, double *error);

/* ---- model files -------------------------------------------------------------- */

/* Collective: /model type "mlp", the sizes, /model/layers/<k>/{W,b}
 * (k = 0 .. L, L the output), through the checkpoint API; the source
 * DBN and the training data as attributes. */
ebm_status ebm_mlp_save(const char *path, MPI_Comm comm, const struct ebm_mlp *m,
                        const char *source, const char *data, const struct ebm_mlp_opts *opts);
/* Collective; EBM_ERR_INPUT naming the file when it is not an mlp. */
ebm_status ebm_mlp_load(const char *path, MPI_Comm comm, struct ebm_mlp *m);

#endif
