/* Counter-based random numbers (Philox4x32-10; Salmon et al., SC'11).
 * A stream is keyed by (seed, rank, purpose); its whole state is one 64-bit
 * block counter, so it fits in a checkpoint and resumes bit-exactly. */
#ifndef EBM_RNG_H
#define EBM_RNG_H

#include <stddef.h>
#include <stdint.h>

enum ebm_rng_purpose {
    EBM_RNG_INIT = 1,      /* weight initialisation (same on every rank) */
    EBM_RNG_SAMPLE = 2,    /* Gibbs sampling, per rank */
    EBM_RNG_BINARIZE = 3,  /* stochastic binarisation of batches, per rank */
    EBM_RNG_SHUFFLE = 4,   /* epoch shuffles, per rank and epoch */
    EBM_RNG_GIBBS = 5,     /* ebm sample, per chain */
    EBM_RNG_AIS = 6,       /* forward AIS, per run */
    EBM_RNG_REVERSE_AIS = 7, /* reverse AIS, per run */
    EBM_RNG_EVAL_BINARIZE = 8, /* evaluation data, per row */
    EBM_RNG_ELASTIC_CHAINS = 9, /* chains added by an elastic resume, per chain */
    EBM_RNG_DBN_BOUND = 10,  /* DBN variational bound: samples of q(h | v), per row */
    EBM_RNG_DBN_SAMPLE = 11, /* DBN top-down pass of ebm sample, per chain */
    EBM_RNG_BM_CHAINS = 12,  /* fully visible BM training chains, per global chain */
    EBM_RNG_MCMC = 16,     /* Metropolis-Hastings, Langevin and MALA chains, per chain */
    EBM_RNG_DENOISE_CORRUPT = 40, /* ebm denoise: the corruption of each row */
    EBM_RNG_DENOISE_GIBBS = 41,   /* ebm denoise: each row's clamped Gibbs chain */
    EBM_RNG_GRID_SAMPLE = 50, /* grid-layout CD: keyed by (example, unit, draw) */
    EBM_RNG_TEST = 99,
};

struct ebm_rng {
    uint32_t key[2];    /* from the seed */
    uint32_t stream[2]; /* (rank or sub-stream, purpose): counter words 2 and 3 */
    uint64_t block;     /* next 128-bit block to generate */
};

void ebm_rng_init(struct ebm_rng *rng, uint64_t seed, uint32_t substream, uint32_t purpose);
/* One Philox block: four 32-bit outputs for (key, counter). */
void ebm_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]);

/* n uniforms in [0, 1) with 24 random bits each; consumes ceil(n / 4) blocks. */
void ebm_rng_uniform(struct ebm_rng *rng, float *out, size_t n);
/* n standard normals (Box-Muller); consumes ceil(n / 2) blocks. */
void ebm_rng_normal(struct ebm_rng *rng, float *out, size_t n);
/* A uniform integer in [0, bound), unbiased; consumes blocks as needed. */
uint32_t ebm_rng_below(struct ebm_rng *rng, uint32_t bound);
/* Uniforms by position rather than by sequence: units first .. first+n-1
 * of row `row` in draw `draw` of `purpose` (substream = row, blocks from
 * draw << 32 on, four units a block). Any split of rows and units over
 * ranks draws the same number for the same (row, unit, draw). */
void ebm_rng_keyed_uniform(uint64_t seed, uint32_t purpose, uint32_t row, uint32_t draw,
                           int64_t first, size_t n, float *out);
/* Fisher-Yates shuffle of idx[0..n). */
void ebm_rng_shuffle(struct ebm_rng *rng, int64_t *idx, int64_t n);

#endif
