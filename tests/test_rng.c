/* Philox known answers, stream independence and the derived draws. */
#include "testutil.h"

#include "ebm/rng.h"

/* Known-answer vectors of Philox4x32-10 from its authors' test suite. */
static void test_rng_philox_known_answers(void **state)
{
    (void)state;
    static const struct { uint32_t ctr[4], key[2], out[4]; } kat[] = {
        { { 0, 0, 0, 0 }, { 0, 0 }, { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 } },
        { { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff }, { 0xffffffff, 0xffffffff },
          { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd } },
        { { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344 }, { 0xa4093822, 0x299f31d0 },
          { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 } },
    };
    for (size_t i = 0; i < sizeof kat / sizeof *kat; i++) {
        uint32_t out[4];
        ebm_philox4x32(kat[i].key, kat[i].ctr, out);
        for (int j = 0; j < 4; j++) assert_int_equal(out[j], kat[i].out[j]);
    }
}

static void test_rng_streams_differ_and_repeat(void **state)
{
    (void)state;
    struct ebm_rng a, b, c;
    ebm_rng_init(&a, 7, 0, EBM_RNG_SAMPLE);
    ebm_rng_init(&b, 7, 1, EBM_RNG_SAMPLE);
    ebm_rng_init(&c, 7, 0, EBM_RNG_SAMPLE);
    float x[64], y[64], z[64];
    ebm_rng_uniform(&a, x, 64);
    ebm_rng_uniform(&b, y, 64);
    ebm_rng_uniform(&c, z, 64);
    assert_memory_equal(x, z, sizeof x);
    assert_memory_not_equal(x, y, sizeof x);
    assert_int_equal(a.block, 16);
}

static void test_rng_uniform_moments(void **state)
{
    (void)state;
    enum { N = 1 << 20 };
    float *u = malloc(N * sizeof *u);
    struct ebm_rng r;
    ebm_rng_init(&r, 3, 0, EBM_RNG_TEST);
    ebm_rng_uniform(&r, u, N);
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
        assert_true(u[i] >= 0.0f && u[i] < 1.0f);
        s += u[i];
        s2 += (double)u[i] * u[i];
    }
    /* Mean 1/2 with sd sqrt(1/12 / N); second moment 1/3 with sd sqrt(4/45 / N). */
    assert_close_d(s / N, 0.5, 5.0 * sqrt(1.0 / 12 / N), "uniform mean");
    assert_close_d(s2 / N, 1.0 / 3, 5.0 * sqrt(4.0 / 45 / N), "uniform second moment");
    free(u);
}

static void test_rng_normal_moments(void **state)
{
    (void)state;
    enum { N = 1 << 20 };
    float *z = malloc(N * sizeof *z);
    struct ebm_rng r;
    ebm_rng_init(&r, 4, 0, EBM_RNG_TEST);
    ebm_rng_normal(&r, z, N);
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
        s += z[i];
        s2 += (double)z[i] * z[i];
    }
    /* Var of z^2 is 2 for a standard normal. */
    assert_close_d(s / N, 0.0, 5.0 / sqrt(N), "normal mean");
    assert_close_d(s2 / N, 1.0, 5.0 * sqrt(2.0 / N), "normal variance");
    free(z);
}

static void test_rng_shuffle_is_uniform_permutation(void **state)
{
    (void)state;
    enum { N = 5, TRIALS = 60000 };
    int count[N][N] = { { 0 } };
    struct ebm_rng r;
    ebm_rng_init(&r, 5, 0, EBM_RNG_TEST);
    for (int t = 0; t < TRIALS; t++) {
        int64_t idx[N] = { 0, 1, 2, 3, 4 };
        ebm_rng_shuffle(&r, idx, N);
        int seen = 0;
        for (int i = 0; i < N; i++) {
            seen |= 1 << idx[i];
            count[i][idx[i]]++;
        }
        assert_int_equal(seen, (1 << N) - 1);
    }
    /* Each position holds each value with p = 1/5: binomial sd. */
    double sd = sqrt(TRIALS * 0.2 * 0.8);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            assert_close_d(count[i][j], TRIALS * 0.2, 5.0 * sd, "shuffle position count");
}

static void test_rng_below_in_range(void **state)
{
    (void)state;
    struct ebm_rng r;
    ebm_rng_init(&r, 6, 0, EBM_RNG_TEST);
    for (int i = 0; i < 10000; i++) assert_true(ebm_rng_below(&r, 7) < 7);
    assert_int_equal(ebm_rng_below(&r, 1), 0);
}

static void test_rng_keyed_uniform_is_positional(void **state)
{
    (void)state;
    float whole[23], part[9], again[23];
    ebm_rng_keyed_uniform(7, EBM_RNG_TEST, 12, 3, 0, 23, whole);
    ebm_rng_keyed_uniform(7, EBM_RNG_TEST, 12, 3, 0, 23, again);
    assert_memory_equal(whole, again, sizeof whole);
    /* any run of units draws what the whole row draws there */
    for (int first = 0; first + 9 <= 23; first++) {
        ebm_rng_keyed_uniform(7, EBM_RNG_TEST, 12, 3, first, 9, part);
        assert_memory_equal(part, whole + first, sizeof part);
    }
    /* another row, draw or seed draws other numbers */
    ebm_rng_keyed_uniform(7, EBM_RNG_TEST, 13, 3, 0, 23, again);
    assert_true(memcmp(whole, again, sizeof whole) != 0);
    ebm_rng_keyed_uniform(7, EBM_RNG_TEST, 12, 4, 0, 23, again);
    assert_true(memcmp(whole, again, sizeof whole) != 0);
    ebm_rng_keyed_uniform(8, EBM_RNG_TEST, 12, 3, 0, 23, again);
    assert_true(memcmp(whole, again, sizeof whole) != 0);
    for (int i = 0; i < 23; i++) assert_true(whole[i] >= 0.0f && whole[i] < 1.0f);
}

/* Positional access agrees with the sequence it addresses: normals at any
 * offset (ebm_rng_normal_at), uniforms from any block on
 * (ebm_rng_uniform_at), and a row's keyed stream (ebm_rng_row) with
 * ebm_rng_keyed_uniform. */
static void test_rng_positional_access_matches_the_sequence(void **state)
{
    (void)state;
    enum { N = 37 };
    float seq[N], at[N], u[N];
    struct ebm_rng r;
    ebm_rng_init(&r, 11, 0, EBM_RNG_INIT);
    ebm_rng_normal(&r, seq, N);
    for (int first = 0; first < N; first++) {
        ebm_rng_normal_at(11, 0, EBM_RNG_INIT, first, (size_t)(N - first), at);
        assert_memory_equal(at, seq + first, sizeof(float) * (size_t)(N - first));
    }
    ebm_rng_init(&r, 11, 5, EBM_RNG_AIS);
    r.block = 40;
    ebm_rng_uniform(&r, seq, N);
    for (int first = 0; first < N; first += 3) {
        ebm_rng_uniform_at(11, 5, EBM_RNG_AIS, 40, first, (size_t)(N - first), at);
        assert_memory_equal(at, seq + first, sizeof(float) * (size_t)(N - first));
    }
    struct ebm_rng_rows keys = { .seed = 11, .purpose = EBM_RNG_CD | 3u << 8, .first_row = 20,
                                 .draw = 9 };
    ebm_rng_row(&keys, 4, &r);
    ebm_rng_uniform(&r, u, N);
    ebm_rng_keyed_uniform(11, EBM_RNG_CD | 3u << 8, 24, 9, 0, N, at);
    assert_memory_equal(u, at, sizeof u);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rng_positional_access_matches_the_sequence),
    cmocka_unit_test(test_rng_philox_known_answers),
    cmocka_unit_test(test_rng_streams_differ_and_repeat),
    cmocka_unit_test(test_rng_uniform_moments),
    cmocka_unit_test(test_rng_normal_moments),
    cmocka_unit_test(test_rng_shuffle_is_uniform_permutation),
    cmocka_unit_test(test_rng_below_in_range),
    cmocka_unit_test(test_rng_keyed_uniform_is_positional),
};

EBM_TEST_MAIN(tests)
