#include "ebm/model_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/checkpoint.h"

static int64_t attr_or_zero(struct ebm_ckpt *ck, const char *object, const char *name)
{
    int64_t v = 0;
    if (ebm_ckpt_read_attr_i64(ck, object, name, &v) != EBM_OK) ebm_error_clear();
    return v;
}

static ebm_status read_contents(struct ebm_ckpt *ck, struct rbm *m, struct ebm_model_info *info)
{
    char *type = NULL;
    EBM_TRY(ebm_ckpt_read_attr_str(ck, "/model", "type", &type));
    int is_rbm = strcmp(type, "rbm") == 0;
    ebm_status st = is_rbm ? EBM_OK
                           : EBM_FAIL(EBM_ERR_INPUT, "%s: holds a '%s' model, not an rbm",
                                      ck->path, type);
    free(type);
    EBM_TRY(st);
    int64_t V, H;
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/model", "n_visible", &V));
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/model", "n_hidden", &H));
    if (V <= 0 || H <= 0 || V > 100000000 || H > 100000000)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: damaged model sizes %lld x %lld", ck->path,
                        (long long)V, (long long)H);
    EBM_TRY(rbm_init(m, (int)V, (int)H));
    int64_t wd[2] = { V, H };
    EBM_TRY(ebm_ckpt_read_f32(ck, "/model/W", m->W, 2, wd));
    EBM_TRY(ebm_ckpt_read_f32(ck, "/model/vbias", m->vbias, 1, &V));
    EBM_TRY(ebm_ckpt_read_f32(ck, "/model/hbias", m->hbias, 1, &H));
    memset(info, 0, sizeof *info);
    info->image_h = (int)attr_or_zero(ck, "/data", "image_h");
    info->image_w = (int)attr_or_zero(ck, "/data", "image_w");
    info->epoch = attr_or_zero(ck, "/train", "epoch");
    info->step = attr_or_zero(ck, "/train", "step");
    char *data = NULL;
    if (ebm_ckpt_read_attr_str(ck, "/data", "path", &data) == EBM_OK)
        snprintf(info->data_path, sizeof info->data_path, "%s", data);
    else
        ebm_error_clear();
    free(data);
    if ((int64_t)info->image_h * info->image_w != V) info->image_h = info->image_w = 0;
    return EBM_OK;
}

ebm_status ebm_model_read_rbm(const char *path, MPI_Comm comm, struct rbm *m,
                              struct ebm_model_info *info)
{
    memset(m, 0, sizeof *m);
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_open(&ck, path, comm));
    ebm_status st = read_contents(&ck, m, info);
    ebm_ckpt_close(&ck);
    if (st != EBM_OK) rbm_free(m);
    return st;
}
