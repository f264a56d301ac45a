/* Dense kernels for the training step. Each fast kernel has a plain *_ref
 * twin; tests/test_kernels.c holds the pairs together.
 * Storage is row-major throughout. */
#ifndef EBM_KERNELS_H
#define EBM_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

#include "ebm/rng.h"

/* C (m, n) = alpha * op(A) op(B) + beta * C, op = transpose when t* is set.
 * Goes to cblas_sgemm; the reference is a triple loop. */
void ebm_gemm(bool ta, bool tb, int m, int n, int k, float alpha,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);
void ebm_gemm_ref(bool ta, bool tb, int m, int n, int k, float alpha,
                  const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc);

/* x (rows, cols) <- sigmoid(x + bias) with bias (cols) broadcast over rows. */
void ebm_sigmoid_bias(float *x, const float *bias, int rows, int cols);
void ebm_sigmoid_bias_ref(float *x, const float *bias, int rows, int cols);

/* Fused: p <- sigmoid(p + bias) and s <- (u < p ? 1 : 0) in one pass, with
 * u the rng's next rows*cols uniforms in order (element e takes lane e % 4
 * of block e / 4, exactly as ebm_rng_uniform would hand them out). */
void ebm_sigmoid_bias_sample(float *p, float *s, const float *bias, int rows, int cols,
                             struct ebm_rng *rng);
void ebm_sigmoid_bias_sample_ref(float *p, float *s, const float *bias, int rows, int cols,
                                 struct ebm_rng *rng);

/* s <- (u < p ? 1 : 0) for n probabilities, uniforms as above. */
void ebm_bernoulli(const float *p, float *s, size_t n, struct ebm_rng *rng);

/* acc (cols) += scale * (sum of the rows of x (rows, cols)), the sums in
 * double (the _ref twin: column by column; the fast one: rows streamed
 * over blocks of columns). */
void ebm_add_column_sums(const float *x, int rows, int cols, float scale, float *acc);
void ebm_add_column_sums_ref(const float *x, int rows, int cols, float scale, float *acc);

/* Momentum SGD on n values: vel <- momentum * vel + lr * (g - decay * w);
 * w <- w + vel. One pass over three arrays: memory bound at V * H. */
void ebm_momentum_update(float *w, float *vel, const float *g, size_t n, float momentum,
                         float lr, float decay);
void ebm_momentum_update_ref(float *w, float *vel, const float *g, size_t n, float momentum,
                             float lr, float decay);

/* Float softplus log(1 + exp(x)), vectorisable (relative error ~1e-7). */
float ebm_softplus_f(float x);

/* sum_i softplus(b * x_i) - softplus(a * x_i), accumulated in double: the
 * free-energy change of one AIS step, summed over the hidden units. */
double ebm_softplus_diff_sum(const float *x, int n, float a, float b);
double ebm_softplus_diff_sum_ref(const float *x, int n, float a, float b);

/* sum_i softplus(y_i + delta * w_i) - softplus(y_i): the free-energy change
 * of flipping one visible unit (pseudo-likelihood). */
double ebm_softplus_shift_diff(const float *y, const float *w, float delta, int n);
double ebm_softplus_shift_diff_ref(const float *y, const float *w, float delta, int n);

/* p_i = sigmoid(beta * x_i). */
void ebm_sigmoid_scaled(const float *x, float *p, size_t n, float beta);

/* BLAS threads for this rank: the cores it is bound to, or its share of
 * the node; OPENBLAS_NUM_THREADS, when set, wins. */
void ebm_blas_set_threads(int ranks_on_node);

/* A one-line hint when this OpenBLAS build did not pick the CPU's vector
 * kernels (and OPENBLAS_CORETYPE would help), else NULL. */
const char *ebm_blas_core_advice(void);

/* log(1 + exp(x)) without overflow. */
double ebm_softplus(double x);

#endif
