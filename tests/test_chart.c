/* Charts (src/io/chart.c): written PNGs read back with libpng's simplified
 * API. The geometry below is the chart code's: a 1-pixel border from the
 * tile writer around everything; confusion cells of 16 pixels from
 * (24, 18); histogram panels 40 pixels high, 44 apart from y = 4, bars 3
 * pixels wide from x = 32. */
#include "testutil.h"

#include "pngread.h"

#include "ebm/chart.h"

/* Chart pixel (x, y), past the tile writer's border. */
static unsigned px(const struct image *img, unsigned x, unsigned y)
{
    return img->px[(y + 1) * img->w + x + 1];
}

static void test_chart_confusion_cells_show_row_shares(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/confusion.png", test_tmpdir());
    enum { K = 3 };
    const double counts[K * K] = { 90, 10, 0,   0, 100, 0,   25, 25, 50 };
    assert_int_equal(ebm_chart_confusion(path, counts, K), EBM_OK);
    struct image img;
    read_png(path, &img);
    assert_int_equal(img.w, 24 + K * 16 + 4 + 2);
    assert_int_equal(img.h, 18 + K * 16 + 4 + 2);
    for (int t = 0; t < K; t++) {
        double row = counts[t * K] + counts[t * K + 1] + counts[t * K + 2];
        for (int p = 0; p < K; p++) {
            /* brightness sqrt(share), 8 bits: one level of rounding */
            double want = 255.0 * sqrt(counts[t * K + p] / row);
            unsigned got = px(&img, 24 + p * 16 + 7, 18 + t * 16 + 7);
            assert_true(fabs((double)got - want) <= 1.0);
        }
    }
    free(img.px);
    assert_int_equal(ebm_chart_confusion(path, counts, 0), EBM_ERR_INPUT);
    ebm_error_clear();
}

/* Class 0's values sit in the lowest bin, class 7's in the highest: each
 * panel has a bar at its own end and none at the other. */
static void test_chart_histograms_panel_per_class(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/hist.png", test_tmpdir());
    enum { N = 40, BINS = 10 };
    double v[N];
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % 2 ? 7 : 0;
        v[i] = i % 2 ? 10.0 + 0.01 * i : -5.0 - 0.01 * i;
    }
    assert_int_equal(ebm_chart_histograms(path, v, y, N, BINS), EBM_OK);
    struct image img;
    read_png(path, &img);
    assert_int_equal(img.w, 32 + BINS * 3 + 4 + 2);
    assert_int_equal(img.h, 4 + 2 * 44 + 2);
    for (int k = 0; k < 2; k++) {
        unsigned mid = 4 + k * 44 + 20; /* halfway up the panel */
        unsigned first = px(&img, 32, mid), last = px(&img, 32 + (BINS - 1) * 3, mid);
        assert_int_equal(first, k == 0 ? 255 : 0);
        assert_int_equal(last, k == 0 ? 0 : 255);
    }
    free(img.px);
    /* Without labels: one panel. */
    assert_int_equal(ebm_chart_histograms(path, v, NULL, N, BINS), EBM_OK);
    read_png(path, &img);
    assert_int_equal(img.h, 4 + 44 + 2);
    free(img.px);
    y[0] = 1000;
    assert_int_equal(ebm_chart_histograms(path, v, y, N, BINS), EBM_ERR_INPUT);
    assert_non_null(strstr(ebm_error_message(), "label 1000"));
    ebm_error_clear();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_chart_confusion_cells_show_row_shares),
    cmocka_unit_test(test_chart_histograms_panel_per_class),
};

EBM_TEST_MAIN(tests)
