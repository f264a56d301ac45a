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
    EBM_RNG_FRESH_CHAINS = 9, /* RBM PCD chains' starting states, per global chain */
    EBM_RNG_DBN_BOUND = 10,  /* DBN variational bound: samples of q(h | v), per row */
    EBM_RNG_DBN_SAMPLE = 11, /* DBN top-down pass of ebm sample, per chain */
    EBM_RNG_BM_CHAINS = 12,  /* fully visible BM training chains, per global chain */
    EBM_RNG_MCMC = 16,     /* Metropolis-Hastings, Langevin and MALA chains, per chain */
    EBM_RNG_DENOISE_CORRUPT = 40, /* ebm denoise: the corruption of each row */
    EBM_RNG_DENOISE_GIBBS = 41,   /* ebm denoise: each row's clamped Gibbs chain */
    EBM_RNG_CD = 50,       /* RBM training's Gibbs passes, keyed (ebm/cd.h: cd_keys) */
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
/* Uniforms first .. first+n-1 of the sequence that stream (seed,
 * substream, purpose) hands out from block block0 on (four a block, as
 * ebm_rng_uniform and ebm_bernoulli take them): any rank draws any stretch
 * of another's sequence without drawing what comes before it. */
void ebm_rng_uniform_at(uint64_t seed, uint32_t substream, uint32_t purpose, uint64_t block0,
                        int64_t first, size_t n, float *out);
/* Streams keyed by position, one per row of a batch: row r draws from
 * substream first_row + r of `purpose`, blocks from draw << 32 on, so the
 * numbers of a row depend on (seed, purpose, global row, draw) and not on
 * the rank that holds it. ebm_rng_row positions `out` at the row's first
 * number; drawing n uniforms from it gives ebm_rng_keyed_uniform's units
 * 0 .. n-1 of that row. */
struct ebm_rng_rows {
    uint64_t seed;
    uint32_t purpose, first_row, draw;
};
void ebm_rng_row(const struct ebm_rng_rows *k, int64_t r, struct ebm_rng *out);
/* Normals first .. first+n-1 of the stream (seed, substream, purpose)
 * from block 0, exactly as ebm_rng_normal hands them out in sequence
 * (normal i is half of block i / 2): any rank computes any stretch. */
void ebm_rng_normal_at(uint64_t seed, uint32_t substream, uint32_t purpose, int64_t first,
                       size_t n, float *out);
/* Fisher-Yates shuffle of idx[0..n). */
void ebm_rng_shuffle(struct ebm_rng *rng, int64_t *idx, int64_t n);

#endif
