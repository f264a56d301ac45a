/* JSON lines for metrics.jsonl, and trimming them on resume. */
#include "testutil.h"

#include "ebm/metrics.h"
#include "ebm/trainer.h"

static void test_metrics_json_is_well_formed(void **state)
{
    (void)state;
    struct ebm_json j;
    ebm_json_begin(&j);
    ebm_json_int(&j, "epoch", 3);
    ebm_json_num(&j, "gap", NAN);
    ebm_json_str(&j, "path", "a\"b\\c\n");
    ebm_json_begin_object(&j, "seconds");
    ebm_json_num(&j, "io", 0.5);
    ebm_json_num(&j, "allreduce", 0.25);
    ebm_json_end_object(&j);
    ebm_json_int(&j, "ranks", 2);
    assert_string_equal(ebm_json_end(&j),
                        "{\"epoch\":3,\"gap\":null,\"path\":\"a\\\"b\\\\c\\u000a\","
                        "\"seconds\":{\"io\":0.5,\"allreduce\":0.25},\"ranks\":2}");
}

static void test_metrics_truncate_drops_later_epochs(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", test_tmpdir());
    remove(path);
    for (int e = 1; e <= 5; e++) {
        char line[64];
        snprintf(line, sizeof line, "{\"epoch\":%d,\"x\":1}", e);
        assert_int_equal(ebm_metrics_append(path, line), EBM_OK);
    }
    assert_int_equal(ebm_metrics_truncate(path, 3), EBM_OK);
    FILE *f = fopen(path, "r");
    char buf[256] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, "{\"epoch\":1,\"x\":1}\n{\"epoch\":2,\"x\":1}\n{\"epoch\":3,\"x\":1}\n");
    char missing[600];
    snprintf(missing, sizeof missing, "%s/none.jsonl", test_tmpdir());
    assert_int_equal(ebm_metrics_truncate(missing, 1), EBM_OK);
}

static void test_metrics_checkpoint_names_are_strict(void **state)
{
    (void)state;
    char name[64];
    ebm_checkpoint_name(name, sizeof name, 12, 1200, 100);
    assert_string_equal(name, "ckpt-e000012.h5");
    ebm_checkpoint_name(name, sizeof name, 12, 1234, 100);
    assert_string_equal(name, "ckpt-e000012-s000001234.h5");
    /* Order: epoch 12's end, then stops during epoch 13, then epoch 13's end. */
    assert_true(ebm_checkpoint_key("ckpt-e000012.h5") < ebm_checkpoint_key("ckpt-e000012-s000001234.h5"));
    assert_true(ebm_checkpoint_key("ckpt-e000012-s000001234.h5") <
                ebm_checkpoint_key("ckpt-e000012-s000001250.h5"));
    assert_true(ebm_checkpoint_key("ckpt-e000012-s000001299.h5") < ebm_checkpoint_key("ckpt-e000013.h5"));
    assert_true(ebm_checkpoint_key("ckpt-e000000.h5") == 0);
    assert_true(ebm_checkpoint_key("ckpt-e7.h5") == -1);
    assert_true(ebm_checkpoint_key("ckpt-e+00007.h5") == -1);
    assert_true(ebm_checkpoint_key(".ckpt-e000012.h5.tmp") == -1);
    assert_true(ebm_checkpoint_key("ckpt-e000012.h5x") == -1);
    assert_true(ebm_checkpoint_key("ckpt-e000012-s12.h5") == -1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_metrics_json_is_well_formed),
    cmocka_unit_test(test_metrics_truncate_drops_later_epochs),
    cmocka_unit_test(test_metrics_checkpoint_names_are_strict),
};

EBM_TEST_MAIN(tests)
