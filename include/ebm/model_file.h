/* Reading a trained model out of a checkpoint, for the commands that use
 * one (eval, sample, transform) rather than continue training it. */
#ifndef EBM_MODEL_FILE_H
#define EBM_MODEL_FILE_H

#include <stddef.h>
#include <mpi.h>

#include "ebm/bm.h"
#include "ebm/checkpoint.h"
#include "ebm/dbm.h"
#include "ebm/dbn.h"
#include "ebm/rbm.h"
#include "ebm/units.h"

struct ebm_model_info {
    int image_h, image_w;   /* 0 when the training data had no image shape */
    long long epoch, step;
    char data_path[1024];   /* what it was trained on (a record) */
};

/* Collective over comm (every rank reads the same tensors). Fails with
 * EBM_ERR_INPUT, naming the file, when it is not an ebm checkpoint or its
 * model is not an RBM. rbm_free(m) releases it. */
ebm_status ebm_model_read_rbm(const char *path, MPI_Comm comm, struct rbm *m,
                              struct ebm_model_info *info);

/* [data] standardize as stored with the model: /model/input_mean and
 * /model/input_std (V each) into mean and std, *present = 1; *present = 0
 * and nothing read when the model was trained on raw values. Collective. */
ebm_status ebm_model_read_standardize(const char *path, MPI_Comm comm, int V, float *mean,
                                      float *std, int *present);

/* An RBM's tensors under `group` of an open checkpoint (W, vbias, hbias and,
 * for Gaussian visible units, log_sigma), shapes checked against m. */
ebm_status ebm_ckpt_write_rbm(struct ebm_ckpt *ck, const char *group, const struct rbm *m);
ebm_status ebm_ckpt_read_rbm(struct ebm_ckpt *ck, const char *group, struct rbm *m);
/* /model attributes visible_units and hidden_units (absent: bernoulli). */
ebm_status ebm_ckpt_write_units(struct ebm_ckpt *ck, const struct rbm *m);
ebm_status ebm_ckpt_read_units(struct ebm_ckpt *ck, enum ebm_unit_type *visible,
                               enum ebm_unit_type *hidden);

/* Collective. Reads a fully visible BM (/model type "bm", n_units, spin,
 * /model/W, /model/bias) and refuses a W that is not symmetric with a zero
 * diagonal, naming the file. bm_free(m) releases it. */
ebm_status ebm_model_read_bm(const char *path, MPI_Comm comm, struct bm *m,
                             struct ebm_model_info *info);

/* Collective. Reads a DBM (/model type "dbm", layers, /model/layers/<k>/W,
 * /model/biases/<k>), naming the file when it is not one or is damaged.
 * dbm_free(m) releases it. */
ebm_status ebm_model_read_dbm(const char *path, MPI_Comm comm, struct dbm *m,
                              struct ebm_model_info *info);

/* The /model type attribute ("rbm", "dbn", ...) into type (len bytes).
 * Collective; fails with EBM_ERR_INPUT, naming the file, when it is not an
 * ebm checkpoint or has no model type. */
ebm_status ebm_model_type(const char *path, MPI_Comm comm, char *type, size_t len);

/* Collective. Reads a DBN checkpoint (docs/checkpoint.md); an RBM
 * checkpoint is read as a DBN of one layer. Fails with EBM_ERR_INPUT,
 * naming the file, for another model type, a layer that has not trained
 * yet (epochs 0), a `layers` list that disagrees with n_layers, or a
 * tensor whose shape disagrees with the layer sizes. dbn_free(d)
 * releases it. */
ebm_status ebm_model_read_dbn(const char *path, MPI_Comm comm, struct dbn *d,
                              struct ebm_model_info *info);

#endif
