/* The trainer's full state in one checkpoint (schema: docs/checkpoint.md).
 * Everything a bit-identical resume needs is here: parameters, momentum,
 * centering offsets, every rank's chains and RNG counters, and the step. */
#include "ebm/trainer.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "ebm/bm_learn.h"
#include "ebm/dbm_learn.h"
#include "ebm/grid_train.h"
#include "ebm/checkpoint.h"
#include "ebm/model_file.h"
#include "ebm/rng.h"

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

/* The RBM's tensors: parameters, unit types, standardisation, optimizer. */
static ebm_status save_rbm(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "type", "rbm"));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "n_visible", tr->V));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "n_hidden", tr->H));
    EBM_TRY(ebm_ckpt_write_units(ck, &tr->model));
    if (tr->model.n_labels > 0)
        EBM_TRY(ebm_ckpt_attr_i64(ck, "/model", "n_labels", tr->model.n_labels));
    EBM_TRY(ebm_ckpt_write_rbm(ck, "/model", &tr->model));
    if (tr->input_mean) {
        int64_t vd = tr->V;
        EBM_TRY(ebm_ckpt_write_f32(ck, "/model/input_mean", tr->input_mean, 1, &vd));
        EBM_TRY(ebm_ckpt_write_f32(ck, "/model/input_std", tr->input_std, 1, &vd));
    }
    EBM_TRY(ebm_ckpt_write_rbm(ck, "/optim/velocity", &tr->velocity));
    if (tr->mu) {
        int64_t vd = tr->V, hd = tr->H;
        EBM_TRY(ebm_ckpt_write_f32(ck, "/optim/visible_offset", tr->mu, 1, &vd));
        EBM_TRY(ebm_ckpt_write_f32(ck, "/optim/hidden_offset", tr->lambda, 1, &hd));
    }
    return EBM_OK;
}

static ebm_status save_contents(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    EBM_TRY(ebm_trainer_is_bm(tr) ? ebm_bm_save(tr, ck)
            : ebm_trainer_is_dbm(tr) ? ebm_dbm_save(tr, ck)
            : ebm_trainer_is_grid(tr) ? ebm_grid_train_save(tr, ck) : save_rbm(tr, ck));
    char cfg_text[8192];
    ebm_config_format(&tr->cfg, cfg_text, sizeof cfg_text);
    EBM_TRY(ebm_ckpt_attr_str(ck, "/train", "config", cfg_text));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "step", tr->step));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "epoch", tr->epoch));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "ranks", tr->par->size));
    /* The layout: per-replica rows (chains, streams) are per rank in data mode. */
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "replicas", tr->dpar->size));
    EBM_TRY(ebm_ckpt_attr_str(ck, "/train", "grid", tr->cfg.parallel.grid));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "batch_size", tr->B));
    EBM_TRY(ebm_ckpt_attr_i64(ck, "/train", "chains_per_rank",
                              tr->chains ? tr->C : 0));
    int writer = ebm_grid_train_writes_rows(tr);
    if (tr->chains)
        EBM_TRY(ebm_ckpt_write_rows_f32(ck, "/train/chains", tr->chains, writer ? tr->C : 0,
                                        tr->V));
    uint64_t rng[RNG_FIELDS] = { tr->cfg.train.seed, (uint64_t)tr->dpar->rank,
                                 tr->rng_sample.block, tr->rng_binarize.block };
    EBM_TRY(ebm_ckpt_write_rows_u64(ck, "/train/rng", rng, writer ? 1 : 0, RNG_FIELDS));
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
    /* Fault injection for the crash tests: hold the half-written file open
     * for this many seconds, long enough to kill the process. */
    const char *delay = getenv("EBM_FAULT_CHECKPOINT_DELAY");
    if (st == EBM_OK && delay) sleep((unsigned)atoi(delay));
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

/* This replica's C chains (a rank's, in data mode) are global rows
 * [replica * C, replica * C + C) of the saved ones; with another replica
 * count (elastic resume) the rows that the checkpoint does not have start
 * fresh as that chain would at step 0, so the result depends only on
 * (seed, layout). */
static ebm_status load_chains(struct ebm_trainer *tr, struct ebm_ckpt *ck, int64_t saved_rows)
{
    int64_t first = (int64_t)tr->dpar->rank * tr->C;
    int64_t have = saved_rows - first;
    have = have < 0 ? 0 : (have > tr->C ? tr->C : have);
    /* Every rank makes the read (collective metadata), some of zero rows. */
    EBM_TRY(ebm_ckpt_read_rows_f32(ck, "/train/chains", tr->chains, have > 0 ? first : 0, have,
                                   tr->V));
    ebm_trainer_keyed_chains(tr, tr->chains, first, have, tr->C);
    if (ebm_trainer_is_grid(tr)) ebm_grid_train_chains_loaded(tr);
    return EBM_OK;
}

/* An RBM's hidden size and unit types against this run's. */
static ebm_status load_rbm_types(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    EBM_TRY(expect_i64(ck, "/model", "n_hidden", tr->H, "n_hidden ([model] hidden)"));
    enum ebm_unit_type visible, hidden;
    EBM_TRY(ebm_ckpt_read_units(ck, &visible, &hidden));
    if (visible != tr->model.vis.type || hidden != tr->model.hid.type)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint has %s visible and %s hidden units, but "
                        "this run has model.visible = %s, model.hidden_type = %s", ck->path,
                        ebm_unit_type_name(visible), ebm_unit_type_name(hidden),
                        ebm_unit_type_name(tr->model.vis.type),
                        ebm_unit_type_name(tr->model.hid.type));
    return EBM_OK;
}

static ebm_status expect_labels(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    int64_t labels = 0;
    if (ebm_ckpt_read_attr_i64(ck, "/model", "n_labels", &labels) != EBM_OK) ebm_error_clear();
    if (labels != tr->model.n_labels)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint has %lld label units, but this run has "
                        "model.labels = %d", ck->path, (long long)labels, tr->model.n_labels);
    return EBM_OK;
}

static ebm_status load_contents(struct ebm_trainer *tr, struct ebm_ckpt *ck)
{
    char *type = NULL;
    EBM_TRY(ebm_ckpt_read_attr_str(ck, "/model", "type", &type));
    if (strcmp(type, tr->cfg.model.type) != 0) {
        ebm_status st = EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint holds a '%s' model, expected %s "
                                 "(model.type)", ck->path, type, tr->cfg.model.type);
        free(type);
        return st;
    }
    free(type);
    int bm = ebm_trainer_is_bm(tr) || ebm_trainer_is_dbm(tr); /* no RBM tensors */
    if (!bm) EBM_TRY(expect_labels(tr, ck)); /* before n_visible, which counts them */
    if (!bm) EBM_TRY(expect_i64(ck, "/model", "n_visible", tr->V, "n_visible (data width)"));
    EBM_TRY(expect_i64(ck, "/data", "n_rows", tr->data.n_total,
                       "data rows ([data] path, split, max_examples)"));
    EBM_TRY(expect_str(ck, "/data", "split", tr->cfg.data.split, "[data] split"));
    EBM_TRY(expect_str(ck, "/data", "binarize", binarize_name(tr->cfg.data.binarize),
                       "[data] binarize"));
    if (!bm) EBM_TRY(load_rbm_types(tr, ck));
    /* ranks: the replicas that wrote the per-replica rows (the ranks, in
     * data mode and in checkpoints older than grid mode) */
    int64_t ranks, chains_per_rank, epoch;
    if (ebm_ckpt_read_attr_i64(ck, "/train", "replicas", &ranks) != EBM_OK) {
        ebm_error_clear();
        EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/train", "ranks", &ranks));
    }
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/train", "chains_per_rank", &chains_per_rank));
    int elastic = ranks != tr->dpar->size;
    if (!elastic) {
        EBM_TRY(expect_i64(ck, "/train", "chains_per_rank", tr->chains ? tr->C : 0,
                           "chains_per_rank ([train] persistent/chains)"));
        EBM_TRY(expect_i64(ck, "/train", "batch_size", tr->B, "[train] batch_size"));
    } else if ((chains_per_rank > 0) != (tr->chains != NULL)) {
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint %s persistent chains; [train] persistent "
                        "must match", ck->path, chains_per_rank > 0 ? "has" : "has no");
    }
    if (ebm_trainer_is_bm(tr)) {
        EBM_TRY(ebm_bm_load(tr, ck));
    } else if (ebm_trainer_is_dbm(tr)) {
        EBM_TRY(ebm_dbm_load(tr, ck));
    } else if (ebm_trainer_is_grid(tr)) {
        EBM_TRY(ebm_grid_train_load(tr, ck));
    } else {
        EBM_TRY(ebm_ckpt_read_rbm(ck, "/model", &tr->model));
        EBM_TRY(ebm_ckpt_read_rbm(ck, "/optim/velocity", &tr->velocity));
    }
    if (tr->mu) {
        int64_t vd = tr->V, hd = tr->H;
        EBM_TRY(ebm_ckpt_read_f32(ck, "/optim/visible_offset", tr->mu, 1, &vd));
        EBM_TRY(ebm_ckpt_read_f32(ck, "/optim/hidden_offset", tr->lambda, 1, &hd));
    }
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/train", "step", &tr->step));
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/train", "epoch", &epoch));
    if (epoch < 0 || epoch > 999999 || tr->step < 0 || ranks < 1 || chains_per_rank < 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: damaged checkpoint (epoch %lld, step %lld, ranks %lld)",
                        ck->path, (long long)epoch, (long long)tr->step, (long long)ranks);
    tr->epoch = (int)epoch;
    if (tr->chains) EBM_TRY(load_chains(tr, ck, ranks * chains_per_rank));
    note_blas_change(tr, ck);
    /* Ranks beyond the saved ones start their streams far past any block an
     * earlier layout's rank of that number can have used by this step (a
     * step draws fewer than 2^24 blocks per stream), so a P -> Q -> P
     * sequence never replays random numbers. */
    int me = tr->dpar->rank, saved = me < ranks;
    uint64_t fresh = ((uint64_t)tr->step + 1) << 24;
    uint64_t rng[RNG_FIELDS] = { tr->cfg.train.seed, (uint64_t)me, fresh, fresh };
    EBM_TRY(ebm_ckpt_read_rows_u64(ck, "/train/rng", rng, saved ? me : 0, saved ? 1 : 0,
                                   RNG_FIELDS));
    if (rng[0] != tr->cfg.train.seed)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint was trained with [train] seed = %llu, not "
                        "%llu; a resume continues the same random streams, so keep the seed",
                        ck->path, (unsigned long long)rng[0],
                        (unsigned long long)tr->cfg.train.seed);
    tr->rng_sample.block = rng[2];
    tr->rng_binarize.block = rng[3];
    int64_t begin = (int64_t)tr->epoch * tr->steps_per_epoch;
    if (elastic) {
        /* Another layout has other batches per epoch: the interrupted epoch
         * (if any) starts over, with the parameters as they were. The
         * saved layout's steps per epoch tell whether it was interrupted. */
        int64_t saved_batch = 0, n_rows = tr->data.n_total;
        if (ebm_ckpt_read_attr_i64(ck, "/train", "batch_size", &saved_batch) != EBM_OK)
            ebm_error_clear();
        int64_t saved_spe = saved_batch > 0 ? (n_rows / ranks) / saved_batch : 0;
        int mid = saved_spe > 0 && tr->step != (int64_t)tr->epoch * saved_spe;
        snprintf(tr->resume_note, sizeof tr->resume_note,
                 "elastic resume of %s: written by %lld data-parallel ranks (or replicas), "
                 "continuing on %d; parameters, momentum and offsets are exact, chains "
                 "redistributed (%lld saved, %lld needed), random streams continue per rank%s",
                 ck->path, (long long)ranks, tr->dpar->size,
                 (long long)(ranks * chains_per_rank),
                 (long long)tr->dpar->size * (tr->chains ? tr->C : 0),
                 mid ? "; the interrupted epoch starts over" : "");
        tr->step = begin;
    } else if (tr->step < begin || tr->step >= begin + tr->steps_per_epoch) {
        return EBM_FAIL(EBM_ERR_INPUT, "%s: step %lld does not lie in epoch %d at %lld steps "
                        "per epoch (different data or batch_size?)", ck->path,
                        (long long)tr->step, tr->epoch + 1, (long long)tr->steps_per_epoch);
    }
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

void ebm_checkpoint_name(char *buf, size_t len, int epoch, int64_t step, int64_t steps_per_epoch)
{
    if (step == (int64_t)epoch * steps_per_epoch)
        snprintf(buf, len, "ckpt-e%06d.h5", epoch);
    else
        snprintf(buf, len, "ckpt-e%06d-s%09lld.h5", epoch, (long long)step);
}

static int64_t digits(const char *p, int n)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

int64_t ebm_checkpoint_key(const char *name)
{
    /* Exactly the two forms ebm_checkpoint_name writes. Within epoch e the
     * end-of-epoch file comes first, then stops during epoch e + 1 by step. */
    size_t len = strlen(name);
    if (strncmp(name, "ckpt-e", 6) != 0) return -1;
    int64_t epoch = digits(name + 6, 6);
    if (epoch < 0) return -1;
    if (len == 15 && strcmp(name + 12, ".h5") == 0) return epoch << 40;
    if (len == 26 && strncmp(name + 12, "-s", 2) == 0 && strcmp(name + 23, ".h5") == 0) {
        int64_t step = digits(name + 14, 9);
        if (step < 0) return -1;
        return (epoch << 40) + 1 + step;
    }
    return -1;
}

ebm_status ebm_trainer_latest_checkpoint(const char *dir, char *path, size_t len)
{
    path[0] = '\0';
    DIR *d = opendir(dir);
    if (!d) return EBM_OK; /* no run directory yet: nothing to resume */
    int64_t best = -1;
    for (struct dirent *e; (e = readdir(d));) {
        int64_t key = ebm_checkpoint_key(e->d_name);
        if (key > best) {
            best = key;
            snprintf(path, len, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    return EBM_OK;
}

/* Rank 0: removes all but the newest `keep` checkpoints up to `newest`,
 * and any past it. */
void ebm_checkpoint_rotate(const char *dir, int keep, int64_t newest)
{
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        int64_t key = ebm_checkpoint_key(e->d_name);
        if (key < 0) continue;
        int newer = 0;
        DIR *d2 = opendir(dir);
        for (struct dirent *f; d2 && (f = readdir(d2));) {
            int64_t other = ebm_checkpoint_key(f->d_name);
            if (other > key && other <= newest) newer++;
        }
        if (d2) closedir(d2);
        /* Keys above the one just written can only be left by an elastic
         * restart from a stop (ebm train refuses any other fork): that run
         * has moved on from them. */
        if (newer >= keep || key > newest) {
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}
