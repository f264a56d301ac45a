/* Tiny DBN checkpoints for the tests, in the schema of docs/checkpoint.md
 * as training writes it. Collective over MPI_COMM_WORLD; returns a status
 * rather than asserting, so serial and MPI tests check it their own way. */
#ifndef EBM_TEST_DBNUTIL_H
#define EBM_TEST_DBNUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <mpi.h>

#include "ebm/checkpoint.h"
#include "ebm/dbn.h"

/* What may be wrong with a written checkpoint. */
struct ckpt_flaws {
    const char *type;        /* NULL: "dbn" */
    const char *layers;      /* NULL: from the sizes */
    int untrained_layer;     /* -1: none */
    int wide_layer;          /* -1: none; else that layer's W gets one column too many */
};
static const struct ckpt_flaws no_flaws = { NULL, NULL, -1, -1 };

static inline ebm_status write_dbn_layers(struct ebm_ckpt *ck, const struct dbn *d,
                                          struct ckpt_flaws f)
{
    char layers[256] = "";
    size_t used = 0;
    for (int k = 0; k <= d->n_layers; k++)
        used += (size_t)snprintf(layers + used, sizeof layers - used, "%s%d", k ? "," : "",
                                 d->sizes[k]);
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "type", f.type ? f.type : "dbn"));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "n_layers", d->n_layers));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "layers", f.layers ? f.layers : layers));
    for (int k = 0; k < d->n_layers; k++) {
        const struct rbm *m = &d->rbm[k];
        char name[128];
        int64_t V = m->n_visible, H = m->n_hidden;
        int64_t wd[2] = { V, k == f.wide_layer ? H + 1 : H };
        float *W = calloc((size_t)(wd[0] * wd[1]), sizeof *W);
        if (!W) return EBM_FAIL(EBM_ERR_NOMEM, "out of memory for a test checkpoint");
        for (int64_t i = 0; i < V; i++)
            for (int64_t j = 0; j < H; j++) W[i * wd[1] + j] = m->W[i * H + j];
        snprintf(name, sizeof name, "/model/layers/%d/W", k);
        ebm_status st = ebm_ckpt_write_f32(ck, name, W, 2, wd);
        free(W);
        EBM_TRY(st);
        snprintf(name, sizeof name, "/model/layers/%d/vbias", k);
        EBM_TRY(ebm_ckpt_write_f32(ck, name, m->vbias, 1, &V));
        snprintf(name, sizeof name, "/model/layers/%d/hbias", k);
        EBM_TRY(ebm_ckpt_write_f32(ck, name, m->hbias, 1, &H));
        snprintf(name, sizeof name, "/model/layers/%d", k);
        EBM_TRY(ebm_ckpt_attr_i64(ck, name, "epochs", k == f.untrained_layer ? 0 : 3));
    }
    return EBM_OK;
}

/* The DBN d, with flaws f, trained on images of image_h x image_w (0, 0:
 * not images). */
static inline ebm_status write_dbn_ckpt(const char *path, const struct dbn *d,
                                        struct ckpt_flaws f, int image_h, int image_w)
{
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_create(&ck, path, MPI_COMM_WORLD));
    ebm_status st = write_dbn_layers(&ck, d, f);
    if (st == EBM_OK) st = ebm_ckpt_attr_i64(&ck, "/data", "image_h", image_h);
    if (st == EBM_OK) st = ebm_ckpt_attr_i64(&ck, "/data", "image_w", image_w);
    if (st != EBM_OK) {
        ebm_ckpt_abort(&ck);
        return st;
    }
    return ebm_ckpt_commit(&ck);
}

#endif
