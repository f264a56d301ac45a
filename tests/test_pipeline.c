/* The DBN pipeline plan: stage groups and the tick schedule. */
#include "testutil.h"

#include "ebm/pipeline.h"

static void expect_error(ebm_status st, const char *part)
{
    assert_int_equal(st, EBM_ERR_INPUT);
    if (!strstr(ebm_error_message(), part)) {
        print_error("message '%s' does not say '%s'\n", ebm_error_message(), part);
        fail();
    }
    ebm_error_clear();
}

static void test_pipeline_auto_groups_cover_every_rank(void **state)
{
    (void)state;
    static const int stacks[][5] = {
        { 784, 500, 500, 2000, 0 }, { 784, 64, 32, 16, 0 }, { 10, 10, 10, 10, 10 },
        { 5000, 1, 1, 0, 0 },
    };
    for (size_t s = 0; s < sizeof stacks / sizeof *stacks; s++) {
        int L = 0;
        while (L + 1 < 5 && stacks[s][L + 1]) L++;
        for (int P = L; P <= 64; P++) {
            int g[EBM_MAX_STAGES], total = 0;
            assert_int_equal(ebm_pipeline_groups(stacks[s], L, "auto", P, g), EBM_OK);
            for (int l = 0; l < L; l++) {
                assert_true(g[l] >= 1);
                total += g[l];
            }
            if (total != P) {
                print_error("stack %zu at %d ranks: groups add up to %d\n", s, P, total);
                fail();
            }
        }
    }
}

static void test_pipeline_auto_groups_follow_the_flops(void **state)
{
    (void)state;
    /* FLOPs per sample 392k : 250k : 1M. At 4 ranks the top layer, the
     * heaviest per rank, gets the spare one; at 8, 2 : 2 : 4 brings the
     * largest load per rank down to 250k, as low as 8 ranks allow. */
    const int sizes[] = { 784, 500, 500, 2000 };
    int g[3];
    assert_int_equal(ebm_pipeline_groups(sizes, 3, "auto", 4, g), EBM_OK);
    assert_int_equal(g[0], 1);
    assert_int_equal(g[1], 1);
    assert_int_equal(g[2], 2);
    assert_int_equal(ebm_pipeline_groups(sizes, 3, "auto", 8, g), EBM_OK);
    assert_int_equal(g[0], 2);
    assert_int_equal(g[1], 2);
    assert_int_equal(g[2], 4);
    assert_int_equal(ebm_pipeline_groups(sizes, 3, "auto", 3, g), EBM_OK);
    assert_int_equal(g[0] + g[1] + g[2], 3);
}

static void test_pipeline_groups_refuse_bad_layouts(void **state)
{
    (void)state;
    const int sizes[] = { 784, 500, 500, 2000 };
    int g[3];
    expect_error(ebm_pipeline_groups(sizes, 3, "auto", 2, g), "needs at least 3 ranks");
    expect_error(ebm_pipeline_groups(sizes, 3, "1,1,1", 4, g), "adds up to 3 ranks");
    expect_error(ebm_pipeline_groups(sizes, 3, "2,2", 4, g), "2 entries for 3 stages");
    expect_error(ebm_pipeline_groups(sizes, 3, "1,x,2", 4, g), "expected comma-separated");
    assert_int_equal(ebm_pipeline_groups(sizes, 3, "2,1,1", 4, g), EBM_OK);
    assert_int_equal(g[0], 2);
}

static void dbn_config(struct ebm_config *c, enum ebm_pipeline_mode mode, int epochs, int warmup,
                       int finish)
{
    ebm_config_defaults(c);
    snprintf(c->model.type, sizeof c->model.type, "dbn");
    snprintf(c->model.layers, sizeof c->model.layers, "784,500,500,2000");
    c->train.epochs = epochs;
    c->train.batch_size = 100;
    c->pipeline.mode = mode;
    c->pipeline.warmup_epochs = warmup;
    c->pipeline.finish_epochs = finish;
}

static void test_pipeline_greedy_schedule(void **state)
{
    (void)state;
    struct ebm_config c;
    struct ebm_pipeline_plan p;
    dbn_config(&c, EBM_PIPELINE_GREEDY, 10, 2, 2);
    assert_int_equal(ebm_pipeline_plan(&c, 4, 60000, &p), EBM_OK);
    /* Each stage trains 10 epochs after the one below has finished, which
     * then feeds it (and so on down): stage 0 runs 30 epochs. */
    int T[] = { 10, 10, 10 }, s[] = { 10, 10, 10 }, O[] = { 30, 20, 10 }, start[] = { 0, 10, 20 };
    for (int l = 0; l < 3; l++) {
        assert_int_equal(p.train_epochs[l], T[l]);
        assert_int_equal(p.forward_from[l], s[l]);
        assert_int_equal(p.run_epochs[l], O[l]);
        assert_int_equal(p.start_tick[l], start[l]);
        assert_int_equal(p.start_tick[l] + p.run_epochs[l], p.ticks);
    }
    assert_int_equal(p.ticks, 30);
    /* 600 steps of 100 rows at stage 0 (1 rank); 2 ranks take 300 each. */
    assert_int_equal(p.steps_per_epoch[0], 600);
    assert_int_equal(p.steps_per_epoch[1], 600);
    assert_int_equal(p.steps_per_epoch[2], 300);
    assert_int_equal(p.group_first[2], 2);
    assert_int_equal(ebm_pipeline_stage_of(&p, 3), 2);
    assert_int_equal(ebm_pipeline_epoch_at(&p, 1, 9), -1);
    assert_int_equal(ebm_pipeline_epoch_at(&p, 1, 10), 0);
    assert_int_equal(ebm_pipeline_epoch_at(&p, 1, 30), -1);
}

static void test_pipeline_overlapped_schedule(void **state)
{
    (void)state;
    struct ebm_config c;
    struct ebm_pipeline_plan p;
    /* Warmup 3, finish 2: each stage trains 1 epoch less than the one below. */
    dbn_config(&c, EBM_PIPELINE_OVERLAPPED, 10, 3, 2);
    assert_int_equal(ebm_pipeline_plan(&c, 3, 60000, &p), EBM_OK);
    int T[] = { 10, 9, 8 }, O[] = { 14, 11, 8 }, start[] = { 0, 3, 6 };
    for (int l = 0; l < 3; l++) {
        assert_int_equal(p.train_epochs[l], T[l]);
        assert_int_equal(p.forward_from[l], 3);
        assert_int_equal(p.run_epochs[l], O[l]);
        assert_int_equal(p.start_tick[l], start[l]);
    }
    assert_int_equal(p.ticks, 14);
    /* Finishing faster than warming up runs out of epochs. */
    dbn_config(&c, EBM_PIPELINE_OVERLAPPED, 4, 2, 0);
    expect_error(ebm_pipeline_plan(&c, 3, 60000, &p), "raise finish_epochs");
}

static void test_pipeline_refuses_too_little_data(void **state)
{
    (void)state;
    struct ebm_config c;
    struct ebm_pipeline_plan p;
    dbn_config(&c, EBM_PIPELINE_GREEDY, 2, 1, 1);
    snprintf(c.pipeline.groups, sizeof c.pipeline.groups, "1,1,5");
    /* 1 step per epoch at stage 0 cannot give 5 ranks a batch each. */
    expect_error(ebm_pipeline_plan(&c, 7, 150, &p), "stage 2 gets no full batch");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pipeline_auto_groups_cover_every_rank),
    cmocka_unit_test(test_pipeline_auto_groups_follow_the_flops),
    cmocka_unit_test(test_pipeline_groups_refuse_bad_layouts),
    cmocka_unit_test(test_pipeline_greedy_schedule),
    cmocka_unit_test(test_pipeline_overlapped_schedule),
    cmocka_unit_test(test_pipeline_refuses_too_little_data),
};

EBM_TEST_MAIN(tests)
