/* The bounded queue between two pipeline stages: batches of features flow
 * from the ranks of stage l-1 to those of stage l by non-blocking
 * point-to-point messages, with at most `depth` in flight per sender.
 *
 * Routing is fixed arithmetic, so every run moves the same batch to the
 * same place whatever the timing: within an epoch, the producer rank i of
 * Pu makes batch b = k * Pu + i at its step k, and consumer rank j of Pd
 * takes batch b = t * Pd + j at its step t. Batches past the
 * consumer's steps_per_epoch * Pd are not sent. No message crosses an
 * epoch boundary: each side finishes its epoch's messages first.
 *
 * Back-pressure: sends are synchronous-mode (MPI_Issend), which complete
 * only once the consumer has posted the matching receive, and the consumer
 * posts at most `depth` receives ahead. A slow consumer therefore holds
 * its producers back instead of piling messages up in MPI's buffers. */
#ifndef EBM_FEATURE_LINK_H
#define EBM_FEATURE_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <mpi.h>

#include "ebm/error.h"

struct ebm_link_ends {
    MPI_Comm comm;        /* spans both groups (the world) */
    int tag;
    int up_first, up_size;     /* producer group: ranks [up_first, up_first + up_size) */
    int down_first, down_size; /* consumer group */
    int64_t down_steps;        /* consumer steps per epoch */
    int depth;                 /* batches in flight */
    size_t batch_len;          /* floats per batch */
};

struct ebm_link_out {
    struct ebm_link_ends e;
    int rank;                  /* this producer's index in its group */
    float *buf;                /* (depth, batch_len) */
    MPI_Request *req;
    int next;                  /* slot of the next send */
    double blocked_s;          /* waiting for a free slot: the consumer is behind */
    int max_in_flight;         /* the most sends outstanding at once (tests) */
};

struct ebm_link_in {
    struct ebm_link_ends e;
    int rank;                  /* this consumer's index in its group */
    float *buf;                /* (depth, batch_len) */
    MPI_Request *req;
    int64_t posted;            /* receives posted this epoch */
    double waiting_s;          /* waiting for a batch: the producers are behind */
};

ebm_status ebm_link_out_init(struct ebm_link_out *out, const struct ebm_link_ends *e, int rank);
void ebm_link_out_free(struct ebm_link_out *out);
/* Producer step k of the current epoch: sends a copy of batch (batch_len
 * floats) when it is routed, after waiting for a free slot. */
ebm_status ebm_link_out_put(struct ebm_link_out *out, int64_t k, const float *batch);
/* Whether step k's batch is routed to a consumer. */
int ebm_link_out_routed(const struct ebm_link_out *out, int64_t k);
/* Waits for every send of the epoch. */
ebm_status ebm_link_out_end_epoch(struct ebm_link_out *out);

ebm_status ebm_link_in_init(struct ebm_link_in *in, const struct ebm_link_ends *e, int rank);
void ebm_link_in_free(struct ebm_link_in *in);
/* Posts the epoch's first receives. */
ebm_status ebm_link_in_begin_epoch(struct ebm_link_in *in);
/* The batch of consumer step t (0-based within the epoch, taken in order).
 * The pointer stays valid until the next call; taking step t re-posts the
 * slot of step t - 1. */
ebm_status ebm_link_in_take(struct ebm_link_in *in, int64_t t, const float **batch);

#endif
