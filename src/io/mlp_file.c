/* Fine-tuned classifier files: a checkpoint (io/checkpoint.c: collective,
 * temporary, fsync, rename) whose /model type is "mlp"; layout in
 * docs/classify.md. */
#include "ebm/mlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/checkpoint.h"
#include "ebm/par.h"

static void sizes_text(const struct ebm_mlp *m, char *buf, size_t len)
{
    size_t used = 0;
    for (int k = 0; k <= m->n_hidden_layers + 1 && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%d", k ? "," : "", m->sizes[k]);
}

static ebm_status write_contents(struct ebm_ckpt *ck, const struct ebm_mlp *m, const char *source,
                                 const char *data, const struct ebm_mlp_opts *o)
{
    char name[96], text[512];
    for (int k = 0; k <= m->n_hidden_layers; k++) {
        int64_t wd[2] = { m->sizes[k], m->sizes[k + 1] }, bd = m->sizes[k + 1];
        snprintf(name, sizeof name, "/model/layers/%d/W", k);
        EBM_TRY(ebm_ckpt_write_f32(ck, name, m->W[k], 2, wd));
        snprintf(name, sizeof name, "/model/layers/%d/b", k);
        EBM_TRY(ebm_ckpt_write_f32(ck, name, m->b[k], 1, &bd));
    }
    sizes_text(m, text, sizeof text);
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "type", "mlp"));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "sizes", text));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "n_hidden_layers", m->n_hidden_layers));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "classes", m->sizes[m->n_hidden_layers + 1]));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "source", source));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "epochs", o->epochs));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "batch_size", o->batch));
    /* reals as "%.9g" text, which round-trips a float */
    snprintf(text, sizeof text, "lr %.9g lr_end %.9g momentum %.9g l2 %.9g seed %llu",
             (double)o->lr, (double)o->lr_end, (double)o->momentum, (double)o->l2,
             (unsigned long long)o->seed);
    EBM_TRY(ebm_ckpt_attr_str(ck, "/train", "options", text));
    return ebm_ckpt_attr_str(ck, "/data", "path", data);
}

ebm_status ebm_mlp_save(const char *path, MPI_Comm comm, const struct ebm_mlp *m,
                        const char *source, const char *data, const struct ebm_mlp_opts *opts)
{
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_create(&ck, path, comm));
    /* commit only what every rank wrote */
    ebm_status st = ebm_comm_agree(comm, write_contents(&ck, m, source, data, opts));
    if (st != EBM_OK) {
        ebm_ckpt_abort(&ck);
        return st;
    }
    return ebm_ckpt_commit(&ck);
}

static ebm_status read_contents(struct ebm_ckpt *ck, struct ebm_mlp *m)
{
    char *type = NULL, *text = NULL;
    if (ebm_ckpt_read_attr_str(ck, "/model", "type", &type) != EBM_OK) {
        ebm_error_clear();
        return EBM_FAIL(EBM_ERR_INPUT, "%s: not a model file (no /model type)", ck->path);
    }
    ebm_status st = strcmp(type, "mlp") == 0
                        ? EBM_OK
                        : EBM_FAIL(EBM_ERR_INPUT, "%s: holds a '%s' model, not a fine-tuned "
                                   "classifier (mlp)", ck->path, type);
    free(type);
    EBM_TRY(st);
    EBM_TRY(ebm_ckpt_read_attr_str(ck, "/model", "sizes", &text));
    int sizes[EBM_MLP_MAX_LAYERS + 2], n = 0;
    const char *p = text;
    while (n < EBM_MLP_MAX_LAYERS + 2) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 100000000) break;
        sizes[n++] = (int)v;
        p = end;
        if (*p != ',') break;
        p++;
    }
    int bad = *p != '\0' || n < 3;
    free(text);
    if (bad)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: damaged mlp: /model sizes is not a list of 3 to %d "
                        "sizes", ck->path, EBM_MLP_MAX_LAYERS + 2);
    EBM_TRY(ebm_mlp_init(m, n - 2, sizes));
    char name[96];
    for (int k = 0; k <= m->n_hidden_layers; k++) {
        int64_t wd[2] = { sizes[k], sizes[k + 1] }, bd = sizes[k + 1];
        snprintf(name, sizeof name, "/model/layers/%d/W", k);
        EBM_TRY(ebm_ckpt_read_f32(ck, name, m->W[k], 2, wd));
        snprintf(name, sizeof name, "/model/layers/%d/b", k);
        EBM_TRY(ebm_ckpt_read_f32(ck, name, m->b[k], 1, &bd));
    }
    return EBM_OK;
}

ebm_status ebm_mlp_load(const char *path, MPI_Comm comm, struct ebm_mlp *m)
{
    memset(m, 0, sizeof *m);
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_open(&ck, path, comm));
    ebm_status st = read_contents(&ck, m);
    ebm_ckpt_close(&ck);
    if (st != EBM_OK) ebm_mlp_free(m);
    return st;
}
