/* The layout of a DBN pipeline (docs/dbn.md): which ranks train which
 * layer, and on which pipeline epoch ("tick") each stage trains, feeds the
 * next one, or waits. Pure arithmetic: no MPI here.
 *
 * Stage l trains RBM l (sizes[l] -> sizes[l + 1]) on a group of
 * consecutive world ranks. Every stage epoch consumes exactly one epoch of
 * the stage below, so the stages move through common ticks:
 *   - stage l runs epochs 1..run_epochs[l] on ticks start_tick[l] + 0, 1, ...;
 *   - of those, epochs 1..train_epochs[l] train it, later ones only feed;
 *   - after forward_from[l] epochs it passes every batch's features up.
 * Greedy mode is the special case forward_from[l] = train_epochs[l]. */
#ifndef EBM_PIPELINE_H
#define EBM_PIPELINE_H

#include <stdint.h>

#include "ebm/config.h"
#include "ebm/error.h"

#define EBM_MAX_STAGES (EBM_MAX_LAYERS - 1)

struct ebm_pipeline_plan {
    int n_stages;                         /* L: RBMs in the stack */
    int sizes[EBM_MAX_LAYERS];            /* n_0 (data) .. n_L */
    int group_size[EBM_MAX_STAGES];       /* ranks of stage l */
    int group_first[EBM_MAX_STAGES];      /* its first world rank */
    int64_t steps_per_epoch[EBM_MAX_STAGES];
    int train_epochs[EBM_MAX_STAGES];     /* T_l */
    int forward_from[EBM_MAX_STAGES];     /* s_l: epochs before features go up */
    int run_epochs[EBM_MAX_STAGES];       /* O_l = s_l + O_{l+1}; O_{L-1} = T_{L-1} */
    int start_tick[EBM_MAX_STAGES];       /* tick of stage l's first epoch */
    int ticks;                            /* the whole run */
};

/* Ranks per stage for a world of `ranks`: the explicit list in spec, or
 * for "auto" in proportion to each layer's FLOPs per sample (n_l * n_{l+1}),
 * at least one each. Fewer ranks than stages is an input error: stages are
 * never folded onto shared ranks. */
ebm_status ebm_pipeline_groups(const int *sizes, int n_stages, const char *spec, int ranks,
                               int *group_size);

/* The whole plan from the config, the world size and the training rows.
 * Every stage epoch takes the batches one epoch of the stage below gives
 * (steps_per_epoch[l] = floor(steps[l-1] * P[l-1] / P[l])); a stage with
 * fewer than one step per epoch is an input error. */
ebm_status ebm_pipeline_plan(const struct ebm_config *cfg, int ranks, int64_t n_rows,
                             struct ebm_pipeline_plan *plan);

/* Stage 0's steps per epoch as its trainer found them (its shards may be
 * uneven, e.g. after [data] include_labels), and the stages above from
 * them; the same input error as above when a stage gets no batch. */
ebm_status ebm_pipeline_set_steps(struct ebm_pipeline_plan *plan, int64_t stage0_steps,
                                  const struct ebm_config *cfg);

/* The stage that world rank `rank` belongs to. */
int ebm_pipeline_stage_of(const struct ebm_pipeline_plan *plan, int rank);

/* The 0-based epoch of stage l on tick t, or -1 when it is not running. */
int ebm_pipeline_epoch_at(const struct ebm_pipeline_plan *plan, int stage, int tick);

#endif
