/* The bounded queue between pipeline stages. Run with 1, 2 and 4 ranks
 * (the tests need 2; at 1 rank they pass trivially):
 * - every batch reaches the consumer rank the routing names, in order,
 *   for producer/consumer groups of 1:1, 1:3, 3:1 and 2:2 ranks;
 * - back-pressure: a slow consumer holds its producer back, so no more
 *   than 2 x depth batches are ever in flight (nothing piles up in MPI). */
#define _POSIX_C_SOURCE 200809L
#include "mpiutil.h"

#include <time.h>

#include "ebm/feature_link.h"

enum { LEN = 6 };

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Producers [0, up) and consumers [up, up + down) of the world; the others
 * sit out. Each batch carries (epoch, batch index, producer, step). */
static void check_routing(int up, int down, int64_t up_steps, int depth)
{
    if (mpi_size < up + down) return;
    int64_t down_steps = up_steps * up / down;
    struct ebm_link_ends e = { .comm = MPI_COMM_WORLD, .tag = 7, .up_first = 0, .up_size = up,
                               .down_first = up, .down_size = down, .down_steps = down_steps,
                               .depth = depth, .batch_len = LEN };
    int ok = 1;
    if (mpi_rank < up) {
        struct ebm_link_out out;
        ok = ebm_link_out_init(&out, &e, mpi_rank) == EBM_OK;
        for (int epoch = 0; ok && epoch < 2; epoch++) {
            for (int64_t k = 0; ok && k < up_steps; k++) {
                float batch[LEN] = { (float)epoch, (float)(k * up + mpi_rank), (float)mpi_rank,
                                     (float)k, 0, 0 };
                ok = ebm_link_out_put(&out, k, batch) == EBM_OK;
            }
            ok = ok && ebm_link_out_end_epoch(&out) == EBM_OK;
        }
        ok = ok && out.max_in_flight <= depth;
        ebm_link_out_free(&out);
    } else if (mpi_rank < up + down) {
        struct ebm_link_in in;
        int j = mpi_rank - up;
        ok = ebm_link_in_init(&in, &e, j) == EBM_OK;
        for (int epoch = 0; ok && epoch < 2; epoch++) {
            ok = ebm_link_in_begin_epoch(&in) == EBM_OK;
            for (int64_t t = 0; ok && t < down_steps; t++) {
                const float *b;
                ok = ebm_link_in_take(&in, t, &b) == EBM_OK;
                int64_t want = t * down + j;
                if (ok && (b[0] != epoch || b[1] != (float)want || b[2] != (float)(want % up) ||
                           b[3] != (float)(want / up))) {
                    fprintf(stderr, "consumer %d step %lld got batch %g of epoch %g, expected "
                            "%lld of %d\n", j, (long long)t, b[1], b[0], (long long)want, epoch);
                    ok = 0;
                }
            }
        }
        ebm_link_in_free(&in);
    }
    assert_all(ok);
}

static void test_link_mpi_routes_every_batch_in_order(void **state)
{
    (void)state;
    check_routing(1, 1, 9, 3);
    check_routing(1, 3, 10, 2); /* 10 batches over 3: the 10th is not sent */
    check_routing(3, 1, 5, 4);
    check_routing(2, 2, 7, 1);
}

static void test_link_mpi_back_pressure_bounds_what_is_in_flight(void **state)
{
    (void)state;
    enum { N = 40, DEPTH = 3 };
    if (mpi_size < 2) return;
    struct ebm_link_ends e = { .comm = MPI_COMM_WORLD, .tag = 8, .up_first = 0, .up_size = 1,
                               .down_first = 1, .down_size = 1, .down_steps = N,
                               .depth = DEPTH, .batch_len = LEN };
    int ok = 1;
    double posted[N], consumed[N];
    if (mpi_rank == 0) {
        struct ebm_link_out out;
        ok = ebm_link_out_init(&out, &e, 0) == EBM_OK;
        float batch[LEN] = { 0 };
        for (int k = 0; ok && k < N; k++) {
            ok = ebm_link_out_put(&out, k, batch) == EBM_OK;
            posted[k] = mono();
        }
        ok = ok && ebm_link_out_end_epoch(&out) == EBM_OK && out.blocked_s > 0;
        ebm_link_out_free(&out);
        MPI_Recv(consumed, N, MPI_DOUBLE, 1, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        /* Batch k goes out only once the consumer has posted the receive of
         * k - DEPTH, which it does on taking batch k - DEPTH + 1: after it
         * finished with batch k - 2 DEPTH. Small batches travel eagerly, so
         * a plain MPI_Isend would break this within the first few. */
        for (int k = 2 * DEPTH; k < N; k++)
            if (!(posted[k] > consumed[k - 2 * DEPTH])) {
                fprintf(stderr, "batch %d was sent %.4f s before the consumer finished "
                        "batch %d\n", k, consumed[k - 2 * DEPTH] - posted[k], k - 2 * DEPTH);
                ok = 0;
            }
    } else if (mpi_rank == 1) {
        struct ebm_link_in in;
        ok = ebm_link_in_init(&in, &e, 0) == EBM_OK && ebm_link_in_begin_epoch(&in) == EBM_OK;
        for (int t = 0; ok && t < N; t++) {
            const float *b;
            ok = ebm_link_in_take(&in, t, &b) == EBM_OK;
            struct timespec slow = { 0, 2000000 }; /* a consumer far behind */
            nanosleep(&slow, NULL);
            consumed[t] = mono();
        }
        ebm_link_in_free(&in);
        MPI_Send(consumed, N, MPI_DOUBLE, 0, 9, MPI_COMM_WORLD);
    }
    assert_all(ok);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_link_mpi_routes_every_batch_in_order),
    cmocka_unit_test(test_link_mpi_back_pressure_bounds_what_is_in_flight),
};

EBM_MPI_TEST_MAIN(tests)
