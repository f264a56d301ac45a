/* Reading a trained model out of a checkpoint, for the commands that use
 * one (eval, sample) rather than continue training it. */
#ifndef EBM_MODEL_FILE_H
#define EBM_MODEL_FILE_H

#include <mpi.h>

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

#endif
