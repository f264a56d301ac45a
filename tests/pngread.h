/* Reading a written PNG back as 8-bit gray, with libpng's simplified API. */
#ifndef EBM_TEST_PNGREAD_H
#define EBM_TEST_PNGREAD_H

#include <png.h>

#include "testutil.h"

struct image {
    unsigned w, h;
    unsigned char *px; /* (h, w) */
};

static inline void read_png(const char *path, struct image *img)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&pi, path));
    assert_int_equal(pi.format & PNG_FORMAT_FLAG_COLOR, 0); /* written as gray */
    pi.format = PNG_FORMAT_GRAY;
    img->w = pi.width;
    img->h = pi.height;
    img->px = malloc(PNG_IMAGE_SIZE(pi));
    assert_non_null(img->px);
    assert_true(png_image_finish_read(&pi, NULL, img->px, 0, NULL));
}

#endif
