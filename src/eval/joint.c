#include "ebm/joint.h"

#include <math.h>

#include "ebm/kernels.h"

/* One hidden unit summed out at input t: log(1 + e^t) for a Bernoulli
 * unit, log(2 cosh t) = |t| + log1p(e^{-2|t|}) for a spin. */
static double hidden_log_partition(const struct rbm *m, double t)
{
    if (m->hid.type == EBM_UNIT_SPIN) return fabs(t) + log1p(exp(-2.0 * fabs(t)));
    return ebm_softplus(t);
}

void rbm_label_log_probs(const struct rbm *m, const float *x, int B, float *scratch,
                         double *logp)
{
    int V = m->n_visible, H = m->n_hidden, K = m->n_labels, X = V - K;
    /* W is (V, H) row-major: its first X rows are x's weights. */
    ebm_gemm(false, false, B, H, X, 1.0f, x, X, m->W, H, 0.0f, scratch, H);
    for (int r = 0; r < B; r++) {
        const float *a = scratch + (size_t)r * H;
        double *lp = logp + (size_t)r * K, mx = -INFINITY, sum = 0.0;
        /* b'x is the same for every k: it cancels in p(y | x). */
        for (int k = 0; k < K; k++) {
            const float *wy = m->W + (size_t)(X + k) * H;
            double s = m->vbias[X + k];
            for (int j = 0; j < H; j++)
                s += hidden_log_partition(m, (double)a[j] + m->hbias[j] + wy[j]);
            lp[k] = s;
            mx = fmax(mx, s);
        }
        for (int k = 0; k < K; k++) sum += exp(lp[k] - mx);
        double lse = mx + log(sum);
        for (int k = 0; k < K; k++) lp[k] -= lse;
    }
}

void rbm_label_predict(const struct rbm *m, const float *x, int B, float *scratch,
                       double *logp, int32_t *pred)
{
    int K = m->n_labels;
    rbm_label_log_probs(m, x, B, scratch, logp);
    for (int r = 0; r < B; r++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (logp[(size_t)r * K + k] > logp[(size_t)r * K + best]) best = k;
        pred[r] = best;
    }
}
