/* Score files (docs/anomaly.md): the per-row anomaly scores of `ebm score`
 * and where they came from, written by one rank with serial HDF5 under a
 * hidden temporary name that is renamed into place only once complete. */
#ifndef EBM_SCORE_FILE_H
#define EBM_SCORE_FILE_H

#include <stdint.h>

#include "ebm/error.h"

/* N = rows scored. Everything is borrowed; a NULL array or string leaves
 * its dataset or attributes out. */
struct ebm_score_file {
    int64_t n;                      /* N */
    const double *free_energy;      /* (N) -> /free_energy float64 */
    const double *recon_error;      /* (N) -> /recon_error float64 */
    const int32_t *labels;          /* (N) -> /labels int32; NULL when the split has none */
    const double *percentile;       /* (N) -> /percentile float64; NULL without a reference */
    /* root attributes */
    const char *checkpoint, *data, *split, *binarize;
    int64_t seed;
    const char *reference;          /* "FILE:SPLIT"; NULL: no reference, reference_rows */
    int64_t reference_rows;
    const char *anomaly_labels;     /* "L,L,..."; NULL: no AUROC attributes */
    double auroc_free_energy, auroc_recon_error;
};

/* Writes the whole file to .NAME.tmp beside path, fsyncs it and renames it
 * over path. On failure nothing is left behind and the error names the file
 * and the HDF5 call. Not collective: the calling rank alone writes. */
ebm_status ebm_score_file_write(const char *path, const struct ebm_score_file *s);

#endif
