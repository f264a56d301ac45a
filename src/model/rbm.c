#include "ebm/rbm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"

size_t rbm_block_size(int n_visible, int n_hidden)
{
    return (size_t)n_visible * n_hidden + (size_t)n_visible + (size_t)n_hidden;
}

size_t rbm_block_size_typed(int n_visible, int n_hidden, enum ebm_unit_type visible)
{
    return rbm_block_size(n_visible, n_hidden) +
           (visible == EBM_UNIT_GAUSSIAN ? (size_t)n_visible : 0);
}

/* Views and unit descriptors over block; the types must already be valid. */
static void view_typed(struct rbm *m, int V, int H, enum ebm_unit_type visible,
                       enum ebm_unit_type hidden, float log_sigma_min, float *block)
{
    m->n_visible = V;
    m->n_hidden = H;
    m->block = block;
    m->block_len = rbm_block_size_typed(V, H, visible);
    m->W = block;
    m->vbias = block + (size_t)V * H;
    m->hbias = m->vbias + V;
    m->log_sigma = visible == EBM_UNIT_GAUSSIAN ? m->hbias + H : NULL;
    m->coupling = NULL;
    m->owns_block = 0;
    m->up_scale = m->down_scale = 1.0f;
    ebm_status st = ebm_units_init(&m->vis, visible, V, 1, m->log_sigma, log_sigma_min);
    EBM_ASSERT(st == EBM_OK);
    st = ebm_units_init(&m->hid, hidden, H, 1, NULL, 0.0f);
    EBM_ASSERT(st == EBM_OK);
}

void rbm_view(struct rbm *m, int n_visible, int n_hidden, float *block)
{
    view_typed(m, n_visible, n_hidden, EBM_UNIT_BERNOULLI, EBM_UNIT_BERNOULLI, 0.0f, block);
}

void rbm_view_like(struct rbm *m, const struct rbm *like, float *block)
{
    view_typed(m, like->n_visible, like->n_hidden, like->vis.type, like->hid.type,
               like->vis.log_sigma_min, block);
    m->n_labels = like->n_labels;
    m->lab = like->lab;
}

ebm_status rbm_set_labels(struct rbm *m, int n_labels)
{
    if (m->vis.type != EBM_UNIT_BERNOULLI)
        return EBM_FAIL(EBM_ERR_INPUT, "label units join bernoulli visible units, not %s",
                        ebm_unit_type_name(m->vis.type));
    if (n_labels < 2 || n_labels > RBM_MAX_LABELS || n_labels >= m->n_visible)
        return EBM_FAIL(EBM_ERR_INPUT, "%d label units: expected 2 to %d, fewer than the %d "
                        "visible units", n_labels, RBM_MAX_LABELS, m->n_visible);
    EBM_TRY(ebm_units_init(&m->lab, EBM_UNIT_SOFTMAX, n_labels, n_labels, NULL, 0.0f));
    m->n_labels = n_labels;
    return EBM_OK;
}

ebm_status rbm_init_typed(struct rbm *m, int n_visible, int n_hidden,
                          enum ebm_unit_type visible, enum ebm_unit_type hidden)
{
    memset(m, 0, sizeof *m);
    if (n_visible <= 0 || n_hidden <= 0)
        return EBM_FAIL(EBM_ERR_INPUT, "RBM sizes must be positive, got %d x %d",
                        n_visible, n_hidden);
    if (visible != EBM_UNIT_BERNOULLI && visible != EBM_UNIT_SPIN &&
        visible != EBM_UNIT_GAUSSIAN)
        return EBM_FAIL(EBM_ERR_INPUT, "RBM visible units must be bernoulli, spin or gaussian, "
                        "not %s", ebm_unit_type_name(visible) ? ebm_unit_type_name(visible)
                                                              : "an unknown type");
    if (hidden != EBM_UNIT_BERNOULLI && hidden != EBM_UNIT_SPIN)
        return EBM_FAIL(EBM_ERR_INPUT, "RBM hidden units must be bernoulli or spin, not %s",
                        ebm_unit_type_name(hidden) ? ebm_unit_type_name(hidden)
                                                   : "an unknown type");
    float *block;
    EBM_ALLOC(block, rbm_block_size_typed(n_visible, n_hidden, visible));
    if (visible == EBM_UNIT_GAUSSIAN) {
        m->coupling = malloc(sizeof(float) * RBM_COUPLING_ROWS * (size_t)n_visible);
        if (!m->coupling) {
            free(block);
            return EBM_FAIL(EBM_ERR_NOMEM, "out of memory for the RBM's coupling scratch");
        }
    }
    float *coupling = m->coupling;
    view_typed(m, n_visible, n_hidden, visible, hidden, EBM_UNITS_LOG_SIGMA_MIN_DEFAULT, block);
    m->coupling = coupling;
    m->owns_block = 1;
    return EBM_OK;
}

ebm_status rbm_init(struct rbm *m, int n_visible, int n_hidden)
{
    return rbm_init_typed(m, n_visible, n_hidden, EBM_UNIT_BERNOULLI, EBM_UNIT_BERNOULLI);
}

void rbm_free(struct rbm *m)
{
    if (!m) return;
    if (m->owns_block) {
        free(m->block);
        free(m->coupling);
    }
    memset(m, 0, sizeof *m);
}

int rbm_is_binary(const struct rbm *m)
{
    return m->vis.type == EBM_UNIT_BERNOULLI && m->hid.type == EBM_UNIT_BERNOULLI;
}

void rbm_set_log_sigma_min(struct rbm *m, float log_sigma_min)
{
    m->vis.log_sigma_min = log_sigma_min;
}

double rbm_marginal_logit(double p)
{
    p = p < 1e-3 ? 1e-3 : (p > 1.0 - 1e-3 ? 1.0 - 1e-3 : p);
    return log(p / (1.0 - p));
}

void rbm_init_params(struct rbm *m, float sigma, const float *visible_marginals,
                     struct ebm_rng *rng)
{
    size_t nw = (size_t)m->n_visible * m->n_hidden;
    ebm_rng_normal(rng, m->W, nw);
    for (size_t i = 0; i < nw; i++) m->W[i] *= sigma;
    for (int i = 0; i < m->n_visible; i++) {
        if (m->vis.type == EBM_UNIT_GAUSSIAN) {
            m->vbias[i] = visible_marginals ? visible_marginals[i] : 0.0f;
            m->log_sigma[i] = 0.0f;
            continue;
        }
        double p = visible_marginals ? visible_marginals[i] : 0.5;
        if (i >= m->n_visible - m->n_labels) { /* softmax: p(y = k) = e^b_k / sum */
            p = visible_marginals ? visible_marginals[i] : 1.0 / m->n_labels;
            m->vbias[i] = (float)log(p > 1e-3 ? p : 1e-3);
            continue;
        }
        /* p(+1) = sigmoid(2b) for a spin, so b is half the log-odds. */
        double logit = rbm_marginal_logit(p);
        m->vbias[i] = (float)(m->vis.type == EBM_UNIT_SPIN ? 0.5 * logit : logit);
    }
    memset(m->hbias, 0, sizeof(float) * (size_t)m->n_hidden);
}

void rbm_hidden_input(const struct rbm *m, const float *v, int B, float *in)
{
    int V = m->n_visible, H = m->n_hidden;
    if (m->vis.type != EBM_UNIT_GAUSSIAN) {
        ebm_gemm(false, false, B, H, V, m->up_scale, v, V, m->W, H, 0.0f, in, H);
        return;
    }
    EBM_ASSERT(m->coupling); /* a view holds numbers only (rbm.h) */
    for (int r0 = 0; r0 < B; r0 += RBM_COUPLING_ROWS) {
        int rows = B - r0 < RBM_COUPLING_ROWS ? B - r0 : RBM_COUPLING_ROWS;
        const float *s = ebm_units_coupling(&m->vis, v + (size_t)r0 * V, rows, m->coupling);
        ebm_gemm(false, false, rows, H, V, m->up_scale, s, V, m->W, H, 0.0f, in + (size_t)r0 * H,
                 H);
    }
}

void rbm_hidden_probs(const struct rbm *m, const float *v, int B, float *ph)
{
    rbm_hidden_input(m, v, B, ph);
    ebm_units_mean(&m->hid, ph, m->hbias, B);
}

void rbm_hidden_sample(const struct rbm *m, const float *v, int B, float *ph, float *h,
                       struct ebm_rng *rng)
{
    rbm_hidden_input(m, v, B, ph);
    ebm_units_sample(&m->hid, ph, m->hbias, B, h, rng);
}

void rbm_hidden_sample_rows(const struct rbm *m, const float *v, int B, float *ph, float *h,
                            const struct ebm_rng_rows *keys)
{
    int H = m->n_hidden;
    rbm_hidden_input(m, v, B, ph);
    for (int r = 0; r < B; r++) {
        struct ebm_rng rng;
        ebm_rng_row(keys, r, &rng);
        ebm_units_sample(&m->hid, ph + (size_t)r * H, m->hbias, 1, h + (size_t)r * H, &rng);
    }
}

/* Label units: the whole row went through the Bernoulli layer; the label
 * group's activations, kept in `in` (B, K) before that, become its
 * softmax mean and, when v is given, its sample (one uniform per row,
 * drawn after the row's Bernoulli draws). */
static void label_fixup(const struct rbm *m, const float *in, int B, float *pv, float *v,
                        struct ebm_rng *rng)
{
    int V = m->n_visible, K = m->n_labels, off = V - K;
    float a[RBM_MAX_LABELS], y[RBM_MAX_LABELS];
    for (int r = 0; r < B; r++) {
        memcpy(a, in + (size_t)r * K, sizeof(float) * (size_t)K);
        if (v) {
            ebm_units_sample(&m->lab, a, m->vbias + off, 1, y, rng);
            memcpy(v + (size_t)r * V + off, y, sizeof(float) * (size_t)K);
        } else {
            ebm_units_mean(&m->lab, a, m->vbias + off, 1);
        }
        memcpy(pv + (size_t)r * V + off, a, sizeof(float) * (size_t)K);
    }
}

/* E[v | h] into pv and, when v is given, a sample into v, its numbers
 * from rng in sequence or, with keys, from each row's keyed stream. With
 * label units the rows go one at a time, so that each row's label
 * activations fit on the stack (no scratch argument, no allocation). */
static void visible_layer(const struct rbm *m, const float *h, int B, float *pv, float *v,
                          struct ebm_rng *rng, const struct ebm_rng_rows *keys)
{
    int V = m->n_visible, H = m->n_hidden, K = m->n_labels;
    ebm_gemm(false, true, B, V, H, m->down_scale, h, H, m->W, H, 0.0f, pv, V);
    if (!K && !(v && keys)) {
        if (v) ebm_units_sample(&m->vis, pv, m->vbias, B, v, rng);
        else ebm_units_mean(&m->vis, pv, m->vbias, B);
        return;
    }
    float in[RBM_MAX_LABELS];
    for (int r = 0; r < B; r++) {
        float *row = pv + (size_t)r * V;
        struct ebm_rng row_rng, *g = rng;
        if (v && keys) {
            ebm_rng_row(keys, r, &row_rng);
            g = &row_rng;
        }
        if (K) memcpy(in, row + V - K, sizeof(float) * (size_t)K);
        if (v) ebm_units_sample(&m->vis, row, m->vbias, 1, v + (size_t)r * V, g);
        else ebm_units_mean(&m->vis, row, m->vbias, 1);
        if (K) label_fixup(m, in, 1, row, v ? v + (size_t)r * V : NULL, g);
    }
}

void rbm_visible_probs(const struct rbm *m, const float *h, int B, float *pv)
{
    visible_layer(m, h, B, pv, NULL, NULL, NULL);
}

void rbm_visible_sample(const struct rbm *m, const float *h, int B, float *pv, float *v,
                        struct ebm_rng *rng)
{
    visible_layer(m, h, B, pv, v, rng, NULL);
}

void rbm_visible_sample_rows(const struct rbm *m, const float *h, int B, float *pv, float *v,
                             const struct ebm_rng_rows *keys)
{
    visible_layer(m, h, B, pv, v, NULL, keys);
}

void rbm_free_energy(const struct rbm *m, const float *v, int B, float *scratch, double *out)
{
    rbm_hidden_input(m, v, B, scratch);
    ebm_units_free_energy(&m->vis, v, m->vbias, &m->hid, scratch, m->hbias, B, out);
}

double rbm_energy(const struct rbm *m, const float *v, const float *h)
{
    int V = m->n_visible, H = m->n_hidden;
    double e, eh, coupling = 0.0;
    ebm_units_energy(&m->vis, v, m->vbias, 1, &e);
    ebm_units_energy(&m->hid, h, m->hbias, 1, &eh);
    for (int i = 0; i < V; i++) {
        if (v[i] == 0.0f) continue;
        double s = v[i];
        if (m->log_sigma) s *= exp(-2.0 * (double)m->log_sigma[i]);
        double row = 0.0;
        for (int j = 0; j < H; j++) row += (double)m->W[(size_t)i * H + j] * h[j];
        coupling += s * row;
    }
    return e + eh - coupling;
}
