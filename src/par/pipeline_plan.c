#include "ebm/pipeline.h"

#include <stdio.h>
#include <string.h>

#include "ebm/dataset.h"

ebm_status ebm_pipeline_groups(const int *sizes, int n_stages, const char *spec, int ranks,
                               int *group_size)
{
    if (ranks < n_stages)
        return EBM_FAIL(EBM_ERR_INPUT, "a dbn with %d RBMs needs at least %d ranks, one group "
                        "per stage; this job has %d (run more ranks, or fewer layers)",
                        n_stages, n_stages, ranks);
    if (strcmp(spec, "auto") != 0) {
        int n, total = 0;
        char why[384];
        if (!ebm_parse_int_list(spec, group_size, EBM_MAX_STAGES, &n, why, sizeof why))
            return EBM_FAIL(EBM_ERR_INPUT, "[pipeline] groups: %s", why);
        if (n != n_stages)
            return EBM_FAIL(EBM_ERR_INPUT, "[pipeline] groups = '%s' has %d entries for %d "
                            "stages", spec, n, n_stages);
        for (int l = 0; l < n; l++) total += group_size[l];
        if (total != ranks)
            return EBM_FAIL(EBM_ERR_INPUT, "[pipeline] groups = '%s' adds up to %d ranks, but "
                            "the job has %d", spec, total, ranks);
        return EBM_OK;
    }
    /* Largest share of work per rank gets the next rank: the slowest stage
     * sets the pace of the whole pipeline. */
    double flops[EBM_MAX_STAGES];
    for (int l = 0; l < n_stages; l++) {
        flops[l] = (double)sizes[l] * sizes[l + 1];
        group_size[l] = 1;
    }
    for (int spare = ranks - n_stages; spare > 0; spare--) {
        int worst = 0;
        for (int l = 1; l < n_stages; l++)
            if (flops[l] / group_size[l] > flops[worst] / group_size[worst]) worst = l;
        group_size[worst]++;
    }
    return EBM_OK;
}

static ebm_status plan_epochs(const struct ebm_config *cfg, struct ebm_pipeline_plan *p)
{
    int L = p->n_stages, E = cfg->train.epochs;
    int greedy = cfg->pipeline.mode == EBM_PIPELINE_GREEDY;
    int w = cfg->pipeline.warmup_epochs, f = cfg->pipeline.finish_epochs;
    for (int l = 0; l < L; l++) {
        /* Overlapped: stage l trained while l-1 still learned (its epochs
         * after the warmup), then f epochs on l-1's final features. */
        p->train_epochs[l] = greedy || l == 0 ? E : p->train_epochs[l - 1] - w + f;
        if (p->train_epochs[l] < 1 || p->train_epochs[l] > 999999)
            return EBM_FAIL(EBM_ERR_INPUT, "%s: stage %d would train %d epochs (train.epochs "
                            "%d, pipeline.warmup_epochs %d, finish_epochs %d); raise "
                            "finish_epochs", cfg->source, l, p->train_epochs[l], E, w, f);
        if (!greedy && l + 1 < L && w > p->train_epochs[l])
            return EBM_FAIL(EBM_ERR_INPUT, "%s: [pipeline] warmup_epochs = %d exceeds the %d "
                            "epochs stage %d trains", cfg->source, w, p->train_epochs[l], l);
        p->forward_from[l] = greedy ? p->train_epochs[l] : w;
    }
    p->run_epochs[L - 1] = p->train_epochs[L - 1];
    for (int l = L - 2; l >= 0; l--) {
        long long run = (long long)p->forward_from[l] + p->run_epochs[l + 1];
        if (run > 999999)
            return EBM_FAIL(EBM_ERR_INPUT, "%s: the pipeline would run %lld epochs", cfg->source,
                            run);
        p->run_epochs[l] = (int)run;
    }
    p->start_tick[0] = 0;
    for (int l = 1; l < L; l++) p->start_tick[l] = p->start_tick[l - 1] + p->forward_from[l - 1];
    p->ticks = p->start_tick[L - 1] + p->run_epochs[L - 1];
    return EBM_OK;
}

ebm_status ebm_pipeline_set_steps(struct ebm_pipeline_plan *p, int64_t stage0_steps,
                                  const struct ebm_config *cfg)
{
    p->steps_per_epoch[0] = stage0_steps;
    for (int l = 0; l < p->n_stages; l++) {
        if (l > 0)
            p->steps_per_epoch[l] =
                p->steps_per_epoch[l - 1] * p->group_size[l - 1] / p->group_size[l];
        if (p->steps_per_epoch[l] < 1)
            return EBM_FAIL(EBM_ERR_INPUT, "%s: stage %d gets no full batch per epoch "
                            "(batch_size %d, %lld steps per epoch at stage 0 on %d ranks): use "
                            "a smaller [train] batch_size or fewer ranks", cfg->source, l,
                            cfg->train.batch_size, (long long)stage0_steps, p->group_size[0]);
    }
    return EBM_OK;
}

ebm_status ebm_pipeline_plan(const struct ebm_config *cfg, int ranks, int64_t n_rows,
                             struct ebm_pipeline_plan *p)
{
    memset(p, 0, sizeof *p);
    int n;
    char why[384];
    if (!ebm_parse_int_list(cfg->model.layers, p->sizes, EBM_MAX_LAYERS, &n, why, sizeof why))
        return EBM_FAIL(EBM_ERR_INPUT, "%s: [model] layers: %s", cfg->source, why);
    if (n < 3)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: [model] layers needs at least three sizes",
                        cfg->source);
    p->n_stages = n - 1;
    EBM_TRY(ebm_pipeline_groups(p->sizes, p->n_stages, cfg->pipeline.groups, ranks,
                                p->group_size));
    for (int l = 1; l < p->n_stages; l++)
        p->group_first[l] = p->group_first[l - 1] + p->group_size[l - 1];
    /* Stage 0 as a data-parallel RBM: full batches of the smallest shard. */
    int64_t first, fewest;
    ebm_shard_range(n_rows, p->group_size[0] - 1, p->group_size[0], &first, &fewest);
    EBM_TRY(ebm_pipeline_set_steps(p, fewest / cfg->train.batch_size, cfg));
    return plan_epochs(cfg, p);
}

int ebm_pipeline_stage_of(const struct ebm_pipeline_plan *p, int rank)
{
    for (int l = 0; l < p->n_stages; l++)
        if (rank < p->group_first[l] + p->group_size[l]) return l;
    return -1;
}

int ebm_pipeline_epoch_at(const struct ebm_pipeline_plan *p, int stage, int tick)
{
    int e = tick - p->start_tick[stage];
    return e >= 0 && e < p->run_epochs[stage] ? e : -1;
}
