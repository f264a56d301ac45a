/* ebm train CONFIG [--set section.key=value]... [--resume PATH|auto] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cblas.h>

#include "ebm/cmd.h"
#include "ebm/config.h"
#include "ebm/dbm_learn.h"
#include "ebm/dbm_pretrain.h"
#include "ebm/dbn_train.h"
#include "ebm/kernels.h"
#include "ebm/metrics.h"
#include "ebm/par.h"
#include "ebm/stop.h"
#include "ebm/trainer.h"

static const char usage[] =
    "usage: ebm train CONFIG [--set section.key=value]... [--resume PATH|auto]\n"
    "\n"
    "Trains the model described by CONFIG (an INI file; keys in docs/config.md)\n"
    "on every rank of the MPI job: each rank reads its shard of the data, keeps\n"
    "its own persistent chains, and the gradient is all-reduced every step.\n"
    "With [parallel] grid = PrxPc (an rbm), the ranks form replicas of Pr x Pc\n"
    "ranks that hold W block by block (docs/model-parallel.md).\n"
    "\n"
    "  --set section.key=value  override one config key (repeatable)\n"
    "  --resume PATH            continue bit-identically from a checkpoint\n"
    "  --resume auto            continue from the newest checkpoint in\n"
    "                           [output] dir, or start fresh when there is none\n"
    "  --help                   this text\n"
    "\n"
    "Writes to [output] dir: ckpt-eNNNNNN.h5, metrics.jsonl, config.ini,\n"
    "filters.png and samples.png (not in grid mode).\n";

struct train_args {
    const char *config;
    const char *resume;
    char **sets;
    int n_sets;
};

static ebm_status parse_args(int argc, char **argv, struct train_args *a)
{
    memset(a, 0, sizeof *a);
    a->sets = calloc((size_t)argc, sizeof *a->sets);
    if (!a->sets) return EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--set") == 0 || strcmp(arg, "--resume") == 0) {
            if (i + 1 >= argc)
                return EBM_FAIL(EBM_ERR_INPUT, "ebm train: %s needs a value (see ebm train --help)",
                                arg);
            if (arg[2] == 's') a->sets[a->n_sets++] = argv[++i];
            else a->resume = argv[++i];
        } else if (arg[0] == '-') {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm train: unknown flag '%s' (see ebm train --help)",
                            arg);
        } else if (!a->config) {
            a->config = arg;
        } else {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm train: unexpected argument '%s' (one CONFIG only)",
                            arg);
        }
    }
    if (!a->config)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm train: missing CONFIG (see ebm train --help)");
    return EBM_OK;
}

static ebm_status load_config(const struct train_args *a, struct ebm_config *cfg)
{
    ebm_config_defaults(cfg);
    EBM_TRY(ebm_config_load(cfg, a->config));
    for (int i = 0; i < a->n_sets; i++) EBM_TRY(ebm_config_set(cfg, a->sets[i]));
    return ebm_config_validate(cfg);
}

static int has_checkpoints(const char *dir)
{
    char path[EBM_PATH_MAX + 64];
    ebm_trainer_latest_checkpoint(dir, path, sizeof path);
    return path[0] != '\0';
}

static ebm_status mkdir_p(const char *dir)
{
    char buf[EBM_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return EBM_FAIL(EBM_ERR_IO, "[output] dir: cannot create %s: %s", buf,
                                strerror(errno));
            *p = saved;
        }
        if (*p == '\0') break;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return EBM_FAIL(EBM_ERR_INPUT, "[output] dir %s is not a directory", dir);
    return EBM_OK;
}

/* Rank 0: the run directory, and which checkpoint (if any) to resume. */
static ebm_status prepare_run_dir(const struct ebm_config *cfg, const char *resume,
                                  char *resume_path, size_t len)
{
    resume_path[0] = '\0';
    EBM_TRY(mkdir_p(cfg->output.dir));
    if (!resume) {
        if (has_checkpoints(cfg->output.dir))
            return EBM_FAIL(EBM_ERR_INPUT, "[output] dir %s already holds checkpoints; continue "
                            "with --resume auto, or choose another dir (--set output.dir=...)",
                            cfg->output.dir);
        return EBM_OK;
    }
    if (strcmp(resume, "auto") == 0)
        return ebm_trainer_latest_checkpoint(cfg->output.dir, resume_path, len);
    if (access(resume, R_OK) != 0)
        return EBM_FAIL(EBM_ERR_INPUT, "--resume %s: no such checkpoint (%s)", resume,
                        strerror(errno));
    snprintf(resume_path, len, "%s", resume);
    return EBM_OK;
}

/* Rank 0, starting fresh or from `resumed`: a run directory with newer
 * checkpoints belongs to a run this one would silently fork from (and a
 * later --resume auto would jump back to); metrics past `epoch` (from a run
 * that died before its next checkpoint) will be redone. */
static ebm_status check_resume_point(const struct ebm_config *cfg, const char *resumed, int epoch)
{
    char latest[EBM_PATH_MAX + 64];
    EBM_TRY(ebm_trainer_latest_checkpoint(cfg->output.dir, latest, sizeof latest));
    const char *name = strrchr(latest, '/'), *here = strrchr(resumed, '/');
    here = here ? here + 1 : resumed;
    int64_t here_key = resumed[0] ? ebm_checkpoint_key(here) : -1;
    if (name && ebm_checkpoint_key(name + 1) > here_key)
        return EBM_FAIL(EBM_ERR_INPUT, "[output] dir %s holds %s, newer than %s; resume from "
                        "it, or choose another dir", cfg->output.dir, name + 1,
                        resumed[0] ? here : "a fresh start");
    char metrics[EBM_PATH_MAX + 32];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", cfg->output.dir);
    return ebm_metrics_truncate(metrics, epoch);
}

static void print_header(const struct ebm_trainer *tr, const char *resume_path)
{
    const char *advice = ebm_blas_core_advice();
    if (advice) fprintf(stderr, "ebm: note: %s\n", advice);
    const struct ebm_config *c = &tr->cfg;
    char text[8192];
    ebm_config_format(c, text, sizeof text);
    char model[300];
    if (strcmp(c->model.type, "dbm") == 0)
        snprintf(model, sizeof model, "dbm %s", c->model.layers);
    else if (strcmp(c->model.type, "bm") == 0)
        snprintf(model, sizeof model, "bm %d %s units", tr->V,
                 c->model.visible == EBM_UNIT_SPIN ? "spin" : "binary");
    else
        snprintf(model, sizeof model, "rbm %dx%d", tr->V, tr->H);
    const char *method = c->train.negative == EBM_NEGATIVE_EXACT ? "exact"
                       : c->train.persistent ? "PCD" : "CD";
    char layout[160];
    if (tr->grid.on)
        snprintf(layout, sizeof layout, "%d ranks as %d replica(s) of a %s grid (blocks of %d) "
                 "x batch %d", tr->par->size, tr->dpar->size, c->parallel.grid,
                 c->parallel.block, tr->B);
    else
        snprintf(layout, sizeof layout, "%d ranks x batch %d", tr->par->size, tr->B);
    printf("ebm train: %s on %s (%lld rows), %s = %d per step, %s-%d, %lld steps/epoch\n",
           model, c->data.path, (long long)tr->data.n_total, layout, tr->B * tr->dpar->size,
           method, c->train.k, (long long)tr->steps_per_epoch);
    if (strcmp(c->model.type, "rbm") == 0) {
        const struct ebm_memory_plan *m = &tr->memory;
        char t[7][32];
        double part[6] = { m->parameters, m->gradients, m->optimizer, m->chains, m->batch,
                           m->data };
        for (int i = 0; i < 6; i++) ebm_format_bytes(part[i], t[i], sizeof t[i]);
        ebm_format_bytes(ebm_memory_plan_total(m), t[6], sizeof t[6]);
        printf("memory per rank: %s = parameters %s, gradients %s, optimizer %s, chains %s, "
               "batch %s, data %s\n", t[6], t[0], t[1], t[2], t[3], t[4], t[5]);
    }
    if (resume_path[0])
        printf("resuming from %s at epoch %d, step %lld\n", resume_path, tr->epoch,
               (long long)tr->step);
    if (tr->resume_note[0]) fprintf(stderr, "ebm: note: %s\n", tr->resume_note);
    printf("--- effective config ---\n%s------------------------\n", text);
    fflush(stdout);
}

static ebm_status write_config_copy(const struct ebm_config *cfg)
{
    char path[EBM_PATH_MAX + 32], text[8192];
    snprintf(path, sizeof path, "%s/config.ini", cfg->output.dir);
    ebm_config_format(cfg, text, sizeof text);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0) {
        if (f) fclose(f);
        return EBM_FAIL(EBM_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    if (fclose(f) != 0) return EBM_FAIL(EBM_ERR_IO, "%s: cannot write", path);
    return EBM_OK;
}

static void print_dbn_header(const struct ebm_dbn_trainer *d, const char *resume_path)
{
    const char *advice = ebm_blas_core_advice();
    if (advice) fprintf(stderr, "ebm: note: %s\n", advice);
    const struct ebm_config *c = &d->cfg;
    const struct ebm_pipeline_plan *p = &d->plan;
    printf("ebm train: dbn %s on %s (%lld rows), %d ranks, %s pipeline, batch %d per rank\n",
           c->model.layers, c->data.path, (long long)d->n_rows, d->world->size,
           c->pipeline.mode == EBM_PIPELINE_GREEDY ? "greedy" : "overlapped",
           c->train.batch_size);
    for (int l = 0; l < p->n_stages; l++)
        printf("  stage %d: rbm %dx%d on ranks %d-%d, %lld steps/epoch, trains %d epochs on "
               "pipeline epochs %d-%d%s\n", l, p->sizes[l], p->sizes[l + 1], p->group_first[l],
               p->group_first[l] + p->group_size[l] - 1, (long long)p->steps_per_epoch[l],
               p->train_epochs[l], p->start_tick[l] + 1, p->start_tick[l] + p->train_epochs[l],
               p->run_epochs[l] > p->train_epochs[l] ? ", then feeds the next" : "");
    if (resume_path[0]) printf("resuming from %s at pipeline epoch %d\n", resume_path, d->tick);
    char text[8192];
    ebm_config_format(c, text, sizeof text);
    printf("--- effective config ---\n%s------------------------\n", text);
    fflush(stdout);
}

static ebm_status write_config_copy(const struct ebm_config *cfg);

/* model.type = dbn: the stack as a pipeline of stage groups. */
static ebm_status train_dbn(const struct ebm_config *cfg, const struct ebm_par *par,
                            const char *resume_path)
{
    struct ebm_dbn_trainer d;
    ebm_status st = ebm_dbn_init(&d, cfg, par);
    if (st == EBM_OK && resume_path[0]) st = ebm_dbn_load(&d, resume_path);
    if (st == EBM_OK && d.tick == d.plan.ticks) {
        if (par->rank == 0)
            printf("nothing to do: %s is at pipeline epoch %d, the last\n", resume_path, d.tick);
        ebm_dbn_free(&d);
        return EBM_OK;
    }
    if (st == EBM_OK && par->rank == 0) st = check_resume_point(cfg, resume_path, d.tick);
    if (st == EBM_OK && par->rank == 0) {
        print_dbn_header(&d, resume_path);
        st = write_config_copy(cfg);
    }
    st = ebm_par_agree(par, st);
    if (st == EBM_OK) st = ebm_dbn_run(&d);
    double times[EBM_MAX_STAGES][DBN_TIMES];
    if (st == EBM_OK || st == EBM_ERR_STOPPED) {
        ebm_status t = ebm_dbn_stage_times(&d, times);
        if (st == EBM_OK) st = t;
    }
    if ((st == EBM_OK || st == EBM_ERR_STOPPED) && par->rank == 0) {
        if (st == EBM_OK)
            printf("done: %d pipeline epochs\n  checkpoint  %s\n  metrics     %s/metrics.jsonl\n",
                   d.tick, d.checkpoint_path, cfg->output.dir);
        printf("  seconds per stage (mean over its ranks):\n");
        for (int l = 0; l < d.plan.n_stages; l++) {
            double *t = times[l], sum = t[0] + t[1] + t[2] + t[3];
            printf("    stage %d  busy %8.1f (%3.0f%%)  waiting for input %8.1f  blocked on "
                   "output %8.1f  sync %8.1f\n", l, t[DBN_BUSY],
                   sum > 0 ? 100 * t[DBN_BUSY] / sum : 0.0, t[DBN_WAITING], t[DBN_BLOCKED],
                   t[DBN_SYNC]);
        }
    }
    ebm_dbn_free(&d);
    return st;
}

static ebm_status train(const struct train_args *a)
{
    ebm_stop_install();
    struct ebm_par par;
    EBM_TRY(ebm_par_init(&par, MPI_COMM_WORLD));
    struct ebm_config cfg;
    char resume_path[EBM_PATH_MAX + 64] = "";
    ebm_status st = EBM_OK;
    if (par.rank == 0) {
        st = load_config(a, &cfg);
        if (st == EBM_OK) st = prepare_run_dir(&cfg, a->resume, resume_path, sizeof resume_path);
    }
    EBM_TRY(ebm_par_agree(&par, st));
    EBM_TRY(ebm_config_bcast(&cfg, 0, par.world));
    EBM_MPI_TRY(MPI_Bcast(resume_path, sizeof resume_path, MPI_CHAR, 0, par.world));
    ebm_blas_set_threads(par.node_size);
    if (!strcmp(cfg.model.type, "dbn")) {
        st = train_dbn(&cfg, &par, resume_path);
        ebm_par_free(&par);
        return st;
    }

    struct ebm_trainer tr;
    st = ebm_trainer_init(&tr, &cfg, &par);
    if (st == EBM_OK && resume_path[0]) st = ebm_trainer_load(&tr, resume_path);
    int past = tr.epoch > cfg.train.epochs ||
               (tr.epoch == cfg.train.epochs && tr.step > (int64_t)tr.epoch * tr.steps_per_epoch);
    if (st == EBM_OK && past)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s is past [train] epochs = %d (epoch %d, step %lld)",
                      resume_path, cfg.train.epochs, tr.epoch, (long long)tr.step);
    if (st == EBM_OK && tr.epoch == cfg.train.epochs) {
        /* A requeued job whose work is already done: nothing to train. */
        if (par.rank == 0)
            printf("nothing to do: %s is at epoch %d = [train] epochs\n", resume_path, tr.epoch);
        ebm_trainer_free(&tr);
        ebm_par_free(&par);
        return EBM_OK;
    }
    if (st == EBM_OK && par.rank == 0) st = check_resume_point(&cfg, resume_path, tr.epoch);
    if (st == EBM_OK && par.rank == 0) {
        print_header(&tr, resume_path);
        st = write_config_copy(&cfg);
    }
    st = ebm_par_agree(&par, st);
    /* Pre-training ends in a checkpoint at epoch 0, which a resume starts from. */
    if (st == EBM_OK && ebm_trainer_is_dbm(&tr) && cfg.train.pretrain_epochs > 0 &&
        !resume_path[0]) {
        st = ebm_dbm_pretrain(&tr);
        if (st == EBM_OK) st = ebm_trainer_checkpoint(&tr);
        if (st == EBM_OK && par.rank == 0)
            printf("pre-training done: %s\n", tr.checkpoint_path);
    }
    if (st == EBM_OK) st = ebm_trainer_run(&tr);
    double mean[4] = { 0 }, slowest[4] = { 0 };
    if (st == EBM_OK || st == EBM_ERR_STOPPED) {
        ebm_status t = ebm_trainer_total_timing(&tr, mean, slowest);
        if (st == EBM_OK) st = t;
    }
    if (st == EBM_OK && par.rank == 0) {
        printf("done: %d epochs, %lld steps\n"
               "  checkpoint  %s/ckpt-e%06d.h5\n"
               "  metrics     %s/metrics.jsonl\n",
               tr.epoch, (long long)tr.step, cfg.output.dir, tr.epoch, cfg.output.dir);
        if (tr.data.image_h > 0 && !tr.grid.on) /* a grid draws none (docs/model-parallel.md) */
            printf("  pictures    %s/filters.png%s%s%s\n", cfg.output.dir,
                   tr.chains ? ", " : "", tr.chains ? cfg.output.dir : "",
                   tr.chains ? "/samples.png" : "");
    }
    if ((st == EBM_OK || st == EBM_ERR_STOPPED) && par.rank == 0)
        printf("  seconds     compute %.1f (slowest rank %.1f), allreduce %.1f (%.1f), "
               "io %.1f (%.1f), checkpoint %.1f (%.1f)\n", mean[0], slowest[0], mean[1],
               slowest[1], mean[2], slowest[2], mean[3], slowest[3]);
    ebm_trainer_free(&tr);
    ebm_par_free(&par);
    return st;
}

int ebm_cmd_train(int argc, char **argv)
{
    if (ebm_cmd_help(argc, argv, usage)) return 0;
    struct train_args a;
    ebm_status st = parse_args(argc, argv, &a);
    if (st == EBM_OK) st = train(&a);
    free(a.sets);
    return ebm_cmd_finish(st);
}
