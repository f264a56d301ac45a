/* Denoising and restoration with a Bernoulli RBM (`ebm denoise`,
 * docs/denoise.md): seeded corruption of binary rows, and the posterior mean
 * of the unknown pixels given what was observed, by clamped block Gibbs or
 * mean field. No MPI and no I/O here.
 * Dimension letters: B = rows, V = visible units (pixels), H = hidden units. */
#ifndef EBM_DENOISE_H
#define EBM_DENOISE_H

#include <stddef.h>
#include <stdint.h>

#include "ebm/error.h"
#include "ebm/rbm.h"
#include "ebm/rng.h"

enum ebm_corrupt_kind {
    EBM_CORRUPT_SALTPEPPER,   /* each pixel hit with probability p, then set to 0 or 1 (1/2 each) */
    EBM_CORRUPT_MASK_BOTTOM,  /* the bottom floor(h / 2) image rows are missing */
    EBM_CORRUPT_MASK_RANDOM,  /* each pixel missing with probability p */
};

struct ebm_corruption {
    enum ebm_corrupt_kind kind;
    double p;                 /* saltpepper, mask:random: in [0, 1] */
    int image_h, image_w;     /* mask:bottom-half: h * w = V; (V, 1) when unknown */
};

/* saltpepper:P, mask:bottom-half or mask:random:P (P in [0, 1]) into c,
 * image shape unset; EBM_ERR_INPUT naming --corrupt and the text. */
ebm_status ebm_corruption_parse(const char *text, struct ebm_corruption *c);

/* Corrupts binary rows x (B, V), global rows first.., into y (B, V) and
 * mask (B, V): 1 marks a pixel that the noise hit (saltpepper; y is then 0
 * or 1, possibly its old value) or that is missing (mask:*; y is 0 there).
 * Row r draws from its own stream (seed, first + r, EBM_RNG_DENOISE_CORRUPT),
 * so the result does not depend on how rows are split over ranks or chunks. */
void ebm_denoise_corrupt(const struct ebm_corruption *c, const float *x, int B, int V,
                         int64_t first, uint64_t seed, float *y, uint8_t *mask);

enum ebm_denoise_method {
    EBM_DENOISE_GIBBS,        /* clamped block Gibbs, Rao-Blackwellised posterior mean */
    EBM_DENOISE_MEANFIELD,    /* v_free <- p(v | h = p(h | v)), K times */
};

/* |log p(y_i | x_i = 1) / p(y_i | x_i = 0)| under salt-and-pepper noise of
 * rate p in (0, 1]: log((2 - p) / p), since p(y_i = x_i) = 1 - p/2. */
double ebm_denoise_evidence(double p);

/* Scratch and state for restoring max_rows rows at a time; every buffer is
 * allocated by init, so ebm_denoise_rows and ebm_denoise_shard allocate
 * nothing. */
struct ebm_denoiser {
    const struct rbm *m;      /* borrowed */
    struct ebm_corruption c;
    enum ebm_denoise_method method;
    int steps, burn_in;       /* K sweeps; gibbs averages sweeps burn_in+1 .. K */
    int max_rows;             /* B */
    uint64_t seed;
    float evidence;           /* ebm_denoise_evidence(c.p) for saltpepper, else 0 */
    float *block;             /* the one float allocation; views below */
    float *v;                 /* (B, V) state: samples (gibbs) or means (meanfield) */
    float *act;               /* (B, V) visible input, then p(v = 1 | h, y) */
    float *ebias;             /* (B, V) noise-channel bias of each inferred pixel */
    float *infer;             /* (B, V) 1 = inferred, 0 = clamped to y */
    float *ph, *h;            /* (B, H) p(h = 1 | v) and its sample */
    double *acc;              /* (B, V) sum of p(v = 1 | h, y) over kept sweeps; double,
                                 so long runs do not lose the small terms */
    struct ebm_rng *rng;      /* (B) one Gibbs stream per row */
    float *stage_y, *stage_out; /* (B, V) one aligned batch for ebm_denoise_shard */
    uint8_t *stage_mask;        /* (B, V) */
};

/* Burn-in of K Gibbs sweeps: the first K / 4 are not averaged. */
int ebm_denoise_burn_in(int steps);

/* steps >= 1, max_rows >= 1. EBM_ERR_NOMEM. ebm_denoiser_free releases it
 * (safe on a zeroed or freed denoiser). */
ebm_status ebm_denoiser_init(struct ebm_denoiser *d, const struct rbm *m,
                             const struct ebm_corruption *c, enum ebm_denoise_method method,
                             int steps, uint64_t seed, int max_rows);
void ebm_denoiser_free(struct ebm_denoiser *d);

/* Restores B <= max_rows rows (global rows first..) from y and mask as
 * ebm_denoise_corrupt wrote them, into out (B, V):
 * - mask:*: observed pixels are copied from y unchanged; missing ones get
 *   their posterior mean p(v_i = 1 | v_observed);
 * - saltpepper p > 0: every pixel gets E[x_i | y] under p(x) p(y | x), the
 *   channel entering as the visible bias (2 y_i - 1) ebm_denoise_evidence(p);
 * - saltpepper 0: y is the data, copied.
 * Missing pixels start at 1/2, noisy ones at y. Gibbs row r draws from
 * (seed, first + r, EBM_RNG_DENOISE_GIBBS). Two GEMMs per sweep (where
 * the time goes); no allocation. */
void ebm_denoise_rows(struct ebm_denoiser *d, const float *y, const uint8_t *mask, int B,
                      int64_t first, float *out);

/* The same for any n rows (global rows first..), in batches that make the
 * result independent of how rows are split over ranks: BLAS rounds a row
 * of a GEMM differently by the batch's row count and the row's place in
 * it, so batches cover the global rows [k B, (k + 1) B) and are always
 * full, padded with rows of zeros that are restored and dropped. */
void ebm_denoise_shard(struct ebm_denoiser *d, const float *y, const uint8_t *mask, int64_t n,
                       int64_t first, float *out);

/* Per row r of B: mse[r] = mean_i (z_ri - x_ri)^2 and wrong[r] = the
 * fraction of pixels with (z_ri > 1/2) != (x_ri > 1/2). */
void ebm_denoise_errors(const float *x, const float *z, int64_t B, int V, double *mse,
                        double *wrong);

/* 10 log10(1 / mse) in dB, the PSNR of [0, 1] signals; +inf at mse 0. */
double ebm_psnr(double mse);

#endif
