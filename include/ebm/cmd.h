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

/* Prints the recorded error once (rank 0; every rank holds the same
 * message after ebm_par_agree) and maps the status to an exit code. */
int ebm_cmd_finish(ebm_status st);

/* True (after rank 0 printed usage) when argv asks for --help or -h. */
bool ebm_cmd_help(int argc, char **argv, const char *usage);

#endif
