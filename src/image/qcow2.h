/* qcow2 output without qemu-img: a raw (sparse) disk converted to qcow2
 * version 2 (64 KiB clusters, no backing file, no compression), only the
 * non-zero clusters stored. */
#pragma once
#include <stdint.h>

/* Convert the first `size` bytes of raw fd `in` into fd `out` (truncated
 * first). what names the output in errors. */
int dk_qcow2_from_raw(int in, uint64_t size, int out, const char *what);
