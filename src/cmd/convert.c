/* `ebm convert`: turns IDX image/label files into one split of an HDF5
 * dataset. Rank 0 does the work (the writer is serial); every rank returns
 * the same exit status. */
#include "ebm/cmd.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>

#include "ebm/dataset.h"
#include "ebm/error.h"
#include "ebm/idx.h"

static const char usage[] =
    "usage: ebm convert idx --images FILE [--labels FILE] --split NAME --out FILE.h5\n"
    "       ebm convert --help\n"
    "\n"
    "Converts IDX files (plain or .gz) into the split /NAME of an HDF5 dataset\n"
    "(layout in docs/data.md). The file is created if missing; an existing\n"
    "split of the same name is replaced, other splits are kept.\n"
    "\n"
    "  --images FILE  unsigned-byte IDX, [N, H, W] (images) or [N, D]\n"
    "  --labels FILE  unsigned-byte IDX, [N]; optional\n"
    "  --split NAME   e.g. train or test\n"
    "  --out FILE     HDF5 file to write\n";

struct convert_args {
    const char *images, *labels, *split, *out;
};

/* Returns -1 to go on, or the exit status to stop with (0 after --help,
 * 2 on bad flags). */
static int parse_args(int argc, char **argv, struct convert_args *a)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 2) {
        fprintf(stderr, "ebm: error: ebm convert: missing format (see ebm convert --help)\n");
        return 2;
    }
    if (strcmp(argv[1], "idx") != 0) {
        fprintf(stderr, "ebm: error: ebm convert: unknown format '%s'; supported: idx (see ebm convert --help)\n",
                argv[1]);
        return 2;
    }
    struct { const char *flag; const char **dst; } flags[] = {
        { "--images", &a->images }, { "--labels", &a->labels },
        { "--split", &a->split },   { "--out", &a->out },
    };
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        const char *arg = argv[i], *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        int matched = 0;
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            if (strlen(flags[f].flag) != name_len || strncmp(arg, flags[f].flag, name_len)) continue;
            /* "--split --out x" means a forgotten value, not a split named "--out". */
            const char *value = eq ? eq + 1 : (i + 1 < argc && strncmp(argv[i + 1], "--", 2) ? argv[++i] : NULL);
            if (!value || !value[0]) {
                fprintf(stderr, "ebm: error: ebm convert: flag '%s' needs a value (see ebm convert --help)\n",
                        flags[f].flag);
                return 2;
            }
            *flags[f].dst = value;
            matched = 1;
            break;
        }
        if (!matched) {
            fprintf(stderr, "ebm: error: ebm convert: unknown %s '%s' (see ebm convert --help)\n",
                    arg[0] == '-' ? "flag" : "argument", arg);
            return 2;
        }
    }
    const char *missing = !a->images ? "--images" : !a->split ? "--split" : !a->out ? "--out" : NULL;
    if (missing) {
        fprintf(stderr, "ebm: error: ebm convert: missing required flag %s (see ebm convert --help)\n", missing);
        return 2;
    }
    return -1;
}

static ebm_status convert_idx(const struct convert_args *a)
{
    ebm_status st = EBM_OK;
    struct ebm_idx images = { 0 }, labels = { 0 };
    int32_t *y = NULL;
    EBM_TRY_GOTO(st, ebm_idx_read(a->images, &images), done);

    int64_t n = images.dims[0];
    int64_t d = 0;
    int h = 0, w = 0;
    if (images.ndim == 3) {
        d = images.dims[1] * images.dims[2];
        h = (int)images.dims[1];
        w = (int)images.dims[2];
    } else if (images.ndim == 2) {
        d = images.dims[1];
    } else {
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: images must be 3-D [N, H, W] or 2-D [N, D], found %d-D",
                      a->images, images.ndim);
        goto done;
    }
    if (d > INT_MAX / 4 || (images.ndim == 3 && (images.dims[1] > INT_MAX || images.dims[2] > INT_MAX))) {
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: rows of %lld values are too long", a->images, (long long)d);
        goto done;
    }

    if (a->labels) {
        EBM_TRY_GOTO(st, ebm_idx_read(a->labels, &labels), done);
        if (labels.ndim != 1) {
            st = EBM_FAIL(EBM_ERR_INPUT, "%s: labels must be 1-D [N], found %d-D", a->labels,
                          labels.ndim);
            goto done;
        }
        if (labels.dims[0] != n) {
            st = EBM_FAIL(EBM_ERR_INPUT, "%s has %lld labels but %s has %lld images",
                          a->labels, (long long)labels.dims[0], a->images, (long long)n);
            goto done;
        }
        y = malloc((size_t)n * sizeof *y);
        if (!y) {
            st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory for %lld labels", (long long)n);
            goto done;
        }
        for (int64_t i = 0; i < n; i++) y[i] = labels.data[i];
    }

    EBM_TRY_GOTO(st, ebm_dataset_write_u8(a->out, a->split, images.data, n, (int)d, y, h, w), done);
    if (h > 0)
        printf("wrote /%s: %lld x %lld (%dx%d), labels %s -> %s\n", a->split, (long long)n,
               (long long)d, h, w, y ? "yes" : "no", a->out);
    else
        printf("wrote /%s: %lld x %lld, labels %s -> %s\n", a->split, (long long)n,
               (long long)d, y ? "yes" : "no", a->out);
    fflush(stdout);
done:
    free(y);
    ebm_idx_free(&labels);
    ebm_idx_free(&images);
    return st;
}

int ebm_cmd_convert(int argc, char **argv)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int code = 0;
    if (rank == 0) {
        struct convert_args a = { 0 };
        code = parse_args(argc, argv, &a);
        if (code < 0) {
            ebm_status st = convert_idx(&a);
            if (st != EBM_OK) fprintf(stderr, "ebm: error: %s\n", ebm_error_message());
            code = ebm_status_exit_code(st);
        }
        fflush(stderr);
    }
    /* Other ranks only wait for the outcome, so `mpirun -np 4 ebm convert`
     * behaves like one process. */
    if (MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS && code == 0) code = 1;
    return code;
}
