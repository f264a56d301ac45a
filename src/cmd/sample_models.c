/* ebm sample for the models that are not RBMs or DBNs: the fully visible
 * BM (sequential Gibbs or MH) and the DBM (alternating Gibbs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/bm.h"
#include "ebm/dbm.h"
#include "ebm/dataset.h"
#include "ebm/diagnostics.h"
#include "ebm/kernels.h"
#include "ebm/model_file.h"
#include "ebm/units.h"

#include "sample_cmd.h"

/* A fully visible BM: sequential-Gibbs chains (one systematic sweep per
 * step, each chain its own stream keyed by its global index) or
 * Metropolis-Hastings, from uniform random states; the states are the
 * samples, written as intensities. Collective. */
ebm_status ebm_sample_bm(const struct sample_args *a, const struct ebm_par *par)
{
    struct bm m = { 0 };
    struct ebm_model_info info = { 0 };
    struct bm_chains g = { 0 };
    struct ebm_mcmc s = { 0 };
    struct ebm_target t;
    float *x = NULL, *all = NULL;
    double *trace = NULL;
    int *counts = NULL;
    int64_t first, count;
    ebm_shard_range(a->n, par->rank, par->size, &first, &count);
    ebm_status st = ebm_par_agree(par, ebm_model_read_bm(a->ckpt, par->world, &m, &info));
    if (st != EBM_OK) return st;
    int D = m.n_units, K = a->steps;
    if (a->kind == OUT_PNG && info.image_h <= 0)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: the model has no image shape (its training data "
                      "had no image_shape), so it cannot be drawn; use --out FILE.h5", a->ckpt);
    else if (a->mcmc && a->sampler != EBM_MCMC_MH)
        st = EBM_FAIL(EBM_ERR_INPUT, "--sampler %s needs real-valued (gaussian) visible units; "
                      "the bm in %s has %s units (use gibbs or mh)",
                      ebm_mcmc_kind_name(a->sampler), a->ckpt, m.spin ? "spin" : "bernoulli");
    else if (a->step > 0)
        st = EBM_FAIL(EBM_ERR_INPUT, "--step: --sampler mh on a bm proposes single-unit flips "
                      "and takes no step size");
    else if (a->init_data)
        st = EBM_FAIL(EBM_ERR_INPUT, "--init data is for RBMs and DBNs; a bm's chains start "
                      "from random states");
    if (st == EBM_OK) st = bm_chains_init(&g, D, (int)count, first, a->seed, EBM_RNG_GIBBS);
    if (st == EBM_OK && a->mcmc) {
        struct ebm_mcmc_opts o = { .kind = EBM_MCMC_MH, .scan = EBM_SCAN_RANDOM };
        st = ebm_target_bm(&m, &t);
        if (st == EBM_OK) st = ebm_mcmc_init(&s, &t, &o, (int)count, first, a->seed);
    }
    if (st == EBM_OK) {
        x = calloc((size_t)count * D + 1, sizeof *x);
        trace = a->diagnostics ? calloc((size_t)count * K + 1, sizeof *trace) : NULL;
        if (par->rank == 0) {
            all = malloc(((size_t)a->n * D) * sizeof *all);
            counts = calloc(2 * (size_t)par->size, sizeof *counts);
        }
        if (!x || (a->diagnostics && !trace) || (par->rank == 0 && (!all || !counts)))
            st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory for %d samples of %d units on rank %d",
                          a->n, D, par->rank);
    }
    st = ebm_par_agree(par, st);
    struct ebm_mcmc_counts c = { 0 };
    struct ebm_trace_diag diag = { 0 };
    if (st == EBM_OK) {
        bm_chains_random_init(&g, m.spin, x);
        for (int k = 0; k < K; k++) {
            if (a->mcmc) ebm_mcmc_run(&s, x, 1, &c);
            else bm_gibbs_sweep(&m, &g, x, 1);
            if (!trace) continue;
            for (int64_t r0 = 0; r0 < count; r0 += 256) {
                double e[256];
                int rows = (int)(count - r0 < 256 ? count - r0 : 256);
                bm_energy(&m, x + r0 * D, rows, e);
                for (int r = 0; r < rows; r++) trace[(r0 + r) * K + k] = e[r];
            }
        }
        int64_t n2[2] = { c.proposed, c.accepted };
        int rc = MPI_Allreduce(MPI_IN_PLACE, n2, 2, MPI_INT64_T, MPI_SUM, par->world);
        if (rc != MPI_SUCCESS) st = ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "MPI_Allreduce");
        c.proposed = n2[0];
        c.accepted = n2[1];
        if (st == EBM_OK && trace) st = ebm_diagnose_comm(trace, (int)count, K, par->world, &diag);
        ebm_units_to_intensity(m.spin ? EBM_UNIT_SPIN : EBM_UNIT_BERNOULLI, x, count, D, NULL,
                               NULL);
    }
    st = ebm_par_agree(par, st);
    if (st == EBM_OK)
        st = ebm_sample_collect(par, a, x, count, D, all, counts, info.image_h, info.image_w);
    if (st == EBM_OK && par->rank == 0) {
        printf("wrote %d sample%s (%d %s step%s", a->n, a->n == 1 ? "" : "s", K,
               a->mcmc ? "Metropolis-Hastings" : "sequential-Gibbs", K == 1 ? "" : "s");
        if (a->mcmc)
            printf(", acceptance %.4f", c.proposed > 0 ? (double)c.accepted / (double)c.proposed
                                                       : 0.0);
        printf(", bm of %d %s units, init random) -> %s\n", D, m.spin ? "spin" : "binary",
               a->out);
        if (a->diagnostics)
            printf("diagnostics: energy traces of %d chains x %d steps: ESS %.1f (per chain: "
                   "min %.1f, mean %.1f), split-R-hat %.4f%s\n", diag.chains, diag.draws,
                   diag.ess, diag.ess_chain_min, diag.ess_chain_mean, diag.rhat,
                   diag.rhat > 1.01 ? "  (above 1.01: the chains have not mixed; run more steps)"
                                    : "");
    }
    free(x);
    free(all);
    free(counts);
    free(trace);
    ebm_mcmc_free(&s);
    bm_chains_free(&g);
    bm_free(&m);
    return st;
}

/* A DBM: chains of alternating odd/even block Gibbs from uniform random
 * states, chain i on its own stream (seed, i), one chain at a time so that
 * a chain's path does not depend on the rank count; writes each chain's
 * last p(v | h_1). Collective. */
ebm_status ebm_sample_dbm(const struct sample_args *a, const struct ebm_par *par)
{
    struct dbm m = { 0 };
    struct ebm_model_info info = { 0 };
    float *x[EBM_DBM_MAX_HIDDEN + 1] = { 0 }, *in = NULL, *pv = NULL, *all = NULL;
    int *counts = NULL;
    int64_t first, count;
    ebm_shard_range(a->n, par->rank, par->size, &first, &count);
    ebm_status st = ebm_par_agree(par, ebm_model_read_dbm(a->ckpt, par->world, &m, &info));
    if (st != EBM_OK) return st;
    int L = m.n_hidden_layers, V = m.sizes[0], widest = 0;
    if (a->kind == OUT_PNG && info.image_h <= 0)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: the model has no image shape (its training data "
                      "had no image_shape), so it cannot be drawn; use --out FILE.h5", a->ckpt);
    else if (a->mcmc || a->init_data || a->diagnostics)
        st = EBM_FAIL(EBM_ERR_INPUT, "ebm sample on a dbm runs Gibbs chains from random states: "
                      "--sampler, --init data and --diagnostics are for RBMs");
    for (int k = 0; k <= L; k++) widest = m.sizes[k] > widest ? m.sizes[k] : widest;
    if (st == EBM_OK) {
        for (int k = 0; k <= L; k++) x[k] = calloc((size_t)m.sizes[k], sizeof(float));
        in = calloc((size_t)widest, sizeof *in);
        pv = calloc((size_t)count * V + 1, sizeof *pv);
        if (par->rank == 0) {
            all = malloc(((size_t)a->n * V) * sizeof *all);
            counts = calloc(2 * (size_t)par->size, sizeof *counts);
        }
        int ok = in && pv && (par->rank != 0 || (all && counts));
        for (int k = 0; k <= L; k++) ok = ok && x[k];
        if (!ok) st = EBM_FAIL(EBM_ERR_NOMEM, "out of memory on rank %d", par->rank);
    }
    st = ebm_par_agree(par, st);
    for (int64_t r = 0; st == EBM_OK && r < count; r++) {
        struct ebm_rng rng;
        ebm_rng_init(&rng, a->seed, (uint32_t)(first + r), EBM_RNG_GIBBS);
        struct dbm_state s;
        for (int k = 0; k <= L; k++) {
            s.x[k] = x[k];
            ebm_rng_uniform(&rng, x[k], (size_t)m.sizes[k]);
            for (int i = 0; i < m.sizes[k]; i++) x[k][i] = x[k][i] < 0.5f ? 1.0f : 0.0f;
        }
        dbm_gibbs(&m, &s, 1, a->steps, in, &rng);
        /* the visible means given the last h_1: a sample with less noise */
        dbm_layer_input(&m, &s, 0, 1, pv + r * V);
        ebm_sigmoid_bias(pv + r * V, m.b[0], 1, V);
    }
    st = ebm_par_agree(par, st);
    if (st == EBM_OK)
        st = ebm_sample_collect(par, a, pv, count, V, all, counts, info.image_h, info.image_w);
    if (st == EBM_OK && par->rank == 0)
        printf("wrote %d sample%s (%d alternating Gibbs step%s of a dbm, init random) -> %s\n",
               a->n, a->n == 1 ? "" : "s", a->steps, a->steps == 1 ? "" : "s", a->out);
    for (int k = 0; k <= L; k++) free(x[k]);
    free(in);
    free(pv);
    free(all);
    free(counts);
    dbm_free(&m);
    return st;
}
