/* The softmax classifier: its gradient against a central finite difference
 * of the loss, the GEMM version against the plain double loops, training to
 * zero error on separable blobs, the L2 optimum against plain gradient
 * descent in double, prediction and confusion counts, and a model file's
 * round trip. */
#include <float.h>

#include "testutil.h"

#include "ebm/logreg.h"
#include "ebm/rng.h"

static void fill_uniform(float *v, size_t n, float lo, float hi, uint64_t seed)
{
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&r, v, n);
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * v[i];
}

static void fill_labels(int32_t *y, int n, int K, uint64_t seed)
{
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 1, EBM_RNG_TEST);
    for (int i = 0; i < n; i++) y[i] = (int32_t)ebm_rng_below(&r, (uint32_t)K);
}

/* The objective the trainer minimises, in double: mean cross-entropy plus
 * l2/2 ||W||^2. */
static double objective(const struct ebm_logreg *m, const float *x, const int32_t *y, int n,
                        double l2)
{
    double *g = malloc(sizeof *g * m->n_params);
    assert_non_null(g);
    double loss = ebm_logreg_loss_grad_ref(m, x, y, n, 1.0, g, NULL) / n;
    free(g);
    return loss + ebm_logreg_penalty(m, l2);
}

static void test_logreg_gradient_matches_finite_difference(void **state)
{
    (void)state;
    enum { D = 4, K = 3, N = 7 };
    const float l2 = 0.3f;
    struct ebm_logreg m;
    struct ebm_logreg_scratch s;
    assert_int_equal(ebm_logreg_init(&m, D, K), EBM_OK);
    assert_int_equal(ebm_logreg_scratch_init(&s, &m, N), EBM_OK);
    float x[N * D], grad[D * K + K];
    int32_t y[N];
    double gref[D * K + K];
    fill_uniform(x, N * D, -1, 1, 1);
    fill_uniform(m.params, m.n_params, -1, 1, 2);
    fill_labels(y, N, K, 3);
    ebm_logreg_loss_grad(&m, x, y, N, 1.0f / N, grad, NULL, &s);
    ebm_logreg_add_l2(&m, grad, l2);
    ebm_logreg_loss_grad_ref(&m, x, y, N, 1.0 / N, gref, NULL);
    for (int i = 0; i < D * K; i++) gref[i] += l2 * (double)m.W[i];
    /* Central difference with h = 2^-10 on the float parameter (the steps
     * actually taken, after rounding, are used). Truncation: h^2/6 max|J'''|;
     * along one coordinate J''' is a mean of x^3 times the third derivative
     * of log-sum-exp along a coordinate, p(1-p)(1-2p), at most 1/(6 sqrt 3)
     * < 0.1, with |x| <= 1, so truncation < h^2 / 60 (1.6e-8); the double
     * round-off eps_d |J| / h is ~1e-12. The float gradient adds the GEMM's
     * summation error, at most (N + 8) eps_f times the sum of |terms| (each
     * term <= 1/N, so the sum <= 1), with 8 ulps for exp and the softmax, and
     * once more for the L2 term. */
    const double h = 1.0 / 1024;
    const double tol_fd = h * h / 60 + 1e-11;
    const double tol_fast = tol_fd + 2.0 * (N + 8) * FLT_EPSILON;
    float fd[D * K + K], gref_f[D * K + K];
    for (size_t i = 0; i < m.n_params; i++) {
        float keep = m.params[i];
        m.params[i] = (float)(keep + h);
        double hp = (double)m.params[i] - keep, jp = objective(&m, x, y, N, l2);
        m.params[i] = (float)(keep - h);
        double hm = keep - (double)m.params[i], jm = objective(&m, x, y, N, l2);
        m.params[i] = keep;
        double d = (jp - jm) / (hp + hm);
        fd[i] = (float)d;
        gref_f[i] = (float)gref[i];
        assert_close_d(gref[i], d, tol_fd, "ref gradient vs finite difference");
    }
    assert_close_f(grad, fd, m.n_params, tol_fast, "fast gradient vs finite difference");
    assert_close_f(grad, gref_f, m.n_params, 2.0 * (N + 8) * FLT_EPSILON, "fast vs ref");
    ebm_logreg_scratch_free(&s);
    ebm_logreg_free(&m);
}

static void test_logreg_fast_matches_ref(void **state)
{
    (void)state;
    enum { D = 13, K = 5, N = 37 };
    struct ebm_logreg m;
    struct ebm_logreg_scratch s;
    assert_int_equal(ebm_logreg_init(&m, D, K), EBM_OK);
    assert_int_equal(ebm_logreg_scratch_init(&s, &m, 64), EBM_OK);
    float x[N * D], grad[D * K + K], gref_f[D * K + K];
    double gref[D * K + K];
    int32_t y[N];
    fill_uniform(x, N * D, 0, 1, 4);
    fill_uniform(m.params, m.n_params, -2, 2, 5);
    fill_labels(y, N, K, 6);
    int64_t e_fast = 0, e_ref = 0;
    double l_fast = ebm_logreg_loss_grad(&m, x, y, N, 1.0f, grad, &e_fast, &s);
    double l_ref = ebm_logreg_loss_grad_ref(&m, x, y, N, 1.0, gref, &e_ref);
    for (size_t i = 0; i < m.n_params; i++) gref_f[i] = (float)gref[i];
    /* Each gradient entry sums N terms of size <= 1 (|x| <= 1, |p - y| <= 1):
     * (N + 8) eps_f N bounds the float error (8 ulps for exp and softmax).
     * The loss: N rows, each log-sum-exp of logits up to |D * 2 + 2| = 28
     * computed in float, relative error a few eps_f: 8 eps_f (28 + 1) N. */
    assert_close_f(grad, gref_f, m.n_params, (double)(N + 8) * FLT_EPSILON * N, "gradient");
    assert_close_d(l_fast, l_ref, 8.0 * FLT_EPSILON * 29 * N, "loss");
    assert_int_equal(e_fast, e_ref);
    assert_true(e_ref > 0 && e_ref < N);
    /* Huge logits stay finite: the max is shifted out before exp(). */
    for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 1e4f;
    l_fast = ebm_logreg_loss_grad(&m, x, y, N, 1.0f, grad, NULL, &s);
    l_ref = ebm_logreg_loss_grad_ref(&m, x, y, N, 1.0, gref, NULL);
    assert_true(isfinite(l_fast) && l_fast > 0);
    assert_close_d(l_fast, l_ref, 1e-5 * l_ref, "loss with logits ~1e4");
    for (size_t i = 0; i < m.n_params; i++) assert_true(isfinite(grad[i]));
    ebm_logreg_scratch_free(&s);
    ebm_logreg_free(&m);
}

/* A one-rank dataset view of arrays the test owns. */
static struct ebm_dataset view(float *x, int32_t *y, int n, int dim)
{
    return (struct ebm_dataset){ .n_total = n, .first = 0, .n = n, .dim = dim, .x = x, .y = y };
}

static void test_logreg_separable_blobs_reach_zero_error(void **state)
{
    (void)state;
    /* Three Gaussian blobs (sigma 0.5) with centres 9 apart in 2-D. */
    enum { D = 2, K = 3, PER = 60, N = K * PER };
    const float centre[K][D] = { { 0, 6 }, { 5, -3 }, { -5, -3 } };
    float x[N * D];
    int32_t y[N], pred[N];
    struct ebm_rng r;
    ebm_rng_init(&r, 11, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, x, N * D);
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        for (int d = 0; d < D; d++) x[i * D + d] = centre[y[i]][d] + 0.5f * x[i * D + d];
    }
    struct ebm_par par;
    assert_int_equal(ebm_par_init(&par, MPI_COMM_WORLD), EBM_OK);
    struct ebm_dataset ds = view(x, y, N, D);
    struct ebm_logreg m;
    struct ebm_logreg_trainer tr;
    struct ebm_logreg_opts opts = { .epochs = 30, .batch = 10, .lr = 0.1f, .l2 = 0, .seed = 3 };
    assert_int_equal(ebm_logreg_init(&m, D, K), EBM_OK);
    assert_int_equal(ebm_logreg_trainer_init(&tr, &m, &par, &ds, &opts), EBM_OK);
    assert_int_equal(tr.steps_per_epoch, N / 10);
    struct ebm_logreg_epoch ep = { 0 }, first = { 0 };
    for (int e = 0; e < opts.epochs; e++) {
        assert_int_equal(ebm_logreg_train_epoch(&tr, &m, e, &ep), EBM_OK);
        if (e == 0) first = ep;
    }
    /* The blobs are 18 sigma apart: after 540 steps every row is right and
     * the mean cross-entropy is far below 0.05 (log 3 = 1.10 at the start). */
    double loss = objective(&m, x, y, N, 0);
    assert_true(first.loss > loss);
    if (!(loss < 0.05)) {
        print_error("final loss %.6g, expected < 0.05\n", loss);
        fail();
    }
    assert_true(ep.error == 0.0);
    struct ebm_logreg_scratch s;
    assert_int_equal(ebm_logreg_scratch_init(&s, &m, N), EBM_OK);
    ebm_logreg_predict(&m, x, N, pred, &s);
    int64_t counts[K * K] = { 0 };
    ebm_logreg_confusion(y, pred, N, K, counts);
    for (int t = 0; t < K; t++)
        for (int p = 0; p < K; p++) assert_int_equal(counts[t * K + p], t == p ? PER : 0);
    ebm_logreg_scratch_free(&s);
    ebm_logreg_trainer_free(&tr);
    ebm_logreg_free(&m);
    ebm_par_free(&par);
}

/* Plain full-batch gradient descent in double on the same objective,
 * written out independently of the library. theta = W (D, K) | b (K). */
static void reference_optimum(const float *x, const int32_t *y, int n, int D, int K, double l2,
                              double lr, int iters, double *theta)
{
    size_t np = (size_t)D * K + K;
    double *g = calloc(np, sizeof *g), *z = calloc((size_t)K, sizeof *z);
    assert_true(g && z);
    memset(theta, 0, sizeof *theta * np);
    for (int it = 0; it < iters; it++) {
        memset(g, 0, sizeof *g * np);
        for (int r = 0; r < n; r++) {
            double zmax = -INFINITY, sum = 0;
            for (int k = 0; k < K; k++) {
                z[k] = theta[(size_t)D * K + k];
                for (int d = 0; d < D; d++) z[k] += x[r * D + d] * theta[d * K + k];
                zmax = fmax(zmax, z[k]);
            }
            for (int k = 0; k < K; k++) sum += (z[k] = exp(z[k] - zmax));
            for (int k = 0; k < K; k++) {
                double delta = (z[k] / sum - (k == y[r])) / n;
                for (int d = 0; d < D; d++) g[d * K + k] += x[r * D + d] * delta;
                g[(size_t)D * K + k] += delta;
            }
        }
        for (int i = 0; i < D * K; i++) g[i] += l2 * theta[i];
        for (size_t i = 0; i < np; i++) theta[i] -= lr * g[i];
    }
    free(g);
    free(z);
}

static void test_logreg_l2_matches_reference_optimum(void **state)
{
    (void)state;
    enum { D = 3, K = 3, N = 12 };
    const float l2 = 0.1f, lr = 0.5f;
    float x[N * D];
    int32_t y[N];
    fill_uniform(x, N * D, -1, 1, 21);
    fill_labels(y, N, K, 22);
    double theta[D * K + K];
    reference_optimum(x, y, N, D, K, l2, lr, 20000, theta);
    struct ebm_par par;
    assert_int_equal(ebm_par_init(&par, MPI_COMM_WORLD), EBM_OK);
    struct ebm_dataset ds = view(x, y, N, D);
    struct ebm_logreg m;
    struct ebm_logreg_trainer tr;
    struct ebm_logreg_opts opts = { .epochs = 4000, .batch = 0, .lr = lr, .l2 = l2, .seed = 1 };
    assert_int_equal(ebm_logreg_init(&m, D, K), EBM_OK);
    assert_int_equal(ebm_logreg_trainer_init(&tr, &m, &par, &ds, &opts), EBM_OK);
    assert_int_equal(tr.steps_per_epoch, 1);
    struct ebm_logreg_epoch ep;
    for (int e = 0; e < opts.epochs; e++)
        assert_int_equal(ebm_logreg_train_epoch(&tr, &m, e, &ep), EBM_OK);
    /* The objective is strongly convex on the span the iterates stay in
     * (mu >= l2 = 0.1 for W; both start at b = 0 and the softmax gradient
     * keeps sum_k b_k = 0). Float descent stalls where lr |g| is below an
     * ulp of |theta| (<= 4 here), |g| ~ 4 eps_f / lr, so its distance to the
     * optimum is about |g| / mu = 4 eps_f / (lr mu) ~ 1e-5; 1e-4 leaves a
     * factor of 10 for the float gradient's own round-off. The double
     * reference after 20000 steps of contraction (1 - lr mu)^20000 is exact
     * to far below that. */
    float ref[D * K + K];
    double biggest = 0;
    for (int i = 0; i < D * K + K; i++) {
        ref[i] = (float)theta[i];
        biggest = fmax(biggest, fabs(theta[i]));
    }
    assert_true(biggest > 0.05 && biggest < 4);
    assert_close_f(m.params, ref, m.n_params, 1e-4, "float training vs double optimum");
    assert_true(isfinite(ep.loss));
    ebm_logreg_trainer_free(&tr);
    ebm_logreg_free(&m);
    ebm_par_free(&par);
}

static void test_logreg_predict_and_confusion(void **state)
{
    (void)state;
    enum { D = 2, K = 3 };
    struct ebm_logreg m;
    struct ebm_logreg_scratch s;
    assert_int_equal(ebm_logreg_init(&m, D, K), EBM_OK);
    assert_int_equal(ebm_logreg_scratch_init(&s, &m, 8), EBM_OK);
    /* logits = (x0, x1, 0.5): class 2 wins when both features are small. */
    m.W[0 * K + 0] = 1;
    m.W[1 * K + 1] = 1;
    m.b[2] = 0.5f;
    float x[5 * D] = { 1, 0, 0, 1, 0, 0, 2, 3, 0.5f, 0.5f };
    int32_t y[5] = { 0, 1, 2, 0, 2 }, pred[5];
    ebm_logreg_predict(&m, x, 5, pred, &s);
    /* Ties go to the lowest class: row 4 has logits (0.5, 0.5, 0.5). */
    int32_t want[5] = { 0, 1, 2, 1, 0 };
    for (int i = 0; i < 5; i++) assert_int_equal(pred[i], want[i]);
    int64_t counts[K * K] = { 0 };
    ebm_logreg_confusion(y, pred, 5, K, counts);
    int64_t expect[K * K] = { 1, 1, 0, 0, 1, 0, 1, 0, 1 };
    for (int i = 0; i < K * K; i++) assert_int_equal(counts[i], expect[i]);
    ebm_logreg_scratch_free(&s);
    ebm_logreg_free(&m);
    ebm_logreg_free(NULL);
    ebm_logreg_scratch_free(NULL);
}

static void test_logreg_model_file_round_trip(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/logreg.h5", test_tmpdir());
    struct ebm_logreg m, back;
    assert_int_equal(ebm_logreg_init(&m, 4, 3), EBM_OK);
    fill_uniform(m.params, m.n_params, -1, 1, 31);
    struct ebm_logreg_record rec = {
        .data = "d.h5", .split = "train", .n_rows = 10, .ranks = 1, .steps = 5,
        .opts = { .epochs = 5, .batch = 2, .lr = 0.1f, .l2 = 1e-4f, .seed = 1 },
    };
    assert_int_equal(ebm_logreg_save(path, MPI_COMM_WORLD, &m, &rec), EBM_OK);
    assert_int_equal(ebm_logreg_load(path, MPI_COMM_WORLD, &back), EBM_OK);
    assert_int_equal(back.dim, 4);
    assert_int_equal(back.classes, 3);
    assert_memory_equal(back.params, m.params, sizeof *m.params * m.n_params);
    ebm_logreg_free(&back);
    ebm_logreg_free(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_logreg_gradient_matches_finite_difference),
    cmocka_unit_test(test_logreg_fast_matches_ref),
    cmocka_unit_test(test_logreg_separable_blobs_reach_zero_error),
    cmocka_unit_test(test_logreg_l2_matches_reference_optimum),
    cmocka_unit_test(test_logreg_predict_and_confusion),
    cmocka_unit_test(test_logreg_model_file_round_trip),
};

EBM_TEST_MAIN(tests)
