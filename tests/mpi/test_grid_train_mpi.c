/* ebm train's grid mode ([parallel] grid, ebm/grid_train.h) against its
 * data-parallel mode, at 1, 2 and 4 ranks:
 *   mpirun --oversubscribe -np 4 build/tests/mpi/test_grid_train_mpi
 * On every grid of more than one rank that divides the rank count (1x2 and
 * 2x1 at 2 ranks; 2x2, 1x4, 4x1, and 1x2 / 2x1 as two replicas at 4), for
 * CD-1 and PCD-2 with stochastic binarisation:
 * - two epochs of grid training with R replicas match two epochs of
 *   data-parallel training on R ranks from the same seed: weights, biases,
 *   velocities, replica 0's chains and the epoch metrics, up to float
 *   summation order;
 * - a grid checkpoint resumed in data mode, and a data-mode checkpoint
 *   resumed on the grid, each continue as the uninterrupted run does;
 * - the memory plan of the grid is what rank 0 allocates, and its steps
 *   allocate nothing. */
#include "gridutil.h"

#include <math.h>

#include "allocwrap.h"
#include "ebm/grid_train.h"
#include "ebm/trainer.h"

enum { IMG_H = 5, IMG_W = 7, V = IMG_H * IMG_W, H = 23, ROWS = 120, B = 10, BLOCK = 4 };

static const char *DATA = "test_grid_train_mpi.h5";

/* Intensities in [0, 1] with a column trend, written by rank 0. */
static void write_data(void)
{
    uint8_t *u = malloc(ROWS * V);
    struct ebm_rng r;
    ebm_rng_init(&r, 77, 0, EBM_RNG_TEST);
    float x[V];
    for (int i = 0; i < ROWS; i++) {
        ebm_rng_uniform(&r, x, V);
        for (int j = 0; j < V; j++) u[i * V + j] = (uint8_t)(255.0f * x[j] * (float)(j + 1) / V);
    }
    int st = EBM_OK;
    if (mpi_rank == 0) {
        remove(DATA);
        st = ebm_dataset_write_u8(DATA, "train", u, ROWS, V, NULL, IMG_H, IMG_W);
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    assert_all(st == EBM_OK);
    free(u);
}

static void config(struct ebm_config *cfg, const char *grid, int persistent)
{
    ebm_config_defaults(cfg);
    snprintf(cfg->data.path, sizeof cfg->data.path, "%s", DATA);
    cfg->data.valid_split[0] = '\0';
    cfg->data.binarize = EBM_BINARIZE_STOCHASTIC;
    cfg->model.hidden = H;
    cfg->train.batch_size = B;
    cfg->train.persistent = persistent;
    cfg->train.chains = 7;
    cfg->train.k = persistent ? 2 : 1;
    cfg->train.lr = 0.1;
    cfg->train.momentum = 0.5;
    cfg->train.weight_decay = 1e-3;
    cfg->train.monitor = 20;
    cfg->train.seed = 31;
    snprintf(cfg->parallel.grid, sizeof cfg->parallel.grid, "%s", grid);
    cfg->parallel.block = BLOCK;
}

/* What a run leaves: every parameter and velocity, replica 0's chains,
 * and the epoch metrics (train reconstruction error and free energy). */
struct state {
    float W[V * H], b[V], c[H], vW[V * H], vb[V], vc[H], chains[16 * V];
    double recon, fe;
};

/* Epochs [from, to) of the trainer's loop (as ebm_trainer_run takes them,
 * without its files), resuming inside an epoch when a checkpoint put it there. */
static void train(struct ebm_trainer *tr, int to)
{
    while (tr->epoch < to) {
        ebm_trainer_begin_epoch(tr);
        for (int64_t s = tr->step - tr->epoch * tr->steps_per_epoch; s < tr->steps_per_epoch; s++)
            assert_true(ebm_trainer_step(tr) == EBM_OK);
        tr->epoch++;
    }
}

/* The state of a trainer, complete on world rank 0 (collective over the
 * trainer's ranks). */
static void capture(struct ebm_trainer *tr, struct state *s)
{
    struct ebm_epoch_metrics m;
    assert_true(ebm_trainer_evaluate(tr, &m) == EBM_OK);
    s->recon = m.recon_train;
    s->fe = m.fe_train;
    int C = tr->cfg.train.persistent ? tr->C : 0;
    if (!ebm_trainer_is_grid(tr)) {
        memcpy(s->W, tr->model.W, sizeof s->W);
        memcpy(s->b, tr->model.vbias, sizeof s->b);
        memcpy(s->c, tr->model.hbias, sizeof s->c);
        memcpy(s->vW, tr->velocity.W, sizeof s->vW);
        memcpy(s->vb, tr->velocity.vbias, sizeof s->vb);
        memcpy(s->vc, tr->velocity.hbias, sizeof s->vc);
        if (C) memcpy(s->chains, tr->chains, sizeof(float) * C * V);
        return;
    }
    struct ebm_grid_rbm *g = &tr->grid.rbm;
    assert_true(ebm_dmatrix_to_global(&g->W, &tr->grid.layout, s->W, H) == EBM_OK);
    assert_true(ebm_dmatrix_to_global(&g->velocity, &tr->grid.layout, s->vW, H) == EBM_OK);
    memcpy(s->b, g->bias, sizeof s->b);
    memcpy(s->c, g->bias + V, sizeof s->c);
    memcpy(s->vb, g->bias_velocity, sizeof s->vb);
    memcpy(s->vc, g->bias_velocity + V, sizeof s->vc);
    if (C) assert_true(ebm_dmatrix_to_global(&g->v, &tr->grid.layout, s->chains, V) == EBM_OK);
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* The largest difference of two states' numbers. */
static double state_diff(const struct state *a, const struct state *b)
{
    double d = max_diff(a->W, b->W, V * H);
    d = fmax(d, max_diff(a->b, b->b, V));
    d = fmax(d, max_diff(a->c, b->c, H));
    d = fmax(d, max_diff(a->vW, b->vW, V * H));
    d = fmax(d, max_diff(a->vb, b->vb, V));
    d = fmax(d, max_diff(a->vc, b->vc, H));
    d = fmax(d, max_diff(a->chains, b->chains, 16 * V));
    return d;
}

/* Runs `body` on a trainer of cfg over the first `ranks` world ranks (the
 * others wait), then broadcasts world rank 0's state to all. */
struct plan {
    const struct ebm_config *cfg;
    int ranks;
    const char *load;   /* resume from this checkpoint first, or NULL */
    int epochs;
    const char *save;   /* then save here, or NULL */
};

static void run(const struct plan *p, struct state *out)
{
    memset(out, 0, sizeof *out);
    MPI_Comm comm;
    MPI_Comm_split(MPI_COMM_WORLD, mpi_rank < p->ranks ? 0 : MPI_UNDEFINED, mpi_rank, &comm);
    if (comm != MPI_COMM_NULL) {
        struct ebm_par par;
        assert_true(ebm_par_init(&par, comm) == EBM_OK);
        struct ebm_trainer tr;
        assert_true(ebm_trainer_init(&tr, p->cfg, &par) == EBM_OK);
        tr.quiet = 1;
        if (p->load) assert_true(ebm_trainer_load(&tr, p->load) == EBM_OK);
        train(&tr, p->epochs);
        if (p->save) assert_true(ebm_trainer_save(&tr, p->save) == EBM_OK);
        capture(&tr, out);
        ebm_trainer_free(&tr);
        ebm_par_free(&par);
        MPI_Comm_free(&comm);
    }
    MPI_Bcast(out, sizeof *out, MPI_BYTE, 0, MPI_COMM_WORLD);
}

/* A flipped sample moves an entry by about lr / (R·B) = 2.5e-3 at R = 4;
 * summation order moves entries by a few 2^-24 per step (the kernel test:
 * 1.2e-7 after four steps). Twelve steps with momentum stay under 1e-5. */
#define TOLERANCE 1e-5

static void test_grid_training_follows_data_training(void **state)
{
    (void)state;
    write_data();
    int rows[16], cols[16], n = grids_of(mpi_size, rows, cols);
    for (int t = 0; t < n; t++) {
        if (rows[t] * cols[t] == 1) continue;
        int R = mpi_size / (rows[t] * cols[t]);
        char grid[32];
        snprintf(grid, sizeof grid, "%dx%d", rows[t], cols[t]);
        for (int persistent = 0; persistent <= 1; persistent++) {
            struct ebm_config gc, dc;
            config(&gc, grid, persistent);
            config(&dc, "1x1", persistent);
            struct state data, on_grid, data_resumed, grid_resumed;
            run(&(struct plan){ &dc, R, NULL, 1, "test_grid_train_data.h5" }, &data);
            run(&(struct plan){ &gc, mpi_size, NULL, 1, "test_grid_train_grid.h5" }, &on_grid);
            double d1 = state_diff(&data, &on_grid);
            double m1 = fmax(fabs(data.recon - on_grid.recon), fabs(data.fe - on_grid.fe));
            struct state first = data;
            run(&(struct plan){ &dc, R, NULL, 2, NULL }, &data);
            /* the second epoch moved the parameters far past the tolerance */
            assert_all(state_diff(&first, &data) > 100 * TOLERANCE);
            run(&(struct plan){ &gc, mpi_size, NULL, 2, NULL }, &on_grid);
            double d2 = state_diff(&data, &on_grid);
            /* across layouts: each checkpoint continued by the other mode */
            run(&(struct plan){ &dc, R, "test_grid_train_grid.h5", 2, NULL }, &data_resumed);
            run(&(struct plan){ &gc, mpi_size, "test_grid_train_data.h5", 2, NULL },
                &grid_resumed);
            double d3 = fmax(state_diff(&data, &data_resumed), state_diff(&data, &grid_resumed));
            if (mpi_rank == 0)
                printf("grid %s (%d replicas) vs %d data-parallel ranks, %s: epoch 1 %.2e "
                       "(metrics %.2e), epoch 2 %.2e, resumed across modes %.2e\n", grid, R, R,
                       persistent ? "PCD-2" : "CD-1", d1, m1, d2, d3);
            assert_all(d1 < TOLERANCE && d2 < TOLERANCE && d3 < TOLERANCE);
            /* the metrics sum 20 rows' errors of ~10: relative float rounding */
            assert_all(m1 < 1e-4);
        }
    }
    if (mpi_rank == 0) {
        remove(DATA);
        remove("test_grid_train_data.h5");
        remove("test_grid_train_grid.h5");
    }
}

/* check(trainer, grid text, persistent) on a fresh trainer of every grid
 * of more than one rank, for CD and PCD; allocations counts from before
 * ebm_trainer_init. */
static void for_each_grid_trainer(void (*check)(struct ebm_trainer *, const char *, int))
{
    write_data();
    int rows[16], cols[16], n = grids_of(mpi_size, rows, cols);
    for (int t = 0; t < n; t++) {
        if (rows[t] * cols[t] == 1) continue;
        for (int persistent = 0; persistent <= 1; persistent++) {
            char grid[32];
            snprintf(grid, sizeof grid, "%dx%d", rows[t], cols[t]);
            struct ebm_config cfg;
            config(&cfg, grid, persistent);
            struct ebm_par par;
            assert_true(ebm_par_init(&par, MPI_COMM_WORLD) == EBM_OK);
            struct ebm_trainer tr;
            allocations = 0;
            assert_true(ebm_trainer_init(&tr, &cfg, &par) == EBM_OK);
            check(&tr, grid, persistent);
            ebm_trainer_free(&tr);
            ebm_par_free(&par);
        }
    }
    if (mpi_rank == 0) remove(DATA);
}

/* The plan rank 0 prints at start-up is what its grid allocates. */
static void plan_is_allocation(struct ebm_trainer *tr, const char *grid, int persistent)
{
    const struct ebm_grid_rbm *g = &tr->grid.rbm;
    const struct ebm_dmatrix *all[] = { &g->W, &g->grad, &g->velocity, &g->v0,
                                        &g->ph0, &g->pv, &g->v, &g->ph, &g->h };
    double bytes = 0;
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        bytes += 4.0 * all[i]->lld * all[i]->local_cols;
    int lr = g->v0.local_rows > g->v.local_rows ? g->v0.local_rows : g->v.local_rows;
    bytes += 4.0 * (3 * (V + H) + 1 + BLOCK + (lr > 0 ? lr : 1)) + 8.0 * (B + 1);
    bytes += 4.0 * (B * V + V) + 8.0 * (tr->data.n > 0 ? tr->data.n : 1);
    bytes += persistent ? 4.0 * tr->C * V : 0;
    bytes += 4.0 * V * (tr->data.n + tr->valid.n);
    double plan = ebm_memory_plan_total(&tr->memory);
    if (mpi_rank == 0)
        printf("grid %s %s: rank 0 allocates %.0f bytes, the plan says %.0f\n", grid,
               persistent ? "PCD" : "CD", bytes, plan);
    if (mpi_rank == 0) assert_true(bytes == plan);
}

static void test_grid_memory_plan_is_the_allocation(void **state)
{
    (void)state;
    for_each_grid_trainer(plan_is_allocation);
}

/* The grid step is a hot loop: ebm allocates nothing in it. */
static void steps_allocate_nothing(struct ebm_trainer *tr, const char *grid, int persistent)
{
    assert_true(allocations > 0); /* the count sees ebm's allocations */
    ebm_trainer_begin_epoch(tr);
    assert_true(ebm_trainer_step(tr) == EBM_OK);
    allocations = 0;
    for (int s = 1; s < tr->steps_per_epoch; s++) assert_true(ebm_trainer_step(tr) == EBM_OK);
    long during = allocations;
    if (mpi_rank == 0)
        printf("grid %s %s: %ld allocations in %lld steps\n", grid, persistent ? "PCD" : "CD",
               during, (long long)tr->steps_per_epoch - 1);
    assert_all(during == 0 && tr->steps_per_epoch > 1);
}

static void test_grid_steps_allocate_nothing(void **state)
{
    (void)state;
    for_each_grid_trainer(steps_allocate_nothing);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_grid_steps_allocate_nothing),
    cmocka_unit_test(test_grid_training_follows_data_training),
    cmocka_unit_test(test_grid_memory_plan_is_the_allocation),
};

EBM_MPI_TEST_MAIN_WITH(tests, NULL, finish_blacs)
