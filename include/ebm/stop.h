/* Stop requests: a batch system warns a job before its time limit
 * (SIGUSR1 with `#SBATCH --signal`) or before preemption (SIGTERM). The
 * handler only sets a flag; the trainer folds it into the step's gradient
 * allreduce, so every rank stops after the same step. */
#ifndef EBM_STOP_H
#define EBM_STOP_H

/* Installs the handlers for SIGUSR1 and SIGTERM. */
void ebm_stop_install(void);
/* Whether this process was asked to stop (by a signal or ebm_stop_request). */
int ebm_stop_requested(void);
void ebm_stop_request(void);
void ebm_stop_reset(void);

#endif
