/* ebm transform CKPT --data FILE [--split S[,S...]] --layer K --out FILE.h5
 * [--max-examples N]: the mean activations of hidden layer K of a DBN (or
 * of an RBM's hidden layer) for every row of the given splits, written as
 * an ebm dataset, so that `ebm train` can fit the next layer on them.
 * Each rank computes its shard and writes it collectively as a hyperslab
 * of a hidden temporary file, renamed into place once complete. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <mpi.h>

#include "ebm/cmd.h"
#include "ebm/dataset.h"
#include "ebm/dbn.h"
#include "ebm/feature_file.h"
#include "ebm/kernels.h"
#include "ebm/model_file.h"
#include "ebm/par.h"

static const char usage[] =
    "usage: ebm transform CKPT --data FILE [--split S[,S...]] --layer K --out FILE.h5\n"
    "                     [--max-examples N]\n"
    "\n"
    "Writes the mean activations of hidden layer K of the DBN in CKPT (K = 1\n"
    "for an RBM checkpoint) for every row of the given splits of --data, as an\n"
    "ebm dataset (docs/data.md) that `ebm train` reads: /S/x float32 [N, n_K]\n"
    "and /S/y copied when the input has labels. The pass is deterministic:\n"
    "mu_0 = x as stored (intensities in [0, 1], not binarised), mu_k =\n"
    "sigmoid(mu_{k-1} W + c). Rows are split over the ranks of the job and\n"
    "written collectively; the file appears under its name only when\n"
    "complete (docs/transform.md).\n"
    "\n"
    "  --data FILE        HDF5 dataset (docs/data.md)                 required\n"
    "  --split S[,S...]   splits to transform, each into /S           train\n"
    "  --layer K          hidden layer, 1 .. L for a DBN of L RBMs    required\n"
    "  --out FILE.h5      the features file (replaced if it exists;   required\n"
    "                     never one of the inputs)\n"
    "  --max-examples N   only the first N rows of each split         all\n"
    "  --help             this text\n";

enum { MAX_SPLITS = 16, CHUNK_ROWS = 1024 };

struct transform_args {
    const char *ckpt, *data, *out;
    char splits[MAX_SPLITS][64];
    int n_splits;
    int layer;              /* -1 until given */
    int64_t max_examples;
};


static ebm_status parse_splits(const char *text, struct transform_args *a)
{
    const char *p = text;
    a->n_splits = 0;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof a->splits[0] || memchr(p, '/', len))
            return EBM_FAIL(EBM_ERR_INPUT, "ebm transform: --split '%s': expected split names "
                            "separated by commas (no '/', at most %zu characters each)", text,
                            sizeof a->splits[0] - 1);
        if (a->n_splits == MAX_SPLITS)
            return EBM_FAIL(EBM_ERR_INPUT, "ebm transform: --split '%s': at most %d splits",
                            text, MAX_SPLITS);
        char *s = a->splits[a->n_splits];
        memcpy(s, p, len);
        s[len] = '\0';
        for (int i = 0; i < a->n_splits; i++)
            if (strcmp(a->splits[i], s) == 0)
                return EBM_FAIL(EBM_ERR_INPUT, "ebm transform: --split '%s' names '%s' twice",
                                text, s);
        a->n_splits++;
        if (p[len] == '\0') return EBM_OK;
        p += len + 1;
    }
}

static ebm_status parse_args(int argc, char **argv, struct transform_args *a)
{
    memset(a, 0, sizeof *a);
    a->layer = -1;
    const char *splits = "train";
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        long long v;
        int takes = !strcmp(f, "--data") || !strcmp(f, "--split") || !strcmp(f, "--layer") ||
                    !strcmp(f, "--out") || !strcmp(f, "--max-examples");
        if (takes && i + 1 >= argc)
            return EBM_FAIL(EBM_ERR_INPUT, "ebm transform: %s needs a value (see ebm transform "
                            "--help)", f);
        if (!strcmp(f, "--data")) a->data = argv[++i];
        else if (!strcmp(f, "--split")) splits = argv[++i];
        else if (!strcmp(f, "--out")) a->out = argv[++i];
        else if (!strcmp(f, "--layer")) {
            /* 0 and too large parse, so that the range check can name the
             * valid layers once the model is known. */
            EBM_TRY(ebm_arg_int("transform", f, argv[++i], 0, INT_MAX, &v));
            a->layer = (int)v;
        } else if (!strcmp(f, "--max-examples")) {
            EBM_TRY(ebm_arg_int("transform", f, argv[++i], 1, (long long)(~0ull >> 1), &v));
            a->max_examples = v;
        } else if (f[0] == '-') {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm transform: unknown flag '%s' (see ebm transform "
                            "--help)", f);
        } else if (!a->ckpt) {
            a->ckpt = f;
        } else {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm transform: unexpected argument '%s' (one CKPT "
                            "only)", f);
        }
    }
    if (!a->ckpt)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm transform: missing CKPT (see ebm transform --help)");
    if (!a->data) return EBM_FAIL(EBM_ERR_INPUT, "ebm transform: missing --data FILE");
    if (a->layer < 0)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm transform: missing --layer K (which hidden layer)");
    if (!a->out) return EBM_FAIL(EBM_ERR_INPUT, "ebm transform: missing --out FILE.h5");
    return parse_splits(splits, a);
}


/* Rank 0, before any work: never replace an input, and fail early when
 * the output directory cannot take the file. */
static ebm_status check_out(const struct transform_args *a)
{
    const char *inputs[] = { a->data, a->ckpt };
    return ebm_check_out(a->out, inputs, 2);
}

/* Scratch for the chunked pass, allocated once for every split. */
struct pass_buf {
    float *feat;     /* (CHUNK_ROWS, n_K) */
    float *scratch;  /* dbn_scratch_floats(CHUNK_ROWS) */
};

/* One split: read the shard, write /split/x chunk by chunk (the same
 * number of collective writes on every rank) and /split/y. */
static ebm_status transform_split(const struct transform_args *a, const char *split,
                                  const struct dbn *d, const struct ebm_par *par,
                                  struct ebm_feature_file *o, struct pass_buf *buf,
                                  int64_t *rows, int *labels)
{
    int K = a->layer, nk = d->sizes[K];
    struct ebm_dataset ds;
    EBM_TRY(ebm_dataset_read_shard(a->data, split, a->max_examples, par->world, &ds));
    ebm_status st = EBM_OK;
    if (ds.dim != d->sizes[0])  /* the same on every rank */
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/x has %d columns but the model in %s has %d "
                      "visible units", a->data, split, ds.dim, a->ckpt, d->sizes[0]);
    if (st == EBM_OK) st = ebm_feature_file_split_begin(o, split, ds.n_total, nk, ds.y != NULL);
    /* Shards differ by at most one row: the largest has ceil(N / P). */
    int64_t most = (ds.n_total + par->size - 1) / par->size;
    for (int64_t r0 = 0; st == EBM_OK && r0 < most; r0 += CHUNK_ROWS) {
        int64_t count = ds.n - r0;
        count = count < 0 ? 0 : (count > CHUNK_ROWS ? CHUNK_ROWS : count);
        if (count > 0)
            dbn_up_probs(d, ds.x + (size_t)r0 * ds.dim, (int)count, K, buf->feat, buf->scratch);
        st = ebm_feature_file_write_x(o, ds.first + r0, count, buf->feat);
    }
    if (st == EBM_OK && ds.y) st = ebm_feature_file_write_y(o, ds.first, ds.n, ds.y);
    ebm_feature_file_split_end(o);
    *rows = ds.n_total;
    *labels = ds.y != NULL;
    ebm_dataset_free(&ds);
    return st;
}

static void layers_text(const struct dbn *d, char *buf, size_t len)
{
    size_t used = 0;
    for (int k = 0; k <= d->n_layers && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%d", k ? "-" : "", d->sizes[k]);
}

static ebm_status transform(const struct transform_args *a)
{
    struct ebm_par par;
    EBM_TRY(ebm_par_init(&par, MPI_COMM_WORLD));
    ebm_blas_set_threads(par.node_size);
    struct dbn d = { 0 };
    struct ebm_model_info info;
    struct ebm_feature_file o;
    struct pass_buf buf = { 0 };
    char sizes[512] = "";
    ebm_status st = ebm_par_agree(&par, par.rank == 0 ? check_out(a) : EBM_OK);
    if (st == EBM_OK) st = ebm_par_agree(&par, ebm_model_read_dbn(a->ckpt, par.world, &d, &info));
    if (st == EBM_OK) {
        layers_text(&d, sizes, sizeof sizes);
        if (a->layer < 1 || a->layer > d.n_layers)
            st = EBM_FAIL(EBM_ERR_INPUT, "ebm transform: --layer %d%s: the %s in %s has hidden "
                          "layers 1 .. %d (sizes %s)", a->layer,
                          a->layer == 0 ? " is the data itself" : " does not exist",
                          d.n_layers == 1 ? "RBM" : "DBN", a->ckpt, d.n_layers, sizes);
    }
    if (st == EBM_OK) {
        buf.feat = malloc(sizeof *buf.feat * CHUNK_ROWS * (size_t)d.sizes[a->layer]);
        buf.scratch = malloc(sizeof *buf.scratch * dbn_scratch_floats(&d, CHUNK_ROWS));
        if (!buf.feat || !buf.scratch)
            st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory for %d rows of features on rank %d",
                          CHUNK_ROWS, par.rank);
    }
    st = ebm_par_agree(&par, st);
    int created = 0;
    if (st == EBM_OK) {
        struct ebm_feature_source src = { .checkpoint = a->ckpt, .data = a->data,
                                          .layers = sizes, .layer = a->layer };
        st = ebm_feature_file_create(&o, a->out, par.world, &src);
        created = st == EBM_OK;
    }
    int64_t rows[MAX_SPLITS] = { 0 };
    int labels[MAX_SPLITS] = { 0 };
    for (int s = 0; st == EBM_OK && s < a->n_splits; s++)
        st = transform_split(a, a->splits[s], &d, &par, &o, &buf, &rows[s], &labels[s]);
    if (created) {
        if (st == EBM_OK) st = ebm_feature_file_commit(&o);
        else ebm_feature_file_abort(&o);
    }
    if (st == EBM_OK && par.rank == 0) {
        for (int s = 0; s < a->n_splits; s++)
            printf("wrote /%s: %lld x %d (layer %d of %s), labels %s -> %s\n", a->splits[s],
                   (long long)rows[s], d.sizes[a->layer], a->layer, sizes,
                   labels[s] ? "yes" : "no", a->out);
        fflush(stdout);
    }
    free(buf.feat);
    free(buf.scratch);
    dbn_free(&d);
    ebm_par_free(&par);
    return st;
}

int ebm_cmd_transform(int argc, char **argv)
{
    if (ebm_cmd_help(argc, argv, usage)) return 0;
    struct transform_args a;
    ebm_status st = parse_args(argc, argv, &a);
    if (st == EBM_OK) st = transform(&a);
    return ebm_cmd_finish(st);
}
