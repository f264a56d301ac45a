/* ebm eval --grid PrxPc: an RBM checkpoint evaluated with W block-cyclic
 * over each replica's process grid, read block by block from the file
 * (ebm/grid_eval.h); the report is the data-parallel one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>

#include "ebm/checkpoint.h"
#include "ebm/grid.h"
#include "ebm/grid_eval.h"
#include "ebm/model_file.h"

#include "eval_cmd.h"

enum { CHUNK_ROWS = 256 };

/* The checkpoint's shape, and that it is an RBM the grid evaluates: bernoulli
 * units, no label units, no standardisation. */
static ebm_status read_shape(struct ebm_ckpt *ck, int *V, int *H)
{
    int64_t v, h, labels = 0;
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/model", "n_visible", &v));
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/model", "n_hidden", &h));
    enum ebm_unit_type vis, hid;
    EBM_TRY(ebm_ckpt_read_units(ck, &vis, &hid));
    if (ebm_ckpt_read_attr_i64(ck, "/model", "n_labels", &labels) != EBM_OK) ebm_error_clear();
    if (vis != EBM_UNIT_BERNOULLI || hid != EBM_UNIT_BERNOULLI || labels != 0)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: --grid evaluates a bernoulli rbm without label "
                        "units; this one has %s visible and %s hidden units and %lld labels "
                        "(leave out --grid)", ck->path, ebm_unit_type_name(vis),
                        ebm_unit_type_name(hid), (long long)labels);
    if (v < 1 || h < 1 || v > (1 << 30) || h > (1 << 30))
        return EBM_FAIL(EBM_ERR_INPUT, "%s: damaged model: %lld x %lld", ck->path, (long long)v,
                        (long long)h);
    *V = (int)v;
    *H = (int)h;
    return EBM_OK;
}

/* W block by block, the biases whole. Collective over the checkpoint's ranks. */
static ebm_status read_model(struct ebm_ckpt *ck, struct ebm_grid_rbm *m)
{
    int64_t vd = m->V, hd = m->H;
    EBM_TRY(ebm_ckpt_read_dmatrix(ck, "/model/W", &m->W));
    EBM_TRY(ebm_ckpt_read_f32(ck, "/model/vbias", m->bias, 1, &vd));
    return ebm_ckpt_read_f32(ck, "/model/hbias", m->bias + m->V, 1, &hd);
}

ebm_status eval_rbm_grid(const struct eval_args *a, const struct ebm_par *par, double t0)
{
    if (a->bound_samples)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm eval: --bound-samples applies to DBN checkpoints; "
                        "%s holds an rbm", a->ckpt);
    int pr, pc, V = 0, H = 0;
    EBM_TRY(ebm_grid_parse(a->grid, &pr, &pc));
    struct ebm_grid g;
    ebm_status st = ebm_grid_init(&g, par->world, pr, pc);
    if (st != EBM_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", ebm_error_message());
        ebm_error_clear();
        return EBM_FAIL(EBM_ERR_INPUT, "ebm eval: --grid %s: %s", a->grid, why);
    }
    struct ebm_ckpt ck;
    st = ebm_par_agree(par, ebm_ckpt_open(&ck, a->ckpt, par->world));
    if (st == EBM_OK) {
        st = ebm_par_agree(par, read_shape(&ck, &V, &H));
        struct ebm_grid_rbm m = { 0 };
        if (st == EBM_OK)
            st = ebm_grid_rbm_init_model(&m, &g, V, H, CHUNK_ROWS, a->block ? a->block : 64);
        if (st == EBM_OK) st = ebm_par_agree(par, read_model(&ck, &m));
        ebm_ckpt_close(&ck);
        /* The rows: one shard per replica, every rank of it holding the shard. */
        struct ebm_par replicas = { 0 };
        struct ebm_dataset ds = { 0 };
        struct rbm shape = { .n_visible = V, .n_hidden = H }; /* bernoulli units */
        double log_jacobian = 0.0;
        if (st == EBM_OK) st = ebm_par_agree(par, ebm_par_init(&replicas, g.across_comm));
        if (st == EBM_OK)
            st = ebm_par_agree(par, eval_load_rows(a, &replicas, &shape, &ds, &log_jacobian));
        struct ebm_eval_result r;
        if (st == EBM_OK)
            st = ebm_par_agree(par, ebm_grid_evaluate(&m, ds.x, ds.n, ds.first, &a->opts, &r));
        double secs = MPI_Wtime() - t0;
        if (st == EBM_OK && par->rank == 0) {
            struct eval_args used = *a;
            used.opts.pseudo_likelihood = false;
            if (a->json) eval_print_json(&used, &shape, &r, log_jacobian, secs);
            else eval_print_text(&used, &shape, &r, log_jacobian, secs, par->size);
            fflush(stdout);
        }
        ebm_dataset_free(&ds);
        if (replicas.size > 0) ebm_par_free(&replicas); /* set by a successful init */
        ebm_grid_rbm_free(&m);
    }
    ebm_grid_free(&g);
    return st;
}
