#include "ebm/dbm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"

static size_t layout(struct dbm *m, float *block)
{
    int L = m->n_hidden_layers;
    size_t off = 0;
    for (int k = 0; k < L; k++) {
        if (block) m->W[k] = block + off;
        off += (size_t)m->sizes[k] * m->sizes[k + 1];
    }
    for (int k = 0; k <= L; k++) {
        if (block) m->b[k] = block + off;
        off += (size_t)m->sizes[k];
    }
    return off;
}

ebm_status dbm_init(struct dbm *m, int n_hidden_layers, const int *sizes)
{
    memset(m, 0, sizeof *m);
    if (n_hidden_layers < 2 || n_hidden_layers > EBM_DBM_MAX_HIDDEN)
        return EBM_FAIL(EBM_ERR_INPUT, "a dbm has 2 or 3 hidden layers, not %d", n_hidden_layers);
    for (int k = 0; k <= n_hidden_layers; k++)
        if (sizes[k] < 1 || sizes[k] > 10000000)
            return EBM_FAIL(EBM_ERR_INPUT, "dbm layer %d has %d units", k, sizes[k]);
    m->n_hidden_layers = n_hidden_layers;
    memcpy(m->sizes, sizes, sizeof(int) * (size_t)(n_hidden_layers + 1));
    m->block_len = layout(m, NULL);
    EBM_ALLOC(m->block, m->block_len);
    layout(m, m->block);
    m->owns_block = 1;
    return EBM_OK;
}

void dbm_view_like(struct dbm *m, const struct dbm *like, float *block)
{
    memset(m, 0, sizeof *m);
    m->n_hidden_layers = like->n_hidden_layers;
    memcpy(m->sizes, like->sizes, sizeof m->sizes);
    m->block_len = layout(m, block);
    m->block = block;
}

void dbm_free(struct dbm *m)
{
    if (!m) return;
    if (m->owns_block) free(m->block);
    memset(m, 0, sizeof *m);
}

void dbm_layer_input(const struct dbm *m, const struct dbm_state *s, int k, int B, float *in)
{
    int L = m->n_hidden_layers, n = m->sizes[k];
    float beta = 0.0f;
    if (k > 0) {
        int a = m->sizes[k - 1];
        ebm_gemm(false, false, B, n, a, 1.0f, s->x[k - 1], a, m->W[k - 1], n, 0.0f, in, n);
        beta = 1.0f;
    }
    if (k < L) {
        int c = m->sizes[k + 1];
        ebm_gemm(false, true, B, n, c, 1.0f, s->x[k + 1], c, m->W[k], c, beta, in, n);
    } else if (k == 0) {
        memset(in, 0, sizeof(float) * (size_t)B * n);
    }
}

int dbm_mean_field(const struct dbm *m, struct dbm_state *s, int B, double tol, int max_iter,
                   float *in)
{
    int L = m->n_hidden_layers;
    /* Upward initialisation: the layers above are not known yet, so an
     * intermediate layer takes its input from below twice, standing in
     * for the missing top-down half (the top layer has none to miss). */
    for (int k = 1; k <= L; k++) {
        int a = m->sizes[k - 1], n = m->sizes[k];
        float twice = k < L ? 2.0f : 1.0f;
        ebm_gemm(false, false, B, n, a, twice, s->x[k - 1], a, m->W[k - 1], n, 0.0f, s->x[k], n);
        ebm_sigmoid_bias(s->x[k], m->b[k], B, n);
    }
    int it = 0;
    for (double change = INFINITY; it < max_iter && !(change < tol); it++) {
        change = 0.0;
        for (int k = 1; k <= L; k++) {
            size_t n = (size_t)B * m->sizes[k];
            dbm_layer_input(m, s, k, B, in);
            ebm_sigmoid_bias(in, m->b[k], B, m->sizes[k]);
            for (size_t e = 0; e < n; e++) change = fmax(change, fabs((double)in[e] - s->x[k][e]));
            memcpy(s->x[k], in, sizeof(float) * n);
        }
    }
    return it;
}

void dbm_gibbs(const struct dbm *m, struct dbm_state *s, int B, int steps, float *in,
               struct ebm_rng *rng)
{
    int L = m->n_hidden_layers;
    for (int t = 0; t < steps; t++)
        for (int parity = 1; parity >= 0; parity--) /* odd layers, then even ones */
            for (int k = parity; k <= L; k += 2) {
                dbm_layer_input(m, s, k, B, in);
                ebm_sigmoid_bias_sample(in, s->x[k], m->b[k], B, m->sizes[k], rng);
            }
}

void dbm_statistics(const struct dbm_state *data, int B, const struct dbm_state *chains, int C,
                    float inv_nd, float inv_nm, struct dbm *grad)
{
    int L = grad->n_hidden_layers;
    for (int k = 0; k < L; k++) {
        int a = grad->sizes[k], c = grad->sizes[k + 1];
        ebm_gemm(true, false, a, c, B, inv_nd, data->x[k], a, data->x[k + 1], c, 0.0f,
                 grad->W[k], c);
        ebm_gemm(true, false, a, c, C, -inv_nm, chains->x[k], a, chains->x[k + 1], c, 1.0f,
                 grad->W[k], c);
    }
    for (int k = 0; k <= L; k++) {
        memset(grad->b[k], 0, sizeof(float) * (size_t)grad->sizes[k]);
        ebm_add_column_sums(data->x[k], B, grad->sizes[k], inv_nd, grad->b[k]);
        ebm_add_column_sums(chains->x[k], C, grad->sizes[k], -inv_nm, grad->b[k]);
    }
}

void dbm_sparsity(const struct dbm_state *data, int B, float inv_nd, float share, float target,
                  float cost, struct dbm *grad)
{
    for (int k = 1; k <= grad->n_hidden_layers; k++) {
        int n = grad->sizes[k];
        for (int j = 0; j < n; j++) grad->b[k][j] += cost * share * target;
        ebm_add_column_sums(data->x[k], B, n, -cost * inv_nd, grad->b[k]);
    }
}

double dbm_energy(const struct dbm *m, const float *const *x)
{
    int L = m->n_hidden_layers;
    double e = 0.0;
    for (int k = 0; k <= L; k++)
        for (int i = 0; i < m->sizes[k]; i++) e -= (double)m->b[k][i] * x[k][i];
    for (int k = 0; k < L; k++) {
        int a = m->sizes[k], c = m->sizes[k + 1];
        for (int i = 0; i < a; i++) {
            if (x[k][i] == 0.0f) continue;
            double row = 0.0;
            for (int j = 0; j < c; j++) row += (double)m->W[k][(size_t)i * c + j] * x[k + 1][j];
            e -= (double)x[k][i] * row;
        }
    }
    return e;
}

ebm_status dbm_exact_log_z(const struct dbm *m, double *log_z)
{
    int L = m->n_hidden_layers, bits = 0, widest = 0;
    for (int k = 0; k <= L; k += 2) bits += m->sizes[k];
    for (int k = 0; k <= L; k++) widest = m->sizes[k] > widest ? m->sizes[k] : widest;
    if (bits > DBM_EXACT_MAX_UNITS)
        return EBM_FAIL(EBM_ERR_INPUT, "exact log Z of a dbm enumerates its even layers: at "
                        "most %d units, this one has %d", DBM_EXACT_MAX_UNITS, bits);
    double *x = calloc((size_t)(L + 1) * widest, sizeof *x);
    if (!x) return EBM_FAIL(EBM_ERR_NOMEM, "out of memory");
    double mx = -INFINITY, sum = 0.0;
    for (uint64_t code = 0; code < ((uint64_t)1 << bits); code++) {
        int bit = 0;
        double t = 0.0;
        for (int k = 0; k <= L; k += 2)
            for (int i = 0; i < m->sizes[k]; i++, bit++) {
                x[(size_t)k * widest + i] = (double)((code >> bit) & 1u);
                t += m->b[k][i] * x[(size_t)k * widest + i];
            }
        /* each odd layer's units sum out given the even layers around it */
        for (int k = 1; k <= L; k += 2)
            for (int j = 0; j < m->sizes[k]; j++) {
                double a = m->b[k][j];
                for (int i = 0; i < m->sizes[k - 1]; i++)
                    a += x[(size_t)(k - 1) * widest + i] * m->W[k - 1][(size_t)i * m->sizes[k] + j];
                if (k < L)
                    for (int i = 0; i < m->sizes[k + 1]; i++)
                        a += x[(size_t)(k + 1) * widest + i] *
                             m->W[k][(size_t)j * m->sizes[k + 1] + i];
                t += ebm_softplus(a);
            }
        if (t > mx) {
            sum = sum * exp(mx - t) + 1.0;
            mx = t;
        } else {
            sum += exp(t - mx);
        }
    }
    free(x);
    *log_z = mx + log(sum);
    return EBM_OK;
}

void dbm_bound_plus_log_z(const struct dbm *m, const struct dbm_state *s, int B, double *out)
{
    int L = m->n_hidden_layers;
    for (int r = 0; r < B; r++) {
        const float *row[EBM_DBM_MAX_HIDDEN + 1];
        for (int k = 0; k <= L; k++) row[k] = s->x[k] + (size_t)r * m->sizes[k];
        double h = 0.0;
        for (int k = 1; k <= L; k++)
            for (int i = 0; i < m->sizes[k]; i++) {
                double q = row[k][i];
                if (q > 0.0) h -= q * log(q);
                if (q < 1.0) h -= (1.0 - q) * log(1.0 - q);
            }
        out[r] = -dbm_energy(m, row) + h;
    }
}
