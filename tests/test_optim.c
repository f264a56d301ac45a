/* The update rule: plain momentum SGD, and centering checked against an
 * explicit update of the centered parameters (Melchior et al. 2016). */
#include "testutil.h"
#include "enum.h"

#include "ebm/optim.h"

enum { V = 5, H = 3 };

static void random_block(struct rbm *m, float sigma, uint64_t seed)
{
    enum_random_rbm(m, V, H, sigma, seed);
}

static void test_optim_plain_momentum_step(void **state)
{
    (void)state;
    struct rbm p, g, vel;
    random_block(&p, 1.0f, 41);
    random_block(&g, 1.0f, 42);
    random_block(&vel, 0.1f, 43);
    struct rbm p0, vel0;
    random_block(&p0, 1.0f, 41);
    random_block(&vel0, 0.1f, 43);
    optim_step(&p, &g, &vel, 0.1, 0.9, 0.01, NULL, NULL);
    for (int k = 0; k < V * H; k++) {
        double step = 0.9 * vel0.W[k] + 0.1 * (g.W[k] - 0.01 * p0.W[k]);
        assert_close_d(vel.W[k], step, 1e-6, "velocity W");
        assert_close_d(p.W[k], p0.W[k] + step, 1e-6, "W");
    }
    for (int i = 0; i < V; i++) /* no weight decay on biases */
        assert_close_d(p.vbias[i], p0.vbias[i] + 0.9 * vel0.vbias[i] + 0.1 * g.vbias[i], 1e-6,
                       "vbias");
    rbm_free(&p); rbm_free(&g); rbm_free(&vel); rbm_free(&p0); rbm_free(&vel0);
}

static void test_optim_centered_step_matches_centered_parametrisation(void **state)
{
    (void)state;
    struct rbm p, g, vel;
    random_block(&p, 1.0f, 44);
    random_block(&g, 1.0f, 45);
    random_block(&vel, 0.1f, 46);
    float mu[V], lambda[H];
    for (int i = 0; i < V; i++) mu[i] = 0.1f + 0.15f * i;
    for (int j = 0; j < H; j++) lambda[j] = 0.3f + 0.2f * j;

    /* Centered form: E = -(v-mu)'W(h-lambda) - bc'(v-mu) - cc'(h-lambda),
     * so b = bc - W lambda and c = cc - W' mu (up to a constant). */
    double W[V][H], bc[V], cc[H], gW[V][H], vW[V][H], vb[V], vc[H];
    for (int i = 0; i < V; i++)
        for (int j = 0; j < H; j++) {
            W[i][j] = p.W[i * H + j];
            vW[i][j] = vel.W[i * H + j];
            gW[i][j] = g.W[i * H + j] - mu[i] * g.hbias[j] - g.vbias[i] * lambda[j];
        }
    for (int i = 0; i < V; i++) {
        bc[i] = p.vbias[i];
        for (int j = 0; j < H; j++) bc[i] += W[i][j] * lambda[j];
        vb[i] = vel.vbias[i];
    }
    for (int j = 0; j < H; j++) {
        cc[j] = p.hbias[j];
        for (int i = 0; i < V; i++) cc[j] += W[i][j] * mu[i];
        vc[j] = vel.hbias[j];
    }
    const double lr = 0.05, mom = 0.5, wd = 0.001;
    for (int i = 0; i < V; i++)
        for (int j = 0; j < H; j++) {
            vW[i][j] = mom * vW[i][j] + lr * (gW[i][j] - wd * W[i][j]);
            W[i][j] += vW[i][j];
        }
    for (int i = 0; i < V; i++) bc[i] += vb[i] = mom * vb[i] + lr * g.vbias[i];
    for (int j = 0; j < H; j++) cc[j] += vc[j] = mom * vc[j] + lr * g.hbias[j];

    optim_step(&p, &g, &vel, lr, mom, wd, mu, lambda);
    for (int i = 0; i < V; i++)
        for (int j = 0; j < H; j++) assert_close_d(p.W[i * H + j], W[i][j], 1e-6, "W");
    for (int i = 0; i < V; i++) {
        double b = bc[i];
        for (int j = 0; j < H; j++) b -= W[i][j] * lambda[j];
        assert_close_d(p.vbias[i], b, 1e-5, "plain vbias from centered update");
    }
    for (int j = 0; j < H; j++) {
        double c = cc[j];
        for (int i = 0; i < V; i++) c -= W[i][j] * mu[i];
        assert_close_d(p.hbias[j], c, 1e-5, "plain hbias from centered update");
    }
    rbm_free(&p); rbm_free(&g); rbm_free(&vel);
}

static void test_optim_lr_schedules(void **state)
{
    (void)state;
    struct ebm_config cfg;
    ebm_config_defaults(&cfg);
    cfg.train.lr = 0.1;
    cfg.train.lr_min = 0.001;
    cfg.train.lr_schedule = EBM_LR_CONSTANT;
    assert_close_d(optim_lr(&cfg, 50, 100), 0.1, 1e-15, "constant");
    cfg.train.lr_schedule = EBM_LR_LINEAR;
    assert_close_d(optim_lr(&cfg, 0, 100), 0.1, 1e-15, "linear start");
    assert_close_d(optim_lr(&cfg, 50, 100), 0.0505, 1e-12, "linear middle");
    assert_close_d(optim_lr(&cfg, 100, 100), 0.001, 1e-15, "linear end");
    cfg.train.lr_schedule = EBM_LR_EXP;
    assert_close_d(optim_lr(&cfg, 50, 100), 0.01, 1e-12, "exp middle (geometric mean)");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_optim_plain_momentum_step),
    cmocka_unit_test(test_optim_centered_step_matches_centered_parametrisation),
    cmocka_unit_test(test_optim_lr_schedules),
};

EBM_TEST_MAIN(tests)
