/* Private: the PNG writer shared by sample grids and heatmaps. */
#ifndef CNAS_PNG_H
#define CNAS_PNG_H

#include <cnas/status.h>

/* pixels: height rows of width*channels bytes (grey or RGB). */
cnas_status cnas__png_write(const char *path, const unsigned char *pixels, int width, int height,
                            int channels, cnas_error *err);

#endif
