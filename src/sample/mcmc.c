/* Metropolis-Hastings, Langevin and MALA chains over a target's (free) energy.
 * Where the time goes: one batched target evaluation per step (GEMMs over the
 * block: B x D x H for the RBMs here); the per-row work (normals, the accept
 * test, the O(H) flip updates) is O(B D). For binary states the flip caches
 * are rebuilt by one GEMM at the start of every sweep, which costs about as
 * much as the sweep's D incremental updates and keeps the float caches from
 * drifting, and makes a chain's path independent of how steps are split
 * into calls. Every draw of row r comes from row r's own stream in a fixed
 * order, so a chain's path is a function of (seed, global chain index). */
#include "ebm/mcmc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/kernels.h"

/* ---- Bernoulli-Bernoulli RBM target: the O(H) flip form ------------------ */

static void rbm_energy_cb(const void *ctx, const float *x, int B, float *scratch, double *F)
{
    rbm_free_energy(ctx, x, B, scratch, F);
}

/* cache (B, H) = c + xW. */
static void rbm_cache_init(const void *ctx, const float *x, int B, float *cache)
{
    const struct rbm *m = ctx;
    int V = m->n_visible, H = m->n_hidden;
    ebm_gemm(false, false, B, H, V, 1.0f, x, V, m->W, H, 0.0f, cache, H);
    for (int r = 0; r < B; r++)
        for (int j = 0; j < H; j++) cache[(size_t)r * H + j] += m->hbias[j];
}

static double rbm_flip_delta(const void *ctx, const float *x, const float *y, int i)
{
    const struct rbm *m = ctx;
    int H = m->n_hidden;
    float d = x[i] != 0.0f ? -1.0f : 1.0f; /* the change of v_i */
    return -(double)m->vbias[i] * d - ebm_softplus_shift_diff(y, m->W + (size_t)i * H, d, H);
}

static void rbm_flip_update(const void *ctx, const float *x, float *y, int i)
{
    const struct rbm *m = ctx;
    int H = m->n_hidden;
    float d = x[i] != 0.0f ? 1.0f : -1.0f; /* x is already flipped */
    const float *w = m->W + (size_t)i * H;
    for (int j = 0; j < H; j++) y[j] += d * w[j];
}

/* ---- RBMs with other unit types ------------------------------------------ */

/* F of B rows through the unit types (rbm_free_energy); scratch (B, H). */
static void typed_energy_cb(const void *ctx, const float *x, int B, float *scratch, double *F)
{
    rbm_free_energy(ctx, x, B, scratch, F);
}

/* Gaussian visible units: F(v) = E_v(v) - log_partition_h(s(v)W + c), and
 *   grad F = (v - b) / sigma^2 - (W E[h | v]) / sigma^2
 * (d/dv of the hidden log-partition is E[h | v] through s(v) = v / sigma^2).
 * scratch (B, H) holds the hidden input, then its mean. */
static void gaussian_energy_grad_cb(const void *ctx, const float *x, int B, float *scratch,
                                    double *F, float *grad)
{
    const struct rbm *m = ctx;
    int V = m->n_visible, H = m->n_hidden;
    rbm_hidden_input(m, x, B, scratch);
    ebm_units_free_energy(&m->vis, x, m->vbias, &m->hid, scratch, m->hbias, B, F);
    ebm_units_mean(&m->hid, scratch, m->hbias, B);
    ebm_gemm(false, true, B, V, H, 1.0f, scratch, H, m->W, H, 0.0f, grad, V);
    for (int i = 0; i < V; i++) {
        double inv_var = exp(-2.0 * (double)m->log_sigma[i]);
        for (int r = 0; r < B; r++) {
            size_t e = (size_t)r * V + i;
            grad[e] = (float)(((double)x[e] - m->vbias[i] - grad[e]) * inv_var);
        }
    }
}

ebm_status ebm_target_rbm(const struct rbm *m, struct ebm_target *out)
{
    memset(out, 0, sizeof *out);
    if (!m || m->n_visible <= 0 || m->n_hidden <= 0 || !m->W)
        return EBM_FAIL(EBM_ERR_INPUT, "RBM target: the model has no parameters");
    out->dim = m->n_visible;
    out->ctx = m;
    out->scratch_per_row = (size_t)m->n_hidden;
    if (rbm_is_binary(m)) {
        out->kind = EBM_STATE_BINARY;
        out->energy = rbm_energy_cb;
        out->cache_dim = m->n_hidden;
        out->cache_init = rbm_cache_init;
        out->flip_delta = rbm_flip_delta;
        out->flip_update = rbm_flip_update;
        return EBM_OK;
    }
    out->energy = typed_energy_cb;
    if (m->vis.type == EBM_UNIT_GAUSSIAN) {
        if (!m->coupling)
            return EBM_FAIL(EBM_ERR_INPUT, "RBM target: a Gaussian model view cannot compute "
                            "(rbm.h)");
        out->kind = EBM_STATE_REAL;
        out->energy_grad = gaussian_energy_grad_cb;
    } else {
        /* Spins, or {0,1} units over spin hidden units: each flip is
         * scored by a fresh free energy (no O(H) flip form). */
        out->kind = m->vis.type == EBM_UNIT_SPIN ? EBM_STATE_SPIN : EBM_STATE_BINARY;
    }
    return EBM_OK;
}

/* ---- Fully visible BM ---------------------------------------------------- */

static void bm_energy_cb(const void *ctx, const float *x, int B, float *scratch, double *F)
{
    (void)scratch;
    bm_energy(ctx, x, B, F);
}

ebm_status ebm_target_bm(const struct bm *m, struct ebm_target *out)
{
    memset(out, 0, sizeof *out);
    if (!m || m->n_units <= 0 || !m->W)
        return EBM_FAIL(EBM_ERR_INPUT, "BM target: the model has no parameters");
    out->dim = m->n_units;
    out->kind = m->spin ? EBM_STATE_SPIN : EBM_STATE_BINARY;
    out->ctx = m;
    out->energy = bm_energy_cb;
    return EBM_OK;
}

/* ---- Sampler ------------------------------------------------------------ */

const char *ebm_mcmc_kind_name(enum ebm_mcmc_kind kind)
{
    switch (kind) {
    case EBM_MCMC_MH: return "mh";
    case EBM_MCMC_LANGEVIN: return "langevin";
    case EBM_MCMC_MALA: return "mala";
    }
    return "unknown";
}

ebm_status ebm_mcmc_kind_parse(const char *name, enum ebm_mcmc_kind *out)
{
    if (name && strcmp(name, "mh") == 0) *out = EBM_MCMC_MH;
    else if (name && (strcmp(name, "langevin") == 0 || strcmp(name, "ula") == 0))
        *out = EBM_MCMC_LANGEVIN;
    else if (name && strcmp(name, "mala") == 0) *out = EBM_MCMC_MALA;
    else
        return EBM_FAIL(EBM_ERR_INPUT, "sampler '%s' is none of mh, langevin, mala",
                        name ? name : "(null)");
    return EBM_OK;
}

static ebm_status check(const struct ebm_target *t, const struct ebm_mcmc_opts *o, int rows,
                        int64_t first_chain)
{
    if (!t || t->dim <= 0 || !t->energy ||
        (t->kind != EBM_STATE_BINARY && t->kind != EBM_STATE_SPIN && t->kind != EBM_STATE_REAL))
        return EBM_FAIL(EBM_ERR_INPUT, "MCMC: the target needs a dimension, a state kind "
                        "and an energy");
    const char *name = ebm_mcmc_kind_name(o->kind);
    if (o->kind != EBM_MCMC_MH && o->kind != EBM_MCMC_LANGEVIN && o->kind != EBM_MCMC_MALA)
        return EBM_FAIL(EBM_ERR_INPUT, "MCMC: unknown sampler kind %d", (int)o->kind);
    if (o->kind != EBM_MCMC_MH && t->kind != EBM_STATE_REAL)
        return EBM_FAIL(EBM_ERR_INPUT, "MCMC: %s needs continuous (real) states; this "
                        "target's states are discrete (use mh or gibbs)", name);
    if (o->kind != EBM_MCMC_MH && !t->energy_grad)
        return EBM_FAIL(EBM_ERR_INPUT, "MCMC: %s needs the energy's gradient, which this "
                        "target does not provide", name);
    if (t->kind == EBM_STATE_REAL && !(o->step > 0.0 && isfinite(o->step)))
        return EBM_FAIL(EBM_ERR_INPUT, "MCMC: %s step size %g is not a positive number",
                        name, o->step);
    if (t->kind != EBM_STATE_REAL && o->scan != EBM_SCAN_RANDOM &&
        o->scan != EBM_SCAN_SYSTEMATIC)
        return EBM_FAIL(EBM_ERR_INPUT, "MCMC: unknown scan order %d", (int)o->scan);
    int any = t->flip_delta || t->flip_update || t->cache_init;
    int all = t->flip_delta && t->flip_update && t->cache_init && t->cache_dim > 0;
    if (t->kind != EBM_STATE_REAL && any && !all)
        return EBM_FAIL(EBM_ERR_INPUT, "MCMC: the target's flip form needs cache_dim, "
                        "cache_init, flip_delta and flip_update together");
    if (rows < 0)
        return EBM_FAIL(EBM_ERR_INPUT, "MCMC: %d chains", rows);
    /* The chain index becomes the stream's 32-bit substream word; beyond it
     * two chains would share a stream. */
    if (first_chain < 0 || first_chain + rows > ((int64_t)1 << 32))
        return EBM_FAIL(EBM_ERR_INPUT, "MCMC: chains %lld..%lld are outside 0..2^32-1",
                        (long long)first_chain, (long long)(first_chain + rows - 1));
    return EBM_OK;
}

ebm_status ebm_mcmc_init(struct ebm_mcmc *s, const struct ebm_target *t,
                         const struct ebm_mcmc_opts *opts, int rows, int64_t first_chain,
                         uint64_t seed)
{
    memset(s, 0, sizeof *s);
    EBM_TRY(check(t, opts, rows, first_chain));
    s->target = *t;
    s->opts = *opts;
    s->rows = rows;
    s->first_chain = first_chain;
    size_t B = (size_t)rows, D = (size_t)t->dim;
    int flips = t->kind != EBM_STATE_REAL && t->flip_delta;
    int real = t->kind == EBM_STATE_REAL;
    int grads = opts->kind != EBM_MCMC_MH;
    size_t K = flips ? (size_t)t->cache_dim : 0;
    /* Only the buffers this sampler uses: prop | grad | grad_prop | eps |
     * cache | scratch, in one block. */
    size_t nf = (real ? B * D : 0) + (grads ? 2 * B * D : 0) + D + B * K +
                B * t->scratch_per_row;
    float *f = calloc(nf + 1, sizeof *f);
    s->energy = calloc(2 * B + 1, sizeof *s->energy);
    s->unit = calloc(B + 1, sizeof *s->unit);
    s->accepted = calloc(B + 1, sizeof *s->accepted);
    s->rng = calloc(B + 1, sizeof *s->rng);
    if (!f || !s->energy || !s->unit || !s->accepted || !s->rng) {
        free(f);
        ebm_mcmc_free(s);
        return EBM_FAIL(EBM_ERR_NOMEM, "MCMC: out of memory for %d chains of %d units",
                        rows, t->dim);
    }
    s->F_prop = s->energy + B;
    s->block = f;
    float *p = f;
    if (real) { s->prop = p; p += B * D; }
    if (grads) { s->grad = p; p += B * D; s->grad_prop = p; p += B * D; }
    s->eps = p; p += D;
    if (K) { s->cache = p; p += B * K; }
    s->scratch = p;
    for (int r = 0; r < rows; r++)
        ebm_rng_init(&s->rng[r], seed, (uint32_t)(first_chain + r), EBM_RNG_MCMC);
    return EBM_OK;
}

void ebm_mcmc_free(struct ebm_mcmc *s)
{
    if (!s) return;
    free(s->block);
    free(s->energy);
    free(s->unit);
    free(s->accepted);
    free(s->rng);
    memset(s, 0, sizeof *s);
}

void ebm_mcmc_random_init(struct ebm_mcmc *s, float *x)
{
    size_t D = (size_t)s->target.dim;
    if (s->target.kind != EBM_STATE_REAL) {
        for (size_t i = 0; i < D; i++) s->eps[i] = 0.5f;
        for (int r = 0; r < s->rows; r++) ebm_bernoulli(s->eps, x + r * D, D, &s->rng[r]);
        if (s->target.kind == EBM_STATE_SPIN)
            for (size_t e = 0; e < (size_t)s->rows * D; e++) x[e] = 2.0f * x[e] - 1.0f;
    } else {
        for (int r = 0; r < s->rows; r++) ebm_rng_normal(&s->rng[r], x + r * D, D);
    }
}

/* The other state of a discrete unit: 1 - x for {0,1}, -x for spins. */
static float flipped(enum ebm_state_kind kind, float x)
{
    return kind == EBM_STATE_SPIN ? -x : 1.0f - x;
}

/* min(1, exp(-dE)); a NaN energy change is never accepted. */
static double accept_prob(double dE)
{
    if (dE <= 0.0) return 1.0;
    return dE > 0.0 ? exp(-dE) : 0.0;
}

static float uniform(struct ebm_rng *rng)
{
    float u;
    ebm_rng_uniform(rng, &u, 1);
    return u;
}

/* One sweep of D single-unit flip proposals per chain (binary states). */
static void mh_flip_sweep(struct ebm_mcmc *s, float *x, struct ebm_mcmc_counts *c)
{
    const struct ebm_target *t = &s->target;
    int B = s->rows, D = t->dim;
    size_t K = (size_t)t->cache_dim;
    int flips = t->flip_delta != NULL, systematic = s->opts.scan == EBM_SCAN_SYSTEMATIC;
    if (flips) t->cache_init(t->ctx, x, B, s->cache);
    for (int k = 0; k < D; k++) {
        for (int r = 0; r < B; r++)
            s->unit[r] = systematic ? k : (int)ebm_rng_below(&s->rng[r], (uint32_t)D);
        if (!flips) {
            /* x itself holds the proposals; rejected flips are undone below. */
            for (int r = 0; r < B; r++) {
                float *v = x + (size_t)r * D + s->unit[r];
                *v = flipped(t->kind, *v);
            }
            t->energy(t->ctx, x, B, s->scratch, s->F_prop);
        }
        for (int r = 0; r < B; r++) {
            float *xr = x + (size_t)r * D;
            int j = s->unit[r];
            double dE = flips ? t->flip_delta(t->ctx, xr, s->cache + r * K, j)
                              : s->F_prop[r] - s->energy[r];
            double a = accept_prob(dE);
            int ok = uniform(&s->rng[r]) < a;
            c->sum_alpha += a;
            if (ok) {
                s->accepted[r]++;
                c->accepted++;
                if (flips) {
                    xr[j] = flipped(t->kind, xr[j]);
                    t->flip_update(t->ctx, xr, s->cache + r * K, j);
                    s->energy[r] += dE;
                } else {
                    s->energy[r] = s->F_prop[r];
                }
            } else if (!flips) {
                xr[j] = flipped(t->kind, xr[j]);
            }
        }
    }
    c->proposed += (int64_t)B * D;
    s->proposed += D;
}

/* Gaussian random-walk MH, one proposal x' = x + step * eps per chain. */
static void mh_walk_step(struct ebm_mcmc *s, float *x, struct ebm_mcmc_counts *c)
{
    const struct ebm_target *t = &s->target;
    int B = s->rows;
    size_t D = (size_t)t->dim;
    float sd = (float)s->opts.step;
    for (int r = 0; r < B; r++) {
        ebm_rng_normal(&s->rng[r], s->eps, D);
        const float *xr = x + r * D;
        float *yr = s->prop + r * D;
        for (size_t i = 0; i < D; i++) yr[i] = xr[i] + sd * s->eps[i];
    }
    t->energy(t->ctx, s->prop, B, s->scratch, s->F_prop);
    for (int r = 0; r < B; r++) {
        double a = accept_prob(s->F_prop[r] - s->energy[r]);
        c->sum_alpha += a;
        if (uniform(&s->rng[r]) < a) {
            memcpy(x + r * D, s->prop + r * D, D * sizeof *x);
            s->energy[r] = s->F_prop[r];
            s->accepted[r]++;
            c->accepted++;
        }
    }
    c->proposed += B;
    s->proposed++;
}

/* One Langevin move per chain, y = x - l grad F(x) + sqrt(2 l) eps, kept
 * (ULA) or accepted with min(1, a) (MALA; Roberts & Tweedie 1996):
 *   log a = F(x) - F(y) + log q(x | y) - log q(y | x),
 *   log q(y | x) = -|y - x + l grad F(x)|^2 / (4 l) + const. */
static void langevin_step(struct ebm_mcmc *s, float *x, struct ebm_mcmc_counts *c)
{
    const struct ebm_target *t = &s->target;
    int B = s->rows, mala = s->opts.kind == EBM_MCMC_MALA;
    size_t D = (size_t)t->dim;
    double lam = s->opts.step;
    float fl = (float)lam, noise = (float)sqrt(2.0 * lam);
    for (int r = 0; r < B; r++) {
        ebm_rng_normal(&s->rng[r], s->eps, D);
        const float *xr = x + r * D, *gr = s->grad + r * D;
        float *yr = s->prop + r * D;
        for (size_t i = 0; i < D; i++) yr[i] = xr[i] - fl * gr[i] + noise * s->eps[i];
    }
    t->energy_grad(t->ctx, s->prop, B, s->scratch, s->F_prop, s->grad_prop);
    for (int r = 0; r < B; r++) {
        float *xr = x + r * D, *gx = s->grad + r * D;
        const float *yr = s->prop + r * D, *gy = s->grad_prop + r * D;
        /* Both proposal densities from the float vectors actually used. */
        double fwd = 0.0, rev = 0.0;
        for (size_t i = 0; i < D; i++) {
            double df = (double)yr[i] - xr[i] + lam * gx[i];
            double dr = (double)xr[i] - yr[i] + lam * gy[i];
            fwd += df * df;
            rev += dr * dr;
        }
        double a = accept_prob(s->F_prop[r] - s->energy[r] + (rev - fwd) / (4.0 * lam));
        c->sum_alpha += a;
        if (!mala || uniform(&s->rng[r]) < a) {
            memcpy(xr, yr, D * sizeof *xr);
            memcpy(gx, gy, D * sizeof *gx);
            s->energy[r] = s->F_prop[r];
            s->accepted[r]++;
            c->accepted++;
        }
    }
    c->proposed += B;
    s->proposed++;
}

void ebm_mcmc_run_trace(struct ebm_mcmc *s, float *x, int steps, int thin, double *trace,
                        int ld, struct ebm_mcmc_counts *counts)
{
    EBM_ASSERT(!trace || (thin > 0 && ld >= steps / thin));
    struct ebm_mcmc_counts c = { 0, 0, 0.0 };
    const struct ebm_target *t = &s->target;
    int B = s->rows;
    if (B > 0) { /* a rank without chains; BLAS wants lda >= 1 rows anyway */
        if (s->grad) t->energy_grad(t->ctx, x, B, s->scratch, s->energy, s->grad);
        else t->energy(t->ctx, x, B, s->scratch, s->energy);
        for (int k = 0; k < steps; k++) {
            if (t->kind != EBM_STATE_REAL) mh_flip_sweep(s, x, &c);
            else if (s->opts.kind == EBM_MCMC_MH) mh_walk_step(s, x, &c);
            else langevin_step(s, x, &c);
            s->sweep++;
            if (trace && (k + 1) % thin == 0)
                for (int r = 0; r < B; r++)
                    trace[(size_t)r * ld + (k + 1) / thin - 1] = s->energy[r];
        }
    }
    if (counts) *counts = c;
}

void ebm_mcmc_run(struct ebm_mcmc *s, float *x, int steps, struct ebm_mcmc_counts *counts)
{
    ebm_mcmc_run_trace(s, x, steps, 1, NULL, 0, counts);
}
