#include "ebm/chart.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/png.h"

/* 3x5 glyphs of the digits, one row per byte, bit 2 the left pixel. */
static const unsigned char font[10][5] = {
    { 7, 5, 5, 5, 7 }, { 2, 6, 2, 2, 7 }, { 7, 1, 7, 4, 7 }, { 7, 1, 7, 1, 7 },
    { 5, 5, 7, 1, 1 }, { 7, 4, 7, 1, 7 }, { 7, 4, 7, 5, 7 }, { 7, 1, 1, 1, 1 },
    { 7, 5, 7, 5, 7 }, { 7, 5, 7, 1, 7 },
};
enum { SCALE = 2, GLYPH_W = 3 * SCALE + SCALE, GLYPH_H = 5 * SCALE };

/* An image of w x h pixels, values in [0, 1]. */
struct canvas { int w, h; float *px; };

static ebm_status canvas_init(struct canvas *c, int w, int h)
{
    c->w = w;
    c->h = h;
    EBM_ALLOC(c->px, (size_t)w * h);
    return EBM_OK;
}

static void fill(struct canvas *c, int x0, int y0, int w, int h, float v)
{
    for (int y = y0 < 0 ? 0 : y0; y < y0 + h && y < c->h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x0 + w && x < c->w; x++) c->px[(size_t)y * c->w + x] = v;
}

/* The decimal number n (>= 0) with its top left corner at (x, y). */
static void number(struct canvas *c, int x, int y, int n)
{
    char digits[12];
    int len = 0;
    do { digits[len++] = (char)(n % 10); n /= 10; } while (n > 0 && len < 11);
    for (int i = len - 1; i >= 0; i--, x += GLYPH_W)
        for (int r = 0; r < 5; r++)
            for (int b = 0; b < 3; b++)
                if (font[(int)digits[i]][r] & (4 >> b)) fill(c, x + b * SCALE, y + r * SCALE, SCALE, SCALE, 1.0f);
}

static ebm_status canvas_write(struct canvas *c, const char *path)
{
    ebm_status st = ebm_png_write_tiles(path, c->px, 1, 0, 1, c->h, c->w, 1, false);
    free(c->px);
    c->px = NULL;
    return st;
}

ebm_status ebm_chart_histograms(const char *path, const double *values, const int32_t *labels,
                                int64_t n, int bins)
{
    enum { MAX_CLASSES = 64, BAR_W = 3, PANEL_H = 40, GAP = 4, MARGIN = 4 };
    int present[1000] = { 0 }, classes[MAX_CLASSES], K = 0;
    for (int64_t i = 0; labels && i < n; i++) {
        if (labels[i] < 0 || labels[i] > 999)
            return EBM_FAIL(EBM_ERR_INPUT, "%s: label %d outside 0..999 cannot be charted", path,
                            labels[i]);
        present[labels[i]] = 1;
    }
    for (int l = 0; labels && l < 1000; l++)
        if (present[l]) {
            if (K == MAX_CLASSES)
                return EBM_FAIL(EBM_ERR_INPUT, "%s: more than %d classes to chart", path,
                                MAX_CLASSES);
            classes[K++] = l;
        }
    if (!labels) K = 1;
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(values[i])) continue;
        lo = fmin(lo, values[i]);
        hi = fmax(hi, values[i]);
    }
    if (!(hi > lo)) hi = lo + 1.0; /* all equal, or none finite */
    double *count = calloc((size_t)K * bins, sizeof *count);
    if (!count) return EBM_FAIL(EBM_ERR_NOMEM, "out of memory for a chart");
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(values[i])) continue;
        int k = 0;
        while (labels && classes[k] != labels[i]) k++;
        int b = (int)((values[i] - lo) / (hi - lo) * bins);
        count[(size_t)k * bins + (b < bins ? b : bins - 1)] += 1.0;
    }
    int left = MARGIN + 3 * GLYPH_W + MARGIN;
    struct canvas c;
    ebm_status st = canvas_init(&c, left + bins * BAR_W + MARGIN,
                                MARGIN + K * (PANEL_H + GAP));
    for (int k = 0; st == EBM_OK && k < K; k++) {
        int top = MARGIN + k * (PANEL_H + GAP);
        double tallest = 0;
        for (int b = 0; b < bins; b++) tallest = fmax(tallest, count[(size_t)k * bins + b]);
        if (labels) number(&c, MARGIN, top + PANEL_H / 2 - GLYPH_H / 2, classes[k]);
        fill(&c, left, top + PANEL_H - 1, bins * BAR_W, 1, 0.35f); /* the axis */
        for (int b = 0; tallest > 0 && b < bins; b++) {
            int h = (int)lround(count[(size_t)k * bins + b] / tallest * (PANEL_H - 2));
            fill(&c, left + b * BAR_W, top + PANEL_H - 1 - h, BAR_W - 1, h, 1.0f);
        }
    }
    free(count);
    return st == EBM_OK ? canvas_write(&c, path) : st;
}

ebm_status ebm_chart_confusion(const char *path, const double *counts, int K)
{
    enum { CELL = 16, MARGIN = 4 };
    if (K < 1 || K > 100)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: %d classes: a confusion chart takes 1 to 100", path, K);
    int left = MARGIN + 2 * GLYPH_W + MARGIN, top = MARGIN + GLYPH_H + MARGIN;
    struct canvas c;
    EBM_TRY(canvas_init(&c, left + K * CELL + MARGIN, top + K * CELL + MARGIN));
    fill(&c, left - 1, top - 1, K * CELL + 1, K * CELL + 1, 0.35f); /* the grid */
    for (int t = 0; t < K; t++) {
        double row = 0;
        for (int p = 0; p < K; p++) row += counts[(size_t)t * K + p];
        number(&c, MARGIN, top + t * CELL + (CELL - GLYPH_H) / 2, t);
        for (int p = 0; p < K; p++) {
            /* a square root, so that the small off-diagonal shares show */
            float v = row > 0 ? (float)sqrt(counts[(size_t)t * K + p] / row) : 0.0f;
            fill(&c, left + p * CELL, top + t * CELL, CELL - 1, CELL - 1, v);
        }
    }
    for (int p = 0; p < K; p++) number(&c, left + p * CELL + (CELL - GLYPH_W) / 2, MARGIN, p);
    return canvas_write(&c, path);
}
