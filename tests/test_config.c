/* Config: defaults, INI parsing and its error messages, --set overrides,
 * the format -> load round trip, cross-field validation and the docs. */
#include "testutil.h"

#include <ini.h>

#include "ebm/config.h"

/* Longest line inih reads whole: its buffer also holds "\r\n\0". */
#define INI_MAX_LINE_TEXT (INI_MAX_LINE - 3)

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Loading `text` (named t.ini) fails with EBM_ERR_INPUT and exactly
 * `expect`, and leaves the config as it was. */
static void expect_load_error(const char *text, const char *expect)
{
    struct ebm_config cfg, before;
    ebm_config_defaults(&cfg);
    memcpy(&before, &cfg, sizeof cfg); /* padding too */
    ebm_error_clear();
    ebm_status st = ebm_config_load_string(&cfg, text, "t.ini");
    if (st != EBM_ERR_INPUT || strcmp(ebm_error_message(), expect)) {
        print_error("input:\n%s\nstatus %d, message\n  '%s'\nexpected\n  '%s'\n", text, st,
                    ebm_error_message(), expect);
        fail();
    }
    assert_memory_equal(&cfg, &before, sizeof cfg);
}

static void expect_set_error(const char *assignment, const char *expect)
{
    struct ebm_config cfg, before;
    ebm_config_defaults(&cfg);
    memcpy(&before, &cfg, sizeof cfg); /* padding too */
    ebm_error_clear();
    ebm_status st = ebm_config_set(&cfg, assignment);
    if (st != EBM_ERR_INPUT || strcmp(ebm_error_message(), expect)) {
        print_error("--set %s: status %d, message\n  '%s'\nexpected\n  '%s'\n", assignment, st,
                    ebm_error_message(), expect);
        fail();
    }
    assert_memory_equal(&cfg, &before, sizeof cfg);
}

static void expect_invalid(const struct ebm_config *cfg, const char *part1, const char *part2)
{
    ebm_error_clear();
    assert_int_equal(ebm_config_validate(cfg), EBM_ERR_INPUT);
    const char *msg = ebm_error_message();
    if (!strstr(msg, part1) || (part2 && !strstr(msg, part2))) {
        print_error("message '%s' does not name %s %s\n", msg, part1, part2 ? part2 : "");
        fail();
    }
}

static void test_config_defaults(void **state)
{
    struct ebm_config c;
    ebm_config_defaults(&c);
    assert_string_equal(c.data.path, "data/mnist.h5");
    assert_string_equal(c.data.split, "train");
    assert_string_equal(c.data.valid_split, "test");
    assert_int_equal(c.data.binarize, EBM_BINARIZE_STOCHASTIC);
    assert_int_equal(c.data.max_examples, 0);
    assert_string_equal(c.model.type, "rbm");
    assert_int_equal(c.model.hidden, 500);
    assert_string_equal(c.model.layers, "");
    assert_int_equal(c.train.epochs, 10);
    assert_int_equal(c.train.batch_size, 100);
    assert_true(c.train.lr == 0.05);
    assert_int_equal(c.train.lr_schedule, EBM_LR_CONSTANT);
    assert_true(c.train.lr_min == 0.0);
    assert_true(c.train.momentum == 0.5);
    assert_true(c.train.weight_decay == 0.0002);
    assert_int_equal(c.train.k, 1);
    assert_true(c.train.persistent);
    assert_int_equal(c.train.chains, 100);
    assert_false(c.train.centering);
    assert_true(c.train.center_rate == 0.01);
    assert_int_equal(c.train.seed, 1);
    assert_int_equal(c.train.checkpoint_every, 1);
    assert_int_equal(c.train.keep_checkpoints, 3);
    assert_int_equal(c.train.monitor, 1000);
    assert_string_equal(c.output.dir, "runs/default");
    assert_string_equal(c.source, "");
    ebm_error_clear();
    assert_int_equal(ebm_config_validate(&c), EBM_OK);
}

static void test_config_file_parse(void **state)
{
    char path[512];
    snprintf(path, sizeof path, "%s/parse.ini", test_tmpdir());
    write_file(path,
               "; comment\n"
               "# another comment\n"
               "[data]\n"
               "path = /scratch/mnist.h5   ; inline comment\n"
               "valid_split =\n"
               "binarize = threshold\n"
               "max_examples = 60000\n"
               "\n"
               "[train]\n"
               "lr: 0.1\r\n" /* colon form and CRLF, as inih allows */
               "lr_schedule = linear\n"
               "lr_min = 1e-3\n"
               "persistent = OFF\n"
               "centering = yes\n"
               "seed = 18446744073709551615\n"
               "monitor = 0\n"
               "[model]\n"
               "hidden = 64\n");
    struct ebm_config c;
    ebm_config_defaults(&c);
    ebm_error_clear();
    assert_int_equal(ebm_config_load(&c, path), EBM_OK);
    assert_string_equal(c.source, path);
    assert_string_equal(c.data.path, "/scratch/mnist.h5");
    assert_string_equal(c.data.valid_split, "");
    assert_int_equal(c.data.binarize, EBM_BINARIZE_THRESHOLD);
    assert_int_equal(c.data.max_examples, 60000);
    assert_true(c.train.lr == 0.1);
    assert_int_equal(c.train.lr_schedule, EBM_LR_LINEAR);
    assert_true(c.train.lr_min == 1e-3);
    assert_false(c.train.persistent);
    assert_true(c.train.centering);
    assert_true(c.train.seed == UINT64_MAX);
    assert_int_equal(c.train.monitor, 0);
    assert_int_equal(c.model.hidden, 64);
    /* keys the file does not mention keep their values */
    assert_string_equal(c.data.split, "train");
    assert_int_equal(c.train.epochs, 10);
    assert_string_equal(c.output.dir, "runs/default");
}

static void test_config_error_unknown_section(void **state)
{
    expect_load_error("[train]\n[foo]\nbar = 1\n", "t.ini:2: unknown section [foo]");
    expect_load_error("epochs = 3\n", "t.ini:1: key epochs is not in a [section]");
}

static void test_config_error_unknown_key(void **state)
{
    expect_load_error("[train]\nepochs = 3\nfoo = 1\n", "t.ini:3: unknown key [train] foo");
    expect_load_error("[train]\nhidden = 3\n",
                      "t.ini:2: unknown key [train] hidden (it belongs in [model])");
}

static void test_config_error_malformed_number(void **state)
{
    expect_load_error("[train]\n\n\n\n\n\nlr = 0.x\n", "t.ini:7: [train] lr: '0.x' is not a number");
    expect_load_error("[train]\nepochs = 1.5\n", "t.ini:2: [train] epochs: '1.5' is not an integer");
    expect_load_error("[train]\nepochs =\n", "t.ini:2: [train] epochs: '' is not an integer");
    expect_load_error("[train]\nlr = nan\n", "t.ini:2: [train] lr: 'nan' is not a finite number");
    expect_load_error("[train]\nmomentum = inf\n",
                      "t.ini:2: [train] momentum: 'inf' is not a finite number");
    expect_load_error("[train]\nlr = 1e999\n",
                      "t.ini:2: [train] lr: '1e999' is too large or too small for a double");
    expect_load_error("[train]\nseed = -1\n", "t.ini:2: [train] seed: '-1' is not an integer");
}

static void test_config_error_out_of_range(void **state)
{
    expect_load_error("[train]\nepochs = 0\n",
                      "t.ini:2: [train] epochs: 0 is out of range [1, 999999]");
    expect_load_error("[train]\nepochs = 99999999999999999999\n",
                      "t.ini:2: [train] epochs: 99999999999999999999 is out of range [1, 999999]");
    expect_load_error("[train]\nlr = 0\n", "t.ini:2: [train] lr: 0 is out of range (0, 10]");
    expect_load_error("[train]\nmomentum = 1\n",
                      "t.ini:2: [train] momentum: 1 is out of range [0, 1)");
    expect_load_error("[data]\nmax_examples = -5\n",
                      "t.ini:2: [data] max_examples: -5 is out of range (must be >= 0)");
    expect_load_error("[train]\nseed = 18446744073709551616\n",
                      "t.ini:2: [train] seed: 18446744073709551616 does not fit in uint64");
}

static void test_config_error_bad_enum(void **state)
{
    expect_load_error("[data]\nbinarize = random\n",
                      "t.ini:2: [data] binarize: 'random' is not one of: stochastic, threshold, none");
    expect_load_error("[model]\ntype = xbm\n", "t.ini:2: [model] type: 'xbm' is not one of: rbm, dbn, bm, dbm");
}

static void test_config_error_bad_bool(void **state)
{
    expect_load_error("[train]\npersistent = maybe\n",
                      "t.ini:2: [train] persistent: 'maybe' is not a boolean "
                      "(true/false, yes/no, on/off, 1/0)");
}

static void test_config_error_string(void **state)
{
    char text[256];
    snprintf(text, sizeof text, "[data]\nsplit = %064d\n", 7); /* 64 characters, 63 fit */
    expect_load_error(text, "t.ini:2: [data] split: value is 64 characters, longer than the 63 allowed");
    expect_load_error("[output]\ndir =\n", "t.ini:2: [output] dir: must not be empty");
}

static void test_config_error_syntax(void **state)
{
    expect_load_error("[train]\nepochs = 3\n[model\n", "t.ini:3: syntax error (expected [section] or key = value)");
    expect_load_error("[train]\nepochs\n", "t.ini:2: syntax error (expected [section] or key = value)");
    /* the first error wins, whichever kind it is */
    expect_load_error("[train]\nfoo = 1\nepochs\n", "t.ini:2: unknown key [train] foo");
    expect_load_error("[train]\nepochs\nfoo = 1\n", "t.ini:2: syntax error (expected [section] or key = value)");
}

static void test_config_error_duplicate_and_continuation(void **state)
{
    expect_load_error("[train]\nk = 2\nepochs = 3\nk = 4\n",
                      "t.ini:4: [train] k: set twice (first on line 2)");
    expect_load_error("[train]\n  lr = 0.1\n  k = 2\n",
                      "t.ini:3: [train] lr: indented line reads as a continuation of the value; "
                      "remove the indentation");
}

/* inih would split a long line in two and parse the rest as a new line. */
static void test_config_error_line_too_long(void **state)
{
    char text[512];
    snprintf(text, sizeof text, "[data]\n; %0250d\n", 0);
    char expect[64];
    snprintf(expect, sizeof expect, "t.ini:2: line is longer than %d characters", INI_MAX_LINE_TEXT);
    expect_load_error(text, expect);
}

static void test_config_error_missing_file(void **state)
{
    char path[512];
    snprintf(path, sizeof path, "%s/no-such.ini", test_tmpdir());
    struct ebm_config c;
    ebm_config_defaults(&c);
    ebm_error_clear();
    assert_int_equal(ebm_config_load(&c, path), EBM_ERR_INPUT);
    char expect[600];
    snprintf(expect, sizeof expect, "%s: cannot open config file: No such file or directory", path);
    assert_string_equal(ebm_error_message(), expect);
}

static void test_config_set_overrides(void **state)
{
    struct ebm_config c;
    ebm_config_defaults(&c);
    ebm_error_clear();
    assert_int_equal(ebm_config_set(&c, "train.lr=0.25"), EBM_OK);
    assert_int_equal(ebm_config_set(&c, " train . k = 7 "), EBM_OK);
    assert_int_equal(ebm_config_set(&c, "data.path=/a/b=c.h5"), EBM_OK);
    assert_int_equal(ebm_config_set(&c, "data.valid_split="), EBM_OK);
    assert_int_equal(ebm_config_set(&c, "train.persistent=no"), EBM_OK);
    assert_int_equal(ebm_config_set(&c, "train.lr_schedule=exp"), EBM_OK);
    assert_true(c.train.lr == 0.25);
    assert_int_equal(c.train.k, 7);
    assert_string_equal(c.data.path, "/a/b=c.h5");
    assert_string_equal(c.data.valid_split, "");
    assert_false(c.train.persistent);
    assert_int_equal(c.train.lr_schedule, EBM_LR_EXP);
}

static void test_config_set_errors(void **state)
{
    expect_set_error("train.lr=abc", "--set train.lr=abc: 'abc' is not a number");
    expect_set_error("foo", "--set foo: expected section.key=value");
    expect_set_error("lr=0.1", "--set lr=0.1: expected section.key=value");
    expect_set_error(".lr=0.1", "--set .lr=0.1: expected section.key=value");
    expect_set_error("foo.lr=0.1", "--set foo.lr=0.1: unknown section [foo]");
    expect_set_error("train.foo=1", "--set train.foo=1: unknown key [train] foo");
    expect_set_error("model.epochs=1",
                     "--set model.epochs=1: unknown key [model] epochs (it belongs in [train])");
    expect_set_error("train.epochs=0", "--set train.epochs=0: 0 is out of range [1, 999999]");
    expect_set_error("data.binarize=on",
                     "--set data.binarize=on: 'on' is not one of: stochastic, threshold, none");
    expect_set_error("data.path=a ;b", "--set data.path=a ;b: 'a ;b' has a control character, "
                     "surrounding whitespace or an inline comment (' ;')");
    /* a path longer than one INI line could carry would not round-trip */
    char set[400], expect[800];
    snprintf(set, sizeof set, "output.dir=/%0299d", 0);
    snprintf(expect, sizeof expect, "--set %s: value is 300 characters, longer than the %d allowed",
             set, INI_MAX_LINE_TEXT - 3 - 3);
    expect_set_error(set, expect);
}

static void test_config_format_round_trip(void **state)
{
    struct ebm_config a, b;
    ebm_config_defaults(&a);
    /* strings are compared whole, so clear them before writing */
    memset(a.data.path, 0, sizeof a.data.path);
    snprintf(a.data.path, sizeof a.data.path, "/lustre/p/mnist;v2.h5");
    memset(a.data.valid_split, 0, sizeof a.data.valid_split);
    a.data.binarize = EBM_BINARIZE_NONE;
    a.data.max_examples = INT64_MAX;
    a.model.hidden = 1000000;
    a.train.lr = 1.0 / 3.0;
    a.train.lr_schedule = EBM_LR_EXP;
    a.train.lr_min = 1e-300;
    a.train.momentum = 0.9;
    a.train.weight_decay = 0.1 + 0.2; /* not the double nearest 0.3 */
    a.train.persistent = false;
    a.train.centering = true;
    a.train.center_rate = 5e-324;     /* smallest subnormal */
    a.train.seed = UINT64_MAX;
    a.train.monitor = 0;
    snprintf(a.source, sizeof a.source, "somewhere.ini");

    char text[4096];
    size_t n = ebm_config_format(&a, text, sizeof text);
    assert_int_equal(n, strlen(text));
    ebm_config_defaults(&b);
    ebm_error_clear();
    if (ebm_config_load_string(&b, text, "formatted") != EBM_OK) {
        print_error("%s\n%s\n", ebm_error_message(), text);
        fail();
    }
    memset(a.source, 0, sizeof a.source);
    memset(b.source, 0, sizeof b.source);
    assert_memory_equal(&a, &b, sizeof a);
    assert_non_null(strstr(text, "momentum = 0.9\n")); /* shortest exact form */

    /* like snprintf: a short buffer gets a terminated prefix, same length */
    char small[16];
    assert_int_equal(ebm_config_format(&a, small, sizeof small), n);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(ebm_config_format(&a, NULL, 0), n);
}

static void test_config_validate_cross_field(void **state)
{
    struct ebm_config c;
    ebm_config_defaults(&c);
    c.train.lr_schedule = EBM_LR_EXP;
    expect_invalid(&c, "train.lr_schedule", "train.lr_min");
    c.train.lr_min = 0.001;
    ebm_error_clear();
    assert_int_equal(ebm_config_validate(&c), EBM_OK);

    ebm_config_defaults(&c);
    c.train.lr_min = 0.1;
    expect_invalid(&c, "train.lr_min", "train.lr");

    ebm_config_defaults(&c);
    snprintf(c.model.layers, sizeof c.model.layers, "500,200");
    expect_invalid(&c, "model.layers", "model.hidden");

    ebm_config_defaults(&c);
    snprintf(c.data.valid_split, sizeof c.data.valid_split, "train");
    expect_invalid(&c, "data.valid_split", "data.split");

    /* dbn: the stack, its groups and what only rbm can do */
    ebm_config_defaults(&c);
    snprintf(c.model.type, sizeof c.model.type, "dbn");
    expect_invalid(&c, "model.type = dbn needs model.layers", NULL);
    snprintf(c.model.layers, sizeof c.model.layers, "784,500");
    expect_invalid(&c, "at least three sizes", NULL);
    snprintf(c.model.layers, sizeof c.model.layers, "784,,500");
    expect_invalid(&c, "model.layers: '784,,500': expected comma-separated", NULL);
    snprintf(c.model.layers, sizeof c.model.layers, "784,500,0");
    expect_invalid(&c, "model.layers", "[1, 1000000]");
    snprintf(c.model.layers, sizeof c.model.layers, "784, 500 ,2000");
    ebm_error_clear();
    assert_int_equal(ebm_config_validate(&c), EBM_OK);
    snprintf(c.pipeline.groups, sizeof c.pipeline.groups, "1,2,3");
    expect_invalid(&c, "pipeline.groups = '1,2,3' has 3 entries", "2 RBMs");
    snprintf(c.pipeline.groups, sizeof c.pipeline.groups, "1;2");
    expect_invalid(&c, "pipeline.groups: '1;2'", "(or auto)");
    snprintf(c.pipeline.groups, sizeof c.pipeline.groups, "auto");
    c.pipeline.warmup_epochs = c.train.epochs;
    expect_invalid(&c, "pipeline.warmup_epochs", "greedy");
    c.pipeline.mode = EBM_PIPELINE_GREEDY;
    ebm_error_clear();
    assert_int_equal(ebm_config_validate(&c), EBM_OK);
    c.train.eval_every = 1;
    expect_invalid(&c, "train.eval_every is for rbm", NULL);

    /* fields set directly (not parsed) get the same per-key checks */
    ebm_config_defaults(&c);
    c.model.hidden = 0;
    expect_invalid(&c, "model.hidden: 0 is out of range [1, 1000000]", NULL);
    ebm_config_defaults(&c);
    c.train.lr = NAN;
    expect_invalid(&c, "train.lr", "not a finite number");
    ebm_config_defaults(&c);
    c.data.binarize = (enum ebm_binarize)7;
    expect_invalid(&c, "data.binarize", NULL);
    ebm_config_defaults(&c);
    memset(c.data.split, 'x', sizeof c.data.split); /* unterminated */
    expect_invalid(&c, "data.split", "longer than");
    ebm_config_defaults(&c);
    snprintf(c.parallel.max_rank_memory, sizeof c.parallel.max_rank_memory, "2GB");
    expect_invalid(&c, "parallel.max_rank_memory = '2GB'", "expected a size in bytes");
    ebm_config_defaults(&c);
    c.train.pretrain_epochs = 2;
    expect_invalid(&c, "train.pretrain_epochs = 2 is for model.type = dbm", NULL);
    ebm_config_defaults(&c);
    c.train.sparsity_cost = 0.5;
    expect_invalid(&c, "train.sparsity_cost = 0.5 is for model.type = dbm", NULL);
    ebm_config_defaults(&c);
    c.train.sparsity_target = 1.0;
    expect_invalid(&c, "train.sparsity_target", NULL);
}

static void test_config_bcast_single_rank(void **state)
{
    struct ebm_config a, b;
    ebm_config_defaults(&a);
    a.train.k = 17;
    memcpy(&b, &a, sizeof a);
    ebm_error_clear();
    assert_int_equal(ebm_config_bcast(&b, 0, MPI_COMM_WORLD), EBM_OK);
    assert_memory_equal(&a, &b, sizeof a);
}

/* Every row of the reference (key, default, range, meaning) is in the docs
 * verbatim, so the docs cannot drift from the table. */
static void test_config_docs_list_every_key(void **state)
{
    FILE *fp = fopen("docs/config.md", "r");
    assert_non_null(fp); /* tests run from the repository root */
    static char docs[1 << 16];
    size_t n = fread(docs, 1, sizeof docs - 1, fp);
    docs[n] = '\0';
    fclose(fp);

    FILE *ref = tmpfile();
    assert_non_null(ref);
    ebm_config_print_reference(ref);
    rewind(ref);
    char line[1024];
    int rows = 0, missing = 0;
    while (fgets(line, sizeof line, ref)) {
        if (strncmp(line, "| `", 3)) continue;
        rows++;
        if (!strstr(docs, line)) {
            print_error("docs/config.md lacks (or has stale) row:\n%s", line);
            missing++;
        }
    }
    fclose(ref);
    assert_int_equal(missing, 0);

    /* and the reference has a row for every key the formatter writes */
    struct ebm_config c;
    ebm_config_defaults(&c);
    char text[4096];
    ebm_config_format(&c, text, sizeof text);
    int formatted = 0;
    for (const char *p = text; (p = strstr(p, " =")); p++) formatted++;
    assert_int_equal(rows, formatted);
    assert_non_null(strstr(docs, "--set section.key=value"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_config_defaults),
    cmocka_unit_test(test_config_file_parse),
    cmocka_unit_test(test_config_error_unknown_section),
    cmocka_unit_test(test_config_error_unknown_key),
    cmocka_unit_test(test_config_error_malformed_number),
    cmocka_unit_test(test_config_error_out_of_range),
    cmocka_unit_test(test_config_error_bad_enum),
    cmocka_unit_test(test_config_error_bad_bool),
    cmocka_unit_test(test_config_error_string),
    cmocka_unit_test(test_config_error_syntax),
    cmocka_unit_test(test_config_error_duplicate_and_continuation),
    cmocka_unit_test(test_config_error_line_too_long),
    cmocka_unit_test(test_config_error_missing_file),
    cmocka_unit_test(test_config_set_overrides),
    cmocka_unit_test(test_config_set_errors),
    cmocka_unit_test(test_config_format_round_trip),
    cmocka_unit_test(test_config_validate_cross_field),
    cmocka_unit_test(test_config_bcast_single_rank),
    cmocka_unit_test(test_config_docs_list_every_key),
};

EBM_TEST_MAIN(tests)
