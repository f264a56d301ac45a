/* ebm score CKPT --data FILE [--split S] --out FILE.h5 [--reference FILE[:S]]
 *            [--anomaly-labels L[,L...]] [--binarize MODE] [--seed S]
 *            [--max-examples N]
 * Per-row anomaly scores of an RBM (docs/anomaly.md): each rank scores its
 * shard in chunks; rank 0 gathers the scores, computes the AUROC and the
 * percentiles, and writes the file under a hidden temporary name, renamed
 * into place once complete. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <mpi.h>

#include "ebm/anomaly.h"
#include "ebm/chart.h"
#include "ebm/cmd.h"
#include "ebm/dataset.h"
#include "ebm/evaluate.h"
#include "ebm/kernels.h"
#include "ebm/model_file.h"
#include "ebm/par.h"
#include "ebm/score_file.h"

static const char usage[] =
    "usage: ebm score CKPT --data FILE [--split S] --out FILE.h5 [--reference FILE[:S]]\n"
    "                 [--anomaly-labels L[,L...]] [--binarize stochastic|threshold|none]\n"
    "                 [--seed S] [--max-examples N] [--png FILE.png]\n"
    "\n"
    "Anomaly scores of every row of a dataset split under the RBM in CKPT: the\n"
    "free energy F(v) (-log p(v) up to the constant log Z; higher is more\n"
    "anomalous) and the reconstruction error sum_i (v_i - p(v_i | p(h | v)))^2,\n"
    "with the rows binarised as `ebm eval` does. Writes /free_energy and\n"
    "/recon_error float64 [N], /labels int32 [N] when the split has labels, and\n"
    "with --reference /percentile float64 [N]: the percentage of the reference\n"
    "rows' free energies strictly below each row's. With --anomaly-labels, the\n"
    "AUROC of each score for telling rows with those labels (the anomalies)\n"
    "from the others. Rows are split over the ranks; rank 0 gathers the scores\n"
    "and writes the file (docs/anomaly.md).\n"
    "\n"
    "  --data FILE             HDF5 dataset (docs/data.md)             required\n"
    "  --split S               split to score                          test\n"
    "  --out FILE.h5           the scores (replaced if it exists;      required\n"
    "                          never one of the inputs)\n"
    "  --reference FILE[:S]    rows the percentile ranks against       none\n"
    "                          (split S, default train)\n"
    "  --anomaly-labels L,...  labels of the anomalies, for the AUROC  none\n"
    "  --binarize MODE         how [0,1] data becomes binary           stochastic\n"
    "                          (a fixed sample per row and seed)\n"
    "  --seed S                seed of the binarisation                1\n"
    "  --max-examples N        score only the first N rows of --split  all\n"
    "  --png FILE.png          histograms of the free energy, one      none\n"
    "                          panel per label (in label order, numbered)\n"
    "  --help                  this text\n";

enum { CHUNK_ROWS = 256, MAX_LABELS = 64 };

static const char *const modes[] = { "stochastic", "threshold", "none" };

struct score_args {
    const char *ckpt, *data, *split, *out;
    const char *png;              /* --png: free-energy histograms by class; NULL when none */
    const char *reference;        /* --reference as given; NULL when none */
    char ref_file[4096], ref_split[64];
    const char *labels_text;      /* --anomaly-labels as given; NULL when none */
    int32_t labels[MAX_LABELS];
    int n_labels;
    int binarize;                 /* 0 stochastic, 1 threshold, 2 none */
    uint64_t seed;
    int64_t max_examples;         /* 0: all */
};


static ebm_status parse_labels(const char *text, struct score_args *a)
{
    const char *p = text;
    a->n_labels = 0;
    for (;;) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || end == p || (*end && *end != ',') || v < INT32_MIN || v > INT32_MAX)
            return EBM_FAIL(EBM_ERR_INPUT, "ebm score: --anomaly-labels '%s': expected integer "
                            "labels separated by commas", text);
        if (a->n_labels == MAX_LABELS)
            return EBM_FAIL(EBM_ERR_INPUT, "ebm score: --anomaly-labels '%s': at most %d labels",
                            text, MAX_LABELS);
        a->labels[a->n_labels++] = (int32_t)v;
        if (*end == '\0') return EBM_OK;
        p = end + 1;
    }
}

/* FILE or FILE:SPLIT; a colon followed by a '/' belongs to the file name. */
static ebm_status parse_reference(const char *text, struct score_args *a)
{
    const char *colon = strrchr(text, ':');
    size_t file_len = strlen(text);
    const char *split = "train";
    if (colon && !strchr(colon, '/')) {
        file_len = (size_t)(colon - text);
        split = colon + 1;
    }
    if (file_len == 0 || file_len >= sizeof a->ref_file || split[0] == '\0' ||
        strlen(split) >= sizeof a->ref_split)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm score: --reference '%s': expected FILE or FILE:SPLIT",
                        text);
    memcpy(a->ref_file, text, file_len);
    a->ref_file[file_len] = '\0';
    snprintf(a->ref_split, sizeof a->ref_split, "%s", split);
    a->reference = text;
    return EBM_OK;
}

static ebm_status parse_args(int argc, char **argv, struct score_args *a)
{
    memset(a, 0, sizeof *a);
    a->split = "test";
    a->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        long long v;
        int takes = !strcmp(f, "--data") || !strcmp(f, "--split") || !strcmp(f, "--out") ||
                    !strcmp(f, "--reference") || !strcmp(f, "--anomaly-labels") ||
                    !strcmp(f, "--binarize") || !strcmp(f, "--seed") ||
                    !strcmp(f, "--max-examples") || !strcmp(f, "--png");
        if (takes && i + 1 >= argc)
            return EBM_FAIL(EBM_ERR_INPUT, "ebm score: %s needs a value (see ebm score --help)",
                            f);
        if (!strcmp(f, "--data")) a->data = argv[++i];
        else if (!strcmp(f, "--split")) a->split = argv[++i];
        else if (!strcmp(f, "--out")) a->out = argv[++i];
        else if (!strcmp(f, "--png")) a->png = argv[++i];
        else if (!strcmp(f, "--reference")) EBM_TRY(parse_reference(argv[++i], a));
        else if (!strcmp(f, "--anomaly-labels")) {
            a->labels_text = argv[++i];
            EBM_TRY(parse_labels(a->labels_text, a));
        } else if (!strcmp(f, "--seed")) {
            EBM_TRY(ebm_arg_int("score", f, argv[++i], 0, (long long)(~0ull >> 1), &v));
            a->seed = (uint64_t)v;
        } else if (!strcmp(f, "--max-examples")) {
            EBM_TRY(ebm_arg_int("score", f, argv[++i], 1, (long long)(~0ull >> 1), &v));
            a->max_examples = v;
        } else if (!strcmp(f, "--binarize")) {
            EBM_TRY(ebm_arg_binarize("score", argv[++i], &a->binarize));
        } else if (f[0] == '-') {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm score: unknown flag '%s' (see ebm score --help)",
                            f);
        } else if (!a->ckpt) {
            a->ckpt = f;
        } else {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm score: unexpected argument '%s' (one CKPT only)",
                            f);
        }
    }
    if (!a->ckpt) return EBM_FAIL(EBM_ERR_INPUT, "ebm score: missing CKPT (see ebm score --help)");
    if (!a->data) return EBM_FAIL(EBM_ERR_INPUT, "ebm score: missing --data FILE");
    if (!a->out) return EBM_FAIL(EBM_ERR_INPUT, "ebm score: missing --out FILE.h5");
    size_t n = a->png ? strlen(a->png) : 0;
    if (a->png && (n < 5 || strcmp(a->png + n - 4, ".png") != 0))
        return EBM_FAIL(EBM_ERR_INPUT, "ebm score: --png %s: the picture's name must end in "
                        ".png", a->png);
    return EBM_OK;
}


/* Rank 0, before any work: never replace an input, and fail early when
 * the output directory cannot take the file. */
static ebm_status check_out(const struct score_args *a)
{
    const char *inputs[] = { a->data, a->ckpt, a->reference ? a->ref_file : NULL };
    EBM_TRY(ebm_check_out(a->out, inputs, 3));
    if (a->png && (strcmp(a->png, a->out) == 0 || ebm_same_file(a->png, a->out)))
        return EBM_FAIL(EBM_ERR_INPUT, "ebm score: --png %s is the --out file", a->png);
    return a->png ? ebm_check_out(a->png, inputs, 3) : EBM_OK;
}

/* One split's scores: this rank's rows, then (after gather_split) all of
 * them on rank 0. */
struct split_scores {
    int64_t n_total, first, n;
    double *fe, *recon;       /* (n) here; (n_total) on rank 0 after the gather */
    int32_t *y;               /* labels likewise, NULL when the split has none */
};

static void split_scores_free(struct split_scores *s)
{
    free(s->fe);
    free(s->recon);
    free(s->y);
    memset(s, 0, sizeof *s);
}

/* Reads, binarises and scores this rank's rows of file:/split, chunk by
 * chunk through scratch (ebm_anomaly_scratch_floats(m, CHUNK_ROWS)).
 * Collective; every rank returns the same status. */
static ebm_status score_split(const struct score_args *a, const char *file, const char *split,
                              int64_t limit, const struct rbm *m, const struct ebm_par *par,
                              float *scratch, struct split_scores *s)
{
    memset(s, 0, sizeof *s);
    struct ebm_dataset ds;
    EBM_TRY(ebm_par_agree(par, ebm_dataset_read_shard(file, split, limit, par->world, &ds)));
    ebm_status st = EBM_OK;
    if (ds.dim != m->n_visible)  /* the same on every rank */
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/x has %d columns but the model in %s has %d "
                      "visible units", file, split, ds.dim, a->ckpt, m->n_visible);
    else if (ds.n_total > INT_MAX)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: /%s has %lld rows; ebm score gathers at most %d "
                      "(use --max-examples)", file, split, (long long)ds.n_total, INT_MAX);
    if (st == EBM_OK)
        st = ebm_eval_binarize(ds.x, ds.n, ds.dim, ds.first, a->seed, a->binarize);
    if (st == EBM_OK) {
        s->n_total = ds.n_total;
        s->first = ds.first;
        s->n = ds.n;
        s->fe = malloc(sizeof *s->fe * (size_t)(ds.n ? ds.n : 1));
        s->recon = malloc(sizeof *s->recon * (size_t)(ds.n ? ds.n : 1));
        if (!s->fe || !s->recon)
            st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory for the scores of %lld rows on rank %d",
                          (long long)ds.n, par->rank);
    }
    for (int64_t r0 = 0; st == EBM_OK && r0 < ds.n; r0 += CHUNK_ROWS) {
        int rows = (int)(ds.n - r0 < CHUNK_ROWS ? ds.n - r0 : CHUNK_ROWS);
        ebm_anomaly_scores(m, ds.x + (size_t)r0 * ds.dim, rows, s->fe + r0, s->recon + r0,
                           scratch);
    }
    for (int64_t r = 0; st == EBM_OK && r < ds.n; r++)
        if (!isfinite(s->fe[r]) || !isfinite(s->recon[r]))
            st = EBM_FAIL(EBM_ERR_NUMERIC, "%s: /%s row %lld scores %g (free energy) and %g "
                          "(reconstruction error); the model in %s is damaged", file, split,
                          (long long)(ds.first + r), s->fe[r], s->recon[r], a->ckpt);
    if (st == EBM_OK) {
        s->y = ds.y;   /* kept: the labels travel with the scores */
        ds.y = NULL;
    }
    ebm_dataset_free(&ds);
    st = ebm_par_agree(par, st);
    if (st != EBM_OK) split_scores_free(s);
    return st;
}

/* Gathers one array of this rank's rows onto rank 0, in global row order
 * (shards are contiguous and in rank order). Collective. */
static ebm_status gather_rows(const struct ebm_par *par, const struct split_scores *s,
                              void *local, size_t elem, MPI_Datatype type, void **all)
{
    int *counts = NULL, *displs = NULL;
    void *buf = NULL;
    ebm_status st = EBM_OK;
    if (par->rank == 0) {
        counts = malloc(sizeof *counts * (size_t)par->size);
        displs = malloc(sizeof *displs * (size_t)par->size);
        buf = malloc(elem * (size_t)(s->n_total ? s->n_total : 1));
        if (!counts || !displs || !buf)
            st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory gathering %lld scores on rank 0",
                          (long long)s->n_total);
        for (int r = 0; st == EBM_OK && r < par->size; r++) {
            int64_t first, count;
            ebm_shard_range(s->n_total, r, par->size, &first, &count);
            counts[r] = (int)count;
            displs[r] = (int)first;
        }
    }
    st = ebm_par_agree(par, st);
    if (st == EBM_OK) {
        int rc = MPI_Gatherv(local, (int)s->n, type, buf, counts, displs, type, 0, par->world);
        if (rc != MPI_SUCCESS) st = ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "MPI_Gatherv");
        st = ebm_par_agree(par, st);
    }
    free(counts);
    free(displs);
    if (st != EBM_OK) {
        free(buf);
        return st;
    }
    *all = buf;
    return EBM_OK;
}

/* Replaces s's local arrays by all rows on rank 0 (other ranks: NULL);
 * the reconstruction errors and labels only when asked for. */
static ebm_status gather_split(const struct ebm_par *par, struct split_scores *s, int recon_too,
                               int labels)
{
    void *fe = NULL, *recon = NULL, *y = NULL;
    EBM_TRY(gather_rows(par, s, s->fe, sizeof(double), MPI_DOUBLE, &fe));
    ebm_status st = EBM_OK;
    if (recon_too) st = gather_rows(par, s, s->recon, sizeof(double), MPI_DOUBLE, &recon);
    if (st == EBM_OK && labels)
        st = gather_rows(par, s, s->y, sizeof(int32_t), MPI_INT32_T, &y);
    free(s->fe);
    free(s->recon);
    free(s->y);
    s->fe = fe;
    s->recon = recon;
    s->y = y;
    return st;
}

/* What rank 0 computed from the gathered scores. */
struct summary {
    double mean_fe, mean_recon;
    int have_auroc;
    double auroc_fe, auroc_recon;
    int64_t n_anomalies;
    double *percentile;       /* (N) with --reference, else NULL */
    int64_t n_reference;
};

/* Rank 0: the gathered scores, what was computed from them and where they
 * came from, as one file (io/score_file.c). */
static ebm_status write_scores(const struct score_args *a, const struct split_scores *s,
                               const struct summary *sum)
{
    char ref[4200] = "";
    if (a->reference) snprintf(ref, sizeof ref, "%s:%s", a->ref_file, a->ref_split);
    struct ebm_score_file f = {
        .n = s->n_total,
        .free_energy = s->fe,
        .recon_error = s->recon,
        .labels = s->y,
        .percentile = sum->percentile,
        .checkpoint = a->ckpt,
        .data = a->data,
        .split = a->split,
        .binarize = modes[a->binarize],
        .seed = (int64_t)a->seed,
        .reference = a->reference ? ref : NULL,
        .reference_rows = sum->n_reference,
        .anomaly_labels = sum->have_auroc ? a->labels_text : NULL,
        .auroc_free_energy = sum->auroc_fe,
        .auroc_recon_error = sum->auroc_recon,
    };
    return ebm_score_file_write(a->out, &f);
}

/* ---- the command -------------------------------------------------------------- */

/* The anomaly count over all ranks, and the two ways the AUROC is
 * undefined, before any scoring. Collective. */
static ebm_status check_anomaly_labels(const struct score_args *a, const struct ebm_par *par,
                                       const struct split_scores *s, int64_t *n_anomalies)
{
    if (!a->labels_text) return EBM_OK;
    if (!s->y)   /* the same on every rank: the file has /split/y or not */
        return EBM_FAIL(EBM_ERR_INPUT, "ebm score: --anomaly-labels needs labels, but %s /%s "
                        "has none (no /%s/y)", a->data, a->split, a->split);
    long long local = 0, total = 0;
    for (int64_t r = 0; r < s->n; r++)
        for (int k = 0; k < a->n_labels; k++)
            if (s->y[r] == a->labels[k]) {
                local++;
                break;
            }
    int rc = MPI_Allreduce(&local, &total, 1, MPI_LONG_LONG, MPI_SUM, par->world);
    if (rc != MPI_SUCCESS) return ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "MPI_Allreduce");
    if (total == 0)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm score: --anomaly-labels %s: no row of %s /%s has "
                        "one of these labels, so the AUROC is undefined", a->labels_text,
                        a->data, a->split);
    if (total == s->n_total)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm score: --anomaly-labels %s: all %lld rows of %s /%s "
                        "are anomalies, so the AUROC is undefined", a->labels_text,
                        (long long)total, a->data, a->split);
    *n_anomalies = total;
    return EBM_OK;
}

static double mean(const double *x, int64_t n)
{
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++) acc += x[i];
    return n ? acc / (double)n : NAN;
}

/* Rank 0: means, AUROCs and percentiles of the gathered scores. */
static ebm_status summarise(const struct score_args *a, const struct split_scores *s,
                            const struct split_scores *ref, struct summary *sum)
{
    int64_t n = s->n_total;
    sum->mean_fe = mean(s->fe, n);
    sum->mean_recon = mean(s->recon, n);
    if (a->labels_text) {
        int *pos;
        EBM_ALLOC(pos, n);
        for (int64_t r = 0; r < n; r++)
            for (int k = 0; k < a->n_labels && !pos[r]; k++) pos[r] = s->y[r] == a->labels[k];
        ebm_status st = ebm_anomaly_auroc(s->fe, pos, n, &sum->auroc_fe);
        if (st == EBM_OK) st = ebm_anomaly_auroc(s->recon, pos, n, &sum->auroc_recon);
        free(pos);
        EBM_TRY(st);
        sum->have_auroc = 1;
    }
    if (a->reference) {
        EBM_ALLOC(sum->percentile, n);
        sum->n_reference = ref->n_total;
        EBM_TRY(ebm_anomaly_percentile(ref->fe, ref->n_total, s->fe, n, sum->percentile));
    }
    return EBM_OK;
}

static void print_summary(const struct score_args *a, const struct split_scores *s,
                          const struct summary *sum, int ranks)
{
    printf("data         %s /%s: %lld examples, binarized %s (seed %llu), %d rank%s\n", a->data,
           a->split, (long long)s->n_total, modes[a->binarize], (unsigned long long)a->seed,
           ranks, ranks == 1 ? "" : "s");
    const char *names[2] = { "free_energy", "recon_error" };
    double means[2] = { sum->mean_fe, sum->mean_recon };
    double aurocs[2] = { sum->auroc_fe, sum->auroc_recon };
    for (int k = 0; k < 2; k++) {
        printf("%-12s count %lld  mean %.6f", names[k], (long long)s->n_total, means[k]);
        if (sum->have_auroc)
            printf("  AUROC %.6f (anomalies: labels %s, %lld rows)", aurocs[k], a->labels_text,
                   (long long)sum->n_anomalies);
        printf("\n");
    }
    if (sum->percentile)
        printf("percentile   of each free energy among %lld rows of %s /%s\n",
               (long long)sum->n_reference, a->ref_file, a->ref_split);
    printf("wrote        %s\n", a->out);
    if (a->png) printf("wrote        %s (free-energy histograms, one panel per label)\n", a->png);
}

static ebm_status score(const struct score_args *a)
{
    struct ebm_par par;
    EBM_TRY(ebm_par_init(&par, MPI_COMM_WORLD));
    ebm_blas_set_threads(par.node_size);
    struct rbm m = { 0 };
    struct ebm_model_info info;
    struct split_scores s = { 0 }, ref = { 0 };
    struct summary sum = { 0 };
    float *scratch = NULL;
    int have_model = 0;
    char type[64] = "";
    ebm_status st = ebm_par_agree(&par, par.rank == 0 ? check_out(a) : EBM_OK);
    if (st == EBM_OK) st = ebm_par_agree(&par, ebm_model_type(a->ckpt, par.world, type, sizeof type));
    if (st == EBM_OK && strcmp(type, "rbm") != 0)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s holds a %s; ebm score works on RBM checkpoints for now",
                      a->ckpt, type);
    if (st == EBM_OK) {
        st = ebm_par_agree(&par, ebm_model_read_rbm(a->ckpt, par.world, &m, &info));
        have_model = st == EBM_OK;
    }
    if (st == EBM_OK && (!rbm_is_binary(&m) || m.n_labels > 0))
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: an rbm with %s visible and %s hidden units%s; ebm "
                      "score takes bernoulli RBMs without label units for now", a->ckpt,
                      ebm_unit_type_name(m.vis.type), ebm_unit_type_name(m.hid.type),
                      m.n_labels ? " and label units" : "");
    if (st == EBM_OK) {
        scratch = malloc(sizeof *scratch * ebm_anomaly_scratch_floats(&m, CHUNK_ROWS));
        st = ebm_par_agree(&par, scratch ? EBM_OK
                                         : EBM_FAIL(EBM_ERR_NOMEM, "out of memory for scratch "
                                                    "on rank %d", par.rank));
    }
    if (st == EBM_OK)
        st = score_split(a, a->data, a->split, a->max_examples, &m, &par, scratch, &s);
    if (st == EBM_OK) st = ebm_par_agree(&par, check_anomaly_labels(a, &par, &s, &sum.n_anomalies));
    if (st == EBM_OK && a->reference)
        st = score_split(a, a->ref_file, a->ref_split, 0, &m, &par, scratch, &ref);
    int labels = s.y != NULL;
    if (st == EBM_OK) st = gather_split(&par, &s, 1, labels);
    if (st == EBM_OK && a->reference) st = gather_split(&par, &ref, 0, 0);
    if (st == EBM_OK && par.rank == 0) {
        st = summarise(a, &s, &ref, &sum);
        if (st == EBM_OK) st = write_scores(a, &s, &sum);
        /* 60 bins over the range of the scores, one panel per label */
        if (st == EBM_OK && a->png) st = ebm_chart_histograms(a->png, s.fe, s.y, s.n_total, 60);
    }
    st = ebm_par_agree(&par, st);
    if (st == EBM_OK && par.rank == 0) {
        print_summary(a, &s, &sum, par.size);
        fflush(stdout);
    }
    free(sum.percentile);
    split_scores_free(&s);
    split_scores_free(&ref);
    free(scratch);
    if (have_model) rbm_free(&m);
    ebm_par_free(&par);
    return st;
}

int ebm_cmd_score(int argc, char **argv)
{
    if (ebm_cmd_help(argc, argv, usage)) return 0;
    struct score_args a;
    ebm_status st = parse_args(argc, argv, &a);
    if (st == EBM_OK) st = score(&a);
    return ebm_cmd_finish(st);
}
