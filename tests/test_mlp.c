/* The fine-tuning network (ebm/mlp.h): backpropagation against its plain
 * double-precision twin and against central differences of the loss; the
 * DBN's weights as its layers; its model file. */
#include "testutil.h"

#include "ebm/mlp.h"

enum { D = 7, H1 = 5, H2 = 4, K = 3, N = 11 };

static void random_mlp(struct ebm_mlp *m, uint64_t seed)
{
    const int sizes[] = { D, H1, H2, K };
    assert_int_equal(ebm_mlp_init(m, 2, sizes), EBM_OK);
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, m->params, m->n_params);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 0.8f;
}

static void rows(float *x, int32_t *y, uint64_t seed)
{
    struct ebm_rng r;
    ebm_rng_init(&r, seed, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&r, x, N * D);
    for (int i = 0; i < N; i++) y[i] = i % K;
}

static void test_mlp_backprop_matches_ref_and_differences(void **state)
{
    (void)state;
    struct ebm_mlp m;
    random_mlp(&m, 800);
    float x[N * D];
    int32_t y[N];
    rows(x, y, 801);
    struct ebm_mlp_scratch s;
    assert_int_equal(ebm_mlp_scratch_init(&s, &m, N), EBM_OK);
    float *g = malloc(sizeof *g * m.n_params);
    double *gr = malloc(sizeof *gr * m.n_params);
    int64_t errors = 0;
    double loss = ebm_mlp_loss_grad(&m, x, y, N, 1.0f / N, g, &errors, &s);
    double loss_ref = ebm_mlp_loss_grad_ref(&m, x, y, N, 1.0 / N, gr);
    assert_close_d(loss, loss_ref, 1e-5 * fabs(loss_ref), "loss vs ref");
    double worst = 0;
    for (size_t i = 0; i < m.n_params; i++) worst = fmax(worst, fabs(g[i] - gr[i]));
    print_message("backprop vs double twin: largest difference %.2g\n", worst);
    assert_true(worst < 1e-5); /* float GEMMs of a few terms */
    /* Central differences of the mean loss, in double: h = 1e-3 leaves a
     * truncation of ~h^2 |f'''| ~ 1e-6. */
    double *scratch = malloc(sizeof *scratch * m.n_params), worst_fd = 0;
    const float h = 1e-3f;
    for (size_t i = 0; i < m.n_params; i++) {
        float keep = m.params[i];
        m.params[i] = keep + h;
        double up = ebm_mlp_loss_grad_ref(&m, x, y, N, 1.0, scratch) / N;
        m.params[i] = keep - h;
        double down = ebm_mlp_loss_grad_ref(&m, x, y, N, 1.0, scratch) / N;
        m.params[i] = keep;
        double fd = (up - down) / ((double)(keep + h) - (double)(keep - h));
        worst_fd = fmax(worst_fd, fabs(fd - gr[i]));
    }
    print_message("double twin vs central differences: largest difference %.2g\n", worst_fd);
    assert_true(worst_fd < 1e-5);
    free(scratch);
    free(g);
    free(gr);
    ebm_mlp_scratch_free(&s);
    ebm_mlp_free(&m);
}

static void test_mlp_from_dbn_copies_the_layers(void **state)
{
    (void)state;
    const int sizes[] = { D, H1, H2 };
    struct dbn d;
    assert_int_equal(dbn_init(&d, 2, sizes), EBM_OK);
    for (size_t i = 0; i < (size_t)D * H1 + D + H1; i++) d.rbm[0].block[i] = 0.01f * (float)i;
    for (size_t i = 0; i < (size_t)H1 * H2 + H1 + H2; i++) d.rbm[1].block[i] = -0.02f * (float)i;
    struct ebm_mlp m;
    assert_int_equal(ebm_mlp_from_dbn(&m, &d, K), EBM_OK);
    assert_int_equal(m.n_hidden_layers, 2);
    assert_int_equal(m.sizes[3], K);
    assert_memory_equal(m.W[0], d.rbm[0].W, sizeof(float) * D * H1);
    assert_memory_equal(m.b[0], d.rbm[0].hbias, sizeof(float) * H1);
    assert_memory_equal(m.W[1], d.rbm[1].W, sizeof(float) * H1 * H2);
    assert_memory_equal(m.b[1], d.rbm[1].hbias, sizeof(float) * H2);
    for (int i = 0; i < H2 * K + K; i++) assert_true(m.W[2][i] == 0.0f); /* W_out | b_out */
    ebm_mlp_free(&m);
    dbn_free(&d);
}

static void test_mlp_file_round_trips(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/mlp.h5", test_tmpdir());
    struct ebm_mlp m, back;
    random_mlp(&m, 802);
    struct ebm_mlp_opts o = { .epochs = 3, .batch = 7, .lr = 0.1f, .momentum = 0.9f, .l2 = 1e-5f };
    assert_int_equal(ebm_mlp_save(path, MPI_COMM_WORLD, &m, "dbn.h5", "data.h5", &o), EBM_OK);
    assert_int_equal(ebm_mlp_load(path, MPI_COMM_WORLD, &back), EBM_OK);
    assert_int_equal(back.n_params, m.n_params);
    assert_memory_equal(back.params, m.params, sizeof(float) * m.n_params);
    int32_t pred[N];
    float x[N * D];
    int32_t y[N];
    rows(x, y, 803);
    struct ebm_mlp_scratch s;
    assert_int_equal(ebm_mlp_scratch_init(&s, &back, N), EBM_OK);
    ebm_mlp_predict(&back, x, N, pred, &s);
    for (int i = 0; i < N; i++) assert_true(pred[i] >= 0 && pred[i] < K);
    ebm_mlp_scratch_free(&s);
    ebm_mlp_free(&back);
    ebm_mlp_free(&m);
    const int bad[] = { D, H1, 1 };
    assert_int_equal(ebm_mlp_init(&m, 1, bad), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "2 classes"));
    ebm_error_clear();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mlp_backprop_matches_ref_and_differences),
    cmocka_unit_test(test_mlp_from_dbn_copies_the_layers),
    cmocka_unit_test(test_mlp_file_round_trips),
};

EBM_TEST_MAIN(tests)
