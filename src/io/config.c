/* The run configuration. Every key lives in one table (keys[] below):
 * defaults, parsing, range checks, formatting, validation and the reference
 * printout are all driven from it, so adding a key is one line. */
#include "ebm/config.h"
#include "ebm/units.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "config_internal.h"

enum key_type { K_INT, K_INT64, K_UINT64, K_DOUBLE, K_BOOL, K_STRING, K_ENUM };
static const char *const type_names[] = {
    [K_INT] = "int", [K_INT64] = "int64", [K_UINT64] = "uint64", [K_DOUBLE] = "double",
    [K_BOOL] = "bool", [K_STRING] = "string", [K_ENUM] = "enum",
};

/* Range flags. Bounds are doubles: every finite bound here is small enough
 * to be exact, and the unbounded ones say so with NO_MAX. */
enum {
    MIN_OPEN = 1 << 0, /* (min, ... */
    MAX_OPEN = 1 << 1, /* ..., max) */
    NO_MAX   = 1 << 2, /* only the type limits the top */
    NONEMPTY = 1 << 3, /* strings */
};

struct key {
    const char *section, *name;
    enum key_type type;
    size_t offset, size;     /* of the field in struct ebm_config */
    double min, max;
    unsigned flags;
    const char *def;         /* default, as text: parsed like any other value */
    const char *const *names; /* K_ENUM: value i is names[i]; K_STRING: allowed values */
    const char *doc;
};

/* The field is named after the key, so one macro gives offset and size. */
#define KEY(sec, key, type, min, max, flags, def, names, doc)                 \
    { #sec, #key, type, offsetof(struct ebm_config, sec.key),                 \
      sizeof(((struct ebm_config *)0)->sec.key), min, max, flags, def, names, doc }

static const char *const binarize_names[] = {
    [EBM_BINARIZE_STOCHASTIC] = "stochastic", [EBM_BINARIZE_THRESHOLD] = "threshold",
    [EBM_BINARIZE_NONE] = "none", [EBM_BINARIZE_NONE + 1] = NULL,
};
static const char *const schedule_names[] = {
    [EBM_LR_CONSTANT] = "constant", [EBM_LR_LINEAR] = "linear", [EBM_LR_EXP] = "exp",
    [EBM_LR_EXP + 1] = NULL,
};
static const char *const model_names[] = { "rbm", "dbn", "bm", "dbm", NULL };
static const char *const negative_names[] = {
    [EBM_NEGATIVE_CHAINS] = "chains", [EBM_NEGATIVE_EXACT] = "exact", [EBM_NEGATIVE_EXACT + 1] = NULL,
};
/* Indexed by enum ebm_unit_type (ebm/units.h). */
static const char *const visible_names[] = { "bernoulli", "spin", "gaussian", NULL };
static const char *const hidden_names[] = { "bernoulli", "spin", NULL };
static const char *const mode_names[] = {
    [EBM_PIPELINE_GREEDY] = "greedy", [EBM_PIPELINE_OVERLAPPED] = "overlapped",
    [EBM_PIPELINE_OVERLAPPED + 1] = NULL,
};
static const char *const feed_names[] = {
    [EBM_FEED_PROBABILITIES] = "probabilities", [EBM_FEED_SAMPLES] = "samples",
    [EBM_FEED_SAMPLES + 1] = NULL,
};

static const struct key keys[] = {
    KEY(data, path, K_STRING, 0, 0, NONEMPTY, "data/mnist.h5", NULL,
        "HDF5 dataset file (layout in docs/data.md)"),
    KEY(data, split, K_STRING, 0, 0, NONEMPTY, "train", NULL,
        "split of the dataset to train on"),
    KEY(data, valid_split, K_STRING, 0, 0, 0, "test", NULL,
        "held-out split for the free-energy gap; empty = none"),
    KEY(data, binarize, K_ENUM, 0, 0, 0, "stochastic", binarize_names,
        "intensities in [0, 1] to binary units: Bernoulli sample, threshold at 0.5, or used as they are"),
    KEY(data, max_examples, K_INT64, 0, 0, NO_MAX, "0", NULL,
        "use only the first N training rows; 0 = all"),
    KEY(data, include_labels, K_STRING, 0, 0, 0, "", NULL,
        "train (and monitor) only on rows with these labels, e.g. 0,1,2; empty = all rows"),
    KEY(data, standardize, K_BOOL, 0, 0, 0, "false", NULL,
        "shift and scale each column to mean 0, std 1 over the training split (gaussian visible units); stored in checkpoints"),
    KEY(model, type, K_STRING, 0, 0, NONEMPTY, "rbm", model_names,
        "model family: rbm, dbn (a stack of RBMs trained as a pipeline), bm (fully visible Boltzmann machine) or dbm (deep Boltzmann machine)"),
    KEY(model, hidden, K_INT, 1, 1000000, 0, "500", NULL,
        "hidden units of the RBM (rbm only)"),
    KEY(model, layers, K_STRING, 0, 0, 0, "", NULL,
        "dbn, dbm: layer sizes from the data up, e.g. 784,500,500,2000 (not used by rbm)"),
    KEY(model, visible, K_ENUM, 0, 0, 0, "bernoulli", visible_names,
        "visible unit type: bernoulli {0,1}, spin {-1,+1} or gaussian (real, per-unit sigma; rbm only)"),
    KEY(model, hidden_type, K_ENUM, 0, 0, 0, "bernoulli", hidden_names,
        "rbm hidden unit type: bernoulli {0,1} or spin {-1,+1} (model.hidden is their count)"),
    KEY(model, learn_sigma, K_BOOL, 0, 0, 0, "true", NULL,
        "gaussian: learn each visible sigma through log sigma; false keeps sigma = 1"),
    KEY(model, sigma_min, K_DOUBLE, 0, 1, MIN_OPEN, "0.1", NULL,
        "gaussian: lower bound of learned sigmas, in units of the (standardised) data"),
    KEY(model, labels, K_INT, 0, 256, 0, "0", NULL,
        "rbm: K softmax label units joined to the visible layer, trained on the data's labels (ebm classify eval); 0 = none"),
    KEY(train, epochs, K_INT, 1, 999999, 0, "10", NULL,
        "passes over the training data"),
    KEY(train, batch_size, K_INT, 1, 1000000, 0, "100", NULL,
        "examples per rank per update; the global batch is ranks x batch_size"),
    KEY(train, lr, K_DOUBLE, 0, 10, MIN_OPEN, "0.05", NULL,
        "learning rate (the starting value under a schedule)"),
    KEY(train, lr_schedule, K_ENUM, 0, 0, 0, "constant", schedule_names,
        "how the learning rate moves from lr to lr_min over the run"),
    KEY(train, lr_min, K_DOUBLE, 0, 10, 0, "0", NULL,
        "final learning rate of the linear and exp schedules"),
    KEY(train, momentum, K_DOUBLE, 0, 1, MAX_OPEN, "0.5", NULL,
        "momentum of the parameter updates"),
    KEY(train, weight_decay, K_DOUBLE, 0, 1, 0, "0.0002", NULL,
        "L2 penalty on the weights (not the biases)"),
    KEY(train, k, K_INT, 1, 10000, 0, "1", NULL,
        "Gibbs steps per update (CD-k or PCD-k)"),
    KEY(train, persistent, K_BOOL, 0, 0, 0, "true", NULL,
        "keep the negative chains between updates (PCD); false restarts them from the data (CD)"),
    KEY(train, negative, K_ENUM, 0, 0, 0, "chains", negative_names,
        "bm: the gradient's model term from Gibbs chains, or exact by enumeration (at most 20 units)"),
    KEY(train, chains, K_INT, 1, 1000000, 0, "100", NULL,
        "persistent chains per rank"),
    KEY(train, centering, K_BOOL, 0, 0, 0, "false", NULL,
        "centred RBM (Melchior, Fischer & Wiskott 2016)"),
    KEY(train, center_rate, K_DOUBLE, 0, 1, MIN_OPEN, "0.01", NULL,
        "moving-average rate of the hidden offset when centering"),
    KEY(train, seed, K_UINT64, 0, 0, NO_MAX, "1", NULL,
        "RNG seed; streams are keyed by (seed, rank, stream)"),
    KEY(train, checkpoint_every, K_INT, 1, 1000000, 0, "1", NULL,
        "epochs between checkpoints"),
    KEY(train, keep_checkpoints, K_INT, 1, 1000, 0, "3", NULL,
        "number of newest checkpoints kept"),
    KEY(train, monitor, K_INT, 0, 1000000, 0, "1000", NULL,
        "examples of each split (all ranks together) scored for the per-epoch metrics; 0 = none"),
    KEY(train, eval_every, K_INT, 0, 1000000, 0, "0", NULL,
        "epochs between AIS estimates of the held-out log-probability; 0 = never"),
    KEY(train, eval_ais_runs, K_INT, 2, 100000, 0, "32", NULL,
        "AIS runs of those estimates"),
    KEY(train, eval_ais_betas, K_INT, 15, 10000000, 0, "1000", NULL,
        "AIS intermediate distributions of those estimates"),
    KEY(train, mean_field_steps, K_INT, 1, 10000, 0, "30", NULL,
        "dbm: the most mean-field sweeps of the positive phase per batch"),
    KEY(train, mean_field_tol, K_DOUBLE, 0, 1, 0, "1e-5", NULL,
        "dbm: mean field stops once no mean changes by more than this in a sweep"),
    KEY(train, pretrain_epochs, K_INT, 0, 999999, 0, "0", NULL,
        "dbm: epochs of greedy pre-training of each layer's modified RBM (CD-1) before joint training; 0 = none"),
    KEY(train, pretrain_lr, K_DOUBLE, 0, 10, MIN_OPEN, "0.05", NULL,
        "dbm: learning rate of that pre-training (constant, with train.momentum and train.weight_decay)"),
    KEY(train, sparsity_target, K_DOUBLE, 0, 1, MIN_OPEN | MAX_OPEN, "0.1", NULL,
        "dbm: the mean activation each hidden unit is pulled toward when train.sparsity_cost > 0"),
    KEY(train, sparsity_cost, K_DOUBLE, 0, 1000, 0, "0", NULL,
        "dbm: weight of the pull: cost * (target - mean activation in the batch) joins each hidden bias's gradient; 0 = off"),
    KEY(pipeline, groups, K_STRING, 0, 0, NONEMPTY, "auto", NULL,
        "ranks per stage, e.g. 1,1,2, or auto: in proportion to each layer's FLOPs per sample"),
    KEY(pipeline, mode, K_ENUM, 0, 0, 0, "overlapped", mode_names,
        "greedy: stage l starts when l-1 ends; overlapped: after l-1's warmup_epochs"),
    KEY(pipeline, feed, K_ENUM, 0, 0, 0, "probabilities", feed_names,
        "stage l trains on p(h | v) of stage l-1, or on a Bernoulli sample of it"),
    KEY(pipeline, warmup_epochs, K_INT, 1, 999999, 0, "2", NULL,
        "overlapped: epochs of stage l-1 before stage l starts"),
    KEY(pipeline, refresh_steps, K_INT, 1, 1000000, 0, "1", NULL,
        "overlapped: stage l-1 steps between refreshes of the weights its features come from"),
    KEY(pipeline, finish_epochs, K_INT, 0, 999999, 0, "2", NULL,
        "overlapped: epochs stage l trains on final features after stage l-1 ends"),
    KEY(pipeline, queue_depth, K_INT, 1, 1024, 0, "4", NULL,
        "batches in flight per link between stages; bounds memory under back-pressure"),
    KEY(parallel, grid, K_STRING, 0, 0, NONEMPTY, "1x1", NULL,
        "rbm: PrxPc process grid per data-parallel replica (W block-cyclic over Pr x Pc ranks, ScaLAPACK); 1x1 = pure data parallelism"),
    KEY(parallel, block, K_INT, 1, 65536, 0, "64", NULL,
        "grid: rows and columns of W's (and the batch's) blocks"),
    KEY(parallel, max_rank_memory, K_STRING, 0, 0, NONEMPTY, "0", NULL,
        "rbm: refuse to start when a rank would need more memory than this (e.g. 2G, 512M; 0 = no cap), naming a grid that fits"),
    KEY(output, dir, K_STRING, 0, 0, NONEMPTY, "runs/default", NULL,
        "run directory: checkpoints, metrics, images"),
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* inih reads a line into a buffer of INI_MAX_LINE bytes and splits longer
 * lines silently, so the reader below rejects them and ebm_config_set caps
 * string values to what ebm_config_format can write back on one line. */
#define LINE_TEXT_MAX (INI_MAX_LINE - 3) /* room for "\r\n\0" */

static size_t string_max(const struct key *k)
{
    size_t field = k->size - 1;
    size_t line = LINE_TEXT_MAX - strlen(k->name) - 3; /* "name = value" */
    return field < line ? field : line;
}

/* Catches a table entry whose type does not match its field. */
static void *field_of(struct ebm_config *cfg, const struct key *k)
{
    static const size_t sizes[] = {
        [K_INT] = sizeof(int), [K_INT64] = sizeof(int64_t), [K_UINT64] = sizeof(uint64_t),
        [K_DOUBLE] = sizeof(double), [K_BOOL] = sizeof(bool), [K_ENUM] = sizeof(int),
    };
    EBM_ASSERT(k->type == K_STRING ? k->size > 1 : k->size == sizes[k->type]);
    /* an int's range check is what keeps the stored value in range */
    EBM_ASSERT(k->type != K_INT || (!(k->flags & NO_MAX) && k->min >= INT_MIN && k->max <= INT_MAX));
    return (char *)cfg + k->offset;
}

static const struct key *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

const char *ebm_config_enum_name(const char *section, const char *name, int value)
{
    const struct key *k = find_key(section, name);
    EBM_ASSERT(k && k->type == K_ENUM && value >= 0);
    return k->names[value];
}

static bool section_known(const char *section)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section)) return true;
    return false;
}

/* For "unknown key" messages: the section a misplaced key belongs in. */
static const char *home_section(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].name, name)) return keys[i].section;
    return NULL;
}

static void range_text(const struct key *k, char *buf, size_t len)
{
    switch (k->type) {
    case K_INT: case K_INT64: case K_UINT64: case K_DOUBLE:
        if (k->flags & NO_MAX)
            snprintf(buf, len, "%s %.15g", (k->flags & MIN_OPEN) ? ">" : ">=", k->min);
        else
            snprintf(buf, len, "%c%.15g, %.15g%c", (k->flags & MIN_OPEN) ? '(' : '[',
                     k->min, k->max, (k->flags & MAX_OPEN) ? ')' : ']');
        break;
    case K_BOOL:
        snprintf(buf, len, "true, false");
        break;
    case K_ENUM: case K_STRING:
        if (k->names) {
            size_t used = 0;
            buf[0] = '\0';
            for (int i = 0; k->names[i] && used < len; i++)
                used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", k->names[i]);
        } else {
            snprintf(buf, len, "%s%zu characters at most",
                     (k->flags & NONEMPTY) ? "non-empty, " : "", string_max(k));
        }
        break;
    }
}

static bool in_range(const struct key *k, double v)
{
    if ((k->flags & MIN_OPEN) ? !(v > k->min) : !(v >= k->min)) return false;
    if (k->flags & NO_MAX) return true;
    return (k->flags & MAX_OPEN) ? v < k->max : v <= k->max;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "1", "yes", "on" };
    static const char *const no[] = { "false", "0", "no", "off" };
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) { *out = true; return true; }
        if (!strcasecmp(s, no[i])) { *out = false; return true; }
    }
    return false;
}

/* Parses text as the value of k and, when dst is not NULL, stores it.
 * Nothing is written unless the whole value is valid. On failure `why`
 * says what is wrong, without the location (callers add that). */
static bool set_value(struct ebm_config *dst, const struct key *k, const char *text,
                      char *why, size_t whylen)
{
    struct ebm_config scratch;
    void *f = field_of(dst ? dst : &scratch, k);
    char range[128];
    range_text(k, range, sizeof range);
    char *end;

    switch (k->type) {
    case K_INT: case K_INT64: case K_UINT64: {
        long long sv = 0;
        unsigned long long uv = 0;
        errno = 0;
        if (k->type != K_UINT64)
            sv = strtoll(text, &end, 10);
        else if (strchr(text, '-'))
            end = (char *)text; /* strtoull would wrap "-1" to 2^64-1 */
        else
            uv = strtoull(text, &end, 10);
        if (end == text || *end) {
            /* A unit type here is a likely slip for model.hidden_type. */
            int type_word = !strcmp(k->name, "hidden") &&
                            (!strcmp(text, "bernoulli") || !strcmp(text, "spin"));
            snprintf(why, whylen, "'%s' is not an integer%s", text,
                     type_word ? " (model.hidden counts the hidden units; their type is "
                                 "model.hidden_type)" : "");
            return false;
        }
        if (errno == ERANGE && (k->flags & NO_MAX)) {
            snprintf(why, whylen, "%s does not fit in %s", text, type_names[k->type]);
            return false;
        }
        double v = k->type == K_UINT64 ? (double)uv : (double)sv;
        if (errno == ERANGE || !in_range(k, v)) {
            snprintf(why, whylen, (k->flags & NO_MAX) ? "%s is out of range (must be %s)"
                                                     : "%s is out of range %s", text, range);
            return false;
        }
        if (!dst) return true;
        if (k->type == K_INT) { int x = (int)sv; memcpy(f, &x, sizeof x); }
        else if (k->type == K_INT64) { int64_t x = sv; memcpy(f, &x, sizeof x); }
        else { uint64_t x = uv; memcpy(f, &x, sizeof x); }
        return true;
    }
    case K_DOUBLE: {
        errno = 0;
        double v = strtod(text, &end);
        if (end == text || *end) {
            snprintf(why, whylen, "'%s' is not a number", text);
            return false;
        }
        /* glibc also flags subnormal results; those are exact enough to keep
         * (and format writes them), so only overflow and underflow to 0 fail. */
        if (errno == ERANGE && (isinf(v) || v == 0.0)) {
            snprintf(why, whylen, "'%s' is too large or too small for a double", text);
            return false;
        }
        if (!isfinite(v)) {
            snprintf(why, whylen, "'%s' is not a finite number", text);
            return false;
        }
        if (!in_range(k, v)) {
            snprintf(why, whylen, "%s is out of range %s", text, range);
            return false;
        }
        if (dst) memcpy(f, &v, sizeof v);
        return true;
    }
    case K_BOOL: {
        bool v;
        if (!parse_bool(text, &v)) {
            snprintf(why, whylen, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", text);
            return false;
        }
        if (dst) memcpy(f, &v, sizeof v);
        return true;
    }
    case K_ENUM: case K_STRING: {
        int choice = -1;
        for (int i = 0; k->names && k->names[i]; i++)
            if (!strcmp(text, k->names[i])) choice = i;
        if (k->names && choice < 0) {
            snprintf(why, whylen, "'%s' is not one of: %s", text, range);
            return false;
        }
        if (k->type == K_ENUM) {
            if (dst) memcpy(f, &choice, sizeof choice);
            return true;
        }
        size_t n = strlen(text), max = string_max(k);
        if (n > max) {
            snprintf(why, whylen, "value is %zu characters, longer than the %zu allowed", n, max);
            return false;
        }
        if (n == 0 && (k->flags & NONEMPTY)) {
            snprintf(why, whylen, "must not be empty");
            return false;
        }
        /* Refuse what an INI line could not carry, so format round-trips. */
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)text[i];
            if (iscntrl(c) || (i == 0 && isspace(c)) || (i + 1 == n && isspace(c)) ||
                (c == ';' && i > 0 && isspace((unsigned char)text[i - 1]))) {
                snprintf(why, whylen, "'%s' has a control character, surrounding "
                         "whitespace or an inline comment (' ;')", text);
                return false;
            }
        }
        if (dst) {
            memset(f, 0, k->size); /* no stale bytes: configs compare with memcmp */
            memcpy(f, text, n);
        }
        return true;
    }
    }
    return false;
}

/* The current value of k as text that set_value accepts; a corrupt value
 * (enum or bool out of range, unterminated string) comes out as text that
 * set_value rejects, which is how validate finds it. */
static void value_text(const struct ebm_config *cfg, const struct key *k, char *buf, size_t len)
{
    const void *f = field_of((struct ebm_config *)cfg, k);
    switch (k->type) {
    case K_INT: { int v; memcpy(&v, f, sizeof v); snprintf(buf, len, "%d", v); break; }
    case K_INT64: { int64_t v; memcpy(&v, f, sizeof v); snprintf(buf, len, "%" PRId64, v); break; }
    case K_UINT64: { uint64_t v; memcpy(&v, f, sizeof v); snprintf(buf, len, "%" PRIu64, v); break; }
    case K_DOUBLE: {
        /* Shortest of %.15g..%.17g that reads back exactly: 0.05, not 0.050000000000000003. */
        double v;
        memcpy(&v, f, sizeof v);
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, len, "%.*g", prec, v);
            if (strtod(buf, NULL) == v) break;
        }
        break;
    }
    case K_BOOL: {
        unsigned char v; /* read as a byte: a corrupt bool must not be UB */
        memcpy(&v, f, 1);
        if (v <= 1) snprintf(buf, len, "%s", v ? "true" : "false");
        else snprintf(buf, len, "%d", v);
        break;
    }
    case K_ENUM: {
        int v, count = 0;
        memcpy(&v, f, sizeof v);
        while (k->names[count]) count++;
        if (v >= 0 && v < count) snprintf(buf, len, "%s", k->names[v]);
        else snprintf(buf, len, "%d", v);
        break;
    }
    case K_STRING:
        snprintf(buf, len, "%.*s", (int)strnlen(f, k->size), (const char *)f);
        break;
    }
}

void ebm_config_defaults(struct ebm_config *cfg)
{
    memset(cfg, 0, sizeof *cfg); /* padding too, so configs compare with memcmp */
    for (size_t i = 0; i < NKEYS; i++) {
        char why[256];
        bool ok = set_value(cfg, &keys[i], keys[i].def, why, sizeof why);
        EBM_ASSERT(ok);
    }
}

/* ---- INI parsing -------------------------------------------------------- */

/* Our own line reader (rather than ini_parse) so that we know which line a
 * handler call belongs to (the system inih has no INI_HANDLER_LINENO) and
 * can refuse lines that inih would split. */
struct parse_ctx {
    struct ebm_config cfg;  /* work copy: committed only if the whole file is good */
    const char *name;       /* file name for messages */
    const char *pos;        /* reader position in the text */
    int line;               /* physical line last handed to inih */
    int section_line;       /* line of the last [section] header */
    bool indented;          /* current line starts with whitespace */
    int seen[NKEYS];        /* line where each key was set, 0 = not yet */
    int err_line;           /* line of the first error, 0 = none */
    char err[768];
};

__attribute__((format(printf, 3, 4)))
static int parse_fail(struct parse_ctx *c, int line, const char *fmt, ...)
{
    if (c->err_line) return 0;
    int n = snprintf(c->err, sizeof c->err, "%s:%d: ", c->name, line);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof c->err) vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
    va_end(ap);
    c->err_line = line;
    return 0;
}

static char *read_line(char *str, int num, void *stream)
{
    struct parse_ctx *c = stream;
    if (!*c->pos || c->err_line) return NULL; /* after a reader error, stop */
    const char *nl = strchr(c->pos, '\n');
    size_t n = nl ? (size_t)(nl - c->pos) + 1 : strlen(c->pos);
    size_t text = n; /* without the line end, so CRLF files get the same limit */
    if (text > 0 && c->pos[text - 1] == '\n') text--;
    if (text > 0 && c->pos[text - 1] == '\r') text--;
    c->line++;
    if (num < 4 || text > (size_t)num - 3) {
        parse_fail(c, c->line, "line is longer than %d characters", num - 3);
        return NULL;
    }
    memcpy(str, c->pos, n);
    str[n] = '\0';
    c->pos += n;
    const char *p = str;
    while (*p == ' ' || *p == '\t') p++;
    c->indented = p > str && *p && *p != '\n' && *p != '\r';
    if (*p == '[') c->section_line = c->line;
    return str;
}

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *c = user;
    if (c->err_line) return 0;
    if (!section[0])
        return parse_fail(c, c->line, "key %s is not in a [section]", name);
    if (!section_known(section))
        return parse_fail(c, c->section_line ? c->section_line : c->line,
                          "unknown section [%s]", section);
    const struct key *k = find_key(section, name);
    if (!k) {
        const char *home = home_section(name);
        if (home)
            return parse_fail(c, c->line, "unknown key [%s] %s (it belongs in [%s])",
                              section, name, home);
        return parse_fail(c, c->line, "unknown key [%s] %s", section, name);
    }
    int *seen = &c->seen[k - keys];
    if (*seen && c->indented)
        return parse_fail(c, c->line, "[%s] %s: indented line reads as a continuation "
                          "of the value; remove the indentation", section, name);
    if (*seen)
        return parse_fail(c, c->line, "[%s] %s: set twice (first on line %d)",
                          section, name, *seen);
    *seen = c->line;
    char why[512];
    if (!set_value(&c->cfg, k, value, why, sizeof why))
        return parse_fail(c, c->line, "[%s] %s: %s", section, name, why);
    return 1;
}

ebm_status ebm_config_load_string(struct ebm_config *cfg, const char *text, const char *name)
{
    struct parse_ctx *c;
    EBM_ALLOC(c, 1);
    memcpy(&c->cfg, cfg, sizeof *cfg);
    c->name = name;
    c->pos = text;
    int rc = ini_parse_stream(read_line, c, on_pair, c);

    ebm_status st = EBM_OK;
    /* inih reports the first failing line, ours or its own; its own is a
     * syntax error when it comes before any error the handler recorded. */
    if (rc < 0)
        st = EBM_FAIL(EBM_ERR_NOMEM, "%s: inih could not allocate its line buffer", name);
    else if (rc > 0 && (!c->err_line || rc < c->err_line))
        st = EBM_FAIL(EBM_ERR_INPUT, "%s:%d: syntax error (expected [section] or key = value)",
                      name, rc);
    else if (c->err_line)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s", c->err);
    if (st == EBM_OK) {
        snprintf(c->cfg.source, sizeof c->cfg.source, "%s", name);
        memcpy(cfg, &c->cfg, sizeof *cfg);
    }
    free(c);
    return st;
}

ebm_status ebm_config_load(struct ebm_config *cfg, const char *path)
{
    /* Read the whole file so files and checkpoint copies share one parser. */
    enum { FILE_MAX = 1 << 20 };
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: cannot open config file: %s", path, strerror(errno));
    char *text = malloc(FILE_MAX + 1);
    if (!text) {
        fclose(fp);
        return EBM_FAIL(EBM_ERR_NOMEM, "%s: out of memory reading the config file", path);
    }
    size_t n = fread(text, 1, FILE_MAX + 1, fp);
    ebm_status st = EBM_OK;
    if (ferror(fp))
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: cannot read config file: %s", path, strerror(errno));
    else if (n > FILE_MAX)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: config file is larger than %d bytes", path, FILE_MAX);
    else if (memchr(text, '\0', n))
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: config file contains a NUL byte", path);
    fclose(fp);
    if (st == EBM_OK) {
        text[n] = '\0';
        st = ebm_config_load_string(cfg, text, path);
    }
    free(text);
    EBM_TRY(st);
    return EBM_OK;
}

/* ---- overrides, validation, output -------------------------------------- */

static void trim(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s)) (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1])) (*e)--;
}

ebm_status ebm_config_set(struct ebm_config *cfg, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    const char *dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment)) : NULL;
    if (!dot)
        return EBM_FAIL(EBM_ERR_INPUT, "--set %s: expected section.key=value", assignment);
    const char *s0 = assignment, *s1 = dot, *k0 = dot + 1, *k1 = eq;
    const char *v0 = eq + 1, *v1 = eq + 1 + strlen(eq + 1);
    trim(&s0, &s1);
    trim(&k0, &k1);
    trim(&v0, &v1);
    if (s1 == s0 || k1 == k0)
        return EBM_FAIL(EBM_ERR_INPUT, "--set %s: expected section.key=value", assignment);
    /* Truncation cannot make a match: every name in the table is short. */
    char section[EBM_NAME_MAX], name[EBM_NAME_MAX];
    snprintf(section, sizeof section, "%.*s", (int)(s1 - s0), s0);
    snprintf(name, sizeof name, "%.*s", (int)(k1 - k0), k0);

    if (!section_known(section))
        return EBM_FAIL(EBM_ERR_INPUT, "--set %s: unknown section [%.*s]", assignment,
                        (int)(s1 - s0), s0);
    const struct key *k = find_key(section, name);
    if (!k) {
        const char *home = home_section(name);
        return EBM_FAIL(EBM_ERR_INPUT, "--set %s: unknown key [%s] %.*s%s%s%s", assignment,
                        section, (int)(k1 - k0), k0, home ? " (it belongs in [" : "",
                        home ? home : "", home ? "])" : "");
    }
    char *value = strndup(v0, (size_t)(v1 - v0));
    if (!value)
        return EBM_FAIL(EBM_ERR_NOMEM, "--set %s: out of memory", assignment);
    char why[512];
    bool ok = set_value(cfg, k, value, why, sizeof why);
    free(value);
    if (!ok)
        return EBM_FAIL(EBM_ERR_INPUT, "--set %s: %s", assignment, why);
    return EBM_OK;
}

bool ebm_parse_int_list(const char *text, int *out, int max, int *n, char *why, size_t whylen)
{
    return ebm_parse_int_range_list(text, 1, 1000000, out, max, n, why, whylen);
}

bool ebm_parse_int_range_list(const char *text, int lo, int hi, int *out, int max, int *n,
                              char *why, size_t whylen)
{
    *n = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ') p++;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < lo || v > hi) {
            snprintf(why, whylen, "'%s': expected comma-separated integers in [%d, %d]", text,
                     lo, hi);
            return false;
        }
        if (*n == max) {
            snprintf(why, whylen, "'%s': more than %d entries", text, max);
            return false;
        }
        out[(*n)++] = (int)v;
        p = end;
        while (*p == ' ') p++;
        if (*p == '\0') return true;
        if (*p++ != ',') {
            snprintf(why, whylen, "'%s': expected comma-separated integers in [%d, %d]", text,
                     lo, hi);
            return false;
        }
    }
}

ebm_status ebm_config_validate(const struct ebm_config *cfg)
{
    /* Each field on its own: format it and parse it back through the same
     * checks a file goes through. */
    for (size_t i = 0; i < NKEYS; i++) {
        char text[EBM_PATH_MAX + 64], why[512];
        value_text(cfg, &keys[i], text, sizeof text);
        if (!set_value(NULL, &keys[i], text, why, sizeof why))
            return EBM_FAIL(EBM_ERR_INPUT, "%s.%s: %s", keys[i].section, keys[i].name, why);
    }
    return ebm_config_check(cfg);
}

__attribute__((format(printf, 4, 5)))
static void put(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    size_t room = *used < len ? len - *used : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room ? buf + *used : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) *used += (size_t)n;
}

size_t ebm_config_format(const struct ebm_config *cfg, char *buf, size_t len)
{
    size_t used = 0;
    if (len) buf[0] = '\0';
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (i == 0 || strcmp(k->section, keys[i - 1].section))
            put(buf, len, &used, "%s[%s]\n", i ? "\n" : "", k->section);
        char text[EBM_PATH_MAX + 64];
        value_text(cfg, k, text, sizeof text);
        put(buf, len, &used, "%s =%s%s\n", k->name, text[0] ? " " : "", text);
    }
    return used;
}

void ebm_config_print_reference(FILE *out)
{
    fprintf(out, "| key | type | default | range | meaning |\n");
    fprintf(out, "|-----|------|---------|-------|---------|\n");
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        char range[128];
        range_text(k, range, sizeof range);
        fprintf(out, "| `%s.%s` | %s | %s%s%s | %s | %s |\n", k->section, k->name,
                type_names[k->type], k->def[0] ? "`" : "(empty)", k->def,
                k->def[0] ? "`" : "", range, k->doc);
    }
}

ebm_status ebm_config_bcast(struct ebm_config *cfg, int root, MPI_Comm comm)
{
    /* Plain bytes: every rank runs the same binary, so the layout matches. */
    int rc = MPI_Bcast(cfg, (int)sizeof *cfg, MPI_BYTE, root, comm);
    if (rc != MPI_SUCCESS) {
        char text[MPI_MAX_ERROR_STRING];
        int n = 0, rank = -1;
        MPI_Error_string(rc, text, &n);
        MPI_Comm_rank(comm, &rank);
        return EBM_FAIL(EBM_ERR_MPI, "rank %d: MPI_Bcast of the config failed: %s", rank, text);
    }
    return EBM_OK;
}
