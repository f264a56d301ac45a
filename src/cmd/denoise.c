/* ebm denoise CKPT --data FILE [--split S] --corrupt SPEC --method M --steps K
 *             --out FILE.h5 [--png FILE.png] [--n N] [--seed S] [--binarize MODE]
 * Corrupts the rows of a split and restores them under an RBM
 * (docs/denoise.md): each rank corrupts and restores its shard in chunks;
 * rank 0 gathers the rows, prints the errors before and after, and writes
 * the file under a hidden temporary name, renamed into place once complete. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hdf5.h>
#include <mpi.h>

#include "ebm/cmd.h"
#include "ebm/dataset.h"
#include "ebm/denoise.h"
#include "ebm/evaluate.h"
#include "ebm/h5util.h"
#include "ebm/kernels.h"
#include "ebm/model_file.h"
#include "ebm/par.h"
#include "ebm/png.h"

static const char usage[] =
    "usage: ebm denoise CKPT --data FILE [--split S] --corrupt SPEC --method gibbs|meanfield\n"
    "                   --steps K --out FILE.h5 [--png FILE.png] [--n N] [--seed S]\n"
    "                   [--binarize threshold|stochastic]\n"
    "\n"
    "Corrupts every row of a dataset split and restores it under the RBM in CKPT.\n"
    "SPEC is one of\n"
    "  saltpepper:P       each pixel is hit with probability P and set to 0 or 1\n"
    "                     (P/2 each); every pixel gets its posterior mean E[x | y]\n"
    "  mask:bottom-half   the bottom half of each image is missing\n"
    "  mask:random:P      each pixel is missing with probability P\n"
    "Observed pixels of a mask stay as they are; missing ones get p(x_i = 1 | the\n"
    "observed pixels). gibbs averages p(v | h) over the last 3/4 of K clamped\n"
    "block-Gibbs sweeps; meanfield iterates v <- p(v | h = p(h | v)) K times.\n"
    "Prints the mean squared error, the fraction of wrong pixels (at 1/2) and\n"
    "the PSNR before and after, and writes /original, /corrupted, /mask (uint8)\n"
    "and /restored (float32) [N, V] with per-row errors (docs/denoise.md).\n"
    "\n"
    "  --data FILE          HDF5 dataset (docs/data.md)                  required\n"
    "  --split S            split to restore                             test\n"
    "  --corrupt SPEC       the corruption, as above                     required\n"
    "  --method M           gibbs or meanfield                           required\n"
    "  --steps K            sweeps (gibbs) or iterations (meanfield)     required\n"
    "  --out FILE.h5        the result (replaced; never an input)        required\n"
    "  --png FILE.png       original, corrupted and restored rows        none\n"
    "  --n N                only the first N rows of --split             all\n"
    "  --seed S             seed of the corruption and the chains        1\n"
    "  --binarize MODE      threshold (x > 1/2) or stochastic            threshold\n"
    "  --help               this text\n";

enum { CHUNK_ROWS = 256, PNG_COLS = 10, MAX_STEPS = 1000000 };

static const char *const modes[] = { "stochastic", "threshold", "none" };
static const char *const methods[] = { "gibbs", "meanfield" };

struct denoise_args {
    const char *ckpt, *data, *split, *out, *png, *corrupt;
    struct ebm_corruption c;
    int method;               /* -1 until given */
    int steps;                /* 0 until given */
    int64_t n;                /* 0: all rows */
    uint64_t seed;
    int binarize;
};

static ebm_status parse_args(int argc, char **argv, struct denoise_args *a)
{
    memset(a, 0, sizeof *a);
    a->split = "test";
    a->method = -1;
    a->seed = 1;
    a->binarize = 1;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        long long v;
        static const char *const valued[] = { "--data", "--split", "--corrupt", "--method",
                                              "--steps", "--out", "--png", "--n", "--seed",
                                              "--binarize" };
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
            if (!strcmp(f, valued[k]) && i + 1 >= argc)
                return EBM_FAIL(EBM_ERR_INPUT, "ebm denoise: %s needs a value (see ebm "
                                "denoise --help)", f);
        if (!strcmp(f, "--data")) a->data = argv[++i];
        else if (!strcmp(f, "--split")) a->split = argv[++i];
        else if (!strcmp(f, "--out")) a->out = argv[++i];
        else if (!strcmp(f, "--png")) a->png = argv[++i];
        else if (!strcmp(f, "--corrupt")) {
            a->corrupt = argv[++i];
            EBM_TRY(ebm_corruption_parse(a->corrupt, &a->c));
        } else if (!strcmp(f, "--method")) {
            const char *m = argv[++i];
            a->method = !strcmp(m, "gibbs") ? EBM_DENOISE_GIBBS
                        : !strcmp(m, "meanfield") ? EBM_DENOISE_MEANFIELD : -1;
            if (a->method < 0)
                return EBM_FAIL(EBM_ERR_INPUT, "ebm denoise: --method '%s': expected gibbs or "
                                "meanfield", m);
        } else if (!strcmp(f, "--steps")) {
            EBM_TRY(ebm_arg_int("denoise", f, argv[++i], 1, MAX_STEPS, &v));
            a->steps = (int)v;
        } else if (!strcmp(f, "--n")) {
            EBM_TRY(ebm_arg_int("denoise", f, argv[++i], 1, INT_MAX, &v));
            a->n = v;
        } else if (!strcmp(f, "--seed")) {
            EBM_TRY(ebm_arg_int("denoise", f, argv[++i], 0, (long long)(~0ull >> 1), &v));
            a->seed = (uint64_t)v;
        } else if (!strcmp(f, "--binarize")) {
            EBM_TRY(ebm_arg_binarize("denoise", argv[++i], &a->binarize));
            if (a->binarize == 2)
                return EBM_FAIL(EBM_ERR_INPUT, "ebm denoise: --binarize none: the noise model "
                                "needs binary pixels (use threshold or stochastic)");
        } else if (f[0] == '-') {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm denoise: unknown flag '%s' (see ebm denoise "
                            "--help)", f);
        } else if (!a->ckpt) {
            a->ckpt = f;
        } else {
            return EBM_FAIL(EBM_ERR_INPUT, "ebm denoise: unexpected argument '%s' (one CKPT "
                            "only)", f);
        }
    }
    if (!a->ckpt)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm denoise: missing CKPT (see ebm denoise --help)");
    const char *missing = !a->data ? "--data FILE" : !a->corrupt ? "--corrupt SPEC"
                          : a->method < 0 ? "--method gibbs|meanfield" : !a->steps ? "--steps K"
                          : !a->out ? "--out FILE.h5" : NULL;
    if (missing) return EBM_FAIL(EBM_ERR_INPUT, "ebm denoise: missing %s", missing);
    return EBM_OK;
}

/* Rank 0, before any work: neither output is an input or the other, and
 * both directories can take their file. */
static ebm_status check_outputs(const struct denoise_args *a)
{
    const char *inputs[] = { a->data, a->ckpt };
    EBM_TRY(ebm_check_out(a->out, inputs, 2));
    if (!a->png) return EBM_OK;
    if (!strcmp(a->png, a->out) || ebm_same_file(a->png, a->data) ||
        ebm_same_file(a->png, a->ckpt))
        return EBM_FAIL(EBM_ERR_INPUT, "ebm denoise: --png %s is the output or an input; "
                        "choose another file", a->png);
    char dir[4096];
    const char *slash = strrchr(a->png, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == a->png ? 1 : (int)(slash - a->png), a->png);
    if (access(dir, W_OK) != 0)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm denoise: --png %s: cannot write in %s", a->png, dir);
    return EBM_OK;
}

/* The rows of the run: this rank's, then (after gather) all of them on
 * rank 0. Pixels are 0/1 in the uint8 arrays. */
struct rows {
    int64_t n_total, first, n;
    int V;
    uint8_t *orig, *corrupted, *mask;    /* (n, V) */
    float *restored;                     /* (n, V) */
    double *err[4];                      /* (n): mse before, after, wrong before, after */
    int32_t *y;                          /* (n) labels, NULL when none */
};

static void rows_free(struct rows *s)
{
    free(s->orig);
    free(s->corrupted);
    free(s->mask);
    free(s->restored);
    for (int k = 0; k < 4; k++) free(s->err[k]);
    free(s->y);
}

/* Corrupts and restores this rank's rows of ds (binary) in chunks. */
static ebm_status restore_shard(const struct denoise_args *a, const struct rbm *m,
                                const struct ebm_dataset *ds, int rank, struct rows *s)
{
    size_t nv = (size_t)ds->n * ds->dim, n1 = ds->n ? (size_t)ds->n : 1;
    float *y = malloc(sizeof *y * (nv ? nv : 1));
    s->orig = malloc(nv ? nv : 1);
    s->corrupted = malloc(nv ? nv : 1);
    s->mask = malloc(nv ? nv : 1);
    s->restored = malloc(sizeof *s->restored * (nv ? nv : 1));
    for (int k = 0; k < 4; k++) s->err[k] = malloc(sizeof(double) * n1);
    struct ebm_denoiser d = { 0 };
    ebm_status st = EBM_OK;
    if (!y || !s->orig || !s->corrupted || !s->mask || !s->restored || !s->err[0] ||
        !s->err[1] || !s->err[2] || !s->err[3])
        st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory for %lld rows on rank %d",
                      (long long)ds->n, rank);
    if (st == EBM_OK)
        st = ebm_denoiser_init(&d, m, &a->c, (enum ebm_denoise_method)a->method, a->steps,
                               a->seed, CHUNK_ROWS);
    if (st == EBM_OK) {
        ebm_denoise_corrupt(&a->c, ds->x, (int)ds->n, ds->dim, ds->first, a->seed, y, s->mask);
        ebm_denoise_shard(&d, y, s->mask, ds->n, ds->first, s->restored);
        ebm_denoise_errors(ds->x, y, ds->n, ds->dim, s->err[0], s->err[2]);
        ebm_denoise_errors(ds->x, s->restored, ds->n, ds->dim, s->err[1], s->err[3]);
        for (size_t k = 0; k < nv; k++) {
            s->orig[k] = ds->x[k] > 0.5f;
            s->corrupted[k] = y[k] > 0.5f;
        }
    }
    ebm_denoiser_free(&d);
    free(y);
    return st;
}

/* Gathers n rows of `per` elements of base type onto rank 0, in global row
 * order (shards are contiguous and in rank order); a row type keeps the
 * counts in rows, so N * V may pass INT_MAX. Collective. */
static ebm_status gather(const struct ebm_par *par, const struct rows *s, void **data,
                         int per, MPI_Datatype base, size_t elem)
{
    int *counts = NULL, *displs = NULL;
    void *buf = NULL;
    ebm_status st = EBM_OK;
    if (par->rank == 0) {
        counts = malloc(sizeof *counts * (size_t)par->size);
        displs = malloc(sizeof *displs * (size_t)par->size);
        buf = malloc(elem * (size_t)per * (size_t)(s->n_total ? s->n_total : 1));
        if (!counts || !displs || !buf)
            st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory gathering %lld rows on rank 0",
                          (long long)s->n_total);
        for (int r = 0; st == EBM_OK && r < par->size; r++) {
            int64_t first, count;
            ebm_shard_range(s->n_total, r, par->size, &first, &count);
            counts[r] = (int)count;
            displs[r] = (int)first;
        }
    }
    st = ebm_par_agree(par, st);
    MPI_Datatype row = MPI_DATATYPE_NULL;
    int rc = MPI_SUCCESS;
    if (st == EBM_OK) rc = MPI_Type_contiguous(per, base, &row);
    if (st == EBM_OK && rc == MPI_SUCCESS) rc = MPI_Type_commit(&row);
    if (st == EBM_OK && rc == MPI_SUCCESS)
        rc = MPI_Gatherv(*data, (int)s->n, row, buf, counts, displs, row, 0, par->world);
    if (st == EBM_OK && rc != MPI_SUCCESS)
        st = ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "MPI_Gatherv");
    if (row != MPI_DATATYPE_NULL) MPI_Type_free(&row);
    st = ebm_par_agree(par, st);
    free(counts);
    free(displs);
    free(*data);
    *data = st == EBM_OK ? buf : NULL;
    if (st != EBM_OK) free(buf);
    return st;
}

static ebm_status gather_rows(const struct ebm_par *par, struct rows *s)
{
    EBM_TRY(gather(par, s, (void **)&s->orig, s->V, MPI_UINT8_T, 1));
    EBM_TRY(gather(par, s, (void **)&s->corrupted, s->V, MPI_UINT8_T, 1));
    EBM_TRY(gather(par, s, (void **)&s->mask, s->V, MPI_UINT8_T, 1));
    EBM_TRY(gather(par, s, (void **)&s->restored, s->V, MPI_FLOAT, sizeof(float)));
    for (int k = 0; k < 4; k++)
        EBM_TRY(gather(par, s, (void **)&s->err[k], 1, MPI_DOUBLE, sizeof(double)));
    if (s->y) EBM_TRY(gather(par, s, (void **)&s->y, 1, MPI_INT32_T, sizeof(int32_t)));
    return EBM_OK;
}

/* Rank 0's summary of all rows: means over every pixel, and the wrong
 * pixels among those the corruption hit or hid. */
struct summary {
    double mse[2], wrong[2], psnr[2];   /* before, after */
    int64_t marked;                     /* pixels with mask 1 */
    double marked_wrong[2];
    int image_h, image_w;
    double seconds;
};

static void summarise(const struct rows *s, struct summary *sum)
{
    for (int k = 0; k < 2; k++) {
        double se = 0.0, w = 0.0;
        for (int64_t r = 0; r < s->n_total; r++) {
            se += s->err[k][r];
            w += s->err[2 + k][r];
        }
        sum->mse[k] = s->n_total ? se / (double)s->n_total : NAN;
        sum->wrong[k] = s->n_total ? w / (double)s->n_total : NAN;
        sum->psnr[k] = ebm_psnr(sum->mse[k]);
    }
    int64_t wrong_before = 0, wrong_after = 0, marked = 0;
    for (size_t k = 0; k < (size_t)s->n_total * s->V; k++) {
        if (!s->mask[k]) continue;
        marked++;
        wrong_before += s->corrupted[k] != s->orig[k];
        wrong_after += (s->restored[k] > 0.5f) != s->orig[k];
    }
    sum->marked = marked;
    sum->marked_wrong[0] = marked ? (double)wrong_before / (double)marked : NAN;
    sum->marked_wrong[1] = marked ? (double)wrong_after / (double)marked : NAN;
}

/* ---- the output file ---------------------------------------------------------- */

static ebm_status write_dset(hid_t f, const char *path, const char *name, hid_t ftype,
                             hid_t mtype, int rank, int64_t n, int V, const void *data)
{
    ebm_status st = EBM_OK;
    hsize_t dims[2] = { (hsize_t)n, (hsize_t)V };
    hid_t space = H5Screate_simple(rank, dims, NULL), dset = -1;
    EBM_H5_OR(st, space, path, "H5Screate_simple");
    EBM_H5_OR(st, dset = H5Dcreate2(f, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT,
                                    H5P_DEFAULT), path, "H5Dcreate2");
    EBM_H5_OR(st, H5Dwrite(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), path, "H5Dwrite");
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    return st;
}

static ebm_status write_contents(hid_t f, const struct denoise_args *a, const struct rows *s,
                                 const struct summary *sum)
{
    const char *p = a->out;
    const hid_t U8 = H5T_STD_U8LE, MU8 = H5T_NATIVE_UINT8, F64 = H5T_IEEE_F64LE,
                DBL = H5T_NATIVE_DOUBLE, I64 = H5T_STD_I64LE, MI64 = H5T_NATIVE_INT64;
    int64_t n = s->n_total;
    EBM_TRY(write_dset(f, p, "original", U8, MU8, 2, n, s->V, s->orig));
    EBM_TRY(write_dset(f, p, "corrupted", U8, MU8, 2, n, s->V, s->corrupted));
    EBM_TRY(write_dset(f, p, "mask", U8, MU8, 2, n, s->V, s->mask));
    EBM_TRY(write_dset(f, p, "restored", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, n, s->V,
                       s->restored));
    static const char *const err_names[4] = { "mse_before", "mse_after", "wrong_before",
                                              "wrong_after" };
    for (int k = 0; k < 4; k++) EBM_TRY(write_dset(f, p, err_names[k], F64, DBL, 1, n, 1,
                                                   s->err[k]));
    if (s->y) EBM_TRY(write_dset(f, p, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, n, 1, s->y));
    const char *strs[][2] = { { "checkpoint", a->ckpt }, { "data", a->data },
                              { "split", a->split }, { "corrupt", a->corrupt },
                              { "method", methods[a->method] },
                              { "binarize", modes[a->binarize] } };
    for (size_t k = 0; k < sizeof strs / sizeof *strs; k++)
        EBM_TRY(ebm_h5_attr_str(f, p, strs[k][0], strs[k][1]));
    int64_t ints[][1] = { { a->steps }, { a->method == EBM_DENOISE_GIBBS
                                              ? ebm_denoise_burn_in(a->steps) : 0 },
                          { (int64_t)a->seed }, { sum->image_h }, { sum->image_w },
                          { sum->marked } };
    const char *int_names[] = { "steps", "burn_in", "seed", "image_h", "image_w",
                                "mask_pixels" };
    for (int k = 0; k < 6; k++) EBM_TRY(ebm_h5_attr(f, p, int_names[k], I64, MI64, ints[k]));
    const double dbl[] = { sum->mse[0], sum->mse[1], sum->psnr[0], sum->psnr[1],
                           sum->wrong[0], sum->wrong[1], sum->marked_wrong[0],
                           sum->marked_wrong[1] };
    const char *dbl_names[] = { "mse_before", "mse_after", "psnr_before", "psnr_after",
                                "wrong_before", "wrong_after", "mask_wrong_before",
                                "mask_wrong_after" };
    for (int k = 0; k < 8; k++) EBM_TRY(ebm_h5_attr(f, p, dbl_names[k], F64, DBL, &dbl[k]));
    return EBM_OK;
}

static ebm_status write_file(const struct denoise_args *a, const struct rows *s,
                             const struct summary *sum)
{
    char tmp[4200];
    const char *slash = strrchr(a->out, '/');
    int dir_len = slash ? (int)(slash - a->out + 1) : 0;
    snprintf(tmp, sizeof tmp, "%.*s.%s.tmp", dir_len, a->out, slash ? slash + 1 : a->out);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return EBM_H5_FAIL(EBM_ERR_IO, tmp, "H5Fcreate");
    ebm_status st = write_contents(f, a, s, sum);
    if (H5Fclose(f) < 0 && st == EBM_OK) st = EBM_H5_FAIL(EBM_ERR_IO, tmp, "H5Fclose");
    if (st == EBM_OK) {
        int err = ebm_h5_publish(tmp, a->out);
        if (err)
            st = EBM_FAIL(EBM_ERR_IO, "%s: cannot complete the file: %s", a->out, strerror(err));
    }
    if (st != EBM_OK) unlink(tmp);
    return st;
}

/* Three image rows of the first min(N, 10) examples: original, corrupted
 * (missing pixels dark gray, so the mask shows) and restored. */
static ebm_status write_png(const struct denoise_args *a, const struct rows *s,
                            const struct summary *sum)
{
    int cols = s->n_total < PNG_COLS ? (int)s->n_total : PNG_COLS, V = s->V;
    bool missing_gray = a->c.kind != EBM_CORRUPT_SALTPEPPER;
    float *tiles;
    EBM_ALLOC(tiles, (size_t)3 * cols * V);
    for (int t = 0; t < cols; t++)
        for (int i = 0; i < V; i++) {
            size_t k = (size_t)t * V + i;
            tiles[k] = s->orig[k];
            tiles[(size_t)cols * V + k] = missing_gray && s->mask[k] ? 0.3f : s->corrupted[k];
            tiles[(size_t)2 * cols * V + k] = s->restored[k];
        }
    ebm_status st = ebm_png_write_tiles(a->png, tiles, 3 * cols, V, 1, sum->image_h,
                                        sum->image_w, cols, false);
    free(tiles);
    return st;
}

/* ---- the command -------------------------------------------------------------- */

static void print_summary(const struct denoise_args *a, const struct rows *s,
                          const struct summary *sum, int ranks)
{
    int burn = a->method == EBM_DENOISE_GIBBS ? ebm_denoise_burn_in(a->steps) : 0;
    double pixels = (double)s->n_total * s->V;
    bool sp = a->c.kind == EBM_CORRUPT_SALTPEPPER;
    printf("data         %s /%s: %lld rows of %d pixels, binarized %s, %d rank%s\n", a->data,
           a->split, (long long)s->n_total, s->V, modes[a->binarize], ranks,
           ranks == 1 ? "" : "s");
    printf("corrupt      %s (seed %llu): %lld pixels %s (%.2f%%)\n", a->corrupt,
           (unsigned long long)a->seed, (long long)sum->marked, sp ? "hit" : "missing",
           pixels > 0 ? 100.0 * (double)sum->marked / pixels : 0.0);
    if (a->method == EBM_DENOISE_GIBBS)
        printf("method       gibbs, %d sweep%s, the last %d averaged (burn-in %d), %.2f s\n",
               a->steps, a->steps == 1 ? "" : "s", a->steps - burn, burn, sum->seconds);
    else
        printf("method       meanfield, %d iteration%s, %.2f s\n", a->steps,
               a->steps == 1 ? "" : "s", sum->seconds);
    const char *when[2] = { "before", "after" };
    for (int k = 0; k < 2; k++) {
        printf("%-12s mse %.6f  wrong %.4f%%  psnr %.2f dB", when[k], sum->mse[k],
               100.0 * sum->wrong[k], sum->psnr[k]);
        if (sum->marked)
            printf("  (%s pixels: wrong %.4f%%)", sp ? "hit" : "missing",
                   100.0 * sum->marked_wrong[k]);
        printf("\n");
    }
    printf("wrote        %s\n", a->out);
    if (a->png) printf("wrote        %s\n", a->png);
}

/* Reads and checks the data, then corrupts and restores this rank's rows. */
static ebm_status run_rows(struct denoise_args *a, const struct ebm_par *par,
                           const struct rbm *m, const struct ebm_model_info *info,
                           struct rows *s, struct summary *sum)
{
    struct ebm_dataset ds;
    EBM_TRY(ebm_par_agree(par, ebm_dataset_read_shard(a->data, a->split, a->n, par->world,
                                                      &ds)));
    ebm_status st = EBM_OK;
    /* The image shape: the data's, else the one the model was trained on. */
    sum->image_h = ds.image_h * ds.image_w == ds.dim ? ds.image_h : info->image_h;
    sum->image_w = ds.image_h * ds.image_w == ds.dim ? ds.image_w : info->image_w;
    if (ds.dim != m->n_visible)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: /%s/x has %d columns but the model in %s has %d "
                      "visible units", a->data, a->split, ds.dim, a->ckpt, m->n_visible);
    else if (ds.n_total > INT_MAX || ds.n_total == 0)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: /%s has %lld rows; ebm denoise takes 1 to %d "
                      "(use --n)", a->data, a->split, (long long)ds.n_total, INT_MAX);
    else if (a->png && sum->image_h * sum->image_w != ds.dim)
        st = EBM_FAIL(EBM_ERR_INPUT, "ebm denoise: --png needs images, but neither %s nor %s "
                      "has an image shape", a->data, a->ckpt);
    if (st == EBM_OK) {
        bool image = sum->image_h * sum->image_w == ds.dim;
        a->c.image_h = image ? sum->image_h : 0;
        a->c.image_w = image ? sum->image_w : 0;
        s->n_total = ds.n_total;
        s->first = ds.first;
        s->n = ds.n;
        s->V = ds.dim;
        st = ebm_eval_binarize(ds.x, ds.n, ds.dim, ds.first, a->seed, a->binarize);
    }
    if (st == EBM_OK) {
        double t0 = MPI_Wtime();
        st = restore_shard(a, m, &ds, par->rank, s);
        sum->seconds = MPI_Wtime() - t0;
    }
    if (st == EBM_OK) {
        s->y = ds.y;  /* the labels travel with the rows */
        ds.y = NULL;
    }
    ebm_dataset_free(&ds);
    st = ebm_par_agree(par, st);
    /* The slowest rank's time is the run's. */
    if (st == EBM_OK)
        st = ebm_par_agree(par, ebm_par_max_d(par, &sum->seconds, 1));
    return st;
}

static ebm_status denoise(struct denoise_args *a)
{
    struct ebm_par par;
    EBM_TRY(ebm_par_init(&par, MPI_COMM_WORLD));
    ebm_blas_set_threads(par.node_size);
    struct rbm m = { 0 };
    struct ebm_model_info info;
    struct rows s = { 0 };
    struct summary sum = { 0 };
    char type[64] = "";
    int have_model = 0;
    ebm_status st = ebm_par_agree(&par, par.rank == 0 ? check_outputs(a) : EBM_OK);
    if (st == EBM_OK) st = ebm_par_agree(&par, ebm_model_type(a->ckpt, par.world, type, sizeof type));
    if (st == EBM_OK && strcmp(type, "rbm") != 0)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s holds a %s; ebm denoise works on RBM checkpoints "
                      "for now", a->ckpt, type);
    if (st == EBM_OK) {
        st = ebm_par_agree(&par, ebm_model_read_rbm(a->ckpt, par.world, &m, &info));
        have_model = st == EBM_OK;
    }
    if (st == EBM_OK && (!rbm_is_binary(&m) || m.n_labels > 0))
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: an rbm with %s visible and %s hidden units%s; ebm "
                      "denoise takes bernoulli RBMs without label units for now", a->ckpt,
                      ebm_unit_type_name(m.vis.type), ebm_unit_type_name(m.hid.type),
                      m.n_labels ? " and label units" : "");
    if (st == EBM_OK) st = run_rows(a, &par, &m, &info, &s, &sum);
    if (st == EBM_OK) st = gather_rows(&par, &s);
    if (st == EBM_OK && par.rank == 0) {
        summarise(&s, &sum);
        st = write_file(a, &s, &sum);
        if (st == EBM_OK && a->png) st = write_png(a, &s, &sum);
    }
    st = ebm_par_agree(&par, st);
    if (st == EBM_OK && par.rank == 0) {
        print_summary(a, &s, &sum, par.size);
        fflush(stdout);
    }
    rows_free(&s);
    if (have_model) rbm_free(&m);
    ebm_par_free(&par);
    return st;
}

int ebm_cmd_denoise(int argc, char **argv)
{
    if (ebm_cmd_help(argc, argv, usage)) return 0;
    struct denoise_args a;
    ebm_status st = parse_args(argc, argv, &a);
    if (st == EBM_OK) st = denoise(&a);
    return ebm_cmd_finish(st);
}
