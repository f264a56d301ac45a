/* ebm sample CKPT --n N --steps K --out FILE.png|FILE.h5 [--init random|data]
 * [--data FILE] [--split S] [--seed S]: block Gibbs chains of a trained
 * RBM, or of a DBN's top RBM followed by one top-down pass, split across
 * ranks, gathered to rank 0 and written there. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <hdf5.h>
#include <mpi.h>

#include "ebm/cmd.h"
#include "ebm/kernels.h"
#include "ebm/dataset.h"
#include "ebm/dbn.h"
#include "ebm/gibbs.h"
#include "ebm/diagnostics.h"
#include "ebm/h5util.h"
#include "ebm/mcmc.h"
#include "ebm/model_file.h"
#include "ebm/par.h"
#include "ebm/png.h"

static const char usage[] =
    "usage: ebm sample CKPT --n N --steps K --out FILE.png|FILE.h5\n"
    "                  [--init random|data] [--data FILE] [--split S] [--seed S]\n"
    "                  [--sampler gibbs|mh|langevin|mala] [--step L] [--diagnostics]\n"
    "\n"
    "Runs N block-Gibbs chains (v -> h -> v) of the RBM in CKPT for K steps,\n"
    "split across the ranks of the MPI job, and writes every chain's visible\n"
    "means E[v | h] from the last step. With --sampler mh the chains are\n"
    "Metropolis-Hastings on the free energy instead (a step is a sweep of\n"
    "single-unit flip proposals), and their states are written; langevin and\n"
    "mala move Gaussian visible units along -grad F (docs/mcmc.md). Spins and\n"
    "standardised values are written back as the data's intensities.\n"
    "\n"
    "For a DBM a step is one sweep of the odd layers, then the even ones\n"
    "(v included); it writes p(v | h_1) of the last step.\n"
    "For a fully visible BM (model.type = bm) a Gibbs step is one systematic\n"
    "sweep of sequential Gibbs updates, unit by unit (docs/bm.md).\n"
    "\n"
    "For a DBN checkpoint the chains run in the top RBM (over h_{L-1}, h_L);\n"
    "then one top-down pass samples h_k ~ p(h_k | h_{k+1}) down to h_1 and\n"
    "writes the visible means p(v | h_1) (docs/sampling.md).\n"
    "\n"
    "  --n N            chains, hence samples (a positive integer)\n"
    "  --steps K        Gibbs steps per chain (a positive integer)\n"
    "  --out FILE.png   a tile image, 10 per row; needs the image shape of the\n"
    "                   data the model was trained on\n"
    "  --out FILE.h5    dataset /samples, float32 [N, V] (and the attribute\n"
    "                   image_shape on / when the shape is known)\n"
    "  --init random    start from uniform random states (the default), or\n"
    "                   N(b, sigma^2) for Gaussian visible units\n"
    "  --init data      chain i starts at row i of --data, thresholded at 0.5;\n"
    "                   for a DBN, the top RBM's chain i starts at the upward\n"
    "                   mean pass of row i to layer L-1, thresholded at 0.5\n"
    "  --data FILE      the dataset for --init data (docs/data.md)\n"
    "  --split S        its split (default test)\n"
    "  --seed S         RNG seed (default 1). Chain i draws from its own streams,\n"
    "                   keyed by (S, i): the same seed gives the same samples at\n"
    "                   any rank count (docs/sampling.md)\n"
    "  --sampler S      gibbs (default) or mh for every model; langevin and\n"
    "                   mala for Gaussian visible units (docs/mcmc.md); mh and\n"
    "                   mala report their acceptance rate\n"
    "  --step L         the Langevin/MALA step size; for mh on gaussian units,\n"
    "                   the standard deviation of its random-walk proposals\n"
    "  --diagnostics    record every chain's (top RBM) free energy at every\n"
    "                   step and report the effective sample size and the\n"
    "                   split-R-hat of those traces across all chains (K >= 8)\n"
    "  --help           this text\n";

#include "sample_cmd.h"


/* A positive int from the whole of text (strtol would accept "12abc"). */
static ebm_status parse_count(const char *flag, const char *text, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || v <= 0 || v > INT_MAX)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: %s '%s' is not a positive integer "
                        "(1 to %d)", flag, text, INT_MAX);
    *out = (int)v;
    return EBM_OK;
}

static ebm_status parse_seed(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    /* strtoull takes "-1" as 2^64 - 1; a seed is a plain non-negative number. */
    if (end == text || *end != '\0' || errno != 0 || text[0] == '-' || text[0] == '+')
        return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: --seed '%s' is not a non-negative "
                        "integer below 2^64", text);
    *out = (uint64_t)v;
    return EBM_OK;
}

static ebm_status parse_sampler(const char *text, struct sample_args *a)
{
    if (strcmp(text, "gibbs") == 0) {
        a->mcmc = 0;
        return EBM_OK;
    }
    if (ebm_mcmc_kind_parse(text, &a->sampler) != EBM_OK) {
        ebm_error_clear();
        return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: --sampler '%s' is not one of: gibbs, mh, "
                        "langevin, mala", text);
    }
    a->mcmc = 1;
    return EBM_OK;
}

static ebm_status parse_step(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !(v > 0) || !(v < 1e6))
        return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: --step '%s' is not a positive number", text);
    *out = v;
    return EBM_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

static ebm_status parse_args(int argc, char **argv, struct sample_args *a)
{
    memset(a, 0, sizeof *a);
    a->split = "test";
    a->seed = 1;
    const char *init = "random";
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        static const char *const valued[] = { "--n", "--steps", "--out", "--init", "--data",
                                              "--split", "--seed", "--sampler", "--step" };
        int is_valued = 0;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
            if (strcmp(arg, valued[k]) == 0) is_valued = 1;
        if (is_valued && i + 1 >= argc)
            return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: %s needs a value (see ebm sample --help)",
                            arg);
        if (strcmp(arg, "--n") == 0) EBM_TRY(parse_count(arg, argv[++i], &a->n));
        else if (strcmp(arg, "--steps") == 0) EBM_TRY(parse_count(arg, argv[++i], &a->steps));
        else if (strcmp(arg, "--seed") == 0) EBM_TRY(parse_seed(argv[++i], &a->seed));
        else if (strcmp(arg, "--out") == 0) a->out = argv[++i];
        else if (strcmp(arg, "--init") == 0) init = argv[++i];
        else if (strcmp(arg, "--data") == 0) a->data = argv[++i];
        else if (strcmp(arg, "--split") == 0) a->split = argv[++i];
        else if (strcmp(arg, "--sampler") == 0) EBM_TRY(parse_sampler(argv[++i], a));
        else if (strcmp(arg, "--step") == 0) EBM_TRY(parse_step(argv[++i], &a->step));
        else if (strcmp(arg, "--diagnostics") == 0) a->diagnostics = 1;
        else if (arg[0] == '-')
            return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: unknown flag '%s' (see ebm sample --help)",
                            arg);
        else if (!a->ckpt) a->ckpt = arg;
        else
            return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: unexpected argument '%s' (one CKPT only)",
                            arg);
    }
    if (!a->ckpt)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: missing CKPT (see ebm sample --help)");
    if (!a->n) return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: missing --n N (how many chains)");
    if (!a->steps) return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: missing --steps K (Gibbs steps)");
    if (!a->out) return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: missing --out FILE.png|FILE.h5");
    if (ends_with(a->out, ".png")) a->kind = OUT_PNG;
    else if (ends_with(a->out, ".h5")) a->kind = OUT_H5;
    else
        return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: --out %s: unknown extension; use .png "
                        "(an image) or .h5 (the values)", a->out);
    if (strcmp(init, "data") == 0) a->init_data = 1;
    else if (strcmp(init, "random") != 0)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: --init '%s' is neither 'random' nor 'data'",
                        init);
    int continuous = a->mcmc && a->sampler != EBM_MCMC_MH;
    /* mh takes --step too, as its random-walk scale on Gaussian units
     * (checked against the model in run_chains). */
    if (a->step > 0 && !a->mcmc)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: --step is the step size of --sampler "
                        "langevin or mala, or mh's random-walk scale on gaussian units");
    if (continuous && !(a->step > 0))
        return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: --sampler %s needs --step L (the step "
                        "size, e.g. 0.01)", ebm_mcmc_kind_name(a->sampler));
    if (a->diagnostics && a->steps < 8)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: --diagnostics splits each chain's trace in "
                        "halves of at least 4 steps: --steps must be at least 8 (it is %d)",
                        a->steps);
    if (a->init_data && !a->data)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: --init data needs --data FILE");
    /* Ignoring them would hide a mistake in the command line. */
    if (!a->init_data && a->data)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm sample: --data is only used with --init data");
    return EBM_OK;
}

/* One attribute on obj: n values of type, or a scalar when n is 0. */
static herr_t write_attr(hid_t obj, const char *name, hid_t type, int n, const void *data)
{
    hsize_t dim = (hsize_t)n;
    hid_t space = n > 0 ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_SCALAR);
    hid_t attr = space < 0 ? -1 : H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : H5Awrite(attr, type, data);
    if (attr >= 0 && H5Aclose(attr) < 0) rc = -1;
    if (space >= 0) H5Sclose(space);
    return rc;
}

static herr_t write_attr_str(hid_t obj, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    if (type < 0) return -1;
    herr_t rc = H5Tset_size(type, strlen(value) + 1);
    if (rc >= 0) rc = write_attr(obj, name, type, 0, value);
    H5Tclose(type);
    return rc;
}

#define H5_OR_FAIL(st, expr, call, label)                                           \
    do {                                                                            \
        if ((expr) < 0) {                                                           \
            (st) = EBM_H5_FAIL(EBM_ERR_IO, path, call);                             \
            goto label;                                                             \
        }                                                                           \
    } while (0)

/* Rank 0 only: x (n, V) as /samples, with what made it as attributes on
 * the root. Written under a hidden temporary name and renamed when
 * complete, like checkpoints, so a failure never leaves half a file. */
ebm_status ebm_sample_write_h5(const char *path, const float *x, int n, int V, int image_h,
                           int image_w, const struct sample_args *a)
{
    char tmp[4096];
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    snprintf(tmp, sizeof tmp, "%.*s.%s.tmp", dir_len, path, slash ? slash + 1 : path);
    ebm_status st = EBM_OK;
    hid_t file = -1, space = -1, dset = -1;
    hsize_t dims[2] = { (hsize_t)n, (hsize_t)V };
    int32_t shape[2] = { image_h, image_w };
    int64_t steps = a->steps;
    H5_OR_FAIL(st, file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "H5Fcreate",
               done);
    H5_OR_FAIL(st, space = H5Screate_simple(2, dims, NULL), "H5Screate_simple", done);
    H5_OR_FAIL(st, dset = H5Dcreate2(file, "samples", H5T_IEEE_F32LE, space, H5P_DEFAULT,
                                     H5P_DEFAULT, H5P_DEFAULT), "H5Dcreate2(/samples)", done);
    H5_OR_FAIL(st, H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x),
               "H5Dwrite(/samples)", done);
    if (image_h > 0)
        H5_OR_FAIL(st, write_attr(file, "image_shape", H5T_STD_I32LE, 2, shape),
                   "H5Awrite(image_shape)", done);
    H5_OR_FAIL(st, write_attr_str(file, "checkpoint", a->ckpt), "H5Awrite(checkpoint)", done);
    H5_OR_FAIL(st, write_attr(file, "steps", H5T_STD_I64LE, 0, &steps), "H5Awrite(steps)",
               done);
    H5_OR_FAIL(st, write_attr(file, "seed", H5T_STD_U64LE, 0, &a->seed), "H5Awrite(seed)",
               done);
    H5_OR_FAIL(st, write_attr_str(file, "init", a->init_data ? "data" : "random"),
               "H5Awrite(init)", done);
done:
    if (dset >= 0 && H5Dclose(dset) < 0 && st == EBM_OK)
        st = EBM_H5_FAIL(EBM_ERR_IO, path, "H5Dclose");
    if (space >= 0) H5Sclose(space);
    if (file >= 0 && H5Fclose(file) < 0 && st == EBM_OK)
        st = EBM_H5_FAIL(EBM_ERR_IO, path, "H5Fclose");
    if (st == EBM_OK && rename(tmp, path) != 0)
        st = EBM_FAIL(EBM_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    if (st != EBM_OK) unlink(tmp);
    return st;
}

/* Rank 0: the n rows of all (n, V) to --out, a tile picture or /samples. */
static ebm_status write_rows(const struct sample_args *a, const float *all, int V, int image_h,
                             int image_w)
{
    if (a->kind == OUT_PNG)
        return ebm_png_write_tiles(a->out, all, a->n, V, 1, image_h, image_w, 10, false);
    return ebm_sample_write_h5(a->out, all, a->n, V, image_h, image_w, a);
}


/* Rank 0, before any sampling: a run of hours should not end in "no such
 * directory", nor replace its own input. */
static ebm_status check_out(const struct sample_args *a)
{
    const char *inputs[] = { a->ckpt, a->data };
    return ebm_check_out(a->out, inputs, 2);
}


/* This rank's start states: row (first + r) of the data for chain r,
 * carried up to the top RBM's visible layer h_{L-1} by the mean pass
 * (nothing to carry for an RBM), then thresholded. */
static ebm_status init_from_data(const struct sample_args *a, const struct ebm_par *par,
                                 const struct dbn *d, int64_t count, float *v, float *scratch)
{
    int V = d->sizes[0], T = d->sizes[d->n_layers - 1];
    struct ebm_dataset ds;
    EBM_TRY(ebm_dataset_read_shard(a->data, a->split, a->n, par->world, &ds));
    /* n_total and dim are the same on every rank: no agreement needed. */
    ebm_status st = EBM_OK;
    if (ds.n_total < a->n)
        st = EBM_FAIL(EBM_ERR_INPUT, "--data %s /%s holds %lld rows, fewer than --n %d "
                      "(chain i starts at row i)", a->data, a->split, (long long)ds.n_total, a->n);
    else if (ds.dim != V)
        st = EBM_FAIL(EBM_ERR_INPUT, "--data %s /%s/x is %d wide, but the model %s has %d "
                      "visible units", a->data, a->split, ds.dim, a->ckpt, V);
    else {
        EBM_ASSERT(ds.n == count);
        /* The same threshold as data.binarize = threshold in training. */
        dbn_up_probs(d, ds.x, (int)count, d->n_layers - 1, v, scratch);
        for (size_t i = 0; i < (size_t)count * T; i++) v[i] = v[i] > 0.5f ? 1.0f : 0.0f;
    }
    ebm_dataset_free(&ds);
    return st;
}

/* An RBM with other unit types: chain r starts at row (first + r) made
 * into the model's visible values (thresholded at 0.5, as spins for spin
 * units; standardised as in training for Gaussian ones). */
static ebm_status init_typed_from_data(const struct sample_args *a, const struct ebm_par *par,
                                       const struct rbm *m, const float *mean,
                                       const float *sd, int64_t count, float *v)
{
    int V = m->n_visible;
    struct ebm_dataset ds;
    EBM_TRY(ebm_dataset_read_shard(a->data, a->split, a->n, par->world, &ds));
    ebm_status st = EBM_OK;
    if (ds.n_total < a->n)
        st = EBM_FAIL(EBM_ERR_INPUT, "--data %s /%s holds %lld rows, fewer than --n %d "
                      "(chain i starts at row i)", a->data, a->split, (long long)ds.n_total, a->n);
    else if (ds.dim != V)
        st = EBM_FAIL(EBM_ERR_INPUT, "--data %s /%s/x is %d wide, but the model %s has %d "
                      "visible units", a->data, a->split, ds.dim, a->ckpt, V);
    else {
        EBM_ASSERT(ds.n == count);
        size_t n = (size_t)count * V;
        memcpy(v, ds.x, sizeof(float) * n);
        if (m->vis.type == EBM_UNIT_GAUSSIAN && mean)
            ebm_standardize_rows(v, count, V, mean, sd);
        float off = m->vis.type == EBM_UNIT_SPIN ? -1.0f : 0.0f;
        for (size_t i = 0; m->vis.type != EBM_UNIT_GAUSSIAN && i < n; i++)
            v[i] = v[i] > 0.5f ? 1.0f : off;
    }
    ebm_dataset_free(&ds);
    return st;
}

/* Rank 0 receives every rank's rows into all, in rank order (= chain
 * order); scratch (2 * size ints: rows per rank, first rows) is rank 0's,
 * allocated before so that no rank can fail here alone and leave the
 * others waiting in the gather. */
static ebm_status gather_rows(const struct ebm_par *par, const float *rows, int64_t count, int V,
                              int n, float *all, int *scratch)
{
    int *counts = scratch, *displs = scratch ? scratch + par->size : NULL;
    if (par->rank == 0)
        for (int r = 0; r < par->size; r++) {
            int64_t first, c;
            ebm_shard_range(n, r, par->size, &first, &c);
            counts[r] = (int)c;
            displs[r] = (int)first;
        }
    /* Whole rows as one datatype: counts in rows stay below INT_MAX even
     * when N x V values do not. */
    MPI_Datatype row;
    int rc = MPI_Type_contiguous(V, MPI_FLOAT, &row);
    if (rc == MPI_SUCCESS) rc = MPI_Type_commit(&row);
    if (rc == MPI_SUCCESS) {
        rc = MPI_Gatherv(rows, (int)count, row, all, counts, displs, row, 0, par->world);
        MPI_Type_free(&row);
    }
    if (rc != MPI_SUCCESS)
        return ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "MPI_Gatherv(samples)");
    return EBM_OK;
}

ebm_status ebm_sample_collect(const struct ebm_par *par, const struct sample_args *a,
                              const float *rows, int64_t count, int V, float *all, int *scratch,
                              int image_h, int image_w)
{
    ebm_status st = ebm_par_agree(par, gather_rows(par, rows, count, V, a->n, all, scratch));
    if (st == EBM_OK && par->rank == 0) st = write_rows(a, all, V, image_h, image_w);
    return ebm_par_agree(par, st);
}

/* What the chains did, summed over all ranks. */
struct chain_report {
    int64_t proposed, accepted;   /* Metropolis-Hastings proposals */
    struct ebm_trace_diag diag;   /* --diagnostics */
};

/* The chains v (count rows of the top RBM m's visible units) for --steps,
 * by the chosen sampler; pv_out as for ebm_gibbs_run (Gibbs only; with
 * Metropolis-Hastings the sample is the state itself). With --diagnostics
 * each chain's free energy after each step forms its trace. Collective. */
static ebm_status run_chains(const struct sample_args *a, const struct ebm_par *par,
                             const struct rbm *m, struct ebm_gibbs *g, float *v, int64_t count,
                             int64_t first, float *pv_out, struct chain_report *rep)
{
    int K = a->steps, H = m->n_hidden;
    double *trace = NULL, *fe = NULL;
    float *scratch = NULL;
    struct ebm_mcmc s = { 0 };
    struct ebm_target t;
    ebm_status st = EBM_OK;
    if (a->diagnostics) {
        trace = calloc((size_t)count * K + 1, sizeof *trace);
        fe = calloc((size_t)count + 1, sizeof *fe);
        scratch = calloc((size_t)count * H + 1, sizeof *scratch);
        if (!trace || !fe || !scratch)
            st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory for %lld x %d free-energy traces on "
                          "rank %d", (long long)count, K, par->rank);
    }
    if (st == EBM_OK && a->mcmc) {
        if (a->sampler != EBM_MCMC_MH && m->vis.type != EBM_UNIT_GAUSSIAN)
            st = EBM_FAIL(EBM_ERR_INPUT, "--sampler %s needs real-valued (gaussian) visible "
                          "units; the model in %s has %s ones (use gibbs or mh)",
                          ebm_mcmc_kind_name(a->sampler), a->ckpt,
                          ebm_unit_type_name(m->vis.type));
        int real = m->vis.type == EBM_UNIT_GAUSSIAN;
        if (st == EBM_OK && a->sampler == EBM_MCMC_MH && real && !(a->step > 0))
            st = EBM_FAIL(EBM_ERR_INPUT, "--sampler mh on the gaussian visible units of %s "
                          "needs --step S, the standard deviation of its random-walk "
                          "proposals (e.g. 0.1)", a->ckpt);
        if (st == EBM_OK && a->sampler == EBM_MCMC_MH && !real && a->step > 0)
            st = EBM_FAIL(EBM_ERR_INPUT, "--step: --sampler mh on %s units proposes single-unit "
                          "flips and takes no step size", ebm_unit_type_name(m->vis.type));
        struct ebm_mcmc_opts o = { .kind = a->sampler, .scan = EBM_SCAN_RANDOM, .step = a->step };
        if (st == EBM_OK) st = ebm_target_rbm(m, &t);
        if (st == EBM_OK) st = ebm_mcmc_init(&s, &t, &o, (int)count, first, a->seed);
    }
    st = ebm_par_agree(par, st);
    struct ebm_mcmc_counts c = { 0 };
    if (st == EBM_OK && a->mcmc) {
        if (trace) ebm_mcmc_run_trace(&s, v, K, 1, trace, K, &c);
        else ebm_mcmc_run(&s, v, K, &c);
        /* The sample is the state itself. */
        if (pv_out) memcpy(pv_out, v, sizeof(float) * (size_t)count * m->n_visible);
    } else if (st == EBM_OK && !trace) {
        ebm_gibbs_run(g, m, v, K, pv_out);
    } else if (st == EBM_OK) {
        /* One step at a time: the free energy after each is the trace. */
        for (int k = 0; k < K; k++) {
            ebm_gibbs_run(g, m, v, 1, k + 1 == K ? pv_out : NULL);
            rbm_free_energy(m, v, (int)count, scratch, fe);
            for (int64_t r = 0; r < count; r++) trace[r * K + k] = fe[r];
        }
    }
    int64_t n[2] = { c.proposed, c.accepted };
    if (st == EBM_OK) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, n, 2, MPI_INT64_T, MPI_SUM, par->world);
        if (rc != MPI_SUCCESS) st = ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "MPI_Allreduce");
    }
    rep->proposed = n[0];
    rep->accepted = n[1];
    if (st == EBM_OK && trace)
        st = ebm_diagnose_comm(trace, (int)count, K, par->world, &rep->diag);
    ebm_mcmc_free(&s);
    free(trace);
    free(fe);
    free(scratch);
    return st;
}

static void layers_text(const struct dbn *d, char *buf, size_t len)
{
    size_t used = 0;
    for (int k = 0; k <= d->n_layers && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%d", k ? "-" : "", d->sizes[k]);
}

/* An RBM is read as a DBN of one layer: its chains are the "top RBM" and
 * their last visible means are the samples, exactly as before DBNs. */
static ebm_status sample(const struct sample_args *a)
{
    struct ebm_par par;
    EBM_TRY(ebm_par_init(&par, MPI_COMM_WORLD));
    ebm_blas_set_threads(par.node_size);
    struct dbn d = { 0 };
    struct ebm_model_info info = { 0 };
    struct ebm_gibbs g = { 0 };
    float *v = NULL, *pv = NULL, *all = NULL, *scratch = NULL;
    struct ebm_rng *rng = NULL;
    int *counts = NULL; /* rank 0: rows per rank, then (+ size) first rows */
    int64_t first = 0, count = 0;
    int V = 0, T = 0, L = 0;

    /* An RBM with unit types other than bernoulli is sampled on its own
     * (typed); any other checkpoint is read as a DBN (an RBM as one layer). */
    struct rbm typed = { 0 };
    const struct rbm *top = NULL;
    float *in_mean = NULL, *in_std = NULL;
    int standardized = 0;
    char type[64] = "";
    ebm_status st = ebm_par_agree(&par, par.rank == 0 ? check_out(a) : EBM_OK);
    if (st == EBM_OK)
        st = ebm_par_agree(&par, ebm_model_type(a->ckpt, par.world, type, sizeof type));
    if (st == EBM_OK && (strcmp(type, "bm") == 0 || strcmp(type, "dbm") == 0)) {
        st = type[0] == 'b' ? ebm_sample_bm(a, &par) : ebm_sample_dbm(a, &par);
        ebm_par_free(&par);
        return st;
    }
    if (st == EBM_OK && strcmp(type, "rbm") == 0) {
        st = ebm_par_agree(&par, ebm_model_read_rbm(a->ckpt, par.world, &typed, &info));
        if (st == EBM_OK && rbm_is_binary(&typed)) rbm_free(&typed);
        else if (st == EBM_OK) top = &typed;
    }
    if (st == EBM_OK && top) {
        in_mean = malloc(sizeof *in_mean * (size_t)top->n_visible);
        in_std = malloc(sizeof *in_std * (size_t)top->n_visible);
        st = in_mean && in_std ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
        st = ebm_par_agree(&par, st);
        if (st == EBM_OK)
            st = ebm_par_agree(&par, ebm_model_read_standardize(a->ckpt, par.world,
                                                                top->n_visible, in_mean,
                                                                in_std, &standardized));
    }
    if (st == EBM_OK && !top)
        st = ebm_par_agree(&par, ebm_model_read_dbn(a->ckpt, par.world, &d, &info));
    if (st == EBM_OK && a->kind == OUT_PNG && info.image_h <= 0)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: the model has no image shape (its training data "
                      "had no image_shape), so it cannot be drawn; use --out FILE.h5", a->ckpt);
    if (st == EBM_OK) {
        L = top ? 1 : d.n_layers;
        if (!top) top = &d.rbm[L - 1];
        V = L == 1 ? top->n_visible : d.sizes[0];
        T = top->n_visible; /* the top RBM's visible layer */
        ebm_shard_range(a->n, par.rank, par.size, &first, &count);
        st = ebm_gibbs_init(&g, T, top->n_hidden, (int)count, first, a->seed);
        v = calloc((size_t)count * T + 1, sizeof *v);
        pv = calloc((size_t)count * V + 1, sizeof *pv);
        scratch = calloc(typed.block ? 1 : dbn_scratch_floats(&d, (int)count), sizeof *scratch);
        rng = calloc((size_t)count + 1, sizeof *rng);
        if (par.rank == 0) {
            all = malloc(((size_t)a->n * V) * sizeof *all);
            counts = calloc(2 * (size_t)par.size, sizeof *counts);
        }
        if (st == EBM_OK && (!v || !pv || !scratch || !rng ||
                             (par.rank == 0 && (!all || !counts))))
            st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory for %d samples of %d values on rank %d",
                          a->n, V, par.rank);
    }
    st = ebm_par_agree(&par, st);
    if (st == EBM_OK) {
        if (a->init_data && typed.block)
            st = init_typed_from_data(a, &par, top, standardized ? in_mean : NULL, in_std,
                                      count, v);
        else if (a->init_data)
            st = init_from_data(a, &par, &d, count, v, scratch);
        else
            ebm_gibbs_random_init_for(&g, top, v);
    }
    st = ebm_par_agree(&par, st);
    struct chain_report rep = { 0 };
    if (st == EBM_OK) st = ebm_par_agree(&par, run_chains(a, &par, top, &g, v, count,
                                                          first, L == 1 ? pv : NULL, &rep));
    /* Spins and standardised values go back to the data's intensities. */
    if (st == EBM_OK && typed.block)
        ebm_units_to_intensity(top->vis.type, pv, count, V, standardized ? in_mean : NULL,
                               in_std);
    if (st == EBM_OK) {
        /* A DBN's top chain leaves a binary h_{L-1} that starts the
         * directed pass, chain i's draws below it from its own stream. */
        if (L > 1) {
            for (int64_t r = 0; r < count; r++)
                ebm_rng_init(&rng[r], a->seed, (uint32_t)(first + r), EBM_RNG_DBN_SAMPLE);
            dbn_down_sample(&d, L - 1, v, (int)count, rng, pv, scratch);
        }
    }
    st = ebm_par_agree(&par, st);
    if (st == EBM_OK)
        st = ebm_sample_collect(&par, a, pv, count, V, all, counts, info.image_h, info.image_w);
    if (st == EBM_OK && par.rank == 0) {
        static const char *const names[] = { [EBM_MCMC_MH] = "Metropolis-Hastings",
                                              [EBM_MCMC_LANGEVIN] = "Langevin",
                                              [EBM_MCMC_MALA] = "MALA" };
        printf("wrote %d sample%s (%d %s step%s", a->n, a->n == 1 ? "" : "s", a->steps,
               a->mcmc ? names[a->sampler] : "Gibbs", a->steps == 1 ? "" : "s");
        if (a->mcmc && a->step > 0) printf(", step size %g", a->step);
        /* Unadjusted Langevin accepts every move: no rate to report. */
        if (a->mcmc && a->sampler != EBM_MCMC_LANGEVIN)
            printf(", acceptance %.4f", rep.proposed > 0 ? (double)rep.accepted / (double)rep.proposed
                                                         : 0.0);
        if (typed.block)
            printf(", %s visible and %s hidden units%s", ebm_unit_type_name(top->vis.type),
                   ebm_unit_type_name(top->hid.type),
                   standardized ? ", un-standardised" : "");
        if (L > 1) {
            char sizes[512];
            layers_text(&d, sizes, sizeof sizes);
            printf(" in the top RBM of DBN %s, then a top-down pass", sizes);
        }
        printf(", init ");
        if (a->init_data) printf("data %s /%s", a->data, a->split);
        else printf("random");
        printf(") -> %s\n", a->out);
        if (a->diagnostics)
            printf("diagnostics: free-energy traces of %d chains x %d steps: ESS %.1f "
                   "(per chain: min %.1f, mean %.1f), split-R-hat %.4f%s\n", rep.diag.chains,
                   rep.diag.draws, rep.diag.ess, rep.diag.ess_chain_min, rep.diag.ess_chain_mean,
                   rep.diag.rhat, rep.diag.rhat > 1.01 ? "  (above 1.01: the chains have not "
                   "mixed; run more steps)" : "");
    }
    free(all);
    free(counts);
    free(pv);
    free(v);
    free(scratch);
    free(rng);
    free(in_mean);
    free(in_std);
    ebm_gibbs_free(&g);
    rbm_free(&typed);
    dbn_free(&d);
    ebm_par_free(&par);
    return st;
}

int ebm_cmd_sample(int argc, char **argv)
{
    if (ebm_cmd_help(argc, argv, usage)) return 0;
    struct sample_args a;
    ebm_status st = parse_args(argc, argv, &a);
    if (st == EBM_OK) st = sample(&a);
    return ebm_cmd_finish(st);
}
