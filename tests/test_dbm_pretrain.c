/* DBM pre-training (ebm/dbm_pretrain.h): the modified RBMs' doubled input
 * in one direction only, and how the pairs become the DBM's parameters. */
#include "testutil.h"

#include "ebm/dbm.h"
#include "ebm/dbm_pretrain.h"
#include "ebm/rbm.h"

/* A random RBM pair of V x H for the pre-training tests. */
static void random_rbm(struct rbm *r, int V, int H, uint64_t seed)
{
    assert_int_equal(rbm_init(r, V, H), EBM_OK);
    struct ebm_rng g;
    ebm_rng_init(&g, seed, 0, EBM_RNG_TEST);
    ebm_rng_normal(&g, r->block, r->block_len);
}

static void test_dbm_pretrain_scales_double_one_direction(void **state)
{
    (void)state;
    enum { V = 5, H = 4, B = 3 };
    struct rbm r, twice;
    random_rbm(&r, V, H, 31);
    random_rbm(&twice, V, H, 31);
    for (int i = 0; i < V * H; i++) twice.W[i] *= 2.0f;
    float v[B * V], h[B * H], a[B * V > B * H ? B * V : B * H], b[B * V > B * H ? B * V : B * H];
    for (int i = 0; i < B * V; i++) v[i] = (float)((i * 7 + 3) % 2);
    for (int i = 0; i < B * H; i++) h[i] = (float)((i * 5 + 1) % 2);
    float plain_h[B * H], plain_v[B * V];
    rbm_hidden_probs(&r, v, B, plain_h);
    rbm_visible_probs(&r, h, B, plain_v);
    /* up_scale 2: E[h | v] is that of W doubled, E[v | h] that of W. */
    r.up_scale = 2.0f;
    rbm_hidden_probs(&r, v, B, a);
    rbm_hidden_probs(&twice, v, B, b);
    for (int i = 0; i < B * H; i++) assert_float_equal(a[i], b[i], 1e-6);
    double moved = 0;
    for (int i = 0; i < B * H; i++) moved += fabs(a[i] - plain_h[i]);
    assert_true(moved > 1e-2); /* the scale did something */
    rbm_visible_probs(&r, h, B, a);
    for (int i = 0; i < B * V; i++) assert_float_equal(a[i], plain_v[i], 1e-6);
    /* down_scale 2 alone: E[v | h] is that of W doubled, E[h | v] that of W. */
    r.up_scale = 1.0f;
    r.down_scale = 2.0f;
    rbm_visible_probs(&r, h, B, a);
    rbm_visible_probs(&twice, h, B, b);
    for (int i = 0; i < B * V; i++) assert_float_equal(a[i], b[i], 1e-6);
    rbm_hidden_probs(&r, v, B, a);
    for (int i = 0; i < B * H; i++) assert_float_equal(a[i], plain_h[i], 1e-6);
    float up, down;
    ebm_dbm_pretrain_scales(2, 0, &up, &down);
    assert_true(up == 2.0f && down == 1.0f);
    ebm_dbm_pretrain_scales(2, 1, &up, &down);
    assert_true(up == 1.0f && down == 2.0f);
    ebm_dbm_pretrain_scales(3, 1, &up, &down);
    assert_true(up == 1.0f && down == 1.0f);
    rbm_free(&r);
    rbm_free(&twice);
}

static void test_dbm_pretrain_pairs_become_the_dbm(void **state)
{
    (void)state;
    static const int sizes[] = { 4, 3, 3, 2 };
    struct dbm m;
    struct rbm pairs[3];
    assert_int_equal(dbm_init(&m, 3, sizes), EBM_OK);
    for (int k = 0; k < 3; k++) random_rbm(&pairs[k], sizes[k], sizes[k + 1], 40 + (uint64_t)k);
    ebm_dbm_from_pairs(&m, pairs);
    static const float factor[] = { 1.0f, 0.5f, 1.0f }; /* the middle pair is halved */
    for (int k = 0; k < 3; k++) {
        assert_true(ebm_dbm_pretrain_weight_factor(3, k) == factor[k]);
        for (int i = 0; i < sizes[k] * sizes[k + 1]; i++)
            assert_true(m.W[k][i] == factor[k] * pairs[k].W[i]);
    }
    for (int i = 0; i < 4; i++) assert_true(m.b[0][i] == pairs[0].vbias[i]);
    for (int k = 1; k < 3; k++)
        for (int i = 0; i < sizes[k]; i++)
            assert_true(m.b[k][i] == 0.5f * (pairs[k - 1].hbias[i] + pairs[k].vbias[i]));
    for (int i = 0; i < 2; i++) assert_true(m.b[3][i] == pairs[2].hbias[i]);
    assert_true(ebm_dbm_pretrain_weight_factor(2, 0) == 1.0f &&
                ebm_dbm_pretrain_weight_factor(2, 1) == 1.0f);
    for (int k = 0; k < 3; k++) rbm_free(&pairs[k]);
    dbm_free(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dbm_pretrain_scales_double_one_direction),
    cmocka_unit_test(test_dbm_pretrain_pairs_become_the_dbm),
};

EBM_TEST_MAIN(tests)
