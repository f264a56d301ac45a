#include "ebm/model_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/checkpoint.h"

/* Beyond these a size is damage, not a model (a 1e8-unit layer would
 * already need 1e16 weights next to any other). */
#define MAX_UNITS 100000000

static int64_t attr_or_zero(struct ebm_ckpt *ck, const char *object, const char *name)
{
    int64_t v = 0;
    if (ebm_ckpt_read_attr_i64(ck, object, name, &v) != EBM_OK) ebm_error_clear();
    return v;
}

static void read_info(struct ebm_ckpt *ck, int n_visible, struct ebm_model_info *info)
{
    memset(info, 0, sizeof *info);
    info->image_h = (int)attr_or_zero(ck, "/data", "image_h");
    info->image_w = (int)attr_or_zero(ck, "/data", "image_w");
    info->epoch = attr_or_zero(ck, "/train", "epoch");
    info->step = attr_or_zero(ck, "/train", "step");
    char *data = NULL;
    if (ebm_ckpt_read_attr_str(ck, "/data", "path", &data) == EBM_OK)
        snprintf(info->data_path, sizeof info->data_path, "%s", data);
    else
        ebm_error_clear();
    free(data);
    if ((int64_t)info->image_h * info->image_w != n_visible) info->image_h = info->image_w = 0;
}

/* The /model type attribute, malloc'ed. */
static ebm_status read_type(struct ebm_ckpt *ck, char **type)
{
    if (ebm_ckpt_read_attr_str(ck, "/model", "type", type) != EBM_OK) {
        ebm_error_clear();
        return EBM_FAIL(EBM_ERR_INPUT, "%s: checkpoint has no model type (/model attribute "
                        "type); damaged or not written by ebm", ck->path);
    }
    return EBM_OK;
}

/* W, vbias, hbias (and log_sigma) under `prefix` into m, whose sizes are
 * the expected shapes (a mismatch names the tensor and both shapes). */
static ebm_status read_rbm_tensors(struct ebm_ckpt *ck, const char *prefix, struct rbm *m)
{
    return ebm_ckpt_read_rbm(ck, prefix, m);
}

ebm_status ebm_ckpt_write_rbm(struct ebm_ckpt *ck, const char *group, const struct rbm *m)
{
    char name[256];
    int64_t wd[2] = { m->n_visible, m->n_hidden }, vd = m->n_visible, hd = m->n_hidden;
    snprintf(name, sizeof name, "%s/W", group);
    EBM_TRY(ebm_ckpt_write_f32(ck, name, m->W, 2, wd));
    snprintf(name, sizeof name, "%s/vbias", group);
    EBM_TRY(ebm_ckpt_write_f32(ck, name, m->vbias, 1, &vd));
    snprintf(name, sizeof name, "%s/hbias", group);
    EBM_TRY(ebm_ckpt_write_f32(ck, name, m->hbias, 1, &hd));
    if (m->log_sigma) {
        snprintf(name, sizeof name, "%s/log_sigma", group);
        EBM_TRY(ebm_ckpt_write_f32(ck, name, m->log_sigma, 1, &vd));
    }
    return EBM_OK;
}

ebm_status ebm_ckpt_read_rbm(struct ebm_ckpt *ck, const char *group, struct rbm *m)
{
    char name[256];
    int64_t V = m->n_visible, H = m->n_hidden, wd[2] = { V, H };
    snprintf(name, sizeof name, "%s/W", group);
    EBM_TRY(ebm_ckpt_read_f32(ck, name, m->W, 2, wd));
    snprintf(name, sizeof name, "%s/vbias", group);
    EBM_TRY(ebm_ckpt_read_f32(ck, name, m->vbias, 1, &V));
    snprintf(name, sizeof name, "%s/hbias", group);
    EBM_TRY(ebm_ckpt_read_f32(ck, name, m->hbias, 1, &H));
    if (m->log_sigma) {
        snprintf(name, sizeof name, "%s/log_sigma", group);
        EBM_TRY(ebm_ckpt_read_f32(ck, name, m->log_sigma, 1, &V));
    }
    return EBM_OK;
}

/* One unit-type attribute of /model; bernoulli when absent. */
static ebm_status read_unit_attr(struct ebm_ckpt *ck, const char *attr,
                                 enum ebm_unit_type *type)
{
    char *text = NULL;
    *type = EBM_UNIT_BERNOULLI;
    if (ebm_ckpt_read_attr_str(ck, "/model", attr, &text) != EBM_OK) {
        ebm_error_clear();
        return EBM_OK;
    }
    ebm_status st = ebm_unit_type_parse(text, type);
    if (st != EBM_OK) {
        ebm_error_clear();
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: /model attribute %s = '%s' is not a unit type "
                      "(bernoulli, spin, gaussian, softmax)", ck->path, attr, text);
    }
    free(text);
    return st;
}

ebm_status ebm_ckpt_read_units(struct ebm_ckpt *ck, enum ebm_unit_type *visible,
                               enum ebm_unit_type *hidden)
{
    EBM_TRY(read_unit_attr(ck, "visible_units", visible));
    return read_unit_attr(ck, "hidden_units", hidden);
}

ebm_status ebm_ckpt_write_units(struct ebm_ckpt *ck, const struct rbm *m)
{
    EBM_TRY(ebm_ckpt_attr_str(ck, "/model", "visible_units", ebm_unit_type_name(m->vis.type)));
    return ebm_ckpt_attr_str(ck, "/model", "hidden_units", ebm_unit_type_name(m->hid.type));
}

static ebm_status read_standardize(struct ebm_ckpt *ck, int V, float *mean, float *std,
                                   int *present)
{
    int ndim;
    int64_t dims[8], v = V;
    *present = 0;
    if (ebm_ckpt_shape(ck, "/model/input_mean", &ndim, dims) != EBM_OK) {
        ebm_error_clear();
        return EBM_OK;
    }
    EBM_TRY(ebm_ckpt_read_f32(ck, "/model/input_mean", mean, 1, &v));
    EBM_TRY(ebm_ckpt_read_f32(ck, "/model/input_std", std, 1, &v));
    for (int i = 0; i < V; i++)
        if (!(std[i] > 0) || !isfinite(mean[i]) || !isfinite(std[i]))
            return EBM_FAIL(EBM_ERR_INPUT, "%s: /model/input_std[%d] = %g: a standard deviation "
                            "must be positive and finite (damaged checkpoint)", ck->path, i,
                            (double)std[i]);
    *present = 1;
    return EBM_OK;
}

ebm_status ebm_model_read_standardize(const char *path, MPI_Comm comm, int V, float *mean,
                                      float *std, int *present)
{
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_open(&ck, path, comm));
    ebm_status st = read_standardize(&ck, V, mean, std, present);
    ebm_ckpt_close(&ck);
    return st;
}

static ebm_status read_rbm_sizes(struct ebm_ckpt *ck, int *V, int *H)
{
    int64_t v, h;
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/model", "n_visible", &v));
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/model", "n_hidden", &h));
    if (v <= 0 || h <= 0 || v > MAX_UNITS || h > MAX_UNITS)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: damaged model sizes %lld x %lld", ck->path,
                        (long long)v, (long long)h);
    *V = (int)v;
    *H = (int)h;
    return EBM_OK;
}

static ebm_status read_contents(struct ebm_ckpt *ck, struct rbm *m, struct ebm_model_info *info)
{
    char *type = NULL;
    EBM_TRY(read_type(ck, &type));
    int is_rbm = strcmp(type, "rbm") == 0;
    ebm_status st = is_rbm ? EBM_OK
                           : EBM_FAIL(EBM_ERR_INPUT, "%s: holds a '%s' model, not an rbm",
                                      ck->path, type);
    free(type);
    EBM_TRY(st);
    int V, H;
    enum ebm_unit_type visible, hidden;
    EBM_TRY(read_rbm_sizes(ck, &V, &H));
    EBM_TRY(ebm_ckpt_read_units(ck, &visible, &hidden));
    st = rbm_init_typed(m, V, H, visible, hidden);
    if (st != EBM_OK) {
        ebm_error_clear();
        return EBM_FAIL(EBM_ERR_INPUT, "%s: an rbm with %s visible and %s hidden units is not "
                        "one this version can use", ck->path, ebm_unit_type_name(visible),
                        ebm_unit_type_name(hidden));
    }
    int64_t labels = 0;
    if (ebm_ckpt_read_attr_i64(ck, "/model", "n_labels", &labels) != EBM_OK) ebm_error_clear();
    if (labels != 0 && (labels < 0 || labels > RBM_MAX_LABELS ||
                        rbm_set_labels(m, (int)labels) != EBM_OK)) {
        ebm_error_clear();
        return EBM_FAIL(EBM_ERR_INPUT, "%s: damaged model: n_labels = %lld for %d visible "
                        "units", ck->path, (long long)labels, V);
    }
    EBM_TRY(read_rbm_tensors(ck, "/model", m));
    read_info(ck, V - (int)labels, info);
    return EBM_OK;
}

ebm_status ebm_model_read_rbm(const char *path, MPI_Comm comm, struct rbm *m,
                              struct ebm_model_info *info)
{
    memset(m, 0, sizeof *m);
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_open(&ck, path, comm));
    ebm_status st = read_contents(&ck, m, info);
    ebm_ckpt_close(&ck);
    if (st != EBM_OK) rbm_free(m);
    return st;
}

ebm_status ebm_model_type(const char *path, MPI_Comm comm, char *type, size_t len)
{
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_open(&ck, path, comm));
    char *t = NULL;
    ebm_status st = read_type(&ck, &t);
    if (st == EBM_OK) snprintf(type, len, "%s", t);
    free(t);
    ebm_ckpt_close(&ck);
    return st;
}

/* "784,500,2000" into sizes (at most max values); the count into *n. */
static ebm_status parse_layers(const char *path, const char *text, int *sizes, int max, int *n)
{
    const char *p = text;
    *n = 0;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        while (*end == ' ') end++; /* "784, 500" as a config may spell it */
        if (end == p || errno || v <= 0 || v > MAX_UNITS || *n >= max ||
            (*end != ',' && *end != '\0'))
            return EBM_FAIL(EBM_ERR_INPUT, "%s: damaged DBN layer list '%s' (/model attribute "
                            "layers; expected sizes like 784,500,2000)", path, text);
        sizes[(*n)++] = (int)v;
        if (*end == '\0') return EBM_OK;
        p = end + 1;
    }
}

/* Every RBM of the stack must have trained: a layer at 0 epochs holds
 * its initial weights, and a model built on it would mean nothing. */
static ebm_status check_layers_trained(struct ebm_ckpt *ck, int L, const int *sizes)
{
    for (int k = 0; k < L; k++) {
        char group[64];
        snprintf(group, sizeof group, "/model/layers/%d", k);
        int64_t epochs;
        if (ebm_ckpt_read_attr_i64(ck, group, "epochs", &epochs) != EBM_OK) {
            ebm_error_clear();
            return EBM_FAIL(EBM_ERR_INPUT, "%s: DBN layer %d has no %s attribute epochs; "
                            "damaged checkpoint", ck->path, k, group);
        }
        if (epochs < 0)
            return EBM_FAIL(EBM_ERR_INPUT, "%s: DBN layer %d: damaged epochs %lld on %s",
                            ck->path, k, (long long)epochs, group);
        if (epochs == 0)
            return EBM_FAIL(EBM_ERR_INPUT, "%s: DBN layer %d (the %d x %d RBM at %s) has not "
                            "trained yet (0 epochs): a checkpoint from part way through the "
                            "layer-wise pipeline; use one written after every layer trained",
                            ck->path, k, sizes[k], sizes[k + 1], group);
    }
    return EBM_OK;
}

static ebm_status read_dbn_contents(struct ebm_ckpt *ck, struct dbn *d,
                                    struct ebm_model_info *info)
{
    char *type = NULL;
    EBM_TRY(read_type(ck, &type));
    int is_dbn = strcmp(type, "dbn") == 0, is_rbm = strcmp(type, "rbm") == 0;
    ebm_status st = is_dbn || is_rbm
                        ? EBM_OK
                        : EBM_FAIL(EBM_ERR_INPUT, "%s: holds a '%s' model, not a dbn (or rbm)",
                                   ck->path, type);
    free(type);
    EBM_TRY(st);
    int sizes[EBM_DBN_MAX_LAYERS + 1];
    if (is_rbm) {
        enum ebm_unit_type visible, hidden;
        EBM_TRY(ebm_ckpt_read_units(ck, &visible, &hidden));
        if (visible != EBM_UNIT_BERNOULLI || hidden != EBM_UNIT_BERNOULLI)
            return EBM_FAIL(EBM_ERR_INPUT, "%s: an rbm with %s visible and %s hidden units; "
                            "this command takes bernoulli RBMs and DBNs", ck->path,
                            ebm_unit_type_name(visible), ebm_unit_type_name(hidden));
        int64_t labels = 0;
        if (ebm_ckpt_read_attr_i64(ck, "/model", "n_labels", &labels) != EBM_OK)
            ebm_error_clear();
        if (labels != 0)
            return EBM_FAIL(EBM_ERR_INPUT, "%s: an rbm with %lld label units (a joint model: "
                            "ebm classify eval takes it); this command takes RBMs without "
                            "labels and DBNs", ck->path, (long long)labels);
        EBM_TRY(read_rbm_sizes(ck, &sizes[0], &sizes[1]));
        EBM_TRY(dbn_init(d, 1, sizes));
        EBM_TRY(read_rbm_tensors(ck, "/model", &d->rbm[0]));
        read_info(ck, sizes[0], info);
        return EBM_OK;
    }
    int64_t L;
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/model", "n_layers", &L));
    if (L < 1 || L > EBM_DBN_MAX_LAYERS)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: damaged DBN: n_layers = %lld (expected 1 to %d)",
                        ck->path, (long long)L, EBM_DBN_MAX_LAYERS);
    char *layers = NULL;
    EBM_TRY(ebm_ckpt_read_attr_str(ck, "/model", "layers", &layers));
    int n = 0;
    st = parse_layers(ck->path, layers, sizes, EBM_DBN_MAX_LAYERS + 1, &n);
    if (st == EBM_OK && n != L + 1)
        st = EBM_FAIL(EBM_ERR_INPUT, "%s: damaged DBN: layers '%s' lists %d sizes, but "
                      "n_layers = %lld needs %lld", ck->path, layers, n, (long long)L,
                      (long long)L + 1);
    free(layers);
    EBM_TRY(st);
    EBM_TRY(check_layers_trained(ck, (int)L, sizes));
    EBM_TRY(dbn_init(d, (int)L, sizes));
    for (int k = 0; k < L; k++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "/model/layers/%d", k);
        EBM_TRY(read_rbm_tensors(ck, prefix, &d->rbm[k]));
    }
    read_info(ck, sizes[0], info);
    return EBM_OK;
}

ebm_status ebm_model_read_dbn(const char *path, MPI_Comm comm, struct dbn *d,
                              struct ebm_model_info *info)
{
    memset(d, 0, sizeof *d);
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_open(&ck, path, comm));
    ebm_status st = read_dbn_contents(&ck, d, info);
    ebm_ckpt_close(&ck);
    if (st != EBM_OK) dbn_free(d);
    return st;
}

static ebm_status read_bm_contents(struct ebm_ckpt *ck, struct bm *m, struct ebm_model_info *info)
{
    char *type = NULL;
    EBM_TRY(read_type(ck, &type));
    ebm_status st = strcmp(type, "bm") == 0
                        ? EBM_OK
                        : EBM_FAIL(EBM_ERR_INPUT, "%s: holds a '%s' model, not a bm", ck->path,
                                   type);
    free(type);
    EBM_TRY(st);
    int64_t D, spin;
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/model", "n_units", &D));
    EBM_TRY(ebm_ckpt_read_attr_i64(ck, "/model", "spin", &spin));
    if (D <= 0 || D > 1000000 || (spin != 0 && spin != 1))
        return EBM_FAIL(EBM_ERR_INPUT, "%s: damaged bm: n_units = %lld, spin = %lld", ck->path,
                        (long long)D, (long long)spin);
    EBM_TRY(bm_init(m, (int)D, (int)spin));
    int64_t wd[2] = { D, D };
    EBM_TRY(ebm_ckpt_read_f32(ck, "/model/W", m->W, 2, wd));
    EBM_TRY(ebm_ckpt_read_f32(ck, "/model/bias", m->bias, 1, &D));
    if (bm_validate(m) != EBM_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", ebm_error_message());
        ebm_error_clear();
        return EBM_FAIL(EBM_ERR_INPUT, "%s: /model: %s", ck->path, why);
    }
    read_info(ck, (int)D, info);
    return EBM_OK;
}

ebm_status ebm_model_read_bm(const char *path, MPI_Comm comm, struct bm *m,
                             struct ebm_model_info *info)
{
    memset(m, 0, sizeof *m);
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_open(&ck, path, comm));
    ebm_status st = read_bm_contents(&ck, m, info);
    ebm_ckpt_close(&ck);
    if (st != EBM_OK) bm_free(m);
    return st;
}

static ebm_status read_dbm_contents(struct ebm_ckpt *ck, struct dbm *m,
                                    struct ebm_model_info *info)
{
    char *type = NULL, *layers = NULL;
    EBM_TRY(read_type(ck, &type));
    ebm_status st = strcmp(type, "dbm") == 0
                        ? EBM_OK
                        : EBM_FAIL(EBM_ERR_INPUT, "%s: holds a '%s' model, not a dbm", ck->path,
                                   type);
    free(type);
    EBM_TRY(st);
    EBM_TRY(ebm_ckpt_read_attr_str(ck, "/model", "layers", &layers));
    int sizes[EBM_DBM_MAX_HIDDEN + 1], n = 0;
    st = parse_layers(ck->path, layers, sizes, EBM_DBM_MAX_HIDDEN + 1, &n);
    free(layers);
    EBM_TRY(st);
    EBM_TRY(dbm_init(m, n - 1, sizes));
    char name[96];
    for (int k = 0; k < m->n_hidden_layers; k++) {
        int64_t wd[2] = { sizes[k], sizes[k + 1] };
        snprintf(name, sizeof name, "/model/layers/%d/W", k);
        EBM_TRY(ebm_ckpt_read_f32(ck, name, m->W[k], 2, wd));
    }
    for (int k = 0; k <= m->n_hidden_layers; k++) {
        int64_t bd = sizes[k];
        snprintf(name, sizeof name, "/model/biases/%d", k);
        EBM_TRY(ebm_ckpt_read_f32(ck, name, m->b[k], 1, &bd));
    }
    read_info(ck, sizes[0], info);
    return EBM_OK;
}

ebm_status ebm_model_read_dbm(const char *path, MPI_Comm comm, struct dbm *m,
                              struct ebm_model_info *info)
{
    memset(m, 0, sizeof *m);
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_open(&ck, path, comm));
    ebm_status st = read_dbm_contents(&ck, m, info);
    ebm_ckpt_close(&ck);
    if (st != EBM_OK) dbm_free(m);
    return st;
}
