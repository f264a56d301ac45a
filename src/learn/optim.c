#include "ebm/optim.h"

#include <cblas.h>
#include <math.h>

#include "ebm/kernels.h"

double optim_lr(const struct ebm_config *cfg, int64_t step, int64_t total)
{
    double lr = cfg->train.lr, t = total > 0 ? (double)step / (double)total : 0.0;
    switch (cfg->train.lr_schedule) {
    case EBM_LR_LINEAR: return lr + (cfg->train.lr_min - lr) * t;
    case EBM_LR_EXP: return lr * pow(cfg->train.lr_min / lr, t);
    case EBM_LR_CONSTANT: break;
    }
    return lr;
}

void optim_step(struct rbm *params, struct rbm *grad, struct rbm *velocity, double lr,
                double momentum, double weight_decay, const float *mu, const float *lambda)
{
    int V = params->n_visible, H = params->n_hidden;
    size_t nw = (size_t)V * H;
    float m = (float)momentum, a = (float)lr, wd = (float)weight_decay;
    if (mu && lambda) {
        cblas_sger(CblasRowMajor, V, H, -1.0f, mu, 1, grad->hbias, 1, grad->W, H);
        cblas_sger(CblasRowMajor, V, H, -1.0f, grad->vbias, 1, lambda, 1, grad->W, H);
    }
    ebm_momentum_update(params->W, velocity->W, grad->W, nw, m, a, wd);
    ebm_momentum_update(params->vbias, velocity->vbias, grad->vbias, (size_t)V, m, a, 0.0f);
    ebm_momentum_update(params->hbias, velocity->hbias, grad->hbias, (size_t)H, m, a, 0.0f);
    if (params->log_sigma) {
        ebm_momentum_update(params->log_sigma, velocity->log_sigma, grad->log_sigma, (size_t)V,
                            m, a, 0.0f);
        ebm_units_clamp_log_sigma(&params->vis);
    }
    if (mu && lambda) {
        /* Map the centered bias steps to the plain parametrisation. */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, V, H, -1.0f, velocity->W, H, lambda, 1, 1.0f,
                    params->vbias, 1);
        cblas_sgemv(CblasRowMajor, CblasTrans, V, H, -1.0f, velocity->W, H, mu, 1, 1.0f,
                    params->hbias, 1);
    }
}
