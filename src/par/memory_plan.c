/* Per-rank memory of a training layout (ebm/memory_plan.h). */
#include "ebm/memory_plan.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { FLOAT = 4, WORD = 8 };

double ebm_memory_plan_total(const struct ebm_memory_plan *p)
{
    return p->parameters + p->gradients + p->optimizer + p->chains + p->batch + p->data;
}

/* Mirrors the trainer's allocations (src/learn/trainer.c alloc_buffers and
 * the dataset shards); test_trainer holds the two together. */
void ebm_memory_plan_data(struct ebm_memory_plan *p, const struct ebm_rbm_shape *s)
{
    double V = (double)s->V, H = (double)s->H, B = (double)s->B, C = (double)s->C;
    double block = V * H + V + H + (s->gaussian ? V : 0);
    p->parameters = FLOAT * block;
    p->gradients = FLOAT * (block + H + 1); /* + the hidden means and the stop flag */
    p->optimizer = FLOAT * (block + (s->centering ? V + H : 0));
    p->chains = FLOAT * (2 * C * V + 2 * C * H + (s->gaussian ? C * V : 0));
    p->batch = FLOAT * (2 * B * V + B * H + (s->gaussian ? B * V + 128 * V : 0)) + WORD * B +
               WORD * (double)(s->rows > 0 ? s->rows : 1);
    p->data = FLOAT * V * (double)(s->rows + s->valid_rows) +
              FLOAT * (s->standardize ? 2 * V : 0) +
              FLOAT * (s->eval_every ? V * (double)s->valid_rows : 0);
}

/* Rows (or columns) of n in blocks of b that grid position 0 of p holds:
 * ScaLAPACK's numroc for the first process, the one with the most. */
static double share0(int64_t n, int b, int p)
{
    int64_t blocks = n / b, rows = blocks / p * b, extra = blocks % p;
    return (double)(rows + (extra > 0 ? b : n % b));
}

void ebm_memory_plan_grid(struct ebm_memory_plan *p, const struct ebm_rbm_shape *s, int pr,
                          int pc, int block)
{
    double V = (double)s->V, H = (double)s->H, B = (double)s->B;
    double lv = share0(s->V, block, pc), lh = share0(s->H, block, pc);
    /* a local array has at least one row (ScaLAPACK's leading dimension) */
    double wrows = fmax(1, share0(s->V, block, pr)), brows = share0(s->B, block, pr);
    double nrows = share0(s->C, block, pr), bias = V + H;
    double W = wrows * lh;
    p->parameters = FLOAT * (W + bias);
    p->gradients = FLOAT * (W + bias + 1); /* + the stop flag */
    p->optimizer = FLOAT * (W + bias);
    /* the negative phase [C, V], [C, H] x 2, plus the full rows a
     * checkpoint gathers for PCD chains */
    double negative = fmax(1, nrows) * (lv + 2 * lh);
    p->chains = s->persistent ? FLOAT * (negative + (double)s->C * V) : 0;
    p->batch = FLOAT * (fmax(1, brows) * (2 * lv + lh) + (s->persistent ? 0 : negative) +
                        block + fmax(1, fmax(brows, nrows)) + B * V + V) +
               WORD * (B + 1) + WORD * (double)(s->rows > 0 ? s->rows : 1);
    p->data = FLOAT * V * (double)(s->rows + s->valid_rows);
}

int ebm_memory_plan_suggest(const struct ebm_rbm_shape *s, int64_t rows_total, int P, int block,
                            double cap, int *pr, int *pc)
{
    for (int per = 1; per <= P; per++) {
        if (P % per) continue;
        struct ebm_rbm_shape r = *s;
        int replicas = P / per;
        r.rows = (rows_total + replicas - 1) / replicas;
        /* the factorisations of per, squarest first */
        for (int gap = 0; gap < per; gap++)
            for (int a = 1; a <= per; a++) {
                if (per % a || abs(a - per / a) != gap) continue;
                struct ebm_memory_plan m;
                if (per == 1) ebm_memory_plan_data(&m, &r);
                else ebm_memory_plan_grid(&m, &r, a, per / a, block);
                if (ebm_memory_plan_total(&m) <= cap) {
                    *pr = a;
                    *pc = per / a;
                    return 1;
                }
            }
    }
    return 0;
}

ebm_status ebm_parse_bytes(const char *text, double *bytes)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    int digits = end != text;
    double unit = 1;
    switch (*end) {
    case 'K': unit = 1024.0; end++; break;
    case 'M': unit = 1048576.0; end++; break;
    case 'G': unit = 1073741824.0; end++; break;
    case 'T': unit = 1099511627776.0; end++; break;
    default: break;
    }
    if (!digits || *end || errno || !isfinite(v) || v < 0)
        return EBM_FAIL(EBM_ERR_INPUT, "'%s': expected a size in bytes, e.g. 2G, 512M, 64K or "
                        "1500000 (0 for no limit)", text);
    *bytes = v * unit;
    return EBM_OK;
}

void ebm_format_bytes(double bytes, char *buf, size_t len)
{
    static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        u++;
    }
    if (u == 0) snprintf(buf, len, "%.0f B", bytes);
    else snprintf(buf, len, "%.*f %s", bytes < 10 ? 2 : 1, bytes, units[u]);
}
