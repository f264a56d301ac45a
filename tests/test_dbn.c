/* The DBN: its passes against rbm_* composed by hand, the variational
 * bound against exact enumeration of a tiny DBN, top-down samples against
 * exact generative marginals, the checkpoint reader's refusals, and
 * `ebm transform` / `ebm sample` end to end on one rank. */
#include "testutil.h"
#include "dbnutil.h"
#include "enum.h"

#include <hdf5.h>

#include "ebm/checkpoint.h"
#include "ebm/cmd.h"
#include "ebm/dataset.h"
#include "ebm/dbn.h"
#include "ebm/dbn_bound.h"
#include "ebm/evaluate.h"
#include "ebm/gibbs.h"
#include "ebm/logz.h"
#include "ebm/model_file.h"

/* ---- helpers --------------------------------------------------------------- */

/* A DBN with every parameter ~ N(0, sigma^2). */
static void random_dbn(struct dbn *d, int L, const int *sizes, float sigma, uint64_t seed)
{
    assert_int_equal(dbn_init(d, L, sizes), EBM_OK);
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    size_t n = dbn_parameter_count(d);
    ebm_rng_normal(&r, d->block, n);
    for (size_t i = 0; i < n; i++) d->block[i] *= sigma;
}

/* An RBM checkpoint as ebm train writes its model part. */
static void write_rbm_ckpt(const char *path, const struct rbm *m, int image_h, int image_w)
{
    struct ebm_ckpt ck;
    int64_t V = m->n_visible, H = m->n_hidden, wd[2] = { V, H };
    assert_int_equal(ebm_ckpt_create(&ck, path, MPI_COMM_WORLD), EBM_OK);
    assert_int_equal(ebm_ckpt_attr_str(&ck, "/model", "type", "rbm"), EBM_OK);
    assert_int_equal(ebm_ckpt_attr_i64(&ck, "/model", "n_visible", V), EBM_OK);
    assert_int_equal(ebm_ckpt_attr_i64(&ck, "/model", "n_hidden", H), EBM_OK);
    assert_int_equal(ebm_ckpt_write_f32(&ck, "/model/W", m->W, 2, wd), EBM_OK);
    assert_int_equal(ebm_ckpt_write_f32(&ck, "/model/vbias", m->vbias, 1, &V), EBM_OK);
    assert_int_equal(ebm_ckpt_write_f32(&ck, "/model/hbias", m->hbias, 1, &H), EBM_OK);
    assert_int_equal(ebm_ckpt_attr_i64(&ck, "/data", "image_h", image_h), EBM_OK);
    assert_int_equal(ebm_ckpt_attr_i64(&ck, "/data", "image_w", image_w), EBM_OK);
    assert_int_equal(ebm_ckpt_commit(&ck), EBM_OK);
}

static void tmp_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", test_tmpdir(), name);
}

/* A whole float dataset of an HDF5 file (malloc'ed), its shape in dims. */
static float *read_h5_f32(const char *path, const char *name, hsize_t dims[2])
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(file >= 0);
    hid_t dset = H5Dopen2(file, name, H5P_DEFAULT);
    assert_true(dset >= 0);
    hid_t space = H5Dget_space(dset);
    assert_int_equal(H5Sget_simple_extent_ndims(space), 2);
    H5Sget_simple_extent_dims(space, dims, NULL);
    float *x = malloc(sizeof *x * dims[0] * dims[1]);
    assert_true(H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    H5Sclose(space);
    H5Dclose(dset);
    H5Fclose(file);
    return x;
}

/* ---- exact enumeration of a 3-RBM DBN, in double, independent of the library */

static double softplus_d(double a) { return a > 0 ? a + log1p(exp(-a)) : log1p(exp(a)); }
/* log Bernoulli(x; sigmoid(a)) */
static double log_bern(double x, double a) { return x != 0.0 ? -softplus_d(-a) : -softplus_d(a); }

/* log q(h | x) under RBM m's hidden conditional, x visible. */
static double log_up(const struct rbm *m, const float *x, const float *h)
{
    double s = 0;
    for (int j = 0; j < m->n_hidden; j++) {
        double a = m->hbias[j];
        for (int i = 0; i < m->n_visible; i++) a += (double)x[i] * m->W[i * m->n_hidden + j];
        s += log_bern(h[j], a);
    }
    return s;
}

/* log p(x | h) under RBM m's visible conditional. */
static double log_down(const struct rbm *m, const float *x, const float *h)
{
    double s = 0;
    for (int i = 0; i < m->n_visible; i++) {
        double a = m->vbias[i];
        for (int j = 0; j < m->n_hidden; j++) a += (double)m->W[i * m->n_hidden + j] * h[j];
        s += log_bern(x[i], a);
    }
    return s;
}

/* log sum_h3 exp(-E_top(h2, h3)) by enumerating h3. */
static double log_top_star(const struct rbm *top, const float *h2)
{
    float h3[16];
    double terms[1 << 12], mx = -INFINITY, s = 0;
    unsigned n = 1u << top->n_hidden;
    for (unsigned c = 0; c < n; c++) {
        enum_state(c, top->n_hidden, h3);
        terms[c] = -rbm_energy(top, h2, h3);
        mx = fmax(mx, terms[c]);
    }
    for (unsigned c = 0; c < n; c++) s += exp(terms[c] - mx);
    return mx + log(s);
}

static double log_sum_exp(const double *x, int n)
{
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < n; i++) mx = fmax(mx, x[i]);
    for (int i = 0; i < n; i++) s += exp(x[i] - mx);
    return mx + log(s);
}

/* For a DBN of L = 3 RBMs: the exact log p(v) (every h1, h2, h3) and the
 * exact expectation of the bound's integrand under q(h1 | v) q(h2 | h1)
 * (log Z_top subtracted from neither). */
static void exact_terms(const struct dbn *d, const float *v, double *log_p_star,
                        double *expectation)
{
    assert_int_equal(d->n_layers, 3);
    int n1 = d->sizes[1], n2 = d->sizes[2];
    float h1[16], h2[16];
    double joint[1 << 12];
    int k = 0;
    double e = 0;
    for (unsigned a = 0; a < (1u << n1); a++) {
        enum_state(a, n1, h1);
        double lq1 = log_up(&d->rbm[0], v, h1), lpv = log_down(&d->rbm[0], v, h1);
        for (unsigned b = 0; b < (1u << n2); b++) {
            enum_state(b, n2, h2);
            double lq2 = log_up(&d->rbm[1], h1, h2), lph1 = log_down(&d->rbm[1], h1, h2);
            double ltop = log_top_star(&d->rbm[2], h2);
            joint[k++] = lpv + lph1 + ltop;
            e += exp(lq1 + lq2) * (lpv + lph1 + ltop - lq1 - lq2);
        }
    }
    *log_p_star = log_sum_exp(joint, k);
    *expectation = e;
}

/* log Z of the top RBM over both its layers. */
static double exact_top_log_z(const struct dbn *d)
{
    return enum_log_z(&d->rbm[d->n_layers - 1]);
}

static const int tiny_sizes[] = { 5, 3, 3, 2 };

/* ---- the passes ------------------------------------------------------------ */

static void test_dbn_up_pass_matches_hidden_probs_by_hand(void **state)
{
    (void)state;
    enum { B = 6 };
    static const int sizes[] = { 7, 5, 4, 3 };
    struct dbn d;
    random_dbn(&d, 3, sizes, 0.9f, 11);
    float v[B * 7], a[B * 5], b[B * 4], c[B * 3], out[B * 7];
    struct ebm_rng r;
    ebm_rng_init(&r, 12, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&r, v, B * 7); /* intensities, not binary */
    float *scratch = malloc(sizeof *scratch * dbn_scratch_floats(&d, B));
    rbm_hidden_probs(&d.rbm[0], v, B, a);
    rbm_hidden_probs(&d.rbm[1], a, B, b);
    rbm_hidden_probs(&d.rbm[2], b, B, c);
    dbn_up_probs(&d, v, B, 0, out, scratch);
    assert_close_f(out, v, B * 7, 0.0, "layer 0 is the data");
    dbn_up_probs(&d, v, B, 1, out, scratch);
    assert_close_f(out, a, B * 5, 0.0, "layer 1 vs rbm_hidden_probs");
    dbn_up_probs(&d, v, B, 2, out, scratch);
    assert_close_f(out, b, B * 4, 0.0, "layer 2 vs two rbm_hidden_probs");
    dbn_up_probs(&d, v, B, 3, out, scratch);
    assert_close_f(out, c, B * 3, 0.0, "layer 3 vs three rbm_hidden_probs");
    free(scratch);
    dbn_free(&d);
}

/* The exact generative marginals p(v_i = 1) of a 3-RBM DBN. */
static void exact_visible_marginals(const struct dbn *d, double *p)
{
    int n0 = d->sizes[0], n1 = d->sizes[1], n2 = d->sizes[2];
    double lz = exact_top_log_z(d);
    float h1[16], h2[16], ones[16];
    for (int i = 0; i < 16; i++) ones[i] = 1.0f;
    for (int i = 0; i < n0; i++) p[i] = 0;
    for (unsigned b = 0; b < (1u << n2); b++) {
        enum_state(b, n2, h2);
        double ph2 = exp(log_top_star(&d->rbm[2], h2) - lz);
        for (unsigned a = 0; a < (1u << n1); a++) {
            enum_state(a, n1, h1);
            double ph1 = exp(log_down(&d->rbm[1], h1, h2));
            for (int i = 0; i < n0; i++) {
                /* p(v_i = 1 | h1): the one-unit term of log_down */
                double act = d->rbm[0].vbias[i];
                for (int j = 0; j < n1; j++) act += (double)d->rbm[0].W[i * n1 + j] * h1[j];
                p[i] += ph2 * ph1 * exp(log_bern(ones[i], act));
            }
        }
    }
}

/* Per unit: |mean - p| <= 4.5 sqrt(p (1 - p) / N). The samples are
 * visible means in [0, 1] with expectation p, so their variance is at
 * most p (1 - p); 4.5 sigma fails a correct pass with probability < 1e-4
 * over the five units. */
static void assert_marginals(const float *pv, int N, int n0, const double *p, const char *what)
{
    for (int i = 0; i < n0; i++) {
        double m = 0;
        for (int r = 0; r < N; r++) m += pv[(size_t)r * n0 + i];
        m /= N;
        double tol = 4.5 * sqrt(p[i] * (1 - p[i]) / N);
        if (!(fabs(m - p[i]) <= tol)) {
            print_error("%s: unit %d mean %.5f, exact %.5f, tolerance %.5f\n", what, i, m, p[i],
                        tol);
            fail();
        }
    }
}

static void test_dbn_down_sample_matches_exact_marginals(void **state)
{
    (void)state;
    enum { N = 40000 };
    struct dbn d;
    random_dbn(&d, 3, tiny_sizes, 1.2f, 21);
    int n2 = d.sizes[2], n0 = d.sizes[0];
    /* h2 drawn exactly from the top RBM's marginal by inverting its CDF. */
    double lz = exact_top_log_z(&d), cdf[1 << 3], acc = 0;
    float h[16];
    for (unsigned c = 0; c < (1u << n2); c++) {
        enum_state(c, n2, h);
        acc += exp(log_top_star(&d.rbm[2], h) - lz);
        cdf[c] = acc;
    }
    float *h2 = malloc(sizeof *h2 * N * n2), *pv = malloc(sizeof *pv * N * n0);
    float *scratch = malloc(sizeof *scratch * dbn_scratch_floats(&d, N));
    struct ebm_rng *rng = malloc(sizeof *rng * N), r;
    ebm_rng_init(&r, 22, 0, EBM_RNG_TEST);
    for (int i = 0; i < N; i++) {
        float u;
        ebm_rng_uniform(&r, &u, 1);
        unsigned c = 0;
        while (c + 1 < (1u << n2) && cdf[c] < u * acc) c++;
        enum_state(c, n2, h2 + (size_t)i * n2);
        ebm_rng_init(&rng[i], 23, (uint32_t)i, EBM_RNG_DBN_SAMPLE);
    }
    dbn_down_sample(&d, 2, h2, N, rng, pv, scratch);
    double p[16];
    exact_visible_marginals(&d, p);
    assert_marginals(pv, N, n0, p, "top-down pass from exact h2");
    free(h2); free(pv); free(scratch); free(rng);
    dbn_free(&d);
}

/* What `ebm sample` does: Gibbs chains in the top RBM, then the pass. */
static void test_dbn_gibbs_then_down_pass_matches_exact_marginals(void **state)
{
    (void)state;
    enum { N = 20000, STEPS = 200 };
    struct dbn d;
    random_dbn(&d, 3, tiny_sizes, 1.2f, 21);
    int n2 = d.sizes[2], n0 = d.sizes[0];
    struct ebm_gibbs g;
    assert_int_equal(ebm_gibbs_init(&g, n2, d.sizes[3], N, 0, 31), EBM_OK);
    float *h2 = malloc(sizeof *h2 * N * n2), *pv = malloc(sizeof *pv * N * n0);
    float *scratch = malloc(sizeof *scratch * dbn_scratch_floats(&d, N));
    struct ebm_rng *rng = malloc(sizeof *rng * N);
    ebm_gibbs_random_init(&g, h2);
    ebm_gibbs_run(&g, &d.rbm[2], h2, STEPS, NULL);
    for (int i = 0; i < N; i++) ebm_rng_init(&rng[i], 31, (uint32_t)i, EBM_RNG_DBN_SAMPLE);
    dbn_down_sample(&d, 2, h2, N, rng, pv, scratch);
    double p[16];
    exact_visible_marginals(&d, p);
    assert_marginals(pv, N, n0, p, "Gibbs in the top RBM, then the top-down pass");
    ebm_gibbs_free(&g);
    free(h2); free(pv); free(scratch); free(rng);
    dbn_free(&d);
}

/* ---- the bound --------------------------------------------------------------- */

static void test_dbn_bound_expectation_is_below_exact_log_prob(void **state)
{
    (void)state;
    for (int s = 0; s < 3; s++) {
        struct dbn d;
        random_dbn(&d, 3, tiny_sizes, 1.0f, 40 + s);
        double lz = exact_top_log_z(&d), lp[32], worst_gap = INFINITY, mean_gap = 0;
        float v[8];
        for (unsigned c = 0; c < 32; c++) {
            enum_state(c, 5, v);
            double lps, e;
            exact_terms(&d, v, &lps, &e);
            lp[c] = lps - lz;
            double gap = lp[c] - (e - lz);
            worst_gap = fmin(worst_gap, gap);
            mean_gap += gap / 32;
        }
        /* The enumeration itself: p(v) sums to 1 over the 32 states. */
        assert_close_d(log_sum_exp(lp, 32), 0.0, 1e-9, "log sum_v p(v)");
        print_message("model %d: bound gap log p(v) - E_q[...] min %.4f, mean %.4f nats\n", s,
                      worst_gap, mean_gap);
        assert_true(worst_gap >= -1e-9);
        assert_true(mean_gap > 1e-3); /* a real gap: q is not the posterior */
        dbn_free(&d);
    }
}

static void test_dbn_bound_monte_carlo_matches_exact_expectation(void **state)
{
    (void)state;
    enum { S = 3000 };
    struct dbn d;
    random_dbn(&d, 3, tiny_sizes, 1.0f, 40);
    float x[32 * 5];
    for (unsigned c = 0; c < 32; c++) enum_state(c, 5, x + c * 5);
    double mean[32], var[32], exact_mean = 0, se2 = 0;
    assert_int_equal(ebm_dbn_bound_rows(&d, x, 32, 0, S, 5, mean, var), EBM_OK);
    /* Per row: within 4 standard errors sqrt(var / S) of the exact
     * expectation (a correct estimator fails one of the 32 rows with
     * probability ~2e-3 for this seed's draw; the draw is fixed). */
    for (int c = 0; c < 32; c++) {
        double lps, e;
        exact_terms(&d, x + c * 5, &lps, &e);
        double se = sqrt(var[c] / S);
        if (!(fabs(mean[c] - e) <= 4 * se)) {
            print_error("row %d: Monte-Carlo %.5f, exact %.5f, 4 se = %.5f\n", c, mean[c], e,
                        4 * se);
            fail();
        }
        assert_true(var[c] > 0);
        exact_mean += e / 32;
        se2 += var[c] / S / (32.0 * 32.0);
    }
    /* The collective estimate on the same rows, with the exact log Z_top. */
    struct ebm_dbn_bound_opts o = { .samples = S, .exact = true, .seed = 5 };
    struct ebm_dbn_bound_result r;
    assert_int_equal(ebm_dbn_bound(&d, x, 32, 0, &o, MPI_COMM_WORLD, &r), EBM_OK);
    double lz = exact_top_log_z(&d);
    assert_close_d(r.log_z, lz, 1e-9, "exact log Z of the top RBM");
    assert_close_d(r.bound, r.mean_log_integrand - lz, 1e-12, "bound = E - log Z");
    assert_close_d(r.mean_log_integrand, exact_mean, 4 * sqrt(se2), "mean over rows");
    assert_int_equal(r.n_examples, 32);
    /* Same seed, same estimate: rows draw from their own streams. */
    double again[32];
    assert_int_equal(ebm_dbn_bound_rows(&d, x + 5 * 5, 27, 5, S, 5, again, NULL), EBM_OK);
    for (int c = 5; c < 32; c++) assert_close_d(again[c - 5], mean[c], 1e-9, "row keyed");
    dbn_free(&d);
}

static void test_dbn_bound_single_layer_equals_rbm_log_prob(void **state)
{
    (void)state;
    enum { V = 9, H = 5, N = 40 };
    static const int sizes[] = { V, H };
    struct dbn d;
    random_dbn(&d, 1, sizes, 0.8f, 50);
    float x[N * V];
    struct ebm_rng r;
    ebm_rng_init(&r, 51, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&r, x, N * V);
    assert_int_equal(ebm_eval_binarize(x, N, V, 0, 1, 1), EBM_OK);
    struct ebm_eval_opts eo = { .exact = true };
    struct ebm_eval_result er;
    assert_int_equal(ebm_evaluate(&d.rbm[0], x, N, 0, &eo, MPI_COMM_WORLD, &er), EBM_OK);
    struct ebm_dbn_bound_opts o = { .samples = 10, .exact = true, .seed = 1 };
    struct ebm_dbn_bound_result br;
    assert_int_equal(ebm_dbn_bound(&d, x, N, 0, &o, MPI_COMM_WORLD, &br), EBM_OK);
    assert_close_d(br.bound, er.avg_log_prob, 1e-9, "L = 1 bound vs the RBM's log p(v)");
    assert_close_d(br.bound_se, er.free_energy_se, 1e-9, "L = 1 standard error");
    assert_int_equal(br.samples, 1);
    /* Row by row against brute force: -F(v) by summing over h. */
    double mean[N], var[N];
    assert_int_equal(ebm_dbn_bound_rows(&d, x, N, 0, 10, 1, mean, var), EBM_OK);
    for (int i = 0; i < N; i++) {
        assert_close_d(mean[i], enum_neg_free_energy(&d.rbm[0], x + i * V), 1e-4,
                       "row term vs -F(v)");
        assert_true(var[i] == 0.0);
    }
    dbn_free(&d);
}

static void test_dbn_bound_ais_brackets_exact(void **state)
{
    (void)state;
    struct dbn d;
    random_dbn(&d, 3, tiny_sizes, 1.0f, 40);
    float x[32 * 5];
    for (unsigned c = 0; c < 32; c++) enum_state(c, 5, x + c * 5);
    struct ebm_dbn_bound_opts o = { .samples = 20, .ais_runs = 100, .ais_betas = 1000,
                                    .reverse = true, .seed = 3 };
    struct ebm_dbn_bound_result r;
    assert_int_equal(ebm_dbn_bound(&d, x, 32, 0, &o, MPI_COMM_WORLD, &r), EBM_OK);
    double lz = exact_top_log_z(&d);
    print_message("top log Z exact %.4f, AIS %.4f [%.4f, %.4f], reverse %.4f\n", lz, r.log_z,
                  r.log_z_lo, r.log_z_hi, r.reverse_log_z);
    assert_true(r.log_z_lo <= lz && lz <= r.log_z_hi);
    assert_true(r.have_reverse && r.reverse_runs == 32);
    assert_close_d(r.bound_lo, r.mean_log_integrand - r.log_z_hi, 1e-12, "interval low end");
    assert_close_d(r.bound_hi, r.mean_log_integrand - r.log_z_lo, 1e-12, "interval high end");
    dbn_free(&d);
}

/* ---- the checkpoint reader --------------------------------------------------- */

static void test_dbn_model_file_round_trip(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "dbn-ok.h5");
    struct dbn d, back;
    random_dbn(&d, 3, tiny_sizes, 1.0f, 60);
    assert_int_equal(write_dbn_ckpt(path, &d, no_flaws, 0, 0), EBM_OK);
    char type[16];
    assert_int_equal(ebm_model_type(path, MPI_COMM_WORLD, type, sizeof type), EBM_OK);
    assert_string_equal(type, "dbn");
    struct ebm_model_info info;
    assert_int_equal(ebm_model_read_dbn(path, MPI_COMM_WORLD, &back, &info), EBM_OK);
    assert_int_equal(back.n_layers, 3);
    assert_memory_equal(back.sizes, tiny_sizes, sizeof tiny_sizes);
    assert_close_f(back.block, d.block, dbn_parameter_count(&d), 0.0, "parameters");
    dbn_free(&back);
    /* The RBM reader still refuses it. */
    struct rbm m;
    assert_int_equal(ebm_model_read_rbm(path, MPI_COMM_WORLD, &m, &info), EBM_ERR_INPUT);
    ebm_error_clear();
    dbn_free(&d);
}

static void expect_refusal(const char *path, const char *const *words)
{
    struct dbn d;
    struct ebm_model_info info;
    assert_int_equal(ebm_model_read_dbn(path, MPI_COMM_WORLD, &d, &info), EBM_ERR_INPUT);
    const char *msg = ebm_error_message();
    if (!strstr(msg, path)) {
        print_error("message does not name %s: %s\n", path, msg);
        fail();
    }
    for (int i = 0; words[i]; i++)
        if (!strstr(msg, words[i])) {
            print_error("message lacks '%s': %s\n", words[i], msg);
            fail();
        }
    assert_null(d.block); /* nothing left allocated */
    ebm_error_clear();
}

static void test_dbn_model_file_refuses_wrong_type(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "dbn-type.h5");
    struct dbn d;
    random_dbn(&d, 3, tiny_sizes, 1.0f, 61);
    struct ckpt_flaws f = no_flaws;
    f.type = "dbm";
    assert_int_equal(write_dbn_ckpt(path, &d, f, 0, 0), EBM_OK);
    expect_refusal(path, (const char *const[]){ "'dbm'", "not a dbn", NULL });
    /* A dataset file is no checkpoint at all, for the reader and the peek. */
    uint8_t x[5] = { 0 };
    tmp_path(path, sizeof path, "dbn-notckpt.h5");
    assert_int_equal(ebm_dataset_write_u8(path, "train", x, 1, 5, NULL, 0, 0), EBM_OK);
    expect_refusal(path, (const char *const[]){ "not an ebm checkpoint", NULL });
    char type[16];
    assert_int_equal(ebm_model_type(path, MPI_COMM_WORLD, type, sizeof type), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "not an ebm checkpoint"));
    ebm_error_clear();
    dbn_free(&d);
}

static void test_dbn_model_file_refuses_untrained_layer(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "dbn-untrained.h5");
    struct dbn d;
    random_dbn(&d, 3, tiny_sizes, 1.0f, 62);
    struct ckpt_flaws f = no_flaws;
    f.untrained_layer = 2;
    assert_int_equal(write_dbn_ckpt(path, &d, f, 0, 0), EBM_OK);
    expect_refusal(path, (const char *const[]){ "layer 2", "0 epochs", NULL });
    dbn_free(&d);
}

static void test_dbn_model_file_refuses_mismatched_shapes(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "dbn-shape.h5");
    struct dbn d;
    random_dbn(&d, 3, tiny_sizes, 1.0f, 63);
    struct ckpt_flaws f = no_flaws;
    f.wide_layer = 1;
    assert_int_equal(write_dbn_ckpt(path, &d, f, 0, 0), EBM_OK);
    expect_refusal(path, (const char *const[]){ "/model/layers/1/W", "[3, 4]", "[3, 3]", NULL });
    /* A size list that disagrees with n_layers, and one that is not a list. */
    f = no_flaws;
    f.layers = "5,3,3";
    assert_int_equal(write_dbn_ckpt(path, &d, f, 0, 0), EBM_OK);
    expect_refusal(path, (const char *const[]){ "'5,3,3'", "n_layers = 3", NULL });
    f.layers = "5,3,x,2";
    assert_int_equal(write_dbn_ckpt(path, &d, f, 0, 0), EBM_OK);
    expect_refusal(path, (const char *const[]){ "damaged DBN layer list", NULL });
    dbn_free(&d);
}

static void test_dbn_model_file_reads_rbm_as_one_layer(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "rbm-as-dbn.h5");
    struct rbm m;
    enum_random_rbm(&m, 6, 4, 0.5f, 64);
    write_rbm_ckpt(path, &m, 2, 3);
    struct dbn d;
    struct ebm_model_info info;
    assert_int_equal(ebm_model_read_dbn(path, MPI_COMM_WORLD, &d, &info), EBM_OK);
    assert_int_equal(d.n_layers, 1);
    assert_int_equal(d.sizes[0], 6);
    assert_int_equal(d.sizes[1], 4);
    assert_close_f(d.block, m.block, rbm_block_size(6, 4), 0.0, "RBM parameters");
    assert_int_equal(info.image_h, 2);
    dbn_free(&d);
    rbm_free(&m);
}

/* ---- commands ------------------------------------------------------------------ */

static int run_cmd(int (*cmd)(int, char **), int argc, const char **argv)
{
    int rc = cmd(argc, (char **)argv);
    ebm_error_clear();
    return rc;
}

static void test_dbn_transform_round_trips(void **state)
{
    (void)state;
    enum { N = 37, NT = 11, V = 5 };
    char ckpt[512], data[512], out[512], tmp[600];
    tmp_path(ckpt, sizeof ckpt, "tr-dbn.h5");
    tmp_path(data, sizeof data, "tr-data.h5");
    tmp_path(out, sizeof out, "tr-features.h5");
    snprintf(tmp, sizeof tmp, "%s/.tr-features.h5.tmp", test_tmpdir());
    struct dbn d;
    random_dbn(&d, 3, tiny_sizes, 1.0f, 70);
    assert_int_equal(write_dbn_ckpt(ckpt, &d, no_flaws, 0, 0), EBM_OK);
    uint8_t xb[N * V];
    int32_t y[N];
    for (int i = 0; i < N * V; i++) xb[i] = (uint8_t)((i * 37) % 256);
    for (int i = 0; i < N; i++) y[i] = i % 10;
    assert_int_equal(ebm_dataset_write_u8(data, "train", xb, N, V, y, 0, 0), EBM_OK);
    assert_int_equal(ebm_dataset_write_u8(data, "test", xb, NT, V, NULL, 0, 0), EBM_OK);

    const char *argv[] = { "transform", ckpt, "--data", data, "--split", "train,test",
                           "--layer", "2", "--out", out };
    assert_int_equal(run_cmd(ebm_cmd_transform, 10, argv), 0);
    assert_int_equal(access(tmp, F_OK), -1); /* no temporary left */

    struct ebm_dataset in, f;
    float want[N * 3], scratch[3 * N * 3];
    assert_int_equal(ebm_dataset_read_shard(data, "train", 0, MPI_COMM_WORLD, &in), EBM_OK);
    dbn_up_probs(&d, in.x, N, 2, want, scratch);
    assert_int_equal(ebm_dataset_read_shard(out, "train", 0, MPI_COMM_WORLD, &f), EBM_OK);
    assert_int_equal(f.n_total, N);
    assert_int_equal(f.dim, 3);
    assert_int_equal(f.image_h, 0);
    assert_non_null(f.y);
    assert_memory_equal(f.y, y, sizeof y);
    assert_close_f(f.x, want, N * 3, 1e-6, "features vs the upward mean pass");
    ebm_dataset_free(&f);
    assert_int_equal(ebm_dataset_read_shard(out, "test", 0, MPI_COMM_WORLD, &f), EBM_OK);
    assert_int_equal(f.n_total, NT);
    assert_null(f.y);
    assert_close_f(f.x, want, NT * 3, 1e-6, "test split features");
    ebm_dataset_free(&f);
    ebm_dataset_free(&in);

    /* --max-examples and the top layer. */
    const char *argv2[] = { "transform", ckpt, "--data", data, "--layer", "3", "--out", out,
                            "--max-examples", "4" };
    assert_int_equal(run_cmd(ebm_cmd_transform, 10, argv2), 0);
    assert_int_equal(ebm_dataset_read_shard(out, "train", 0, MPI_COMM_WORLD, &f), EBM_OK);
    assert_int_equal(f.n_total, 4);
    assert_int_equal(f.dim, 2);
    ebm_dataset_free(&f);
    dbn_free(&d);
}

static void test_dbn_transform_refuses_bad_requests(void **state)
{
    (void)state;
    char ckpt[512], data[512], out[512];
    tmp_path(ckpt, sizeof ckpt, "tr2-dbn.h5");
    tmp_path(data, sizeof data, "tr2-data.h5");
    tmp_path(out, sizeof out, "tr2-out.h5");
    struct dbn d;
    random_dbn(&d, 3, tiny_sizes, 1.0f, 71);
    assert_int_equal(write_dbn_ckpt(ckpt, &d, no_flaws, 0, 0), EBM_OK);
    uint8_t xb[4 * 5] = { 0 };
    assert_int_equal(ebm_dataset_write_u8(data, "train", xb, 4, 5, NULL, 0, 0), EBM_OK);
    struct { const char *argv[10]; int argc; const char *words[3]; } cases[] = {
        { { "transform", ckpt, "--data", data, "--layer", "0", "--out", out }, 8,
          { "--layer 0", "1 .. 3", NULL } },
        { { "transform", ckpt, "--data", data, "--layer", "4", "--out", out }, 8,
          { "--layer 4", "1 .. 3", NULL } },
        { { "transform", ckpt, "--data", data, "--layer", "1", "--out", data }, 8,
          { "is an input", NULL, NULL } },
        { { "transform", ckpt, "--data", data, "--layer", "x", "--out", out }, 8,
          { "--layer", "'x'", NULL } },
        { { "transform", ckpt, "--data", data, "--out", out }, 6, { "--layer", NULL, NULL } },
        { { "transform", ckpt, "--data", data, "--layer", "1", "--out", out, "--bogus" }, 9,
          { "unknown flag", "--bogus", NULL } },
        { { "transform", ckpt, "--data", data, "--layer", "1", "--out", out, "--split",
            "train,train" }, 10, { "twice", NULL, NULL } },
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int rc = cases[c].argc;
        rc = ebm_cmd_transform(rc, (char **)cases[c].argv);
        const char *msg = ebm_error_message();
        if (rc != 2) {
            print_error("case %zu: exit %d, expected 2 (%s)\n", c, rc, msg);
            fail();
        }
        for (int w = 0; w < 3 && cases[c].words[w]; w++)
            if (!strstr(msg, cases[c].words[w])) {
                print_error("case %zu: message lacks '%s': %s\n", c, cases[c].words[w], msg);
                fail();
            }
        ebm_error_clear();
    }
    assert_int_equal(access(out, F_OK), -1); /* nothing was written */
    dbn_free(&d);
}

/* A one-layer DBN samples exactly as the same RBM does. */
static void test_dbn_sample_one_layer_equals_rbm(void **state)
{
    (void)state;
    char rbm_ck[512], dbn_ck[512], a_out[512], b_out[512];
    tmp_path(rbm_ck, sizeof rbm_ck, "s-rbm.h5");
    tmp_path(dbn_ck, sizeof dbn_ck, "s-dbn1.h5");
    tmp_path(a_out, sizeof a_out, "s-a.h5");
    tmp_path(b_out, sizeof b_out, "s-b.h5");
    static const int sizes[] = { 6, 4 };
    struct dbn d;
    random_dbn(&d, 1, sizes, 1.0f, 80);
    assert_int_equal(write_dbn_ckpt(dbn_ck, &d, no_flaws, 0, 0), EBM_OK);
    write_rbm_ckpt(rbm_ck, &d.rbm[0], 0, 0);
    const char *a[] = { "sample", rbm_ck, "--n", "13", "--steps", "7", "--out", a_out };
    const char *b[] = { "sample", dbn_ck, "--n", "13", "--steps", "7", "--out", b_out };
    assert_int_equal(run_cmd(ebm_cmd_sample, 8, a), 0);
    assert_int_equal(run_cmd(ebm_cmd_sample, 8, b), 0);
    hsize_t da[2], db[2];
    float *xa = read_h5_f32(a_out, "/samples", da), *xb = read_h5_f32(b_out, "/samples", db);
    assert_true(da[0] == 13 && da[1] == 6 && db[0] == 13 && db[1] == 6);
    assert_memory_equal(xa, xb, sizeof(float) * 13 * 6);
    free(xa);
    free(xb);
    dbn_free(&d);
}

/* `ebm sample` on a DBN: the top chains and the pass, as the library does. */
static void test_dbn_sample_command_matches_library(void **state)
{
    (void)state;
    enum { N = 9, STEPS = 5 };
    char ck[512], out[512];
    tmp_path(ck, sizeof ck, "s-dbn3.h5");
    tmp_path(out, sizeof out, "s-dbn3-out.h5");
    struct dbn d;
    random_dbn(&d, 3, tiny_sizes, 1.0f, 81);
    assert_int_equal(write_dbn_ckpt(ck, &d, no_flaws, 0, 0), EBM_OK);
    const char *argv[] = { "sample", ck, "--n", "9", "--steps", "5", "--out", out, "--seed",
                           "4" };
    assert_int_equal(run_cmd(ebm_cmd_sample, 10, argv), 0);
    hsize_t dims[2];
    float *got = read_h5_f32(out, "/samples", dims);
    assert_true(dims[0] == N && dims[1] == 5);
    struct ebm_gibbs g;
    assert_int_equal(ebm_gibbs_init(&g, 3, 2, N, 0, 4), EBM_OK);
    float h2[N * 3], pv[N * 5], scratch[3 * N * 3];
    struct ebm_rng rng[N];
    ebm_gibbs_random_init(&g, h2);
    ebm_gibbs_run(&g, &d.rbm[2], h2, STEPS, NULL);
    for (int i = 0; i < N; i++) ebm_rng_init(&rng[i], 4, (uint32_t)i, EBM_RNG_DBN_SAMPLE);
    dbn_down_sample(&d, 2, h2, N, rng, pv, scratch);
    assert_close_f(got, pv, N * 5, 0.0, "ebm sample vs Gibbs + top-down pass");
    ebm_gibbs_free(&g);
    free(got);
    dbn_free(&d);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dbn_up_pass_matches_hidden_probs_by_hand),
    cmocka_unit_test(test_dbn_down_sample_matches_exact_marginals),
    cmocka_unit_test(test_dbn_gibbs_then_down_pass_matches_exact_marginals),
    cmocka_unit_test(test_dbn_bound_expectation_is_below_exact_log_prob),
    cmocka_unit_test(test_dbn_bound_monte_carlo_matches_exact_expectation),
    cmocka_unit_test(test_dbn_bound_single_layer_equals_rbm_log_prob),
    cmocka_unit_test(test_dbn_bound_ais_brackets_exact),
    cmocka_unit_test(test_dbn_model_file_round_trip),
    cmocka_unit_test(test_dbn_model_file_refuses_wrong_type),
    cmocka_unit_test(test_dbn_model_file_refuses_untrained_layer),
    cmocka_unit_test(test_dbn_model_file_refuses_mismatched_shapes),
    cmocka_unit_test(test_dbn_model_file_reads_rbm_as_one_layer),
    cmocka_unit_test(test_dbn_transform_round_trips),
    cmocka_unit_test(test_dbn_transform_refuses_bad_requests),
    cmocka_unit_test(test_dbn_sample_one_layer_equals_rbm),
    cmocka_unit_test(test_dbn_sample_command_matches_library),
};

EBM_TEST_MAIN(tests)
