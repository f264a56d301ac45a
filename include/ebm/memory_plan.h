/* What training an RBM costs each rank in memory, before any of it is
 * allocated: in the data-parallel layout (the trainer's own buffers, byte
 * for byte) and on a Pr x Pc process grid (ebm/grid_rbm.h's blocks). The
 * start-up report of `ebm train` and [parallel] max_rank_memory use it;
 * docs/model-parallel.md has the formulas. Pure arithmetic. */
#ifndef EBM_MEMORY_PLAN_H
#define EBM_MEMORY_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "ebm/error.h"

/* The shape of a training run as one rank sees it. */
struct ebm_rbm_shape {
    int64_t V, H;          /* visible (labels included) and hidden units */
    int64_t B, C;          /* batch rows and chains per rank (per replica on a grid) */
    int64_t rows, valid_rows; /* training and held-out rows this rank holds */
    int gaussian;          /* Gaussian visible units: log sigma and s(v) buffers */
    int centering;         /* centering offsets */
    int standardize;       /* per-column mean and std */
    int eval_every;        /* AIS estimates during training keep binarised held-out rows */
    int persistent;        /* PCD: C chains kept between steps (else C = B, the batch's copy) */
};

/* Bytes per rank by what they hold. */
struct ebm_memory_plan {
    double parameters, gradients, optimizer, chains, batch, data;
};

double ebm_memory_plan_total(const struct ebm_memory_plan *p);

/* The data-parallel trainer (every rank W, its gradient and velocity). */
void ebm_memory_plan_data(struct ebm_memory_plan *p, const struct ebm_rbm_shape *s);
/* The grid-mode trainer on a Pr x Pc grid in block x block blocks
 * (src/learn/grid_train.c and ebm/grid_rbm.h, byte for byte): the share of
 * the rank at grid position (0, 0), which holds the most. */
void ebm_memory_plan_grid(struct ebm_memory_plan *p, const struct ebm_rbm_shape *s, int pr,
                          int pc, int block);
/* Among the grids of P ranks' divisors, the one with the fewest ranks (the
 * squarest first) whose plan fits in cap bytes, its replicas holding
 * rows_total / R rows each; 0 when none fits. */
int ebm_memory_plan_suggest(const struct ebm_rbm_shape *s, int64_t rows_total, int P, int block,
                            double cap, int *pr, int *pc);

/* "2G", "512M", "64K", "1.5G" or plain bytes (K = 1024) into bytes; 0 is
 * allowed (no cap). EBM_ERR_INPUT quoting the text otherwise. */
ebm_status ebm_parse_bytes(const char *text, double *bytes);
/* "1.50 GiB", "12.0 MiB", "512 B". */
void ebm_format_bytes(double bytes, char *buf, size_t len);

#endif
