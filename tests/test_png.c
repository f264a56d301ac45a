/* PNG tiles: written images are read back with libpng's simplified API. */
#include "testutil.h"

#include "pngread.h"

#include "ebm/png.h"

static unsigned px(const struct image *img, unsigned x, unsigned y)
{
    return img->px[y * img->w + x];
}

static char *path_in_tmp(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    return path;
}

/* 3 tiles of 2x3 in 2 columns: 2x2 grid, the last cell empty.
 * Width 2*(3+1)+1 = 9, height 2*(2+1)+1 = 7. */
static void test_png_intensities_clipped(void **state)
{
    const float tiles[3 * 6] = {
        0.0f, 0.5f, 1.0f,   -0.5f, 1.5f, 0.25f, /* tile 0 */
        1.0f, 1.0f, 1.0f,    1.0f, 1.0f, 1.0f,  /* tile 1 */
        0.0f, 0.0f, 0.0f,    0.0f, 0.0f, NAN,   /* tile 2 */
    };
    const char *path = path_in_tmp("clip.png");
    ebm_error_clear();
    assert_int_equal(ebm_png_write_tiles(path, tiles, 3, 6, 1, 2, 3, 2, false), EBM_OK);
    struct image img;
    read_png(path, &img);
    assert_int_equal(img.w, 9);
    assert_int_equal(img.h, 7);
    /* tile 0 starts at (1,1) */
    assert_int_equal(px(&img, 1, 1), 0);
    assert_int_equal(px(&img, 2, 1), 128);   /* 0.5 * 255 rounded */
    assert_int_equal(px(&img, 3, 1), 255);
    assert_int_equal(px(&img, 1, 2), 0);     /* -0.5 clipped */
    assert_int_equal(px(&img, 2, 2), 255);   /* 1.5 clipped */
    assert_int_equal(px(&img, 3, 2), 64);    /* 0.25 * 255 = 63.75 */
    assert_int_equal(px(&img, 5, 1), 255);   /* tile 1 at (5,1) */
    assert_int_equal(px(&img, 3, 5), 0);     /* tile 2 at (1,4): NaN is black */
    /* borders and the empty fourth cell are mid-gray */
    for (unsigned x = 0; x < img.w; x++) {
        assert_int_equal(px(&img, x, 0), 128);
        assert_int_equal(px(&img, x, 3), 128);
        assert_int_equal(px(&img, x, 6), 128);
    }
    for (unsigned y = 0; y < img.h; y++) {
        assert_int_equal(px(&img, 0, y), 128);
        assert_int_equal(px(&img, 4, y), 128);
        assert_int_equal(px(&img, 8, y), 128);
    }
    assert_int_equal(px(&img, 6, 5), 128);
    free(img.px);
    /* written through a temporary name, which is gone afterwards */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0);
}

/* Filters are columns of a row-major (V, H) matrix: tile_stride 1,
 * pixel_stride H; each is scaled to its own min..max. */
static void test_png_normalize_columns(void **state)
{
    enum { V = 4, H = 2 };
    const float W[V * H] = {
        -2.0f, 5.0f,
         0.0f, 5.0f,
         2.0f, 5.0f,
         1.0f, 5.0f,
    };
    const char *path = path_in_tmp("norm.png");
    ebm_error_clear();
    /* written twice: the second rename replaces the first image */
    assert_int_equal(ebm_png_write_tiles(path, W, H, 1, H, 2, 2, 8, true), EBM_OK);
    assert_int_equal(ebm_png_write_tiles(path, W, H, 1, H, 2, 2, 8, true), EBM_OK);
    struct image img;
    read_png(path, &img);
    assert_int_equal(img.w, 2 * 3 + 1); /* cols clamped to the 2 tiles */
    assert_int_equal(img.h, 1 * 3 + 1);
    assert_int_equal(px(&img, 1, 1), 0);     /* -2 is the minimum */
    assert_int_equal(px(&img, 2, 1), 128);   /* 0 is halfway */
    assert_int_equal(px(&img, 1, 2), 255);   /* 2 is the maximum */
    assert_int_equal(px(&img, 2, 2), 191);   /* 1: 0.75 * 255 = 191.25 */
    for (unsigned y = 1; y <= 2; y++)        /* constant tile: mid-gray */
        for (unsigned x = 4; x <= 5; x++) assert_int_equal(px(&img, x, y), 128);
    free(img.px);
}

static void test_png_unwritable_path_fails(void **state)
{
    const float one = 1.0f;
    const char *path = path_in_tmp("no/such/dir/x.png");
    ebm_error_clear();
    assert_int_equal(ebm_png_write_tiles(path, &one, 1, 1, 1, 1, 1, 1, false), EBM_ERR_IO);
    assert_non_null(strstr(ebm_error_message(), path));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_png_intensities_clipped),
    cmocka_unit_test(test_png_normalize_columns),
    cmocka_unit_test(test_png_unwritable_path_fails),
};

EBM_TEST_MAIN(tests)
