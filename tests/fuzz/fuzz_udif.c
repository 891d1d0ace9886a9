/* libFuzzer: koly trailer, XML property list and 'mish' table parsing.
 * Input: a whole image (when its last 512 bytes start with "koly"), a bare
 * 'mish' table (starts with "mish"), or property list text. */
#include "dmg/dmg.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void release(struct dmg_image *img)
{
	for (size_t i = 0; i < img->nblkx; i++) {
		free(img->blkx[i].name);
		free(img->blkx[i].attributes);
	}
	free(img->blkx);
	free(img->chunks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmg_image img = {.fd = -1, .file_size = size};
	if (size >= 512 && memcmp(data + size - 512, "koly", 4) == 0) {
		if (dmg_parse_koly(&img, data + size - 512) == 0)
			dmg_parse_plist(&img, (const char *)data + img.xml_offset, img.xml_length);
	} else if (size >= 4 && memcmp(data, "mish", 4) == 0) {
		img.sector_count = UINT64_C(1) << 40;
		img.data_fork_length = size;
		if (dmg_parse_mish(&img, data, size, "fuzz", NULL, 0) == 0 &&
		    dmg_parse_mish(&img, data, size, "again", NULL, 1) == 0)
			dmg_finish_layout(&img);
	} else {
		img.sector_count = UINT64_C(1) << 40;
		img.data_fork_length = size;
		dmg_parse_plist(&img, (const char *)data, size);
	}
	release(&img);
	return 0;
}
