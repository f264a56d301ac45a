/* Reading a trained model out of a checkpoint, for the commands that use
 * one (eval, sample, transform) rather than continue training it. */
#ifndef EBM_MODEL_FILE_H
#define EBM_MODEL_FILE_H

#include <stddef.h>
#include <mpi.h>

#include "ebm/dbn.h"
#include "ebm/rbm.h"

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
