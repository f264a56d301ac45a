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
/* Collective: rank 0 gathers every rank's count rows (V values each) into
 * all (a->n rows), in rank (= chain) order, and writes them to --out (a
 * tile picture or /samples); every rank returns the same status. scratch
 * is rank 0's 2 * par->size ints. */
ebm_status ebm_sample_collect(const struct ebm_par *par, const struct sample_args *a,
                              const float *rows, int64_t count, int V, float *all, int *scratch,
                              int image_h, int image_w);
/* The fully visible BM and the DBM. Collective. */
ebm_status ebm_sample_bm(const struct sample_args *a, const struct ebm_par *par);
ebm_status ebm_sample_dbm(const struct sample_args *a, const struct ebm_par *par);

#endif
