/* Small grayscale charts as PNG files (through ebm_png_write_tiles), for the
 * commands whose results a person would rather look at than read: score
 * histograms by class and confusion matrices. Digits 0-9 are drawn with a
 * built-in 3x5 pixel font, so no plotting tool is needed. */
#ifndef EBM_CHART_H
#define EBM_CHART_H

#include <stdint.h>

#include "ebm/error.h"

/* One histogram panel per class, stacked top to bottom in class order and
 * labelled with the class number: values (n) binned into `bins` equal bins
 * over [min, max] of all values, each panel's bars scaled to its own
 * tallest. labels (n) may be NULL (one panel, unlabelled); classes are the
 * distinct labels in [0, 999], at most 64. White bars on black. */
ebm_status ebm_chart_histograms(const char *path, const double *values, const int32_t *labels,
                                int64_t n, int bins);

/* A K x K confusion matrix (counts[true * K + predicted]) as a heat map:
 * each cell's brightness is its share of the true class's row, rows top to
 * bottom and columns left to right in class order, numbered along the top
 * and left edges. K <= 100. */
ebm_status ebm_chart_confusion(const char *path, const double *counts, int K);

#endif
