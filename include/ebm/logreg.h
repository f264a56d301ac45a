/* Multinomial logistic regression (softmax, L2) on feature rows, trained
 * data-parallel: each rank's share of the mean gradient, one allreduce per
 * step, the same update everywhere (docs/classify.md).
 * Letters: N rows in a batch, D features, K classes. */
#ifndef EBM_LOGREG_H
#define EBM_LOGREG_H

#include <stddef.h>
#include <stdint.h>

#include "ebm/dataset.h"
#include "ebm/error.h"
#include "ebm/par.h"

/* Parameters: one block with named views, so a gradient has the same layout. */
struct ebm_logreg {
    int dim, classes;      /* D, K */
    size_t n_params;       /* D * K + K */
    float *params;         /* the block: W | b */
    float *W;              /* (D, K) row-major: W[d, k] weighs feature d for class k */
    float *b;              /* (K) */
};

/* Zero parameters (the objective is convex; zero is as good a start as any
 * and needs no randomness). free(NULL-initialised) is safe. */
ebm_status ebm_logreg_init(struct ebm_logreg *m, int dim, int classes);
void ebm_logreg_free(struct ebm_logreg *m);

/* Per-batch scratch, allocated once for the largest batch. */
struct ebm_logreg_scratch {
    int max_rows, classes;
    float *prob;           /* (max_rows, K): logits, then softmax, then dL/dlogits */
};
ebm_status ebm_logreg_scratch_init(struct ebm_logreg_scratch *s, const struct ebm_logreg *m,
                                   int max_rows);
void ebm_logreg_scratch_free(struct ebm_logreg_scratch *s);

/* logits (n, K) = x (n, D) W + b: one GEMM. */
void ebm_logreg_logits(const struct ebm_logreg *m, const float *x, int n, float *logits);

/* Cross-entropy of the n rows (x (n, D), labels y in [0, K)), summed, in
 * double. grad (n_params, W | b layout) is overwritten with scale times the
 * gradient of that sum; *errors (may be NULL) gains the rows whose arg-max
 * class is not their label. n <= s->max_rows. No L2 here: the penalty is
 * added once, after the reduction (ebm_logreg_add_l2). */
double ebm_logreg_loss_grad(const struct ebm_logreg *m, const float *x, const int32_t *y, int n,
                            float scale, float *grad, int64_t *errors,
                            struct ebm_logreg_scratch *s);
/* The same by plain loops in double (grad is double here). */
double ebm_logreg_loss_grad_ref(const struct ebm_logreg *m, const float *x, const int32_t *y,
                                int n, double scale, double *grad, int64_t *errors);

/* grad_W += l2 * W (the gradient of l2/2 ||W||^2; the bias is not penalised). */
void ebm_logreg_add_l2(const struct ebm_logreg *m, float *grad, float l2);
/* l2/2 ||W||^2 in double. */
double ebm_logreg_penalty(const struct ebm_logreg *m, double l2);
/* params -= lr * grad. */
void ebm_logreg_sgd(struct ebm_logreg *m, const float *grad, float lr);

/* pred (n) = arg-max class of each row (the lowest index on ties). */
void ebm_logreg_predict(const struct ebm_logreg *m, const float *x, int n, int32_t *pred,
                        struct ebm_logreg_scratch *s);
/* counts (K, K) [true, predicted] += one per row. */
void ebm_logreg_confusion(const int32_t *y, const int32_t *pred, int n, int classes,
                          int64_t *counts);

/* ---- data-parallel training ------------------------------------------------------ */

struct ebm_logreg_opts {
    int epochs;            /* >= 1 */
    int batch;             /* rows per rank per step; 0: full batch (one step per epoch) */
    float lr;              /* step size on the mean gradient */
    float l2;              /* lambda of l2/2 ||W||^2 */
    uint64_t seed;         /* per-rank epoch shuffles (mini-batch only) */
};

/* What one epoch measured, identical on every rank. */
struct ebm_logreg_epoch {
    int64_t steps, rows;   /* this epoch; rows = global rows seen */
    double loss;           /* mean cross-entropy over those rows + the L2 penalty, each
                            * taken at the parameters of its step */
    double error;          /* fraction of those rows misclassified, likewise */
};

struct ebm_logreg_trainer {
    const struct ebm_par *par;       /* borrowed */
    const struct ebm_dataset *data;  /* borrowed: this rank's shard, labels in [0, K) */
    struct ebm_logreg_opts opts;
    int64_t n_total;                 /* global rows */
    int64_t steps_per_epoch;
    int rows_per_step;               /* this rank's rows in a step */
    float scale;                     /* 1 / global rows of a step */
    struct ebm_logreg_scratch s;
    float *block;                    /* (n_params + 2): gradient | loss sum | errors */
    float *xb;                       /* (B, D) mini-batch rows; NULL for full batch */
    int32_t *yb;                     /* (B) */
    int64_t *order;                  /* (n) epoch order; NULL for full batch */
};

/* Collective over par. Full batch needs every rank to hold at least one
 * row; mini-batch, at least B (the smallest shard sets the steps). */
ebm_status ebm_logreg_trainer_init(struct ebm_logreg_trainer *tr, const struct ebm_logreg *m,
                                   const struct ebm_par *par, const struct ebm_dataset *data,
                                   const struct ebm_logreg_opts *opts);
void ebm_logreg_trainer_free(struct ebm_logreg_trainer *tr);
/* Collective: one epoch (epoch counts from 0) of steps. Allocates nothing. */
ebm_status ebm_logreg_train_epoch(struct ebm_logreg_trainer *tr, struct ebm_logreg *m, int epoch,
                                  struct ebm_logreg_epoch *out);

/* ---- model files ------------------------------------------------------------------ */

/* What a model file records beside the tensors. */
struct ebm_logreg_record {
    const char *data, *split;        /* training data */
    int64_t n_rows, ranks, steps;
    struct ebm_logreg_opts opts;
};
/* Collective: /model/W, /model/b and the attributes (docs/classify.md),
 * through the checkpoint API (temporary, fsync, rename). */
ebm_status ebm_logreg_save(const char *path, MPI_Comm comm, const struct ebm_logreg *m,
                           const struct ebm_logreg_record *rec);
/* Collective. Fails with EBM_ERR_INPUT, naming the file, when it is not an
 * ebm checkpoint, not a classifier, or damaged. */
ebm_status ebm_logreg_load(const char *path, MPI_Comm comm, struct ebm_logreg *m);

#endif
