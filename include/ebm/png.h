/* Grayscale PNG tile images (filters, samples) through libpng. */
#ifndef EBM_PNG_H
#define EBM_PNG_H

#include <stdbool.h>

#include "ebm/error.h"

/* Writes n tiles of h x w values; pixel p of tile t is
 * tiles[t * tile_stride + p * pixel_stride] (so a column of a row-major
 * (V, H) weight matrix is tile_stride 1, pixel_stride H), arranged in `cols` columns with a 1-pixel border. When normalize is true
 * each tile is scaled to its own min..max (weights); otherwise values are
 * taken as intensities in [0, 1] and clipped (probabilities, images).
 * The file is written to a temporary name and renamed into place. */
ebm_status ebm_png_write_tiles(const char *path, const float *tiles, int n,
                               long tile_stride, long pixel_stride,
                               int h, int w, int cols, bool normalize);

#endif
