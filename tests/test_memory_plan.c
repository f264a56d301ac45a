/* Per-rank memory plans (ebm/memory_plan.h): sizes as text, the grid
 * shares against ScaLAPACK's own numroc, and the grid suggested for a
 * layer that does not fit. (test_trainer holds the data-parallel plan to
 * the trainer's real allocations.) */
#include "testutil.h"

#include "ebm/memory_plan.h"

int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc,
            const int *nprocs);

static void test_memory_plan_parses_sizes(void **state)
{
    (void)state;
    static const struct { const char *text; double bytes; } good[] = {
        { "0", 0 }, { "100", 100 }, { "64K", 65536 }, { "1.5K", 1536 },
        { "512M", 536870912.0 }, { "2G", 2147483648.0 }, { "1T", 1099511627776.0 },
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        double b = -1;
        assert_int_equal(ebm_parse_bytes(good[i].text, &b), EBM_OK);
        assert_true(b == good[i].bytes);
    }
    static const char *bad[] = { "", "G", "-1", "2X", "2GB", "1e400", "nan" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        double b;
        assert_int_equal(ebm_parse_bytes(bad[i], &b), EBM_ERR_INPUT);
        assert_non_null(strstr(ebm_error_message(), "expected a size in bytes"));
        ebm_error_clear();
    }
    char buf[32];
    ebm_format_bytes(512, buf, sizeof buf);
    assert_string_equal(buf, "512 B");
    ebm_format_bytes(1536, buf, sizeof buf);
    assert_string_equal(buf, "1.50 KiB");
    ebm_format_bytes(3.0 * 1073741824.0, buf, sizeof buf);
    assert_string_equal(buf, "3.00 GiB");
}

/* The weight share of grid position (0, 0) is numroc's for both sides. */
static void test_memory_plan_grid_shares_match_numroc(void **state)
{
    (void)state;
    static const int sizes[] = { 1, 63, 64, 65, 100, 784, 4096, 4097 };
    static const int grids[][2] = { { 1, 1 }, { 1, 2 }, { 2, 1 }, { 2, 2 }, { 3, 5 } };
    const int zero = 0;
    for (size_t a = 0; a < 8; a++)
        for (size_t b = 0; b < 8; b++)
            for (size_t g = 0; g < 5; g++) {
                int V = sizes[a], H = sizes[b], pr = grids[g][0], pc = grids[g][1], nb = 64;
                struct ebm_rbm_shape s = { .V = V, .H = H, .B = 1, .C = 1 };
                struct ebm_memory_plan p;
                ebm_memory_plan_grid(&p, &s, pr, pc, nb);
                double W = (double)numroc_(&V, &nb, &zero, &zero, &pr) *
                           numroc_(&H, &nb, &zero, &zero, &pc);
                assert_true(p.parameters == 4.0 * (W + V + H));
                assert_true(p.gradients == p.parameters + 4 && p.optimizer == p.parameters);
            }
}

/* A 4096 x 4096 layer (64 MiB of weights, 192 MiB with gradient and
 * velocity) under a 150 MiB cap on 4 ranks: data mode does not fit, the
 * first grid with two ranks does, at under half the weights per rank. */
static void test_memory_plan_suggests_a_grid_that_fits(void **state)
{
    (void)state;
    struct ebm_rbm_shape s = { .V = 4096, .H = 4096, .B = 100, .C = 100, .rows = 250 };
    struct ebm_memory_plan data, grid;
    ebm_memory_plan_data(&data, &s);
    double cap = 150.0 * 1048576.0;
    assert_true(ebm_memory_plan_total(&data) > cap);
    assert_true(data.parameters == 4.0 * (4096.0 * 4096 + 8192));
    int pr = 0, pc = 0;
    assert_true(ebm_memory_plan_suggest(&s, 1000, 4, 64, cap, &pr, &pc));
    assert_true(pr * pc == 2);
    struct ebm_rbm_shape r = s;
    r.rows = 500; /* two replicas share the 1000 rows */
    ebm_memory_plan_grid(&grid, &r, pr, pc, 64);
    assert_true(ebm_memory_plan_total(&grid) <= cap);
    assert_true(grid.parameters < 0.51 * data.parameters);
    /* a cap below a quarter of the weights fits no grid of 4 ranks */
    assert_false(ebm_memory_plan_suggest(&s, 1000, 4, 64, 10.0 * 1048576.0, &pr, &pc));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_memory_plan_parses_sizes),
    cmocka_unit_test(test_memory_plan_grid_shares_match_numroc),
    cmocka_unit_test(test_memory_plan_suggests_a_grid_that_fits),
};

EBM_TEST_MAIN(tests)
