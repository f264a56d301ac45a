/* SGD with momentum, L2 weight decay, a learning-rate schedule and optional
 * centering (Melchior, Fischer & Wiskott, JMLR 2016). Parameters stay in
 * the plain (uncentered) form, so checkpoints and every other module see
 * an ordinary RBM; centering only changes the update direction. */
#ifndef EBM_OPTIM_H
#define EBM_OPTIM_H

#include <stdint.h>

#include "ebm/config.h"
#include "ebm/rbm.h"

/* Learning rate at global step `step` of `total` steps. */
double optim_lr(const struct ebm_config *cfg, int64_t step, int64_t total);

/* One update from the globally averaged gradient (grad holds the data-minus-
 * model means; it is modified). With offsets mu (V) and lambda (H) non-NULL
 * the centered gradient is used:
 *   dW_c = dW - mu dc' - db lambda'   (expanding <(v-mu)(h-lambda)'>),
 * and the bias steps are mapped back to plain form:
 *   step_b = step_bc - step_W lambda,  step_c = step_cc - step_W' mu.
 * Learned log sigmas (Gaussian visible units) take the same momentum step
 * without decay and are then clamped to their lower bound (ebm/units.h);
 * a caller that keeps sigma fixed passes a zero log-sigma gradient. */
void optim_step(struct rbm *params, struct rbm *grad, struct rbm *velocity, double lr,
                double momentum, double weight_decay, const float *mu, const float *lambda);

#endif
