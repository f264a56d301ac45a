/* ebm <command>: dispatch only. */
#include <stdio.h>
#include <string.h>
#include <hdf5.h>
#include <mpi.h>

#include "ebm/cmd.h"
#include "ebm/grid.h"
#include "ebm/stop.h"

static const char usage[] =
    "usage: ebm <command> [options]      (run under mpirun or srun for several ranks)\n"
    "\n"
    "commands:\n"
    "  train CONFIG [--set k=v]... [--resume PATH|auto]   train a model\n"
    "  convert idx --images F [--labels F] --split S --out FILE.h5\n"
    "                                                    IDX (MNIST) files to HDF5\n"
    "  info CKPT                                         what a checkpoint holds\n"
    "  eval CKPT --data FILE [--exact] [--ais-runs N]    log-likelihood (exact or AIS)\n"
    "  sample CKPT --n N --steps K --out FILE            draw samples by block Gibbs\n"
    "  transform CKPT --data FILE --layer K --out FILE.h5\n"
    "                                                    a DBN layer's features as a dataset\n"
    "  score CKPT --data FILE --out FILE.h5              per-row anomaly scores (free energy)\n"
    "  denoise CKPT --data F --corrupt C --method M --steps K --out FILE.h5\n"
    "                                                    restore corrupted rows (PSNR before/after)\n"
    "  classify train --data FILE --out MODEL.h5         a softmax classifier on features\n"
    "  classify eval MODEL --data FILE                   its test error and confusion matrix\n"
    "  classify finetune CKPT --data FILE --out MODEL.h5 a DBN fine-tuned by backpropagation\n"
    "\n"
    "ebm <command> --help describes each. Docs: docs/config.md, docs/data.md,\n"
    "docs/checkpoint.md.\n";

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
    { "train", ebm_cmd_train },
    { "convert", ebm_cmd_convert },
    { "info", ebm_cmd_info },
    { "eval", ebm_cmd_eval },
    { "sample", ebm_cmd_sample },
    { "transform", ebm_cmd_transform },
    { "score", ebm_cmd_score },
    { "denoise", ebm_cmd_denoise },
    { "classify", ebm_cmd_classify },
};

int main(int argc, char **argv)
{
    /* A batch system may warn a job while MPI is still starting: the stop
     * handlers must be in place before that, or the signal kills the rank. */
    if (argc > 1 && strcmp(argv[1], "train") == 0) ebm_stop_install();
    MPI_Init(&argc, &argv);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors reach the user as one line of ours */
    int rank = 0, code = 2;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const char *name = argc > 1 ? argv[1] : NULL;
    if (!name || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
        strcmp(name, "help") == 0) {
        if (rank == 0) fputs(usage, name ? stdout : stderr);
        code = name ? 0 : 2;
    } else {
        const struct command *cmd = NULL;
        for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
            if (strcmp(commands[i].name, name) == 0) cmd = &commands[i];
        if (cmd) code = cmd->run(argc - 1, argv + 1);
        else if (rank == 0)
            fprintf(stderr, "ebm: error: unknown command '%s' (see ebm --help)\n", name);
    }
    ebm_grid_finalize(); /* BLACS, when a command used a process grid */
    MPI_Finalize();
    return code;
}
