/* ebm classify train --data FILE [--split S] [--classes K] [--epochs E]
 *                    [--batch-size B] [--lr LR] [--l2 L] [--seed S] --out MODEL.h5
 * ebm classify eval MODEL --data FILE [--split S] [--json]
 * A softmax classifier on feature rows (docs/classify.md): mini-batch (or
 * full-batch) gradient descent with one allreduce per step; evaluation
 * splits the rows over the ranks and sums a confusion matrix. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <mpi.h>

#include "ebm/chart.h"
#include "ebm/cmd.h"
#include "ebm/joint.h"
#include "ebm/mlp.h"
#include "ebm/model_file.h"
#include "ebm/dataset.h"
#include "ebm/kernels.h"
#include "ebm/logreg.h"
#include "ebm/par.h"

static const char usage[] =
    "usage: ebm classify train --data FILE [--split S] [--classes K] [--epochs E]\n"
    "                          [--batch-size B] [--lr LR] [--l2 L] [--seed S] --out MODEL.h5\n"
    "       ebm classify eval MODEL --data FILE [--split S] [--json] [--png FILE.png]\n"
    "       ebm classify finetune CKPT --data FILE [--split S] [--classes K] [--epochs E]\n"
    "                          [--batch-size B] [--lr LR] [--lr-end LR] [--momentum M]\n"
    "                          [--l2 L] [--seed S]\n"
    "                          --out MODEL.h5\n"
    "\n"
    "Multinomial logistic regression (softmax, L2 on the weights) on the rows of\n"
    "a dataset split: /S/x [N, D] features (e.g. written by ebm transform) and\n"
    "/S/y int32 labels in [0, K). train runs mini-batch gradient descent, each\n"
    "rank on its shard, the gradient averaged over all ranks' batches (one\n"
    "allreduce per step), and writes the model. eval prints the error and the\n"
    "K x K confusion matrix (rows: true class, columns: predicted). eval also\n"
    "takes a joint RBM checkpoint (ebm train with [model] labels = K): it\n"
    "predicts the class of largest exact p(y | x), the rows' x thresholded at\n"
    "0.5. docs/classify.md.\n"
    "\n"
    "train:\n"
    "  --data FILE       HDF5 dataset (docs/data.md)                     required\n"
    "  --split S         split to train on                               train\n"
    "  --classes K       number of classes                    max label + 1\n"
    "  --epochs E        passes over the data                            10\n"
    "  --batch-size B    rows per rank per step; 0: full batch           100\n"
    "  --lr LR           step size on the mean gradient                  0.1\n"
    "  --l2 L            lambda of lambda/2 ||W||^2                      0.0001\n"
    "  --seed S          seed of the per-rank epoch shuffles             1\n"
    "  --out MODEL.h5    the model (replaced if it exists)               required\n"
    "eval:\n"
    "  MODEL             a model of ebm classify train, or a joint RBM   required\n"
    "  --data FILE       HDF5 dataset                                    required\n"
    "  --split S         split to evaluate                               test\n"
    "  --json            one JSON line instead of the table\n"
    "  --png FILE.png    the confusion matrix as a heat map: each cell the\n"
    "                    square root of its share of the true class's row\n"
    "finetune: the DBN (or RBM) in CKPT unrolled into sigmoid layers under a\n"
    "softmax output and trained by backpropagation with momentum, the mean\n"
    "gradient of all ranks' batches per step (one allreduce). Flags as for\n"
    "train (split train, epochs 10, batch 100, lr 0.1, l2 1e-5, seed 1), plus\n"
    "  --momentum M      momentum of the updates                         0.9\n"
    "  --lr-end LR       the step size at the end of a linear schedule   --lr\n"
    "eval takes its MODEL too.\n"
    "  --help            this text\n";

enum { EVAL_CHUNK = 1024 };

struct classify_args {
    const char *mode;               /* "train" or "eval" */
    const char *model;              /* eval: MODEL */
    const char *data, *split, *out;
    const char *png;                /* eval: --png, the confusion matrix; NULL when none */
    int classes;                    /* 0: max label + 1 */
    struct ebm_logreg_opts opts;
    int json;
};


static ebm_status parse_args(int argc, char **argv, struct classify_args *a)
{
    memset(a, 0, sizeof *a);
    a->opts = (struct ebm_logreg_opts){ .epochs = 10, .batch = 100, .lr = 0.1f,
                                        .l2 = 1e-4f, .seed = 1 };
    if (argc < 2 || (strcmp(argv[1], "train") != 0 && strcmp(argv[1], "eval") != 0))
        return EBM_FAIL(EBM_ERR_INPUT, "ebm classify: expected train, eval or finetune%s%s (see ebm "
                        "classify --help)", argc < 2 ? "" : ", not ", argc < 2 ? "" : argv[1]);
    a->mode = argv[1];
    int train = a->mode[0] == 't';
    a->split = train ? "train" : "test";
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i];
        long long v;
        int train_flag = !strcmp(f, "--classes") || !strcmp(f, "--epochs") ||
                         !strcmp(f, "--batch-size") || !strcmp(f, "--lr") ||
                         !strcmp(f, "--l2") || !strcmp(f, "--seed") || !strcmp(f, "--out");
        int takes = train_flag || !strcmp(f, "--data") || !strcmp(f, "--split");
        if (train_flag && !train)
            return EBM_FAIL(EBM_ERR_INPUT, "ebm classify eval: %s is a flag of classify train",
                            f);
        if ((!strcmp(f, "--json") || !strcmp(f, "--png")) && train)
            return EBM_FAIL(EBM_ERR_INPUT, "ebm classify train: %s is a flag of classify "
                            "eval", f);
        takes = takes || !strcmp(f, "--png");
        if (takes && i + 1 >= argc)
            return EBM_FAIL(EBM_ERR_INPUT, "ebm classify: %s needs a value (see ebm classify "
                            "--help)", f);
        if (!strcmp(f, "--data")) a->data = argv[++i];
        else if (!strcmp(f, "--split")) a->split = argv[++i];
        else if (!strcmp(f, "--out")) a->out = argv[++i];
        else if (!strcmp(f, "--json")) a->json = 1;
        else if (!strcmp(f, "--png")) a->png = argv[++i];
        else if (!strcmp(f, "--classes")) {
            EBM_TRY(ebm_arg_int("classify", f, argv[++i], 2, 1000000, &v));
            a->classes = (int)v;
        } else if (!strcmp(f, "--epochs")) {
            EBM_TRY(ebm_arg_int("classify", f, argv[++i], 1, 10000000, &v));
            a->opts.epochs = (int)v;
        } else if (!strcmp(f, "--batch-size")) {
            EBM_TRY(ebm_arg_int("classify", f, argv[++i], 0, 1 << 24, &v));
            a->opts.batch = (int)v;
        } else if (!strcmp(f, "--seed")) {
            EBM_TRY(ebm_arg_int("classify", f, argv[++i], 0, LLONG_MAX, &v));
            a->opts.seed = (uint64_t)v;
        } else if (!strcmp(f, "--lr")) {
            EBM_TRY(ebm_arg_real("classify", f, argv[++i], 1e-12, 1e6, &a->opts.lr));
        } else if (!strcmp(f, "--l2")) {
            EBM_TRY(ebm_arg_real("classify", f, argv[++i], 0, 1e6, &a->opts.l2));
        } else if (f[0] == '-') {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm classify: unknown flag '%s' (see ebm classify "
                            "--help)", f);
        } else if (!train && !a->model) {
            a->model = f;
        } else {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm classify %s: unexpected argument '%s'", a->mode,
                            f);
        }
    }
    if (!train && !a->model)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm classify eval: missing MODEL (see ebm classify "
                        "--help)");
    if (!a->data) return EBM_FAIL(EBM_ERR_INPUT, "ebm classify %s: missing --data FILE", a->mode);
    if (train && !a->out)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm classify train: missing --out MODEL.h5");
    size_t n = a->png ? strlen(a->png) : 0;
    if (a->png && (n < 5 || strcmp(a->png + n - 4, ".png") != 0))
        return EBM_FAIL(EBM_ERR_INPUT, "ebm classify eval: --png %s: the picture's name must "
                        "end in .png", a->png);
    return EBM_OK;
}

/* Rank 0, before any work: the picture replaces none of the inputs and its
 * directory can take it. */
static ebm_status check_png(const struct classify_args *a)
{
    const char *inputs[] = { a->model, a->data };
    return a->png ? ebm_check_out(a->png, inputs, 2) : EBM_OK;
}


/* Collective: the shard, which must have labels; every rank returns the same status. */
static ebm_status read_labelled(const struct ebm_par *par, const char *file, const char *split,
                                struct ebm_dataset *ds)
{
    EBM_TRY(ebm_par_agree(par, ebm_dataset_read_shard(file, split, 0, par->world, ds)));
    if (!ds->y) {  /* the same on every rank */
        ebm_dataset_free(ds);
        return EBM_FAIL(EBM_ERR_INPUT, "%s: /%s has no labels (/%s/y); a classifier needs them",
                        file, split, split);
    }
    return EBM_OK;
}

/* Collective: the smallest and largest label over all ranks. */
static ebm_status label_range(const struct ebm_par *par, const struct ebm_dataset *ds,
                              int64_t *lo, int64_t *hi)
{
    double ext[2] = { -(double)INT32_MAX - 1, -(double)INT32_MAX - 1 }; /* max, -min */
    for (int64_t i = 0; i < ds->n; i++) {
        if (ds->y[i] > ext[0]) ext[0] = ds->y[i];
        if (-(double)ds->y[i] > ext[1]) ext[1] = -(double)ds->y[i];
    }
    EBM_TRY(ebm_par_max_d(par, ext, 2));
    *hi = (int64_t)ext[0];
    *lo = (int64_t)-ext[1];
    return EBM_OK;
}

static ebm_status train(const struct classify_args *a)
{
    struct ebm_par par;
    EBM_TRY(ebm_par_init(&par, MPI_COMM_WORLD));
    ebm_blas_set_threads(par.node_size);
    struct ebm_dataset ds = { 0 };
    struct ebm_logreg m = { 0 };
    struct ebm_logreg_trainer tr = { 0 };
    int have_data = 0, have_trainer = 0;
    ebm_status st = EBM_OK;
    if (par.rank == 0 && ebm_same_file(a->out, a->data))
        st = EBM_FAIL(EBM_ERR_INPUT, "--out %s is the training data; choose another file", a->out);
    st = ebm_par_agree(&par, st);
    if (st == EBM_OK) {
        st = read_labelled(&par, a->data, a->split, &ds);
        have_data = st == EBM_OK;
    }
    int64_t lo = 0, hi = 0;
    int K = a->classes;
    if (st == EBM_OK) st = label_range(&par, &ds, &lo, &hi);
    if (st == EBM_OK && lo < 0)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/y holds the label %lld; labels are 0..K-1",
                      a->data, a->split, (long long)lo);
    else if (st == EBM_OK && K > 0 && hi >= K)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/y holds the label %lld, but --classes is %d "
                      "(labels 0..%d)", a->data, a->split, (long long)hi, K, K - 1);
    else if (st == EBM_OK && K == 0) {
        if (hi < 1)
            st = EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/y holds only the label 0; a classifier needs "
                          "two classes (or --classes)", a->data, a->split);
        K = (int)hi + 1;
    }
    if (st == EBM_OK) st = ebm_par_agree(&par, ebm_logreg_init(&m, ds.dim, K));
    if (st == EBM_OK) {
        st = ebm_logreg_trainer_init(&tr, &m, &par, &ds, &a->opts);
        have_trainer = st == EBM_OK;
    }
    if (st == EBM_OK && par.rank == 0) {
        printf("classify train: %lld rows x %d features, %d classes, %d rank%s; ", (long long)
               ds.n_total, ds.dim, K, par.size, par.size == 1 ? "" : "s");
        if (a->opts.batch) printf("mini-batch %d per rank, %lld steps/epoch", a->opts.batch,
                                  (long long)tr.steps_per_epoch);
        else printf("full batch");
        printf("; lr %g, l2 %g, epochs %d, seed %llu\n", (double)a->opts.lr,
               (double)a->opts.l2, a->opts.epochs, (unsigned long long)a->opts.seed);
        fflush(stdout);
    }
    for (int e = 0; st == EBM_OK && e < a->opts.epochs; e++) {
        struct ebm_logreg_epoch ep;
        double t0 = MPI_Wtime();
        st = ebm_logreg_train_epoch(&tr, &m, e, &ep);
        double dt = MPI_Wtime() - t0;
        if (st == EBM_OK && par.rank == 0) {
            printf("epoch %d/%d  loss %.6f  train error %.4f%%  steps %lld  rows/s %.0f\n", e + 1,
                   a->opts.epochs, ep.loss, 100.0 * ep.error, (long long)ep.steps,
                   dt > 0 ? (double)ep.rows / dt : 0.0);
            fflush(stdout);
        }
    }
    if (st == EBM_OK) {
        struct ebm_logreg_record rec = {
            .data = a->data, .split = a->split, .n_rows = ds.n_total, .ranks = par.size,
            .steps = tr.steps_per_epoch * a->opts.epochs, .opts = a->opts,
        };
        st = ebm_par_agree(&par, ebm_logreg_save(a->out, par.world, &m, &rec));
    }
    if (st == EBM_OK && par.rank == 0) {
        printf("wrote %s (%d features, %d classes)\n", a->out, m.dim, m.classes);
        fflush(stdout);
    }
    if (have_trainer) ebm_logreg_trainer_free(&tr);
    ebm_logreg_free(&m);
    if (have_data) ebm_dataset_free(&ds);
    ebm_par_free(&par);
    return st;
}

/* This rank's first label outside [0, K), as a status naming it. */
static ebm_status check_labels(const struct classify_args *a, const struct ebm_dataset *ds, int K)
{
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->y[i] < 0 || ds->y[i] >= K)
            return EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/y holds the label %d (row %lld), but the "
                            "classifier in %s has %d classes (labels 0..%d)", a->data, a->split,
                            ds->y[i], (long long)(ds->first + i), a->model, K, K - 1);
    return EBM_OK;
}

/* Rank 0: --png, the confusion matrix as a heat map. */
static ebm_status write_png(const struct classify_args *a, const double *counts, int K)
{
    return a->png ? ebm_chart_confusion(a->png, counts, K) : EBM_OK;
}

/* Rank 0: the error and the confusion matrix (counts (K, K) [true, predicted]). */
static void print_eval(const struct classify_args *a, const double *counts, int K,
                       int64_t n_total)
{
    double right = 0;
    for (int k = 0; k < K; k++) right += counts[(size_t)k * K + k];
    double wrong = (double)n_total - right;
    double pct = n_total ? 100.0 * wrong / (double)n_total : 0.0;
    if (a->json) {
        printf("{\"model\":\"%s\",\"data\":\"%s\",\"split\":\"%s\",\"rows\":%lld,"
               "\"errors\":%.0f,\"error_percent\":%.6f,\"classes\":%d,\"confusion\":[",
               a->model, a->data, a->split, (long long)n_total, wrong, pct, K);
        for (int t = 0; t < K; t++) {
            printf("%s[", t ? "," : "");
            for (int p = 0; p < K; p++) printf("%s%.0f", p ? "," : "", counts[(size_t)t * K + p]);
            printf("]");
        }
        printf("]}\n");
        return;
    }
    printf("test error %.4f%% (%.0f of %lld rows of %s /%s), %d classes\n", pct, wrong,
           (long long)n_total, a->data, a->split, K);
    printf("confusion (rows: true class, columns: predicted class)\n");
    printf("%8s", "");
    for (int p = 0; p < K; p++) printf(" %8d", p);
    printf("\n");
    for (int t = 0; t < K; t++) {
        printf("%7d:", t);
        for (int p = 0; p < K; p++) printf(" %8.0f", counts[(size_t)t * K + p]);
        printf("\n");
    }
}

/* Any model eval takes, behind one prediction: a model of classify train,
 * a joint RBM (model.labels = K: the class of largest exact p(y | x),
 * ebm/joint.h, its rows' x binarised by threshold as the trainer's epoch
 * metrics see them) or a fine-tuned network (the arg-max of its softmax on
 * the rows as they are). */
enum classifier_kind { LOGREG, JOINT_RBM, MLP };

struct classifier {
    enum classifier_kind kind;
    int dim, K;                 /* input columns, classes */
    struct ebm_logreg logreg;
    struct ebm_logreg_scratch logreg_s;
    struct rbm rbm;
    float *xbin, *hidden;       /* (EVAL_CHUNK, dim), (EVAL_CHUNK, H) */
    double *logp;               /* (EVAL_CHUNK, K) */
    struct ebm_mlp mlp;
    struct ebm_mlp_scratch mlp_s;
};

/* Collective: the model, of the kind its /model type names. */
static ebm_status classifier_load(struct classifier *c, const struct classify_args *a,
                                  const char *type, const struct ebm_par *par)
{
    if (strcmp(type, "rbm") == 0) {
        struct ebm_model_info info;
        c->kind = JOINT_RBM;
        EBM_TRY(ebm_par_agree(par, ebm_model_read_rbm(a->model, par->world, &c->rbm, &info)));
        if (c->rbm.n_labels == 0) /* the same on every rank */
            return EBM_FAIL(EBM_ERR_INPUT, "%s: an rbm without label units cannot classify; "
                            "train one with [model] labels = K, or fit ebm classify train on "
                            "its features (ebm transform)", a->model);
        c->K = c->rbm.n_labels;
        c->dim = c->rbm.n_visible - c->K;
    } else if (strcmp(type, "mlp") == 0) {
        c->kind = MLP;
        EBM_TRY(ebm_par_agree(par, ebm_mlp_load(a->model, par->world, &c->mlp)));
        c->K = c->mlp.sizes[c->mlp.n_hidden_layers + 1];
        c->dim = c->mlp.sizes[0];
    } else {
        c->kind = LOGREG; /* its loader names any other type */
        EBM_TRY(ebm_par_agree(par, ebm_logreg_load(a->model, par->world, &c->logreg)));
        c->K = c->logreg.classes;
        c->dim = c->logreg.dim;
    }
    return EBM_OK;
}

/* The rows' width against the model's, in the model's own terms. */
static ebm_status check_width(const struct classify_args *a, const struct classifier *c, int dim)
{
    if (dim == c->dim) return EBM_OK;
    if (c->kind == JOINT_RBM)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/x has %d columns, but the joint rbm in %s "
                        "models %d data columns (and %d labels)", a->data, a->split, dim,
                        a->model, c->dim, c->K);
    return EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/x has %d columns, but the classifier in %s takes "
                    "%d %s", a->data, a->split, dim, a->model, c->dim,
                    c->kind == MLP ? "inputs" : "features");
}

/* This rank's scratch for EVAL_CHUNK rows. */
static ebm_status classifier_scratch(struct classifier *c)
{
    if (c->kind == LOGREG) return ebm_logreg_scratch_init(&c->logreg_s, &c->logreg, EVAL_CHUNK);
    if (c->kind == MLP) return ebm_mlp_scratch_init(&c->mlp_s, &c->mlp, EVAL_CHUNK);
    c->xbin = malloc(sizeof *c->xbin * EVAL_CHUNK * (size_t)c->dim);
    c->hidden = malloc(sizeof *c->hidden * EVAL_CHUNK * (size_t)c->rbm.n_hidden);
    c->logp = malloc(sizeof *c->logp * EVAL_CHUNK * (size_t)c->K);
    return c->xbin && c->hidden && c->logp ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
}

/* pred (rows): the class of each of the rows x (rows, dim), rows <= EVAL_CHUNK. */
static void classifier_predict(struct classifier *c, const float *x, int rows, int32_t *pred)
{
    switch (c->kind) {
    case LOGREG:
        ebm_logreg_predict(&c->logreg, x, rows, pred, &c->logreg_s);
        break;
    case MLP:
        ebm_mlp_predict(&c->mlp, x, rows, pred, &c->mlp_s);
        break;
    case JOINT_RBM:
        for (size_t i = 0; i < (size_t)rows * c->dim; i++) c->xbin[i] = x[i] > 0.5f ? 1.0f : 0.0f;
        rbm_label_predict(&c->rbm, c->xbin, rows, c->hidden, c->logp, pred);
        break;
    }
}

static void classifier_free(struct classifier *c) /* whatever was loaded */
{
    ebm_logreg_scratch_free(&c->logreg_s);
    ebm_logreg_free(&c->logreg);
    free(c->xbin);
    free(c->hidden);
    free(c->logp);
    rbm_free(&c->rbm);
    ebm_mlp_scratch_free(&c->mlp_s);
    ebm_mlp_free(&c->mlp);
}

/* Collective: every rank predicts its shard's rows, and the ranks sum
 * their confusion matrices. */
static ebm_status eval(const struct classify_args *a)
{
    struct ebm_par par;
    EBM_TRY(ebm_par_init(&par, MPI_COMM_WORLD));
    ebm_blas_set_threads(par.node_size);
    char type[64] = "";
    struct classifier c = { 0 };
    struct ebm_dataset ds = { 0 };
    int32_t *pred = NULL;
    int64_t *local = NULL;
    double *counts = NULL;
    int have_data = 0;
    ebm_status st = ebm_par_agree(&par, par.rank == 0 ? check_png(a) : EBM_OK);
    if (st == EBM_OK)
        st = ebm_par_agree(&par, ebm_model_type(a->model, par.world, type, sizeof type));
    if (st == EBM_OK) st = classifier_load(&c, a, type, &par);
    if (st == EBM_OK) {
        st = read_labelled(&par, a->data, a->split, &ds);
        have_data = st == EBM_OK;
    }
    if (st == EBM_OK) st = check_width(a, &c, ds.dim); /* the same on every rank */
    if (st == EBM_OK) st = ebm_par_agree(&par, check_labels(a, &ds, c.K));
    size_t kk = (size_t)c.K * (size_t)c.K;
    if (st == EBM_OK) {
        ebm_status local_st = classifier_scratch(&c);
        pred = malloc(sizeof *pred * EVAL_CHUNK);
        local = calloc(kk, sizeof *local);
        counts = malloc(sizeof *counts * kk);
        if (local_st != EBM_OK || !pred || !local || !counts)
            local_st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory for a %d x %d confusion matrix "
                                "and %d rows of scratch on rank %d", c.K, c.K, EVAL_CHUNK,
                                par.rank);
        st = ebm_par_agree(&par, local_st);
    }
    for (int64_t r0 = 0; st == EBM_OK && r0 < ds.n; r0 += EVAL_CHUNK) {
        int rows = (int)(ds.n - r0 < EVAL_CHUNK ? ds.n - r0 : EVAL_CHUNK);
        classifier_predict(&c, ds.x + (size_t)r0 * ds.dim, rows, pred);
        ebm_logreg_confusion(ds.y + r0, pred, rows, c.K, local);
    }
    if (st == EBM_OK) {
        /* Counts are exact in double up to 2^53 rows. */
        for (size_t i = 0; i < kk; i++) counts[i] = (double)local[i];
        st = ebm_par_agree(&par, ebm_par_allreduce_sum_d(&par, counts, kk));
    }
    if (st == EBM_OK && par.rank == 0) st = write_png(a, counts, c.K);
    st = ebm_par_agree(&par, st);
    if (st == EBM_OK && par.rank == 0) {
        print_eval(a, counts, c.K, ds.n_total);
        fflush(stdout);
    }
    free(pred);
    free(local);
    free(counts);
    classifier_free(&c);
    if (have_data) ebm_dataset_free(&ds);
    ebm_par_free(&par);
    return st;
}

int ebm_cmd_classify(int argc, char **argv)
{
    if (ebm_cmd_help(argc, argv, usage)) return 0;
    if (argc > 1 && strcmp(argv[1], "finetune") == 0) return ebm_classify_finetune(argc, argv);
    struct classify_args a;
    ebm_status st = parse_args(argc, argv, &a);
    if (st == EBM_OK) st = a.mode[0] == 't' ? train(&a) : eval(&a);
    return ebm_cmd_finish(st);
}
