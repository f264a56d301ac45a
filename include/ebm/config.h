/* The run configuration: one struct, every field with a documented default
 * and range. Rank 0 parses the INI file and the --set overrides; the struct
 * is plain bytes, so it is broadcast as such (ebm_config_bcast). */
#ifndef EBM_CONFIG_H
#define EBM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <mpi.h>

#include "ebm/error.h"

#define EBM_PATH_MAX 1024
#define EBM_NAME_MAX 64

enum ebm_binarize { EBM_BINARIZE_STOCHASTIC, EBM_BINARIZE_THRESHOLD, EBM_BINARIZE_NONE };
enum ebm_lr_schedule { EBM_LR_CONSTANT, EBM_LR_LINEAR, EBM_LR_EXP };
enum ebm_pipeline_mode { EBM_PIPELINE_GREEDY, EBM_PIPELINE_OVERLAPPED };
enum ebm_pipeline_feed { EBM_FEED_PROBABILITIES, EBM_FEED_SAMPLES };
enum ebm_negative { EBM_NEGATIVE_CHAINS, EBM_NEGATIVE_EXACT };
#define EBM_MAX_LAYERS 16 /* sizes in model.layers, the data's included */
#define EBM_MAX_LABELS 64 /* entries in data.include_labels */

struct ebm_config {
    char source[EBM_PATH_MAX];        /* file the config came from, for messages */
    struct {
        char path[EBM_PATH_MAX];      /* HDF5 dataset file (docs/data.md) */
        char split[EBM_NAME_MAX];     /* training split, default "train" */
        char valid_split[EBM_NAME_MAX]; /* held-out split for the free-energy gap; "" = none */
        enum ebm_binarize binarize;   /* stochastic | threshold | none */
        int64_t max_examples;         /* use only the first N training rows; 0 = all */
        char include_labels[256];     /* "0,1,2": keep only rows with these labels; "" = all */
        bool standardize;             /* per-column mean 0, std 1 (Gaussian visible units) */
    } data;
    struct {
        char type[EBM_NAME_MAX];      /* rbm | dbn | bm | dbm */
        int hidden;                   /* RBM hidden units */
        char layers[256];             /* dbn: comma list of layer sizes, data first */
        int visible;                  /* enum ebm_unit_type: bernoulli | spin | gaussian (rbm), bernoulli | spin (bm) */
        int hidden_type;              /* enum ebm_unit_type: bernoulli | spin */
        bool learn_sigma;             /* gaussian: learn log sigma, else sigma = 1 */
        double sigma_min;             /* gaussian: lower bound of learned sigmas */
        int labels;                   /* rbm: K softmax label units joined to the visible layer; 0 = none */
    } model;
    struct {
        int epochs;
        int batch_size;               /* per rank; global batch = ranks * batch_size */
        double lr;
        enum ebm_lr_schedule lr_schedule;
        double lr_min;                /* end point of linear / exp schedules */
        double momentum;
        double weight_decay;          /* L2 on W only */
        int k;                        /* Gibbs steps per update */
        bool persistent;              /* PCD-k when true, CD-k otherwise */
        enum ebm_negative negative;   /* bm: model term from chains, or exact (<= 20 units) */
        int chains;                   /* persistent chains per rank */
        bool centering;               /* Melchior, Fischer & Wiskott 2016 */
        double center_rate;           /* moving-average rate of the hidden offset */
        uint64_t seed;
        int checkpoint_every;         /* epochs between checkpoints */
        int keep_checkpoints;         /* keep the newest K */
        int monitor;                  /* examples (global) used for epoch metrics */
        int eval_every;               /* epochs between AIS log-probability estimates; 0 = off */
        int eval_ais_runs;
        int eval_ais_betas;
        int mean_field_steps;         /* dbm: cap on the positive phase's mean-field sweeps */
        double mean_field_tol;        /* dbm: stop when no mean changes by more */
        int pretrain_epochs;          /* dbm: greedy epochs of each layer's modified RBM; 0 = none */
        double pretrain_lr;           /* dbm: learning rate of that pre-training */
        double sparsity_target;       /* dbm: the hidden units' target mean activation */
        double sparsity_cost;         /* dbm: the weight of the pull toward it; 0 = off */
    } train;
    struct {                          /* dbn training (docs/dbn.md) */
        char groups[256];             /* "auto" or ranks per stage, e.g. "1,1,2" */
        enum ebm_pipeline_mode mode;  /* greedy | overlapped */
        enum ebm_pipeline_feed feed;  /* what stage l passes up: p(h) or samples of it */
        int warmup_epochs;            /* overlapped: epochs of stage l-1 before stage l starts */
        int refresh_steps;            /* overlapped: steps between refreshes of the feature weights */
        int finish_epochs;            /* overlapped: epochs on final features after l-1 ends */
        int queue_depth;              /* batches in flight per link (back-pressure bound) */
    } pipeline;
    struct {                          /* layouts (docs/model-parallel.md) */
        char grid[32];                /* "PrxPc" process grid per replica; "1x1" = data parallel */
        int block;                    /* grid: block rows and columns */
        char max_rank_memory[32];     /* "2G": refuse a layout needing more per rank; "0" = no cap */
    } parallel;
    struct {
        char dir[EBM_PATH_MAX];       /* run directory */
    } output;
};

void ebm_config_defaults(struct ebm_config *cfg);
/* Parses an INI file over the current values. Unknown sections or keys,
 * malformed numbers and out-of-range values fail with EBM_ERR_INPUT and a
 * message "FILE:LINE: [section] key: what is wrong". */
ebm_status ebm_config_load(struct ebm_config *cfg, const char *path);
/* Parses INI text (e.g. the copy stored in a checkpoint); name is used in messages. */
ebm_status ebm_config_load_string(struct ebm_config *cfg, const char *text, const char *name);
/* Applies one "section.key=value" override (from --set). */
ebm_status ebm_config_set(struct ebm_config *cfg, const char *assignment);
/* Cross-field checks (e.g. chains needed for persistent). */
ebm_status ebm_config_validate(const struct ebm_config *cfg);
/* The effective config as INI text, parseable by ebm_config_load_string.
 * Returns the length it needed (like snprintf). */
size_t ebm_config_format(const struct ebm_config *cfg, char *buf, size_t len);
/* Prints every key with its default, range and meaning (for docs and --help). */
void ebm_config_print_reference(FILE *out);
/* Parses a comma list of positive integers ("784,500,500") into out[max];
 * the count goes to n. false (with why set) on bad syntax or too many. */
bool ebm_parse_int_list(const char *text, int *out, int max, int *n, char *why, size_t whylen);
/* The same with the values in [lo, hi]. */
bool ebm_parse_int_range_list(const char *text, int lo, int hi, int *out, int max, int *n,
                              char *why, size_t whylen);
ebm_status ebm_config_bcast(struct ebm_config *cfg, int root, MPI_Comm comm);

#endif
