#include "ebm/anomaly.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t ebm_anomaly_scratch_floats(const struct rbm *m, int B)
{
    return (size_t)B * ((size_t)m->n_hidden + (size_t)m->n_visible);
}

void ebm_anomaly_scores(const struct rbm *m, const float *v, int B, double *fe, double *recon,
                        float *scratch)
{
    int V = m->n_visible;
    float *ph = scratch, *pv = scratch + (size_t)B * m->n_hidden;
    /* Three GEMMs per chunk (F, p(h | v), p(v | h)); the squared error
     * loop is O(B V) beside them. */
    rbm_free_energy(m, v, B, ph, fe);
    rbm_hidden_probs(m, v, B, ph);
    rbm_visible_probs(m, ph, B, pv);
    for (int r = 0; r < B; r++) {
        const float *restrict vr = v + (size_t)r * V, *restrict pr = pv + (size_t)r * V;
        double err = 0.0;
        for (int i = 0; i < V; i++) {
            double d = (double)vr[i] - pr[i];
            err += d * d;
        }
        recon[r] = err;
    }
}

/* Positives and negatives, or why the AUROC is undefined. */
static ebm_status count_classes(const double *score, const int *positive, int64_t n,
                                int64_t *n_pos)
{
    int64_t p = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(score[i]))
            return EBM_FAIL(EBM_ERR_INPUT, "AUROC: score %lld is NaN", (long long)i);
        p += positive[i] != 0;
    }
    if (p == 0 || p == n)
        return EBM_FAIL(EBM_ERR_INPUT, "AUROC is undefined: %lld rows, all %s", (long long)n,
                        p == 0 ? "negative" : "positive");
    *n_pos = p;
    return EBM_OK;
}

struct scored { double s; int pos; };

static int by_score(const void *a, const void *b)
{
    double x = ((const struct scored *)a)->s, y = ((const struct scored *)b)->s;
    return (x > y) - (x < y);
}

ebm_status ebm_anomaly_auroc(const double *score, const int *positive, int64_t n,
                             double *auroc)
{
    int64_t n_pos;
    EBM_TRY(count_classes(score, positive, n, &n_pos));
    struct scored *r;
    EBM_ALLOC(r, n);
    for (int64_t i = 0; i < n; i++) r[i] = (struct scored){ score[i], positive[i] != 0 };
    qsort(r, (size_t)n, sizeof *r, by_score);
    /* Mann & Whitney 1947: U = R_pos - n_pos (n_pos + 1) / 2, with R_pos
     * the positives' rank sum, tied runs sharing their mid-rank; then
     * AUROC = U / (n_pos n_neg) (Hanley & McNeil 1982). A run of ranks
     * a+1 .. b has mid-rank (a + 1 + b) / 2, so twice every term is an
     * integer: 2U is exact in int64 and only the division rounds. */
    int64_t twice_rank_sum = 0;
    for (int64_t a = 0; a < n;) {
        int64_t b = a + 1, pos = r[a].pos;
        while (b < n && r[b].s == r[a].s) pos += r[b++].pos;
        twice_rank_sum += pos * (a + 1 + b);
        a = b;
    }
    free(r);
    int64_t n_neg = n - n_pos, twice_u = twice_rank_sum - n_pos * (n_pos + 1);
    *auroc = (double)twice_u / (2.0 * (double)n_pos * (double)n_neg);
    return EBM_OK;
}

ebm_status ebm_anomaly_auroc_ref(const double *score, const int *positive, int64_t n,
                                 double *auroc)
{
    int64_t n_pos;
    EBM_TRY(count_classes(score, positive, n, &n_pos));
    int64_t twice_wins = 0; /* 2 per pair the positive wins, 1 per tie */
    for (int64_t i = 0; i < n; i++) {
        if (!positive[i]) continue;
        for (int64_t j = 0; j < n; j++)
            if (!positive[j]) twice_wins += score[i] > score[j] ? 2 : score[i] == score[j];
    }
    *auroc = (double)twice_wins / (2.0 * (double)n_pos * (double)(n - n_pos));
    return EBM_OK;
}

static ebm_status check_percentile_args(const double *ref, int64_t n_ref, const double *x,
                                        int64_t n)
{
    if (n_ref <= 0) return EBM_FAIL(EBM_ERR_INPUT, "percentile: no reference scores");
    for (int64_t k = 0; k < n_ref; k++)
        if (isnan(ref[k]))
            return EBM_FAIL(EBM_ERR_INPUT, "percentile: reference score %lld is NaN",
                            (long long)k);
    for (int64_t i = 0; i < n; i++)
        if (isnan(x[i]))
            return EBM_FAIL(EBM_ERR_INPUT, "percentile: score %lld is NaN", (long long)i);
    return EBM_OK;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

ebm_status ebm_anomaly_percentile(const double *ref, int64_t n_ref, const double *x, int64_t n,
                                  double *out)
{
    EBM_TRY(check_percentile_args(ref, n_ref, x, n));
    double *sorted;
    EBM_ALLOC(sorted, n_ref);
    memcpy(sorted, ref, sizeof *sorted * (size_t)n_ref);
    qsort(sorted, (size_t)n_ref, sizeof *sorted, by_value);
    for (int64_t i = 0; i < n; i++) {
        /* Lower bound: the first k with sorted[k] >= x[i] counts those below. */
        int64_t lo = 0, hi = n_ref;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (sorted[mid] < x[i]) lo = mid + 1;
            else hi = mid;
        }
        out[i] = 100.0 * (double)lo / (double)n_ref;
    }
    free(sorted);
    return EBM_OK;
}

ebm_status ebm_anomaly_percentile_ref(const double *ref, int64_t n_ref, const double *x,
                                      int64_t n, double *out)
{
    EBM_TRY(check_percentile_args(ref, n_ref, x, n));
    for (int64_t i = 0; i < n; i++) {
        int64_t below = 0;
        for (int64_t k = 0; k < n_ref; k++) below += ref[k] < x[i];
        out[i] = 100.0 * (double)below / (double)n_ref;
    }
    return EBM_OK;
}
