/* Classifier model files: a checkpoint (io/checkpoint.c: collective,
 * temporary, fsync, rename) whose /model type is "logreg"; layout in
 * docs/classify.md. */
#include "ebm/logreg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/checkpoint.h"

/* Beyond these a size is damage, not a model. */
#define MAX_DIM 100000000
#define MAX_CLASSES 1000000

static ebm_status write_contents(struct ebm_ckpt *ck, const struct ebm_logreg *m,
                                 const struct ebm_logreg_record *rec)
{
    int64_t wd[2] = { m->dim, m->classes }, bd[1] = { m->classes };
    char num[64];
    EBM_TRY(ebm_ckpt_write_f32(ck, "/model/W", m->W, 2, wd));
    EBM_TRY(ebm_ckpt_write_f32(ck, "/model/b", m->b, 1, bd));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "type", "logreg"));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "classes", m->classes));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "dims", m->dim));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "epochs", rec->opts.epochs));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "steps", rec->steps));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "batch_size", rec->opts.batch));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "ranks", rec->ranks));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "seed", (int64_t)rec->opts.seed));
    /* The API has integer and string attributes; reals go as "%.9g" text,
     * which round-trips a float. */
    snprintf(num, sizeof num, "%.9g", (double)rec->opts.l2);
    EBM_TRY(ebm_ckpt_attr_str(ck, "/train", "l2", num));
    snprintf(num, sizeof num, "%.9g", (double)rec->opts.lr);
    EBM_TRY(ebm_ckpt_attr_str(ck, "/train", "lr", num));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/data", "path", rec->data));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/data", "split", rec->split));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/data", "n_rows", rec->n_rows));
    return EBM_OK;
}

ebm_status ebm_logreg_save(const char *path, MPI_Comm comm, const struct ebm_logreg *m,
                           const struct ebm_logreg_record *rec)
{
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_create(&ck, path, comm));
    ebm_status st = write_contents(&ck, m, rec);
    if (st != EBM_OK) {
        ebm_ckpt_abort(&ck);
        return st;
    }
    return ebm_ckpt_commit(&ck);
}

static ebm_status read_contents(struct ebm_ckpt *ck, struct ebm_logreg *m)
{
    char *type = NULL;
    if (ebm_ckpt_read_attr_str(ck, "/model", "type", &type) != EBM_OK) {
        ebm_error_clear();
        return EBM_FAIL(EBM_ERR_INPUT, "%s: not a classifier model (no /model type); train one "
                        "with ebm classify train", ck->path);
    }
    int is_logreg = strcmp(type, "logreg") == 0;
    ebm_status st = is_logreg ? EBM_OK
                              : EBM_FAIL(EBM_ERR_INPUT, "%s: holds a '%s' model, not a classifier "
                                         "(logreg); train one with ebm classify train",
                                         ck->path, type);
    free(type);
    EBM_TRY(st);
    int64_t K, D;
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/model", "classes", &K));
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/model", "dims", &D));
    if (K < 1 || K > MAX_CLASSES || D < 1 || D > MAX_DIM)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: damaged classifier sizes: %lld classes, %lld dims",
                        ck->path, (long long)K, (long long)D);
    EBM_TRY(ebm_logreg_init(m, (int)D, (int)K));
    int64_t wd[2] = { D, K };
    EBM_TRY(ebm_ckpt_read_f32(ck, "/model/W", m->W, 2, wd));
    EBM_TRY(ebm_ckpt_read_f32(ck, "/model/b", m->b, 1, &K));
    return EBM_OK;
}

ebm_status ebm_logreg_load(const char *path, MPI_Comm comm, struct ebm_logreg *m)
{
    memset(m, 0, sizeof *m);
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_open(&ck, path, comm));
    ebm_status st = read_contents(&ck, m);
    ebm_ckpt_close(&ck);
    if (st != EBM_OK) ebm_logreg_free(m);
    return st;
}
