/* One entry point per `ebm <command>`. Each parses its own flags, calls the
 * library and prints; main() owns MPI_Init/MPI_Finalize around the call.
 * Each returns the process exit status (0 ok, 2 bad input, 1 other). */
#ifndef EBM_CMD_H
#define EBM_CMD_H

#include <stdbool.h>

#include "ebm/error.h"

int ebm_cmd_train(int argc, char **argv);
int ebm_cmd_convert(int argc, char **argv);
int ebm_cmd_info(int argc, char **argv);
int ebm_cmd_eval(int argc, char **argv);
int ebm_cmd_sample(int argc, char **argv);
int ebm_cmd_transform(int argc, char **argv);
int ebm_cmd_score(int argc, char **argv);
int ebm_cmd_classify(int argc, char **argv);
/* ebm classify finetune (src/cmd/finetune.c), dispatched by ebm_cmd_classify. */
int ebm_classify_finetune(int argc, char **argv);
int ebm_cmd_denoise(int argc, char **argv);

/* Prints the recorded error once (rank 0; every rank holds the same
 * message after ebm_par_agree) and maps the status to an exit code. */
int ebm_cmd_finish(ebm_status st);

/* True (after rank 0 printed usage) when argv asks for --help or -h. */
bool ebm_cmd_help(int argc, char **argv, const char *usage);

/* Flag values (src/cmd/args.c), failing with "ebm CMD: FLAG 'TEXT': ...". */
ebm_status ebm_arg_int(const char *cmd, const char *flag, const char *text, long long lo,
                       long long hi, long long *out);
/* A finite number in [lo, hi], as a float. */
ebm_status ebm_arg_real(const char *cmd, const char *flag, const char *text, double lo, double hi,
                        float *out);
/* stochastic, threshold, none -> 0, 1, 2 (the modes of ebm_eval_binarize). */
ebm_status ebm_arg_binarize(const char *cmd, const char *text, int *mode);
/* Whether a and b name the same file (false when either is NULL or missing). */
bool ebm_same_file(const char *a, const char *b);
/* Rank 0, before any work: out is none of the inputs (NULL entries are
 * skipped) and its directory can take it. */
ebm_status ebm_check_out(const char *out, const char *const *inputs, int n_inputs);

#endif
