/* The DBM's math (ebm/dbm.h) against enumeration on tiny models: exact
 * log Z, the mean-field fixed point, the variational bound, and the
 * gradient's data term (mean field) and model term (Gibbs chains). */
#include "testutil.h"

#include "ebm/dbm.h"
#include "ebm/dbm_ais.h"
#include "ebm/dbm_eval.h"
#include "ebm/kernels.h"

/* A random DBM: weights and biases N(0, sigma^2). */
static void random_dbm(struct dbm *m, int L, const int *sizes, float sigma, uint64_t seed)
{
    assert_int_equal(dbm_init(m, L, sizes), EBM_OK);
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, m->block, m->block_len);
    for (size_t i = 0; i < m->block_len; i++) m->block[i] *= sigma;
}

/* All layers' bits of code as one configuration x[k] (n_k). */
static void state_of(const struct dbm *m, uint64_t code, float x[][8])
{
    int bit = 0;
    for (int k = 0; k <= m->n_hidden_layers; k++)
        for (int i = 0; i < m->sizes[k]; i++, bit++) x[k][i] = (float)((code >> bit) & 1u);
}

static int total_units(const struct dbm *m)
{
    int n = 0;
    for (int k = 0; k <= m->n_hidden_layers; k++) n += m->sizes[k];
    return n;
}

/* log Z by summing exp(-E) over every state of every layer. */
static double brute_log_z(const struct dbm *m)
{
    float x[4][8];
    const float *p[4] = { x[0], x[1], x[2], x[3] };
    double mx = -INFINITY, s = 0;
    for (uint64_t c = 0; c < ((uint64_t)1 << total_units(m)); c++) {
        state_of(m, c, x);
        double t = -dbm_energy(m, p);
        if (t > mx) {
            s = s * exp(mx - t) + 1.0;
            mx = t;
        } else {
            s += exp(t - mx);
        }
    }
    return mx + log(s);
}

static void test_dbm_exact_log_z_matches_brute_force(void **state)
{
    (void)state;
    static const int s2[] = { 4, 3, 3 }, s3[] = { 3, 3, 2, 3 };
    struct dbm m;
    random_dbm(&m, 2, s2, 0.8f, 900);
    double z;
    assert_int_equal(dbm_exact_log_z(&m, &z), EBM_OK);
    assert_close_d(z, brute_log_z(&m), 1e-9, "log Z, 2 hidden layers");
    dbm_free(&m);
    random_dbm(&m, 3, s3, 0.8f, 901);
    assert_int_equal(dbm_exact_log_z(&m, &z), EBM_OK);
    assert_close_d(z, brute_log_z(&m), 1e-9, "log Z, 3 hidden layers");
    dbm_free(&m);
}

/* Mean field reaches the fixed point mu_k = sigmoid(b_k + mu_{k-1} W_{k-1}
 * + mu_{k+1} W_k'), checked in double; the same fixed point as plain
 * damped-free iteration in double from the all-1/2 start (the map is a
 * contraction for these weights, so the fixed point is unique). */
static void test_dbm_mean_field_reaches_the_fixed_point(void **state)
{
    (void)state;
    enum { B = 5 };
    static const int sizes[] = { 6, 4, 3 };
    struct dbm m;
    random_dbm(&m, 2, sizes, 0.5f, 902);
    float v[B * 6], h1[B * 4], h2[B * 3], in[B * 6];
    struct ebm_rng r;
    ebm_rng_init(&r, 903, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&r, v, B * 6);
    for (int i = 0; i < B * 6; i++) v[i] = v[i] < 0.5f;
    struct dbm_state s = { { v, h1, h2 } };
    int it = dbm_mean_field(&m, &s, B, 1e-7, 100, in);
    print_message("mean field: %d sweeps to a change below 1e-7\n", it);
    assert_true(it > 1 && it < 100);
    for (int row = 0; row < B; row++) {
        double mu1[4] = { .5, .5, .5, .5 }, mu2[3] = { .5, .5, .5 };
        for (int t = 0; t < 500; t++) {
            for (int j = 0; j < 4; j++) {
                double a = m.b[1][j];
                for (int i = 0; i < 6; i++) a += v[row * 6 + i] * m.W[0][i * 4 + j];
                for (int l = 0; l < 3; l++) a += mu2[l] * m.W[1][j * 3 + l];
                mu1[j] = 1.0 / (1.0 + exp(-a));
            }
            for (int l = 0; l < 3; l++) {
                double a = m.b[2][l];
                for (int j = 0; j < 4; j++) a += mu1[j] * m.W[1][j * 3 + l];
                mu2[l] = 1.0 / (1.0 + exp(-a));
            }
        }
        for (int j = 0; j < 4; j++) assert_close_d(h1[row * 4 + j], mu1[j], 1e-6, "mu_1");
        for (int l = 0; l < 3; l++) assert_close_d(h2[row * 3 + l], mu2[l], 1e-6, "mu_2");
    }
    dbm_free(&m);
}

/* The bound is below log p(v) for every v, and equal to it when the
 * posterior is factorial (W_1 = 0 makes h1 and h2 independent given v). */
static void test_dbm_bound_is_below_log_p(void **state)
{
    (void)state;
    static const int sizes[] = { 3, 3, 2 };
    for (int factorial = 0; factorial < 2; factorial++) {
        struct dbm m;
        random_dbm(&m, 2, sizes, 0.9f, 904 + factorial);
        if (factorial) memset(m.W[1], 0, sizeof(float) * 3 * 2);
        double log_z;
        assert_int_equal(dbm_exact_log_z(&m, &log_z), EBM_OK);
        float v[8 * 3], h1[8 * 3], h2[8 * 2], in[8 * 3];
        for (int c = 0; c < 8; c++)
            for (int i = 0; i < 3; i++) v[c * 3 + i] = (float)((c >> i) & 1);
        struct dbm_state s = { { v, h1, h2 } };
        dbm_mean_field(&m, &s, 8, 1e-9, 500, in);
        double bound[8];
        dbm_bound_plus_log_z(&m, &s, 8, bound);
        for (int c = 0; c < 8; c++) {
            /* log p(v) + log Z = log sum_{h1, h2} exp(-E(v, h1, h2)) */
            float x[4][8];
            const float *p[4] = { x[0], x[1], x[2], x[3] };
            double mx = -INFINITY, sum = 0;
            for (uint64_t hc = 0; hc < 32; hc++) {
                state_of(&m, ((uint64_t)c) | (hc << 3), x);
                double t = -dbm_energy(&m, p);
                if (t > mx) { sum = sum * exp(mx - t) + 1.0; mx = t; }
                else sum += exp(t - mx);
            }
            double exact = mx + log(sum);
            assert_true(bound[c] <= exact + 1e-6);
            if (factorial) assert_close_d(bound[c], exact, 1e-5, "bound, factorial posterior");
        }
        dbm_free(&m);
    }
}

/* The model term of the gradient from Gibbs chains against exact model
 * expectations <x_k x_{k+1}'> and <x_k> by enumeration, within 5
 * standard errors of C independent chains; the data term of a model whose
 * posterior is factorial equals the exact posterior expectation. */
static void test_dbm_gradient_terms_match_enumeration(void **state)
{
    (void)state;
    enum { C = 20000, BURN = 60 };
    static const int sizes[] = { 3, 3, 2 };
    struct dbm m, g;
    random_dbm(&m, 2, sizes, 0.9f, 906);
    assert_int_equal(dbm_init(&g, 2, sizes), EBM_OK);
    /* exact <x_k x_{k+1}> (as a gradient block with inv_nm = 1, data 0) */
    double log_z, *exact = calloc(m.block_len, sizeof *exact);
    assert_int_equal(dbm_exact_log_z(&m, &log_z), EBM_OK);
    float x[4][8];
    const float *p[4] = { x[0], x[1], x[2], x[3] };
    for (uint64_t c = 0; c < 256; c++) {
        state_of(&m, c, x);
        double w = exp(-dbm_energy(&m, p) - log_z);
        size_t off = 0;
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < sizes[k]; i++)
                for (int j = 0; j < sizes[k + 1]; j++) exact[off++] += w * x[k][i] * x[k + 1][j];
        for (int k = 0; k <= 2; k++)
            for (int i = 0; i < sizes[k]; i++) exact[off++] += w * x[k][i];
    }
    /* Precondition, so that a failure below is the sampler's: BURN exact
     * sweeps from the uniform start leave the chain within 1e-6 of p in
     * total variation (the kernel: h1 given (v, h2), then (v, h2) given h1). */
    {
        static double T[256][256];
        double pz[256], d[256], next[256];
        for (uint64_t a = 0; a < 256; a++) {
            state_of(&m, a, x);
            pz[a] = exp(-dbm_energy(&m, p) - log_z);
        }
        for (int a = 0; a < 256; a++) {
            float xa[4][8];
            state_of(&m, (uint64_t)a, xa);
            for (int b = 0; b < 256; b++) {
                float xb[4][8];
                state_of(&m, (uint64_t)b, xb);
                double pr = 1.0;
                for (int j = 0; j < 3; j++) { /* h1 of b given v, h2 of a */
                    double t = m.b[1][j];
                    for (int i = 0; i < 3; i++) t += xa[0][i] * m.W[0][i * 3 + j];
                    for (int l = 0; l < 2; l++) t += xa[2][l] * m.W[1][j * 2 + l];
                    double q = 1.0 / (1.0 + exp(-t));
                    pr *= xb[1][j] ? q : 1.0 - q;
                }
                for (int i = 0; i < 3; i++) { /* v of b given h1 of b */
                    double t = m.b[0][i];
                    for (int j = 0; j < 3; j++) t += xb[1][j] * m.W[0][i * 3 + j];
                    double q = 1.0 / (1.0 + exp(-t));
                    pr *= xb[0][i] ? q : 1.0 - q;
                }
                for (int l = 0; l < 2; l++) { /* h2 of b given h1 of b */
                    double t = m.b[2][l];
                    for (int j = 0; j < 3; j++) t += xb[1][j] * m.W[1][j * 2 + l];
                    double q = 1.0 / (1.0 + exp(-t));
                    pr *= xb[2][l] ? q : 1.0 - q;
                }
                T[a][b] = pr;
            }
        }
        for (int a = 0; a < 256; a++) d[a] = 1.0 / 256;
        for (int t = 0; t < BURN; t++) {
            for (int b = 0; b < 256; b++) {
                next[b] = 0;
                for (int a = 0; a < 256; a++) next[b] += d[a] * T[a][b];
            }
            memcpy(d, next, sizeof d);
        }
        double tv = 0;
        for (int a = 0; a < 256; a++) tv += 0.5 * fabs(d[a] - pz[a]);
        assert_true(tv < 1e-6);
    }
    float *v = malloc(sizeof(float) * C * 3), *h1 = malloc(sizeof(float) * C * 3),
          *h2 = malloc(sizeof(float) * C * 2), *in = malloc(sizeof(float) * C * 3);
    struct ebm_rng r;
    ebm_rng_init(&r, 907, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&r, v, C * 3);
    ebm_rng_uniform(&r, h1, C * 3);
    ebm_rng_uniform(&r, h2, C * 2);
    for (int i = 0; i < C * 3; i++) v[i] = v[i] < 0.5f, h1[i] = h1[i] < 0.5f;
    for (int i = 0; i < C * 2; i++) h2[i] = h2[i] < 0.5f;
    struct dbm_state chains = { { v, h1, h2 } }, none = { { v, h1, h2 } };
    dbm_gibbs(&m, &chains, C, BURN, in, &r);
    dbm_statistics(&none, 0, &chains, C, 0.0f, 1.0f / C, &g);
    /* a product of binary units has sd <= 1/2 */
    double worst = 0;
    for (size_t i = 0; i < m.block_len; i++) {
        double z = fabs(-g.block[i] - exact[i]) / (0.5 / sqrt((double)C));
        worst = fmax(worst, z);
        assert_true(z < 5.0);
    }
    print_message("Gibbs model term: largest |error| / SE bound %.2f over %zu statistics\n", worst,
                  m.block_len);
    /* Data term: W_1 = 0 makes q exact, so mean field gives E[h1 | v] exactly. */
    memset(m.W[1], 0, sizeof(float) * 3 * 2);
    float vd[3] = { 1, 0, 1 }, m1[3], m2[2];
    struct dbm_state d = { { vd, m1, m2 } };
    dbm_mean_field(&m, &d, 1, 1e-9, 100, in);
    for (int j = 0; j < 3; j++) {
        double a = m.b[1][j] + m.W[0][0 * 3 + j] + m.W[0][2 * 3 + j];
        assert_close_d(m1[j], 1.0 / (1.0 + exp(-a)), 1e-6, "E[h1 | v], factorial posterior");
    }
    free(v); free(h1); free(h2); free(in); free(exact);
    dbm_free(&g);
    dbm_free(&m);
}

/* The AIS tests' models: c = 0 an 8-6-5 DBM, c = 1 a 6-4-5-3 one, and
 * their exact log Z. */
static void ais_test_dbm(int c, struct dbm *m, double *exact)
{
    static const int s2[] = { 8, 6, 5 }, s3[] = { 6, 4, 5, 3 };
    random_dbm(m, 2 + c, c ? s3 : s2, 0.6f, 910 + c);
    assert_int_equal(dbm_exact_log_z(m, exact), EBM_OK);
}

/* AIS with the odd or the even layers summed out, from a uniform base or
 * one with random biases on every unit: its interval holds exact log Z,
 * for 2 and 3 hidden layers. */
static void test_dbm_ais_brackets_exact_log_z(void **state)
{
    (void)state;
    enum { RUNS = 200, BETAS = 1500 };
    double *betas = ebm_ais_schedule(BETAS);
    for (int c = 0; c < 2; c++) {
        struct dbm m;
        double exact;
        ais_test_dbm(c, &m, &exact);
        /* base biases: 0 (every unit uniform), then N(0, 1) for every unit */
        float base[2][32] = { { 0 } };
        struct ebm_rng rng;
        ebm_rng_init(&rng, 40 + c, 0, EBM_RNG_TEST);
        ebm_rng_normal(&rng, base[1], 32);
        struct ebm_ais_result r;
        for (int variant = 0; variant < 4; variant++) {
            int kept = variant % 2, random_base = variant / 2;
            assert_int_equal(dbm_ais(&m, base[random_base], betas, BETAS, RUNS, kept, 11 + c,
                                     MPI_COMM_WORLD, &r), EBM_OK);
            print_message("dbm with %d hidden layers, %s layers kept, %s base: exact log Z "
                          "%.4f, AIS %.4f [%.4f, %.4f]\n", 2 + c, kept ? "odd" : "even",
                          random_base ? "random" : "uniform", exact, r.log_z, r.log_z_lo,
                          r.log_z_hi);
            assert_true(r.log_z_lo <= exact && exact <= r.log_z_hi);
        }
        dbm_free(&m);
    }
    free(betas);
}

/* Reverse AIS from rows drawn from the model (long Gibbs chains), each
 * kept hidden layer then drawn from the rows' mean-field posterior: its
 * interval holds exact log Z too, with either parity kept, for 2 and 3
 * hidden layers. */
static void test_dbm_reverse_ais_brackets_exact_log_z(void **state)
{
    (void)state;
    enum { RUNS = 200, BETAS = 1500, BURN_IN = 500 };
    double *betas = ebm_ais_schedule(BETAS);
    for (int c = 0; c < 2; c++) {
        struct dbm m;
        double exact;
        ais_test_dbm(c, &m, &exact);
        struct dbm_state s;
        struct ebm_rng rng;
        ebm_rng_init(&rng, 5 + c, 0, EBM_RNG_TEST);
        for (int k = 0; k <= m.n_hidden_layers; k++) {
            s.x[k] = malloc(sizeof(float) * RUNS * m.sizes[k]);
            ebm_rng_uniform(&rng, s.x[k], (size_t)RUNS * m.sizes[k]);
            for (int i = 0; i < RUNS * m.sizes[k]; i++) s.x[k][i] = s.x[k][i] < 0.5f;
        }
        float *in = malloc(sizeof(float) * RUNS * 8);
        dbm_gibbs(&m, &s, RUNS, BURN_IN, in, &rng);
        float base[32] = { 0 };
        struct ebm_ais_result r;
        for (int kept = 0; kept < 2; kept++) {
            assert_int_equal(dbm_reverse_ais(&m, base, betas, BETAS, s.x[0], RUNS, 0, kept,
                                             21 + c, 1e-7, 100, MPI_COMM_WORLD, &r), EBM_OK);
            print_message("dbm with %d hidden layers, %s layers kept: exact log Z %.4f, "
                          "reverse AIS %.4f [%.4f, %.4f]\n", 2 + c, kept ? "odd" : "even",
                          exact, r.log_z, r.log_z_lo, r.log_z_hi);
            assert_int_equal(r.runs, RUNS);
            assert_true(r.log_z_lo <= exact && exact <= r.log_z_hi);
        }
        for (int k = 0; k <= m.n_hidden_layers; k++) free(s.x[k]);
        free(in);
        dbm_free(&m);
    }
    free(betas);
}

/* The floor that log Z must exceed (every row's bound plus log Z) is below
 * exact log Z; on a sharp model, AIS with 15 betas and 2 runs lands under
 * it, and the evaluation says so. */
static void test_dbm_eval_flags_ais_below_the_floor(void **state)
{
    (void)state;
    enum { ROWS = 64, BURN_IN = 200 };
    static const int sizes[] = { 12, 8, 6 };
    struct dbm m;
    random_dbm(&m, 2, sizes, 3.0f, 71);
    double exact;
    assert_int_equal(dbm_exact_log_z(&m, &exact), EBM_OK);
    struct dbm_state s;
    struct ebm_rng rng;
    ebm_rng_init(&rng, 3, 0, EBM_RNG_TEST);
    for (int k = 0; k <= 2; k++) {
        s.x[k] = malloc(sizeof(float) * ROWS * m.sizes[k]);
        ebm_rng_uniform(&rng, s.x[k], (size_t)ROWS * m.sizes[k]);
        for (int i = 0; i < ROWS * m.sizes[k]; i++) s.x[k][i] = s.x[k][i] < 0.5f;
    }
    float *in = malloc(sizeof(float) * ROWS * 12);
    dbm_gibbs(&m, &s, ROWS, BURN_IN, in, &rng); /* rows where the model puts its mass */
    struct ebm_dbm_eval_opts o = { .ais_runs = 2, .ais_betas = 15, .seed = 1, .mf_steps = 100,
                                   .mf_tol = 1e-7 };
    struct ebm_dbm_eval_result r;
    assert_int_equal(ebm_dbm_evaluate(&m, s.x[0], ROWS, 0, &o, MPI_COMM_WORLD, &r), EBM_OK);
    print_message("exact log Z %.4f, floor %.4f, AIS (15 betas) %.4f\n", exact, r.log_z_floor,
                  r.log_z);
    assert_true(r.log_z_floor <= exact);
    assert_true(r.log_z < r.log_z_floor);
    assert_true(r.below_floor);
    o.exact = true;
    assert_int_equal(ebm_dbm_evaluate(&m, s.x[0], ROWS, 0, &o, MPI_COMM_WORLD, &r), EBM_OK);
    assert_false(r.below_floor);
    for (int k = 0; k <= 2; k++) free(s.x[k]);
    free(in);
    dbm_free(&m);
}

/* The sparsity pull: split over two "ranks" (share 1/2 each, inv_nd
 * 1/(2B)), the hidden-bias terms sum to cost * (target - the mean
 * activation over both halves); the visible biases and weights are left
 * alone. */
static void test_dbm_sparsity_pulls_hidden_biases_toward_the_target(void **state)
{
    (void)state;
    enum { B = 5 };
    static const int sizes[] = { 4, 3, 2 };
    const float target = 0.2f, cost = 0.7f;
    struct dbm g;
    assert_int_equal(dbm_init(&g, 2, sizes), EBM_OK);
    struct dbm_state half[2];
    float mu[2][3][B * 4];
    struct ebm_rng rng;
    ebm_rng_init(&rng, 9, 0, EBM_RNG_TEST);
    for (int h = 0; h < 2; h++)
        for (int k = 0; k <= 2; k++) {
            ebm_rng_uniform(&rng, mu[h][k], (size_t)B * sizes[k]);
            half[h].x[k] = mu[h][k];
        }
    for (int h = 0; h < 2; h++)
        dbm_sparsity(&half[h], B, 1.0f / (2 * B), 0.5f, target, cost, &g);
    for (int k = 0; k <= 2; k++)
        for (int j = 0; j < sizes[k]; j++) {
            double q = 0.0;
            for (int h = 0; h < 2; h++)
                for (int r = 0; r < B; r++) q += mu[h][k][r * sizes[k] + j] / (2.0 * B);
            double want = k == 0 ? 0.0 : cost * (target - q);
            assert_close_d(g.b[k][j], want, 1e-6, "sparsity term of a bias");
        }
    for (size_t i = 0; i < (size_t)sizes[0] * sizes[1]; i++) assert_true(g.W[0][i] == 0.0f);
    dbm_free(&g);
}

static void test_dbm_refuses_bad_shapes(void **state)
{
    (void)state;
    struct dbm m;
    static const int one[] = { 4, 3 }, big[] = { 20, 3, 10 };
    assert_int_equal(dbm_init(&m, 1, one), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "2 or 3 hidden layers"));
    ebm_error_clear();
    assert_int_equal(dbm_init(&m, 2, big), EBM_OK);
    double z;
    assert_int_equal(dbm_exact_log_z(&m, &z), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "at most 24 units"));
    ebm_error_clear();
    dbm_free(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dbm_exact_log_z_matches_brute_force),
    cmocka_unit_test(test_dbm_mean_field_reaches_the_fixed_point),
    cmocka_unit_test(test_dbm_bound_is_below_log_p),
    cmocka_unit_test(test_dbm_gradient_terms_match_enumeration),
    cmocka_unit_test(test_dbm_ais_brackets_exact_log_z),
    cmocka_unit_test(test_dbm_reverse_ais_brackets_exact_log_z),
    cmocka_unit_test(test_dbm_eval_flags_ais_below_the_floor),
    cmocka_unit_test(test_dbm_sparsity_pulls_hidden_biases_toward_the_target),
    cmocka_unit_test(test_dbm_refuses_bad_shapes),
};

EBM_TEST_MAIN(tests)
