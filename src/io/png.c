/* Grayscale PNG tile images through libpng.
 * Layout: tiles fill a grid row by row, each grid cell is h x w pixels, and
 * a 1-pixel border runs around and between the cells. The border (and any
 * empty cell in the last grid row) is mid-gray, 128: black would merge with
 * the black background of MNIST-like samples, white with their strokes. */
#include "ebm/png.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

enum { BORDER = 128 };

struct png_err {
    const char *path;
    char text[256];
};

/* libpng's default would print and abort; keep the text and jump back. */
static void on_png_error(png_structp png, png_const_charp msg)
{
    struct png_err *e = png_get_error_ptr(png);
    snprintf(e->text, sizeof e->text, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    struct png_err *e = png_get_error_ptr(png);
    fprintf(stderr, "ebm: %s: libpng warning: %s\n", e->path, msg);
}

static unsigned char to_byte(float v)
{
    if (!(v > 0.0f)) return 0; /* also NaN: dark, not a crash or garbage */
    if (v >= 1.0f) return 255;
    return (unsigned char)(v * 255.0f + 0.5f);
}

/* Everything between png_create and png_destroy. No local that is read
 * after the longjmp changes after setjmp (C11 7.13.2.1): the buffers and
 * the error text belong to the caller. */
static ebm_status write_png(FILE *fp, const char *tmp, const float *tiles, int n,
                            long tile_stride, long pixel_stride, int h, int w, int cols,
                            bool normalize, const float *lo, const float *hi,
                            unsigned char *row, struct png_err *err)
{
    int rows = (n + cols - 1) / cols;
    size_t width = (size_t)cols * (size_t)(w + 1) + 1;
    size_t height = (size_t)rows * (size_t)(h + 1) + 1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, err, on_png_error,
                                              on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return EBM_FAIL(EBM_ERR_NOMEM, "%s: libpng could not allocate its state", tmp);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return EBM_FAIL(EBM_ERR_IO, "%s: writing PNG failed: %s", tmp, err->text);
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);

    for (size_t y = 0; y < height; y++) {
        memset(row, BORDER, width);
        size_t gy = y / (size_t)(h + 1), py = y % (size_t)(h + 1);
        if (py != 0) {
            for (int gx = 0; gx < cols; gx++) {
                int t = (int)gy * cols + gx;
                if (t >= n) break;
                const float *tile = tiles + (long)t * tile_stride;
                unsigned char *out = row + (size_t)gx * (size_t)(w + 1) + 1;
                float scale = hi[t] > lo[t] ? 1.0f / (hi[t] - lo[t]) : 0.0f;
                for (int x = 0; x < w; x++) {
                    float v = tile[((long)(py - 1) * w + x) * pixel_stride];
                    /* NaN stays NaN and comes out black; a constant tile is mid-gray */
                    if (normalize && !isnan(v)) v = scale > 0.0f ? (v - lo[t]) * scale : 0.5f;
                    out[x] = to_byte(v);
                }
            }
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return EBM_OK;
}

ebm_status ebm_png_write_tiles(const char *path, const float *tiles, int n,
                               long tile_stride, long pixel_stride,
                               int h, int w, int cols, bool normalize)
{
    EBM_ASSERT(n > 0 && h > 0 && w > 0 && cols > 0);
    if (cols > n) cols = n; /* no columns that would stay empty */
    size_t width = (size_t)cols * (size_t)(w + 1) + 1;

    float *lo, *hi;
    unsigned char *row;
    size_t nrange = 2 * (size_t)n; /* lo[n] then hi[n] */
    EBM_ALLOC(lo, nrange);
    hi = lo + n;
    row = malloc(width);
    char *tmp = malloc(strlen(path) + sizeof ".tmp");
    if (!row || !tmp) {
        free(lo);
        free(row);
        free(tmp);
        return EBM_FAIL(EBM_ERR_NOMEM, "%s: out of memory for a %zu-pixel PNG row", path, width);
    }
    snprintf(tmp, strlen(path) + sizeof ".tmp", "%s.tmp", path);

    /* Per-tile range for normalize; NaNs are skipped so one bad weight
     * does not blank its whole filter. */
    for (int t = 0; normalize && t < n; t++) {
        lo[t] = INFINITY;
        hi[t] = -INFINITY;
        for (long p = 0; p < (long)h * w; p++) {
            float v = tiles[(long)t * tile_stride + p * pixel_stride];
            if (v < lo[t]) lo[t] = v;
            if (v > hi[t]) hi[t] = v;
        }
    }

    ebm_status st = EBM_OK;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        st = EBM_FAIL(EBM_ERR_IO, "%s: cannot open for writing: %s", tmp, strerror(errno));
        goto done;
    }
    struct png_err err = { .path = tmp, .text = "" };
    st = write_png(fp, tmp, tiles, n, tile_stride, pixel_stride, h, w, cols, normalize,
                   lo, hi, row, &err);
    if (st != EBM_OK) ebm_error_trace(__FILE__, __LINE__, __func__);
    if (fclose(fp) != 0 && st == EBM_OK)
        st = EBM_FAIL(EBM_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    if (st == EBM_OK && rename(tmp, path) != 0)
        st = EBM_FAIL(EBM_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp,
                      strerror(errno));
    if (st != EBM_OK) remove(tmp); /* never leave a half-written image behind */
done:
    free(lo);
    free(row);
    free(tmp);
    return st;
}
