/* libFuzzer: the chunk dispatcher over every chunk type (zero, raw, ignore,
 * ADC, zlib, bzip2, LZFSE, LZMA). Input: type index byte, 3-byte output
 * size, stored data. */
#include "dmg/dmg.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t types[] = {
	DMG_CHUNK_ZERO, DMG_CHUNK_RAW, DMG_CHUNK_IGNORE, DMG_CHUNK_ADC,
	DMG_CHUNK_ZLIB, DMG_CHUNK_BZIP2, DMG_CHUNK_LZFSE, DMG_CHUNK_LZMA,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dmg_codec *codec;
	if (!codec)
		codec = dmg_codec_new();
	if (size < 4)
		return 0;
	uint32_t type = types[data[0] % (sizeof types / sizeof types[0])];
	size_t out_len = ((size_t)data[1] << 16 | (size_t)data[2] << 8 | data[3]) & 0xfffff;
	uint8_t *out = malloc(out_len ? out_len : 1);
	dmg_decode_chunk(codec, type, data + 4, size - 4, out, out_len);
	free(out);
	return 0;
}
