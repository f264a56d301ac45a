/* ebm info CKPT: what a checkpoint holds, without loading it for training. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>

#include "ebm/checkpoint.h"
#include "ebm/cmd.h"
#include "ebm/model_file.h"

static const char usage[] =
    "usage: ebm info CKPT\n"
    "\n"
    "Shows a checkpoint's model type and shapes, training progress (epoch,\n"
    "step, ranks), the data it was trained on, its tensors and the effective\n"
    "config it was trained with. For a DBN: its layer sizes and, per RBM of\n"
    "the stack, its shape and the epochs it has trained (0: not started).\n";

static void print_tensor(struct ebm_ckpt *ck, const char *name)
{
    int nd;
    int64_t d[8];
    if (ebm_ckpt_shape(ck, name, &nd, d) != EBM_OK) {
        ebm_error_clear();
        return;
    }
    printf("  %-24s [", name);
    for (int i = 0; i < nd; i++) printf("%s%lld", i ? ", " : "", (long long)d[i]);
    printf("]\n");
}

static int64_t attr_or(struct ebm_ckpt *ck, const char *obj, const char *name, int64_t dflt)
{
    int64_t v;
    if (ebm_ckpt_read_attr_i64(ck, obj, name, &v) != EBM_OK) {
        ebm_error_clear();
        return dflt;
    }
    return v;
}

/* The DBN part: sizes, then one line and three tensors per RBM. */
static void print_dbn(struct ebm_ckpt *ck)
{
    char *layers = NULL;
    int64_t L = attr_or(ck, "/model", "n_layers", 0);
    if (ebm_ckpt_read_attr_str(ck, "/model", "layers", &layers) != EBM_OK) ebm_error_clear();
    long long params = 0;
    for (int64_t k = 0; k < L && k < 1000; k++) {
        char name[64];
        int nd;
        int64_t d[8];
        snprintf(name, sizeof name, "/model/layers/%lld/W", (long long)k);
        if (ebm_ckpt_shape(ck, name, &nd, d) == EBM_OK && nd == 2)
            params += (long long)(d[0] * d[1] + d[0] + d[1]);
        else
            ebm_error_clear();
    }
    printf("model       dbn %s (%lld RBMs, %lld parameters)\n", layers ? layers : "?",
           (long long)L, params);
    for (int64_t k = 0; k < L && k < 1000; k++) {
        char group[64], name[80];
        int nd;
        int64_t d[8];
        snprintf(group, sizeof group, "/model/layers/%lld", (long long)k);
        snprintf(name, sizeof name, "%s/W", group);
        int64_t epochs = attr_or(ck, group, "epochs", -1);
        if (ebm_ckpt_shape(ck, name, &nd, d) == EBM_OK && nd == 2)
            printf("  layer %lld   %lld x %lld, ", (long long)k, (long long)d[0], (long long)d[1]);
        else {
            ebm_error_clear();
            printf("  layer %lld   no weights, ", (long long)k);
        }
        if (epochs > 0) printf("%lld epoch%s\n", (long long)epochs, epochs == 1 ? "" : "s");
        else if (epochs == 0) printf("not trained yet (0 epochs)\n");
        else printf("no epochs attribute\n");
    }
    free(layers);
}

static ebm_status info(const char *path)
{
    struct ebm_ckpt ck;
    EBM_TRY(ebm_ckpt_open(&ck, path, MPI_COMM_SELF));
    char *type = NULL, *config = NULL, *data = NULL, *split = NULL;
    ebm_status st = ebm_ckpt_read_attr_str(&ck, "/model", "type", &type);
    int is_dbn = st == EBM_OK && strcmp(type, "dbn") == 0;
    int is_logreg = st == EBM_OK && strcmp(type, "logreg") == 0;
    int is_mlp = st == EBM_OK && strcmp(type, "mlp") == 0;
    if (st == EBM_OK) st = ebm_ckpt_read_attr_str(&ck, "/train", "config", &config);
    /* A DBN or a classifier is described without a training config. */
    if (st != EBM_OK && (is_dbn || is_logreg || is_mlp)) {
        ebm_error_clear();
        st = EBM_OK;
    }
    if (st == EBM_OK) {
        int64_t V = attr_or(&ck, "/model", "n_visible", 0), H = attr_or(&ck, "/model", "n_hidden", 0);
        printf("checkpoint  %s\n", path);
        int64_t D = attr_or(&ck, "/model", "dims", 0), K = attr_or(&ck, "/model", "classes", 0);
        if (is_dbn)
            print_dbn(&ck);
        else if (type && strcmp(type, "bm") == 0) {
            int64_t U = attr_or(&ck, "/model", "n_units", 0);
            printf("model       bm, %lld %s units (%lld parameters: couplings and biases)\n",
                   (long long)U, attr_or(&ck, "/model", "spin", 0) ? "spin" : "binary",
                   (long long)(U * (U - 1) / 2 + U));
        } else if (type && strcmp(type, "dbm") == 0) {
            char *layers = NULL;
            if (ebm_ckpt_read_attr_str(&ck, "/model", "layers", &layers) != EBM_OK)
                ebm_error_clear();
            printf("model       dbm %s (deep Boltzmann machine)\n", layers ? layers : "?");
            free(layers);
        } else if (is_mlp) {
            char *sizes = NULL;
            if (ebm_ckpt_read_attr_str(&ck, "/model", "sizes", &sizes) != EBM_OK) ebm_error_clear();
            printf("model       mlp %s (sigmoid layers, softmax output), fine-tuned from a "
                   "DBN or RBM\n", sizes ? sizes : "?");
            free(sizes);
        } else if (is_logreg)
            printf("model       logreg %lld features -> %lld classes (%lld parameters)\n",
                   (long long)D, (long long)K, (long long)(D * K + K));
        else {
            enum ebm_unit_type vis = EBM_UNIT_BERNOULLI, hid = EBM_UNIT_BERNOULLI;
            if (ebm_ckpt_read_units(&ck, &vis, &hid) != EBM_OK) ebm_error_clear();
            int64_t n_params = V * H + V + H + (vis == EBM_UNIT_GAUSSIAN ? V : 0);
            int64_t labels = attr_or(&ck, "/model", "n_labels", 0);
            printf("model       %s %lld x %lld (%lld parameters), %s visible and %s hidden "
                   "units", type, (long long)V, (long long)H, (long long)n_params,
                   ebm_unit_type_name(vis), ebm_unit_type_name(hid));
            if (labels > 0)
                printf(", the last %lld visible units one softmax label group", (long long)labels);
            printf("\n");
        }
        if (is_mlp)
            printf("trained     %lld epochs, batch %lld per rank\n",
                   (long long)attr_or(&ck, "/train", "epochs", -1),
                   (long long)attr_or(&ck, "/train", "batch_size", -1));
        else if (is_logreg)
            printf("trained     %lld epochs, %lld steps, %lld ranks\n",
                   (long long)attr_or(&ck, "/train", "epochs", -1),
                   (long long)attr_or(&ck, "/train", "steps", -1),
                   (long long)attr_or(&ck, "/train", "ranks", -1));
        else if (is_dbn) /* per-layer progress is above; the pipeline counts epochs as a whole */
            printf("trained     pipeline epoch %lld, %lld ranks\n",
                   (long long)attr_or(&ck, "/train", "epoch", -1),
                   (long long)attr_or(&ck, "/train", "ranks", -1));
        else
            printf("trained     epoch %lld, step %lld, %lld ranks, %lld chains per rank\n",
                   (long long)attr_or(&ck, "/train", "epoch", -1),
                   (long long)attr_or(&ck, "/train", "step", -1),
                   (long long)attr_or(&ck, "/train", "ranks", -1),
                   (long long)attr_or(&ck, "/train", "chains_per_rank", 0));
        if (ebm_ckpt_read_attr_str(&ck, "/data", "path", &data) == EBM_OK &&
            ebm_ckpt_read_attr_str(&ck, "/data", "split", &split) == EBM_OK) {
            printf("data        %s /%s: %lld rows x %lld", data, split,
                   (long long)attr_or(&ck, "/data", "n_rows", 0),
                   (long long)attr_or(&ck, "/data", "dim", is_logreg ? D : 0));
            int64_t h = attr_or(&ck, "/data", "image_h", 0), w = attr_or(&ck, "/data", "image_w", 0);
            if (h > 0) printf(" (%lldx%lld images)", (long long)h, (long long)w);
            printf("\n");
        }
        ebm_error_clear();
        printf("tensors\n");
        static const char *names[] = { "/model/W", "/model/b", "/model/vbias", "/model/hbias",
                                       "/model/log_sigma", "/model/input_mean",
                                       "/model/input_std", "/model/bias",
                                       "/optim/velocity/W", "/optim/velocity/bias",
                                       "/optim/velocity/vbias", "/optim/velocity/hbias",
                                       "/optim/velocity/log_sigma", "/optim/visible_offset",
                                       "/optim/hidden_offset", "/train/chains", "/train/rng",
                                       "/train/bm_chain_rng" };
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) print_tensor(&ck, names[i]);
        int is_dbm = type && strcmp(type, "dbm") == 0;
        for (int64_t k = 0; is_dbm && k <= attr_or(&ck, "/model", "n_hidden_layers", 0); k++) {
            char name[80];
            if (k < attr_or(&ck, "/model", "n_hidden_layers", 0)) {
                snprintf(name, sizeof name, "/model/layers/%lld/W", (long long)k);
                print_tensor(&ck, name);
            }
            snprintf(name, sizeof name, "/model/biases/%lld", (long long)k);
            print_tensor(&ck, name);
        }
        for (int64_t k = 0; is_mlp && k <= attr_or(&ck, "/model", "n_hidden_layers", 0) && k < 100;
             k++) {
            char name[80];
            snprintf(name, sizeof name, "/model/layers/%lld/W", (long long)k);
            print_tensor(&ck, name);
            snprintf(name, sizeof name, "/model/layers/%lld/b", (long long)k);
            print_tensor(&ck, name);
        }
        for (int64_t k = 0; is_dbn && k < attr_or(&ck, "/model", "n_layers", 0) && k < 1000; k++) {
            static const char *parts[] = { "W", "vbias", "hbias" };
            for (int p = 0; p < 3; p++) {
                char name[80];
                snprintf(name, sizeof name, "/model/layers/%lld/%s", (long long)k, parts[p]);
                print_tensor(&ck, name);
            }
        }
        if (config) printf("config\n%s", config);
    }
    free(type);
    free(config);
    free(data);
    free(split);
    ebm_ckpt_close(&ck);
    return st;
}

int ebm_cmd_info(int argc, char **argv)
{
    if (ebm_cmd_help(argc, argv, usage)) return 0;
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const char *path = NULL;
    ebm_status st = EBM_OK;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' || path)
            st = EBM_FAIL(EBM_ERR_INPUT, "ebm info: unexpected argument '%s' (see ebm info --help)",
                          argv[i]);
        else
            path = argv[i];
    }
    if (st == EBM_OK && !path)
        st = EBM_FAIL(EBM_ERR_INPUT, "ebm info: missing CKPT (see ebm info --help)");
    if (st == EBM_OK && rank == 0) st = info(path);
    int code = (int)st;
    MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return ebm_cmd_finish((ebm_status)code);
}
