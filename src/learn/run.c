/* The epoch loop around ebm_trainer_step: progress on rank 0, one metrics
 * line per epoch, checkpoints (kept to the newest K) and pictures. */
#include "ebm/trainer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ebm/metrics.h"
#include "ebm/bm_learn.h"
#include "ebm/dbm_learn.h"
#include "ebm/grid_train.h"
#include "ebm/png.h"
#include "ebm/stop.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void format_duration(double s, char *buf, size_t len)
{
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, len, "%lds", t);
}

static void progress(const struct ebm_trainer *tr, int64_t done, int64_t total)
{
    enum { WIDTH = 30 };
    int filled = (int)(WIDTH * done / total);
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '=' : ' ';
    bar[WIDTH] = '\0';
    printf("\r  epoch %d [%s] %3d%%", tr->epoch + 1, bar, (int)(100 * done / total));
    fflush(stdout);
}

/* A BM's filters are the rows of W (each unit's couplings, as an image);
 * its samples are the chains' states. */
static ebm_status write_bm_pictures(struct ebm_trainer *tr, char *path, int h, int w)
{
    int D = tr->V, n = D < 100 ? D : 100;
    EBM_TRY(ebm_png_write_tiles(path, tr->bm.model.W, n, D, 1, h, w, 10, true));
    if (!tr->chains || tr->step == 0) return EBM_OK;
    snprintf(path + strlen(path) - strlen("filters.png"), strlen("filters.png") + 1,
             "samples.png");
    n = tr->C < 100 ? tr->C : 100;
    float *img;
    EBM_ALLOC(img, (size_t)n * D);
    memcpy(img, tr->chains, sizeof(float) * (size_t)n * D);
    ebm_units_to_intensity(tr->bm.model.spin ? EBM_UNIT_SPIN : EBM_UNIT_BERNOULLI, img, n, D,
                           NULL, NULL);
    ebm_status st = ebm_png_write_tiles(path, img, n, D, 1, h, w, 10, false);
    free(img);
    return st;
}

static ebm_status write_pictures(struct ebm_trainer *tr)
{
    /* A grid holds no rank's whole W, and its chains are blocks: no pictures. */
    if (tr->par->rank != 0 || tr->data.image_h <= 0 || ebm_trainer_is_grid(tr)) return EBM_OK;
    int h = tr->data.image_h, w = tr->data.image_w;
    /* label units, if any, are the last visible units: the image is before them */
    if ((int64_t)h * w != tr->V - tr->model.n_labels) return EBM_OK;
    char path[2048];
    snprintf(path, sizeof path, "%s/filters.png", tr->cfg.output.dir);
    if (ebm_trainer_is_bm(tr)) return write_bm_pictures(tr, path, h, w);
    if (ebm_trainer_is_dbm(tr)) { /* the first layer's filters, the chains' visible states */
        int n = tr->dbm.model.sizes[1] < 100 ? tr->dbm.model.sizes[1] : 100;
        EBM_TRY(ebm_png_write_tiles(path, tr->dbm.model.W[0], n, 1, tr->dbm.model.sizes[1], h, w,
                                    10, true));
        snprintf(path, 2048, "%s/samples.png", tr->cfg.output.dir);
        n = tr->C < 100 ? tr->C : 100;
        return ebm_png_write_tiles(path, tr->v_neg, n, tr->V, 1, h, w, 10, false);
    }
    int n = tr->H < 100 ? tr->H : 100;
    EBM_TRY(ebm_png_write_tiles(path, tr->model.W, n, 1, tr->H, h, w, 10, true));
    if (tr->chains && tr->step > 0) {
        /* The chains' last visible means: what the model currently dreams. */
        snprintf(path, sizeof path, "%s/samples.png", tr->cfg.output.dir);
        n = tr->C < 100 ? tr->C : 100;
        if (rbm_is_binary(&tr->model))
            return ebm_png_write_tiles(path, tr->pv_neg, n, tr->V, 1, h, w, 10, false);
        /* Spins and standardised values go back to intensities first. */
        float *img;
        EBM_ALLOC(img, (size_t)n * tr->V);
        memcpy(img, tr->pv_neg, sizeof(float) * (size_t)n * tr->V);
        ebm_units_to_intensity(tr->model.vis.type, img, n, tr->V, tr->input_mean, tr->input_std);
        ebm_status st = ebm_png_write_tiles(path, img, n, tr->V, 1, h, w, 10, false);
        free(img);
        EBM_TRY(st);
    }
    return EBM_OK;
}

ebm_status ebm_trainer_checkpoint(struct ebm_trainer *tr)
{
    char name[64];
    ebm_checkpoint_name(name, sizeof name, tr->epoch, tr->step, tr->steps_per_epoch);
    snprintf(tr->checkpoint_path, sizeof tr->checkpoint_path, "%s/%s", tr->cfg.output.dir, name);
    EBM_TRY(ebm_trainer_save(tr, tr->checkpoint_path));
    if (tr->par->rank == 0)
        ebm_checkpoint_rotate(tr->cfg.output.dir, tr->cfg.train.keep_checkpoints,
                           ebm_checkpoint_key(name));
    return ebm_par_agree(tr->par, write_pictures(tr));
}

static void add_timing(struct ebm_timing *to, const struct ebm_timing *t)
{
    to->compute += t->compute;
    to->allreduce += t->allreduce;
    to->io += t->io;
    to->checkpoint += t->checkpoint;
}

/* Every rank agreed to stop after the same step: save it and say how to go on. */
static ebm_status stop_here(struct ebm_trainer *tr)
{
    double t0 = now();
    EBM_TRY(ebm_trainer_checkpoint(tr));
    tr->time.checkpoint += now() - t0;
    add_timing(&tr->total, &tr->time);
    return EBM_FAIL(EBM_ERR_STOPPED, "stopped on request after step %lld; checkpoint %s; "
                    "continue with --resume auto", (long long)tr->step, tr->checkpoint_path);
}

static int params_finite(const struct ebm_trainer *tr)
{
    if (ebm_trainer_is_bm(tr)) return ebm_bm_params_finite(tr);
    if (ebm_trainer_is_dbm(tr)) return ebm_dbm_params_finite(tr);
    if (ebm_trainer_is_grid(tr)) return ebm_grid_train_params_finite(tr);
    double s = 0.0;
    for (size_t i = 0; i < tr->model.block_len; i++) s += tr->model.block[i];
    return isfinite(s);
}

struct timing_summary { double mean[4], max[4]; };

static ebm_status reduce_timing(const struct ebm_trainer *tr, struct timing_summary *out,
                                const struct ebm_timing *time)
{
    double t[4] = { time->compute, time->allreduce, time->io, time->checkpoint };
    memcpy(out->mean, t, sizeof t);
    memcpy(out->max, t, sizeof t);
    EBM_TRY(ebm_par_allreduce_sum_d(tr->par, out->mean, 4));
    EBM_TRY(ebm_par_max_d(tr->par, out->max, 4));
    for (int i = 0; i < 4; i++) out->mean[i] /= tr->par->size;
    return EBM_OK;
}

ebm_status ebm_trainer_total_timing(const struct ebm_trainer *tr, double mean[4], double max[4])
{
    struct timing_summary t;
    EBM_TRY(reduce_timing(tr, &t, &tr->total));
    memcpy(mean, t.mean, sizeof t.mean);
    memcpy(max, t.max, sizeof t.max);
    return EBM_OK;
}

/* Rank 0 prints and appends; see log_epoch. */
static ebm_status write_epoch_log(struct ebm_trainer *tr, const struct ebm_epoch_metrics *m,
                                  const struct timing_summary *tp, int64_t steps,
                                  double epoch_seconds, double elapsed, double eta)
{
    const struct timing_summary t = *tp;
    double rate = (double)steps * tr->B * tr->dpar->size / epoch_seconds;
    char el[32], et[32], gap[32];
    format_duration(elapsed, el, sizeof el);
    format_duration(eta, et, sizeof et);
    if (isfinite(m->fe_gap)) snprintf(gap, sizeof gap, "%+.3f", m->fe_gap);
    else snprintf(gap, sizeof gap, "n/a");
    char logp[48] = "";
    if (isfinite(m->avg_log_prob_valid))
        snprintf(logp, sizeof logp, "  logp(AIS) %8.3f", m->avg_log_prob_valid);
    double mf = tr->dbm.mf_batches ? (double)tr->dbm.mf_sweeps / (double)tr->dbm.mf_batches : NAN;
    if (isfinite(mf)) snprintf(logp, sizeof logp, "  mean-field %.1f sweeps", mf);
    if (!tr->quiet)
        printf("epoch %4d/%d  step %8lld  recon %8.3f  fe_gap %8s%s  %9.0f samples/s  %s  eta %s\n",
               tr->epoch, tr->cfg.train.epochs, (long long)tr->step, m->recon_train, gap, logp,
               rate, el, et);
    fflush(stdout);

    static const char *names[4] = { "compute", "allreduce", "io", "checkpoint" };
    struct ebm_json j;
    ebm_json_begin(&j);
    ebm_json_int(&j, "epoch", tr->epoch);
    ebm_json_int(&j, "step", tr->step);
    ebm_json_num(&j, "recon_error", m->recon_train);
    ebm_json_num(&j, "recon_error_valid", m->recon_valid);
    ebm_json_num(&j, "free_energy_train", m->fe_train);
    ebm_json_num(&j, "free_energy_valid", m->fe_valid);
    ebm_json_num(&j, "free_energy_gap", m->fe_gap);
    if (isfinite(m->ais_log_z)) {
        ebm_json_num(&j, "avg_log_prob_valid", m->avg_log_prob_valid);
        ebm_json_num(&j, "ais_log_z", m->ais_log_z);
        ebm_json_num(&j, "ais_log_z_lo", m->ais_log_z_lo);
        ebm_json_num(&j, "ais_log_z_hi", m->ais_log_z_hi);
    }
    if (isfinite(mf)) ebm_json_num(&j, "mean_field_sweeps", mf);
    ebm_json_num(&j, "samples_per_s", rate);
    ebm_json_num(&j, "epoch_seconds", epoch_seconds);
    ebm_json_num(&j, "elapsed_s", elapsed);
    ebm_json_num(&j, "eta_s", eta);
    ebm_json_int(&j, "ranks", tr->par->size);
    ebm_json_begin_object(&j, "seconds");
    for (int i = 0; i < 4; i++) ebm_json_num(&j, names[i], t.mean[i]);
    ebm_json_end_object(&j);
    ebm_json_begin_object(&j, "seconds_slowest_rank");
    for (int i = 0; i < 4; i++) ebm_json_num(&j, names[i], t.max[i]);
    ebm_json_end_object(&j);
    char path[2048];
    snprintf(path, sizeof path, "%s/metrics.jsonl", tr->cfg.output.dir);
    return ebm_metrics_append(path, ebm_json_end(&j));
}

/* Collective: a failed metrics write on rank 0 stops every rank. */
static ebm_status log_epoch(struct ebm_trainer *tr, const struct ebm_epoch_metrics *m,
                            int64_t steps, double epoch_seconds, double elapsed, double eta)
{
    struct timing_summary t;
    EBM_TRY(reduce_timing(tr, &t, &tr->time));
    ebm_status st = EBM_OK;
    if (tr->par->rank == 0) st = write_epoch_log(tr, m, &t, steps, epoch_seconds, elapsed, eta);
    return ebm_par_agree(tr->par, st);
}

ebm_status ebm_trainer_run(struct ebm_trainer *tr)
{
    const struct ebm_config *cfg = &tr->cfg;
    /* Ranks under mpirun write to a pseudo-terminal even when mpirun's own
     * output goes to a file, so batch jobs (SLURM_JOB_ID) never get the bar,
     * and it is redrawn at most once a second. */
    int show_bar = tr->par->rank == 0 && !tr->quiet && isatty(STDOUT_FILENO) &&
                   !getenv("SLURM_JOB_ID");
    double last_bar = 0;
    double start = now();
    int first_epoch = tr->epoch;
    if (tr->epoch == 0 && cfg->train.checkpoint_every > 0 && tr->step == 0)
        EBM_TRY(ebm_par_agree(tr->par, write_pictures(tr)));
    while (tr->epoch < cfg->train.epochs) {
        double t0 = now();
        memset(&tr->time, 0, sizeof tr->time);
        ebm_trainer_begin_epoch(tr);
        int64_t every = tr->steps_per_epoch / 50 > 0 ? tr->steps_per_epoch / 50 : 1;
        /* A checkpoint taken at a stop resumes inside its epoch. */
        int64_t first = tr->step - (int64_t)tr->epoch * tr->steps_per_epoch;
        for (int64_t s = first; s < tr->steps_per_epoch; s++) {
            EBM_TRY(ebm_trainer_step(tr));
            if (tr->stop_agreed && s + 1 < tr->steps_per_epoch) {
                if (show_bar) printf("\r\033[K");
                return stop_here(tr);
            }
            if (show_bar && (s + 1) % every == 0 && now() - last_bar >= 1.0) {
                progress(tr, s + 1, tr->steps_per_epoch);
                last_bar = now();
            }
        }
        if (show_bar) printf("\r\033[K");
        double t1 = now();
        tr->epoch++;
        if (!params_finite(tr))
            return EBM_FAIL(EBM_ERR_NUMERIC, "training diverged in epoch %d (non-finite "
                            "parameters); lower [train] lr (now %g)", tr->epoch, cfg->train.lr);
        struct ebm_epoch_metrics m;
        EBM_TRY(ebm_trainer_evaluate(tr, &m));
        double t2 = now();
        tr->time.io += t2 - t1;
        /* A request that came during the epoch's last step or its metrics
         * is honoured now: the checkpoint comes first, and no AIS follows. */
        int any = ebm_stop_requested(), all_any = any;
        MPI_Allreduce(&any, &all_any, 1, MPI_INT, MPI_MAX, tr->par->world);
        tr->stop_agreed = tr->stop_agreed || all_any;
        int due = tr->epoch % cfg->train.checkpoint_every == 0 || tr->epoch == cfg->train.epochs ||
                  tr->stop_agreed;
        if (due) {
            EBM_TRY(ebm_trainer_checkpoint(tr));
            tr->time.checkpoint += now() - t2;
        }
        if (cfg->train.eval_every > 0 && tr->epoch % cfg->train.eval_every == 0 &&
            !tr->stop_agreed) {
            double t3 = now();
            EBM_TRY(ebm_trainer_estimate_log_prob(tr, &m));
            tr->time.io += now() - t3;
        }
        double elapsed = now() - start;
        double per_epoch = elapsed / (tr->epoch - first_epoch);
        EBM_TRY(log_epoch(tr, &m, tr->steps_per_epoch - first, t1 - t0, elapsed,
                          per_epoch * (cfg->train.epochs - tr->epoch)));
        add_timing(&tr->total, &tr->time);
        if (tr->stop_agreed && tr->epoch < cfg->train.epochs)
            return EBM_FAIL(EBM_ERR_STOPPED, "stopped on request at the end of epoch %d; "
                            "checkpoint %s; continue with --resume auto", tr->epoch,
                            tr->checkpoint_path);
    }
    return EBM_OK;
}
