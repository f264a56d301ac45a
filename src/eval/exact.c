#include "ebm/logz.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "ebm/kernels.h"
#include "ebm/par.h"

void ebm_lse_init(struct ebm_lse *a)
{
    a->max = -INFINITY;
    a->sum = 0.0;
}

void ebm_lse_add(struct ebm_lse *a, double x)
{
    if (x > a->max) {
        a->sum = a->sum * exp(a->max - x) + 1.0;
        a->max = x;
    } else {
        a->sum += exp(x - a->max);
    }
}

double ebm_lse_value(const struct ebm_lse *a)
{
    return a->max + log(a->sum);
}

ebm_status ebm_lse_allreduce(struct ebm_lse *a, MPI_Comm comm, double *out)
{
    double mx = a->max;
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &mx, 1, MPI_DOUBLE, MPI_MAX, comm));
    double s = a->sum > 0 ? a->sum * exp(a->max - mx) : 0.0;
    EBM_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPI_DOUBLE, MPI_SUM, comm));
    *out = mx + log(s);
    return EBM_OK;
}

enum { BLOCK = 256 }; /* states per GEMM */

/* The layer summed out analytically, as double-precision numbers. */
struct big_layer {
    enum ebm_unit_type type;
    const double *bias;      /* (big) */
    const double *log_sigma; /* (big) Gaussian only */
    int labels;              /* the last `labels` units are one softmax group */
};

/* log sum_x exp(-E_k(x) + x-coupling * in) of one unit of the big layer
 * (ebm/units.h, in double): softplus, log 2cosh, or the Gaussian integral. */
static double unit_log_partition(const struct big_layer *l, int k, double in)
{
    switch (l->type) {
    case EBM_UNIT_SPIN: {
        double y = fabs(in + l->bias[k]);
        return y + log1p(exp(-2.0 * y));
    }
    case EBM_UNIT_GAUSSIAN: {
        double ls = l->log_sigma[k];
        return in * (in + 2.0 * l->bias[k]) * 0.5 * exp(-2.0 * ls) + 0.91893853320467274178 + ls;
    }
    default: return ebm_softplus(in + l->bias[k]);
    }
}

/* Adds log sum_{big layer} exp(-E) for states [first, first + count) of
 * the small (discrete) layer: with s a small-layer state, that is
 *   s . small_bias + sum_k log_partition_k((s W_small,big)_k).
 * Bit i of the state's code is unit i: 1 is on, 0 is off (0, or -1 for
 * spins). */
static void enumerate(const double *W, int small, int big, int small_is_hidden,
                      enum ebm_unit_type small_type, const double *small_bias,
                      const struct big_layer *bl, uint64_t first, uint64_t count, double *S,
                      double *X, struct ebm_lse *acc)
{
    double off = small_type == EBM_UNIT_SPIN ? -1.0 : 0.0;
    for (uint64_t s0 = 0; s0 < count; s0 += BLOCK) {
        int rows = (int)(count - s0 < BLOCK ? count - s0 : BLOCK);
        for (int r = 0; r < rows; r++) {
            uint64_t code = first + s0 + (uint64_t)r;
            for (int i = 0; i < small; i++)
                S[(size_t)r * small + i] = (code >> i) & 1u ? 1.0 : off;
        }
        /* W is (V, H): hidden states need S W', visible states S W. */
        if (small_is_hidden)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, big, small, 1.0, S,
                        small, W, small, 0.0, X, big);
        else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, big, small, 1.0, S,
                        small, W, big, 0.0, X, big);
        for (int r = 0; r < rows; r++) {
            double t = 0.0;
            for (int i = 0; i < small; i++) t += S[(size_t)r * small + i] * small_bias[i];
            const double *xr = X + (size_t)r * big;
            int single = big - bl->labels;
            for (int k = 0; k < single; k++) t += unit_log_partition(bl, k, xr[k]);
            if (bl->labels) { /* log sum_k exp(b_k + in_k) over the label group */
                double mx = -INFINITY, sum = 0.0;
                for (int k = single; k < big; k++) mx = fmax(mx, xr[k] + bl->bias[k]);
                for (int k = single; k < big; k++) sum += exp(xr[k] + bl->bias[k] - mx);
                t += mx + log(sum);
            }
            ebm_lse_add(acc, t);
        }
    }
}

ebm_status rbm_exact_log_z(const struct rbm *m, MPI_Comm comm, double *log_z)
{
    int V = m->n_visible, H = m->n_hidden;
    /* Gaussian visible units cannot be enumerated, nor can label units be
     * as independent bits: the hidden layer is. */
    int small_is_hidden = H <= V || m->vis.type == EBM_UNIT_GAUSSIAN || m->n_labels > 0;
    int small = small_is_hidden ? H : V, big = small_is_hidden ? V : H;
    if (small > EBM_EXACT_MAX_UNITS)
        return EBM_FAIL(EBM_ERR_INPUT, "exact log Z enumerates the %s layer, at most %d "
                        "units; this RBM is %d x %d (use AIS)",
                        m->vis.type == EBM_UNIT_GAUSSIAN || m->n_labels ? "hidden" : "smaller",
                        EBM_EXACT_MAX_UNITS, V, H);
    int rank, size;
    EBM_MPI_TRY(MPI_Comm_rank(comm, &rank));
    EBM_MPI_TRY(MPI_Comm_size(comm, &size));
    size_t nw = (size_t)V * H;
    double *W = malloc(sizeof *W * nw), *b = malloc(sizeof *b * (2 * (size_t)V + H)),
           *S = malloc(sizeof *S * BLOCK * (size_t)small),
           *X = malloc(sizeof *X * BLOCK * (size_t)big);
    ebm_status st = W && b && S && X ? EBM_OK : EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
    st = ebm_comm_agree(comm, st); /* before the reduction every rank must enter */
    if (st == EBM_OK) {
        for (size_t i = 0; i < nw; i++) W[i] = m->W[i];
        double *vb = b, *hb = b + V;
        for (int i = 0; i < V; i++) vb[i] = m->vbias[i];
        for (int j = 0; j < H; j++) hb[j] = m->hbias[j];
        double *ls = b + V + H;
        for (int i = 0; m->log_sigma && i < V; i++) ls[i] = m->log_sigma[i];
        uint64_t total = (uint64_t)1 << small, per = total / (uint64_t)size,
                 extra = total % (uint64_t)size;
        uint64_t first = per * (uint64_t)rank + ((uint64_t)rank < extra ? (uint64_t)rank : extra);
        uint64_t count = per + ((uint64_t)rank < extra ? 1 : 0);
        struct ebm_lse acc;
        ebm_lse_init(&acc);
        struct big_layer bl = { small_is_hidden ? m->vis.type : m->hid.type,
                                small_is_hidden ? vb : hb, ls, small_is_hidden ? m->n_labels : 0 };
        enumerate(W, small, big, small_is_hidden, small_is_hidden ? m->hid.type : m->vis.type,
                  small_is_hidden ? hb : vb, &bl, first, count, S, X, &acc);
        st = ebm_lse_allreduce(&acc, comm, log_z);
    }
    free(W);
    free(b);
    free(S);
    free(X);
    return st;
}
