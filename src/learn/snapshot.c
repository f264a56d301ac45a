/* The trainer's full state in one checkpoint (schema: docs/checkpoint.md).
 * Everything a bit-identical resume needs is here: parameters, momentum,
 * centering offsets, every rank's chains and RNG counters, and the step. */
#include "ebm/trainer.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "ebm/checkpoint.h"

enum { RNG_FIELDS = 4 };

static const char *binarize_name(enum ebm_binarize b)
{
    switch (b) {
    case EBM_BINARIZE_STOCHASTIC: return "stochastic";
    case EBM_BINARIZE_THRESHOLD: return "threshold";
    case EBM_BINARIZE_NONE: break;
    }
    return "none";
} /* seed, rank, sample block, binarize block */

static ebm_status write_rbm(struct ebm_ckpt *ck, const char *group, const struct rbm *m)
{
    char name[256];
    int64_t wd[2] = { m->n_visible, m->n_hidden }, vd = m->n_visible, hd = m->n_hidden;
    snprintf(name, sizeof name, "%s/W", group);
    EBM_TRY(ebm_ckpt_write_f32(ck, name, m->W, 2, wd));
    snprintf(name, sizeof name, "%s/vbias", group);
    EBM_TRY(ebm_ckpt_write_f32(ck, name, m->vbias, 1, &vd));
    snprintf(name, sizeof name, "%s/hbias", group);
    EBM_TRY(ebm_ckpt_write_f32(ck, name, m->hbias, 1, &hd));
    return EBM_OK;
}

static ebm_status read_rbm(struct ebm_ckpt *ck, const char *group, struct rbm *m)
{
    char name[256];
    int64_t wd[2] = { m->n_visible, m->n_hidden }, vd = m->n_visible, hd = m->n_hidden;
    snprintf(name, sizeof name, "%s/W", group);
    EBM_TRY(ebm_ckpt_read_f32(ck, name, m->W, 2, wd));
    snprintf(name, sizeof name, "%s/vbias", group);
    EBM_TRY(ebm_ckpt_read_f32(ck, name, m->vbias, 1, &vd));
    snprintf(name, sizeof name, "%s/hbias", group);
    EBM_TRY(ebm_ckpt_read_f32(ck, name, m->hbias, 1, &hd));
    return EBM_OK;
}

static ebm_status save_contents(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "type", "rbm"));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "n_visible", tr->V));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "n_hidden", tr->H));
    EBM_TRY(write_rbm(ck, "/model", &tr->model));
    EBM_TRY(write_rbm(ck, "/optim/velocity", &tr->velocity));
    if (tr->mu) {
        int64_t vd = tr->V, hd = tr->H;
        EBM_TRY(ebm_ckpt_write_f32(ck, "/optim/visible_offset", tr->mu, 1, &vd));
        EBM_TRY(ebm_ckpt_write_f32(ck, "/optim/hidden_offset", tr->lambda, 1, &hd));
    }
    char cfg_text[8192];
    ebm_config_format(&tr->cfg, cfg_text, sizeof cfg_text);
    EBM_TRY(ebm_ckpt_attr_str(ck, "/train", "config", cfg_text));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "step", tr->step));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "epoch", tr->epoch));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "ranks", tr->par->size));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "chains_per_rank",
                              tr->chains ? tr->C : 0));
    if (tr->chains)
        EBM_TRY(ebm_ckpt_write_rows_f32(ck, "/train/chains", tr->chains, tr->C, tr->V));
    uint64_t rng[RNG_FIELDS] = { tr->cfg.train.seed, (uint64_t)tr->par->rank,
                                 tr->rng_sample.block, tr->rng_binarize.block };
    EBM_TRY(ebm_ckpt_write_rows_u64(ck, "/train/rng", rng, 1, RNG_FIELDS));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/data", "path", tr->cfg.data.path));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/data", "split", tr->cfg.data.split));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/data", "binarize", binarize_name(tr->cfg.data.binarize)));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "blas_threads", openblas_get_num_threads()));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/train", "blas_core", openblas_get_corename()));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/data", "n_rows", tr->data.n_total));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/data", "dim", tr->data.dim));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/data", "image_h", tr->data.image_h));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/data", "image_w", tr->data.image_w));
    return EBM_OK;
}

ebm_status ebm_trainer_save(struct ebm_trainer *tr, const char *path)
{
    struct ebm_ckpt ck;
    ebm_status st = ebm_ckpt_create(&ck, path, tr->par->world);
    if (st == EBM_OK) st = save_contents(tr, &ck);
    st = ebm_par_agree(tr->par, st); /* commit only what every rank wrote */
    if (st != EBM_OK) {
        ebm_ckpt_abort(&ck);
        return st;
    }
    return ebm_ckpt_commit(&ck);
}

static ebm_status expect_i64(struct ebm_ckpt *ck, const char *object, const char *name,
                             int64_t want, const char *what)
{
    int64_t have;
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, object, name, &have));
    if (have != want)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint has %s = %lld, but this run has %lld",
                        ck->path, what, (long long)have, (long long)want);
    return EBM_OK;
}

static ebm_status expect_str(struct ebm_ckpt *ck, const char *object, const char *name,
                             const char *want, const char *what)
{
    char *have = NULL;
    EBM_TRY(ebm_ckpt_read_attr_str(ck, object, name, &have));
    ebm_status st = EBM_OK;
    if (strcmp(have, want) != 0)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint has %s = %s, but this run has %s", ck->path,
                      what, have, want);
    free(have);
    return st;
}

/* GEMM results depend on the BLAS kernels and thread count, so a resume
 * under other ones is valid but no longer bit-identical: say so. */
static void note_blas_change(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    int64_t threads = 0;
    char *core = NULL;
    if (ebm_ckpt_read_attr_i64(ck, "/train", "blas_threads", &threads) == EBM_OK &&
        ebm_ckpt_read_attr_str(ck, "/train", "blas_core", &core) == EBM_OK &&
        (threads != openblas_get_num_threads() || strcmp(core, openblas_get_corename()) != 0))
        snprintf(tr->resume_note, sizeof tr->resume_note,
                 "%s was written with %lld BLAS thread(s) and '%s' kernels, this run has %d and "
                 "'%s': it continues correctly, but not bit for bit", ck->path,
                 (long long)threads, core, openblas_get_num_threads(), openblas_get_corename());
    free(core);
    ebm_error_clear();
}

static ebm_status load_contents(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    char *type = NULL;
    EBM_TRY(ebm_ckpt_read_attr_str(ck, "/model", "type", &type));
    int is_rbm = strcmp(type, "rbm") == 0;
    if (!is_rbm) {
        ebm_status st = EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint holds a '%s' model, expected rbm",
                                 ck->path, type);
        free(type);
        return st;
    }
    free(type);
    EBM_TRY(expect_i64(ck, "/model", "n_visible", tr->V, "n_visible (data width)"));
    EBM_TRY(expect_i64(ck, "/data", "n_rows", tr->data.n_total,
                       "data rows ([data] path, split, max_examples)"));
    EBM_TRY(expect_str(ck, "/data", "split", tr->cfg.data.split, "[data] split"));
    EBM_TRY(expect_str(ck, "/data", "binarize", binarize_name(tr->cfg.data.binarize),
                       "[data] binarize"));
    EBM_TRY(expect_i64(ck, "/model", "n_hidden", tr->H, "n_hidden ([model] hidden)"));
    EBM_TRY(expect_i64(ck, "/train", "ranks", tr->par->size, "ranks (resume needs the same "
                       "rank count)"));
    EBM_TRY(expect_i64(ck, "/train", "chains_per_rank", tr->chains ? tr->C : 0,
                       "chains_per_rank ([train] persistent/chains)"));
    EBM_TRY(read_rbm(ck, "/model", &tr->model));
    EBM_TRY(read_rbm(ck, "/optim/velocity", &tr->velocity));
    if (tr->mu) {
        int64_t vd = tr->V, hd = tr->H;
        EBM_TRY(ebm_ckpt_read_f32(ck, "/optim/visible_offset", tr->mu, 1, &vd));
        EBM_TRY(ebm_ckpt_read_f32(ck, "/optim/hidden_offset", tr->lambda, 1, &hd));
    }
    int64_t epoch;
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/train", "step", &tr->step));
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/train", "epoch", &epoch));
    if (epoch < 0 || epoch > 999999 || tr->step < 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: damaged checkpoint (epoch %lld, step %lld)",
                        ck->path, (long long)epoch, (long long)tr->step);
    tr->epoch = (int)epoch;
    if (tr->chains)
        EBM_TRY(ebm_ckpt_read_rows_f32(ck, "/train/chains", tr->chains,
                                       (int64_t)tr->par->rank * tr->C, tr->C, tr->V));
    note_blas_change(tr, ck);
    uint64_t rng[RNG_FIELDS];
    EBM_TRY(ebm_ckpt_read_rows_u64(ck, "/train/rng", rng, tr->par->rank, 1, RNG_FIELDS));
    if (rng[0] != tr->cfg.train.seed)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint was trained with [train] seed = %llu, not "
                        "%llu; a resume continues the same random streams, so keep the seed",
                        ck->path, (unsigned long long)rng[0],
                        (unsigned long long)tr->cfg.train.seed);
    tr->rng_sample.block = rng[2];
    tr->rng_binarize.block = rng[3];
    if (tr->step != (int64_t)tr->epoch * tr->steps_per_epoch)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: step %lld is not the end of epoch %d at %lld steps "
                        "per epoch (different data or batch_size?)", ck->path,
                        (long long)tr->step, tr->epoch, (long long)tr->steps_per_epoch);
    return EBM_OK;
}

ebm_status ebm_trainer_load(struct ebm_trainer *tr, const char *path)
{
    struct ebm_ckpt ck;
    ebm_status st = ebm_ckpt_open(&ck, path, tr->par->world);
    if (st == EBM_OK) st = load_contents(tr, &ck);
    ebm_ckpt_close(&ck);
    return ebm_par_agree(tr->par, st);
}

int ebm_checkpoint_epoch(const char *name)
{
    /* Exactly "ckpt-e" + six digits + ".h5", as run.c names them. */
    if (strncmp(name, "ckpt-e", 6) != 0 || strlen(name) != 15 || strcmp(name + 12, ".h5") != 0)
        return -1;
    int epoch = 0;
    for (int i = 6; i < 12; i++) {
        if (name[i] < '0' || name[i] > '9') return -1;
        epoch = epoch * 10 + (name[i] - '0');
    }
    return epoch;
}

ebm_status ebm_trainer_latest_checkpoint(const char *dir, char *path, size_t len)
{
    path[0] = '\0';
    DIR *d = opendir(dir);
    if (!d) return EBM_OK; /* no run directory yet: nothing to resume */
    int best = -1;
    for (struct dirent *e; (e = readdir(d));) {
        int epoch = ebm_checkpoint_epoch(e->d_name);
        if (epoch > best) {
            best = epoch;
            snprintf(path, len, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    return EBM_OK;
}
