/* ebm classify finetune CKPT --data FILE --out MODEL.h5: a DBN (or RBM)
 * checkpoint unrolled into a feed-forward classifier and trained by
 * backpropagation, data-parallel (docs/classify.md). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>

#include "ebm/cmd.h"
#include "ebm/kernels.h"
#include "ebm/mlp.h"
#include "ebm/model_file.h"

struct finetune_args {
    const char *ckpt, *data, *split, *out;
    int classes;                 /* 0: max label + 1 */
    struct ebm_mlp_opts opts;
};

static ebm_status parse_args(int argc, char **argv, struct finetune_args *a)
{
    memset(a, 0, sizeof *a);
    a->split = "train";
    a->opts = (struct ebm_mlp_opts){ .epochs = 10, .batch = 100, .lr = 0.1f, .momentum = 0.9f,
                                     .l2 = 1e-5f, .seed = 1, .lr_end = -1.0f };
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i];
        long long v;
        int takes = f[0] == '-' && f[1] == '-';
        if (takes && i + 1 >= argc)
            return EBM_FAIL(EBM_ERR_INPUT, "ebm classify finetune: %s needs a value (see ebm "
                            "classify --help)", f);
        if (!strcmp(f, "--data")) a->data = argv[++i];
        else if (!strcmp(f, "--split")) a->split = argv[++i];
        else if (!strcmp(f, "--out")) a->out = argv[++i];
        else if (!strcmp(f, "--classes")) {
            EBM_TRY(ebm_arg_int("classify finetune", f, argv[++i], 2, 1000000, &v));
            a->classes = (int)v;
        } else if (!strcmp(f, "--epochs")) {
            EBM_TRY(ebm_arg_int("classify finetune", f, argv[++i], 1, 1000000, &v));
            a->opts.epochs = (int)v;
        } else if (!strcmp(f, "--batch-size")) {
            EBM_TRY(ebm_arg_int("classify finetune", f, argv[++i], 1, 1 << 24, &v));
            a->opts.batch = (int)v;
        } else if (!strcmp(f, "--seed")) {
            EBM_TRY(ebm_arg_int("classify finetune", f, argv[++i], 0, LLONG_MAX, &v));
            a->opts.seed = (uint64_t)v;
        } else if (!strcmp(f, "--lr")) {
            EBM_TRY(ebm_arg_real("classify finetune", f, argv[++i], 1e-12, 1e3,
                                 &a->opts.lr));
        } else if (!strcmp(f, "--lr-end")) {
            EBM_TRY(ebm_arg_real("classify finetune", f, argv[++i], 0, 1e3,
                                 &a->opts.lr_end));
        } else if (!strcmp(f, "--momentum")) {
            EBM_TRY(ebm_arg_real("classify finetune", f, argv[++i], 0, 0.999,
                                 &a->opts.momentum));
        } else if (!strcmp(f, "--l2")) {
            EBM_TRY(ebm_arg_real("classify finetune", f, argv[++i], 0, 1e3, &a->opts.l2));
        } else if (f[0] == '-') {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm classify finetune: unknown flag '%s' (see ebm "
                            "classify --help)", f);
        } else if (!a->ckpt) {
            a->ckpt = f;
        } else {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm classify finetune: unexpected argument '%s' "
                            "(one CKPT only)", f);
        }
    }
    if (a->opts.lr_end < 0) a->opts.lr_end = a->opts.lr; /* constant unless given */
    if (!a->ckpt)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm classify finetune: missing CKPT, the DBN (or RBM) "
                        "to unroll");
    if (!a->data) return EBM_FAIL(EBM_ERR_INPUT, "ebm classify finetune: missing --data FILE");
    if (!a->out) return EBM_FAIL(EBM_ERR_INPUT, "ebm classify finetune: missing --out MODEL.h5");
    return EBM_OK;
}

/* Collective: the number of classes, from --classes or the largest label
 * (every label checked against it), agreed over the ranks. */
static ebm_status classes_of(const struct finetune_args *a, const struct ebm_par *par,
                             const struct ebm_dataset *ds, int *K)
{
    double ext[2] = { -1, 0 }; /* max label, -min label */
    for (int64_t i = 0; i < ds->n; i++) {
        ext[0] = fmax(ext[0], ds->y[i]);
        ext[1] = fmax(ext[1], -(double)ds->y[i]);
    }
    EBM_TRY(ebm_par_max_d(par, ext, 2));
    if (ext[1] > 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/y holds the label %.0f; labels are 0..K-1",
                        a->data, a->split, -ext[1]);
    if (a->classes && ext[0] >= a->classes)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/y holds the label %.0f, but --classes is %d",
                        a->data, a->split, ext[0], a->classes);
    if (!a->classes && ext[0] < 1)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/y holds only the label 0; a classifier needs "
                        "two classes (or --classes)", a->data, a->split);
    *K = a->classes ? a->classes : (int)ext[0] + 1;
    return EBM_OK;
}

static ebm_status finetune(const struct finetune_args *a)
{
    struct ebm_par par;
    EBM_TRY(ebm_par_init(&par, MPI_COMM_WORLD));
    ebm_blas_set_threads(par.node_size);
    struct dbn d = { 0 };
    struct ebm_model_info info;
    struct ebm_dataset ds = { 0 };
    struct ebm_mlp m = { 0 };
    struct ebm_mlp_trainer tr = { 0 };
    const char *inputs[] = { a->ckpt, a->data };
    ebm_status st = ebm_par_agree(&par, par.rank == 0 ? ebm_check_out(a->out, inputs, 2) : EBM_OK);
    if (st == EBM_OK) st = ebm_par_agree(&par, ebm_model_read_dbn(a->ckpt, par.world, &d, &info));
    if (st == EBM_OK)
        st = ebm_par_agree(&par, ebm_dataset_read_shard(a->data, a->split, 0, par.world, &ds));
    if (st == EBM_OK && !ds.y)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: /%s has no labels (/%s/y); fine-tuning needs them",
                      a->data, a->split, a->split);
    if (st == EBM_OK && ds.dim != d.sizes[0])
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/x has %d columns, but the model in %s takes %d",
                      a->data, a->split, ds.dim, a->ckpt, d.sizes[0]);
    int K = 0;
    if (st == EBM_OK) st = classes_of(a, &par, &ds, &K);
    if (st == EBM_OK) st = ebm_par_agree(&par, ebm_mlp_from_dbn(&m, &d, K));
    if (st == EBM_OK) st = ebm_mlp_trainer_init(&tr, &m, &par, &ds, &a->opts);
    if (st == EBM_OK && par.rank == 0) {
        printf("classify finetune: %s unrolled (", a->ckpt);
        for (int k = 0; k <= m.n_hidden_layers + 1; k++) printf("%s%d", k ? "-" : "", m.sizes[k]);
        printf(", sigmoid layers, softmax output), %lld rows, %d rank%s, batch %d per rank, "
               "%lld steps/epoch; lr %g -> %g, momentum %g, l2 %g\n", (long long)ds.n_total,
               par.size, par.size == 1 ? "" : "s", a->opts.batch, (long long)tr.steps_per_epoch,
               (double)a->opts.lr, (double)a->opts.lr_end, (double)a->opts.momentum,
               (double)a->opts.l2);
        fflush(stdout);
    }
    for (int e = 0; st == EBM_OK && e < a->opts.epochs; e++) {
        double loss, err, t0 = MPI_Wtime();
        st = ebm_mlp_train_epoch(&tr, &m, e, &loss, &err);
        double dt = MPI_Wtime() - t0;
        if (st == EBM_OK && par.rank == 0) {
            printf("epoch %d/%d  loss %.6f  train error %.4f%%  %.0f rows/s\n", e + 1,
                   a->opts.epochs, loss, 100.0 * err,
                   dt > 0 ? (double)tr.steps_per_epoch * par.size * a->opts.batch / dt : 0.0);
            fflush(stdout);
        }
    }
    if (st == EBM_OK) st = ebm_par_agree(&par, ebm_mlp_save(a->out, par.world, &m, a->ckpt,
                                                            a->data, &a->opts));
    if (st == EBM_OK && par.rank == 0) printf("wrote %s\n", a->out);
    ebm_mlp_trainer_free(&tr);
    ebm_mlp_free(&m);
    ebm_dataset_free(&ds);
    dbn_free(&d);
    ebm_par_free(&par);
    return st;
}

int ebm_classify_finetune(int argc, char **argv)
{
    struct finetune_args a;
    ebm_status st = parse_args(argc, argv, &a);
    if (st == EBM_OK) st = finetune(&a);
    return ebm_cmd_finish(st);
}
