#include "ebm/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void ebm_rng_init(struct ebm_rng *rng, uint64_t seed, uint32_t substream, uint32_t purpose)
{
    rng->key[0] = (uint32_t)seed;
    rng->key[1] = (uint32_t)(seed >> 32);
    rng->stream[0] = substream;
    rng->stream[1] = purpose;
    rng->block = 0;
}

void ebm_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static void next_block(struct ebm_rng *rng, uint32_t out[4])
{
    uint32_t ctr[4] = { (uint32_t)rng->block, (uint32_t)(rng->block >> 32),
                        rng->stream[0], rng->stream[1] };
    ebm_philox4x32(rng->key, ctr, out);
    rng->block++;
}

static inline float u32_to_unit(uint32_t x)
{
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

void ebm_rng_uniform(struct ebm_rng *rng, float *out, size_t n)
{
    uint32_t r[4];
    for (size_t i = 0; i < n; i += 4) {
        next_block(rng, r);
        for (size_t j = 0; j < 4 && i + j < n; j++)
            out[i + j] = u32_to_unit(r[j]);
    }
}

void ebm_rng_uniform_at(uint64_t seed, uint32_t substream, uint32_t purpose, uint64_t block0,
                        int64_t first, size_t n, float *out)
{
    struct ebm_rng rng;
    ebm_rng_init(&rng, seed, substream, purpose);
    uint32_t r[4];
    for (size_t i = 0; i < n;) {
        int64_t unit = first + (int64_t)i;
        rng.block = block0 + (uint64_t)(unit / 4);
        next_block(&rng, r);
        for (int64_t j = unit % 4; j < 4 && i < n; j++) out[i++] = u32_to_unit(r[j]);
    }
}

void ebm_rng_keyed_uniform(uint64_t seed, uint32_t purpose, uint32_t row, uint32_t draw,
                           int64_t first, size_t n, float *out)
{
    ebm_rng_uniform_at(seed, row, purpose, (uint64_t)draw << 32, first, n, out);
}

void ebm_rng_row(const struct ebm_rng_rows *k, int64_t r, struct ebm_rng *out)
{
    ebm_rng_init(out, k->seed, k->first_row + (uint32_t)r, k->purpose);
    out->block = (uint64_t)k->draw << 32;
}

/* Box-Muller on one block: the pair of normals it makes. */
static void normal_pair(const uint32_t r[4], float out[2])
{
    /* 53-bit uniforms in (0, 1]: log() never sees zero. */
    double u1 = ((double)(((uint64_t)r[0] << 21) ^ r[1]) + 1.0) / 9007199254740992.0;
    double u2 = ((double)(((uint64_t)r[2] << 21) ^ r[3])) / 9007199254740992.0;
    double radius = sqrt(-2.0 * log(u1));
    out[0] = (float)(radius * cos(2.0 * M_PI * u2));
    out[1] = (float)(radius * sin(2.0 * M_PI * u2));
}

void ebm_rng_normal(struct ebm_rng *rng, float *out, size_t n)
{
    uint32_t r[4];
    float pair[2];
    for (size_t i = 0; i < n; i += 2) {
        next_block(rng, r);
        normal_pair(r, pair);
        out[i] = pair[0];
        if (i + 1 < n) out[i + 1] = pair[1];
    }
}

void ebm_rng_normal_at(uint64_t seed, uint32_t substream, uint32_t purpose, int64_t first,
                       size_t n, float *out)
{
    struct ebm_rng rng;
    ebm_rng_init(&rng, seed, substream, purpose);
    uint32_t r[4];
    float pair[2];
    for (size_t i = 0; i < n;) {
        int64_t at = first + (int64_t)i;
        rng.block = (uint64_t)(at / 2);
        next_block(&rng, r);
        normal_pair(r, pair);
        for (int64_t j = at % 2; j < 2 && i < n; j++) out[i++] = pair[j];
    }
}

uint32_t ebm_rng_below(struct ebm_rng *rng, uint32_t bound)
{
    /* Rejection keeps the result exactly uniform. */
    uint32_t limit = (uint32_t)(-bound) % bound; /* 2^32 mod bound */
    uint32_t r[4];
    for (;;) {
        next_block(rng, r);
        for (int j = 0; j < 4; j++)
            if (r[j] >= limit)
                return r[j] % bound;
    }
}

void ebm_rng_shuffle(struct ebm_rng *rng, int64_t *idx, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ebm_rng_below(rng, (uint32_t)(i + 1));
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
