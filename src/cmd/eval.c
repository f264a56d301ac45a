/* ebm eval CKPT --data FILE [--split test] [--exact] [--ais-runs N]
 *               [--ais-betas N] [--seed S] [--binarize MODE] [--json]
 *               [--bound-samples S]
 * An RBM checkpoint gets log p(v); a DBN checkpoint the variational lower
 * bound on it (src/eval/dbn_bound.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>

#include "ebm/bm_eval.h"
#include "ebm/cmd.h"
#include "ebm/dbm_eval.h"
#include "ebm/dataset.h"
#include "ebm/dbn.h"
#include "ebm/dbn_bound.h"
#include "ebm/evaluate.h"
#include "ebm/grid.h"
#include "ebm/kernels.h"
#include "ebm/logz.h"
#include "ebm/metrics.h"
#include "ebm/model_file.h"
#include "ebm/par.h"

#include "eval_cmd.h"

static const char usage[] =
    "usage: ebm eval CKPT --data FILE [--split S] [--exact] [--ais-runs N] [--ais-betas N]\n"
    "                [--seed S] [--binarize stochastic|threshold|none] [--no-reverse] [--json]\n"
    "                [--max-examples N] [--bound-samples S] [--grid PrxPc [--block N]]\n"
    "\n"
    "The average log-probability of the rows of a dataset split under the RBM\n"
    "in CKPT, in nats, with log Z either exact (--exact: enumerates the smaller\n"
    "layer, at most 32 units) or estimated by AIS (Salakhutdinov & Murray 2008)\n"
    "with reverse AIS from the data as the pessimistic side. Also reports the\n"
    "pseudo-likelihood (per visible unit), the reconstruction error and the\n"
    "mean free energy. Runs and rows are split over the ranks of the job.\n"
    "\n"
    "For a DBM (model.type = dbm) it reports the variational lower bound on\n"
    "the average log-probability (mean field, Salakhutdinov & Hinton 2009),\n"
    "with log Z exact (--exact) or by AIS over the even (or odd) layers, with\n"
    "reverse AIS from the data as the pessimistic side, and the floor that\n"
    "log Z must exceed (a forward estimate below it has not converged).\n"
    "\n"
    "For a fully visible BM (model.type = bm) it reports the exact average\n"
    "log-probability (log Z by enumeration, at most 20 units), the\n"
    "pseudo-likelihood and the mean energy.\n"
    "\n"
    "For a DBN checkpoint it reports the variational lower bound on the average\n"
    "log-probability (Salakhutdinov & Murray 2008, sec. 5), estimated with S\n"
    "samples of the upward recognition pass per row, its Monte-Carlo standard\n"
    "error over rows, and log Z of the top RBM (exact with --exact, else AIS\n"
    "with reverse AIS from the upward samples); the bound's interval comes\n"
    "from that of log Z (docs/evaluation.md).\n"
    "\n"
    "  --data FILE        HDF5 dataset (docs/data.md)        required\n"
    "  --split S          split to evaluate                   test\n"
    "  --exact            exact log Z instead of AIS\n"
    "  --ais-runs N       AIS runs (and reverse runs)         100\n"
    "  --ais-betas N      intermediate distributions          15000\n"
    "  --seed S           seed of AIS and binarisation        1\n"
    "  --binarize MODE    how [0,1] data becomes binary       stochastic\n"
    "                     (a fixed sample per row and seed)\n"
    "  --max-examples N   evaluate only the first N rows      all\n"
    "  --no-reverse       skip reverse AIS\n"
    "  --bound-samples S  DBN: samples of q(h | v) per row    10\n"
    "  --ais-keep P       DBM: the layers AIS moves over, the   even\n"
    "                     others summed out: even or odd\n"
    "  --ais-base B       DBM: AIS's base for the hidden units: rates\n"
    "                     rates (each unit at its mean-field\n"
    "                     rate over the rows) or uniform\n"
    "  --grid PrxPc       rbm: W block-cyclic over each replica   off\n"
    "                     of Pr x Pc ranks (no rank holds W;\n"
    "                     AIS only, no pseudo-likelihood)\n"
    "  --block N          --grid's block rows and columns     64\n"
    "  --json             one JSON object instead of text\n";




static ebm_status parse_args(int argc, char **argv, struct eval_args *a)
{
    memset(a, 0, sizeof *a);
    a->split = "test";
    a->opts = (struct ebm_eval_opts){ .ais_runs = 100, .ais_betas = 15000, .seed = 1,
                                      .reverse = true, .pseudo_likelihood = true };
    a->ais_base_rates = 1;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        long long v;
        int takes = !strcmp(f, "--data") || !strcmp(f, "--split") || !strcmp(f, "--ais-runs") ||
                    !strcmp(f, "--ais-betas") || !strcmp(f, "--seed") ||
                    !strcmp(f, "--binarize") || !strcmp(f, "--max-examples") ||
                    !strcmp(f, "--bound-samples") || !strcmp(f, "--ais-keep") ||
                    !strcmp(f, "--ais-base") || !strcmp(f, "--grid") || !strcmp(f, "--block");
        if (takes && i + 1 >= argc)
            return EBM_FAIL(EBM_ERR_INPUT, "ebm eval: %s needs a value (see ebm eval --help)", f);
        if (!strcmp(f, "--data")) a->data = argv[++i];
        else if (!strcmp(f, "--split")) a->split = argv[++i];
        else if (!strcmp(f, "--exact")) a->opts.exact = true;
        else if (!strcmp(f, "--no-reverse")) a->opts.reverse = false;
        else if (!strcmp(f, "--json")) a->json = 1;
        else if (!strcmp(f, "--ais-runs")) {
            EBM_TRY(ebm_arg_int("eval", f, argv[++i], 2, 1000000, &v));
            a->opts.ais_runs = (int)v;
        } else if (!strcmp(f, "--ais-betas")) {
            EBM_TRY(ebm_arg_int("eval", f, argv[++i], 15, 100000000, &v));
            a->opts.ais_betas = (int)v;
        } else if (!strcmp(f, "--seed")) {
            EBM_TRY(ebm_arg_int("eval", f, argv[++i], 0, (long long)(~0ull >> 1), &v));
            a->opts.seed = (uint64_t)v;
        } else if (!strcmp(f, "--bound-samples")) {
            EBM_TRY(ebm_arg_int("eval", f, argv[++i], 1, 1000000, &v));
            a->bound_samples = (int)v;
        } else if (!strcmp(f, "--grid")) {
            int pr, pc;
            a->grid = argv[++i];
            if (ebm_grid_parse(a->grid, &pr, &pc) != EBM_OK) {
                ebm_error_clear();
                return EBM_FAIL(EBM_ERR_INPUT, "ebm eval: --grid '%s': expected PrxPc, e.g. 2x2",
                                a->grid);
            }
        } else if (!strcmp(f, "--block")) {
            EBM_TRY(ebm_arg_int("eval", f, argv[++i], 1, 65536, &v));
            a->block = (int)v;
        } else if (!strcmp(f, "--max-examples")) {
            EBM_TRY(ebm_arg_int("eval", f, argv[++i], 1, (long long)(~0ull >> 1), &v));
            a->max_examples = v;
        } else if (!strcmp(f, "--binarize")) {
            EBM_TRY(ebm_arg_binarize("eval", argv[++i], &a->binarize));
        } else if (!strcmp(f, "--ais-keep")) {
            const char *p = argv[++i];
            if (strcmp(p, "even") != 0 && strcmp(p, "odd") != 0)
                return EBM_FAIL(EBM_ERR_INPUT, "ebm eval: --ais-keep '%s': expected even or odd",
                                p);
            a->ais_kept = p[0] == 'o';
            a->dbm_flag_given = 1;
        } else if (!strcmp(f, "--ais-base")) {
            const char *p = argv[++i];
            if (strcmp(p, "uniform") != 0 && strcmp(p, "rates") != 0)
                return EBM_FAIL(EBM_ERR_INPUT, "ebm eval: --ais-base '%s': expected uniform or "
                                "rates", p);
            a->ais_base_rates = p[0] == 'r';
            a->dbm_flag_given = 1;
        } else if (f[0] == '-') {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm eval: unknown flag '%s' (see ebm eval --help)", f);
        } else if (!a->ckpt) {
            a->ckpt = f;
        } else {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm eval: unexpected argument '%s' (one CKPT only)", f);
        }
    }
    if (!a->ckpt) return EBM_FAIL(EBM_ERR_INPUT, "ebm eval: missing CKPT (see ebm eval --help)");
    if (!a->data) return EBM_FAIL(EBM_ERR_INPUT, "ebm eval: missing --data FILE");
    if (a->grid && a->opts.exact)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm eval: --exact enumerates a layer of at most %d "
                        "units, which needs no grid: leave out --grid (or --exact, for AIS)",
                        EBM_EXACT_MAX_UNITS);
    if (a->block && !a->grid)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm eval: --block sizes the blocks of --grid; give both");
    a->opts.pseudo_likelihood = a->binarize != 2;
    return EBM_OK;
}

void eval_print_text(const struct eval_args *a, const struct rbm *m,
                     const struct ebm_eval_result *r, double log_jacobian, double secs,
                     int ranks)
{
    static const char *modes[] = { "stochastic", "threshold", "none" };
    if (m->vis.type == EBM_UNIT_GAUSSIAN)
        printf("data          %s /%s: %lld examples, %s\n", a->data, a->split,
               (long long)r->n_examples, log_jacobian != 0.0 ? "standardised as in training"
                                                              : "raw values");
    else
        printf("data          %s /%s: %lld examples, binarized %s%s (seed %llu)\n", a->data,
               a->split, (long long)r->n_examples, modes[a->binarize],
               m->vis.type == EBM_UNIT_SPIN ? " to spins" : "", (unsigned long long)a->opts.seed);
    if (!rbm_is_binary(m))
        printf("model         rbm %d x %d, %s visible and %s hidden units\n", m->n_visible,
               m->n_hidden, ebm_unit_type_name(m->vis.type), ebm_unit_type_name(m->hid.type));
    if (a->opts.exact) {
        printf("method        exact (enumeration)\n");
        printf("log Z         %.6f\n", r->log_z);
        printf("avg log p(v)  %.4f nats  (standard error over examples %.4f)\n", r->avg_log_prob,
               r->free_energy_se);
    } else {
        printf("method        AIS, %d runs x %d betas, %d rank%s", a->opts.ais_runs,
               a->opts.ais_betas, ranks, ranks == 1 ? "" : "s");
        if (a->grid) printf(" (W on %s grids, blocks of %d)", a->grid, a->block ? a->block : 64);
        if (r->have_reverse) printf("; reverse AIS from %d data rows", r->reverse_runs);
        printf("\n");
        printf("log Z         %.4f  [%.4f, %.4f]  (forward AIS, log(Z ± 3 sd); log-weight sd %.3f)\n",
               r->log_z, r->log_z_lo, r->log_z_hi, r->ais_log_w_sd);
        if (r->have_reverse)
            printf("log Z reverse %.4f  [%.4f, %.4f]\n", r->reverse_log_z, r->reverse_log_z_lo,
                   r->reverse_log_z_hi);
        printf("avg log p(v)  %.4f nats  [%.4f, %.4f]  (standard error over examples %.4f)\n",
               r->avg_log_prob, r->avg_log_prob_lo, r->avg_log_prob_hi, r->free_energy_se);
        if (r->have_reverse)
            printf("  reverse AIS %.4f nats  (pessimistic side of the bracket)\n",
                   r->reverse_avg_log_prob);
    }
    if (log_jacobian != 0.0)
        printf("avg log p(x)  %.4f nats  (density of the unstandardised rows: log p(v) "
               "- sum_i log std_i)\n", r->avg_log_prob + log_jacobian);
    if (isfinite(r->pseudo_ll_per_unit))
        printf("pseudo-LL     %.5f nats per visible unit (%.3f per example)\n",
               r->pseudo_ll_per_unit, r->pseudo_ll_per_example);
    printf("recon error   %.4f (squared, per example)\n", r->recon_error);
    printf("free energy   %.4f (mean)\n", r->mean_free_energy);
    if (r->have_reverse)
        printf("seconds       %.2f (forward AIS %.2f, reverse AIS %.2f)\n", secs, r->ais_seconds,
               r->reverse_seconds);
    else if (!a->opts.exact)
        printf("seconds       %.2f (forward AIS %.2f)\n", secs, r->ais_seconds);
    else
        printf("seconds       %.2f\n", secs);
}

void eval_print_json(const struct eval_args *a, const struct rbm *m,
                     const struct ebm_eval_result *r, double log_jacobian, double secs)
{
    struct ebm_json j;
    ebm_json_begin(&j);
    ebm_json_str(&j, "visible_units", ebm_unit_type_name(m->vis.type));
    ebm_json_str(&j, "hidden_units", ebm_unit_type_name(m->hid.type));
    ebm_json_num(&j, "avg_log_prob", r->avg_log_prob);
    if (log_jacobian != 0.0)
        ebm_json_num(&j, "avg_log_prob_unstandardised", r->avg_log_prob + log_jacobian);
    ebm_json_num(&j, "avg_log_prob_lo", r->avg_log_prob_lo);
    ebm_json_num(&j, "avg_log_prob_hi", r->avg_log_prob_hi);
    ebm_json_num(&j, "avg_log_prob_se", r->free_energy_se);
    ebm_json_num(&j, "log_z", r->log_z);
    ebm_json_num(&j, "log_z_lo", r->log_z_lo);
    ebm_json_num(&j, "log_z_hi", r->log_z_hi);
    ebm_json_str(&j, "method", a->opts.exact ? "exact" : "ais");
    ebm_json_int(&j, "n_examples", r->n_examples);
    ebm_json_num(&j, "seconds", secs);
    if (!a->opts.exact) {
        ebm_json_int(&j, "ais_runs", a->opts.ais_runs);
        ebm_json_int(&j, "ais_betas", a->opts.ais_betas);
        ebm_json_num(&j, "ais_seconds", r->ais_seconds);
    }
    if (r->have_reverse) {
        ebm_json_int(&j, "reverse_runs", r->reverse_runs);
        ebm_json_num(&j, "reverse_log_z", r->reverse_log_z);
        ebm_json_num(&j, "reverse_log_z_lo", r->reverse_log_z_lo);
        ebm_json_num(&j, "reverse_log_z_hi", r->reverse_log_z_hi);
        ebm_json_num(&j, "reverse_avg_log_prob", r->reverse_avg_log_prob);
        ebm_json_num(&j, "reverse_seconds", r->reverse_seconds);
    }
    ebm_json_num(&j, "pseudo_ll_per_unit", r->pseudo_ll_per_unit);
    ebm_json_num(&j, "pseudo_ll_per_example", r->pseudo_ll_per_example);
    ebm_json_num(&j, "recon_error", r->recon_error);
    ebm_json_num(&j, "mean_free_energy", r->mean_free_energy);
    printf("%s\n", ebm_json_end(&j));
}

/* Gaussian visible units: the rows standardised as in training, when the
 * model was trained so (*log_jacobian = -sum_i log std_i turns a density
 * of standardised rows into one of the data's). Collective. */
static ebm_status standardize_rows(const struct eval_args *a, const struct ebm_par *par,
                                   struct ebm_dataset *ds, double *log_jacobian)
{
    int V = ds->dim, present = 0;
    float *mean = malloc(sizeof *mean * (size_t)V), *sd = malloc(sizeof *sd * (size_t)V);
    ebm_status st = mean && sd ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
    st = ebm_par_agree(par, st);
    if (st == EBM_OK)
        st = ebm_par_agree(par, ebm_model_read_standardize(a->ckpt, par->world, V, mean, sd,
                                                            &present));
    *log_jacobian = 0.0;
    if (st == EBM_OK && present) {
        ebm_standardize_rows(ds->x, ds->n, V, mean, sd);
        for (int i = 0; i < V; i++) *log_jacobian -= log((double)sd[i]);
    }
    free(mean);
    free(sd);
    return st;
}

/* This rank's rows of the split, checked against the model's V visible
 * units and made into its visible values: binarised ({0,1}, or {-1,+1}
 * for spins), or standardised for Gaussian units. Collective. */
ebm_status eval_load_rows(const struct eval_args *a, const struct ebm_par *par,
                          const struct rbm *m, struct ebm_dataset *ds, double *log_jacobian)
{
    int V = m->n_visible;
    *log_jacobian = 0.0;
    ebm_status st = ebm_dataset_read_shard(a->data, a->split, a->max_examples, par->world, ds);
    if (st == EBM_OK && ds->dim != V)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/x has %d columns but the model in %s has %d "
                      "visible units", a->data, a->split, ds->dim, a->ckpt, V);
    if (m->vis.type == EBM_UNIT_GAUSSIAN) {
        EBM_TRY(ebm_par_agree(par, st));
        return standardize_rows(a, par, ds, log_jacobian);
    }
    if (st == EBM_OK)
        st = ebm_eval_binarize(ds->x, ds->n, ds->dim, ds->first, a->opts.seed, a->binarize);
    for (int64_t i = 0; st == EBM_OK && a->binarize == 2 && i < ds->n * ds->dim; i++)
        if (ds->x[i] != 0.0f && ds->x[i] != 1.0f)
            st = EBM_FAIL(EBM_ERR_INPUT, "%s: /%s row %lld is not binary; log p(v) of a "
                          "Bernoulli RBM needs binary data (use --binarize stochastic or "
                          "threshold)", a->data, a->split, (long long)(ds->first + i / ds->dim));
    if (st == EBM_OK && m->vis.type == EBM_UNIT_SPIN)
        for (int64_t i = 0; i < ds->n * ds->dim; i++) ds->x[i] = 2.0f * ds->x[i] - 1.0f;
    return ebm_par_agree(par, st);
}

static ebm_status eval_rbm(const struct eval_args *a, const struct ebm_par *par, double t0)
{
    struct rbm m;
    struct ebm_model_info info;
    ebm_status st = a->bound_samples
                        ? EBM_FAIL(EBM_ERR_INPUT, "ebm eval: --bound-samples applies to DBN "
                                   "checkpoints; %s holds an rbm", a->ckpt)
                        : ebm_par_agree(par, ebm_model_read_rbm(a->ckpt, par->world, &m, &info));
    if (st != EBM_OK) return st;
    if (m.n_labels > 0) {
        int K = m.n_labels;
        rbm_free(&m);
        return EBM_FAIL(EBM_ERR_INPUT, "%s: a joint rbm with %d label units; ebm classify eval "
                        "measures it (p(y | x)), its log p(x, y) is not implemented", a->ckpt, K);
    }
    /* Gaussian visible units cannot be enumerated: the hidden layer is. */
    int gaussian = m.vis.type == EBM_UNIT_GAUSSIAN;
    int enumerated = gaussian || m.n_hidden < m.n_visible ? m.n_hidden : m.n_visible;
    if (a->opts.exact && enumerated > EBM_EXACT_MAX_UNITS)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: --exact enumerates the %s layer, at most %d "
                      "units; this RBM is %d x %d (leave out --exact for AIS)", a->ckpt,
                      gaussian ? "hidden" : "smaller", EBM_EXACT_MAX_UNITS, m.n_visible,
                      m.n_hidden);
    struct ebm_dataset ds = { 0 };
    double log_jacobian = 0.0;
    if (st == EBM_OK) st = eval_load_rows(a, par, &m, &ds, &log_jacobian);
    struct ebm_eval_result r;
    struct eval_args used = *a;
    used.opts.pseudo_likelihood = a->opts.pseudo_likelihood && rbm_is_binary(&m);
    if (st == EBM_OK)
        st = ebm_par_agree(par, ebm_evaluate(&m, ds.x, ds.n, ds.first, &used.opts, par->world,
                                             &r));
    double secs = MPI_Wtime() - t0;
    if (st == EBM_OK && par->rank == 0) {
        if (a->json) eval_print_json(&used, &m, &r, log_jacobian, secs);
        else eval_print_text(&used, &m, &r, log_jacobian, secs, par->size);
        fflush(stdout);
    }
    ebm_dataset_free(&ds);
    rbm_free(&m);
    return st;
}

static void layers_text(const struct dbn *d, char *buf, size_t len)
{
    size_t used = 0;
    for (int k = 0; k <= d->n_layers && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%d", k ? "-" : "", d->sizes[k]);
}

static void print_dbn_text(const struct eval_args *a, const struct dbn *d,
                           const struct ebm_dbn_bound_result *r, double secs, int ranks)
{
    static const char *modes[] = { "stochastic", "threshold", "none" };
    char sizes[512];
    layers_text(d, sizes, sizeof sizes);
    printf("data          %s /%s: %lld examples, binarized %s (seed %llu)\n", a->data, a->split,
           (long long)r->n_examples, modes[a->binarize], (unsigned long long)a->opts.seed);
    printf("model         dbn %s (%d RBM%s); bound from %d sample%s of q(h | v) per example\n",
           sizes, d->n_layers, d->n_layers == 1 ? "" : "s", r->samples,
           r->samples == 1 ? "" : "s");
    if (a->opts.exact) {
        printf("method        exact log Z of the top RBM (enumeration)\n");
        printf("log Z top     %.6f\n", r->log_z);
    } else {
        printf("method        AIS on the top RBM, %d runs x %d betas, %d rank%s", a->opts.ais_runs,
               a->opts.ais_betas, ranks, ranks == 1 ? "" : "s");
        if (r->have_reverse) printf("; reverse AIS from %d upward samples", r->reverse_runs);
        printf("\n");
        printf("log Z top     %.4f  [%.4f, %.4f]  (forward AIS, log(Z ± 3 sd); log-weight sd %.3f)\n",
               r->log_z, r->log_z_lo, r->log_z_hi, r->ais_log_w_sd);
        if (r->have_reverse)
            printf("log Z reverse %.4f  [%.4f, %.4f]\n", r->reverse_log_z, r->reverse_log_z_lo,
                   r->reverse_log_z_hi);
    }
    printf("avg log p(v) >= %.4f nats  [%.4f, %.4f]  (variational bound; Monte-Carlo standard "
           "error over examples %.4f)\n", r->bound, r->bound_lo, r->bound_hi, r->bound_se);
    /* Reverse AIS errs high on log Z only from exact top-RBM samples; the
     * upward samples of the data are that only when the top RBM matches
     * them, so for a DBN it is a check, not a guaranteed side. */
    if (r->have_reverse)
        printf("  reverse AIS %.4f nats  (from upward samples of the data; %s)\n",
               r->reverse_bound, r->reverse_log_z >= r->log_z
                   ? "the pessimistic side"
                   : "below forward AIS's log Z: those samples are not the top RBM's, "
                     "so it brackets nothing; use the forward interval");
    if (r->have_reverse)
        printf("seconds       %.2f (forward AIS %.2f, reverse AIS %.2f)\n", secs, r->ais_seconds,
               r->reverse_seconds);
    else if (!a->opts.exact)
        printf("seconds       %.2f (forward AIS %.2f)\n", secs, r->ais_seconds);
    else
        printf("seconds       %.2f\n", secs);
}

static void print_dbn_json(const struct eval_args *a, const struct dbn *d,
                           const struct ebm_dbn_bound_result *r, double secs)
{
    char sizes[512];
    layers_text(d, sizes, sizeof sizes);
    struct ebm_json j;
    ebm_json_begin(&j);
    ebm_json_str(&j, "model", "dbn");
    ebm_json_str(&j, "layers", sizes);
    ebm_json_str(&j, "estimate", "variational_lower_bound");
    ebm_json_num(&j, "avg_log_prob", r->bound);
    ebm_json_num(&j, "avg_log_prob_lo", r->bound_lo);
    ebm_json_num(&j, "avg_log_prob_hi", r->bound_hi);
    ebm_json_num(&j, "avg_log_prob_se", r->bound_se);
    ebm_json_num(&j, "log_z", r->log_z);
    ebm_json_num(&j, "log_z_lo", r->log_z_lo);
    ebm_json_num(&j, "log_z_hi", r->log_z_hi);
    ebm_json_num(&j, "bound_expectation", r->mean_log_integrand);
    ebm_json_int(&j, "bound_samples", r->samples);
    ebm_json_str(&j, "method", a->opts.exact ? "exact" : "ais");
    ebm_json_int(&j, "n_examples", r->n_examples);
    ebm_json_num(&j, "seconds", secs);
    if (!a->opts.exact) {
        ebm_json_int(&j, "ais_runs", a->opts.ais_runs);
        ebm_json_int(&j, "ais_betas", a->opts.ais_betas);
        ebm_json_num(&j, "ais_seconds", r->ais_seconds);
    }
    if (r->have_reverse) {
        ebm_json_int(&j, "reverse_runs", r->reverse_runs);
        ebm_json_num(&j, "reverse_log_z", r->reverse_log_z);
        ebm_json_num(&j, "reverse_log_z_lo", r->reverse_log_z_lo);
        ebm_json_num(&j, "reverse_log_z_hi", r->reverse_log_z_hi);
        ebm_json_num(&j, "reverse_avg_log_prob", r->reverse_bound);
        ebm_json_num(&j, "reverse_seconds", r->reverse_seconds);
    }
    printf("%s\n", ebm_json_end(&j));
}

static ebm_status eval_dbn(const struct eval_args *a, const struct ebm_par *par, double t0)
{
    struct dbn d;
    struct ebm_model_info info;
    EBM_TRY(ebm_par_agree(par, ebm_model_read_dbn(a->ckpt, par->world, &d, &info)));
    const struct rbm *top = &d.rbm[d.n_layers - 1];
    ebm_status st = EBM_OK;
    if (a->opts.exact &&
        (top->n_visible < top->n_hidden ? top->n_visible : top->n_hidden) > EBM_EXACT_MAX_UNITS)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: --exact enumerates the smaller layer of the top RBM, "
                      "at most %d units; it is %d x %d (leave out --exact for AIS)", a->ckpt,
                      EBM_EXACT_MAX_UNITS, top->n_visible, top->n_hidden);
    struct ebm_dataset ds = { 0 };
    double no_jacobian;
    if (st == EBM_OK) st = eval_load_rows(a, par, &d.rbm[0], &ds, &no_jacobian);
    struct ebm_dbn_bound_opts o = {
        .samples = a->bound_samples ? a->bound_samples : 10, .exact = a->opts.exact,
        .ais_runs = a->opts.ais_runs, .ais_betas = a->opts.ais_betas,
        .reverse = a->opts.reverse, .seed = a->opts.seed,
    };
    struct ebm_dbn_bound_result r;
    if (st == EBM_OK)
        st = ebm_par_agree(par, ebm_dbn_bound(&d, ds.x, ds.n, ds.first, &o, par->world, &r));
    double secs = MPI_Wtime() - t0;
    if (st == EBM_OK && par->rank == 0) {
        if (a->json) print_dbn_json(a, &d, &r, secs);
        else print_dbn_text(a, &d, &r, secs, par->size);
        fflush(stdout);
    }
    ebm_dataset_free(&ds);
    dbn_free(&d);
    return st;
}

/* A DBM: the variational lower bound on the average log-probability, with
 * log Z exact (--exact) or by AIS over the even layers. */
static ebm_status eval_dbm(const struct eval_args *a, const struct ebm_par *par, double t0)
{
    static const char *modes[] = { "stochastic", "threshold", "none" };
    struct dbm m;
    struct ebm_model_info info;
    ebm_status st = a->bound_samples
                        ? EBM_FAIL(EBM_ERR_INPUT, "ebm eval: --bound-samples applies to DBN "
                                   "checkpoints; %s holds a dbm (its bound is mean field's)",
                                   a->ckpt)
                        : ebm_par_agree(par, ebm_model_read_dbm(a->ckpt, par->world, &m, &info));
    if (st != EBM_OK) return st;
    if (a->dbm_flag_given && a->opts.exact) {
        dbm_free(&m);
        return EBM_FAIL(EBM_ERR_INPUT, "ebm eval: --ais-keep and --ais-base shape AIS; --exact "
                        "enumerates instead");
    }
    struct rbm shape = { 0 }; /* the binary-row loader, through an RBM of V units */
    st = rbm_init(&shape, m.sizes[0], 1);
    struct ebm_dataset ds = { 0 };
    double no_jacobian;
    if (st == EBM_OK) st = eval_load_rows(a, par, &shape, &ds, &no_jacobian);
    struct ebm_dbm_eval_opts o = { .exact = a->opts.exact, .ais_runs = a->opts.ais_runs,
                                   .ais_betas = a->opts.ais_betas, .seed = a->opts.seed,
                                   .reverse = a->opts.reverse, .ais_kept = a->ais_kept,
                                   .hidden_base_rates = a->ais_base_rates,
                                   .mf_steps = 100, .mf_tol = 1e-6 };
    struct ebm_dbm_eval_result r;
    if (st == EBM_OK) st = ebm_par_agree(par, ebm_dbm_evaluate(&m, ds.x, ds.n, ds.first, &o,
                                                                 par->world, &r));
    double secs = MPI_Wtime() - t0;
    if (st == EBM_OK && par->rank == 0 && a->json) {
        struct ebm_json j;
        ebm_json_begin(&j);
        ebm_json_str(&j, "model", "dbm");
        ebm_json_num(&j, "bound", r.bound);
        ebm_json_num(&j, "bound_lo", r.bound_lo);
        ebm_json_num(&j, "bound_hi", r.bound_hi);
        ebm_json_num(&j, "bound_se", r.se);
        ebm_json_num(&j, "log_z", r.log_z);
        ebm_json_num(&j, "log_z_lo", r.log_z_lo);
        ebm_json_num(&j, "log_z_hi", r.log_z_hi);
        ebm_json_num(&j, "log_z_floor", r.log_z_floor);
        ebm_json_int(&j, "log_z_below_floor", r.below_floor);
        ebm_json_str(&j, "method", a->opts.exact ? "exact" : "ais");
        if (r.have_reverse) {
            ebm_json_int(&j, "reverse_runs", r.reverse_runs);
            ebm_json_num(&j, "reverse_log_z", r.reverse_log_z);
            ebm_json_num(&j, "reverse_log_z_lo", r.reverse_log_z_lo);
            ebm_json_num(&j, "reverse_log_z_hi", r.reverse_log_z_hi);
            ebm_json_num(&j, "reverse_bound", r.reverse_bound);
        }
        ebm_json_int(&j, "n_examples", r.n_examples);
        ebm_json_num(&j, "mean_field_sweeps", r.mf_sweeps);
        ebm_json_num(&j, "seconds", secs);
        printf("%s\n", ebm_json_end(&j));
    } else if (st == EBM_OK && par->rank == 0) {
        printf("data          %s /%s: %lld examples, binarized %s (seed %llu)\n", a->data,
               a->split, (long long)r.n_examples, modes[a->binarize],
               (unsigned long long)a->opts.seed);
        printf("model         dbm");
        for (int k = 0; k <= m.n_hidden_layers; k++) printf("%s%d", k ? "-" : " ", m.sizes[k]);
        printf("; mean field %.1f sweeps per 256 rows on average (tolerance 1e-6)\n",
               r.mf_sweeps);
        if (a->opts.exact) {
            printf("method        exact log Z (the even layers enumerated)\n");
            printf("log Z         %.6f\n", r.log_z);
        } else {
            printf("method        AIS over the %s layers from a base with %s hidden units, "
                   "%d runs x %d betas, %d rank%s\n", a->ais_kept ? "odd" : "even",
                   a->ais_base_rates ? "rate-matched" : "uniform", a->opts.ais_runs,
                   a->opts.ais_betas, par->size, par->size == 1 ? "" : "s");
            printf("log Z         %.4f  [%.4f, %.4f]  (log(Z ± 3 sd); log-weight sd %.3f)\n",
                   r.log_z, r.log_z_lo, r.log_z_hi, r.log_w_sd);
            if (r.have_reverse)
                printf("log Z reverse %.4f  [%.4f, %.4f]  (reverse AIS from %d data rows)\n",
                       r.reverse_log_z, r.reverse_log_z_lo, r.reverse_log_z_hi, r.reverse_runs);
        }
        printf("log Z floor   %.4f  (the largest bound plus log Z of a row: log Z is above it)\n",
               r.log_z_floor);
        printf("avg log p(v) >= %.4f nats  [%.4f, %.4f]  (variational bound; standard error "
               "over examples %.4f)\n", r.bound, r.bound_lo, r.bound_hi, r.se);
        if (r.have_reverse)
            printf("  with reverse AIS's log Z %.4f nats (the pessimistic side)\n",
                   r.reverse_bound);
        if (r.below_floor)
            printf("warning: log Z %.4f is below its floor %.4f, so AIS has not converged and "
                   "the bound above is not valid; more --ais-betas\n", r.log_z, r.log_z_floor);
        printf("seconds       %.2f\n", secs);
    }
    if (par->rank == 0) fflush(stdout);
    ebm_dataset_free(&ds);
    rbm_free(&shape);
    dbm_free(&m);
    return st;
}

/* A fully visible BM: its rows binarised as for an RBM (spins for a spin
 * model), then the mean energy, the exact log-likelihood up to
 * BM_EXACT_MAX_UNITS units and the pseudo-likelihood. */
static ebm_status eval_bm(const struct eval_args *a, const struct ebm_par *par, double t0)
{
    static const char *modes[] = { "stochastic", "threshold", "none" };
    struct bm m;
    struct ebm_model_info info;
    ebm_status st = a->bound_samples
                        ? EBM_FAIL(EBM_ERR_INPUT, "ebm eval: --bound-samples applies to DBN "
                                   "checkpoints; %s holds a bm", a->ckpt)
                        : ebm_par_agree(par, ebm_model_read_bm(a->ckpt, par->world, &m, &info));
    if (st != EBM_OK) return st;
    if (a->opts.exact && m.n_units > BM_EXACT_MAX_UNITS)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: --exact enumerates all 2^%d states of the bm; at most "
                      "%d units (leave out --exact for the pseudo-likelihood)", a->ckpt,
                      m.n_units, BM_EXACT_MAX_UNITS);
    /* The binary-state loader, through an RBM of the same visible type. */
    struct rbm shape = { 0 };
    if (st == EBM_OK)
        st = rbm_init_typed(&shape, m.n_units, 1, m.spin ? EBM_UNIT_SPIN : EBM_UNIT_BERNOULLI,
                            EBM_UNIT_BERNOULLI);
    struct ebm_dataset ds = { 0 };
    double no_jacobian;
    if (st == EBM_OK) st = eval_load_rows(a, par, &shape, &ds, &no_jacobian);
    struct ebm_bm_eval_result r;
    if (st == EBM_OK) st = ebm_par_agree(par, ebm_bm_evaluate(&m, ds.x, ds.n, par->world, &r));
    double secs = MPI_Wtime() - t0;
    if (st == EBM_OK && par->rank == 0 && a->json) {
        struct ebm_json j;
        ebm_json_begin(&j);
        ebm_json_str(&j, "model", "bm");
        ebm_json_int(&j, "n_units", m.n_units);
        ebm_json_str(&j, "states", m.spin ? "spin" : "binary");
        if (r.exact) {
            ebm_json_num(&j, "avg_log_prob", r.avg_log_prob);
            ebm_json_num(&j, "avg_log_prob_se", r.energy_se);
            ebm_json_num(&j, "log_z", r.log_z);
            ebm_json_str(&j, "method", "exact");
        }
        ebm_json_int(&j, "n_examples", r.n_examples);
        ebm_json_num(&j, "mean_energy", r.mean_energy);
        ebm_json_num(&j, "pseudo_ll_per_unit", r.pseudo_ll_per_unit);
        ebm_json_num(&j, "pseudo_ll_per_example", r.pseudo_ll_per_example);
        ebm_json_num(&j, "seconds", secs);
        printf("%s\n", ebm_json_end(&j));
    } else if (st == EBM_OK && par->rank == 0) {
        printf("data          %s /%s: %lld examples, binarized %s%s (seed %llu)\n", a->data,
               a->split, (long long)r.n_examples, modes[a->binarize], m.spin ? " to spins" : "",
               (unsigned long long)a->opts.seed);
        printf("model         bm, %d %s units\n", m.n_units, m.spin ? "spin" : "binary");
        if (r.exact) {
            printf("method        exact (enumeration of 2^%d states)\n", m.n_units);
            printf("log Z         %.6f\n", r.log_z);
            printf("avg log p(v)  %.4f nats  (standard error over examples %.4f)\n",
                   r.avg_log_prob, r.energy_se);
        } else {
            printf("method        pseudo-likelihood only (log Z needs at most %d units)\n",
                   BM_EXACT_MAX_UNITS);
        }
        printf("pseudo-LL     %.5f nats per unit (%.3f per example)\n", r.pseudo_ll_per_unit,
               r.pseudo_ll_per_example);
        printf("energy        %.4f (mean)\n", r.mean_energy);
        printf("seconds       %.2f\n", secs);
    }
    if (par->rank == 0) fflush(stdout);
    ebm_dataset_free(&ds);
    rbm_free(&shape);
    bm_free(&m);
    return st;
}

static ebm_status eval(const struct eval_args *a)
{
    struct ebm_par par;
    EBM_TRY(ebm_par_init(&par, MPI_COMM_WORLD));
    ebm_blas_set_threads(par.node_size);
    double t0 = MPI_Wtime();
    char type[64] = "";
    ebm_status st = ebm_par_agree(&par, ebm_model_type(a->ckpt, par.world, type, sizeof type));
    if (st == EBM_OK && a->dbm_flag_given && strcmp(type, "dbm") != 0)
        st = EBM_FAIL(EBM_ERR_INPUT, "ebm eval: --ais-keep and --ais-base apply to DBM "
                      "checkpoints; %s holds a%s %s", a->ckpt, type[0] == 'r' ? "n" : "", type);
    if (st == EBM_OK && a->grid && strcmp(type, "rbm") != 0)
        st = EBM_FAIL(EBM_ERR_INPUT, "ebm eval: --grid evaluates an rbm; %s holds a %s",
                      a->ckpt, type);
    if (st == EBM_OK && a->grid) st = eval_rbm_grid(a, &par, t0);
    else if (st == EBM_OK && strcmp(type, "dbn") == 0) st = eval_dbn(a, &par, t0);
    else if (st == EBM_OK && strcmp(type, "bm") == 0) st = eval_bm(a, &par, t0);
    else if (st == EBM_OK && strcmp(type, "dbm") == 0) st = eval_dbm(a, &par, t0);
    else if (st == EBM_OK) st = eval_rbm(a, &par, t0);
    ebm_par_free(&par);
    return st;
}

int ebm_cmd_eval(int argc, char **argv)
{
    if (ebm_cmd_help(argc, argv, usage)) return 0;
    struct eval_args a;
    ebm_status st = parse_args(argc, argv, &a);
    if (st == EBM_OK) st = eval(&a);
    return ebm_cmd_finish(st);
}
