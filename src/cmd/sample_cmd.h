/* What `ebm sample` shares between its files: the parsed flags, the
 * writers, and the samplers of the models without hidden-unit RBMs
 * (src/cmd/sample_models.c: the fully visible BM and the DBM). */
#ifndef EBM_SAMPLE_CMD_H
#define EBM_SAMPLE_CMD_H

#include <stdint.h>

#include "ebm/error.h"
#include "ebm/mcmc.h"
#include "ebm/par.h"

enum out_kind { OUT_PNG, OUT_H5 };

struct sample_args {
    const char *ckpt, *out, *data, *split;
    int n, steps;              /* 0 until given */
    int init_data;             /* --init data */
    uint64_t seed;
    int mcmc;                  /* --sampler other than gibbs */
    enum ebm_mcmc_kind sampler; /* which, when mcmc */
    double step;               /* --step, 0 until given */
    int diagnostics;
    enum out_kind kind;
};

/* Rank 0: x (n, V) as /samples, with what made it as attributes, written
 * under a temporary name and renamed when complete. */
ebm_status ebm_sample_write_h5(const char *path, const float *x, int n, int V, int image_h,
                               int image_w, const struct sample_args *a);
/* Rank 0: the n rows of all (n, V) to --out, a tile picture or /samples. */
ebm_status ebm_sample_write(const struct sample_args *a, const float *all, int V, int image_h,
                            int image_w);
/* Rank 0 receives every rank's rows into all, in rank (= chain) order;
 * counts and displs are rank 0's scratch of par->size ints each. */
ebm_status ebm_sample_gather_rows(const struct ebm_par *par, const float *rows, int64_t count,
                                  int V, int n, float *all, int *counts, int *displs);
/* The fully visible BM and the DBM. Collective. */
ebm_status ebm_sample_bm(const struct sample_args *a, const struct ebm_par *par);
ebm_status ebm_sample_dbm(const struct sample_args *a, const struct ebm_par *par);

#endif
