/* DBN pipeline training. Run with 1, 2 and 4 ranks (a 2-layer stack: at 2
 * ranks groups of 1 + 1, at 4 ranks 2 + 2; at 1 rank it must refuse):
 * - greedy mode equals sequential layer-wise training, bit for bit;
 * - an overlapped run checkpointed half-way (stage 1 under way, stage 0
 *   still learning) and resumed equals the uninterrupted run, bit for bit,
 *   with refreshed feature weights and sampled features;
 * - too few ranks for the stack is a clear error. */
#include "mpiutil.h"

#include "ebm/dbn_train.h"

enum { N_ROWS = 200, DIM = 16, H1 = 8, H2 = 6 };

/* Noisy bars on a 4x4 grid, written by rank 0. */
static void write_bars(const char *path)
{
    int st = EBM_OK;
    if (mpi_rank == 0) {
        uint8_t x[N_ROWS * DIM];
        struct ebm_rng r;
        ebm_rng_init(&r, 78, 0, EBM_RNG_TEST);
        for (int n = 0; n < N_ROWS; n++) {
            int line = (int)ebm_rng_below(&r, 4), vertical = (int)ebm_rng_below(&r, 2);
            for (int i = 0; i < DIM; i++) {
                int on = vertical ? i % 4 == line : i / 4 == line;
                x[n * DIM + i] = (uint8_t)(on ? 220 : 30);
            }
        }
        remove(path);
        st = ebm_dataset_write_u8(path, "train", x, N_ROWS, DIM, NULL, 4, 4);
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    assert_all(st == EBM_OK);
}

static void dbn_config(struct ebm_config *c, const char *data, const char *dir)
{
    ebm_config_defaults(c);
    snprintf(c->data.path, sizeof c->data.path, "%s", data);
    c->data.valid_split[0] = '\0';
    snprintf(c->model.type, sizeof c->model.type, "dbn");
    snprintf(c->model.layers, sizeof c->model.layers, "%d,%d,%d", DIM, H1, H2);
    snprintf(c->pipeline.groups, sizeof c->pipeline.groups, "%d,%d", mpi_size / 2,
             mpi_size / 2);
    c->train.batch_size = 10;
    c->train.chains = 5;
    c->train.epochs = 3;
    c->train.lr = 0.1;
    c->train.monitor = 40;
    c->train.seed = 11;
    c->pipeline.queue_depth = 2;
    snprintf(c->output.dir, sizeof c->output.dir, "%s", dir);
}

/* The RBM of stage l as the pipeline sets it up: its size, seed + l and,
 * above the data, its inputs used as they come. */
static void layer_config(const struct ebm_config *dbn, int l, struct ebm_config *c)
{
    *c = *dbn;
    snprintf(c->model.type, sizeof c->model.type, "rbm");
    c->model.layers[0] = '\0';
    c->model.hidden = l == 0 ? H1 : H2;
    c->train.seed = dbn->train.seed + (uint64_t)l;
    if (l > 0) c->data.binarize = EBM_BINARIZE_NONE;
}

/* Sequential greedy training on one group of ranks: layer 0 to the end,
 * then layer 1 on the features of fresh data batches under layer 0's final
 * weights. Leaves both layers in w0 and w1. */
static void train_sequentially(const struct ebm_config *dbn, const struct ebm_par *par,
                               struct rbm *w0, struct rbm *w1)
{
    struct ebm_config c0, c1;
    layer_config(dbn, 0, &c0);
    layer_config(dbn, 1, &c1);
    int E = dbn->train.epochs;
    struct ebm_trainer t0, t1;
    assert_int_equal(ebm_trainer_init(&t0, &c0, par), EBM_OK);
    int64_t S = t0.steps_per_epoch;
    double hsum[H1] = { 0 };
    for (int e = 0; e < E; e++) {
        ebm_trainer_shuffle(&t0, e);
        for (int j = 0; j < H1; j++) hsum[j] = 0;
        for (int64_t k = 0; k < S; k++) {
            ebm_trainer_load_batch(&t0, k);
            assert_int_equal(ebm_trainer_update(&t0), EBM_OK);
            for (int j = 0; j < H1; j++) hsum[j] += t0.hmean[j];
        }
        t0.epoch++;
    }
    float marginals[H1];
    for (int j = 0; j < H1; j++) marginals[j] = (float)(hsum[j] / (double)S);
    assert_int_equal(ebm_trainer_init_fed(&t1, &c1, par, H1, S, marginals), EBM_OK);
    for (int e = E; e < 2 * E; e++) {
        ebm_trainer_shuffle(&t0, e);
        for (int64_t k = 0; k < S; k++) {
            ebm_trainer_load_batch(&t0, k);
            rbm_hidden_probs(&t0.model, t0.v_batch, t0.B, t0.ph_data);
            ebm_trainer_load_rows(&t1, t0.ph_data);
            assert_int_equal(ebm_trainer_update(&t1), EBM_OK);
        }
        t1.epoch++;
    }
    memcpy(w0->block, t0.model.block, sizeof(float) * rbm_block_size(DIM, H1));
    memcpy(w1->block, t1.model.block, sizeof(float) * rbm_block_size(H1, H2));
    ebm_trainer_free(&t0);
    ebm_trainer_free(&t1);
}

static int same_bits(const struct rbm *a, const struct rbm *b)
{
    return memcmp(a->block, b->block,
                  sizeof(float) * rbm_block_size(a->n_visible, a->n_hidden)) == 0;
}

static void test_dbn_mpi_refuses_too_few_ranks(void **state)
{
    (void)state;
    if (mpi_size != 1) return;
    char data[512];
    snprintf(data, sizeof data, "%s/bars.h5", mpi_dir);
    write_bars(data);
    struct ebm_config c;
    dbn_config(&c, data, mpi_dir);
    snprintf(c.pipeline.groups, sizeof c.pipeline.groups, "auto");
    struct ebm_par par;
    assert_int_equal(ebm_par_init(&par, MPI_COMM_WORLD), EBM_OK);
    struct ebm_dbn_trainer d;
    assert_int_equal(ebm_dbn_init(&d, &c, &par), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "needs at least 2 ranks"));
    ebm_error_clear();
    ebm_dbn_free(&d);
    ebm_par_free(&par);
}

static void test_dbn_mpi_greedy_equals_sequential_training(void **state)
{
    (void)state;
    if (mpi_size < 2 || mpi_size % 2) return;
    char data[512];
    snprintf(data, sizeof data, "%s/bars.h5", mpi_dir);
    write_bars(data);
    struct ebm_config c;
    dbn_config(&c, data, mpi_dir);
    c.pipeline.mode = EBM_PIPELINE_GREEDY;
    struct ebm_par par;
    assert_int_equal(ebm_par_init(&par, MPI_COMM_WORLD), EBM_OK);

    struct ebm_dbn_trainer d;
    assert_int_equal(ebm_dbn_init(&d, &c, &par), EBM_OK);
    d.quiet = 1;
    while (d.tick < d.plan.ticks) assert_all(ebm_dbn_tick(&d) == EBM_OK);
    assert_all(d.tick == 2 * c.train.epochs);
    struct rbm p0, p1, s0, s1;
    rbm_init(&p0, DIM, H1);
    rbm_init(&p1, H1, H2);
    rbm_init(&s0, DIM, H1);
    rbm_init(&s1, H1, H2);
    assert_all(ebm_dbn_layer(&d, 0, &p0) == EBM_OK && ebm_dbn_layer(&d, 1, &p1) == EBM_OK);
    ebm_dbn_free(&d);

    /* The first half of the ranks trains the same stack layer by layer. */
    int G = mpi_size / 2, in_ref = mpi_rank < G;
    MPI_Comm half;
    MPI_Comm_split(MPI_COMM_WORLD, in_ref, mpi_rank, &half);
    if (in_ref) {
        struct ebm_par ref;
        assert_int_equal(ebm_par_init(&ref, half), EBM_OK);
        train_sequentially(&c, &ref, &s0, &s1);
        ebm_par_free(&ref);
    }
    MPI_Comm_free(&half);
    MPI_Bcast(s0.block, (int)rbm_block_size(DIM, H1), MPI_FLOAT, 0, MPI_COMM_WORLD);
    MPI_Bcast(s1.block, (int)rbm_block_size(H1, H2), MPI_FLOAT, 0, MPI_COMM_WORLD);
    if (!same_bits(&p0, &s0)) assert_close_f(p0.block, s0.block, rbm_block_size(DIM, H1), 0, "layer 0");
    if (!same_bits(&p1, &s1)) assert_close_f(p1.block, s1.block, rbm_block_size(H1, H2), 0, "layer 1");
    assert_all(same_bits(&p0, &s0) && same_bits(&p1, &s1));
    /* and training did something */
    assert_all(fabsf(p1.W[0]) > 0 && p1.W[0] != s0.W[0]);
    rbm_free(&p0);
    rbm_free(&p1);
    rbm_free(&s0);
    rbm_free(&s1);
    ebm_par_free(&par);
}

static void final_layers(struct ebm_dbn_trainer *d, struct rbm *w0, struct rbm *w1)
{
    d->quiet = 1;
    while (d->tick < d->plan.ticks) assert_all(ebm_dbn_tick(d) == EBM_OK);
    assert_all(ebm_dbn_layer(d, 0, w0) == EBM_OK && ebm_dbn_layer(d, 1, w1) == EBM_OK);
}

static void test_dbn_mpi_overlapped_checkpoint_resumes_bit_for_bit(void **state)
{
    (void)state;
    if (mpi_size < 2 || mpi_size % 2) return;
    char data[512], ckpt[600];
    snprintf(data, sizeof data, "%s/bars.h5", mpi_dir);
    snprintf(ckpt, sizeof ckpt, "%s/dbn-half.h5", mpi_dir);
    write_bars(data);
    struct ebm_config c;
    dbn_config(&c, data, mpi_dir);
    c.train.epochs = 4;
    c.train.centering = true;
    c.pipeline.mode = EBM_PIPELINE_OVERLAPPED;
    c.pipeline.warmup_epochs = 1;
    c.pipeline.finish_epochs = 1;
    c.pipeline.refresh_steps = 3;
    c.pipeline.feed = EBM_FEED_SAMPLES;
    struct ebm_par par;
    assert_int_equal(ebm_par_init(&par, MPI_COMM_WORLD), EBM_OK);
    struct rbm a0, a1, b0, b1, h0, h1;
    rbm_init(&a0, DIM, H1);
    rbm_init(&a1, H1, H2);
    rbm_init(&b0, DIM, H1);
    rbm_init(&b1, H1, H2);
    rbm_init(&h0, DIM, H1);
    rbm_init(&h1, H1, H2);

    struct ebm_dbn_trainer d;
    assert_int_equal(ebm_dbn_init(&d, &c, &par), EBM_OK);
    final_layers(&d, &a0, &a1);
    ebm_dbn_free(&d);

    /* Ticks 1-2: stage 0 trains, stage 1 starts on tick 2. */
    assert_int_equal(ebm_dbn_init(&d, &c, &par), EBM_OK);
    d.quiet = 1;
    assert_all(ebm_dbn_tick(&d) == EBM_OK && ebm_dbn_tick(&d) == EBM_OK);
    assert_all(ebm_dbn_save(&d, ckpt) == EBM_OK);
    assert_all(ebm_dbn_layer(&d, 0, &h0) == EBM_OK && ebm_dbn_layer(&d, 1, &h1) == EBM_OK);
    ebm_dbn_free(&d);

    assert_int_equal(ebm_dbn_init(&d, &c, &par), EBM_OK);
    assert_all(ebm_dbn_load(&d, ckpt) == EBM_OK);
    assert_all(d.tick == 2);
    assert_all(ebm_dbn_layer(&d, 0, &b0) == EBM_OK && ebm_dbn_layer(&d, 1, &b1) == EBM_OK);
    assert_all(same_bits(&b0, &h0) && same_bits(&b1, &h1)); /* the round trip */
    final_layers(&d, &b0, &b1);
    ebm_dbn_free(&d);
    assert_all(same_bits(&a0, &b0) && same_bits(&a1, &b1));
    assert_all(!same_bits(&a1, &h1)); /* the resumed run did train on */

    /* A resume under another plan is refused, naming both. */
    c.pipeline.finish_epochs = 2;
    assert_int_equal(ebm_dbn_init(&d, &c, &par), EBM_OK);
    assert_all(ebm_dbn_load(&d, ckpt) == EBM_ERR_INPUT);
    assert_all(strstr(ebm_error_message(), "finish 1") && strstr(ebm_error_message(), "finish 2"));
    ebm_error_clear();
    ebm_dbn_free(&d);

    rbm_free(&a0); rbm_free(&a1); rbm_free(&b0); rbm_free(&b1); rbm_free(&h0); rbm_free(&h1);
    ebm_par_free(&par);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dbn_mpi_refuses_too_few_ranks),
    cmocka_unit_test(test_dbn_mpi_greedy_equals_sequential_training),
    cmocka_unit_test(test_dbn_mpi_overlapped_checkpoint_resumes_bit_for_bit),
};

EBM_MPI_TEST_MAIN(tests)
