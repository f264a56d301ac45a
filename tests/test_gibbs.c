/* The block Gibbs sampler against the exact p(v) of a tiny RBM, and its
 * streams keyed by global chain index (which is what makes `ebm sample`
 * give the same samples at any rank count, tested here without MPI). */
#include "testutil.h"
#include "enum.h"
#include "typed.h"

#include "ebm/gibbs.h"

enum { TV = 4, TH = 3, NSTATES = 1 << TV }; /* the tiny model: 16 visible states */

/* p(unit = 1) given the other layer, in double, for the exact chain. */
static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Distribution of v after `steps` exact sweeps from the uniform start of
 * ebm_gibbs_random_init: T[v][v'] = sum_h p(h | v) p(v' | h). */
static void exact_chain(const struct rbm *m, int steps, double out[NSTATES])
{
    static double T[NSTATES][NSTATES];
    float v[TV], h[TH], v2[TV];
    for (unsigned a = 0; a < NSTATES; a++) {
        enum_state(a, TV, v);
        for (unsigned b = 0; b < NSTATES; b++) T[a][b] = 0;
        for (unsigned c = 0; c < (1u << TH); c++) {
            enum_state(c, TH, h);
            double ph = 1;
            for (int j = 0; j < TH; j++) {
                double x = m->hbias[j];
                for (int i = 0; i < TV; i++) x += v[i] * m->W[i * TH + j];
                ph *= h[j] ? sigm(x) : 1 - sigm(x);
            }
            for (unsigned b = 0; b < NSTATES; b++) {
                enum_state(b, TV, v2);
                double pv = 1;
                for (int i = 0; i < TV; i++) {
                    double x = m->vbias[i];
                    for (int j = 0; j < TH; j++) x += h[j] * m->W[i * TH + j];
                    pv *= v2[i] ? sigm(x) : 1 - sigm(x);
                }
                T[a][b] += ph * pv;
            }
        }
    }
    double d[NSTATES], next[NSTATES];
    for (int a = 0; a < NSTATES; a++) d[a] = 1.0 / NSTATES;
    for (int s = 0; s < steps; s++) {
        for (int b = 0; b < NSTATES; b++) {
            next[b] = 0;
            for (int a = 0; a < NSTATES; a++) next[b] += d[a] * T[a][b];
        }
        memcpy(d, next, sizeof d);
    }
    memcpy(out, d, sizeof d);
}

static unsigned state_code(const float *v)
{
    unsigned c = 0;
    for (int i = 0; i < TV; i++) c |= (v[i] > 0.5f ? 1u : 0u) << i; /* on: 1 (not 0 or -1) */
    return c;
}

/* Runs n chains of m from random starts: final states v and means pv. */
static void sample(const struct rbm *m, int n, int64_t first, int steps, uint64_t seed,
                   float *v, float *pv)
{
    struct ebm_gibbs g;
    assert_int_equal(ebm_gibbs_init(&g, m->n_visible, m->n_hidden, n, first, seed), EBM_OK);
    ebm_gibbs_random_init(&g, v);
    ebm_gibbs_run(&g, m, v, steps, pv);
    ebm_gibbs_free(&g);
}

static void test_gibbs_matches_exact_distribution(void **state)
{
    (void)state;
    enum { N = 20000, STEPS = 50 };
    struct rbm m;
    enum_random_rbm(&m, TV, TH, 1.0f, 31);
    double logz = enum_log_z(&m), p[NSTATES], chain[NSTATES];
    float x[TV];
    for (unsigned c = 0; c < NSTATES; c++) {
        enum_state(c, TV, x);
        p[c] = exp(enum_neg_free_energy(&m, x) - logz);
    }
    /* Preconditions, so that a failure below is the sampler's: after STEPS
     * exact sweeps the chain has forgotten its start, and every state is
     * expected at least 5 times (the chi-square approximation's rule). */
    exact_chain(&m, STEPS, chain);
    double mix = 0, pmin = 1;
    for (int c = 0; c < NSTATES; c++) {
        mix += 0.5 * fabs(chain[c] - p[c]);
        if (p[c] < pmin) pmin = p[c];
    }
    assert_close_d(mix, 0.0, 1e-9, "TV(exact chain after STEPS sweeps, p)");
    assert_true(N * pmin >= 5.0);

    float *v = malloc(sizeof(float) * N * TV), *pv = malloc(sizeof(float) * N * TV);
    assert_non_null(v);
    assert_non_null(pv);
    sample(&m, N, 0, STEPS, 32, v, pv);
    double count[NSTATES] = { 0 };
    for (int r = 0; r < N; r++) count[state_code(v + r * TV)] += 1;

    /* The chains are independent, so the final states are N i.i.d. draws.
     * Pearson's chi-square with 16 - 1 degrees of freedom against the
     * p = 1e-4 point, chi2_{15, 0.9999} = 44.26 (regularised incomplete
     * gamma, solved numerically). */
    double chi2 = 0, tv = 0;
    for (int c = 0; c < NSTATES; c++) {
        double e = N * p[c];
        chi2 += (count[c] - e) * (count[c] - e) / e;
        tv += 0.5 * fabs(count[c] / N - p[c]);
    }
    if (!(chi2 < 44.26)) {
        for (int c = 0; c < NSTATES; c++)
            print_error("state %2d: observed %6.0f expected %8.1f\n", c, count[c], N * p[c]);
        print_error("chi-square %.2f with 15 dof exceeds 44.26 (p = 1e-4)\n", chi2);
        fail();
    }
    /* Total variation: E[TV] <= 1/2 sum_c sqrt(p_c (1 - p_c) / N)
     * <= 1/2 sqrt(15 / N) (Cauchy-Schwarz over 16 cells), and one draw
     * moves TV by at most 1/N, so McDiarmid gives P(TV > E[TV] + t) <=
     * exp(-2 N t^2) = 1e-4 at t = sqrt(ln(1e4) / (2N)). For N = 20000 the
     * bound is 0.0137 + 0.0152. */
    double bound = 0.5 * sqrt(15.0 / N) + sqrt(log(1e4) / (2.0 * N));
    assert_close_d(tv, 0.0, bound, "TV(empirical, exact p(v))");

    /* The means p(v | h) average to the marginals p(v_i = 1): 5 standard
     * errors, each mean being in [0, 1] (sd <= 0.5). */
    for (int i = 0; i < TV; i++) {
        double mean = 0, exact = 0;
        for (int r = 0; r < N; r++) mean += pv[r * TV + i];
        for (unsigned c = 0; c < NSTATES; c++) exact += ((c >> i) & 1u) ? p[c] : 0.0;
        assert_close_d(mean / N, exact, 5.0 * 0.5 / sqrt(N), "mean of p(v_i = 1 | h)");
    }
    free(v);
    free(pv);
    rbm_free(&m);
}


/* Typed chains (spin visible or hidden units): the exact one-sweep kernel
 * T[a][b] = sum_h p(h | v_a) p(v_b | h), both conditionals by normalising
 * exp(-E(v, h)) over one layer, for any unit types. */
static void typed_exact_chain(const struct rbm *m, int steps, double out[NSTATES])
{
    static double T[NSTATES][NSTATES];
    float v[TV], h[TH];
    int nh = 1 << TH;
    for (unsigned a = 0; a < NSTATES; a++) {
        typed_state(a, TV, m->vis.type, v);
        double ph[1 << TH], zh = 0;
        for (int c = 0; c < nh; c++) {
            typed_state((unsigned)c, TH, m->hid.type, h);
            zh += ph[c] = exp(-rbm_energy(m, v, h));
        }
        for (unsigned b = 0; b < NSTATES; b++) T[a][b] = 0;
        for (int c = 0; c < nh; c++) {
            typed_state((unsigned)c, TH, m->hid.type, h);
            double pv[NSTATES], zv = 0;
            for (unsigned b = 0; b < NSTATES; b++) {
                typed_state(b, TV, m->vis.type, v);
                zv += pv[b] = exp(-rbm_energy(m, v, h));
            }
            for (unsigned b = 0; b < NSTATES; b++) T[a][b] += ph[c] / zh * pv[b] / zv;
        }
    }
    double d[NSTATES], next[NSTATES];
    for (int a = 0; a < NSTATES; a++) d[a] = 1.0 / NSTATES;
    for (int s = 0; s < steps; s++) {
        for (int b = 0; b < NSTATES; b++) {
            next[b] = 0;
            for (int a = 0; a < NSTATES; a++) next[b] += d[a] * T[a][b];
        }
        memcpy(d, next, sizeof d);
    }
    memcpy(out, d, sizeof d);
}

/* Block Gibbs with spin units, through the unit types: N independent
 * chains' final states against the exact p(v), by the same chi-square and
 * TV bounds as the Bernoulli test above. */
static void test_gibbs_typed_chains_match_exact_distribution(void **state)
{
    (void)state;
    enum { N = 20000, STEPS = 50 };
    static const enum ebm_unit_type pairs[][2] = {
        { EBM_UNIT_SPIN, EBM_UNIT_SPIN },
        { EBM_UNIT_SPIN, EBM_UNIT_BERNOULLI },
        { EBM_UNIT_BERNOULLI, EBM_UNIT_SPIN },
    };
    for (int k = 0; k < 3; k++) {
        struct rbm m;
        typed_random_rbm(&m, TV, TH, pairs[k][0], pairs[k][1], 0.5f, 33 + k);
        double logz = typed_log_z(&m), p[NSTATES], chain[NSTATES], mix = 0, pmin = 1;
        float x[TV];
        for (unsigned c = 0; c < NSTATES; c++) {
            typed_state(c, TV, m.vis.type, x);
            p[c] = exp(typed_neg_free_energy(&m, x) - logz);
            pmin = fmin(pmin, p[c]);
        }
        typed_exact_chain(&m, STEPS, chain);
        for (int c = 0; c < NSTATES; c++) mix += 0.5 * fabs(chain[c] - p[c]);
        assert_close_d(mix, 0.0, 1e-9, "TV(exact typed chain after STEPS sweeps, p)");
        assert_true(N * pmin >= 5.0);

        float *v = malloc(sizeof(float) * N * TV), *pv = malloc(sizeof(float) * N * TV);
        struct ebm_gibbs g;
        assert_int_equal(ebm_gibbs_init(&g, TV, TH, N, 0, 34 + k), EBM_OK);
        ebm_gibbs_random_init_for(&g, &m, v);
        ebm_gibbs_run(&g, &m, v, STEPS, pv);
        ebm_gibbs_free(&g);
        double count[NSTATES] = { 0 }, chi2 = 0, tv = 0;
        for (int r = 0; r < N; r++) count[state_code(v + r * TV)] += 1;
        for (int c = 0; c < NSTATES; c++) {
            double e = N * p[c];
            chi2 += (count[c] - e) * (count[c] - e) / e;
            tv += 0.5 * fabs(count[c] / N - p[c]);
        }
        print_message("%s/%s: chi-square %.2f (15 dof, critical 44.26), TV %.4f\n",
                      ebm_unit_type_name(pairs[k][0]), ebm_unit_type_name(pairs[k][1]), chi2, tv);
        assert_true(chi2 < 44.26); /* p = 1e-4, as above */
        assert_close_d(tv, 0.0, 0.5 * sqrt(15.0 / N) + sqrt(log(1e4) / (2.0 * N)), "typed TV");
        for (int i = 0; i < N * TV; i++)
            assert_true(v[i] == 1.0f || v[i] == (m.vis.type == EBM_UNIT_SPIN ? -1.0f : 0.0f));
        free(v);
        free(pv);
        rbm_free(&m);
    }
}

/* A model big enough that BLAS takes its blocked paths. */
enum { BV = 37, BH = 23, BN = 1000, BSTEPS = 20 };

static void test_gibbs_same_seed_same_samples(void **state)
{
    (void)state;
    struct rbm m;
    enum_random_rbm(&m, BV, BH, 0.5f, 33);
    size_t n = (size_t)BN * BV;
    float *v1 = malloc(n * sizeof *v1), *v2 = malloc(n * sizeof *v2),
          *p1 = malloc(n * sizeof *p1), *p2 = malloc(n * sizeof *p2);
    sample(&m, BN, 0, BSTEPS, 34, v1, p1);
    sample(&m, BN, 0, BSTEPS, 34, v2, p2);
    assert_memory_equal(v1, v2, n * sizeof *v1);
    assert_memory_equal(p1, p2, n * sizeof *p1);
    sample(&m, BN, 0, BSTEPS, 35, v2, p2);
    assert_memory_not_equal(v1, v2, n * sizeof *v1);
    free(v1);
    free(v2);
    free(p1);
    free(p2);
    rbm_free(&m);
}

/* What two ranks do: chains [0, cut) and [cut, BN) as separate blocks,
 * each stream keyed by its global index. The binary states must match one
 * run of all chains exactly; the means agree up to BLAS rounding, which
 * depends on the block's row count (OpenBLAS 0.3.21: ~0.1% of the
 * conditionals differ, by ~1 ulp; tolerance 1e-6). Such a difference flips
 * a draw only when u lands within it of p, about 1e-10 per draw, so over
 * these ~3.6e6 draws the binary states can be checked exactly. */
static void split_matches_one_run(int cut)
{
    struct rbm m;
    enum_random_rbm(&m, BV, BH, 0.5f, 36);
    size_t n = (size_t)BN * BV;
    float *v1 = malloc(n * sizeof *v1), *v2 = malloc(n * sizeof *v2),
          *p1 = malloc(n * sizeof *p1), *p2 = malloc(n * sizeof *p2);
    sample(&m, BN, 0, BSTEPS, 37, v1, p1);
    sample(&m, cut, 0, BSTEPS, 37, v2, p2);
    sample(&m, BN - cut, cut, BSTEPS, 37, v2 + (size_t)cut * BV, p2 + (size_t)cut * BV);
    assert_memory_equal(v1, v2, n * sizeof *v1);
    assert_close_f(p1, p2, n, 1e-6, "p(v | h), split vs one run");
    free(v1);
    free(v2);
    free(p1);
    free(p2);
    rbm_free(&m);
}

static void test_gibbs_split_chains_match_one_run(void **state)
{
    (void)state;
    split_matches_one_run(BN / 2);
    split_matches_one_run(437); /* uneven, as with 3 ranks */
    split_matches_one_run(1);
}

/* The streams carry on between calls: k + k sweeps equal 2k. */
static void test_gibbs_streams_continue_across_calls(void **state)
{
    (void)state;
    struct rbm m;
    enum_random_rbm(&m, BV, BH, 0.5f, 38);
    size_t n = (size_t)BN * BV;
    float *v1 = malloc(n * sizeof *v1), *v2 = malloc(n * sizeof *v2),
          *p1 = malloc(n * sizeof *p1), *p2 = malloc(n * sizeof *p2);
    sample(&m, BN, 0, 2 * BSTEPS, 39, v1, p1);
    struct ebm_gibbs g;
    assert_int_equal(ebm_gibbs_init(&g, BV, BH, BN, 0, 39), EBM_OK);
    ebm_gibbs_random_init(&g, v2);
    ebm_gibbs_run(&g, &m, v2, BSTEPS, NULL);
    ebm_gibbs_run(&g, &m, v2, BSTEPS, p2);
    ebm_gibbs_free(&g);
    assert_memory_equal(v1, v2, n * sizeof *v1);
    assert_memory_equal(p1, p2, n * sizeof *p1);
    free(v1);
    free(v2);
    free(p1);
    free(p2);
    rbm_free(&m);
}

static void test_gibbs_random_init_is_fair(void **state)
{
    (void)state;
    enum { N = 5000 };
    float *v = malloc(sizeof(float) * N * BV);
    struct ebm_gibbs g;
    assert_int_equal(ebm_gibbs_init(&g, BV, BH, N, 0, 40), EBM_OK);
    ebm_gibbs_random_init(&g, v);
    ebm_gibbs_free(&g);
    double ones = 0;
    for (int i = 0; i < N * BV; i++) {
        assert_true(v[i] == 0.0f || v[i] == 1.0f);
        ones += v[i];
    }
    assert_close_d(ones / (N * BV), 0.5, 5.0 * 0.5 / sqrt(N * BV), "fraction of ones");
    free(v);
}

/* A rank without chains (N < ranks) takes part with an empty block. */
static void test_gibbs_empty_block_is_a_no_op(void **state)
{
    (void)state;
    struct rbm m;
    enum_random_rbm(&m, BV, BH, 0.5f, 41);
    struct ebm_gibbs g;
    assert_int_equal(ebm_gibbs_init(&g, BV, BH, 0, 5, 42), EBM_OK);
    float v[1] = { 7.0f }, pv[1] = { 7.0f };
    ebm_gibbs_random_init(&g, v);
    ebm_gibbs_run(&g, &m, v, 3, pv);
    assert_true(v[0] == 7.0f && pv[0] == 7.0f);
    ebm_gibbs_free(&g);
    ebm_gibbs_free(&g); /* free twice, and free(NULL), are safe */
    ebm_gibbs_free(NULL);
    rbm_free(&m);
}

static void test_gibbs_rejects_chain_indices_past_32_bits(void **state)
{
    (void)state;
    struct ebm_gibbs g;
    assert_int_equal(ebm_gibbs_init(&g, 4, 3, 2, ((int64_t)1 << 32) - 1, 1), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "2^32"));
    ebm_error_clear();
    assert_int_equal(ebm_gibbs_init(&g, 0, 3, 2, 0, 1), EBM_ERR_INPUT);
    ebm_error_clear();
    assert_int_equal(ebm_gibbs_init(&g, 4, 3, 1, ((int64_t)1 << 32) - 1, 1), EBM_OK);
    ebm_gibbs_free(&g);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_gibbs_typed_chains_match_exact_distribution),
    cmocka_unit_test(test_gibbs_matches_exact_distribution),
    cmocka_unit_test(test_gibbs_same_seed_same_samples),
    cmocka_unit_test(test_gibbs_split_chains_match_one_run),
    cmocka_unit_test(test_gibbs_streams_continue_across_calls),
    cmocka_unit_test(test_gibbs_random_init_is_fair),
    cmocka_unit_test(test_gibbs_empty_block_is_a_no_op),
    cmocka_unit_test(test_gibbs_rejects_chain_indices_past_32_bits),
};

EBM_TEST_MAIN(tests)
