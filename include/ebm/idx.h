/* IDX files (the MNIST container format), plain or gzipped. */
#ifndef EBM_IDX_H
#define EBM_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "ebm/error.h"

#define EBM_IDX_MAX_DIMS 4

struct ebm_idx {
    int ndim;
    int64_t dims[EBM_IDX_MAX_DIMS];
    size_t count;    /* product of dims */
    uint8_t *data;   /* (count) values; only the unsigned-byte type (0x08) */
};

/* Reads the whole file. Truncated, malformed or unsupported files fail with
 * EBM_ERR_INPUT and a message naming the file and what is wrong. */
ebm_status ebm_idx_read(const char *path, struct ebm_idx *out);
void ebm_idx_free(struct ebm_idx *idx);

#endif
