/* The joint RBM over [x, y] with y one softmax group of label units
 * (rbm_set_labels, ebm/joint.h), against enumeration on tiny models:
 * p(y | x), E[y | h] and its samples, F(x, e_k), and exact log Z. */
#include "testutil.h"
#include "typed.h"

#include "ebm/joint.h"
#include "ebm/logz.h"

enum { X = 4, K = 3, V = X + K, H = 3 };

/* A random model of scale 0.9 with K label units. */
static void joint_model_typed(struct rbm *m, enum ebm_unit_type hidden, uint64_t seed)
{
    typed_random_rbm(m, V, H, EBM_UNIT_BERNOULLI, hidden, 0.9f, seed);
    assert_int_equal(rbm_set_labels(m, K), EBM_OK);
}

static void joint_model(struct rbm *m, uint64_t seed)
{
    typed_random_rbm(m, V, H, EBM_UNIT_BERNOULLI, EBM_UNIT_BERNOULLI, 0.9f, seed);
    assert_int_equal(rbm_set_labels(m, K), EBM_OK);
}

/* v = [x (bits of code), e_k]. */
static void joint_state(unsigned code, int k, float *v)
{
    typed_state(code, X, EBM_UNIT_BERNOULLI, v);
    for (int j = 0; j < K; j++) v[X + j] = j == k ? 1.0f : 0.0f;
}

static void test_joint_label_posterior_matches_enumeration(void **state)
{
    (void)state;
    for (int spin = 0; spin < 2; spin++) { /* Bernoulli, then spin hidden units */
        struct rbm m;
        joint_model_typed(&m, spin ? EBM_UNIT_SPIN : EBM_UNIT_BERNOULLI, 700 + 10 * spin);
        float x[16 * X], v[V], scratch[16 * H];
        double logp[16 * K];
        for (unsigned c = 0; c < 16; c++) typed_state(c, X, EBM_UNIT_BERNOULLI, x + c * X);
        rbm_label_log_probs(&m, x, 16, scratch, logp);
        for (unsigned c = 0; c < 16; c++) {
            double f[K], mx = -INFINITY, z = 0;
            for (int k = 0; k < K; k++) {
                joint_state(c, k, v);
                f[k] = typed_neg_free_energy(&m, v); /* sum over h of exp(-E) */
                mx = fmax(mx, f[k]);
            }
            for (int k = 0; k < K; k++) z += exp(f[k] - mx);
            for (int k = 0; k < K; k++)
                assert_close_d(logp[c * K + k], f[k] - mx - log(z), 1e-5, "log p(y | x)");
            /* and F(x, e_k) itself, as every other model's free energy */
            float in[H];
            double F;
            joint_state(c, 1, v);
            rbm_free_energy(&m, v, 1, in, &F);
            assert_close_d(F, -typed_neg_free_energy(&m, v), 1e-5, "F(x, e_1)");
        }
        int32_t pred[16];
        rbm_label_predict(&m, x, 16, scratch, logp, pred);
        for (unsigned c = 0; c < 16; c++)
            for (int k = 0; k < K; k++) assert_true(logp[c * K + k] <= logp[c * K + pred[c]]);
        rbm_free(&m);
    }
}

/* E[y | h] is the softmax of b_y + W_y h; the x units keep their sigmoid;
 * samples of y are one-hot with the softmax's frequencies. */
static void test_joint_label_conditional_and_samples(void **state)
{
    (void)state;
    enum { N = 30000 };
    struct rbm m;
    joint_model(&m, 701);
    float h[H] = { 1, 0, 1 }, pv[V];
    rbm_visible_probs(&m, h, 1, pv);
    double a[K], mx = -INFINITY, z = 0;
    for (int k = 0; k < K; k++) {
        a[k] = m.vbias[X + k];
        for (int j = 0; j < H; j++) a[k] += (double)m.W[(X + k) * H + j] * h[j];
        mx = fmax(mx, a[k]);
    }
    for (int k = 0; k < K; k++) z += exp(a[k] - mx);
    for (int k = 0; k < K; k++) assert_close_d(pv[X + k], exp(a[k] - mx) / z, 1e-6, "E[y_k | h]");
    for (int i = 0; i < X; i++) {
        double t = m.vbias[i];
        for (int j = 0; j < H; j++) t += (double)m.W[i * H + j] * h[j];
        assert_close_d(pv[i], 1.0 / (1.0 + exp(-t)), 1e-6, "E[x_i | h]");
    }
    float *hs = malloc(sizeof(float) * N * H), *pvs = malloc(sizeof(float) * N * V),
          *vs = malloc(sizeof(float) * N * V);
    for (int r = 0; r < N; r++) memcpy(hs + r * H, h, sizeof h);
    struct ebm_rng rng;
    ebm_rng_init(&rng, 702, 0, EBM_RNG_TEST);
    rbm_visible_sample(&m, hs, N, pvs, vs, &rng);
    double count[K] = { 0 };
    for (int r = 0; r < N; r++) {
        int ones = 0;
        for (int k = 0; k < K; k++) {
            ones += vs[r * V + X + k] == 1.0f;
            count[k] += vs[r * V + X + k];
        }
        assert_int_equal(ones, 1); /* one-hot */
    }
    /* 5 binomial standard errors */
    for (int k = 0; k < K; k++) {
        double p = pv[X + k];
        assert_close_d(count[k] / N, p, 5.0 * sqrt(p * (1 - p) / N), "frequency of y = k");
    }
    free(hs);
    free(pvs);
    free(vs);
    rbm_free(&m);
}

/* log Z over x in {0,1}^X, the K labels and h in {0,1}^H. */
static void test_joint_exact_log_z_matches_brute_force(void **state)
{
    (void)state;
    struct rbm m;
    joint_model(&m, 703);
    float v[V];
    double mx = -INFINITY, s = 0;
    for (unsigned c = 0; c < 16; c++)
        for (int k = 0; k < K; k++) {
            joint_state(c, k, v);
            double t = typed_neg_free_energy(&m, v);
            if (t > mx) {
                s = s * exp(mx - t) + 1.0;
                mx = t;
            } else {
                s += exp(t - mx);
            }
        }
    double exact;
    assert_int_equal(rbm_exact_log_z(&m, MPI_COMM_WORLD, &exact), EBM_OK);
    assert_close_d(exact, mx + log(s), 1e-9, "log Z with label units");
    rbm_free(&m);
}

static void test_joint_refuses_bad_label_counts(void **state)
{
    (void)state;
    struct rbm m;
    rbm_init(&m, 5, 2);
    assert_int_equal(rbm_set_labels(&m, 1), EBM_ERR_INPUT);
    ebm_error_clear();
    assert_int_equal(rbm_set_labels(&m, 5), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "fewer than the 5 visible units"));
    ebm_error_clear();
    rbm_free(&m);
    rbm_init_typed(&m, 5, 2, EBM_UNIT_GAUSSIAN, EBM_UNIT_BERNOULLI);
    assert_int_equal(rbm_set_labels(&m, 2), EBM_ERR_INPUT);
    ebm_error_clear();
    rbm_free(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_joint_label_posterior_matches_enumeration),
    cmocka_unit_test(test_joint_label_conditional_and_samples),
    cmocka_unit_test(test_joint_exact_log_z_matches_brute_force),
    cmocka_unit_test(test_joint_refuses_bad_label_counts),
};

EBM_TEST_MAIN(tests)
