/* Log-likelihood machinery: exact log Z against brute force, AIS and
 * reverse AIS against exact log Z, and the pseudo-likelihood. */
#include "testutil.h"
#include "enum.h"
#include "typed.h"

#include "ebm/ais.h"
#include "ebm/checkpoint.h"
#include "ebm/model_file.h"
#include "ebm/evaluate.h"
#include "ebm/logz.h"
#include "ebm/trainer.h"

static void test_eval_exact_log_z_matches_brute_force(void **state)
{
    (void)state;
    /* Both orientations: enumerate the hidden layer (10 x 8) and the
     * visible one (6 x 11). */
    static const int shapes[][2] = { { 10, 8 }, { 6, 11 } };
    for (int s = 0; s < 2; s++) {
        struct rbm m;
        enum_random_rbm(&m, shapes[s][0], shapes[s][1], 0.7f, 100 + s);
        double exact;
        assert_int_equal(rbm_exact_log_z(&m, MPI_COMM_WORLD, &exact), EBM_OK);
        assert_close_d(exact, enum_log_z(&m), 1e-9, "log Z vs brute force over both layers");
        rbm_free(&m);
    }
}

static void test_eval_exact_refuses_large_layers(void **state)
{
    (void)state;
    struct rbm m;
    rbm_init(&m, 40, 33);
    double z;
    assert_int_equal(rbm_exact_log_z(&m, MPI_COMM_WORLD, &z), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "at most 32"));
    assert_non_null(strstr(ebm_error_message(), "40 x 33"));
    ebm_error_clear();
    rbm_free(&m);
}

static void test_eval_schedule_shape(void **state)
{
    (void)state;
    double *b = ebm_ais_schedule(15000);
    assert_non_null(b);
    assert_true(b[0] == 0.0 && b[15000] == 1.0);
    assert_close_d(b[1000], 0.5, 1e-7, "beta after 1,000 steps");
    assert_close_d(b[5000], 0.9, 1e-7, "beta after 5,000 steps");
    for (int k = 1; k <= 15000; k++) assert_true(b[k] > b[k - 1]);
    free(b);
    assert_null(ebm_ais_schedule(2));
}

/* Base biases from the model's own exact visible marginals, as eval takes
 * them from the data. */
static void model_marginals(const struct rbm *m, float *p)
{
    int V = m->n_visible;
    double lz = enum_log_z(m), acc[32] = { 0 };
    float v[32];
    for (unsigned c = 0; c < (1u << V); c++) {
        enum_state(c, V, v);
        double pv = exp(enum_neg_free_energy(m, v) - lz);
        for (int i = 0; i < V; i++) acc[i] += pv * v[i];
    }
    for (int i = 0; i < V; i++) p[i] = (float)acc[i];
}

/* n exact samples of v by inverting the enumerated CDF. */
static void exact_samples(const struct rbm *m, int n, uint64_t seed, float *out)
{
    int V = m->n_visible;
    unsigned states = 1u << V;
    double lz = enum_log_z(m), *cdf = malloc(sizeof *cdf * states), acc = 0;
    float v[32];
    for (unsigned c = 0; c < states; c++) {
        enum_state(c, V, v);
        acc += exp(enum_neg_free_energy(m, v) - lz);
        cdf[c] = acc;
    }
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    for (int i = 0; i < n; i++) {
        float u;
        ebm_rng_uniform(&r, &u, 1);
        unsigned c = 0;
        while (c + 1 < states && cdf[c] < u * acc) c++;
        enum_state(c, V, out + (size_t)i * V);
    }
    free(cdf);
}

static void test_eval_ais_brackets_exact_on_tiny_models(void **state)
{
    (void)state;
    enum { V = 12, H = 9, RUNS = 200, BETAS = 1500 };
    double *betas = ebm_ais_schedule(BETAS);
    for (int s = 0; s < 3; s++) {
        struct rbm m;
        enum_random_rbm(&m, V, H, 0.4f + 0.3f * s, 200 + s);
        float p[V], base[V];
        model_marginals(&m, p);
        ebm_ais_base_biases(p, V, base);
        double exact;
        assert_int_equal(rbm_exact_log_z(&m, MPI_COMM_WORLD, &exact), EBM_OK);
        struct ebm_ais_result fwd, rev;
        assert_int_equal(rbm_ais(&m, base, betas, BETAS, RUNS, 7 + s, MPI_COMM_WORLD, &fwd),
                         EBM_OK);
        /* The interval is the estimator's own: log(Z^ -/+ 3 sd). */
        print_message("model %d: exact %.4f  AIS %.4f [%.4f, %.4f]\n", s, exact, fwd.log_z,
                      fwd.log_z_lo, fwd.log_z_hi);
        assert_true(fwd.log_z_lo <= exact && exact <= fwd.log_z_hi);

        /* Reverse AIS from exact model samples is unbiased in weight space:
         * exact lies inside its interval too. */
        float *v0 = malloc(sizeof(float) * RUNS * V);
        exact_samples(&m, RUNS, 300 + s, v0);
        assert_int_equal(rbm_reverse_ais(&m, base, betas, BETAS, v0, RUNS, 0, 9 + s,
                                         MPI_COMM_WORLD, &rev), EBM_OK);
        print_message("          reverse %.4f [%.4f, %.4f]\n", rev.log_z, rev.log_z_lo,
                      rev.log_z_hi);
        assert_true(rev.log_z_lo <= exact && exact <= rev.log_z_hi);
        free(v0);
        rbm_free(&m);
    }
    free(betas);
}

static void test_eval_ais_is_reproducible(void **state)
{
    (void)state;
    struct rbm m;
    enum_random_rbm(&m, 8, 5, 0.5f, 400);
    float base[8] = { 0 };
    double *betas = ebm_ais_schedule(300);
    struct ebm_ais_result a, b, c;
    assert_int_equal(rbm_ais(&m, base, betas, 300, 50, 1, MPI_COMM_WORLD, &a), EBM_OK);
    assert_int_equal(rbm_ais(&m, base, betas, 300, 50, 1, MPI_COMM_WORLD, &b), EBM_OK);
    assert_int_equal(rbm_ais(&m, base, betas, 300, 50, 2, MPI_COMM_WORLD, &c), EBM_OK);
    assert_true(a.log_z == b.log_z);
    assert_true(a.log_z != c.log_z);
    free(betas);
    rbm_free(&m);
}

static void test_eval_pseudo_likelihood_matches_enumeration(void **state)
{
    (void)state;
    enum { V = 7, H = 5 };
    struct rbm m;
    enum_random_rbm(&m, V, H, 1.2f, 500);
    float v[V], flip[V], scratch[H];
    for (unsigned c = 0; c < (1u << V); c += 5) {
        enum_state(c, V, v);
        double want = 0.0, lv = enum_neg_free_energy(&m, v);
        for (int i = 0; i < V; i++) {
            memcpy(flip, v, sizeof v);
            flip[i] = 1.0f - flip[i];
            double lf = enum_neg_free_energy(&m, flip);
            want += lv - log(exp(lv) + exp(lf)); /* log p(v_i | v_-i) */
        }
        assert_close_d(ebm_pseudo_log_likelihood(&m, v, scratch), want, 1e-5,
                       "pseudo-log-likelihood vs enumeration");
    }
    rbm_free(&m);
}

static void test_eval_binarize_is_keyed_by_row(void **state)
{
    (void)state;
    enum { N = 6, D = 50 };
    float a[N * D], b[N * D];
    for (int i = 0; i < N * D; i++) a[i] = b[i] = (float)(i % 10) / 10.0f;
    assert_int_equal(ebm_eval_binarize(a, N, D, 0, 3, 0), EBM_OK);
    /* rows 2.. on their own (as another rank would hold them) */
    assert_int_equal(ebm_eval_binarize(b + 2 * D, N - 2, D, 2, 3, 0), EBM_OK);
    assert_memory_equal(a + 2 * D, b + 2 * D, sizeof(float) * (N - 2) * D);
    for (int i = 0; i < N * D; i++) assert_true(a[i] == 0.0f || a[i] == 1.0f);
}

/* A 784-12 RBM briefly trained on a slice of MNIST: small enough for the
 * exact log Z (2^12 hidden states), real enough to have AIS work hard. */
static void test_eval_ais_on_mnist_784_12(void **state)
{
    (void)state;
    const char *mnist = "data/mnist.h5";
    if (access(mnist, R_OK) != 0) {
        print_error("%s is missing: run `make data` first\n", mnist);
        fail();
    }
    struct ebm_config cfg;
    ebm_config_defaults(&cfg);
    snprintf(cfg.data.path, sizeof cfg.data.path, "%s", mnist);
    cfg.data.max_examples = 3000;
    cfg.data.valid_split[0] = '\0';
    cfg.model.hidden = 12;
    cfg.train.batch_size = 50;
    cfg.train.chains = 50;
    cfg.train.lr = 0.1;
    cfg.train.epochs = 3;
    struct ebm_par par;
    assert_int_equal(ebm_par_init(&par, MPI_COMM_WORLD), EBM_OK);
    struct ebm_trainer tr;
    assert_int_equal(ebm_trainer_init(&tr, &cfg, &par), EBM_OK);
    for (int e = 0; e < cfg.train.epochs; e++) {
        ebm_trainer_begin_epoch(&tr);
        for (int64_t s = 0; s < tr.steps_per_epoch; s++) assert_int_equal(ebm_trainer_step(&tr), EBM_OK);
        tr.epoch++;
    }
    /* 200 binarised rows: base rate and reverse-AIS starting points. */
    enum { N = 200, RUNS = 100, BETAS = 3000 };
    int V = tr.V;
    float *x = malloc(sizeof(float) * N * V);
    memcpy(x, tr.data.x, sizeof(float) * N * V);
    assert_int_equal(ebm_eval_binarize(x, N, V, 0, 1, 0), EBM_OK);
    double exact;
    assert_int_equal(rbm_exact_log_z(&tr.model, MPI_COMM_WORLD, &exact), EBM_OK);
    struct ebm_eval_opts o = { .ais_runs = RUNS, .ais_betas = BETAS, .seed = 3, .reverse = true };
    struct ebm_eval_result r;
    assert_int_equal(ebm_evaluate(&tr.model, x, N, 0, &o, MPI_COMM_WORLD, &r), EBM_OK);
    print_message("784-12: exact %.4f  AIS %.4f [%.4f, %.4f]  reverse %.4f [%.4f, %.4f]\n",
                  exact, r.log_z, r.log_z_lo, r.log_z_hi, r.reverse_log_z, r.reverse_log_z_lo,
                  r.reverse_log_z_hi);
    assert_true(r.log_z_lo <= exact && exact <= r.log_z_hi);
    /* Reverse AIS from data errs high on log Z (low on log p): at or above
     * the exact value, within its own error. */
    assert_true(exact <= r.reverse_log_z_hi);
    assert_true(fabs(r.reverse_log_z - exact) <= 3 * (r.reverse_log_z_hi - r.reverse_log_z_lo));
    free(x);
    ebm_trainer_free(&tr);
    ebm_par_free(&par);
}

static void test_eval_model_file_refuses_other_models(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/dbn.h5", test_tmpdir());
    struct ebm_ckpt ck;
    assert_int_equal(ebm_ckpt_create(&ck, path, MPI_COMM_WORLD), EBM_OK);
    assert_int_equal(ebm_ckpt_attr_str(&ck, "/model", "type", "dbn"), EBM_OK);
    assert_int_equal(ebm_ckpt_commit(&ck), EBM_OK);
    struct rbm m;
    struct ebm_model_info info;
    assert_int_equal(ebm_model_read_rbm(path, MPI_COMM_WORLD, &m, &info), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "'dbn' model, not an rbm"));
    assert_non_null(strstr(ebm_error_message(), path));
    ebm_error_clear();
}


/* Exact log Z of typed RBMs: discrete pairs against the sum over both
 * layers (either layer enumerated), Gaussian visible units against a
 * numeric integral of exp(-F(v)) over v in R^2. */
static void test_eval_typed_exact_log_z(void **state)
{
    (void)state;
    static const struct { int V, H; enum ebm_unit_type vis, hid; } cases[] = {
        { 7, 5, EBM_UNIT_SPIN, EBM_UNIT_SPIN },      /* hidden layer enumerated */
        { 5, 9, EBM_UNIT_SPIN, EBM_UNIT_SPIN },      /* visible layer enumerated */
        { 6, 4, EBM_UNIT_BERNOULLI, EBM_UNIT_SPIN },
        { 4, 8, EBM_UNIT_BERNOULLI, EBM_UNIT_SPIN },
        { 8, 3, EBM_UNIT_SPIN, EBM_UNIT_BERNOULLI },
        { 3, 8, EBM_UNIT_SPIN, EBM_UNIT_BERNOULLI },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct rbm m;
        typed_random_rbm(&m, cases[c].V, cases[c].H, cases[c].vis, cases[c].hid, 0.6f, 400 + c);
        double exact;
        assert_int_equal(rbm_exact_log_z(&m, MPI_COMM_WORLD, &exact), EBM_OK);
        assert_close_d(exact, typed_log_z(&m), 1e-9, "typed log Z vs brute force");
        rbm_free(&m);
    }
    for (int hid = 0; hid < 2; hid++) {
        struct rbm m;
        typed_random_rbm(&m, 2, 3, EBM_UNIT_GAUSSIAN, hid ? EBM_UNIT_SPIN : EBM_UNIT_BERNOULLI,
                         0.8f, 410 + hid);
        double exact, grid = typed_log_z_gaussian2(&m, 1200);
        assert_int_equal(rbm_exact_log_z(&m, MPI_COMM_WORLD, &exact), EBM_OK);
        print_message("gaussian/%s: exact log Z %.9f, grid integral %.9f\n",
                      hid ? "spin" : "bernoulli", exact, grid);
        /* float grid points (~1e-6 relative) bound the rule's accuracy */
        assert_close_d(exact, grid, 1e-5, "Gaussian log Z vs numeric integral");
        rbm_free(&m);
    }
}

/* AIS for typed RBMs: Gaussian units anneal from N(b, sigma^2), spins
 * from a base-rate spin layer; forward AIS's interval holds exact log Z. */
static void test_eval_typed_ais_brackets_exact(void **state)
{
    (void)state;
    enum { RUNS = 200, BETAS = 1500 };
    static const struct { int V, H; enum ebm_unit_type vis, hid; float w; } cases[] = {
        { 16, 8, EBM_UNIT_GAUSSIAN, EBM_UNIT_BERNOULLI, 0.3f },
        { 16, 8, EBM_UNIT_GAUSSIAN, EBM_UNIT_SPIN, 0.2f },
        { 12, 8, EBM_UNIT_SPIN, EBM_UNIT_SPIN, 0.4f },
        { 12, 6, EBM_UNIT_BERNOULLI, EBM_UNIT_SPIN, 0.5f },
    };
    double *betas = ebm_ais_schedule(BETAS);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct rbm m;
        typed_random_rbm(&m, cases[c].V, cases[c].H, cases[c].vis, cases[c].hid, cases[c].w,
                         420 + c);
        float base[16] = { 0 }; /* a uniform discrete base; unused for Gaussian units */
        double exact;
        assert_int_equal(rbm_exact_log_z(&m, MPI_COMM_WORLD, &exact), EBM_OK);
        struct ebm_ais_result fwd;
        assert_int_equal(rbm_ais(&m, base, betas, BETAS, RUNS, 11 + c, MPI_COMM_WORLD, &fwd),
                         EBM_OK);
        print_message("%s/%s %dx%d: exact %.4f  AIS %.4f [%.4f, %.4f]\n",
                      ebm_unit_type_name(m.vis.type), ebm_unit_type_name(m.hid.type),
                      cases[c].V, cases[c].H, exact, fwd.log_z, fwd.log_z_lo, fwd.log_z_hi);
        assert_true(fwd.log_z_lo <= exact && exact <= fwd.log_z_hi);
        rbm_free(&m);
    }
    free(betas);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_eval_typed_exact_log_z),
    cmocka_unit_test(test_eval_typed_ais_brackets_exact),
    cmocka_unit_test(test_eval_model_file_refuses_other_models),
    cmocka_unit_test(test_eval_ais_on_mnist_784_12),
    cmocka_unit_test(test_eval_pseudo_likelihood_matches_enumeration),
    cmocka_unit_test(test_eval_binarize_is_keyed_by_row),
    cmocka_unit_test(test_eval_exact_log_z_matches_brute_force),
    cmocka_unit_test(test_eval_exact_refuses_large_layers),
    cmocka_unit_test(test_eval_schedule_shape),
    cmocka_unit_test(test_eval_ais_brackets_exact_on_tiny_models),
    cmocka_unit_test(test_eval_ais_is_reproducible),
};

EBM_TEST_MAIN(tests)
