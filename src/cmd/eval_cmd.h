/* What `ebm eval` shares between its files: the parsed flags, the RBM
 * report's printers and row loading (src/cmd/eval.c), and the RBM's
 * evaluation on a process grid (src/cmd/eval_grid.c). */
#ifndef EBM_EVAL_CMD_H
#define EBM_EVAL_CMD_H

#include <stdint.h>

#include "ebm/dataset.h"
#include "ebm/evaluate.h"
#include "ebm/par.h"
#include "ebm/rbm.h"

struct eval_args {
    const char *ckpt, *data, *split;
    struct ebm_eval_opts opts;
    int binarize; /* 0 stochastic, 1 threshold, 2 none */
    int64_t max_examples;
    int json;
    int bound_samples;       /* 0 until given */
    int ais_kept;            /* DBM: 0 even layers, 1 odd (--ais-keep) */
    int ais_base_rates;      /* DBM: hidden base at mean-field rates (--ais-base rates) */
    int dbm_flag_given;      /* --ais-keep or --ais-base */
    const char *grid;        /* --grid PrxPc, NULL for none */
    int block;               /* --block, 0 until given */
};

/* Rank 0: the RBM report, as text or one JSON object. */
void eval_print_text(const struct eval_args *a, const struct rbm *m,
                     const struct ebm_eval_result *r, double log_jacobian, double secs,
                     int ranks);
void eval_print_json(const struct eval_args *a, const struct rbm *m,
                     const struct ebm_eval_result *r, double log_jacobian, double secs);
/* Collective over par: this rank's rows of the split, checked against the
 * model's visible units and made into its visible values. */
ebm_status eval_load_rows(const struct eval_args *a, const struct ebm_par *par,
                          const struct rbm *m, struct ebm_dataset *ds, double *log_jacobian);
/* The RBM with W on a --grid PrxPc process grid (no rank holds W). */
ebm_status eval_rbm_grid(const struct eval_args *a, const struct ebm_par *par, double t0);

#endif
