/* The config's cross-field checks (ebm_config_validate checks each key on
 * its own first): which keys go together, by model type, unit type and
 * layout. Every failure names the keys involved. */
#include <limits.h>
#include <string.h>

#include "ebm/config.h"
#include "ebm/grid.h"
#include "ebm/memory_plan.h"
#include "ebm/units.h"

#include "config_internal.h"

#define NAME(section, key, value) ebm_config_enum_name(section, key, (int)(value))

static ebm_status validate_dbn(const struct ebm_config *cfg)
{
    int sizes[EBM_MAX_LAYERS], n, groups[EBM_MAX_LAYERS], ng;
    char why[384];
    if (!cfg->model.layers[0])
        return EBM_FAIL(EBM_ERR_INPUT, "model.type = dbn needs model.layers, the layer sizes "
                        "from the data up (e.g. 784,500,500,2000)");
    if (!ebm_parse_int_list(cfg->model.layers, sizes, EBM_MAX_LAYERS, &n, why, sizeof why))
        return EBM_FAIL(EBM_ERR_INPUT, "model.layers: %s", why);
    if (n < 3)
        return EBM_FAIL(EBM_ERR_INPUT, "model.layers = '%s': a dbn stacks at least two RBMs, "
                        "so it needs at least three sizes (use model.type = rbm for one)",
                        cfg->model.layers);
    if (strcmp(cfg->pipeline.groups, "auto") != 0) {
        if (!ebm_parse_int_list(cfg->pipeline.groups, groups, EBM_MAX_LAYERS, &ng, why,
                                sizeof why))
            return EBM_FAIL(EBM_ERR_INPUT, "pipeline.groups: %s (or auto)", why);
        if (ng != n - 1)
            return EBM_FAIL(EBM_ERR_INPUT, "pipeline.groups = '%s' has %d entries, but "
                            "model.layers = '%s' has %d RBMs (one group of ranks each)",
                            cfg->pipeline.groups, ng, cfg->model.layers, n - 1);
    }
    if (cfg->train.eval_every > 0)
        return EBM_FAIL(EBM_ERR_INPUT, "train.eval_every is for rbm; a dbn's bound comes from "
                        "ebm eval on its checkpoint (set train.eval_every = 0)");
    if (cfg->pipeline.mode == EBM_PIPELINE_OVERLAPPED &&
        cfg->pipeline.warmup_epochs >= cfg->train.epochs)
        return EBM_FAIL(EBM_ERR_INPUT, "pipeline.warmup_epochs = %d must be below train.epochs "
                        "= %d (or use pipeline.mode = greedy)", cfg->pipeline.warmup_epochs,
                        cfg->train.epochs);
    return EBM_OK;
}

static ebm_status validate_dbm(const struct ebm_config *cfg)
{
    int sizes[EBM_MAX_LAYERS], n;
    char why[384];
    if (!cfg->model.layers[0])
        return EBM_FAIL(EBM_ERR_INPUT, "model.type = dbm needs model.layers, the layer sizes "
                        "from the data up (e.g. 784,500,1000)");
    if (!ebm_parse_int_list(cfg->model.layers, sizes, EBM_MAX_LAYERS, &n, why, sizeof why))
        return EBM_FAIL(EBM_ERR_INPUT, "model.layers: %s", why);
    if (n < 3 || n > 4)
        return EBM_FAIL(EBM_ERR_INPUT, "model.layers = '%s': a dbm has 2 or 3 hidden layers, "
                        "so 3 or 4 sizes", cfg->model.layers);
    if (!cfg->train.persistent)
        return EBM_FAIL(EBM_ERR_INPUT, "model.type = dbm trains its negative phase with "
                        "persistent chains: set train.persistent = true");
    if (cfg->train.centering || cfg->train.eval_every > 0)
        return EBM_FAIL(EBM_ERR_INPUT, "train.centering and train.eval_every are for RBMs; a "
                        "dbm's log-likelihood comes from ebm eval");
    return EBM_OK;
}

static ebm_status validate_bm(const struct ebm_config *cfg)
{
    if (cfg->model.layers[0])
        return EBM_FAIL(EBM_ERR_INPUT, "model.layers = '%s' is for stacked models; a bm has "
                        "one unit per data column", cfg->model.layers);
    if (cfg->train.centering)
        return EBM_FAIL(EBM_ERR_INPUT, "train.centering is for RBMs; set it to false for "
                        "model.type = bm");
    if (cfg->train.eval_every > 0)
        return EBM_FAIL(EBM_ERR_INPUT, "train.eval_every's AIS estimate is for RBMs; a bm's "
                        "log-likelihood comes from ebm eval (exact up to 20 units)");
    return EBM_OK;
}

/* parallel.grid: a PrxPc text, and what grid mode serves so far (a
 * Bernoulli RBM without label units, centering or AIS during training). */
static ebm_status validate_grid(const struct ebm_config *cfg)
{
    int pr, pc;
    if (ebm_grid_parse(cfg->parallel.grid, &pr, &pc) != EBM_OK) {
        ebm_error_clear();
        return EBM_FAIL(EBM_ERR_INPUT, "parallel.grid = '%s': expected PrxPc, e.g. 2x2 (each "
                        "1 to 4096; 1x1 = pure data parallelism)", cfg->parallel.grid);
    }
    if (pr * pc == 1) return EBM_OK;
    const char *why = NULL;
    if (strcmp(cfg->model.type, "rbm") != 0) why = "model.type is not rbm";
    else if (cfg->model.visible != EBM_UNIT_BERNOULLI ||
             cfg->model.hidden_type != EBM_UNIT_BERNOULLI)
        why = "its units are not bernoulli (model.visible, model.hidden_type)";
    else if (cfg->model.labels > 0) why = "it has label units (model.labels)";
    else if (cfg->train.centering) why = "train.centering is on";
    else if (cfg->train.eval_every > 0) why = "train.eval_every asks for AIS during training";
    if (why)
        return EBM_FAIL(EBM_ERR_INPUT, "parallel.grid = %s trains a bernoulli rbm without "
                        "labels, centering or train.eval_every, but %s; use parallel.grid = "
                        "1x1", cfg->parallel.grid, why);
    return EBM_OK;
}

/* Unit types against the keys that assume binary units. */
static ebm_status validate_units(const struct ebm_config *cfg)
{
    const char *visible = NAME("model", "visible", cfg->model.visible);
    const char *hidden = NAME("model", "hidden_type", cfg->model.hidden_type);
    int gaussian = cfg->model.visible == EBM_UNIT_GAUSSIAN;
    int binary = cfg->model.visible == EBM_UNIT_BERNOULLI &&
                 cfg->model.hidden_type == EBM_UNIT_BERNOULLI;
    int bm = !strcmp(cfg->model.type, "bm");
    if (bm && (gaussian || cfg->model.hidden_type != EBM_UNIT_BERNOULLI))
        return EBM_FAIL(EBM_ERR_INPUT, "model.type = bm has no hidden units and takes "
                        "model.visible = bernoulli or spin (it is %s; model.hidden_type = %s)",
                        visible, hidden);
    if (bm) binary = 1; /* spin states are a bm's own, handled by its sweep */
    if (!binary && strcmp(cfg->model.type, "rbm") != 0)
        return EBM_FAIL(EBM_ERR_INPUT, "model.visible = %s, model.hidden_type = %s: unit types "
                        "other than bernoulli are for model.type = rbm",
                        visible, hidden);
    if (gaussian && cfg->data.binarize != EBM_BINARIZE_NONE)
        return EBM_FAIL(EBM_ERR_INPUT, "model.visible = gaussian models real values: set "
                        "data.binarize = none (it is %s)",
                        NAME("data", "binarize", cfg->data.binarize));
    if (cfg->data.standardize && !gaussian)
        return EBM_FAIL(EBM_ERR_INPUT, "data.standardize is for model.visible = gaussian "
                        "(binary units take intensities in [0, 1])");
    if (!binary && cfg->train.centering)
        return EBM_FAIL(EBM_ERR_INPUT, "train.centering is implemented for bernoulli units "
                        "only (model.visible = %s, model.hidden_type = %s)",
                        visible, hidden);
    if (cfg->model.labels == 1)
        return EBM_FAIL(EBM_ERR_INPUT, "model.labels = 1: a label group needs at least 2 "
                        "classes (0 = no label units)");
    if (cfg->model.labels > 0 && (strcmp(cfg->model.type, "rbm") != 0 ||
                                  cfg->model.visible != EBM_UNIT_BERNOULLI))
        return EBM_FAIL(EBM_ERR_INPUT, "model.labels = %d joins label units to the bernoulli "
                        "visible units of an rbm (model.type = %s, model.visible = %s)",
                        cfg->model.labels, cfg->model.type, visible);
    if (cfg->model.labels > 0 && cfg->train.eval_every > 0)
        return EBM_FAIL(EBM_ERR_INPUT, "train.eval_every's AIS estimate does not handle label "
                        "units (model.labels); set it to 0");
    if (!binary && cfg->train.eval_every > 0)
        return EBM_FAIL(EBM_ERR_INPUT, "train.eval_every's AIS estimate is for bernoulli units; "
                        "set it to 0 and use ebm eval on the checkpoint");
    return EBM_OK;
}

ebm_status ebm_config_check(const struct ebm_config *cfg)
{
    const char *sched = NAME("train", "lr_schedule", cfg->train.lr_schedule);
    if (cfg->train.lr_schedule == EBM_LR_EXP && !(cfg->train.lr_min > 0))
        return EBM_FAIL(EBM_ERR_INPUT, "train.lr_schedule = exp needs train.lr_min > 0 "
                        "(it is %g)", cfg->train.lr_min);
    if (cfg->train.lr_min > cfg->train.lr)
        return EBM_FAIL(EBM_ERR_INPUT, "train.lr_min = %g is larger than train.lr = %g "
                        "(train.lr_schedule = %s)", cfg->train.lr_min, cfg->train.lr, sched);
    if (!strcmp(cfg->model.type, "rbm") && cfg->model.layers[0])
        return EBM_FAIL(EBM_ERR_INPUT, "model.layers = '%s' is for stacked models; "
                        "model.type = rbm takes its size from model.hidden", cfg->model.layers);
    if (!strcmp(cfg->model.type, "dbn")) EBM_TRY(validate_dbn(cfg));
    if (!strcmp(cfg->model.type, "bm")) EBM_TRY(validate_bm(cfg));
    if (!strcmp(cfg->model.type, "dbm")) EBM_TRY(validate_dbm(cfg));
    double cap;
    if (ebm_parse_bytes(cfg->parallel.max_rank_memory, &cap) != EBM_OK) {
        ebm_error_clear();
        return EBM_FAIL(EBM_ERR_INPUT, "parallel.max_rank_memory = '%s': expected a size in "
                        "bytes, e.g. 2G, 512M, 64K or 1500000 (0 for no limit)",
                        cfg->parallel.max_rank_memory);
    }
    EBM_TRY(validate_grid(cfg));
    if (strcmp(cfg->model.type, "dbm") != 0 && cfg->train.sparsity_cost > 0)
        return EBM_FAIL(EBM_ERR_INPUT, "train.sparsity_cost = %g is for model.type = dbm",
                        cfg->train.sparsity_cost);
    if (strcmp(cfg->model.type, "dbm") != 0 && cfg->train.pretrain_epochs > 0)
        return EBM_FAIL(EBM_ERR_INPUT, "train.pretrain_epochs = %d is for model.type = dbm "
                        "(a dbn pre-trains by construction)", cfg->train.pretrain_epochs);
    if (strcmp(cfg->model.type, "bm") != 0 && cfg->train.negative == EBM_NEGATIVE_EXACT)
        return EBM_FAIL(EBM_ERR_INPUT, "train.negative = exact is for model.type = bm; an "
                        "rbm's model term comes from chains");
    EBM_TRY(validate_units(cfg));
    if (cfg->data.include_labels[0]) {
        int labels[EBM_MAX_LABELS], n;
        char why[384];
        if (!ebm_parse_int_range_list(cfg->data.include_labels, 0, INT_MAX, labels,
                                      EBM_MAX_LABELS, &n, why, sizeof why))
            return EBM_FAIL(EBM_ERR_INPUT, "data.include_labels: %s", why);
    }
    if (!strcmp(cfg->data.split, cfg->data.valid_split))
        return EBM_FAIL(EBM_ERR_INPUT, "data.valid_split = '%s' is the training split "
                        "(data.split); use another split or leave it empty",
                        cfg->data.valid_split);
    return EBM_OK;
}
